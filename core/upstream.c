/* Upstream selection: name resolution (IP literal, hosts table, c-ares),
 * destination rules, connect with a deadline, and the answers when any of it
 * fails. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/addr.h"
#include "base/result.h"
#include "core/dns.h"
#include "core/front.h"
#include "core/hosts.h"
#include "core/policy.h"
#include "core/proxy_internal.h"
#include "core/reactor.h"
#include "core/reply.h"
#include "core/stack.h"
#include "telemetry/event.h"

void sm_upstream_decision_event(struct sm_reactor *r, struct sm_flow *f,
                                const struct sm_policy_decision *d)
{
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_CONNECT_DECISION);
	if (!ev)
		return;
	ev->i[0] = d->action;
	ev->i[1] = d->rule;
	ev->i[2] = f->st->fe.port;
	sm_event_set_str(ev, 0, f->st->fe.host, strlen(f->st->fe.host));
	if (d->desc)
		sm_event_set_str(ev, 1, d->desc, strlen(d->desc));
	if (d->name)
		sm_event_set_str(ev, 2, d->name, strlen(d->name));
	sm_flow_event_commit(r);
}

/* A connection-level fault answers the CONNECT (or the plain request). */
static void fault(struct sm_reactor *r, struct sm_flow *f, const struct sm_policy_decision *d)
{
	struct sm_front *fr = &f->st->fe;
	sm_upstream_decision_event(r, f, d);
	sm_front_fault(r, f, d, fr->purpose == SM_PURPOSE_CONNECT ? "CONNECT" : "",
	               (const uint8_t *)fr->host, strlen(fr->host), false);
	sm_front_fault_check(r, f, false,
	                     sm_now_ns()); /* a switch waited for every earlier response */
}

static void block(struct sm_reactor *r, struct sm_flow *f, const struct sm_policy_decision *d)
{
	sm_upstream_decision_event(r, f, d);
	SM_CTR_INC(r, decision_block);
	sm_reply_error(r, f, 403, "blocked by policy", d->desc ? d->desc : "default_action",
	               SM_CLOSE_BLOCKED);
}

static void upstream_failed(struct sm_reactor *r, struct sm_flow *f, int why, int err,
                            const char *addr)
{
	sm_metrics_upstream_failed(r->m, why);
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_UPSTREAM_FAILED);
	if (ev) {
		ev->i[0] = why;
		ev->i[1] = err;
		sm_event_set_str(ev, 0, addr, strlen(addr));
		sm_flow_event_commit(r);
	}
	char detail[400];
	const char *host = f->st->fe.host;
	switch (why) {
	case SM_UPF_DNS_NXDOMAIN:
		snprintf(detail, sizeof(detail), "%s does not resolve (NXDOMAIN)", host);
		sm_reply_error(r, f, 502, "DNS lookup failed", detail, SM_CLOSE_DNS_FAILED);
		break;
	case SM_UPF_DNS_ERROR:
		snprintf(detail, sizeof(detail), "no answer for %s", host);
		sm_reply_error(r, f, 502, "DNS lookup failed", detail, SM_CLOSE_DNS_FAILED);
		break;
	case SM_UPF_TIMEOUT:
		snprintf(detail, sizeof(detail), "%s (%s) did not answer within %u ms", host, addr,
		         sm_flow_cfg(f)->timeouts.connect_timeout_ms);
		sm_reply_error(r, f, 504, "upstream connect timed out", detail,
		               SM_CLOSE_CONNECT_TIMEOUT);
		break;
	case SM_UPF_REFUSED:
		snprintf(detail, sizeof(detail), "%s (%s) refused the connection", host, addr);
		sm_reply_error(r, f, 502, "upstream connect failed", detail,
		               SM_CLOSE_CONNECT_REFUSED);
		break;
	default:
		snprintf(detail, sizeof(detail), "%s (%s): %s", host, addr, strerror(err));
		sm_reply_error(r, f, 502, "upstream connect failed", detail,
		               SM_CLOSE_CONNECT_FAILED);
		break;
	}
}

