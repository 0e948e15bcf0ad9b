/*
 * store.c - the LMDB environment: opening, format checks, versioned
 * records, read snapshots and the primitive record operations.
 *
 * Every record is stored as one version byte followed by its payload, so a
 * later format can be recognised and migrated; a record that fails that
 * check is reported as BROKER_E_CORRUPT, never handed on.  Writes happen
 * only inside the committer's transactions (committer.c).  Durability is
 * never weakened: no MDB_NOSYNC, MDB_NOMETASYNC or MDB_MAPASYNC.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/broker_int.h"

#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define MAX_READERS 512

/* Each thread's kept read snapshot, valid while store and gen match. */
static _Thread_local struct {
	const struct broker_store *store;
	unsigned gen;
	struct broker_txn *t;
} mine;

static _Atomic unsigned store_gens;

const char *const broker_db_names[BROKER_DB_COUNT] = {
	[BROKER_DB_META] = "meta",
	[BROKER_DB_CUSTOMERS] = "customers",
	[BROKER_DB_LOGINS] = "logins",
	[BROKER_DB_SESSIONS] = "sessions",
	[BROKER_DB_PROFILES] = "profiles",
	[BROKER_DB_COMPANIES] = "companies",
	[BROKER_DB_GRANTS] = "grants",
	[BROKER_DB_REFRESH] = "refresh",
	[BROKER_DB_KEYS] = "keys",
	[BROKER_DB_AUDIT] = "audit",
	[BROKER_DB_TOKENS] = "tokens",
	[BROKER_DB_READLOG0] = "readlog0",
	[BROKER_DB_READLOG1] = "readlog1",
	[BROKER_DB_CODES] = "codes",
};

/* The first database a store made by an earlier version may lack. */
#define FIRST_ADDED BROKER_DB_READLOG0

const char *
broker_strerror(int err)
{
	switch (err) {
	case BROKER_OK: return "success";
	case BROKER_E_NOTFOUND: return "not found";
	case BROKER_E_EXISTS: return "already exists";
	case BROKER_E_FULL: return "storage is full";
	case BROKER_E_STORAGE: return "storage failure";
	case BROKER_E_NOMEM: return "out of memory";
	case BROKER_E_BUSY: return "too many pending writes";
	case BROKER_E_CORRUPT: return "stored record is corrupt";
	case BROKER_E_NOTINIT: return "data directory is not initialised";
	case BROKER_E_INVAL: return "invalid argument";
	case BROKER_E_STOPPED: return "store is shutting down";
	case BROKER_E_VERSION: return "data written by a newer version";
	case BROKER_E_IO: return "file-system error";
	case BROKER_E_BADPASS: return "wrong login or password";
	case BROKER_E_EXPIRED: return "expired";
	case BROKER_E_STALE: return "the resource has changed";
	case BROKER_E_DISABLED: return "the company is disabled";
	case BROKER_E_REVOKED: return "revoked or expired";
	case BROKER_E_LIMIT: return "quota of records used up";
	default: return "unknown broker error";
	}
}

int
broker_mdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS: return 0;
	case MDB_NOTFOUND: return BROKER_E_NOTFOUND;
	case MDB_KEYEXIST: return BROKER_E_EXISTS;
	case MDB_MAP_FULL:
	case ENOSPC:
	case EDQUOT: return BROKER_E_FULL;
	case ENOMEM: return BROKER_E_NOMEM;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH: return BROKER_E_CORRUPT;
	default: return BROKER_E_STORAGE;
	}
}

void
broker_put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

void
broker_put32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

uint64_t
broker_get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

uint32_t
broker_get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | p[i];
	return v;
}

int
broker_path(char out[BROKER_PATH_MAX], const char *dir, const char *rel)
{
	int n = snprintf(out, BROKER_PATH_MAX, "%s/%s", dir, rel);

	if (n < 0 || n >= BROKER_PATH_MAX) {
		out[0] = '\0';
		return BROKER_E_INVAL;
	}
	return 0;
}

/*
 * Creates and opens the environment handle; the caller closes it.  A
 * map_size of 0 takes the size the store was last committed with (as
 * LMDB records it), so that the admin CLI never works in a smaller map
 * than the daemon's; a new store starts at 1 GiB.
 */
