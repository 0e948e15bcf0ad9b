/*
 * grants.c - customers' grants to companies, and deleting a customer.
 *
 * One named database holds three kinds of keys: "g:<id>" the grant record,
 * "c:<customer><id>" and "o:<company>:<id>" empty index entries, so a
 * customer's and a company's grants are each one prefix scan.  Revocation
 * stamps the record; every token and refresh check reads that stamp, so it
 * takes effect on the next request.  Nothing here checks who is asking:
 * callers pass the owner, and another owner's grant is simply not found.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "certs/certs.h"
#include "policy/policy.h"

#define KEY_MAX 128

void
broker_grant_clear(struct broker_grant *g)
{
	if (g == NULL)
		return;
	free(g->scopes);
	memset(g, 0, sizeof(*g));
}

static int
key_of(char *out, size_t cap, const char *a, const char *b, const char *c)
{
	int n = snprintf(out, cap, "%s%s%s", a, b, c);

	return n < 0 || (size_t)n >= cap ? BROKER_E_INVAL : n;
}

/*
 * Record formats.  Version 1, which older stores hold, is a JSON object.
 * Version 2, written since, is binary, so that the grant check of every
 * company fetch parses no JSON:
 *
 *   created, expires, revoked_at     8 bytes each, big-endian
 *   customer, company, purpose       1-byte length, then the bytes
 *   scopes                           2-byte length, then the bytes
 */
#define GRANT_V1 1
#define GRANT_V2 2
#define GRANT_FIXED ((size_t)3 * 8)

static int
from_json(const void *val, size_t len, struct broker_grant *g)
{
	json_t *o = NULL;
	const char *scopes;
	int rc;

	if ((rc = broker_rec_load(val, len, &o)) != 0)
		return rc;
	scopes = json_string_value(json_object_get(o, "scopes"));
	if (scopes == NULL)
		rc = BROKER_E_CORRUPT;
	if (rc == 0)
		rc = broker_rec_str(o, "customer", g->customer,
		    sizeof(g->customer));
	if (rc == 0)
		rc = broker_rec_str(o, "company", g->company,
		    sizeof(g->company));
	if (rc == 0)
		rc = broker_rec_str(o, "purpose", g->purpose,
		    sizeof(g->purpose));
	if (rc == 0 && (g->scopes = strdup(scopes)) == NULL)
		rc = BROKER_E_NOMEM;
	g->created = json_integer_value(json_object_get(o, "created"));
	g->expires = json_integer_value(json_object_get(o, "expires"));
	g->revoked_at = json_integer_value(json_object_get(o, "revoked_at"));
	json_decref(o);
	return rc;
}

/* A length-prefixed string of a v2 record; stored bytes are untrusted. */
static const unsigned char *
take(const unsigned char *p, const unsigned char *end, int wide,
    const unsigned char **s, size_t *slen)
{
	size_t n;

	if (p == NULL || end - p < (wide ? 2 : 1))
		return NULL;
	n = wide ? ((size_t)p[0] << 8 | p[1]) : p[0];
	p += wide ? 2 : 1;
	if ((size_t)(end - p) < n || memchr(p, '\0', n) != NULL)
		return NULL;
	*s = p;
	*slen = n;
	return p + n;
}

