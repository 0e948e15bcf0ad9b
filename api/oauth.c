/*
 * oauth.c - the OAuth 2.0 token, introspection and revocation endpoints.
 *
 * Every caller here is an authenticated company (client_secret_basic,
 * checked before the handler runs).  Access tokens are RFC 9068 JWTs
 * signed with the current key; refresh tokens are opaque and rotate on
 * every use.  A company learns nothing about another company's tokens:
 * they introspect as inactive and revoking them does nothing.  Errors are
 * RFC 6749 5.2 JSON (the route table says so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

#define GRANT_TYPE_GRANT "urn:ccx:params:oauth:grant-type:grant"

struct tok_state {
	int step;
	char scopes_text[8192];
	struct broker_grant grant;
	struct broker_refresh_new rn;
	struct broker_refresh_use ru;
	struct broker_token_revoke rv;
	struct broker_code_use cu;
	char challenge[64];
	char jti[64];
};

static void
tok_state_free(void *p)
{
	struct tok_state *s = p;

	broker_grant_clear(&s->grant);
	broker_grant_clear(&s->ru.grant);
	broker_grant_clear(&s->cu.grant);
	free(s->ru.scopes);
	certs_free_secret(s, sizeof(*s));
}

static struct tok_state *
tok_state(struct api_request *r)
{
	if (r->state == NULL) {
		if ((r->state = calloc(1, sizeof(struct tok_state))) == NULL)
			return NULL;
		r->state_free = tok_state_free;
	}
	return r->state;
}

/*
 * Signs an access token for grant g carrying scopes; its expiry never
 * passes the grant's.  Caller frees *jwt.
 */
static int
sign_access(struct api_request *r, const struct broker_grant *g,
    const char *scopes, int64_t now, char **jwt, int64_t *exp)
{
	char sub[API_SUB_LEN + 1], jti[32];
	const struct certs_signkey *signer;
	json_t *claims;
	size_t len;
	int rc;

	*jwt = NULL;
	*exp = now + r->srv->cfg.token_lifetime;
	if (*exp > g->expires)
		*exp = g->expires;
	if ((rc = api_pairwise_sub(r->srv, g->customer, g->company, sub)) != 0)
		return rc;
	if (certs_random_token(jti, sizeof(jti), 16) != 0)
		return API_E_INTERNAL;
	{
		struct broker_txn *t = NULL;

		if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
			return rc;
		signer = api_keyring_signer(api_keys(r->srv, t), now);
		broker_read_end(t);
		if (signer == NULL)
			return API_E_INTERNAL;
	}
	claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}",
	    "iss", r->srv->issuer, "aud", r->srv->issuer, "sub", sub,
	    "client_id", g->company, "grant_id", g->id, "scope", scopes,
	    "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
	    (json_int_t)*exp, "jti", jti);
	if (claims == NULL)
		return API_E_NOMEM;
	/* RFC 8705 3: bound to the certificate the company authenticated with. */
	if (r->bound && json_object_set_new(claims, "cnf", json_pack("{s:s}",
			    "x5t#S256", r->peer_thumb)) != 0) {
		json_decref(claims);
		return API_E_NOMEM;
	}
	rc = certs_jwt_sign(signer, claims, jwt, &len);
	json_decref(claims);
	if (rc == 0)
		api_metrics_event(API_EV_TOKEN_ISSUED);
	return rc == 0 ? 0 : API_E_INTERNAL;
}

/* The RFC 6749 5.1 success response (Cache-Control: no-store is set). */
static int
token_response(struct api_request *r, const struct broker_grant *g,
    const char *scopes, const char *refresh)
{
	int64_t now = api_wall_now(), exp;
	char *jwt = NULL;
	int rc;

	if ((rc = sign_access(r, g, scopes, now, &jwt, &exp)) != 0)
		return rc;
	rc = api_respond_json(r, 200, json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}",
	    "access_token", jwt, "token_type", "Bearer", "expires_in",
	    (json_int_t)(exp - now), "refresh_token", refresh, "scope", scopes,
	    "grant_id", g->id));
	free(jwt);
	if (rc == 0)
		rc = api_add_header(r, "Pragma", "no-cache");
	return rc;
}

