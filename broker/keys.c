/*
 * keys.c - metadata and public halves of the token-signing keys.
 *
 * Private keys never enter the database: they are files under keys/,
 * readable by the owner only (certs/ loads them).
 */
#include "broker/broker_int.h"

struct keys_each {
	int (*fn)(void *arg, const json_t *rec);
	void *arg;
};

static int
key_one(void *arg, const void *key, size_t klen, const void *val, size_t len)
{
	struct keys_each *e = arg;
	json_t *rec = NULL;
	int rc;

	(void)key;
	(void)klen;
	if ((rc = broker_rec_load(val, len, &rec)) != 0)
		return rc;
	rc = e->fn(e->arg, rec);
	json_decref(rec);
	return rc;
}

int
broker_keys_each(struct broker_txn *t, int (*fn)(void *arg, const json_t *rec),
    void *arg)
{
	struct keys_each e = { fn, arg };

	return broker_txn_scan(t, BROKER_DB_KEYS, NULL, 0, key_one, &e);
}
