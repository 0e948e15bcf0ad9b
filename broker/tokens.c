/*
 * tokens.c - refresh tokens and revoked access-token ids.
 *
 * REFRESH database: SHA-256(token) -> {grant, company, family, scopes,
 * spent}, "f:<family>" -> {revoked}, and "r:<grant>:<family>" -> a
 * serial, greater for each newer family of the grant (its families in
 * the order they began, for their cap).  A refresh token
 * is honoured once, only for its own company, only while its family and
 * its grant live.
 * TOKENS database: revoked access-token jti -> {exp}, consulted on every
 * fetch.  CODES database: "c:" + hash(code) -> {grant, company,
 * redirect_uri, challenge, expires, used}; kept apart from TOKENS, whose
 * every change moves the access generation, because a code can take no
 * access away.  Plaintext tokens are never stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "certs/certs.h"
#include "policy/policy.h"

#define FKEY_MAX 32

/* Does the scope text wanted lie within the text held? */
static int
scope_within(const char *held, const char *wanted)
{
	struct policy_scopes *h = NULL, *w = NULL;
	int ok;

	ok = policy_scopes_parse(held, strlen(held), &h, NULL, 0) == 0 &&
	    policy_scopes_parse(wanted, strlen(wanted), &w, NULL, 0) == 0 &&
	    policy_scopes_covers(h, w);
	policy_scopes_free(h);
	policy_scopes_free(w);
	return ok;
}

static int
hash_key(const char *tok, size_t len, uint8_t out[CERTS_SHA256_LEN])
{
	if (tok == NULL || len == 0 || len > 256)
		return BROKER_E_NOTFOUND;
	return certs_sha256(tok, len, out) == 0 ? 0 : BROKER_E_STORAGE;
}

static size_t
family_key(char out[FKEY_MAX], const char *family)
{
	int n = snprintf(out, FKEY_MAX, "f:%s", family);

	return n > 0 && n < FKEY_MAX ? (size_t)n : 0;
}

static int
family_dead(struct broker_txn *t, const char *family)
{
	char key[FKEY_MAX];
	size_t klen = family_key(key, family);
	const void *val;
	size_t len;
	json_t *o = NULL;
	int rc, dead;

	if (klen == 0)
		return BROKER_E_CORRUPT;
	if ((rc = broker_txn_get(t, BROKER_DB_REFRESH, key, klen, &val, &len,
		 NULL)) != 0)
		return rc == BROKER_E_NOTFOUND ? 1 : rc;
	if ((rc = broker_rec_load(val, len, &o)) != 0)
		return rc;
	dead = json_is_true(json_object_get(o, "revoked"));
	json_decref(o);
	return dead;
}

static int
family_set(struct broker_txn *t, const char *family, int revoked)
{
	char key[FKEY_MAX];
	size_t klen = family_key(key, family);
	json_t *o = json_pack("{s:b}", "revoked", revoked);
	int rc;

	if (o == NULL || klen == 0) {
		json_decref(o);
		return BROKER_E_NOMEM;
	}
	rc = broker_rec_put(t, BROKER_DB_REFRESH, key, klen, o, 0);
	json_decref(o);
	return rc;
}

/* ---- a grant's families ------------------------------------------------ */

#define RKEY_LEN (2 + BROKER_ID_LEN + 1 + BROKER_ID_LEN)

static int
index_key(char out[RKEY_LEN + 1], const char *grant, const char *family)
{
	int n = snprintf(out, RKEY_LEN + 1, "r:%s:%s", grant,
	    family != NULL ? family : "");

	return n > 0 && n <= RKEY_LEN ? n : BROKER_E_INVAL;
}

struct fam {
	uint64_t serial;
	char id[BROKER_ID_LEN + 1];
};

struct fams {
	struct broker_txn *t;
	const char *prefix;
	uint64_t last; /* the greatest serial seen */
	size_t plen, n, cap, ndead;
	struct fam *live;
	char (*dead)[RKEY_LEN + 1];
};