/* Parses and checks the optional "scope" parameter against held. */
static int
narrow_scope(struct api_request *r, const char *held, char *out, size_t cap)
{
	struct policy_scopes *h = NULL, *w = NULL;
	const char *want = api_form_get(&r->form, "scope", NULL);
	char why[128] = "", *text = NULL;
	int rc = 0;

	if (policy_scopes_parse(held, strlen(held), &h, NULL, 0) != 0) {
		rc = API_E_INTERNAL;
		goto out;
	}
	if (want != NULL) {
		if (policy_scopes_parse(want, strlen(want), &w, why,
			sizeof(why)) != 0) {
			rc = api_fail(r, API_E_INVALID_SCOPE, "%s", why);
			goto out;
		}
		if (!policy_scopes_covers(h, w)) {
			rc = api_fail(r, API_E_INVALID_SCOPE,
			    "scope exceeds what the grant allows");
			goto out;
		}
	}
	if ((text = policy_scopes_format(w != NULL ? w : h)) == NULL) {
		rc = API_E_NOMEM;
		goto out;
	}
	if (strlen(text) >= cap)
		rc = API_E_INTERNAL;
	else
		memcpy(out, text, strlen(text) + 1);
out:
	free(text);
	policy_scopes_free(h);
	policy_scopes_free(w);
	return rc;
}

/*
 * Counts one issuance against its grant: each makes records (a refresh
 * token, an audit record in the customer's trail) that a company looping
 * on the token endpoint would otherwise pile up without end.
 */
static int
issue_admit(struct api_request *r, const char *grant)
{
	return api_throttle_admit(r, r->srv->quota, "x:", grant,
	    r->srv->cfg.grant_token_max,
	    "too many tokens issued for this grant lately; try again later");
}

/* grant_type=urn:ccx:params:oauth:grant-type:grant */
static int
token_from_grant(struct api_request *r, struct tok_state *s)
{
	const char *gid = api_form_get(&r->form, "grant_id", NULL);
	struct broker_txn *t = NULL;
	int64_t now = api_wall_now();
	int rc;

	if (s->step == 1)
		return token_response(r, &s->grant, s->scopes_text, s->rn.token);
	if (gid == NULL)
		return api_fail(r, API_E_BADREQ, "grant_id is required");
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_grant_get(t, gid, &s->grant);
	/* Another company's grant is as unknown as a missing one. */
	if (rc == 0 && (strcmp(s->grant.company, r->client_id) != 0 ||
			   broker_grant_live(t, &s->grant, now) != 0))
		rc = BROKER_E_REVOKED;
	broker_read_end(t);
	if (rc == BROKER_E_NOTFOUND || rc == BROKER_E_REVOKED)
		return api_fail(r, API_E_INVALID_GRANT,
		    "unknown, revoked or expired grant");
	if (rc != 0)
		return rc;
	if ((rc = narrow_scope(r, s->grant.scopes, s->scopes_text,
		 sizeof(s->scopes_text))) != 0 ||
	    (rc = issue_admit(r, s->grant.id)) != 0)
		return rc;
	s->rn.grant = s->grant.id;
	s->rn.company = s->grant.company;
	s->rn.customer = s->grant.customer;
	s->rn.scopes = s->scopes_text;
	s->rn.now = now;
	s->rn.max_families = r->srv->cfg.refresh_families_max;
	s->step = 1;
	return api_write(r, broker_refresh_issue, &s->rn);
}

/* grant_type=refresh_token */
static int
token_from_refresh(struct api_request *r, struct tok_state *s)
{
	size_t len;
	const char *rt = api_form_get(&r->form, "refresh_token", &len);
	const char *want = api_form_get(&r->form, "scope", NULL);
	struct policy_scopes *w = NULL;
	struct broker_txn *t = NULL;
	char why[128] = "", grant[BROKER_ID_LEN + 1], *text = NULL;
	int rc;

	if (s->step == 1) {
		switch (s->ru.outcome) {
		case BROKER_REFRESH_OK:
			return token_response(r, &s->ru.grant, s->ru.scopes,
			    s->ru.token);
		case BROKER_REFRESH_SCOPE:
			return api_fail(r, API_E_INVALID_SCOPE,
			    "scope exceeds what this refresh token carries");
		case BROKER_REFRESH_REUSED:
			return api_fail(r, API_E_INVALID_GRANT,
			    "refresh token already used; its family is revoked");
		default:
			return api_fail(r, API_E_INVALID_GRANT,
			    "unknown, revoked or expired refresh token");
		}
	}
	if (rt == NULL)
		return api_fail(r, API_E_BADREQ, "refresh_token is required");
	if (want != NULL) {
		if (policy_scopes_parse(want, strlen(want), &w, why,
			sizeof(why)) != 0)
			return api_fail(r, API_E_INVALID_SCOPE, "%s", why);
		text = policy_scopes_format(w);
		policy_scopes_free(w);
		if (text == NULL || strlen(text) >= sizeof(s->scopes_text)) {
			free(text);
			return API_E_NOMEM;
		}
		memcpy(s->scopes_text, text, strlen(text) + 1);
		free(text);
		s->ru.requested = s->scopes_text;
	}
	/*
	 * The grant of a usable token is counted; a spent, dead or unknown
	 * one goes straight to the commit, which decides (a replay still
	 * kills its family, however busy the grant).
	 */
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_refresh_lookup(t, rt, len, r->client_id, grant, &text);
	broker_read_end(t);
	free(text);
	if (rc == 0 && (rc = issue_admit(r, grant)) != 0)
		return rc;
	if (rc != 0 && rc != BROKER_E_NOTFOUND)
		return rc;
	s->ru.presented = rt;
	s->ru.len = len;
	s->ru.company = r->client_id;
	s->ru.now = api_wall_now();
	s->step = 1;
	return api_write(r, broker_refresh_redeem, &s->ru);
}

