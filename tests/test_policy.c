/*
 * test_policy.c - unit tests of policy/: the raw-text depth pre-scan
 * (policy_json_depth), the tree check of every JSON limit with the path of
 * the offence (policy_json_check), the offence-path helper and
 * policy_strerror.
 *
 * policy/ is pure, so json_limits.c is included to reach its static
 * path_push(); the tests need no fixture beyond the jansson documents they
 * build, and release every one of them.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The module is pure: its statics are part of what is tested. */
#include "policy/json_limits.c" /* NOLINT(bugprone-suspicious-include) */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Limits spelled positionally in the tables: depth, members, total, ... */
#define LIM(d, m, t, s, k)                                                   \
	{                                                                    \
		.max_depth = (d), .max_members = (m), .max_total = (t),      \
		.max_string = (s), .max_key = (k)                            \
	}
#define BIG ((size_t)1 << 20)

/* Counts accepted and rejected rows: rejected ones must not be fewer. */
static void
assert_balanced(size_t accepted, size_t rejected)
{
	assert_true(accepted > 0);
	assert_true(rejected >= accepted);
}

/* Returns a NUL-terminated string of n copies of open then n of close. */
static char *
nest(size_t n, char open, char close)
{
	char *s = malloc(2 * n + 1);

	assert_non_null(s);
	memset(s, open, n);
	memset(s + n, close, n);
	s[2 * n] = '\0';
	return s;
}

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *doc = json_loads(text, JSON_DECODE_ANY, &err);

	if (doc == NULL)
		fail_msg("test document does not parse: %s: %s", text,
		    err.text);
	return doc;
}

/* ---- policy_strerror ---------------------------------------------------- */

static void
test_strerror(void **state)
{
	static const int codes[] = { POLICY_E_DEPTH, POLICY_E_MEMBERS,
		POLICY_E_TOTAL, POLICY_E_STRING, POLICY_E_KEY, POLICY_E_INVAL,
		POLICY_E_LOGIN, POLICY_E_WEAKPW, POLICY_E_PROFILE,
		POLICY_E_NOMEM };
	const char *unknown = policy_strerror(-299);

	(void)state;
	assert_non_null(unknown);
	assert_string_equal(policy_strerror(POLICY_OK), "success");
	for (int err = -200; err >= -299; err--) {
		const char *s = policy_strerror(err);

		assert_non_null(s);
		assert_true(s[0] != '\0');
	}
	/* Every defined code has its own text, none falls to the default. */
	for (size_t i = 0; i < NELEM(codes); i++) {
		assert_string_not_equal(policy_strerror(codes[i]), unknown);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(policy_strerror(codes[i]),
			    policy_strerror(codes[j]));
	}
	assert_non_null(policy_strerror(INT_MIN));
	assert_non_null(policy_strerror(INT_MAX));
	assert_non_null(policy_strerror(-1));
}

/* ---- policy_json_depth -------------------------------------------------- */

struct depth_row {
	const char *text;
	unsigned max_depth;
	int expect;
};

static const struct depth_row depth_rows[] = {
	/* accepted */
	{ "", 0, 0 },
	{ "{}", 1, 0 },
	{ "[[]]", 2, 0 },
	{ "{\"a\":[1,{\"b\":2}]}", 3, 0 },
	{ "[][][][]{}{}", 1, 0 },			/* siblings reset */
	{ "\"[[[[{{{{\"", 0, 0 },			/* all in a string */
	{ "[\"\\\"[[[[\"]", 1, 0 },			/* escaped quote */
	{ "[\"\\\\\\\"[[\"]", 1, 0 },			/* \\ then \" */
	{ "{\"k\":\"}}}}\",\"x\":[[]]}", 3, 0 },	/* closers in string */
	{ "]]]][", 1, 0 },				/* stray closers */
	{ "\"[[[", 0, 0 },				/* unterminated */
	{ "12 true null", 0, 0 },			/* no containers */
	/* rejected */
	{ "[", 0, POLICY_E_DEPTH },
	{ "{}", 0, POLICY_E_DEPTH },
	{ "[[", 1, POLICY_E_DEPTH },			/* unclosed counts */
	{ "[[[]]]", 2, POLICY_E_DEPTH },
	{ "{\"a\":{\"b\":{}}}", 2, POLICY_E_DEPTH },
	{ "[{\"a\":[]}]", 2, POLICY_E_DEPTH },		/* mixed kinds */
	{ "[\"]\",[[]]]", 2, POLICY_E_DEPTH },		/* ] in string */
	{ "{\"k\":\"}}}}\",\"x\":[[]]}", 2, POLICY_E_DEPTH },
	{ "[\"\\\\\",[[]]]", 2, POLICY_E_DEPTH },	/* \\ ends before " */
	{ "[\"a\"][[[", 2, POLICY_E_DEPTH },		/* string closed */
	{ "]][[", 1, POLICY_E_DEPTH },			/* no credit from ] */
	{ "}}}}[[[", 2, POLICY_E_DEPTH },
	{ "[\"x\\\"y\"][[[", 2, POLICY_E_DEPTH },	/* \" then real " */
	{ "[]{}[[[[]]]]", 3, POLICY_E_DEPTH },
};

