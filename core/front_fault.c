/* Request-level policy and fault injection on proxied HTTP (plain http://
 * and intercepted HTTPS): every request can be blocked or answered by a
 * fault rule instead of the upstream, after an optional delay (a timer,
 * never a sleep) or with a TCP reset. Faults are rolled from the reactor's
 * seeded RNG, so a run is reproducible with `seed`. */
#include <string.h>

#include "base/result.h"
#include "base/rng.h"
#include "core/front.h"
#include "core/policy.h"
#include "core/reactor.h"
#include "core/reply.h"
#include "core/stack.h"
#include "proto/http1.h"
#include "telemetry/event.h"

static void fault_event(struct sm_reactor *r, struct sm_flow *f, int rule,
                        const struct sm_fault *fault, const char *method, const uint8_t *target,
                        size_t tlen)
{
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_FAULT_INJECTED);
	if (!ev)
		return;
	ev->i[0] = rule;
	ev->i[1] = fault->reset ? 0 : fault->status;
	ev->i[2] = fault->delay_ms;
	sm_event_set_str(ev, 0, method, strlen(method));
	sm_event_set_str(ev, 1, (const char *)target, tlen);
	sm_flow_event_commit(r);
}

void sm_front_fault(struct sm_reactor *r, struct sm_flow *f, const struct sm_policy_decision *d,
                    const char *method, const uint8_t *target, size_t tlen, bool head)
{
	struct sm_front *fe = &f->st->fe;
	fault_event(r, f, d->rule, d->fault, method, target, tlen);
	fe->fault = (struct sm_fault_due){
	        .fault = d->fault,
	        .head = head,
	        .due_ns = sm_now_ns() + (uint64_t)d->fault->delay_ms * 1000000ull,
	};
	fe->switching = false; /* no upstream is needed for this one */
	if (d->fault->delay_ms)
		sm_flow_deadline(r, f, fe->fault.due_ns);
}

void sm_front_fault_check(struct sm_reactor *r, struct sm_flow *f, bool earlier_pending,
                          uint64_t now)
{
	struct sm_front *fe = &f->st->fe;
	const struct sm_fault *fault = fe->fault.fault;
	if (!fault || earlier_pending || now < fe->fault.due_ns)
		return;
	fe->fault.fault = NULL;
	if (fault->reset) {
		f->reset = true;
		sm_flow_close(r, f, SM_CLOSE_FAULT);
		return;
	}
	sm_reply_raw(r, f, fault->response, fe->fault.head ? fault->head_len : fault->response_len,
	             SM_CLOSE_FAULT);
}

/* The policy input of a request on flow f. */
static void request_input(struct sm_flow *f, const struct sm_h1_event *ev,
                          struct sm_policy_input *in, const char *method)
{
	struct sm_front *fe = &f->st->fe;
	memset(in, 0, sizeof(*in));
	in->host = ev->authority ? ev->authority->host : fe->host;
	in->host_len = strlen(in->host);
	in->port = ev->authority ? ev->authority->port : fe->port;
	in->client = (const struct sockaddr *)&fe->peer;
	if (fe->phase == SM_FE_CONNECTED && fe->n_addrs && !(ev->flags & SM_H1_F_SWITCH))
		in->dest = (const struct sockaddr *)&fe->addrs[fe->addr_idx];
	if (fe->has_sni) {
		in->sni = fe->sni;
		in->sni_len = fe->sni_len;
	}
	in->method = method;
	in->method_len = strlen(method);
	in->path = (const char *)ev->target;
	in->path_len = ev->target_len;
	in->roll = fe->roll;
}

bool sm_front_request_policy(struct sm_reactor *r, struct sm_flow *f, const struct sm_h1_event *ev)
{
	struct sm_front *fe = &f->st->fe;
	if (ev->flags & SM_H1_F_CONNECT)
		return true;
	const char *method = sm_h1_method_name(ev->method);
	bool head = (ev->flags & SM_H1_F_HEAD) != 0;
	if (fe->conn_fault) { /* decided on the SNI: this connection only gets faults */
		struct sm_policy_decision d = {.action = SM_ACTION_FAULT,
		                               .rule = fe->conn_fault_rule,
		                               .fault = fe->conn_fault};
		sm_front_fault(r, f, &d, method, ev->target, ev->target_len, head);
		return false;
	}
	if (!f->snap->req_rules)
		return true;
	struct sm_policy_input in;
	request_input(f, ev, &in, method);
	in.request_roll = sm_rng_next(&r->rng);
	struct sm_policy_decision d;
	int rc = sm_policy_decide_request(sm_flow_cfg(f), &in, &d);
	if (rc == SM_OK && d.rule >= 0) { /* a rule decided this request */
		struct sm_event *e = sm_flow_event(r, f, SM_EV_REQUEST_DECISION);
		if (e) {
			e->i[0] = d.action;
			e->i[1] = d.rule;
			e->i[2] = 0;
			if (d.desc)
				sm_event_set_str(e, 0, d.desc, strlen(d.desc));
			if (d.name)
				sm_event_set_str(e, 1, d.name, strlen(d.name));
			sm_flow_event_commit(r);
		}
	}
	if (rc == SM_OK && d.action == SM_ACTION_FAULT && d.fault) {
		sm_front_fault(r, f, &d, method, ev->target, ev->target_len, head);
		return false;
	}
	if (rc == SM_OK && d.action == SM_ACTION_BLOCK) {
		sm_reply_error(r, f, 403, "blocked by policy", d.desc ? d.desc : "",
		               SM_CLOSE_BLOCKED);
		return false;
	}
	return true;
}
