/* Log-linear histogram: bucket geometry, exact `le` export, percentiles
 * within the relative error bound, merge. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "base/result.h"
#include "telemetry/hist.h"

static const uint64_t lat_le[] = {
        50000,      100000,     250000,      500000,      1000000,     2500000,   5000000,
        10000000,   25000000,   50000000,    100000000,   250000000,   500000000, 1000000000,
        2500000000, 5000000000, 10000000000, 30000000000, 60000000000,
};
#define N_LAT (sizeof(lat_le) / sizeof(lat_le[0]))

static struct sm_hist *new_hist(const struct sm_hist_layout *l)
{
	struct sm_hist *h = malloc(sizeof(*h));
	cr_assert(h);
	sm_hist_init(h, l);
	return h;
}

Test(hist, bucket_geometry_is_contiguous_and_bounded)
{
	cr_assert_eq(SM_HIST_BUCKETS, 2496);
	cr_assert_eq(sm_hist_bucket_low(0), 0);
	for (uint32_t i = 0; i + 1 < SM_HIST_BUCKETS; i++) {
		uint64_t lo = sm_hist_bucket_low(i), hi = sm_hist_bucket_high(i);
		cr_assert_eq(sm_hist_bucket_low(i + 1), hi + 1, "bucket %u", i);
		cr_assert_eq(sm_hist_index(lo), i, "low of bucket %u", i);
		cr_assert_eq(sm_hist_index(hi), i, "high of bucket %u", i);
		/* width <= low / 64 above the linear range: the relative error bound */
		if (i >= SM_HIST_LINEAR)
			cr_assert_leq((hi - lo + 1) * SM_HIST_SUB, lo, "bucket %u too wide", i);
		else
			cr_assert_eq(lo, hi);
	}
	cr_assert_eq(sm_hist_bucket_high(SM_HIST_BUCKETS - 1), UINT64_MAX);
	cr_assert_eq(sm_hist_index(UINT64_MAX), SM_HIST_BUCKETS - 1);
	cr_assert_eq(sm_hist_index(1ull << SM_HIST_MAX_BITS), SM_HIST_BUCKETS - 1);
	cr_assert_eq(sm_hist_index((1ull << SM_HIST_MAX_BITS) - 1), SM_HIST_BUCKETS - 1);
}

