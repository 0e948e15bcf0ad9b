/*
 * respond.c - building responses: JSON, raw bytes and problem+json, plus
 * the hand-off of writes to the committer.
 *
 * Handlers only describe their response here; server.c queues it on a
 * later callback (queueing on the first call makes libmicrohttpd close the
 * connection).  Every response carries the same security headers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"

int64_t
api_wall_now(void)
{
	return (int64_t)time(NULL);
}

uint64_t
api_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Adds the headers every answer carries; destroys resp on failure. */
static struct MHD_Response *
dress(struct MHD_Response *resp, const char *ctype)
{
	if ((ctype != NULL && MHD_add_response_header(resp,
				  MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
		"no-store") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options",
		"nosniff") != MHD_YES ||
	    MHD_add_response_header(resp, "Strict-Transport-Security",
		"max-age=31536000") != MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* A response with the headers every answer carries; NULL on failure. */
static struct MHD_Response *
build(const char *ctype, void *data, size_t len,
    enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, data, mode);
	if (resp == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(data);
		return NULL;
	}
	return dress(resp, ctype);
}

static void
quote_etag(char out[BROKER_ETAG_LEN + 3], const char *etag)
{
	out[0] = '"';
	memcpy(out + 1, etag, BROKER_ETAG_LEN);
	out[BROKER_ETAG_LEN + 1] = '"';
	out[BROKER_ETAG_LEN + 2] = '\0';
}

void
api_release_response(struct api_request *r)
{
	if (r->resp == NULL)
		return;
	/* A shared response is the owner's: drop the reference on that. */
	if (r->resp_owner != NULL)
		api_cached_release(r->resp_owner);
	else
		MHD_destroy_response(r->resp);
	r->resp = NULL;
	r->resp_owner = NULL;
}

static int
set_response(struct api_request *r, unsigned status, const char *ctype,
    void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;

	api_release_response(r);
	if ((resp = build(ctype, data, len, mode)) == NULL)
		return API_E_NOMEM;
	r->resp = resp;
	r->status = status;
	r->resp_bytes = len;
	return 0;
}

int
api_response_new(const char *ctype, const void *data, size_t len,
    const char *etag, struct MHD_Response **out)
{
	char quoted[BROKER_ETAG_LEN + 3];

	*out = build(ctype, (void *)(uintptr_t)data, len,
	    MHD_RESPMEM_MUST_COPY);
	if (*out == NULL)
		return API_E_NOMEM;
	quote_etag(quoted, etag);
	if (MHD_add_response_header(*out, MHD_HTTP_HEADER_ETAG, quoted) !=
	    MHD_YES) {
		MHD_destroy_response(*out);
		*out = NULL;
		return API_E_NOMEM;
	}
	return 0;
}

void
api_respond_shared(struct api_request *r, unsigned status,
    struct MHD_Response *resp, size_t len, struct api_cached *owner)
{
	api_release_response(r);
	r->resp = resp;
	r->resp_owner = owner;
	r->status = status;
	r->resp_bytes = len;
}

int
api_respond_json(struct api_request *r, unsigned status, json_t *body)
{
	char *text;
	int rc;

	text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(body);
	if (text == NULL)
		return API_E_NOMEM;
	rc = set_response(r, status, "application/json", text, strlen(text),
	    MHD_RESPMEM_MUST_FREE);
	return rc;
}

int
api_respond_stream(struct api_request *r, unsigned status, const char *ctype,
    MHD_ContentReaderCallback fn, void *cls,
    MHD_ContentReaderFreeCallback free_fn)
{
	struct MHD_Response *resp;

	api_release_response(r);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
	    (size_t)32 * 1024, fn, cls, free_fn);
	if (resp == NULL) {
		free_fn(cls);
		return API_E_NOMEM;
	}
	if ((resp = dress(resp, ctype)) == NULL)
		return API_E_NOMEM; /* destroying it freed cls */
	r->resp = resp;
	r->status = status;
	r->resp_bytes = 0; /* counted as the reader hands bytes out */
	return 0;
}

int
api_respond_bytes(struct api_request *r, unsigned status, const char *ctype,
    const void *data, size_t len)
{
	return set_response(r, status, ctype, (void *)(uintptr_t)data, len,
	    MHD_RESPMEM_MUST_COPY);
}

int
api_add_header(struct api_request *r, const char *name, const char *value)
{
	/* A shared response is never changed: other requests send it. */
	if (r->resp_owner != NULL)
		return API_E_INTERNAL;
	if (r->resp == NULL ||
	    MHD_add_response_header(r->resp, name, value) != MHD_YES)
		return API_E_NOMEM;
	return 0;
}

/*
 * Does the header (a list of entity tags, or "*") name etag?  Without
 * weak_ok, W/ tags never match: If-Match uses the strong comparison (RFC
 * 9110 13.1.1), If-None-Match the weak one (13.1.2).
 */
int
api_etag_listed(const char *hdr, const char *etag, int weak_ok)
{
	const char *p = hdr;

	while (*p != '\0') {
		const char *q;
		int weak = 0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/') {
			weak = 1;
			p += 2;
		}
		if (*p != '"')
			return 0;
		q = strchr(p + 1, '"');
		if (q == NULL)
			return 0;
		if ((!weak || weak_ok) && (size_t)(q - p - 1) == strlen(etag) &&
		    memcmp(p + 1, etag, (size_t)(q - p - 1)) == 0)
			return 1;
		p = q + 1;
	}
	return 0;
}

