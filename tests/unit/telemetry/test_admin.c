/* Admin endpoint: the request parser (table-driven, split at every byte),
 * routes, address parsing, and the server on a loopback socket. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/result.h"
#include "telemetry/admin.h"

static const struct {
	const char *in;
	long want; /* > 0: head length */
	int method;
	const char *path;
} cases[] = {
        {"GET /metrics HTTP/1.1\r\n\r\n", 25, SM_ADMIN_GET, "/metrics"},
        {"GET /metrics HTTP/1.0\r\nHost: x\r\nAccept: */*\r\n\r\n", 47, SM_ADMIN_GET, "/metrics"},
        {"GET /readyz?x=1 HTTP/1.1\r\n\r\nEXTRA", 28, SM_ADMIN_GET, "/readyz"},
        {"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 45, SM_ADMIN_OTHER, "/metrics"},
        {"OPTIONS * HTTP/1.1\r\n\r\n", 22, SM_ADMIN_OTHER, "*"},
        {"get /metrics HTTP/1.1\r\n\r\n", 25, SM_ADMIN_OTHER, "/metrics"},
        {"GET /metrics HTTP/1.1\r\n", 0, 0, NULL},
        {"GET /metrics HTTP/1.1\r\n\r", 0, 0, NULL},
        {"", 0, 0, NULL},
        {"GET /metrics HTTP/1.1\n\n", SM_ERR_INVALID, 0, NULL},
        {"GET /metrics HTTP/1.1\r\nX: a\rb\r\n\r\n", SM_ERR_INVALID, 0, NULL},
        {"GET  /metrics HTTP/1.1\r\n\r\n", SM_ERR_INVALID, 0, NULL},
        {"GET metrics HTTP/1.1\r\n\r\n", SM_ERR_INVALID, 0, NULL},
        {"GET /metrics HTTP/2.0\r\n\r\n", SM_ERR_INVALID, 0, NULL},
        {"GET /metrics HTTP/1.1 \r\n\r\n", SM_ERR_INVALID, 0, NULL},
        {"GET /metrics\r\n\r\n", SM_ERR_INVALID, 0, NULL},
        {"G(T /metrics HTTP/1.1\r\n\r\n", SM_ERR_INVALID, 0, NULL},
        {"\r\n\r\n", SM_ERR_INVALID, 0, NULL},
};

Test(admin, parser_table)
{
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct sm_admin_request req = {0};
		size_t len = strlen(cases[k].in);
		long r = sm_admin_parse(cases[k].in, len, &req);
		cr_expect_eq(r, cases[k].want, "case %zu: got %ld", k, r);
		if (r > 0 && cases[k].want > 0) {
			cr_expect_eq(req.method, cases[k].method, "case %zu", k);
			cr_expect_eq(req.path_len, strlen(cases[k].path), "case %zu", k);
			cr_expect_eq(memcmp(req.path, cases[k].path, req.path_len), 0, "case %zu",
			             k);
		}
		/* every prefix of a complete head is incomplete, never an error */
		if (cases[k].want > 0)
			for (long cut = 0; cut < cases[k].want; cut++)
				cr_expect_eq(sm_admin_parse(cases[k].in, (size_t)cut, &req), 0,
				             "case %zu cut %ld", k, cut);
	}
}

Test(admin, oversized_head_is_limit)
{
	char *big = malloc(SM_ADMIN_REQ_MAX + 10);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', SM_ADMIN_REQ_MAX + 10 - 19);
	struct sm_admin_request req;
	cr_expect_eq(sm_admin_parse(big, SM_ADMIN_REQ_MAX - 1, &req), 0);
	cr_expect_eq(sm_admin_parse(big, SM_ADMIN_REQ_MAX, &req), SM_ERR_LIMIT);
	cr_expect_eq(sm_admin_parse(big, SM_ADMIN_REQ_MAX + 10, &req), SM_ERR_LIMIT);
	free(big);
}

