/*
 * test_api.c - unit tests of the api/ pieces that need no daemon: the
 * capped body buffer (body.c), parsing untrusted JSON bodies under the
 * policy limits (json.c), the error-to-HTTP table and every module's
 * strerror (errors.c), the route table with its matcher (routes.c), and
 * the listening sockets, on loopback only (listener.c).
 *
 * routes.c is included to reach its static pattern_match(): no row of the
 * table has a {param} yet, and captures must work before one does.  Every
 * body buffer lives in the test's state and is freed by its teardown, so
 * a failing assertion leaks nothing under valgrind or ASan.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/routes.c" /* NOLINT(bugprone-suspicious-include) */
#include "broker/broker.h"
#include "certs/certs.h"
#include "policy/policy.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct policy_json_limits default_limits =
    POLICY_JSON_LIMITS_DEFAULT;

/* Counts accepted and rejected rows: rejected ones must not be fewer. */
static void
assert_balanced(size_t accepted, size_t rejected)
{
	assert_true(accepted > 0);
	assert_true(rejected >= accepted);
}

/* ---- body.c ------------------------------------------------------------- */

static int
body_setup(void **state)
{
	struct api_body *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return -1;
	*state = b;
	return 0;
}

static int
body_teardown(void **state)
{
	struct api_body *b = *state;

	api_body_free(b);
	free(b);
	return 0;
}

/* The buffer's invariants after any sequence of appends. */
static void
assert_body_sane(const struct api_body *b)
{
	assert_true(b->len <= b->limit);
	if (b->data != NULL) {
		assert_true(b->len < b->cap);
		assert_int_equal(b->data[b->len], '\0');
	} else {
		assert_int_equal(b->len, 0);
	}
}

static void
test_body_init(void **state)
{
	struct api_body *b = *state;

	memset(b, 0x5a, sizeof(*b));
	api_body_init(b, 100);
	assert_null(b->data);
	assert_int_equal(b->len, 0);
	assert_int_equal(b->cap, 0);
	assert_int_equal(b->limit, 100);
	/* Freeing a buffer that never grew is fine, and so is freeing twice. */
	api_body_free(b);
	api_body_free(b);
	assert_null(b->data);
	assert_int_equal(b->len, 0);
}

/* Rows: a limit and a sequence of append sizes with the expected codes. */
struct body_row {
	size_t limit;
	size_t n;
	size_t sizes[6];
	int expect[6];
};

static const struct body_row body_rows[] = {
	/* accepted throughout */
	{ 10, 1, { 10 }, { 0 } },			/* exactly at cap */
	{ 10, 3, { 4, 0, 6 }, { 0, 0, 0 } },		/* fill to the cap */
	{ 0, 2, { 0, 0 }, { 0, 0 } },			/* empty into nothing */
	{ 1024, 2, { 1023, 1 }, { 0, 0 } },		/* first chunk edge */
	{ 5000, 3, { 1024, 1024, 2952 }, { 0, 0, 0 } },	/* growth to cap */
	/* crossing the cap: refused at once, nothing appended */
	{ 10, 1, { 11 }, { API_E_TOOBIG } },
	{ 10, 2, { 10, 1 }, { 0, API_E_TOOBIG } },
	{ 10, 3, { 6, 5, 4 }, { 0, API_E_TOOBIG, 0 } },	/* then fits again */
	{ 0, 1, { 1 }, { API_E_TOOBIG } },
	{ 1024, 2, { 1024, 1 }, { 0, API_E_TOOBIG } },
	{ 5000, 3, { 4999, 2, 1 }, { 0, API_E_TOOBIG, 0 } },
	/* sizes whose sum wraps must not slip through */
	{ 10, 2, { 6, SIZE_MAX - 2 }, { 0, API_E_TOOBIG } },
	{ 10, 2, { 6, SIZE_MAX }, { 0, API_E_TOOBIG } },
	{ 10, 1, { SIZE_MAX }, { API_E_TOOBIG } },
};

static void
test_body_table(void **state)
{
	struct api_body *b = *state;
	size_t accepted = 0, rejected = 0;
	static char src[8192];

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < NELEM(body_rows); i++) {
		const struct body_row *r = &body_rows[i];
		size_t want_len = 0;
		int any_rejected = 0;

		api_body_init(b, r->limit);
		for (size_t j = 0; j < r->n; j++) {
			int rc = api_body_append(b, src + want_len % 26,
			    r->sizes[j]);

			if (rc != r->expect[j])
				fail_msg("row %zu append %zu (%zu bytes): got "
					 "%d, want %d",
				    i, j, r->sizes[j], rc, r->expect[j]);
			if (rc == 0)
				want_len += r->sizes[j];
			else
				any_rejected = 1;
			assert_int_equal(b->len, want_len);
			assert_body_sane(b);
			/* Content is the concatenation, bytes intact. */
			for (size_t k = 0; k < b->len; k++)
				if (b->data[k] != src[k % 26])
					fail_msg("row %zu: byte %zu differs",
					    i, k);
		}
		api_body_free(b);
		assert_null(b->data);
		assert_int_equal(b->len, 0);
		if (any_rejected)
			rejected++;
		else
			accepted++;
	}
	assert_balanced(accepted, rejected);
}

/* Byte by byte up to the cap, then one more: refused, buffer unchanged. */
static void
test_body_bytewise(void **state)
{
	struct api_body *b = *state;
	static char before[4500];
	const size_t limit = sizeof(before);

	api_body_init(b, limit);
	for (size_t i = 0; i < limit; i++) {
		char c = (char)('0' + i % 10);

		assert_int_equal(api_body_append(b, &c, 1), 0);
		assert_int_equal(b->len, i + 1);
		/* The allocation never exceeds what the cap needs. */
		assert_true(b->cap <= limit + 1);
	}
	assert_body_sane(b);
	memcpy(before, b->data, limit);
	assert_int_equal(api_body_append(b, "x", 1), API_E_TOOBIG);
	assert_int_equal(api_body_append(b, "", 0), 0);
	assert_int_equal(b->len, limit);
	assert_memory_equal(b->data, before, limit);
	for (size_t i = 0; i < limit; i++)
		assert_int_equal(b->data[i], '0' + i % 10);
}

