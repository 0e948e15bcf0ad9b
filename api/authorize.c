/*
 * authorize.c - the authorization-code flow's front half (RFC 6749 4.1
 * with PKCE S256, RFC 7636): a company sends the customer here, the page
 * shows a consent screen, the customer approves or denies.
 *
 * One validation serves the three entry points.  Until the client and its
 * redirect URI are known good, errors are shown to the customer and never
 * redirected (an open redirector otherwise); after that they go back to
 * the company as RFC 6749 4.1.2.1 says.  Codes are single-use, short-lived
 * and bound to the client, the redirect URI and the PKCE challenge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

#define DEFAULT_DAYS 90		      /* the expiry offered by default */
#define MAX_DAYS (5 * 366)	      /* the longest grant */
#define URL_MAX 4096

struct authz {
	const char *client_id, *redirect_uri, *scope, *purpose, *state;
	const char *challenge;
	json_t *client; /* the company record */
	struct policy_scopes *scopes;
	int fatal;	/* error not to be redirected */
	const char *error; /* RFC 6749 4.1.2.1 error code */
};

static void
authz_clear(struct authz *a)
{
	json_decref(a->client);
	policy_scopes_free(a->scopes);
	memset(a, 0, sizeof(*a));
}

/* Skips ":port" (1-5 digits) if present; NULL for a malformed port. */
static const char *
skip_port(const char *p)
{
	size_t n = 0;

	if (*p != ':')
		return p;
	while (p[1 + n] >= '0' && p[1 + n] <= '9')
		n++;
	return n >= 1 && n <= 5 ? p + 1 + n : NULL;
}

/*
 * RFC 8252 7.3: a native app listening on a loopback IP literal gets a
 * port only at run time, so for those URIs any port matches; everything
 * else (scheme, host, path, query) still matches exactly.
 */
static int
loopback_match(const char *reg, const char *uri)
{
	static const char *const hosts[] = { "http://127.0.0.1",
		"http://[::1]" };

	for (size_t h = 0; h < 2; h++) {
		size_t n = strlen(hosts[h]);
		const char *a, *b;

		if (strncmp(reg, hosts[h], n) != 0 ||
		    strncmp(uri, hosts[h], n) != 0)
			continue;
		a = skip_port(reg + n);
		b = skip_port(uri + n);
		return a != NULL && b != NULL && strcmp(a, b) == 0;
	}
	return 0;
}

static int
listed(const json_t *uris, const char *uri)
{
	size_t i;
	json_t *u;

	json_array_foreach(uris, i, u) {
		const char *reg = json_string_value(u);

		if (reg != NULL &&
		    (strcmp(reg, uri) == 0 || loopback_match(reg, uri)))
			return 1;
	}
	return 0;
}

/*
 * Validates an authorization request held in form f.  Returns 0, or an
 * API error with detail; a->fatal says whether the error may be sent back
 * to the redirect URI (a->error holds the RFC 6749 code then).
 */
