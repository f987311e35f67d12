/* Hierarchical hashed timer wheel for one reactor.
 *
 * Not thread-safe by design: one wheel per reactor, used only by its thread.
 * No allocation: the wheel is a fixed-size struct the caller places (about
 * 8 KiB), and timers are intrusive nodes embedded in the caller's objects
 * (e.g. struct sm_flow { ...; struct sm_timer idle; }), recovered in the
 * callback with container_of. The caller supplies all time (ns, any epoch,
 * monotonic); the wheel never reads a clock.
 *
 * Resolution and firing: time is cut into ticks of tick_ns (1 ms by default).
 * A timer with deadline d is due at D = d rounded UP to a tick boundary: it
 * never fires early and at most tick_ns - 1 late (exactly at d when d is on a
 * boundary). sm_tw_advance(now) fires every pending timer with D <= now, in
 * order of (deadline, order of sm_tw_add), then returns.
 *
 * Span: 4 levels of 256 slots cover 2^32 ticks (49.7 days at 1 ms); later
 * deadlines wait in an overflow list, re-examined at the first multiple of
 * 2^24 ticks (4.7 h) from which its earliest timer fits the wheel.
 * Cost: add and cancel O(1); advance O(fired * log(fired in one tick) +
 * levels) per tick that has work, and empty stretches are skipped using
 * per-level occupancy bitmaps rather than walked tick by tick.
 *
 * Callbacks run inside sm_tw_advance. A callback may add, re-add or cancel
 * any timer (including one due in the same tick, which then does not fire).
 * A timer added during advance with a deadline already due fires at the
 * next sm_tw_advance call, not this one (no self-re-arming loops). A
 * callback must not call sm_tw_advance or sm_tw_init. */
#ifndef SM_CORE_TIMER_WHEEL_H
#define SM_CORE_TIMER_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_TW_TICK_NS   1000000u /* default resolution: 1 ms */
#define SM_TW_LEVELS    4
#define SM_TW_SLOT_BITS 8
#define SM_TW_SLOTS     (1u << SM_TW_SLOT_BITS)

/* Internal list indexes beyond the wheel slots (stored in sm_timer.list). */
#define SM_TW_LIST_DUE      (SM_TW_LEVELS * SM_TW_SLOTS)     /* already due when added */
#define SM_TW_LIST_OVERFLOW (SM_TW_LEVELS * SM_TW_SLOTS + 1) /* beyond the wheel's span */
#define SM_TW_LIST_FIRING   (SM_TW_LEVELS * SM_TW_SLOTS + 2) /* taken out by advance */
#define SM_TW_NLISTS        (SM_TW_LEVELS * SM_TW_SLOTS + 3)
#define SM_TW_IDLE          UINT32_MAX /* not pending */

/* Embed in the owning object. Fields are private to the wheel; initialise
 * with sm_tw_timer_init before first use. Owned by the caller; while pending
 * it is linked into the wheel, so it must not be freed or moved (cancel it
 * first). */
struct sm_timer {
	struct sm_timer *next, *prev;
	uint64_t deadline_ns;
	uint64_t seq;  /* add order: tie-break for equal deadlines */
	uint32_t list; /* index of the list holding it, or SM_TW_IDLE */
};

struct sm_tw {
	uint64_t tick_ns;
	uint64_t cur; /* last tick processed: every timer due at or before it has fired */
	uint64_t seq;
	size_t count;          /* pending timers */
	uint64_t overflow_min; /* lower bound of due ticks in the overflow list */
	bool advancing;
	uint64_t occupied[SM_TW_LEVELS][SM_TW_SLOTS / 64]; /* non-empty slots */
	struct sm_timer *lists[SM_TW_NLISTS];
};

typedef void (*sm_tw_cb)(void *ctx, struct sm_timer *t);

/* Start an empty wheel at now_ns. tick_ns must be >= 1 (use SM_TW_TICK_NS). */
void sm_tw_init(struct sm_tw *tw, uint64_t tick_ns, uint64_t now_ns);

/* Mark a timer as not pending. Call once before first use. */
void sm_tw_timer_init(struct sm_timer *t);

/* Arm t for deadline_ns (absolute). A pending timer is re-armed (moved).
 * A deadline already due fires at the next sm_tw_advance. O(1). */
void sm_tw_add(struct sm_tw *tw, struct sm_timer *t, uint64_t deadline_ns);

/* Disarm t. Returns true if it was pending. O(1); fine on idle timers. */
bool sm_tw_cancel(struct sm_tw *tw, struct sm_timer *t);

/* True while t is armed and has not fired. */
bool sm_tw_pending(const struct sm_timer *t);

/* Fire (cb(ctx, t)) every timer due at or before now_ns, in deadline order.
 * Each timer is idle when its callback runs. Returns the number fired. */
size_t sm_tw_advance(struct sm_tw *tw, uint64_t now_ns, sm_tw_cb cb, void *ctx);

/* When to call sm_tw_advance next: UINT64_MAX if nothing is pending, else a
 * time never later than the earliest due time (a time <= the last now if
 * something is already due). It is exact when the earliest timer is within
 * 256 ticks; otherwise it may be an earlier internal step at which advance
 * fires nothing: arm the reactor's timeout for it, advance, ask again. */
uint64_t sm_tw_next_deadline(const struct sm_tw *tw);

/* Number of pending timers. */
size_t sm_tw_count(const struct sm_tw *tw);

#endif
