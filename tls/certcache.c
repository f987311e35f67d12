#include "tls/certcache.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/result.h"

#define NONE SM_CERTCACHE_NONE

static uint32_t hash_key(const char *name, size_t len, bool is_ip)
{
	uint32_t h = 2166136261u; /* FNV-1a over the lower-cased name */
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch + 32);
		h = (h ^ ch) * 16777619u;
	}
	return (h ^ (is_ip ? 0x9e3779b9u : 0)) * 16777619u;
}

int sm_certcache_init(struct sm_certcache *c, uint32_t capacity, size_t der_max,
                      void (*release)(void *user, void *arg), void *release_arg)
{
	memset(c, 0, sizeof(*c));
	if (capacity == 0 || capacity > (1u << 24) || der_max == 0 || der_max > 65536)
		return SM_ERR_INVALID;
	c->der_max = der_max;
	uint32_t nb = 1;
	while (nb < capacity * 2)
		nb <<= 1;
	c->entries = calloc(capacity, sizeof(*c->entries));
	c->der_slab = malloc((size_t)capacity * der_max);
	c->buckets = malloc((size_t)nb * sizeof(*c->buckets));
	if (!c->entries || !c->der_slab || !c->buckets) {
		sm_certcache_free(c);
		return SM_ERR_NOMEM;
	}
	c->capacity = capacity;
	c->nbuckets = nb;
	for (uint32_t i = 0; i < nb; i++)
		c->buckets[i] = NONE;
	for (uint32_t i = 0; i < capacity; i++) {
		c->entries[i].der = c->der_slab + (size_t)i * der_max;
		c->entries[i].next = i + 1 < capacity ? i + 1 : NONE; /* free list */
	}
	c->free_head = 0;
	c->mru = c->lru = NONE;
	c->release = release;
	c->release_arg = release_arg;
	return SM_OK;
}

void sm_certcache_free(struct sm_certcache *c)
{
	if (c->entries && c->release) {
		for (uint32_t i = 0; i < c->capacity; i++) {
			if (c->entries[i].used && c->entries[i].user)
				c->release(c->entries[i].user, c->release_arg);
		}
	}
	free(c->entries);
	free(c->der_slab);
	free(c->buckets);
	c->entries = NULL;
	c->der_slab = NULL;
	c->buckets = NULL;
	c->capacity = c->count = 0;
}

static void lru_unlink(struct sm_certcache *c, uint32_t i)
{
	struct sm_certcache_entry *e = &c->entries[i];
	if (e->prev != NONE)
		c->entries[e->prev].next = e->next;
	else
		c->mru = e->next;
	if (e->next != NONE)
		c->entries[e->next].prev = e->prev;
	else
		c->lru = e->prev;
	e->prev = e->next = NONE;
}

static void lru_push_front(struct sm_certcache *c, uint32_t i)
{
	struct sm_certcache_entry *e = &c->entries[i];
	e->prev = NONE;
	e->next = c->mru;
	if (c->mru != NONE)
		c->entries[c->mru].prev = i;
	c->mru = i;
	if (c->lru == NONE)
		c->lru = i;
}

static void hash_unlink(struct sm_certcache *c, uint32_t i)
{
	uint32_t *p = &c->buckets[c->entries[i].hash & (c->nbuckets - 1)];
	while (*p != NONE && *p != i)
		p = &c->entries[*p].hnext;
	if (*p == i)
		*p = c->entries[i].hnext;
}

/* Takes entry i out of the cache and back to the free list. */
static void drop(struct sm_certcache *c, uint32_t i)
{
	struct sm_certcache_entry *e = &c->entries[i];
	hash_unlink(c, i);
	lru_unlink(c, i);
	if (e->user && c->release)
		c->release(e->user, c->release_arg);
	e->user = NULL;
	e->used = false;
	e->next = c->free_head;
	c->free_head = i;
	c->count--;
}

static uint32_t find(struct sm_certcache *c, const char *name, size_t len, bool is_ip, uint32_t h)
{
	for (uint32_t i = c->buckets[h & (c->nbuckets - 1)]; i != NONE; i = c->entries[i].hnext) {
		struct sm_certcache_entry *e = &c->entries[i];
		if (e->hash == h && e->is_ip == is_ip && e->name_len == len &&
		    strncasecmp(e->name, name, len) == 0)
			return i;
	}
	return NONE;
}

struct sm_certcache_entry *sm_certcache_get(struct sm_certcache *c, const char *name, size_t len,
                                            bool is_ip, int64_t now)
{
	uint32_t h = hash_key(name, len, is_ip);
	uint32_t i = len <= SM_CERTCACHE_NAME_MAX ? find(c, name, len, is_ip, h) : NONE;
	if (i == NONE) {
		c->stats.misses++;
		return NULL;
	}
	if (now + SM_CERTCACHE_RENEW_MARGIN >= c->entries[i].not_after) {
		drop(c, i);
		c->stats.expired++;
		c->stats.misses++;
		return NULL;
	}
	lru_unlink(c, i);
	lru_push_front(c, i);
	c->stats.hits++;
	return &c->entries[i];
}

int sm_certcache_put(struct sm_certcache *c, const char *name, size_t len, bool is_ip,
                     const uint8_t *der, size_t der_len, int64_t not_after,
                     struct sm_certcache_entry **out)
{
	if (len == 0 || len > SM_CERTCACHE_NAME_MAX || der_len > c->der_max)
		return SM_ERR_LIMIT;
	uint32_t h = hash_key(name, len, is_ip);
	uint32_t i = find(c, name, len, is_ip, h);
	if (i != NONE)
		drop(c, i); /* replaced, not evicted */
	if (c->free_head == NONE) {
		drop(c, c->lru);
		c->stats.evictions++;
	}
	i = c->free_head;
	struct sm_certcache_entry *e = &c->entries[i];
	c->free_head = e->next;
	memcpy(e->name, name, len);
	e->name[len] = '\0';
	e->name_len = (uint16_t)len;
	e->is_ip = is_ip;
	e->used = true;
	memcpy(e->der, der, der_len);
	e->der_len = der_len;
	e->not_after = not_after;
	e->user = NULL;
	e->hash = h;
	e->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = i;
	lru_push_front(c, i);
	c->count++;
	c->stats.inserts++;
	if (out)
		*out = e;
	return SM_OK;
}

double sm_certcache_hit_rate(const struct sm_certcache *c)
{
	uint64_t total = c->stats.hits + c->stats.misses;
	return total ? (double)c->stats.hits / (double)total : 0.0;
}