static int
fams_one(void *arg, const void *key, size_t klen, const void *val,
    size_t len)
{
	struct fams *y = arg;
	char fam[BROKER_ID_LEN + 1];
	void *p;
	int dead;

	if (klen < y->plen || memcmp(key, y->prefix, y->plen) != 0)
		return 1;
	if (klen != RKEY_LEN || len != 8)
		return 0;
	if (broker_get64(val) > y->last)
		y->last = broker_get64(val);
	memcpy(fam, (const char *)key + y->plen, BROKER_ID_LEN);
	fam[BROKER_ID_LEN] = '\0';
	if ((dead = family_dead(y->t, fam)) < 0)
		return dead;
	if (y->n + y->ndead == y->cap) {
		size_t cap = y->cap ? 2 * y->cap : 16;

		if ((p = realloc(y->live, cap * sizeof(*y->live))) == NULL)
			return BROKER_E_NOMEM;
		y->live = p;
		if ((p = realloc(y->dead, cap * sizeof(*y->dead))) == NULL)
			return BROKER_E_NOMEM;
		y->dead = p;
		y->cap = cap;
	}
	if (dead) {
		memcpy(y->dead[y->ndead], key, RKEY_LEN);
		y->dead[y->ndead++][RKEY_LEN] = '\0';
		return 0;
	}
	y->live[y->n].serial = broker_get64(val);
	memcpy(y->live[y->n++].id, fam, sizeof(fam));
	return 0;
}

static int
by_serial(const void *a, const void *b)
{
	const struct fam *x = a, *y = b;

	return x->serial < y->serial ? -1 : x->serial > y->serial;
}

/*
 * Makes room for one more family of the grant: past the cap, the oldest
 * live families are revoked; entries of dead ones are dropped on the way.
 * *serial gets the new family's.
 */
static int
cap_families(struct broker_txn *t, const struct broker_refresh_new *n,
    uint64_t *serial)
{
	char prefix[RKEY_LEN + 1], key[RKEY_LEN + 1];
	struct fams y = { .t = t, .prefix = prefix };
	size_t i;
	int rc;

	if ((rc = index_key(prefix, n->grant, NULL)) < 0)
		return rc;
	y.plen = (size_t)rc;
	rc = broker_txn_scan(t, BROKER_DB_REFRESH, prefix, y.plen, fams_one,
	    &y);
	rc = rc == 1 ? 0 : rc;
	for (i = 0; i < y.ndead && rc == 0; i++)
		rc = broker_txn_del(t, BROKER_DB_REFRESH, y.dead[i], RKEY_LEN);
	if (rc == 0 && n->max_families != 0 && y.n >= n->max_families) {
		qsort(y.live, y.n, sizeof(*y.live), by_serial);
		for (i = 0; i + n->max_families <= y.n && rc == 0; i++)
			if ((rc = family_set(t, y.live[i].id, 1)) == 0 &&
			    (rc = index_key(key, n->grant, y.live[i].id)) > 0)
				rc = broker_txn_del(t, BROKER_DB_REFRESH, key,
				    RKEY_LEN);
	}
	free(y.live);
	free(y.dead);
	*serial = y.last + 1;
	return rc;
}

/* Stores a fresh token of family; its plaintext goes to out. */
static int
put_token(struct broker_txn *t, const char *grant, const char *company,
    const char *scopes, const char *family, int64_t now,
    char out[BROKER_TOKEN_LEN + 1])
{
	uint8_t key[CERTS_SHA256_LEN];
	json_t *o;
	int rc;

	if (certs_random_token(out, BROKER_TOKEN_LEN + 1, 32) != 0)
		return BROKER_E_STORAGE;
	if ((rc = hash_key(out, strlen(out), key)) != 0)
		return rc;
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "grant", grant,
	    "company", company, "family", family, "scopes", scopes, "created",
	    (json_int_t)now, "spent", 0);
	if (o == NULL)
		return BROKER_E_NOMEM;
	rc = broker_rec_put(t, BROKER_DB_REFRESH, key, sizeof(key), o, 1);
	json_decref(o);
	return rc;
}

