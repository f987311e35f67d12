/* Log-linear latency histogram for soth-bench (HDR-style, fixed memory).
 *
 * Values (microseconds in soth-bench, but any uint64) below 2^SUB_BITS are
 * counted exactly, one bucket per value. Above that, each power-of-two range
 * [2^k, 2^(k+1)) is split into 2^(SUB_BITS-1) equal buckets, so a bucket is
 * never wider than 1/2^(SUB_BITS-1) of the values it holds (0.8% with
 * SUB_BITS = 8). Values at or above 2^MAX_BITS land in the last bucket;
 * `max` keeps the exact largest value seen.
 *
 * The struct is plain memory (about 36 KiB): one per thread, written only by
 * its owner, merged by the reader with sm_bhist_merge(). No allocation. */
#ifndef SM_BENCH_BHIST_H
#define SM_BENCH_BHIST_H

#include <stdint.h>

#define SM_BHIST_SUB_BITS 8
#define SM_BHIST_MAX_BITS 40 /* 2^40 us: about 12.7 days */
#define SM_BHIST_SUB      (1u << SM_BHIST_SUB_BITS)
#define SM_BHIST_HALF     (SM_BHIST_SUB / 2)
/* exact range + one half-range per power of two from 2^SUB_BITS to 2^(MAX_BITS-1) */
#define SM_BHIST_BUCKETS (SM_BHIST_SUB + (SM_BHIST_MAX_BITS - SM_BHIST_SUB_BITS) * SM_BHIST_HALF)

struct sm_bhist {
	uint64_t count; /* values recorded */
	uint64_t sum;   /* sum of values (saturating) */
	uint64_t min;   /* UINT64_MAX while empty */
	uint64_t max;   /* 0 while empty */
	uint64_t b[SM_BHIST_BUCKETS];
};

void sm_bhist_init(struct sm_bhist *h);
void sm_bhist_record(struct sm_bhist *h, uint64_t v);

/* Bucket of a value, and the inclusive value range [low, high] of a bucket. */
unsigned sm_bhist_index(uint64_t v);
uint64_t sm_bhist_bucket_low(unsigned idx);
uint64_t sm_bhist_bucket_high(unsigned idx);

/* Smallest recorded-bucket upper bound v such that at least ceil(q * count)
 * values are <= v, clamped to [min, max]; q in [0, 1]. 0 when empty.
 * q = 1 returns max exactly. */
uint64_t sm_bhist_quantile(const struct sm_bhist *h, double q);

/* dst += src, bucket by bucket. */
void sm_bhist_merge(struct sm_bhist *dst, const struct sm_bhist *src);

#endif
