/*
 * scope.c - scope strings ("read:contact.email"), normalised scope sets,
 * their comparison (covers, intersect), and the projection of a profile on
 * a set: the single place that decides which fields a company receives.
 *
 * Pure: no I/O, no clock, no locale, no state beyond constants.  It must
 * never modify the profile it projects nor hand out anything that shares
 * mutable state with it, and never grant more than a set names: a path is
 * matched key by key, so "read:ab" grants nothing under "a", there is no
 * wildcard, and a path that meets an array or a scalar before its last key
 * yields nothing.
 *
 * Each scope is compiled once, when it is added, into its keys; a
 * projection then costs one hash lookup per key of each scope plus the
 * copy of what is granted, whatever the size of the profile.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define PREFIX "read:"
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define KEY_MAX 64	/* [a-z][a-z0-9_]{0,63}, as profile keys */
#define SHOW_MAX 64	/* bytes of an offending scope quoted in a reason */
#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * One compiled scope.  buf holds the text ("read:a.b") and its NUL, then
 * the keys of the path, each NUL-terminated ("a\0b\0") so they can be
 * handed to jansson as they are.  Keys are kept as offsets, not pointers,
 * so a copy is one memcpy.
 */
struct scope {
	size_t len;			/* bytes of the text, NUL excluded */
	size_t nkeys;
	size_t key[POLICY_SCOPE_DEPTH];	/* offsets in buf */
	char buf[];
};

/*
 * Sorted by text.  '.' sorts before every key character, so byte order of
 * the text is key-by-key order and a path's descendants would follow it
 * directly; format() is deterministic either way.  Sets built by add or
 * parse hold at most POLICY_SCOPE_MAX scopes; an intersection may hold
 * more (see policy_scopes_intersect), so the array grows.
 */
struct policy_scopes {
	struct scope **v;
	size_t n;
	size_t cap;
};

/* ---- reasons ------------------------------------------------------------ */

/*
 * Reasons are assembled piece by piece, each cut to what fits: a reason
 * cut short by a small whycap is still a useful hint, and the caller's
 * buffer size is never known here.
 */
static void
why_put(char *why, size_t whycap, size_t *at, const char *s, size_t n)
{
	if (why == NULL || *at + 1 >= whycap)
		return;
	if (n > whycap - 1 - *at)
		n = whycap - 1 - *at;
	memcpy(why + *at, s, n);
	*at += n;
	why[*at] = '\0';
}

static void
why_str(char *why, size_t whycap, size_t *at, const char *s)
{
	why_put(why, whycap, at, s, strlen(s));
}

/*
 * Writes 'scope "<text>": msg'.  The text is untrusted and ends up in a
 * reason shown to clients and written to logs: bytes outside printable
 * ASCII, quotes and backslashes become '?', and a long text is cut.
 */
static int
scope_fail(char *why, size_t whycap, const char *text, size_t len,
    const char *msg)
{
	size_t at = 0, n = len > SHOW_MAX ? SHOW_MAX : len;

	if (why == NULL || whycap == 0)
		return POLICY_E_SCOPE;
	why[0] = '\0';
	why_str(why, whycap, &at, "scope \"");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text[i];
		int plain = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\';

		why_put(why, whycap, &at, plain ? &text[i] : "?", 1);
	}
	if (len > n)
		why_str(why, whycap, &at, "...");
	why_str(why, whycap, &at, "\": ");
	why_str(why, whycap, &at, msg);
	return POLICY_E_SCOPE;
}

/* A reason about the whole text rather than one scope of it. */
static int
text_fail(char *why, size_t whycap, const char *msg, size_t off)
{
	char num[48];
	size_t at = 0;
	int n;

	if (why == NULL || whycap == 0)
		return POLICY_E_SCOPE;
	why[0] = '\0';
	why_str(why, whycap, &at, msg);
	n = snprintf(num, sizeof(num), " (offset %zu)", off);
	if (n > 0 && (size_t)n < sizeof(num))
		why_put(why, whycap, &at, num, (size_t)n);
	return POLICY_E_SCOPE;
}

/* ---- compiling one scope ------------------------------------------------ */

static int
is_key_start(unsigned char ch)
{
	return ch >= 'a' && ch <= 'z';
}

static int
is_key_char(unsigned char ch)
{
	return is_key_start(ch) || (ch >= '0' && ch <= '9') || ch == '_';
}

/*
 * Checks the syntax of one scope without allocating, so a malformed scope
 * costs nothing and the reason names the first offence.  *nkeys receives
 * the number of keys of a valid scope.
 */
