/* Prometheus text writer: exact text for small fixed inputs, seconds
 * formatting, label escaping, overflow, and the full soth_* metric set. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "telemetry/prom.h"

Test(prom, seconds_are_exact_decimals)
{
	static const struct {
		uint64_t ns;
		const char *s;
	} t[] = {
	        {0, "0"},
	        {1, "0.000000001"},
	        {50000, "0.00005"},
	        {2500000, "0.0025"},
	        {1000000000, "1"},
	        {1500000000, "1.5"},
	        {60000000000ull, "60"},
	        {123456789012ull, "123.456789012"},
	        {UINT64_MAX, "18446744073.709551615"},
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		char buf[32];
		size_t n = sm_prom_fmt_seconds(t[k].ns, buf, sizeof(buf));
		cr_expect_str_eq(buf, t[k].s);
		cr_expect_eq(n, strlen(t[k].s));
	}
}

Test(prom, labels_are_escaped_and_bounded)
{
	char lb[64] = "";
	cr_assert(sm_prom_label(lb, sizeof(lb), "core", "0"));
	cr_assert(sm_prom_label(lb, sizeof(lb), "x", "a\"b\\c\nd"));
	cr_expect_str_eq(lb, "core=\"0\",x=\"a\\\"b\\\\c\\nd\"");
	char small[12] = "";
	cr_expect(sm_prom_label(small, sizeof(small), "k", "v"));
	cr_expect_not(sm_prom_label(small, sizeof(small), "key", "value"));
	cr_expect_str_eq(small, "k=\"v\"");
}

/* A counter family, a gauge, and a histogram with three bounds. */
Test(prom, small_input_exact_text)
{
	struct sm_hist_layout *l = malloc(sizeof(*l));
	struct sm_hist *h = malloc(sizeof(*h));
	uint64_t le[] = {1000000, 10000000, 100000000}; /* 1 ms, 10 ms, 100 ms */
	cr_assert_eq(sm_hist_layout_init(l, le, 3), SM_OK);
	sm_hist_init(h, l);
	sm_hist_record(h, 500000);     /* 0.5 ms */
	sm_hist_record(h, 1000000);    /* 1 ms: on the bound, counted in le="0.001" */
	sm_hist_record(h, 1000001);    /* just above */
	sm_hist_record(h, 2000000000); /* 2 s: only +Inf */
	char buf[2048];
	struct sm_prom w;
	sm_prom_init(&w, buf, sizeof(buf));
	sm_prom_family(&w, "soth_x_total", "counter", "Things.\nWith a \\ newline.");
	sm_prom_sample(&w, "soth_x_total", "core=\"0\"", 3);
	sm_prom_sample(&w, "soth_x_total", "core=\"1\"", 18446744073709551615ull);
	sm_prom_family(&w, "soth_up", "gauge", "Up.");
	sm_prom_sample(&w, "soth_up", NULL, 1);
	sm_prom_family(&w, "soth_t_seconds", "histogram", "Times.");
	sm_prom_hist_ns(&w, "soth_t_seconds", NULL, h);
	sm_prom_hist_ns(&w, "soth_t_seconds", "core=\"2\"", h);
	cr_assert_not(w.overflow);
	cr_expect_str_eq(buf, "# HELP soth_x_total Things.\\nWith a \\\\ newline.\n"
	                      "# TYPE soth_x_total counter\n"
	                      "soth_x_total{core=\"0\"} 3\n"
	                      "soth_x_total{core=\"1\"} 18446744073709551615\n"
	                      "# HELP soth_up Up.\n"
	                      "# TYPE soth_up gauge\n"
	                      "soth_up 1\n"
	                      "# HELP soth_t_seconds Times.\n"
	                      "# TYPE soth_t_seconds histogram\n"
	                      "soth_t_seconds_bucket{le=\"0.001\"} 2\n"
	                      "soth_t_seconds_bucket{le=\"0.01\"} 3\n"
	                      "soth_t_seconds_bucket{le=\"0.1\"} 3\n"
	                      "soth_t_seconds_bucket{le=\"+Inf\"} 4\n"
	                      "soth_t_seconds_sum 2.002500001\n"
	                      "soth_t_seconds_count 4\n"
	                      "soth_t_seconds_bucket{core=\"2\",le=\"0.001\"} 2\n"
	                      "soth_t_seconds_bucket{core=\"2\",le=\"0.01\"} 3\n"
	                      "soth_t_seconds_bucket{core=\"2\",le=\"0.1\"} 3\n"
	                      "soth_t_seconds_bucket{core=\"2\",le=\"+Inf\"} 4\n"
	                      "soth_t_seconds_sum{core=\"2\"} 2.002500001\n"
	                      "soth_t_seconds_count{core=\"2\"} 4\n");
	cr_expect_eq(w.len, strlen(buf));
	free(h);
	free(l);
}

