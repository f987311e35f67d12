/* HTTP relay metrics: proxy requests by kind, final responses by status
 * class, parser errors by side, and request latency (first byte, total) from
 * the events of the HTTP/1.1 layer. Kept out of core/front.c so the relay
 * code carries one call per popped event. */
#include "core/front.h"

void sm_front_observe(struct sm_reactor *r, struct sm_flow *f, const struct sm_h1_event *ev)
{
	struct sm_front *fr = f->front;
	switch (ev->type) {
	case SM_H1_EV_REQUEST:
		if (ev->flags & SM_H1_F_CONNECT) {
			SM_CTR_INC(r, connect_requests);
		} else {
			SM_CTR_INC(r, http_requests);
			sm_metrics_req_start(&fr->rclock, sm_now_ns());
		}
		break;
	case SM_H1_EV_RESPONSE:
		if (ev->flags & SM_H1_F_INTERIM)
			break; /* 1xx: the final response follows */
		sm_metrics_response(r->m, ev->status);
		sm_metrics_req_head(r->m, &fr->rclock, sm_now_ns());
		break;
	case SM_H1_EV_RESPONSE_END: sm_metrics_req_end(r->m, &fr->rclock, sm_now_ns()); break;
	case SM_H1_EV_ERROR:
		SM_CTR_INC(
		        r,
		        parse_errors[(ev->flags & SM_H1_F_UPSTREAM_SIDE) ? SM_PARSE_HTTP1_RESPONSE
		                                                         : SM_PARSE_HTTP1_REQUEST]);
		break;
	default: break;
	}
}