static int
authz_check(struct api_request *r, const struct api_form *f, struct authz *a)
{
	const char *rt, *method;
	struct broker_txn *t = NULL;
	char why[160];
	int rc;

	memset(a, 0, sizeof(*a));
	a->fatal = 1;
	a->client_id = api_form_get(f, "client_id", NULL);
	a->redirect_uri = api_form_get(f, "redirect_uri", NULL);
	if (a->client_id == NULL || a->redirect_uri == NULL)
		return api_fail(r, API_E_BADREQ,
		    "client_id and redirect_uri are required");
	if ((rc = broker_read_begin(r->srv->store, &t)) != 0)
		return rc;
	rc = broker_company_get(t, a->client_id, &a->client);
	broker_read_end(t);
	if (rc == BROKER_E_NOTFOUND ||
	    (rc == 0 && json_is_true(json_object_get(a->client, "disabled"))))
		return api_fail(r, API_E_BADREQ, "unknown client");
	if (rc != 0)
		return rc;
	/* Exact match only: no prefixes, no normalisation. */
	if (!listed(json_object_get(a->client, "redirect_uris"),
		a->redirect_uri))
		return api_fail(r, API_E_BADREQ,
		    "redirect_uri is not registered for this client");
	a->fatal = 0;
	a->state = api_form_get(f, "state", NULL);
	if (a->state != NULL && strlen(a->state) > 512) {
		a->state = NULL;
		a->error = "invalid_request";
		return api_fail(r, API_E_BADREQ, "state longer than 512 bytes");
	}
	rt = api_form_get(f, "response_type", NULL);
	if (rt == NULL || strcmp(rt, "code") != 0) {
		/* 4.1.2.1: missing is invalid, present but other unsupported. */
		a->error = rt == NULL ? "invalid_request"
				      : "unsupported_response_type";
		return api_fail(r, API_E_BADREQ, "response_type must be code");
	}
	a->challenge = api_form_get(f, "code_challenge", NULL);
	method = api_form_get(f, "code_challenge_method", NULL);
	/* An S256 challenge is BASE64URL of 32 bytes: 43 characters of
	 * the base64url alphabet (never "." or "~"). */
	if (a->challenge == NULL || strlen(a->challenge) != 43 ||
	    policy_pkce_check(a->challenge, strlen(a->challenge)) != 0 ||
	    strpbrk(a->challenge, ".~") != NULL ||
	    method == NULL ||
	    strcmp(method, "S256") != 0) {
		a->error = "invalid_request";
		return api_fail(r, API_E_BADREQ,
		    "PKCE is required: code_challenge with "
		    "code_challenge_method=S256");
	}
	a->purpose = api_form_get(f, "purpose", NULL);
	if (a->purpose == NULL || policy_purpose_check(a->purpose) != 0) {
		a->error = "invalid_request";
		return api_fail(r, API_E_BADREQ, "purpose must be one of service, "
		    "marketing, personalization, analytics, research");
	}
	a->scope = api_form_get(f, "scope", NULL);
	if (a->scope == NULL ||
	    policy_scopes_parse(a->scope, strlen(a->scope), &a->scopes, why,
		sizeof(why)) != 0) {
		a->error = "invalid_scope";
		return api_fail(r, API_E_INVALID_SCOPE, "%s",
		    a->scope == NULL ? "scope is required" : why);
	}
	return 0;
}

/* Appends name=value (form-encoded) to a URL being built. */
static int
url_param(char *url, size_t cap, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(url);
	int k;

	k = snprintf(url + n, cap - n, "%c%s=", strchr(url, '?') ? '&' : '?',
	    name);
	if (k < 0 || (size_t)k >= cap - n)
		return API_E_INTERNAL;
	n += (size_t)k;
	for (; *value != '\0'; value++) {
		unsigned char c = (unsigned char)*value;

		if (n + 4 >= cap)
			return API_E_INTERNAL;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			url[n++] = (char)c;
		else {
			url[n++] = '%';
			url[n++] = hex[c >> 4];
			url[n++] = hex[c & 15];
		}
	}
	url[n] = '\0';
	return 0;
}

/* The redirect back to the company: success (code) or error. */
static int
redirect_url(const struct api_request *r, const struct authz *a,
    const char *code, const char *error, const char *desc, char *url,
    size_t cap)
{
	int n = snprintf(url, cap, "%s", a->redirect_uri);

	if (n < 0 || (size_t)n >= cap)
		return API_E_INTERNAL;
	if (code != NULL && url_param(url, cap, "code", code) != 0)
		return API_E_INTERNAL;
	if (error != NULL) {
		char safe[API_DETAIL_MAX];

		api_oauth_text(safe, sizeof(safe), desc != NULL ? desc : "");
		if (url_param(url, cap, "error", error) != 0 ||
		    (desc != NULL && url_param(url, cap, "error_description",
					 safe) != 0))
			return API_E_INTERNAL;
	}
	if (a->state != NULL && url_param(url, cap, "state", a->state) != 0)
		return API_E_INTERNAL;
	/* RFC 9207: say who answers, against mix-up attacks. */
	return url_param(url, cap, "iss", r->srv->issuer) == 0 ? 0
							       : API_E_INTERNAL;
}

/* Collects the query string's arguments into a form; repeats refused. */
struct collect {
	struct api_form *f;
	char *out, *end;
	int bad;
};

