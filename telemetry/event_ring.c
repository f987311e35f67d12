#include "telemetry/event_ring.h"

#include <stdlib.h>
#include <string.h>

#include "base/result.h"

int sm_event_ring_init(struct sm_event_ring *r, size_t capacity)
{
	memset(r, 0, sizeof(*r));
	if (capacity < 2 || (capacity & (capacity - 1)))
		return SM_ERR_INVALID;
	r->slots = calloc(capacity, sizeof(*r->slots));
	if (!r->slots)
		return SM_ERR_NOMEM;
	r->mask = capacity - 1;
	return SM_OK;
}

void sm_event_ring_free(struct sm_event_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

struct sm_event *sm_event_ring_reserve(struct sm_event_ring *r)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (head - r->cached_tail > r->mask) {
		r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head - r->cached_tail > r->mask) {
			atomic_fetch_add_explicit(&r->drops, 1, memory_order_relaxed);
			return NULL;
		}
	}
	return &r->slots[head & r->mask];
}

void sm_event_ring_commit(struct sm_event_ring *r)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

size_t sm_event_ring_pop(struct sm_event_ring *r, struct sm_event *out, size_t max)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	size_t n = 0;
	while (tail != head && n < max) {
		out[n++] = r->slots[tail & r->mask];
		tail++;
	}
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	return n;
}
