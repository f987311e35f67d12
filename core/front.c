/* Front phase: proxy request -> policy -> DNS -> connect -> answer. */
#include "core/front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dns.h"
#include "core/hosts.h"
#include "core/policy.h"
#include "core/proxy_internal.h"
#include "core/result.h"
#include "proto/authority.h"
#include "telemetry/event.h"

/* What a finished send leads to. */
enum after_send {
	AFTER_CLOSE = 1, /* error reply sent: close with pending_reason */
	AFTER_200,       /* "200 Connection established" sent */
	AFTER_LEFTOVER,  /* early client bytes forwarded upstream */
};

struct sm_front *sm_front_get(struct sm_reactor *r)
{
	struct sm_front *fr;
	if (r->n_fronts > 0) {
		fr = r->fronts[--r->n_fronts];
	} else {
		fr = calloc(1, sizeof(*fr));
		if (!fr)
			return NULL;
		fr->head_cap = r->cfg->limits.max_header_bytes;
		fr->head = malloc(fr->head_cap);
		if (!fr->head) {
			free(fr);
			return NULL;
		}
	}
	uint8_t *head = fr->head;
	uint32_t cap = fr->head_cap;
	memset(fr, 0, sizeof(*fr));
	fr->head = head;
	fr->head_cap = cap;
	fr->chunk = -1;
	return fr;
}

void sm_front_put(struct sm_reactor *r, struct sm_front *fr)
{
	sm_chunk_put(r, fr->chunk);
	fr->chunk = -1;
	if (r->n_fronts < r->fronts_cap) {
		r->fronts[r->n_fronts++] = fr;
	} else {
		free(fr->head);
		free(fr);
	}
}

static size_t fmt_addr(const struct sockaddr *sa, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
		return (size_t)snprintf(buf, cap, "%s:%u", ip, port);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
		return (size_t)snprintf(buf, cap, "[%s]:%u", ip, port);
	}
	return (size_t)snprintf(buf, cap, "?");
}

static void send_chunk(struct sm_reactor *r, struct sm_flow *f, bool to_client)
{
	struct sm_front *fr = f->front;
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_write_fixed(sqe, to_client ? f->cfd : f->ufd,
	                          sm_chunk_ptr(r, fr->chunk) + fr->send_off,
	                          fr->send_len - fr->send_off, 0, 0);
	fr->send_to_client = to_client;
	sm_flow_prep(r, f, sqe, to_client ? SM_OP_CLIENT_SEND : SM_OP_UP_SEND);
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	return "Error";
}

void sm_front_reply_error(struct sm_reactor *r, struct sm_flow *f, int status, const char *text,
                          const char *detail, int reason)
{
	struct sm_front *fr = f->front;
	if (!fr || (fr->chunk < 0 && (fr->chunk = sm_chunk_get(r)) < 0)) {
		sm_flow_close(r, f, reason);
		return;
	}
	char body[512];
	int blen = snprintf(body, sizeof(body), "soth-mitm: %s%s%s\n", text, detail ? ": " : "",
	                    detail ? detail : "");
	if (blen < 0 || (size_t)blen >= sizeof(body))
		blen = (int)sizeof(body) - 1;
	int n = snprintf((char *)sm_chunk_ptr(r, fr->chunk), SM_CHUNK_SIZE,
	                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                 "Content-Length: %d\r\nConnection: close\r\n\r\n%.*s",
	                 status, status_text(status), blen, blen, body);
	fr->send_len = (uint32_t)n;
	fr->send_off = 0;
	fr->after_send = AFTER_CLOSE;
	fr->pending_reason = (uint8_t)reason;
	f->state = SM_FLOW_REPLYING;
	send_chunk(r, f, true);
}

void sm_front_start(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = sm_front_get(r);
	if (!fr) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	f->front = fr;
	f->state = SM_FLOW_FRONT;
	socklen_t len = sizeof(fr->peer);
	if (getpeername(f->cfd, (struct sockaddr *)&fr->peer, &len) != 0)
		memset(&fr->peer, 0, sizeof(fr->peer));
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_FLOW_OPEN);
	if (ev) {
		char buf[80];
		size_t n = fmt_addr((struct sockaddr *)&fr->peer, buf, sizeof(buf));
		sm_event_set_str(ev, 0, buf, n);
		struct sockaddr_storage local;
		len = sizeof(local);
		if (getsockname(f->cfd, (struct sockaddr *)&local, &len) == 0) {
			n = fmt_addr((struct sockaddr *)&local, buf, sizeof(buf));
			sm_event_set_str(ev, 1, buf, n);
		}
		sm_flow_event_commit(r);
	}
	/* a denied client still gets its request head read, so the 403 is not
	 * lost to a reset caused by unread bytes */
	fr->denied = !sm_policy_client_allowed(r->cfg, (struct sockaddr *)&fr->peer);
	if (fr->denied)
		SM_CTR_INC(r, denied_clients);
	sm_arm_client_recv(r, f);
}

