#include "proto/ws_turn.h"

#include "base/result.h"
#include "parsers_testutil.h"

static void on_turn(void *arg, const struct sm_ws_turn_event *ev)
{
	struct rec *r = arg;
	rec_printf(r, "T%llu %s n=%u b=%llu %llu-%llu %s\n", (unsigned long long)ev->index,
	           ev->dir == SM_WS_CLIENT_TO_SERVER ? "c2s" : "s2c", ev->messages,
	           (unsigned long long)ev->bytes, (unsigned long long)ev->first_ns,
	           (unsigned long long)ev->last_ns, sm_ws_turn_why_str(ev->why));
}

/* Script steps: m = message(dir, bytes, t), k = tick(t), c = close, e = error. */
struct step {
	char op;
	int dir;
	uint64_t bytes;
	uint64_t t;
};

struct turn_case {
	const char *name;
	uint64_t idle;
	struct step s[10];
	const char *want;
};

#define M(d, b, t)                                                                                 \
	{                                                                                          \
		'm', d, b, t                                                                       \
	}
#define K(t)                                                                                       \
	{                                                                                          \
		'k', 0, 0, t                                                                       \
	}
#define CL                                                                                         \
	{                                                                                          \
		'c', 0, 0, 0                                                                       \
	}
#define ER                                                                                         \
	{                                                                                          \
		'e', 0, 0, 0                                                                       \
	}

static const struct turn_case cases[] = {
        {"direction_change",
         100,
         {M(0, 10, 1), M(0, 5, 2), M(1, 7, 3), CL},
         "T0 c2s n=2 b=15 1-2 direction\nT1 s2c n=1 b=7 3-3 close\n"},
        {"idle_on_next_message",
         100,
         {M(1, 1, 0), M(1, 1, 50), M(1, 1, 151), CL},
         "T0 s2c n=2 b=2 0-50 idle\nT1 s2c n=1 b=1 151-151 close\n"},
        {"idle_exactly_is_not_exceeded",
         100,
         {M(1, 1, 0), M(1, 1, 100), K(200), K(201), CL},
         "T0 s2c n=2 b=2 0-100 idle\n"},
        {"tick_flushes",
         100,
         {M(0, 3, 10), K(50), K(111), K(500), M(0, 4, 600), ER},
         "T0 c2s n=1 b=3 10-10 idle\nT1 c2s n=1 b=4 600-600 error\n"},
        {"no_turn_nothing_emitted", 100, {K(1000), CL, ER}, ""},
        {"idle_disabled",
         0,
         {M(0, 1, 0), M(0, 1, 1000000000), K(UINT64_MAX), CL},
         "T0 c2s n=2 b=2 0-1000000000 close\n"},
        {"clock_backwards",
         100,
         {M(0, 1, 500), M(0, 1, 400), K(550), CL},
         "T0 c2s n=2 b=2 500-500 close\n"},
        {"ping_pong_turns",
         100,
         {M(0, 1, 1), M(1, 2, 2), M(0, 3, 3), M(1, 4, 4), CL},
         "T0 c2s n=1 b=1 1-1 direction\nT1 s2c n=1 b=2 2-2 direction\n"
         "T2 c2s n=1 b=3 3-3 direction\nT3 s2c n=1 b=4 4-4 close\n"},
};

Test(ws_turn, scripts)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct turn_case *c = &cases[i];
		struct rec r = {0};
		struct sm_ws_turn t;
		sm_ws_turn_init(&t, c->idle, on_turn, &r);
		for (size_t k = 0; k < 10 && c->s[k].op; k++) {
			const struct step *s = &c->s[k];
			switch (s->op) {
			case 'm':
				sm_ws_turn_message(&t, (enum sm_ws_dir)s->dir, s->bytes, s->t);
				break;
			case 'k': sm_ws_turn_tick(&t, s->t); break;
			case 'c': sm_ws_turn_close(&t); break;
			case 'e': sm_ws_turn_error(&t); break;
			}
		}
		char *got = rec_take(&r);
		cr_expect_str_eq(got, c->want, "case %s", c->name);
		free(got);
	}
}

/* End to end: two parsers (one per direction) feed one aggregator. */
struct e2e {
	struct sm_ws_turn turn;
	uint64_t now;
};

static void on_ws(void *arg, const struct sm_ws_event *ev)
{
	struct e2e *e = arg;
	sm_ws_turn_on_event(&e->turn, ev, e->now);
}

static size_t frame(uint8_t *out, uint8_t b0, bool mask, const char *pl, size_t n)
{
	static const uint8_t key[4] = {1, 2, 3, 4};
	size_t o = 0;
	out[o++] = b0;
	out[o++] = (uint8_t)((mask ? 0x80 : 0) | n);
	if (mask) {
		memcpy(out + o, key, 4);
		o += 4;
	}
	for (size_t i = 0; i < n; i++)
		out[o + i] = (uint8_t)pl[i] ^ (mask ? key[i & 3] : 0);
	return o + n;
}

