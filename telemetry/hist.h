/* Log-linear latency histogram (HDR-style), fixed memory, single writer.
 *
 * Values are unsigned integers (the dataplane records nanoseconds). Values
 * below SM_HIST_LINEAR (128) have a bucket each; above, every power-of-two
 * range [2^k, 2^(k+1)) is split into SM_HIST_SUB (64) equal sub-buckets, so a
 * bucket is never wider than 1/64 of its lowest value: any value read back
 * (percentiles) is within +1.6% of the true one. Values at or above
 * 2^SM_HIST_MAX_BITS (~4.9 h in ns) share the last bucket; sum and max stay
 * exact for them.
 *
 * Prometheus needs cumulative counts at fixed `le` bounds that do not fall on
 * power-of-two bucket edges (50 us, 2.5 ms...). A layout (struct
 * sm_hist_layout, immutable, shared by every histogram using it) maps each
 * bucket to the first bound at or above its lowest value; as no bucket holds
 * two bounds, one comparison with the value settles the exact `le` bucket at
 * record time. So the exported buckets, _sum and _count are exact, not
 * estimated from the log-linear buckets.
 *
 * Concurrency: sm_hist_record() is called by one thread only (the owning
 * reactor) and writes with relaxed atomic stores, so any other thread may
 * read at any time (sm_hist_merge, sm_hist_count...) without locks; a reader
 * may see a record half-applied (bucket counted, sum not yet), never a torn
 * counter. Record is O(1): a count-leading-zeros, shifts, one table load and
 * one comparison; no division, no loop. */
#ifndef SM_TELEMETRY_HIST_H
#define SM_TELEMETRY_HIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SM_HIST_SUB_BITS 7                        /* log2 of the linear range */
#define SM_HIST_LINEAR   (1u << SM_HIST_SUB_BITS) /* 128 exact buckets for 0..127 */
#define SM_HIST_SUB      (SM_HIST_LINEAR / 2)     /* 64 sub-buckets per octave */
#define SM_HIST_MAX_BITS 44                       /* values >= 2^44 share the last bucket */
#define SM_HIST_BUCKETS  (SM_HIST_LINEAR + (SM_HIST_MAX_BITS - SM_HIST_SUB_BITS) * SM_HIST_SUB)
#define SM_HIST_MAX_LE   32 /* `le` bounds per layout */

/* Fixed export bounds and the bucket -> bound table. Built once by
 * sm_hist_layout_init(), then read-only: share it between threads freely. */
struct sm_hist_layout {
	uint32_t n_le;                     /* bounds in le[0..n_le) */
	uint64_t le[SM_HIST_MAX_LE + 1];   /* strictly increasing; le[n_le] = UINT64_MAX (+Inf) */
	uint8_t first_le[SM_HIST_BUCKETS]; /* first p with le[p] >= lowest value of the bucket */
};

struct sm_hist {
	const struct sm_hist_layout *layout;
	_Atomic uint64_t sum;                           /* exact sum of recorded values */
	_Atomic uint64_t max;                           /* largest recorded value */
	_Atomic uint64_t le_counts[SM_HIST_MAX_LE + 1]; /* per `le` bucket, not cumulative; [n_le] =
	                                                   above the last */
	_Atomic uint64_t counts[SM_HIST_BUCKETS];       /* log-linear buckets */
};

/* Builds a layout from n bounds (n <= SM_HIST_MAX_LE), strictly increasing,
 * each below 2^SM_HIST_MAX_BITS, no two in the same bucket. Returns SM_OK or
 * SM_ERR_INVALID. */
int sm_hist_layout_init(struct sm_hist_layout *l, const uint64_t *le, size_t n);

/* Zeroes h and ties it to layout (which must outlive h). */
void sm_hist_init(struct sm_hist *h, const struct sm_hist_layout *layout);

/* Bucket of a value, and the range of values that bucket holds. */
static inline uint32_t sm_hist_index(uint64_t v)
{
	if (v < SM_HIST_LINEAR)
		return (uint32_t)v;
	if (v >> SM_HIST_MAX_BITS)
		return SM_HIST_BUCKETS - 1;
	unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - (SM_HIST_SUB_BITS - 1);
	/* v >> shift is in [SUB, 2*SUB): the sub-bucket within the octave */
	return shift * SM_HIST_SUB + (uint32_t)(v >> shift);
}
uint64_t sm_hist_bucket_low(uint32_t i);  /* lowest value of bucket i */
uint64_t sm_hist_bucket_high(uint32_t i); /* highest value of bucket i (last: UINT64_MAX) */

static inline void sm_hist_bump_(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/* Single writer: records one value. */
static inline void sm_hist_record(struct sm_hist *h, uint64_t v)
{
	uint32_t i = sm_hist_index(v);
	const struct sm_hist_layout *l = h->layout;
	uint32_t p = l->first_le[i];
	p += v > l->le[p];
	sm_hist_bump_(&h->counts[i], 1);
	sm_hist_bump_(&h->le_counts[p], 1);
	sm_hist_bump_(&h->sum, v);
	if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
		atomic_store_explicit(&h->max, v, memory_order_relaxed);
}

/* dst += src. Both must use the same layout (else SM_ERR_INVALID and dst is
 * unchanged). dst is written with plain relaxed stores: one writer. */
int sm_hist_merge(struct sm_hist *dst, const struct sm_hist *src);

/* Number of recorded values (sum of the `le` buckets, so it always equals
 * the +Inf cumulative count of a consistent export). */
uint64_t sm_hist_count(const struct sm_hist *h);

/* Cumulative counts at each bound: out[k] = values <= le[k] for k < n_le,
 * out[n_le] = every value. out has n_le + 1 entries. Returns the total. */
uint64_t sm_hist_cumulative(const struct sm_hist *h, uint64_t *out);

/* The value at percentile q (0..100): the highest value of the bucket that
 * holds the ceil(q% * count)-th smallest value, capped at max. 0 when empty.
 * Never below the true value, at most 1/64 above it. */
uint64_t sm_hist_percentile(const struct sm_hist *h, double q);

#endif
