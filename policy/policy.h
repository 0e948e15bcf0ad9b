/*
 * policy.h - pure rules about documents: input limits now, scopes and
 * projections as they come.
 *
 * Everything here is a pure function of its arguments: no I/O, no clock,
 * no globals, so it can be tested exhaustively.  It includes nothing of
 * the broker's other modules.
 *
 * Conventions: fallible functions return 0 or a negative POLICY_E_* code
 * (range -200..-299).
 */
#ifndef CCX_POLICY_H
#define CCX_POLICY_H

#include <stddef.h>

#include <jansson.h>

enum {
	POLICY_OK = 0,
	POLICY_E_DEPTH = -200,	 /* nested deeper than allowed */
	POLICY_E_MEMBERS = -201, /* an object or array has too many members */
	POLICY_E_TOTAL = -202,	 /* the document has too many values */
	POLICY_E_STRING = -203,	 /* a string value is too long */
	POLICY_E_KEY = -204,	 /* an object key is too long */
	POLICY_E_INVAL = -205,	 /* bad argument */
	POLICY_E_LOGIN = -206,	 /* login has a bad length or character */
	POLICY_E_WEAKPW = -207,	 /* password fails the password policy */
	POLICY_E_PROFILE = -208, /* profile document fails validation */
	POLICY_E_NOMEM = -209,	 /* allocation failed */
	POLICY_E_SCOPE = -210,	 /* malformed, empty or too many scopes */
};

/* Returns a static English description of a POLICY_E_* code. */
const char *policy_strerror(int err);

/* Limits on an untrusted JSON document; lengths are in bytes. */
struct policy_json_limits {
	unsigned max_depth;	/* nesting of objects and arrays */
	size_t max_members;	/* members of one object or array */
	size_t max_total;	/* values in the whole document */
	size_t max_string;	/* bytes of one string value */
	size_t max_key;		/* bytes of one object key */
};

/* The limits every JSON request body gets unless a route says otherwise. */
#define POLICY_JSON_LIMITS_DEFAULT                                           \
	{                                                                    \
		.max_depth = 16, .max_members = 256, .max_total = 4096,      \
		.max_string = 4096, .max_key = 64                            \
	}

/*
 * Scans raw JSON text for its nesting depth before any parser sees it, so
 * a document of a million '[' costs a linear scan and no allocation.
 * Brackets inside strings do not count.  0, or POLICY_E_DEPTH when
 * max_depth is exceeded; anything else malformed is left to the parser.
 */
int policy_json_depth(const char *buf, size_t len, unsigned max_depth);

/*
 * Checks a parsed document against every limit in lim.  0, or the
 * POLICY_E_* code of the first limit crossed; when path is non-NULL it
 * receives a JSON-Pointer-like location of the offence (NUL-terminated,
 * truncated to pathcap).
 */
int policy_json_check(const json_t *doc, const struct policy_json_limits *lim,
    char *path, size_t pathcap);

/* ---- accounts -------------------------------------------------------- */

#define POLICY_LOGIN_MIN 3
#define POLICY_LOGIN_MAX 64
#define POLICY_PASSWORD_MIN 12	/* Unicode code points */
#define POLICY_PASSWORD_MAX 256 /* bytes: bounds the hashing work */

/*
 * Normalises a login: ASCII letters folded to lower case; allowed are
 * a-z 0-9 and . _ @ + -, POLICY_LOGIN_MIN..POLICY_LOGIN_MAX characters.
 * out receives the NUL-terminated result.  0 or POLICY_E_LOGIN.
 */
int policy_login_normalize(const char *login, size_t len,
    char out[POLICY_LOGIN_MAX + 1]);

/*
 * The password policy, after NIST SP 800-63B: length first (at least
 * POLICY_PASSWORD_MIN code points, at most POLICY_PASSWORD_MAX bytes of
 * valid UTF-8), no composition rules; refused are passwords from a list of
 * the most common ones, a single repeated character, and ones containing
 * the login.  0 or POLICY_E_WEAKPW with a reason in *why (static string).
 */
int policy_password_check(const char *pw, size_t len, const char *login,
    const char **why);

/*
 * The purposes a grant may name (DESIGN section 5): service, marketing,
 * personalization, analytics, research.  0 or POLICY_E_INVAL.
 */
int policy_purpose_check(const char *purpose);

/*
 * A PKCE code_verifier or S256 code_challenge (RFC 7636 4.1, 4.2): 43 to
 * 128 of A-Z a-z 0-9 - . _ ~.  0 or POLICY_E_INVAL.
 */
int policy_pkce_check(const char *s, size_t len);

/* ---- what scopes mean, in plain words (labels.c) ----------------------- */

struct policy_field_label {
	const char *scope; /* "read:contact.email" */
	const char *label; /* "Your e-mail address" */
};

struct policy_section_label {
	const char *scope;
	const char *label;
	const struct policy_field_label *fields; /* ends with { NULL, NULL } */
};

/* The standard sections and their fields; ends with { NULL, NULL, NULL }. */
extern const struct policy_section_label policy_catalog[];

/* The label of a scope in the catalog, or NULL for any other scope. */
const char *policy_scope_label(const char *scope);

