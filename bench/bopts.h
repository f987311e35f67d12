/* soth-bench command line: options and URL parsing, no I/O besides the
 * usage text (so it can be unit-tested). See docs/perf.md for the options. */
#ifndef SM_BENCH_BOPTS_H
#define SM_BENCH_BOPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SM_BOPTS_MAX_THREADS 64
#define SM_BOPTS_MAX_CPUS    64
#define SM_BOPTS_MAX_STREAMS 1024 /* = SM_BH2_MAX_STREAMS */

struct sm_bopts {
	const char *url;
	const char *proxy;
	const char *cacert;
	int insecure;
	int tunnel;
	int new_conn;
	int hold;
	int http2;        /* --http2: ALPN h2, requests as streams */
	unsigned streams; /* --streams: concurrent streams per connection [1; 10 with --http2] */
	unsigned connections;
	double duration;
	uint64_t requests;
	double rate;
	unsigned threads;
	int cpus[SM_BOPTS_MAX_CPUS];
	unsigned ncpus;
	double timeout;
	uint64_t max_errors;
	unsigned connect_window;
	int quiet;
};

struct sm_bopts_url {
	int https;
	char host[256]; /* without brackets */
	int literal;    /* IP literal: no SNI */
	int v6;
	unsigned port;
	char path[1024];
};

void sm_bopts_usage(FILE *f);

/* Parses argv into o (defaults first). Returns 0, 1 for --help, or -1 with
 * a message in err[0..errlen). Checks ranges and combinations. */
int sm_bopts_parse(int argc, char **argv, struct sm_bopts *o, char *err, size_t errlen);

/* "0,2-3" -> cpus {0,2,3}; returns 0 or -1. */
int sm_bopts_parse_cpus(const char *s, struct sm_bopts *o);

/* http://host[:port]/path or https://..., [v6] literals; returns 0 or -1. */
int sm_bopts_parse_url(const char *s, struct sm_bopts_url *u);

#endif
