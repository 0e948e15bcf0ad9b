/*
 * test_client_certs.c - unit tests of the mutual-TLS client certificates
 * in certs/client.c: issuing from a generated key and from CSRs of every
 * accepted and refused kind, and verifying what a peer could present,
 * each result cross-checked with OpenSSL's own verifier and an
 * independent SHA-256 thumbprint.
 *
 * The group creates two CAs and a server certificate in a fresh mkdtemp
 * directory; every test uses its own file names there and frees what it
 * allocates, so the binary stays clean under valgrind and ASan.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/certs.h"

#define DAY (24L * 60 * 60)

/* ---- fixture ------------------------------------------------------------ */

static char g_dir[] = "/tmp/ccx-test-client-XXXXXX";

/* The test CA, a second unrelated CA, and a server certificate. */
static char *g_ca_pem, *g_other_pem;
static size_t g_ca_len, g_other_len;
static X509 *g_ca, *g_other, *g_server;
static EVP_PKEY *g_ca_key, *g_other_key;

struct path {
	char s[512];
};

static struct path
tpath(const char *name)
{
	struct path p;
	size_t dl = strlen(g_dir), nl = strlen(name);

	assert_true(dl + 1 + nl < sizeof(p.s));
	memcpy(p.s, g_dir, dl);
	p.s[dl] = '/';
	memcpy(p.s + dl + 1, name, nl + 1);
	return p;
}

/* Like tpath, but usable where cmocka's asserts are not (group setup). */
static int
fpath(char *buf, size_t cap, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", g_dir, name);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static X509 *
cert_from_pem(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x = NULL;

	if (bio != NULL)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return x;
}

static EVP_PKEY *
key_from_file(const char *path)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *bio;
	EVP_PKEY *k = NULL;

	if (certs_file_read_private(path, &pem, &len) != 0)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio != NULL)
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	certs_free_secret(pem, len);
	return k;
}

/* Creates a CA in g_dir and loads its PEM, certificate and key. */
static int
setup_ca(const char *stem, const char *cn, char **pem, size_t *len, X509 **x,
    EVP_PKEY **key)
{
	char cert_p[512], key_p[512], name[64];

	if (snprintf(name, sizeof(name), "%s.pem", stem) >= (int)sizeof(name) ||
	    fpath(cert_p, sizeof(cert_p), name) != 0)
		return -1;
	if (snprintf(name, sizeof(name), "%s.key", stem) >= (int)sizeof(name) ||
	    fpath(key_p, sizeof(key_p), name) != 0)
		return -1;
	if (certs_ca_create(cert_p, key_p, cn, 30) != 0)
		return -1;
	if (certs_file_read(cert_p, pem, len) != 0)
		return -1;
	*x = cert_from_pem(*pem, *len);
	*key = key_from_file(key_p);
	return *x == NULL || *key == NULL ? -1 : 0;
}

static int
group_setup(void **state)
{
	static const char *const names[] = {"localhost"};
	char ca_p[512], cakey_p[512], srv_p[512], srvkey_p[512];
	char *pem = NULL;
	size_t len = 0;

	(void)state;
	if (mkdtemp(g_dir) == NULL)
		return -1;
	if (setup_ca("ca", "CCX test CA", &g_ca_pem, &g_ca_len, &g_ca,
		&g_ca_key) != 0)
		return -1;
	if (setup_ca("other-ca", "CCX other CA", &g_other_pem, &g_other_len,
		&g_other, &g_other_key) != 0)
		return -1;
	if (fpath(ca_p, sizeof(ca_p), "ca.pem") != 0 ||
	    fpath(cakey_p, sizeof(cakey_p), "ca.key") != 0 ||
	    fpath(srv_p, sizeof(srv_p), "server.pem") != 0 ||
	    fpath(srvkey_p, sizeof(srvkey_p), "server.key") != 0)
		return -1;
	if (certs_server_issue(ca_p, cakey_p, names, 1, 10, srv_p, srvkey_p,
		0) != 0)
		return -1;
	if (certs_file_read(srv_p, &pem, &len) != 0)
		return -1;
	g_server = cert_from_pem(pem, len);
	free(pem);
	return g_server == NULL ? -1 : 0;
}

/* The directory holds plain files only. */
static void
remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char sub[1024];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int n;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n = snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(sub))
			continue;
		(void)unlink(sub);
	}
	closedir(d);
	(void)rmdir(dir);
}

static int
group_teardown(void **state)
{
	(void)state;
	X509_free(g_server);
	X509_free(g_ca);
	X509_free(g_other);
	EVP_PKEY_free(g_ca_key);
	EVP_PKEY_free(g_other_key);
	free(g_ca_pem);
	free(g_other_pem);
	remove_tree(g_dir);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static mode_t
file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	return st.st_mode & 07777;
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Temporary files are hidden ".name.<hex>.tmp": none may survive. */
static void
assert_no_temp_files(void)
{
	DIR *d = opendir(g_dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		assert_false(n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0);
	}
	closedir(d);
}

static void
write_raw(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* Reads a certificate file written by certs_client_issue (0600). */
static X509 *
load_cert(const char *path)
{
	char *pem = NULL;
	size_t len = 0;
	X509 *x;

	assert_int_equal(certs_file_read_private(path, &pem, &len), 0);
	x = cert_from_pem(pem, len);
	assert_non_null(x);
	certs_free_secret(pem, len);
	return x;
}

/* The PEM -> DER conversion the TLS layer will have done. */
static size_t
to_der(X509 *x, unsigned char **der)
{
	int n;

	*der = NULL;
	n = i2d_X509(x, der);
	assert_true(n > 0);
	assert_non_null(*der);
	return (size_t)n;
}

/* SHA-256 and standard base64 from OpenSSL, made base64url by hand: a
 * thumbprint computed independently of certs/. */
static void
ref_thumb(const unsigned char *der, size_t len, char out[CERTS_THUMB_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE], b64[64];
	unsigned int mdlen = 0;
	size_t i, o = 0;
	int n;

	assert_int_equal(EVP_Digest(der, len, md, &mdlen, EVP_sha256(), NULL),
	    1);
	assert_int_equal(mdlen, 32);
	n = EVP_EncodeBlock(b64, md, (int)mdlen);
	assert_int_equal(n, 44);
	for (i = 0; i < (size_t)n && b64[i] != '='; i++) {
		char c = (char)b64[i];

		out[o++] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	assert_int_equal(o, CERTS_THUMB_LEN);
	out[o] = '\0';
}

/* OpenSSL's verdict, with the CA as the only trust anchor. */
static int
ossl_verify(X509 *ca, X509 *leaf, int purpose)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

/* certs_client_verify on x, against ca_pem; thumb filled either way. */
static int
verify_x509(const char *ca_pem, size_t ca_len, X509 *x,
    char thumb[CERTS_THUMB_LEN + 1])
{
	unsigned char *der;
	size_t len = to_der(x, &der);
	int rc;

	memset(thumb, 'x', CERTS_THUMB_LEN + 1);
	rc = certs_client_verify(ca_pem, ca_len, der, len, thumb);
	OPENSSL_free(der);
	return rc;
}

static void
assert_critical(X509 *x, int nid, int crit)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	assert_true(i >= 0);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, i)), crit);
}