/* A buffer with no practical cap still holds what it is given. */
static void
test_body_unbounded_limit(void **state)
{
	struct api_body *b = *state;

	api_body_init(b, SIZE_MAX);
	assert_int_equal(api_body_append(b, "abc", 3), 0);
	assert_int_equal(b->len, 3);
	assert_true(b->cap >= 4);
	assert_body_sane(b);
	assert_string_equal(b->data, "abc");
}

/* ---- json.c ------------------------------------------------------------- */

/* Lengths come from sizeof so that rows may carry NUL bytes. */
#define JROW(s, lim, rc) { (s), sizeof(s) - 1, (lim), (rc) }
#define D16 "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]"
#define D17 "[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]"

struct json_row {
	const char *text;
	size_t len;
	const struct policy_json_limits *lim; /* NULL: the defaults */
	int expect;
};

static const struct policy_json_limits tight_string = { 16, 256, 4096, 3, 64 };
static const struct policy_json_limits tight_key = { 16, 256, 4096, 64, 3 };
static const struct policy_json_limits tight_members = { 16, 2, 4096, 64, 64 };
static const struct policy_json_limits tight_total = { 16, 256, 3, 64, 64 };
static const struct policy_json_limits tight_depth = { 2, 256, 4096, 64, 64 };

static const struct json_row json_rows[] = {
	/* accepted */
	JROW("{}", NULL, 0),
	JROW("[]", NULL, 0),
	JROW("{\"a\":1}", NULL, 0),
	JROW(" \t\r\n{\"a\":[1,2,{\"b\":null}]} \n", NULL, 0),
	JROW("[\"\\u00e9\",\"\xc3\xa9\",-0,1e3,true,false,null]", NULL, 0),
	JROW("{\"a\":\"[[[[[[[[[[[[[[[[[[[[\"}", NULL, 0),	/* in string */
	JROW("{\"a\":\"\\\"[[[[[[[[[[[[[[[[[[[[\"}", NULL, 0),	/* after \" */
	JROW(D16, NULL, 0),
	/* keys: exact bytes; duplicates only within one object */
	JROW("{\"a\":1,\"A\":2}", NULL, 0),
	JROW("{\"a\":{\"b\":1},\"c\":{\"b\":1}}", NULL, 0),
	JROW("[{\"a\":1},{\"a\":1}]", NULL, 0),
	/* at the limits */
	JROW("{\"abc\":\"xyz\"}", &tight_string, 0),
	JROW("{\"abc\":\"xyz\"}", &tight_key, 0),
	JROW("[1,2]", &tight_members, 0),
	JROW("[1,2]", &tight_total, 0),
	JROW("[[]]", &tight_depth, 0),
	/* not JSON, or not acceptable JSON */
	JROW("", NULL, API_E_JSON),
	JROW("   ", NULL, API_E_JSON),
	JROW("{", NULL, API_E_JSON),
	JROW("}", NULL, API_E_JSON),
	JROW("{\"a\":1,}", NULL, API_E_JSON),
	JROW("[1,]", NULL, API_E_JSON),
	JROW("{'a':1}", NULL, API_E_JSON),
	JROW("/*c*/{}", NULL, API_E_JSON),
	JROW("[01]", NULL, API_E_JSON),
	JROW("[NaN]", NULL, API_E_JSON),
	JROW("[1e999]", NULL, API_E_JSON),
	JROW("[\"\\ud800\"]", NULL, API_E_JSON),		/* surrogate */
	/* invalid UTF-8 */
	JROW("[\"\xff\"]", NULL, API_E_JSON),
	JROW("\xef\xbb\xbf{}", NULL, API_E_JSON),		/* BOM */
	/* duplicate keys */
	JROW("{\"a\":1,\"a\":2}", NULL, API_E_JSON),
	JROW("{\"a\":1,\"a\":1}", NULL, API_E_JSON),
	JROW("{\"x\":{\"b\":1,\"b\":2}}", NULL, API_E_JSON),
	JROW("{\"a\":1,\"\\u0061\":2}", NULL, API_E_JSON),	/* "a" */
	/* NUL bytes, raw or escaped */
	JROW("{\"a\":1}\0", NULL, API_E_JSON),
	JROW("\0{\"a\":1}", NULL, API_E_JSON),
	JROW("{\"a\"\0:1}", NULL, API_E_JSON),
	JROW("[\"a\0b\"]", NULL, API_E_JSON),
	JROW("[\"\\u0000\"]", NULL, API_E_JSON),
	JROW("{\"\\u0000\":1}", NULL, API_E_JSON),
	/* trailing garbage */
	JROW("{} x", NULL, API_E_JSON),
	JROW("{}{}", NULL, API_E_JSON),
	JROW("[1]]", NULL, API_E_JSON),
	JROW("{},", NULL, API_E_JSON),
	/* top-level scalars */
	JROW("1", NULL, API_E_JSON),
	JROW("\"s\"", NULL, API_E_JSON),
	JROW("null", NULL, API_E_JSON),
	JROW("true", NULL, API_E_JSON),
	/* limits */
	JROW(D17, NULL, POLICY_E_DEPTH),
	JROW("[[[[[[[[[[[[[[[[[", NULL, POLICY_E_DEPTH),	/* unclosed */
	JROW("[[[]]]", &tight_depth, POLICY_E_DEPTH),
	JROW("{\"a\":\"abcd\"}", &tight_string, POLICY_E_STRING),
	JROW("{\"abcd\":1}", &tight_key, POLICY_E_KEY),
	JROW("[1,2,3]", &tight_members, POLICY_E_MEMBERS),
	JROW("{\"a\":1,\"b\":2,\"c\":3}", &tight_members, POLICY_E_MEMBERS),
	JROW("[1,2,3]", &tight_total, POLICY_E_TOTAL),
};

