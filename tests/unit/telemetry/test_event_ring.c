#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "base/result.h"
#include "telemetry/event_ring.h"

Test(event_ring, capacity_must_be_power_of_two)
{
	struct sm_event_ring r;
	cr_expect_eq(sm_event_ring_init(&r, 0), SM_ERR_INVALID);
	cr_expect_eq(sm_event_ring_init(&r, 1), SM_ERR_INVALID);
	cr_expect_eq(sm_event_ring_init(&r, 100), SM_ERR_INVALID);
	cr_assert_eq(sm_event_ring_init(&r, 64), SM_OK);
	sm_event_ring_free(&r);
}

Test(event_ring, full_ring_drops_and_counts_then_recovers)
{
	struct sm_event_ring r;
	cr_assert_eq(sm_event_ring_init(&r, 8), SM_OK);
	for (int i = 0; i < 8; i++) {
		struct sm_event *ev = sm_event_ring_reserve(&r);
		cr_assert_not_null(ev);
		ev->seq = (uint32_t)i;
		sm_event_ring_commit(&r);
	}
	for (int i = 0; i < 3; i++)
		cr_expect_null(sm_event_ring_reserve(&r));
	cr_expect_eq(atomic_load(&r.drops), 3);
	struct sm_event out[16];
	cr_assert_eq(sm_event_ring_pop(&r, out, 5), 5);
	for (int i = 0; i < 5; i++)
		cr_expect_eq(out[i].seq, (uint32_t)i);
	/* space again: wraps around */
	for (int i = 8; i < 13; i++) {
		struct sm_event *ev = sm_event_ring_reserve(&r);
		cr_assert_not_null(ev, "slot %d", i);
		ev->seq = (uint32_t)i;
		sm_event_ring_commit(&r);
	}
	cr_assert_eq(sm_event_ring_pop(&r, out, 16), 8);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(out[i].seq, (uint32_t)(i + 5));
	cr_expect_eq(sm_event_ring_pop(&r, out, 16), 0);
	sm_event_ring_free(&r);
}

struct producer {
	struct sm_event_ring *r;
	uint32_t n;
	uint32_t pushed;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (uint32_t i = 0; i < p->n; i++) {
		struct sm_event *ev = sm_event_ring_reserve(p->r);
		if (!ev)
			continue; /* dropped, counted by the ring */
		ev->seq = i;
		ev->flow = (uint64_t)i * 7;
		sm_event_ring_commit(p->r);
		p->pushed++;
	}
	return NULL;
}

/* One producer thread, one consumer: every event that was not dropped
 * arrives exactly once, in order, intact. */
Test(event_ring, spsc_threads_keep_order_and_account_for_every_event, .timeout = 60)
{
	struct sm_event_ring r;
	cr_assert_eq(sm_event_ring_init(&r, 256), SM_OK);
	struct producer p = {&r, 200000, 0};
	pthread_t th;
	pthread_create(&th, NULL, produce, &p);
	uint32_t got = 0;
	int64_t last = -1;
	struct sm_event out[64];
	bool done = false;
	while (!done) {
		done = pthread_tryjoin_np(th, NULL) == 0;
		size_t n;
		while ((n = sm_event_ring_pop(&r, out, 64)) > 0) {
			for (size_t k = 0; k < n; k++) {
				cr_assert_gt((int64_t)out[k].seq, last);
				cr_assert_eq(out[k].flow, (uint64_t)out[k].seq * 7);
				last = out[k].seq;
			}
			got += (uint32_t)n;
		}
	}
	cr_expect_eq(got, p.pushed);
	cr_expect_eq(got + atomic_load(&r.drops), p.n);
	sm_event_ring_free(&r);
}
