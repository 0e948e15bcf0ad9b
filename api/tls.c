/*
 * tls.c - the server certificate the TLS handshake presents, replaceable
 * while the daemon runs.
 *
 * GnuTLS asks for the certificate on every handshake (the retrieve
 * callback): it gets the current identity, read once from certs/ and
 * swapped in whole on reload (SIGHUP), so new connections see the new
 * certificate and open ones keep theirs.  A file pair that does not load,
 * does not match or has expired is refused and the old identity kept.
 * Identities are freed only at shutdown: a handshake in progress may hold
 * one.  This is the only file besides server.c that knows GnuTLS.
 */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "certs/certs.h"

struct api_tls_id {
	struct api_tls_id *older;
	gnutls_pcert_st pcert;
	gnutls_privkey_t key;
};

/*
 * GnuTLS's retrieve callback carries no user pointer: the one server of
 * this process keeps its identity here.
 */
static _Atomic(struct api_tls_id *) current;

int
api_tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
    int nreqs, const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *privkey)
{
	struct api_tls_id *id = atomic_load(&current);

	(void)session;
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (id == NULL)
		return -1;
	*pcert = &id->pcert;
	*pcert_length = 1;
	*privkey = id->key;
	return 0;
}

static void
id_free(struct api_tls_id *id)
{
	while (id != NULL) {
		struct api_tls_id *older = id->older;

		gnutls_pcert_deinit(&id->pcert);
		gnutls_privkey_deinit(id->key);
		free(id);
		id = older;
	}
}

int
api_tls_load(const struct api_server *srv, char *errbuf, size_t errcap)
{
	char cpath[BROKER_PATH_MAX], kpath[BROKER_PATH_MAX];
	char *cert = NULL, *key = NULL;
	size_t clen = 0, klen = 0;
	struct api_tls_id *id = NULL;
	gnutls_datum_t d;
	int rc = API_E_TLS, pcert_ok = 0;

	if (broker_path(cpath, srv->cfg.data_dir, "certs/server.pem") != 0 ||
	    broker_path(kpath, srv->cfg.data_dir, "certs/server.key") != 0)
		return API_E_CONFIG;
	if ((rc = certs_file_read(cpath, &cert, &clen)) != 0) {
		snprintf(errbuf, errcap, "%s: %s", cpath, certs_strerror(rc));
		rc = API_E_TLS;
		goto out;
	}
	if ((rc = certs_file_read_private(kpath, &key, &klen)) != 0) {
		snprintf(errbuf, errcap, "%s: %s", kpath, certs_strerror(rc));
		rc = API_E_TLS;
		goto out;
	}
	rc = API_E_TLS;
	if (certs_pem_check_pair(cert, clen, key, klen) != 0) {
		snprintf(errbuf, errcap, "%s: certificate and key do not match, "
		    "or the certificate is not currently valid", cpath);
		goto out;
	}
	if ((id = calloc(1, sizeof(*id))) == NULL) {
		rc = API_E_NOMEM;
		goto out;
	}
	d.data = (unsigned char *)cert;
	d.size = (unsigned int)clen;
	if (gnutls_pcert_import_x509_raw(&id->pcert, &d, GNUTLS_X509_FMT_PEM,
		0) < 0) {
		snprintf(errbuf, errcap, "%s: unusable certificate", cpath);
		goto out;
	}
	pcert_ok = 1;
	d.data = (unsigned char *)key;
	d.size = (unsigned int)klen;
	if (gnutls_privkey_init(&id->key) < 0 ||
	    gnutls_privkey_import_x509_raw(id->key, &d, GNUTLS_X509_FMT_PEM,
		NULL, 0) < 0) {
		snprintf(errbuf, errcap, "%s: unusable private key", kpath);
		goto out;
	}
	id->older = atomic_load(&current);
	atomic_store(&current, id);
	id = NULL;
	rc = 0;
out:
	if (id != NULL) {
		if (pcert_ok)
			gnutls_pcert_deinit(&id->pcert);
		if (id->key != NULL)
			gnutls_privkey_deinit(id->key);
		free(id);
	}
	free(cert);
	certs_free_secret(key, klen);
	return rc;
}

void
api_tls_free(void)
{
	id_free(atomic_exchange(&current, NULL));
}
