/*
 * test_jwt.c - unit tests of the JWT access tokens in certs/jwt.c: the
 * exact bytes of what certs_jwt_sign produces, round trips, a table of
 * hostile and malformed tokens each with its exact error code, the
 * length cap, clock edges, and an independent vector made with the
 * RFC 8037 appendix A key by another Ed25519 implementation.
 *
 * Tokens for the table are assembled here by hand (base64url of chosen
 * header and payload text, signed with certs_sign) so that every field a
 * verifier reads can be set to a hostile value under a valid signature.
 * Every test frees what it allocates, so the binary stays clean under
 * valgrind and ASan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "certs/certs.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define ISS "https://broker.example"
#define NOW INT64_C(1700000000)
#define TOKCAP 8192

/* The standard claims: valid at NOW with any leeway. */
#define STD_PAYLOAD                                                          \
	"{\"aud\":\"" ISS "\",\"exp\":1700003600,\"iat\":1700000000,"        \
	"\"iss\":\"" ISS "\",\"nbf\":1700000000,\"sub\":\"c1\"}"

/* Header templates: $K is replaced by the signing key's kid. */
#define STD_HEADER "{\"alg\":\"EdDSA\",\"kid\":\"$K\",\"typ\":\"at+jwt\"}"

/* ---- fixture ------------------------------------------------------------ */

static struct certs_signkey *g_key;   /* signs the table's tokens */
static struct certs_signkey *g_other; /* unrelated: its kid is unknown */
static char g_dir[] = "/tmp/ccx-test-jwt-XXXXXX";

/* What the verifier may look up, and what it asked for. */
struct ring {
	const struct certs_signkey *keys[2];
	size_t n;
	int lookups;
	char last_kid[128];
};

static const struct certs_signkey *
ring_lookup(void *arg, const char *kid)
{
	struct ring *r = arg;
	size_t i, kl = strlen(kid);

	r->lookups++;
	if (kl < sizeof(r->last_kid))
		memcpy(r->last_kid, kid, kl + 1);
	for (i = 0; i < r->n; i++) {
		if (strcmp(certs_signkey_kid(r->keys[i]), kid) == 0)
			return r->keys[i];
	}
	return NULL;
}

