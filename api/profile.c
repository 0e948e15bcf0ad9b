/*
 * profile.c - a customer's own profile: read, replace, merge-patch.
 *
 * Reads serve the stored bytes as they are (no parse) with a strong ETag.
 * Writes need If-Match (428 without, 412 when stale): the tag is checked
 * against the snapshot the change was computed from and again inside the
 * commit, so of two racing writers exactly one wins.  A rejected write
 * changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

struct prof {
	int step;
	struct broker_profile_put pp;
	char etag[BROKER_ETAG_LEN + 1];
	char *json;
};

static void
prof_free(void *p)
{
	struct prof *s = p;

	free(s->json);
	free(s);
}

/* Sets the response to a profile document with its ETag. */
static int
respond_profile(struct api_request *r, unsigned status, const char *json,
    size_t len, const char *etag)
{
	int rc;

	if ((rc = api_respond_bytes(r, status, "application/json", json,
		 len)) != 0)
		return rc;
	return api_add_etag(r, etag);
}

/* GET /v1/me/profile */
int
api_h_profile_get(struct api_request *r)
{
	struct broker_txn *t = NULL;
	const char *json, *inm;
	char etag[BROKER_ETAG_LEN + 1];
	size_t len;
	int rc;

	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_profile_get(t, r->customer_id, &json, &len, etag);
	if (rc == 0) {
		inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_IF_NONE_MATCH);
		if (inm != NULL && api_etag_listed(inm, etag, 1))
			rc = respond_profile(r, 304, "", 0, etag);
		else
			rc = respond_profile(r, 200, json, len, etag);
	}
	broker_read_end(t);
	return rc;
}

/* The document the write would store: the body, or current + patch. */
static int
next_document(struct api_request *r, const char *cur, size_t curlen,
    json_t **out)
{
	json_t *doc;
	int rc;

	*out = NULL;
	if (strcmp(r->method, "PUT") == 0) {
		*out = json_incref(r->json);
		return 0;
	}
	doc = json_loadb(cur, curlen, JSON_REJECT_DUPLICATES, NULL);
	if (doc == NULL)
		return BROKER_E_CORRUPT;
	if ((rc = policy_merge_patch(&doc, r->json)) != 0) {
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

/* PUT and PATCH /v1/me/profile: one handler. */
int
api_h_profile_put(struct api_request *r)
{
	struct prof *s = r->state;
	struct broker_txn *t = NULL;
	const char *ifm, *cur;
	json_t *doc = NULL;
	char why[API_DETAIL_MAX];
	size_t curlen;
	int rc;

	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return API_E_NOMEM;
		r->state = s;
		r->state_free = prof_free;
	}
	if (s->step == 1)
		return respond_profile(r, 200, s->json, strlen(s->json),
		    s->pp.etag);

	ifm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_MATCH);
	if (ifm == NULL)
		return api_fail(r, API_E_PRECOND_REQ,
		    "send If-Match with the ETag of the profile you changed");
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_profile_get(t, r->customer_id, &cur, &curlen, s->etag);
	if (rc == 0 && !api_etag_listed(ifm, s->etag, 0))
		rc = api_fail(r, API_E_PRECOND_FAIL,
		    "the profile has changed since that ETag");
	if (rc == 0)
		rc = next_document(r, cur, curlen, &doc);
	broker_read_end(t);
	if (rc != 0)
		goto out;
	if (!json_is_object(doc)) {
		rc = api_fail(r, POLICY_E_PROFILE, "a profile is a JSON object");
		goto out;
	}
	if ((rc = policy_profile_validate(doc, why, sizeof(why))) != 0) {
		rc = api_fail(r, rc, "%s", why);
		goto out;
	}
	s->json = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(15));
	if (s->json == NULL) {
		rc = API_E_NOMEM;
		goto out;
	}
	if (strlen(s->json) > r->srv->cfg.max_body) {
		rc = api_fail(r, API_E_TOOBIG, "profile larger than %zu bytes",
		    r->srv->cfg.max_body);
		goto out;
	}
	s->pp.customer_id = r->customer_id;
	s->pp.if_match = s->etag;
	s->pp.json = s->json;
	s->pp.len = strlen(s->json);
	s->step = 1;
	rc = api_write(r, broker_profile_put, &s->pp);
out:
	json_decref(doc);
	return rc;
}
