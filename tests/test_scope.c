/*
 * test_scope.c - unit tests of the scopes of policy/: the syntax of one
 * scope and of an OAuth scope parameter (policy_scopes_add, _parse), the
 * normalised sets (sorted, deduplicated, narrower paths absorbed, the size
 * cap), covers and intersect, and the projection of a full profile on a
 * set, including every failed allocation the functions can meet.
 *
 * Table-driven: each row is a text or a list of scopes with the expected
 * code and reason, canonical set, verdict or projected document.  scope.c
 * is included so that its own allocations can be made to fail as well as
 * jansson's (through json_set_alloc_funcs); every document and set is
 * released, and valgrind and ASan see no leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

/* ---- allocations that fail on demand ------------------------------------ */

static int alloc_limited;    /* when set, allocations draw on the budget */
static size_t alloc_budget;  /* allocations still allowed */
static size_t alloc_refused; /* allocations refused since the budget was set */

static int
alloc_allowed(void)
{
	if (!alloc_limited)
		return 1;
	if (alloc_budget == 0) {
		alloc_refused++;
		return 0;
	}
	alloc_budget--;
	return 1;
}

static void *
limited_malloc(size_t n)
{
	return alloc_allowed() ? malloc(n) : NULL;
}

static void *
limited_calloc(size_t n, size_t size)
{
	return alloc_allowed() ? calloc(n, size) : NULL;
}

static void *
limited_realloc(void *p, size_t n)
{
	return alloc_allowed() ? realloc(p, n) : NULL;
}

/*
 * The module is pure, so its source is included: its statics become
 * testable and its own allocations draw on the same budget as jansson's.
 * Every header it uses is already in, so the macros only touch its calls.
 */
#define malloc(n) limited_malloc(n)
#define calloc(n, size) limited_calloc((n), (size))
#define realloc(p, n) limited_realloc((p), (n))
#include "policy/scope.c" /* NOLINT(bugprone-suspicious-include) */
#undef malloc
#undef calloc
#undef realloc

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define WHYCAP 256

/* A 64-byte key, the longest allowed, and one byte more. */
#define K64 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01"
#define K65 K64 "x"

static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *doc = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    &err);

	if (doc == NULL)
		fail_msg("test document does not parse: %s: %s", text,
		    err.text);
	return doc;
}

/* Counts accepted and rejected rows: rejected ones must not be fewer. */
static void
assert_balanced(size_t accepted, size_t rejected)
{
	assert_true(accepted > 0);
	assert_true(rejected >= accepted);
}

/* The set a text parses to; NULL text is the empty set. */
static struct policy_scopes *
set_of(const char *text)
{
	struct policy_scopes *s = NULL;
	char why[WHYCAP];
	int rc;

	if (text == NULL) {
		s = policy_scopes_new();
		assert_non_null(s);
		return s;
	}
	rc = policy_scopes_parse(text, strlen(text), &s, why, sizeof(why));
	if (rc != 0)
		fail_msg("test scopes \"%s\" do not parse: %s", text, why);
	return s;
}

static void
assert_format(const struct policy_scopes *s, const char *want,
    const char *label)
{
	char *got = policy_scopes_format(s);
	char buf[4 * WHYCAP];
	int same;

	assert_non_null(got);
	/* copied out: fail_msg() does not return to free it */
	same = strcmp(got, want) == 0;
	(void)snprintf(buf, sizeof(buf), "%s", got);
	free(got);
	if (!same)
		fail_msg("%s: set is \"%s\", expected \"%s\"", label, buf,
		    want);
}

/* ---- parse table -------------------------------------------------------- */

struct prow {
	const char *text;
	size_t len;	  /* 0: strlen(text) */
	int expect;
	const char *want; /* canonical set, or a substring of the reason */
};

#define OK(t, canon) { (t), 0, 0, (canon) }
#define NO(t, why) { (t), 0, POLICY_E_SCOPE, (why) }
#define NOLEN(t, len, why) { (t), (len), POLICY_E_SCOPE, (why) }

#define KEYS8 "a.b.c.d.e.f.g.h"
#define LONG8 K64 "." K64 "." K64 "." K64 "." K64 "." K64 "." K64 "." K64

static const struct prow prows[] = {
	/* ---- accepted ---- */
	OK("read:contact", "read:contact"),
	OK("read:contact.email", "read:contact.email"),
	OK("read:identity read:contact.email",
	    "read:contact.email read:identity"),
	OK("read:a_1.b2_", "read:a_1.b2_"),
	OK("read:z read:y read:x", "read:x read:y read:z"),
	OK("read:" KEYS8, "read:" KEYS8),
	OK("read:" K64, "read:" K64),
	OK("read:" LONG8, "read:" LONG8), /* 524 bytes, 8 keys of 64 */
	OK("read:x read:x", "read:x"),
	OK("read:contact read:contact.email", "read:contact"),
	OK("read:contact.email read:contact", "read:contact"),
	OK("read:ab read:a.b read:a_b read:a0",
	    "read:a.b read:a0 read:a_b read:ab"),
	OK("read:communication.quiet_hours.tz read:communication.channels",
	    "read:communication.channels read:communication.quiet_hours.tz"),
	/* ---- rejected: the text ---- */
	NO("", "empty scope text"),
	NO(" ", "begins with a space"),
	NO("   ", "begins with a space"),
	NO(" read:a", "begins with a space"),
	NO("read:a ", "ends with a space"),
	NO("read:a  read:b", "two spaces in a row in the scope text "
			     "(offset 7)"),
	NO("read:a\tread:b", "single spaces only"),
	NO("\tread:a", "single spaces only (RFC 6749 3.3) (offset 0)"),
	NO("read:a\nread:b", "single spaces only"),
	NO("read:a\r\n", "single spaces only"),
	NO("read:a \"read:b\"", "outside the scope-token characters"),
	NO("read:a\\b", "outside the scope-token characters"),
	NO("read:caf\xc3\xa9", "outside the scope-token characters"),
	NO("read:a\x7f", "outside the scope-token characters"),
	NOLEN("read:a\0read:b", 13, "outside the scope-token characters"),
	/* ---- rejected: one scope, named in the reason ---- */
	NO("write:contact", "\"write:contact\": must begin with \"read:\""),
	NO("READ:contact", "\"READ:contact\": must begin with \"read:\""),
	NO("Read:contact", "must begin with \"read:\""),
	NO("openid", "\"openid\": must begin with \"read:\""),
	NO("read", "\"read\": must begin with \"read:\""),
	NO("read.contact", "must begin with \"read:\""),
	NO("read:contact write:contact", "\"write:contact\": must begin"),
	NO("read:contact profile", "\"profile\": must begin"),
	NO("read:", "\"read:\": no path after \"read:\""),
	NO("read:a read:", "\"read:\": no path"),
	NO("read:.", "\"read:.\": empty key"),
	NO("read:.contact", "empty key"),
	NO("read:contact.", "empty key"),
	NO("read:contact..email", "empty key"),
	NO("read:*", "\"read:*\": there is no wildcard"),
	NO("read:contact.*", "there is no wildcard"),
	NO("read:contact*", "there is no wildcard"),
	NO("read:Contact", "a key must begin with a-z"),
	NO("read:contact.Email", "a key must begin with a-z"),
	NO("read:1st", "a key must begin with a-z"),
	NO("read:_x", "a key must begin with a-z"),
	NO("read:con-tact", "a key holds only a-z, 0-9 and _"),
	NO("read:contact.e@mail", "a key holds only a-z, 0-9 and _"),
	NO("read:a,read:b", "a key holds only"),
	NO("read:a:b", "a key holds only"),
	NO("read:a/b", "a key holds only"),
	NO("read:aB", "a key holds only"),
	NO("read:" KEYS8 ".i", "more than 8 keys"),
	NO("read:" K65, "a key is longer than 64 bytes"),
	NO("read:a." K65 ".b", "a key is longer than 64 bytes"),
	NO("read:" LONG8 "." K64 "." K64, "longer than 600 bytes"),
	/* the first offence wins */
	NO("read:a read:B read:c", "\"read:B\": a key must begin"),
	NO("read:a write:b  read:c", "\"write:b\""),
};

