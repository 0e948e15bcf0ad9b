/*
 * throttle.c - slowing down password guessing and sign-up floods, and
 * bounding how fast grants and tokens are made.
 *
 * A fixed, direct-mapped table of counters keyed by a seeded hash of the
 * key ("l:<login>", "i:<address>", ...): memory is bounded whatever a
 * client sends, and the random seed keeps an attacker from aiming
 * collisions at someone else's counter.  A key that lands on a slot
 * another holds takes it over and starts from zero, so with more busy
 * keys than slots a limit is approximate; the server keeps the failure
 * counts and the record-making rates in tables of their own.  Locks are
 * sharded; nothing on a company's fetch path ever comes here.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

#define SHARDS 64

struct slot {
	uint64_t key;
	int64_t start;
	unsigned count;
};

struct api_throttle {
	pthread_mutex_t lock[SHARDS];
	struct slot *slots;
	size_t n;
	unsigned window;
	uint64_t seed;
};

int
api_throttle_new(size_t slots, unsigned window, struct api_throttle **out)
{
	struct api_throttle *t;

	*out = NULL;
	if (slots < SHARDS || window == 0)
		return API_E_CONFIG;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return API_E_NOMEM;
	if ((t->slots = calloc(slots, sizeof(*t->slots))) == NULL ||
	    certs_random(&t->seed, sizeof(t->seed)) != 0) {
		free(t->slots);
		free(t);
		return API_E_NOMEM;
	}
	t->n = slots;
	t->window = window;
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_init(&t->lock[i], NULL);
	*out = t;
	return 0;
}

void
api_throttle_free(struct api_throttle *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&t->lock[i]);
	free(t->slots);
	free(t);
}

/* FNV-1a over the seed and the key; 0 is reserved for "empty". */
static uint64_t
hash(const struct api_throttle *t, const char *key)
{
	uint64_t h = 1469598103934665603ull ^ t->seed;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ull;
	}
	h ^= h >> 29;
	return h ? h : 1;
}

/*
 * Locks the slot key maps to and returns it; *h receives the key's hash
 * (the slot is key's own only when its key field equals it).  Unlock
 * with slot_unlock.
 */
static struct slot *
slot_lock(struct api_throttle *t, const char *key, uint64_t *h)
{
	size_t i;

	*h = hash(t, key);
	i = (size_t)(*h % t->n);
	pthread_mutex_lock(&t->lock[i % SHARDS]);
	return &t->slots[i];
}

static void
slot_unlock(struct api_throttle *t, struct slot *s)
{
	pthread_mutex_unlock(&t->lock[(size_t)(s - t->slots) % SHARDS]);
}

unsigned
api_throttle_check(struct api_throttle *t, const char *key, unsigned max,
    int64_t now)
{
	uint64_t h;
	struct slot *s = slot_lock(t, key, &h);
	unsigned wait = 0;

	if (s->key == h && now - s->start < t->window && s->count >= max)
		wait = (unsigned)(t->window - (now - s->start));
	slot_unlock(t, s);
	return wait;
}

unsigned
api_throttle_take(struct api_throttle *t, const char *key, unsigned max,
    int64_t now)
{
	uint64_t h;
	struct slot *s = slot_lock(t, key, &h);
	unsigned wait = 0;

	if (s->key != h || now - s->start >= t->window) {
		s->key = h;
		s->start = now;
		s->count = 0;
	}
	if (s->count >= max)
		wait = (unsigned)(t->window - (now - s->start));
	else
		s->count++;
	slot_unlock(t, s);
	return wait;
}

void
api_throttle_give_back(struct api_throttle *t, const char *key)
{
	uint64_t h;
	struct slot *s = slot_lock(t, key, &h);

	if (s->key == h && s->count > 0)
		s->count--;
	slot_unlock(t, s);
}

unsigned
api_throttle_take_pair(struct api_throttle *t, const char *key, unsigned max,
    const char *addr_key, unsigned addr_max, int64_t now)
{
	unsigned wait = api_throttle_take(t, key, max, now);

	if (wait == 0 &&
	    (wait = api_throttle_take(t, addr_key, addr_max, now)) != 0)
		api_throttle_give_back(t, key);
	return wait;
}

void
api_throttle_clear(struct api_throttle *t, const char *key)
{
	uint64_t h;
	struct slot *s = slot_lock(t, key, &h);

	if (s->key == h)
		memset(s, 0, sizeof(*s));
	slot_unlock(t, s);
}

unsigned
api_throttle_check_pair(struct api_throttle *t, const char *key, unsigned max,
    const char *addr_key, unsigned addr_max, int64_t now)
{
	unsigned wait = api_throttle_check(t, key, max, now);

	return wait != 0 ? wait : api_throttle_check(t, addr_key, addr_max, now);
}

void
api_throttle_key(char out[API_THROTTLE_KEY], const char *prefix,
    const char *id)
{
	if (snprintf(out, API_THROTTLE_KEY, "%s%s", prefix, id) < 0)
		out[0] = '\0';
}

int
api_throttle_admit(struct api_request *r, struct api_throttle *t,
    const char *prefix, const char *id, unsigned max, const char *why)
{
	char key[API_THROTTLE_KEY];
	unsigned wait;

	api_throttle_key(key, prefix, id);
	if ((wait = api_throttle_take(t, key, max, api_wall_now())) == 0)
		return 0;
	r->retry_after = wait;
	return api_fail(r, API_E_THROTTLED, "%s", why);
}
