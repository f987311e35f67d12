/* Per-reactor metrics block: counters and latency histograms.
 *
 * One block per reactor, cache-line aligned so two reactors never share a
 * line. Written only by its reactor, with relaxed atomic load+store (no
 * read-modify-write instruction: there is one writer); read at any time by
 * other threads (the collector, sm_proxy_stats()) with relaxed loads. A
 * reader sums the blocks; it may see one counter updated before another,
 * never a torn value. docs/metrics.md lists every exported name.
 *
 * Histograms record nanoseconds and share two immutable layouts (export
 * bounds) built once per proxy by sm_metrics_layouts_init(). */
#ifndef SM_TELEMETRY_METRICS_H
#define SM_TELEMETRY_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "telemetry/event.h"
#include "telemetry/hist.h"

/* Which relay moved the bytes. */
enum sm_lane {
	SM_LANE_TUNNEL = 0, /* splice tunnel (CONNECT, upgraded connections) */
	SM_LANE_HTTP,       /* through the HTTP/1.1 layer (front phase and absolute-form relay) */
	SM_LANE_MITM,       /* intercepted: TLS bytes as received on either socket */
	SM_LANE_COUNT
};

/* Direction of relayed bytes. */
enum sm_bytes_dir {
	SM_BYTES_UP = 0, /* client -> upstream (received from the client) */
	SM_BYTES_DOWN,   /* upstream -> client (received from the upstream) */
	SM_BYTES_DIR_COUNT
};

/* Latency histograms (nanoseconds). */
enum sm_metrics_hist {
	SM_HIST_UPSTREAM_CONNECT = 0, /* TCP connect to the upstream address that answered */
	SM_HIST_DNS,                  /* c-ares lookup, success or failure */
	SM_HIST_HTTP_FIRST_BYTE,      /* request head read -> response head received */
	SM_HIST_HTTP_TOTAL,           /* request head read -> response fully forwarded */
	SM_HIST_FLOW_DURATION,        /* flow open -> close */
	SM_HIST_COUNT
};

/* Why an accept failed (soth_accept_errors_total{errno}). The first four
 * are a shortage of descriptors or memory: accepting pauses (core/loop.c). */
enum sm_accept_error {
	SM_ACCEPT_EMFILE = 0,
	SM_ACCEPT_ENFILE,
	SM_ACCEPT_ENOBUFS,
	SM_ACCEPT_ENOMEM,
	SM_ACCEPT_OTHER,
	SM_ACCEPT_ERROR_COUNT
};
const char *sm_accept_error_name(int e);

#define SM_METRICS_STATUS_CLASSES 6  /* [0] other, [1..5] 1xx..5xx */
#define SM_METRICS_TLS_SIDES      2  /* enum sm_tls_side: client, server */
#define SM_METRICS_HTTP_PIPE      16 /* request start times kept per connection */

struct sm_metrics {
	_Alignas(64) _Atomic uint64_t accepted; /* connections accepted */
	_Atomic uint64_t open_flows;            /* gauge: flows in the table */
	_Atomic uint64_t refused_full;          /* accepted then reset: flow table full */
	_Atomic uint64_t accept_errors[SM_ACCEPT_ERROR_COUNT]; /* accept failed, by errno */
	_Atomic uint64_t accept_pauses;         /* accepting paused for a shortage (backoff) */
	_Atomic uint64_t config_adopt_deferred; /* a reload's snapshot waited: no free slot */
	_Atomic uint64_t denied_clients;        /* client outside allow_clients */
	_Atomic uint64_t flows_closed;          /* flows freed (all reasons) */
	_Atomic uint64_t closed_by_reason[SM_CLOSE_REASON_COUNT];
	/* policy decisions, in enum sm_action order (exported with a stride) */
	_Atomic uint64_t decision_tunnel, decision_block, decision_intercept, decision_fault;
	_Atomic uint64_t bytes[SM_LANE_COUNT][SM_BYTES_DIR_COUNT];
	_Atomic uint64_t upstream_connected;
	_Atomic uint64_t upstream_failed; /* all reasons */
	_Atomic uint64_t upstream_failed_by_reason[SM_UPF_COUNT];
	_Atomic uint64_t connect_requests, http_requests;           /* proxy requests by kind */
	_Atomic uint64_t http_responses[SM_METRICS_STATUS_CLASSES]; /* final, by class */
	_Atomic uint64_t parse_errors[SM_PARSE_STAGE_COUNT];
	_Atomic uint64_t enobufs;                      /* receive found the buffer ring empty */
	_Atomic uint64_t send_chunks_exhausted;        /* no registered send chunk was free */
	_Atomic uint64_t send_chunks_in_use;           /* gauge: registered send chunks held */
	_Atomic uint64_t backpressure_stalls;          /* a tunnel destination was full */
	_Atomic uint64_t stale_cqes;                   /* completions for a closed flow */
	_Atomic uint64_t tls_ok[SM_METRICS_TLS_SIDES]; /* handshakes completed, by side */
	_Atomic uint64_t tls_failed[SM_METRICS_TLS_SIDES][SM_TLS_REASON_COUNT];
	_Atomic uint64_t certs_forged;                 /* leaf certificates forged */
	_Atomic uint64_t cert_cache_hits;              /* leaf certificates served from the cache */
	_Atomic uint64_t h2_conns, h2_conns_open;      /* through the HTTP/2 layer: total, gauge */
	_Atomic uint64_t h2_xlate_h2h1, h2_xlate_h1h2; /* of those, translated (each way) */
	_Atomic uint64_t h2_streams, h2_streams_open;  /* their client streams: total, gauge */
	_Alignas(64) struct sm_hist hist[SM_HIST_COUNT];
};

