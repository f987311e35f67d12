/* Flow events: fixed-size records pushed by a reactor into its SPSC ring and
 * formatted to JSONL by the collector thread.
 *
 * A record carries up to four integers and two short strings whose meaning
 * depends on the type; telemetry/event.c holds one descriptor per type that
 * names them, so formatting is data-driven and the reactor never formats.
 * Strings longer than SM_EVENT_STR_MAX are cut and flagged ("…_truncated").
 * Type and enum values are append-only: they leave the process (docs/events.md). */
#ifndef SM_TELEMETRY_EVENT_H
#define SM_TELEMETRY_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "telemetry/schema.h"

#define SM_EVENT_STR_MAX 96
#define SM_EVENT_NSTR    3
#define SM_EVENT_NINT    6

struct sm_event {
	uint64_t ts_ns; /* CLOCK_REALTIME when the reactor recorded it */
	uint64_t flow;  /* flow id, unique within one proxy instance */
	uint32_t seq;   /* strictly increasing per flow, from 0 */
	uint16_t core;  /* reactor index */
	uint16_t type;  /* enum sm_event_type */
	int64_t i[SM_EVENT_NINT];
	uint8_t slen[SM_EVENT_NSTR];   /* bytes used in s[k] */
	uint8_t strunc[SM_EVENT_NSTR]; /* 1 when s[k] was cut */
	char s[SM_EVENT_NSTR][SM_EVENT_STR_MAX];
};

/* Sets string k of ev from a byte span, cutting at SM_EVENT_STR_MAX. */
void sm_event_set_str(struct sm_event *ev, int k, const char *s, size_t len);

const char *sm_event_type_name(int type);

/* The longest line any event makes: three strings of SM_EVENT_STR_MAX bytes
 * that all need \u00XX escaping are 1.7 KB alone (test_collector.c formats
 * the widest event of every type). */
#define SM_EVENT_JSON_MAX 4096

/* Formats ev as one JSON object followed by '\n' into buf. Returns the length
 * written, or 0 if cap is too small (cap >= SM_EVENT_JSON_MAX always
 * suffices). */
size_t sm_event_to_json(const struct sm_event *ev, char *buf, size_t cap);

#endif
