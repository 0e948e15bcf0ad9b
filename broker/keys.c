/*
 * keys.c - metadata and public halves of the token-signing keys.
 *
 * Private keys never enter the database: they are files under keys/,
 * readable by the owner only (certs/ loads them).
 */
#include <stdio.h>
#include <string.h>

#include "broker/broker_int.h"
#include "certs/certs.h"

struct keys_each {
	int (*fn)(void *arg, const json_t *rec);
	void *arg;
};

static int
key_one(void *arg, const void *key, size_t klen, const void *val, size_t len)
{
	struct keys_each *e = arg;
	json_t *rec = NULL;
	int rc;

	(void)key;
	(void)klen;
	if ((rc = broker_rec_load(val, len, &rec)) != 0)
		return rc;
	rc = e->fn(e->arg, rec);
	json_decref(rec);
	return rc;
}

int
broker_keys_each(struct broker_txn *t, int (*fn)(void *arg, const json_t *rec),
    void *arg)
{
	struct keys_each e = { fn, arg };

	return broker_txn_scan(t, BROKER_DB_KEYS, NULL, 0, key_one, &e);
}

/* ---- choosing, rotating, retiring ------------------------------------ */

#define KEYS_GEN_KEY "keys_gen"
#define LIFETIMES_KEY "lifetimes"

struct pick {
	int64_t now;
	int64_t best_act, best_seq;
	char kid[64];
	/* retire: the key asked about, and when it stopped signing */
	const char *target;
	int64_t target_act, target_seq;
	int found;
	int64_t next_act; /* the first activation after the target's */
};

static int
pick_one(void *arg, const json_t *rec)
{
	struct pick *p = arg;
	const char *kid = json_string_value(json_object_get(rec, "kid"));
	const char *state = json_string_value(json_object_get(rec, "state"));
	int64_t act = json_integer_value(json_object_get(rec, "activates"));
	int64_t seq = json_integer_value(json_object_get(rec, "seq"));

	if (kid == NULL || state == NULL || strlen(kid) >= sizeof(p->kid))
		return BROKER_E_CORRUPT;
	if (strcmp(state, "active") != 0 || act > p->now)
		return 0;
	/* Same second: the key published later wins. */
	if (p->kid[0] == '\0' || act > p->best_act ||
	    (act == p->best_act && seq > p->best_seq)) {
		p->best_act = act;
		p->best_seq = seq;
		memcpy(p->kid, kid, strlen(kid) + 1);
	}
	return 0;
}

int
broker_key_signing(struct broker_txn *t, int64_t now, char kid[64])
{
	struct pick p = { .now = now };
	int rc;

	kid[0] = '\0';
	if ((rc = broker_keys_each(t, pick_one, &p)) != 0)
		return rc;
	if (p.kid[0] == '\0')
		return BROKER_E_NOTFOUND;
	memcpy(kid, p.kid, sizeof(p.kid));
	return 0;
}

int
broker_keys_generation(struct broker_txn *t, uint64_t *gen)
{
	const void *val;
	size_t len;
	int rc;

	*gen = 0;
	rc = broker_txn_get(t, BROKER_DB_META, KEYS_GEN_KEY,
	    sizeof(KEYS_GEN_KEY) - 1, &val, &len, NULL);
	if (rc == BROKER_E_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (len != sizeof(*gen))
		return BROKER_E_CORRUPT;
	memcpy(gen, val, sizeof(*gen));
	return 0;
}

static int
bump_generation(struct broker_txn *t)
{
	uint64_t gen;
	int rc;

	if ((rc = broker_keys_generation(t, &gen)) != 0)
		return rc;
	gen++;
	return broker_txn_put(t, BROKER_DB_META, KEYS_GEN_KEY,
	    sizeof(KEYS_GEN_KEY) - 1, &gen, sizeof(gen), 1);
}

struct key_add {
	const char *kid;
	const char *x;
	int64_t now, activates;
};

static int
key_insert(struct broker_txn *t, void *arg)
{
	const struct key_add *k = arg;
	uint64_t gen;
	json_t *o;
	int rc;

	/* The generation orders keys published within the same second. */
	if ((rc = broker_keys_generation(t, &gen)) != 0)
		return rc;
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "kid", k->kid, "x",
	    k->x, "created", (json_int_t)k->now, "activates",
	    (json_int_t)k->activates, "seq", (json_int_t)gen + 1, "state",
	    "active");
	if (o == NULL)
		return BROKER_E_NOMEM;
	rc = broker_rec_put(t, BROKER_DB_KEYS, k->kid, strlen(k->kid), o, 1);
	json_decref(o);
	return rc != 0 ? rc : bump_generation(t);
}

