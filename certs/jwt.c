/*
 * jwt.c - JWT access tokens (RFC 9068 at+jwt) as JWS compact
 * serialisation signed with Ed25519 (RFC 8037 EdDSA): issuing and
 * verifying.
 *
 * Verification treats every byte of the token as hostile: the length is
 * capped before anything else, checks run cheapest first, the algorithm is
 * pinned to Ed25519 whatever the header says, and the signature is checked
 * before any claim is believed.  This file must never accept "none", an
 * HMAC or any other algorithm, never take a key from the token itself
 * (jwk, jku, x5u, x5c are ignored), never honour "crit", and never
 * allocate more than a small multiple of CERTS_JWT_MAX for one token.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "certs/certs.h"

#define JWT_KID_MAX 64	   /* longest kid accepted; ours are 43 */
#define JWT_JSON_DEPTH 16  /* nesting of header or claims; ours is 2 */

/*
 * Decoded header or payload: a part of a capped token decodes to at most
 * three quarters of its length, so this always suffices.
 */
#define JWT_PART_MAX (CERTS_JWT_MAX / 4 * 3 + 3)

/* The header this file writes: its two ends around the kid. */
#define JWT_HEADER_HEAD "{\"alg\":\"EdDSA\",\"kid\":\""
#define JWT_HEADER_TAIL "\",\"typ\":\"at+jwt\"}"

static const char jwt_header_fmt[] = JWT_HEADER_HEAD "%s" JWT_HEADER_TAIL;

static int
is_b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A kid we look up: 1..JWT_KID_MAX base64url characters. */
static int
kid_ok(const char *kid, size_t len)
{
	size_t i;

	if (len == 0 || len > JWT_KID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if (!is_b64url_char((unsigned char)kid[i]))
			return 0;
	}
	return 1;
}

