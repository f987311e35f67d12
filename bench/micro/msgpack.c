/* Micro-benchmark of msgpack -> JSON (standalone, not part of the build).
 *
 *   cc -O2 -I. bench/micro/msgpack.c decode/msgpack.c decode/msgpack_json.c decode/fmtfloat.c base/result.c \
 *      -o /tmp/micro_msgpack && /tmp/micro_msgpack [FILE.msgpack ...]
 *
 * Prints MB/s of msgpack input, full conversion and prefix mode (the first
 * 64 bytes stored, the rest validated and measured: what the observers do),
 * for three built-in bodies, then for each FILE
 * given (for example the parsers lane's /msgpack body):
 *  - records: an array of 2,000 four-field maps, one float64 each with up to
 *    6 decimals (JSON-shaped API data), ~94 KB;
 *  - api: an array of 200 eight-field records like the lane's body (ints,
 *    strings, three short-decimal floats, a bool, a tag array, a nested map);
 *  - floats: an array of 20,000 float64 of random bit patterns (17-digit
 *    worst case for the float formatter).
 * Also prints ns per float for fmtfloat alone. Times are the thread's CPU
 * time, best of 9 batches (other programs share the machine). Numbers are for comparison
 * between builds on one machine. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef MICRO_NO_FMTFLOAT /* -DMICRO_NO_FMTFLOAT: builds before decode/fmtfloat.c existed */
#include "decode/fmtfloat.h"
#endif
#include "decode/msgpack.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void put1(struct buf *b, uint8_t c)
{
	put(b, &c, 1);
}

static void put_be(struct buf *b, uint64_t v, unsigned n)
{
	for (unsigned i = n; i-- > 0;)
		put1(b, (uint8_t)(v >> (8 * i)));
}

static void put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	if (n < 32) {
		put1(b, (uint8_t)(0xa0 | n));
	} else {
		put1(b, 0xd9);
		put1(b, (uint8_t)n);
	}
	put(b, s, n);
}

static void put_f64(struct buf *b, double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	put1(b, 0xcb);
	put_be(b, u, 8);
}

static void put_uint(struct buf *b, uint64_t v)
{
	if (v < 128) {
		put1(b, (uint8_t)v);
	} else {
		put1(b, 0xcd);
		put_be(b, v, 2);
	}
}

static void array_hdr(struct buf *b, uint32_t n)
{
	if (n < 16) {
		put1(b, (uint8_t)(0x90 | n));
	} else {
		put1(b, 0xdd);
		put_be(b, n, 4);
	}
}

/* A decimal with `dec` digits after the point, as Python's round() makes. */
static double decimal(double lo, double hi, int dec)
{
	static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
	double x = lo + (hi - lo) * (double)(rnd() >> 11) / 9007199254740992.0;
	return (double)(int64_t)(x * p10[dec] + (x < 0 ? -0.5 : 0.5)) / p10[dec];
}

static void body_records(struct buf *b)
{
	array_hdr(b, 2000);
	for (unsigned i = 0; i < 2000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "item-%06u", (unsigned)(rnd() % 1000000));
		put1(b, 0x84);
		put_str(b, "id");
		put_uint(b, i);
		put_str(b, "name");
		put_str(b, name);
		put_str(b, "value");
		put_f64(b, decimal(-1000, 1000, (int)(rnd() % 7)));
		put_str(b, "ok");
		put1(b, (rnd() & 1) ? 0xc3 : 0xc2);
	}
}

static void body_api(struct buf *b)
{
	static const char *words[] = {"alpha",   "bravo", "charlie", "delta", "echo",
	                              "foxtrot", "golf",  "hotel",   "india", "juliet"};
	array_hdr(b, 200);
	for (unsigned i = 0; i < 200; i++) {
		char s[96];
		put1(b, 0x88);
		put_str(b, "id");
		put_uint(b, i);
		put_str(b, "user");
		snprintf(s, sizeof(s), "user-%06u", (unsigned)(rnd() % 1000000));
		put_str(b, s);
		put_str(b, "email");
		snprintf(s, sizeof(s), "%s.%s@example.com", words[rnd() % 10], words[rnd() % 10]);
		put_str(b, s);
		put_str(b, "score");
		put_f64(b, decimal(0, 100, 3));
		put_str(b, "active");
		put1(b, (rnd() & 1) ? 0xc3 : 0xc2);
		put_str(b, "tags");
		array_hdr(b, 3);
		for (int t = 0; t < 3; t++)
			put_str(b, words[rnd() % 10]);
		put_str(b, "geo");
		put1(b, 0x82);
		put_str(b, "lat");
		put_f64(b, decimal(-90, 90, 5));
		put_str(b, "lon");
		put_f64(b, decimal(-180, 180, 5));
		put_str(b, "text");
		snprintf(s, sizeof(s), "%s %s %s %s %s %s %s %s", words[rnd() % 10],
		         words[rnd() % 10], words[rnd() % 10], words[rnd() % 10], words[rnd() % 10],
		         words[rnd() % 10], words[rnd() % 10], words[rnd() % 10]);
		put_str(b, s);
	}
}

