#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/timer_wheel.h"

#define MS     1000000ull
#define SEC    (1000 * MS)
#define T0     (1700000000ull * SEC + 123456789ull) /* not tick-aligned */
#define T0TICK (T0 / MS)

struct item {
	struct sm_timer t;
	unsigned id;
	uint64_t fired_at; /* now passed to the advance that fired it */
	unsigned fired;
};

struct log {
	unsigned ids[256];
	size_t n;
	uint64_t now;
	uint64_t last_deadline;
	bool order_ok;
};

#define ITEM(tp) ((struct item *)((char *)(tp)-offsetof(struct item, t)))

static void on_fire(void *ctx, struct sm_timer *t)
{
	struct log *lg = ctx;
	struct item *it = ITEM(t);
	cr_assert_not(sm_tw_pending(t), "a firing timer is idle");
	if (t->deadline_ns < lg->last_deadline)
		lg->order_ok = false;
	lg->last_deadline = t->deadline_ns;
	it->fired++;
	it->fired_at = lg->now;
	if (lg->n < 256)
		lg->ids[lg->n] = it->id;
	lg->n++;
}

static size_t advance(struct sm_tw *tw, struct log *lg, uint64_t now)
{
	lg->now = now;
	lg->last_deadline = 0;
	lg->order_ok = true;
	size_t n = sm_tw_advance(tw, now, on_fire, lg);
	cr_assert(lg->order_ok, "fired out of deadline order");
	return n;
}

static void items_init(struct item *it, size_t n)
{
	memset(it, 0, n * sizeof(*it));
	for (size_t i = 0; i < n; i++) {
		sm_tw_timer_init(&it[i].t);
		it[i].id = (unsigned)i;
	}
}

/* Due time of a deadline: rounded up to the 1 ms tick. */
static uint64_t due(uint64_t d)
{
	return (d + MS - 1) / MS * MS;
}

Test(timer_wheel, empty)
{
	struct sm_tw tw;
	sm_tw_init(&tw, SM_TW_TICK_NS, T0);
	cr_assert_eq(sm_tw_next_deadline(&tw), UINT64_MAX);
	cr_assert_eq(sm_tw_count(&tw), 0);
	struct log lg = {0};
	cr_assert_eq(advance(&tw, &lg, T0 + 3600 * SEC), 0);
	struct sm_timer t;
	sm_tw_timer_init(&t);
	cr_assert_not(sm_tw_cancel(&tw, &t));
}

Test(timer_wheel, fires_in_deadline_order_within_and_across_ticks)
{
	struct sm_tw tw;
	struct item it[8];
	struct log lg = {0};
	items_init(it, 8);
	sm_tw_init(&tw, SM_TW_TICK_NS, T0);
	/* Same tick, different ns; equal deadlines keep add order. */
	uint64_t base = (T0TICK + 10) * MS;
	uint64_t dl[8] = {base + 900,    base + 100,    base + 500, base + 100,
	                  base - 5 * MS, base + 2 * MS, base + 1,   base + 100};
	for (int i = 0; i < 8; i++)
		sm_tw_add(&tw, &it[i].t, dl[i]);
	cr_assert_eq(sm_tw_count(&tw), 8);
	cr_assert_eq(sm_tw_next_deadline(&tw), due(base - 5 * MS));
	cr_assert_eq(advance(&tw, &lg, base - 5 * MS - 1), 0);
	cr_assert_eq(advance(&tw, &lg, base - 5 * MS), 1);
	cr_assert_eq(lg.ids[0], 4);
	/* base itself is the start of a tick: timers in (base, base+1ms] fire at base+1ms. */
	cr_assert_eq(sm_tw_next_deadline(&tw), base + MS);
	cr_assert_eq(advance(&tw, &lg, base + MS - 1), 0);
	cr_assert_eq(advance(&tw, &lg, base + 10 * MS), 7);
	unsigned want[] = {4, 6, 1, 3, 7, 2, 0, 5};
	cr_assert_eq(lg.n, 8);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(lg.ids[i], want[i], "position %d: %u", i, lg.ids[i]);
	cr_assert_eq(sm_tw_count(&tw), 0);
	cr_assert_eq(sm_tw_next_deadline(&tw), UINT64_MAX);
}

