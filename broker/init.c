/*
 * init.c - creates a deployment's data directory.
 *
 * Generates, through certs/, the local CA, the server certificate, the
 * first token-signing key, the pairwise-subject secret and the admin token,
 * then the LMDB environment holding the signing key's public half and the
 * issuer.  It refuses a directory that already holds anything, so an
 * initialised deployment can never be overwritten by accident.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "broker/broker_int.h"
#include "certs/certs.h"

#define CA_DAYS 3650
#define SERVER_DAYS 397
#define PAIRWISE_SECRET_LEN 32
#define ADMIN_TOKEN_BYTES 32

/* Maps a certs/ code onto the broker's range, keeping the useful cases. */
static int
certs_err(int rc)
{
	switch (rc) {
	case 0: return 0;
	case CERTS_E_EXISTS: return BROKER_E_EXISTS;
	case CERTS_E_NOMEM: return BROKER_E_NOMEM;
	case CERTS_E_IO:
	case CERTS_E_PERM:
	case CERTS_E_NOTFOUND: return BROKER_E_IO;
	default: return BROKER_E_STORAGE;
	}
}

/* 0 when dir does not exist or is empty; it is then created 0700. */
static int
prepare_dir(const char *dir)
{
	DIR *d;
	struct dirent *e;
	int used = 0;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return BROKER_E_IO;
	if ((d = opendir(dir)) == NULL)
		return BROKER_E_IO;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			used = 1;
			break;
		}
	}
	closedir(d);
	return used ? BROKER_E_EXISTS : 0;
}

static int
make_subdir(const char *dir, const char *rel)
{
	char path[BROKER_PATH_MAX];
	int rc;

	if ((rc = broker_path(path, dir, rel)) != 0)
		return rc;
	return mkdir(path, 0700) == 0 ? 0 : BROKER_E_IO;
}

static int
make_certificates(const struct broker_init_opts *o,
    struct broker_init_result *res)
{
	char key[BROKER_PATH_MAX], srv[BROKER_PATH_MAX], srvkey[BROKER_PATH_MAX];
	const char *names[64];
	size_t n = 0;
	int rc;

	if (o->n_hostnames > sizeof(names) / sizeof(names[0]) - 3)
		return BROKER_E_INVAL;
	names[n++] = "localhost";
	names[n++] = "127.0.0.1";
	names[n++] = "::1";
	for (size_t i = 0; i < o->n_hostnames; i++)
		names[n++] = o->hostnames[i];
	if ((rc = broker_path(res->ca_path, o->data_dir, "certs/ca.pem")) != 0 ||
	    (rc = broker_path(key, o->data_dir, "certs/ca.key")) != 0 ||
	    (rc = broker_path(srv, o->data_dir, "certs/server.pem")) != 0 ||
	    (rc = broker_path(srvkey, o->data_dir, "certs/server.key")) != 0)
		return rc;
	if ((rc = certs_ca_create(res->ca_path, key, "CCX broker local CA",
		 CA_DAYS)) != 0)
		return certs_err(rc);
	return certs_err(certs_server_issue(res->ca_path, key, names, n,
	    SERVER_DAYS, srv, srvkey, 0));
}

static int
make_secrets(const struct broker_init_opts *o, struct broker_init_result *res)
{
	unsigned char secret[PAIRWISE_SECRET_LEN];
	char token[64], path[BROKER_PATH_MAX];
	int rc;

	if ((rc = broker_path(path, o->data_dir, "pairwise.key")) != 0)
		return rc;
	if ((rc = certs_random(secret, sizeof(secret))) == 0)
		rc = certs_file_write_private(path, secret, sizeof(secret), 0);
	certs_wipe(secret, sizeof(secret));
	if (rc != 0)
		return certs_err(rc);

	if ((rc = broker_path(res->token_path, o->data_dir, "admin.token")) != 0)
		return rc;
	if ((rc = certs_random_token(token, sizeof(token), ADMIN_TOKEN_BYTES)) ==
	    0)
		rc = certs_file_write_private(res->token_path, token,
		    strlen(token), 0);
	certs_wipe(token, sizeof(token));
	return certs_err(rc);
}

/* Runs in the committer: records the issuer given at init. */
static int
put_issuer(struct broker_txn *t, void *arg)
{
	const char *issuer = arg;

	return broker_txn_put(t, BROKER_DB_META, BROKER_META_ISSUER_KEY,
	    sizeof(BROKER_META_ISSUER_KEY) - 1, issuer, strlen(issuer), 1);
}

/* The environment, the issuer, and the first key (signing at once). */
static int
make_store(const struct broker_init_opts *o, struct broker_init_result *res)
{
	struct broker_store *store = NULL;
	struct broker_store_opts sopts = { .map_size = o->map_size };
	int rc;

	if ((rc = broker_store_create(o->data_dir, o->map_size)) != 0)
		return rc;
	if ((rc = broker_store_open(o->data_dir, &sopts, &store)) != 0)
		return rc;
	if (o->issuer == NULL ||
	    (rc = broker_write(store, put_issuer,
		 (void *)(uintptr_t)o->issuer)) == 0)
		rc = broker_key_rotate(o->data_dir, store, (int64_t)time(NULL),
		    0, res->kid);
	broker_store_close(store);
	return rc;
}

int
broker_init(const struct broker_init_opts *o, struct broker_init_result *res)
{
	int rc;

	memset(res, 0, sizeof(*res));
	if (o == NULL || o->data_dir == NULL || o->data_dir[0] == '\0')
		return BROKER_E_INVAL;
	if (o->issuer != NULL && strncmp(o->issuer, "https://", 8) != 0)
		return BROKER_E_INVAL;
	if ((rc = prepare_dir(o->data_dir)) != 0)
		return rc;
	if ((rc = make_subdir(o->data_dir, "certs")) != 0 ||
	    (rc = make_subdir(o->data_dir, "keys")) != 0)
		return rc;
	if ((rc = make_certificates(o, res)) != 0)
		return rc;
	if ((rc = make_secrets(o, res)) != 0)
		return rc;
	/* The environment comes last: its presence marks a finished init. */
	return make_store(o, res);
}