static int
group_setup(void **state)
{
	(void)state;
	if (certs_signkey_generate(&g_key) != 0 ||
	    certs_signkey_generate(&g_other) != 0)
		return -1;
	if (strcmp(certs_signkey_kid(g_key), certs_signkey_kid(g_other)) == 0)
		return -1;
	return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	certs_signkey_free(g_key);
	certs_signkey_free(g_other);
	(void)rmdir(g_dir);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* Appends the base64url of in[0..len) at out + *pos. */
static void
put_b64(char *out, size_t cap, size_t *pos, const void *in, size_t len)
{
	assert_true(*pos < cap);
	assert_int_equal(certs_b64url_encode(in, len, out + *pos, cap - *pos),
	    0);
	*pos += strlen(out + *pos);
}

static void
put_str(char *out, size_t cap, size_t *pos, const char *s)
{
	size_t n = strlen(s);

	assert_true(*pos + n < cap);
	memcpy(out + *pos, s, n + 1);
	*pos += n;
}

/* Copies tmpl into out with every "$K" replaced by kid. */
static void
expand(const char *tmpl, const char *kid, char *out, size_t cap)
{
	size_t o = 0, kl = strlen(kid);

	while (*tmpl != '\0') {
		if (tmpl[0] == '$' && tmpl[1] == 'K') {
			assert_true(o + kl < cap);
			memcpy(out + o, kid, kl);
			o += kl;
			tmpl += 2;
			continue;
		}
		assert_true(o + 1 < cap);
		out[o++] = *tmpl++;
	}
	out[o] = '\0';
}

/*
 * Builds "<b64 header>.<b64 payload>.<b64 sig>" with header and payload
 * taken verbatim, signed by signer.  Returns the length.
 */
static size_t
build(char *out, size_t cap, const struct certs_signkey *signer,
    const char *header, const char *payload)
{
	uint8_t sig[CERTS_ED25519_SIG_LEN];
	size_t pos = 0;

	put_b64(out, cap, &pos, header, strlen(header));
	put_str(out, cap, &pos, ".");
	put_b64(out, cap, &pos, payload, strlen(payload));
	assert_int_equal(certs_sign(signer, out, pos, sig), 0);
	put_str(out, cap, &pos, ".");
	put_b64(out, cap, &pos, sig, sizeof(sig));
	return pos;
}

/* The offset of the n-th (1-based) '.' of tok. */
static size_t
dot(const char *tok, int n)
{
	const char *p = tok;

	for (;;) {
		p = strchr(p, '.');
		assert_non_null(p);
		if (--n == 0)
			return (size_t)(p - tok);
		p++;
	}
}

/* Decodes part [from, to) of tok as a NUL-terminated string. */
static void
decode_part(const char *tok, size_t from, size_t to, char *out, size_t cap)
{
	size_t n = 0;

	assert_int_equal(
	    certs_b64url_decode(tok + from, to - from, out, cap - 1, &n), 0);
	out[n] = '\0';
}

static int
verify_at(const char *tok, size_t len, struct ring *r, int64_t now,
    int64_t leeway, json_t **claims)
{
	const struct certs_jwt_expect ex = {
	    .iss = ISS, .aud = ISS, .now = now, .leeway = leeway};

	return certs_jwt_verify(tok, len, ring_lookup, r, &ex, claims);
}

/* Verifies with g_key known; asserts the out-parameter contract. */
static int
verify(const char *tok, size_t len, int64_t leeway)
{
	struct ring r = {.keys = {g_key}, .n = 1};
	json_t *claims = json_null(); /* must be cleared on failure */
	int rc;

	rc = verify_at(tok, len, &r, NOW, leeway, &claims);
	if (rc == 0) {
		assert_true(json_is_object(claims));
		json_decref(claims);
	} else {
		assert_null(claims);
	}
	return rc;
}

/* ---- sign: exact output ------------------------------------------------- */

static void
test_sign_header_bytes(void **state)
{
	char want[128], got[256];
	char *tok = NULL;
	size_t len = 0;
	int n;
	json_t *c = json_pack("{s:s}", "sub", "x");

	(void)state;
	assert_non_null(c);
	assert_int_equal(certs_jwt_sign(g_key, c, &tok, &len), 0);
	assert_non_null(tok);
	assert_int_equal(len, strlen(tok));
	n = snprintf(want, sizeof(want),
	    "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}",
	    certs_signkey_kid(g_key));
	assert_true(n > 0 && (size_t)n < sizeof(want));
	decode_part(tok, 0, dot(tok, 1), got, sizeof(got));
	assert_string_equal(got, want);
	/* three parts, the last exactly one 64-byte signature */
	assert_null(strchr(tok + dot(tok, 2) + 1, '.'));
	assert_int_equal(len - dot(tok, 2) - 1, 86);
	assert_null(strchr(tok, '='));
	free(tok);
	json_decref(c);
}

static void
test_sign_payload_bytes(void **state)
{
	char got[512];
	char *tok = NULL;
	size_t len = 0;
	/* inserted out of order: the payload must come out sorted, compact */
	json_t *c = json_pack("{s:s, s:I, s:s, s:{s:s}, s:[s,s]}", "sub", "a b",
	    "exp", (json_int_t)1700003600, "iss", ISS, "cnf", "x5t#S256",
	    "h/+", "aud", ISS, "other");

	(void)state;
	assert_non_null(c);
	assert_int_equal(certs_jwt_sign(g_key, c, &tok, &len), 0);
	decode_part(tok, dot(tok, 1) + 1, dot(tok, 2), got, sizeof(got));
	assert_string_equal(got,
	    "{\"aud\":[\"" ISS "\",\"other\"],\"cnf\":{\"x5t#S256\":\"h/+\"},"
	    "\"exp\":1700003600,\"iss\":\"" ISS "\",\"sub\":\"a b\"}");
	free(tok);
	json_decref(c);
}

static void
test_sign_signature_verifies(void **state)
{
	uint8_t sig[CERTS_ED25519_SIG_LEN];
	char *tok = NULL;
	size_t len = 0, n = 0, d2;
	json_t *c = json_pack("{s:s}", "sub", "x");

	(void)state;
	assert_int_equal(certs_jwt_sign(g_key, c, &tok, &len), 0);
	d2 = dot(tok, 2);
	assert_int_equal(certs_b64url_decode(tok + d2 + 1, len - d2 - 1, sig,
			     sizeof(sig), &n),
	    0);
	assert_int_equal(n, sizeof(sig));
	assert_int_equal(certs_verify(g_key, tok, d2, sig), 0);
	assert_int_equal(certs_verify(g_other, tok, d2, sig), CERTS_E_BADSIG);
	free(tok);
	json_decref(c);
}

static void
test_sign_rejects(void **state)
{
	struct certs_signkey *pub = NULL;
	uint8_t raw[CERTS_ED25519_PUB_LEN];
	static char stale[] = "stale";
	char *tok = stale; /* must be overwritten */
	size_t len = 99;
	json_t *obj = json_pack("{s:s}", "sub", "x");
	json_t *arr = json_pack("[s]", "x");

	(void)state;
	assert_int_equal(certs_jwt_sign(g_key, obj, NULL, &len),
	    CERTS_E_INVAL);
	assert_int_equal(certs_jwt_sign(NULL, obj, &tok, &len), CERTS_E_INVAL);
	assert_null(tok);
	assert_int_equal(len, 0);
	tok = stale;
	assert_int_equal(certs_jwt_sign(g_key, NULL, &tok, &len),
	    CERTS_E_INVAL);
	assert_null(tok);
	/* a claims set is an object (RFC 7519 section 7.2) */
	assert_int_equal(certs_jwt_sign(g_key, arr, &tok, &len), CERTS_E_INVAL);
	assert_null(tok);
	/* a verify-only key cannot sign */
	certs_signkey_public(g_key, raw);
	assert_int_equal(certs_signkey_from_public(raw, &pub), 0);
	assert_int_equal(certs_jwt_sign(pub, obj, &tok, &len), CERTS_E_INVAL);
	assert_null(tok);
	assert_int_equal(len, 0);
	/* outlen is optional */
	assert_int_equal(certs_jwt_sign(g_key, obj, &tok, NULL), 0);
	assert_non_null(tok);
	free(tok);
	certs_signkey_free(pub);
	json_decref(obj);
	json_decref(arr);
}

/*
 * Sign refuses what verify would refuse for length, and the largest token
 * it does produce verifies.
 */
static void
test_sign_length_cap(void **state)
{
	static char filler[CERTS_JWT_MAX];
	char *tok = NULL;
	size_t len = 0, best = 0, n;
	int rc;

	(void)state;
	memset(filler, 'f', sizeof(filler) - 1);
	for (n = 2800; n < sizeof(filler); n++) {
		json_t *c = json_pack("{s:s, s:s, s:I, s:s#}", "iss", ISS,
		    "aud", ISS, "exp", (json_int_t)(NOW + 60), "pad", filler,
		    (int)n);

		assert_non_null(c);
		rc = certs_jwt_sign(g_key, c, &tok, &len);
		json_decref(c);
		if (rc != 0) {
			assert_int_equal(rc, CERTS_E_INVAL);
			assert_null(tok);
			break;
		}
		assert_true(len <= CERTS_JWT_MAX);
		assert_int_equal(verify(tok, len, 0), 0);
		best = len;
		free(tok);
		tok = NULL;
	}
	/* the payload grows by 1 or 2 characters a byte */
	assert_true(best >= CERTS_JWT_MAX - 1);
	assert_true(n < sizeof(filler));
}

/* ---- verify: accepted tokens -------------------------------------------- */

static void
test_roundtrip(void **state)
{
	struct ring r = {.keys = {g_other, g_key}, .n = 2};
	json_t *c, *got = NULL;
	char *tok = NULL;
	size_t len = 0;

	(void)state;
	c = json_pack("{s:s, s:[s,s], s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s,"
		      " s:{s:s}}",
	    "iss", ISS, "aud", "https://elsewhere.example", ISS, "sub",
	    "pairwise-\xc3\xa9", "client_id", "c1", "grant_id", "g1", "scope",
	    "profile:read email", "iat", (json_int_t)NOW, "nbf",
	    (json_int_t)NOW, "exp", (json_int_t)(NOW + 3600), "jti", "j1",
	    "cnf", "x5t#S256", "abc");
	assert_non_null(c);
	assert_int_equal(certs_jwt_sign(g_key, c, &tok, &len), 0);
	assert_int_equal(verify_at(tok, len, &r, NOW, 0, &got), 0);
	assert_non_null(got);
	assert_true(json_equal(c, got));
	/* the verifier asked for exactly the header's kid */
	assert_int_equal(r.lookups, 1);
	assert_string_equal(r.last_kid, certs_signkey_kid(g_key));
	json_decref(got);

	/* a NUL-terminated buffer is not required: len is the token */
	{
		char *copy = malloc(len);

		assert_non_null(copy);
		memcpy(copy, tok, len);
		assert_int_equal(verify(copy, len, 0), 0);
		free(copy);
	}
	free(tok);
	json_decref(c);
}

/* RFC 9864 names the algorithm "Ed25519"; accept it on input. */
static void
test_alg_ed25519_accepted(void **state)
{
	char hdr[256], tok[TOKCAP];
	size_t len;

	(void)state;
	expand("{\"alg\":\"Ed25519\",\"kid\":\"$K\",\"typ\":\"at+jwt\"}",
	    certs_signkey_kid(g_key), hdr, sizeof(hdr));
	len = build(tok, sizeof(tok), g_key, hdr, STD_PAYLOAD);
	assert_int_equal(verify(tok, len, 0), 0);
}

/* ---- verify: the rejection table --------------------------------------- */

enum mut {
	M_NONE,
	M_FLIP_SIG,	  /* one bit of the decoded signature */
	M_TRUNC_SIG,	  /* last character dropped */
	M_TRUNC_SIG4,	  /* last four characters dropped: 61 bytes */
	M_LONG_SIG,	  /* two more characters */
	M_PAD_SIG,	  /* "==" appended */
	M_PAD_HEADER,	  /* standard base64 padding on the header */
	M_PAD_PAYLOAD,	  /* ... and on the payload */
	M_STDB64_SIG,	  /* signature in the '+' '/' alphabet */
	M_BADCHAR_HEADER, /* '+' in the header */
	M_BADCHAR_PAYLOAD, /* '/' in the payload */
	M_SPACE_SIG,	  /* a space inside the signature */
	M_NUL,		  /* a NUL byte inside the counted length */
	M_OTHER_KEY,	  /* signed by g_other, kid still g_key's */
	M_ALG_NONE_EMPTY, /* header re-encoded with alg none, no signature */
	M_ALG_NONE_KEEP,  /* header re-encoded with alg none, old signature */
	M_ALT_PAYLOAD,	  /* payload replaced after signing */
	M_ALT_HEADER,	  /* header re-spelled (same JSON) after signing */
	M_TWO_PARTS,	  /* signature and its dot removed */
	M_FOUR_PARTS,	  /* ".AAAA" appended */
	M_TRAIL_DOT,	  /* "." appended */
	M_EMPTY_HEADER,	  /* ".payload.sig" */
	M_EMPTY_PAYLOAD,  /* "header..sig" */
	M_TOO_LONG,	  /* CERTS_JWT_MAX + 1 bytes */
};

struct row {
	const char *name;
	const char *raw;     /* used verbatim, nothing built */
	const char *header;  /* template; NULL: STD_HEADER */
	const char *payload; /* NULL: STD_PAYLOAD */
	int64_t leeway;
	enum mut mut;
	int rc;
};

#define KID16 "AAAAAAAAAAAAAAAA"
#define KID64 KID16 KID16 KID16 KID16
#define KID65 KID64 "A"
#define HDR(alg_typ) "{" alg_typ ",\"kid\":\"$K\"}"
#define HKID(kid) "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":" kid "}"
#define PL(members) "{\"sub\":\"c1\"" members "}"
#define ISSAUD ",\"iss\":\"" ISS "\",\"aud\":\"" ISS "\""
#define EXP_OK ",\"exp\":1700003600"

static const struct row rows[] = {
    /* shape */
    {.name = "empty", .raw = "", .rc = CERTS_E_JWT_FORMAT},
    {.name = "one part", .raw = "abcd", .rc = CERTS_E_JWT_FORMAT},
    {.name = "two parts raw", .raw = "e30.e30", .rc = CERTS_E_JWT_FORMAT},
    {.name = "four parts raw", .raw = "e30.e30.e30.e30",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "dots only", .raw = "..", .rc = CERTS_E_JWT_FORMAT},
    {.name = "empty header raw", .raw = ".e30.e30", .rc = CERTS_E_JWT_FORMAT},
    {.name = "empty signature raw", .raw = "e30.e30.",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "too long", .mut = M_TOO_LONG, .rc = CERTS_E_JWT_FORMAT},
    {.name = "two parts", .mut = M_TWO_PARTS, .rc = CERTS_E_JWT_FORMAT},
    {.name = "four parts", .mut = M_FOUR_PARTS, .rc = CERTS_E_JWT_FORMAT},
    {.name = "trailing dot", .mut = M_TRAIL_DOT, .rc = CERTS_E_JWT_FORMAT},
    {.name = "empty header", .mut = M_EMPTY_HEADER,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "empty payload", .mut = M_EMPTY_PAYLOAD,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "nul byte", .mut = M_NUL, .rc = CERTS_E_JWT_FORMAT},

    /* base64url */
    {.name = "'+' in header", .mut = M_BADCHAR_HEADER,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "'/' in payload", .mut = M_BADCHAR_PAYLOAD,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "space in signature", .mut = M_SPACE_SIG,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "signature in base64 alphabet", .mut = M_STDB64_SIG,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "padded header", .mut = M_PAD_HEADER, .rc = CERTS_E_JWT_FORMAT},
    {.name = "padded payload", .mut = M_PAD_PAYLOAD,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "padded signature", .mut = M_PAD_SIG, .rc = CERTS_E_JWT_FORMAT},

    /* JSON */
    {.name = "header not JSON", .header = "not json",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "header array", .header = "[\"EdDSA\"]",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "header string", .header = "\"EdDSA\"",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "header trailing bytes", .header = STD_HEADER "x",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "header two objects", .header = STD_HEADER "{}",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "header duplicate alg",
	.header = "{\"alg\":\"EdDSA\",\"alg\":\"none\",\"kid\":\"$K\","
		  "\"typ\":\"at+jwt\"}",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "header duplicate kid",
	.header = "{\"alg\":\"EdDSA\",\"kid\":\"$K\",\"kid\":\"$K\","
		  "\"typ\":\"at+jwt\"}",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "header nested 17 deep",
	.header = "{\"alg\":\"EdDSA\",\"kid\":\"$K\",\"typ\":\"at+jwt\","
		  "\"x\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "header brackets in a string are not depth",
	.header = "{\"alg\":\"EdDSA\",\"kid\":\"$K\",\"typ\":\"at+jwt\","
		  "\"x\":\"\\\"[[[[[[[[[[[[[[[[[[[[\"}",
	.rc = 0},
    {.name = "header \\u0000 in kid",
	.header = "{\"alg\":\"EdDSA\",\"kid\":\"$K\\u0000x\","
		  "\"typ\":\"at+jwt\"}",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "payload not JSON", .payload = "Example of Ed25519 signing",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "payload array", .payload = "[" STD_PAYLOAD "]",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "payload duplicate iss",
	.payload = PL(ISSAUD EXP_OK ",\"iss\":\"" ISS "\""),
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "payload duplicate exp",
	.payload = PL(ISSAUD EXP_OK ",\"exp\":1"), .rc = CERTS_E_JWT_FORMAT},
    {.name = "payload exp beyond int64",
	.payload = PL(ISSAUD ",\"exp\":99999999999999999999"),
	.rc = CERTS_E_JWT_FORMAT},

    /* The broker's own header bytes are not parsed; the same two ends
     * around anything but a kid must be. */
    {.name = "own header, member smuggled in the kid",
	.header = "{\"alg\":\"EdDSA\",\"kid\":\"$K\",\"alg\":\"none\","
		  "\"typ\":\"at+jwt\"}",
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "own header, crit smuggled in the kid",
	.header = "{\"alg\":\"EdDSA\",\"kid\":\"$K\",\"crit\":[\"b64\"],"
		  "\"x\":\"\",\"typ\":\"at+jwt\"}",
	.rc = CERTS_E_JWT_ALG},
    {.name = "own header, empty kid",
	.header = "{\"alg\":\"EdDSA\",\"kid\":\"\",\"typ\":\"at+jwt\"}",
	.rc = CERTS_E_JWT_KID},
    {.name = "own header, kid of 65 characters",
	.header = "{\"alg\":\"EdDSA\",\"kid\":\"$K"
		  "0123456789012345678901\",\"typ\":\"at+jwt\"}",
	.rc = CERTS_E_JWT_KID},

    /* alg, crit, typ */
    {.name = "alg none", .header = HDR("\"alg\":\"none\",\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg HS256",
	.header = HDR("\"alg\":\"HS256\",\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg ES256",
	.header = HDR("\"alg\":\"ES256\",\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg RS256",
	.header = HDR("\"alg\":\"RS256\",\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg missing", .header = HDR("\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg number", .header = HDR("\"alg\":1,\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg null", .header = HDR("\"alg\":null,\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg array",
	.header = HDR("\"alg\":[\"EdDSA\"],\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg lower case",
	.header = HDR("\"alg\":\"eddsa\",\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg trailing space",
	.header = HDR("\"alg\":\"EdDSA \",\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg Ed448", .header = HDR("\"alg\":\"Ed448\",\"typ\":\"at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "alg Ed25519",
	.header = HDR("\"alg\":\"Ed25519\",\"typ\":\"at+jwt\""), .rc = 0},
    {.name = "crit present",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"at+jwt\","
		      "\"crit\":[\"exp\"]"),
	.rc = CERTS_E_JWT_ALG},
    {.name = "crit empty",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"crit\":[]"),
	.rc = CERTS_E_JWT_ALG},
    {.name = "crit null",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"crit\":null"),
	.rc = CERTS_E_JWT_ALG},
    {.name = "b64 false with crit",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"b64\":false,"
		      "\"crit\":[\"b64\"]"),
	.rc = CERTS_E_JWT_ALG},
    {.name = "typ JWT", .header = HDR("\"alg\":\"EdDSA\",\"typ\":\"JWT\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "typ missing", .header = HDR("\"alg\":\"EdDSA\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "typ number", .header = HDR("\"alg\":\"EdDSA\",\"typ\":1"),
	.rc = CERTS_E_JWT_ALG},
    {.name = "typ application/jwt",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"application/jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "typ with parameter",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"at+jwt;q=1\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "typ other prefix",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"text/at+jwt\""),
	.rc = CERTS_E_JWT_ALG},
    {.name = "typ upper case",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"AT+JWT\""), .rc = 0},
    {.name = "typ application/at+jwt",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"application/at+jwt\""),
	.rc = 0},
    {.name = "typ mixed case with prefix",
	.header = HDR("\"alg\":\"EdDSA\",\"typ\":\"Application/At+JWT\""),
	.rc = 0},
    {.name = "alg checked before kid",
	.header = "{\"alg\":\"none\",\"typ\":\"at+jwt\"}",
	.rc = CERTS_E_JWT_ALG},

    /* kid */
    {.name = "kid missing", .header = "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}",
	.rc = CERTS_E_JWT_KID},
    {.name = "kid empty", .header = HKID("\"\""), .rc = CERTS_E_JWT_KID},
    {.name = "kid 65 characters", .header = HKID("\"" KID65 "\""),
	.rc = CERTS_E_JWT_KID},
    {.name = "kid 64 characters unknown", .header = HKID("\"" KID64 "\""),
	.rc = CERTS_E_JWT_KID},
    {.name = "kid with '+'", .header = HKID("\"ab+c\""),
	.rc = CERTS_E_JWT_KID},
    {.name = "kid with '/'", .header = HKID("\"../../etc/passwd\""),
	.rc = CERTS_E_JWT_KID},
    {.name = "kid with space", .header = HKID("\"a b\""),
	.rc = CERTS_E_JWT_KID},
    {.name = "kid with padding", .header = HKID("\"$K=\""),
	.rc = CERTS_E_JWT_KID},
    {.name = "kid non-ASCII", .header = HKID("\"\\u00e9\""),
	.rc = CERTS_E_JWT_KID},
    {.name = "kid number", .header = HKID("1"), .rc = CERTS_E_JWT_KID},
    {.name = "kid null", .header = HKID("null"), .rc = CERTS_E_JWT_KID},
    {.name = "kid unknown",
	.header = HKID("\"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k\""),
	.rc = CERTS_E_JWT_KID},
    {.name = "kid members reordered", .header = HKID("\"$K\""), .rc = 0},

    /* signature */
    {.name = "signature bit flipped", .mut = M_FLIP_SIG,
	.rc = CERTS_E_BADSIG},
    {.name = "signature truncated by one", .mut = M_TRUNC_SIG,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "signature truncated to 61 bytes", .mut = M_TRUNC_SIG4,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "signature too long", .mut = M_LONG_SIG,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "signature from the other key", .mut = M_OTHER_KEY,
	.rc = CERTS_E_BADSIG},
    {.name = "alg none, empty signature", .mut = M_ALG_NONE_EMPTY,
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "alg none, original signature", .mut = M_ALG_NONE_KEEP,
	.rc = CERTS_E_JWT_ALG},
    {.name = "payload altered after signing", .mut = M_ALT_PAYLOAD,
	.rc = CERTS_E_BADSIG},
    {.name = "header re-spelled after signing", .mut = M_ALT_HEADER,
	.rc = CERTS_E_BADSIG},
    {.name = "embedded jwk is not trusted",
	.header = "{\"alg\":\"EdDSA\",\"kid\":\"$K\",\"typ\":\"at+jwt\","
		  "\"jwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}}",
	.mut = M_OTHER_KEY, .rc = CERTS_E_BADSIG},
    {.name = "signature checked before claims", .payload = PL(EXP_OK),
	.mut = M_OTHER_KEY, .rc = CERTS_E_BADSIG},

    /* iss and aud */
    {.name = "iss wrong",
	.payload = PL(",\"iss\":\"https://evil.example\",\"aud\":\"" ISS
		      "\"" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "iss with trailing slash",
	.payload = PL(",\"iss\":\"" ISS "/\",\"aud\":\"" ISS "\"" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "iss prefix only",
	.payload = PL(",\"iss\":\"https://broker\",\"aud\":\"" ISS "\"" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "iss missing", .payload = PL(",\"aud\":\"" ISS "\"" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "iss number",
	.payload = PL(",\"iss\":1,\"aud\":\"" ISS "\"" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "iss array",
	.payload = PL(",\"iss\":[\"" ISS "\"],\"aud\":\"" ISS "\"" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "aud wrong",
	.payload = PL(",\"iss\":\"" ISS "\",\"aud\":\"https://rs.example\""
		      EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "aud missing", .payload = PL(",\"iss\":\"" ISS "\"" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "aud number",
	.payload = PL(",\"iss\":\"" ISS "\",\"aud\":7" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "aud array with the value",
	.payload = PL(",\"iss\":\"" ISS "\",\"aud\":[\"https://rs.example\","
		      "\"" ISS "\"]" EXP_OK),
	.rc = 0},
    {.name = "aud array without the value",
	.payload = PL(",\"iss\":\"" ISS "\",\"aud\":[\"https://rs.example\","
		      "\"" ISS "/\"]" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "aud empty array",
	.payload = PL(",\"iss\":\"" ISS "\",\"aud\":[]" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "aud array with a non-string",
	.payload = PL(",\"iss\":\"" ISS "\",\"aud\":[1,\"" ISS "\"]" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "aud nested array",
	.payload = PL(",\"iss\":\"" ISS "\",\"aud\":[[\"" ISS "\"]]" EXP_OK),
	.rc = CERTS_E_JWT_CLAIMS},

    /* exp, nbf, iat (NOW is 1700000000) */
    {.name = "exp missing", .payload = PL(ISSAUD), .rc = CERTS_E_JWT_CLAIMS},
    {.name = "exp string", .payload = PL(ISSAUD ",\"exp\":\"1700003600\""),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "exp real", .payload = PL(ISSAUD ",\"exp\":1700003600.0"),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "exp exponent", .payload = PL(ISSAUD ",\"exp\":2e9"),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "exp true", .payload = PL(ISSAUD ",\"exp\":true"),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "exp null", .payload = PL(ISSAUD ",\"exp\":null"),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "exp past", .payload = PL(ISSAUD ",\"exp\":1699996400"),
	.leeway = 60, .rc = CERTS_E_JWT_EXPIRED},
    {.name = "exp exactly now, leeway 0",
	.payload = PL(ISSAUD ",\"exp\":1700000000"), .rc = CERTS_E_JWT_EXPIRED},
    {.name = "exp now + 1, leeway 0",
	.payload = PL(ISSAUD ",\"exp\":1700000001"), .rc = 0},
    {.name = "exp within leeway", .payload = PL(ISSAUD ",\"exp\":1699999970"),
	.leeway = 60, .rc = 0},
    {.name = "exp at now - leeway", .payload = PL(ISSAUD ",\"exp\":1699999940"),
	.leeway = 60, .rc = CERTS_E_JWT_EXPIRED},
    {.name = "exp one second inside leeway",
	.payload = PL(ISSAUD ",\"exp\":1699999941"), .leeway = 60, .rc = 0},
    {.name = "exp INT64_MAX",
	.payload = PL(ISSAUD ",\"exp\":9223372036854775807"), .rc = 0},
    {.name = "exp INT64_MIN",
	.payload = PL(ISSAUD ",\"exp\":-9223372036854775808"),
	.leeway = 60, .rc = CERTS_E_JWT_EXPIRED},
    {.name = "exp negative", .payload = PL(ISSAUD ",\"exp\":-1"),
	.rc = CERTS_E_JWT_EXPIRED},
    {.name = "nbf future", .payload = PL(ISSAUD EXP_OK ",\"nbf\":1700000600"),
	.leeway = 60, .rc = CERTS_E_JWT_NOTYET},
    {.name = "nbf within leeway",
	.payload = PL(ISSAUD EXP_OK ",\"nbf\":1700000060"), .leeway = 60,
	.rc = 0},
    {.name = "nbf just past leeway",
	.payload = PL(ISSAUD EXP_OK ",\"nbf\":1700000061"), .leeway = 60,
	.rc = CERTS_E_JWT_NOTYET},
    {.name = "nbf now + 1, leeway 0",
	.payload = PL(ISSAUD EXP_OK ",\"nbf\":1700000001"),
	.rc = CERTS_E_JWT_NOTYET},
    {.name = "nbf exactly now",
	.payload = PL(ISSAUD EXP_OK ",\"nbf\":1700000000"), .rc = 0},
    {.name = "nbf string", .payload = PL(ISSAUD EXP_OK ",\"nbf\":\"0\""),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "nbf null", .payload = PL(ISSAUD EXP_OK ",\"nbf\":null"),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "iat future", .payload = PL(ISSAUD EXP_OK ",\"iat\":1700000600"),
	.leeway = 60, .rc = CERTS_E_JWT_NOTYET},
    {.name = "iat within leeway",
	.payload = PL(ISSAUD EXP_OK ",\"iat\":1700000060"), .leeway = 60,
	.rc = 0},
    {.name = "iat real", .payload = PL(ISSAUD EXP_OK ",\"iat\":1700000000.5"),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "iat string", .payload = PL(ISSAUD EXP_OK ",\"iat\":\"now\""),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "nbf and iat absent", .payload = PL(ISSAUD EXP_OK), .rc = 0},
    {.name = "types checked before time",
	.payload = PL(ISSAUD ",\"exp\":1,\"iat\":\"x\""),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "iss checked before time",
	.payload = PL(",\"iss\":\"x\",\"aud\":\"" ISS "\",\"exp\":1"),
	.rc = CERTS_E_JWT_CLAIMS},
    {.name = "payload nested 17 deep",
	.payload = PL(ISSAUD EXP_OK ",\"x\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]"),
	.rc = CERTS_E_JWT_FORMAT},
    {.name = "payload nested 16 deep",
	.payload = PL(ISSAUD EXP_OK ",\"x\":[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]"),
	.rc = 0},
    {.name = "standard token", .rc = 0},
};

/* Replaces part [from, to) of tok (length *len) with s. */
static void
splice(char *tok, size_t cap, size_t *len, size_t from, size_t to,
    const char *s)
{
	size_t sl = strlen(s), i;

	assert_true(from <= to && to <= *len);
	assert_true(*len - (to - from) + sl < cap);
	/* the tail moves with its NUL; s goes in without one */
	memmove(tok + from + sl, tok + to, *len - to + 1);
	for (i = 0; i < sl; i++)
		tok[from + i] = s[i];
	*len = *len - (to - from) + sl;
}

/* Re-encodes the part [from, to) with '=' padding to a multiple of 4. */
static void
pad_part(char *tok, size_t cap, size_t *len, size_t from, size_t to)
{
	static const char *const pads[] = {"", "", "==", "="};

	assert_int_not_equal((to - from) % 4, 0);
	splice(tok, cap, len, to, to, pads[(to - from) % 4]);
}

static void
apply(const struct row *r, char *tok, size_t cap, size_t *len)
{
	uint8_t sig[CERTS_ED25519_SIG_LEN];
	char hdr[512], b64[512];
	size_t d1 = dot(tok, 1), d2 = dot(tok, 2), n = 0, i;

	switch (r->mut) {
	case M_NONE:
		break;
	case M_FLIP_SIG:
		assert_int_equal(certs_b64url_decode(tok + d2 + 1,
				     *len - d2 - 1, sig, sizeof(sig), &n),
		    0);
		sig[0] ^= 0x01;
		assert_int_equal(certs_b64url_encode(sig, sizeof(sig), b64,
				     sizeof(b64)),
		    0);
		splice(tok, cap, len, d2 + 1, *len, b64);
		break;
	case M_TRUNC_SIG:
		tok[--*len] = '\0';
		break;
	case M_TRUNC_SIG4:
		*len -= 4;
		tok[*len] = '\0';
		break;
	case M_LONG_SIG:
		splice(tok, cap, len, *len, *len, "AA");
		break;
	case M_PAD_SIG:
		pad_part(tok, cap, len, d2 + 1, *len);
		break;
	case M_PAD_HEADER:
		pad_part(tok, cap, len, 0, d1);
		break;
	case M_PAD_PAYLOAD:
		pad_part(tok, cap, len, d1 + 1, d2);
		break;
	case M_STDB64_SIG:
		/* force a '-' and a '_' in, then respell them */
		n = 0;
		for (i = d2 + 1; i < *len; i++) {
			if (tok[i] == '-' || tok[i] == '_')
				n++;
			if (tok[i] == '-')
				tok[i] = '+';
			else if (tok[i] == '_')
				tok[i] = '/';
		}
		if (n == 0)
			tok[d2 + 1] = '+';
		break;
	case M_BADCHAR_HEADER:
		tok[1] = '+';
		break;
	case M_BADCHAR_PAYLOAD:
		tok[d1 + 2] = '/';
		break;
	case M_SPACE_SIG:
		tok[d2 + 10] = ' ';
		break;
	case M_NUL:
		tok[d1 + 2] = '\0';
		break;
	case M_OTHER_KEY:
		/* handled in build_row */
		break;
	case M_ALG_NONE_EMPTY:
	case M_ALG_NONE_KEEP:
		expand("{\"alg\":\"none\",\"kid\":\"$K\",\"typ\":\"at+jwt\"}",
		    certs_signkey_kid(g_key), hdr, sizeof(hdr));
		assert_int_equal(certs_b64url_encode(hdr, strlen(hdr), b64,
				     sizeof(b64)),
		    0);
		if (r->mut == M_ALG_NONE_EMPTY)
			splice(tok, cap, len, d2 + 1, *len, "");
		splice(tok, cap, len, 0, d1, b64);
		break;
	case M_ALT_PAYLOAD: {
		static const char alt[] = PL(ISSAUD ",\"exp\":1800000000");

		assert_int_equal(certs_b64url_encode(alt, strlen(alt), b64,
				     sizeof(b64)),
		    0);
		splice(tok, cap, len, d1 + 1, d2, b64);
		break;
	}
	case M_ALT_HEADER:
		expand("{\"alg\":\"EdDSA\", \"kid\":\"$K\",\"typ\":\"at+jwt\"}",
		    certs_signkey_kid(g_key), hdr, sizeof(hdr));
		assert_int_equal(certs_b64url_encode(hdr, strlen(hdr), b64,
				     sizeof(b64)),
		    0);
		splice(tok, cap, len, 0, d1, b64);
		break;
	case M_TWO_PARTS:
		*len = d2;
		tok[*len] = '\0';
		break;
	case M_FOUR_PARTS:
		splice(tok, cap, len, *len, *len, ".AAAA");
		break;
	case M_TRAIL_DOT:
		splice(tok, cap, len, *len, *len, ".");
		break;
	case M_EMPTY_HEADER:
		splice(tok, cap, len, 0, d1, "");
		break;
	case M_EMPTY_PAYLOAD:
		splice(tok, cap, len, d1 + 1, d2, "");
		break;
	case M_TOO_LONG:
		/* a well-formed token, grown past the cap inside its payload */
		while (*len <= CERTS_JWT_MAX)
			splice(tok, cap, len, d1 + 1, d1 + 1, "e30");
		break;
	}
}

static size_t
build_row(const struct row *r, char *tok, size_t cap)
{
	const char *kid = certs_signkey_kid(g_key);
	char hdr[1024];
	size_t len;

	if (r->raw != NULL) {
		len = strlen(r->raw);
		assert_true(len < cap);
		memcpy(tok, r->raw, len + 1);
		return len;
	}
	expand(r->header != NULL ? r->header : STD_HEADER, kid, hdr,
	    sizeof(hdr));
	len = build(tok, cap, r->mut == M_OTHER_KEY ? g_other : g_key, hdr,
	    r->payload != NULL ? r->payload : STD_PAYLOAD);
	apply(r, tok, cap, &len);
	return len;
}

static void
test_reject_table(void **state)
{
	static char tok[TOKCAP];
	size_t i, len;
	int rc, bad = 0;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		len = build_row(&rows[i], tok, sizeof(tok));
		rc = verify(tok, len, rows[i].leeway);
		if (rc != rows[i].rc) {
			print_error("row \"%s\": got %d (%s), want %d (%s)\n",
			    rows[i].name, rc, certs_strerror(rc), rows[i].rc,
			    certs_strerror(rows[i].rc));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Malformed kids are refused before anything is looked up. */
static void
test_kid_not_looked_up(void **state)
{
	static const char kid65[] = "\"" KID65 "\"";
	static const char *const malformed[] = {"\"\"", kid65, "\"a+b\"",
	    "\"a b\"", "\"abc=\"", "1", "null"};
	struct ring r = {.keys = {g_key}, .n = 1};
	char tmpl[256], hdr[256], tok[TOKCAP];
	json_t *claims = NULL;
	size_t i, len;

	(void)state;
	for (i = 0; i < NELEM(malformed); i++) {
		assert_true((size_t)snprintf(tmpl, sizeof(tmpl), HKID("%s"),
				malformed[i]) < sizeof(tmpl));
		expand(tmpl, certs_signkey_kid(g_key), hdr, sizeof(hdr));
		len = build(tok, sizeof(tok), g_key, hdr, STD_PAYLOAD);
		assert_int_equal(verify_at(tok, len, &r, NOW, 0, &claims),
		    CERTS_E_JWT_KID);
	}
	assert_int_equal(r.lookups, 0);

	/* 64 characters is well-formed: it reaches key_fn, verbatim */
	expand(HKID("\"" KID64 "\""), "", hdr, sizeof(hdr));
	len = build(tok, sizeof(tok), g_key, hdr, STD_PAYLOAD);
	assert_int_equal(verify_at(tok, len, &r, NOW, 0, &claims),
	    CERTS_E_JWT_KID);
	assert_int_equal(r.lookups, 1);
	assert_string_equal(r.last_kid, KID64);
	assert_null(claims);
}

/*
 * Builds a valid token of exactly target bytes: a filler claim sets the
 * length, a filler header member the length modulo 4 that base64url of
 * the payload alone cannot reach.
 */
static void
build_sized(char *tok, size_t cap, size_t target)
{
	static char payload[TOKCAP], hdr[TOKCAP];
	const char *kid = certs_signkey_kid(g_key);
	size_t len = 0, h, p;

	for (h = 0; h < 4; h++) {
		for (p = 2700; p < 3000; p++) {
			int n = snprintf(hdr, sizeof(hdr),
			    "{\"alg\":\"EdDSA\",\"kid\":\"%s\","
			    "\"typ\":\"at+jwt\",\"x\":\"%.*s\"}",
			    kid, (int)h, "hhhh");

			assert_true(n > 0 && (size_t)n < sizeof(hdr));
			n = snprintf(payload, sizeof(payload),
			    PL(ISSAUD EXP_OK ",\"pad\":\"%0*d\""), (int)p, 0);
			assert_true(n > 0 && (size_t)n < sizeof(payload));
			len = build(tok, cap, g_key, hdr, payload);
			if (len == target)
				return;
		}
	}
	fail_msg("no token of %zu bytes", target);
}

/* A token of exactly CERTS_JWT_MAX bytes passes; one byte more does not. */
static void
test_length_boundary(void **state)
{
	static char tok[TOKCAP];

	(void)state;
	build_sized(tok, sizeof(tok), CERTS_JWT_MAX);
	assert_int_equal(verify(tok, CERTS_JWT_MAX, 0), 0);
	/* validly signed, refused for its length alone */
	build_sized(tok, sizeof(tok), CERTS_JWT_MAX + 1);
	assert_int_equal(verify(tok, CERTS_JWT_MAX + 1, 0),
	    CERTS_E_JWT_FORMAT);
	assert_int_equal(verify(tok, SIZE_MAX, 0), CERTS_E_JWT_FORMAT);
}

static void
test_verify_args(void **state)
{
	struct ring r = {.keys = {g_key}, .n = 1};
	struct certs_jwt_expect ex = {
	    .iss = ISS, .aud = ISS, .now = NOW, .leeway = 0};
	json_t *claims = json_null();
	char tok[TOKCAP];
	char hdr[256];
	size_t len;

	(void)state;
	expand(STD_HEADER, certs_signkey_kid(g_key), hdr, sizeof(hdr));
	len = build(tok, sizeof(tok), g_key, hdr, STD_PAYLOAD);

	assert_int_equal(certs_jwt_verify(tok, len, ring_lookup, &r, &ex, NULL),
	    CERTS_E_INVAL);
	assert_int_equal(
	    certs_jwt_verify(tok, len, NULL, &r, &ex, &claims), CERTS_E_INVAL);
	assert_null(claims);
	claims = json_null();
	assert_int_equal(certs_jwt_verify(tok, len, ring_lookup, &r, NULL,
			     &claims),
	    CERTS_E_INVAL);
	assert_null(claims);
	assert_int_equal(certs_jwt_verify(NULL, 5, ring_lookup, &r, &ex,
			     &claims),
	    CERTS_E_INVAL);
	assert_int_equal(certs_jwt_verify(NULL, 0, ring_lookup, &r, &ex,
			     &claims),
	    CERTS_E_JWT_FORMAT);
	ex.iss = NULL;
	assert_int_equal(certs_jwt_verify(tok, len, ring_lookup, &r, &ex,
			     &claims),
	    CERTS_E_INVAL);
	ex.iss = ISS;
	ex.aud = NULL;
	assert_int_equal(certs_jwt_verify(tok, len, ring_lookup, &r, &ex,
			     &claims),
	    CERTS_E_INVAL);
	ex.aud = ISS;
	ex.leeway = -1;
	assert_int_equal(certs_jwt_verify(tok, len, ring_lookup, &r, &ex,
			     &claims),
	    CERTS_E_INVAL);
	ex.leeway = 0;
	assert_null(claims);
	/* and the same token is fine once the arguments are */
	assert_int_equal(certs_jwt_verify(tok, len, ring_lookup, &r, &ex,
			     &claims),
	    0);
	json_decref(claims);
}

/* Clocks at the ends of int64_t must neither wrap nor accept. */
static void
test_clock_extremes(void **state)
{
	struct ring r = {.keys = {g_key}, .n = 1};
	char tok[TOKCAP], hdr[256];
	json_t *claims = NULL;
	size_t len;

	(void)state;
	expand(STD_HEADER, certs_signkey_kid(g_key), hdr, sizeof(hdr));
	len = build(tok, sizeof(tok), g_key, hdr, STD_PAYLOAD);
	assert_int_equal(verify_at(tok, len, &r, INT64_MAX, 0, &claims),
	    CERTS_E_JWT_EXPIRED);
	assert_int_equal(verify_at(tok, len, &r, INT64_MIN, 0, &claims),
	    CERTS_E_JWT_NOTYET);
	assert_int_equal(verify_at(tok, len, &r, INT64_MIN, INT64_MAX,
			     &claims),
	    CERTS_E_JWT_NOTYET);
	/* leeways that large neither wrap nor trap: the bounds saturate */
	assert_int_equal(verify_at(tok, len, &r, INT64_MAX, INT64_MAX,
			     &claims),
	    0);
	json_decref(claims);
}

/* ---- RFC 8037 appendix A and an independent at+jwt ---------------------- */

static const char rfc_x[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char rfc_kid[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

/* RFC 8037 A.4: the JWS over "Example of Ed25519 signing". */
static const char rfc_jws[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7"
    "sVvpAr_MuM0KAg";

/* The A.1 private key as PKCS#8, and a token it signed with another
 * Ed25519 implementation: header as certs_jwt_sign writes it, payload
 * {"aud":ISS,"exp":2000000000,"iat":1700000000,"iss":ISS,
 * "scope":"profile:read","sub":"rfc8037"}. */
static const char rfc_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
static const char rfc_atjwt[] =
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImtQcktfcW14VldhWVZBOXd3QkY2SXVvM3ZWeno3VHhI"
    "Q1R3WEJ5Z3JTNGsiLCJ0eXAiOiJhdCtqd3QifQ."
    "eyJhdWQiOiJodHRwczovL2Jyb2tlci5leGFtcGxlIiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQi"
    "OjE3MDAwMDAwMDAsImlzcyI6Imh0dHBzOi8vYnJva2VyLmV4YW1wbGUiLCJzY29wZSI6InBy"
    "b2ZpbGU6cmVhZCIsInN1YiI6InJmYzgwMzcifQ."
    "UadF0N250vU75V8G-x_Akb21jsUYG28aV2ytTY2H-Kii-pR7hWhfTBtZ1gEocqIN2VeSnuD-"
    "my-jPRE2PNVZBg";

static struct certs_signkey *
rfc_public_key(void)
{
	uint8_t pub[CERTS_ED25519_PUB_LEN];
	struct certs_signkey *k = NULL;
	size_t n = 0;

	assert_int_equal(
	    certs_b64url_decode(rfc_x, strlen(rfc_x), pub, sizeof(pub), &n), 0);
	assert_int_equal(n, sizeof(pub));
	assert_int_equal(certs_signkey_from_public(pub, &k), 0);
	assert_string_equal(certs_signkey_kid(k), rfc_kid);
	return k;
}

static void
test_rfc8037_signature(void **state)
{
	struct certs_signkey *k = rfc_public_key();
	struct ring r = {.n = 1};
	uint8_t sig[CERTS_ED25519_SIG_LEN];
	json_t *claims = NULL;
	size_t d2 = dot(rfc_jws, 2), n = 0;

	(void)state;
	r.keys[0] = k;
	assert_int_equal(certs_b64url_decode(rfc_jws + d2 + 1,
			     strlen(rfc_jws) - d2 - 1, sig, sizeof(sig), &n),
	    0);
	assert_int_equal(n, sizeof(sig));
	assert_int_equal(certs_verify(k, rfc_jws, d2, sig), 0);
	/* a genuine JWS, but its payload is not a claims set */
	assert_int_equal(
	    verify_at(rfc_jws, strlen(rfc_jws), &r, NOW, 0, &claims),
	    CERTS_E_JWT_FORMAT);
	assert_int_equal(r.lookups, 0);
	certs_signkey_free(k);
}

static void
test_rfc8037_atjwt(void **state)
{
	struct certs_signkey *pub = rfc_public_key(), *priv = NULL;
	struct ring r = {.n = 1};
	char path[sizeof(g_dir) + 16];
	json_t *claims = NULL, *want;
	char *tok = NULL;
	size_t len = 0;

	(void)state;
	r.keys[0] = pub;
	/* another implementation's token verifies here ... */
	assert_int_equal(verify_at(rfc_atjwt, strlen(rfc_atjwt), &r, NOW, 0,
			     &claims),
	    0);
	want = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "aud", ISS, "exp",
	    (json_int_t)2000000000, "iat", (json_int_t)1700000000, "iss", ISS,
	    "scope", "profile:read", "sub", "rfc8037");
	assert_non_null(want);
	assert_true(json_equal(claims, want));
	json_decref(claims);
	claims = NULL;
	/* ... but not once it has expired */
	assert_int_equal(verify_at(rfc_atjwt, strlen(rfc_atjwt), &r,
			     2000000000, 0, &claims),
	    CERTS_E_JWT_EXPIRED);

	/* and Ed25519 being deterministic, signing here gives its bytes */
	assert_true((size_t)snprintf(path, sizeof(path), "%s/rfc.key", g_dir) <
	    sizeof(path));
	assert_int_equal(certs_file_write_private(path, rfc_pem,
			     sizeof(rfc_pem) - 1, 0),
	    0);
	assert_int_equal(certs_signkey_load(path, &priv), 0);
	assert_int_equal(unlink(path), 0);
	assert_string_equal(certs_signkey_kid(priv), rfc_kid);
	assert_int_equal(certs_jwt_sign(priv, want, &tok, &len), 0);
	assert_string_equal(tok, rfc_atjwt);
	assert_int_equal(len, strlen(rfc_atjwt));

	free(tok);
	json_decref(want);
	certs_signkey_free(priv);
	certs_signkey_free(pub);
}

static void
test_strerror(void **state)
{
	static const int codes[] = {CERTS_E_JWT_FORMAT, CERTS_E_JWT_ALG,
	    CERTS_E_JWT_KID, CERTS_E_JWT_CLAIMS, CERTS_E_JWT_EXPIRED,
	    CERTS_E_JWT_NOTYET};
	const char *unknown = certs_strerror(-199);
	size_t i, j;

	(void)state;
	for (i = 0; i < NELEM(codes); i++) {
		assert_string_not_equal(certs_strerror(codes[i]), unknown);
		for (j = 0; j < i; j++)
			assert_string_not_equal(certs_strerror(codes[i]),
			    certs_strerror(codes[j]));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_header_bytes),
	    cmocka_unit_test(test_sign_payload_bytes),
	    cmocka_unit_test(test_sign_signature_verifies),
	    cmocka_unit_test(test_sign_rejects),
	    cmocka_unit_test(test_sign_length_cap),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_alg_ed25519_accepted),
	    cmocka_unit_test(test_reject_table),
	    cmocka_unit_test(test_kid_not_looked_up),
	    cmocka_unit_test(test_length_boundary),
	    cmocka_unit_test(test_verify_args),
	    cmocka_unit_test(test_clock_extremes),
	    cmocka_unit_test(test_rfc8037_signature),
	    cmocka_unit_test(test_rfc8037_atjwt),
	    cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
