/*
 * accounts.c - customers and their sessions.
 *
 * A customer is an id, a normalised login (indexed), a password hash and
 * a session epoch.  A session is stored under the SHA-256 of its token,
 * never the token itself, and is live only while it is within its idle and
 * absolute limits and of its customer's current epoch: moving the epoch
 * ends every session at once with a single write.  Nothing here sees a
 * plaintext password.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "certs/certs.h"

static int
new_id(char out[BROKER_ID_LEN + 1])
{
	return certs_random_token(out, BROKER_ID_LEN + 1, 16) == 0
		   ? 0
		   : BROKER_E_STORAGE;
}

static int
customer_from(const json_t *o, const char *id, struct broker_customer *c)
{
	const json_t *created = json_object_get(o, "created");
	const json_t *epoch = json_object_get(o, "epoch");
	size_t idlen = strlen(id);
	int rc;

	if (idlen > BROKER_ID_LEN || !json_is_integer(created) ||
	    !json_is_integer(epoch) || json_integer_value(epoch) < 0)
		return BROKER_E_CORRUPT;
	memcpy(c->id, id, idlen + 1);
	if ((rc = broker_rec_str(o, "login", c->login, sizeof(c->login))) != 0 ||
	    (rc = broker_rec_str(o, "pw", c->pw, sizeof(c->pw))) != 0)
		return rc;
	c->created = json_integer_value(created);
	c->epoch = (uint64_t)json_integer_value(epoch);
	return 0;
}

int
broker_customer_get(struct broker_txn *t, const char *id,
    struct broker_customer *out)
{
	const void *val;
	size_t len;
	json_t *o = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = broker_txn_get(t, BROKER_DB_CUSTOMERS, id, strlen(id), &val,
		 &len, NULL)) != 0)
		return rc;
	if ((rc = broker_rec_load(val, len, &o)) == 0)
		rc = customer_from(o, id, out);
	json_decref(o);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
broker_customer_by_login(struct broker_txn *t, const char *login,
    struct broker_customer *out)
{
	const void *val;
	size_t len;
	char id[BROKER_ID_LEN + 1];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = broker_txn_get(t, BROKER_DB_LOGINS, login, strlen(login),
		 &val, &len, NULL)) != 0)
		return rc;
	if (len == 0 || len > BROKER_ID_LEN)
		return BROKER_E_CORRUPT;
	memcpy(id, val, len);
	id[len] = '\0';
	return broker_customer_get(t, id, out);
}

/* The profile record: ETag, then the document's JSON text. */
static int
profile_store(struct broker_txn *t, const char *cid, const char *json,
    size_t len, char etag[BROKER_ETAG_LEN + 1])
{
	uint8_t digest[CERTS_SHA256_LEN];
	char *rec;
	int rc;

	if (len > SIZE_MAX - BROKER_ETAG_LEN)
		return BROKER_E_INVAL;
	/* Strong ETag: a digest of the exact bytes served. */
	if (certs_sha256(json, len, digest) != 0 ||
	    certs_b64url_encode(digest, 16, etag, BROKER_ETAG_LEN + 1) != 0)
		return BROKER_E_STORAGE;
	if ((rec = malloc(BROKER_ETAG_LEN + len)) == NULL)
		return BROKER_E_NOMEM;
	memcpy(rec, etag, BROKER_ETAG_LEN);
	memcpy(rec + BROKER_ETAG_LEN, json, len);
	rc = broker_txn_put(t, BROKER_DB_PROFILES, cid, strlen(cid), rec,
	    BROKER_ETAG_LEN + len, 1);
	free(rec);
	return rc;
}

int
broker_customer_create(struct broker_txn *t, void *arg)
{
	struct broker_customer_new *n = arg;
	char etag[BROKER_ETAG_LEN + 1];
	json_t *o;
	int rc;

	if ((rc = new_id(n->id)) != 0)
		return rc;
	/* The login index is the uniqueness check, inside the same commit. */
	if ((rc = broker_txn_insert(t, BROKER_DB_LOGINS, n->login,
		 strlen(n->login), n->id, strlen(n->id), 1)) != 0)
		return rc;
	o = json_pack("{s:s, s:s, s:I, s:I}", "login", n->login, "pw", n->pw,
	    "created", (json_int_t)n->now, "epoch", (json_int_t)0);
	if (o == NULL)
		return BROKER_E_NOMEM;
	rc = broker_rec_put(t, BROKER_DB_CUSTOMERS, n->id, strlen(n->id), o, 1);
	json_decref(o);
	if (rc != 0)
		return rc;
	return profile_store(t, n->id, "{}", 2, etag);
}

/* ---- sessions ---------------------------------------------------------- */

static int
token_key(const char *token, size_t len, uint8_t key[CERTS_SHA256_LEN])
{
	if (len == 0 || len > 256)
		return BROKER_E_NOTFOUND;
	return certs_sha256(token, len, key) == 0 ? 0 : BROKER_E_STORAGE;
}