/* grant_type=authorization_code (with PKCE) */
static int
token_from_code(struct api_request *r, struct tok_state *s)
{
	size_t clen, vlen;
	const char *code = api_form_get(&r->form, "code", &clen);
	const char *uri = api_form_get(&r->form, "redirect_uri", NULL);
	const char *ver = api_form_get(&r->form, "code_verifier", &vlen);
	uint8_t d[CERTS_SHA256_LEN];

	if (s->step == 1) {
		if (s->cu.outcome == BROKER_CODE_OK)
			return token_response(r, &s->cu.grant,
			    s->cu.grant.scopes, s->cu.refresh);
		return api_fail(r, API_E_INVALID_GRANT,
		    s->cu.outcome == BROKER_CODE_REUSED
			? "authorization code already used; its grant is revoked"
			: "invalid, expired or mismatched authorization code");
	}
	if (code == NULL || uri == NULL || ver == NULL)
		return api_fail(r, API_E_BADREQ,
		    "code, redirect_uri and code_verifier are required");
	if (policy_pkce_check(ver, vlen) != 0)
		return api_fail(r, API_E_BADREQ, "malformed code_verifier");
	/* S256: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge */
	if (certs_sha256(ver, vlen, d) != 0 ||
	    certs_b64url_encode(d, sizeof(d), s->challenge,
		sizeof(s->challenge)) != 0)
		return API_E_INTERNAL;
	s->cu.code = code;
	s->cu.len = clen;
	s->cu.company = r->client_id;
	s->cu.redirect_uri = uri;
	s->cu.challenge = s->challenge;
	s->cu.now = api_wall_now();
	s->step = 1;
	return api_write(r, broker_code_redeem, &s->cu);
}

/* POST /oauth/token */
int
api_h_token(struct api_request *r)
{
	struct tok_state *s = tok_state(r);
	const char *gt = api_form_get(&r->form, "grant_type", NULL);

	if (s == NULL)
		return API_E_NOMEM;
	if (gt == NULL)
		return api_fail(r, API_E_BADREQ, "grant_type is required");
	if (strcmp(gt, GRANT_TYPE_GRANT) == 0)
		return token_from_grant(r, s);
	if (strcmp(gt, "refresh_token") == 0)
		return token_from_refresh(r, s);
	if (strcmp(gt, "authorization_code") == 0)
		return token_from_code(r, s);
	return api_fail(r, API_E_UNSUPPORTED_GRANT,
	    "supported: authorization_code, refresh_token, " GRANT_TYPE_GRANT);
}

/*
 * Verifies an access token presented to introspection or revocation and
 * checks that the caller owns it.  0 and *tok, or non-zero when it is not
 * a live token of this company (not an error for these endpoints).
 */
static int
own_access_token(struct api_request *r, const char *tok, size_t len,
    struct api_tok **out)
{
	char detail[API_DETAIL_MAX];
	int rc;

	struct broker_txn *t = NULL;

	memcpy(detail, r->detail, sizeof(detail));
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = api_token_check(r, t, tok, len, out);
	broker_read_end(t);
	memcpy(r->detail, detail, sizeof(detail));
	if (rc != 0)
		return rc;
	if (strcmp((*out)->client, r->client_id) != 0) {
		api_tok_put(*out);
		*out = NULL;
		return API_E_INVALID_TOKEN;
	}
	return 0;
}

