/*
 * signkey.c - Ed25519 token-signing keys: generation, the 0600 PKCS#8
 * file, the RFC 7638 kid, signing and verification.
 *
 * A struct certs_signkey is immutable once built, so one key may sign and
 * verify from many threads at once.  This file must never hand out the
 * private key in any form other than the 0600 file, never accept a key of
 * another type as a signing key, and never let a public-only key sign.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "certs/certs.h"
#include "certs/certs_int.h"

struct certs_signkey {
	EVP_PKEY *pkey;
	/* Initialised once and copied per signature: EVP_DigestVerifyInit
	 * fetches the algorithm from the provider store on every call. */
	EVP_MD_CTX *verifier;
	int has_private;
	uint8_t pub[CERTS_ED25519_PUB_LEN];
	char kid[CERTS_KID_LEN + 1];
};

/*
 * RFC 7638: the thumbprint hashes the required members only, in
 * lexicographic order, with no whitespace, so this exact spelling is the
 * one every JOSE library computes too (RFC 8037 appendix A.3).
 */
static int
compute_kid(const uint8_t pub[CERTS_ED25519_PUB_LEN],
    char kid[CERTS_KID_LEN + 1])
{
	char x[CERTS_KID_LEN + 1]; /* 32 bytes are 43 base64url chars too */
	char json[96];
	uint8_t digest[CERTS_SHA256_LEN];
	int n, rc;

	rc = certs_b64url_encode(pub, CERTS_ED25519_PUB_LEN, x, sizeof(x));
	if (rc != 0)
		return rc;
	n = snprintf(json, sizeof(json),
	    "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
	if (n < 0 || (size_t)n >= sizeof(json))
		return CERTS_E_CRYPTO;
	rc = certs_sha256(json, (size_t)n, digest);
	if (rc != 0)
		return rc;
	return certs_b64url_encode(digest, sizeof(digest), kid,
	    CERTS_KID_LEN + 1);
}

/* Takes ownership of pkey in every case (frees it on failure). */
static int
signkey_wrap(EVP_PKEY *pkey, int has_private, struct certs_signkey **out)
{
	struct certs_signkey *k = NULL;
	size_t publen = CERTS_ED25519_PUB_LEN;
	int rc = CERTS_E_NOMEM;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		goto out;
	rc = CERTS_E_CRYPTO;
	if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) != 1 ||
	    publen != CERTS_ED25519_PUB_LEN)
		goto out;
	rc = compute_kid(k->pub, k->kid);
	if (rc != 0)
		goto out;
	rc = CERTS_E_NOMEM;
	if ((k->verifier = EVP_MD_CTX_new()) == NULL)
		goto out;
	rc = CERTS_E_CRYPTO;
	if (EVP_DigestVerifyInit(k->verifier, NULL, NULL, NULL, pkey) != 1)
		goto out;
	rc = CERTS_OK;
	k->pkey = pkey;
	k->has_private = has_private;
	pkey = NULL;
	*out = k;
	k = NULL;
out:
	EVP_PKEY_free(pkey);
	if (k != NULL)
		EVP_MD_CTX_free(k->verifier);
	certs_free_secret(k, sizeof(*k));
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int
certs_signkey_generate(struct certs_signkey **out)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc = CERTS_E_INVAL;

	if (out == NULL)
		return CERTS_E_INVAL;
	*out = NULL;
	rc = CERTS_E_CRYPTO;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "ED25519", NULL);
	if (ctx == NULL)
		goto out;
	if (EVP_PKEY_keygen_init(ctx) != 1)
		goto out;
	if (EVP_PKEY_generate(ctx, &pkey) != 1)
		goto out;
	rc = signkey_wrap(pkey, 1, out);
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int
certs_signkey_save(const struct certs_signkey *key, const char *path)
{
	if (key == NULL || path == NULL || !key->has_private)
		return CERTS_E_INVAL;
	return certs_int_key_save(key->pkey, path, 0);
}