static int
copy_str(char *out, size_t cap, const unsigned char *s, size_t n)
{
	if (n == 0 || n >= cap)
		return BROKER_E_CORRUPT;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

static int
from_binary(const unsigned char *p, size_t len, struct broker_grant *g)
{
	const unsigned char *end = p + len, *cu = NULL, *co = NULL, *pu = NULL,
			    *sc = NULL;
	size_t ncu = 0, nco = 0, npu = 0, nsc = 0;

	if (len < GRANT_FIXED)
		return BROKER_E_CORRUPT;
	g->created = (int64_t)broker_get64(p);
	g->expires = (int64_t)broker_get64(p + 8);
	g->revoked_at = (int64_t)broker_get64(p + 16);
	p = take(p + GRANT_FIXED, end, 0, &cu, &ncu);
	p = take(p, end, 0, &co, &nco);
	p = take(p, end, 0, &pu, &npu);
	p = take(p, end, 1, &sc, &nsc);
	if (p != end || nsc == 0 ||
	    copy_str(g->customer, sizeof(g->customer), cu, ncu) != 0 ||
	    copy_str(g->company, sizeof(g->company), co, nco) != 0 ||
	    copy_str(g->purpose, sizeof(g->purpose), pu, npu) != 0)
		return BROKER_E_CORRUPT;
	if ((g->scopes = malloc(nsc + 1)) == NULL)
		return BROKER_E_NOMEM;
	memcpy(g->scopes, sc, nsc);
	g->scopes[nsc] = '\0';
	return 0;
}

int
broker_grant_get(struct broker_txn *t, const char *id, struct broker_grant *out)
{
	char key[KEY_MAX];
	const void *val;
	size_t len;
	unsigned version;
	int n, rc;

	memset(out, 0, sizeof(*out));
	if (id == NULL || strlen(id) != BROKER_ID_LEN)
		return BROKER_E_NOTFOUND;
	if ((n = key_of(key, sizeof(key), "g:", id, "")) < 0)
		return n;
	if ((rc = broker_txn_get(t, BROKER_DB_GRANTS, key, (size_t)n, &val,
		 &len, &version)) != 0)
		return rc;
	memcpy(out->id, id, BROKER_ID_LEN + 1);
	if (version == GRANT_V2)
		rc = from_binary(val, len, out);
	else if (version == GRANT_V1)
		rc = from_json(val, len, out);
	else
		rc = BROKER_E_VERSION;
	if (rc != 0)
		broker_grant_clear(out);
	return rc;
}

const char *
broker_grant_state(const struct broker_grant *g, int64_t now)
{
	if (g->revoked_at != 0)
		return "revoked";
	return now < g->expires ? "active" : "expired";
}

int
broker_grant_live(struct broker_txn *t, const struct broker_grant *g,
    int64_t now)
{
	int rc;

	if (g->revoked_at != 0 || now >= g->expires)
		return BROKER_E_REVOKED;
	rc = broker_company_live(t, g->company);
	return rc == BROKER_E_NOTFOUND ? BROKER_E_REVOKED : rc;
}

json_t *
broker_grant_json(const struct broker_grant *g, int64_t now)
{
	json_t *o, *scopes;
	char *copy, *tok, *save = NULL;

	if ((scopes = json_array()) == NULL)
		return NULL;
	if ((copy = strdup(g->scopes)) == NULL) {
		json_decref(scopes);
		return NULL;
	}
	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save))
		json_array_append_new(scopes, json_string(tok));
	free(copy);
	o = json_pack("{s:s, s:s, s:o, s:s, s:I, s:I, s:s}", "id", g->id,
	    "company", g->company, "scopes", scopes, "purpose", g->purpose,
	    "created_at", (json_int_t)g->created, "expires_at",
	    (json_int_t)g->expires, "state", broker_grant_state(g, now));
	if (o != NULL && g->revoked_at != 0)
		json_object_set_new(o, "revoked_at",
		    json_integer(g->revoked_at));
	return o;
}

struct walk {
	struct broker_txn *t;
	size_t prefix;
	const char *want;
	const char *after; /* a grant id to start after, or NULL */
	int (*fn)(void *arg, const struct broker_grant *g);
	void *arg;
};

