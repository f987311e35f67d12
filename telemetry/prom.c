#include "telemetry/prom.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/result.h"

void sm_prom_init(struct sm_prom *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = false;
	if (cap)
		buf[0] = 0;
}

/* Appends a formatted line; on overflow drops it and stops the writer. */
__attribute__((format(printf, 2, 3))) static void put(struct sm_prom *w, const char *fmt, ...)
{
	if (w->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= w->cap - w->len) {
		w->overflow = true;
		if (w->cap)
			w->buf[w->len] = 0; /* keep the complete lines only */
		return;
	}
	w->len += (size_t)n;
}

/* HELP text escapes only backslash and newline. */
static void escape(const char *s, bool quote, char *out, size_t cap)
{
	size_t o = 0;
	for (; *s && o + 3 < cap; s++) {
		if (*s == '\\' || *s == '\n' || (quote && *s == '"')) {
			out[o++] = '\\';
			out[o++] = *s == '\n' ? 'n' : *s;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = 0;
}

void sm_prom_family(struct sm_prom *w, const char *name, const char *type, const char *help)
{
	char h[512];
	escape(help, false, h, sizeof(h));
	put(w, "# HELP %s %s\n# TYPE %s %s\n", name, h, name, type);
}

void sm_prom_sample(struct sm_prom *w, const char *name, const char *labels, uint64_t v)
{
	if (labels && *labels)
		put(w, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		put(w, "%s %llu\n", name, (unsigned long long)v);
}

size_t sm_prom_fmt_seconds(uint64_t ns, char *buf, size_t cap)
{
	char frac[16];
	snprintf(frac, sizeof(frac), "%09llu", (unsigned long long)(ns % 1000000000ull));
	size_t fl = 9;
	while (fl > 0 && frac[fl - 1] == '0')
		fl--;
	frac[fl] = 0;
	int n = snprintf(buf, cap, "%llu%s%s", (unsigned long long)(ns / 1000000000ull),
	                 fl ? "." : "", frac);
	return n < 0 ? 0 : ((size_t)n >= cap ? cap - 1 : (size_t)n);
}

bool sm_prom_label(char *out, size_t cap, const char *key, const char *value)
{
	char v[256];
	escape(value, true, v, sizeof(v));
	size_t len = strlen(out);
	int n = snprintf(out + len, cap - len, "%s%s=\"%s\"", len ? "," : "", key, v);
	if (n < 0 || (size_t)n >= cap - len) {
		out[len] = 0;
		return false;
	}
	return true;
}

void sm_prom_hist_ns(struct sm_prom *w, const char *name, const char *labels,
                     const struct sm_hist *h)
{
	const struct sm_hist_layout *l = h->layout;
	uint64_t cum[SM_HIST_MAX_LE + 1];
	uint64_t total = sm_hist_cumulative(h, cum);
	const char *sep = labels && *labels ? "," : "";
	const char *lb = labels ? labels : "";
	char le[32];
	for (uint32_t p = 0; p < l->n_le; p++) {
		sm_prom_fmt_seconds(l->le[p], le, sizeof(le));
		put(w, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, lb, sep, le,
		    (unsigned long long)cum[p]);
	}
	put(w, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lb, sep, (unsigned long long)total);
	char sum[32];
	sm_prom_fmt_seconds(atomic_load_explicit(&h->sum, memory_order_relaxed), sum, sizeof(sum));
	if (*lb) {
		put(w, "%s_sum{%s} %s\n", name, lb, sum);
		put(w, "%s_count{%s} %llu\n", name, lb, (unsigned long long)total);
	} else {
		put(w, "%s_sum %s\n", name, sum);
		put(w, "%s_count %llu\n", name, (unsigned long long)total);
	}
}

/* ---- the soth_* metric set ---------------------------------------------- */

static const char *const lane_names[SM_LANE_COUNT] = {"tunnel", "http", "mitm"};
static const char *const dir_names[SM_BYTES_DIR_COUNT] = {"up", "down"};
static const char *const class_names[SM_METRICS_STATUS_CLASSES] = {"other", "1xx", "2xx",
                                                                   "3xx",   "4xx", "5xx"};

/* A scalar field of struct sm_metrics, per core. */
struct scalar {
	const char *name, *type, *help;
	size_t off;
};

#define OFF(f) offsetof(struct sm_metrics, f)
static const struct scalar scalars[] = {
        {"soth_connections_accepted_total", "counter", "Client connections accepted.",
         OFF(accepted)},
        {"soth_connections_open", "gauge", "Flows open now (accepted and not yet freed).",
         OFF(open_flows)},
        {"soth_connections_refused_total", "counter",
         "Connections reset at once because the flow table was full.", OFF(refused_full)},
        {"soth_config_adopt_deferred_total", "counter",
         "Times a reactor put off adopting a reloaded configuration: it already held "
         "16 with connections open.",
         OFF(config_adopt_deferred)},
        {"soth_accept_pauses_total", "counter",
         "Times accepting paused because descriptors or memory ran out (backoff).",
         OFF(accept_pauses)},
        {"soth_clients_denied_total", "counter",
         "Connections from addresses outside allow_clients (answered 403).", OFF(denied_clients)},
        {"soth_upstream_connects_total", "counter", "Upstream TCP connections established.",
         OFF(upstream_connected)},
        {"soth_buffer_ring_exhausted_total", "counter",
         "Receives that found the provided-buffer ring empty (ENOBUFS).", OFF(enobufs)},
        {"soth_send_chunks_exhausted_total", "counter",
         "Answers that found every registered send chunk in use (a constant 503 went out).",
         OFF(send_chunks_exhausted)},
        {"soth_send_chunks_in_use", "gauge",
         "Registered send chunks held by flows now (16 KiB each; idle flows hold none).",
         OFF(send_chunks_in_use)},
        {"soth_backpressure_stalls_total", "counter",
         "Times a tunnel destination was full and the relay waited for it to drain.",
         OFF(backpressure_stalls)},
        {"soth_tls_certs_forged_total", "counter",
         "Leaf certificates forged for intercepted hosts.", OFF(certs_forged)},
        {"soth_tls_cert_cache_hits_total", "counter",
         "Leaf certificates served from the per-reactor cache.", OFF(cert_cache_hits)},
        {"soth_stale_completions_total", "counter",
         "io_uring completions for a flow that had already closed (dropped).", OFF(stale_cqes)},
        {"soth_h2_connections_total", "counter",
         "Intercepted connections through the HTTP/2 layer (h2 both sides, or translated).",
         OFF(h2_conns)},
        {"soth_h2_translated_h2_to_h1_total", "counter",
         "Of those, h2 clients translated to an HTTP/1.1 upstream.", OFF(h2_xlate_h2h1)},
        {"soth_h2_translated_h1_to_h2_total", "counter",
         "Of those, HTTP/1.1 clients translated to an h2 upstream.", OFF(h2_xlate_h1h2)},
        {"soth_h2_connections_open", "gauge", "Intercepted HTTP/2 connections open now.",
         OFF(h2_conns_open)},
        {"soth_h2_streams_total", "counter", "HTTP/2 streams opened by clients.", OFF(h2_streams)},
        {"soth_h2_streams_open", "gauge",
         "HTTP/2 streams open now (opened and not yet ended or reset on both sides).",
         OFF(h2_streams_open)},
};

static const _Atomic uint64_t *field(const struct sm_metrics *m, size_t off)
{
	return (const _Atomic uint64_t *)((const char *)m + off);
}

static void core_label(char *out, size_t cap, int core)
{
	char c[16];
	snprintf(c, sizeof(c), "%d", core);
	out[0] = 0;
	sm_prom_label(out, cap, "core", c);
}

/* One family with an extra label: values[k] at label key=names[k], per core. */
static void per_core_labelled(struct sm_prom *w, const struct sm_metrics *const *blocks, int n,
                              const char *name, const char *help, const char *key,
                              const char *const *names, size_t n_names, size_t off, size_t stride)
{
	sm_prom_family(w, name, "counter", help);
	for (int c = 0; c < n; c++) {
		for (size_t k = 0; k < n_names; k++) {
			char lb[128];
			core_label(lb, sizeof(lb), c);
			sm_prom_label(lb, sizeof(lb), key, names[k]);
			sm_prom_sample(w, name, lb,
			               sm_metrics_get(field(blocks[c], off + k * stride)));
		}
	}
}

struct hist_desc {
	const char *name, *help;
};
static const struct hist_desc hists[SM_HIST_COUNT] = {
        [SM_HIST_UPSTREAM_CONNECT] = {"soth_upstream_connect_duration_seconds",
                                      "Upstream TCP connect time of successful connects."},
        [SM_HIST_DNS] = {"soth_dns_lookup_duration_seconds",
                         "Resolver (c-ares) lookup time, answered or failed."},
        [SM_HIST_HTTP_FIRST_BYTE] = {"soth_http_time_to_first_byte_seconds",
                                     "HTTP/1.1 relay: request head read until the final "
                                     "response head arrived from the upstream."},
        [SM_HIST_HTTP_TOTAL] = {"soth_http_request_duration_seconds",
                                "HTTP/1.1 relay: request head read until the final "
                                "response was forwarded completely."},
        [SM_HIST_FLOW_DURATION] = {"soth_flow_duration_seconds", "Flow lifetime, accept to close."},
};

int sm_prom_render(struct sm_prom *w, const struct sm_metrics *const *blocks,
                   const uint64_t *ring_drops, int n, const struct sm_prom_globals *g,
                   struct sm_hist *scratch)
{
	char lb[128];
	sm_prom_family(w, "soth_reactors", "gauge", "Reactor threads (cores) of this process.");
	sm_prom_sample(w, "soth_reactors", NULL, (uint64_t)n);
	sm_prom_family(w, "soth_ready", "gauge",
	               "1 once every reactor accepts connections, 0 again once a drain starts.");
	sm_prom_sample(w, "soth_ready", NULL, g->ready);
	sm_prom_family(
	        w, "soth_config_epoch", "gauge",
	        "Configuration in force for new flows: 0 at start, +1 per reload that took.");
	sm_prom_sample(w, "soth_config_epoch", NULL, g->config_epoch);
	sm_prom_family(
	        w, "soth_config_reloads_total", "counter",
	        "Reloads (SIGHUP), by result: ok, or failed (the file did not load, or a "
	        "key only a restart can change differed; the running configuration stayed).");
	sm_prom_sample(w, "soth_config_reloads_total", "result=\"ok\"", g->reloads_ok);
	sm_prom_sample(w, "soth_config_reloads_total", "result=\"failed\"", g->reloads_failed);
	sm_prom_family(w, "soth_log_reopens_total", "counter",
	               "Files (events, key log) opened again on SIGUSR1, by result (failed: the "
	               "old file stays in use).");
	sm_prom_sample(w, "soth_log_reopens_total", "result=\"ok\"", g->log_reopens);
	sm_prom_sample(w, "soth_log_reopens_total", "result=\"failed\"", g->log_reopen_errors);
	for (size_t s = 0; s < sizeof(scalars) / sizeof(scalars[0]); s++) {
		sm_prom_family(w, scalars[s].name, scalars[s].type, scalars[s].help);
		for (int c = 0; c < n; c++) {
			core_label(lb, sizeof(lb), c);
			sm_prom_sample(w, scalars[s].name, lb,
			               sm_metrics_get(field(blocks[c], scalars[s].off)));
		}
	}
	sm_prom_family(w, "soth_events_dropped_total", "counter",
	               "Flow events dropped because the reactor's event ring was full.");
	for (int c = 0; c < n; c++) {
		core_label(lb, sizeof(lb), c);
		sm_prom_sample(w, "soth_events_dropped_total", lb, ring_drops[c]);
	}

	const char *reasons[SM_CLOSE_REASON_COUNT];
	for (int k = 0; k < SM_CLOSE_REASON_COUNT; k++)
		reasons[k] = sm_close_reason_name(k);
	per_core_labelled(w, blocks, n, "soth_flows_closed_total", "Flows closed, by close reason.",
	                  "reason", reasons, SM_CLOSE_REASON_COUNT, OFF(closed_by_reason),
	                  sizeof(uint64_t));
	const char *accept_errs[SM_ACCEPT_ERROR_COUNT];
	for (int k = 0; k < SM_ACCEPT_ERROR_COUNT; k++)
		accept_errs[k] = sm_accept_error_name(k);
	per_core_labelled(w, blocks, n, "soth_accept_errors_total",
	                  "Failed accepts, by errno. EMFILE, ENFILE, ENOBUFS and ENOMEM pause "
	                  "accepting for a backoff (soth_accept_pauses_total).",
	                  "errno", accept_errs, SM_ACCEPT_ERROR_COUNT, OFF(accept_errors),
	                  sizeof(uint64_t));
	const char *action_names[SM_ACTION_COUNT];
	for (int k = 0; k < SM_ACTION_COUNT; k++)
		action_names[k] = sm_action_name(k);
	per_core_labelled(w, blocks, n, "soth_flow_decisions_total",
	                  "Policy decisions for proxy requests, by action.", "action", action_names,
	                  SM_ACTION_COUNT, OFF(decision_tunnel),
	                  OFF(decision_block) - OFF(decision_tunnel));
	const char *upf[SM_UPF_COUNT];
	for (int k = 0; k < SM_UPF_COUNT; k++)
		upf[k] = sm_upstream_failure_name(k);
	per_core_labelled(w, blocks, n, "soth_upstream_failures_total",
	                  "Upstreams that could not be reached, by reason.", "reason", upf,
	                  SM_UPF_COUNT, OFF(upstream_failed_by_reason), sizeof(uint64_t));
	static const char *const kinds[] = {"connect", "http"};
	per_core_labelled(w, blocks, n, "soth_proxy_requests_total",
	                  "Requests read from clients: CONNECT, or HTTP relayed through the "
	                  "HTTP/1.1 layer (absolute-form or inside intercepted TLS).",
	                  "kind", kinds, 2, OFF(connect_requests),
	                  OFF(http_requests) - OFF(connect_requests));
	per_core_labelled(w, blocks, n, "soth_http_responses_total",
	                  "Final HTTP responses relayed to clients, by status class.", "class",
	                  class_names, SM_METRICS_STATUS_CLASSES, OFF(http_responses),
	                  sizeof(uint64_t));
	const char *stage_names[SM_PARSE_STAGE_COUNT];
	for (int k = 0; k < SM_PARSE_STAGE_COUNT; k++)
		stage_names[k] = sm_parse_stage_name(k);
	per_core_labelled(w, blocks, n, "soth_parser_errors_total",
	                  "Protocol parser failures, by stage.", "stage", stage_names,
	                  SM_PARSE_STAGE_COUNT, OFF(parse_errors), sizeof(uint64_t));

	const char *sides[SM_METRICS_TLS_SIDES];
	for (int k = 0; k < SM_METRICS_TLS_SIDES; k++)
		sides[k] = sm_tls_side_name(k);
	per_core_labelled(w, blocks, n, "soth_tls_handshakes_total",
	                  "Intercepted TLS handshakes completed, by side (client: with the "
	                  "client, server: with the upstream).",
	                  "side", sides, SM_METRICS_TLS_SIDES, OFF(tls_ok), sizeof(uint64_t));
	const char *tfam = "soth_tls_handshake_failures_total";
	sm_prom_family(w, tfam, "counter",
	               "Intercepted TLS handshakes that failed, by side and reason.");
	for (int c = 0; c < n; c++) {
		for (int sd = 0; sd < SM_METRICS_TLS_SIDES; sd++) {
			for (int k = 1; k < SM_TLS_REASON_COUNT; k++) { /* 0 is "ok" */
				core_label(lb, sizeof(lb), c);
				sm_prom_label(lb, sizeof(lb), "side", sides[sd]);
				sm_prom_label(lb, sizeof(lb), "reason", sm_tls_reason_name(k));
				sm_prom_sample(w, tfam, lb,
				               sm_metrics_get(&blocks[c]->tls_failed[sd][k]));
			}
		}
	}

	const char *bname = "soth_relayed_bytes_total";
	sm_prom_family(
	        w, bname, "counter",
	        "Bytes received and relayed, by lane (tunnel, http, mitm) and direction (up: "
	        "from clients, down: from upstreams).");
	for (int c = 0; c < n; c++) {
		for (int l = 0; l < SM_LANE_COUNT; l++) {
			for (int d = 0; d < SM_BYTES_DIR_COUNT; d++) {
				core_label(lb, sizeof(lb), c);
				sm_prom_label(lb, sizeof(lb), "lane", lane_names[l]);
				sm_prom_label(lb, sizeof(lb), "direction", dir_names[d]);
				sm_prom_sample(w, bname, lb,
				               sm_metrics_get(&blocks[c]->bytes[l][d]));
			}
		}
	}

	for (int h = 0; h < SM_HIST_COUNT; h++) {
		sm_prom_family(w, hists[h].name, "histogram", hists[h].help);
		if (n == 0)
			continue;
		sm_hist_init(scratch, blocks[0]->hist[h].layout);
		for (int c = 0; c < n; c++)
			sm_hist_merge(scratch, &blocks[c]->hist[h]);
		sm_prom_hist_ns(w, hists[h].name, NULL, scratch);
	}

	sm_prom_family(w, "soth_events_written_total", "counter",
	               "Flow events written to the JSONL sink.");
	sm_prom_sample(w, "soth_events_written_total", NULL, g->events_written);
	sm_prom_family(w, "soth_events_sink_errors_total", "counter",
	               "Flow events lost because the JSONL sink could not be written.");
	sm_prom_sample(w, "soth_events_sink_errors_total", NULL, g->events_write_lost);
	sm_prom_family(w, "soth_admin_requests_total", "counter",
	               "HTTP requests answered by the admin endpoint.");
	sm_prom_sample(w, "soth_admin_requests_total", NULL, g->admin_requests);
	sm_prom_family(w, "soth_admin_connections_rejected_total", "counter",
	               "Admin connections closed unanswered: too many at once, closed before "
	               "sending a whole request head, or over the time limit.");
	sm_prom_sample(w, "soth_admin_connections_rejected_total", NULL, g->admin_rejected);
	sm_prom_family(w, "soth_metrics_overflows_total", "counter",
	               "Scrapes answered 500 because the metrics did not fit the buffer.");
	sm_prom_sample(w, "soth_metrics_overflows_total", NULL, g->scrape_overflows);
	return w->overflow ? SM_ERR_LIMIT : SM_OK;
}