static int
env_open(const char *data_dir, size_t map_size, int fresh, MDB_env **out)
{
	char path[BROKER_PATH_MAX];
	MDB_env *env = NULL;
	int rc, dead = 0;

	*out = NULL;
	if ((rc = broker_path(path, data_dir, "db")) != 0)
		return rc;
	if ((rc = mdb_env_create(&env)) != 0)
		return broker_mdb_err(rc);
	/*
	 * MDB_NOTLS: read snapshots are objects of their own, not bound to
	 * the thread that opened them, so a pool thread may end one that
	 * another began.
	 */
	if (map_size == 0 && fresh)
		map_size = DEFAULT_MAP_SIZE;
	if ((rc = mdb_env_set_maxdbs(env, BROKER_DB_COUNT)) != 0 ||
	    (rc = mdb_env_set_maxreaders(env, MAX_READERS)) != 0 ||
	    (map_size != 0 &&
		(rc = mdb_env_set_mapsize(env, map_size)) != 0) ||
	    (rc = mdb_env_open(env, path, MDB_NOTLS, 0600)) != 0) {
		mdb_env_close(env);
		return rc == ENOENT ? BROKER_E_NOTINIT : broker_mdb_err(rc);
	}
	/* Reader slots left by a crashed process would pin old pages. */
	(void)mdb_reader_check(env, &dead);
	*out = env;
	return 0;
}

int
broker_store_create(const char *data_dir, size_t map_size)
{
	char path[BROKER_PATH_MAX];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	unsigned char fmt[2] = { 1, BROKER_FORMAT };
	int rc;

	if ((rc = broker_path(path, data_dir, "db")) != 0)
		return rc;
	if (mkdir(path, 0700) != 0)
		return errno == EEXIST ? BROKER_E_EXISTS : BROKER_E_IO;
	if ((rc = env_open(data_dir, map_size, 1, &env)) != 0)
		return rc;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		goto out;
	for (int i = 0; i < BROKER_DB_COUNT; i++) {
		if ((rc = mdb_dbi_open(txn, broker_db_names[i], MDB_CREATE,
			 &dbi)) != 0)
			goto out;
	}
	if ((rc = mdb_dbi_open(txn, broker_db_names[BROKER_DB_META], 0,
		 &dbi)) != 0)
		goto out;
	k.mv_data = (void *)(uintptr_t)BROKER_META_FORMAT_KEY;
	k.mv_size = sizeof(BROKER_META_FORMAT_KEY) - 1;
	v.mv_data = fmt;
	v.mv_size = sizeof(fmt);
	if ((rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return broker_mdb_err(rc);
}

static void note_access(struct broker_txn *t, enum broker_db db,
    int creation);

/*
 * Deletes keys of db from the first at or after from (NULL: the first
 * of all) for as long as in_range says so, first copying each record into
 * the database into unless that is BROKER_DB_COUNT (a move).  It seeks
 * afresh after each delete: no reliance on cursor state.
 */
static int
del_range(struct broker_txn *t, enum broker_db db, const void *from,
    size_t flen, int (*in_range)(struct broker_txn *, enum broker_db,
    const MDB_val *, const void *, size_t), const void *arg, size_t alen,
    enum broker_db into)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	if (!t->write || (unsigned)db >= BROKER_DB_COUNT || arg == NULL ||
	    alen == 0)
		return BROKER_E_INVAL;
	note_access(t, db, 0);
	if ((rc = mdb_cursor_open(t->txn, t->store->dbi[db], &cur)) != 0)
		return broker_mdb_err(rc);
	for (;;) {
		k.mv_data = (void *)(uintptr_t)from;
		k.mv_size = flen;
		rc = mdb_cursor_get(cur, &k, &v,
		    from != NULL ? MDB_SET_RANGE : MDB_FIRST);
		if (rc != 0 || !in_range(t, db, &k, arg, alen))
			break;
		if (into != BROKER_DB_COUNT &&
		    (rc = mdb_put(t->txn, t->store->dbi[into], &k, &v,
			 MDB_NOOVERWRITE)) != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : broker_mdb_err(rc);
}

static int
has_prefix(struct broker_txn *t, enum broker_db db, const MDB_val *k,
    const void *prefix, size_t plen)
{
	(void)t, (void)db;
	return k->mv_size >= plen && memcmp(k->mv_data, prefix, plen) == 0;
}

/*
 * Creates the databases added since an older store was made, and moves
 * into each what an older version kept elsewhere: authorization codes
 * were kept among the revoked token ids ("c:" keys), where each one moved
 * the access generation.
 */
static int
create_added(struct broker_store *s)
{
	struct broker_txn t = { .store = s, .write = 1 };
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &t.txn)) != 0)
		return broker_mdb_err(rc);
	for (int i = FIRST_ADDED; i < BROKER_DB_COUNT && rc == 0; i++) {
		rc = mdb_dbi_open(t.txn, broker_db_names[i], 0, &s->dbi[i]);
		if (rc != MDB_NOTFOUND) {
			rc = broker_mdb_err(rc);
			continue;
		}
		rc = broker_mdb_err(mdb_dbi_open(t.txn, broker_db_names[i],
		    MDB_CREATE, &s->dbi[i]));
		/* Handles of the read snapshot that saw it missing are gone. */
		if (rc == 0 && i == BROKER_DB_CODES &&
		    (rc = broker_mdb_err(mdb_dbi_open(t.txn,
			 broker_db_names[BROKER_DB_TOKENS], 0,
			 &s->dbi[BROKER_DB_TOKENS]))) == 0)
			rc = del_range(&t, BROKER_DB_TOKENS, "c:", 2, has_prefix,
			    "c:", 2, BROKER_DB_CODES);
	}
	if (rc == 0)
		return broker_mdb_err(mdb_txn_commit(t.txn));
	mdb_txn_abort(t.txn);
	return rc;
}