static void
test_parse_table(void **state)
{
	size_t accepted = 0, rejected = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(prows); i++) {
		const struct prow *r = &prows[i];
		size_t len = r->len != 0 ? r->len : strlen(r->text);
		struct policy_scopes *stale = set_of(NULL), *s = stale;
		char why[WHYCAP], label[64];
		int rc;

		(void)snprintf(label, sizeof(label), "parse row %zu", i);
		memcpy(why, "stale", 6);
		rc = policy_scopes_parse(r->text, len, &s, why, sizeof(why));
		policy_scopes_free(stale);
		if (rc != r->expect)
			fail_msg("%s: rc %d, expected %d (why: \"%s\")", label,
			    rc, r->expect, why);
		if (rc != 0) {
			rejected++;
			assert_null(s);
			if (strstr(why, r->want) == NULL)
				fail_msg("%s: why \"%s\" lacks \"%s\"", label,
				    why, r->want);
			continue;
		}
		accepted++;
		if (why[0] != '\0')
			fail_msg("%s: accepted but why is \"%s\"", label, why);
		assert_format(s, r->want, label);
		policy_scopes_free(s);
	}
	assert_balanced(accepted, rejected);
}

/* The set's text is again a valid scope parameter, to the same set. */
static void
test_parse_format_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(prows); i++) {
		struct policy_scopes *s, *again;
		char *text;

		if (prows[i].expect != 0)
			continue;
		s = set_of(prows[i].text);
		text = policy_scopes_format(s);
		assert_non_null(text);
		again = set_of(text);
		assert_format(again, text, text);
		assert_int_equal(policy_scopes_count(again),
		    policy_scopes_count(s));
		for (size_t k = 0; k < policy_scopes_count(s); k++)
			assert_string_equal(policy_scopes_get(s, k),
			    policy_scopes_get(again, k));
		assert_null(policy_scopes_get(s, policy_scopes_count(s)));
		free(text);
		policy_scopes_free(s);
		policy_scopes_free(again);
	}
}

/* ---- add: rejected scopes leave the set as it was ----------------------- */

struct arow {
	const char *scope;
	size_t len;	  /* 0: strlen(scope) */
	int expect;
	const char *want; /* canonical set after the add, or the reason */
};

/* Each row is added to the set BASE. */
#define BASE "read:contact.email read:identity"

static const struct arow arows[] = {
	/* ---- accepted ---- */
	{ "read:language", 0, 0, "read:contact.email read:identity "
	  "read:language" },
	{ "read:identity", 0, 0, BASE },
	{ "read:identity.name", 0, 0, BASE },
	{ "read:contact", 0, 0, "read:contact read:identity" },
	{ "read:contact.phone", 0, 0, "read:contact.email read:contact.phone "
	  "read:identity" },
	{ "read:contact.emails", 0, 0, "read:contact.email "
	  "read:contact.emails read:identity" },
	{ "read:aXYZ", 6, 0, "read:a read:contact.email read:identity" },
	/* ---- rejected ---- */
	{ "", 0, POLICY_E_SCOPE, "empty scope" },
	{ "read:a b", 0, POLICY_E_SCOPE, "a key holds only" },
	{ "read:a\tb", 0, POLICY_E_SCOPE, "a key holds only" },
	{ "read:a\0", 7, POLICY_E_SCOPE, "a key holds only" },
	{ "read:a\"", 0, POLICY_E_SCOPE, "\"read:a?\": a key holds only" },
	{ "read:\x1b[31m", 0, POLICY_E_SCOPE, "\"read:?[31m\"" },
	/* shown cut to 64 bytes */
	{ "write:" K64 K64, 0, POLICY_E_SCOPE,
	  "\"write:abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuv"
	  "...\": must begin" },
	{ "read:contact ", 0, POLICY_E_SCOPE, "a key holds only" },
	{ "read:", 0, POLICY_E_SCOPE, "no path" },
	{ "read:contact.", 0, POLICY_E_SCOPE, "empty key" },
};

static void
test_add_table(void **state)
{
	size_t accepted = 0, rejected = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(arows); i++) {
		const struct arow *r = &arows[i];
		size_t len = r->len != 0 ? r->len : strlen(r->scope);
		struct policy_scopes *s = set_of(BASE);
		char why[WHYCAP], label[64];
		int rc;

		(void)snprintf(label, sizeof(label), "add row %zu", i);
		memcpy(why, "stale", 6);
		rc = policy_scopes_add(s, r->scope, len, why, sizeof(why));
		if (rc != r->expect)
			fail_msg("%s: rc %d, expected %d (why: \"%s\")", label,
			    rc, r->expect, why);
		if (rc == 0) {
			accepted++;
			assert_string_equal(why, "");
			assert_format(s, r->want, label);
		} else {
			rejected++;
			if (strstr(why, r->want) == NULL)
				fail_msg("%s: why \"%s\" lacks \"%s\"", label,
				    why, r->want);
			assert_format(s, BASE, label);
		}
		/* a NULL why is allowed and changes nothing */
		policy_scopes_free(s);
		s = set_of(BASE);
		assert_int_equal(policy_scopes_add(s, r->scope, len, NULL, 0),
		    r->expect);
		policy_scopes_free(s);
	}
	assert_balanced(accepted, rejected);
}