static void
test_depth_table(void **state)
{
	size_t accepted = 0, rejected = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(depth_rows); i++) {
		const struct depth_row *r = &depth_rows[i];
		int rc = policy_json_depth(r->text, strlen(r->text),
		    r->max_depth);

		if (rc != r->expect)
			fail_msg("row %zu %s (max %u): got %d, want %d", i,
			    r->text, r->max_depth, rc, r->expect);
		if (r->expect == 0)
			accepted++;
		else
			rejected++;
	}
	assert_balanced(accepted, rejected);
}

/* Exactly max_depth levels pass, one more fails, for both kinds. */
static void
test_depth_boundary(void **state)
{
	(void)state;
	for (unsigned n = 0; n <= 40; n++) {
		size_t len = 2 * (size_t)n;
		char *arr = nest(n, '[', ']');
		char *obj = nest(n, '{', '}');

		assert_int_equal(policy_json_depth(arr, len, n), 0);
		assert_int_equal(policy_json_depth(obj, len, n), 0);
		if (n > 0) {
			assert_int_equal(policy_json_depth(arr, len, n - 1),
			    POLICY_E_DEPTH);
			assert_int_equal(policy_json_depth(obj, len, n - 1),
			    POLICY_E_DEPTH);
		}
		free(arr);
		free(obj);
	}
}

/* The scan honours len: no reading past it, no stopping at a NUL. */
static void
test_depth_len(void **state)
{
	static const char text[] = "[[[[]]]]";
	static const char nul[] = { '[', '\0', '[', '[', ']', ']', ']' };

	(void)state;
	assert_int_equal(policy_json_depth(text, 2, 2), 0);
	assert_int_equal(policy_json_depth(text, 3, 2), POLICY_E_DEPTH);
	assert_int_equal(policy_json_depth(text, 0, 0), 0);
	assert_int_equal(policy_json_depth(NULL, 0, 0), 0);
	assert_int_equal(policy_json_depth(nul, sizeof(nul), 2),
	    POLICY_E_DEPTH);
	assert_int_equal(policy_json_depth(nul, sizeof(nul), 3), 0);
}

/* A hostile megabyte of '[' is refused by the linear scan. */
static void
test_depth_hostile(void **state)
{
	size_t n = (size_t)1 << 20;
	char *buf = malloc(n);

	(void)state;
	assert_non_null(buf);
	memset(buf, '[', n);
	assert_int_equal(policy_json_depth(buf, n, 16), POLICY_E_DEPTH);
	assert_int_equal(policy_json_depth(buf, n, UINT_MAX), 0);
	/* The same inside one string costs nothing. */
	buf[0] = '"';
	assert_int_equal(policy_json_depth(buf, n, 0), 0);
	free(buf);
}

/* ---- policy_json_check -------------------------------------------------- */

struct check_row {
	const char *text;
	struct policy_json_limits lim;
	int expect;
	const char *path; /* the offence, "" for the root or on success */
};