static int
scope_check(const char *text, size_t len, size_t *nkeys, char *why,
    size_t whycap)
{
	size_t keys = 0, start, i;

	if (len == 0)
		return scope_fail(why, whycap, text, len, "empty scope");
	/* bound the work before looking further: the text is untrusted */
	if (len > POLICY_SCOPE_LEN)
		return scope_fail(why, whycap, text, len,
		    "longer than " STR(POLICY_SCOPE_LEN) " bytes");
	if (len < PREFIX_LEN || memcmp(text, PREFIX, PREFIX_LEN) != 0)
		return scope_fail(why, whycap, text, len,
		    "must begin with \"" PREFIX "\" (the only access granted)");
	if (len == PREFIX_LEN)
		return scope_fail(why, whycap, text, len,
		    "no path after \"" PREFIX "\"");
	for (start = i = PREFIX_LEN; i <= len; i++) {
		unsigned char ch;

		if (i < len && text[i] != '.')
			continue;
		/* the key is text[start, i) */
		if (i == start)
			return scope_fail(why, whycap, text, len,
			    "empty key: a path neither begins nor ends with "
			    "'.' nor holds \"..\"");
		if (++keys > POLICY_SCOPE_DEPTH)
			return scope_fail(why, whycap, text, len,
			    "more than " STR(POLICY_SCOPE_DEPTH) " keys");
		if (i - start > KEY_MAX)
			return scope_fail(why, whycap, text, len,
			    "a key is longer than " STR(KEY_MAX) " bytes");
		if (memchr(text + start, '*', i - start) != NULL)
			return scope_fail(why, whycap, text, len,
			    "there is no wildcard");
		if (!is_key_start((unsigned char)text[start]))
			return scope_fail(why, whycap, text, len,
			    "a key must begin with a-z");
		for (size_t k = start + 1; k < i; k++) {
			ch = (unsigned char)text[k];
			if (!is_key_char(ch))
				return scope_fail(why, whycap, text, len,
				    "a key holds only a-z, 0-9 and _");
		}
		start = i + 1;
	}
	*nkeys = keys;
	return 0;
}

/* Compiles a checked scope; NULL on allocation failure. */
static struct scope *
scope_compile(const char *text, size_t len, size_t nkeys)
{
	size_t pathlen = len - PREFIX_LEN, k = 0, off;
	struct scope *sc;
	char *keys;

	/* len <= POLICY_SCOPE_LEN: the sum cannot wrap */
	sc = malloc(sizeof(*sc) + len + 1 + pathlen + 1);
	if (sc == NULL)
		return NULL;
	sc->len = len;
	sc->nkeys = nkeys;
	memcpy(sc->buf, text, len);
	sc->buf[len] = '\0';
	keys = sc->buf + len + 1;
	memcpy(keys, text + PREFIX_LEN, pathlen);
	keys[pathlen] = '\0';
	off = len + 1;
	sc->key[k++] = off;
	for (size_t i = 0; i < pathlen; i++) {
		if (keys[i] == '.') {
			keys[i] = '\0';
			sc->key[k++] = off + i + 1;
		}
	}
	assert(k == nkeys);
	return sc;
}

static struct scope *
scope_dup(const struct scope *sc)
{
	size_t size = sizeof(*sc) + sc->len + 1 + (sc->len - PREFIX_LEN) + 1;
	struct scope *d = malloc(size);

	if (d != NULL)
		memcpy(d, sc, size);
	return d;
}

static const char *
scope_key(const struct scope *sc, size_t i)
{
	return sc->buf + sc->key[i];
}

/*
 * 1 when the path of p lies within the path of q: q's keys are the first
 * keys of p.  Comparing the texts is enough as long as the match ends at a
 * key boundary: "read:ab" does not lie within "read:a".
 */
static int
within(const struct scope *p, const struct scope *q)
{
	return p->len >= q->len && memcmp(p->buf, q->buf, q->len) == 0 &&
	    (p->len == q->len || p->buf[q->len] == '.');
}

/* ---- sets --------------------------------------------------------------- */

struct policy_scopes *
policy_scopes_new(void)
{
	return calloc(1, sizeof(struct policy_scopes));
}

void
policy_scopes_free(struct policy_scopes *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s);
}

/*
 * Inserts sc keeping s normalised.  0: s owns sc now; 1: a path of s
 * already covers sc, which the caller keeps; POLICY_E_SCOPE: s would hold
 * more than limit scopes, or more than text bytes of canonical text;
 * POLICY_E_NOMEM.  s is unchanged unless 0.
 */