int
broker_key_publish(struct broker_store *s, const char *kid, const char *x,
    int64_t now, int64_t activates)
{
	struct key_add k = { kid, x, now, activates };

	return broker_write(s, key_insert, &k);
}

int
broker_key_rotate(const char *data_dir, struct broker_store *s, int64_t now,
    int64_t delay, char kid[64])
{
	struct certs_signkey *key = NULL;
	uint8_t pub[CERTS_ED25519_PUB_LEN];
	char rel[96], path[BROKER_PATH_MAX], x[64];
	int n, rc;

	kid[0] = '\0';
	if (delay < 0)
		return BROKER_E_INVAL;
	if (certs_signkey_generate(&key) != 0)
		return BROKER_E_STORAGE;
	n = snprintf(rel, sizeof(rel), "keys/%s.key", certs_signkey_kid(key));
	if (n < 0 || (size_t)n >= sizeof(rel) ||
	    broker_path(path, data_dir, rel) != 0) {
		rc = BROKER_E_INVAL;
		goto out;
	}
	/* The private half first: a published key must be able to sign. */
	if (certs_signkey_save(key, path) != 0) {
		rc = BROKER_E_IO;
		goto out;
	}
	certs_signkey_public(key, pub);
	if (certs_b64url_encode(pub, sizeof(pub), x, sizeof(x)) != 0) {
		rc = BROKER_E_INVAL;
		goto out;
	}
	if ((rc = broker_key_publish(s, certs_signkey_kid(key), x, now,
		 now + delay)) != 0)
		goto out;
	memcpy(kid, certs_signkey_kid(key), CERTS_KID_LEN + 1);
out:
	certs_signkey_free(key);
	return rc;
}

struct retire {
	const char *kid;
	int64_t now, lifetime;
	int force;
	int busy;
};

static int
find_target(void *arg, const json_t *rec)
{
	struct pick *p = arg;
	const char *kid = json_string_value(json_object_get(rec, "kid"));
	const char *state = json_string_value(json_object_get(rec, "state"));
	int64_t act = json_integer_value(json_object_get(rec, "activates"));

	if (kid != NULL && strcmp(kid, p->target) == 0 && state != NULL &&
	    strcmp(state, "active") == 0) {
		p->found = 1;
		p->target_act = act;
		p->target_seq = json_integer_value(json_object_get(rec, "seq"));
	}
	return 0;
}

static int
find_next(void *arg, const json_t *rec)
{
	struct pick *p = arg;
	const char *kid = json_string_value(json_object_get(rec, "kid"));
	const char *state = json_string_value(json_object_get(rec, "state"));
	int64_t act = json_integer_value(json_object_get(rec, "activates"));

	if (kid == NULL || strcmp(kid, p->target) == 0 || state == NULL ||
	    strcmp(state, "active") != 0)
		return 0;
	if ((act > p->target_act || (act == p->target_act &&
					 json_integer_value(json_object_get(rec,
					     "seq")) > p->target_seq)) &&
	    (p->next_act == 0 || act < p->next_act))
		p->next_act = act;
	return 0;
}

