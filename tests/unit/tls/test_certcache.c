#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "tls/certcache.h"

#define T0  1700000000LL
#define FAR (T0 + 7 * 24 * 3600)

static int released[64];

static void release(void *user, void *arg)
{
	(void)arg;
	released[(int)(intptr_t)user]++;
}

static void put(struct sm_certcache *c, const char *name, bool ip, uint8_t tag, int64_t na)
{
	uint8_t der[8] = {tag, tag, tag};
	cr_assert_eq(sm_certcache_put(c, name, strlen(name), ip, der, 3, na, NULL), SM_OK);
}

static bool has(struct sm_certcache *c, const char *name, bool ip, uint8_t *tag)
{
	struct sm_certcache_entry *e = sm_certcache_get(c, name, strlen(name), ip, T0);
	if (e && tag)
		*tag = e->der[0];
	return e != NULL;
}

Test(certcache, lru_order_eviction_and_counters)
{
	struct sm_certcache c;
	cr_assert_eq(sm_certcache_init(&c, 3, SM_CERTCACHE_DER_MAX, NULL, NULL), SM_OK);
	put(&c, "a.test", false, 1, FAR);
	put(&c, "b.test", false, 2, FAR);
	put(&c, "c.test", false, 3, FAR);
	uint8_t tag;
	cr_assert(has(&c, "a.test", false, &tag)); /* a becomes most recent */
	cr_assert_eq(tag, 1);
	put(&c, "d.test", false, 4, FAR); /* evicts b, the least recent */
	cr_assert_eq(c.stats.evictions, 1);
	cr_assert_not(has(&c, "b.test", false, NULL));
	cr_assert(has(&c, "c.test", false, NULL));
	cr_assert(has(&c, "d.test", false, NULL));
	cr_assert(has(&c, "a.test", false, NULL));
	put(&c, "e.test", false, 5, FAR); /* now c is least recent */
	cr_assert_not(has(&c, "c.test", false, NULL));
	cr_assert_eq(c.count, 3);
	cr_assert_eq(c.stats.hits, 4);
	cr_assert_eq(c.stats.misses, 2);
	cr_assert_eq(c.stats.evictions, 2);
	cr_assert_eq(c.stats.inserts, 5);
	cr_assert_float_eq(sm_certcache_hit_rate(&c), 4.0 / 6.0, 1e-9);

	/* replacing a key is neither an eviction nor a growth */
	put(&c, "a.test", false, 9, FAR);
	cr_assert_eq(c.count, 3);
	cr_assert_eq(c.stats.evictions, 2);
	cr_assert(has(&c, "a.test", false, &tag));
	cr_assert_eq(tag, 9);
	sm_certcache_free(&c);
}