static int
set_put(struct policy_scopes *s, struct scope *sc, size_t limit,
    size_t text)
{
	size_t absorbed = 0, size = sc->len, i, j, at;

	for (i = 0; i < s->n; i++) {
		if (within(sc, s->v[i]))
			return 1;
		if (within(s->v[i], sc))
			absorbed++;
		else
			size += 1 + s->v[i]->len;
	}
	if (s->n - absorbed >= limit || size > text)
		return POLICY_E_SCOPE;
	if (s->n == s->cap) {
		size_t cap = s->cap == 0 ? 8 : s->cap * 2;
		struct scope **v;

		/*
		 * n is at most POLICY_SCOPE_MAX, or |a| + |b| for an
		 * intersection: the products cannot wrap.
		 */
		v = realloc(s->v, cap * sizeof(struct scope *));
		if (v == NULL)
			return POLICY_E_NOMEM;
		s->v = v;
		s->cap = cap;
	}
	/* the broader path replaces the narrower ones it absorbs */
	for (i = j = 0; i < s->n; i++) {
		if (within(s->v[i], sc))
			free(s->v[i]);
		else
			s->v[j++] = s->v[i];
	}
	s->n = j;
	for (at = 0; at < s->n && strcmp(s->v[at]->buf, sc->buf) < 0; at++)
		;
	memmove(&s->v[at + 1], &s->v[at],
	    (s->n - at) * sizeof(struct scope *));
	s->v[at] = sc;
	s->n++;
	return 0;
}

int
policy_scopes_add(struct policy_scopes *s, const char *scope, size_t len,
    char *why, size_t whycap)
{
	struct scope *sc = NULL;
	size_t nkeys = 0;
	int rc;

	if (why != NULL && whycap > 0)
		why[0] = '\0';
	if (s == NULL || (scope == NULL && len > 0))
		return POLICY_E_INVAL;
	if ((rc = scope_check(scope, len, &nkeys, why, whycap)) != 0)
		return rc;
	if ((sc = scope_compile(scope, len, nkeys)) == NULL)
		return POLICY_E_NOMEM;
	rc = set_put(s, sc, POLICY_SCOPE_MAX, POLICY_SCOPE_TEXT);
	if (rc == 0)
		sc = NULL;
	else if (rc == 1)
		rc = 0; /* a duplicate or a narrower path: nothing to add */
	else if (rc == POLICY_E_SCOPE)
		scope_fail(why, whycap, scope, len,
		    "more than " STR(POLICY_SCOPE_MAX) " scopes, or more than "
		    STR(POLICY_SCOPE_TEXT) " bytes of them, in the set");
	free(sc);
	return rc;
}

/* RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static int
is_nqchar(unsigned char ch)
{
	return ch == 0x21 || (ch >= 0x23 && ch <= 0x5b) ||
	    (ch >= 0x5d && ch <= 0x7e);
}

int
policy_scopes_parse(const char *text, size_t len,
    struct policy_scopes **out, char *why, size_t whycap)
{
	struct policy_scopes *s = NULL;
	size_t start = 0;
	int rc;

	if (why != NULL && whycap > 0)
		why[0] = '\0';
	if (out == NULL)
		return POLICY_E_INVAL;
	*out = NULL;
	if (text == NULL && len > 0)
		return POLICY_E_INVAL;
	if (len == 0)
		return text_fail(why, whycap, "empty scope text", 0);
	if (text[0] == ' ')
		return text_fail(why, whycap, "scope text begins with a space",
		    0);
	if (text[len - 1] == ' ')
		return text_fail(why, whycap, "scope text ends with a space",
		    len - 1);
	if ((s = policy_scopes_new()) == NULL)
		return POLICY_E_NOMEM;
	for (size_t i = 0; i <= len; i++) {
		unsigned char ch = i < len ? (unsigned char)text[i] : ' ';

		if (ch != ' ') {
			if (!is_nqchar(ch)) {
				/* tabs, line breaks, quotes: not RFC 6749 */
				rc = text_fail(why, whycap,
				    ch == '\t' || ch == '\n' || ch == '\r'
					? "scopes are separated by single "
					  "spaces only (RFC 6749 3.3)"
					: "a byte outside the scope-token "
					  "characters of RFC 6749 3.3",
				    i);
				goto out;
			}
			continue;
		}
		if (i == start) {
			rc = text_fail(why, whycap,
			    "two spaces in a row in the scope text", i);
			goto out;
		}
		rc = policy_scopes_add(s, text + start, i - start, why, whycap);
		if (rc != 0)
			goto out;
		start = i + 1;
	}
	*out = s;
	s = NULL;
	rc = 0;
out:
	policy_scopes_free(s);
	return rc;
}

/* What a NULL set reads as. */
static const struct policy_scopes empty_set;

size_t
policy_scopes_count(const struct policy_scopes *s)
{
	return s != NULL ? s->n : 0;
}

const char *
policy_scopes_get(const struct policy_scopes *s, size_t i)
{
	return s != NULL && i < s->n ? s->v[i]->buf : NULL;
}