/* ASCII-only, so the answer never depends on the locale. */
static int
ascii_caseeq(const char *a, size_t alen, const char *b)
{
	size_t i, blen = strlen(b);

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

/* v is a JSON string whose bytes are exactly s. */
static int
json_str_eq(const json_t *v, const char *s)
{
	size_t n = strlen(s);

	return json_is_string(v) && json_string_length(v) == n &&
	    memcmp(json_string_value(v), s, n) == 0;
}

/*
 * Hostile nesting must not reach jansson's recursive parser (its own
 * limit is 2048 levels); brackets inside strings do not count.
 */
static int
depth_ok(const unsigned char *buf, size_t len, unsigned max)
{
	unsigned depth = 0;
	int in_string = 0, escaped = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = buf[i];

		if (in_string) {
			if (escaped)
				escaped = 0;
			else if (c == '\\')
				escaped = 1;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return 0;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 1;
}

/*
 * Parses a decoded part as a JSON object, refusing duplicate members (two
 * "alg"s could be read differently elsewhere).
 */
static int
parse_object(const unsigned char *buf, size_t n, json_t **out)
{
	json_t *j;

	*out = NULL;
	if (!depth_ok(buf, n, JWT_JSON_DEPTH))
		return CERTS_E_JWT_FORMAT;
	/* No JSON_DECODE_ANY, no JSON_ALLOW_NUL: strings hold no NUL. */
	j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (j == NULL)
		return CERTS_E_JWT_FORMAT;
	if (!json_is_object(j)) {
		json_decref(j);
		return CERTS_E_JWT_FORMAT;
	}
	*out = j;
	return CERTS_OK;
}

/* Decodes one base64url part and parses it as a JSON object. */
static int
decode_object(const char *part, size_t len, unsigned char *buf, size_t cap,
    json_t **out)
{
	size_t n = 0;

	*out = NULL;
	if (certs_b64url_decode(part, len, buf, cap, &n) != 0)
		return CERTS_E_JWT_FORMAT;
	return parse_object(buf, n, out);
}

/*
 * The protected header: returns the kid (borrowed from hdr) through *kid.
 * Unknown members are ignored; none of them can select a key or change
 * what is signed, because crit is refused.
 */
static int
check_header(const json_t *hdr, const char **kid)
{
	const json_t *alg, *typ, *k;

	*kid = NULL;
	/* Pinned: an attacker-chosen alg is how "none" and HS256-with-
	 * the-public-key forgeries get in. */
	alg = json_object_get(hdr, "alg");
	if (!json_str_eq(alg, "EdDSA") && !json_str_eq(alg, "Ed25519"))
		return CERTS_E_JWT_ALG;
	/* crit names extensions we would have to understand (RFC 7515
	 * 4.1.11, e.g. b64:false changes the signing input): refuse. */
	if (json_object_get(hdr, "crit") != NULL)
		return CERTS_E_JWT_ALG;
	/* RFC 9068 2.1: an ID token or other JWT is not an access token. */
	typ = json_object_get(hdr, "typ");
	if (!json_is_string(typ))
		return CERTS_E_JWT_ALG;
	if (!ascii_caseeq(json_string_value(typ), json_string_length(typ),
		"at+jwt") &&
	    !ascii_caseeq(json_string_value(typ), json_string_length(typ),
		"application/at+jwt"))
		return CERTS_E_JWT_ALG;
	k = json_object_get(hdr, "kid");
	if (!json_is_string(k) ||
	    !kid_ok(json_string_value(k), json_string_length(k)))
		return CERTS_E_JWT_KID;
	*kid = json_string_value(k);
	return CERTS_OK;
}

/*
 * Decodes the header part.  A header that is byte for byte the one this
 * file writes (the kid between fixed ends, and a kid holds no quote or
 * backslash) says exactly what check_header would find, so it is not
 * parsed: its kid is copied out and *hdr stays NULL.  That spares a JSON
 * parse on every token not seen before.  Any other header is parsed into
 * *hdr, for check_header.
 */
static int
decode_header(const char *part, size_t len, unsigned char *buf, size_t cap,
    char kid[JWT_KID_MAX + 1], json_t **hdr)
{
	const size_t head = sizeof(JWT_HEADER_HEAD) - 1;
	const size_t tail = sizeof(JWT_HEADER_TAIL) - 1;
	size_t n = 0;

	kid[0] = '\0';
	*hdr = NULL;
	if (certs_b64url_decode(part, len, buf, cap, &n) != 0)
		return CERTS_E_JWT_FORMAT;
	if (n > head + tail && memcmp(buf, JWT_HEADER_HEAD, head) == 0 &&
	    memcmp(buf + n - tail, JWT_HEADER_TAIL, tail) == 0 &&
	    kid_ok((const char *)buf + head, n - head - tail)) {
		memcpy(kid, buf + head, n - head - tail);
		kid[n - head - tail] = '\0';
		return CERTS_OK;
	}
	return parse_object(buf, n, hdr);
}

/* aud is the expected string, or an array of strings holding it. */
static int
aud_ok(const json_t *aud, const char *want)
{
	const json_t *v;
	size_t i;
	int found = 0;

	if (json_is_string(aud))
		return json_str_eq(aud, want);
	if (!json_is_array(aud))
		return 0;
	json_array_foreach (aud, i, v) {
		if (!json_is_string(v))
			return 0;
		if (json_str_eq(v, want))
			found = 1;
	}
	return found;
}

/* leeway >= 0 (checked by the caller); saturate instead of wrapping. */
static int64_t
sat_sub(int64_t a, int64_t b)
{
	return a < INT64_MIN + b ? INT64_MIN : a - b;
}

static int64_t
sat_add(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Type checks first, so a malformed token never reports "expired". */
static int
check_claims(const json_t *c, const struct certs_jwt_expect *expect)
{
	const json_t *exp, *nbf, *iat;
	int64_t lo, hi;

	if (!json_str_eq(json_object_get(c, "iss"), expect->iss))
		return CERTS_E_JWT_CLAIMS;
	if (!aud_ok(json_object_get(c, "aud"), expect->aud))
		return CERTS_E_JWT_CLAIMS;
	exp = json_object_get(c, "exp");
	nbf = json_object_get(c, "nbf");
	iat = json_object_get(c, "iat");
	if (!json_is_integer(exp))
		return CERTS_E_JWT_CLAIMS;
	if ((nbf != NULL && !json_is_integer(nbf)) ||
	    (iat != NULL && !json_is_integer(iat)))
		return CERTS_E_JWT_CLAIMS;

	lo = sat_sub(expect->now, expect->leeway);
	hi = sat_add(expect->now, expect->leeway);
	if ((int64_t)json_integer_value(exp) <= lo)
		return CERTS_E_JWT_EXPIRED;
	if (nbf != NULL && (int64_t)json_integer_value(nbf) > hi)
		return CERTS_E_JWT_NOTYET;
	if (iat != NULL && (int64_t)json_integer_value(iat) > hi)
		return CERTS_E_JWT_NOTYET;
	return CERTS_OK;
}

int
certs_jwt_sign(const struct certs_signkey *key, const json_t *claims,
    char **out, size_t *outlen)
{
	char header[sizeof(jwt_header_fmt) + JWT_KID_MAX];
	uint8_t sig[CERTS_ED25519_SIG_LEN];
	const char *kid;
	char *payload = NULL, *buf = NULL;
	size_t hlen, plen, hb, pb, sb, total, pos;
	int n, rc = CERTS_E_INVAL;

	if (out == NULL)
		return CERTS_E_INVAL;
	*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	/* RFC 7519 7.2: the claims set must be a JSON object. */
	if (key == NULL || !json_is_object(claims))
		goto out;
	kid = certs_signkey_kid(key);
	if (kid == NULL || !kid_ok(kid, strlen(kid)))
		goto out;
	n = snprintf(header, sizeof(header), jwt_header_fmt, kid);
	if (n < 0 || (size_t)n >= sizeof(header))
		goto out;
	hlen = (size_t)n;

	rc = CERTS_E_NOMEM;
	payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	if (payload == NULL)
		goto out;
	plen = strlen(payload);

	/* reject before arithmetic: each length saturates at SIZE_MAX and
	 * the sum may wrap */
	rc = CERTS_E_INVAL;
	hb = certs_b64url_len(hlen);
	pb = certs_b64url_len(plen);
	sb = certs_b64url_len(CERTS_ED25519_SIG_LEN);
	if (hb > CERTS_JWT_MAX || pb > CERTS_JWT_MAX)
		goto out;
	total = hb + 1 + pb + 1 + sb;
	/* A token no verifier here would accept is a caller bug. */
	if (total > CERTS_JWT_MAX)
		goto out;

	rc = CERTS_E_NOMEM;
	buf = malloc(total + 1);
	if (buf == NULL)
		goto out;
	rc = certs_b64url_encode(header, hlen, buf, total + 1);
	if (rc != 0)
		goto out;
	pos = hb;
	buf[pos++] = '.';
	rc = certs_b64url_encode(payload, plen, buf + pos, total + 1 - pos);
	if (rc != 0)
		goto out;
	pos += pb;
	rc = certs_sign(key, buf, pos, sig);
	if (rc != 0)
		goto out;
	buf[pos++] = '.';
	rc = certs_b64url_encode(sig, sizeof(sig), buf + pos, total + 1 - pos);
	if (rc != 0)
		goto out;
	*out = buf;
	if (outlen != NULL)
		*outlen = total;
	buf = NULL;
out:
	free(buf);
	free(payload);
	return rc;
}

int
certs_jwt_verify(const char *jwt, size_t len, certs_jwt_key_fn key_fn,
    void *arg, const struct certs_jwt_expect *expect, json_t **claims)
{
	unsigned char dec[JWT_PART_MAX];
	uint8_t sig[CERTS_ED25519_SIG_LEN];
	char kid[JWT_KID_MAX + 1];
	json_t *hdr = NULL, *payload = NULL;
	const struct certs_signkey *key;
	const char *dot1, *dot2;
	size_t hl, pl, sl, n = 0;
	int rc = CERTS_E_INVAL;

	if (claims == NULL)
		return CERTS_E_INVAL;
	*claims = NULL;
	if (key_fn == NULL || expect == NULL || expect->iss == NULL ||
	    expect->aud == NULL || expect->leeway < 0 ||
	    (jwt == NULL && len > 0))
		return CERTS_E_INVAL;

	/* Cap first: nothing below may scale with an attacker's length. */
	if (len == 0 || len > CERTS_JWT_MAX)
		return CERTS_E_JWT_FORMAT;

	/* Exactly two dots; memchr, not strchr: jwt need not be a string. */
	dot1 = memchr(jwt, '.', len);
	if (dot1 == NULL)
		return CERTS_E_JWT_FORMAT;
	hl = (size_t)(dot1 - jwt);
	dot2 = memchr(dot1 + 1, '.', len - hl - 1);
	if (dot2 == NULL)
		return CERTS_E_JWT_FORMAT;
	pl = (size_t)(dot2 - dot1 - 1);
	sl = len - hl - 1 - pl - 1;
	if (memchr(dot2 + 1, '.', sl) != NULL)
		return CERTS_E_JWT_FORMAT;
	if (hl == 0 || pl == 0 || sl == 0)
		return CERTS_E_JWT_FORMAT;

	/* Exactly one Ed25519 signature, in its one canonical spelling. */
	if (sl != certs_b64url_len(sizeof(sig)) ||
	    certs_b64url_decode(dot2 + 1, sl, sig, sizeof(sig), &n) != 0 ||
	    n != sizeof(sig))
		return CERTS_E_JWT_FORMAT;

	rc = decode_header(jwt, hl, dec, sizeof(dec), kid, &hdr);
	if (rc != 0)
		goto out;
	rc = decode_object(dot1 + 1, pl, dec, sizeof(dec), &payload);
	if (rc != 0)
		goto out;

	if (hdr != NULL) {
		const char *k;

		if ((rc = check_header(hdr, &k)) != 0)
			goto out;
		memcpy(kid, k, strlen(k) + 1); /* kid_ok: fits */
	}
	/* Unknown kid: no fallback to "try every key". */
	rc = CERTS_E_JWT_KID;
	key = key_fn(arg, kid);
	if (key == NULL)
		goto out;
	/* The signing input is the token's own bytes, never a re-encoding. */
	rc = certs_verify(key, jwt, (size_t)(dot2 - jwt), sig);
	if (rc != 0) {
		/* A failed allocation is ours, not the token's fault. */
		if (rc != CERTS_E_NOMEM)
			rc = CERTS_E_BADSIG;
		goto out;
	}

	rc = check_claims(payload, expect);
	if (rc != 0)
		goto out;
	*claims = payload;
	payload = NULL;
out:
	json_decref(payload);
	json_decref(hdr);
	return rc;
}