static void
assert_cn(X509 *x, const char *cn)
{
	char buf[128];

	/* the subject is CN alone, whatever a CSR asked for */
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
			NID_commonName, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, cn);
}

/* Exactly one SAN: URI urn:ccx:client:<client_id>. */
static void
assert_urn_san(X509 *x, const char *client_id)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *gn;
	const ASN1_STRING *s;
	char want[128];
	int crit = -1;

	assert_true(snprintf(want, sizeof(want), "urn:ccx:client:%s",
			client_id) < (int)sizeof(want));
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	assert_non_null(gens);
	assert_int_equal(crit, 0);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	gn = sk_GENERAL_NAME_value(gens, 0);
	assert_int_equal(gn->type, GEN_URI);
	s = gn->d.uniformResourceIdentifier;
	assert_int_equal(ASN1_STRING_length(s), strlen(want));
	assert_memory_equal(ASN1_STRING_get0_data(s), want, strlen(want));
	GENERAL_NAMES_free(gens);
}

/* What every client certificate from the test CA looks like. */
static void
assert_client_cert(X509 *x, const char *client_id)
{
	const ASN1_OCTET_STRING *akid, *skid;
	BIGNUM *bn;

	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_check_ca(x), 0);
	assert_critical(x, NID_basic_constraints, 1);
	assert_critical(x, NID_key_usage, 1);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_true((X509_get_extension_flags(x) & EXFLAG_XKUSAGE) != 0);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_cn(x, client_id);
	assert_urn_san(x, client_id);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x),
			     X509_get_subject_name(g_ca)),
	    0);
	akid = X509_get0_authority_key_id(x);
	skid = X509_get0_subject_key_id(g_ca);
	assert_non_null(akid);
	assert_non_null(skid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid, skid), 0);
	assert_non_null(X509_get0_subject_key_id(x));

	/* 128 random bits: fewer than 64 significant ones is 2^-64 luck */
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_non_null(bn);
	assert_int_equal(BN_is_negative(bn), 0);
	assert_true(BN_num_bits(bn) <= 128);
	assert_true(BN_num_bits(bn) > 64);
	BN_free(bn);

	assert_int_equal(ossl_verify(g_ca, x, X509_PURPOSE_SSL_CLIENT), 1);
	assert_int_equal(ossl_verify(g_ca, x, X509_PURPOSE_SSL_SERVER), 0);
}

/* notBefore five minutes back; notAfter days ahead (or a day less). */
static void
assert_validity(X509 *x, int days)
{
	int d = 0, s = 0;

	assert_int_equal(ASN1_TIME_diff(&d, &s, NULL, X509_get0_notBefore(x)),
	    1);
	assert_int_equal(d, 0);
	assert_true(s <= -290 && s >= -360);
	assert_int_equal(ASN1_TIME_diff(&d, &s, NULL, X509_get0_notAfter(x)),
	    1);
	assert_true(d == days || d == days - 1);
}

/* Verifies the issued file with certs_client_verify and independently. */
static void
assert_issued(const char *cert_path, const char *client_id,
    const char *thumb)
{
	char ref[CERTS_THUMB_LEN + 1], got[CERTS_THUMB_LEN + 1];
	unsigned char *der;
	size_t len;
	X509 *x;

	assert_int_equal(file_mode(cert_path), 0600);
	x = load_cert(cert_path);
	assert_client_cert(x, client_id);
	len = to_der(x, &der);
	ref_thumb(der, len, ref);
	assert_int_equal(strlen(thumb), CERTS_THUMB_LEN);
	assert_string_equal(thumb, ref);
	memset(got, 'x', sizeof(got));
	assert_int_equal(certs_client_verify(g_ca_pem, g_ca_len, der, len, got),
	    0);
	assert_string_equal(got, ref);
	OPENSSL_free(der);
	X509_free(x);
}

static EVP_PKEY *
gen_ec(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);

	assert_non_null(k);
	return k;
}

static EVP_PKEY *
gen_rsa(size_t bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);

	assert_non_null(k);
	return k;
}

/* P-256 whose SubjectPublicKeyInfo spells the curve out (explicit). */
static EVP_PKEY *
gen_ec_explicit(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_group_name(ctx, "P-256"), 1);
	assert_int_equal(
	    EVP_PKEY_CTX_set_ec_param_enc(ctx, OPENSSL_EC_EXPLICIT_CURVE), 1);
	assert_int_equal(EVP_PKEY_generate(ctx, &k), 1);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* RSA 2048 with e = 3, below what SP 800-56B allows. */
static EVP_PKEY *
gen_rsa_e3(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *k = NULL;
	BIGNUM *e = BN_new();

	assert_non_null(ctx);
	assert_non_null(e);
	assert_int_equal(BN_set_word(e, 3), 1);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e), 1);
	assert_int_equal(EVP_PKEY_generate(ctx, &k), 1);
	BN_free(e);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* A small DER writer: enough for the hand-made CSR below. */
struct der {
	unsigned char b[512];
	size_t n;
};

static void
der_put(struct der *d, const void *data, size_t len)
{
	assert_true(len <= sizeof(d->b) - d->n);
	memcpy(d->b + d->n, data, len);
	d->n += len;
}

/* Appends tag, length and content (lengths up to 65535). */
static void
der_tlv(struct der *d, unsigned char tag, const void *content, size_t len)
{
	unsigned char hdr[4];
	size_t h = 0;

	hdr[h++] = tag;
	if (len < 0x80) {
		hdr[h++] = (unsigned char)len;
	} else if (len <= 0xff) {
		hdr[h++] = 0x81;
		hdr[h++] = (unsigned char)len;
	} else {
		assert_true(len <= 0xffff);
		hdr[h++] = 0x82;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	}
	der_put(d, hdr, h);
	der_put(d, content, len);
}