Test(admin, routes)
{
	static const struct {
		int method;
		const char *path;
		bool ready;
		int status;
	} t[] = {
	        {SM_ADMIN_GET, "/metrics", true, 0},     {SM_ADMIN_GET, "/healthz", false, 200},
	        {SM_ADMIN_GET, "/readyz", true, 200},    {SM_ADMIN_GET, "/readyz", false, 503},
	        {SM_ADMIN_GET, "/", true, 404},          {SM_ADMIN_GET, "/metricsx", true, 404},
	        {SM_ADMIN_OTHER, "/metrics", true, 405}, {SM_ADMIN_OTHER, "/nope", true, 405},
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct sm_admin_request req = {.method = (uint8_t)t[k].method,
		                               .path = t[k].path,
		                               .path_len = strlen(t[k].path)};
		cr_expect_eq(sm_admin_route(&req, t[k].ready).status, t[k].status, "case %zu", k);
	}
}

Test(admin, addresses)
{
	struct sockaddr_storage ss;
	socklen_t len;
	cr_expect_eq(sm_admin_parse_addr("127.0.0.1:9100", &ss, &len), SM_OK);
	cr_expect_eq(ss.ss_family, AF_INET);
	cr_expect_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9100);
	cr_expect_eq(sm_admin_parse_addr("[::1]:0", &ss, &len), SM_OK);
	cr_expect_eq(ss.ss_family, AF_INET6);
	static const char *const bad[] = {
	        "",        "127.0.0.1",     "127.0.0.1:", ":80",          "::1:80",
	        "[::1]80", "1.2.3.4:65536", "host:80",    "127.0.0.1:8x", "[127.0.0.1]:80"};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		cr_expect_eq(sm_admin_parse_addr(bad[k], &ss, &len), SM_ERR_INVALID, "%s", bad[k]);
}

/* ---- the server, driven by hand the way the collector drives it ---- */

static bool ready_flag;
static int render_calls;

static int fake_render(void *ctx, struct sm_prom *w)
{
	(void)ctx;
	render_calls++;
	sm_prom_family(w, "soth_test", "gauge", "Test.");
	sm_prom_sample(w, "soth_test", NULL, 42);
	return w->overflow ? SM_ERR_LIMIT : SM_OK;
}

static bool fake_ready(void *ctx)
{
	(void)ctx;
	return ready_flag;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pump(struct sm_admin *a, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		struct pollfd pfd[1 + SM_ADMIN_MAX_CLIENTS];
		int n = sm_admin_pollfds(a, pfd);
		if (poll(pfd, (nfds_t)n, 10) <= 0)
			for (int k = 0; k < n; k++)
				pfd[k].revents = 0;
		sm_admin_handle(a, pfd, n, now_ms());
	}
}

/* Sends req, serves until the answer is complete; returns it (static). */
static const char *exchange(struct sm_admin *a, const char *req)
{
	static char out[4096];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(connect(fd, (struct sockaddr *)&a->addr, a->addr_len) == 0);
	cr_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	size_t len = 0;
	for (int i = 0; i < 500; i++) {
		pump(a, 1);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 0) > 0) {
			ssize_t n = read(fd, out + len, sizeof(out) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
		}
	}
	out[len] = 0;
	close(fd);
	return out;
}

