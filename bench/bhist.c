/* Log-linear histogram; layout described in bhist.h. */
#include "bench/bhist.h"

#include <math.h>
#include <string.h>

void sm_bhist_init(struct sm_bhist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned sm_bhist_index(uint64_t v)
{
	if (v < SM_BHIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb >= SM_BHIST_MAX_BITS)
		return SM_BHIST_BUCKETS - 1;
	/* shift so that v >> shift lies in [HALF, SUB) */
	unsigned shift = msb - SM_BHIST_SUB_BITS + 1;
	return SM_BHIST_SUB + (shift - 1) * SM_BHIST_HALF +
	       (unsigned)((v >> shift) - SM_BHIST_HALF);
}

uint64_t sm_bhist_bucket_low(unsigned idx)
{
	if (idx < SM_BHIST_SUB)
		return idx;
	unsigned rel = idx - SM_BHIST_SUB;
	unsigned shift = rel / SM_BHIST_HALF + 1;
	return (uint64_t)(SM_BHIST_HALF + rel % SM_BHIST_HALF) << shift;
}

uint64_t sm_bhist_bucket_high(unsigned idx)
{
	if (idx < SM_BHIST_SUB)
		return idx;
	if (idx >= SM_BHIST_BUCKETS - 1)
		return UINT64_MAX;
	unsigned rel = idx - SM_BHIST_SUB;
	unsigned shift = rel / SM_BHIST_HALF + 1;
	return sm_bhist_bucket_low(idx) + (((uint64_t)1 << shift) - 1);
}

void sm_bhist_record(struct sm_bhist *h, uint64_t v)
{
	h->b[sm_bhist_index(v)]++;
	h->count++;
	h->sum = (h->sum + v < h->sum) ? UINT64_MAX : h->sum + v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

uint64_t sm_bhist_quantile(const struct sm_bhist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	if (q < 0)
		q = 0;
	uint64_t rank = (uint64_t)ceil(q * (double)h->count);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < SM_BHIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = sm_bhist_bucket_high(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

void sm_bhist_merge(struct sm_bhist *dst, const struct sm_bhist *src)
{
	for (unsigned i = 0; i < SM_BHIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum = (dst->sum + src->sum < dst->sum) ? UINT64_MAX : dst->sum + src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}
