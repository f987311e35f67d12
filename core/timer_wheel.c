#include "core/timer_wheel.h"

#include <assert.h>
#include <string.h>

/* Placement invariant (cur = last processed tick, e = due tick > cur):
 * a timer sits at the lowest level L with e - cur < 2^(8(L+1)), in slot
 * (e >> 8L) & 255; beyond level 3 it waits in the overflow list. Level-0
 * slot i then holds exactly the timers due at the next tick t > cur with
 * t & 255 == i. A level-L slot (L >= 1) is emptied ("cascaded") into lower
 * levels at the next tick t > cur with t % 2^(8L) == 0 and
 * (t >> 8L) & 255 == its index, which is never later than its timers' due
 * ticks. The overflow list is re-examined at every multiple of 2^24 ticks. */

#define SLOT_MASK (SM_TW_SLOTS - 1u)

static uint32_t list_index(unsigned level, unsigned slot)
{
	return (uint32_t)(level * SM_TW_SLOTS + slot);
}

static void bit_set(struct sm_tw *tw, uint32_t li)
{
	tw->occupied[li / SM_TW_SLOTS][(li & SLOT_MASK) >> 6] |= UINT64_C(1) << (li & 63);
}

static void bit_clear(struct sm_tw *tw, uint32_t li)
{
	tw->occupied[li / SM_TW_SLOTS][(li & SLOT_MASK) >> 6] &= ~(UINT64_C(1) << (li & 63));
}

static void list_push(struct sm_tw *tw, uint32_t li, struct sm_timer *t)
{
	t->list = li;
	t->prev = NULL;
	t->next = tw->lists[li];
	if (t->next)
		t->next->prev = t;
	tw->lists[li] = t;
	if (li < SM_TW_LIST_DUE)
		bit_set(tw, li);
}

static void list_unlink(struct sm_tw *tw, struct sm_timer *t)
{
	uint32_t li = t->list;
	if (t->prev)
		t->prev->next = t->next;
	else
		tw->lists[li] = t->next;
	if (t->next)
		t->next->prev = t->prev;
	if (li < SM_TW_LIST_DUE && !tw->lists[li])
		bit_clear(tw, li);
	t->list = SM_TW_IDLE;
	t->next = t->prev = NULL;
}

/* Detach a whole list; its timers keep their stale list index. */
static struct sm_timer *list_take(struct sm_tw *tw, uint32_t li)
{
	struct sm_timer *head = tw->lists[li];
	tw->lists[li] = NULL;
	if (li < SM_TW_LIST_DUE)
		bit_clear(tw, li);
	return head;
}

static uint64_t due_tick(const struct sm_tw *tw, uint64_t deadline_ns)
{
	return deadline_ns / tw->tick_ns + (deadline_ns % tw->tick_ns != 0);
}

/* Put t (due tick e >= cur) where the invariant says. */
static void place(struct sm_tw *tw, struct sm_timer *t, uint64_t e)
{
	uint64_t diff = e - tw->cur;
	for (unsigned level = 0; level < SM_TW_LEVELS; level++) {
		unsigned shift = level * SM_TW_SLOT_BITS;
		if (diff < (UINT64_C(1) << (shift + SM_TW_SLOT_BITS))) {
			list_push(tw, list_index(level, (unsigned)(e >> shift) & SLOT_MASK), t);
			return;
		}
	}
	if (!tw->lists[SM_TW_LIST_OVERFLOW] || e < tw->overflow_min)
		tw->overflow_min = e;
	list_push(tw, SM_TW_LIST_OVERFLOW, t);
}

void sm_tw_init(struct sm_tw *tw, uint64_t tick_ns, uint64_t now_ns)
{
	memset(tw, 0, sizeof(*tw));
	tw->tick_ns = tick_ns ? tick_ns : 1;
	tw->cur = now_ns / tw->tick_ns;
}

