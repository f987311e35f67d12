#include "telemetry/metrics.h"

#include <string.h>

#include "base/result.h"

/* Export bounds in ns. Latencies: 50 us .. 60 s; flow durations: 1 ms .. 1 h. */
static const uint64_t latency_le[] = {
        50000ull,      100000ull,      250000ull,      500000ull,      1000000ull,
        2500000ull,    5000000ull,     10000000ull,    25000000ull,    50000000ull,
        100000000ull,  250000000ull,   500000000ull,   1000000000ull,  2500000000ull,
        5000000000ull, 10000000000ull, 30000000000ull, 60000000000ull,
};
static const uint64_t duration_le[] = {
        1000000ull,      10000000ull,     100000000ull,     1000000000ull,
        5000000000ull,   10000000000ull,  30000000000ull,   60000000000ull,
        300000000000ull, 600000000000ull, 1800000000000ull, 3600000000000ull,
};

const char *sm_accept_error_name(int e)
{
	static const char *const names[SM_ACCEPT_ERROR_COUNT] = {[SM_ACCEPT_EMFILE] = "EMFILE",
	                                                         [SM_ACCEPT_ENFILE] = "ENFILE",
	                                                         [SM_ACCEPT_ENOBUFS] = "ENOBUFS",
	                                                         [SM_ACCEPT_ENOMEM] = "ENOMEM",
	                                                         [SM_ACCEPT_OTHER] = "other"};
	return e >= 0 && e < SM_ACCEPT_ERROR_COUNT ? names[e] : "other";
}

int sm_metrics_layouts_init(struct sm_metrics_layouts *l)
{
	int rc = sm_hist_layout_init(&l->latency, latency_le,
	                             sizeof(latency_le) / sizeof(latency_le[0]));
	if (rc == SM_OK)
		rc = sm_hist_layout_init(&l->duration, duration_le,
		                         sizeof(duration_le) / sizeof(duration_le[0]));
	return rc;
}

void sm_metrics_init(struct sm_metrics *m, const struct sm_metrics_layouts *l)
{
	memset(m, 0, sizeof(*m));
	for (int h = 0; h < SM_HIST_COUNT; h++)
		sm_hist_init(&m->hist[h], h == SM_HIST_FLOW_DURATION ? &l->duration : &l->latency);
}

void sm_metrics_flow_closed(struct sm_metrics *m, int reason, uint64_t duration_ns)
{
	if (reason >= 0 && reason < SM_CLOSE_REASON_COUNT)
		sm_metrics_add(&m->closed_by_reason[reason], 1);
	sm_hist_record(&m->hist[SM_HIST_FLOW_DURATION], duration_ns);
}

void sm_metrics_upstream_failed(struct sm_metrics *m, int reason)
{
	sm_metrics_add(&m->upstream_failed, 1);
	if (reason >= 0 && reason < SM_UPF_COUNT)
		sm_metrics_add(&m->upstream_failed_by_reason[reason], 1);
}

void sm_metrics_tls_ok(struct sm_metrics *m, int side)
{
	if (side >= 0 && side < SM_METRICS_TLS_SIDES)
		sm_metrics_add(&m->tls_ok[side], 1);
}

void sm_metrics_tls_failed(struct sm_metrics *m, int side, int reason)
{
	if (side >= 0 && side < SM_METRICS_TLS_SIDES && reason >= 0 && reason < SM_TLS_REASON_COUNT)
		sm_metrics_add(&m->tls_failed[side][reason], 1);
}

void sm_metrics_decision(struct sm_metrics *m, int action)
{
	switch (action) {
	case SM_ACTION_TUNNEL: sm_metrics_add(&m->decision_tunnel, 1); break;
	case SM_ACTION_BLOCK: sm_metrics_add(&m->decision_block, 1); break;
	case SM_ACTION_INTERCEPT: sm_metrics_add(&m->decision_intercept, 1); break;
	case SM_ACTION_FAULT: sm_metrics_add(&m->decision_fault, 1); break;
	default: break;
	}
}

void sm_metrics_response(struct sm_metrics *m, unsigned status)
{
	unsigned cls = status / 100;
	sm_metrics_add(&m->http_responses[cls >= 1 && cls <= 5 ? cls : 0], 1);
}

void sm_metrics_req_start(struct sm_metrics_reqclock *c, uint64_t now_ns)
{
	if (c->off)
		return;
	if (c->n == SM_METRICS_HTTP_PIPE) {
		c->off = true;
		return;
	}
	c->t0[(c->head + c->n) % SM_METRICS_HTTP_PIPE] = now_ns;
	c->n++;
}

void sm_metrics_req_head(struct sm_metrics *m, struct sm_metrics_reqclock *c, uint64_t now_ns)
{
	if (c->off || c->n == 0 || c->first_seen)
		return;
	c->first_seen = true;
	sm_hist_record(&m->hist[SM_HIST_HTTP_FIRST_BYTE], now_ns - c->t0[c->head]);
}

void sm_metrics_req_end(struct sm_metrics *m, struct sm_metrics_reqclock *c, uint64_t now_ns)
{
	if (c->off || c->n == 0)
		return;
	sm_hist_record(&m->hist[SM_HIST_HTTP_TOTAL], now_ns - c->t0[c->head]);
	c->head = (uint8_t)((c->head + 1) % SM_METRICS_HTTP_PIPE);
	c->n--;
	c->first_seen = false;
}