static void
test_json_table(void **state)
{
	size_t accepted = 0, rejected = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(json_rows); i++) {
		const struct json_row *r = &json_rows[i];
		json_t *doc = (json_t *)(uintptr_t)1;
		char detail[API_DETAIL_MAX];
		int rc;

		memset(detail, 'Z', sizeof(detail));
		rc = api_json_parse(r->text, r->len,
		    r->lim ? r->lim : &default_limits, &doc, detail,
		    sizeof(detail));
		if (rc != r->expect) {
			json_decref(rc == 0 ? doc : NULL);
			fail_msg("row %zu '%.*s' (%zu bytes): got %d, want %d "
				 "(%s)",
			    i, (int)r->len, r->text, r->len, rc, r->expect,
			    detail);
		}
		assert_non_null(memchr(detail, '\0', sizeof(detail)));
		if (rc == 0) {
			assert_non_null(doc);
			assert_true(json_is_object(doc) || json_is_array(doc));
			assert_string_equal(detail, "");
			json_decref(doc);
			accepted++;
		} else {
			assert_null(doc);
			assert_true(detail[0] != '\0');
			rejected++;
		}
	}
	assert_balanced(accepted, rejected);
}

/* The parsed document is the text's, embedded escapes decoded. */
static void
test_json_content(void **state)
{
	static const char text[] = "{\"name\":\"caf\\u00e9\",\"n\":[1,2]}";
	json_t *doc = NULL;
	char detail[64];

	(void)state;
	assert_int_equal(api_json_parse(text, sizeof(text) - 1,
			     &default_limits, &doc, detail, sizeof(detail)),
	    0);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "name")),
	    "caf\xc3\xa9");
	assert_int_equal(json_array_size(json_object_get(doc, "n")), 2);
	json_decref(doc);
}

/* Only len bytes are read: a valid prefix of a longer buffer parses. */
static void
test_json_len(void **state)
{
	static const char text[] = "{\"a\":1}garbage";
	json_t *doc = NULL;
	char detail[64];

	(void)state;
	assert_int_equal(api_json_parse(text, 7, &default_limits, &doc,
			     detail, sizeof(detail)),
	    0);
	json_decref(doc);
	doc = NULL;
	assert_int_equal(api_json_parse(text, 8, &default_limits, &doc,
			     detail, sizeof(detail)),
	    API_E_JSON);
	assert_null(doc);
}

/* The reason says what went wrong and where. */
static void
test_json_detail(void **state)
{
	json_t *doc = NULL;
	char detail[API_DETAIL_MAX];
	char small[12];

	(void)state;
	assert_int_equal(api_json_parse(D17, sizeof(D17) - 1, &default_limits,
			     &doc, detail, sizeof(detail)),
	    POLICY_E_DEPTH);
	assert_non_null(strstr(detail, "16"));

	assert_int_equal(api_json_parse("{\"a\":1,\"a\":2}", 13,
			     &default_limits, &doc, detail, sizeof(detail)),
	    API_E_JSON);
	assert_non_null(strstr(detail, "duplicate"));

	assert_int_equal(api_json_parse("{\"k\":[\"abcd\"]}", 14,
			     &tight_string, &doc, detail, sizeof(detail)),
	    POLICY_E_STRING);
	assert_non_null(strstr(detail, "/k/0"));

	assert_int_equal(api_json_parse("[1,2,3]", 7, &tight_members, &doc,
			     detail, sizeof(detail)),
	    POLICY_E_MEMBERS);
	assert_non_null(strstr(detail, "'/'"));

	/* A short buffer gets a truncated, terminated reason. */
	memset(small, 'Z', sizeof(small));
	assert_int_equal(api_json_parse("{\"a\":1,\"a\":2}", 13,
			     &default_limits, &doc, small, sizeof(small)),
	    API_E_JSON);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	memset(small, 'Z', sizeof(small));
	assert_int_equal(api_json_parse(D17, sizeof(D17) - 1, &default_limits,
			     &doc, small, sizeof(small)),
	    POLICY_E_DEPTH);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_null(doc);
}

/* A megabyte of '[' is refused by the pre-scan, never parsed. */
static void
test_json_hostile_depth(void **state)
{
	size_t n = (size_t)1 << 20;
	char *buf = malloc(n);
	json_t *doc = NULL;
	char detail[API_DETAIL_MAX];

	(void)state;
	assert_non_null(buf);
	memset(buf, '[', n);
	assert_int_equal(api_json_parse(buf, n, &default_limits, &doc, detail,
			     sizeof(detail)),
	    POLICY_E_DEPTH);
	assert_null(doc);
	free(buf);
}

/* ---- errors.c ----------------------------------------------------------- */

struct error_row {
	int code;
	unsigned status;
	const char *type;
};