int
certs_signkey_load(const char *path, struct certs_signkey **out)
{
	EVP_PKEY *pkey = NULL;
	int rc;

	if (out == NULL)
		return CERTS_E_INVAL;
	*out = NULL;
	rc = certs_int_key_load(path, &pkey);
	if (rc != 0)
		return rc;
	/* A P-256 or RSA key would sign something no verifier expects. */
	if (EVP_PKEY_is_a(pkey, "ED25519") != 1) {
		EVP_PKEY_free(pkey);
		return CERTS_E_FORMAT;
	}
	return signkey_wrap(pkey, 1, out);
}

int
certs_signkey_from_public(const uint8_t pub[CERTS_ED25519_PUB_LEN],
    struct certs_signkey **out)
{
	EVP_PKEY *pkey = NULL;

	if (out == NULL)
		return CERTS_E_INVAL;
	*out = NULL;
	if (pub == NULL)
		return CERTS_E_INVAL;
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	    CERTS_ED25519_PUB_LEN);
	if (pkey == NULL) {
		ERR_clear_error();
		return CERTS_E_FORMAT;
	}
	return signkey_wrap(pkey, 0, out);
}

const char *
certs_signkey_kid(const struct certs_signkey *key)
{
	return key == NULL ? NULL : key->kid;
}

void
certs_signkey_public(const struct certs_signkey *key,
    uint8_t pub[CERTS_ED25519_PUB_LEN])
{
	if (pub == NULL)
		return;
	if (key == NULL) {
		certs_wipe(pub, CERTS_ED25519_PUB_LEN);
		return;
	}
	memcpy(pub, key->pub, CERTS_ED25519_PUB_LEN);
}

int
certs_sign(const struct certs_signkey *key, const void *msg, size_t len,
    uint8_t sig[CERTS_ED25519_SIG_LEN])
{
	EVP_MD_CTX *ctx = NULL;
	size_t siglen = CERTS_ED25519_SIG_LEN;
	int rc = CERTS_E_INVAL;

	if (sig == NULL)
		return CERTS_E_INVAL;
	certs_wipe(sig, CERTS_ED25519_SIG_LEN);
	if (key == NULL || !key->has_private || (msg == NULL && len > 0))
		goto out;
	if (msg == NULL)
		msg = "";
	rc = CERTS_E_NOMEM;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		goto out;
	/* Ed25519 is "pure": no separate digest, hence the NULL md. */
	rc = CERTS_E_CRYPTO;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) != 1)
		goto out;
	/* siglen tells OpenSSL how much room sig has; a failure wipes it. */
	if (EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1)
		goto out;
	if (siglen != CERTS_ED25519_SIG_LEN)
		goto out;
	rc = CERTS_OK;
out:
	EVP_MD_CTX_free(ctx);
	if (rc != 0) {
		certs_wipe(sig, CERTS_ED25519_SIG_LEN);
		ERR_clear_error();
	}
	return rc;
}

int
certs_verify(const struct certs_signkey *key, const void *msg, size_t len,
    const uint8_t sig[CERTS_ED25519_SIG_LEN])
{
	EVP_MD_CTX *ctx = NULL;
	int rc = CERTS_E_INVAL;

	if (key == NULL || sig == NULL || (msg == NULL && len > 0))
		goto out;
	if (msg == NULL)
		msg = "";
	rc = CERTS_E_NOMEM;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		goto out;
	/* The copy only reads the template: any thread may make one. */
	rc = CERTS_E_CRYPTO;
	if (EVP_MD_CTX_copy_ex(ctx, key->verifier) != 1)
		goto out;
	/* 0 is a bad signature, < 0 a malformed one: both mean "reject". */
	rc = CERTS_E_BADSIG;
	if (EVP_DigestVerify(ctx, sig, CERTS_ED25519_SIG_LEN, msg, len) != 1)
		goto out;
	rc = CERTS_OK;
out:
	EVP_MD_CTX_free(ctx);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

void
certs_signkey_free(struct certs_signkey *key)
{
	if (key == NULL)
		return;
	/* The template holds the key too: it goes first.  EVP_PKEY_free
	 * clears Ed25519 private bytes itself (secure heap). */
	EVP_MD_CTX_free(key->verifier);
	EVP_PKEY_free(key->pkey);
	certs_free_secret(key, sizeof(*key));
}
