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

#define BROKER_POOLED_READERS 128

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

	/*
	 * Read snapshots kept between uses, one per thread: renewing a
	 * reset snapshot reuses its reader slot, while beginning a new one
	 * takes LMDB's reader-table mutex, which every thread shares.
	 */
	unsigned gen; /* tells this store from a later one at its address */
	pthread_mutex_t pool_lock; /* guards pooled[] (not their use) */
	struct broker_txn *pooled[BROKER_POOLED_READERS];
	unsigned npooled;
};

struct broker_txn {
	struct broker_store *store;
	MDB_txn *txn;
	int write;
	int pooled;	   /* kept by its thread: reset, not aborted, at end */
	_Atomic int busy; /* a pooled snapshot in use */
	int access_changed; /* a write that may take access away (store.c) */
};

/* Bumps the access generation when the write changed what it counts;
 * the committer calls it at the end of each write's transaction. */
int broker_access_bump(struct broker_txn *t);

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

/*
 * Stores one record's JSON text in a customer's trail (audit.c); seq
 * orders records of the same microsecond.
 */
int broker_audit_put_text(struct broker_txn *txn, const char *customer,
    int64_t ts, uint32_t seq, const char *text, size_t len);

/*
 * The logs of reads (audit_fold.c), BROKER_DB_READLOG0 and 1: keys time
 * seq, values customer id, grant id, company id (1-byte length) and the
 * fields array text.  log_size is the length of such a value; log_value
 * encodes one into out (0, or BROKER_E_INVAL for a malformed id or too
 * small a cap).
 *
 * Folding a closed log: fold_new starts (nothing read yet); fold_step is
 * a broker_write_fn (arg the fold) that files the next groups; after a
 * step commits, fold_advance moves on and says 1 when the log is filed
 * and empty.  A step that failed is simply run again.  max_groups bounds
 * the groups held in memory at once (0: the default).
 */
#define BROKER_AUDIT_LKEY_LEN (8 + 4)
size_t broker_audit_log_size(const char *company, size_t fields_len);
int broker_audit_log_value(unsigned char *out, size_t cap, const char *cid,
    const char *grant, const char *company, const char *fields,
    size_t fields_len);

struct broker_audit_fold;
struct broker_audit_fold_stats {
	size_t entries; /* log entries taken */
	size_t records; /* records filed (or dropped: customer gone) */
	size_t corrupt; /* damaged entries dropped */
};
int broker_audit_fold_new(enum broker_db log, size_t max_groups,
    struct broker_audit_fold **out);
int broker_audit_fold_step(struct broker_txn *txn, void *arg);
int broker_audit_fold_advance(struct broker_audit_fold *fold);
void broker_audit_fold_stats(const struct broker_audit_fold *fold,
    struct broker_audit_fold_stats *out);
void broker_audit_fold_free(struct broker_audit_fold *fold);
/* What a log holds: BROKER_AUDIT_LOG_EMPTY, _READS (entries only) or
 * _MARKED (a fold stopped part way); < 0 on a storage error. */
enum {
	BROKER_AUDIT_LOG_EMPTY,
	BROKER_AUDIT_LOG_READS,
	BROKER_AUDIT_LOG_MARKED
};
int broker_audit_log_state(struct broker_txn *txn, enum broker_db log);

/* Empties a named database (store.c). */
int broker_txn_drop_all(struct broker_txn *txn, enum broker_db db);

/* Deletes every key of db that sorts below key (store.c). */
int broker_txn_del_below(struct broker_txn *txn, enum broker_db db,
    const void *key, size_t klen);

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