int
broker_refresh_issue(struct broker_txn *t, void *arg)
{
	struct broker_refresh_new *n = arg;
	char family[BROKER_ID_LEN + 1], key[RKEY_LEN + 1];
	uint8_t val[8];
	uint64_t serial = 0;
	json_t *d;
	int rc;

	if (certs_random_token(family, sizeof(family), 16) != 0)
		return BROKER_E_STORAGE;
	if ((rc = cap_families(t, n, &serial)) != 0)
		return rc;
	broker_put64(val, serial);
	if ((rc = index_key(key, n->grant, family)) < 0 ||
	    (rc = broker_txn_insert(t, BROKER_DB_REFRESH, key, RKEY_LEN, val,
		 sizeof(val), 1)) != 0 ||
	    (rc = family_set(t, family, 0)) != 0 ||
	    (rc = put_token(t, n->grant, n->company, n->scopes, family, n->now,
		 n->token)) != 0)
		return rc;
	d = json_pack("{s:s, s:s, s:s}", "grant", n->grant, "company",
	    n->company, "scopes", n->scopes);
	if (d == NULL)
		return BROKER_E_NOMEM;
	rc = broker_audit_record(t, n->customer, "token.issued", d);
	json_decref(d);
	return rc;
}

/* Reads a token record; BROKER_E_NOTFOUND when unknown. */
static int
token_get(struct broker_txn *t, const uint8_t key[CERTS_SHA256_LEN],
    json_t **out)
{
	const void *val;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = broker_txn_get(t, BROKER_DB_REFRESH, key, CERTS_SHA256_LEN,
		 &val, &len, NULL)) != 0)
		return rc;
	return broker_rec_load(val, len, out);
}

int
broker_refresh_redeem(struct broker_txn *t, void *arg)
{
	struct broker_refresh_use *u = arg;
	uint8_t key[CERTS_SHA256_LEN];
	const char *grant, *company, *family, *scopes;
	json_t *o = NULL;
	int rc, dead;

	u->outcome = BROKER_REFRESH_INVALID;
	u->scopes = NULL;
	memset(&u->grant, 0, sizeof(u->grant));
	if ((rc = hash_key(u->presented, u->len, key)) != 0 ||
	    (rc = token_get(t, key, &o)) != 0)
		return rc == BROKER_E_NOTFOUND ? 0 : rc;
	grant = json_string_value(json_object_get(o, "grant"));
	company = json_string_value(json_object_get(o, "company"));
	family = json_string_value(json_object_get(o, "family"));
	scopes = json_string_value(json_object_get(o, "scopes"));
	if (grant == NULL || company == NULL || family == NULL ||
	    scopes == NULL) {
		rc = BROKER_E_CORRUPT;
		goto out;
	}
	/* Another company's token: invalid, and left untouched. */
	if (strcmp(company, u->company) != 0)
		goto out;
	if ((dead = family_dead(t, family)) < 0) {
		rc = dead;
		goto out;
	}
	if (dead)
		goto out;
	if (json_is_true(json_object_get(o, "spent"))) {
		/* Replay of a spent token, whatever else is asked: someone
		 * holds a copy.  Kill the family. */
		u->outcome = BROKER_REFRESH_REUSED;
		rc = family_set(t, family, 1);
		goto out;
	}
	/* Checked before anything is spent: a bad request costs nothing. */
	if (u->requested != NULL && !scope_within(scopes, u->requested)) {
		u->outcome = BROKER_REFRESH_SCOPE;
		goto out;
	}
	rc = broker_grant_get(t, grant, &u->grant);
	if (rc == 0 && broker_grant_live(t, &u->grant, u->now) != 0)
		rc = BROKER_E_REVOKED;
	if (rc == BROKER_E_REVOKED || rc == BROKER_E_NOTFOUND) {
		broker_grant_clear(&u->grant);
		u->outcome = BROKER_REFRESH_DEAD;
		rc = family_set(t, family, 1);
		goto out;
	}
	if (rc != 0)
		goto out;
	/* Spend this one and hand out its successor, in one commit. */
	json_object_set_new(o, "spent", json_true());
	json_object_set_new(o, "spent_at", json_integer(u->now));
	if ((rc = broker_rec_put(t, BROKER_DB_REFRESH, key, sizeof(key), o,
		 0)) != 0 ||
	    (rc = put_token(t, grant, company, scopes, family, u->now,
		 u->token)) != 0)
		goto out;
	if ((u->scopes = strdup(u->requested != NULL ? u->requested
						      : scopes)) == NULL) {
		rc = BROKER_E_NOMEM;
		goto out;
	}
	{
		json_t *d = json_pack("{s:s, s:s, s:s}", "grant", grant,
		    "company", company, "scopes", scopes);

		rc = d != NULL ? broker_audit_record(t, u->grant.customer,
				     "token.refreshed", d)
			       : BROKER_E_NOMEM;
		json_decref(d);
		if (rc != 0)
			goto out;
	}
	u->outcome = BROKER_REFRESH_OK;
out:
	json_decref(o);
	if (rc != 0 || u->outcome != BROKER_REFRESH_OK) {
		broker_grant_clear(&u->grant);
		free(u->scopes);
		u->scopes = NULL;
		certs_wipe(u->token, sizeof(u->token));
	}
	return rc;
}