Test(hist, index_table)
{
	static const struct {
		uint64_t v;
		uint32_t idx;
	} cases[] = {
	        {0, 0},     {1, 1},     {127, 127},  {128, 128},   {129, 128},
	        {130, 129}, {255, 191}, {256, 192},  {259, 192},   {260, 193},
	        {511, 255}, {512, 256}, {1000, 317}, {50000, 673}, {60000000000ull, 1967},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		cr_expect_eq(sm_hist_index(cases[k].v), cases[k].idx, "v=%llu got %u want %u",
		             (unsigned long long)cases[k].v, sm_hist_index(cases[k].v),
		             cases[k].idx);
}

Test(hist, layout_rejects_bad_bounds)
{
	struct sm_hist_layout *l = malloc(sizeof(*l));
	uint64_t dup[] = {10, 10};
	uint64_t down[] = {20, 10};
	uint64_t same_bucket[] = {1000000, 1000001}; /* one bucket is 8192 wide there */
	uint64_t too_big[] = {1ull << SM_HIST_MAX_BITS};
	uint64_t many[SM_HIST_MAX_LE + 1];
	for (int k = 0; k <= SM_HIST_MAX_LE; k++)
		many[k] = (uint64_t)k;
	cr_expect_eq(sm_hist_layout_init(l, dup, 2), SM_ERR_INVALID);
	cr_expect_eq(sm_hist_layout_init(l, down, 2), SM_ERR_INVALID);
	cr_expect_eq(sm_hist_layout_init(l, same_bucket, 2), SM_ERR_INVALID);
	cr_expect_eq(sm_hist_layout_init(l, too_big, 1), SM_ERR_INVALID);
	cr_expect_eq(sm_hist_layout_init(l, many, SM_HIST_MAX_LE + 1), SM_ERR_INVALID);
	cr_expect_eq(sm_hist_layout_init(l, many, SM_HIST_MAX_LE), SM_OK);
	cr_expect_eq(sm_hist_layout_init(l, lat_le, N_LAT), SM_OK);
	cr_expect_eq(sm_hist_layout_init(l, NULL, 0), SM_OK);
	free(l);
}

/* Values on and around every bound land exactly: v <= le counts, le+1 not. */
Test(hist, le_buckets_are_exact_at_every_bound)
{
	struct sm_hist_layout *l = malloc(sizeof(*l));
	cr_assert_eq(sm_hist_layout_init(l, lat_le, N_LAT), SM_OK);
	for (size_t k = 0; k < N_LAT; k++) {
		uint64_t b = lat_le[k];
		uint64_t probes[] = {b - 1, b, b + 1};
		for (int j = 0; j < 3; j++) {
			struct sm_hist *h = new_hist(l);
			sm_hist_record(h, probes[j]);
			uint64_t cum[SM_HIST_MAX_LE + 1];
			cr_assert_eq(sm_hist_cumulative(h, cum), 1);
			for (size_t m = 0; m < N_LAT; m++) {
				uint64_t want = probes[j] <= lat_le[m];
				cr_assert_eq(cum[m], want, "v=%llu le=%llu got %llu",
				             (unsigned long long)probes[j],
				             (unsigned long long)lat_le[m],
				             (unsigned long long)cum[m]);
			}
			cr_assert_eq(cum[N_LAT], 1);
			cr_assert_eq(h->sum, probes[j]);
			free(h);
		}
	}
	free(l);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Random log-uniform values: exact count, sum, cumulative `le` counts against
 * a brute-force count, and percentiles within [true, true * (1 + 1/64)]. */
Test(hist, random_values_exact_export_and_percentile_bound)
{
	struct sm_hist_layout *l = malloc(sizeof(*l));
	cr_assert_eq(sm_hist_layout_init(l, lat_le, N_LAT), SM_OK);
	struct sm_hist *h = new_hist(l);
	enum { N = 20000 };
	uint64_t *vals = malloc(N * sizeof(*vals));
	uint64_t seed = 0x9e3779b97f4a7c15ull, sum = 0;
	for (int k = 0; k < N; k++) {
		unsigned bits = (unsigned)(rnd(&seed) % 47); /* up to 2^46: some clamp */
		uint64_t v = bits ? rnd(&seed) >> (64 - bits) : 0;
		vals[k] = v;
		sum += v;
		sm_hist_record(h, v);
	}
	cr_assert_eq(sm_hist_count(h), N);
	cr_assert_eq(h->sum, sum);
	uint64_t cum[SM_HIST_MAX_LE + 1];
	sm_hist_cumulative(h, cum);
	for (size_t m = 0; m < N_LAT; m++) {
		uint64_t want = 0;
		for (int k = 0; k < N; k++)
			want += vals[k] <= lat_le[m];
		cr_assert_eq(cum[m], want, "le=%llu", (unsigned long long)lat_le[m]);
	}
	qsort(vals, N, sizeof(*vals), cmp_u64);
	cr_assert_eq(h->max, vals[N - 1]);
	static const double qs[] = {0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};
	for (size_t j = 0; j < sizeof(qs) / sizeof(qs[0]); j++) {
		uint64_t rank = (uint64_t)ceil(qs[j] / 100.0 * N);
		if (rank < 1)
			rank = 1;
		uint64_t truth = vals[rank - 1];
		uint64_t got = sm_hist_percentile(h, qs[j]);
		cr_assert_geq(got, truth, "q=%g", qs[j]);
		if (truth < (1ull << SM_HIST_MAX_BITS))
			cr_assert_leq(got - truth, truth / SM_HIST_SUB, "q=%g got %llu truth %llu",
			              qs[j], (unsigned long long)got, (unsigned long long)truth);
	}
	cr_assert_eq(sm_hist_percentile(h, 100), vals[N - 1]);
	free(vals);
	free(h);
	free(l);
}

Test(hist, percentile_table_small)
{
	struct sm_hist_layout *l = malloc(sizeof(*l));
	cr_assert_eq(sm_hist_layout_init(l, NULL, 0), SM_OK);
	struct sm_hist *h = new_hist(l);
	cr_assert_eq(sm_hist_percentile(h, 50), 0);
	for (uint64_t v = 1; v <= 100; v++)
		sm_hist_record(h, v); /* linear range: exact */
	static const struct {
		double q;
		uint64_t want;
	} t[] = {{0, 1}, {1, 1}, {50, 50}, {50.5, 51}, {99, 99}, {100, 100}, {250, 100}};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++)
		cr_expect_eq(sm_hist_percentile(h, t[k].q), t[k].want, "q=%g", t[k].q);
	sm_hist_record(h, 1000); /* bucket [1000, 1007], capped at max */
	cr_expect_eq(sm_hist_percentile(h, 100), 1000);
	sm_hist_record(h, 1001);
	cr_expect_eq(sm_hist_percentile(h, 100), 1001);
	free(h);
	free(l);
}

Test(hist, merge_equals_recording_everything_in_one)
{
	struct sm_hist_layout *l = malloc(sizeof(*l)), *other = malloc(sizeof(*other));
	cr_assert_eq(sm_hist_layout_init(l, lat_le, N_LAT), SM_OK);
	cr_assert_eq(sm_hist_layout_init(other, lat_le, 3), SM_OK);
	struct sm_hist *parts[3], *all = new_hist(l), *merged = new_hist(l);
	for (int k = 0; k < 3; k++)
		parts[k] = new_hist(l);
	uint64_t seed = 12345;
	for (int k = 0; k < 9000; k++) {
		uint64_t v = rnd(&seed) >> (rnd(&seed) % 40 + 24);
		sm_hist_record(parts[k % 3], v);
		sm_hist_record(all, v);
	}
	for (int k = 0; k < 3; k++)
		cr_assert_eq(sm_hist_merge(merged, parts[k]), SM_OK);
	cr_assert_eq(memcmp(merged->counts, all->counts, sizeof(all->counts)), 0);
	cr_assert_eq(memcmp(merged->le_counts, all->le_counts, sizeof(all->le_counts)), 0);
	cr_assert_eq(merged->sum, all->sum);
	cr_assert_eq(merged->max, all->max);
	cr_assert_eq(sm_hist_count(merged), 9000);
	for (double q = 0; q <= 100; q += 12.5)
		cr_assert_eq(sm_hist_percentile(merged, q), sm_hist_percentile(all, q));
	struct sm_hist *foreign = new_hist(other);
	sm_hist_record(foreign, 7);
	cr_assert_eq(sm_hist_merge(merged, foreign), SM_ERR_INVALID);
	cr_assert_eq(sm_hist_count(merged), 9000);
	for (int k = 0; k < 3; k++)
		free(parts[k]);
	free(foreign);
	free(all);
	free(merged);
	free(l);
	free(other);
}