static void connect_next(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = &f->st->fe;
	const struct sockaddr_storage *a = &fr->addrs[fr->addr_idx];
	if (f->fd[SM_SIDE_UPSTREAM] >= 0) {
		close(f->fd[SM_SIDE_UPSTREAM]);
		f->fd[SM_SIDE_UPSTREAM] = -1;
	}
	/* a blocking fd on purpose: io_uring polls it, while an O_NONBLOCK one
	 * would have writes fail with EAGAIN instead of waiting */
	int fd = socket(a->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		char buf[80];
		sm_addr_format((const struct sockaddr *)a, buf, sizeof(buf));
		upstream_failed(r, f, SM_UPF_OTHER, errno, buf);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	f->fd[SM_SIDE_UPSTREAM] = fd;
	fr->phase = SM_FE_CONNECTING;
	fr->t_connect_ns = sm_now_ns();
	socklen_t len =
	        a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	uint64_t ud = sm_flow_op(r, f, SM_OP_CONNECT);
	r->io->connect(r, fd, (const struct sockaddr *)a, len, ud,
	               sm_flow_op(r, f, SM_OP_CONNECT_TIMEOUT));
}

bool sm_upstream_connect_result(struct sm_reactor *r, struct sm_flow *f, int res)
{
	struct sm_front *fr = &f->st->fe;
	if (res == 0)
		return true;
	char buf[80];
	sm_addr_format((const struct sockaddr *)&fr->addrs[fr->addr_idx], buf, sizeof(buf));
	int err = -res;
	if (fr->addr_idx + 1 < fr->n_addrs && err != ECANCELED) {
		fr->addr_idx++;
		connect_next(r, f);
		return false;
	}
	close(f->fd[SM_SIDE_UPSTREAM]);
	f->fd[SM_SIDE_UPSTREAM] = -1;
	fr->phase = SM_FE_NONE;
	if (err == ECANCELED || err == ETIMEDOUT)
		upstream_failed(r, f, SM_UPF_TIMEOUT, ETIMEDOUT, buf);
	else if (err == ECONNREFUSED)
		upstream_failed(r, f, SM_UPF_REFUSED, err, buf);
	else if (err == ENETUNREACH || err == EHOSTUNREACH)
		upstream_failed(r, f, SM_UPF_UNREACHABLE, err, buf);
	else
		upstream_failed(r, f, SM_UPF_OTHER, err, buf);
	return false;
}

void sm_upstream_connected_event(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = &f->st->fe;
	SM_CTR_INC(r, upstream_connected);
	sm_metrics_record(r->m, SM_HIST_UPSTREAM_CONNECT, sm_now_ns() - fr->t_connect_ns);
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_UPSTREAM_CONNECTED);
	if (!ev)
		return;
	char buf[80];
	size_t n =
	        sm_addr_format((const struct sockaddr *)&fr->addrs[fr->addr_idx], buf, sizeof(buf));
	ev->i[0] = (int64_t)((sm_now_ns() - fr->t_connect_ns) / 1000);
	ev->i[1] = (int64_t)fr->dns_us;
	sm_event_set_str(ev, 0, buf, n);
	sm_flow_event_commit(r);
}

/* Resolved addresses: apply dest rules, then connect to the first allowed. */
static void have_addrs(struct sm_reactor *r, struct sm_flow *f,
                       const struct sockaddr_storage *addrs, int n)
{
	struct sm_front *fr = &f->st->fe;
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
		        .roll = fr->roll,
		};
		struct sm_policy_decision dk;
		int rc = sm_policy_decide_dest(sm_flow_cfg(f), &in, &dk);
		if (rc == SM_AGAIN && fr->purpose != SM_PURPOSE_CONNECT)
			rc = sm_policy_decide_sni(sm_flow_cfg(f), &in,
			                          &dk); /* plain HTTP: no SNI */
		if (rc == SM_AGAIN) {
			/* an sni rule may decide: look at the ClientHello first */
			dk.action = SM_ACTION_INTERCEPT;
			fr->need_sni = true;
		}
		if (dk.action == SM_ACTION_FAULT && dk.fault) {
			fault(r, f, &dk);
			return;
		}
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
		block(r, f, &first_block);
		return;
	}
	sm_upstream_decision_event(r, f, &d);
	sm_metrics_decision(r->m, d.action);
	fr->intercept = d.action == SM_ACTION_INTERCEPT && fr->purpose == SM_PURPOSE_CONNECT;
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
	if (f->gen != gen || f->state != SM_FLOW_OPEN || f->st->fe.phase != SM_FE_RESOLVING)
		return; /* the flow closed while we waited */
	uint64_t dns_ns = sm_now_ns() - f->st->fe.t_dns_ns;
	sm_metrics_record(r->m, SM_HIST_DNS, dns_ns);
	f->st->fe.dns_us = dns_ns / 1000;
	if (st == SM_DNS_OK && n > 0) {
		have_addrs(r, f, addrs, n);
		return;
	}
	upstream_failed(r, f, st == SM_DNS_NXDOMAIN ? SM_UPF_DNS_NXDOMAIN : SM_UPF_DNS_ERROR, 0,
	                f->st->fe.host);
}

void sm_upstream_resolve(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = &f->st->fe;
	struct sm_policy_input in = {
	        .host = fr->host,
	        .host_len = strlen(fr->host),
	        .port = fr->port,
	        .client = (const struct sockaddr *)&fr->peer,
	};
	in.roll = fr->roll;
	struct sm_policy_decision d;
	int rc = sm_policy_decide_pre(sm_flow_cfg(f), &in, &d);
	if (rc == SM_OK && d.action == SM_ACTION_BLOCK) {
		block(r, f, &d);
		return;
	}
	if (rc == SM_OK && d.action == SM_ACTION_FAULT && d.fault) {
		fault(r, f, &d);
		return;
	}
	struct sockaddr_storage addrs[SM_MAX_ADDRS];
	fr->dns_us = 0;
	int n = sm_ip_literal(fr->host, fr->port, &addrs[0]);
	if (!n)
		n = sm_hosts_lookup(r->rt->hosts, fr->host, fr->port, addrs, SM_MAX_ADDRS);
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
	fr->phase = SM_FE_RESOLVING;
	fr->t_dns_ns = sm_now_ns();
	if (!r->dns) { /* a ring without a resolver (the engine tests' fake) */
		on_dns(a, SM_DNS_ERROR, NULL, 0);
		return;
	}
	sm_dns_resolve(r->dns, fr->host, fr->port, on_dns, a);
}
