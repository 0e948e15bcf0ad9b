/*
 * broker_int.h - declarations shared by the broker's own files only.
 *
 * Nothing outside broker/ includes this: it exposes LMDB types.
 */
#ifndef CCX_BROKER_INT_H
#define CCX_BROKER_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "broker/broker.h"

struct broker_job;

struct broker_store {
	MDB_env *env;
	MDB_dbi dbi[BROKER_DB_COUNT];

	/* The committer: one thread owns every write transaction. */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t lock; /* guards the queue fields below */
	pthread_cond_t wake;
	struct broker_job *head, *tail;
	unsigned queued;
	int stopping;
	unsigned max_batch;
	unsigned queue_cap;

	/* Statistics: written by the committer only, read relaxed. */
	_Atomic uint64_t n_commits;
	_Atomic uint64_t n_writes;
	_Atomic uint64_t n_write_errors;
	_Atomic uint64_t n_max_batch;
	_Atomic uint64_t n_queued;
};

struct broker_txn {
	struct broker_store *store;
	MDB_txn *txn;
	int write;
};

/* Keys of the meta database. */
#define BROKER_META_FORMAT_KEY "format"
#define BROKER_META_ISSUER_KEY "issuer"

/*
 * Records stored as JSON text (store.c): load parses a stored payload
 * (BROKER_E_CORRUPT when it is not a JSON object; caller json_decrefs);
 * put serialises obj compactly and stores it with version 1.
 */
#include <jansson.h>
int broker_rec_load(const void *val, size_t len, json_t **out);
int broker_rec_put(struct broker_txn *txn, enum broker_db db, const void *key,
    size_t klen, const json_t *obj, int insert);

/* Copies a JSON string member into out; BROKER_E_CORRUPT if absent/long. */
int broker_rec_str(const json_t *obj, const char *name, char *out,
    size_t outcap);

/*
 * Records an audit event for a customer inside a write transaction
 * (audit.c): kind such as "grant.created"; detail is borrowed and may be
 * NULL.  Durable with the change it describes.
 */
int broker_audit_record(struct broker_txn *txn, const char *customer,
    const char *kind, const json_t *detail);

/* Erases a customer's whole audit trail inside a write (audit.c). */
int broker_audit_erase(struct broker_txn *txn, const char *customer);

/* Publishes a key's public half (keys.c; init uses it too). */
int broker_key_publish(struct broker_store *store, const char *kid,
    const char *x, int64_t now, int64_t activates);

/* Big-endian integers in keys and files (store.c): byte order sorts. */
void broker_put64(unsigned char *p, uint64_t v);
void broker_put32(unsigned char *p, uint32_t v);
uint64_t broker_get64(const unsigned char *p);
uint32_t broker_get32(const unsigned char *p);

/* Maps an LMDB or errno-style code to a BROKER_E_* code. */
int broker_mdb_err(int rc);

/* Starts and stops the committer thread (committer.c). */
int broker_committer_start(struct broker_store *store);
void broker_committer_stop(struct broker_store *store);

/* Names of the named databases, indexed by enum broker_db (store.c). */
extern const char *const broker_db_names[BROKER_DB_COUNT];

/* Creates an environment with every named database (init.c uses it). */
int broker_store_create(const char *data_dir, size_t map_size);

#endif /* CCX_BROKER_INT_H */