/* Opens every named database and checks the format record. */
static int
open_dbs(struct broker_store *s, int may_create)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	const unsigned char *p;
	int rc, added_missing = 0;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0)
		return broker_mdb_err(rc);
	for (int i = 0; i < BROKER_DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, broker_db_names[i], 0, &s->dbi[i]);
		if (rc == MDB_NOTFOUND && i >= FIRST_ADDED && may_create) {
			added_missing = 1;
			continue;
		}
		if (rc != 0) {
			rc = rc == MDB_NOTFOUND ? BROKER_E_NOTINIT
						: broker_mdb_err(rc);
			goto out;
		}
	}
	k.mv_data = (void *)(uintptr_t)BROKER_META_FORMAT_KEY;
	k.mv_size = sizeof(BROKER_META_FORMAT_KEY) - 1;
	rc = mdb_get(txn, s->dbi[BROKER_DB_META], &k, &v);
	if (rc != 0) {
		rc = rc == MDB_NOTFOUND ? BROKER_E_NOTINIT : broker_mdb_err(rc);
		goto out;
	}
	p = v.mv_data;
	if (v.mv_size != 2 || p[0] != 1)
		rc = BROKER_E_CORRUPT;
	else if (p[1] > BROKER_FORMAT)
		rc = BROKER_E_VERSION;
	/* Older formats would be migrated here; there are none yet. */
out:
	if (rc != 0 || added_missing) {
		mdb_txn_abort(txn);
		if (rc == 0 && (rc = create_added(s)) == 0)
			rc = open_dbs(s, 0);
		return rc;
	}
	/* Handles opened in a read txn stay valid once it commits. */
	return broker_mdb_err(mdb_txn_commit(txn));
}

int
broker_store_open(const char *data_dir, const struct broker_store_opts *opts,
    struct broker_store **out)
{
	struct broker_store *s = NULL;
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return BROKER_E_NOMEM;
	s->max_batch = opts && opts->max_batch ? opts->max_batch : 256;
	s->queue_cap = opts && opts->queue_cap ? opts->queue_cap : 4096;
	s->gen = atomic_fetch_add(&store_gens, 1) + 1;
	pthread_mutex_init(&s->pool_lock, NULL);
	if ((rc = env_open(data_dir, opts ? opts->map_size : 0, 0,
		 &s->env)) != 0)
		goto out;
	if ((rc = open_dbs(s, 1)) != 0)
		goto out;
	if ((rc = broker_committer_start(s)) != 0)
		goto out;
	*out = s;
	s = NULL;
out:
	if (s != NULL) {
		if (s->env != NULL)
			mdb_env_close(s->env);
		pthread_mutex_destroy(&s->pool_lock);
		free(s);
	}
	return rc;
}