/* ---- profiles (profile.c, merge_patch.c) ------------------------------ */

/* Limits of a stored profile beyond the request-body limits. */
#define POLICY_PROFILE_MAX_DEPTH 8
#define POLICY_PROFILE_MAX_STRING 1024

/*
 * Validates a whole profile document (DESIGN section 5): a JSON object;
 * keys at every level match [a-z][a-z0-9_]{0,63}; arrays are leaves
 * (their items are strings, numbers or booleans, never objects or
 * arrays); no nulls; depth and string limits above; the standard sections
 * (identity, contact, communication, language, interests, sizes, diet,
 * accessibility) have the members and types of the table in DESIGN
 * section 5 (unknown members of a standard section are refused); other
 * sections are accepted within the limits.  0, or POLICY_E_PROFILE with a
 * human-readable reason naming the offending path in why.
 */
int policy_profile_validate(const json_t *doc, char *why, size_t whycap);

/*
 * Applies an RFC 7396 JSON merge patch to *target, replacing *target with
 * the result (the caller owns both before and after; the old root may be
 * released).  patch is borrowed.  0 or POLICY_E_NOMEM.
 */
int policy_merge_patch(json_t **target, const json_t *patch);

/* ---- scopes and projection (scope.c) ---------------------------------- */

/*
 * A scope is "read:" followed by a dotted path of profile keys
 * ("read:communication", "read:contact.email"), granting that subtree;
 * each key matches [a-z][a-z0-9_]{0,63}, at most POLICY_SCOPE_DEPTH keys.
 * There is no wildcard.  A scope set is kept normalised: sorted, without
 * duplicates, and without any path that a broader path in the set already
 * covers ("read:contact" absorbs "read:contact.email").
 */
#define POLICY_SCOPE_MAX 64  /* scopes in one set */
#define POLICY_SCOPE_DEPTH 8 /* keys in one path */
#define POLICY_SCOPE_LEN 600 /* bytes of one scope string */
/* Bytes of a set's canonical text: every token of a grant carries it. */
#define POLICY_SCOPE_TEXT 1536

struct policy_scopes; /* opaque, immutable once built */

/* An empty set.  Caller frees with policy_scopes_free(). */
struct policy_scopes *policy_scopes_new(void);

/* Frees a set; NULL ok. */
void policy_scopes_free(struct policy_scopes *s);

/*
 * Adds one scope string of len bytes (no NUL needed).  POLICY_E_SCOPE with
 * a reason in why (NULL allowed) when it is malformed or the set is full
 * (POLICY_SCOPE_MAX scopes, or POLICY_SCOPE_TEXT bytes of text); the set
 * is unchanged then.
 */
int policy_scopes_add(struct policy_scopes *s, const char *scope, size_t len,
    char *why, size_t whycap);

/*
 * Parses an OAuth "scope" parameter: scopes separated by single spaces
 * (RFC 6749 3.3).  An empty or all-blank text is POLICY_E_SCOPE.  Caller
 * frees *out.
 */
int policy_scopes_parse(const char *text, size_t len,
    struct policy_scopes **out, char *why, size_t whycap);

/* Number of scopes after normalisation. */
size_t policy_scopes_count(const struct policy_scopes *s);

/* The i-th scope string ("read:a.b"), borrowed; NULL past the end. */
const char *policy_scopes_get(const struct policy_scopes *s, size_t i);

/*
 * The canonical text: normalised scopes joined by single spaces.  Caller
 * frees with free(); NULL on allocation failure.
 */
char *policy_scopes_format(const struct policy_scopes *s);

/* 1 when every path of inner lies within some path of outer, else 0. */
int policy_scopes_covers(const struct policy_scopes *outer,
    const struct policy_scopes *inner);

/*
 * The set of subtrees both a and b grant: for each pair of paths where
 * one lies within the other, the narrower one.  May be empty.  Caller
 * frees *out.
 */
int policy_scopes_intersect(const struct policy_scopes *a,
    const struct policy_scopes *b, struct policy_scopes **out);

/*
 * Projects a profile on a scope set: a new object holding exactly the
 * granted subtrees that exist (a path through a missing member, an array
 * or a scalar yields nothing; ancestors are recreated as objects holding
 * only the granted children).  profile is borrowed and unchanged; the
 * result shares no mutable state with it.  When fields is non-NULL it
 * receives a new array of the scope paths (dotted, without "read:") that
 * matched data, for the audit trail.  NULL on allocation failure.
 */
json_t *policy_project(const json_t *profile, const struct policy_scopes *s,
    json_t **fields);

/*
 * The same projection computed on a profile's stored text (compact, keys
 * sorted, as json_dumps writes it) without building a tree: *out gets
 * exactly what serialising policy_project's result with those flags
 * gives, and *fields the JSON array text of the matched paths (both
 * NUL-terminated; free() them).  POLICY_E_INVAL when the text is not in
 * that form (use policy_project then), POLICY_E_NOMEM.
 */
int policy_project_text(const char *json, size_t len,
    const struct policy_scopes *s, char **out, size_t *outlen,
    char **fields, size_t *fields_len);

#endif /* CCX_POLICY_H */