int
broker_refresh_lookup(struct broker_txn *t, const char *presented,
    size_t len, const char *company, char grant[BROKER_ID_LEN + 1],
    char **scopes)
{
	uint8_t key[CERTS_SHA256_LEN];
	const char *g, *c, *f, *s;
	json_t *o = NULL;
	int rc;

	grant[0] = '\0';
	*scopes = NULL;
	if ((rc = hash_key(presented, len, key)) != 0 ||
	    (rc = token_get(t, key, &o)) != 0)
		return rc;
	g = json_string_value(json_object_get(o, "grant"));
	c = json_string_value(json_object_get(o, "company"));
	f = json_string_value(json_object_get(o, "family"));
	s = json_string_value(json_object_get(o, "scopes"));
	rc = BROKER_E_NOTFOUND;
	if (g != NULL && c != NULL && f != NULL && s != NULL &&
	    strlen(g) == BROKER_ID_LEN && strcmp(c, company) == 0 &&
	    !json_is_true(json_object_get(o, "spent")) &&
	    family_dead(t, f) == 0) {
		memcpy(grant, g, BROKER_ID_LEN + 1);
		rc = (*scopes = strdup(s)) != NULL ? 0 : BROKER_E_NOMEM;
	}
	json_decref(o);
	return rc;
}

int
broker_token_revoke(struct broker_txn *t, void *arg)
{
	const struct broker_token_revoke *r = arg;
	uint8_t key[CERTS_SHA256_LEN];
	const char *c, *f;
	json_t *o = NULL;
	int rc;

	if (r->jti != NULL) {
		/* The caller verified the token and that it is this company's. */
		o = json_pack("{s:I, s:s}", "exp", (json_int_t)r->exp,
		    "company", r->company);
		if (o == NULL)
			return BROKER_E_NOMEM;
		rc = broker_rec_put(t, BROKER_DB_TOKENS, r->jti, strlen(r->jti),
		    o, 0);
		json_decref(o);
		return rc;
	}
	if ((rc = hash_key(r->presented, r->len, key)) != 0 ||
	    (rc = token_get(t, key, &o)) != 0)
		return rc == BROKER_E_NOTFOUND ? 0 : rc;
	c = json_string_value(json_object_get(o, "company"));
	f = json_string_value(json_object_get(o, "family"));
	if (c != NULL && f != NULL && strcmp(c, r->company) == 0)
		rc = family_set(t, f, 1);
	json_decref(o);
	return rc;
}