/* A line that does not fit is dropped with everything after it. */
Test(prom, overflow_keeps_complete_lines_only)
{
	char buf[40];
	struct sm_prom w;
	sm_prom_init(&w, buf, sizeof(buf));
	sm_prom_sample(&w, "soth_a", NULL, 1);
	sm_prom_sample(&w, "soth_b", NULL, 2);
	sm_prom_sample(&w, "soth_long_name_that_cannot_fit", NULL, 3);
	sm_prom_sample(&w, "soth_c", NULL, 4);
	cr_expect(w.overflow);
	cr_expect_str_eq(buf, "soth_a 1\nsoth_b 2\n");
	cr_expect_eq(w.len, 18);
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

/* The whole set from two blocks: per-core counters, merged histograms. */
Test(prom, render_two_cores)
{
	struct sm_metrics_layouts *lay = malloc(sizeof(*lay));
	cr_assert_eq(sm_metrics_layouts_init(lay), SM_OK);
	struct sm_metrics *m = aligned_alloc(64, 2 * sizeof(*m));
	struct sm_hist *scratch = malloc(sizeof(*scratch));
	sm_metrics_init(&m[0], lay);
	sm_metrics_init(&m[1], lay);
	sm_metrics_add(&m[0].accepted, 5);
	sm_metrics_add(&m[1].accepted, 7);
	sm_metrics_add(&m[1].open_flows, 2);
	sm_metrics_add(&m[0].decision_block, 1);
	sm_metrics_add(&m[1].bytes[SM_LANE_TUNNEL][SM_BYTES_DOWN], 4096);
	sm_metrics_upstream_failed(&m[0], SM_UPF_REFUSED);
	sm_metrics_flow_closed(&m[0], SM_CLOSE_IDLE_TIMEOUT, 2000000000);
	sm_metrics_flow_closed(&m[1], SM_CLOSE_DONE, 5000000);
	sm_metrics_response(&m[1], 204);
	sm_metrics_response(&m[1], 999);
	sm_metrics_record(&m[0], SM_HIST_DNS, 300000);
	sm_metrics_record(&m[1], SM_HIST_DNS, 700000);
	struct sm_metrics_reqclock rc = {0};
	sm_metrics_req_start(&rc, 1000);
	sm_metrics_req_start(&rc, 2000);
	sm_metrics_req_head(&m[0], &rc, 3001000);
	sm_metrics_req_head(&m[0], &rc, 4000000); /* same request: ignored */
	sm_metrics_req_end(&m[0], &rc, 5001000);
	sm_metrics_req_head(&m[0], &rc, 6002000);
	sm_metrics_req_end(&m[0], &rc, 7002000);
	sm_metrics_req_end(&m[0], &rc, 8000000); /* nothing outstanding: ignored */
	const struct sm_metrics *blocks[2] = {&m[0], &m[1]};
	uint64_t drops[2] = {0, 9};
	struct sm_prom_globals g = {.events_written = 11, .ready = true, .admin_requests = 3};
	size_t cap = 64 * 1024;
	char *buf = malloc(cap);
	struct sm_prom w;
	sm_prom_init(&w, buf, cap);
	cr_assert_eq(sm_prom_render(&w, blocks, drops, 2, &g, scratch), SM_OK);
	static const char *const want[] = {
	        "soth_reactors 2",
	        "soth_ready 1",
	        "# TYPE soth_connections_accepted_total counter",
	        "soth_connections_accepted_total{core=\"0\"} 5",
	        "soth_connections_accepted_total{core=\"1\"} 7",
	        "# TYPE soth_connections_open gauge",
	        "soth_connections_open{core=\"1\"} 2",
	        "soth_events_dropped_total{core=\"1\"} 9",
	        "soth_flows_closed_total{core=\"0\",reason=\"idle_timeout\"} 1",
	        "soth_flows_closed_total{core=\"1\",reason=\"done\"} 1",
	        "soth_flows_closed_total{core=\"1\",reason=\"idle_timeout\"} 0",
	        "soth_flow_decisions_total{core=\"0\",action=\"block\"} 1",
	        "soth_flow_decisions_total{core=\"0\",action=\"tunnel\"} 0",
	        "soth_upstream_failures_total{core=\"0\",reason=\"connect_refused\"} 1",
	        "soth_http_responses_total{core=\"1\",class=\"2xx\"} 1",
	        "soth_http_responses_total{core=\"1\",class=\"other\"} 1",
	        "soth_relayed_bytes_total{core=\"1\",lane=\"tunnel\",direction=\"down\"} 4096",
	        "soth_relayed_bytes_total{core=\"0\",lane=\"http\",direction=\"up\"} 0",
	        "# TYPE soth_dns_lookup_duration_seconds histogram",
	        "soth_dns_lookup_duration_seconds_bucket{le=\"0.00025\"} 0",
	        "soth_dns_lookup_duration_seconds_bucket{le=\"0.0005\"} 1",
	        "soth_dns_lookup_duration_seconds_bucket{le=\"0.001\"} 2",
	        "soth_dns_lookup_duration_seconds_bucket{le=\"+Inf\"} 2",
	        "soth_dns_lookup_duration_seconds_sum 0.001",
	        "soth_dns_lookup_duration_seconds_count 2",
	        "soth_http_time_to_first_byte_seconds_sum 0.009",
	        "soth_http_time_to_first_byte_seconds_count 2",
	        "soth_http_request_duration_seconds_sum 0.012",
	        "soth_http_request_duration_seconds_count 2",
	        "soth_flow_duration_seconds_bucket{le=\"0.01\"} 1",
	        "soth_flow_duration_seconds_bucket{le=\"1\"} 1",
	        "soth_flow_duration_seconds_bucket{le=\"5\"} 2",
	        "soth_flow_duration_seconds_sum 2.005",
	        "soth_upstream_connect_duration_seconds_count 0",
	        "soth_events_written_total 11",
	        "soth_admin_requests_total 3",
	};
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		cr_expect(has_line(buf, want[k]), "missing line: %s", want[k]);
	/* every family has HELP then TYPE; no sample without a family */
	size_t help = 0, type = 0;
	for (const char *p = buf; (p = strstr(p, "# HELP ")) != NULL; p++)
		help++;
	for (const char *p = buf; (p = strstr(p, "# TYPE ")) != NULL; p++)
		type++;
	cr_expect_eq(help, type);
	cr_expect_geq(help, 25);
	/* too small a buffer: a clean error */
	sm_prom_init(&w, buf, 1000);
	cr_expect_eq(sm_prom_render(&w, blocks, drops, 2, &g, scratch), SM_ERR_LIMIT);
	cr_expect(w.overflow);
	cr_expect_eq(strlen(buf), w.len);
	free(buf);
	free(scratch);
	free(m);
	free(lay);
}
