/*
 * tokcache.c - access tokens already verified, so a signature is checked
 * once, not on every fetch.
 *
 * Keyed by SHA-256 of the whole token (a token that differs in one byte is
 * a different entry and is verified afresh), in a bounded cache (cache.c).
 * An entry holds what the signature vouches for (claims, compiled
 * scopes) and what the caller's last full check of the token's access
 * found, stamped with the store's access generation (api_seen): the
 * caller trusts that only while the generation has not moved, which
 * every revocation, disabling or key change makes it do.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

void
api_seen_put(struct api_seen *s)
{
	if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1)
		free(s);
}

static void
tok_destroy(struct api_cached *e)
{
	struct api_tok *t = (struct api_tok *)e;

	api_seen_put(t->seen);
	pthread_mutex_destroy(&t->seen_lock);
	free(t->scope_text);
	free(t);
}

struct api_seen *
api_tok_seen(struct api_tok *t, uint64_t gen)
{
	struct api_seen *s;

	pthread_mutex_lock(&t->seen_lock);
	if ((s = t->seen) != NULL && s->gen == gen)
		atomic_fetch_add(&s->refs, 1);
	else
		s = NULL;
	pthread_mutex_unlock(&t->seen_lock);
	return s;
}

struct api_seen *
api_tok_saw(struct api_tok *t, uint64_t gen, const struct broker_grant *g)
{
	size_t n = strlen(g->scopes) + 1;
	struct api_seen *s = malloc(sizeof(*s) + n), *old;

	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 2); /* the token's and the caller's */
	s->gen = gen;
	s->expires = g->expires;
	memcpy(s->customer, g->customer, sizeof(s->customer));
	memcpy(s->scopes, g->scopes, n);
	pthread_mutex_lock(&t->seen_lock);
	old = t->seen;
	t->seen = s;
	pthread_mutex_unlock(&t->seen_lock);
	api_seen_put(old);
	return s;
}

int
api_tok_access(struct broker_txn *t, const struct api_tok *tk, int64_t now,
    struct broker_grant *g, const char **why)
{
	int rc = broker_grant_get(t, tk->grant, g);

	*why = "grant revoked or expired, or company disabled";
	if (rc == 0 && strcmp(g->company, tk->client) != 0)
		rc = BROKER_E_REVOKED;
	if (rc == 0)
		rc = broker_grant_live(t, g, now);
	if (rc == 0 && (rc = broker_jti_revoked(t, tk->jti)) == 1) {
		*why = "token revoked";
		rc = BROKER_E_REVOKED;
	}
	if (rc == 0 && tk->cnf[0] != '\0' &&
	    (rc = broker_company_cert_live(t, tk->client, tk->cnf)) != 0)
		*why = "the certificate the token is bound to was revoked";
	return rc;
}