/* A reason is cut to whycap, always NUL-terminated. */
static void
test_add_small_why(void **state)
{
	struct policy_scopes *s = set_of(NULL), *r = NULL;
	char why[8];

	(void)state;
	memset(why, 'x', sizeof(why));
	assert_int_equal(policy_scopes_add(s, "write:a", 7, why, sizeof(why)),
	    POLICY_E_SCOPE);
	assert_string_equal(why, "scope \"");
	memset(why, 'x', sizeof(why));
	assert_int_equal(policy_scopes_parse("", 0, &r, why, 1),
	    POLICY_E_SCOPE);
	assert_null(r);
	assert_int_equal(why[0], '\0');
	policy_scopes_free(s);
}

/* ---- normalisation table ------------------------------------------------ */

#define NLIST 6

struct nrow {
	const char *add[NLIST]; /* added one by one, in this order */
	const char *canon;
};

static const struct nrow nrows[] = {
	{ { NULL }, "" },
	{ { "read:b", "read:a" }, "read:a read:b" },
	{ { "read:a", "read:a", "read:a" }, "read:a" },
	{ { "read:contact.email", "read:contact" }, "read:contact" },
	{ { "read:contact", "read:contact.email" }, "read:contact" },
	{ { "read:a.b", "read:ab", "read:a" }, "read:a read:ab" },
	{ { "read:ab", "read:a.b" }, "read:a.b read:ab" },
	{ { "read:abc", "read:ab", "read:a" }, "read:a read:ab read:abc" },
	{ { "read:a_b", "read:a.b", "read:a0", "read:a" },
	    "read:a read:a0 read:a_b" },
	{ { "read:x.y.z", "read:x.y.w", "read:x.q", "read:x.y" },
	    "read:x.q read:x.y" },
	{ { "read:x.y.z", "read:x.y.w", "read:w", "read:x" },
	    "read:w read:x" },
	{ { "read:a.b.c", "read:a.b.c.d", "read:a.b.cd" },
	    "read:a.b.c read:a.b.cd" },
	{ { "read:a.b.c.d", "read:a.b", "read:a.b.c" }, "read:a.b" },
	{ { "read:diet.allergies", "read:diet.vegan", "read:diet.vegan",
	    "read:contact.phone", "read:contact.email" },
	    "read:contact.email read:contact.phone read:diet.allergies "
	    "read:diet.vegan" },
};

static void
test_normalise_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(nrows); i++) {
		struct policy_scopes *s = set_of(NULL);
		char why[WHYCAP], label[64];
		size_t n;

		(void)snprintf(label, sizeof(label), "normalise row %zu", i);
		for (n = 0; n < NLIST && nrows[i].add[n] != NULL; n++)
			assert_int_equal(policy_scopes_add(s, nrows[i].add[n],
					     strlen(nrows[i].add[n]), why,
					     sizeof(why)),
			    0);
		assert_format(s, nrows[i].canon, label);
		/* sorted, and no path lies within another */
		for (size_t k = 0; k + 1 < policy_scopes_count(s); k++)
			assert_true(strcmp(policy_scopes_get(s, k),
					policy_scopes_get(s, k + 1)) < 0);
		for (size_t a = 0; a < s->n; a++)
			for (size_t b = 0; b < s->n; b++)
				assert_true(a == b ||
				    !within(s->v[a], s->v[b]));
		/* the order of adding does not matter */
		if (n > 1) {
			struct policy_scopes *r = set_of(NULL);

			while (n-- > 0)
				assert_int_equal(policy_scopes_add(r,
						     nrows[i].add[n],
						     strlen(nrows[i].add[n]),
						     NULL, 0),
				    0);
			assert_format(r, nrows[i].canon, label);
			policy_scopes_free(r);
		}
		policy_scopes_free(s);
	}
}

/* POLICY_SCOPE_MAX after normalisation, and the set intact past it. */
static void
test_normalise_max(void **state)
{
	struct policy_scopes *s = set_of(NULL), *s7 = set_of("read:s7");
	struct policy_scopes *stale = set_of(NULL);
	char scope[32], why[WHYCAP], *before;
	int n;

	(void)state;
	for (int i = 0; i < POLICY_SCOPE_MAX; i++) {
		n = snprintf(scope, sizeof(scope), "read:s%d.x", i);
		assert_int_equal(policy_scopes_add(s, scope, (size_t)n, why,
				     sizeof(why)),
		    0);
	}
	assert_int_equal(policy_scopes_count(s), POLICY_SCOPE_MAX);
	before = policy_scopes_format(s);
	assert_non_null(before);

	/* one more: refused, the set unchanged */
	assert_int_equal(policy_scopes_add(s, "read:t", 6, why, sizeof(why)),
	    POLICY_E_SCOPE);
	assert_non_null(strstr(why, "\"read:t\": more than 64 scopes"));
	assert_format(s, before, "full set");
	/* a malformed one still gets its own reason */
	assert_int_equal(policy_scopes_add(s, "read:T", 6, why, sizeof(why)),
	    POLICY_E_SCOPE);
	assert_non_null(strstr(why, "must begin with a-z"));
	/* duplicates and narrower paths add nothing, so they fit */
	assert_int_equal(policy_scopes_add(s, "read:s7.x", 9, why, sizeof(why)),
	    0);
	assert_int_equal(policy_scopes_add(s, "read:s7.x.y", 11, why,
			     sizeof(why)),
	    0);
	assert_format(s, before, "full set");
	/* a broader path replaces the one it absorbs */
	assert_int_equal(policy_scopes_add(s, "read:s7", 7, why, sizeof(why)),
	    0);
	assert_int_equal(policy_scopes_count(s), POLICY_SCOPE_MAX);
	for (size_t i = 0; i < POLICY_SCOPE_MAX; i++)
		assert_string_not_equal(policy_scopes_get(s, i), "read:s7.x");
	assert_int_equal(policy_scopes_covers(s, s7), 1);
	free(before);
	policy_scopes_free(s);

	/* the same through parse: 64 tokens pass, 65 do not */
	{
		char text[POLICY_SCOPE_MAX * 16];
		size_t at = 0;

		for (int i = 0; i <= POLICY_SCOPE_MAX; i++) {
			n = snprintf(text + at, sizeof(text) - at, "%sread:k%d",
			    i > 0 ? " " : "", i);
			assert_true(n > 0 && (size_t)n < sizeof(text) - at);
			if (i == POLICY_SCOPE_MAX) {
				s = NULL;
				assert_int_equal(policy_scopes_parse(text, at,
						     &s, why, sizeof(why)),
				    0);
				assert_int_equal(policy_scopes_count(s),
				    POLICY_SCOPE_MAX);
				policy_scopes_free(s);
			}
			at += (size_t)n;
		}
		s = stale;
		assert_int_equal(policy_scopes_parse(text, at, &s, why,
				     sizeof(why)),
		    POLICY_E_SCOPE);
		assert_null(s);
		assert_non_null(strstr(why, "\"read:k64\": more than 64"));
	}
	policy_scopes_free(s7);
	policy_scopes_free(stale);
}

