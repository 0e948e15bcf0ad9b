/*
 * x509.c - the local certificate authority and the server certificate it
 * issues: ECDSA P-256 keys (Chromium refuses Ed25519 server certificates),
 * SHA-256 signatures, 128-bit random serials.
 *
 * Every name and number from the caller is validated before any key is
 * generated, and files are only written once the certificate is complete
 * and signed.  This file must never issue a certificate that is itself a
 * CA other than the root, never put an unchecked string into a
 * certificate, and never leave a fresh key file behind without its
 * certificate when it refuses to overwrite.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/certs.h"
#include "certs/certs_int.h"

#define MAX_DAYS 36500	  /* a century: beyond it a typo is likelier */
#define MAX_NAMES 100	  /* subjectAltName entries per certificate */
#define CN_MAX 64	  /* RFC 5280 ub-common-name */
#define DNS_MAX 253	  /* RFC 1035, without the trailing dot */
#define LABEL_MAX 63	  /* RFC 1035 */
#define SERIAL_BYTES 16	  /* 128 bits, well inside RFC 5280's 20 octets */
#define BACKDATE_SECS 300 /* tolerate clients whose clock runs behind */

int
certs_int_days_ok(int days)
{
	return days > 0 && days <= MAX_DAYS;
}

/* Printable, non-empty and short enough for a CN: nothing to inject. */
static int
cn_ok(const char *cn)
{
	size_t len = strlen(cn), i;

	if (len == 0 || len > CN_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)cn[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Host name syntax (letters, digits, hyphen, underscore; labels of 1..63,
 * no leading or trailing hyphen), optionally "*." in front, and a last
 * label that is not all digits: "10.0.0.256" is a mistyped address, not a
 * host name.
 */
static int
dns_name_ok(const char *name)
{
	const char *s = name;
	size_t len = strlen(name), label = 0, i;
	int all_digits = 1;

	if (len == 0 || len > DNS_MAX)
		return 0;
	if (s[0] == '*') {
		if (s[1] != '.')
			return 0;
		s += 2;
		len -= 2;
	}
	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			all_digits = 1;
			continue;
		}
		if (!is_ldh(c) || (c == '-' && label == 0))
			return 0;
		if (c < '0' || c > '9')
			all_digits = 0;
		if (++label > LABEL_MAX)
			return 0;
	}
	return label > 0 && s[len - 1] != '-' && !all_digits;
}

/* Fills addr and returns its length (4 or 16), or 0 for a host name. */
static size_t
parse_ip(const char *name, unsigned char addr[16])
{
	if (inet_pton(AF_INET, name, addr) == 1)
		return 4;
	if (inet_pton(AF_INET6, name, addr) == 1)
		return 16;
	return 0;
}

static int
names_ok(const char *const *names, size_t n_names)
{
	unsigned char addr[16];
	size_t i;

	if (names == NULL || n_names == 0 || n_names > MAX_NAMES)
		return 0;
	for (i = 0; i < n_names; i++) {
		if (names[i] == NULL)
			return 0;
		if (parse_ip(names[i], addr) == 0 && !dns_name_ok(names[i]))
			return 0;
	}
	return cn_ok(names[0]);
}

static int
gen_p256(EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc = CERTS_E_CRYPTO;

	*out = NULL;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL)
		goto out;
	if (EVP_PKEY_keygen_init(ctx) != 1)
		goto out;
	if (EVP_PKEY_CTX_set_group_name(ctx, "P-256") != 1)
		goto out;
	if (EVP_PKEY_generate(ctx, &pkey) != 1)
		goto out;
	*out = pkey;
	pkey = NULL;
	rc = CERTS_OK;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/*
 * Unpredictable serials: certificates from one CA never collide, and
 * nobody can precompute a certificate's to-be-signed bytes.
 */
