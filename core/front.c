/* The explicit proxy front end: an accepted connection, the upstream a
 * request names, switches between upstreams, and the establish layer after
 * a CONNECT or a 101 (core/front.h). */
#include "core/front.h"

#include <string.h>
#include <unistd.h>

#include "base/addr.h"
#include "base/rng.h"
#include "core/intercept.h"
#include "core/policy.h"
#include "core/reactor.h"
#include "core/stack.h"
#include "telemetry/event.h"

void sm_front_start(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_stack *st = sm_stack_get(r);
	if (!st) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	f->st = st;
	struct sm_front *fe = &st->fe;
	socklen_t len = sizeof(fe->peer);
	if (getpeername(f->fd[SM_SIDE_CLIENT], (struct sockaddr *)&fe->peer, &len) != 0)
		memset(&fe->peer, 0, sizeof(fe->peer));
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_FLOW_OPEN);
	if (ev) {
		char buf[SM_ADDR_MAX];
		size_t n = sm_addr_format((struct sockaddr *)&fe->peer, buf, sizeof(buf));
		sm_event_set_str(ev, 0, buf, n);
		struct sockaddr_storage local;
		len = sizeof(local);
		if (getsockname(f->fd[SM_SIDE_CLIENT], (struct sockaddr *)&local, &len) == 0) {
			n = sm_addr_format((struct sockaddr *)&local, buf, sizeof(buf));
			sm_event_set_str(ev, 1, buf, n);
		}
		sm_flow_event_commit(r);
	}
	fe->roll = sm_rng_next(&r->rng);
	fe->denied = !sm_policy_client_allowed(sm_flow_cfg(f), (struct sockaddr *)&fe->peer);
	if (fe->denied)
		SM_CTR_INC(r, denied_clients);
	sm_conn_open(&st->conn[SM_SIDE_CLIENT], SM_SIDE_CLIENT, &sm_xprt_plain, NULL);
	sm_stack_install(r, f, &sm_app_http1_proxy, NULL);
}

/* ---- upstream switches ------------------------------------------------------ */

bool sm_front_switching(const struct sm_flow *f)
{
	return f->st->fe.switching;
}

void sm_front_target(struct sm_reactor *r, struct sm_flow *f, const char *host, uint16_t port,
                     bool connect)
{
	struct sm_front *fe = &f->st->fe;
	(void)r;
	size_t n = strlen(host);
	n = n < sizeof(fe->host) - 1 ? n : sizeof(fe->host) - 1;
	memcpy(fe->host, host, n);
	fe->host[n] = 0;
	fe->port = port;
	fe->purpose = connect ? SM_PURPOSE_CONNECT : SM_PURPOSE_HTTP;
	fe->switching = true;
}

void sm_front_switch(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fe = &f->st->fe;
	struct sm_conn *uc = &f->st->conn[SM_SIDE_UPSTREAM];
	if (!fe->switching || fe->phase == SM_FE_RESOLVING || fe->phase == SM_FE_CONNECTING)
		return;
	if (uc->recv_armed) { /* the old upstream's recv must land before its socket closes */
		sm_conn_cancel_recv(r, f, uc);
		return;
	}
	if (f->fd[SM_SIDE_UPSTREAM] >= 0) {
		close(f->fd[SM_SIDE_UPSTREAM]);
		f->fd[SM_SIDE_UPSTREAM] = -1;
	}
	sm_conn_close(r, uc);
	sm_conn_open(uc, SM_SIDE_UPSTREAM, NULL, NULL);
	fe->phase = SM_FE_NONE;
	fe->live_host[0] = 0;
	sm_upstream_resolve(r, f);
}

void sm_front_connect_cqe(struct sm_reactor *r, struct sm_flow *f, int res)
{
	struct sm_front *fe = &f->st->fe;
	if (!sm_upstream_connect_result(r, f, res))
		return;
	sm_upstream_connected_event(r, f);
	fe->phase = SM_FE_CONNECTED;
	fe->switching = false;
	sm_conn_open(&f->st->conn[SM_SIDE_UPSTREAM], SM_SIDE_UPSTREAM, &sm_xprt_plain, NULL);
	if (fe->purpose == SM_PURPOSE_CONNECT) {
		sm_stack_install(r, f, &sm_app_establish, (void *)r->const_200);
		return;
	}
	memcpy(fe->live_host, fe->host, sizeof(fe->host));
	fe->live_port = fe->port;
	sm_stack_pump(r, f, SM_SIDE_UPSTREAM, SM_PUMP_OPEN);
}

/* ---- the establish layer ------------------------------------------------------ */

/* Once nothing is in flight: interception takes over, or the bytes either
 * side sent early go across, then the splice tunnel takes the sockets. */
static void establish_pump(struct sm_reactor *r, struct sm_flow *f, int side, int why)
{
	struct sm_conn *c = f->st->conn;
	(void)side, (void)why;
	bool busy = false;
	for (int s = 0; s < 2; s++) {
		/* a recv still armed (a 101 while the client was being read)
		 * lands first: what it brings goes across before the tunnel */
		sm_conn_cancel_recv(r, f, &c[s]);
		busy |= c[s].out.inflight || c[s].recv_armed;
	}
	if (busy)
		return;
	if (f->st->fe.intercept) {
		sm_intercept_start(r, f);
		return;
	}
	if (c[SM_SIDE_CLIENT].in.len) {
		sm_conn_forward(r, f, &c[SM_SIDE_CLIENT], &c[SM_SIDE_UPSTREAM], NULL);
		return;
	}
	if (c[SM_SIDE_UPSTREAM].in.len) { /* upgrade: upstream bytes after the 101 */
		sm_conn_forward(r, f, &c[SM_SIDE_UPSTREAM], &c[SM_SIDE_CLIENT], NULL);
		return;
	}
	sm_tunnel_start(r, f);
}

/* arg: the answer to send first (r->const_200 after a CONNECT), or NULL
 * (after a 101, which went out already). */
static void establish_start(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	struct sm_conn *c = &f->st->conn[SM_SIDE_CLIENT];
	if (!arg) {
		establish_pump(r, f, SM_SIDE_CLIENT, SM_PUMP_OUT);
		return;
	}
	sm_conn_out_const(r, c, arg, r->const_200_len);
	sm_conn_flush(r, f, c);
}

const struct sm_app_ops sm_app_establish = {
        .name = "establish",
        .start = establish_start,
        .pump = establish_pump,
};