Test(timer_wheel, never_early_at_most_one_tick_late)
{
	struct sm_tw tw;
	struct item it[1];
	struct log lg = {0};
	items_init(it, 1);
	sm_tw_init(&tw, SM_TW_TICK_NS, T0);
	sm_tw_add(&tw, &it[0].t, T0 + 5 * MS); /* T0 is not on a tick boundary */
	cr_assert_eq(sm_tw_next_deadline(&tw), due(T0 + 5 * MS));
	cr_assert_eq(advance(&tw, &lg, T0 + 5 * MS - 1), 0);
	cr_assert_eq(advance(&tw, &lg, T0 + 5 * MS), 0); /* not yet: due at the next tick */
	cr_assert_eq(advance(&tw, &lg, due(T0 + 5 * MS)), 1);
	/* On a boundary it fires exactly on time. */
	sm_tw_add(&tw, &it[0].t, (T0TICK + 100) * MS);
	cr_assert_eq(advance(&tw, &lg, (T0TICK + 100) * MS - 1), 0);
	cr_assert_eq(advance(&tw, &lg, (T0TICK + 100) * MS), 1);
}

Test(timer_wheel, past_deadlines_fire_on_next_advance)
{
	struct sm_tw tw;
	struct item it[2];
	struct log lg = {0};
	items_init(it, 2);
	sm_tw_init(&tw, SM_TW_TICK_NS, T0);
	sm_tw_add(&tw, &it[0].t, T0 - SEC);
	sm_tw_add(&tw, &it[1].t, 0);
	cr_assert_leq(sm_tw_next_deadline(&tw), T0);
	cr_assert_eq(advance(&tw, &lg, T0), 2);
	cr_assert_eq(lg.ids[0], 1);
	cr_assert_eq(lg.ids[1], 0);
	/* Time going backwards fires nothing new and breaks nothing. */
	sm_tw_add(&tw, &it[0].t, T0 + 2 * MS);
	cr_assert_eq(advance(&tw, &lg, T0 - 10 * SEC), 0);
	cr_assert_eq(advance(&tw, &lg, T0 + 3 * MS), 1);
}

Test(timer_wheel, cancel_and_readd)
{
	struct sm_tw tw;
	struct item it[3];
	struct log lg = {0};
	items_init(it, 3);
	sm_tw_init(&tw, SM_TW_TICK_NS, T0);
	sm_tw_add(&tw, &it[0].t, T0 + 10 * MS);
	sm_tw_add(&tw, &it[1].t, T0 + 20 * MS);
	sm_tw_add(&tw, &it[2].t, T0 + 30 * SEC);
	cr_assert(sm_tw_cancel(&tw, &it[0].t));
	cr_assert_not(sm_tw_cancel(&tw, &it[0].t));
	cr_assert_not(sm_tw_pending(&it[0].t));
	cr_assert_eq(sm_tw_count(&tw), 2);
	/* Re-add moves a pending timer; the old deadline is forgotten. */
	sm_tw_add(&tw, &it[1].t, T0 + 5 * MS);
	sm_tw_add(&tw, &it[2].t, T0 + 7 * MS);
	cr_assert_eq(sm_tw_count(&tw), 2);
	cr_assert_eq(advance(&tw, &lg, T0 + 100 * SEC), 2);
	cr_assert_eq(lg.ids[0], 1);
	cr_assert_eq(lg.ids[1], 2);
	cr_assert_eq(it[0].fired, 0);
	cr_assert_eq(it[1].fired, 1);
	cr_assert_eq(it[2].fired, 1);
	/* A fired timer can be armed again. */
	sm_tw_add(&tw, &it[0].t, T0 + 101 * SEC);
	cr_assert_eq(advance(&tw, &lg, T0 + 102 * SEC), 1);
	cr_assert_eq(it[0].fired, 1);
}

