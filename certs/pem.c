/*
 * pem.c - converting keys and certificates between OpenSSL objects, PEM
 * text and files.
 *
 * Private keys travel as unencrypted PKCS#8 PEM (the files themselves are
 * the protection: mode 0600).  Every buffer that held a private key's PEM
 * is wiped before it is released.  This file must never prompt for a
 * passphrase (OpenSSL's default callback reads the terminal) and never
 * leave OpenSSL errors queued behind a failure it has already reported.
 */
#include <limits.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "certs/certs.h"
#include "certs/certs_int.h"

/* Refuses every encrypted key instead of asking a human for a passphrase. */
int
certs_int_no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int
certs_int_key_save(const EVP_PKEY *pkey, const char *path, int overwrite)
{
	BIO *bio = NULL;
	char *pem = NULL;
	long pemlen = 0;
	int rc = CERTS_E_INVAL;

	if (pkey == NULL || path == NULL)
		goto out;
	/* secmem: OpenSSL clears the buffer (and every regrowth) on free */
	rc = CERTS_E_NOMEM;
	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL)
		goto out;
	rc = CERTS_E_CRYPTO;
	if (PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
		NULL) != 1)
		goto out;
	pemlen = BIO_get_mem_data(bio, &pem);
	if (pemlen <= 0 || pem == NULL)
		goto out;
	rc = certs_file_write_private(path, pem, (size_t)pemlen, overwrite);
out:
	/* Belt and braces: do not rely on the BIO implementation alone. */
	if (pem != NULL && pemlen > 0)
		certs_wipe(pem, (size_t)pemlen);
	BIO_free(bio);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int
certs_int_key_from_pem(const char *pem, size_t len, EVP_PKEY **out)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	int rc = CERTS_E_INVAL;

	if (out == NULL)
		return CERTS_E_INVAL;
	*out = NULL;
	if (pem == NULL)
		goto out;
	/* Empty or absurdly long input is not a PEM object either. */
	rc = CERTS_E_FORMAT;
	if (len == 0 || len > (size_t)INT_MAX)
		goto out;
	/* A read-only memory BIO points at the caller's buffer: no copy. */
	rc = CERTS_E_NOMEM;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		goto out;
	rc = CERTS_E_FORMAT;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, certs_int_no_passphrase_cb, NULL);
	if (pkey == NULL)
		goto out;
	*out = pkey;
	pkey = NULL;
	rc = CERTS_OK;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int
certs_int_key_load(const char *path, EVP_PKEY **out)
{
	char *pem = NULL;
	size_t len = 0;
	int rc;

	if (out == NULL)
		return CERTS_E_INVAL;
	*out = NULL;
	rc = certs_file_read_private(path, &pem, &len);
	if (rc != 0)
		return rc;
	rc = certs_int_key_from_pem(pem, len, out);
	certs_free_secret(pem, len);
	return rc;
}

int
certs_int_cert_save(const X509 *cert, const char *path, int overwrite,
    int private_file)
{
	BIO *bio = NULL;
	char *pem = NULL;
	long pemlen = 0;
	int rc = CERTS_E_INVAL;

	if (cert == NULL || path == NULL)
		goto out;
	rc = CERTS_E_NOMEM;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		goto out;
	rc = CERTS_E_CRYPTO;
	if (PEM_write_bio_X509(bio, cert) != 1)
		goto out;
	pemlen = BIO_get_mem_data(bio, &pem);
	if (pemlen <= 0 || pem == NULL)
		goto out;
	rc = private_file ?
	    certs_file_write_private(path, pem, (size_t)pemlen, overwrite) :
	    certs_file_write_public(path, pem, (size_t)pemlen, overwrite);
out:
	BIO_free(bio);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int
certs_int_cert_from_pem(const char *pem, size_t len, X509 **out)
{
	BIO *bio = NULL;
	X509 *cert = NULL;
	int rc = CERTS_E_INVAL;

	if (out == NULL)
		return CERTS_E_INVAL;
	*out = NULL;
	if (pem == NULL)
		goto out;
	/* Empty or absurdly long input is not a PEM object either. */
	rc = CERTS_E_FORMAT;
	if (len == 0 || len > (size_t)INT_MAX)
		goto out;
	rc = CERTS_E_NOMEM;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		goto out;
	rc = CERTS_E_FORMAT;
	cert = PEM_read_bio_X509(bio, NULL, certs_int_no_passphrase_cb, NULL);
	if (cert == NULL)
		goto out;
	*out = cert;
	cert = NULL;
	rc = CERTS_OK;
out:
	X509_free(cert);
	BIO_free(bio);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

int
certs_int_cert_load(const char *path, X509 **out)
{
	char *pem = NULL;
	size_t len = 0;
	int rc;

	if (out == NULL)
		return CERTS_E_INVAL;
	*out = NULL;
	rc = certs_file_read(path, &pem, &len);
	if (rc != 0)
		return rc;
	rc = certs_int_cert_from_pem(pem, len, out);
	free(pem);
	return rc;
}