static const struct error_row error_rows[] = {
	{ API_E_BADREQ, 400, "bad-request" },
	{ API_E_SMUGGLE, 400, "ambiguous-framing" },
	{ API_E_JSON, 400, "invalid-json" },
	{ API_E_UNAUTH, 401, "unauthorized" },
	{ API_E_FORBIDDEN, 403, "forbidden" },
	{ API_E_NOTFOUND, 404, "not-found" },
	{ API_E_METHOD, 405, "method-not-allowed" },
	{ API_E_CONFLICT, 409, "conflict" },
	{ API_E_LENGTH, 411, "length-required" },
	{ API_E_PRECOND_FAIL, 412, "precondition-failed" },
	{ API_E_TOOBIG, 413, "body-too-large" },
	{ API_E_MEDIA, 415, "unsupported-media-type" },
	{ API_E_PRECOND_REQ, 428, "precondition-required" },
	{ API_E_THROTTLED, 429, "too-many-requests" },
	{ API_E_NOMEM, 500, "internal-error" },
	{ API_E_INTERNAL, 500, "internal-error" },
	{ API_E_UNAVAILABLE, 503, "unavailable" },
	{ POLICY_E_DEPTH, 400, "json-limit" },
	{ POLICY_E_MEMBERS, 400, "json-limit" },
	{ POLICY_E_TOTAL, 400, "json-limit" },
	{ POLICY_E_STRING, 400, "json-limit" },
	{ POLICY_E_KEY, 400, "json-limit" },
	{ BROKER_E_NOTFOUND, 404, "not-found" },
	{ BROKER_E_EXISTS, 409, "conflict" },
	{ BROKER_E_FULL, 507, "insufficient-storage" },
	{ BROKER_E_STALE, 412, "precondition-failed" },
	{ BROKER_E_DISABLED, 403, "forbidden" },
	{ BROKER_E_LIMIT, 409, "quota-exceeded" },
	{ BROKER_E_BUSY, 503, "unavailable" },
	{ API_E_INVALID_CLIENT, 401, "invalid-client" },
	{ API_E_INVALID_GRANT, 400, "invalid-grant" },
	{ API_E_UNSUPPORTED_GRANT, 400, "unsupported-grant-type" },
	{ API_E_INVALID_SCOPE, 400, "invalid-scope" },
	{ API_E_INVALID_TOKEN, 401, "invalid-token" },
	{ POLICY_E_SCOPE, 400, "invalid-scope" },
	{ POLICY_E_PROFILE, 400, "invalid-profile" },
	/* unknown codes: internal errors, nothing more revealed */
	{ -1, 500, "internal-error" },
	{ 1, 500, "internal-error" },
	{ INT_MIN, 500, "internal-error" },
	{ INT_MAX, 500, "internal-error" },
	{ -480, 500, "internal-error" },
	{ -499, 500, "internal-error" },
	{ -299, 500, "internal-error" },
	{ CERTS_E_CRYPTO, 500, "internal-error" },
	{ CERTS_E_IO, 500, "internal-error" },
};

/* RFC 6749 5.2 words for every family of failure. */
static void
test_oauth_error_words(void **state)
{
	static const struct {
		int code;
		const char *error;
	} rows[] = {
		{ API_E_INVALID_CLIENT, "invalid_client" },
		{ API_E_INVALID_GRANT, "invalid_grant" },
		{ API_E_UNSUPPORTED_GRANT, "unsupported_grant_type" },
		{ API_E_INVALID_SCOPE, "invalid_scope" },
		{ POLICY_E_SCOPE, "invalid_scope" },
		{ API_E_UNAUTHORIZED_CLIENT, "unauthorized_client" },
		{ API_E_BADREQ, "invalid_request" },
		{ API_E_MEDIA, "invalid_request" },
		{ API_E_TOOBIG, "invalid_request" },
		{ API_E_THROTTLED, "temporarily_unavailable" },
		{ BROKER_E_BUSY, "temporarily_unavailable" },
		{ BROKER_E_FULL, "server_error" },
		{ API_E_INTERNAL, "server_error" },
		{ -480, "server_error" },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++)
		assert_string_equal(api_oauth_error(api_error_lookup(
		    rows[i].code)), rows[i].error);
}

static void
test_error_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(error_rows); i++) {
		const struct error_row *r = &error_rows[i];
		const struct api_error_info *info = api_error_lookup(r->code);

		assert_non_null(info);
		if (info->status != r->status)
			fail_msg("code %d: status %u, want %u", r->code,
			    info->status, r->status);
		assert_non_null(info->type);
		if (strcmp(info->type, r->type) != 0)
			fail_msg("code %d: type %s, want %s", r->code,
			    info->type, r->type);
		assert_non_null(info->title);
		assert_true(info->title[0] != '\0');
	}
}

/* policy/'s refusals of what a client sent are client errors, never 5xx. */
static void
test_error_policy_is_client(void **state)
{
	static const int codes[] = { POLICY_E_DEPTH, POLICY_E_MEMBERS,
		POLICY_E_TOTAL, POLICY_E_STRING, POLICY_E_KEY, POLICY_E_INVAL,
		POLICY_E_LOGIN, POLICY_E_WEAKPW, POLICY_E_PROFILE };

	char bad[256] = "";
	size_t used = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(codes); i++) {
		const struct api_error_info *info = api_error_lookup(codes[i]);
		int n;

		if (info->status >= 400 && info->status <= 499)
			continue;
		n = snprintf(bad + used, sizeof(bad) - used, " %d->%u",
		    codes[i], info->status);
		if (n > 0 && (size_t)n < sizeof(bad) - used)
			used += (size_t)n;
	}
	if (used > 0)
		fail_msg("policy codes mapped outside 4xx:%s", bad);
}

/* Every code any module may return maps to a well-formed problem. */
static void
test_error_lookup_all(void **state)
{
	(void)state;
	for (int err = -100; err >= -499; err--) {
		const struct api_error_info *info = api_error_lookup(err);

		assert_non_null(info);
		assert_in_range(info->status, 400, 599);
		assert_non_null(info->type);
		assert_non_null(info->title);
		assert_true(info->type[0] != '\0' && info->title[0] != '\0');
		/* Slugs go into URLs: lower case and '-' only. */
		assert_int_equal(strspn(info->type,
				     "abcdefghijklmnopqrstuvwxyz-"),
		    strlen(info->type));
		/* A client error never passes for a server one, nor back. */
		if (info->status >= 500 && info->status != 503 &&
		    info->status != 507)
			assert_string_equal(info->type, "internal-error");
		if (info->status < 500)
			assert_string_not_equal(info->type, "internal-error");
	}
}

static void
check_strerror_range(const char *(*fn)(int), int hi, int lo,
    const int *codes, size_t n, const char *name)
{
	const char *unknown = fn(lo);

	assert_non_null(unknown);
	for (int err = -100; err >= -499; err--) {
		const char *s = fn(err);

		if (s == NULL || s[0] == '\0')
			fail_msg("%s(%d) is NULL or empty", name, err);
	}
	assert_non_null(fn(0));
	assert_non_null(fn(1));
	assert_non_null(fn(INT_MIN));
	assert_non_null(fn(INT_MAX));
	/* Every code of the module's own range has its own text. */
	for (size_t i = 0; i < n; i++) {
		assert_true(codes[i] >= lo && codes[i] <= hi);
		if (strcmp(fn(codes[i]), unknown) == 0)
			fail_msg("%s(%d) has no text of its own", name,
			    codes[i]);
	}
}

