/*
 * static.c - the customer web page: embedded files served with a strict
 * Content-Security-Policy and the usual security headers, plus the small
 * HTML error page the authorization endpoint shows instead of redirecting
 * to a URI it cannot vouch for.
 *
 * The files come from web/ at build time (web_assets.c); nothing is read
 * from disk at run time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

/* No inline script or style, no framing, nothing from elsewhere. */
#define CSP                                                                   \
	"default-src 'none'; script-src 'self'; style-src 'self'; "          \
	"img-src 'self' data:; connect-src 'self'; form-action 'self'; "     \
	"frame-ancestors 'none'; base-uri 'none'"

static int
page_headers(struct api_request *r)
{
	int rc;

	/* Pages may be revalidated but are never stored by the browser's
	 * shared caches: they sit next to personal data. */
	if ((rc = api_add_header(r, "Content-Security-Policy", CSP)) != 0 ||
	    (rc = api_add_header(r, "X-Frame-Options", "DENY")) != 0 ||
	    (rc = api_add_header(r, "Referrer-Policy", "no-referrer")) != 0 ||
	    (rc = api_add_header(r, "Cross-Origin-Opener-Policy",
		 "same-origin")) != 0 ||
	    (rc = api_add_header(r, "Cross-Origin-Resource-Policy",
		 "same-origin")) != 0 ||
	    (rc = api_add_header(r, "Permissions-Policy",
		 "camera=(), microphone=(), geolocation=(), payment=()")) != 0)
		return rc;
	return 0;
}

int
api_page(struct api_request *r, const char *path)
{
	for (const struct api_asset *a = api_assets; a->path != NULL; a++) {
		if (strcmp(a->path, path) != 0)
			continue;
		if (api_respond_bytes(r, 200, a->ctype, a->data, a->len) != 0)
			return API_E_NOMEM;
		return page_headers(r);
	}
	return api_fail(r, API_E_NOTFOUND, "no such page");
}

/* GET / and GET /{asset}: the page and its files. */
int
api_h_asset(struct api_request *r)
{
	int rc = api_page(r, strcmp(r->path, "/") == 0 ? "/index.html"
						     : r->path);

	/* A miss is an unknown path, and is counted as one. */
	if (rc == API_E_NOTFOUND)
		r->route_idx = api_n_routes;
	return rc;
}

/* Escapes text for HTML. */
static void
html_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < cap; s++) {
		const char *rep = *s == '<' ? "&lt;" : *s == '>' ? "&gt;"
		    : *s == '&'			    ? "&amp;"
		    : *s == '"'			    ? "&quot;"
		    : *s == '\''		    ? "&#39;"
						    : NULL;

		if (rep != NULL) {
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
		} else
			out[o++] = *s;
	}
	out[o] = '\0';
}

/* Title (twice) and detail, all HTML-escaped first. */
static const char error_page[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>%s - CCX</title><link rel=\"stylesheet\" href=\"/app.css\">"
    "</head><body><main class=\"error-page\"><h1>%s</h1><p>%s</p>"
    "<p>The company that sent you here made a mistake, or the link was "
    "changed. Nothing was shared. You can close this page, or go to "
    "<a href=\"/\">your CCX account</a>.</p></main></body></html>";

int
api_page_error(struct api_request *r, unsigned status, const char *title,
    const char *detail)
{
	char t[256], d[API_DETAIL_MAX * 6], *html = NULL;
	int n, rc;

	html_escape(t, sizeof(t), title);
	html_escape(d, sizeof(d), detail != NULL ? detail : "");
	n = snprintf(NULL, 0, error_page, t, t, d);
	if (n < 0 || (html = malloc((size_t)n + 1)) == NULL)
		return API_E_NOMEM;
	snprintf(html, (size_t)n + 1, error_page, t, t, d);
	rc = api_respond_bytes(r, status, "text/html; charset=utf-8", html,
	    (size_t)n);
	free(html);
	return rc != 0 ? rc : page_headers(r);
}

/* GET /v1/scopes: the standard scopes in plain words. */
int
api_h_scopes(struct api_request *r)
{
	json_t *sections = json_array(), *fields;

	if (sections == NULL)
		return API_E_NOMEM;
	for (const struct policy_section_label *s = policy_catalog;
	     s->scope != NULL; s++) {
		if ((fields = json_array()) == NULL) {
			json_decref(sections);
			return API_E_NOMEM;
		}
		for (const struct policy_field_label *f = s->fields;
		     f->scope != NULL; f++)
			json_array_append_new(fields, json_pack("{s:s, s:s}",
			    "scope", f->scope, "label", f->label));
		json_array_append_new(sections, json_pack("{s:s, s:s, s:o}",
		    "scope", s->scope, "label", s->label, "fields", fields));
	}
	return api_respond_json(r, 200, json_pack("{s:o}", "sections",
	    sections));
}