int
certs_int_set_random_serial(X509 *x)
{
	unsigned char rnd[SERIAL_BYTES];
	BIGNUM *bn = NULL;
	int rc;

	rc = certs_random(rnd, sizeof(rnd));
	if (rc != 0)
		goto out;
	rc = CERTS_E_CRYPTO;
	/* BN_bin2bn reads unsigned big-endian: the serial is positive. */
	bn = BN_bin2bn(rnd, (int)sizeof(rnd), NULL);
	if (bn == NULL)
		goto out;
	/* RFC 5280 forbids a zero serial; 2^-128 odds, but cheap to rule out */
	if (BN_is_zero(bn) && BN_one(bn) != 1)
		goto out;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	rc = CERTS_OK;
out:
	BN_free(bn);
	return rc;
}

/*
 * The parts every certificate here shares: v3, random serial, validity,
 * subject CN and public key.  Caller X509_free()s *out.
 */
static int
new_cert(EVP_PKEY *pkey, const char *cn, int days, X509 **out)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	int rc = CERTS_E_NOMEM;

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
	name = X509_get_subject_name(x);
	if (name == NULL)
		goto out;
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		(const unsigned char *)cn, -1, -1, 0) != 1)
		goto out;
	if (X509_set_pubkey(x, pkey) != 1)
		goto out;
	*out = x;
	x = NULL;
	rc = CERTS_OK;
out:
	X509_free(x);
	return rc;
}

/* Adds one extension written in openssl.cnf syntax (value is ours). */
int
certs_int_add_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext = NULL;
	int rc = CERTS_E_CRYPTO;

	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		goto out;
	if (X509_add_ext(subject, ext, -1) != 1)
		goto out;
	rc = CERTS_OK;
out:
	X509_EXTENSION_free(ext);
	return rc;
}

/* Names were checked by names_ok(); this only encodes them. */
static int
add_san(X509 *x, const char *const *names, size_t n_names)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gn = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	unsigned char addr[16];
	size_t i, alen;
	int rc = CERTS_E_NOMEM;

	gens = GENERAL_NAMES_new();
	if (gens == NULL)
		goto out;
	for (i = 0; i < n_names; i++) {
		rc = CERTS_E_NOMEM;
		gn = GENERAL_NAME_new();
		if (gn == NULL)
			goto out;
		alen = parse_ip(names[i], addr);
		if (alen != 0) {
			ip = ASN1_OCTET_STRING_new();
			if (ip == NULL)
				goto out;
			rc = CERTS_E_CRYPTO;
			if (ASN1_OCTET_STRING_set(ip, addr, (int)alen) != 1)
				goto out;
			GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
			ip = NULL;
		} else {
			dns = ASN1_IA5STRING_new();
			if (dns == NULL)
				goto out;
			rc = CERTS_E_CRYPTO;
			/* strlen <= DNS_MAX, checked by dns_name_ok() */
			if (ASN1_STRING_set(dns, names[i],
				(int)strlen(names[i])) != 1)
				goto out;
			GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
			dns = NULL;
		}
		rc = CERTS_E_NOMEM;
		if (sk_GENERAL_NAME_push(gens, gn) <= 0)
			goto out;
		gn = NULL;
	}
	rc = CERTS_E_CRYPTO;
	/* Not critical: the subject also carries a CN. */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
		X509V3_ADD_DEFAULT) != 1)
		goto out;
	rc = CERTS_OK;
out:
	ASN1_IA5STRING_free(dns);
	ASN1_OCTET_STRING_free(ip);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return rc;
}

/* X509_sign returns the signature's length, not 1: > 0 is success. */
static int
sign_cert(X509 *x, EVP_PKEY *signer)
{
	return X509_sign(x, signer, EVP_sha256()) > 0 ? CERTS_OK
						       : CERTS_E_CRYPTO;
}