static int
session_put(struct broker_txn *t, const uint8_t key[CERTS_SHA256_LEN],
    const struct broker_session *s)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "cid",
	    s->customer_id, "epoch", (json_int_t)s->epoch, "created",
	    (json_int_t)s->created, "expires", (json_int_t)s->expires, "seen",
	    (json_int_t)s->seen, "csrf", s->csrf);
	int rc;

	if (o == NULL)
		return BROKER_E_NOMEM;
	rc = broker_rec_put(t, BROKER_DB_SESSIONS, key, CERTS_SHA256_LEN, o, 0);
	json_decref(o);
	return rc;
}

int
broker_session_create(struct broker_txn *t, void *arg)
{
	struct broker_session_new *n = arg;
	struct broker_session s = { 0 };
	uint8_t key[CERTS_SHA256_LEN];
	size_t idlen = strlen(n->customer_id);
	int rc;

	if (idlen > BROKER_ID_LEN)
		return BROKER_E_INVAL;
	if (certs_random_token(n->token, sizeof(n->token), 32) != 0)
		return BROKER_E_STORAGE;
	if ((rc = token_key(n->token, strlen(n->token), key)) != 0)
		return rc;
	memcpy(s.customer_id, n->customer_id, idlen + 1);
	/* Random per session: a page in another origin cannot know it. */
	if (certs_random_token(s.csrf, sizeof(s.csrf), 16) != 0)
		return BROKER_E_STORAGE;
	memcpy(n->csrf, s.csrf, sizeof(n->csrf));
	s.epoch = n->epoch;
	s.created = s.seen = n->now;
	s.expires = n->now + n->lifetime;
	if ((rc = session_put(t, key, &s)) != 0)
		return rc;
	return broker_audit_record(t, n->customer_id, "session.created", NULL);
}

static int
session_read(struct broker_txn *t, const uint8_t key[CERTS_SHA256_LEN],
    struct broker_session *out)
{
	const void *val;
	size_t len;
	json_t *o = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = broker_txn_get(t, BROKER_DB_SESSIONS, key, CERTS_SHA256_LEN,
		 &val, &len, NULL)) != 0)
		return rc;
	if ((rc = broker_rec_load(val, len, &o)) != 0)
		return rc;
	if ((rc = broker_rec_str(o, "cid", out->customer_id,
		 sizeof(out->customer_id))) == 0 &&
	    (rc = broker_rec_str(o, "csrf", out->csrf, sizeof(out->csrf))) ==
		0) {
		json_t *e = json_object_get(o, "epoch");
		json_t *c = json_object_get(o, "created");
		json_t *x = json_object_get(o, "expires");
		json_t *s = json_object_get(o, "seen");

		if (!json_is_integer(e) || !json_is_integer(c) ||
		    !json_is_integer(x) || !json_is_integer(s))
			rc = BROKER_E_CORRUPT;
		else {
			out->epoch = (uint64_t)json_integer_value(e);
			out->created = json_integer_value(c);
			out->expires = json_integer_value(x);
			out->seen = json_integer_value(s);
		}
	}
	json_decref(o);
	return rc;
}

int
broker_session_lookup(struct broker_txn *t, const char *token, size_t len,
    int64_t now, int64_t idle, struct broker_session *out)
{
	struct broker_customer c;
	uint8_t key[CERTS_SHA256_LEN];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = token_key(token, len, key)) != 0 ||
	    (rc = session_read(t, key, out)) != 0)
		goto out;
	if (now >= out->expires || (idle > 0 && now - out->seen >= idle)) {
		rc = BROKER_E_EXPIRED;
		goto out;
	}
	/* The customer may be gone, or have moved to a newer epoch. */
	if ((rc = broker_customer_get(t, out->customer_id, &c)) != 0 ||
	    c.epoch != out->epoch)
		rc = rc == 0 || rc == BROKER_E_NOTFOUND ? BROKER_E_EXPIRED : rc;
	certs_wipe(&c, sizeof(c));
out:
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
broker_session_delete(struct broker_txn *t, void *arg)
{
	const struct broker_session_end *e = arg;
	uint8_t key[CERTS_SHA256_LEN];
	int rc;

	if ((rc = token_key(e->token, e->token_len, key)) != 0)
		return rc;
	return broker_txn_del(t, BROKER_DB_SESSIONS, key, sizeof(key));
}

int
broker_session_touch(struct broker_txn *t, void *arg)
{
	const struct broker_session_end *e = arg;
	struct broker_session s;
	uint8_t key[CERTS_SHA256_LEN];
	int rc;

	if ((rc = token_key(e->token, e->token_len, key)) != 0 ||
	    (rc = session_read(t, key, &s)) != 0)
		return rc;
	if (e->now <= s.seen)
		return 0;
	s.seen = e->now;
	return session_put(t, key, &s);
}

