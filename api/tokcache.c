/*
 * tokcache.c - access tokens already verified, so a signature is checked
 * once, not on every fetch.
 *
 * Keyed by SHA-256 of the whole token (a token that differs in one byte is
 * a different entry and is verified afresh).  Direct-mapped slots under
 * sharded locks: bounded memory, no lock shared by all threads.  An entry
 * holds only what the signature vouches for (claims, compiled scopes); the
 * liveness of the grant, the company and the token's jti is never cached
 * and is checked by the caller on every request.  Entries are reference
 * counted so an eviction never frees one a request is still using.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

#define SHARDS 64

struct api_tokcache {
	pthread_mutex_t lock[SHARDS];
	struct api_tok **slot;
	size_t n;
};

int
api_tokcache_new(size_t slots, struct api_tokcache **out)
{
	struct api_tokcache *c;

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
api_tok_put(struct api_tok *t)
{
	if (t == NULL || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	policy_scopes_free(t->scopes);
	free(t->scope_text);
	free(t);
}

void
api_tokcache_free(struct api_tokcache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		api_tok_put(c->slot[i]);
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&c->lock[i]);
	free(c->slot);
	free(c);
}

static size_t
index_of(const struct api_tokcache *c, const uint8_t h[CERTS_SHA256_LEN])
{
	uint64_t v;

	memcpy(&v, h, sizeof(v));
	return (size_t)(v % c->n);
}

/* Copies a string claim into a fixed buffer; 0 when present and fits. */
static int
claim_str(const json_t *claims, const char *name, char *out, size_t cap)
{
	const char *s = json_string_value(json_object_get(claims, name));

	if (s == NULL || strlen(s) >= cap || s[0] == '\0')
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* Verifies a token and distils what the broker needs from it. */
static int
verify(struct api_server *srv, const char *tok, size_t len,
    struct api_tok **out, char *detail, size_t detailcap)
{
	struct certs_jwt_expect ex = { srv->issuer, srv->issuer, api_wall_now(),
		API_CLOCK_LEEWAY };
	const char *scope;
	json_t *claims = NULL;
	struct api_tok *t;
	int rc;

	*out = NULL;
	rc = certs_jwt_verify(tok, len, api_keyring_find, srv->keys, &ex,
	    &claims);
	if (rc != 0) {
		snprintf(detail, detailcap, "%s", certs_strerror(rc));
		return API_E_INVALID_TOKEN;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		json_decref(claims);
		return API_E_NOMEM;
	}
	atomic_init(&t->refs, 1);
	t->exp = json_integer_value(json_object_get(claims, "exp"));
	scope = json_string_value(json_object_get(claims, "scope"));
	if (claim_str(claims, "grant_id", t->grant, sizeof(t->grant)) ||
	    claim_str(claims, "client_id", t->client, sizeof(t->client)) ||
	    claim_str(claims, "jti", t->jti, sizeof(t->jti)) ||
	    claim_str(claims, "sub", t->sub, sizeof(t->sub)) ||
	    scope == NULL ||
	    policy_scopes_parse(scope, strlen(scope), &t->scopes, NULL, 0)) {
		snprintf(detail, detailcap, "token lacks required claims");
		json_decref(claims);
		api_tok_put(t);
		return API_E_INVALID_TOKEN;
	}
	/* A cnf claim binds the token to a certificate this broker cannot
	 * check yet: such a token is refused rather than honoured unbound. */
	if (json_object_get(claims, "cnf") != NULL) {
		snprintf(detail, detailcap, "certificate-bound token");
		json_decref(claims);
		api_tok_put(t);
		return API_E_INVALID_TOKEN;
	}
	if ((t->scope_text = policy_scopes_format(t->scopes)) == NULL) {
		json_decref(claims);
		api_tok_put(t);
		return API_E_NOMEM;
	}
	t->iat = json_integer_value(json_object_get(claims, "iat"));
	json_decref(claims);
	*out = t;
	return 0;
}

int
api_token_check(struct api_request *r, const char *tok, size_t len,
    struct api_tok **out)
{
	struct api_tokcache *c = r->srv->tokens;
	uint8_t h[CERTS_SHA256_LEN];
	struct api_tok *t = NULL, *old;
	size_t i;
	pthread_mutex_t *l;
	int rc;

	*out = NULL;
	if (len == 0 || len > CERTS_JWT_MAX)
		return api_fail(r, API_E_INVALID_TOKEN, "malformed token");
	if (certs_sha256(tok, len, h) != 0)
		return API_E_INTERNAL;
	i = index_of(c, h);
	l = &c->lock[i % SHARDS];
	pthread_mutex_lock(l);
	if (c->slot[i] != NULL &&
	    memcmp(c->slot[i]->hash, h, sizeof(h)) == 0) {
		t = c->slot[i];
		atomic_fetch_add(&t->refs, 1);
	}
	pthread_mutex_unlock(l);
	api_metrics_tokcache(t != NULL);
	if (t == NULL) {
		if ((rc = verify(r->srv, tok, len, &t, r->detail,
			 sizeof(r->detail))) != 0)
			return rc;
		memcpy(t->hash, h, sizeof(h));
		atomic_fetch_add(&t->refs, 1); /* one for the cache */
		pthread_mutex_lock(l);
		old = c->slot[i];
		c->slot[i] = t;
		pthread_mutex_unlock(l);
		api_tok_put(old);
	}
	/* Expiry is re-checked on every use, cached or not. */
	if (api_wall_now() >= t->exp + API_CLOCK_LEEWAY) {
		api_tok_put(t);
		return api_fail(r, API_E_INVALID_TOKEN, "token expired");
	}
	*out = t;
	return 0;
}
