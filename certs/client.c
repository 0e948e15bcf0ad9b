/*
 * client.c - client certificates for mutual TLS (RFC 8705): issuing one
 * for a company, from a fresh ECDSA P-256 key or from the company's own
 * certificate signing request, and verifying the certificate a peer
 * presents against the local CA, answering with its x5t#S256 thumbprint.
 *
 * An issued certificate is a leaf for TLS client authentication only; its
 * subject is CN=<client_id> and the only thing it takes from a CSR is the
 * public key, once the CSR's self-signature verifies under it.  This file
 * must never certify a key whose CSR signature does not verify or that is
 * weaker than the limits below, never copy a CSR's subject or extensions,
 * never accept a certificate that does not chain directly to the one CA it
 * is given, and never leave a fresh key file behind without its
 * certificate.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "certs/certs.h"
#include "certs/certs_int.h"

#define MAX_DAYS       36500 /* a century, as for the server certificate */
#define CLIENT_ID_MAX  64    /* RFC 5280 ub-common-name */
#define SERIAL_BYTES   16    /* 128 bits, well inside RFC 5280's 20 octets */
#define BACKDATE_SECS  300   /* tolerate clients whose clock runs behind */
#define RSA_MIN_BITS   2048  /* NIST SP 800-131A: nothing weaker */
#define GROUP_NAME_MAX 64    /* longer than any curve name OpenSSL knows */
#define URN_PREFIX     "urn:ccx:client:"

/*
 * 1..64 characters from RFC 3986's "unreserved" set: a valid CN and a
 * valid URN NSS without any escaping, and nothing a certificate viewer or
 * a configuration parser could misread.  The broker's own syntax for
 * client ids is narrower still.
 */
static int
client_id_ok(const char *id)
{
	size_t len = strlen(id), i;

	if (len == 0 || len > CLIENT_ID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.' ||
			c == '_' || c == '~'))
			return 0;
	}
	return 1;
}

/* x5t#S256 of a DER certificate into out (CERTS_THUMB_LEN + NUL). */
static int
thumb_of(const unsigned char *der, size_t len, char out[CERTS_THUMB_LEN + 1])
{
	uint8_t md[CERTS_SHA256_LEN];
	int rc;

	rc = certs_sha256(der, len, md);
	if (rc != 0)
		return rc;
	return certs_b64url_encode(md, sizeof(md), out, CERTS_THUMB_LEN + 1);
}

/* ---- issuing ------------------------------------------------------------ */

/*
 * At least RSA_MIN_BITS, and a public exponent as SP 800-56B wants it:
 * odd, 2^16 < e < 2^256.  With e = 1 anyone could sign for the key, so a
 * CSR's self-signature would prove nothing.  (OpenSSL itself caps the
 * modulus at 16384 bits when verifying.)
 */
static int
rsa_key_ok(const EVP_PKEY *pkey)
{
	BIGNUM *e = NULL;
	int ok;

	if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS)
		return 0;
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
		return 0;
	ok = BN_is_odd(e) && BN_num_bits(e) > 16 && BN_num_bits(e) <= 256;
	BN_free(e);
	return ok;
}

/*
 * The full public-key validation of SP 800-56A: on the curve, of the
 * group's order, and not the point at infinity, which decoding accepts
 * and for which anyone can forge an ECDSA signature.
 */
static int
ec_point_ok(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok;

	if (ctx == NULL)
		return 0;
	ok = EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/*
 * The limits of the header: RSA (not RSA-PSS) as rsa_key_ok() says, or
 * EC on P-256 or P-384 encoded as a named curve (explicit parameters are
 * refused by strict verifiers, including ours) with a valid point.
 */
static int
csr_key_ok(EVP_PKEY *pkey)
{
	char group[GROUP_NAME_MAX], enc[GROUP_NAME_MAX];
	size_t glen = 0, elen = 0;
	int nid;

	if (EVP_PKEY_is_a(pkey, "RSA"))
		return rsa_key_ok(pkey);
	if (!EVP_PKEY_is_a(pkey, "EC"))
		return 0;
	if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1)
		return 0;
	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING,
		enc, sizeof(enc), &elen) != 1)
		return 0;
	if (strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0)
		return 0;
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1)
		return 0;
	return ec_point_ok(pkey);
}

/*
 * Parses the first PEM CSR in pem[0..len), checks its key against the
 * limits and its self-signature, and hands back its public key (a
 * reference the caller EVP_PKEY_free()s).  Every refusal is
 * CERTS_E_FORMAT.
 */