Test(admin, server_answers_each_route_and_closes)
{
	struct sm_admin *a = malloc(sizeof(*a));
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];
	cr_assert_eq(sm_admin_parse_addr("127.0.0.1:0", &ss, &len), SM_OK);
	cr_assert_eq(
	        sm_admin_open(a, &ss, len, 4096, fake_render, fake_ready, NULL, err, sizeof(err)),
	        SM_OK);
	const char *r = exchange(a, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	cr_expect_str_eq(r, "HTTP/1.1 200 OK\r\n"
	                    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	                    "Content-Length: 59\r\nConnection: close\r\n\r\n"
	                    "# HELP soth_test Test.\n# TYPE soth_test gauge\nsoth_test 42\n");
	ready_flag = false;
	r = exchange(a, "GET /readyz HTTP/1.1\r\n\r\n");
	cr_expect(strncmp(r, "HTTP/1.1 503 ", 13) == 0, "%s", r);
	ready_flag = true;
	r = exchange(a, "GET /readyz HTTP/1.1\r\n\r\n");
	cr_expect(strstr(r, "HTTP/1.1 200 OK\r\n") == r && strstr(r, "\r\n\r\nready\n"), "%s", r);
	r = exchange(a, "GET /healthz HTTP/1.0\r\n\r\n");
	cr_expect(strstr(r, "HTTP/1.1 200 OK\r\n") == r && strstr(r, "\r\n\r\nok\n"), "%s", r);
	r = exchange(a, "GET /x HTTP/1.1\r\n\r\n");
	cr_expect(strncmp(r, "HTTP/1.1 404 ", 13) == 0, "%s", r);
	r = exchange(a, "DELETE /metrics HTTP/1.1\r\n\r\n");
	cr_expect(strncmp(r, "HTTP/1.1 405 ", 13) == 0 && strstr(r, "Allow: GET\r\n"), "%s", r);
	r = exchange(a, "GET metrics\r\n\r\n");
	cr_expect(strncmp(r, "HTTP/1.1 400 ", 13) == 0, "%s", r);
	cr_expect_eq(a->requests, 7);
	cr_expect_eq(render_calls, 1);
	cr_expect_eq(a->overflows, 0);
	sm_admin_close(a);
	free(a);
}

Test(admin, too_small_buffer_is_500_and_counted)
{
	struct sm_admin *a = malloc(sizeof(*a));
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];
	sm_admin_parse_addr("127.0.0.1:0", &ss, &len);
	cr_assert_eq(
	        sm_admin_open(a, &ss, len, 16, fake_render, fake_ready, NULL, err, sizeof(err)),
	        SM_OK);
	const char *r = exchange(a, "GET /metrics HTTP/1.1\r\n\r\n");
	cr_expect(strncmp(r, "HTTP/1.1 500 ", 13) == 0, "%s", r);
	cr_expect_eq(a->overflows, 1);
	sm_admin_close(a);
	free(a);
}

Test(admin, open_fails_cleanly_on_a_taken_port)
{
	struct sm_admin *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];
	sm_admin_parse_addr("127.0.0.1:0", &ss, &len);
	cr_assert_eq(
	        sm_admin_open(a, &ss, len, 64, fake_render, fake_ready, NULL, err, sizeof(err)),
	        SM_OK);
	cr_expect_eq(sm_admin_open(b, &a->addr, a->addr_len, 64, fake_render, fake_ready, NULL, err,
	                           sizeof(err)),
	             SM_ERR_IO);
	cr_expect(strstr(err, "admin") != NULL, "%s", err);
	sm_admin_close(a);
	free(a);
	free(b);
}

static void pump_at(struct sm_admin *a, int rounds, uint64_t offset_ms)
{
	for (int i = 0; i < rounds; i++) {
		struct pollfd pfd[1 + SM_ADMIN_MAX_CLIENTS];
		int n = sm_admin_pollfds(a, pfd);
		if (poll(pfd, (nfds_t)n, 10) <= 0)
			for (int k = 0; k < n; k++)
				pfd[k].revents = 0;
		sm_admin_handle(a, pfd, n, now_ms() + offset_ms);
	}
}

static bool reads_eof(int fd)
{
	char b[64];
	for (int i = 0; i < 200; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10) > 0)
			return read(fd, b, sizeof(b)) == 0;
	}
	return false;
}

/* One more connection than the limit is closed at once; silent clients are
 * closed at the deadline (time moved forward, not waited for). */