int
broker_session_revoke_all(struct broker_txn *t, void *arg)
{
	const struct broker_session_end *e = arg;
	struct broker_customer c;
	struct broker_session s;
	uint8_t key[CERTS_SHA256_LEN];
	json_t *o;
	int rc;

	if ((rc = broker_customer_get(t, e->customer_id, &c)) != 0)
		return rc;
	o = json_pack("{s:s, s:s, s:I, s:I}", "login", c.login, "pw",
	    e->new_pw != NULL ? e->new_pw : c.pw, "created",
	    (json_int_t)c.created, "epoch", (json_int_t)c.epoch + 1);
	certs_wipe(&c, sizeof(c));
	if (o == NULL)
		return BROKER_E_NOMEM;
	rc = broker_rec_put(t, BROKER_DB_CUSTOMERS, e->customer_id,
	    strlen(e->customer_id), o, 0);
	json_decref(o);
	if (rc != 0 || e->token == NULL)
		return rc;
	if ((rc = token_key(e->token, e->token_len, key)) != 0 ||
	    (rc = session_read(t, key, &s)) != 0)
		return rc;
	s.epoch++;
	s.seen = e->now;
	return session_put(t, key, &s);
}

/* ---- profiles ---------------------------------------------------------- */

int
broker_profile_get(struct broker_txn *t, const char *cid, const char **json,
    size_t *len, char etag[BROKER_ETAG_LEN + 1])
{
	const void *val;
	size_t vlen;
	int rc;

	*json = NULL;
	*len = 0;
	etag[0] = '\0';
	if ((rc = broker_txn_get(t, BROKER_DB_PROFILES, cid, strlen(cid), &val,
		 &vlen, NULL)) != 0)
		return rc;
	if (vlen < BROKER_ETAG_LEN + 2)
		return BROKER_E_CORRUPT;
	memcpy(etag, val, BROKER_ETAG_LEN);
	etag[BROKER_ETAG_LEN] = '\0';
	*json = (const char *)val + BROKER_ETAG_LEN;
	*len = vlen - BROKER_ETAG_LEN;
	return 0;
}

int
broker_profile_put(struct broker_txn *t, void *arg)
{
	struct broker_profile_put *p = arg;
	char cur[BROKER_ETAG_LEN + 1];
	const char *json;
	size_t len;
	int rc;

	/* Re-checked inside the commit: two racing writers cannot both win. */
	if ((rc = broker_profile_get(t, p->customer_id, &json, &len, cur)) != 0)
		return rc;
	if (p->if_match == NULL || strcmp(cur, p->if_match) != 0)
		return BROKER_E_STALE;
	return profile_store(t, p->customer_id, p->json, p->len, p->etag);
}

/* ---- sweeping ended sessions -------------------------------------------- */

#define SWEEP_BATCH 1024 /* deletions per commit, at most */
#define SWEEP_SCAN 8192	 /* sessions looked at per commit, at most */

struct sweep {
	int64_t now, idle;
	uint8_t keys[SWEEP_BATCH][CERTS_SHA256_LEN];
	size_t n, scanned;
	uint8_t from[CERTS_SHA256_LEN]; /* resume point */
	int more;
	struct broker_txn *t;
};

static int
sweep_one(void *arg, const void *key, size_t klen, const void *val,
    size_t len)
{
	struct sweep *w = arg;
	struct broker_session s;
	struct broker_customer c;
	json_t *o = NULL;
	int dead = 0;

	if (klen != CERTS_SHA256_LEN)
		return 0;
	if (w->n == SWEEP_BATCH || w->scanned == SWEEP_SCAN) {
		memcpy(w->from, key, klen);
		w->more = 1;
		return 1;
	}
	w->scanned++;
	if (broker_rec_load(val, len, &o) != 0)
		dead = 1; /* unreadable: of no use to anyone */
	json_decref(o);
	if (!dead && session_read(w->t, key, &s) == 0) {
		dead = w->now >= s.expires ||
		    (w->idle > 0 && w->now - s.seen >= w->idle) ||
		    broker_customer_get(w->t, s.customer_id, &c) != 0 ||
		    c.epoch != s.epoch;
		certs_wipe(&c, sizeof(c));
	}
	if (dead)
		memcpy(w->keys[w->n++], key, klen);
	return 0;
}

static int
sweep_some(struct broker_txn *t, void *arg)
{
	struct sweep *w = arg;
	int rc;

	w->n = w->scanned = 0;
	w->more = 0;
	w->t = t;
	rc = broker_txn_scan(t, BROKER_DB_SESSIONS, w->from, sizeof(w->from),
	    sweep_one, w);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < w->n; i++)
		if ((rc = broker_txn_del(t, BROKER_DB_SESSIONS, w->keys[i],
			 CERTS_SHA256_LEN)) != 0)
			return rc;
	return 0;
}

int
broker_sessions_sweep(struct broker_store *store,
    const struct broker_sweep *sw, int64_t idle, size_t *n)
{
	struct sweep *w = calloc(1, sizeof(*w));
	int rc;

	*n = 0;
	if (w == NULL)
		return BROKER_E_NOMEM;
	w->now = sw->now;
	w->idle = idle;
	do {
		if ((rc = broker_write(store, sweep_some, w)) != 0)
			break;
		*n += w->n;
		if (sw->between != NULL)
			sw->between(sw->between_arg);
	} while (w->more);
	free(w);
	return rc;
}