int
api_add_etag(struct api_request *r, const char *etag)
{
	char quoted[BROKER_ETAG_LEN + 3];

	quote_etag(quoted, etag);
	return api_add_header(r, MHD_HTTP_HEADER_ETAG, quoted);
}

/* The WWW-Authenticate challenge for a 401 on this route. */
static int
challenge(struct api_request *r, const struct api_error_info *e)
{
	char v[API_DETAIL_MAX + 96];
	size_t n;
	int k;

	if (r->route != NULL && r->route->auth == API_AUTH_CLIENT)
		return api_add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Basic realm=\"ccx\", charset=\"UTF-8\"");
	if (r->route == NULL || r->route->fmt != API_ERR_BEARER ||
	    !r->bearer_presented)
		return api_add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"ccx\"");
	/* RFC 6750 3: error attributes only when a token was presented. */
	k = snprintf(v, sizeof(v), "Bearer realm=\"ccx\", error=\"%s\", "
	    "error_description=\"", api_oauth_error(e));
	if (k < 0 || (size_t)k >= sizeof(v))
		return API_E_INTERNAL;
	n = (size_t)k;
	for (const char *d = r->detail[0] ? r->detail : e->title;
	     *d != '\0' && n + 3 < sizeof(v); d++)
		v[n++] = *d == '"' || *d == '\\' || (unsigned char)*d < 0x20
			     ? '\''
			     : *d;
	v[n++] = '"';
	v[n] = '\0';
	return api_add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, v);
}

int
api_respond_problem(struct api_request *r, int err)
{
	const struct api_error_info *e = api_error_lookup(err);
	enum api_errfmt fmt = r->route != NULL ? r->route->fmt
					       : API_ERR_PROBLEM;
	const char *detail = r->detail[0] ? r->detail : e->title;
	char type[640];
	json_t *body;
	char *text;
	int n, rc;

	if (fmt == API_ERR_OAUTH) {
		char safe[API_DETAIL_MAX];

		api_oauth_text(safe, sizeof(safe), detail);
		body = json_pack("{s:s, s:s}", "error", api_oauth_error(e),
		    "error_description", safe);
	} else {
		n = snprintf(type, sizeof(type), "%s/problems/%s",
		    r->srv->issuer, e->type);
		if (n < 0 || (size_t)n >= sizeof(type))
			return API_E_INTERNAL;
		body = json_pack("{s:s, s:s, s:i, s:s}", "type", type,
		    "title", e->title, "status", (int)e->status, "detail",
		    detail);
		/* Where the consent page may send the customer back to. */
		if (body != NULL && r->problem_redirect != NULL)
			json_object_set_new(body, "redirect",
			    json_string(r->problem_redirect));
	}
	if (body == NULL)
		return API_E_NOMEM;
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return API_E_NOMEM;
	rc = set_response(r, e->status, fmt == API_ERR_OAUTH
		? "application/json"
		: "application/problem+json",
	    text, strlen(text), MHD_RESPMEM_MUST_FREE);
	if (rc != 0)
		return rc;
	if (e->status == 405 && r->allow[0] != '\0')
		rc = api_add_header(r, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (rc == 0 && e->status == 401)
		rc = challenge(r, e);
	if (rc == 0 && fmt == API_ERR_OAUTH)
		rc = api_add_header(r, "Pragma", "no-cache");
	if (rc == 0 && (e->status == 429 || e->status == 503) &&
	    r->retry_after > 0) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%u", r->retry_after);
		rc = api_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	return rc;
}

int
api_fail(struct api_request *r, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is above */
	n = vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	if (n < 0)
		r->detail[0] = '\0';
	/* A truncated detail is still a useful detail. */
	return err;
}

/* Runs on the committer thread once the write is durable or failed. */
static void
write_done(void *cookie, int rc)
{
	struct api_request *r = cookie;

	r->write_rc = rc;
	MHD_resume_connection(r->conn);
}

/* Runs on a KDF pool thread once the hash is done. */
static void
kdf_done(struct broker_kdf_job *job)
{
	struct api_request *r = job->cookie;

	MHD_resume_connection(r->conn);
}

int
api_kdf(struct api_request *r, struct broker_kdf_job *job)
{
	int rc;

	job->done = kdf_done;
	job->cookie = r;
	MHD_suspend_connection(r->conn);
	r->suspended = 1;
	rc = broker_kdf_submit(r->srv->kdf, job);
	if (rc != 0) {
		r->suspended = 0;
		MHD_resume_connection(r->conn);
		if (rc == BROKER_E_BUSY) {
			r->retry_after = 1;
			return api_fail(r, API_E_UNAVAILABLE,
			    "too many passwords being checked; retry shortly");
		}
		return rc;
	}
	return API_SUSPENDED;
}

int
api_write(struct api_request *r, broker_write_fn fn, void *arg)
{
	int rc;

	/* Suspend first: the committer may finish before submit returns. */
	MHD_suspend_connection(r->conn);
	r->suspended = 1;
	rc = broker_write_submit(r->srv->store, fn, arg, write_done, r);
	if (rc != 0) {
		r->suspended = 0;
		MHD_resume_connection(r->conn);
		if (rc == BROKER_E_BUSY) {
			r->retry_after = 1;
			return api_fail(r, rc, "too many pending writes; retry "
			    "shortly");
		}
		return rc;
	}
	return API_SUSPENDED;
}
