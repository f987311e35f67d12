/* bench/bopts: soth-bench's command line. A table of argument vectors,
 * accepted (with the resulting fields) or refused (with a word of the
 * message); URL and CPU-list parsing. The module belongs to the soth-bench
 * executable, not the soth library: compile it in. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <criterion/criterion.h>
#include <string.h>

#include "bench/bopts.c"

#define MAXARGS 12

struct ocase {
	const char *argv[MAXARGS]; /* without argv[0], NULL-terminated */
	int rc;                    /* 0, 1 (help), -1 */
	const char *msg;           /* refused: a substring of the message */
	int http2;
	unsigned streams, connections, threads;
	int new_conn;
};

#define U "https://localhost:8443/small"

static const struct ocase cases[] = {
        {{U}, 0, NULL, 0, 1, 16, 1},
        {{"--http2", U}, 0, NULL, 1, 10, 16, 1},
        {{"--http2", "--streams", "32", "-c", "4", U}, 0, NULL, 1, 32, 4, 1},
        {{"--streams", "8", "--http2", U}, 0, NULL, 1, 8, 16, 1},
        {{"--http2", "--new-conn", "--streams", "8", U}, 0, NULL, 1, 1, 16, 1, 1},
        {{"--http2", "--streams", "1024", U}, 0, NULL, 1, 1024, 16, 1},
        {{"--threads", "8", "-c", "2", U}, 0, NULL, 0, 1, 2, 2},
        {{"--help"}, 1},
        {{"-h", U}, 1},
        {{"--streams", "8", U}, -1, "needs --http2"},
        {{"--http2", "http://localhost/x"}, -1, "https://"},
        {{"--http2", "--rate", "100", U}, -1, "--rate"},
        {{"--http2", "--hold", U}, -1, "--hold"},
        {{"--http2", "--streams", "0", U}, -1, "--streams"},
        {{"--http2", "--streams", "1025", U}, -1, "--streams"},
        {{"--http2", "--streams", "8x", U}, -1, "'8x'"},
        {{"--http2", "--streams", U}, -1, "--streams wants"},
        {{"--http2", "--streams"}, -1, "needs a value"},
        {{"--connections", "0", U}, -1, "--connections"},
        {{"--connections", "-5", U}, -1, "--connections"},
        {{"--duration", "0", U}, -1, "--duration"},
        {{"--duration", "nan", U}, -1, "--duration"},
        {{"--rate", "-1", U}, -1, "--rate"},
        {{"--threads", "65", U}, -1, "--threads"},
        {{"--cpu", "1-0", U}, -1, "--cpu"},
        {{"--bogus", U}, -1, "unknown option"},
        {{U, U}, -1, "more than one URL"},
        {{"--http2"}, -1, "no URL"},
};

Test(bopts, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ocase *c = &cases[i];
		char *argv[MAXARGS + 1] = {"soth-bench"};
		int argc = 1;
		while (c->argv[argc - 1])
			argv[argc] = (char *)c->argv[argc - 1], argc++;
		struct sm_bopts o;
		char err[256] = "";
		int rc = sm_bopts_parse(argc, argv, &o, err, sizeof(err));
		cr_assert_eq(rc, c->rc, "case %zu (%s ...): rc %d (%s)", i, argv[1], rc, err);
		if (rc < 0) {
			cr_assert(strstr(err, c->msg), "case %zu: message '%s' lacks '%s'", i, err,
			          c->msg);
			continue;
		}
		if (rc == 1)
			continue;
		cr_assert_eq(o.http2, c->http2, "case %zu: http2", i);
		cr_assert_eq(o.streams, c->streams, "case %zu: streams %u", i, o.streams);
		cr_assert_eq(o.connections, c->connections, "case %zu: connections", i);
		cr_assert_eq(o.threads, c->threads, "case %zu: threads %u", i, o.threads);
		cr_assert_eq(o.new_conn, c->new_conn, "case %zu: new_conn", i);
		cr_assert_str_eq(o.url, U);
	}
}

Test(bopts, defaults)
{
	char *argv[] = {"soth-bench", U};
	struct sm_bopts o;
	char err[64];
	cr_assert_eq(sm_bopts_parse(2, argv, &o, err, sizeof(err)), 0);
	cr_assert_eq(o.duration, 10.0);
	cr_assert_eq(o.timeout, 10.0);
	cr_assert_eq(o.max_errors, 1000u);
	cr_assert_eq(o.connect_window, 64u);
	cr_assert_eq(o.requests, 0u);
	cr_assert_eq(o.rate, 0.0);
	cr_assert_eq(o.ncpus, 0u);
}

Test(bopts, cpus)
{
	struct sm_bopts o;
	cr_assert_eq(sm_bopts_parse_cpus("0,2-4,7", &o), 0);
	cr_assert_eq(o.ncpus, 5u);
	int want[] = {0, 2, 3, 4, 7};
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(o.cpus[i], want[i]);
	cr_assert_eq(sm_bopts_parse_cpus("", &o), -1);
	cr_assert_eq(sm_bopts_parse_cpus("a", &o), -1);
	cr_assert_eq(sm_bopts_parse_cpus("1,", &o), 0);
	cr_assert_eq(sm_bopts_parse_cpus("0-64", &o), -1, "more than SM_BOPTS_MAX_CPUS");
}

struct ucase {
	const char *in;
	int rc, https;
	const char *host;
	unsigned port;
	const char *path;
	int literal, v6;
};

static const struct ucase ucases[] = {
        {"https://localhost:8443/small", 0, 1, "localhost", 8443, "/small"},
        {"http://example.test", 0, 0, "example.test", 80, "/"},
        {"https://example.test/a?b", 0, 1, "example.test", 443, "/a?b"},
        {"http://127.0.0.1:81/x", 0, 0, "127.0.0.1", 81, "/x", 1},
        {"https://[::1]:8443/", 0, 1, "::1", 8443, "/", 1, 1},
        {"ftp://x/", -1},
        {"https://:80/", -1},
        {"https://h:0/", -1},
        {"https://h:65536/", -1},
        {"https://h:x/", -1},
        {"https://[::1/", -1},
        {"https://h?x", -1},
};

Test(bopts, urls)
{
	for (size_t i = 0; i < sizeof(ucases) / sizeof(ucases[0]); i++) {
		const struct ucase *c = &ucases[i];
		struct sm_bopts_url u;
		int rc = sm_bopts_parse_url(c->in, &u);
		cr_assert_eq(rc, c->rc, "%s: rc %d", c->in, rc);
		if (rc)
			continue;
		cr_assert_eq(u.https, c->https, "%s", c->in);
		cr_assert_str_eq(u.host, c->host, "%s", c->in);
		cr_assert_eq(u.port, c->port, "%s", c->in);
		cr_assert_str_eq(u.path, c->path, "%s", c->in);
		cr_assert_eq(u.literal, c->literal, "%s", c->in);
		cr_assert_eq(u.v6, c->v6, "%s", c->in);
	}
}
