/*
 * profile.c - validation of a customer's profile document (DESIGN section
 * 5): the rules every value obeys, then the members, types and formats of
 * the standard sections.
 *
 * Pure: no I/O, no clock, no locale (<ctype.h> would consult it), no state
 * beyond the const tables below.  It must never modify the document, and
 * never accept what it cannot describe: anything unlisted in a standard
 * section is refused so that a typo is caught instead of stored, and every
 * refusal names the offending path.
 *
 * Rules for every value, inside the standard sections and out:
 * - keys match [a-z][a-z0-9_]{0,63};
 * - null is refused (a merge patch deletes with null before validation, so
 *   a stored profile never holds one);
 * - arrays are leaves: their items are strings, numbers or booleans;
 * - objects and arrays nest at most POLICY_PROFILE_MAX_DEPTH levels, the
 *   top-level object being level 1 (policy_json_check counts the same way);
 * - strings are valid UTF-8 of at most POLICY_PROFILE_MAX_STRING bytes
 *   without control characters (Unicode Cc: U+0000-U+001F, U+007F,
 *   U+0080-U+009F) except tab and line feed: free text may have lines, but
 *   NUL truncates C strings, and CR, ESC and the C1 set forge log lines or
 *   drive the terminals of whoever reads them.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define STR_(x) #x
#define STR(x) STR_(x)

#define KEY_MAX 64	     /* [a-z][a-z0-9_]{0,63} */
#define TAGS_MAX 100	     /* items of interests and allergies */
#define EMAIL_MAX 254	     /* RFC 5321 4.5.3.1.3 path, less the <> */
#define EMAIL_LOCAL_MAX 64   /* RFC 5321 4.5.3.1.1 */
#define DNS_LABEL_MAX 63     /* RFC 1035 2.3.4 */
#define E164_DIGITS_MAX 15   /* ITU-T E.164 */
#define TZ_MAX 64
#define LANGTAG_MAX 35	     /* RFC 5646 4.4.1: what every reader must hold */
#define LANGTAG_SUBTAGS 18   /* 35 characters hold at most 18 subtags */

/*
 * Room for the path of any offence: POLICY_PROFILE_MAX_DEPTH + 1 segments
 * of a key shown with at most KEY_MAX bytes and "...", or an index.
 */
#define PATH_CAP ((POLICY_PROFILE_MAX_DEPTH + 1) * (KEY_MAX + 8) + 1)

struct vctx {
	char path[PATH_CAP];	/* "contact.email", "interests[3]" */
	size_t len;
	char *why;
	size_t whycap;
};

/* ---- reasons and paths ------------------------------------------------- */

/*
 * Records the reason with the current path.  A reason cut short by a small
 * whycap is still a useful hint, so truncation is accepted here.
 */
static int
fail(struct vctx *c, const char *msg)
{
	if (c->why != NULL && c->whycap > 0) {
		int n = snprintf(c->why, c->whycap, "%s: %s",
		    c->len > 0 ? c->path : "profile", msg);

		if (n < 0)
			c->why[0] = '\0';
	}
	return POLICY_E_PROFILE;
}

static void
path_put(struct vctx *c, const char *s, size_t n)
{
	if (n > sizeof(c->path) - 1 - c->len)
		n = sizeof(c->path) - 1 - c->len;
	memcpy(c->path + c->len, s, n);
	c->len += n;
	c->path[c->len] = '\0';
}

/*
 * Appends ".key" and returns the length to restore.  The key is untrusted
 * and ends up in a reason shown to clients and written to logs: bytes
 * outside printable ASCII become '?', and an overlong key is cut.
 */
static size_t
path_push_key(struct vctx *c, const char *key, size_t keylen)
{
	size_t saved = c->len;
	size_t n = keylen > KEY_MAX ? KEY_MAX : keylen;

	if (c->len > 0)
		path_put(c, ".", 1);
	if (keylen == 0)
		path_put(c, "\"\"", 2); /* an empty key must still show */
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)key[i];

		path_put(c, ch > 0x20 && ch < 0x7f ? (const char *)&key[i] : "?",
		    1);
	}
	if (keylen > n)
		path_put(c, "...", 3);
	return saved;
}