void
broker_store_close(struct broker_store *s)
{
	if (s == NULL)
		return;
	broker_committer_stop(s);
	/* Every thread is done with its snapshot by now. */
	for (unsigned i = 0; i < s->npooled; i++) {
		mdb_txn_abort(s->pooled[i]->txn);
		free(s->pooled[i]);
	}
	pthread_mutex_destroy(&s->pool_lock);
	mdb_env_close(s->env);
	free(s);
}

void
broker_store_stats(const struct broker_store *s, struct broker_store_stats *o)
{
	MDB_envinfo info;
	MDB_stat st;

	o->commits = atomic_load_explicit(&s->n_commits, memory_order_relaxed);
	o->writes = atomic_load_explicit(&s->n_writes, memory_order_relaxed);
	o->write_errors = atomic_load_explicit(&s->n_write_errors,
	    memory_order_relaxed);
	o->max_batch = atomic_load_explicit(&s->n_max_batch,
	    memory_order_relaxed);
	o->queue_depth = atomic_load_explicit(&s->n_queued,
	    memory_order_relaxed);
	o->map_bytes = o->file_bytes = 0;
	if (mdb_env_info(s->env, &info) == 0 &&
	    mdb_env_stat(s->env, &st) == 0) {
		o->map_bytes = info.me_mapsize;
		o->file_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	}
}

/* Keeps t as this thread's snapshot if the pool has room. */
static void
pool_adopt(struct broker_store *s, struct broker_txn *t)
{
	pthread_mutex_lock(&s->pool_lock);
	if (s->npooled < BROKER_POOLED_READERS) {
		s->pooled[s->npooled++] = t;
		t->pooled = 1;
		atomic_store(&t->busy, 1);
		mine.store = s;
		mine.gen = s->gen;
		mine.t = t;
	}
	pthread_mutex_unlock(&s->pool_lock);
}

int
broker_read_begin(struct broker_store *s, struct broker_txn **out)
{
	struct broker_txn *t;
	int rc, idle = 0;

	*out = NULL;
	if (mine.store == s && mine.gen == s->gen && mine.t != NULL) {
		t = mine.t;
		/* Nested snapshots in one thread: the inner one is new. */
		if (atomic_compare_exchange_strong(&t->busy, &idle, 1)) {
			if (mdb_txn_renew(t->txn) == 0) {
				*out = t;
				return 0;
			}
			/* Cannot renew: stays busy, out of use. */
			mine.t = NULL;
		}
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return BROKER_E_NOMEM;
	t->store = s;
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn)) != 0) {
		free(t);
		return broker_mdb_err(rc);
	}
	if (mine.store != s || mine.gen != s->gen || mine.t == NULL)
		pool_adopt(s, t);
	*out = t;
	return 0;
}

void
broker_read_end(struct broker_txn *t)
{
	if (t == NULL)
		return;
	if (t->pooled) {
		mdb_txn_reset(t->txn);
		atomic_store(&t->busy, 0);
		return;
	}
	mdb_txn_abort(t->txn);
	free(t);
}

/* Splits a stored value into version and payload; rejects bad records. */
static int
unwrap(const MDB_val *v, const void **val, size_t *len, unsigned *version)
{
	const unsigned char *p = v->mv_data;

	/* Stored bytes are untrusted: a record needs at least its header. */
	if (v->mv_size < 1 || p[0] == 0)
		return BROKER_E_CORRUPT;
	*val = p + 1;
	*len = v->mv_size - 1;
	if (version != NULL)
		*version = p[0];
	return 0;
}

int
broker_txn_get(struct broker_txn *t, enum broker_db db, const void *key,
    size_t klen, const void **val, size_t *len, unsigned *version)
{
	MDB_val k = { klen, (void *)(uintptr_t)key }, v;
	int rc;

	*val = NULL;
	*len = 0;
	if ((unsigned)db >= BROKER_DB_COUNT || klen == 0 ||
	    klen > (size_t)mdb_env_get_maxkeysize(t->store->env))
		return BROKER_E_INVAL;
	if ((rc = mdb_get(t->txn, t->store->dbi[db], &k, &v)) != 0)
		return broker_mdb_err(rc);
	return unwrap(&v, val, len, version);
}