/*
 * POLICY_SCOPE_TEXT: a set's text must fit in the tokens that carry it.
 * Long scopes are refused once the text would pass the cap, the set left
 * as it was; a broader path that absorbs narrower ones still fits.
 */
static void
test_normalise_text_cap(void **state)
{
	struct policy_scopes *s = set_of(NULL), *p = NULL;
	char scope[POLICY_SCOPE_LEN], why[WHYCAP], *before, *text;
	int n = 0, added = 0;

	(void)state;
	for (;;) {
		/* "read:a." and a 60-byte key, numbered: 67 or 68 bytes */
		n = snprintf(scope, sizeof(scope), "read:a.%.58s%02d",
		    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
		    added);
		if (policy_scopes_add(s, scope, (size_t)n, why, sizeof(why)) !=
		    0)
			break;
		added++;
		assert_true(added < POLICY_SCOPE_MAX);
	}
	assert_non_null(strstr(why, "more than 1536 bytes"));
	before = policy_scopes_format(s);
	assert_non_null(before);
	assert_true(strlen(before) <= POLICY_SCOPE_TEXT);
	assert_true(strlen(before) + 1 + (size_t)n > POLICY_SCOPE_TEXT);
	assert_int_equal(policy_scopes_count(s), (size_t)added);
	/* refused again, and nothing changed */
	assert_int_equal(policy_scopes_add(s, scope, (size_t)n, why,
			     sizeof(why)),
	    POLICY_E_SCOPE);
	assert_format(s, before, "full text");
	/* the broader path replaces them all */
	assert_int_equal(policy_scopes_add(s, "read:a", 6, why, sizeof(why)),
	    0);
	assert_format(s, "read:a", "absorbed");
	/* through parse: the text that was refused above is refused too */
	text = malloc(strlen(before) + 2 + (size_t)n);
	assert_non_null(text);
	sprintf(text, "%s %s", before, scope);
	assert_int_equal(policy_scopes_parse(text, strlen(text), &p, why,
			     sizeof(why)),
	    POLICY_E_SCOPE);
	assert_null(p);
	assert_int_equal(policy_scopes_parse(before, strlen(before), &p, why,
			     sizeof(why)),
	    0);
	assert_int_equal(policy_scopes_count(p), (size_t)added);
	policy_scopes_free(p);
	free(text);
	free(before);
	policy_scopes_free(s);
}

/* ---- covers table ------------------------------------------------------- */

struct crow {
	const char *outer; /* NULL: the empty set */
	const char *inner;
	int expect;
};

static const struct crow crows[] = {
	{ "read:contact", "read:contact.email", 1 },
	{ "read:contact", "read:contact", 1 },
	{ "read:contact", "read:contact.postal.city", 1 },
	{ "read:a read:b", "read:a.x read:b.y.z", 1 },
	{ "read:a read:b", "read:b", 1 },
	{ "read:a.b read:a.c", "read:a.c.d read:a.b", 1 },
	{ NULL, NULL, 1 },
	{ "read:a", NULL, 1 },
	{ "read:contact.email", "read:contact", 0 },
	{ "read:a", "read:ab", 0 },
	{ "read:ab", "read:a", 0 },
	{ "read:a.b", "read:a.bc", 0 },
	{ "read:a.b.c", "read:a.b", 0 },
	{ "read:a", "read:a read:b", 0 },
	{ "read:a read:b", "read:a.x read:c", 0 },
	{ NULL, "read:a", 0 },
	{ "read:contact.email read:contact.phone", "read:contact", 0 },
};

static void
test_covers_table(void **state)
{
	size_t yes = 0, no = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(crows); i++) {
		struct policy_scopes *o = set_of(crows[i].outer);
		struct policy_scopes *n = set_of(crows[i].inner);
		int got = policy_scopes_covers(o, n);

		if (got != crows[i].expect)
			fail_msg("covers row %zu: %d, expected %d", i, got,
			    crows[i].expect);
		if (got)
			yes++;
		else
			no++;
		/* every set covers itself */
		assert_int_equal(policy_scopes_covers(o, o), 1);
		assert_int_equal(policy_scopes_covers(n, n), 1);
		policy_scopes_free(o);
		policy_scopes_free(n);
	}
	assert_balanced(yes, no);
}

/* ---- intersect table ---------------------------------------------------- */

struct irow {
	const char *a; /* NULL: the empty set */
	const char *b;
	const char *result;
};

static const struct irow irows[] = {
	/* disjoint */
	{ "read:a", "read:b", "" },
	{ "read:a", "read:ab", "" },
	{ "read:contact.email", "read:contact.phone", "" },
	/* nested, both ways */
	{ "read:contact.email", "read:contact", "read:contact.email" },
	{ "read:contact", "read:contact.email read:contact.phone",
	  "read:contact.email read:contact.phone" },
	{ "read:x.p read:x.q read:y", "read:x read:y.r",
	  "read:x.p read:x.q read:y.r" },
	/* equal */
	{ "read:a read:b", "read:a read:b", "read:a read:b" },
	{ "read:a.b.c", "read:a.b.c", "read:a.b.c" },
	/* partial overlap */
	{ "read:a read:b read:c.x", "read:b read:c read:d", "read:b read:c.x" },
	{ "read:identity read:contact.email read:diet",
	  "read:contact read:diet.vegan read:language",
	  "read:contact.email read:diet.vegan" },
	/* empty */
	{ NULL, "read:a", "" },
	{ "read:a", NULL, "" },
	{ NULL, NULL, "" },
};

static void
test_intersect_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(irows); i++) {
		struct policy_scopes *a = set_of(irows[i].a);
		struct policy_scopes *b = set_of(irows[i].b);
		struct policy_scopes *r = NULL, *r2 = NULL;
		char label[64];

		(void)snprintf(label, sizeof(label), "intersect row %zu", i);
		assert_int_equal(policy_scopes_intersect(a, b, &r), 0);
		assert_format(r, irows[i].result, label);
		/* symmetric, and within both sides */
		assert_int_equal(policy_scopes_intersect(b, a, &r2), 0);
		assert_format(r2, irows[i].result, label);
		assert_int_equal(policy_scopes_covers(a, r), 1);
		assert_int_equal(policy_scopes_covers(b, r), 1);
		/* the result is a set like any other */
		assert_int_equal(policy_scopes_add(r, "read:zz", 7, NULL, 0),
		    0);
		policy_scopes_free(a);
		policy_scopes_free(b);
		policy_scopes_free(r);
		policy_scopes_free(r2);
	}
}