Test(certcache, keys_are_name_and_kind_case_insensitive)
{
	struct sm_certcache c;
	cr_assert_eq(sm_certcache_init(&c, 4, SM_CERTCACHE_DER_MAX, NULL, NULL), SM_OK);
	put(&c, "API.Example.TEST", false, 1, FAR);
	put(&c, "10.0.0.1", true, 2, FAR);
	uint8_t tag;
	cr_assert(has(&c, "api.example.test", false, &tag));
	cr_assert_eq(tag, 1);
	cr_assert_not(has(&c, "api.example.test", true, NULL));
	cr_assert(has(&c, "10.0.0.1", true, &tag));
	cr_assert_eq(tag, 2);
	cr_assert_not(has(&c, "10.0.0.1", false, NULL));
	cr_assert_not(has(&c, "api.example.tes", false, NULL));
	char big[SM_CERTCACHE_NAME_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	uint8_t der[4] = {0};
	cr_assert_eq(sm_certcache_put(&c, big, strlen(big), false, der, 4, FAR, NULL),
	             SM_ERR_LIMIT);
	cr_assert_not(has(&c, big, false, NULL));
	static uint8_t huge[SM_CERTCACHE_DER_MAX + 1];
	cr_assert_eq(sm_certcache_put(&c, "x", 1, false, huge, sizeof(huge), FAR, NULL),
	             SM_ERR_LIMIT);
	sm_certcache_free(&c);
}

Test(certcache, near_expiry_is_a_miss_and_releases)
{
	memset(released, 0, sizeof(released));
	struct sm_certcache c;
	cr_assert_eq(sm_certcache_init(&c, 2, SM_CERTCACHE_DER_MAX, release, NULL), SM_OK);
	struct sm_certcache_entry *e;
	uint8_t der[4] = {0};
	cr_assert_eq(sm_certcache_put(&c, "old.test", 8, false, der, 4,
	                              T0 + SM_CERTCACHE_RENEW_MARGIN, &e),
	             SM_OK);
	e->user = (void *)(intptr_t)1;
	cr_assert_eq(sm_certcache_put(&c, "new.test", 8, false, der, 4,
	                              T0 + SM_CERTCACHE_RENEW_MARGIN + 1, &e),
	             SM_OK);
	e->user = (void *)(intptr_t)2;
	cr_assert_not(has(&c, "old.test", false, NULL));
	cr_assert_eq(c.stats.expired, 1);
	cr_assert_eq(released[1], 1);
	cr_assert(has(&c, "new.test", false, NULL));
	cr_assert_eq(c.count, 1);
	/* eviction releases too */
	cr_assert_eq(sm_certcache_put(&c, "x.test", 6, false, der, 4, FAR, &e), SM_OK);
	e->user = (void *)(intptr_t)3;
	cr_assert_eq(sm_certcache_put(&c, "y.test", 6, false, der, 4, FAR, &e), SM_OK);
	e->user = (void *)(intptr_t)4;
	cr_assert_eq(released[2], 1, "new.test was least recent");
	sm_certcache_free(&c);
	cr_assert_eq(released[3], 1);
	cr_assert_eq(released[4], 1);
	cr_assert_eq(sm_certcache_init(&c, 0, SM_CERTCACHE_DER_MAX, NULL, NULL), SM_ERR_INVALID);
}

/* Seeded random operations against a plain reference model. */
Test(certcache, matches_a_reference_lru)
{
	enum { CAP = 8, KEYS = 20, OPS = 20000 };
	struct sm_certcache c;
	cr_assert_eq(sm_certcache_init(&c, CAP, SM_CERTCACHE_DER_MAX, NULL, NULL), SM_OK);
	int64_t stamp[KEYS] = {0}; /* 0: absent; else last-use clock */
	int64_t clock = 0;
	uint64_t hits = 0, misses = 0, evictions = 0;
	srand(4242);
	for (int op = 0; op < OPS; op++) {
		int k = rand() % KEYS;
		char name[16];
		snprintf(name, sizeof(name), "k%d.test", k);
		clock++;
		if (rand() % 3 == 0) {
			int present = 0, lru = -1;
			for (int i = 0; i < KEYS; i++) {
				if (stamp[i]) {
					present++;
					if (lru < 0 || stamp[i] < stamp[lru])
						lru = i;
				}
			}
			if (!stamp[k] && present == CAP) {
				stamp[lru] = 0;
				evictions++;
			}
			stamp[k] = clock;
			put(&c, name, false, (uint8_t)k, FAR);
		} else {
			uint8_t tag = 0;
			bool got = has(&c, name, false, &tag);
			cr_assert_eq(got, stamp[k] != 0, "op %d key %d", op, k);
			if (got) {
				cr_assert_eq(tag, k);
				stamp[k] = clock;
				hits++;
			} else {
				misses++;
			}
		}
	}
	cr_assert_eq(c.stats.hits, hits);
	cr_assert_eq(c.stats.misses, misses);
	cr_assert_eq(c.stats.evictions, evictions);
	cr_assert_leq(c.count, CAP);
	sm_certcache_free(&c);
}