/*
 * A CSR for the point at infinity on P-256 with a "self-signature" anyone
 * can make: with Q = O, ECDSA verification computes u1*G alone, so
 * r = x(kG), s = e/k passes for any k.  OpenSSL will not encode such a
 * key, so the CSR is spliced together from a genuine one.  Returns the
 * DER; *verifies gets OpenSSL's own X509_REQ_verify verdict on it.
 */
static size_t
make_infinity_csr_der(unsigned char **der, int *verifies)
{
	/* SubjectPublicKeyInfo: id-ecPublicKey, prime256v1, BIT STRING 00 */
	static const unsigned char inf_spki[] = {0x30, 0x19, 0x30, 0x13, 0x06,
	    0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
	    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x02, 0x00, 0x00};
	/* AlgorithmIdentifier ecdsa-with-SHA256 */
	static const unsigned char alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
	    0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
	EVP_PKEY *kp = gen_ec("P-256");
	EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	const BIGNUM *order;
	X509_REQ *req = X509_REQ_new(), *back;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BN_CTX *bnctx = BN_CTX_new();
	BIGNUM *k = NULL, *r = NULL, *s = BN_new(), *e, *kinv;
	unsigned char *tbs = NULL, *spki = NULL, *sigder = NULL, *at;
	unsigned char md[32];
	struct der body = {{0}, 0}, tbs2 = {{0}, 0}, bits = {{0}, 0};
	struct der all = {{0}, 0};
	unsigned int mdlen = 0;
	const unsigned char *p;
	size_t hlen;
	int tbslen, spkilen, siglen;

	assert_non_null(group);
	assert_non_null(req);
	assert_non_null(sig);
	assert_non_null(bnctx);
	assert_non_null(s);
	order = EC_GROUP_get0_order(group);

	/* a genuine request's to-be-signed part, its key swapped for O */
	assert_int_equal(X509_NAME_add_entry_by_txt(
			     X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
			     (const unsigned char *)"x", -1, -1, 0),
	    1);
	assert_int_equal(X509_REQ_set_pubkey(req, kp), 1);
	tbslen = i2d_re_X509_REQ_tbs(req, &tbs);
	/* short enough for a short-form length: a 2-byte header */
	assert_true(tbslen > 2 && tbs[1] < 0x80);
	spkilen = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki);
	assert_true(spkilen > 0);
	for (at = tbs; at + spkilen <= tbs + tbslen; at++)
		if (memcmp(at, spki, (size_t)spkilen) == 0)
			break;
	assert_true(at + spkilen <= tbs + tbslen);
	hlen = 2;
	der_put(&body, tbs + hlen, (size_t)(at - tbs) - hlen);
	der_put(&body, inf_spki, sizeof(inf_spki));
	der_put(&body, at + spkilen, (size_t)(tbs + tbslen - (at + spkilen)));
	der_tlv(&tbs2, 0x30, body.b, body.n);

	/* r = x(kG) mod n, s = e / k mod n */
	assert_int_equal(EVP_Digest(tbs2.b, tbs2.n, md, &mdlen, EVP_sha256(),
			     NULL),
	    1);
	assert_int_equal(EVP_PKEY_get_bn_param(kp, "priv", &k), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(kp, "qx", &r), 1);
	assert_int_equal(BN_nnmod(r, r, order, bnctx), 1);
	e = BN_bin2bn(md, (int)mdlen, NULL);
	assert_non_null(e);
	kinv = BN_mod_inverse(NULL, k, order, bnctx);
	assert_non_null(kinv);
	assert_int_equal(BN_mod_mul(s, e, kinv, order, bnctx), 1);
	assert_int_equal(ECDSA_SIG_set0(sig, r, s), 1);
	siglen = i2d_ECDSA_SIG(sig, &sigder);
	assert_true(siglen > 0);

	/* CertificationRequest ::= SEQUENCE { info, algorithm, signature } */
	der_put(&bits, "\0", 1); /* no unused bits */
	der_put(&bits, sigder, (size_t)siglen);
	body.n = 0;
	der_put(&body, tbs2.b, tbs2.n);
	der_put(&body, alg, sizeof(alg));
	der_tlv(&body, 0x03, bits.b, bits.n);
	der_tlv(&all, 0x30, body.b, body.n);

	p = all.b;
	back = d2i_X509_REQ(NULL, &p, (long)all.n);
	assert_non_null(back);
	assert_ptr_equal(p, all.b + all.n);
	assert_non_null(X509_REQ_get0_pubkey(back));
	*verifies = X509_REQ_verify(back, X509_REQ_get0_pubkey(back));
	X509_REQ_free(back);
	*der = OPENSSL_malloc(all.n);
	assert_non_null(*der);
	memcpy(*der, all.b, all.n);

	OPENSSL_free(sigder);
	OPENSSL_free(spki);
	OPENSSL_free(tbs);
	BN_free(kinv);
	BN_free(e);
	BN_clear_free(k);
	ECDSA_SIG_free(sig);
	BN_CTX_free(bnctx);
	X509_REQ_free(req);
	EC_GROUP_free(group);
	EVP_PKEY_free(kp);
	return all.n;
}

/* Adds an extension in openssl.cnf syntax to a CSR's request list. */
static void
push_ext(STACK_OF(X509_EXTENSION) * exts, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, nid, value);

	assert_non_null(e);
	assert_true(sk_X509_EXTENSION_push(exts, e) > 0);
}

/*
 * A CSR for pub's key, signed by signer (pub itself for a genuine one),
 * asking for everything a client certificate must not get: another
 * subject, CA:TRUE, serverAuth, a DNS name.  Returns its DER.
 */
static size_t
make_csr_der(EVP_PKEY *pub, EVP_PKEY *signer, unsigned char **der)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name;
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	int n;

	assert_non_null(req);
	assert_non_null(exts);
	name = X509_REQ_get_subject_name(req);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
			     (const unsigned char *)"Evil Corp", -1, -1, 0),
	    1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
			     (const unsigned char *)"admin", -1, -1, 0),
	    1);
	push_ext(exts, NID_basic_constraints, "critical,CA:TRUE");
	push_ext(exts, NID_ext_key_usage, "serverAuth,clientAuth");
	push_ext(exts, NID_subject_alt_name, "DNS:evil.example");
	assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	assert_int_equal(X509_REQ_set_pubkey(req, pub), 1);
	/* Ed25519 signs without a separate digest */
	assert_true(X509_REQ_sign(req, signer,
			EVP_PKEY_is_a(signer, "ED25519") ? NULL
							 : EVP_sha256()) > 0);
	*der = NULL;
	n = i2d_X509_REQ(req, der);
	assert_true(n > 0);
	X509_REQ_free(req);
	return (size_t)n;
}