static size_t
path_push_index(struct vctx *c, size_t i)
{
	size_t saved = c->len;
	char idx[32];
	int n = snprintf(idx, sizeof(idx), "[%zu]", i);

	if (n > 0 && (size_t)n < sizeof(idx))
		path_put(c, idx, (size_t)n);
	return saved;
}

static void
path_pop(struct vctx *c, size_t saved)
{
	c->len = saved;
	c->path[saved] = '\0';
}

/* jansson's iterators take non-const objects, though they only read. */
static json_t *
unconst(const json_t *v)
{
	return (json_t *)(uintptr_t)v;
}

/* ---- characters, ASCII only: the locale must not change a verdict ------- */

static int
is_lower(unsigned char ch)
{
	return ch >= 'a' && ch <= 'z';
}

static int
is_alpha(unsigned char ch)
{
	return is_lower(ch) || (ch >= 'A' && ch <= 'Z');
}

static int
is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

static int
is_alnum(unsigned char ch)
{
	return is_alpha(ch) || is_digit(ch);
}

static int
all_alpha(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_alpha((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
all_digit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
ascii_caseeq(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen && b[i] != '\0'; i++) {
		unsigned char x = (unsigned char)a[i];
		unsigned char y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return i == alen && b[i] == '\0';
}

/* ---- generic rules ------------------------------------------------------ */

static int
check_key(struct vctx *c, const char *key, size_t keylen)
{
	if (keylen == 0)
		return fail(c, "empty key");
	if (keylen > KEY_MAX)
		return fail(c, "key longer than " STR(KEY_MAX)
		    " bytes (keys match [a-z][a-z0-9_]{0,63})");
	if (!is_lower((unsigned char)key[0]))
		return fail(c, "key must start with a letter a-z "
		    "(keys match [a-z][a-z0-9_]{0,63})");
	for (size_t i = 1; i < keylen; i++) {
		unsigned char ch = (unsigned char)key[i];

		if (!is_lower(ch) && !is_digit(ch) && ch != '_')
			return fail(c, "key may hold only a-z, 0-9 and _ "
			    "(keys match [a-z][a-z0-9_]{0,63})");
	}
	return 0;
}

/*
 * Decodes one code point of s[0..len) into *cp; returns its length in
 * bytes, or 0 when the sequence is not valid UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF included).
 */
static size_t
utf8_decode(const unsigned char *s, size_t len, unsigned long *cp)
{
	size_t need;
	unsigned long v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
		v = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		v = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		v = s[0] & 0x07;
	} else
		return 0;
	if (len - 1 < need)
		return 0;
	for (size_t k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[k] & 0x3f);
	}
	if ((need == 2 && v < 0x800) || (need == 3 && v < 0x10000) ||
	    v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return need + 1;
}

static int
check_string(struct vctx *c, const json_t *v)
{
	const unsigned char *s = (const unsigned char *)json_string_value(v);
	size_t len = json_string_length(v);

	if (len > POLICY_PROFILE_MAX_STRING)
		return fail(c, "string longer than "
		    STR(POLICY_PROFILE_MAX_STRING) " bytes");
	for (size_t i = 0; i < len;) {
		unsigned long cp;
		size_t n = utf8_decode(s + i, len - i, &cp);

		/* jansson checks what it parses, not what _nocheck built. */
		if (n == 0)
			return fail(c, "string is not valid UTF-8");
		if ((cp < 0x20 && cp != '\t' && cp != '\n') ||
		    (cp >= 0x7f && cp <= 0x9f))
			return fail(c, "string holds a control character "
			    "(only tab and line feed are allowed)");
		i += n;
	}
	return 0;
}

static int check_any(struct vctx *c, const json_t *v, unsigned level);

/* level: the nesting level v has, the top-level object being 1. */
static int
check_leaf_array(struct vctx *c, const json_t *v, unsigned level)
{
	const json_t *item;
	size_t i;
	int rc;

	if (level > POLICY_PROFILE_MAX_DEPTH)
		return fail(c, "nested deeper than "
		    STR(POLICY_PROFILE_MAX_DEPTH) " levels");
	json_array_foreach(v, i, item) {
		size_t saved = path_push_index(c, i);

		if (json_is_null(item))
			return fail(c, "null is not allowed");
		if (json_is_object(item) || json_is_array(item))
			return fail(c, "arrays are leaves: items must be "
			    "strings, numbers or booleans");
		if (json_is_string(item) && (rc = check_string(c, item)) != 0)
			return rc;
		path_pop(c, saved);
	}
	return 0;
}

static int
check_object_any(struct vctx *c, const json_t *v, unsigned level)
{
	const char *key;
	size_t keylen;
	json_t *child;
	int rc;

	if (level > POLICY_PROFILE_MAX_DEPTH)
		return fail(c, "nested deeper than "
		    STR(POLICY_PROFILE_MAX_DEPTH) " levels");
	json_object_keylen_foreach(unconst(v), key, keylen, child) {
		size_t saved = path_push_key(c, key, keylen);

		if ((rc = check_key(c, key, keylen)) != 0 ||
		    (rc = check_any(c, child, level + 1)) != 0)
			return rc;
		path_pop(c, saved);
	}
	return 0;
}

static int
check_any(struct vctx *c, const json_t *v, unsigned level)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return check_object_any(c, v, level);
	case JSON_ARRAY: return check_leaf_array(c, v, level);
	case JSON_STRING: return check_string(c, v);
	case JSON_INTEGER:
	case JSON_REAL:
	case JSON_TRUE:
	case JSON_FALSE: return 0;
	case JSON_NULL:
	default: return fail(c, "null is not allowed");
	}
}