/*
 * An intersection may grant more subtrees than POLICY_SCOPE_MAX: each side
 * holds the narrow paths under the other's broad one.  It is not cut.
 */
static void
test_intersect_beyond_max(void **state)
{
	struct policy_scopes *a = set_of("read:y"), *b = set_of("read:x");
	struct policy_scopes *r = NULL;
	char scope[32], why[WHYCAP];
	int n;

	(void)state;
	for (int i = 0; i < 40; i++) {
		n = snprintf(scope, sizeof(scope), "read:x.k%02d", i);
		assert_int_equal(policy_scopes_add(a, scope, (size_t)n, why,
				     sizeof(why)),
		    0);
		n = snprintf(scope, sizeof(scope), "read:y.k%02d", i);
		assert_int_equal(policy_scopes_add(b, scope, (size_t)n, why,
				     sizeof(why)),
		    0);
	}
	assert_int_equal(policy_scopes_intersect(a, b, &r), 0);
	assert_int_equal(policy_scopes_count(r), 80);
	assert_string_equal(policy_scopes_get(r, 0), "read:x.k00");
	assert_string_equal(policy_scopes_get(r, 79), "read:y.k39");
	assert_int_equal(policy_scopes_covers(a, r), 1);
	assert_int_equal(policy_scopes_covers(b, r), 1);
	/* nothing more can be added to a set beyond the cap */
	assert_int_equal(policy_scopes_add(r, "read:z", 6, why, sizeof(why)),
	    POLICY_E_SCOPE);
	assert_int_equal(policy_scopes_count(r), 80);
	policy_scopes_free(a);
	policy_scopes_free(b);
	policy_scopes_free(r);
}

/* ---- projection table --------------------------------------------------- */

/* Every standard section of DESIGN section 5 and a custom one. */
static const char profile_text[] =
    "{\"identity\":{\"name\":\"Ada Lovelace\",\"preferred_name\":\"Ada\","
    "\"pronouns\":\"she/her\"},"
    "\"contact\":{\"email\":\"ada@example.com\",\"phone\":\"+442079460000\","
    "\"postal\":{\"street\":\"12 St James's Square\",\"city\":\"London\","
    "\"postcode\":\"SW1Y 4JH\",\"country\":\"GB\"}},"
    "\"communication\":{\"channels\":[\"email\",\"post\"],\"frequency\":"
    "\"weekly\",\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"07:30\","
    "\"tz\":\"Europe/London\"},\"do_not_contact\":false},"
    "\"language\":\"en-GB\","
    "\"interests\":[\"mathematics\",\"poetry\",\"engines\"],"
    "\"sizes\":{\"shoe_eu\":38,\"shirt\":\"S\"},"
    "\"diet\":{\"vegetarian\":true,\"vegan\":false,\"allergies\":"
    "[\"peanuts\"]},"
    "\"accessibility\":{\"large_text\":true,\"screen_reader\":false,"
    "\"captions\":true,\"notes\":\"prefers e-mail\"},"
    "\"loyalty\":{\"tier\":\"gold\",\"points\":1200,\"cards\":{\"main\":"
    "{\"number\":\"X-1\",\"since\":\"2019\"}}}}";

#define ALL_SECTIONS                                                         \
	"read:accessibility read:communication read:contact read:diet "      \
	"read:identity read:interests read:language read:loyalty read:sizes"

struct jrow {
	const char *scopes; /* NULL: the empty set */
	const char *result; /* "=": the whole profile */
	const char *fields;
};

static const struct jrow jrows[] = {
	/* whole sections */
	{ "read:contact",
	  "{\"contact\":{\"email\":\"ada@example.com\",\"phone\":"
	  "\"+442079460000\",\"postal\":{\"street\":\"12 St James's Square\","
	  "\"city\":\"London\",\"postcode\":\"SW1Y 4JH\",\"country\":"
	  "\"GB\"}}}",
	  "[\"contact\"]" },
	{ "read:language", "{\"language\":\"en-GB\"}", "[\"language\"]" },
	{ "read:loyalty read:sizes",
	  "{\"loyalty\":{\"tier\":\"gold\",\"points\":1200,\"cards\":"
	  "{\"main\":{\"number\":\"X-1\",\"since\":\"2019\"}}},\"sizes\":"
	  "{\"shoe_eu\":38,\"shirt\":\"S\"}}",
	  "[\"loyalty\",\"sizes\"]" },
	/* nested leaves, siblings sharing ancestors */
	{ "read:contact.email",
	  "{\"contact\":{\"email\":\"ada@example.com\"}}",
	  "[\"contact.email\"]" },
	{ "read:contact.email read:contact.postal.city",
	  "{\"contact\":{\"email\":\"ada@example.com\",\"postal\":"
	  "{\"city\":\"London\"}}}",
	  "[\"contact.email\",\"contact.postal.city\"]" },
	{ "read:communication.quiet_hours.tz read:identity.preferred_name",
	  "{\"communication\":{\"quiet_hours\":{\"tz\":\"Europe/London\"}},"
	  "\"identity\":{\"preferred_name\":\"Ada\"}}",
	  "[\"communication.quiet_hours.tz\",\"identity.preferred_name\"]" },
	{ "read:loyalty.cards.main.number",
	  "{\"loyalty\":{\"cards\":{\"main\":{\"number\":\"X-1\"}}}}",
	  "[\"loyalty.cards.main.number\"]" },
	{ "read:sizes.shoe_eu", "{\"sizes\":{\"shoe_eu\":38}}",
	  "[\"sizes.shoe_eu\"]" },
	/* false is data like any other */
	{ "read:communication.do_not_contact read:diet.vegan",
	  "{\"communication\":{\"do_not_contact\":false},\"diet\":"
	  "{\"vegan\":false}}",
	  "[\"communication.do_not_contact\",\"diet.vegan\"]" },
	/* arrays are leaves */
	{ "read:interests",
	  "{\"interests\":[\"mathematics\",\"poetry\",\"engines\"]}",
	  "[\"interests\"]" },
	{ "read:interests.x", "{}", "[]" },
	{ "read:interests.mathematics", "{}", "[]" },
	{ "read:diet.allergies", "{\"diet\":{\"allergies\":[\"peanuts\"]}}",
	  "[\"diet.allergies\"]" },
	{ "read:diet.allergies.peanuts read:communication.channels.email",
	  "{}", "[]" },
	/* paths through scalars */
	{ "read:language.tag", "{}", "[]" },
	{ "read:identity.name.first read:sizes.shirt.size", "{}", "[]" },
	{ "read:communication.do_not_contact.x", "{}", "[]" },
	/* missing members, and members named alike */
	{ "read:contact.fax read:shoes", "{}", "[]" },
	{ "read:contac read:contactx read:contact_email", "{}", "[]" },
	{ "read:contact.postal.city.district read:loyalty.cards.spare",
	  "{}", "[]" },
	/* fields lists only the paths that matched */
	{ "read:contact.fax read:contact.phone read:nothing.here "
	  "read:interests.x",
	  "{\"contact\":{\"phone\":\"+442079460000\"}}",
	  "[\"contact.phone\"]" },
	/* the empty set, and every section */
	{ NULL, "{}", "[]" },
	{ ALL_SECTIONS, "=",
	  "[\"accessibility\",\"communication\",\"contact\",\"diet\","
	  "\"identity\",\"interests\",\"language\",\"loyalty\",\"sizes\"]" },
	{ ALL_SECTIONS " read:contact.email read:unknown", "=",
	  "[\"accessibility\",\"communication\",\"contact\",\"diet\","
	  "\"identity\",\"interests\",\"language\",\"loyalty\",\"sizes\"]" },
};

