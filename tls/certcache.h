/* Per-reactor LRU cache of forged leaf certificates.
 *
 * Key: (name, is_ip); DNS names compare case-insensitively. Value: the
 * leaf DER, its notAfter, and an opaque pointer for the TLS objects built
 * from it (released through a callback on eviction/expiry/free).
 *
 * Fixed capacity set at init: all memory (entries, DER slots, hash
 * buckets) is allocated once there, nothing afterwards. Inserting into a
 * full cache evicts the least recently used entry. A lookup that finds an
 * entry within SM_CERTCACHE_RENEW_MARGIN of its notAfter drops it and
 * reports a miss (counted as expired), so the caller forges a fresh leaf
 * well before clients would see an expired one.
 *
 * Not thread-safe: one cache per reactor, counters written by the owner. */
#ifndef SM_TLS_CERTCACHE_H
#define SM_TLS_CERTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_CERTCACHE_NAME_MAX     255u
#define SM_CERTCACHE_DER_MAX      1280u         /* = SM_FORGE_DER_MAX: the usual slot */
#define SM_CERTCACHE_RENEW_MARGIN (24LL * 3600) /* re-forge a day early */
#define SM_CERTCACHE_NONE         UINT32_MAX

struct sm_certcache_entry {
	char name[SM_CERTCACHE_NAME_MAX + 1];
	uint16_t name_len;
	bool is_ip;
	bool used;
	uint8_t *der; /* der_max-byte slot owned by the cache */
	size_t der_len;
	int64_t not_after;
	void *user;          /* caller's TLS objects for this leaf; see release */
	uint32_t prev, next; /* LRU list: prev toward most recent */
	uint32_t hnext;      /* hash chain */
	uint32_t hash;
};

struct sm_certcache_stats {
	uint64_t hits;
	uint64_t misses;  /* includes expired */
	uint64_t expired; /* entries dropped near their notAfter */
	uint64_t inserts;
	uint64_t evictions; /* LRU entries pushed out by an insert */
};

struct sm_certcache {
	struct sm_certcache_entry *entries;
	uint8_t *der_slab;
	uint32_t *buckets;
	uint32_t nbuckets; /* power of two */
	uint32_t capacity;
	uint32_t count;
	size_t der_max;    /* bytes per DER slot */
	uint32_t mru, lru; /* list ends, SM_CERTCACHE_NONE when empty */
	uint32_t free_head;
	void (*release)(void *user, void *arg);
	void *release_arg;
	struct sm_certcache_stats stats;
};

/* Allocates room for capacity (>= 1) leaves of at most der_max bytes each
 * (the forge's f->der_max; SM_CERTCACHE_DER_MAX with the built-in CA).
 * release (may be NULL) is called with an entry's user pointer when the
 * entry leaves the cache. */
int sm_certcache_init(struct sm_certcache *c, uint32_t capacity, size_t der_max,
                      void (*release)(void *user, void *arg), void *release_arg);
void sm_certcache_free(struct sm_certcache *c);

/* Looks up (name, is_ip) at time now. A hit becomes most recent. Returns
 * NULL on a miss. The entry stays valid until the next put or free. */
struct sm_certcache_entry *sm_certcache_get(struct sm_certcache *c, const char *name, size_t len,
                                            bool is_ip, int64_t now);

/* Inserts (or replaces) the leaf for (name, is_ip) as most recent,
 * evicting the least recent entry when full. SM_ERR_LIMIT when the name or
 * DER is too large. *out (may be NULL) gets the entry. */
int sm_certcache_put(struct sm_certcache *c, const char *name, size_t len, bool is_ip,
                     const uint8_t *der, size_t der_len, int64_t not_after,
                     struct sm_certcache_entry **out);

/* Hit rate in [0, 1] (0 when nothing was looked up). */
double sm_certcache_hit_rate(const struct sm_certcache *c);

#endif