/* PEM-wraps DER under "CERTIFICATE REQUEST", with optional headers. */
static char *
csr_pem(const unsigned char *der, size_t len, const char *header,
    size_t *pemlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *copy;
	long n;

	assert_non_null(bio);
	assert_true(PEM_write_bio(bio, "CERTIFICATE REQUEST", header, der,
			(long)len) > 0);
	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	copy = malloc((size_t)n + 1);
	assert_non_null(copy);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*pemlen = (size_t)n;
	BIO_free(bio);
	return copy;
}

/* ---- issuing with a generated key --------------------------------------- */

static void
test_issue_generated(void **state)
{
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	struct path cert_p = tpath("gen-acme.pem");
	struct path key_p = tpath("gen-acme.key");
	struct path cert2_p = tpath("gen-acme2.pem");
	struct path key2_p = tpath("gen-acme2.key");
	char thumb[CERTS_THUMB_LEN + 1], thumb2[CERTS_THUMB_LEN + 1];
	char group[64];
	size_t glen = 0;
	EVP_PKEY *k;
	X509 *x, *x2;

	(void)state;
	memset(thumb, 'x', sizeof(thumb));
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", NULL, 0,
			     20, cert_p.s, key_p.s, thumb),
	    0);
	assert_int_equal(file_mode(cert_p.s), 0600);
	assert_int_equal(file_mode(key_p.s), 0600);
	assert_no_temp_files();
	assert_issued(cert_p.s, "acme", thumb);

	x = load_cert(cert_p.s);
	assert_validity(x, 20);
	/* PKCS#8, P-256, and the key of the certificate */
	k = key_from_file(key_p.s);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_is_a(k, "EC"), 1);
	assert_int_equal(
	    EVP_PKEY_get_group_name(k, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
	assert_int_equal(X509_check_private_key(x, k), 1);

	/* a second certificate: a new key, serial and thumbprint */
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", NULL, 0,
			     20, cert2_p.s, key2_p.s, thumb2),
	    0);
	assert_string_not_equal(thumb, thumb2);
	x2 = load_cert(cert2_p.s);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(x),
				 X509_get0_serialNumber(x2)),
	    0);
	assert_int_equal(X509_check_private_key(x2, k), 0);

	X509_free(x2);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* A client id is a CN and a URN: the characters of RFC 3986 unreserved. */
static void
test_issue_client_ids(void **state)
{
	static const struct {
		const char *id;
		int ok;
	} cases[] = {
	    {"a", 1},
	    {"globex.eu_2-x~", 1},
	    {"ACME", 1},
	    {"", 0},
	    {"a b", 0},
	    {"a/b", 0},
	    {"a,b", 0},
	    {"a:b", 0},
	    {"a%20", 0},
	    {"a\nb", 0},
	    {"CN=x", 0},
	    {"\xc3\xa9t\xc3\xa9", 0},
	};
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	char max[65], thumb[CERTS_THUMB_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char cn[32], kn[32];
		struct path cert_p, key_p;

		(void)snprintf(cn, sizeof(cn), "id-%zu.pem", i);
		(void)snprintf(kn, sizeof(kn), "id-%zu.key", i);
		cert_p = tpath(cn);
		key_p = tpath(kn);
		memset(thumb, 'x', sizeof(thumb));
		assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s,
				     cases[i].id, NULL, 0, 1, cert_p.s, key_p.s,
				     thumb),
		    cases[i].ok ? 0 : CERTS_E_INVAL);
		if (cases[i].ok) {
			assert_issued(cert_p.s, cases[i].id, thumb);
		} else {
			assert_string_equal(thumb, "");
			assert_false(exists(cert_p.s));
			assert_false(exists(key_p.s));
		}
	}

	/* 64 characters is the CN limit; 65 is one too many */
	memset(max, 'z', 64);
	max[64] = '\0';
	{
		struct path cert_p = tpath("id-64.pem");
		struct path key_p = tpath("id-64.key");

		assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, max,
				     NULL, 0, 1, cert_p.s, key_p.s, thumb),
		    0);
		assert_issued(cert_p.s, max, thumb);
	}
	{
		char over[66];
		struct path cert_p = tpath("id-65.pem");
		struct path key_p = tpath("id-65.key");

		memset(over, 'z', 65);
		over[65] = '\0';
		assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, over,
				     NULL, 0, 1, cert_p.s, key_p.s, thumb),
		    CERTS_E_INVAL);
		assert_false(exists(cert_p.s));
	}
}

/* A certificate never outlives its CA (30 days in the fixture). */
static void
test_issue_capped_by_ca(void **state)
{
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	struct path cert_p = tpath("cap.pem"), key_p = tpath("cap.key");
	char thumb[CERTS_THUMB_LEN + 1];
	X509 *x;

	(void)state;
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "longlived",
			     NULL, 0, 36500, cert_p.s, key_p.s, thumb),
	    0);
	x = load_cert(cert_p.s);
	assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(x),
			     X509_get0_notAfter(g_ca)),
	    0);
	assert_validity(x, 30);
	X509_free(x);
	assert_issued(cert_p.s, "longlived", thumb);
}

/* ---- issuing from a CSR ------------------------------------------------- */

enum key_kind {
	K_P256,
	K_P384,
	K_P521,
	K_RSA2048,
	K_RSA1024,
	K_ED25519,
	K_P256_EXPLICIT,
	K_RSA2048_E3,
	K_COUNT
};

enum csr_mangle {
	M_NONE,		/* a genuine CSR */
	M_OTHER_SIGNER, /* signed by a different key than the one it carries */
	M_FLIP_SIG,	/* last signature byte flipped */
	M_ENCRYPTED,	/* PEM headers claiming encryption */
	M_TRUNCATED,	/* PEM cut in the middle */
};

static EVP_PKEY *
make_key(enum key_kind kind)
{
	switch (kind) {
	case K_P256:
		return gen_ec("P-256");
	case K_P384:
		return gen_ec("P-384");
	case K_P521:
		return gen_ec("P-521");
	case K_RSA2048:
		return gen_rsa(2048);
	case K_RSA1024:
		return gen_rsa(1024);
	case K_ED25519: {
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

		assert_non_null(k);
		return k;
	}
	case K_P256_EXPLICIT:
		return gen_ec_explicit();
	case K_RSA2048_E3:
		return gen_rsa_e3();
	case K_COUNT:
		break;
	}
	fail_msg("unknown key kind %d", (int)kind);
	return NULL;
}

