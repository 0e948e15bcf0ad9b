/*
 * cache.c - the bounded caches of the fetch path (verified tokens,
 * computed projections): direct-mapped slots keyed by a 32-byte digest.
 *
 * Locks are sharded (no lock shared by all threads), memory is bounded by
 * the slot count, a newer entry simply replaces the one in its slot, and
 * entries are reference counted so that replacing one never frees it
 * under a request still using it.  What an entry means, and whether it may
 * be used, is the caller's business.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

#define SHARDS 64

struct api_cache {
	pthread_mutex_t lock[SHARDS];
	struct api_cached **slot;
	size_t n;
};

int
api_cache_new(size_t slots, struct api_cache **out)
{
	struct api_cache *c;

	*out = NULL;
	if (slots < SHARDS)
		slots = SHARDS;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return API_E_NOMEM;
	/* An array of pointers: sizeof(*c->slot) is meant. */
	if ((c->slot = calloc(slots, sizeof(*c->slot))) == NULL) { /* NOLINT(bugprone-sizeof-expression) */
		free(c);
		return API_E_NOMEM;
	}
	c->n = slots;
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_init(&c->lock[i], NULL);
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
	for (size_t i = 0; i < c->n; i++)
		api_cached_release(c->slot[i]);
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&c->lock[i]);
	free(c->slot);
	free(c);
}

static size_t
slot_of(const struct api_cache *c, const uint8_t key[API_CACHE_KEY])
{
	uint64_t v;

	memcpy(&v, key, sizeof(v));
	return (size_t)(v % c->n);
}

struct api_cached *
api_cache_get(struct api_cache *c, const uint8_t key[API_CACHE_KEY])
{
	size_t i = slot_of(c, key);
	pthread_mutex_t *l = &c->lock[i % SHARDS];
	struct api_cached *e = NULL;

	pthread_mutex_lock(l);
	if (c->slot[i] != NULL &&
	    memcmp(c->slot[i]->key, key, API_CACHE_KEY) == 0) {
		e = c->slot[i];
		atomic_fetch_add(&e->refs, 1);
	}
	pthread_mutex_unlock(l);
	return e;
}

void
api_cache_insert(struct api_cache *c, struct api_cached *e)
{
	size_t i = slot_of(c, e->key);
	pthread_mutex_t *l = &c->lock[i % SHARDS];
	struct api_cached *old;

	atomic_fetch_add(&e->refs, 1); /* the cache's own reference */
	pthread_mutex_lock(l);
	old = c->slot[i];
	c->slot[i] = e;
	pthread_mutex_unlock(l);
	api_cached_release(old);
}