static enum MHD_Result
collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
    size_t key_size, const char *value, size_t value_size)
{
	struct collect *c = cls;

	(void)kind;
	if (value == NULL)
		value = "";
	/*
	 * A decoded %00 would cut a value short where it is compared as a C
	 * string ("https://ok/cb%00https://evil/"): refuse it outright.
	 */
	if (strlen(key) != key_size || strlen(value) != value_size ||
	    c->f->n == API_FORM_MAX || api_form_get(c->f, key, NULL) != NULL ||
	    key_size + value_size + 2 > (size_t)(c->end - c->out)) {
		c->bad = 1;
		return MHD_NO;
	}
	c->f->name[c->f->n] = c->out;
	memcpy(c->out, key, key_size + 1);
	c->out += key_size + 1;
	c->f->value[c->f->n] = c->out;
	memcpy(c->out, value, value_size + 1);
	c->out += value_size + 1;
	c->f->vlen[c->f->n++] = value_size;
	return MHD_YES;
}

static int
query_form(struct api_request *r, struct api_form *f)
{
	struct collect c = { f, NULL, NULL, 0 };

	memset(f, 0, sizeof(*f));
	f->cap = URL_MAX * (size_t)2;
	if ((f->buf = calloc(1, f->cap)) == NULL)
		return API_E_NOMEM;
	c.out = f->buf;
	c.end = f->buf + f->cap;
	if (MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND,
		collect_arg, &c) < 0 || c.bad) {
		api_form_free(f);
		return api_fail(r, API_E_BADREQ, "a parameter is repeated, "
		    "holds a NUL byte, or there are too many");
	}
	return 0;
}

/* ---- GET /oauth/authorize ------------------------------------------------ */

int
api_h_authorize(struct api_request *r)
{
	struct api_form f = { 0 };
	struct authz a;
	char url[URL_MAX];
	int rc, err;

	if (query_form(r, &f) != 0)
		return api_page_error(r, 400, "This link is not valid",
		    r->detail);
	err = authz_check(r, &f, &a);
	if (err != 0 && a.fatal) {
		/* Never redirect to a URI we could not vouch for. */
		rc = api_page_error(r, 400, "This link is not valid", r->detail);
	} else if (err != 0) {
		rc = redirect_url(r, &a, NULL, a.error, r->detail, url,
		    sizeof(url));
		if (rc == 0)
			rc = api_respond_bytes(r, 302, "text/plain", "", 0);
		if (rc == 0)
			rc = api_add_header(r, MHD_HTTP_HEADER_LOCATION, url);
	} else
		rc = api_page(r, "/index.html"); /* the page shows consent */
	authz_clear(&a);
	api_form_free(&f);
	return rc;
}

/* ---- GET /v1/authorize: what the consent screen shows --------------------- */

static json_t *
scope_list(const struct policy_scopes *s)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < policy_scopes_count(s); i++) {
		const char *sc = policy_scopes_get(s, i);
		const char *label = policy_scope_label(sc);

		json_array_append_new(list, json_pack("{s:s, s:s}", "scope", sc,
		    "label", label != NULL ? label : sc + 5));
	}
	return list;
}

/* Problem body with the error redirect the page can offer. */
static int
consent_error(struct api_request *r, const struct authz *a, int err)
{
	char url[URL_MAX];

	if (!a->fatal && redirect_url(r, a, NULL, a->error, r->detail, url,
			     sizeof(url)) == 0)
		r->problem_redirect = strdup(url);
	return err;
}

int
api_h_consent(struct api_request *r)
{
	struct api_form f = { 0 };
	struct authz a;
	int64_t now = api_wall_now();
	int rc;

	if ((rc = query_form(r, &f)) != 0)
		return rc;
	if ((rc = authz_check(r, &f, &a)) != 0)
		rc = consent_error(r, &a, rc);
	else
		rc = api_respond_json(r, 200, json_pack("{s:{s:s, s:O, s:O, "
		    "s:O}, s:s, s:o, s:s, s:s?, s:I, s:I}", "client", "id",
		    a.client_id, "name", json_object_get(a.client, "name"),
		    "description", json_object_get(a.client, "description"),
		    "site", json_object_get(a.client, "site"), "purpose",
		    a.purpose, "scopes", scope_list(a.scopes), "redirect_uri",
		    a.redirect_uri, "state", a.state, "expires_at",
		    (json_int_t)now + (json_int_t)DEFAULT_DAYS * 86400,
		    "max_expires_at",
		    (json_int_t)now + (json_int_t)MAX_DAYS * 86400));
	authz_clear(&a);
	api_form_free(&f);
	return rc;
}

/* ---- POST /v1/authorize: the customer's decision ---------------------- */

