/*
 * pair.c - deciding whether a PEM certificate and a PEM private key may be
 * served together right now.
 *
 * The daemon calls this before it swaps in a rotated certificate, so a
 * mismatched or expired pair is refused while the old one keeps serving.
 * It must never load the key from anywhere but the caller's buffer, and
 * never report success for a certificate outside its validity period.
 */
#include <openssl/err.h>
#include <openssl/x509.h>

#include "certs/certs.h"
#include "certs/certs_int.h"

int
certs_pem_check_pair(const char *cert_pem, size_t cert_len,
    const char *key_pem, size_t key_len)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int rc = CERTS_E_INVAL;

	if (cert_pem == NULL || key_pem == NULL)
		goto out;
	rc = certs_int_cert_from_pem(cert_pem, cert_len, &cert);
	if (rc != 0)
		goto out;
	rc = certs_int_key_from_pem(key_pem, key_len, &key);
	if (rc != 0)
		goto out;
	rc = CERTS_E_MISMATCH;
	if (X509_check_private_key(cert, key) != 1)
		goto out;
	/*
	 * X509_cmp_current_time: -1 when the time is not after now, 1 when
	 * it is, 0 when the field cannot be parsed.  Outside the validity
	 * period the pair does not belong together *now*: MISMATCH, the
	 * only non-format failure this function documents.
	 */
	switch (X509_cmp_current_time(X509_get0_notBefore(cert))) {
	case -1:
		break;
	case 0:
		rc = CERTS_E_FORMAT;
		goto out;
	default:
		goto out;
	}
	switch (X509_cmp_current_time(X509_get0_notAfter(cert))) {
	case 1:
		break;
	case 0:
		rc = CERTS_E_FORMAT;
		goto out;
	default:
		goto out;
	}
	rc = CERTS_OK;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}