static const struct check_row check_rows[] = {
	/* accepted */
	{ "{}", POLICY_JSON_LIMITS_DEFAULT, 0, "" },
	{ "[]", LIM(1, 0, 1, 0, 0), 0, "" },
	{ "null", LIM(0, 0, 1, 0, 0), 0, "" },		/* scalars: no depth */
	{ "\"abc\"", LIM(0, 0, 1, 3, 0), 0, "" },
	{ "[1,2,3]", LIM(1, 3, 4, 0, 0), 0, "" },	/* root counts */
	{ "{\"abcd\":1}", LIM(1, 1, 2, 0, 4), 0, "" },
	{ "[[[]]]", LIM(3, 1, 3, 0, 0), 0, "" },
	{ "{\"a\":\"\\u00e9\"}", LIM(1, 1, 2, 2, 1), 0, "" },
	{ "{\"\\u00e9\":1}", LIM(1, 1, 2, 0, 2), 0, "" },
	{ "{\"a\":{\"b\":1,\"c\":2}}", LIM(2, 2, 4, 0, 1), 0, "" },
	{ "[1,[2,[3]],{\"x\":4}]", LIM(3, 3, 8, 0, 1), 0, "" },
	{ "{\"\":\"\"}", LIM(1, 1, 2, 0, 0), 0, "" },	/* empty key, string */
	/* rejected */
	{ "[[[[]]]]", LIM(3, 9, 99, 9, 9), POLICY_E_DEPTH, "/0/0/0" },
	{ "{}", LIM(0, 9, 99, 9, 9), POLICY_E_DEPTH, "" },
	{ "[[],[],[[]]]", LIM(2, 9, 99, 9, 9), POLICY_E_DEPTH, "/2/0" },
	{ "{\"a\":{\"b\":{}}}", LIM(2, 9, 99, 9, 9), POLICY_E_DEPTH, "/a/b" },
	{ "[1,2,3,4]", LIM(9, 3, 99, 9, 9), POLICY_E_MEMBERS, "" },
	{ "{\"a\":{\"b\":1,\"c\":2,\"d\":3}}", LIM(9, 2, 99, 9, 9),
	    POLICY_E_MEMBERS, "/a" },
	{ "[1,2,3]", LIM(9, 9, 3, 9, 9), POLICY_E_TOTAL, "/2" },
	{ "[1,[2,[3]],{\"x\":4}]", LIM(9, 9, 6, 9, 9), POLICY_E_TOTAL, "/2" },
	{ "\"abcd\"", LIM(9, 9, 99, 3, 9), POLICY_E_STRING, "" },
	{ "{\"a\":\"abcd\"}", LIM(9, 9, 99, 3, 9), POLICY_E_STRING, "/a" },
	{ "{\"a\":\"\\u00e9\\u00e9\"}", LIM(9, 9, 99, 3, 9),
	    POLICY_E_STRING, "/a" },			/* bytes, not chars */
	{ "[\"ok\",{\"k\":[\"toolong\"]}]", LIM(9, 9, 99, 4, 9),
	    POLICY_E_STRING, "/1/k/0" },
	{ "[{\"a\":1},\"xxxxx\"]", LIM(9, 9, 99, 3, 9), POLICY_E_STRING,
	    "/1" },					/* path restored */
	{ "{\"long\":1,\"b\":\"xxxx\"}", LIM(9, 9, 99, 3, 9),
	    POLICY_E_STRING, "/b" },
	{ "{\"abcde\":1}", LIM(9, 9, 99, 9, 4), POLICY_E_KEY, "/abcde" },
	{ "{\"\\u00e9\":1}", LIM(9, 9, 99, 9, 1), POLICY_E_KEY,
	    "/\xc3\xa9" },
	{ "[0,{\"ok\":{\"toolong\":1}}]", LIM(9, 9, 99, 9, 4), POLICY_E_KEY,
	    "/1/ok/toolong" },
};

static void
test_check_table(void **state)
{
	size_t accepted = 0, rejected = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(check_rows); i++) {
		const struct check_row *r = &check_rows[i];
		json_t *doc = load(r->text);
		char path[128];
		int rc;

		memset(path, 'Z', sizeof(path));
		rc = policy_json_check(doc, &r->lim, path, sizeof(path));
		json_decref(doc);
		if (rc != r->expect)
			fail_msg("row %zu %s: got %d, want %d", i, r->text, rc,
			    r->expect);
		if (strcmp(path, r->path) != 0)
			fail_msg("row %zu %s: path '%s', want '%s'", i,
			    r->text, path, r->path);
		if (r->expect == 0)
			accepted++;
		else
			rejected++;
	}
	assert_balanced(accepted, rejected);
}

/* Builds {"k0":0,...} or [0,...] with n members. */
static json_t *
wide(int object, size_t n)
{
	json_t *c = object ? json_object() : json_array();
	char key[32];

	assert_non_null(c);
	for (size_t i = 0; i < n; i++) {
		if (object) {
			snprintf(key, sizeof(key), "k%zu", i);
			assert_int_equal(json_object_set_new(c, key,
			    json_integer((json_int_t)i)), 0);
		} else {
			assert_int_equal(json_array_append_new(c,
			    json_integer((json_int_t)i)), 0);
		}
	}
	return c;
}

