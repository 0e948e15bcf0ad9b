/*
 * resource.c - GET /v1/profile: a company reads the fields it was granted.
 *
 * The hot path.  The token's signature is verified once (tokcache.c).
 * The grant, the company, the token's own jti and its certificate, if
 * bound, are checked in full
 * whenever the store's access generation has moved since the token's last
 * check, which every revocation, disabling and key change makes it do in
 * the same transaction: a revocation takes effect on the very next
 * fetch, while a token in steady use costs one read of that counter
 * instead of three lookups.  The answer is the profile projected on the
 * intersection of the grant's and the token's scopes, with a strong ETag
 * of those bytes.  The read is recorded in the customer's audit trail
 * without waiting for the disk.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "certs/certs.h"

/* The token's access as of snapshot t: from its last full check while
 * the access generation stands, else checked in full now. */
static int
access_of(struct api_request *r, struct broker_txn *t, struct api_tok *tk,
    struct api_seen **out)
{
	struct broker_grant g = { 0 };
	int64_t now = api_wall_now();
	const char *why;
	uint64_t gen;
	int rc;

	*out = NULL;
	if ((rc = broker_access_generation(t, &gen)) != 0)
		return rc;
	if ((*out = api_tok_seen(tk, gen)) != NULL) {
		if (now < (*out)->expires) {
			api_metrics_cache(API_CACHE_ACCESS, 1);
			return 0;
		}
		api_seen_put(*out);
		*out = NULL;
	}
	api_metrics_cache(API_CACHE_ACCESS, 0);
	rc = api_tok_access(t, tk, now, &g, &why);
	if (rc == BROKER_E_NOTFOUND || rc == BROKER_E_REVOKED ||
	    rc == BROKER_E_DISABLED)
		rc = api_fail(r, API_E_INVALID_TOKEN, "%s", why);
	else if (rc == 0 && (*out = api_tok_saw(tk, gen, &g)) == NULL)
		rc = API_E_NOMEM;
	broker_grant_clear(&g);
	return rc;
}

int
api_h_resource(struct api_request *r)
{
	const char *authz = MHD_lookup_connection_value(r->conn,
	    MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *json, *inm;
	struct broker_txn *t = NULL;
	struct api_tok *tk = NULL;
	struct api_seen *seen = NULL;
	struct api_proj *p = NULL;
	char pe[BROKER_ETAG_LEN + 1];
	size_t len;
	int rc;

	if (authz == NULL || strncasecmp(authz, "Bearer ", 7) != 0)
		return api_fail(r, API_E_UNAUTH, "a bearer token is required");
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	if ((rc = api_token_check(r, t, authz + 7, strlen(authz + 7),
		 &tk)) != 0) {
		broker_read_end(t);
		return rc;
	}
	/* A bound token is honoured only with its certificate (RFC 8705 3). */
	if (tk->cnf[0] != '\0') {
		const char *thumb = api_peer_thumb(r);

		if (thumb == NULL ||
		    !certs_ct_equal(thumb, tk->cnf, CERTS_THUMB_LEN)) {
			broker_read_end(t);
			api_tok_put(tk);
			return api_fail(r, API_E_INVALID_TOKEN, "certificate-bound "
			    "token presented without its certificate");
		}
	}
	rc = access_of(r, t, tk, &seen);
	if (rc == 0)
		rc = broker_profile_get(t, seen->customer, &json, &len, pe);
	if (rc == 0)
		rc = api_projection(r, pe, json, len, seen->scopes, tk, &p);
	broker_read_end(t);
	if (rc != 0)
		goto out;

	/* No answer without its record: a read that cannot be queued (the
	 * store has refused the log's commits for --audit-wait-ms) fails. */
	if ((rc = broker_audit_read(r->srv->audit, seen->customer, tk->client,
		 tk->grant, p->fields)) != 0) {
		rc = api_fail(r, API_E_UNAVAILABLE, "the read cannot be "
		    "recorded in the customer's audit trail now");
		goto out;
	}
	inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm != NULL && api_etag_listed(inm, p->etag, 1)) {
		rc = api_respond_bytes(r, 304, NULL, "", 0);
		if (rc == 0)
			rc = api_add_etag(r, p->etag);
	} else {
		/* The cached answer itself, ETag and all: r keeps p alive
		 * until the response is queued. */
		atomic_fetch_add(&p->base.refs, 1);
		api_respond_shared(r, 200, p->resp, p->len, &p->base);
	}
	if (rc == 0)
		api_metrics_event(API_EV_FETCH);
out:
	api_proj_put(p);
	api_seen_put(seen);
	api_tok_put(tk);
	return rc;
}