/* Callbacks that cancel a timer due in the same tick, and re-arm themselves. */
struct cb_ctx {
	struct sm_tw *tw;
	struct item *it;
	unsigned order[8];
	size_t n;
};

static void on_fire_meddle(void *ctx, struct sm_timer *t)
{
	struct cb_ctx *c = ctx;
	struct item *it = ITEM(t);
	c->order[c->n++] = it->id;
	if (it->id == 0)
		cr_assert(sm_tw_cancel(c->tw, &c->it[1].t)); /* same tick, not fired yet */
	if (it->id == 2 && it->fired++ == 0)
		sm_tw_add(c->tw, t, t->deadline_ns); /* already due: waits for the next advance */
	if (it->id == 3)
		sm_tw_add(c->tw, &c->it[4].t, t->deadline_ns + 3 * MS);
}

Test(timer_wheel, callbacks_may_cancel_and_add)
{
	struct sm_tw tw;
	struct item it[5];
	items_init(it, 5);
	sm_tw_init(&tw, SM_TW_TICK_NS, T0);
	struct cb_ctx c = {.tw = &tw, .it = it};
	uint64_t d = (T0TICK + 4) * MS;
	sm_tw_add(&tw, &it[0].t, d - 10);
	sm_tw_add(&tw, &it[1].t, d - 5);
	sm_tw_add(&tw, &it[2].t, d - 1);
	sm_tw_add(&tw, &it[3].t, d);
	cr_assert_eq(sm_tw_advance(&tw, d + 100 * MS, on_fire_meddle, &c), 4);
	cr_assert_eq(c.n, 4);
	cr_assert_eq(c.order[0], 0);
	cr_assert_eq(c.order[1], 2);
	cr_assert_eq(c.order[2], 3);
	cr_assert_eq(c.order[3], 4); /* added by 3's callback, due inside this advance */
	cr_assert(sm_tw_pending(&it[2].t));
	cr_assert_leq(sm_tw_next_deadline(&tw), d + 100 * MS);
	cr_assert_eq(sm_tw_advance(&tw, d + 100 * MS, on_fire_meddle, &c), 1);
	cr_assert_eq(c.order[4], 2);
	cr_assert_eq(sm_tw_count(&tw), 0);
}

Test(timer_wheel, far_deadlines_across_levels_and_overflow)
{
	static const uint64_t offs[] = {
	        1 * MS,
	        255 * MS,
	        256 * MS,
	        257 * MS,
	        65535 * MS,
	        65536 * MS,
	        65537 * MS,
	        3600 * SEC,
	        16777216 * MS,
	        10 * 3600 * SEC,
	        (1ull << 32) * MS - MS,
	        (1ull << 32) * MS,
	        60ull * 86400 * SEC,
	        400ull * 86400 * SEC,
	};
	enum { N = sizeof(offs) / sizeof(offs[0]) };
	struct sm_tw tw;
	struct item it[N];
	struct log lg = {0};
	items_init(it, N);
	sm_tw_init(&tw, SM_TW_TICK_NS, T0TICK * MS);
	for (size_t i = 0; i < N; i++)
		sm_tw_add(&tw, &it[i].t, T0TICK * MS + offs[i]);
	/* Driving the wheel only by next_deadline fires each exactly on time. */
	size_t fired = 0, steps = 0;
	while (sm_tw_count(&tw)) {
		uint64_t next = sm_tw_next_deadline(&tw);
		cr_assert_neq(next, UINT64_MAX);
		fired += advance(&tw, &lg, next);
		steps++;
	}
	cr_assert_eq(fired, N);
	for (size_t i = 0; i < N; i++) {
		cr_expect_eq(it[i].fired, 1, "%zu", i);
		cr_expect_eq(it[i].fired_at, T0TICK * MS + offs[i], "timer %zu fired at +%llu ns",
		             i, (unsigned long long)(it[i].fired_at - T0TICK * MS));
		cr_expect_eq(lg.ids[i], i);
	}
	/* Internal steps are few: a handful per level, not one per tick. */
	cr_assert_lt(steps, 200, "steps %zu", steps);

	/* One big jump fires everything at once, still in order. */
	items_init(it, N);
	sm_tw_init(&tw, SM_TW_TICK_NS, T0);
	lg.n = 0;
	for (size_t i = N; i-- > 0;)
		sm_tw_add(&tw, &it[i].t, T0 + offs[i]);
	cr_assert_eq(advance(&tw, &lg, T0 + 400ull * 86400 * SEC + SEC), N);
	for (size_t i = 0; i < N; i++)
		cr_expect_eq(lg.ids[i], i);
}