static void
dump_mismatch(size_t row, const char *what, const json_t *got,
    const char *want)
{
	char *text = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
	char buf[1024];

	/* copied out: fail_msg() does not return to free the dump */
	(void)snprintf(buf, sizeof(buf), "%s", text != NULL ? text : "(none)");
	free(text);
	fail_msg("project row %zu: %s is %s, expected %s", row, what, buf,
	    want);
}

static void
test_project_table(void **state)
{
	json_t *profile = load(profile_text);
	json_t *before = json_deep_copy(profile);
	char why[WHYCAP];

	(void)state;
	assert_non_null(before);
	/* the fixture is a valid profile: projections see realistic data */
	assert_int_equal(policy_profile_validate(profile, why, sizeof(why)), 0);
	for (size_t i = 0; i < NELEM(jrows); i++) {
		struct policy_scopes *s = set_of(jrows[i].scopes);
		json_t *want = strcmp(jrows[i].result, "=") == 0
				   ? json_incref(profile)
				   : load(jrows[i].result);
		json_t *want_fields = load(jrows[i].fields);
		json_t *fields = NULL, *got, *got2;

		got = policy_project(profile, s, &fields);
		assert_non_null(got);
		assert_non_null(fields);
		if (!json_equal(got, want))
			dump_mismatch(i, "result", got, jrows[i].result);
		/* order matters in fields: it follows the set */
		if (!json_equal(fields, want_fields))
			dump_mismatch(i, "fields", fields, jrows[i].fields);
		/* fields is optional */
		got2 = policy_project(profile, s, NULL);
		assert_non_null(got2);
		assert_true(json_equal(got2, want));
		assert_true(json_equal(profile, before));
		json_decref(got);
		json_decref(got2);
		json_decref(fields);
		json_decref(want);
		json_decref(want_fields);
		policy_scopes_free(s);
	}
	json_decref(profile);
	json_decref(before);
}

/* 1 when node is tree itself or any value within it. */
static int
holds(const json_t *tree, const json_t *node)
{
	const char *key;
	json_t *child;
	size_t i;

	if (tree == node)
		return 1;
	if (json_is_object(tree)) {
		json_object_foreach((json_t *)(uintptr_t)tree, key, child)
			if (holds(child, node))
				return 1;
	} else if (json_is_array(tree)) {
		json_array_foreach(tree, i, child)
			if (holds(child, node))
				return 1;
	}
	return 0;
}

/*
 * 1 when a value of a is also a value of b.  true, false and null are
 * shared singletons in jansson and cannot change, so they do not count.
 */
static int
shares_values(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_boolean(a) || json_is_null(a))
		return 0;
	if (holds(b, a))
		return 1;
	if (json_is_object(a)) {
		json_object_foreach((json_t *)(uintptr_t)a, key, child)
			if (shares_values(child, b))
				return 1;
	} else if (json_is_array(a)) {
		json_array_foreach(a, i, child)
			if (shares_values(child, b))
				return 1;
	}
	return 0;
}

/* Changing the result leaves the profile as it was, and the reverse. */
static void
test_project_independent(void **state)
{
	json_t *profile = load(profile_text);
	json_t *before = json_deep_copy(profile);
	struct policy_scopes *s = set_of(ALL_SECTIONS);
	json_t *got, *snapshot, *v;

	(void)state;
	assert_non_null(before);
	got = policy_project(profile, s, NULL);
	assert_non_null(got);
	assert_true(json_equal(got, profile));
	assert_int_equal(shares_values(got, profile), 0);
	/* nothing of the profile gained a reference */
	assert_int_equal(json_object_get(profile, "contact")->refcount, 1);
	assert_int_equal(json_object_get(profile, "interests")->refcount, 1);

	/* change every kind of value of the result */
	v = json_object_get(json_object_get(got, "contact"), "postal");
	assert_int_equal(json_object_set_new(v, "city", json_string("Paris")),
	    0);
	assert_int_equal(json_object_del(json_object_get(got, "identity"),
			     "name"),
	    0);
	assert_int_equal(json_array_append_new(json_object_get(got,
						   "interests"),
			     json_string("chess")),
	    0);
	v = json_object_get(json_object_get(got, "sizes"), "shirt");
	assert_int_equal(json_string_set(v, "XL"), 0);
	v = json_object_get(json_object_get(got, "loyalty"), "points");
	assert_int_equal(json_integer_set(v, 0), 0);
	assert_true(json_equal(profile, before));
	assert_false(json_equal(profile, got));

	/* and the reverse: the result keeps what it was given */
	json_decref(got);
	got = policy_project(profile, s, NULL);
	assert_non_null(got);
	snapshot = json_deep_copy(got);
	assert_non_null(snapshot);
	json_object_clear(profile);
	json_decref(profile);
	assert_true(json_equal(got, snapshot));
	json_decref(got);
	json_decref(snapshot);
	json_decref(before);
	policy_scopes_free(s);
}

/* A profile whose root is not an object grants nothing. */
static void
test_project_odd_roots(void **state)
{
	static const char *const roots[] = { "[{\"a\":1}]", "\"a\"", "1",
		"null", "{}" };
	struct policy_scopes *s = set_of("read:a read:b.c");

	(void)state;
	for (size_t i = 0; i < NELEM(roots); i++) {
		json_t *doc = load(roots[i]);
		json_t *fields = NULL, *got = policy_project(doc, s, &fields);

		assert_non_null(got);
		assert_true(json_is_object(got));
		assert_int_equal(json_object_size(got), 0);
		assert_int_equal(json_array_size(fields), 0);
		json_decref(got);
		json_decref(fields);
		json_decref(doc);
	}
	policy_scopes_free(s);
}