/* The two export layouts: latencies (50 us .. 60 s) and flow durations
 * (1 ms .. 1 h). Immutable once built. Returns SM_OK (the bound tables
 * are fixed; an error means they were edited wrongly). */
struct sm_metrics_layouts {
	struct sm_hist_layout latency;
	struct sm_hist_layout duration;
};
int sm_metrics_layouts_init(struct sm_metrics_layouts *l);

/* Zeroes m and ties its histograms to the layouts (which must outlive m). */
void sm_metrics_init(struct sm_metrics *m, const struct sm_metrics_layouts *l);

/* Single-writer counter update (relaxed load + store). */
static inline void sm_metrics_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}
static inline uint64_t sm_metrics_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static inline void sm_metrics_record(struct sm_metrics *m, enum sm_metrics_hist h, uint64_t ns)
{
	sm_hist_record(&m->hist[h], ns);
}

/* A flow is closing: counted by reason, its duration recorded (the total,
 * flows_closed, is counted when its slot is freed). */
void sm_metrics_flow_closed(struct sm_metrics *m, int reason, uint64_t duration_ns);
/* An upstream could not be reached: total and by enum sm_upstream_failure. */
void sm_metrics_upstream_failed(struct sm_metrics *m, int reason);
/* TLS handshakes by enum sm_tls_side (and enum sm_tls_reason). */
void sm_metrics_tls_ok(struct sm_metrics *m, int side);
void sm_metrics_tls_failed(struct sm_metrics *m, int side, int reason);
/* A policy decision, by enum sm_action (as reported in connect_decision). */
void sm_metrics_decision(struct sm_metrics *m, int action);
/* A final response: counted by status class. */
void sm_metrics_response(struct sm_metrics *m, unsigned status);

/* Start times of the requests forwarded on one HTTP connection and not yet
 * answered, oldest first (HTTP/1.1 answers in order). Lives in the flow's
 * front state; SM_METRICS_HTTP_PIPE entries, twice the HTTP layer's pipeline
 * limit; should it ever fill, timing stops for that connection (a skipped
 * entry would pair later answers with the wrong requests). */
struct sm_metrics_reqclock {
	uint64_t t0[SM_METRICS_HTTP_PIPE];
	uint8_t head, n;
	bool off;        /* overflowed: this connection is no longer timed */
	bool first_seen; /* the oldest request's response head was recorded */
};
void sm_metrics_req_start(struct sm_metrics_reqclock *c, uint64_t now_ns);
/* Final response head for the oldest request: records first-byte latency. */
void sm_metrics_req_head(struct sm_metrics *m, struct sm_metrics_reqclock *c, uint64_t now_ns);
/* Final response forwarded completely: records total latency, pops. */
void sm_metrics_req_end(struct sm_metrics *m, struct sm_metrics_reqclock *c, uint64_t now_ns);

#endif