int
broker_jti_revoked(struct broker_txn *t, const char *jti)
{
	const void *val;
	size_t len;
	int rc;

	if (jti == NULL || jti[0] == '\0' || strlen(jti) > 64)
		return 1; /* a token without a usable id is not honoured */
	rc = broker_txn_get(t, BROKER_DB_TOKENS, jti, strlen(jti), &val, &len,
	    NULL);
	if (rc == BROKER_E_NOTFOUND)
		return 0;
	return rc == 0 ? 1 : rc;
}

/* ---- authorization codes ------------------------------------------------ */

#define CKEY_LEN (2 + 43)

/* "c:" + base64url(SHA-256(code)): codes are stored hashed too. */
static int
code_key(const char *code, size_t len, char out[CKEY_LEN + 1])
{
	uint8_t h[CERTS_SHA256_LEN];
	int rc;

	if ((rc = hash_key(code, len, h)) != 0)
		return rc;
	out[0] = 'c';
	out[1] = ':';
	return certs_b64url_encode(h, sizeof(h), out + 2, CKEY_LEN - 1) == 0
		   ? 0
		   : BROKER_E_STORAGE;
}

int
broker_code_issue(struct broker_txn *t, void *arg)
{
	struct broker_code_new *n = arg;
	char key[CKEY_LEN + 1];
	json_t *o;
	int rc;

	if ((rc = broker_grant_create(t, &n->grant)) != 0)
		return rc;
	if (certs_random_token(n->code, sizeof(n->code), 32) != 0)
		return BROKER_E_STORAGE;
	if ((rc = code_key(n->code, strlen(n->code), key)) != 0)
		return rc;
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "grant", n->grant.id,
	    "company", n->grant.company, "redirect_uri", n->redirect_uri,
	    "challenge", n->challenge, "expires",
	    (json_int_t)n->grant.now + n->lifetime, "used", 0);
	if (o == NULL)
		return BROKER_E_NOMEM;
	rc = broker_rec_put(t, BROKER_DB_CODES, key, CKEY_LEN, o, 1);
	json_decref(o);
	return rc;
}

/* Revokes the grant a replayed code made (RFC 6749 4.1.2, 10.5). */
static int
revoke_grant(struct broker_txn *t, const char *grant, int64_t now)
{
	struct broker_grant g;
	struct broker_grant_end e = { .id = grant, .now = now };
	int rc;

	if ((rc = broker_grant_get(t, grant, &g)) != 0)
		return rc == BROKER_E_NOTFOUND ? 0 : rc;
	e.customer = g.customer;
	rc = broker_grant_revoke(t, &e);
	broker_grant_clear(&g);
	return rc;
}