/* ---- formats -------------------------------------------------------------- */

/* RFC 5322 3.2.3 atext. */
static int
is_atext(unsigned char ch)
{
	return is_alnum(ch) || (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~",
	    ch) != NULL);
}

/*
 * A DNS host name (RFC 1123 2.1): LDH labels of 1..63 bytes that neither
 * start nor end with '-'.  At least two labels, and the last not all
 * digits: mail to a dotless or numeric top-level domain cannot be
 * delivered on the public Internet, so "a@b" and "a@1.2.3.4" are typos.
 */
static int
is_mail_domain(const char *s, size_t len)
{
	size_t labels = 0, i = 0;

	while (i <= len) {
		size_t start = i;

		while (i < len && s[i] != '.') {
			unsigned char ch = (unsigned char)s[i];

			if (!is_alnum(ch) && ch != '-')
				return 0;
			i++;
		}
		if (i == start || i - start > DNS_LABEL_MAX ||
		    s[start] == '-' || s[i - 1] == '-')
			return 0;
		labels++;
		if (i == len)
			return labels >= 2 && !all_digit(s + start, i - start);
		i++; /* the dot */
	}
	return 0;
}

/*
 * A pragmatic addr-spec (RFC 5322 3.4.1, with RFC 5321's limits): a local
 * part that is a dot-atom or a quoted string (RFC 5321 4.1.2: printable
 * ASCII, backslash quoting printable ASCII), '@', a host name.  ASCII
 * only: internationalised addresses (RFC 6531) and domain literals such as
 * [192.0.2.1] are refused.
 */
static int
is_addr_spec(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > EMAIL_MAX)
		return 0;
	if (s[0] == '"') {
		for (i = 1;; i++) {
			unsigned char ch;

			if (i >= len)
				return 0;
			ch = (unsigned char)s[i];
			if (ch == '"')
				break;
			if (ch == '\\') {
				if (++i >= len || (unsigned char)s[i] < 0x20 ||
				    (unsigned char)s[i] > 0x7e)
					return 0;
			} else if (ch < 0x20 || ch > 0x7e)
				return 0;
		}
		i++; /* the closing quote */
	} else {
		for (;;) {
			size_t start = i;

			while (i < len && is_atext((unsigned char)s[i]))
				i++;
			if (i == start)
				return 0; /* empty atom: "", ".a", "a..b", "a." */
			if (i >= len || s[i] != '.')
				break;
			i++;
		}
	}
	if (i > EMAIL_LOCAL_MAX || i >= len || s[i] != '@')
		return 0;
	return is_mail_domain(s + i + 1, len - i - 1);
}

/* E.164: '+', a country code not starting with 0, 2..15 digits in all. */
static int
is_e164(const char *s, size_t len)
{
	return len >= 3 && len <= 1 + E164_DIGITS_MAX && s[0] == '+' &&
	    s[1] >= '1' && s[1] <= '9' && all_digit(s + 1, len - 1);
}