static void
test_strerror_all(void **state)
{
	static const int api[] = { API_E_BADREQ, API_E_SMUGGLE,
		API_E_NOTFOUND, API_E_METHOD, API_E_UNAUTH, API_E_FORBIDDEN,
		API_E_LENGTH, API_E_TOOBIG, API_E_MEDIA, API_E_JSON,
		API_E_PRECOND_REQ, API_E_PRECOND_FAIL, API_E_CONFLICT,
		API_E_THROTTLED, API_E_NOMEM, API_E_INTERNAL,
		API_E_UNAVAILABLE, API_E_CONFIG, API_E_TLS };
	static const int broker[] = { BROKER_E_NOTFOUND, BROKER_E_EXISTS,
		BROKER_E_FULL, BROKER_E_STORAGE, BROKER_E_NOMEM, BROKER_E_BUSY,
		BROKER_E_CORRUPT, BROKER_E_NOTINIT, BROKER_E_INVAL,
		BROKER_E_STOPPED, BROKER_E_VERSION, BROKER_E_IO,
		BROKER_E_BADPASS, BROKER_E_EXPIRED, BROKER_E_STALE };
	static const int policy[] = { POLICY_E_DEPTH, POLICY_E_MEMBERS,
		POLICY_E_TOTAL, POLICY_E_STRING, POLICY_E_KEY,
		POLICY_E_INVAL, POLICY_E_LOGIN, POLICY_E_WEAKPW,
		POLICY_E_PROFILE, POLICY_E_NOMEM };
	static const int certs[] = { CERTS_E_CRYPTO, CERTS_E_NOMEM,
		CERTS_E_IO, CERTS_E_PERM, CERTS_E_EXISTS, CERTS_E_FORMAT,
		CERTS_E_BADSIG, CERTS_E_INVAL, CERTS_E_MISMATCH,
		CERTS_E_NOTFOUND };

	(void)state;
	check_strerror_range(api_strerror, -400, -499, api, NELEM(api),
	    "api_strerror");
	check_strerror_range(broker_strerror, -300, -399, broker,
	    NELEM(broker), "broker_strerror");
	check_strerror_range(policy_strerror, -200, -299, policy,
	    NELEM(policy), "policy_strerror");
	check_strerror_range(certs_strerror, -100, -199, certs, NELEM(certs),
	    "certs_strerror");
}

/* ---- routes.c ----------------------------------------------------------- */

struct route_row {
	const char *method;
	const char *path;
	int expect;
	const char *name;  /* the route's name when matched */
	const char *allow; /* expected Allow list otherwise */
};

static const struct route_row route_rows[] = {
	/* matched */
	{ "GET", "/healthz", 0, "healthz", NULL },
	/* served by GET */
	{ "HEAD", "/healthz", 0, "healthz", NULL },
	{ "GET", "/metrics", 0, "metrics", NULL },
	{ "HEAD", "/metrics", 0, "metrics", NULL },
	/* the path exists, the method does not */
	{ "POST", "/healthz", API_E_METHOD, NULL, "GET, HEAD" },
	{ "PUT", "/healthz", API_E_METHOD, NULL, "GET, HEAD" },
	{ "OPTIONS", "/healthz", API_E_METHOD, NULL, "GET, HEAD" },
	{ "TRACE", "/healthz", API_E_METHOD, NULL, "GET, HEAD" },
	{ "DELETE", "/metrics", API_E_METHOD, NULL, "GET, HEAD" },
	{ "PATCH", "/metrics", API_E_METHOD, NULL, "GET, HEAD" },
	/* methods are case-sensitive */
	{ "get", "/healthz", API_E_METHOD, NULL, "GET, HEAD" },
	{ "head", "/healthz", API_E_METHOD, NULL, "GET, HEAD" },
	{ "", "/healthz", API_E_METHOD, NULL, "GET, HEAD" },
	/* no such path */
	{ "GET", "/healthz/", API_E_NOTFOUND, NULL, "" },
	{ "GET", "//healthz", API_E_NOTFOUND, NULL, "" },
	{ "GET", "/healthz//", API_E_NOTFOUND, NULL, "" },
	{ "GET", "/healthzX", API_E_NOTFOUND, NULL, "" },
	{ "GET", "/health", API_E_NOTFOUND, NULL, "" },
	{ "GET", "/healthz/x", API_E_NOTFOUND, NULL, "" },
	{ "GET", "/HEALTHZ", API_E_NOTFOUND, NULL, "" },
	{ "GET", "healthz", API_E_NOTFOUND, NULL, "" },
	{ "GET", "/./healthz", API_E_NOTFOUND, NULL, "" },
	{ "GET", "/x/../healthz", API_E_NOTFOUND, NULL, "" },
	{ "GET", "/metrics/", API_E_NOTFOUND, NULL, "" },
	{ "GET", "/metricsz", API_E_NOTFOUND, NULL, "" },
	/* the web page and its files (only the ones that exist) */
	{ "GET", "/", 0, "page", NULL },
	{ "POST", "/", API_E_METHOD, NULL, "GET, HEAD" },
	{ "GET", "/nosuchfile.js", API_E_NOTFOUND, NULL, "" },
	{ "GET", "", API_E_NOTFOUND, NULL, "" },
	/* 404, not 405 */
	{ "POST", "/nope", API_E_NOTFOUND, NULL, "" },
};

