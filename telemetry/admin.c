#include "telemetry/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/result.h"

/* Client states. */
enum {
	CL_READ = 0,  /* reading the request head */
	CL_WAIT_BODY, /* /metrics: waiting for the shared buffer */
	CL_WRITE,     /* sending head then body */
};

/* ---- parser ---------------------------------------------------------------- */

static bool tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

long sm_admin_parse(const char *buf, size_t len, struct sm_admin_request *out)
{
	size_t lim = len < SM_ADMIN_REQ_MAX ? len : SM_ADMIN_REQ_MAX;
	size_t end = 0;
	/* find the blank line; every LF must follow a CR and every CR precede a LF */
	for (size_t i = 0; i < lim; i++) {
		if (buf[i] == '\r') {
			if (i + 1 < lim && buf[i + 1] != '\n')
				return SM_ERR_INVALID;
		} else if (buf[i] == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				return SM_ERR_INVALID;
			if (i >= 3 && buf[i - 2] == '\n') {
				end = i + 1;
				break;
			}
		}
	}
	if (!end)
		return len >= SM_ADMIN_REQ_MAX ? SM_ERR_LIMIT : 0;
	size_t i = 0;
	while (i < end && tchar((unsigned char)buf[i]))
		i++;
	if (i == 0 || i > 16 || buf[i] != ' ')
		return SM_ERR_INVALID;
	out->method = (i == 3 && memcmp(buf, "GET", 3) == 0) ? SM_ADMIN_GET : SM_ADMIN_OTHER;
	size_t t = ++i;
	while (i < end && buf[i] > ' ' && buf[i] < 0x7f)
		i++;
	if (i == t || buf[i] != ' ' || (buf[t] != '/' && !(i - t == 1 && buf[t] == '*')))
		return SM_ERR_INVALID;
	size_t te = i++;
	if (end - i < 10 || memcmp(buf + i, "HTTP/1.", 7) != 0 ||
	    (buf[i + 7] != '0' && buf[i + 7] != '1') || buf[i + 8] != '\r')
		return SM_ERR_INVALID;
	out->path = buf + t;
	const char *q = memchr(buf + t, '?', te - t);
	out->path_len = (size_t)((q ? q : buf + te) - (buf + t));
	return (long)end;
}

static bool path_is(const struct sm_admin_request *r, const char *p)
{
	return r->path_len == strlen(p) && memcmp(r->path, p, r->path_len) == 0;
}

struct sm_admin_route sm_admin_route(const struct sm_admin_request *req, bool ready)
{
	bool known =
	        path_is(req, "/metrics") || path_is(req, "/healthz") || path_is(req, "/readyz");
	if (req->method != SM_ADMIN_GET)
		return (struct sm_admin_route){405, "method not allowed\n"};
	if (!known)
		return (struct sm_admin_route){404, "not found\n"};
	if (path_is(req, "/metrics"))
		return (struct sm_admin_route){0, NULL};
	if (path_is(req, "/healthz"))
		return (struct sm_admin_route){200, "ok\n"};
	return ready ? (struct sm_admin_route){200, "ready\n"}
	             : (struct sm_admin_route){503, "not ready\n"};
}

int sm_admin_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *len)
{
	char host[64];
	const char *port;
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return SM_ERR_INVALID;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = 0;
		port = rb + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host) ||
		    memchr(s, ':', (size_t)(colon - s)))
			return SM_ERR_INVALID;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
		port = colon + 1;
	}
	unsigned long pn = 0;
	size_t pl = strlen(port);
	if (pl == 0 || pl > 5)
		return SM_ERR_INVALID;
	for (size_t k = 0; k < pl; k++) {
		if (port[k] < '0' || port[k] > '9')
			return SM_ERR_INVALID;
		pn = pn * 10 + (unsigned long)(port[k] - '0');
	}
	if (pn > 65535)
		return SM_ERR_INVALID;
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
	if (s[0] != '[' && inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)pn);
		*len = sizeof(*a4);
		return SM_OK;
	}
	if (s[0] == '[' && inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)pn);
		*len = sizeof(*a6);
		return SM_OK;
	}
	return SM_ERR_INVALID;
}

/* ---- server ---------------------------------------------------------------- */

int sm_admin_open(struct sm_admin *a, const struct sockaddr_storage *addr, socklen_t len,
                  size_t body_cap, sm_admin_render_fn render, sm_admin_ready_fn ready, void *ctx,
                  char *err, size_t errcap)
{
	memset(a, 0, sizeof(*a));
	a->listen_fd = -1;
	a->mbuf_owner = -1;
	for (int k = 0; k < SM_ADMIN_MAX_CLIENTS; k++)
		a->clients[k].fd = -1;
	a->render = render;
	a->ready = ready;
	a->ctx = ctx;
	a->mbuf = malloc(body_cap);
	if (!a->mbuf) {
		snprintf(err, errcap, "out of memory");
		return SM_ERR_NOMEM;
	}
	a->mbuf_cap = body_cap;
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (const struct sockaddr *)addr, len) != 0 || listen(fd, 64) != 0) {
		snprintf(err, errcap, "cannot listen on the admin address: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		free(a->mbuf);
		a->mbuf = NULL;
		return SM_ERR_IO;
	}
	a->listen_fd = fd;
	a->addr_len = sizeof(a->addr);
	getsockname(fd, (struct sockaddr *)&a->addr, &a->addr_len);
	return SM_OK;
}

static void client_close(struct sm_admin *a, int k)
{
	struct sm_admin_client *c = &a->clients[k];
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (a->mbuf_owner == k)
		a->mbuf_owner = -1;
}