/* "HH:MM" from 00:00 to 23:59; the minute of the day, or -1. */
static int
hhmm_minutes(const char *s, size_t len)
{
	int h, m;

	if (len != 5 || !is_digit((unsigned char)s[0]) ||
	    !is_digit((unsigned char)s[1]) || s[2] != ':' ||
	    !is_digit((unsigned char)s[3]) || !is_digit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59)
		return -1;
	return h * 60 + m;
}

/*
 * The syntax of an IANA time-zone name ("Europe/Paris", "UTC",
 * "America/Argentina/Buenos_Aires", "Etc/GMT+5"): '/'-separated segments
 * of [A-Za-z0-9_+-], each starting with a letter.  Never looked up in the
 * tz database: this module does no I/O, and a letter first with no '.'
 * anywhere already keeps the name from walking a file system.
 */
static int
is_tz_name(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > TZ_MAX)
		return 0;
	for (;;) {
		if (i >= len || !is_alpha((unsigned char)s[i]))
			return 0;
		while (i < len && s[i] != '/') {
			unsigned char ch = (unsigned char)s[i];

			if (!is_alnum(ch) && ch != '_' && ch != '+' && ch != '-')
				return 0;
			i++;
		}
		if (i == len)
			return 1;
		i++; /* the slash */
	}
}

/*
 * RFC 5646 2.2.8: the irregular grandfathered tags, which the langtag rule
 * cannot match.  The regular ones ("art-lojban", "zh-min-nan", ...) are
 * well-formed langtags already.
 */
static const char *const langtag_irregular[] = {
	"en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak",
	"i-klingon", "i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao",
	"i-tay", "i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE",
};

struct subtag {
	const char *s;
	size_t n;
};

static int
is_x(const struct subtag *t)
{
	return t->n == 1 && (t->s[0] == 'x' || t->s[0] == 'X');
}

/*
 * A well-formed BCP 47 tag (RFC 5646 2.1), case-insensitive:
 *   langtag    = language ["-" script] ["-" region] *("-" variant)
 *                *("-" extension) ["-" privateuse]
 *   language   = 2*3ALPHA ["-" extlang]     extlang = 3ALPHA *2("-" 3ALPHA)
 *   script     = 4ALPHA                     region  = 2ALPHA / 3DIGIT
 *   variant    = 5*8alphanum / (DIGIT 3alphanum)
 *   extension  = singleton 1*("-" (2*8alphanum))
 *   privateuse = "x" 1*("-" (1*8alphanum))
 * or a private-use tag alone ("x-whatever"), or an irregular grandfathered
 * tag.  The grammar's 4ALPHA and 5*8ALPHA primary languages are refused:
 * the registry holds none (4 letters are reserved, 5 to 8 unused), and
 * accepting them would take "english" or "french" for language tags.
 * Registry membership and duplicate variants or singletons (validity, RFC
 * 5646 2.2.9) are not checked: that needs the registry.
 */
static int
is_langtag(const char *s, size_t len)
{
	struct subtag t[LANGTAG_SUBTAGS];
	size_t nt = 0, k = 0, i = 0, e;

	if (len == 0 || len > LANGTAG_MAX)
		return 0;
	for (e = 0; e < NELEM(langtag_irregular); e++)
		if (ascii_caseeq(s, len, langtag_irregular[e]))
			return 1;
	for (;;) {
		size_t start = i;

		while (i < len && is_alnum((unsigned char)s[i]))
			i++;
		if (i == start || i - start > 8 || nt == NELEM(t))
			return 0;
		t[nt].s = s + start;
		t[nt++].n = i - start;
		if (i == len)
			break;
		if (s[i] != '-')
			return 0;
		i++;
	}
	if (!is_x(&t[0])) {
		if (t[0].n < 2 || t[0].n > 3 || !all_alpha(t[0].s, t[0].n))
			return 0;
		for (k = 1, e = 0; e < 3 && k < nt && t[k].n == 3 &&
		    all_alpha(t[k].s, 3); e++)
			k++;
		if (k < nt && t[k].n == 4 && all_alpha(t[k].s, 4))
			k++;
		if (k < nt && ((t[k].n == 2 && all_alpha(t[k].s, 2)) ||
		    (t[k].n == 3 && all_digit(t[k].s, 3))))
			k++;
		while (k < nt && (t[k].n >= 5 ||
		    (t[k].n == 4 && is_digit((unsigned char)t[k].s[0]))))
			k++;
		while (k < nt && t[k].n == 1 && !is_x(&t[k])) {
			size_t first = ++k;

			while (k < nt && t[k].n >= 2)
				k++;
			if (k == first)
				return 0;
		}
	}
	if (k < nt && is_x(&t[k])) {
		/* Every subtag past "x" is 1*8alphanum, checked above. */
		if (++k == nt)
			return 0;
		k = nt;
	}
	return k == nt;
}