static void
test_route_table_match(void **state)
{
	size_t accepted = 0, rejected = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(route_rows); i++) {
		const struct route_row *r = &route_rows[i];
		const struct api_route *rt = &api_routes[0];
		struct api_param params[API_MAX_PARAMS];
		size_t n = 99;
		char allow[64];
		int rc;

		memset(allow, 'Z', sizeof(allow));
		rc = api_route_match(r->method, r->path, &rt, params, &n,
		    allow, sizeof(allow));
		if (rc != r->expect)
			fail_msg("row %zu %s '%s': got %d, want %d", i,
			    r->method, r->path, rc, r->expect);
		if (rc == 0) {
			assert_non_null(rt);
			assert_string_equal(rt->name, r->name);
			assert_int_equal(n, 0);
			accepted++;
		} else {
			assert_null(rt);
			assert_int_equal(n, 0);
			if (strcmp(allow, r->allow) != 0)
				fail_msg("row %zu %s '%s': Allow '%s', want "
					 "'%s'",
				    i, r->method, r->path, allow, r->allow);
			rejected++;
		}
	}
	assert_balanced(accepted, rejected);
}

/* A short Allow buffer holds whole methods only, and never overflows. */
static void
test_route_allow_cap(void **state)
{
	static const struct {
		size_t cap;
		const char *allow;
	} rows[] = {
		{ 1, "" }, { 3, "" }, { 4, "GET" }, { 9, "GET" },
		{ 10, "GET, HEAD" }, { 64, "GET, HEAD" },
	};
	const struct api_route *rt;
	struct api_param params[API_MAX_PARAMS];
	size_t n;
	char allow[64];

	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++) {
		memset(allow, 'Z', sizeof(allow));
		assert_int_equal(api_route_match("POST", "/healthz", &rt,
				     params, &n, allow, rows[i].cap),
		    API_E_METHOD);
		assert_string_equal(allow, rows[i].allow);
		for (size_t j = rows[i].cap; j < sizeof(allow); j++)
			assert_int_equal(allow[j], 'Z');
	}
	/* No capacity: the buffer is not touched, the answer is the same. */
	memset(allow, 'Z', sizeof(allow));
	assert_int_equal(api_route_match("POST", "/healthz", &rt, params, &n,
			     allow, 0),
	    API_E_METHOD);
	assert_int_equal(allow[0], 'Z');
	assert_int_equal(api_route_match("GET", "/healthz", &rt, params, &n,
			     allow, 0),
	    0);
	assert_string_equal(rt->name, "healthz");
}

/* The table itself: complete rows, no duplicates, every row reachable. */
static void
test_route_table_integrity(void **state)
{
	(void)state;
	assert_true(api_n_routes > 0);
	for (size_t i = 0; i < api_n_routes; i++) {
		const struct api_route *a = &api_routes[i];
		const struct api_route *rt;
		struct api_param params[API_MAX_PARAMS];
		char path[256], allow[64];
		size_t n, want_params = 0, o = 0;

		assert_non_null(a->method);
		assert_non_null(a->pattern);
		assert_non_null(a->handler);
		assert_non_null(a->name);
		assert_true(a->name[0] != '\0');
		assert_true(a->method[0] != '\0');
		assert_int_equal(
		    strspn(a->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
		    strlen(a->method));
		assert_int_equal(a->pattern[0], '/');
		for (size_t j = 0; j < i; j++) {
			const struct api_route *b = &api_routes[j];

			if (strcmp(a->method, b->method) == 0 &&
			    strcmp(a->pattern, b->pattern) == 0)
				fail_msg("rows %zu and %zu: both %s %s", j, i,
				    a->method, a->pattern);
		}

		/*
		 * A concrete path for the pattern: each {param} becomes "_",
		 * {asset} the name of an embedded file (if there is none, the
		 * row cannot match and is skipped).
		 */
		for (const char *p = a->pattern; *p != '\0'; p++) {
			assert_true(o + 64 < sizeof(path));
			if (strncmp(p, "{asset}", 7) == 0) {
				if (api_assets[0].path == NULL)
					goto next;
				memcpy(path + o, api_assets[0].path + 1,
				    strlen(api_assets[0].path) - 1);
				o += strlen(api_assets[0].path) - 1;
				p += 6;
				want_params++;
			} else if (*p == '{') {
				p = strchr(p, '}');
				assert_non_null(p);
				path[o++] = '_';
				want_params++;
			} else {
				path[o++] = *p;
			}
		}
		path[o] = '\0';
		assert_int_equal(api_route_match(a->method, path, &rt, params,
				     &n, allow, sizeof(allow)),
		    0);
		assert_ptr_equal(rt, a);
		assert_int_equal(n, want_params);
		if (strcmp(a->method, "GET") == 0) {
			assert_int_equal(api_route_match("HEAD", path, &rt,
					     params, &n, allow, sizeof(allow)),
			    0);
			assert_ptr_equal(rt, a);
		}
next:;
	}
}

/* pattern_match (static): captures and refusals on patterns with params. */
struct pattern_row {
	const char *pattern;
	const char *path;
	int match;
	size_t n;
	const char *params[API_MAX_PARAMS];
};

static const struct pattern_row pattern_rows[] = {
	/* matching */
	{ "/a", "/a", 1, 0, { NULL } },
	{ "/a/b", "/a/b", 1, 0, { NULL } },
	{ "/v1/me/grants/{id}", "/v1/me/grants/abc", 1, 1, { "abc" } },
	{ "/v1/{x}/y/{z}", "/v1/1/y/22", 1, 2, { "1", "22" } },
	{ "/a/{x}/c", "/a/b/c", 1, 1, { "b" } },
	{ "/{a}/{b}/{c}/{d}", "/1/2/3/4", 1, 4, { "1", "2", "3", "4" } },
	/* not matching */
	{ "/a", "/a/", 0, 0, { NULL } },
	{ "/a", "//a", 0, 0, { NULL } },
	{ "/a", "/ab", 0, 0, { NULL } },
	{ "/ab", "/a", 0, 0, { NULL } },
	{ "/a", "", 0, 0, { NULL } },
	{ "/a/b", "/a", 0, 0, { NULL } },
	{ "/a", "/a/b", 0, 0, { NULL } },
	{ "/a/{x}", "/a/", 0, 0, { NULL } },	/* empty segment */
	{ "/a/{x}", "/a", 0, 0, { NULL } },
	{ "/a/{x}", "/a//", 0, 0, { NULL } },
	{ "/a/{x}", "/a/b/", 0, 0, { NULL } },
	{ "/a/{x}", "/a/b/c", 0, 0, { NULL } },
	{ "/a/{x}/c", "/a/b/d", 0, 0, { NULL } },
	{ "/a/{x}/c", "/a//c", 0, 0, { NULL } },
	/* more than API_MAX_PARAMS */
	{ "/{a}/{b}/{c}/{d}/{e}", "/1/2/3/4/5", 0, 0, { NULL } },
};

static void
test_pattern_match(void **state)
{
	size_t accepted = 0, rejected = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(pattern_rows); i++) {
		const struct pattern_row *r = &pattern_rows[i];
		struct api_param params[API_MAX_PARAMS];
		size_t n = 99;
		int m = pattern_match(r->pattern, r->path, params, &n);

		if (m != r->match)
			fail_msg("row %zu '%s' vs '%s': got %d, want %d", i,
			    r->pattern, r->path, m, r->match);
		if (!m) {
			rejected++;
			continue;
		}
		accepted++;
		assert_int_equal(n, r->n);
		for (size_t j = 0; j < n; j++) {
			assert_int_equal(params[j].len, strlen(r->params[j]));
			assert_memory_equal(params[j].s, r->params[j],
			    params[j].len);
			/* Borrowed from the path, not copied. */
			assert_true(params[j].s >= r->path &&
			    params[j].s < r->path + strlen(r->path));
		}
	}
	assert_balanced(accepted, rejected);
}