int
broker_txn_scan(struct broker_txn *t, enum broker_db db, const void *start,
    size_t slen, broker_scan_fn fn, void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k = { slen, (void *)(uintptr_t)start }, v;
	const void *val;
	size_t len;
	int rc;

	if ((unsigned)db >= BROKER_DB_COUNT)
		return BROKER_E_INVAL;
	if ((rc = mdb_cursor_open(t->txn, t->store->dbi[db], &cur)) != 0)
		return broker_mdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v,
	    start != NULL && slen > 0 ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		int stop;

		if ((stop = unwrap(&v, &val, &len, NULL)) != 0 ||
		    (stop = fn(arg, k.mv_data, k.mv_size, val, len)) != 0) {
			mdb_cursor_close(cur);
			return stop;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : broker_mdb_err(rc);
}

/*
 * The tables a company's access is checked against.  What creates a
 * record there cannot take access away; anything else there may.  A new
 * revoked token is a creation that does, so that table counts always.
 */
static void
note_access(struct broker_txn *t, enum broker_db db, int creation)
{
	if (db == BROKER_DB_TOKENS ||
	    (!creation && (db == BROKER_DB_GRANTS ||
	    db == BROKER_DB_COMPANIES || db == BROKER_DB_KEYS)))
		t->access_changed = 1;
}

#define ACCESS_GEN_KEY "access_gen"

int
broker_access_generation(struct broker_txn *t, uint64_t *gen)
{
	const void *val;
	size_t len;
	int rc;

	*gen = 0;
	rc = broker_txn_get(t, BROKER_DB_META, ACCESS_GEN_KEY,
	    sizeof(ACCESS_GEN_KEY) - 1, &val, &len, NULL);
	if (rc == BROKER_E_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (len != sizeof(*gen))
		return BROKER_E_CORRUPT;
	memcpy(gen, val, sizeof(*gen));
	return 0;
}

int
broker_access_bump(struct broker_txn *t)
{
	uint64_t gen;
	int rc;

	if (!t->access_changed)
		return 0;
	if ((rc = broker_access_generation(t, &gen)) != 0)
		return rc;
	gen++;
	return broker_txn_put(t, BROKER_DB_META, ACCESS_GEN_KEY,
	    sizeof(ACCESS_GEN_KEY) - 1, &gen, sizeof(gen), 1);
}

/* Shared body of put and insert. */
static int
put(struct broker_txn *t, enum broker_db db, const void *key, size_t klen,
    const void *val, size_t len, unsigned version, unsigned flags)
{
	MDB_val k = { klen, (void *)(uintptr_t)key }, v;
	int rc;

	if (!t->write || (unsigned)db >= BROKER_DB_COUNT || version == 0 ||
	    version > 255 || klen == 0 ||
	    klen > (size_t)mdb_env_get_maxkeysize(t->store->env) ||
	    len > SIZE_MAX - 1)
		return BROKER_E_INVAL;
	/* MDB_RESERVE: write header and payload in place, no extra copy. */
	v.mv_size = len + 1;
	v.mv_data = NULL;
	rc = mdb_put(t->txn, t->store->dbi[db], &k, &v, flags | MDB_RESERVE);
	if (rc != 0)
		return broker_mdb_err(rc);
	note_access(t, db, (flags & MDB_NOOVERWRITE) != 0);
	((unsigned char *)v.mv_data)[0] = (unsigned char)version;
	if (len > 0)
		memcpy((unsigned char *)v.mv_data + 1, val, len);
	return 0;
}

int
broker_txn_put(struct broker_txn *t, enum broker_db db, const void *key,
    size_t klen, const void *val, size_t len, unsigned version)
{
	return put(t, db, key, klen, val, len, version, 0);
}

int
broker_txn_insert(struct broker_txn *t, enum broker_db db, const void *key,
    size_t klen, const void *val, size_t len, unsigned version)
{
	return put(t, db, key, klen, val, len, version, MDB_NOOVERWRITE);
}

int
broker_txn_append(struct broker_txn *t, enum broker_db db, const void *key,
    size_t klen, const void *val, size_t len, unsigned version)
{
	return put(t, db, key, klen, val, len, version,
	    MDB_NOOVERWRITE | MDB_APPEND);
}

int
broker_txn_drop_all(struct broker_txn *t, enum broker_db db)
{
	if (!t->write || (unsigned)db >= BROKER_DB_COUNT)
		return BROKER_E_INVAL;
	note_access(t, db, 0);
	return broker_mdb_err(mdb_drop(t->txn, t->store->dbi[db], 0));
}

/* LMDB's own comparison decides what is below. */
static int
is_below(struct broker_txn *t, enum broker_db db, const MDB_val *k,
    const void *bound, size_t blen)
{
	MDB_val b = { blen, (void *)(uintptr_t)bound };

	return mdb_cmp(t->txn, t->store->dbi[db], k, &b) < 0;
}

int
broker_txn_del_below(struct broker_txn *t, enum broker_db db, const void *key,
    size_t klen)
{
	return del_range(t, db, NULL, 0, is_below, key, klen, BROKER_DB_COUNT);
}

int
broker_txn_del_prefix(struct broker_txn *t, enum broker_db db,
    const void *prefix, size_t plen)
{
	return del_range(t, db, prefix, plen, has_prefix, prefix, plen,
	    BROKER_DB_COUNT);
}

static int
del_key(struct broker_txn *t, enum broker_db db, const void *key,
    size_t klen, int takes_access)
{
	MDB_val k = { klen, (void *)(uintptr_t)key };

	if (!t->write || (unsigned)db >= BROKER_DB_COUNT || klen == 0)
		return BROKER_E_INVAL;
	if (takes_access)
		note_access(t, db, 0);
	return broker_mdb_err(mdb_del(t->txn, t->store->dbi[db], &k, NULL));
}

int
broker_txn_del(struct broker_txn *t, enum broker_db db, const void *key,
    size_t klen)
{
	return del_key(t, db, key, klen, 1);
}

int
broker_txn_del_spent(struct broker_txn *t, enum broker_db db,
    const void *key, size_t klen)
{
	return del_key(t, db, key, klen, 0);
}

int
broker_rec_load(const void *val, size_t len, json_t **out)
{
	json_t *o = json_loadb(val, len, JSON_REJECT_DUPLICATES, NULL);

	*out = NULL;
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return BROKER_E_CORRUPT;
	}
	*out = o;
	return 0;
}

int
broker_rec_put(struct broker_txn *t, enum broker_db db, const void *key,
    size_t klen, const json_t *obj, int insert)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	if (text == NULL)
		return BROKER_E_NOMEM;
	rc = (insert ? broker_txn_insert : broker_txn_put)(t, db, key, klen,
	    text, strlen(text), 1);
	free(text);
	return rc;
}