/* ---- randomised schedule against a sorted reference ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*, fixed seed: deterministic. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

struct ref {
	uint64_t deadline, seq;
	unsigned id;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	if (x->deadline != y->deadline)
		return x->deadline < y->deadline ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct rlog {
	unsigned *ids;
	size_t n;
	uint64_t now;
	bool late_or_early;
};

static void on_fire_rand(void *ctx, struct sm_timer *t)
{
	struct rlog *lg = ctx;
	if (due(t->deadline_ns) > lg->now)
		lg->late_or_early = true;
	lg->ids[lg->n++] = ITEM(t)->id;
}

/* Random adds, re-adds, cancels and advances; each advance must fire exactly
 * the live timers due by then, in (deadline, add order). scale multiplies
 * every span and step (1 = seconds to hours; larger reaches the overflow). */
static void random_schedule(unsigned N, int rounds, uint64_t scale, uint64_t seed)
{
	struct item *it = calloc(N, sizeof(*it));
	struct ref *ref = calloc(N, sizeof(*ref));
	uint64_t *dl = calloc(N, sizeof(*dl)), *seq = calloc(N, sizeof(*seq));
	bool *live = calloc(N, sizeof(*live));
	struct rlog lg = {.ids = calloc(2 * N, sizeof(unsigned))};
	cr_assert(it && ref && dl && seq && live && lg.ids);
	items_init(it, N);
	rng_state = seed;

	struct sm_tw tw;
	uint64_t now = T0;
	sm_tw_init(&tw, SM_TW_TICK_NS, now);
	uint64_t add_seq = 0;
	size_t total_fired = 0;
	for (int round = 0; round < rounds; round++) {
		/* Adds (and re-adds) with deadlines from the past to ~3 hours ahead,
		 * most within seconds, like connect/idle timeouts. */
		for (int k = 0; k < 400; k++) {
			unsigned id = (unsigned)(rnd() % N);
			uint64_t r = rnd(), span;
			switch (r % 8) {
			case 0: span = 3 * MS; break;
			case 1: span = 300 * MS; break;
			case 2: span = 70 * SEC; break;
			case 3: span = 3 * 3600 * SEC; break;
			default: span = 10 * SEC;
			}
			uint64_t d = now - 2 * MS + (rnd() % (span * scale));
			sm_tw_add(&tw, &it[id].t, d);
			dl[id] = d;
			seq[id] = add_seq++;
			live[id] = true;
		}
		for (int k = 0; k < 100; k++) {
			unsigned id = (unsigned)(rnd() % N);
			cr_assert_eq(sm_tw_cancel(&tw, &it[id].t), live[id]);
			live[id] = false;
		}
		/* Advance by a random step: sub-tick, ms, seconds or a long jump. */
		uint64_t r = rnd();
		uint64_t step = (r % 4 == 0)   ? rnd() % MS
		                : (r % 4 == 1) ? rnd() % (50 * MS)
		                : (r % 4 == 2) ? rnd() % (5 * SEC)
		                               : rnd() % (20 * 60 * SEC);
		now += step * scale;
		/* Reference: live timers due by now, sorted by (deadline, add order). */
		size_t nref = 0;
		for (unsigned id = 0; id < N; id++) {
			if (live[id] && due(dl[id]) <= now) {
				ref[nref++] = (struct ref){dl[id], seq[id], id};
				live[id] = false;
			}
		}
		qsort(ref, nref, sizeof(*ref), ref_cmp);
		lg.n = 0;
		lg.now = now;
		size_t n = sm_tw_advance(&tw, now, on_fire_rand, &lg);
		cr_assert_eq(n, nref, "round %d: fired %zu, reference %zu", round, n, nref);
		cr_assert_not(lg.late_or_early);
		for (size_t i = 0; i < nref; i++)
			cr_assert_eq(lg.ids[i], ref[i].id, "round %d position %zu", round, i);
		total_fired += n;
		size_t nlive = 0;
		for (unsigned id = 0; id < N; id++)
			nlive += live[id];
		cr_assert_eq(sm_tw_count(&tw), nlive);
	}
	cr_assert_gt(total_fired, N / 10);
	free(it);
	free(ref);
	free(dl);
	free(seq);
	free(live);
	free(lg.ids);
}