static int
key_from_csr(const char *pem, size_t len, EVP_PKEY **out)
{
	BIO *bio = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pkey = NULL;
	int rc = CERTS_E_FORMAT;

	*out = NULL;
	/* Empty or absurdly long input is no CSR (CERTS_FILE_MAX < INT_MAX) */
	if (len == 0 || len > CERTS_FILE_MAX)
		goto out;
	rc = CERTS_E_NOMEM;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		goto out;
	rc = CERTS_E_FORMAT;
	req = PEM_read_bio_X509_REQ(bio, NULL, certs_int_no_passphrase_cb, NULL);
	if (req == NULL)
		goto out;
	pkey = X509_REQ_get_pubkey(req);
	if (pkey == NULL)
		goto out;
	/* Limits first: no point verifying with a key we will refuse. */
	if (!csr_key_ok(pkey))
		goto out;
	/* Proof of possession: signed by the key it asks us to certify. */
	if (X509_REQ_verify(req, pkey) != 1)
		goto out;
	*out = pkey;
	pkey = NULL;
	rc = CERTS_OK;
out:
	EVP_PKEY_free(pkey);
	X509_REQ_free(req);
	BIO_free(bio);
	return rc;
}

/*
 * subjectAltName URI:urn:ccx:client:<client_id>, built as a structure
 * rather than parsed from text; client_id_ok() made it a valid URN.
 */
static int
add_urn_san(X509 *x, const char *client_id)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *uri = NULL;
	/* sizeof counts the prefix's NUL: room for the id and a NUL */
	char urn[sizeof(URN_PREFIX) + CLIENT_ID_MAX];
	int n, rc = CERTS_E_INVAL;

	n = snprintf(urn, sizeof(urn), "%s%s", URN_PREFIX, client_id);
	if (n < 0 || (size_t)n >= sizeof(urn))
		goto out;
	rc = CERTS_E_NOMEM;
	gens = GENERAL_NAMES_new();
	gn = GENERAL_NAME_new();
	uri = ASN1_IA5STRING_new();
	if (gens == NULL || gn == NULL || uri == NULL)
		goto out;
	rc = CERTS_E_CRYPTO;
	if (ASN1_STRING_set(uri, urn, n) != 1)
		goto out;
	GENERAL_NAME_set0_value(gn, GEN_URI, uri);
	uri = NULL;
	rc = CERTS_E_NOMEM;
	if (sk_GENERAL_NAME_push(gens, gn) <= 0)
		goto out;
	gn = NULL;
	rc = CERTS_E_CRYPTO;
	/* Not critical: the subject also carries a CN. */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
		X509V3_ADD_DEFAULT) != 1)
		goto out;
	rc = CERTS_OK;
out:
	ASN1_IA5STRING_free(uri);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return rc;
}

/*
 * The complete, signed certificate for pkey.  Arguments were checked by
 * the caller, and ca by certs_int_check_issuer().  Caller X509_free()s *out.
 */
static int
build_cert(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *pkey, const char *client_id,
    int days, X509 **out)
{
	X509 *x = NULL;
	int cmp, rc = CERTS_E_NOMEM;

	*out = NULL;
	x = X509_new();
	if (x == NULL)
		goto out;
	rc = CERTS_E_CRYPTO;
	if (X509_set_version(x, X509_VERSION_3) != 1)
		goto out;
	rc = certs_int_set_random_serial(x);
	if (rc != 0)
		goto out;
	rc = CERTS_E_CRYPTO;
	if (X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECS) == NULL)
		goto out;
	if (X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL)
		goto out;
	/* Past the CA's own expiry the chain fails anyway: say so honestly. */
	cmp = ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca));
	if (cmp == -2)
		goto out;
	if (cmp > 0 && X509_set1_notAfter(x, X509_get0_notAfter(ca)) != 1)
		goto out;
	/* The subject is ours alone: nothing from a CSR. */
	if (X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
		MBSTRING_UTF8, (const unsigned char *)client_id, -1, -1,
		0) != 1)
		goto out;
	if (X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1)
		goto out;
	if (X509_set_pubkey(x, pkey) != 1)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_basic_constraints, "critical,CA:FALSE");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_key_usage, "critical,digitalSignature");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_ext_key_usage, "clientAuth");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_subject_key_identifier, "hash");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_authority_key_identifier, "keyid:always");
	if (rc != 0)
		goto out;
	rc = add_urn_san(x, client_id);
	if (rc != 0)
		goto out;
	/* X509_sign returns the signature's length, not 1: > 0 is success. */
	rc = CERTS_E_CRYPTO;
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
		goto out;
	*out = x;
	x = NULL;
	rc = CERTS_OK;
out:
	X509_free(x);
	return rc;
}

/* x5t#S256 of a certificate, from its DER encoding. */
static int
cert_thumb(X509 *x, char thumb[CERTS_THUMB_LEN + 1])
{
	unsigned char *der = NULL;
	int derlen, rc = CERTS_E_CRYPTO;

	derlen = i2d_X509(x, &der);
	if (derlen > 0 && der != NULL)
		rc = thumb_of(der, (size_t)derlen, thumb);
	OPENSSL_free(der);
	return rc;
}