/* ---- the fetch path's bounded caches (cache.c) ------------------------ */

static _Atomic int destroyed;

static void
count_destroy(struct api_cached *e)
{
	atomic_fetch_add(&destroyed, 1);
	free(e);
}

static struct api_cached *
entry(unsigned n)
{
	struct api_cached *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	atomic_init(&e->refs, 1);
	e->destroy = count_destroy;
	/* Keys are digests, as the caches' callers make them. */
	assert_int_equal(certs_sha256(&n, sizeof(n), e->key), 0);
	return e;
}

static void
test_cache_lru(void **state)
{
	struct api_cache *c;
	struct api_cached *e, *held;
	uint8_t k[API_CACHE_KEY];
	int hits = 0;

	(void)state;
	atomic_store(&destroyed, 0);
	assert_int_equal(api_cache_new(12288, 0, &c), 0);
	/* A first offer is only remembered: nothing is cached yet. */
	for (unsigned n = 0; n < 10000; n++) {
		e = entry(n);
		api_cache_insert(c, e);
		memcpy(k, e->key, sizeof(k));
		api_cached_release(e);
		assert_null(api_cache_get(c, k));
	}
	/* A working set that fits stays whole, round after round (offered
	 * twice; a doorkeeper collision may need a third offer). */
	for (int offer = 0; offer < 3; offer++)
		for (unsigned n = 0; n < 10000; n++) {
			e = entry(n);
			memcpy(k, e->key, sizeof(k));
			if ((held = api_cache_get(c, k)) != NULL) {
				api_cached_release(held);
				count_destroy(e);
				continue;
			}
			api_cache_insert(c, e);
			api_cached_release(e);
		}
	for (int round = 0; round < 3; round++)
		for (unsigned n = 0; n < 10000; n++) {
			e = entry(n);
			memcpy(k, e->key, sizeof(k));
			count_destroy(e);
			if ((e = api_cache_get(c, k)) != NULL) {
				hits++;
				api_cached_release(e);
			}
		}
	atomic_store(&destroyed, 0);
	assert_int_equal(hits, 30000);
	/* An entry in use survives eviction; the cache never grows. */
	e = entry(0);
	memcpy(k, e->key, sizeof(k));
	count_destroy(e);
	held = api_cache_get(c, k);
	assert_non_null(held);
	atomic_store(&destroyed, 0);
	for (unsigned n = 10000; n < 60000; n++)
		for (int offer = 0; offer < 2; offer++) {
			e = entry(n);
			api_cache_insert(c, e);
			api_cached_release(e);
		}
	assert_null(api_cache_get(c, k)); /* evicted */
	assert_true(atomic_load(&destroyed) >= 2 * 50000 - 12288 - 64);
	assert_int_equal(memcmp(held->key, k, sizeof(k)), 0);
	api_cached_release(held);
	/* The same key again: the newer entry replaces the older. */
	e = entry(7);
	api_cache_insert(c, e);
	api_cache_insert(c, e);
	memcpy(k, e->key, sizeof(k));
	held = api_cache_get(c, k);
	assert_ptr_equal(held, e);
	api_cached_release(held);
	held = entry(7);
	api_cache_insert(c, held);
	memcpy(k, e->key, sizeof(k));
	assert_ptr_equal(api_cache_get(c, k), held);
	api_cached_release(held);
	api_cached_release(held);
	api_cached_release(e);
	api_cache_free(c);
}

/*
 * With a byte budget, entries of varying size are evicted by bytes too:
 * the shards together never hold more than the budget, the newest entry
 * stays, and one larger than a shard's share is never stored.
 */
static void
test_cache_bytes(void **state)
{
	struct api_cache *c;
	struct api_cached *e;
	uint8_t k[API_CACHE_KEY];
	size_t held = 0;

	(void)state;
	atomic_store(&destroyed, 0);
	/* 64 shards of 16 KiB; room for far more entries than bytes. */
	assert_int_equal(api_cache_new(100000, 64 * 16384, &c), 0);
	for (unsigned n = 0; n < 4000; n++)
		for (int offer = 0; offer < 2; offer++) {
			e = entry(n);
			e->cost = 1000 + (n % 7) * 1000; /* 1 to 7 KB */
			memcpy(k, e->key, sizeof(k));
			api_cache_insert(c, e);
			api_cached_release(e);
		}
	/* The last one is in; the bytes held stay within the budget. */
	e = api_cache_get(c, k);
	assert_non_null(e);
	api_cached_release(e);
	for (unsigned n = 0; n < 4000; n++) {
		e = entry(n);
		memcpy(k, e->key, sizeof(k));
		count_destroy(e);
		if ((e = api_cache_get(c, k)) != NULL) {
			held += e->cost;
			api_cached_release(e);
		}
	}
	assert_true(held > 0 && held <= 64 * 16384);
	/* Too big for a shard: not stored, whatever the offers. */
	for (int offer = 0; offer < 3; offer++) {
		e = entry(999999);
		e->cost = 16385;
		memcpy(k, e->key, sizeof(k));
		api_cache_insert(c, e);
		api_cached_release(e);
	}
	assert_null(api_cache_get(c, k));
	api_cache_free(c);
}