void sm_admin_close(struct sm_admin *a)
{
	for (int k = 0; k < SM_ADMIN_MAX_CLIENTS; k++)
		client_close(a, k);
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	a->listen_fd = -1;
	free(a->mbuf);
	a->mbuf = NULL;
}

int sm_admin_pollfds(const struct sm_admin *a, struct pollfd *pfd)
{
	int n = 0;
	pfd[n++] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
	for (int k = 0; k < SM_ADMIN_MAX_CLIENTS; k++) {
		const struct sm_admin_client *c = &a->clients[k];
		short ev = c->state == CL_READ ? POLLIN : (c->state == CL_WRITE ? POLLOUT : 0);
		/* a waiting client is not polled (fd -1): it has nothing to do */
		pfd[n++] = (struct pollfd){.fd = (c->fd >= 0 && ev) ? c->fd : -1, .events = ev};
	}
	return n;
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

static void respond(struct sm_admin_client *c, int status, const char *ctype, const char *body,
                    size_t body_len)
{
	int n = snprintf(c->head, sizeof(c->head),
	                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
	                 "Connection: close\r\n\r\n",
	                 status, status_text(status), ctype, body_len,
	                 status == 405 ? "Allow: GET\r\n" : "");
	c->head_len = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
	c->head_off = 0;
	c->body = body;
	c->body_len = body_len;
	c->body_off = 0;
	c->state = CL_WRITE;
}

static void respond_text(struct sm_admin_client *c, int status, const char *body)
{
	respond(c, status, "text/plain; charset=utf-8", body, strlen(body));
}

/* /metrics for client k, once the shared buffer is free. */
static void serve_metrics(struct sm_admin *a, int k)
{
	struct sm_admin_client *c = &a->clients[k];
	struct sm_prom w;
	sm_prom_init(&w, a->mbuf, a->mbuf_cap);
	if (a->render(a->ctx, &w) != SM_OK) {
		a->overflows++;
		respond_text(c, 500, "metrics did not fit the buffer\n");
		return;
	}
	a->mbuf_owner = k;
	respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", a->mbuf, w.len);
}

static void client_read(struct sm_admin *a, int k)
{
	struct sm_admin_client *c = &a->clients[k];
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		a->rejected++;
		client_close(a, k);
		return;
	}
	c->in_len += (size_t)n;
	struct sm_admin_request req;
	long r = sm_admin_parse(c->in, c->in_len, &req);
	if (r == 0)
		return; /* incomplete */
	a->requests++;
	if (r == SM_ERR_LIMIT) {
		respond_text(c, 431, "request head too large\n");
		return;
	}
	if (r < 0) {
		respond_text(c, 400, "bad request\n");
		return;
	}
	struct sm_admin_route rt = sm_admin_route(&req, a->ready(a->ctx));
	if (rt.status) {
		respond_text(c, rt.status, rt.body);
		return;
	}
	c->state = CL_WAIT_BODY;
	if (a->mbuf_owner < 0)
		serve_metrics(a, k);
}

static void client_write(struct sm_admin *a, int k)
{
	struct sm_admin_client *c = &a->clients[k];
	for (;;) {
		const char *p;
		size_t left;
		if (c->head_off < c->head_len) {
			p = c->head + c->head_off;
			left = c->head_len - c->head_off;
		} else if (c->body_off < c->body_len) {
			p = c->body + c->body_off;
			left = c->body_len - c->body_off;
		} else {
			shutdown(c->fd, SHUT_WR);
			client_close(a, k);
			return;
		}
		ssize_t n = send(c->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(a, k);
			return;
		}
		if (c->head_off < c->head_len)
			c->head_off += (size_t)n;
		else
			c->body_off += (size_t)n;
	}
}

static void accept_all(struct sm_admin *a, uint64_t now_ms)
{
	for (;;) {
		int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or EMFILE and friends: retried at the next poll */
		int k = 0;
		while (k < SM_ADMIN_MAX_CLIENTS && a->clients[k].fd >= 0)
			k++;
		if (k == SM_ADMIN_MAX_CLIENTS) {
			a->rejected++;
			close(fd);
			continue;
		}
		struct sm_admin_client *c = &a->clients[k];
		c->fd = fd;
		c->state = CL_READ;
		c->in_len = 0;
		c->head_len = c->head_off = c->body_len = c->body_off = 0;
		c->body = NULL;
		c->deadline_ms = now_ms + SM_ADMIN_TIMEOUT_MS;
	}
}

void sm_admin_handle(struct sm_admin *a, const struct pollfd *pfd, int n, uint64_t now_ms)
{
	if (n > 0 && (pfd[0].revents & POLLIN))
		accept_all(a, now_ms);
	for (int k = 0; k < SM_ADMIN_MAX_CLIENTS && k + 1 < n; k++) {
		struct sm_admin_client *c = &a->clients[k];
		if (c->fd < 0 || pfd[k + 1].fd != c->fd || !pfd[k + 1].revents)
			continue;
		if (c->state == CL_READ)
			client_read(a, k);
		else if (c->state == CL_WRITE)
			client_write(a, k);
	}
	for (int k = 0; k < SM_ADMIN_MAX_CLIENTS; k++) {
		struct sm_admin_client *c = &a->clients[k];
		if (c->fd < 0)
			continue;
		if (now_ms >= c->deadline_ms) {
			a->rejected++;
			client_close(a, k);
			continue;
		}
		if (c->state == CL_WAIT_BODY && a->mbuf_owner < 0)
			serve_metrics(a, k);
		if (c->state == CL_WRITE)
			client_write(a, k); /* start at once: usually it all fits */
	}
}