int
certs_client_issue(const char *ca_cert_path, const char *ca_key_path,
    const char *client_id, const char *csr_pem, size_t csr_len, int days,
    const char *cert_path, const char *key_path,
    char thumb[CERTS_THUMB_LEN + 1])
{
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *ca_key = NULL, *pkey = NULL;
	char t[CERTS_THUMB_LEN + 1];
	int gen_key = csr_pem == NULL, key_written = 0, rc;

	if (thumb == NULL)
		return CERTS_E_INVAL;
	memset(thumb, 0, CERTS_THUMB_LEN + 1);
	/* Arguments first, while there is nothing to release yet. */
	if (ca_cert_path == NULL || ca_key_path == NULL || client_id == NULL ||
	    cert_path == NULL)
		return CERTS_E_INVAL;
	/* key_path matters only when the key is ours to generate. */
	if (gen_key && (key_path == NULL || strcmp(cert_path, key_path) == 0))
		return CERTS_E_INVAL;
	if (!client_id_ok(client_id) || !certs_int_days_ok(days))
		return CERTS_E_INVAL;
	rc = certs_int_file_absent(cert_path);
	if (rc != 0)
		goto out;
	if (gen_key) {
		rc = certs_int_file_absent(key_path);
		if (rc != 0)
			goto out;
	}

	rc = certs_int_cert_load(ca_cert_path, &ca);
	if (rc != 0)
		goto out;
	rc = certs_int_key_load(ca_key_path, &ca_key);
	if (rc != 0)
		goto out;
	rc = certs_int_check_issuer(ca, ca_key);
	if (rc != 0)
		goto out;

	if (gen_key) {
		rc = CERTS_E_CRYPTO;
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (pkey == NULL)
			goto out;
	} else {
		rc = key_from_csr(csr_pem, csr_len, &pkey);
		if (rc != 0)
			goto out;
	}
	rc = build_cert(ca, ca_key, pkey, client_id, days, &x);
	if (rc != 0)
		goto out;

	/* Key first, exclusively: a certificate never exists without it. */
	if (gen_key) {
		rc = certs_int_key_save(pkey, key_path, 0);
		if (rc != 0)
			goto out;
		key_written = 1;
	}
	rc = cert_thumb(x, t);
	if (rc != 0)
		goto out;
	/* A company's certificate files are private, like its key. */
	rc = certs_int_cert_save(x, cert_path, 0, 1);
	if (rc != 0)
		goto out;
	memcpy(thumb, t, sizeof(t));
out:
	/* A key without its certificate would block the retry. */
	if (rc != 0 && key_written)
		(void)unlink(key_path);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(ca_key);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

/* ---- verifying ----------------------------------------------------------- */

/*
 * The TLS client's view, strictly: leaf -> ca and nothing in between,
 * X.509 strict mode, the SSL client purpose, the current time.  0,
 * CERTS_E_BADSIG, or an allocation/library failure.
 */
static int
verify_chain(X509 *ca, X509 *leaf)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *chain;
	int ret, rc = CERTS_E_NOMEM;

	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL)
		goto out;
	rc = CERTS_E_CRYPTO;
	/* The only trust anchor: no default paths, no untrusted chain. */
	if (X509_STORE_add_cert(store, ca) != 1)
		goto out;
	if (X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1)
		goto out;
	if (X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
		X509_V_FLAG_X509_STRICT) != 1)
		goto out;
	if (X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1)
		goto out;
	/* No X509_VERIFY_PARAM_set_time: validity is checked against now. */
	ret = X509_verify_cert(ctx);
	if (ret < 0)
		goto out;
	rc = CERTS_E_BADSIG;
	if (ret != 1)
		goto out;
	/* Issued by the CA itself, and not the CA presenting itself. */
	chain = X509_STORE_CTX_get0_chain(ctx);
	if (chain == NULL || sk_X509_num(chain) != 2)
		goto out;
	if (X509_check_ca(leaf) != 0)
		goto out;
	/* The purpose tolerates a missing extendedKeyUsage; we do not. */
	if ((X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) == 0 ||
	    (X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT) == 0)
		goto out;
	rc = CERTS_OK;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

int
certs_client_verify(const char *ca_pem, size_t ca_len,
    const unsigned char *der, size_t der_len,
    char thumb[CERTS_THUMB_LEN + 1])
{
	X509 *ca = NULL, *leaf = NULL;
	const unsigned char *p = der;
	char t[CERTS_THUMB_LEN + 1];
	int rc;

	if (thumb == NULL)
		return CERTS_E_INVAL;
	memset(thumb, 0, CERTS_THUMB_LEN + 1);
	if (ca_pem == NULL || der == NULL)
		return CERTS_E_INVAL;
	/* d2i takes a long; CERTS_FILE_MAX keeps the cast exact. */
	rc = CERTS_E_FORMAT;
	if (der_len == 0 || der_len > CERTS_FILE_MAX)
		goto out;
	leaf = d2i_X509(NULL, &p, (long)der_len);
	if (leaf == NULL)
		goto out;
	/* Exactly one certificate: the thumbprint covers every byte. */
	if (p != der + der_len)
		goto out;
	rc = certs_int_cert_from_pem(ca_pem, ca_len, &ca);
	if (rc != 0)
		goto out;
	rc = verify_chain(ca, leaf);
	if (rc != 0)
		goto out;
	rc = thumb_of(der, der_len, t);
	if (rc != 0)
		goto out;
	memcpy(thumb, t, sizeof(t));
out:
	X509_free(leaf);
	X509_free(ca);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}