static void
test_issue_from_csr(void **state)
{
	static const struct {
		const char *name;
		enum key_kind key;
		enum csr_mangle mangle;
		int expect;
	} cases[] = {
	    {"EC P-256", K_P256, M_NONE, 0},
	    {"EC P-384", K_P384, M_NONE, 0},
	    {"RSA 2048", K_RSA2048, M_NONE, 0},
	    {"RSA 1024: too weak", K_RSA1024, M_NONE, CERTS_E_FORMAT},
	    {"EC P-521: not offered", K_P521, M_NONE, CERTS_E_FORMAT},
	    {"Ed25519: not offered", K_ED25519, M_NONE, CERTS_E_FORMAT},
	    {"P-256, explicit parameters", K_P256_EXPLICIT, M_NONE,
		CERTS_E_FORMAT},
	    {"RSA 2048, public exponent 3", K_RSA2048_E3, M_NONE,
		CERTS_E_FORMAT},
	    {"EC signed by another key", K_P256, M_OTHER_SIGNER,
		CERTS_E_FORMAT},
	    {"RSA signed by another key", K_RSA2048, M_OTHER_SIGNER,
		CERTS_E_FORMAT},
	    {"EC signature byte flipped", K_P256, M_FLIP_SIG, CERTS_E_FORMAT},
	    {"RSA signature byte flipped", K_RSA2048, M_FLIP_SIG,
		CERTS_E_FORMAT},
	    {"PEM claiming encryption", K_P256, M_ENCRYPTED, CERTS_E_FORMAT},
	    {"PEM truncated", K_P256, M_TRUNCATED, CERTS_E_FORMAT},
	};
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	EVP_PKEY *keys[K_COUNT] = {NULL}, *impostor = gen_ec("P-256");
	EVP_PKEY *rsa_impostor = gen_rsa(2048);
	char thumb[CERTS_THUMB_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < K_COUNT; i++)
		keys[i] = make_key((enum key_kind)i);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum key_kind kind = cases[i].key;
		struct path cert_p, key_p;
		EVP_PKEY *signer;
		unsigned char *der = NULL;
		char *pem, name[32];
		size_t derlen, pemlen;

		print_message("csr: %s\n", cases[i].name);
		signer = keys[kind];
		if (cases[i].mangle == M_OTHER_SIGNER) {
			/* RSA signs for RSA, EC for EC: only the key differs */
			signer = kind == K_RSA2048 ? rsa_impostor : impostor;
		}
		derlen = make_csr_der(keys[kind], signer, &der);
		if (cases[i].mangle == M_FLIP_SIG)
			der[derlen - 1] ^= 0x01;
		pem = csr_pem(der, derlen,
		    cases[i].mangle == M_ENCRYPTED
			? "Proc-Type: 4,ENCRYPTED\n"
			  "DEK-Info: AES-128-CBC,"
			  "00112233445566778899AABBCCDDEEFF\n"
			: "",
		    &pemlen);
		if (cases[i].mangle == M_NONE) {
			/* a refusal is about the key: OpenSSL accepts it */
			BIO *bio = BIO_new_mem_buf(pem, (int)pemlen);
			X509_REQ *req;

			assert_non_null(bio);
			req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
			assert_non_null(req);
			assert_int_equal(X509_REQ_verify(req, keys[kind]), 1);
			X509_REQ_free(req);
			BIO_free(bio);
		}
		if (cases[i].mangle == M_TRUNCATED)
			pemlen /= 2;
		OPENSSL_free(der);

		(void)snprintf(name, sizeof(name), "csr-%zu.pem", i);
		cert_p = tpath(name);
		(void)snprintf(name, sizeof(name), "csr-%zu.key", i);
		key_p = tpath(name);
		memset(thumb, 'x', sizeof(thumb));
		assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s,
				     "globex", pem, pemlen, 7, cert_p.s,
				     key_p.s, thumb),
		    cases[i].expect);
		/* key_path is unused with a CSR: nothing is written there */
		assert_false(exists(key_p.s));
		if (cases[i].expect == 0) {
			X509 *x;

			assert_issued(cert_p.s, "globex", thumb);
			x = load_cert(cert_p.s);
			/* the CSR's key, and none of its wishes */
			assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x),
					     keys[kind]),
			    1);
			assert_validity(x, 7);
			X509_free(x);
		} else {
			assert_string_equal(thumb, "");
			assert_false(exists(cert_p.s));
		}
		free(pem);
	}
	assert_no_temp_files();
	for (i = 0; i < K_COUNT; i++)
		EVP_PKEY_free(keys[i]);
	EVP_PKEY_free(impostor);
	EVP_PKEY_free(rsa_impostor);
}

/* A key anyone can sign for must not be certified for anyone. */
static void
test_issue_csr_infinity(void **state)
{
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	struct path cert_p = tpath("inf.pem");
	char thumb[CERTS_THUMB_LEN + 1], *pem;
	unsigned char *der = NULL;
	size_t derlen, pemlen;
	int verifies = -1;

	(void)state;
	derlen = make_infinity_csr_der(&der, &verifies);
	print_message("OpenSSL's X509_REQ_verify on the forgery: %d\n",
	    verifies);
	pem = csr_pem(der, derlen, "", &pemlen);
	memset(thumb, 'x', sizeof(thumb));
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "nobody", pem,
			     pemlen, 7, cert_p.s, NULL, thumb),
	    CERTS_E_FORMAT);
	assert_string_equal(thumb, "");
	assert_false(exists(cert_p.s));
	OPENSSL_free(der);
	free(pem);
}