static void decision_event(struct sm_reactor *r, struct sm_flow *f,
                           const struct sm_policy_decision *d)
{
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_CONNECT_DECISION);
	if (!ev)
		return;
	ev->i[0] = d->action;
	ev->i[1] = d->rule;
	ev->i[2] = f->front->port;
	sm_event_set_str(ev, 0, f->front->host, strlen(f->front->host));
	if (d->desc)
		sm_event_set_str(ev, 1, d->desc, strlen(d->desc));
	sm_flow_event_commit(r);
}

static void block(struct sm_reactor *r, struct sm_flow *f, const struct sm_policy_decision *d)
{
	SM_CTR_INC(r, decision_block);
	sm_front_reply_error(r, f, 403, "blocked by policy", d->desc ? d->desc : "default_action",
	                     SM_CLOSE_BLOCKED);
}

static void upstream_failed(struct sm_reactor *r, struct sm_flow *f, int why, int err,
                            const char *addr)
{
	SM_CTR_INC(r, upstream_failed);
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_UPSTREAM_FAILED);
	if (ev) {
		ev->i[0] = why;
		ev->i[1] = err;
		sm_event_set_str(ev, 0, addr, strlen(addr));
		sm_flow_event_commit(r);
	}
	char detail[400];
	const char *host = f->front->host;
	switch (why) {
	case SM_UPF_DNS_NXDOMAIN:
		snprintf(detail, sizeof(detail), "%s does not resolve (NXDOMAIN)", host);
		sm_front_reply_error(r, f, 502, "DNS lookup failed", detail, SM_CLOSE_DNS_FAILED);
		break;
	case SM_UPF_DNS_ERROR:
		snprintf(detail, sizeof(detail), "no answer for %s", host);
		sm_front_reply_error(r, f, 502, "DNS lookup failed", detail, SM_CLOSE_DNS_FAILED);
		break;
	case SM_UPF_TIMEOUT:
		snprintf(detail, sizeof(detail), "%s (%s) did not answer within %u ms", host, addr,
		         r->cfg->timeouts.connect_timeout_ms);
		sm_front_reply_error(r, f, 504, "upstream connect timed out", detail,
		                     SM_CLOSE_CONNECT_TIMEOUT);
		break;
	case SM_UPF_REFUSED:
		snprintf(detail, sizeof(detail), "%s (%s) refused the connection", host, addr);
		sm_front_reply_error(r, f, 502, "upstream connect failed", detail,
		                     SM_CLOSE_CONNECT_REFUSED);
		break;
	default:
		snprintf(detail, sizeof(detail), "%s (%s): %s", host, addr, strerror(err));
		sm_front_reply_error(r, f, 502, "upstream connect failed", detail,
		                     SM_CLOSE_CONNECT_FAILED);
		break;
	}
}

static void connect_next(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	const struct sockaddr_storage *a = &fr->addrs[fr->addr_idx];
	if (f->ufd >= 0) {
		close(f->ufd);
		f->ufd = -1;
	}
	int fd = socket(a->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		char buf[80];
		fmt_addr((const struct sockaddr *)a, buf, sizeof(buf));
		upstream_failed(r, f, SM_UPF_OTHER, errno, buf);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	f->ufd = fd;
	f->state = SM_FLOW_CONNECTING;
	fr->t_connect_ns = sm_now_ns();
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)a,
	                      a->ss_family == AF_INET ? sizeof(struct sockaddr_in)
	                                              : sizeof(struct sockaddr_in6));
	sqe->flags |= IOSQE_IO_LINK;
	sm_flow_prep(r, f, sqe, SM_OP_CONNECT);
	sqe = sm_sqe(r);
	io_uring_prep_link_timeout(sqe, &r->connect_ts, 0);
	sm_flow_prep(r, f, sqe, SM_OP_CONNECT_TIMEOUT);
}