void
api_tok_put(struct api_tok *t)
{
	if (t != NULL)
		api_cached_release(&t->base);
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

/* Looks the kid up in a ring and notes which kid the token named. */
struct lookup {
	const struct api_keyring *ring;
	char kid[64];
};

static const struct certs_signkey *
find_noting(void *arg, const char *kid)
{
	struct lookup *l = arg;

	if (strlen(kid) < sizeof(l->kid))
		memcpy(l->kid, kid, strlen(kid) + 1);
	return api_keyring_find((void *)(uintptr_t)l->ring, kid);
}

/* Verifies a token and distils what the broker needs from it. */
static int
verify(struct api_server *srv, const struct api_keyring *ring,
    const char *tok, size_t len, struct api_tok **out, char *detail,
    size_t detailcap)
{
	struct certs_jwt_expect ex = { srv->issuer, srv->issuer, api_wall_now(),
		API_CLOCK_LEEWAY };
	struct lookup l = { ring, "" };
	const char *scope;
	struct policy_scopes *scopes = NULL;
	json_t *claims = NULL;
	struct api_tok *t;
	int rc;

	*out = NULL;
	rc = certs_jwt_verify(tok, len, find_noting, &l, &ex, &claims);
	if (rc != 0) {
		snprintf(detail, detailcap, "%s", certs_strerror(rc));
		return API_E_INVALID_TOKEN;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		json_decref(claims);
		return API_E_NOMEM;
	}
	if (pthread_mutex_init(&t->seen_lock, NULL) != 0) {
		free(t);
		json_decref(claims);
		return API_E_NOMEM;
	}
	atomic_init(&t->base.refs, 1);
	t->base.destroy = tok_destroy;
	t->exp = json_integer_value(json_object_get(claims, "exp"));
	scope = json_string_value(json_object_get(claims, "scope"));
	if (claim_str(claims, "grant_id", t->grant, sizeof(t->grant)) ||
	    claim_str(claims, "client_id", t->client, sizeof(t->client)) ||
	    claim_str(claims, "jti", t->jti, sizeof(t->jti)) ||
	    claim_str(claims, "sub", t->sub, sizeof(t->sub)) ||
	    scope == NULL ||
	    policy_scopes_parse(scope, strlen(scope), &scopes, NULL, 0)) {
		snprintf(detail, detailcap, "token lacks required claims");
		json_decref(claims);
		api_tok_put(t);
		return API_E_INVALID_TOKEN;
	}
	/* A cnf claim we cannot honour (no x5t#S256) refuses the token. */
	if (json_object_get(claims, "cnf") != NULL) {
		const char *x = json_string_value(json_object_get(
		    json_object_get(claims, "cnf"), "x5t#S256"));

		if (x == NULL || strlen(x) != CERTS_THUMB_LEN) {
			snprintf(detail, detailcap, "unsupported cnf claim");
			policy_scopes_free(scopes);
			json_decref(claims);
			api_tok_put(t);
			return API_E_INVALID_TOKEN;
		}
		memcpy(t->cnf, x, CERTS_THUMB_LEN + 1);
	}
	/* Only the normalised text is kept: a cached entry stays small. */
	t->scope_text = policy_scopes_format(scopes);
	policy_scopes_free(scopes);
	if (t->scope_text == NULL) {
		json_decref(claims);
		api_tok_put(t);
		return API_E_NOMEM;
	}
	t->iat = json_integer_value(json_object_get(claims, "iat"));
	memcpy(t->kid, l.kid, sizeof(t->kid));
	json_decref(claims);
	*out = t;
	return 0;
}

int
api_token_check(struct api_request *r, struct broker_txn *txn,
    const char *tok, size_t len, struct api_tok **out)
{
	const struct api_keyring *ring = api_keys(r->srv, txn);
	uint8_t h[API_CACHE_KEY];
	struct api_tok *t;
	int rc;

	*out = NULL;
	if (len == 0 || len > CERTS_JWT_MAX)
		return api_fail(r, API_E_INVALID_TOKEN, "malformed token");
	if (certs_sha256(tok, len, h) != 0)
		return API_E_INTERNAL;
	t = (struct api_tok *)api_cache_get(r->srv->tokens, h);
	api_metrics_cache(API_CACHE_TOKEN, t != NULL);
	if (t == NULL) {
		if ((rc = verify(r->srv, ring, tok, len, &t, r->detail,
			 sizeof(r->detail))) != 0)
			return rc;
		memcpy(t->base.key, h, sizeof(h));
		api_cache_insert(r->srv->tokens, &t->base);
	}
	/* A key retired since (ccx-admin keys retire --force) vouches no more. */
	if (api_keyring_find((void *)(uintptr_t)ring, t->kid) == NULL) {
		api_tok_put(t);
		return api_fail(r, API_E_INVALID_TOKEN, "signing key retired");
	}
	/* Expiry is re-checked on every use, cached or not. */
	if (api_wall_now() >= t->exp + API_CLOCK_LEEWAY) {
		api_tok_put(t);
		return api_fail(r, API_E_INVALID_TOKEN, "token expired");
	}
	*out = t;
	return 0;
}
