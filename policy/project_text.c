/*
 * project_text.c - the projection of a stored profile, computed on its
 * text without building a JSON tree.
 *
 * A stored profile is the compact text json_dumps writes with sorted keys.
 * Walking that text and copying the granted members as they stand gives,
 * byte for byte, what parsing it, projecting the tree (policy_project)
 * and serialising the result with the same flags gives - at a fraction of
 * the cost, which matters on a fetch whose answer is not cached yet.
 * Members come in key order and a normalised scope set is in key-by-key
 * order too, so one pass finds the granted fields in scope order.
 *
 * The text is checked only as far as the walk needs; anything not in the
 * expected form (an escaped key, a stray byte, nesting past MAX_NEST) is
 * refused with POLICY_E_INVAL, and the caller takes the tree path, which
 * judges the document properly.
 */
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define MAX_NEST 64
#define PREFIX "read:"
#define PREFIX_LEN 5

/* A scope split into its keys. */
struct path {
	const char *text; /* "a.b.c", after the prefix */
	size_t nkeys;
	const char *key[POLICY_SCOPE_DEPTH];
	size_t klen[POLICY_SCOPE_DEPTH];
};

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* The end of the string starting at p (at its opening quote), or NULL. */
static const char *
string_end(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') {
			if (++p == end)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		} else if ((unsigned char)*p < 0x20) {
			return NULL;
		}
	}
	return NULL;
}

/* The end of the value starting at p, or NULL when it is malformed. */
static const char *
value_end(const char *p, const char *end, int nest)
{
	if (p >= end || nest > MAX_NEST)
		return NULL;
	switch (*p) {
	case '"':
		return string_end(p, end);
	case '{':
	case '[': {
		char close = *p == '{' ? '}' : ']';

		if (++p < end && *p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (p >= end || *p != '"' ||
				    (p = string_end(p, end)) == NULL ||
				    p >= end || *p++ != ':')
					return NULL;
			}
			if ((p = value_end(p, end, nest + 1)) == NULL ||
			    p >= end)
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	default: {
		const char *q = p;

		/* A number or a literal: up to the next delimiter. */
		while (q < end && *q != ',' && *q != '}' && *q != ']')
			q++;
		return q > p ? q : NULL;
	}
	}
}

static int
key_is(const struct path *pa, size_t d, const char *key, size_t klen)
{
	return pa->klen[d] == klen && memcmp(pa->key[d], key, klen) == 0;
}

struct walk {
	const struct path *paths;
	struct buf *out, *fields;
	size_t nfields;
};

/*
 * Projects the object at *pp (depth d) on paths [lo, hi), which share
 * their first d keys; emits its granted members, each preceded by a comma
 * unless *first.  Returns the end of the object, or NULL.
 */
static const char *
object(struct walk *w, const char *p, const char *end, size_t d,
    size_t lo, size_t hi, int *first)
{
	if (p >= end || *p != '{')
		return NULL;
	if (++p < end && *p == '}')
		return p + 1;
	for (;;) {
		const char *key, *kend, *v, *vend;
		size_t klen, a, b;

		if (p >= end || *p != '"' || (kend = string_end(p, end)) == NULL)
			return NULL;
		key = p + 1;
		klen = (size_t)(kend - 1 - key);
		/* Keys are [a-z][a-z0-9_]*: an escape means another form. */
		if (memchr(key, '\\', klen) != NULL || kend >= end ||
		    *kend != ':')
			return NULL;
		v = kend + 1;
		if ((vend = value_end(v, end, (int)d + 1)) == NULL ||
		    vend >= end)
			return NULL;
		/* The paths through this key: a run, as both are sorted. */
		for (a = lo; a < hi && !key_is(&w->paths[a], d, key, klen); a++)
			;
		for (b = a; b < hi && key_is(&w->paths[b], d, key, klen); b++)
			;
		if (a < b && w->paths[a].nkeys == d + 1) {
			/* Granted whole (a normalised set has no deeper path). */
			if (!*first)
				put(w->out, ",", 1);
			*first = 0;
			put(w->out, key - 1, (size_t)(vend - (key - 1)));
			if (w->nfields++ > 0)
				put(w->fields, ",", 1);
			put(w->fields, "\"", 1);
			put(w->fields, w->paths[a].text,
			    strlen(w->paths[a].text));
			put(w->fields, "\"", 1);
		} else if (a < b && *v == '{') {
			size_t mark = w->out->len;
			int inner = 1;

			if (!*first)
				put(w->out, ",", 1);
			put(w->out, key - 1, (size_t)(v - (key - 1)));
			put(w->out, "{", 1);
			if (object(w, v, end, d + 1, a, b, &inner) != vend)
				return NULL;
			if (inner) {
				/* Nothing granted exists below: no ancestor. */
				w->out->len = mark;
				if (w->out->p != NULL)
					w->out->p[mark] = '\0';
			} else {
				put(w->out, "}", 1);
				*first = 0;
			}
		}
		p = vend;
		if (*p == '}')
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

/* Splits "read:a.b" into keys; the scope text stays borrowed. */
static int
split(const char *scope, struct path *pa)
{
	const char *s;

	if (strncmp(scope, PREFIX, PREFIX_LEN) != 0)
		return POLICY_E_INVAL;
	pa->text = scope + PREFIX_LEN;
	pa->nkeys = 0;
	for (s = pa->text;;) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);

		if (n == 0 || pa->nkeys == POLICY_SCOPE_DEPTH)
			return POLICY_E_INVAL;
		pa->key[pa->nkeys] = s;
		pa->klen[pa->nkeys++] = n;
		if (dot == NULL)
			return 0;
		s = dot + 1;
	}
}

int
policy_project_text(const char *json, size_t len,
    const struct policy_scopes *s, char **out, size_t *outlen,
    char **fields, size_t *fields_len)
{
	size_t n = policy_scopes_count(s);
	struct buf o = { 0 }, f = { 0 };
	struct path *paths;
	struct walk w;
	int first = 1, rc = POLICY_E_INVAL;

	*out = *fields = NULL;
	*outlen = *fields_len = 0;
	if ((paths = calloc(n ? n : 1, sizeof(*paths))) == NULL)
		return POLICY_E_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (split(policy_scopes_get(s, i), &paths[i]) != 0)
			goto out;
	w = (struct walk){ paths, &o, &f, 0 };
	put(&o, "{", 1);
	put(&f, "[", 1);
	if (object(&w, json, json + len, 0, 0, n, &first) != json + len)
		goto out;
	put(&o, "}", 1);
	put(&f, "]", 1);
	if (o.failed || f.failed) {
		rc = POLICY_E_NOMEM;
		goto out;
	}
	*out = o.p;
	*outlen = o.len;
	*fields = f.p;
	*fields_len = f.len;
	o.p = f.p = NULL;
	rc = 0;
out:
	free(o.p);
	free(f.p);
	free(paths);
	return rc;
}