void sm_tw_timer_init(struct sm_timer *t)
{
	memset(t, 0, sizeof(*t));
	t->list = SM_TW_IDLE;
}

bool sm_tw_pending(const struct sm_timer *t)
{
	return t->list != SM_TW_IDLE;
}

size_t sm_tw_count(const struct sm_tw *tw)
{
	return tw->count;
}

bool sm_tw_cancel(struct sm_tw *tw, struct sm_timer *t)
{
	if (t->list == SM_TW_IDLE)
		return false;
	list_unlink(tw, t);
	tw->count--;
	return true;
}

void sm_tw_add(struct sm_tw *tw, struct sm_timer *t, uint64_t deadline_ns)
{
	sm_tw_cancel(tw, t);
	t->deadline_ns = deadline_ns;
	t->seq = tw->seq++;
	tw->count++;
	uint64_t e = due_tick(tw, deadline_ns);
	if (e <= tw->cur)
		list_push(tw, SM_TW_LIST_DUE, t);
	else
		place(tw, t, e);
}

/* Smallest d in 1..256 with slot (base + d) & 255 of level occupied, 0 if
 * the level is empty. */
static unsigned next_dist(const struct sm_tw *tw, unsigned level, uint64_t base)
{
	const uint64_t *bm = tw->occupied[level];
	unsigned start = (unsigned)(base + 1) & SLOT_MASK;
	for (unsigned pass = 0; pass < 2; pass++) {
		unsigned from = pass ? 0 : start;
		for (unsigned w = from >> 6; w < SM_TW_SLOTS / 64; w++) {
			uint64_t bits = bm[w];
			if (w == from >> 6)
				bits &= ~UINT64_C(0) << (from & 63);
			if (bits) {
				unsigned idx = w * 64 + (unsigned)__builtin_ctzll(bits);
				return (unsigned)((idx - (unsigned)base - 1u) & SLOT_MASK) + 1u;
			}
		}
	}
	return 0;
}

/* The next tick > cur at which advance has work: a level-0 slot to fire, a
 * non-empty higher slot to cascade, or the overflow list to re-examine.
 * UINT64_MAX if none. */
static uint64_t next_event_tick(const struct sm_tw *tw)
{
	uint64_t best = UINT64_MAX;
	for (unsigned level = 0; level < SM_TW_LEVELS; level++) {
		unsigned shift = level * SM_TW_SLOT_BITS;
		unsigned d = next_dist(tw, level, tw->cur >> shift);
		if (d == 0)
			continue;
		uint64_t t = ((tw->cur >> shift) + d) << shift;
		if (t < best)
			best = t;
	}
	if (tw->lists[SM_TW_LIST_OVERFLOW]) {
		/* The first multiple of 2^24 after cur from which the earliest
		 * overflow timer is within the wheel's span. (overflow_min may be
		 * stale-low after a cancel: then this is merely early.) */
		const unsigned shift = (SM_TW_LEVELS - 1) * SM_TW_SLOT_BITS;
		const uint64_t span = UINT64_C(1) << (shift + SM_TW_SLOT_BITS);
		uint64_t t = ((tw->cur >> shift) + 1) << shift;
		if (tw->overflow_min >= span && tw->overflow_min - span + 1 > t) {
			uint64_t from = tw->overflow_min - span + 1;
			t = ((from + (UINT64_C(1) << shift) - 1) >> shift) << shift;
		}
		if (t < best)
			best = t;
	}
	return best;
}