static void body_floats(struct buf *b)
{
	array_hdr(b, 20000);
	for (unsigned i = 0; i < 20000; i++) {
		uint64_t u;
		do
			u = rnd();
		while (((u >> 52) & 0x7ff) == 0x7ff);
		double d;
		memcpy(&d, &u, 8);
		put_f64(b, d);
	}
}

static void run(const char *what, const uint8_t *in, size_t n)
{
	struct sm_msgpack m;
	struct sm_msgpack_limits lim = {
	        .max_depth = 64, .max_elements = 1u << 20, .max_output = 64u << 20};
	size_t cap = n * 8 + 1024;
	char *out = malloc(cap);
	if (!out || sm_msgpack_init(&m, &lim) != 0)
		abort();
	struct sm_msgpack_status st;
	if (sm_msgpack_to_json(&m, in, n, out, cap, &st) != 0) {
		printf("%-34s failed: %s\n", what, sm_msgpack_reason_str(st.reason));
		exit(1);
	}
	size_t outlen = st.out_len;
	/* 9 batches of about 50 ms; the best one counts (other programs on the
	 * machine only ever slow a batch down) */
	int reps = (int)(40e6 / (double)n);
	if (reps < 3)
		reps = 3;
	double secs[2] = {1e9, 1e9};
	for (int b = 0; b < 9; b++) {
		for (int prefix = 0; prefix < 2; prefix++) {
			double t = now_s();
			for (int r = 0; r < reps; r++) {
				if (prefix)
					sm_msgpack_to_json_prefix(&m, in, n, out, 64, &st);
				else
					sm_msgpack_to_json(&m, in, n, out, cap, &st);
			}
			double dt = now_s() - t;
			if (dt < secs[prefix])
				secs[prefix] = dt;
		}
	}
	printf("%-34s %8zu B -> %8zu B JSON %6.0f MB/s, prefix 64 B %6.0f MB/s\n", what, n, outlen,
	       (double)n * reps / secs[0] / 1e6, (double)n * reps / secs[1] / 1e6);
	sm_msgpack_free(&m);
	free(out);
}

int main(int argc, char **argv)
{
	struct buf b = {0};
	body_records(&b);
	run("records (2,000 maps, 1 float each)", b.p, b.n);
	b.n = 0;
	body_api(&b);
	run("api (200 lane-like records)", b.p, b.n);
	b.n = 0;
	body_floats(&b);
	run("floats (20,000 random float64)", b.p, b.n);
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f)
			return 1;
		b.n = 0;
		uint8_t chunk[65536];
		size_t k;
		while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
			put(&b, chunk, k);
		fclose(f);
		run(argv[i], b.p, b.n);
	}

#ifndef MICRO_NO_FMTFLOAT
	/* the formatter alone */
	enum { NF = 1 << 16 };
	double *v = malloc(NF * sizeof(double));
	double *dv = malloc(NF * sizeof(double));
	for (int i = 0; i < NF; i++) {
		uint64_t u;
		do
			u = rnd();
		while (((u >> 52) & 0x7ff) == 0x7ff);
		memcpy(&v[i], &u, 8);
		dv[i] = decimal(-1000, 1000, (int)(rnd() % 7));
	}
	char s[SM_FMTFLOAT_MAX];
	size_t total = 0;
	double best[2] = {1e9, 1e9};
	for (int b = 0; b < 9; b++) {
		for (int which = 0; which < 2; which++) {
			const double *x = which ? dv : v;
			double t = now_s();
			for (int r = 0; r < 4; r++)
				for (int i = 0; i < NF; i++)
					total += sm_fmtfloat_f64(x[i], s);
			double dt = now_s() - t;
			if (dt < best[which])
				best[which] = dt;
		}
	}
	printf("%-34s %8.1f ns/float\n", "fmtfloat, random float64", best[0] * 1e9 / (4.0 * NF));
	printf("%-34s %8.1f ns/float (%zu)\n", "fmtfloat, short decimals",
	       best[1] * 1e9 / (4.0 * NF), total % 10);
	free(v);
	free(dv);
#endif
	free(b.p);
	return 0;
}