/* Bad listen specifications are refused with the reason, nothing bound. */
static void
test_listener_bind_errors(void **state)
{
	static const struct {
		const char *spec, *why;
	} rows[] = {
		{ "127.0.0.1", "expected HOST:PORT" },
		{ ":8443", "expected HOST:PORT" },
		{ "127.0.0.1:", "expected HOST:PORT" },
		{ "[]:8443", "bad host" },
		{ "127.0.0.1:http", "0-65535" },
		{ "127.0.0.1:99999", "0-65535" },
		{ "127.0.0.1:-1", "0-65535" },
		{ "127.0.0.1:000065536", "0-65535" },
	};
	char err[256];
	unsigned port = 7;
	int fd = -1;

	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++) {
		err[0] = '\0';
		assert_int_equal(api_listener_bind(rows[i].spec, &fd, &port,
				     err, sizeof(err)),
		    API_E_CONFIG);
		assert_int_equal(fd, -1);
		assert_int_equal(port, 7);
		assert_non_null(strstr(err, rows[i].spec));
		assert_non_null(strstr(err, rows[i].why));
	}
}

/*
 * A closed listener refuses connections at once, yet its descriptor stays
 * one the daemon may poll, add to an epoll set, accept on and close: and
 * the socket has left the epoll set it was in without waking it.
 */
static void
test_listener_close(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLIN }, got;
	char err[256];
	unsigned port = 0;
	int fd = -1, ep, ep2, c, inert;

	(void)state;
	assert_int_equal(api_listener_bind("127.0.0.1:0", &fd, &port, err,
			     sizeof(err)),
	    0);
	assert_true(fd >= 0 && port > 0);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((ep = epoll_create1(EPOLL_CLOEXEC)) >= 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	/* Listening: a connection is taken, and wakes the set. */
	assert_true((c = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(epoll_wait(ep, &got, 1, 1000), 1);
	close(c);

	assert_true((inert = api_listener_inert()) >= 0);
	api_listener_close(fd, inert);
	close(inert); /* fd still refers to it */
	assert_true((c = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(c);
	/* Gone from the set, which stays quiet: no hang-up to spin on. */
	assert_int_equal(epoll_wait(ep, &got, 1, 50), 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL), -1);
	assert_int_equal(errno, ENOENT);
	/* What the daemon may still do with the descriptor. */
	assert_true((ep2 = epoll_create1(EPOLL_CLOEXEC)) >= 0);
	assert_int_equal(epoll_ctl(ep2, EPOLL_CTL_ADD, fd, &ev), 0);
	assert_int_equal(epoll_wait(ep2, &got, 1, 50), 0);
	assert_int_equal(accept(fd, NULL, NULL), -1);
	assert_int_equal(errno, ENOTSOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(ep2);
	close(ep);
	assert_int_equal(close(fd), 0);
	api_listener_close(-1, -1);
}

/*
 * The open-files limit is raised to what the connection limit needs when
 * the hard limit allows.  (Lowering the connection limit under a low hard
 * limit is tested on the daemon: a lowered hard limit cannot be raised
 * again without privilege.)
 */
static void
test_listener_fd_budget(void **state)
{
	struct rlimit was, rl;
	rlim_t raised;
	unsigned max = 1000;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
	if (was.rlim_max != RLIM_INFINITY && was.rlim_max < 2000)
		skip();
	rl = was;
	rl.rlim_cur = 200;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(api_listener_fd_budget(&max, 4), 0);
	assert_int_equal(max, 1000);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_true(rl.rlim_cur >= 1000 + 4 * 4 && rl.rlim_cur < 2000);
	/* Enough already: left as it is. */
	raised = rl.rlim_cur;
	max = 10;
	assert_int_equal(api_listener_fd_budget(&max, 4), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_true(rl.rlim_cur == raised);
	assert_int_equal(max, 10);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_body_init, body_setup,
		    body_teardown),
		cmocka_unit_test_setup_teardown(test_body_table, body_setup,
		    body_teardown),
		cmocka_unit_test_setup_teardown(test_body_bytewise, body_setup,
		    body_teardown),
		cmocka_unit_test(test_json_table),
		cmocka_unit_test(test_json_content),
		cmocka_unit_test(test_json_len),
		cmocka_unit_test(test_json_detail),
		cmocka_unit_test(test_json_hostile_depth),
		cmocka_unit_test(test_oauth_error_words),
		cmocka_unit_test(test_error_table),
		cmocka_unit_test(test_error_policy_is_client),
		cmocka_unit_test(test_error_lookup_all),
		cmocka_unit_test(test_strerror_all),
		cmocka_unit_test(test_route_table_match),
		cmocka_unit_test(test_route_allow_cap),
		cmocka_unit_test(test_route_table_integrity),
		cmocka_unit_test(test_pattern_match),
		cmocka_unit_test(test_cache_lru),
		cmocka_unit_test(test_cache_bytes),
		cmocka_unit_test(test_listener_bind_errors),
		cmocka_unit_test(test_listener_close),
		cmocka_unit_test(test_listener_fd_budget),
		/* Last: when it fails, it may do so by corrupting the heap. */
		cmocka_unit_test_setup_teardown(test_body_unbounded_limit,
		    body_setup, body_teardown),
	};

	return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
