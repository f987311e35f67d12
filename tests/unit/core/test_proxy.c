/* Two proxy instances in one process share nothing: each has its own
 * reactors, listeners, counters and event stream. Real sockets on loopback. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/proxy.h"
#include "base/result.h"

/* An echo server on 127.0.0.1 serving `count` connections, then exiting. */
struct echo {
	int fd;
	uint16_t port;
	int count;
	pthread_t th;
};

static void *echo_main(void *arg)
{
	struct echo *e = arg;
	for (int i = 0; i < e->count; i++) {
		int c = accept(e->fd, NULL, NULL);
		if (c < 0)
			break;
		char buf[4096];
		ssize_t n;
		while ((n = read(c, buf, sizeof(buf))) > 0)
			if (write(c, buf, (size_t)n) != n)
				break;
		close(c);
	}
	return NULL;
}

static void echo_start(struct echo *e, int count)
{
	e->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(e->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(e->fd, 16), 0);
	socklen_t len = sizeof(a);
	getsockname(e->fd, (struct sockaddr *)&a, &len);
	e->port = ntohs(a.sin_port);
	e->count = count;
	pthread_create(&e->th, NULL, echo_main, e);
}

static struct sm_proxy *start(struct sm_config **cfgp, int events_fd)
{
	char err[256];
	struct sm_config *cfg = sm_config_default();
	cr_assert_not_null(cfg);
	cr_assert_eq(sm_config_set(cfg, "listen=127.0.0.1:0", err, sizeof(err)), SM_OK, "%s", err);
	cr_assert_eq(sm_config_set(cfg, "threads=1", err, sizeof(err)), SM_OK, "%s", err);
	cr_assert_eq(sm_config_set(cfg, "default_action=tunnel", err, sizeof(err)), SM_OK, "%s",
	             err);
	cr_assert_eq(sm_config_set(cfg, "limits.max_flows_per_thread=64", err, sizeof(err)), SM_OK);
	struct sm_proxy *p = NULL;
	cr_assert_eq(sm_proxy_create(cfg, events_fd, &p, err, sizeof(err)), SM_OK, "%s", err);
	cr_assert_eq(sm_proxy_start(p, err, sizeof(err)), SM_OK, "%s", err);
	*cfgp = cfg;
	return p;
}

static uint16_t proxy_port(struct sm_proxy *p)
{
	struct sockaddr_storage a;
	socklen_t len;
	cr_assert_eq(sm_proxy_listen_addr(p, 0, &a, &len), SM_OK);
	return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

/* CONNECT through the proxy, send msg, half-close, expect it echoed. */
static void tunnel_echo(uint16_t proxy, uint16_t origin, const char *msg)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(proxy),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	char req[128];
	int n = snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", origin);
	cr_assert_eq(write(s, req, (size_t)n), n);
	char buf[256];
	size_t got = 0;
	const char *ok = "HTTP/1.1 200 Connection established\r\n\r\n";
	while (got < strlen(ok)) {
		struct pollfd pfd = {.fd = s, .events = POLLIN};
		cr_assert_eq(poll(&pfd, 1, 10000), 1, "no answer to CONNECT");
		ssize_t r = read(s, buf + got, strlen(ok) - got);
		cr_assert_gt(r, 0);
		got += (size_t)r;
	}
	cr_assert_eq(memcmp(buf, ok, strlen(ok)), 0);
	cr_assert_eq(write(s, msg, strlen(msg)), (ssize_t)strlen(msg));
	shutdown(s, SHUT_WR);
	got = 0;
	for (;;) {
		struct pollfd pfd = {.fd = s, .events = POLLIN};
		cr_assert_eq(poll(&pfd, 1, 10000), 1, "tunnel stalled");
		ssize_t r = read(s, buf + got, sizeof(buf) - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	cr_assert_eq(got, strlen(msg));
	cr_assert_eq(memcmp(buf, msg, got), 0);
	close(s);
}

static size_t count_lines(int fd)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));
	size_t lines = 0;
	for (ssize_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	return lines;
}

Test(proxy, two_instances_are_isolated, .timeout = 60)
{
	struct echo origin;
	echo_start(&origin, 3);
	int pa[2], pb[2];
	cr_assert_eq(pipe2(pa, O_NONBLOCK), 0);
	cr_assert_eq(pipe2(pb, O_NONBLOCK), 0);
	struct sm_config *ca, *cb;
	struct sm_proxy *a = start(&ca, pa[1]);
	struct sm_proxy *b = start(&cb, pb[1]);
	cr_assert_neq(proxy_port(a), proxy_port(b));

	tunnel_echo(proxy_port(a), origin.port, "to instance a");
	tunnel_echo(proxy_port(b), origin.port, "to instance b, first");
	tunnel_echo(proxy_port(b), origin.port, "to instance b, second");

	sm_proxy_stop(a);
	sm_proxy_wait(a);
	sm_proxy_stop(b);
	sm_proxy_wait(b);
	struct sm_proxy_stats sa, sb;
	sm_proxy_stats(a, &sa);
	sm_proxy_stats(b, &sb);
	cr_expect_eq(sa.accepted, 1);
	cr_expect_eq(sb.accepted, 2);
	cr_expect_eq(sa.open_flows, 0);
	cr_expect_eq(sb.open_flows, 0);
	cr_expect_eq(sa.bytes_down, strlen("to instance a"));
	cr_expect_eq(sb.bytes_down,
	             strlen("to instance b, first") + strlen("to instance b, second"));
	/* five events per tunnel, each on its own instance's stream */
	cr_expect_eq(count_lines(pa[0]), 5);
	cr_expect_eq(count_lines(pb[0]), 10);

	sm_proxy_destroy(a);
	sm_proxy_destroy(b);
	sm_config_free(ca);
	sm_config_free(cb);
	pthread_join(origin.th, NULL);
	close(origin.fd);
	close(pa[0]), close(pa[1]), close(pb[0]), close(pb[1]);
}
