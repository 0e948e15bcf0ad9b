/*
 * form.c - application/x-www-form-urlencoded request bodies (the OAuth
 * endpoints, RFC 6749 appendix B), and the paging parameters of a query.
 *
 * Decodes into a copy owned by the form; refuses malformed escapes, NUL
 * bytes, repeated parameters (RFC 6749 3.1: parameters must not be
 * included more than once) and more than API_FORM_MAX of them.  The copy
 * holds secrets (client secrets, refresh tokens): it is wiped on release.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
api_form_decode(char *dst, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi, lo;

			/* Two hex digits must follow, inside the span. */
			if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			return -1;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return (long)o;
}

int
api_form_parse(const char *body, size_t len, struct api_form *f, char *detail,
    size_t detailcap)
{
	const char *p = body, *end = body + len;
	char *out;

	memset(f, 0, sizeof(*f));
	if ((f->buf = malloc(len + 1)) == NULL)
		return API_E_NOMEM;
	f->cap = len + 1;
	out = f->buf;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		long nl, vl;

		if (stop == p) { /* empty pair: "a=1&&b=2" */
			p++;
			continue;
		}
		if (eq == NULL || f->n == API_FORM_MAX)
			goto bad;
		f->name[f->n] = out;
		if ((nl = api_form_decode(out, p, (size_t)(eq - p))) <= 0)
			goto bad;
		out += nl + 1;
		f->value[f->n] = out;
		if ((vl = api_form_decode(out, eq + 1, (size_t)(stop - eq - 1))) < 0)
			goto bad;
		f->vlen[f->n] = (size_t)vl;
		out += vl + 1;
		for (size_t i = 0; i < f->n; i++) {
			if (strcmp(f->name[i], f->name[f->n]) == 0) {
				snprintf(detail, detailcap, "parameter '%.32s' "
				    "given more than once", f->name[i]);
				api_form_free(f);
				return API_E_BADREQ;
			}
		}
		f->n++;
		p = stop + (amp != NULL);
	}
	return 0;
bad:
	snprintf(detail, detailcap, "malformed form body");
	api_form_free(f);
	return API_E_BADREQ;
}

const char *
api_form_get(const struct api_form *f, const char *name, size_t *len)
{
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->name[i], name) == 0) {
			if (len != NULL)
				*len = f->vlen[i];
			return f->value[i];
		}
	}
	if (len != NULL)
		*len = 0;
	return NULL;
}

void
api_form_free(struct api_form *f)
{
	certs_free_secret(f->buf, f->cap);
	memset(f, 0, sizeof(*f));
}

int
api_page_args(struct api_request *r, size_t dflt, size_t max, size_t *limit,
    const char **cursor)
{
	const char *lim = MHD_lookup_connection_value(r->conn,
	    MHD_GET_ARGUMENT_KIND, "limit");
	char *end;
	long v;

	*limit = dflt;
	*cursor = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
	    "cursor");
	if (lim == NULL)
		return 0;
	v = strtol(lim, &end, 10);
	if (*lim < '0' || *lim > '9' || *end != '\0' || v < 1 ||
	    (unsigned long)v > max)
		return api_fail(r, API_E_BADREQ, "limit must be 1 to %zu", max);
	*limit = (size_t)v;
	return 0;
}