/* {"<klen x 'k'>": "<slen x 's'>"} */
static json_t *
keyed_string(size_t klen, size_t slen)
{
	char *k = malloc(klen + 1), *s = malloc(slen + 1);
	json_t *doc;

	assert_non_null(k);
	assert_non_null(s);
	memset(k, 'k', klen);
	k[klen] = '\0';
	memset(s, 's', slen);
	s[slen] = '\0';
	doc = json_pack("{s:s}", k, s);
	assert_non_null(doc);
	free(k);
	free(s);
	return doc;
}

static int
check_default(json_t *doc)
{
	static const struct policy_json_limits lim =
	    POLICY_JSON_LIMITS_DEFAULT;
	int rc = policy_json_check(doc, &lim, NULL, 0);

	json_decref(doc);
	return rc;
}

/* The documented defaults, each exactly at and one past its limit. */
static void
test_check_defaults(void **state)
{
	static const struct policy_json_limits lim =
	    POLICY_JSON_LIMITS_DEFAULT;
	json_t *big;
	char *deep;

	(void)state;
	assert_int_equal(lim.max_depth, 16);
	assert_int_equal(lim.max_members, 256);
	assert_int_equal(lim.max_total, 4096);
	assert_int_equal(lim.max_string, 4096);
	assert_int_equal(lim.max_key, 64);

	deep = nest(16, '[', ']');
	assert_int_equal(check_default(load(deep)), 0);
	free(deep);
	deep = nest(17, '[', ']');
	assert_int_equal(check_default(load(deep)), POLICY_E_DEPTH);
	free(deep);

	assert_int_equal(check_default(wide(0, 256)), 0);
	assert_int_equal(check_default(wide(1, 256)), 0);
	assert_int_equal(check_default(wide(0, 257)), POLICY_E_MEMBERS);
	assert_int_equal(check_default(wide(1, 257)), POLICY_E_MEMBERS);

	assert_int_equal(check_default(keyed_string(64, 4096)), 0);
	assert_int_equal(check_default(keyed_string(65, 1)), POLICY_E_KEY);
	assert_int_equal(check_default(keyed_string(1, 4097)),
	    POLICY_E_STRING);

	/* 16 arrays of 255 scalars: 16 + 16 * 255 + 1 = 4097 values. */
	big = json_array();
	assert_non_null(big);
	for (int i = 0; i < 16; i++)
		assert_int_equal(json_array_append_new(big, wide(0, 255)), 0);
	assert_int_equal(check_default(json_deep_copy(big)), POLICY_E_TOTAL);
	/* One scalar fewer: exactly 4096. */
	assert_int_equal(json_array_remove(json_array_get(big, 0), 0), 0);
	assert_int_equal(check_default(big), 0);
}

/* The tree check agrees with the text pre-scan on every depth. */
static void
test_check_agrees_with_prescan(void **state)
{
	(void)state;
	for (unsigned n = 1; n <= 20; n++) {
		char *text = nest(n, '[', ']');
		json_t *doc = load(text);

		for (unsigned max = 0; max <= 21; max++) {
			struct policy_json_limits lim = LIM(max, 9, 99, 9, 9);

			assert_int_equal(policy_json_check(doc, &lim, NULL, 0),
			    policy_json_depth(text, strlen(text), max));
		}
		json_decref(doc);
		free(text);
	}
}

static void
test_check_args(void **state)
{
	static const struct policy_json_limits lim =
	    POLICY_JSON_LIMITS_DEFAULT;
	json_t *doc = load("{\"a\":\"xxxxxxxx\"}");
	struct policy_json_limits tight = LIM(9, 9, 99, 2, 9);
	char path[16];

	(void)state;
	memset(path, 'Z', sizeof(path));
	assert_int_equal(policy_json_check(NULL, &lim, path, sizeof(path)),
	    POLICY_E_INVAL);
	assert_string_equal(path, "");
	memset(path, 'Z', sizeof(path));
	assert_int_equal(policy_json_check(doc, NULL, path, sizeof(path)),
	    POLICY_E_INVAL);
	assert_string_equal(path, "");

	/* No path wanted: NULL, or a zero capacity that must not be touched. */
	assert_int_equal(policy_json_check(doc, &tight, NULL, 0),
	    POLICY_E_STRING);
	assert_int_equal(policy_json_check(doc, &tight, NULL, 64),
	    POLICY_E_STRING);
	memset(path, 'Z', sizeof(path));
	assert_int_equal(policy_json_check(doc, &tight, path, 0),
	    POLICY_E_STRING);
	for (size_t i = 0; i < sizeof(path); i++)
		assert_int_equal(path[i], 'Z');

	/* A successful check leaves an empty path. */
	memset(path, 'Z', sizeof(path));
	assert_int_equal(policy_json_check(doc, &lim, path, sizeof(path)), 0);
	assert_string_equal(path, "");
	json_decref(doc);
}

