#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/result.h"
#include "telemetry/collector.h"

/* The longest line an event can make: every int at its widest, every string
 * of the type cut at SM_EVENT_STR_MAX bytes that all need \u00XX escaping. */
static struct sm_event widest(int type, uint32_t seq)
{
	struct sm_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = UINT64_MAX;
	ev.flow = UINT64_MAX;
	ev.seq = seq;
	ev.core = UINT16_MAX;
	ev.type = (uint16_t)type;
	for (int k = 0; k < SM_EVENT_NINT; k++)
		ev.i[k] = INT64_MIN;
	char junk[SM_EVENT_STR_MAX + 1];
	memset(junk, 0x01, sizeof(junk));
	for (int k = 0; k < SM_EVENT_NSTR; k++)
		sm_event_set_str(&ev, k, junk, sizeof(junk));
	return ev;
}

Test(collector, every_event_type_fits_the_documented_line_bound)
{
	static char buf[SM_EVENT_JSON_MAX];
	for (int t = 1; t < SM_EV_TYPE_COUNT; t++) {
		if (t == SM_EV_TLS_KEYLOG)
			continue;
		struct sm_event ev = widest(t, UINT32_MAX);
		size_t n = sm_event_to_json(&ev, buf, sizeof(buf));
		cr_assert(n > 0 && n <= SM_EVENT_JSON_MAX, "type %d: %zu", t, n);
	}
}

/* Lines of the widest payload events fill the collector's output buffer
 * unevenly: every one must still be written (an event that did not fit
 * the room left before a flush used to vanish, counted as written). */
Test(collector, wide_events_are_all_written)
{
	enum { N = 3000 };
	struct sm_event_ring ring;
	cr_assert_eq(sm_event_ring_init(&ring, 4096), SM_OK);
	for (uint32_t i = 0; i < N; i++) {
		struct sm_event *s = sm_event_ring_reserve(&ring);
		cr_assert_not_null(s);
		*s = widest(SM_EV_PAYLOAD, i);
		sm_event_ring_commit(&ring);
	}
	FILE *out = tmpfile();
	int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert(out && wake >= 0);
	struct sm_event_ring *rings[1] = {&ring};
	struct sm_collector c = {0};
	cr_assert_eq(sm_collector_start(&c, rings, 1, fileno(out), -1, wake), SM_OK);
	sm_collector_stop(&c);
	cr_assert_eq(atomic_load(&c.lines), N);
	cr_assert_eq(atomic_load(&c.write_errors), 0);
	rewind(out);
	static char line[SM_EVENT_JSON_MAX + 2];
	uint32_t seen = 0;
	while (fgets(line, sizeof(line), out)) {
		char want[32];
		snprintf(want, sizeof(want), "\"seq\":%u,", seen);
		cr_assert_not_null(strstr(line, want), "line %u: %.60s", seen, line);
		cr_assert(line[0] == '{' && !strcmp(line + strlen(line) - 2, "}\n"));
		seen++;
	}
	cr_assert_eq(seen, N);
	fclose(out);
	close(wake);
	sm_event_ring_free(&ring);
}