/* Input that is no CSR at all, and a NULL key_path being fine. */
static void
test_issue_csr_garbage(void **state)
{
	static const char not_pem[] = "hello, I am a certificate request";
	static const char empty_pem[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
					"-----END CERTIFICATE REQUEST-----\n";
	static const char bad_b64[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
				      "!!!!\n"
				      "-----END CERTIFICATE REQUEST-----\n";
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	struct path cert_p = tpath("junk.pem");
	char thumb[CERTS_THUMB_LEN + 1];
	unsigned char *der = NULL;
	EVP_PKEY *k = gen_ec("P-256");
	char *pem, *cert_pem;
	size_t derlen, pemlen, cert_len = 0;
	X509 *x;

	(void)state;
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "junk", not_pem,
			     strlen(not_pem), 7, cert_p.s, NULL, thumb),
	    CERTS_E_FORMAT);
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "junk",
			     empty_pem, strlen(empty_pem), 7, cert_p.s, NULL,
			     thumb),
	    CERTS_E_FORMAT);
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "junk", bad_b64,
			     strlen(bad_b64), 7, cert_p.s, NULL, thumb),
	    CERTS_E_FORMAT);
	/* a non-NULL pointer with no bytes is an empty CSR, not "generate" */
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "junk", not_pem,
			     0, 7, cert_p.s, NULL, thumb),
	    CERTS_E_FORMAT);
	/* a certificate is not a CSR */
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "junk",
			     g_ca_pem, g_ca_len, 7, cert_p.s, NULL, thumb),
	    CERTS_E_FORMAT);
	assert_false(exists(cert_p.s));

	/* for contrast, a good CSR (and no key_path: it is not needed) */
	derlen = make_csr_der(k, k, &der);
	pem = csr_pem(der, derlen, "", &pemlen);
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "junk", pem,
			     pemlen, 7, cert_p.s, NULL, thumb),
	    0);
	assert_issued(cert_p.s, "junk", thumb);
	/* the certificate file, unlike the CSR, carries no private key */
	assert_int_equal(
	    certs_file_read_private(cert_p.s, &cert_pem, &cert_len), 0);
	assert_null(strstr(cert_pem, "PRIVATE"));
	certs_free_secret(cert_pem, cert_len);
	x = load_cert(cert_p.s);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
	X509_free(x);
	OPENSSL_free(der);
	free(pem);
	EVP_PKEY_free(k);
}

/* ---- refusals while issuing --------------------------------------------- */

static void
test_issue_refuses_existing(void **state)
{
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	struct path cert_p = tpath("ex.pem"), key_p = tpath("ex.key");
	struct path fresh_cert = tpath("ex-fresh.pem");
	struct path fresh_key = tpath("ex-fresh.key");
	char thumb[CERTS_THUMB_LEN + 1];
	unsigned char *der = NULL;
	EVP_PKEY *k = gen_ec("P-256");
	char *pem, *back = NULL;
	size_t derlen, pemlen, backlen = 0;

	(void)state;
	write_raw(cert_p.s, "old cert", 8, 0600);
	write_raw(key_p.s, "old key", 7, 0600);

	/* generated key: either file existing is refused, nothing written */
	memset(thumb, 'x', sizeof(thumb));
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", NULL, 0,
			     7, cert_p.s, fresh_key.s, thumb),
	    CERTS_E_EXISTS);
	assert_string_equal(thumb, "");
	assert_false(exists(fresh_key.s));
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", NULL, 0,
			     7, fresh_cert.s, key_p.s, thumb),
	    CERTS_E_EXISTS);
	assert_false(exists(fresh_cert.s));

	/* a CSR: the certificate path is refused ... */
	derlen = make_csr_der(k, k, &der);
	pem = csr_pem(der, derlen, "", &pemlen);
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", pem,
			     pemlen, 7, cert_p.s, NULL, thumb),
	    CERTS_E_EXISTS);
	/* ... but key_path, unused, may name anything */
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", pem,
			     pemlen, 7, fresh_cert.s, key_p.s, thumb),
	    0);
	assert_issued(fresh_cert.s, "acme", thumb);

	/* the old files are untouched */
	assert_int_equal(certs_file_read_private(cert_p.s, &back, &backlen), 0);
	assert_string_equal(back, "old cert");
	certs_free_secret(back, backlen);
	assert_int_equal(certs_file_read_private(key_p.s, &back, &backlen), 0);
	assert_string_equal(back, "old key");
	certs_free_secret(back, backlen);
	assert_no_temp_files();

	OPENSSL_free(der);
	free(pem);
	EVP_PKEY_free(k);
}

static void
test_issue_errors(void **state)
{
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	struct path other_p = tpath("other-ca.pem");
	struct path srv_p = tpath("server.pem"), srvkey_p = tpath("server.key");
	struct path open_key = tpath("ca-open.key");
	struct path missing = tpath("no-such-ca.pem");
	struct path cert_p = tpath("err.pem"), key_p = tpath("err.key");
	struct path nodir_p = tpath("no-such-dir/err.pem");
	char thumb[CERTS_THUMB_LEN + 1], *pem = NULL;
	size_t len = 0;
	const struct {
		const char *name, *ca, *cakey, *id, *cert, *key;
		int days, expect;
	} cases[] = {
	    {"NULL CA", NULL, cakey_p.s, "acme", cert_p.s, key_p.s, 7,
		CERTS_E_INVAL},
	    {"NULL CA key", ca_p.s, NULL, "acme", cert_p.s, key_p.s, 7,
		CERTS_E_INVAL},
	    {"NULL client id", ca_p.s, cakey_p.s, NULL, cert_p.s, key_p.s, 7,
		CERTS_E_INVAL},
	    {"NULL cert path", ca_p.s, cakey_p.s, "acme", NULL, key_p.s, 7,
		CERTS_E_INVAL},
	    {"NULL key path, no CSR", ca_p.s, cakey_p.s, "acme", cert_p.s, NULL,
		7, CERTS_E_INVAL},
	    {"cert path == key path", ca_p.s, cakey_p.s, "acme", cert_p.s,
		cert_p.s, 7, CERTS_E_INVAL},
	    {"0 days", ca_p.s, cakey_p.s, "acme", cert_p.s, key_p.s, 0,
		CERTS_E_INVAL},
	    {"negative days", ca_p.s, cakey_p.s, "acme", cert_p.s, key_p.s, -1,
		CERTS_E_INVAL},
	    {"more than a century", ca_p.s, cakey_p.s, "acme", cert_p.s,
		key_p.s, 36501, CERTS_E_INVAL},
	    {"missing CA", missing.s, cakey_p.s, "acme", cert_p.s, key_p.s, 7,
		CERTS_E_NOTFOUND},
	    {"CA key readable by others", ca_p.s, open_key.s, "acme",
		cert_p.s, key_p.s, 7, CERTS_E_PERM},
	    {"CA and key mismatched", other_p.s, cakey_p.s, "acme", cert_p.s,
		key_p.s, 7, CERTS_E_MISMATCH},
	    {"issuer is not a CA", srv_p.s, srvkey_p.s, "acme", cert_p.s,
		key_p.s, 7, CERTS_E_INVAL},
	};
	size_t i;

	(void)state;
	assert_int_equal(certs_file_read_private(cakey_p.s, &pem, &len), 0);
	write_raw(open_key.s, pem, len, 0644);
	certs_free_secret(pem, len);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("issue: %s\n", cases[i].name);
		memset(thumb, 'x', sizeof(thumb));
		assert_int_equal(certs_client_issue(cases[i].ca, cases[i].cakey,
				     cases[i].id, NULL, 0, cases[i].days,
				     cases[i].cert, cases[i].key, thumb),
		    cases[i].expect);
		assert_string_equal(thumb, "");
		assert_false(exists(cert_p.s));
		assert_false(exists(key_p.s));
	}
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", NULL, 0,
			     7, cert_p.s, key_p.s, NULL),
	    CERTS_E_INVAL);
	assert_false(exists(cert_p.s));
	assert_false(exists(key_p.s));

	/* the key is written first; when the certificate then cannot be,
	 * the key goes too, so that a retry is not refused */
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", NULL, 0,
			     7, nodir_p.s, key_p.s, thumb),
	    CERTS_E_NOTFOUND);
	assert_string_equal(thumb, "");
	assert_false(exists(key_p.s));
	assert_no_temp_files();
}