/* Resolved addresses: apply dest rules, then connect to the first allowed. */
static void have_addrs(struct sm_reactor *r, struct sm_flow *f,
                       const struct sockaddr_storage *addrs, int n)
{
	struct sm_front *fr = f->front;
	struct sm_policy_decision d = {0}, first_block = {0};
	bool blocked_any = false;
	fr->n_addrs = 0;
	for (int k = 0; k < n && fr->n_addrs < SM_MAX_ADDRS; k++) {
		struct sm_policy_input in = {
		        .host = fr->host,
		        .host_len = strlen(fr->host),
		        .port = fr->port,
		        .client = (const struct sockaddr *)&fr->peer,
		        .dest = (const struct sockaddr *)&addrs[k],
		};
		struct sm_policy_decision dk;
		sm_policy_decide_dest(r->cfg, &in, &dk);
		if (dk.action == SM_ACTION_BLOCK) {
			if (!blocked_any)
				first_block = dk;
			blocked_any = true;
			continue;
		}
		if (fr->n_addrs == 0)
			d = dk;
		fr->addrs[fr->n_addrs++] = addrs[k];
	}
	if (fr->n_addrs == 0) {
		decision_event(r, f, &first_block);
		block(r, f, &first_block);
		return;
	}
	decision_event(r, f, &d);
	SM_CTR_INC(r, decision_tunnel);
	fr->addr_idx = 0;
	connect_next(r, f);
}

/* Identifies the flow a DNS answer belongs to; freed by the callback. */
struct sm_dns_arg {
	struct sm_reactor *r;
	uint32_t slot, gen;
};

static void on_dns(void *arg, enum sm_dns_status st, const struct sockaddr_storage *addrs, int n)
{
	struct sm_dns_arg *a = arg;
	struct sm_reactor *r = a->r;
	uint32_t slot = a->slot, gen = a->gen;
	free(a);
	if (slot >= r->cap)
		return;
	struct sm_flow *f = &r->flows[slot];
	if (f->gen != gen || f->state != SM_FLOW_RESOLVING)
		return; /* the flow closed while we waited */
	f->front->dns_us = (sm_now_ns() - f->front->t_dns_ns) / 1000;
	if (st == SM_DNS_OK && n > 0) {
		have_addrs(r, f, addrs, n);
		return;
	}
	upstream_failed(r, f, st == SM_DNS_NXDOMAIN ? SM_UPF_DNS_NXDOMAIN : SM_UPF_DNS_ERROR, 0,
	                f->front->host);
}

static void resolve(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	struct sockaddr_storage addrs[SM_MAX_ADDRS];
	int n = sm_ip_literal(fr->host, fr->port, &addrs[0]);
	if (!n)
		n = sm_hosts_lookup(sm_proxy_rt(r->proxy)->hosts, fr->host, fr->port, addrs,
		                    SM_MAX_ADDRS);
	if (n > 0) {
		have_addrs(r, f, addrs, n);
		return;
	}
	struct sm_dns_arg *a = malloc(sizeof(*a));
	if (!a) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	*a = (struct sm_dns_arg){r, sm_flow_slot(r, f), f->gen};
	f->state = SM_FLOW_RESOLVING;
	fr->t_dns_ns = sm_now_ns();
	sm_dns_resolve(r->dns, fr->host, fr->port, on_dns, a);
}

static void cancel_client_recv(struct sm_reactor *r, struct sm_flow *f)
{
	if (!f->client_recv_armed)
		return;
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_cancel64(sqe, sm_ud_make(SM_OP_CLIENT_RECV, f->gen, sm_flow_slot(r, f)), 0);
	sm_flow_prep(r, f, sqe, SM_OP_CANCEL);
}

/* Handles a complete CONNECT head of head_len bytes at fr->head. */
static void on_connect_head(struct sm_reactor *r, struct sm_flow *f, const uint8_t *target,
                            size_t tlen, int minor)
{
	struct sm_front *fr = f->front;
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_PROXY_REQUEST);
	if (ev) {
		ev->i[0] = minor;
		sm_event_set_str(ev, 0, "CONNECT", 7);
		sm_event_set_str(ev, 1, (const char *)target, tlen);
		sm_flow_event_commit(r);
	}
	struct sm_authority auth;
	enum sm_authority_reason why;
	if (sm_authority_parse(target, tlen, SM_AUTHORITY_PORT_REQUIRED, 0, &auth, &why) != SM_OK) {
		sm_front_reply_error(r, f, 400, "bad CONNECT target", sm_authority_reason_str(why),
		                     SM_CLOSE_BAD_REQUEST);
		return;
	}
	memcpy(fr->host, auth.host, (size_t)auth.host_len + 1);
	fr->port = auth.port;
	cancel_client_recv(r, f);
	struct sm_policy_input in = {
	        .host = fr->host,
	        .host_len = strlen(fr->host),
	        .port = fr->port,
	        .client = (const struct sockaddr *)&fr->peer,
	};
	struct sm_policy_decision d;
	if (sm_policy_decide_pre(r->cfg, &in, &d) == SM_OK && d.action == SM_ACTION_BLOCK) {
		decision_event(r, f, &d);
		block(r, f, &d);
		return;
	}
	resolve(r, f);
}

