/*
 * certs.h - the broker's cryptography: randomness, hashing, constant-time
 * comparison, wiping, Ed25519 signing keys, the local CA and certificates.
 *
 * This is the only module that includes OpenSSL headers; everything above
 * it reaches cryptography through these few functions.  It never includes
 * broker, api or policy headers and never performs network I/O.
 *
 * Conventions: fallible functions return 0 on success or a negative
 * CERTS_E_* code (range -100..-199); out-parameters are cleared first and set
 * only on success.  Private key material is wiped before it is released.
 */
#ifndef CCX_CERTS_H
#define CCX_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum {
	CERTS_OK = 0,
	CERTS_E_CRYPTO = -100,	 /* an OpenSSL call failed */
	CERTS_E_NOMEM = -101,	 /* allocation failed */
	CERTS_E_IO = -102,	 /* open/read/write/fsync/rename failed */
	CERTS_E_PERM = -103,	 /* private file readable by group/others */
	CERTS_E_EXISTS = -104,	 /* refusing to overwrite an existing file */
	CERTS_E_FORMAT = -105,	 /* malformed PEM, DER, key or encoding */
	CERTS_E_BADSIG = -106,	 /* signature does not verify */
	CERTS_E_INVAL = -107,	 /* bad argument (programmer or caller input) */
	CERTS_E_MISMATCH = -108, /* certificate and key do not belong together */
	CERTS_E_NOTFOUND = -109, /* file does not exist */
};

/* Returns a static English description of a CERTS_E_* code. */
const char *certs_strerror(int err);

/* ---- primitives ------------------------------------------------------ */

#define CERTS_SHA256_LEN 32
#define CERTS_ED25519_PUB_LEN 32
#define CERTS_ED25519_SIG_LEN 64

/* Fills buf with len bytes from the CSPRNG.  CERTS_E_CRYPTO on failure. */
int certs_random(void *buf, size_t len);

/*
 * Writes a URL-safe token of nbytes random bytes, base64url without
 * padding, NUL-terminated, into out (outcap must hold
 * certs_b64url_len(nbytes) + 1).  CERTS_E_INVAL if it does not fit.
 */
int certs_random_token(char *out, size_t outcap, size_t nbytes);

/* Constant-time comparison of len bytes: 1 when equal, 0 otherwise. */
int certs_ct_equal(const void *a, const void *b, size_t len);

/* Zeroes len bytes in a way the compiler may not elide.  NULL is allowed. */
void certs_wipe(void *buf, size_t len);

/* Wipes then frees a buffer from this module.  NULL is allowed. */
void certs_free_secret(void *buf, size_t len);

/* SHA-256 of data into out.  CERTS_E_CRYPTO on failure. */
int certs_sha256(const void *data, size_t len, uint8_t out[CERTS_SHA256_LEN]);

/* SHA-256 over data given in pieces (files too large to hold at once). */
struct certs_sha256_ctx;

/* Starts a digest.  Release with certs_sha256_end or certs_sha256_abort. */
int certs_sha256_begin(struct certs_sha256_ctx **out);
int certs_sha256_update(struct certs_sha256_ctx *c, const void *data,
    size_t len);

/* Finishes into out and frees c (even on failure). */
int certs_sha256_end(struct certs_sha256_ctx *c,
    uint8_t out[CERTS_SHA256_LEN]);

/* Frees an unfinished digest.  NULL ok. */
void certs_sha256_abort(struct certs_sha256_ctx *c);

/* HMAC-SHA256(key, data) into out.  CERTS_E_CRYPTO on failure. */
int certs_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, uint8_t out[CERTS_SHA256_LEN]);

/* Length of the unpadded base64url encoding of n bytes (no NUL). */
size_t certs_b64url_len(size_t n);

/*
 * Encodes len bytes as unpadded base64url into out and NUL-terminates it.
 * outcap must be at least certs_b64url_len(len) + 1, else CERTS_E_INVAL.
 */
int certs_b64url_encode(const void *in, size_t len, char *out, size_t outcap);

/*
 * Decodes unpadded base64url (padding and other alphabets are rejected:
 * CERTS_E_FORMAT).  *outlen receives the decoded length; CERTS_E_INVAL if
 * outcap is too small.
 */
int certs_b64url_decode(const char *in, size_t len, void *out, size_t outcap,
    size_t *outlen);

/* ---- files ------------------------------------------------------------ */

/*
 * Largest file the readers below accept; a larger one is refused with
 * CERTS_E_FORMAT (keys and certificates are a few kilobytes).
 */
#define CERTS_FILE_MAX ((size_t)1024 * 1024)

