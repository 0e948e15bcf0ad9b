/*
 * resource.c - GET /v1/profile: a company reads the fields it was granted.
 *
 * The hot path.  The token's signature is verified once (tokcache.c); the
 * grant, the company and the token's own jti are checked on every request,
 * so a revocation takes effect on the very next fetch.  The answer is the
 * profile projected on the intersection of the grant's and the token's
 * scopes, with a strong ETag of those bytes.  The read is recorded in the
 * customer's audit trail without waiting for the disk.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "certs/certs.h"

/* Projects the stored profile text on the scopes both sides allow. */
static int
project(const char *json, size_t len, const char *grant_scopes,
    const struct policy_scopes *token_scopes, char **out, json_t **fields)
{
	struct policy_scopes *g = NULL, *both = NULL;
	json_t *doc = NULL, *view = NULL;
	int rc = API_E_NOMEM;

	*out = NULL;
	*fields = NULL;
	if (policy_scopes_parse(grant_scopes, strlen(grant_scopes), &g, NULL,
		0) != 0 ||
	    (doc = json_loadb(json, len, 0, NULL)) == NULL) {
		rc = API_E_INTERNAL;
		goto out;
	}
	if (policy_scopes_intersect(g, token_scopes, &both) != 0 ||
	    (view = policy_project(doc, both, fields)) == NULL)
		goto out;
	*out = json_dumps(view, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(15));
	rc = *out != NULL ? 0 : API_E_NOMEM;
out:
	if (rc != 0) {
		json_decref(*fields);
		*fields = NULL;
	}
	json_decref(view);
	json_decref(doc);
	policy_scopes_free(both);
	policy_scopes_free(g);
	return rc;
}

/*
 * Does an If-None-Match list name tag (the opaque part, unquoted)?  The
 * weak comparison applies (RFC 9110 13.1.2): W/ prefixes are ignored.
 */
static int
none_match(const char *hdr, const char *tag)
{
	const char *p = hdr, *q;
	size_t n = strlen(tag);

	while (*p == ' ' || *p == '\t')
		p++;
	if (p[0] == '*' && (p[1] == '\0' || p[1] == ' '))
		return 1;
	while ((p = strchr(p, '"')) != NULL) {
		if ((q = strchr(p + 1, '"')) == NULL)
			return 0;
		if ((size_t)(q - p - 1) == n && memcmp(p + 1, tag, n) == 0)
			return 1;
		p = q + 1;
	}
	return 0;
}

int
api_h_resource(struct api_request *r)
{
	const char *authz = MHD_lookup_connection_value(r->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *json, *inm;
	struct broker_grant g = { 0 };
	struct broker_txn *t = NULL;
	struct api_tok *tk = NULL;
	json_t *fields = NULL;
	char etag[BROKER_ETAG_LEN + 3], pe[BROKER_ETAG_LEN + 1], *body = NULL;
	uint8_t d[CERTS_SHA256_LEN];
	size_t len;
	int64_t now = api_wall_now();
	int rc;

	if (authz == NULL || strncasecmp(authz, "Bearer ", 7) != 0)
		return api_fail(r, API_E_UNAUTH, "a bearer token is required");
	if ((rc = api_token_check(r, authz + 7, strlen(authz + 7), &tk)) != 0)
		return rc;
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		goto out;
	rc = broker_grant_get(t, tk->grant, &g);
	/* The token must belong to this grant's company, and both live. */
	if (rc == 0 && strcmp(g.company, tk->client) != 0)
		rc = BROKER_E_REVOKED;
	if (rc == 0)
		rc = broker_grant_live(t, &g, now);
	if (rc == 0 && (rc = broker_jti_revoked(t, tk->jti)) == 1)
		rc = api_fail(r, API_E_INVALID_TOKEN, "token revoked");
	if (rc == BROKER_E_NOTFOUND || rc == BROKER_E_REVOKED ||
	    rc == BROKER_E_DISABLED)
		rc = api_fail(r, API_E_INVALID_TOKEN,
		    "grant revoked or expired, or company disabled");
	if (rc == 0)
		rc = broker_profile_get(t, g.customer, &json, &len, pe);
	if (rc == 0)
		rc = project(json, len, g.scopes, tk->scopes, &body, &fields);
	broker_read_end(t);
	if (rc != 0)
		goto out;

	len = strlen(body);
	etag[0] = '"';
	if (certs_sha256(body, len, d) != 0 ||
	    certs_b64url_encode(d, 16, etag + 1, BROKER_ETAG_LEN + 1) != 0) {
		rc = API_E_INTERNAL;
		goto out;
	}
	etag[BROKER_ETAG_LEN + 1] = '"';
	etag[BROKER_ETAG_LEN + 2] = '\0';
	inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH);
	etag[BROKER_ETAG_LEN + 1] = '\0';
	if (inm != NULL && none_match(inm, etag + 1))
		rc = api_respond_bytes(r, 304, "application/json", "", 0);
	else
		rc = api_respond_bytes(r, 200, "application/json", body, len);
	etag[BROKER_ETAG_LEN + 1] = '"';
	if (rc == 0)
		rc = api_add_header(r, MHD_HTTP_HEADER_ETAG, etag);
	if (rc == 0) {
		json_t *detail = json_pack("{s:s, s:s, s:O}", "company",
		    g.company, "grant", g.id, "fields", fields);

		if (detail != NULL)
			broker_audit_enqueue(r->srv->audit, g.customer,
			    "profile.read", detail);
	}
out:
	json_decref(fields);
	free(body);
	broker_grant_clear(&g);
	api_tok_put(tk);
	return rc;
}