static int
key_retire(struct broker_txn *t, void *arg)
{
	struct retire *r = arg;
	struct pick p = { .now = r->now, .target = r->kid };
	char signing[64];
	const void *val;
	size_t len;
	json_t *o = NULL;
	int rc;

	if ((rc = broker_keys_each(t, find_target, &p)) != 0)
		return rc;
	if (!p.found)
		return BROKER_E_NOTFOUND;
	if ((rc = broker_keys_each(t, find_next, &p)) != 0)
		return rc;
	rc = broker_key_signing(t, r->now, signing);
	if (rc != 0 && rc != BROKER_E_NOTFOUND)
		return rc;
	/*
	 * It may verify a live token while it signs, and for a token
	 * lifetime after its successor took over.
	 */
	r->busy = (rc == 0 && strcmp(signing, r->kid) == 0) ||
	    p.next_act == 0 || p.next_act > r->now - r->lifetime;
	if (r->busy && !r->force)
		return BROKER_E_BUSY;
	/* Even forced: some key must be left to sign with. */
	if (p.next_act == 0 && (rc != 0 || strcmp(signing, r->kid) == 0))
		return BROKER_E_INVAL;
	if ((rc = broker_txn_get(t, BROKER_DB_KEYS, r->kid, strlen(r->kid),
		 &val, &len, NULL)) != 0 ||
	    (rc = broker_rec_load(val, len, &o)) != 0)
		return rc;
	json_object_set_new(o, "state", json_string("retired"));
	json_object_set_new(o, "retired", json_integer(r->now));
	rc = broker_rec_put(t, BROKER_DB_KEYS, r->kid, strlen(r->kid), o, 0);
	json_decref(o);
	return rc != 0 ? rc : bump_generation(t);
}

int
broker_key_retire(struct broker_store *s, const char *kid, int64_t now,
    int64_t token_lifetime, int force)
{
	struct retire r = { kid, now, token_lifetime, force, 0 };

	if (kid == NULL || strlen(kid) == 0 || strlen(kid) > 63)
		return BROKER_E_NOTFOUND;
	return broker_write(s, key_retire, &r);
}

struct lifetimes {
	int64_t jwks, token;
};

static int
lifetimes_put(struct broker_txn *t, void *arg)
{
	const struct lifetimes *l = arg;
	json_t *o = json_pack("{s:I, s:I}", "jwks_max_age", (json_int_t)l->jwks,
	    "token_lifetime", (json_int_t)l->token);
	int rc;

	if (o == NULL)
		return BROKER_E_NOMEM;
	rc = broker_rec_put(t, BROKER_DB_META, LIFETIMES_KEY,
	    sizeof(LIFETIMES_KEY) - 1, o, 0);
	json_decref(o);
	return rc;
}

int
broker_meta_lifetimes_set(struct broker_store *s, int64_t jwks_max_age,
    int64_t token_lifetime)
{
	struct lifetimes l = { jwks_max_age, token_lifetime };

	return broker_write(s, lifetimes_put, &l);
}

int
broker_meta_lifetimes(struct broker_store *s, int64_t *jwks_max_age,
    int64_t *token_lifetime)
{
	struct broker_txn *t = NULL;
	const void *val;
	size_t len;
	json_t *o = NULL;
	int rc;

	*jwks_max_age = 300;
	*token_lifetime = 3600;
	if ((rc = broker_read_begin(s, &t)) != 0)
		return rc;
	rc = broker_txn_get(t, BROKER_DB_META, LIFETIMES_KEY,
	    sizeof(LIFETIMES_KEY) - 1, &val, &len, NULL);
	if (rc == 0 && (rc = broker_rec_load(val, len, &o)) == 0) {
		*jwks_max_age = json_integer_value(json_object_get(o,
		    "jwks_max_age"));
		*token_lifetime = json_integer_value(json_object_get(o,
		    "token_lifetime"));
	}
	json_decref(o);
	broker_read_end(t);
	return rc == BROKER_E_NOTFOUND ? 0 : rc;
}