/* Any capacity yields the full path cut to capacity - 1 bytes. */
static void
test_check_path_truncation(void **state)
{
	static const struct {
		const char *text;
		const char *full;
	} rows[] = {
		{ "[[[[[]]]]]", "/0/0/0" },
		{ "{\"abcdefgh\":[1,{\"ij\":[[[]]]}]}", "/abcdefgh/1/ij" },
		{ "[0,1,2,3,4,5,6,7,8,9,10,[[[[]]]]]", "/11/0/0" },
	};
	struct policy_json_limits lim = LIM(3, 99, 99, 99, 99);

	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++) {
		json_t *doc = load(rows[i].text);
		size_t full = strlen(rows[i].full);

		for (size_t cap = 1; cap <= full + 2; cap++) {
			char *path = malloc(cap);
			size_t want = cap - 1 < full ? cap - 1 : full;

			assert_non_null(path);
			assert_int_equal(
			    policy_json_check(doc, &lim, path, cap),
			    POLICY_E_DEPTH);
			if (strlen(path) != want ||
			    memcmp(path, rows[i].full, want) != 0)
				fail_msg("%s cap %zu: path '%s', want '%.*s'",
				    rows[i].text, cap, path, (int)want,
				    rows[i].full);
			free(path);
		}
		json_decref(doc);
	}
}

/* ---- path_push (static helper) ------------------------------------------ */

struct push_row {
	const char *before; /* current path */
	size_t cap;
	const char *seg;
	const char *after;
};

static const struct push_row push_rows[] = {
	{ "", 16, "a", "/a" },
	{ "/a", 16, "bc", "/a/bc" },
	{ "", 16, "", "/" },
	{ "", 4, "abcdef", "/ab" },	/* cut to fit */
	{ "/a", 4, "bc", "/a/" },	/* only the separator fits */
	{ "/ab", 4, "c", "/ab" },	/* full: unchanged */
	{ "", 1, "a", "" },		/* room for the NUL only */
	{ "", 2, "a", "/" },
};

static void
test_path_push(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(push_rows); i++) {
		const struct push_row *r = &push_rows[i];
		char buf[32];
		struct walk w = { .path = buf, .pathcap = r->cap };
		size_t at = strlen(r->before);

		memset(buf, 'Z', sizeof(buf));
		memcpy(buf, r->before, at + 1);
		path_push(&w, at, r->seg, strlen(r->seg));
		if (strcmp(buf, r->after) != 0)
			fail_msg("row %zu: '%s' + '%s' (cap %zu) = '%s', "
				 "want '%s'",
			    i, r->before, r->seg, r->cap, buf, r->after);
		/* Nothing written at or past the capacity. */
		for (size_t j = r->cap; j < sizeof(buf); j++)
			assert_int_equal(buf[j], 'Z');
	}
	/* No buffer: nothing to do, nothing to crash on. */
	{
		struct walk w = { .path = NULL, .pathcap = 8 };

		path_push(&w, 0, "a", 1);
		assert_int_equal(path_len(&w), 0);
	}
}

/* ---- logins and passwords ------------------------------------------ */

static void
test_login_table(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
	} rows[] = {
		{ "alice", 0, "alice" },
		{ "Alice@Example.COM", 0, "alice@example.com" },
		{ "a.b_c+d-e@f", 0, "a.b_c+d-e@f" },
		{ "abc", 0, "abc" },
		{ "0123456789012345678901234567890123456789012345678901234567890123",
		    0, "0123456789012345678901234567890123456789012345678901234567890123" },
		{ "ab", POLICY_E_LOGIN, "" },
		{ "", POLICY_E_LOGIN, "" },
		{ "01234567890123456789012345678901234567890123456789012345678901234",
		    POLICY_E_LOGIN, "" },
		{ "with space", POLICY_E_LOGIN, "" },
		{ "tab\there", POLICY_E_LOGIN, "" },
		{ "quote\"d", POLICY_E_LOGIN, "" },
		{ "sl/ash", POLICY_E_LOGIN, "" },
		{ "caf\xc3\xa9", POLICY_E_LOGIN, "" },
		{ "semi;colon", POLICY_E_LOGIN, "" },
		{ "new\nline", POLICY_E_LOGIN, "" },
		{ "percent%41", POLICY_E_LOGIN, "" },
	};
	char out[POLICY_LOGIN_MAX + 1];
	size_t ok = 0, bad = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++) {
		memset(out, 'Z', sizeof(out));
		assert_int_equal(policy_login_normalize(rows[i].in,
		    strlen(rows[i].in), out), rows[i].rc);
		assert_string_equal(out, rows[i].out);
		rows[i].rc == 0 ? ok++ : bad++;
	}
	assert_balanced(ok, bad);
	/* An embedded NUL is a bad character, not an end of string. */
	assert_int_equal(policy_login_normalize("abc\0def", 7, out),
	    POLICY_E_LOGIN);
	assert_int_equal(policy_login_normalize(NULL, 3, out), POLICY_E_LOGIN);
}

