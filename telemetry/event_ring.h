/* Single-producer single-consumer ring of struct sm_event.
 *
 * The producer is one reactor, the consumer the collector thread. Capacity is
 * a power of two fixed at init. A push on a full ring fails and counts a drop:
 * the reactor never blocks on telemetry. head/tail live on their own cache
 * lines; each is written by one side only. */
#ifndef SM_TELEMETRY_EVENT_RING_H
#define SM_TELEMETRY_EVENT_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry/event.h"

struct sm_event_ring {
	_Alignas(64) _Atomic uint64_t head; /* next slot to write (producer) */
	uint64_t cached_tail;               /* producer's last view of tail */
	_Atomic uint64_t drops;             /* pushes refused because full */
	_Alignas(64) _Atomic uint64_t tail; /* next slot to read (consumer) */
	_Alignas(64) uint64_t mask;
	struct sm_event *slots;
};

/* capacity must be a power of two >= 2. Returns SM_OK or SM_ERR_NOMEM/INVALID. */
int sm_event_ring_init(struct sm_event_ring *r, size_t capacity);
void sm_event_ring_free(struct sm_event_ring *r);

/* Producer: returns a slot to fill, or NULL when full (the drop is counted).
 * The slot becomes visible to the consumer at sm_event_ring_commit(). */
struct sm_event *sm_event_ring_reserve(struct sm_event_ring *r);
void sm_event_ring_commit(struct sm_event_ring *r);

/* Consumer: copies up to max events out; returns how many. */
size_t sm_event_ring_pop(struct sm_event_ring *r, struct sm_event *out, size_t max);

#endif