Test(admin, too_many_and_too_slow_clients_are_closed_and_counted)
{
	struct sm_admin *a = malloc(sizeof(*a));
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];
	sm_admin_parse_addr("127.0.0.1:0", &ss, &len);
	cr_assert_eq(
	        sm_admin_open(a, &ss, len, 4096, fake_render, fake_ready, NULL, err, sizeof(err)),
	        SM_OK);
	int fds[SM_ADMIN_MAX_CLIENTS + 1];
	for (int k = 0; k <= SM_ADMIN_MAX_CLIENTS; k++) {
		fds[k] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert(connect(fds[k], (struct sockaddr *)&a->addr, a->addr_len) == 0);
		pump_at(a, 2, 0);
	}
	cr_expect_eq(a->rejected, 1);
	cr_expect(reads_eof(fds[SM_ADMIN_MAX_CLIENTS]), "the extra connection is closed");
	/* a partial head does not extend the deadline */
	cr_assert(write(fds[0], "GET /metr", 9) == 9);
	pump_at(a, 2, SM_ADMIN_TIMEOUT_MS / 2);
	cr_expect_eq(a->rejected, 1);
	pump_at(a, 1, SM_ADMIN_TIMEOUT_MS);
	cr_expect_eq(a->rejected, 1 + SM_ADMIN_MAX_CLIENTS);
	for (int k = 0; k < SM_ADMIN_MAX_CLIENTS; k++)
		cr_expect(reads_eof(fds[k]), "client %d closed at the deadline", k);
	for (int k = 0; k <= SM_ADMIN_MAX_CLIENTS; k++)
		close(fds[k]);
	cr_expect_eq(a->requests, 0);
	sm_admin_close(a);
	free(a);
}

static int big_render(void *ctx, struct sm_prom *w)
{
	(void)ctx;
	render_calls++;
	for (int i = 0; i < 20000; i++)
		sm_prom_sample(w, "soth_big_series_with_a_long_name", "core=\"0\"", (uint64_t)i);
	return w->overflow ? SM_ERR_LIMIT : SM_OK;
}

/* Two scrapes at once share the one body buffer in turn; both get it whole. */
Test(admin, concurrent_scrapes_take_turns)
{
	struct sm_admin *a = malloc(sizeof(*a));
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];
	sm_admin_parse_addr("127.0.0.1:0", &ss, &len);
	cr_assert_eq(
	        sm_admin_open(a, &ss, len, 1 << 20, big_render, fake_ready, NULL, err, sizeof(err)),
	        SM_OK);
	render_calls = 0;
	int fds[2];
	size_t got[2] = {0, 0};
	bool eof[2] = {false, false};
	for (int k = 0; k < 2; k++) {
		fds[k] = socket(AF_INET, SOCK_STREAM, 0);
		int small = 4096; /* force partial sends */
		setsockopt(fds[k], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		cr_assert(connect(fds[k], (struct sockaddr *)&a->addr, a->addr_len) == 0);
		cr_assert(write(fds[k], "GET /metrics HTTP/1.1\r\n\r\n", 25) == 25);
	}
	char *buf = malloc(1 << 16);
	for (int i = 0; i < 20000 && !(eof[0] && eof[1]); i++) {
		pump_at(a, 1, 0);
		for (int k = 0; k < 2; k++) {
			struct pollfd p = {.fd = fds[k], .events = POLLIN};
			while (!eof[k] && poll(&p, 1, 0) > 0) {
				ssize_t n = read(fds[k], buf, 1 << 16);
				if (n <= 0)
					eof[k] = true;
				else
					got[k] += (size_t)n;
			}
		}
	}
	cr_expect(eof[0] && eof[1]);
	cr_expect_eq(got[0], got[1]);
	cr_expect_gt(got[0], 20000 * 30);
	cr_expect_eq(render_calls, 2);
	cr_expect_eq(a->requests, 2);
	close(fds[0]);
	close(fds[1]);
	free(buf);
	sm_admin_close(a);
	free(a);
}