/* ---- arguments ---------------------------------------------------------- */

static void
test_args(void **state)
{
	struct policy_scopes *s = set_of("read:a"), *r;
	json_t *doc = load("{\"a\":1}"), *fields;
	char why[WHYCAP];
	char *text;

	(void)state;
	assert_int_equal(policy_scopes_add(NULL, "read:a", 6, why, sizeof(why)),
	    POLICY_E_INVAL);
	assert_int_equal(policy_scopes_add(s, NULL, 3, why, sizeof(why)),
	    POLICY_E_INVAL);
	assert_int_equal(policy_scopes_add(s, NULL, 0, why, sizeof(why)),
	    POLICY_E_SCOPE);
	assert_int_equal(policy_scopes_parse("read:a", 6, NULL, why,
			     sizeof(why)),
	    POLICY_E_INVAL);
	r = s;
	assert_int_equal(policy_scopes_parse(NULL, 4, &r, why, sizeof(why)),
	    POLICY_E_INVAL);
	assert_null(r);
	assert_int_equal(policy_scopes_parse(NULL, 0, &r, why, sizeof(why)),
	    POLICY_E_SCOPE);
	/* only len bytes are read */
	assert_int_equal(policy_scopes_parse("read:a read:b", 6, &r, NULL, 0),
	    0);
	assert_format(r, "read:a", "prefix");
	policy_scopes_free(r);

	r = s;
	assert_int_equal(policy_scopes_intersect(NULL, s, &r), POLICY_E_INVAL);
	assert_null(r);
	assert_int_equal(policy_scopes_intersect(s, NULL, &r), POLICY_E_INVAL);
	assert_int_equal(policy_scopes_intersect(s, s, NULL), POLICY_E_INVAL);

	/* NULL reads as the empty set */
	assert_int_equal(policy_scopes_count(NULL), 0);
	assert_null(policy_scopes_get(NULL, 0));
	assert_int_equal(policy_scopes_covers(s, NULL), 1);
	assert_int_equal(policy_scopes_covers(NULL, s), 0);
	text = policy_scopes_format(NULL);
	assert_non_null(text);
	assert_string_equal(text, "");
	free(text);

	fields = doc;
	assert_null(policy_project(NULL, s, &fields));
	assert_null(fields);
	fields = doc;
	assert_null(policy_project(doc, NULL, &fields));
	assert_null(fields);

	policy_scopes_free(NULL);
	policy_scopes_free(s);
	json_decref(doc);
}

/* ---- failing allocations ------------------------------------------------ */

/*
 * Runs op with the n-th allocation and all after it failing, for n = 0,
 * 1, ... until op meets no failure; op checks its own outcome either way.
 * Returns how many runs met a failure.
 */
static size_t
for_each_failure(void (*op)(void))
{
	size_t failures = 0;

	for (size_t budget = 0;; budget++) {
		alloc_budget = budget;
		alloc_refused = 0;
		alloc_limited = 1;
		op();
		alloc_limited = 0;
		if (alloc_refused == 0)
			break;
		failures++;
		assert_true(budget < 10000);
	}
	return failures;
}

static void
op_parse(void)
{
	static const char text[] = "read:contact.email read:identity "
				   "read:contact read:diet.vegan "
				   "read:language";
	struct policy_scopes *s = NULL;
	int rc;

	rc = policy_scopes_parse(text, sizeof(text) - 1, &s, NULL, 0);
	alloc_limited = 0;
	if (alloc_refused > 0) {
		assert_int_equal(rc, POLICY_E_NOMEM);
		assert_null(s);
	} else {
		assert_int_equal(rc, 0);
		assert_format(s, "read:contact read:diet.vegan "
				 "read:identity read:language",
		    "parse");
	}
	policy_scopes_free(s);
}

static void
op_add(void)
{
	struct policy_scopes *s;
	char *before;
	int rc;

	alloc_limited = 0;
	/* eight scopes: the ninth makes the array grow */
	s = set_of("read:a.x read:a.y read:b read:c read:d read:e read:f "
		   "read:g");
	before = policy_scopes_format(s);
	assert_non_null(before);
	alloc_limited = 1;
	rc = policy_scopes_add(s, "read:i", 6, NULL, 0);
	alloc_limited = 0;
	if (alloc_refused > 0) {
		assert_int_equal(rc, POLICY_E_NOMEM);
		assert_format(s, before, "add");
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(policy_scopes_count(s), 9);
	}
	free(before);
	policy_scopes_free(s);
}

static void
op_format(void)
{
	struct policy_scopes *s;
	char *text;

	alloc_limited = 0;
	s = set_of("read:a read:b");
	alloc_limited = 1;
	text = policy_scopes_format(s);
	alloc_limited = 0;
	if (alloc_refused > 0)
		assert_null(text);
	else
		assert_string_equal(text, "read:a read:b");
	free(text);
	policy_scopes_free(s);
}

static void
op_intersect(void)
{
	struct policy_scopes *a, *b, *r = NULL;
	int rc;

	alloc_limited = 0;
	a = set_of("read:a.x read:a.y read:b read:c read:d.e");
	b = set_of("read:a read:b.z read:c read:d.f");
	alloc_limited = 1;
	rc = policy_scopes_intersect(a, b, &r);
	alloc_limited = 0;
	if (alloc_refused > 0) {
		assert_int_equal(rc, POLICY_E_NOMEM);
		assert_null(r);
	} else {
		assert_int_equal(rc, 0);
		assert_format(r, "read:a.x read:a.y read:b.z read:c",
		    "intersect");
	}
	policy_scopes_free(a);
	policy_scopes_free(b);
	policy_scopes_free(r);
}

static json_t *nomem_profile;
static struct policy_scopes *nomem_scopes;
static json_t *nomem_expect;
static json_t *nomem_fields;

static void
op_project(void)
{
	json_t *fields = nomem_profile, *got;

	got = policy_project(nomem_profile, nomem_scopes, &fields);
	alloc_limited = 0;
	if (alloc_refused > 0) {
		assert_null(got);
		assert_null(fields);
	} else {
		assert_non_null(got);
		assert_true(json_equal(got, nomem_expect));
		assert_true(json_equal(fields, nomem_fields));
	}
	json_decref(got);
	json_decref(fields);
}