static const uint8_t *find_head_end(const uint8_t *p, size_t len)
{
	for (size_t k = 3; k < len; k++)
		if (p[k] == '\n' && p[k - 1] == '\r' && p[k - 2] == '\n' && p[k - 3] == '\r')
			return p + k + 1;
	return NULL;
}

static void parse_head(struct sm_reactor *r, struct sm_flow *f, size_t head_len)
{
	struct sm_front *fr = f->front;
	const uint8_t *p = fr->head;
	const uint8_t *eol = memchr(p, '\r', head_len);
	const uint8_t *sp1 = memchr(p, ' ', (size_t)(eol - p));
	const uint8_t *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || eol - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1')) {
		sm_front_reply_error(r, f, 400, "malformed request line", NULL,
		                     SM_CLOSE_BAD_REQUEST);
		return;
	}
	fr->leftover_off = (uint32_t)head_len;
	fr->leftover_len = fr->head_len - (uint32_t)head_len;
	if (fr->denied) {
		sm_front_reply_error(r, f, 403, "client not allowed",
		                     "this address is not in allow_clients",
		                     SM_CLOSE_CLIENT_NOT_ALLOWED);
		return;
	}
	if (sp1 - p == 7 && memcmp(p, "CONNECT", 7) == 0) {
		on_connect_head(r, f, sp1 + 1, (size_t)(sp2 - sp1 - 1), sp2[8] - '0');
		return;
	}
	sm_front_reply_error(r, f, 501, "only CONNECT is supported by this build", NULL,
	                     SM_CLOSE_BAD_REQUEST);
}

void sm_front_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, size_t len)
{
	struct sm_front *fr = f->front;
	sm_flow_touch(r, f);
	f->bytes_up += len;
	if (f->state == SM_FLOW_REPLYING || !fr)
		return; /* answering already: what the client sends now is dropped */
	if (len > fr->head_cap - fr->head_len) {
		if (f->state == SM_FLOW_FRONT)
			sm_front_reply_error(r, f, 431, "request head too large",
			                     "the request line and headers exceed max_header_bytes",
			                     SM_CLOSE_BAD_REQUEST);
		else
			sm_front_reply_error(r, f, 400, "too many bytes before the tunnel opened",
			                     NULL, SM_CLOSE_BAD_REQUEST);
		return;
	}
	memcpy(fr->head + fr->head_len, data, len);
	size_t scan_from = fr->head_len > 3 ? fr->head_len - 3 : 0;
	fr->head_len += (uint32_t)len;
	if (f->state != SM_FLOW_FRONT) {
		fr->leftover_len += (uint32_t)len;
		return;
	}
	const uint8_t *end = find_head_end(fr->head + scan_from, fr->head_len - scan_from);
	if (end)
		parse_head(r, f, (size_t)(end - fr->head));
}

static void try_start_tunnel(struct sm_reactor *r, struct sm_flow *f);

void sm_front_recv_end(struct sm_reactor *r, struct sm_flow *f, int res)
{
	switch (f->state) {
	case SM_FLOW_FRONT:
		if (res == 0)
			sm_flow_close(r, f,
			              f->front->head_len ? SM_CLOSE_CLIENT_EOF_EARLY
			                                 : SM_CLOSE_DONE);
		else
			sm_flow_close(r, f, SM_CLOSE_CLIENT_RESET);
		return;
	case SM_FLOW_RESOLVING:
	case SM_FLOW_CONNECTING:
	case SM_FLOW_ESTABLISH:
		/* recv is off (cancelled, or the client half-closed: the tunnel
		 * sees that EOF again and propagates it) */
		if (res < 0 && res != -ECANCELED) {
			f->reset = true;
			sm_flow_close(r, f, SM_CLOSE_CLIENT_RESET);
			return;
		}
		if (f->state == SM_FLOW_ESTABLISH)
			try_start_tunnel(r, f);
		return;
	case SM_FLOW_REPLYING:
		if (f->front->lingering)
			sm_flow_close(r, f, f->front->pending_reason);
		return;
	default: return;
	}
}

