/* bench/bhist: bucket layout, precision, quantiles, merge. The module is
 * part of the soth-bench executable, not the soth library: compile it in. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "bench/bhist.c"

struct icase {
	uint64_t v;
	unsigned idx;
	uint64_t low, high;
};

static const struct icase icases[] = {
        {0, 0, 0, 0},
        {1, 1, 1, 1},
        {255, 255, 255, 255},
        {256, 256, 256, 257},
        {257, 256, 256, 257},
        {258, 257, 258, 259},
        {511, 383, 510, 511},
        {512, 384, 512, 515},
        {1000, 506, 1000, 1003},
        {1u << 20, 256 + 12 * 128, 1u << 20, (1u << 20) + (1u << 13) - 1},
        {(1ull << 40) - 1, SM_BHIST_BUCKETS - 1, 0xFFull << 32, UINT64_MAX},
        {1ull << 40, SM_BHIST_BUCKETS - 1, 0xFFull << 32, UINT64_MAX},
        {UINT64_MAX, SM_BHIST_BUCKETS - 1, 0xFFull << 32, UINT64_MAX},
};

Test(bhist, index_table)
{
	for (size_t i = 0; i < sizeof(icases) / sizeof(icases[0]); i++) {
		const struct icase *c = &icases[i];
		unsigned idx = sm_bhist_index(c->v);
		cr_expect_eq(idx, c->idx, "v=%llu idx %u want %u", (unsigned long long)c->v, idx,
		             c->idx);
		cr_expect_eq(sm_bhist_bucket_low(idx), c->low, "v=%llu low",
		             (unsigned long long)c->v);
		cr_expect_eq(sm_bhist_bucket_high(idx), c->high, "v=%llu high",
		             (unsigned long long)c->v);
	}
}

Test(bhist, buckets_contiguous_and_precise)
{
	/* every bucket starts right after the previous one ends, and no bucket
	 * is wider than 1/128 of its lowest value (0.8 % precision) */
	for (unsigned i = 0; i + 2 < SM_BHIST_BUCKETS; i++) {
		uint64_t lo = sm_bhist_bucket_low(i), hi = sm_bhist_bucket_high(i);
		cr_assert_eq(hi + 1, sm_bhist_bucket_low(i + 1), "bucket %u", i);
		cr_assert_eq(sm_bhist_index(lo), i);
		cr_assert_eq(sm_bhist_index(hi), i);
		if (i >= SM_BHIST_SUB)
			cr_assert(hi - lo + 1 <= lo / 128, "bucket %u too wide", i);
	}
}

Test(bhist, values_fall_in_their_bucket)
{
	uint64_t x = 0x9e3779b97f4a7c15ull; /* fixed-seed xorshift */
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t v = x >> (x & 63);
		unsigned idx = sm_bhist_index(v);
		cr_assert_lt(idx, SM_BHIST_BUCKETS);
		cr_assert(sm_bhist_bucket_low(idx) <= v && v <= sm_bhist_bucket_high(idx), "v=%llu",
		          (unsigned long long)v);
	}
}

static struct sm_bhist h1, h2, h3;

Test(bhist, empty)
{
	sm_bhist_init(&h1);
	cr_expect_eq(h1.count, 0);
	cr_expect_eq(sm_bhist_quantile(&h1, 0.5), 0);
	cr_expect_eq(sm_bhist_quantile(&h1, 1.0), 0);
}

Test(bhist, single_value_is_exact_at_every_quantile)
{
	sm_bhist_init(&h1);
	sm_bhist_record(&h1, 12345);
	double qs[] = {0, 0.5, 0.9, 0.99, 0.999, 1};
	for (size_t i = 0; i < 6; i++)
		cr_expect_eq(sm_bhist_quantile(&h1, qs[i]), 12345, "q=%g", qs[i]);
	cr_expect_eq(h1.min, 12345);
	cr_expect_eq(h1.max, 12345);
	cr_expect_eq(h1.sum, 12345);
}

struct qcase {
	double q;
	uint64_t want; /* bucket upper bound of the exact answer */
};

Test(bhist, uniform_1_to_10000)
{
	sm_bhist_init(&h1);
	for (uint64_t v = 1; v <= 10000; v++)
		sm_bhist_record(&h1, v);
	/* exact quantile k = ceil(q * 10000); reported: its bucket's high end */
	static const struct qcase qc[] = {
	        {0.0, 1},    {0.001, 10},  {0.01, 100},    {0.5, 5023},
	        {0.9, 9023}, {0.99, 9919}, {0.999, 10000}, {1.0, 10000},
	};
	for (size_t i = 0; i < sizeof(qc) / sizeof(qc[0]); i++) {
		uint64_t got = sm_bhist_quantile(&h1, qc[i].q);
		uint64_t exact = (uint64_t)(qc[i].q * 10000 + 0.999999);
		if (exact == 0)
			exact = 1;
		cr_expect_eq(got, qc[i].want, "q=%g got %llu want %llu", qc[i].q,
		             (unsigned long long)got, (unsigned long long)qc[i].want);
		cr_expect(got >= exact && got - exact <= exact / 128 + 1, "q=%g precision",
		          qc[i].q);
	}
	cr_expect_eq(h1.count, 10000);
	cr_expect_eq(h1.sum, 50005000);
}

Test(bhist, huge_values_clamp_to_last_bucket_but_keep_max)
{
	sm_bhist_init(&h1);
	sm_bhist_record(&h1, 5);
	sm_bhist_record(&h1, 1ull << 50);
	cr_expect_eq(h1.b[SM_BHIST_BUCKETS - 1], 1);
	cr_expect_eq(sm_bhist_quantile(&h1, 1.0), 1ull << 50);
	cr_expect_eq(sm_bhist_quantile(&h1, 0.99), 1ull << 50); /* clamped to max */
	cr_expect_eq(sm_bhist_quantile(&h1, 0.5), 5);
}

Test(bhist, merge_equals_recording_everything)
{
	sm_bhist_init(&h1);
	sm_bhist_init(&h2);
	sm_bhist_init(&h3);
	uint64_t x = 42;
	for (int i = 0; i < 50000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t v = (x >> 33) % 2000000;
		sm_bhist_record(i & 1 ? &h1 : &h2, v);
		sm_bhist_record(&h3, v);
	}
	sm_bhist_merge(&h1, &h2);
	cr_expect_eq(h1.count, h3.count);
	cr_expect_eq(h1.sum, h3.sum);
	cr_expect_eq(h1.min, h3.min);
	cr_expect_eq(h1.max, h3.max);
	cr_expect_eq(memcmp(h1.b, h3.b, sizeof(h1.b)), 0);
	cr_expect_eq(sm_bhist_quantile(&h1, 0.99), sm_bhist_quantile(&h3, 0.99));
}