static void
test_password_table(void **state)
{
	static const struct {
		const char *pw;
		const char *login;
		int rc;
		const char *why; /* a word of the reason */
	} rows[] = {
		{ "correct horse battery", "alice", 0, NULL },
		{ "twelve chars", "alice", 0, NULL },
		/* 12 code points, 24 bytes: counted in characters. */
		{ "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa8",
		    "alice", 0, NULL },
		{ "\xf0\x9f\x94\x91 unicode key!", "alice", 0, NULL },
		{ "short", "alice", POLICY_E_WEAKPW, "shorter" },
		{ "eleven char", "alice", POLICY_E_WEAKPW, "shorter" },
		{ "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
		    "alice", POLICY_E_WEAKPW, "shorter" },
		{ "aaaaaaaaaaaaaaaa", "alice", POLICY_E_WEAKPW, "single" },
		{ "password1234", "alice", POLICY_E_WEAKPW, "common" },
		{ "PASSWORD1234", "alice", POLICY_E_WEAKPW, "common" },
		{ "123456789012", "alice", POLICY_E_WEAKPW, "common" },
		{ "my name is alice!", "alice", POLICY_E_WEAKPW, "login" },
		{ "my name is ALICE!", "alice", POLICY_E_WEAKPW, "login" },
		{ "bad utf8 \xc3\x28 here", "alice", POLICY_E_WEAKPW, "UTF-8" },
		{ "overlong \xc0\xaf slash", "alice", POLICY_E_WEAKPW, "UTF-8" },
		{ "surrogate \xed\xa0\x80 x", "alice", POLICY_E_WEAKPW, "UTF-8" },
		{ "truncated at end \xe2\x82", "alice", POLICY_E_WEAKPW, "UTF-8" },
	};
	const char *why;
	size_t ok = 0, bad = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(rows); i++) {
		int rc = policy_password_check(rows[i].pw, strlen(rows[i].pw),
		    rows[i].login, &why);

		assert_int_equal(rc, rows[i].rc);
		if (rc == 0) {
			assert_null(why);
			ok++;
		} else {
			assert_non_null(why);
			assert_non_null(strstr(why, rows[i].why));
			bad++;
		}
	}
	assert_balanced(ok, bad);
}

static void
test_password_bounds(void **state)
{
	char pw[POLICY_PASSWORD_MAX + 2];
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(pw); i++)
		pw[i] = (char)('a' + i % 26);
	assert_int_equal(policy_password_check(pw, POLICY_PASSWORD_MAX, NULL,
	    &why), 0);
	assert_int_equal(policy_password_check(pw, POLICY_PASSWORD_MAX + 1,
	    NULL, &why), POLICY_E_WEAKPW);
	/* An embedded NUL is not text. */
	assert_int_equal(policy_password_check("abcdefgh\0ijklmn", 15, NULL,
	    &why), POLICY_E_WEAKPW);
	assert_int_equal(policy_password_check(NULL, 0, NULL, &why),
	    POLICY_E_WEAKPW);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_depth_table),
		cmocka_unit_test(test_depth_boundary),
		cmocka_unit_test(test_depth_len),
		cmocka_unit_test(test_depth_hostile),
		cmocka_unit_test(test_check_table),
		cmocka_unit_test(test_check_defaults),
		cmocka_unit_test(test_check_agrees_with_prescan),
		cmocka_unit_test(test_check_args),
		cmocka_unit_test(test_check_path_truncation),
		cmocka_unit_test(test_path_push),
		cmocka_unit_test(test_login_table),
		cmocka_unit_test(test_password_table),
		cmocka_unit_test(test_password_bounds),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