static void try_start_tunnel(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	if (f->client_recv_armed || fr->send_len)
		return;
	if (fr->leftover_len) {
		if (fr->chunk < 0 && (fr->chunk = sm_chunk_get(r)) < 0) {
			sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		uint32_t n = fr->leftover_len;
		if (n > SM_CHUNK_SIZE)
			n = SM_CHUNK_SIZE;
		memcpy(sm_chunk_ptr(r, fr->chunk), fr->head + fr->leftover_off, n);
		fr->leftover_off += n;
		fr->leftover_len -= n;
		fr->send_len = n;
		fr->send_off = 0;
		fr->after_send = AFTER_LEFTOVER;
		send_chunk(r, f, false);
		return;
	}
	sm_front_put(r, fr);
	f->front = NULL;
	sm_tunnel_start(r, f);
}

void sm_front_connect_cqe(struct sm_reactor *r, struct sm_flow *f, int res)
{
	struct sm_front *fr = f->front;
	char buf[80];
	fmt_addr((const struct sockaddr *)&fr->addrs[fr->addr_idx], buf, sizeof(buf));
	if (res == 0) {
		SM_CTR_INC(r, upstream_connected);
		struct sm_event *ev = sm_flow_event(r, f, SM_EV_UPSTREAM_CONNECTED);
		if (ev) {
			ev->i[0] = (int64_t)((sm_now_ns() - fr->t_connect_ns) / 1000);
			ev->i[1] = (int64_t)fr->dns_us;
			sm_event_set_str(ev, 0, buf, strlen(buf));
			sm_flow_event_commit(r);
		}
		if (fr->chunk < 0 && (fr->chunk = sm_chunk_get(r)) < 0) {
			sm_front_reply_error(r, f, 503, "proxy out of send buffers", NULL,
			                     SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		memcpy(sm_chunk_ptr(r, fr->chunk), ok, sizeof(ok) - 1);
		fr->send_len = sizeof(ok) - 1;
		fr->send_off = 0;
		fr->after_send = AFTER_200;
		f->state = SM_FLOW_ESTABLISH;
		send_chunk(r, f, true);
		return;
	}
	int err = -res;
	if (fr->addr_idx + 1 < fr->n_addrs && err != ECANCELED) {
		fr->addr_idx++;
		connect_next(r, f);
		return;
	}
	f->state = SM_FLOW_FRONT;
	if (err == ECANCELED || err == ETIMEDOUT)
		upstream_failed(r, f, SM_UPF_TIMEOUT, ETIMEDOUT, buf);
	else if (err == ECONNREFUSED)
		upstream_failed(r, f, SM_UPF_REFUSED, err, buf);
	else if (err == ENETUNREACH || err == EHOSTUNREACH)
		upstream_failed(r, f, SM_UPF_UNREACHABLE, err, buf);
	else
		upstream_failed(r, f, SM_UPF_OTHER, err, buf);
}

void sm_front_send_cqe(struct sm_reactor *r, struct sm_flow *f, int res)
{
	struct sm_front *fr = f->front;
	if (res < 0) {
		f->reset = res == -ECONNRESET || res == -EPIPE;
		sm_flow_close(r, f,
		              fr->send_to_client ? SM_CLOSE_CLIENT_RESET : SM_CLOSE_UPSTREAM_RESET);
		return;
	}
	fr->send_off += (uint32_t)res;
	if (fr->send_off < fr->send_len) {
		send_chunk(r, f, fr->send_to_client);
		return;
	}
	fr->send_len = fr->send_off = 0;
	enum after_send next = (enum after_send)fr->after_send;
	fr->after_send = 0;
	switch (next) {
	case AFTER_CLOSE:
		/* lingering close: shut our side, drain what the client still
		 * sends, close on its EOF or after a short grace */
		if (f->client_recv_armed) {
			shutdown(f->cfd, SHUT_WR);
			fr->lingering = true;
			fr->linger_until_ns = sm_now_ns() + SM_LINGER_NS;
		} else {
			sm_flow_close(r, f, fr->pending_reason);
		}
		break;
	case AFTER_200:
	case AFTER_LEFTOVER: try_start_tunnel(r, f); break;
	}
}
