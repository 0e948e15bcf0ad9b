/*
 * crypto.c - the small primitives the rest of the broker borrows: CSPRNG
 * bytes and tokens, constant-time comparison, wiping, SHA-256 and
 * HMAC-SHA256.
 *
 * Everything here is a thin, checked wrapper over OpenSSL so that no other
 * folder needs OpenSSL headers.  It must never fall back to a weaker
 * source of randomness, never compare secrets with memcmp, and never leave
 * intermediate digests or random bytes in memory it releases.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "certs/certs.h"

/* Tokens are produced in chunks so no heap copy of the raw bytes exists. */
#define TOKEN_CHUNK 48 /* a multiple of 3: chunks concatenate cleanly */

int
certs_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	if (len == 0)
		return CERTS_OK;
	if (buf == NULL)
		return CERTS_E_INVAL;
	/* RAND_bytes takes an int: feed it at most INT_MAX at a time. */
	while (len > 0) {
		int n = len > (size_t)INT_MAX ? INT_MAX : (int)len;

		if (RAND_bytes(p, n) != 1) {
			ERR_clear_error();
			return CERTS_E_CRYPTO;
		}
		p += n;
		len -= (size_t)n;
	}
	return CERTS_OK;
}

int
certs_random_token(char *out, size_t outcap, size_t nbytes)
{
	unsigned char chunk[TOKEN_CHUNK];
	size_t need, pos = 0;
	int rc = CERTS_E_INVAL;

	if (out == NULL || outcap == 0)
		return CERTS_E_INVAL;
	out[0] = '\0';
	/* A zero-byte token has no entropy: it can only be a caller bug. */
	if (nbytes == 0)
		return CERTS_E_INVAL;
	need = certs_b64url_len(nbytes);
	if (need == SIZE_MAX || outcap < need + 1)
		return CERTS_E_INVAL;

	while (nbytes > 0) {
		size_t n = nbytes > sizeof(chunk) ? sizeof(chunk) : nbytes;

		rc = certs_random(chunk, n);
		if (rc != 0)
			goto out;
		rc = certs_b64url_encode(chunk, n, out + pos, outcap - pos);
		if (rc != 0)
			goto out;
		pos += certs_b64url_len(n);
		nbytes -= n;
	}
	rc = CERTS_OK;
out:
	certs_wipe(chunk, sizeof(chunk));
	if (rc != 0)
		certs_wipe(out, outcap);
	return rc;
}

int
certs_ct_equal(const void *a, const void *b, size_t len)
{
	if (len == 0)
		return 1;
	if (a == NULL || b == NULL)
		return 0;
	return CRYPTO_memcmp(a, b, len) == 0 ? 1 : 0;
}

void
certs_wipe(void *buf, size_t len)
{
	if (buf != NULL && len > 0)
		OPENSSL_cleanse(buf, len);
}

void
certs_free_secret(void *buf, size_t len)
{
	if (buf == NULL)
		return;
	certs_wipe(buf, len);
	free(buf);
}

/*
 * SHA-256 fetched once: EVP_sha256() makes every digest look its
 * implementation up again in OpenSSL's method store, under a lock every
 * thread shares, and the fetch path hashes twice per request.  Kept for
 * the life of the process.
 */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md != NULL ? sha256_md : EVP_sha256();
}

int
certs_sha256(const void *data, size_t len, uint8_t out[CERTS_SHA256_LEN])
{
	unsigned int mdlen = 0;
	int rc = CERTS_E_CRYPTO;

	if (out == NULL)
		return CERTS_E_INVAL;
	certs_wipe(out, CERTS_SHA256_LEN);
	if (data == NULL && len > 0)
		return CERTS_E_INVAL;
	/* EVP_Digest with a NULL pointer and zero length is fine, but be
	 * explicit rather than rely on it. */
	if (data == NULL)
		data = "";

	/* SHA-256 writes exactly CERTS_SHA256_LEN bytes, so out is big
	 * enough; a failure wipes whatever it wrote. */
	if (EVP_Digest(data, len, out, &mdlen, sha256(), NULL) != 1)
		goto out;
	if (mdlen != CERTS_SHA256_LEN)
		goto out;
	rc = CERTS_OK;
out:
	if (rc != 0) {
		certs_wipe(out, CERTS_SHA256_LEN);
		ERR_clear_error();
	}
	return rc;
}

int
certs_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, uint8_t out[CERTS_SHA256_LEN])
{
	size_t maclen = 0;
	int rc = CERTS_E_CRYPTO;

	if (out == NULL)
		return CERTS_E_INVAL;
	certs_wipe(out, CERTS_SHA256_LEN);
	if ((key == NULL && keylen > 0) || (data == NULL && len > 0))
		return CERTS_E_INVAL;
	/* A NULL key tells EVP_MAC_init "keep the previous key", which a fresh
	 * context does not have: an empty key must be a non-NULL pointer. */
	if (key == NULL)
		key = "";
	if (data == NULL)
		data = "";

	/* outsize bounds the write; a failure wipes whatever it wrote. */
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, data,
		len, out, CERTS_SHA256_LEN, &maclen) == NULL)
		goto out;
	if (maclen != CERTS_SHA256_LEN)
		goto out;
	rc = CERTS_OK;
out:
	if (rc != 0) {
		certs_wipe(out, CERTS_SHA256_LEN);
		ERR_clear_error();
	}
	return rc;
}

/* ---- streaming SHA-256 ------------------------------------------------- */

int
certs_sha256_begin(struct certs_sha256_ctx **out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	*out = NULL;
	if (c == NULL)
		return CERTS_E_NOMEM;
	if (EVP_DigestInit_ex(c, sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		return CERTS_E_CRYPTO;
	}
	*out = (struct certs_sha256_ctx *)c;
	return CERTS_OK;
}

int
certs_sha256_update(struct certs_sha256_ctx *c, const void *data, size_t len)
{
	if (c == NULL || (data == NULL && len > 0))
		return CERTS_E_INVAL;
	return EVP_DigestUpdate((EVP_MD_CTX *)c, data, len) == 1
		   ? CERTS_OK
		   : CERTS_E_CRYPTO;
}

int
certs_sha256_end(struct certs_sha256_ctx *c, uint8_t out[CERTS_SHA256_LEN])
{
	unsigned int n = 0;
	int rc;

	if (c == NULL)
		return CERTS_E_INVAL;
	rc = EVP_DigestFinal_ex((EVP_MD_CTX *)c, out, &n) == 1 &&
		n == CERTS_SHA256_LEN
	    ? CERTS_OK
	    : CERTS_E_CRYPTO;
	EVP_MD_CTX_free((EVP_MD_CTX *)c);
	return rc;
}

void
certs_sha256_abort(struct certs_sha256_ctx *c)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)c);
}