int
certs_ca_create(const char *cert_path, const char *key_path,
    const char *common_name, int days)
{
	EVP_PKEY *pkey = NULL;
	X509 *x = NULL;
	int key_written = 0, rc = CERTS_E_INVAL;

	if (cert_path == NULL || key_path == NULL || common_name == NULL)
		goto out;
	if (strcmp(cert_path, key_path) == 0 || !cn_ok(common_name) ||
	    !certs_int_days_ok(days))
		goto out;
	rc = certs_int_file_absent(cert_path);
	if (rc != 0)
		goto out;
	rc = certs_int_file_absent(key_path);
	if (rc != 0)
		goto out;

	rc = gen_p256(&pkey);
	if (rc != 0)
		goto out;
	rc = new_cert(pkey, common_name, days, &x);
	if (rc != 0)
		goto out;
	rc = CERTS_E_CRYPTO;
	if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1)
		goto out;
	/* pathlen:0 - this CA signs leaves only, never another CA. */
	rc = certs_int_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (rc != 0)
		goto out;
	/* The subject key id must exist before the authority key id that
	 * copies it. */
	rc = certs_int_add_ext(x, x, NID_subject_key_identifier, "hash");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(x, x, NID_authority_key_identifier, "keyid:always");
	if (rc != 0)
		goto out;
	rc = sign_cert(x, pkey);
	if (rc != 0)
		goto out;

	rc = certs_int_key_save(pkey, key_path, 0);
	if (rc != 0)
		goto out;
	key_written = 1;
	rc = certs_int_cert_save(x, cert_path, 0, 0);
out:
	/* A key without its certificate would block the retry. */
	if (rc != 0 && key_written)
		(void)unlink(key_path);
	X509_free(x);
	EVP_PKEY_free(pkey);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

/* Rejects an issuer that is not a CA, does not match its key or expired. */
int
certs_int_check_issuer(X509 *ca, EVP_PKEY *ca_key)
{
	if (X509_check_private_key(ca, ca_key) != 1)
		return CERTS_E_MISMATCH;
	/* X509_check_ca returns 0 for "not a CA", several non-zero kinds of
	 * yes. */
	if (X509_check_ca(ca) == 0)
		return CERTS_E_INVAL;
	if (X509_cmp_current_time(X509_get0_notAfter(ca)) <= 0)
		return CERTS_E_INVAL;
	return CERTS_OK;
}

int
certs_server_issue(const char *ca_cert_path, const char *ca_key_path,
    const char *const *names, size_t n_names, int days,
    const char *cert_path, const char *key_path, int overwrite)
{
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *ca_key = NULL, *pkey = NULL;
	int key_created = 0, cmp, rc = CERTS_E_INVAL;

	/* Arguments first, while there is nothing to release yet. */
	if (ca_cert_path == NULL || ca_key_path == NULL || cert_path == NULL ||
	    key_path == NULL || names == NULL)
		return CERTS_E_INVAL;
	if (strcmp(cert_path, key_path) == 0 || !names_ok(names, n_names) ||
	    !certs_int_days_ok(days))
		return CERTS_E_INVAL;
	if (!overwrite) {
		rc = certs_int_file_absent(cert_path);
		if (rc != 0)
			goto out;
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

	rc = gen_p256(&pkey);
	if (rc != 0)
		goto out;
	rc = new_cert(pkey, names[0], days, &x);
	if (rc != 0)
		goto out;
	rc = CERTS_E_CRYPTO;
	if (X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1)
		goto out;
	/* Past the CA's own expiry the chain fails anyway: say so honestly. */
	cmp = ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca));
	if (cmp == -2)
		goto out;
	if (cmp > 0 && X509_set1_notAfter(x, X509_get0_notAfter(ca)) != 1)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_basic_constraints, "critical,CA:FALSE");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_key_usage, "critical,digitalSignature");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_ext_key_usage, "serverAuth");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_subject_key_identifier, "hash");
	if (rc != 0)
		goto out;
	rc = certs_int_add_ext(ca, x, NID_authority_key_identifier, "keyid:always");
	if (rc != 0)
		goto out;
	rc = add_san(x, names, n_names);
	if (rc != 0)
		goto out;
	rc = sign_cert(x, ca_key);
	if (rc != 0)
		goto out;

	/* Key first: a server that reloads when the certificate changes then
	 * finds the matching key already in place. */
	rc = certs_int_key_save(pkey, key_path, overwrite);
	if (rc != 0)
		goto out;
	key_created = !overwrite;
	rc = certs_int_cert_save(x, cert_path, overwrite, 0);
out:
	if (rc != 0 && key_created)
		(void)unlink(key_path);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(ca_key);
	if (rc != 0)
		ERR_clear_error();
	return rc;
}