/*
 * Writes a private file (key, secret, token) with mode 0600: created
 * exclusively next to path, fsynced, then renamed over path.  When
 * overwrite is 0 an existing path is refused with CERTS_E_EXISTS.
 */
int certs_file_write_private(const char *path, const void *data, size_t len,
    int overwrite);

/* Same as certs_file_write_private but mode 0644, for public files. */
int certs_file_write_public(const char *path, const void *data, size_t len,
    int overwrite);

/*
 * Reads a private file.  Refuses (CERTS_E_PERM) a file that group or
 * others may read or write, or that is not a regular file; CERTS_E_NOTFOUND
 * when absent.  On success *data is a NUL-terminated copy (NUL not counted
 * in *len); the caller releases it with certs_free_secret(*data, *len).
 */
int certs_file_read_private(const char *path, char **data, size_t *len);

/*
 * Reads a public file (certificate, ...).  Caller frees *data with free().
 * NUL-terminated like certs_file_read_private.
 */
int certs_file_read(const char *path, char **data, size_t *len);

/* ---- Ed25519 token-signing keys --------------------------------------- */

/* kid = RFC 7638 JWK thumbprint of the public key: 43 base64url chars. */
#define CERTS_KID_LEN 43

struct certs_signkey; /* opaque: an Ed25519 key pair, or a public key only */

/* Generates a new key pair.  Caller frees with certs_signkey_free(). */
int certs_signkey_generate(struct certs_signkey **out);

/*
 * Saves the private key as PKCS#8 PEM with mode 0600 (exclusive create:
 * CERTS_E_EXISTS if path exists).  CERTS_E_INVAL for a public-only key.
 */
int certs_signkey_save(const struct certs_signkey *key, const char *path);

/*
 * Loads a private key saved by certs_signkey_save, refusing a file others
 * can read (CERTS_E_PERM) and anything that is not Ed25519
 * (CERTS_E_FORMAT).  Caller frees with certs_signkey_free().
 */
int certs_signkey_load(const char *path, struct certs_signkey **out);

/* Makes a verify-only key from a raw 32-byte public key. */
int certs_signkey_from_public(const uint8_t pub[CERTS_ED25519_PUB_LEN],
    struct certs_signkey **out);

/* The key's kid, NUL-terminated; borrowed, valid until the key is freed. */
const char *certs_signkey_kid(const struct certs_signkey *key);

/* Copies the raw public key into pub. */
void certs_signkey_public(const struct certs_signkey *key,
    uint8_t pub[CERTS_ED25519_PUB_LEN]);

/* Signs msg; CERTS_E_INVAL for a public-only key. */
int certs_sign(const struct certs_signkey *key, const void *msg, size_t len,
    uint8_t sig[CERTS_ED25519_SIG_LEN]);

/* 0 when sig is a valid signature of msg under key, else CERTS_E_BADSIG. */
int certs_verify(const struct certs_signkey *key, const void *msg, size_t len,
    const uint8_t sig[CERTS_ED25519_SIG_LEN]);

/* Frees a key, wiping private material.  NULL is allowed. */
void certs_signkey_free(struct certs_signkey *key);

/* ---- X.509: the local CA and the server certificate (ECDSA P-256) ----- */

/*
 * Creates a self-signed CA (ECDSA P-256, SHA-256, basicConstraints
 * CA:TRUE pathlen:0 critical, keyUsage keyCertSign+cRLSign critical,
 * subject/authority key identifiers, 128-bit random serial) valid for
 * days days.  Writes cert_path (0644) and key_path (0600); refuses to
 * overwrite either (CERTS_E_EXISTS).
 */
int certs_ca_create(const char *cert_path, const char *key_path,
    const char *common_name, int days);

/*
 * Issues a server certificate signed by the CA at ca_cert_path/ca_key_path
 * (the CA key file must be 0600): ECDSA P-256, CA:FALSE, keyUsage
 * digitalSignature critical, extendedKeyUsage serverAuth, subjectAltName
 * with every entry of names (an entry that parses as an IPv4/IPv6 address
 * becomes an IP SAN, anything else a DNS SAN; names[0] is also the CN).
 * Files are written atomically (temporary file + rename), so a running
 * server never reads half a file; overwrite selects whether existing files
 * may be replaced.
 */
int certs_server_issue(const char *ca_cert_path, const char *ca_key_path,
    const char *const *names, size_t n_names, int days,
    const char *cert_path, const char *key_path, int overwrite);

/*
 * Checks that a PEM certificate and PEM private key belong together and
 * that the certificate is currently within its validity period.  0,
 * CERTS_E_FORMAT (unparsable) or CERTS_E_MISMATCH.
 */
