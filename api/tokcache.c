/*
 * tokcache.c - access tokens already verified, so a signature is checked
 * once, not on every fetch.
 *
 * Keyed by SHA-256 of the whole token (a token that differs in one byte is
 * a different entry and is verified afresh), in a bounded cache (cache.c).
 * An entry holds only what the signature vouches for (claims, compiled
 * scopes); the liveness of the grant, the company and the token's jti is
 * never cached and is checked by the caller on every request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

static void
tok_destroy(struct api_cached *e)
{
	struct api_tok *t = (struct api_tok *)e;

	free(t->scope_text);
	free(t);
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
	api_metrics_tokcache(t != NULL);
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