/* Index entries end in the grant id; stop at the end of the prefix. */
static int
walk_one(void *arg, const void *key, size_t klen, const void *val, size_t len)
{
	struct walk *w = arg;
	struct broker_grant g;
	char id[BROKER_ID_LEN + 1];
	int rc;

	(void)val;
	(void)len;
	if (klen != w->prefix + BROKER_ID_LEN ||
	    memcmp(key, w->want, w->prefix) != 0)
		return memcmp(key, w->want, klen < w->prefix ? klen : w->prefix)
			   ? 1
			   : 0;
	memcpy(id, (const char *)key + w->prefix, BROKER_ID_LEN);
	id[BROKER_ID_LEN] = '\0';
	if (w->after != NULL && strcmp(id, w->after) == 0)
		return 0;
	if ((rc = broker_grant_get(w->t, id, &g)) != 0)
		return rc;
	rc = w->fn(w->arg, &g);
	broker_grant_clear(&g);
	return rc;
}

static int
walk(struct broker_txn *t, const char *prefix, const char *after,
    int (*fn)(void *arg, const struct broker_grant *g), void *arg)
{
	struct walk w = { t, strlen(prefix), prefix, after, fn, arg };
	char start[KEY_MAX];
	int n, rc;

	if ((n = key_of(start, sizeof(start), prefix, after ? after : "",
		 "")) < 0)
		return n;
	rc = broker_txn_scan(t, BROKER_DB_GRANTS, start, (size_t)n, walk_one,
	    &w);
	return rc == 1 ? 0 : rc;
}

int
broker_grants_of_customer(struct broker_txn *t, const char *customer,
    int (*fn)(void *arg, const struct broker_grant *g), void *arg)
{
	char prefix[KEY_MAX];

	if (key_of(prefix, sizeof(prefix), "c:", customer, "") < 0)
		return BROKER_E_INVAL;
	return walk(t, prefix, NULL, fn, arg);
}

int
broker_grants_of_company(struct broker_txn *t, const char *company,
    const char *after, int (*fn)(void *arg, const struct broker_grant *g),
    void *arg)
{
	char prefix[KEY_MAX];

	if (key_of(prefix, sizeof(prefix), "o:", company, ":") < 0 ||
	    (after != NULL && strlen(after) != BROKER_ID_LEN))
		return BROKER_E_INVAL;
	return walk(t, prefix, after, fn, arg);
}