int
broker_code_redeem(struct broker_txn *t, void *arg)
{
	struct broker_code_use *u = arg;
	struct broker_refresh_new rn = { 0 };
	char key[CKEY_LEN + 1];
	const char *grant, *company, *uri, *challenge;
	const void *val;
	size_t len;
	json_t *o = NULL;
	int rc;

	u->outcome = BROKER_CODE_INVALID;
	memset(&u->grant, 0, sizeof(u->grant));
	if ((rc = code_key(u->code, u->len, key)) != 0 ||
	    (rc = broker_txn_get(t, BROKER_DB_CODES, key, CKEY_LEN, &val, &len,
		 NULL)) != 0 ||
	    (rc = broker_rec_load(val, len, &o)) != 0)
		return rc == BROKER_E_NOTFOUND ? 0 : rc;
	grant = json_string_value(json_object_get(o, "grant"));
	company = json_string_value(json_object_get(o, "company"));
	uri = json_string_value(json_object_get(o, "redirect_uri"));
	challenge = json_string_value(json_object_get(o, "challenge"));
	if (grant == NULL || company == NULL || uri == NULL ||
	    challenge == NULL) {
		rc = BROKER_E_CORRUPT;
		goto out;
	}
	/* Another client's code is as unknown as a missing one. */
	if (strcmp(company, u->company) != 0)
		goto out;
	if (json_is_true(json_object_get(o, "used"))) {
		u->outcome = BROKER_CODE_REUSED;
		rc = revoke_grant(t, grant, u->now);
		goto out;
	}
	if (u->now >= json_integer_value(json_object_get(o, "expires")) ||
	    u->redirect_uri == NULL || strcmp(uri, u->redirect_uri) != 0 ||
	    u->challenge == NULL || strlen(u->challenge) != strlen(challenge) ||
	    !certs_ct_equal(u->challenge, challenge, strlen(challenge)))
		goto out;
	json_object_set_new(o, "used", json_true());
	if ((rc = broker_rec_put(t, BROKER_DB_CODES, key, CKEY_LEN, o, 0)) != 0)
		goto out;
	if ((rc = broker_grant_get(t, grant, &u->grant)) != 0) {
		/* Erased since: it ended, then went past the quota. */
		if (rc == BROKER_E_NOTFOUND)
			rc = 0;
		goto out;
	}
	if (broker_grant_live(t, &u->grant, u->now) != 0)
		goto out;
	rn.grant = u->grant.id;
	rn.company = u->grant.company;
	rn.customer = u->grant.customer;
	rn.scopes = u->grant.scopes;
	rn.now = u->now;
	if ((rc = broker_refresh_issue(t, &rn)) != 0)
		goto out;
	memcpy(u->refresh, rn.token, sizeof(u->refresh));
	certs_wipe(rn.token, sizeof(rn.token));
	u->outcome = BROKER_CODE_OK;
out:
	json_decref(o);
	if (u->outcome != BROKER_CODE_OK)
		broker_grant_clear(&u->grant);
	return rc;
}

/* ---- sweeping ----------------------------------------------------------- */

#define SWEEP_BATCH 1024 /* deletions per commit, at most */
#define SWEEP_SCAN 8192	 /* records looked at per commit, at most */
#define SKEY_MAX 72

struct tsweep {
	const struct broker_sweep *sw;
	int64_t spent_keep;
	enum broker_db db;
	const char *field; /* CODES, TOKENS: the record's expiry */
	struct broker_txn *t;
	char keys[SWEEP_BATCH][SKEY_MAX];
	size_t klen[SWEEP_BATCH];
	size_t n, scanned, deleted;
	char from[SKEY_MAX]; /* where the next commit resumes */
	size_t fromlen;
	int more;
};

static void
doom(struct tsweep *w, const void *key, size_t klen)
{
	memcpy(w->keys[w->n], key, klen);
	w->klen[w->n++] = klen;
}

/* Codes past their expiry and revoked jtis past their token's: done. */
static int
expired(const struct tsweep *w, const void *val, size_t len)
{
	json_t *o = NULL;
	int64_t until;

	if (broker_rec_load(val, len, &o) != 0)
		return 0;
	until = json_integer_value(json_object_get(o, w->field));
	json_decref(o);
	/* A minute's grace past the clock leeway tokens are allowed. */
	return until != 0 && until + 60 < w->sw->now;
}

/* 1 when the grant is erased or ended (a minute's grace), 0, or < 0. */
static int
grant_over(const struct tsweep *w, const char *grant)
{
	struct broker_grant g;
	int rc = broker_grant_get(w->t, grant, &g);

	if (rc == 0)
		rc = g.revoked_at != 0 || g.expires + 60 < w->sw->now;
	broker_grant_clear(&g);
	return rc == BROKER_E_NOTFOUND ? 1 : rc;
}

/* A grant's entry of a family goes with either. */
static void
index_doom(struct tsweep *w, const char *key)
{
	char grant[BROKER_ID_LEN + 1], family[BROKER_ID_LEN + 1];

	memcpy(grant, key + 2, BROKER_ID_LEN);
	grant[BROKER_ID_LEN] = '\0';
	memcpy(family, key + 3 + BROKER_ID_LEN, BROKER_ID_LEN);
	family[BROKER_ID_LEN] = '\0';
	if (grant_over(w, grant) == 1 || family_dead(w->t, family) == 1)
		doom(w, key, RKEY_LEN);
}