/* ---- verifying ---------------------------------------------------------- */

enum signer {
	S_CA,	    /* the test CA: the only acceptable issuer */
	S_OTHER,    /* the other CA */
	S_IMPOSTOR, /* the test CA's name, someone else's key */
	S_SELF,	    /* self-signed */
};

enum {
	LEAF_CA = 1,	       /* basicConstraints CA:TRUE */
	LEAF_NO_AKID = 2,      /* no authorityKeyIdentifier */
	LEAF_EXPLICIT_KEY = 4, /* the subject key spells its curve out */
};

struct leaf_spec {
	const char *name;
	enum signer signer;
	long not_before, not_after; /* seconds from now */
	const char *ku;		    /* openssl.cnf syntax; NULL: usual */
	const char *eku;	    /* openssl.cnf syntax; NULL: none */
	unsigned flags;		    /* LEAF_* */
	int expect;
};

static void
add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key built by hand, as s describes. */
static X509 *
make_leaf(const struct leaf_spec *s, EVP_PKEY *key, EVP_PKEY *impostor)
{
	X509 *x = X509_new(), *issuer;
	EVP_PKEY *signer;
	const char *ku = s->ku;

	switch (s->signer) {
	case S_CA:
		issuer = g_ca;
		signer = g_ca_key;
		break;
	case S_OTHER:
		issuer = g_other;
		signer = g_other_key;
		break;
	case S_IMPOSTOR:
		issuer = g_ca;
		signer = impostor;
		break;
	default:
		issuer = x;
		signer = key;
		break;
	}
	if (ku == NULL)
		ku = (s->flags & LEAF_CA) != 0
			 ? "critical,digitalSignature,keyCertSign"
			 : "critical,digitalSignature";
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), s->not_before));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), s->not_after));
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x),
			     "CN", MBSTRING_ASC,
			     (const unsigned char *)"handmade", -1, -1, 0),
	    1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer)),
	    1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	add_ext(issuer, x, NID_basic_constraints,
	    (s->flags & LEAF_CA) != 0 ? "critical,CA:TRUE"
				      : "critical,CA:FALSE");
	add_ext(issuer, x, NID_key_usage, ku);
	if (s->eku != NULL)
		add_ext(issuer, x, NID_ext_key_usage, s->eku);
	add_ext(issuer, x, NID_subject_key_identifier, "hash");
	if ((s->flags & LEAF_NO_AKID) == 0)
		add_ext(issuer, x, NID_authority_key_identifier,
		    "keyid:always");
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static void
test_verify_leaves(void **state)
{
	/* valid from a minute ago for ten days, unless a case says otherwise */
#define NOW_ON -60, 10 * DAY
	static const struct leaf_spec cases[] = {
	    /* controls: the builder makes certificates that do verify */
	    {"control", S_CA, NOW_ON, NULL, "clientAuth", 0, 0},
	    {"clientAuth and serverAuth", S_CA, NOW_ON, NULL,
		"serverAuth,clientAuth", 0, 0},
	    /* time */
	    {"expired yesterday", S_CA, -10 * DAY, -DAY, NULL, "clientAuth", 0,
		CERTS_E_BADSIG},
	    {"expired a second ago", S_CA, -DAY, -1, NULL, "clientAuth", 0,
		CERTS_E_BADSIG},
	    {"not yet valid", S_CA, DAY, 10 * DAY, NULL, "clientAuth", 0,
		CERTS_E_BADSIG},
	    /* usage */
	    {"no extendedKeyUsage", S_CA, NOW_ON, NULL, NULL, 0,
		CERTS_E_BADSIG},
	    {"serverAuth only", S_CA, NOW_ON, NULL, "serverAuth", 0,
		CERTS_E_BADSIG},
	    {"codeSigning only", S_CA, NOW_ON, NULL, "codeSigning", 0,
		CERTS_E_BADSIG},
	    {"keyUsage keyEncipherment only", S_CA, NOW_ON,
		"critical,keyEncipherment", "clientAuth", 0, CERTS_E_BADSIG},
	    {"a CA below ours", S_CA, NOW_ON, NULL, "clientAuth", LEAF_CA,
		CERTS_E_BADSIG},
	    /* strict X.509 */
	    {"no authorityKeyIdentifier", S_CA, NOW_ON, NULL, "clientAuth",
		LEAF_NO_AKID, CERTS_E_BADSIG},
	    {"key with explicit curve parameters", S_CA, NOW_ON, NULL,
		"clientAuth", LEAF_EXPLICIT_KEY, CERTS_E_BADSIG},
	    /* issuer */
	    {"issued by another CA", S_OTHER, NOW_ON, NULL, "clientAuth", 0,
		CERTS_E_BADSIG},
	    {"our CA's name, another key", S_IMPOSTOR, NOW_ON, NULL,
		"clientAuth", 0, CERTS_E_BADSIG},
	    {"self-signed", S_SELF, NOW_ON, NULL, "clientAuth", 0,
		CERTS_E_BADSIG},
	};
#undef NOW_ON
	EVP_PKEY *key = gen_ec("P-256"), *impostor = gen_ec("P-256");
	EVP_PKEY *explicit = gen_ec_explicit();
	char thumb[CERTS_THUMB_LEN + 1], ref[CERTS_THUMB_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509 *x = make_leaf(&cases[i],
		    (cases[i].flags & LEAF_EXPLICIT_KEY) != 0 ? explicit : key,
		    impostor);

		print_message("verify: %s\n", cases[i].name);
		assert_int_equal(verify_x509(g_ca_pem, g_ca_len, x, thumb),
		    cases[i].expect);
		if (cases[i].expect == 0) {
			unsigned char *der;
			size_t len = to_der(x, &der);

			ref_thumb(der, len, ref);
			assert_string_equal(thumb, ref);
			OPENSSL_free(der);
			/* trusted by our CA only */
			assert_int_equal(verify_x509(g_other_pem, g_other_len,
					     x, thumb),
			    CERTS_E_BADSIG);
		}
		/* a refusal leaves the thumbprint empty */
		assert_string_equal(thumb, "");
		X509_free(x);
	}
	EVP_PKEY_free(explicit);
	EVP_PKEY_free(key);
	EVP_PKEY_free(impostor);
}