static unsigned char *
put_str(unsigned char *p, const char *s, int wide)
{
	size_t n = strlen(s);

	if (wide)
		*p++ = (unsigned char)(n >> 8);
	*p++ = (unsigned char)n;
	/* Length-prefixed: no terminator by design. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(p, s, n);
	return p + n;
}

static int
grant_put(struct broker_txn *t, const struct broker_grant *g, int insert)
{
	char key[KEY_MAX];
	size_t ncu = strlen(g->customer), nco = strlen(g->company),
	       npu = strlen(g->purpose), nsc = strlen(g->scopes), len;
	unsigned char *buf, *p;
	int n, rc;

	if ((n = key_of(key, sizeof(key), "g:", g->id, "")) < 0)
		return n;
	if (ncu > 255 || nco > 255 || npu > 255 || nsc > 65535)
		return BROKER_E_INVAL;
	len = GRANT_FIXED + 1 + ncu + 1 + nco + 1 + npu + 2 + nsc;
	if ((buf = malloc(len)) == NULL)
		return BROKER_E_NOMEM;
	broker_put64(buf, (uint64_t)g->created);
	broker_put64(buf + 8, (uint64_t)g->expires);
	broker_put64(buf + 16, (uint64_t)g->revoked_at);
	p = put_str(buf + GRANT_FIXED, g->customer, 0);
	p = put_str(p, g->company, 0);
	p = put_str(p, g->purpose, 0);
	put_str(p, g->scopes, 1);
	rc = (insert ? broker_txn_insert : broker_txn_put)(t, BROKER_DB_GRANTS,
	    key, (size_t)n, buf, len, GRANT_V2);
	free(buf);
	return rc;
}

static int
index_put(struct broker_txn *t, const char *a, const char *b, const char *c)
{
	char key[KEY_MAX];
	int n = key_of(key, sizeof(key), a, b, c);

	if (n < 0)
		return n;
	return broker_txn_insert(t, BROKER_DB_GRANTS, key, (size_t)n, "", 0, 1);
}

static int
audit_grant(struct broker_txn *t, const struct broker_grant *g,
    const char *kind)
{
	json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "grant", g->id,
	    "company", g->company, "scopes", g->scopes, "purpose", g->purpose);
	int rc;

	if (d == NULL)
		return BROKER_E_NOMEM;
	rc = broker_audit_record(t, g->customer, kind, d);
	json_decref(d);
	return rc;
}

/* ---- a customer's quota ------------------------------------------------ */

struct ended {
	int64_t at, created;
	char id[BROKER_ID_LEN + 1];
	char company[BROKER_CLIENT_ID_MAX + 1];
};

struct tally {
	int64_t now;
	size_t live, n, cap;
	struct ended *ended;
};

static int
tally_one(void *arg, const struct broker_grant *g)
{
	struct tally *y = arg;
	struct ended *e;

	if (g->revoked_at == 0 && y->now < g->expires) {
		y->live++;
		return 0;
	}
	if (y->n == y->cap) {
		size_t cap = y->cap ? 2 * y->cap : 64;

		if ((e = realloc(y->ended, cap * sizeof(*e))) == NULL)
			return BROKER_E_NOMEM;
		y->ended = e;
		y->cap = cap;
	}
	e = &y->ended[y->n++];
	e->at = g->revoked_at != 0 && g->revoked_at < g->expires
	    ? g->revoked_at
	    : g->expires;
	e->created = g->created;
	memcpy(e->id, g->id, sizeof(e->id));
	memcpy(e->company, g->company, sizeof(e->company));
	return 0;
}

/* Oldest end first, then oldest made; ids make the order total. */
static int
by_end(const void *a, const void *b)
{
	const struct ended *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

/*
 * An ended grant and both its index entries; tokens of it find nothing
 * after.  It took its access away when it ended: live tokens' checks
 * stand.
 */
static int
forget(struct broker_txn *t, const char *key, int n)
{
	int rc;

	if (n < 0)
		return n;
	rc = broker_txn_del_spent(t, BROKER_DB_GRANTS, key, (size_t)n);
	return rc == BROKER_E_NOTFOUND ? 0 : rc;
}

static int
erase(struct broker_txn *t, const char *customer, const struct ended *e)
{
	char key[KEY_MAX], idx[KEY_MAX];
	int rc;

	if ((rc = forget(t, key, key_of(key, sizeof(key), "g:", e->id,
		 ""))) != 0 ||
	    (rc = forget(t, key, key_of(key, sizeof(key), "c:", customer,
		 e->id))) != 0)
		return rc;
	if (key_of(idx, sizeof(idx), e->company, ":", e->id) < 0)
		return BROKER_E_INVAL;
	return forget(t, key, key_of(key, sizeof(key), "o:", idx, ""));
}

/*
 * Refuses a grant beyond the customer's live quota, and keeps only the
 * newest ended grants, so that what one account can make the store hold
 * is bounded whatever it does.
 */
static int
quota(struct broker_txn *t, const struct broker_grant_new *n)
{
	struct tally y = { .now = n->now };
	int rc;

	if (n->max_live == 0)
		return 0;
	rc = broker_grants_of_customer(t, n->customer, tally_one, &y);
	if (rc == 0 && y.live >= n->max_live)
		rc = BROKER_E_LIMIT;
	if (rc == 0 && y.n > n->max_live) {
		qsort(y.ended, y.n, sizeof(*y.ended), by_end);
		for (size_t i = 0; i < y.n - n->max_live && rc == 0; i++)
			rc = erase(t, n->customer, &y.ended[i]);
	}
	free(y.ended);
	return rc;
}

int
broker_grant_create(struct broker_txn *t, void *arg)
{
	struct broker_grant_new *n = arg;
	struct broker_grant g = { 0 };
	char idx[KEY_MAX];
	int rc;

	if (n->expires <= n->now || policy_purpose_check(n->purpose) != 0 ||
	    strlen(n->purpose) >= sizeof(g.purpose) ||
	    strlen(n->customer) != BROKER_ID_LEN || n->scopes == NULL)
		return BROKER_E_INVAL;
	if ((rc = broker_company_live(t, n->company)) != 0 ||
	    (rc = quota(t, n)) != 0)
		return rc;
	if (certs_random_token(n->id, sizeof(n->id), 16) != 0)
		return BROKER_E_STORAGE;
	memcpy(g.id, n->id, sizeof(g.id));
	memcpy(g.customer, n->customer, sizeof(g.customer));
	memcpy(g.company, n->company, strlen(n->company) + 1);
	memcpy(g.purpose, n->purpose, strlen(n->purpose) + 1);
	g.scopes = (char *)(uintptr_t)n->scopes; /* borrowed for the write */
	g.created = n->now;
	g.expires = n->expires;
	if ((rc = grant_put(t, &g, 1)) != 0 ||
	    (rc = index_put(t, "c:", g.customer, g.id)) != 0 ||
	    key_of(idx, sizeof(idx), g.company, ":", g.id) < 0 ||
	    (rc = index_put(t, "o:", idx, "")) != 0)
		return rc;
	return audit_grant(t, &g, "grant.created");
}

int
broker_grant_revoke(struct broker_txn *t, void *arg)
{
	const struct broker_grant_end *e = arg;
	struct broker_grant g;
	int rc;

	if ((rc = broker_grant_get(t, e->id, &g)) != 0)
		return rc;
	/* Another customer's grant does not exist, as far as this one knows. */
	if (strcmp(g.customer, e->customer) != 0)
		rc = BROKER_E_NOTFOUND;
	else if (g.revoked_at == 0) {
		g.revoked_at = e->now;
		if ((rc = grant_put(t, &g, 0)) == 0)
			rc = audit_grant(t, &g, "grant.revoked");
	}
	broker_grant_clear(&g);
	return rc;
}

/* ---- deleting a customer ---------------------------------------------- */

struct del {
	struct broker_txn *t;
	int64_t now;
};

static int
revoke_each(void *arg, const struct broker_grant *g)
{
	struct del *d = arg;
	struct broker_grant copy = *g;

	if (g->revoked_at != 0)
		return 0;
	copy.revoked_at = d->now;
	return grant_put(d->t, &copy, 0);
}

int
broker_customer_delete(struct broker_txn *t, void *arg)
{
	const struct broker_grant_end *e = arg;
	struct broker_customer c;
	struct del d = { t, e->now };
	char prefix[KEY_MAX];
	int n, rc;

	if ((rc = broker_customer_get(t, e->customer, &c)) != 0)
		return rc;
	/* Grants are revoked first: companies' next fetch fails. */
	if ((rc = broker_grants_of_customer(t, e->customer, revoke_each,
		 &d)) != 0)
		goto out;
	if ((n = key_of(prefix, sizeof(prefix), "c:", e->customer, "")) < 0) {
		rc = n;
		goto out;
	}
	if ((rc = broker_txn_del_prefix(t, BROKER_DB_GRANTS, prefix, (size_t)n)) != 0 ||
	    (rc = broker_audit_erase(t, e->customer)) != 0 ||
	    (rc = broker_txn_del(t, BROKER_DB_PROFILES, e->customer,
		 strlen(e->customer))) != 0 ||
	    (rc = broker_txn_del(t, BROKER_DB_LOGINS, c.login,
		 strlen(c.login))) != 0)
		goto out;
	/* Without the account every session of it is dead at once. */
	rc = broker_txn_del(t, BROKER_DB_CUSTOMERS, e->customer,
	    strlen(e->customer));
out:
	certs_wipe(&c, sizeof(c));
	return rc;
}