/* Segments: (direction, time, bytes). Each segment is fed at its time in
 * `split` pieces; turns must not depend on the pieces. */
struct seg {
	int dir;
	uint64_t t;
	uint8_t b[64];
	size_t n;
};

static char *run_e2e(const struct seg *segs, size_t nseg, size_t split)
{
	struct rec r = {0};
	struct e2e e = {0};
	sm_ws_turn_init(&e.turn, 1000, on_turn, &r);
	struct sm_ws_config c2s = {.dir = SM_WS_CLIENT_TO_SERVER, .max_message = 64};
	struct sm_ws_config s2c = {.dir = SM_WS_SERVER_TO_CLIENT, .max_message = 64};
	struct sm_ws *pc = sm_ws_new(&c2s, on_ws, &e), *ps = sm_ws_new(&s2c, on_ws, &e);
	cr_assert(pc && ps);
	for (size_t i = 0; i < nseg; i++) {
		e.now = segs[i].t;
		sm_ws_turn_tick(&e.turn, e.now);
		struct sm_ws *p = segs[i].dir ? ps : pc;
		for (size_t at = 0; at < segs[i].n; at += split) {
			size_t len = segs[i].n - at < split ? segs[i].n - at : split;
			cr_assert_eq(sm_ws_feed(p, segs[i].b + at, len), (long)len);
		}
	}
	sm_ws_free(pc);
	sm_ws_free(ps);
	return rec_take(&r);
}

Test(ws_turn, two_parsers_end_to_end)
{
	struct seg segs[6] = {{0}};
	segs[0] = (struct seg){.dir = 0, .t = 100};
	segs[0].n = frame(segs[0].b, 0x81, true, "question", 8);
	segs[1] = (struct seg){.dir = 1, .t = 200};
	segs[1].n = frame(segs[1].b, 0x01, false, "ans", 3);
	segs[1].n += frame(segs[1].b + segs[1].n, 0x89, false, "", 0); /* ping: no effect */
	segs[1].n += frame(segs[1].b + segs[1].n, 0x80, false, "wer", 3);
	segs[2] = (struct seg){.dir = 1, .t = 300};
	segs[2].n = frame(segs[2].b, 0x81, false, "more", 4);
	segs[3] = (struct seg){.dir = 1, .t = 5000}; /* idle gap: new turn */
	segs[3].n = frame(segs[3].b, 0x82, false, "late", 4);
	segs[4] = (struct seg){.dir = 0, .t = 5100};
	segs[4].n = frame(segs[4].b, 0x81, true, "q2", 2);
	segs[5] = (struct seg){.dir = 1, .t = 5200};
	segs[5].n = frame(segs[5].b, 0x88, false, "\x03\xe8", 2);
	const char *want = "T0 c2s n=1 b=8 100-100 direction\n"
	                   "T1 s2c n=2 b=10 200-300 idle\n"
	                   "T2 s2c n=1 b=4 5000-5000 direction\n"
	                   "T3 c2s n=1 b=2 5100-5100 close\n";
	for (size_t split = 1; split <= 20; split++) {
		char *got = run_e2e(segs, 6, split);
		cr_assert_str_eq(got, want, "split %zu", split);
		free(got);
	}
}

Test(ws_turn, fatal_error_flushes_nonfatal_does_not)
{
	struct rec r = {0};
	struct sm_ws_turn t;
	sm_ws_turn_init(&t, 0, on_turn, &r);
	struct sm_ws_event msg = {
	        .type = SM_WS_EV_MESSAGE, .dir = SM_WS_SERVER_TO_CLIENT, .length = 9};
	struct sm_ws_event big = {.type = SM_WS_EV_ERROR, .error = SM_WS_R_TOO_BIG, .fatal = false};
	struct sm_ws_event bad = {.type = SM_WS_EV_ERROR, .error = SM_WS_R_RSV_BITS, .fatal = true};
	struct sm_ws_event ping = {.type = SM_WS_EV_PING};
	sm_ws_turn_on_event(&t, &msg, 1);
	sm_ws_turn_on_event(&t, &big, 2);
	sm_ws_turn_on_event(&t, &ping, 2);
	sm_ws_turn_on_event(&t, &msg, 3);
	sm_ws_turn_on_event(&t, &bad, 4);
	char *got = rec_take(&r);
	cr_assert_str_eq(got, "T0 s2c n=2 b=18 1-3 error\n");
	free(got);
	cr_assert_str_eq(sm_ws_turn_why_str(SM_WS_TURN_IDLE), "idle");
}