char *
policy_scopes_format(const struct policy_scopes *s)
{
	size_t size = 1, at = 0;
	char *text;

	if (s == NULL)
		s = &empty_set;
	/* each text is at most POLICY_SCOPE_LEN bytes: the sum cannot wrap */
	for (size_t i = 0; i < s->n; i++)
		size += s->v[i]->len + 1;
	if ((text = malloc(size)) == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		if (i > 0)
			text[at++] = ' ';
		memcpy(text + at, s->v[i]->buf, s->v[i]->len);
		at += s->v[i]->len;
	}
	text[at] = '\0';
	return text;
}

int
policy_scopes_covers(const struct policy_scopes *outer,
    const struct policy_scopes *inner)
{
	if (outer == NULL)
		outer = &empty_set;
	if (inner == NULL)
		inner = &empty_set;
	for (size_t i = 0; i < inner->n; i++) {
		size_t o;

		for (o = 0; o < outer->n; o++)
			if (within(inner->v[i], outer->v[o]))
				break;
		if (o == outer->n)
			return 0;
	}
	return 1;
}

/*
 * The result may hold more than POLICY_SCOPE_MAX scopes ({a.k1 .. a.k40,
 * b} with {a, b.k1 .. b.k40} grants 80 subtrees) and is still exactly
 * what both sides grant, so no cap applies here: it holds at most
 * |a| + |b| scopes, each a copy of one of theirs.
 */
int
policy_scopes_intersect(const struct policy_scopes *a,
    const struct policy_scopes *b, struct policy_scopes **out)
{
	struct policy_scopes *r = NULL;
	struct scope *d = NULL;
	int rc;

	if (out == NULL)
		return POLICY_E_INVAL;
	*out = NULL;
	if (a == NULL || b == NULL)
		return POLICY_E_INVAL;
	if ((r = policy_scopes_new()) == NULL)
		return POLICY_E_NOMEM;
	for (size_t i = 0; i < a->n; i++) {
		for (size_t j = 0; j < b->n; j++) {
			const struct scope *pick;

			if (within(a->v[i], b->v[j]))
				pick = a->v[i];
			else if (within(b->v[j], a->v[i]))
				pick = b->v[j];
			else
				continue;
			if ((d = scope_dup(pick)) == NULL) {
				rc = POLICY_E_NOMEM;
				goto out;
			}
			rc = set_put(r, d, SIZE_MAX, SIZE_MAX);
			if (rc < 0)
				goto out;
			if (rc == 0)
				d = NULL;
			free(d);
			d = NULL;
		}
	}
	*out = r;
	r = NULL;
	rc = 0;
out:
	free(d);
	policy_scopes_free(r);
	return rc;
}

/* ---- projection --------------------------------------------------------- */

/* The value at the path of sc in profile, borrowed; NULL when absent. */
static const json_t *
lookup(const json_t *profile, const struct scope *sc)
{
	const json_t *v = profile;

	for (size_t k = 0; k < sc->nkeys && v != NULL; k++) {
		/* a path never goes through an array or a scalar */
		if (!json_is_object(v))
			return NULL;
		v = json_object_get(v, scope_key(sc, k));
	}
	return v;
}

/*
 * Stores copy at the path of sc in dst, creating the ancestors that are
 * missing; takes ownership of copy.  0 or -1 on allocation failure.
 */
static int
place(json_t *dst, const struct scope *sc, json_t *copy)
{
	for (size_t k = 0; k + 1 < sc->nkeys; k++) {
		json_t *child = json_object_get(dst, scope_key(sc, k));

		if (child == NULL) {
			child = json_object();
			/* set_new takes child, and releases it on failure */
			if (json_object_set_new(dst, scope_key(sc, k), child) !=
			    0) {
				json_decref(copy);
				return -1;
			}
		}
		/* a normalised set never grants an ancestor of a path too */
		assert(json_is_object(child));
		dst = child;
	}
	return json_object_set_new(dst, scope_key(sc, sc->nkeys - 1), copy);
}

json_t *
policy_project(const json_t *profile, const struct policy_scopes *s,
    json_t **fields)
{
	json_t *res = NULL, *obj = NULL, *list = NULL;

	if (fields != NULL)
		*fields = NULL;
	if (profile == NULL || s == NULL)
		return NULL;
	if ((obj = json_object()) == NULL)
		goto out;
	if (fields != NULL && (list = json_array()) == NULL)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		const struct scope *sc = s->v[i];
		const json_t *v = lookup(profile, sc);
		json_t *copy;

		if (v == NULL)
			continue;
		/* a deep copy: the caller may change the result freely */
		if ((copy = json_deep_copy(v)) == NULL)
			goto out;
		if (place(obj, sc, copy) != 0)
			goto out;
		if (list != NULL &&
		    json_array_append_new(list,
			json_string(sc->buf + PREFIX_LEN)) != 0)
			goto out;
	}
	res = obj;
	obj = NULL;
	if (fields != NULL) {
		*fields = list;
		list = NULL;
	}
out:
	json_decref(obj);
	json_decref(list);
	return res;
}
