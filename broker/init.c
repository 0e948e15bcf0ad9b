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

#define META_HOSTNAMES_KEY "hostnames"

/* Runs in the committer: records the issuer given at init. */
static int
put_issuer(struct broker_txn *t, void *arg)
{
	const char *issuer = arg;

	return broker_txn_put(t, BROKER_DB_META, BROKER_META_ISSUER_KEY,
	    sizeof(BROKER_META_ISSUER_KEY) - 1, issuer, strlen(issuer), 1);
}

/* Runs in the committer: remembers the extra host names. */
static int
put_hostnames(struct broker_txn *t, void *arg)
{
	return broker_rec_put(t, BROKER_DB_META, META_HOSTNAMES_KEY,
	    sizeof(META_HOSTNAMES_KEY) - 1, arg, 0);
}

/* The extra host names: from the store, then those given now. */
static json_t *
hostnames_of(struct broker_store *s, const char *const *more, size_t n)
{
	struct broker_txn *t = NULL;
	const void *val;
	size_t len;
	json_t *rec = NULL, *list;

	if (s != NULL && broker_read_begin(s, &t) == 0) {
		if (broker_txn_get(t, BROKER_DB_META, META_HOSTNAMES_KEY,
			sizeof(META_HOSTNAMES_KEY) - 1, &val, &len, NULL) == 0)
			(void)broker_rec_load(val, len, &rec);
		broker_read_end(t);
	}
	list = rec != NULL ? json_incref(json_object_get(rec, "names")) : NULL;
	json_decref(rec);
	if (!json_is_array(list)) {
		json_decref(list);
		list = json_array();
	}
	for (size_t i = 0; list != NULL && i < n; i++) {
		size_t j;
		json_t *v;
		int dup = 0;

		json_array_foreach(list, j, v)
			dup |= strcmp(json_string_value(v), more[i]) == 0;
		if (!dup)
			json_array_append_new(list, json_string(more[i]));
	}
	return list;
}

/* Issues certs/server.pem for the standard names plus list. */
static int
issue_server(const char *dir, const json_t *list, int overwrite)
{
	char ca[BROKER_PATH_MAX], cakey[BROKER_PATH_MAX];
	char srv[BROKER_PATH_MAX], srvkey[BROKER_PATH_MAX];
	const char *names[64];
	size_t n = 0, i;
	json_t *v;
	int rc;

	if (json_array_size(list) > sizeof(names) / sizeof(names[0]) - 3)
		return BROKER_E_INVAL;
	names[n++] = "localhost";
	names[n++] = "127.0.0.1";
	names[n++] = "::1";
	json_array_foreach(list, i, v)
		names[n++] = json_string_value(v);
	if ((rc = broker_path(ca, dir, "certs/ca.pem")) != 0 ||
	    (rc = broker_path(cakey, dir, "certs/ca.key")) != 0 ||
	    (rc = broker_path(srv, dir, "certs/server.pem")) != 0 ||
	    (rc = broker_path(srvkey, dir, "certs/server.key")) != 0)
		return rc;
	rc = certs_server_issue(ca, cakey, names, n, SERVER_DAYS, srv, srvkey,
	    overwrite);
	return rc == CERTS_E_INVAL ? BROKER_E_INVAL : certs_err(rc);
}

int
broker_certs_rotate(const char *data_dir, struct broker_store *s,
    const char *const *hostnames, size_t n, json_t **names)
{
	json_t *list = hostnames_of(s, hostnames, n), *rec = NULL;
	int rc;

	*names = NULL;
	if (list == NULL)
		return BROKER_E_NOMEM;
	if ((rc = issue_server(data_dir, list, 1)) == 0 && n > 0) {
		rec = json_pack("{s:O}", "names", list);
		rc = rec != NULL ? broker_write(s, put_hostnames, rec)
				 : BROKER_E_NOMEM;
		json_decref(rec);
	}
	if (rc == 0) {
		*names = json_pack("[s,s,s]", "localhost", "127.0.0.1", "::1");
		json_array_extend(*names, list);
	}
	json_decref(list);
	return rc;
}

static int
make_certificates(const struct broker_init_opts *o,
    struct broker_init_result *res)
{
	char key[BROKER_PATH_MAX];
	json_t *list;
	int rc;

	if ((rc = broker_path(res->ca_path, o->data_dir, "certs/ca.pem")) != 0 ||
	    (rc = broker_path(key, o->data_dir, "certs/ca.key")) != 0)
		return rc;
	if ((rc = certs_ca_create(res->ca_path, key, "CCX broker local CA",
		 CA_DAYS)) != 0)
		return certs_err(rc);
	if ((list = hostnames_of(NULL, (const char *const *)o->hostnames,
		 o->n_hostnames)) == NULL)
		return BROKER_E_NOMEM;
	rc = issue_server(o->data_dir, list, 0);
	json_decref(list);
	return rc;
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
		 (void *)(uintptr_t)o->issuer)) == 0) {
		json_t *rec = json_pack("{s:o}", "names",
		    hostnames_of(NULL, (const char *const *)o->hostnames,
			o->n_hostnames));

		rc = rec != NULL ? broker_write(store, put_hostnames, rec)
				 : BROKER_E_NOMEM;
		json_decref(rec);
	}
	if (rc == 0)
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
