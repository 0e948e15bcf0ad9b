/*
 * errors.c - English text for the CERTS_E_* codes.
 *
 * The strings are static and say what went wrong in terms a caller can
 * act on; they must never carry OpenSSL's own error text, file contents
 * or anything derived from key material.
 */
#include "certs/certs.h"

const char *
certs_strerror(int err)
{
	switch (err) {
	case CERTS_OK:
		return "success";
	case CERTS_E_CRYPTO:
		return "cryptographic operation failed";
	case CERTS_E_NOMEM:
		return "out of memory";
	case CERTS_E_IO:
		return "file input/output failed";
	case CERTS_E_PERM:
		return "file has unsafe permissions or is not a regular file";
	case CERTS_E_EXISTS:
		return "refusing to overwrite an existing file";
	case CERTS_E_FORMAT:
		return "malformed key, certificate or encoding";
	case CERTS_E_BADSIG:
		return "signature does not verify";
	case CERTS_E_INVAL:
		return "invalid argument";
	case CERTS_E_MISMATCH:
		return "certificate and key do not match or certificate "
		       "is not currently valid";
	case CERTS_E_NOTFOUND:
		return "file not found";
	case CERTS_E_JWT_FORMAT:
		return "token is not three base64url parts of JSON objects";
	case CERTS_E_JWT_ALG:
		return "token algorithm, type or critical header not accepted";
	case CERTS_E_JWT_KID:
		return "token key id missing, malformed or unknown";
	case CERTS_E_JWT_CLAIMS:
		return "token issuer, audience or claim types not as expected";
	case CERTS_E_JWT_EXPIRED:
		return "token has expired";
	case CERTS_E_JWT_NOTYET:
		return "token is not yet valid";
	default:
		return "unknown certs error";
	}
}
