#include "telemetry/hist.h"

#include <math.h>
#include <string.h>

#include "base/result.h"

uint64_t sm_hist_bucket_low(uint32_t i)
{
	if (i < SM_HIST_LINEAR)
		return i;
	unsigned shift = (i / SM_HIST_SUB) - 1;
	uint64_t sub = (i % SM_HIST_SUB) + SM_HIST_SUB;
	return sub << shift;
}

uint64_t sm_hist_bucket_high(uint32_t i)
{
	if (i >= SM_HIST_BUCKETS - 1)
		return UINT64_MAX;
	return sm_hist_bucket_low(i + 1) - 1;
}

int sm_hist_layout_init(struct sm_hist_layout *l, const uint64_t *le, size_t n)
{
	if (n > SM_HIST_MAX_LE)
		return SM_ERR_INVALID;
	for (size_t k = 0; k < n; k++) {
		if (le[k] >> SM_HIST_MAX_BITS)
			return SM_ERR_INVALID;
		if (k > 0 &&
		    (le[k] <= le[k - 1] || sm_hist_index(le[k]) == sm_hist_index(le[k - 1])))
			return SM_ERR_INVALID;
	}
	memset(l, 0, sizeof(*l));
	l->n_le = (uint32_t)n;
	if (n)
		memcpy(l->le, le, n * sizeof(*le));
	l->le[n] = UINT64_MAX;
	uint32_t p = 0;
	for (uint32_t i = 0; i < SM_HIST_BUCKETS; i++) {
		uint64_t low = sm_hist_bucket_low(i);
		while (l->le[p] < low)
			p++; /* terminates: le[n] = UINT64_MAX */
		l->first_le[i] = (uint8_t)p;
	}
	return SM_OK;
}

void sm_hist_init(struct sm_hist *h, const struct sm_hist_layout *layout)
{
	memset(h, 0, sizeof(*h));
	h->layout = layout;
}

static uint64_t ld(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

int sm_hist_merge(struct sm_hist *dst, const struct sm_hist *src)
{
	if (dst->layout != src->layout)
		return SM_ERR_INVALID;
	for (uint32_t i = 0; i < SM_HIST_BUCKETS; i++) {
		uint64_t n = ld(&src->counts[i]);
		if (n)
			sm_hist_bump_(&dst->counts[i], n);
	}
	for (uint32_t p = 0; p <= dst->layout->n_le; p++)
		sm_hist_bump_(&dst->le_counts[p], ld(&src->le_counts[p]));
	sm_hist_bump_(&dst->sum, ld(&src->sum));
	uint64_t m = ld(&src->max);
	if (m > ld(&dst->max))
		atomic_store_explicit(&dst->max, m, memory_order_relaxed);
	return SM_OK;
}

uint64_t sm_hist_count(const struct sm_hist *h)
{
	uint64_t n = 0;
	for (uint32_t p = 0; p <= h->layout->n_le; p++)
		n += ld(&h->le_counts[p]);
	return n;
}

uint64_t sm_hist_cumulative(const struct sm_hist *h, uint64_t *out)
{
	uint64_t n = 0;
	for (uint32_t p = 0; p <= h->layout->n_le; p++) {
		n += ld(&h->le_counts[p]);
		out[p] = n;
	}
	return n;
}

uint64_t sm_hist_percentile(const struct sm_hist *h, double q)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < SM_HIST_BUCKETS; i++)
		total += ld(&h->counts[i]);
	if (total == 0)
		return 0;
	if (!(q >= 0.0)) /* also NaN */
		q = 0.0;
	if (q > 100.0)
		q = 100.0;
	double want = ceil(q / 100.0 * (double)total);
	uint64_t rank = want < 1.0 ? 1 : (uint64_t)want;
	if (rank > total)
		rank = total;
	uint64_t seen = 0, max = ld(&h->max);
	for (uint32_t i = 0; i < SM_HIST_BUCKETS; i++) {
		seen += ld(&h->counts[i]);
		if (seen >= rank) {
			uint64_t hi = sm_hist_bucket_high(i);
			return hi < max ? hi : max;
		}
	}
	return max;
}