/* At tick cur (cur & 255 == 0): move due higher slots down a level. */
static void cascade(struct sm_tw *tw)
{
	for (unsigned level = 1; level < SM_TW_LEVELS; level++) {
		unsigned shift = level * SM_TW_SLOT_BITS;
		unsigned idx = (unsigned)(tw->cur >> shift) & SLOT_MASK;
		struct sm_timer *t = list_take(tw, list_index(level, idx));
		while (t) {
			struct sm_timer *next = t->next;
			place(tw, t, due_tick(tw, t->deadline_ns));
			t = next;
		}
		if (idx != 0 && level < SM_TW_LEVELS - 1)
			return; /* higher levels are not at a boundary */
	}
	/* cur is a multiple of 2^24: bring overflow timers into range. */
	struct sm_timer *t = list_take(tw, SM_TW_LIST_OVERFLOW);
	while (t) {
		struct sm_timer *next = t->next;
		place(tw, t, due_tick(tw, t->deadline_ns));
		t = next;
	}
}

static bool before(const struct sm_timer *a, const struct sm_timer *b)
{
	return a->deadline_ns < b->deadline_ns ||
	       (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static struct sm_timer *merge(struct sm_timer *a, struct sm_timer *b)
{
	struct sm_timer head, *tail = &head;
	while (a && b) {
		if (before(b, a)) {
			tail->next = b;
			b = b->next;
		} else {
			tail->next = a;
			a = a->next;
		}
		tail = tail->next;
	}
	tail->next = a ? a : b;
	return head.next;
}

/* Bottom-up merge sort of a singly linked list by (deadline, seq). */
static struct sm_timer *sort(struct sm_timer *list)
{
	struct sm_timer *bins[64] = {0};
	while (list) {
		struct sm_timer *t = list;
		list = list->next;
		t->next = NULL;
		unsigned i = 0;
		while (bins[i]) {
			t = merge(bins[i], t);
			bins[i++] = NULL;
		}
		bins[i] = t;
	}
	struct sm_timer *out = NULL;
	for (unsigned i = 0; i < 64; i++)
		if (bins[i])
			out = out ? merge(bins[i], out) : bins[i];
	return out;
}

/* Fire one list in deadline order. The timers wait on the FIRING list so a
 * callback may cancel one that has not fired yet. */
static size_t fire_list(struct sm_tw *tw, uint32_t li, sm_tw_cb cb, void *ctx)
{
	struct sm_timer *head = sort(list_take(tw, li)), *prev = NULL;
	if (!head)
		return 0;
	for (struct sm_timer *t = head; t; t = t->next) {
		t->prev = prev;
		t->list = SM_TW_LIST_FIRING;
		prev = t;
	}
	tw->lists[SM_TW_LIST_FIRING] = head;
	size_t n = 0;
	struct sm_timer *t;
	while ((t = tw->lists[SM_TW_LIST_FIRING]) != NULL) {
		list_unlink(tw, t);
		tw->count--;
		cb(ctx, t);
		n++;
	}
	return n;
}

size_t sm_tw_advance(struct sm_tw *tw, uint64_t now_ns, sm_tw_cb cb, void *ctx)
{
	assert(!tw->advancing && "sm_tw_advance called from a timer callback");
	uint64_t target = now_ns / tw->tick_ns;
	tw->advancing = true;
	/* Already due when added: all earlier than anything in the wheel. */
	size_t n = fire_list(tw, SM_TW_LIST_DUE, cb, ctx);
	for (;;) {
		uint64_t t = next_event_tick(tw);
		if (t > target)
			break;
		tw->cur = t;
		if ((t & SLOT_MASK) == 0)
			cascade(tw);
		n += fire_list(tw, list_index(0, (unsigned)t & SLOT_MASK), cb, ctx);
	}
	if (target > tw->cur)
		tw->cur = target; /* nothing is due in between: skip */
	tw->advancing = false;
	return n;
}

uint64_t sm_tw_next_deadline(const struct sm_tw *tw)
{
	if (tw->count == 0)
		return UINT64_MAX;
	if (tw->lists[SM_TW_LIST_DUE])
		return tw->cur * tw->tick_ns;
	uint64_t t = next_event_tick(tw);
	if (t == UINT64_MAX || t > UINT64_MAX / tw->tick_ns)
		return UINT64_MAX;
	return t * tw->tick_ns;
}
