/* Prometheus text exposition format (version 0.0.4) writer.
 *
 * Writes into a caller-provided buffer and never grows it: when a line does
 * not fit, the writer sets `overflow`, drops that line and everything after
 * it, and the caller answers an error (telemetry/admin.c counts it). Names
 * and label sets are built by this module's callers from fixed strings, so
 * label values are escaped (\\, \", \n) but never validated.
 *
 * sm_prom_render() writes the whole soth_* metric set (docs/metrics.md) from
 * the per-reactor metrics blocks: counters and gauges per core (label
 * core="N"), histograms merged over every core (one series each), times in
 * seconds. */
#ifndef SM_TELEMETRY_PROM_H
#define SM_TELEMETRY_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/hist.h"
#include "telemetry/metrics.h"

struct sm_prom {
	char *buf;
	size_t cap, len;
	bool overflow; /* a line did not fit: the output is incomplete */
};

void sm_prom_init(struct sm_prom *w, char *buf, size_t cap);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void sm_prom_family(struct sm_prom *w, const char *name, const char *type, const char *help);

/* One sample: `name{labels} v`; labels is `k="v",...` already escaped, or
 * NULL / "" for none. */
void sm_prom_sample(struct sm_prom *w, const char *name, const char *labels, uint64_t v);

/* A histogram recorded in nanoseconds, exported in seconds: one
 * name_bucket{labels,le="..."} per layout bound plus +Inf (cumulative),
 * name_sum (exact) and name_count (equal to the +Inf bucket). */
void sm_prom_hist_ns(struct sm_prom *w, const char *name, const char *labels,
                     const struct sm_hist *h);

/* ns as an exact decimal number of seconds, no trailing zeros: 50000 ->
 * "0.00005", 1500000000 -> "1.5", 0 -> "0". Returns the length (cap >= 32). */
size_t sm_prom_fmt_seconds(uint64_t ns, char *buf, size_t cap);

/* Appends `key="value"` (with a leading comma if out is not empty) to a
 * label set, escaping value. Returns false if it does not fit. */
bool sm_prom_label(char *out, size_t cap, const char *key, const char *value);

/* Process-wide figures the collector adds to the per-core blocks. */
struct sm_prom_globals {
	uint64_t events_written;    /* JSONL lines written */
	uint64_t events_write_lost; /* lines lost to sink errors */
	uint64_t admin_requests;    /* HTTP requests served by the admin endpoint */
	uint64_t admin_rejected;    /* admin connections refused or timed out */
	uint64_t scrape_overflows;  /* /metrics answers that did not fit the buffer */
	bool ready;                 /* every reactor accepts */
	uint64_t config_epoch;      /* reloads that took since start */
	uint64_t reloads_ok, reloads_failed;
	uint64_t log_reopens, log_reopen_errors; /* files opened again on SIGUSR1 */
};

/* The whole metric set. blocks[i] and ring_drops[i] are core i's; scratch is
 * a histogram the function may overwrite (to merge into). Returns SM_OK or
 * SM_ERR_LIMIT when the buffer was too small (w->overflow). */
int sm_prom_render(struct sm_prom *w, const struct sm_metrics *const *blocks,
                   const uint64_t *ring_drops, int n, const struct sm_prom_globals *g,
                   struct sm_hist *scratch);

#endif