/* ---- members of the standard sections ------------------------------------ */

typedef int (*check_fn)(struct vctx *, const json_t *);

struct member {
	const char *name;
	check_fn check;
};

/* Finds name in a table of members or sections, or NULL. */
static const struct member *
member_find(const struct member *tab, size_t n, const char *key,
    size_t keylen)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(tab[i].name) == keylen &&
		    memcmp(tab[i].name, key, keylen) == 0)
			return &tab[i];
	return NULL;
}

/*
 * An object of the listed members, all optional.  The standard sections
 * nest at most three levels, far from the depth limit.
 */
static int
check_fixed(struct vctx *c, const json_t *v, const struct member *tab,
    size_t n)
{
	const char *key;
	size_t keylen;
	json_t *child;
	int rc;

	if (!json_is_object(v))
		return fail(c, "must be an object");
	json_object_keylen_foreach(unconst(v), key, keylen, child) {
		size_t saved = path_push_key(c, key, keylen);
		const struct member *m;

		if ((rc = check_key(c, key, keylen)) != 0)
			return rc;
		if ((m = member_find(tab, n, key, keylen)) == NULL)
			return fail(c, "unknown member of a standard section");
		if (json_is_null(child))
			return fail(c, "null is not allowed");
		if ((rc = m->check(c, child)) != 0)
			return rc;
		path_pop(c, saved);
	}
	return 0;
}

#define MAP_STRING 1u
#define MAP_NUMBER 2u
#define MAP_BOOL 4u

/* An object of free keys whose values have one of the allowed types. */
static int
check_map(struct vctx *c, const json_t *v, unsigned allowed,
    const char *typemsg)
{
	const char *key;
	size_t keylen;
	json_t *child;
	int rc;

	if (!json_is_object(v))
		return fail(c, "must be an object");
	json_object_keylen_foreach(unconst(v), key, keylen, child) {
		size_t saved = path_push_key(c, key, keylen);

		if ((rc = check_key(c, key, keylen)) != 0)
			return rc;
		if (json_is_null(child))
			return fail(c, "null is not allowed");
		if (json_is_string(child) && (allowed & MAP_STRING)) {
			if ((rc = check_string(c, child)) != 0)
				return rc;
		} else if (!(json_is_number(child) && (allowed & MAP_NUMBER)) &&
		    !(json_is_boolean(child) && (allowed & MAP_BOOL)))
			return fail(c, typemsg);
		path_pop(c, saved);
	}
	return 0;
}

static int
check_text(struct vctx *c, const json_t *v)
{
	if (!json_is_string(v))
		return fail(c, "must be a string");
	return check_string(c, v);
}

/* Text that must also match a syntax; msg says which. */
static int
check_syntax(struct vctx *c, const json_t *v,
    int (*ok)(const char *, size_t), const char *msg)
{
	int rc;

	if ((rc = check_text(c, v)) != 0)
		return rc;
	if (!ok(json_string_value(v), json_string_length(v)))
		return fail(c, msg);
	return 0;
}

static int
check_bool(struct vctx *c, const json_t *v)
{
	return json_is_boolean(v) ? 0 : fail(c, "must be true or false");
}

static int
check_email(struct vctx *c, const json_t *v)
{
	return check_syntax(c, v, is_addr_spec,
	    "not a valid e-mail address (addr-spec)");
}

static int
check_phone(struct vctx *c, const json_t *v)
{
	return check_syntax(c, v, is_e164, "not an E.164 number ('+' and 2 "
	    "to 15 digits, no spaces, the first digit not 0)");
}

