#include "core/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reactor.h"
#include "base/result.h"

#define MAX_SOCKS 16

struct dns_sock {
	int fd;       /* -1 = free entry */
	uint32_t gen; /* bumped whenever the entry's poll is abandoned */
	short want;   /* POLLIN/POLLOUT c-ares asked for */
	short armed;  /* mask of the poll in flight, 0 = none */
};

struct sm_dns {
	struct sm_reactor *r;
	ares_channel channel;
	struct dns_sock socks[MAX_SOCKS];
	uint32_t pending;
	uint32_t next_gen;
};

struct lookup {
	struct sm_dns *d;
	sm_dns_cb cb;
	void *arg;
	uint16_t port;
};

static struct dns_sock *sock_find(struct sm_dns *d, int fd)
{
	for (int k = 0; k < MAX_SOCKS; k++)
		if (d->socks[k].fd == fd)
			return &d->socks[k];
	return NULL;
}

static void sock_arm(struct sm_dns *d, struct dns_sock *s)
{
	struct io_uring_sqe *sqe = sm_sqe(d->r);
	io_uring_prep_poll_add(sqe, s->fd, (unsigned)s->want);
	io_uring_sqe_set_data64(sqe, sm_ud_make(SM_OP_DNS_POLL, s->gen, (uint32_t)s->fd));
	s->armed = s->want;
}

static void sock_disarm(struct sm_dns *d, struct dns_sock *s)
{
	if (s->armed) {
		struct io_uring_sqe *sqe = sm_sqe(d->r);
		io_uring_prep_poll_remove(sqe, sm_ud_make(SM_OP_DNS_POLL, s->gen, (uint32_t)s->fd));
		io_uring_sqe_set_data64(sqe, sm_ud_make(SM_OP_NONE, 0, 0));
	}
	s->armed = 0;
	s->gen = ++d->next_gen;
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct sm_dns *d = data;
	short want = (short)((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
	struct dns_sock *s = sock_find(d, fd);
	if (!s) {
		if (!want)
			return;
		s = sock_find(d, -1);
		if (!s)
			return; /* more sockets than servers*2: c-ares times the query out */
		s->fd = fd;
		s->gen = ++d->next_gen;
		s->armed = 0;
	}
	if (s->armed && s->armed != want)
		sock_disarm(d, s);
	s->want = want;
	if (!want) {
		s->fd = -1;
		return;
	}
	if (!s->armed)
		sock_arm(d, s);
}

struct sm_dns *sm_dns_create(struct sm_reactor *r, const char *servers, unsigned timeout_ms,
                             char *err, size_t errcap)
{
	struct sm_dns *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errcap, "dns: out of memory");
		return NULL;
	}
	d->r = r;
	for (int k = 0; k < MAX_SOCKS; k++)
		d->socks[k].fd = -1;
	struct ares_options o = {0};
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = d;
	o.lookups = (char *)"b";
	o.tries = 2;
	o.timeout = (int)(timeout_ms / 2 ? timeout_ms / 2 : 1);
	int rc = ares_init_options(&d->channel, &o, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errcap, "dns: c-ares init failed: %s", ares_strerror(rc));
		free(d);
		return NULL;
	}
	if (servers && *servers) {
		rc = ares_set_servers_ports_csv(d->channel, servers);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errcap, "dns: bad dns_servers \"%s\": %s", servers,
			         ares_strerror(rc));
			ares_destroy(d->channel);
			free(d);
			return NULL;
		}
	}
	return d;
}

int sm_dns_check_servers(const char *servers, char *err, size_t errcap)
{
	if (!servers || !*servers)
		return SM_OK;
	ares_channel ch;
	struct ares_options o = {0};
	o.lookups = (char *)"b";
	if (ares_init_options(&ch, &o, ARES_OPT_LOOKUPS) != ARES_SUCCESS) {
		snprintf(err, errcap, "dns: c-ares init failed");
		return SM_ERR_INVALID;
	}
	int rc = ares_set_servers_ports_csv(ch, servers);
	ares_destroy(ch);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errcap, "dns_servers \"%s\": %s (expected ADDR[:PORT],...)", servers,
		         ares_strerror(rc));
		return SM_ERR_INVALID;
	}
	return SM_OK;
}

void sm_dns_destroy(struct sm_dns *d)
{
	if (!d)
		return;
	ares_destroy(d->channel); /* outstanding callbacks run with ARES_EDESTRUCTION */
	free(d);
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *l = arg;
	struct sockaddr_storage addrs[SM_DNS_MAX_ADDRS];
	int n = 0;
	enum sm_dns_status st = SM_DNS_OK;
	l->d->pending--;
	if (status == ARES_SUCCESS && res) {
		for (struct ares_addrinfo_node *a = res->nodes; a && n < SM_DNS_MAX_ADDRS;
		     a = a->ai_next) {
			if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
				continue;
			memset(&addrs[n], 0, sizeof(addrs[n]));
			memcpy(&addrs[n], a->ai_addr, a->ai_addrlen);
			if (a->ai_family == AF_INET)
				((struct sockaddr_in *)&addrs[n])->sin_port = htons(l->port);
			else
				((struct sockaddr_in6 *)&addrs[n])->sin6_port = htons(l->port);
			n++;
		}
		if (n == 0)
			st = SM_DNS_NXDOMAIN;
	} else if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
		st = SM_DNS_NXDOMAIN;
	} else if (status == ARES_ETIMEOUT) {
		st = SM_DNS_TIMEOUT;
	} else {
		st = SM_DNS_ERROR;
	}
	if (res)
		ares_freeaddrinfo(res);
	l->cb(l->arg, st, addrs, n);
	free(l);
}

void sm_dns_resolve(struct sm_dns *d, const char *name, uint16_t port, sm_dns_cb cb, void *arg)
{
	struct lookup *l = malloc(sizeof(*l));
	if (!l) {
		cb(arg, SM_DNS_ERROR, NULL, 0);
		return;
	}
	*l = (struct lookup){d, cb, arg, port};
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	d->pending++;
	ares_getaddrinfo(d->channel, name, NULL, &hints, on_addrinfo, l);
}

void sm_dns_poll_cqe(struct sm_dns *d, uint32_t fd, uint32_t gen, int res)
{
	struct dns_sock *s = sock_find(d, (int)fd);
	if (!s || s->gen != gen)
		return; /* abandoned poll */
	s->armed = 0;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
	if (res > 0 && (res & (POLLIN | POLLERR | POLLHUP)))
		rfd = (ares_socket_t)fd;
	if (res > 0 && (res & (POLLOUT | POLLERR | POLLHUP)))
		wfd = (ares_socket_t)fd;
	ares_process_fd(d->channel, rfd, wfd);
	/* the state callback may have dropped or re-armed the socket */
	s = sock_find(d, (int)fd);
	if (s && s->want && !s->armed)
		sock_arm(d, s);
}

void sm_dns_tick(struct sm_dns *d)
{
	if (d->pending)
		ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

bool sm_dns_busy(const struct sm_dns *d)
{
	return d->pending > 0;
}