struct decide {
	int step;
	struct api_form f;
	struct authz a;
	struct broker_code_new cn;
	char *scopes;
	char url[URL_MAX];
};

static void
decide_free(void *p)
{
	struct decide *d = p;

	authz_clear(&d->a);
	api_form_free(&d->f);
	free(d->scopes);
	certs_free_secret(d, sizeof(*d));
}

/* The approved subset: each chosen scope must lie within the request. */
static int
chosen_scopes(struct api_request *r, struct decide *d)
{
	const json_t *list = json_object_get(r->json, "scopes"), *v;
	struct policy_scopes *set = policy_scopes_new();
	char why[160];
	size_t i;
	int rc = 0;

	if (set == NULL)
		return API_E_NOMEM;
	if (!json_is_array(list) || json_array_size(list) == 0) {
		rc = api_fail(r, API_E_INVALID_SCOPE,
		    "choose at least one field to share");
		goto out;
	}
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL || policy_scopes_add(set, s, strlen(s), why,
				     sizeof(why)) != 0) {
			rc = api_fail(r, API_E_INVALID_SCOPE, "%s",
			    s == NULL ? "scopes must be strings" : why);
			goto out;
		}
	}
	if (!policy_scopes_covers(d->a.scopes, set)) {
		rc = api_fail(r, API_E_INVALID_SCOPE,
		    "a chosen field was not asked for");
		goto out;
	}
	if ((d->scopes = policy_scopes_format(set)) == NULL)
		rc = API_E_NOMEM;
out:
	policy_scopes_free(set);
	return rc;
}

int
api_h_decide(struct api_request *r)
{
	struct decide *d = r->state;
	const char *query, *decision;
	const json_t *exp;
	int64_t now = api_wall_now(), expires;
	int rc;

	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return API_E_NOMEM;
		r->state = d;
		r->state_free = decide_free;
	}
	if (d->step == 1) {
		if ((rc = redirect_url(r, &d->a, d->cn.code, NULL, NULL, d->url,
			 sizeof(d->url))) != 0)
			return rc;
		return api_respond_json(r, 200, json_pack("{s:s}", "redirect",
		    d->url));
	}
	query = json_string_value(json_object_get(r->json, "query"));
	decision = json_string_value(json_object_get(r->json, "decision"));
	if (query == NULL || decision == NULL ||
	    (strcmp(decision, "approve") != 0 && strcmp(decision, "deny") != 0))
		return api_fail(r, API_E_BADREQ, "expected {query, decision: "
		    "approve|deny, scopes, expires_at}");
	if ((rc = api_form_parse(query, strlen(query), &d->f, r->detail,
		 sizeof(r->detail))) != 0)
		return rc;
	if ((rc = authz_check(r, &d->f, &d->a)) != 0)
		return consent_error(r, &d->a, rc);
	if (strcmp(decision, "deny") == 0) {
		if ((rc = redirect_url(r, &d->a, NULL, "access_denied",
			 "the customer declined", d->url, sizeof(d->url))) != 0)
			return rc;
		return api_respond_json(r, 200, json_pack("{s:s}", "redirect",
		    d->url));
	}
	if ((rc = chosen_scopes(r, d)) != 0)
		return rc;
	exp = json_object_get(r->json, "expires_at");
	expires = now + (int64_t)DEFAULT_DAYS * 86400;
	/* A chosen expiry is honoured or refused, never silently replaced. */
	if (exp != NULL && api_parse_time(exp, &expires) != 0)
		return api_fail(r, API_E_BADREQ, "expires_at must be seconds "
		    "since the epoch or an RFC 3339 UTC time");
	if (expires <= now || expires > now + (int64_t)MAX_DAYS * 86400)
		return api_fail(r, API_E_BADREQ, "expires_at must be in the "
		    "future and at most five years away");
	d->cn.grant.customer = r->customer_id;
	d->cn.grant.company = d->a.client_id;
	d->cn.grant.scopes = d->scopes;
	d->cn.grant.purpose = d->a.purpose;
	d->cn.grant.expires = expires;
	d->cn.grant.now = now;
	d->cn.redirect_uri = d->a.redirect_uri;
	d->cn.challenge = d->a.challenge;
	d->cn.lifetime = r->srv->cfg.code_lifetime;
	if ((rc = api_grant_admit(r, &d->cn.grant)) != 0)
		return rc;
	d->step = 1;
	return api_write(r, broker_code_issue, &d->cn);
}