static int
check_postal(struct vctx *c, const json_t *v)
{
	return check_map(c, v, MAP_STRING, "must be a string");
}

/* Finds s in a NULL-free word list; its index, or -1. */
static int
word_index(const char *const *words, size_t n, const json_t *v)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);

	for (size_t i = 0; i < n; i++)
		if (strlen(words[i]) == len && memcmp(words[i], s, len) == 0)
			return (int)i;
	return -1;
}

static const char *const channel_words[] = { "email", "sms", "phone",
	"post", "push" };

static int
check_channels(struct vctx *c, const json_t *v)
{
	const json_t *item;
	unsigned seen = 0;
	size_t i;

	if (!json_is_array(v))
		return fail(c, "must be an array");
	json_array_foreach(v, i, item) {
		size_t saved = path_push_index(c, i);
		int w = json_is_string(item)
			    ? word_index(channel_words, NELEM(channel_words),
				  item)
			    : -1;

		if (w < 0)
			return fail(c, "not a channel (email, sms, phone, "
			    "post, push)");
		if (seen & (1u << w))
			return fail(c, "channel listed twice");
		seen |= 1u << w;
		path_pop(c, saved);
	}
	return 0;
}

static const char *const frequency_words[] = { "never", "daily", "weekly",
	"monthly" };

static int
check_frequency(struct vctx *c, const json_t *v)
{
	if (!json_is_string(v) ||
	    word_index(frequency_words, NELEM(frequency_words), v) < 0)
		return fail(c, "must be one of never, daily, weekly, monthly");
	return 0;
}

static int
check_hhmm(struct vctx *c, const json_t *v)
{
	if (!json_is_string(v) ||
	    hhmm_minutes(json_string_value(v), json_string_length(v)) < 0)
		return fail(c, "not a time of day HH:MM from 00:00 to 23:59");
	return 0;
}

static int
check_tz(struct vctx *c, const json_t *v)
{
	if (!json_is_string(v) ||
	    !is_tz_name(json_string_value(v), json_string_length(v)))
		return fail(c, "not an IANA time-zone name such as "
		    "Europe/Paris or UTC");
	return 0;
}

static const struct member quiet_hours_members[] = {
	{ "start", check_hhmm },	/* first quiet minute, local time */
	{ "end", check_hhmm },		/* first minute contact may resume */
	{ "tz", check_tz },		/* the zone start and end are in */
};

/*
 * Half a window is meaningless, so all three members are required.  An
 * end before the start wraps past midnight (22:00 to 07:00); an end equal
 * to the start is refused as ambiguous (no quiet time, or all day?):
 * do_not_contact says "all day" plainly.
 */
static int
check_quiet_hours(struct vctx *c, const json_t *v)
{
	const json_t *start, *end;
	int rc;

	if ((rc = check_fixed(c, v, quiet_hours_members,
		 NELEM(quiet_hours_members))) != 0)
		return rc;
	for (size_t i = 0; i < NELEM(quiet_hours_members); i++)
		if (json_object_get(v, quiet_hours_members[i].name) == NULL) {
			size_t saved = path_push_key(c,
			    quiet_hours_members[i].name,
			    strlen(quiet_hours_members[i].name));

			rc = fail(c, "missing: start, end and tz are all "
			    "required in quiet_hours");
			path_pop(c, saved);
			return rc;
		}
	start = json_object_get(v, "start");
	end = json_object_get(v, "end");
	if (json_string_length(start) == json_string_length(end) &&
	    memcmp(json_string_value(start), json_string_value(end),
		json_string_length(start)) == 0)
		return fail(c, "start and end are equal (use do_not_contact "
		    "to refuse all contact)");
	return 0;
}

/*
 * A list of tags: non-empty strings, unique (compared byte for byte, so
 * "Jazz" and "jazz" are two tags), at most TAGS_MAX of them.
 */
