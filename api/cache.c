/*
 * cache.c - the bounded caches of the fetch path (verified tokens,
 * computed projections), keyed by a 32-byte digest.
 *
 * Set-associative: a key maps to one set of WAYS entries and the least
 * recently used entry of a full set makes room.  A direct-mapped table
 * loses an entry whenever two live keys share a slot, which with 10,000
 * live tokens in 65,536 slots is one lookup in seven; with eight ways the
 * same table keeps every one of them.
 *
 * Locks are sharded by set (no lock shared by all threads), memory is
 * bounded by the entry count, and entries are reference counted so that
 * evicting one never frees it under a request still using it.  What an
 * entry means, and whether it may be used, is the caller's business.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

#define SHARDS 64
#define WAYS ((size_t)8)

struct shard {
	pthread_mutex_t lock;
	uint64_t clock; /* ticks at every lookup and insert in the shard */
	/* Padding: two threads' shards seldom share a cache line. */
	char pad[64 - (sizeof(pthread_mutex_t) + sizeof(uint64_t)) % 64];
};

struct way {
	struct api_cached *e;
	uint64_t used; /* the shard's clock at the last hit or insert */
};

struct api_cache {
	struct shard shard[SHARDS];
	struct way *way; /* nsets * WAYS */
	size_t nsets;
};

int
api_cache_new(size_t entries, struct api_cache **out)
{
	struct api_cache *c;

	*out = NULL;
	if (entries < SHARDS * WAYS)
		entries = SHARDS * WAYS;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return API_E_NOMEM;
	c->nsets = entries / WAYS;
	if ((c->way = calloc(c->nsets * WAYS, sizeof(*c->way))) == NULL) {
		free(c);
		return API_E_NOMEM;
	}
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_init(&c->shard[i].lock, NULL);
	*out = c;
	return 0;
}

void
api_cached_release(struct api_cached *e)
{
	if (e != NULL && atomic_fetch_sub(&e->refs, 1) == 1)
		e->destroy(e);
}

void
api_cache_free(struct api_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nsets * WAYS; i++)
		api_cached_release(c->way[i].e);
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&c->shard[i].lock);
	free(c->way);
	free(c);
}

/* The key's set (its first WAYS entries) and shard. */
static struct way *
set_of(const struct api_cache *c, const uint8_t key[API_CACHE_KEY],
    struct shard **sh)
{
	uint64_t v;
	size_t s;

	/* The key is a digest: any eight of its bytes are uniform. */
	memcpy(&v, key, sizeof(v));
	s = (size_t)(v % c->nsets);
	*sh = (struct shard *)(uintptr_t)&c->shard[s % SHARDS];
	return &c->way[s * WAYS];
}

struct api_cached *
api_cache_get(struct api_cache *c, const uint8_t key[API_CACHE_KEY])
{
	struct shard *sh;
	struct way *set = set_of(c, key, &sh);
	struct api_cached *e = NULL;

	pthread_mutex_lock(&sh->lock);
	for (size_t i = 0; i < WAYS; i++)
		if (set[i].e != NULL &&
		    memcmp(set[i].e->key, key, API_CACHE_KEY) == 0) {
			e = set[i].e;
			set[i].used = ++sh->clock;
			atomic_fetch_add(&e->refs, 1);
			break;
		}
	pthread_mutex_unlock(&sh->lock);
	return e;
}

void
api_cache_insert(struct api_cache *c, struct api_cached *e)
{
	struct shard *sh;
	struct way *set = set_of(c, e->key, &sh);
	struct api_cached *old;
	size_t victim = 0;

	atomic_fetch_add(&e->refs, 1); /* the cache's own reference */
	pthread_mutex_lock(&sh->lock);
	/* The same key (two threads computed it at once), else an empty
	 * way, else the least recently used. */
	for (size_t i = 0; i < WAYS; i++) {
		if (set[i].e != NULL &&
		    memcmp(set[i].e->key, e->key, API_CACHE_KEY) == 0) {
			victim = i;
			break;
		}
		if (set[victim].e != NULL &&
		    (set[i].e == NULL || set[i].used < set[victim].used))
			victim = i;
	}
	old = set[victim].e;
	set[victim].e = e;
	set[victim].used = ++sh->clock;
	pthread_mutex_unlock(&sh->lock);
	api_cached_release(old);
}