/* Real certificates that are not client certificates of the test CA. */
static void
test_verify_refuses_others(void **state)
{
	struct path oca_p = tpath("other-ca.pem");
	struct path ocakey_p = tpath("other-ca.key");
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	struct path cert_p = tpath("v-other.pem"), key_p = tpath("v-other.key");
	struct path mine_p = tpath("v-mine.pem");
	struct path minekey_p = tpath("v-mine.key");
	char thumb[CERTS_THUMB_LEN + 1];
	X509 *x;

	(void)state;
	/* a proper client certificate, from the other CA */
	assert_int_equal(certs_client_issue(oca_p.s, ocakey_p.s, "acme", NULL,
			     0, 7, cert_p.s, key_p.s, thumb),
	    0);
	x = load_cert(cert_p.s);
	assert_int_equal(verify_x509(g_other_pem, g_other_len, x, thumb), 0);
	assert_int_equal(verify_x509(g_ca_pem, g_ca_len, x, thumb),
	    CERTS_E_BADSIG);
	assert_string_equal(thumb, "");
	X509_free(x);

	/* ours, checked against the other CA */
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", NULL, 0,
			     7, mine_p.s, minekey_p.s, thumb),
	    0);
	x = load_cert(mine_p.s);
	assert_int_equal(verify_x509(g_other_pem, g_other_len, x, thumb),
	    CERTS_E_BADSIG);
	X509_free(x);

	/* the server certificate: our CA, but serverAuth only */
	assert_int_equal(ossl_verify(g_ca, g_server, X509_PURPOSE_SSL_SERVER),
	    1);
	assert_int_equal(verify_x509(g_ca_pem, g_ca_len, g_server, thumb),
	    CERTS_E_BADSIG);
	assert_string_equal(thumb, "");

	/* the CA presenting itself */
	assert_int_equal(verify_x509(g_ca_pem, g_ca_len, g_ca, thumb),
	    CERTS_E_BADSIG);
	assert_string_equal(thumb, "");
}

static void
test_verify_format(void **state)
{
	struct path ca_p = tpath("ca.pem"), cakey_p = tpath("ca.key");
	struct path cert_p = tpath("fmt.pem"), key_p = tpath("fmt.key");
	static const unsigned char garbage[] = {0x30, 0x82, 0xff, 0xff, 0x01,
	    0x02, 0x03};
	static const unsigned char not_asn1[] = "GET / HTTP/1.1\r\n";
	char thumb[CERTS_THUMB_LEN + 1], ref[CERTS_THUMB_LEN + 1];
	unsigned char *der, *longer;
	size_t len;
	X509 *x;

	(void)state;
	assert_int_equal(certs_client_issue(ca_p.s, cakey_p.s, "acme", NULL, 0,
			     7, cert_p.s, key_p.s, thumb),
	    0);
	x = load_cert(cert_p.s);
	len = to_der(x, &der);
	ref_thumb(der, len, ref);
	assert_string_equal(thumb, ref);

	/* the same bytes with one or a whole certificate more after them */
	longer = malloc(2 * len);
	assert_non_null(longer);
	memcpy(longer, der, len);
	memcpy(longer + len, der, len);
	{
		const struct {
			const char *name;
			const char *ca;
			size_t ca_len;
			const unsigned char *der;
			size_t len;
			int expect;
		} cases[] = {
		    {"the certificate", g_ca_pem, g_ca_len, der, len, 0},
		    {"one trailing byte", g_ca_pem, g_ca_len, longer, len + 1,
			CERTS_E_FORMAT},
		    {"a second certificate after it", g_ca_pem, g_ca_len,
			longer, 2 * len, CERTS_E_FORMAT},
		    {"truncated by a byte", g_ca_pem, g_ca_len, der, len - 1,
			CERTS_E_FORMAT},
		    {"half of it", g_ca_pem, g_ca_len, der, len / 2,
			CERTS_E_FORMAT},
		    {"empty", g_ca_pem, g_ca_len, der, 0, CERTS_E_FORMAT},
		    {"garbage DER", g_ca_pem, g_ca_len, garbage,
			sizeof(garbage), CERTS_E_FORMAT},
		    {"not ASN.1 at all", g_ca_pem, g_ca_len, not_asn1,
			sizeof(not_asn1) - 1, CERTS_E_FORMAT},
		    {"PEM instead of DER", g_ca_pem, g_ca_len,
			(const unsigned char *)g_ca_pem, g_ca_len,
			CERTS_E_FORMAT},
		    {"CA PEM unparsable", "not a certificate", 17, der, len,
			CERTS_E_FORMAT},
		    {"CA PEM empty", g_ca_pem, 0, der, len, CERTS_E_FORMAT},
		    {"NULL CA", NULL, 0, der, len, CERTS_E_INVAL},
		    {"NULL DER", g_ca_pem, g_ca_len, NULL, 0, CERTS_E_INVAL},
		};
		size_t i;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			print_message("verify: %s\n", cases[i].name);
			memset(thumb, 'x', sizeof(thumb));
			assert_int_equal(certs_client_verify(cases[i].ca,
					     cases[i].ca_len, cases[i].der,
					     cases[i].len, thumb),
			    cases[i].expect);
			assert_string_equal(thumb,
			    cases[i].expect == 0 ? ref : "");
		}
	}
	assert_int_equal(certs_client_verify(g_ca_pem, g_ca_len, der, len,
			     NULL),
	    CERTS_E_INVAL);
	free(longer);
	OPENSSL_free(der);
	X509_free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_issue_generated),
	    cmocka_unit_test(test_issue_client_ids),
	    cmocka_unit_test(test_issue_capped_by_ca),
	    cmocka_unit_test(test_issue_from_csr),
	    cmocka_unit_test(test_issue_csr_infinity),
	    cmocka_unit_test(test_issue_csr_garbage),
	    cmocka_unit_test(test_issue_refuses_existing),
	    cmocka_unit_test(test_issue_errors),
	    cmocka_unit_test(test_verify_leaves),
	    cmocka_unit_test(test_verify_refuses_others),
	    cmocka_unit_test(test_verify_format),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