static int
check_tags(struct vctx *c, const json_t *v)
{
	const json_t *item;
	size_t i;
	int rc;

	if (!json_is_array(v))
		return fail(c, "must be an array of strings");
	if (json_array_size(v) > TAGS_MAX)
		return fail(c, "more than " STR(TAGS_MAX) " items");
	json_array_foreach(v, i, item) {
		size_t saved = path_push_index(c, i);

		if (!json_is_string(item) || json_string_length(item) == 0)
			return fail(c, "must be a non-empty string");
		if ((rc = check_string(c, item)) != 0)
			return rc;
		for (size_t j = 0; j < i; j++) {
			const json_t *prev = json_array_get(v, j);

			if (json_string_length(prev) ==
				json_string_length(item) &&
			    memcmp(json_string_value(prev),
				json_string_value(item),
				json_string_length(item)) == 0)
				return fail(c, "listed twice");
		}
		path_pop(c, saved);
	}
	return 0;
}

/* ---- the standard sections ------------------------------------------------- */

static const struct member identity_members[] = {
	{ "name", check_text },			/* full name */
	{ "preferred_name", check_text },	/* what to call the customer */
	{ "pronouns", check_text },		/* free text: "she/her" */
};

static const struct member contact_members[] = {
	{ "email", check_email },		/* addr-spec */
	{ "phone", check_phone },		/* E.164 */
	{ "postal", check_postal },		/* object of strings */
};

static const struct member communication_members[] = {
	{ "channels", check_channels },		/* unique, of channel_words */
	{ "frequency", check_frequency },	/* one of frequency_words */
	{ "quiet_hours", check_quiet_hours },	/* {start, end, tz} */
	{ "do_not_contact", check_bool },
};

static const struct member diet_members[] = {
	{ "vegetarian", check_bool },
	{ "vegan", check_bool },
	{ "halal", check_bool },
	{ "kosher", check_bool },
	{ "allergies", check_tags },		/* like interests */
};

static int
check_identity(struct vctx *c, const json_t *v)
{
	return check_fixed(c, v, identity_members, NELEM(identity_members));
}

static int
check_contact(struct vctx *c, const json_t *v)
{
	return check_fixed(c, v, contact_members, NELEM(contact_members));
}

static int
check_communication(struct vctx *c, const json_t *v)
{
	return check_fixed(c, v, communication_members,
	    NELEM(communication_members));
}

static int
check_language(struct vctx *c, const json_t *v)
{
	return check_syntax(c, v, is_langtag, "not a well-formed BCP 47 "
	    "language tag (such as en, en-GB, zh-Hant-TW)");
}

static int
check_sizes(struct vctx *c, const json_t *v)
{
	return check_map(c, v, MAP_STRING | MAP_NUMBER,
	    "must be a number or a string");
}

static int
check_diet(struct vctx *c, const json_t *v)
{
	return check_fixed(c, v, diet_members, NELEM(diet_members));
}

static int
check_accessibility(struct vctx *c, const json_t *v)
{
	return check_map(c, v, MAP_STRING | MAP_BOOL,
	    "must be true, false or a string");
}

static const struct member sections[] = {
	{ "identity", check_identity },		/* name, preferred_name, ... */
	{ "contact", check_contact },		/* email, phone, postal */
	{ "communication", check_communication }, /* channels, ... */
	{ "language", check_language },		/* BCP 47 tag */
	{ "interests", check_tags },		/* unique non-empty strings */
	{ "sizes", check_sizes },		/* numbers or strings */
	{ "diet", check_diet },			/* booleans, allergies */
	{ "accessibility", check_accessibility }, /* booleans or strings */
};

int
policy_profile_validate(const json_t *doc, char *why, size_t whycap)
{
	struct vctx c = { .len = 0, .why = why, .whycap = whycap };
	const char *key;
	size_t keylen;
	json_t *child;
	int rc;

	c.path[0] = '\0';
	if (why != NULL && whycap > 0)
		why[0] = '\0';
	if (doc == NULL)
		return fail(&c, "no document");
	if (!json_is_object(doc))
		return fail(&c, "must be a JSON object");
	json_object_keylen_foreach(unconst(doc), key, keylen, child) {
		size_t saved = path_push_key(&c, key, keylen);
		const struct member *s;

		if ((rc = check_key(&c, key, keylen)) != 0)
			return rc;
		if (json_is_null(child))
			return fail(&c, "null is not allowed");
		s = member_find(sections, NELEM(sections), key, keylen);
		rc = s != NULL ? s->check(&c, child) : check_any(&c, child, 2);
		if (rc != 0)
			return rc;
		path_pop(&c, saved);
	}
	return 0;
}