int certs_pem_check_pair(const char *cert_pem, size_t cert_len,
    const char *key_pem, size_t key_len);

/* ---- client certificates for mutual TLS (RFC 8705) ------------------ */

/* x5t#S256: base64url(SHA-256(DER certificate)), 43 characters. */
#define CERTS_THUMB_LEN 43

/*
 * Issues a client certificate for a company, signed by the local CA
 * (ca_cert_path, ca_key_path 0600): ECDSA P-256 (or the CSR's key),
 * subject CN=client_id, basicConstraints CA:FALSE, keyUsage
 * digitalSignature, extendedKeyUsage clientAuth, 128-bit random serial,
 * valid for days days (never past the CA).  With csr_pem NULL a new key
 * is generated and written to key_path (PKCS#8 PEM, 0600); otherwise the
 * CSR (PEM) must carry a valid self-signature and its public key is
 * certified (key_path unused; an RSA key of at least 2048 bits or an EC
 * key on P-256/P-384 is required, else CERTS_E_FORMAT).  The certificate
 * is written to cert_path with mode 0600, refusing to overwrite either
 * file (CERTS_E_EXISTS).  thumb receives its x5t#S256.
 */
int certs_client_issue(const char *ca_cert_path, const char *ca_key_path,
    const char *client_id, const char *csr_pem, size_t csr_len, int days,
    const char *cert_path, const char *key_path,
    char thumb[CERTS_THUMB_LEN + 1]);

/*
 * Verifies a peer's certificate (DER, as the TLS layer hands it over)
 * against the CA certificate (PEM): signature chain to that CA only,
 * validity at the current time, extendedKeyUsage clientAuth.  0 with
 * thumb set, or CERTS_E_BADSIG (not issued by the CA, expired, wrong
 * usage) or CERTS_E_FORMAT (unparsable).  Intermediate certificates are
 * not accepted: the CA issues client certificates directly.
 */
int certs_client_verify(const char *ca_pem, size_t ca_len,
    const unsigned char *der, size_t der_len,
    char thumb[CERTS_THUMB_LEN + 1]);

/* ---- JWT access tokens (RFC 9068 at+jwt, JWS compact, EdDSA) ---------- */

enum {
	CERTS_E_JWT_FORMAT = -120,  /* not three base64url parts of JSON */
	CERTS_E_JWT_ALG = -121,	    /* alg not EdDSA/Ed25519, or crit, or typ */
	CERTS_E_JWT_KID = -122,	    /* kid missing, malformed or unknown */
	CERTS_E_JWT_CLAIMS = -123,  /* iss or aud not as expected, or missing */
	CERTS_E_JWT_EXPIRED = -124, /* exp at or before now - leeway */
	CERTS_E_JWT_NOTYET = -125,  /* nbf or iat after now + leeway */
};

#define CERTS_JWT_MAX 4096 /* bytes of a token this broker accepts */

/*
 * Signs claims as a JWS in compact serialisation with the protected header
 * {"alg":"EdDSA","kid":<key's kid>,"typ":"at+jwt"} (members in that
 * order).  claims is serialised compactly with sorted keys.  *out is a
 * NUL-terminated string the caller frees with free().
 */
int certs_jwt_sign(const struct certs_signkey *key, const json_t *claims,
    char **out, size_t *outlen);

/* Returns the verification key for kid, borrowed, or NULL if unknown. */
typedef const struct certs_signkey *(*certs_jwt_key_fn)(void *arg,
    const char *kid);

struct certs_jwt_expect {
	const char *iss; /* required value of "iss" */
	const char *aud; /* required value (or array member) of "aud" */
	int64_t now;	 /* seconds since the epoch */
	int64_t leeway;	 /* seconds of clock skew tolerated */
};

/*
 * Verifies a compact JWS access token: at most CERTS_JWT_MAX bytes, three
 * unpadded base64url parts, a JSON header with alg "EdDSA" or "Ed25519"
 * only (never "none" or anything else), typ "at+jwt" or
 * "application/at+jwt", no "crit", a well-formed kid that key_fn knows;
 * an Ed25519 signature over the first two parts; then claims: iss and aud
 * as expected, integer exp in the future, integer nbf and iat (when
 * present) not in the future.  Duplicate JSON keys are rejected.  On
 * success *claims is the payload (caller json_decrefs); the error codes
 * above, or CERTS_E_BADSIG, otherwise.
 */
int certs_jwt_verify(const char *jwt, size_t len, certs_jwt_key_fn key_fn,
    void *arg, const struct certs_jwt_expect *expect, json_t **claims);

#endif /* CCX_CERTS_H */
