/*
 * certs_int.h - declarations shared by the files of certs/ and nobody else.
 *
 * These helpers move keys and certificates between OpenSSL objects and
 * files.  They follow the conventions of certs.h (0 or CERTS_E_*,
 * out-parameters cleared first and set only on success).  Nothing outside
 * certs/ may include this header: it drags in OpenSSL.
 */
#ifndef CCX_CERTS_INT_H
#define CCX_CERTS_INT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * 0 when nothing exists at path (not even a dangling symlink),
 * CERTS_E_EXISTS when something does, CERTS_E_IO when it cannot be told.
 */
int certs_int_file_absent(const char *path);

/*
 * Writes pkey's private key as unencrypted PKCS#8 PEM to path, mode 0600,
 * through certs_file_write_private.  Every copy of the PEM is wiped.
 */
int certs_int_key_save(const EVP_PKEY *pkey, const char *path, int overwrite);

/*
 * Parses one PEM private key of any type from pem[0..len).  Encrypted keys
 * are refused (CERTS_E_FORMAT), never prompted for.  Caller frees *out
 * with EVP_PKEY_free().
 */
int certs_int_key_from_pem(const char *pem, size_t len, EVP_PKEY **out);

/*
 * Reads path with certs_file_read_private (so the 0600 check applies) and
 * parses it with certs_int_key_from_pem.  Caller frees *out with
 * EVP_PKEY_free().
 */
int certs_int_key_load(const char *path, EVP_PKEY **out);

/*
 * Writes cert as PEM to path: mode 0644 via certs_file_write_public, or,
 * if private_file, 0600 via certs_file_write_private.
 */
int certs_int_cert_save(const X509 *cert, const char *path, int overwrite,
    int private_file);

/* Parses the first PEM certificate in pem[0..len).  Caller X509_free()s. */
int certs_int_cert_from_pem(const char *pem, size_t len, X509 **out);

/* Reads and parses a PEM certificate file.  Caller X509_free()s *out. */
int certs_int_cert_load(const char *path, X509 **out);

/* ---- shared by the issuers (x509.c, client.c) ------------------------ */

/* PEM password callback that refuses: encrypted keys are never prompted. */
int certs_int_no_passphrase_cb(char *buf, int size, int rwflag, void *u);

/* 1 when days is an acceptable validity (1..36500), else 0. */
int certs_int_days_ok(int days);

/* Gives x a positive 128-bit random serial.  0 or a CERTS_E_* code. */
int certs_int_set_random_serial(X509 *x);

/* Adds one extension (nconf syntax) issued by issuer to subject. */
int certs_int_add_ext(X509 *issuer, X509 *subject, int nid,
    const char *value);

/* 0 when ca is a CA certificate, valid now, matching ca_key. */
int certs_int_check_issuer(X509 *ca, EVP_PKEY *ca_key);

#endif /* CCX_CERTS_INT_H */