static void
test_nomem(void **state)
{
	static const char *const scopes[] = {
		ALL_SECTIONS,
		"read:contact.email read:contact.postal.city read:interests "
		"read:loyalty.cards.main read:missing.member read:language.x",
	};
	json_t *before;

	(void)state;
	assert_true(for_each_failure(op_parse) > 0);
	assert_true(for_each_failure(op_add) > 0);
	assert_true(for_each_failure(op_format) > 0);
	assert_true(for_each_failure(op_intersect) > 0);

	nomem_profile = load(profile_text);
	before = json_deep_copy(nomem_profile);
	assert_non_null(before);
	for (size_t i = 0; i < NELEM(scopes); i++) {
		nomem_scopes = set_of(scopes[i]);
		nomem_expect = policy_project(nomem_profile, nomem_scopes,
		    &nomem_fields);
		assert_non_null(nomem_expect);
		assert_true(for_each_failure(op_project) > 0);
		assert_true(json_equal(nomem_profile, before));
		json_decref(nomem_expect);
		json_decref(nomem_fields);
		policy_scopes_free(nomem_scopes);
	}
	json_decref(nomem_profile);
	json_decref(before);
}

static int
group_setup(void **state)
{
	(void)state;
	json_set_alloc_funcs(limited_malloc, free);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	alloc_limited = 0;
	json_set_alloc_funcs(malloc, free);
	return 0;
}

/* ---- the projection on stored text (project_text.c) ------------------- */

#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

static const char *const rkeys[] = { "a", "b", "bb", "b_c", "c", "ca",
	"email", "z9" };
#define NRKEYS (sizeof(rkeys) / sizeof(rkeys[0]))

static unsigned rstate = 12345;

static unsigned
rnd(unsigned n)
{
	rstate = rstate * 1103515245u + 12345u;
	return (rstate >> 16) % n;
}

/* A random value: scalars of every kind, arrays, nested objects. */
static json_t *
rvalue(int depth)
{
	static const char *const strs[] = { "x", "", "caf\xc3\xa9",
		"quote \" and \\", "tab\tnl\n", "/slash/", "\xe2\x82\xac" "1" };
	json_t *v, *o;

	switch (rnd(depth < 4 ? 9 : 6)) {
	case 0: return json_integer((json_int_t)rnd(100000) - 50000);
	case 1: return json_real((double)rnd(1000000) / 7.0);
	case 2: return json_real(1e21 * (rnd(3) + 1));
	case 3: return json_boolean(rnd(2));
	case 4: return json_string(strs[rnd(sizeof(strs) / sizeof(strs[0]))]);
	case 5:
		v = json_array();
		for (unsigned k = rnd(4); k > 0; k--)
			json_array_append_new(v, json_integer(rnd(10)));
		return v;
	default:
		o = json_object();
		for (unsigned k = rnd(6); k > 0; k--)
			json_object_set_new(o, rkeys[rnd(k < 3 ? 4 : NRKEYS)],
			    rvalue(depth + 1));
		return o;
	}
}

static void
test_project_text_matches_tree(void **state)
{
	int some = 0, nested = 0;

	(void)state;
	for (int iter = 0; iter < 3000; iter++) {
		json_t *doc = json_object(), *view, *fl, *back;
		struct policy_scopes *sc = policy_scopes_new();
		char *text, *want, *wantf, *got, *gotf;
		size_t gl, gfl;

		for (unsigned k = rnd(7); k > 0; k--)
			json_object_set_new(doc, rkeys[rnd(k < 3 ? 4 : NRKEYS)],
			    rvalue(1));
		for (unsigned k = 1 + rnd(5); k > 0; k--) {
			char scope[128] = "read:";

			for (unsigned d = 1 + rnd(3); d > 0; d--) {
				/* Mostly keys the documents use most. */
				strcat(scope, rkeys[rnd(4)]);
				if (d > 1)
					strcat(scope, ".");
			}
			assert_int_equal(policy_scopes_add(sc, scope,
			    strlen(scope), NULL, 0), 0);
		}
		assert_non_null(text = json_dumps(doc, DUMP_FLAGS));
		/* The stored text is itself a dump of a parsed document. */
		assert_non_null(back = json_loads(text, 0, NULL));
		view = policy_project(back, sc, &fl);
		assert_non_null(view);
		assert_non_null(want = json_dumps(view, DUMP_FLAGS));
		assert_non_null(wantf = json_dumps(fl, JSON_COMPACT));
		assert_int_equal(policy_project_text(text, strlen(text), sc,
		    &got, &gl, &gotf, &gfl), 0);
		assert_string_equal(got, want);
		assert_int_equal(gl, strlen(want));
		assert_string_equal(gotf, wantf);
		assert_int_equal(gfl, strlen(wantf));
		some += strcmp(got, "{}") != 0;
		nested += strchr(gotf, '.') != NULL;
		free(got);
		free(gotf);
		free(want);
		free(wantf);
		free(text);
		json_decref(fl);
		json_decref(view);
		json_decref(back);
		json_decref(doc);
		policy_scopes_free(sc);
	}
	/* The draw exercised both whole sections and deeper paths. */
	assert_true(some > 1000);
	assert_true(nested > 100);
}

static void
test_project_text_refuses_other_forms(void **state)
{
	static const char *const bad[] = { "", "[]", "{", "{\"a\":1",
		"{\"a\":1}x", "{\"a\" :1}", "{ \"a\":1}", "{\"\\u0061\":1}",
		"{\"a\":}", "{\"a\":1,}", "{\"a\":{\"b\":[1,}}", "{\"a\":\"x}",
		"{\"a\":\"\x01\"}" };
	struct policy_scopes *sc = NULL;
	char *out, *fields;
	size_t ol, fl;

	(void)state;
	assert_int_equal(policy_scopes_parse("read:a read:b.c", 15, &sc, NULL,
	    0), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(policy_project_text(bad[i], strlen(bad[i]),
		    sc, &out, &ol, &fields, &fl), POLICY_E_INVAL);
		assert_null(out);
		assert_null(fields);
	}
	/* Nothing granted exists: an empty object, no fields. */
	assert_int_equal(policy_project_text("{\"b\":{\"d\":1},\"c\":2}", 19,
	    sc, &out, &ol, &fields, &fl), 0);
	assert_string_equal(out, "{}");
	assert_string_equal(fields, "[]");
	free(out);
	free(fields);
	policy_scopes_free(sc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_format_roundtrip),
		cmocka_unit_test(test_add_table),
		cmocka_unit_test(test_add_small_why),
		cmocka_unit_test(test_normalise_table),
		cmocka_unit_test(test_normalise_max),
		cmocka_unit_test(test_normalise_text_cap),
		cmocka_unit_test(test_covers_table),
		cmocka_unit_test(test_intersect_table),
		cmocka_unit_test(test_intersect_beyond_max),
		cmocka_unit_test(test_project_table),
		cmocka_unit_test(test_project_independent),
		cmocka_unit_test(test_project_odd_roots),
		cmocka_unit_test(test_project_text_matches_tree),
		cmocka_unit_test(test_project_text_refuses_other_forms),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_nomem),
	};

	return cmocka_run_group_tests_name("scope", tests, group_setup,
	    group_teardown);
}