Test(timer_wheel, random_schedule_matches_sorted_reference)
{
	random_schedule(100000, 400, 1, 0x9e3779b97f4a7c15ull);
}

Test(timer_wheel, random_schedule_far_deadlines_and_overflow)
{
	/* Spans up to ~75 days and steps up to ~8 days: crosses every level
	 * boundary and the overflow list many times. */
	random_schedule(100000, 300, 600, 7);
}

Test(timer_wheel, hundred_thousand_timers_driven_by_next_deadline)
{
	enum { N = 100000 };
	struct item *it = calloc(N, sizeof(*it));
	struct ref *ref = calloc(N, sizeof(*ref));
	struct rlog lg = {.ids = calloc(N, sizeof(unsigned))};
	cr_assert(it && ref && lg.ids);
	items_init(it, N);
	rng_state = 42;
	struct sm_tw tw;
	sm_tw_init(&tw, SM_TW_TICK_NS, T0);
	for (unsigned i = 0; i < N; i++) {
		uint64_t d = T0 + rnd() % (2 * 3600 * SEC);
		sm_tw_add(&tw, &it[i].t, d);
		ref[i] = (struct ref){d, i, i};
	}
	qsort(ref, N, sizeof(*ref), ref_cmp);
	size_t steps = 0;
	while (sm_tw_count(&tw)) {
		uint64_t next = sm_tw_next_deadline(&tw);
		lg.now = next;
		size_t before_n = lg.n;
		sm_tw_advance(&tw, next, on_fire_rand, &lg);
		/* Whatever fired at this step was due exactly now (never late). */
		for (size_t i = before_n; i < lg.n; i++)
			cr_assert_eq(due(it[lg.ids[i]].t.deadline_ns), next);
		steps++;
	}
	cr_assert_eq(lg.n, N);
	cr_assert_not(lg.late_or_early);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(lg.ids[i], ref[i].id, "position %zu", i);
	cr_assert_lt(steps, 2 * N);
	free(it);
	free(ref);
	free(lg.ids);
}

Test(timer_wheel, coarse_tick)
{
	struct sm_tw tw;
	struct item it[2];
	struct log lg = {0};
	items_init(it, 2);
	sm_tw_init(&tw, 10 * MS, 0);
	sm_tw_add(&tw, &it[0].t, 15 * MS);
	sm_tw_add(&tw, &it[1].t, 20 * MS);
	cr_assert_eq(sm_tw_next_deadline(&tw), 20 * MS);
	cr_assert_eq(advance(&tw, &lg, 19 * MS), 0);
	cr_assert_eq(advance(&tw, &lg, 20 * MS), 2);
	cr_assert_eq(lg.ids[0], 0);
}