/* Is the verified token's access still live (api_tok_access)? */
static int
access_live(struct api_request *r, const struct api_tok *tk,
    struct broker_grant *g)
{
	struct broker_txn *t = NULL;
	const char *why;
	int rc;

	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = api_tok_access(t, tk, api_wall_now(), g, &why);
	broker_read_end(t);
	return rc;
}

static int
inactive(struct api_request *r)
{
	return api_respond_json(r, 200, json_pack("{s:b}", "active", 0));
}

/* POST /oauth/introspect (RFC 7662) */
int
api_h_introspect(struct api_request *r)
{
	size_t len;
	const char *tok = api_form_get(&r->form, "token", &len);
	struct broker_grant g = { 0 };
	struct broker_txn *t = NULL;
	struct api_tok *tk = NULL;
	char grant[BROKER_ID_LEN + 1], *scopes = NULL, *text = NULL;
	json_t *o = NULL;
	int rc;

	if (tok == NULL)
		return api_fail(r, API_E_BADREQ, "token is required");
	if (strchr(tok, '.') != NULL) {
		if (own_access_token(r, tok, len, &tk) != 0)
			return inactive(r);
		rc = access_live(r, tk, &g);
		text = rc == 0 ? strdup(tk->scope_text) : NULL;
		if (rc == 0 && text == NULL)
			rc = API_E_NOMEM;
		if (rc == 0)
			o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:I, "
			    "s:I, s:I, s:s, s:s}", "active", 1, "token_type",
			    "Bearer", "scope", text, "client_id", tk->client,
			    "sub", tk->sub, "iss", r->srv->issuer, "aud",
			    r->srv->issuer, "exp", (json_int_t)tk->exp, "iat",
			    (json_int_t)tk->iat, "nbf", (json_int_t)tk->iat,
			    "jti", tk->jti, "grant_id", tk->grant);
		if (rc == 0 && tk->cnf[0] != '\0')
			json_object_set_new(o, "cnf", json_pack("{s:s}",
			    "x5t#S256", tk->cnf));
		api_tok_put(tk);
		free(text);
		if (rc != 0) {
			broker_grant_clear(&g);
			return rc < 0 && rc != BROKER_E_REVOKED &&
				    rc != BROKER_E_DISABLED &&
				    rc != BROKER_E_NOTFOUND
			    ? rc
			    : inactive(r);
		}
		broker_grant_clear(&g);
		return api_respond_json(r, 200, o);
	}
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_refresh_lookup(t, tok, len, r->client_id, grant, &scopes);
	if (rc == 0 && (rc = broker_grant_get(t, grant, &g)) == 0)
		rc = broker_grant_live(t, &g, api_wall_now());
	broker_read_end(t);
	if (rc != 0) {
		free(scopes);
		broker_grant_clear(&g);
		return inactive(r);
	}
	o = json_pack("{s:b, s:s, s:s, s:s, s:I, s:s}", "active", 1,
	    "token_type", "refresh_token", "scope", scopes, "client_id",
	    r->client_id, "exp", (json_int_t)g.expires, "grant_id", g.id);
	free(scopes);
	broker_grant_clear(&g);
	return api_respond_json(r, 200, o);
}

/* POST /oauth/revoke (RFC 7009) */
int
api_h_revoke(struct api_request *r)
{
	struct tok_state *s = tok_state(r);
	size_t len;
	const char *tok = api_form_get(&r->form, "token", &len);
	struct api_tok *tk = NULL;

	if (s == NULL)
		return API_E_NOMEM;
	if (s->step == 1) {
		api_metrics_event(API_EV_TOKEN_REVOKED);
		return api_respond_bytes(r, 200, NULL, "", 0);
	}
	if (tok == NULL)
		return api_fail(r, API_E_BADREQ, "token is required");
	s->rv.company = r->client_id;
	s->rv.now = api_wall_now();
	if (strchr(tok, '.') != NULL) {
		/* RFC 7009 2.2: an invalid or foreign token is not an error. */
		if (own_access_token(r, tok, len, &tk) != 0)
			return api_respond_bytes(r, 200, "application/json",
			    "", 0);
		memcpy(s->jti, tk->jti, sizeof(s->jti));
		s->rv.jti = s->jti;
		s->rv.exp = tk->exp;
		api_tok_put(tk);
	} else {
		s->rv.presented = tok;
		s->rv.len = len;
	}
	s->step = 1;
	return api_write(r, broker_token_revoke, &s->rv);
}
