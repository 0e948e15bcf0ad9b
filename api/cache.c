/*
 * cache.c - the bounded caches of the fetch path (verified tokens,
 * computed projections), keyed by a 32-byte digest.
 *
 * Least recently used, per shard: a key's first bytes pick one of SHARDS
 * shards, each a hash table with its own lock, its own LRU list, a cap
 * of entries/SHARDS and, for entries of varying size, of bytes/SHARDS.
 * No lock is shared by all threads, and unlike a set-associative table,
 * any working set that fits (give or take the spread between shards)
 * stays whole: 10,000 live tokens in a cache of 12,288 entries all hit.
 *
 * A key is admitted on its second insert within a while, not its first:
 * each shard remembers the fingerprints of recent first inserts in a
 * small direct-mapped doorkeeper.  Tokens and answers seen once (a cold
 * workload: every request a new token) then neither fill the cache's
 * memory nor push out the ones in steady use.
 *
 * Entries are reference counted so that evicting one never frees it
 * under a request still using it.  What an entry means, and whether it
 * may be used, is the caller's business.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

#define SHARDS 64
#define DOOR 1024 /* doorkeeper fingerprints per shard */
#define DOOR_WAYS 4

struct shard {
	pthread_mutex_t lock;
	struct api_cached **bucket; /* chains through hnext */
	size_t mask;		    /* buckets - 1, a power of two less one */
	size_t n, max;
	size_t bytes, max_bytes;    /* max_bytes 0: no byte budget */
	struct api_cached lru;	    /* list head: lru.next the most recent */
	uint32_t door[DOOR];	    /* fingerprints of keys seen once */
};

struct api_cache {
	struct shard shard[SHARDS];
};

static void
lru_unlink(struct api_cached *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void
lru_front(struct shard *s, struct api_cached *e)
{
	e->next = s->lru.next;
	e->prev = &s->lru;
	s->lru.next->prev = e;
	s->lru.next = e;
}

int
api_cache_new(size_t entries, size_t max_bytes, struct api_cache **out)
{
	struct api_cache *c;
	size_t per, nb = 1;

	*out = NULL;
	per = (entries + SHARDS - 1) / SHARDS;
	if (per == 0)
		per = 1;
	while (nb < per)
		nb <<= 1;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return API_E_NOMEM;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shard[i];

		/* Pointers: sizeof(struct api_cached *) is meant. */
		s->bucket = calloc(nb, sizeof(struct api_cached *));
		if (s->bucket == NULL) {
			while (--i >= 0) {
				free(c->shard[i].bucket);
				pthread_mutex_destroy(&c->shard[i].lock);
			}
			free(c);
			return API_E_NOMEM;
		}
		s->mask = nb - 1;
		s->max = per;
		s->max_bytes = max_bytes / SHARDS;
		s->lru.next = s->lru.prev = &s->lru;
		pthread_mutex_init(&s->lock, NULL);
	}
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
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shard[i];
		struct api_cached *e = s->lru.next, *next;

		for (; e != &s->lru; e = next) {
			next = e->next;
			api_cached_release(e);
		}
		free(s->bucket);
		pthread_mutex_destroy(&s->lock);
	}
	free(c);
}

void
api_cache_size(struct api_cache *c, size_t *entries, size_t *bytes)
{
	*entries = *bytes = 0;
	for (int i = 0; i < SHARDS; i++) {
		struct shard *s = &c->shard[i];

		pthread_mutex_lock(&s->lock);
		*entries += s->n;
		*bytes += s->bytes;
		pthread_mutex_unlock(&s->lock);
	}
}

/* The key is a digest: any eight of its bytes are uniform. */
static struct shard *
shard_of(struct api_cache *c, const uint8_t key[API_CACHE_KEY])
{
	uint64_t v;

	memcpy(&v, key, sizeof(v));
	return &c->shard[v % SHARDS];
}

static struct api_cached **
chain_of(const struct shard *s, const uint8_t key[API_CACHE_KEY])
{
	uint64_t v;

	memcpy(&v, key + 8, sizeof(v));
	return &s->bucket[v & s->mask];
}

/* The link that points at key's entry, or at the chain's NULL end. */
static struct api_cached **
find(const struct shard *s, const uint8_t key[API_CACHE_KEY])
{
	struct api_cached **p = chain_of(s, key);

	while (*p != NULL && memcmp((*p)->key, key, API_CACHE_KEY) != 0)
		p = &(*p)->hnext;
	return p;
}

struct api_cached *
api_cache_get(struct api_cache *c, const uint8_t key[API_CACHE_KEY])
{
	struct shard *s = shard_of(c, key);
	struct api_cached *e;

	pthread_mutex_lock(&s->lock);
	if ((e = *find(s, key)) != NULL) {
		lru_unlink(e);
		lru_front(s, e);
		atomic_fetch_add(&e->refs, 1);
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

/*
 * Admits a key seen recently; otherwise only notes it.  Under the lock.
 * The doorkeeper is 4-way associative: with one slot per key, two keys
 * that share a slot and are offered in turn would forget each other
 * forever.
 */
static int
admit(struct shard *s, const uint8_t key[API_CACHE_KEY])
{
	uint32_t fp, h, *way;
	int empty = -1;

	memcpy(&fp, key + 16, sizeof(fp));
	memcpy(&h, key + 20, sizeof(h));
	fp |= 1; /* never 0, the empty slot */
	way = &s->door[(size_t)(h % (DOOR / DOOR_WAYS)) * DOOR_WAYS];
	for (int i = 0; i < DOOR_WAYS; i++) {
		if (way[i] == fp) {
			way[i] = 0;
			return 1;
		}
		if (way[i] == 0)
			empty = i;
	}
	way[empty >= 0 ? empty : (int)((fp >> 8) % DOOR_WAYS)] = fp;
	return 0;
}

void
api_cache_insert(struct api_cache *c, struct api_cached *e)
{
	struct shard *s = shard_of(c, e->key);
	struct api_cached **p, *old = NULL, *evicted = NULL, *v;

	if (s->max_bytes != 0 && e->cost > s->max_bytes)
		return;
	pthread_mutex_lock(&s->lock);
	/* The same key (two threads computed it at once) is replaced;
	 * a new key must pass the doorkeeper. */
	p = find(s, e->key);
	if (*p == NULL && !admit(s, e->key)) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	atomic_fetch_add(&e->refs, 1); /* the cache's own reference */
	if ((old = *p) != NULL) {
		*p = old->hnext;
		lru_unlink(old);
		s->n--;
		s->bytes -= old->cost;
	}
	p = chain_of(s, e->key);
	e->hnext = *p;
	*p = e;
	lru_front(s, e);
	s->n++;
	s->bytes += e->cost;
	/* The new entry, at the front, fits alone: it is never evicted. */
	while (s->n > s->max ||
	    (s->max_bytes != 0 && s->bytes > s->max_bytes)) {
		v = s->lru.prev;
		*find(s, v->key) = v->hnext;
		lru_unlink(v);
		s->n--;
		s->bytes -= v->cost;
		v->hnext = evicted; /* released below, outside the lock */
		evicted = v;
	}
	pthread_mutex_unlock(&s->lock);
	api_cached_release(old);
	while ((v = evicted) != NULL) {
		evicted = v->hnext;
		api_cached_release(v);
	}
}
