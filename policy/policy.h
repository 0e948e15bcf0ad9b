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

#endif /* CCX_POLICY_H */