/*
 * A refresh token whose family or grant is dead can never be honoured
 * again, and its replay has nothing left to kill: it goes, with the
 * family's record (a family without one counts as dead).  A spent token
 * is remembered spent_keep seconds, for the replay that kills its family;
 * a revoked family's record goes once its tokens can.
 */
static void
refresh_doom(struct tsweep *w, const void *key, size_t klen,
    const void *val, size_t len)
{
	const char *grant, *family;
	char fkey[FKEY_MAX];
	size_t fklen;
	json_t *o = NULL;
	int over;

	if (klen == RKEY_LEN && memcmp(key, "r:", 2) == 0) {
		index_doom(w, key);
		return;
	}
	if (broker_rec_load(val, len, &o) != 0)
		return; /* left for a person to look at */
	if (klen != CERTS_SHA256_LEN) {
		if (json_is_true(json_object_get(o, "revoked")))
			doom(w, key, klen);
		json_decref(o);
		return;
	}
	grant = json_string_value(json_object_get(o, "grant"));
	family = json_string_value(json_object_get(o, "family"));
	if (grant == NULL || family == NULL ||
	    (fklen = family_key(fkey, family)) == 0) {
		json_decref(o);
		return;
	}
	if ((over = grant_over(w, grant)) == 1) {
		doom(w, key, klen);
		doom(w, fkey, fklen);
	} else if (over == 0 &&
	    (family_dead(w->t, family) == 1 ||
		(json_is_true(json_object_get(o, "spent")) &&
		    json_integer_value(json_object_get(o, "spent_at")) +
			    w->spent_keep <
			w->sw->now)))
		doom(w, key, klen);
	json_decref(o);
}

static int
tsweep_one(void *arg, const void *key, size_t klen, const void *val,
    size_t len)
{
	struct tsweep *w = arg;

	if (klen >= SKEY_MAX)
		return 0;
	/* Room for a token and its family; a bounded commit either way. */
	if (w->n + 2 > SWEEP_BATCH || w->scanned == SWEEP_SCAN) {
		memcpy(w->from, key, klen);
		w->fromlen = klen;
		w->more = 1;
		return 1;
	}
	w->scanned++;
	if (w->db == BROKER_DB_REFRESH)
		refresh_doom(w, key, klen, val, len);
	else if (expired(w, val, len))
		doom(w, key, klen);
	return 0;
}

static int
tsweep_some(struct broker_txn *t, void *arg)
{
	struct tsweep *w = arg;
	int rc;

	w->n = w->scanned = w->deleted = 0;
	w->more = 0;
	w->t = t;
	rc = broker_txn_scan(t, w->db, w->fromlen ? w->from : NULL,
	    w->fromlen, tsweep_one, w);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < w->n; i++) {
		rc = broker_txn_del(t, w->db, w->keys[i], w->klen[i]);
		/* A family is doomed once per token of it. */
		if (rc != 0 && rc != BROKER_E_NOTFOUND)
			return rc;
		w->deleted += rc == 0;
	}
	return 0;
}

int
broker_tokens_sweep(struct broker_store *s, const struct broker_sweep *sw,
    int64_t spent_keep, size_t *n)
{
	static const struct {
		enum broker_db db;
		const char *field;
	} tables[] = {
		{ BROKER_DB_CODES, "expires" },
		{ BROKER_DB_TOKENS, "exp" },
		{ BROKER_DB_REFRESH, NULL },
	};
	struct tsweep *w = calloc(1, sizeof(*w));
	int rc = 0;

	*n = 0;
	if (w == NULL)
		return BROKER_E_NOMEM;
	w->sw = sw;
	w->spent_keep = spent_keep;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]) && rc == 0;
	    i++) {
		w->db = tables[i].db;
		w->field = tables[i].field;
		w->fromlen = 0;
		do {
			if ((rc = broker_write(s, tsweep_some, w)) != 0)
				break;
			*n += w->deleted;
			if (sw->between != NULL)
				sw->between(sw->between_arg);
		} while (w->more);
	}
	free(w);
	return rc;
}