int
broker_rec_str(const json_t *obj, const char *name, char *out, size_t outcap)
{
	const json_t *v = json_object_get(obj, name);
	size_t len;

	if (outcap == 0)
		return BROKER_E_INVAL;
	out[0] = '\0';
	if (!json_is_string(v) || (len = json_string_length(v)) >= outcap)
		return BROKER_E_CORRUPT;
	memcpy(out, json_string_value(v), len + 1);
	return 0;
}

/* Copies the stored issuer out of a snapshot. */
static int
issuer_get(struct broker_txn *t, char *out, size_t outcap)
{
	const void *val;
	size_t len;
	int rc;

	rc = broker_txn_get(t, BROKER_DB_META, BROKER_META_ISSUER_KEY,
	    sizeof(BROKER_META_ISSUER_KEY) - 1, &val, &len, NULL);
	if (rc != 0)
		return rc;
	if (len == 0 || len >= outcap || memchr(val, '\0', len) != NULL)
		return BROKER_E_CORRUPT;
	memcpy(out, val, len);
	out[len] = '\0';
	return 0;
}

int
broker_meta_issuer(struct broker_store *s, char *out, size_t outcap)
{
	struct broker_txn *t = NULL;
	int rc;

	if (outcap == 0)
		return BROKER_E_INVAL;
	out[0] = '\0';
	if ((rc = broker_read_begin(s, &t)) != 0)
		return rc;
	rc = issuer_get(t, out, outcap);
	broker_read_end(t);
	return rc;
}
