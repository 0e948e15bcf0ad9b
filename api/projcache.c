/*
 * projcache.c - profile projections already computed, so a fetch does not
 * parse, project and serialise the same JSON again.
 *
 * Keyed by SHA-256 of (profile ETag, grant scopes, token scopes): a
 * profile change gives a new ETag and so a new key, and stale entries
 * simply age out of the bounded cache (cache.c).  The entry holds the
 * answer's bytes, its ETag and the fields for the audit trail - nothing
 * about who may see it: the caller checks the token, grant and company
 * before every use.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

/*
 * A response's headers and bookkeeping beyond its body, and malloc's own:
 * 10,000 answers of a 1.5 KB profile held 2,550 bytes each (RssAnon
 * against a broker with a 64-entry cache), about 830 beyond the body,
 * the fields and this struct.
 */
#define PROJ_OVERHEAD 832

static void
proj_destroy(struct api_cached *e)
{
	struct api_proj *p = (struct api_proj *)e;

	broker_audit_fields_put(p->fields);
	if (p->resp != NULL)
		MHD_destroy_response(p->resp);
	free(p);
}

void
api_proj_put(struct api_proj *p)
{
	if (p != NULL)
		api_cached_release(&p->base);
}

static int
key_of(const char *etag, const char *gscopes, const char *tscopes,
    uint8_t out[CERTS_SHA256_LEN])
{
	size_t el = strlen(etag), gl = strlen(gscopes), tl = strlen(tscopes);
	size_t n = el + gl + tl + 3;
	char small[512], *buf = n <= sizeof(small) ? small : malloc(n);
	int rc;

	if (buf == NULL)
		return API_E_NOMEM;
	/* NUL separators: no two different triples give the same input. */
	memcpy(buf, etag, el + 1);
	memcpy(buf + el + 1, gscopes, gl + 1);
	memcpy(buf + el + gl + 2, tscopes, tl + 1);
	rc = certs_sha256(buf, n, out) == 0 ? 0 : API_E_INTERNAL;
	if (buf != small)
		free(buf);
	return rc;
}

/*
 * The answer's body and fields text: on the stored text directly, or,
 * when that text is not in the canonical form, through a tree.
 */
static int
project(const char *json, size_t len, const struct policy_scopes *both,
    char **body, size_t *blen, char **ftext, size_t *flen)
{
	json_t *doc, *view = NULL, *fields = NULL;
	int rc;

	rc = policy_project_text(json, len, both, body, blen, ftext, flen);
	if (rc != POLICY_E_INVAL)
		return rc == 0 ? 0 : API_E_NOMEM;
	if ((doc = json_loadb(json, len, 0, NULL)) == NULL)
		return API_E_INTERNAL;
	rc = API_E_NOMEM;
	if ((view = policy_project(doc, both, &fields)) != NULL &&
	    (*body = json_dumps(view, JSON_COMPACT | JSON_SORT_KEYS |
		 JSON_REAL_PRECISION(15))) != NULL &&
	    (*ftext = json_dumps(fields, JSON_COMPACT)) != NULL) {
		*blen = strlen(*body);
		*flen = strlen(*ftext);
		rc = 0;
	}
	if (rc != 0) {
		free(*body);
		*body = NULL;
	}
	json_decref(fields);
	json_decref(view);
	json_decref(doc);
	return rc;
}

/* Computes a projection from the stored profile text. */
static int
compute(const char *json, size_t len, const char *gscopes,
    const char *tscopes, struct api_proj **out)
{
	struct policy_scopes *g = NULL, *t = NULL, *both = NULL;
	char *ftext = NULL, *body = NULL;
	size_t flen = 0;
	struct api_proj *p;
	uint8_t d[CERTS_SHA256_LEN];
	int rc = API_E_NOMEM;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return API_E_NOMEM;
	atomic_init(&p->base.refs, 1);
	p->base.destroy = proj_destroy;
	if (policy_scopes_parse(gscopes, strlen(gscopes), &g, NULL, 0) != 0 ||
	    policy_scopes_parse(tscopes, strlen(tscopes), &t, NULL, 0) != 0) {
		rc = API_E_INTERNAL;
		goto out;
	}
	if (policy_scopes_intersect(g, t, &both) != 0)
		goto out;
	if ((rc = project(json, len, both, &body, &p->len, &ftext,
		 &flen)) != 0)
		goto out;
	rc = API_E_NOMEM;
	if ((p->fields = broker_audit_fields_new(ftext, flen)) == NULL)
		goto out;
	if (certs_sha256(body, p->len, d) != 0 ||
	    certs_b64url_encode(d, 16, p->etag, sizeof(p->etag)) != 0) {
		rc = API_E_INTERNAL;
		goto out;
	}
	/* The response keeps its own copy of the bytes. */
	if ((rc = api_response_new("application/json", body, p->len,
		 p->etag, &p->resp)) != 0)
		goto out;
	/* What it holds: the answer, the fields, the response's own. */
	p->base.cost = sizeof(*p) + p->len + flen + PROJ_OVERHEAD;
	*out = p;
	p = NULL;
	rc = 0;
out:
	api_proj_put(p);
	free(body);
	free(ftext);
	policy_scopes_free(both);
	policy_scopes_free(t);
	policy_scopes_free(g);
	return rc;
}

int
api_projection(struct api_request *r, const char *profile_etag,
    const char *json, size_t len, const char *gscopes,
    const struct api_tok *tok, struct api_proj **out)
{
	uint8_t h[API_CACHE_KEY];
	struct api_proj *p;
	int rc;

	*out = NULL;
	if ((rc = key_of(profile_etag, gscopes, tok->scope_text, h)) != 0)
		return rc;
	p = (struct api_proj *)api_cache_get(r->srv->projections, h);
	api_metrics_cache(API_CACHE_PROJECTION, p != NULL);
	if (p == NULL) {
		if ((rc = compute(json, len, gscopes, tok->scope_text,
			 &p)) != 0)
			return rc;
		memcpy(p->base.key, h, sizeof(h));
		api_cache_insert(r->srv->projections, &p->base);
	}
	*out = p;
	return 0;
}
