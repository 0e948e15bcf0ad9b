/*
 * test_broker.c - the LMDB store: initialisation, versioned records, shared
 * commits, isolation of failing writes, map-full handling, format checks
 * and shutdown with writes pending.
 *
 * Each group gets a fresh mkdtemp data directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker_int.h"

struct fixture {
	char dir[64];
	struct broker_store *store;
};

static int
rm_rf(const char *path)
{
	char cmd[256];

	/* Test-only clean-up of a directory this test created. */
	if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path) >= (int)sizeof(cmd))
		return -1;
	return system(cmd);
}

static int
make_store(struct fixture *f, size_t map_size)
{
	struct broker_init_opts o = { 0 };
	struct broker_init_result res;
	struct broker_store_opts so = { .map_size = map_size };
	char tmpl[] = "/tmp/ccx-test-broker-XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/data", tmpl);
	o.data_dir = f->dir;
	o.map_size = map_size;
	if (broker_init(&o, &res) != 0)
		return -1;
	return broker_store_open(f->dir, &so, &f->store);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || make_store(f, 0) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char parent[64];

	broker_store_close(f->store);
	snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(f->dir, '/') - f->dir),
	    f->dir);
	rm_rf(parent);
	free(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

struct kv {
	const char *key;
	const char *val;
	size_t vlen;
	int fail_after; /* return this after the put, when non-zero */
};

static int
put_kv(struct broker_txn *t, void *arg)
{
	const struct kv *kv = arg;
	int rc;

	rc = broker_txn_put(t, BROKER_DB_PROFILES, kv->key, strlen(kv->key),
	    kv->val, kv->vlen ? kv->vlen : strlen(kv->val), 1);
	if (rc != 0)
		return rc;
	return kv->fail_after;
}

static int
insert_kv(struct broker_txn *t, void *arg)
{
	const struct kv *kv = arg;

	return broker_txn_insert(t, BROKER_DB_PROFILES, kv->key,
	    strlen(kv->key), kv->val, strlen(kv->val), 1);
}

static int
del_kv(struct broker_txn *t, void *arg)
{
	const struct kv *kv = arg;

	return broker_txn_del(t, BROKER_DB_PROFILES, kv->key, strlen(kv->key));
}

/* Reads key; returns 0 and copies the value into out, or the error. */
static int
get_kv(struct broker_store *s, const char *key, char *out, size_t cap)
{
	struct broker_txn *t;
	const void *val;
	size_t len;
	unsigned ver;
	int rc;

	if ((rc = broker_read_begin(s, &t)) != 0)
		return rc;
	rc = broker_txn_get(t, BROKER_DB_PROFILES, key, strlen(key), &val,
	    &len, &ver);
	if (rc == 0) {
		assert_int_equal(ver, 1);
		assert_true(len < cap);
		memcpy(out, val, len);
		out[len] = '\0';
	}
	broker_read_end(t);
	return rc;
}

/* ---- tests ------------------------------------------------------------ */

static void
test_init_refuses_existing(void **state)
{
	struct fixture *f = *state;
	struct broker_init_opts o = { .data_dir = f->dir };
	struct broker_init_result res;
	char path[BROKER_PATH_MAX];
	struct stat st;

	assert_int_equal(broker_init(&o, &res), BROKER_E_EXISTS);
	/* Secrets are private, the CA certificate public. */
	assert_int_equal(broker_path(path, f->dir, "admin.token"), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(broker_path(path, f->dir, "pairwise.key"), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(broker_path(path, f->dir, "certs/server.key"), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void
test_init_rejects_bad_issuer(void **state)
{
	struct broker_init_opts o = { .data_dir = "/tmp/ccx-never-created",
		.issuer = "http://plain.example" };
	struct broker_init_result res;

	(void)state;
	assert_int_equal(broker_init(&o, &res), BROKER_E_INVAL);
	assert_int_not_equal(access("/tmp/ccx-never-created", F_OK), 0);
}

static void
test_open_uninitialised(void **state)
{
	struct broker_store *s = (void *)1;
	char tmpl[] = "/tmp/ccx-test-empty-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(broker_store_open(tmpl, NULL, &s), BROKER_E_NOTINIT);
	assert_null(s);
	rmdir(tmpl);
}

static void
test_put_get_del(void **state)
{
	struct fixture *f = *state;
	struct kv a = { .key = "alice", .val = "{\"x\":1}" };
	char out[64];

	assert_int_equal(get_kv(f->store, "alice", out, sizeof(out)),
	    BROKER_E_NOTFOUND);
	assert_int_equal(broker_write(f->store, put_kv, &a), 0);
	assert_int_equal(get_kv(f->store, "alice", out, sizeof(out)), 0);
	assert_string_equal(out, "{\"x\":1}");
	assert_int_equal(broker_write(f->store, insert_kv, &a),
	    BROKER_E_EXISTS);
	assert_int_equal(broker_write(f->store, del_kv, &a), 0);
	assert_int_equal(broker_write(f->store, del_kv, &a), BROKER_E_NOTFOUND);
	assert_int_equal(get_kv(f->store, "alice", out, sizeof(out)),
	    BROKER_E_NOTFOUND);
}

/* Appends keys "b", "d", then offers "c" and "d" again, and "e". */
static int
append_some(struct broker_txn *t, void *arg)
{
	const void *val;
	size_t len;

	(void)arg;
	assert_int_equal(broker_txn_append(t, BROKER_DB_READLOG1, "b", 1, "1",
	    1, 1), 0);
	assert_int_equal(broker_txn_append(t, BROKER_DB_READLOG1, "d", 1, "2",
	    1, 1), 0);
	assert_int_equal(broker_txn_append(t, BROKER_DB_READLOG1, "c", 1, "3",
	    1, 1), BROKER_E_EXISTS);
	assert_int_equal(broker_txn_append(t, BROKER_DB_READLOG1, "d", 1, "4",
	    1, 1), BROKER_E_EXISTS);
	assert_int_equal(broker_txn_get(t, BROKER_DB_READLOG1, "c", 1, &val,
	    &len, NULL), BROKER_E_NOTFOUND);
	assert_int_equal(broker_txn_get(t, BROKER_DB_READLOG1, "d", 1, &val,
	    &len, NULL), 0);
	assert_memory_equal(val, "2", 1);
	assert_int_equal(broker_txn_append(t, BROKER_DB_READLOG1, "e", 1, "5",
	    1, 1), 0);
	return broker_txn_drop_all(t, BROKER_DB_READLOG1);
}

/* Appending takes only keys above the last and refuses the rest. */
static void
test_append(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(broker_write(f->store, append_some, NULL), 0);
}

/* Keys "a", "b1", "b2", "c" in profiles; then deletes below "b2" and by
 * the prefix "c", and refuses what cannot name a range. */
static int
del_ranges(struct broker_txn *t, void *arg)
{
	static const char *const keys[] = { "a", "b1", "b2", "c" };

	(void)arg;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(broker_txn_put(t, BROKER_DB_PROFILES, keys[i],
		    strlen(keys[i]), "v", 1, 1), 0);
	assert_int_equal(broker_txn_del_below(t, BROKER_DB_PROFILES, "b2", 2),
	    0);
	assert_int_equal(broker_txn_del_prefix(t, BROKER_DB_PROFILES, "c", 1),
	    0);
	/* Nothing left in range is no error. */
	assert_int_equal(broker_txn_del_below(t, BROKER_DB_PROFILES, "b2", 2),
	    0);
	assert_int_equal(broker_txn_del_below(t, BROKER_DB_PROFILES, "", 0),
	    BROKER_E_INVAL);
	assert_int_equal(broker_txn_del_prefix(t, BROKER_DB_PROFILES, "", 0),
	    BROKER_E_INVAL);
	assert_int_equal(broker_txn_del_below(t, BROKER_DB_COUNT, "b", 1),
	    BROKER_E_INVAL);
	assert_int_equal(broker_txn_del_below(t, BROKER_DB_PROFILES, NULL, 1),
	    BROKER_E_INVAL);
	return 0;
}

static void
test_del_ranges(void **state)
{
	struct fixture *f = *state;
	struct broker_txn *t;
	char out[8];

	assert_int_equal(broker_write(f->store, del_ranges, NULL), 0);
	assert_int_equal(get_kv(f->store, "a", out, sizeof(out)),
	    BROKER_E_NOTFOUND);
	assert_int_equal(get_kv(f->store, "b1", out, sizeof(out)),
	    BROKER_E_NOTFOUND);
	assert_int_equal(get_kv(f->store, "b2", out, sizeof(out)), 0);
	assert_int_equal(get_kv(f->store, "c", out, sizeof(out)),
	    BROKER_E_NOTFOUND);
	/* A read snapshot deletes nothing. */
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_txn_del_below(t, BROKER_DB_PROFILES, "z", 1),
	    BROKER_E_INVAL);
	assert_int_equal(broker_txn_del_prefix(t, BROKER_DB_PROFILES, "b", 1),
	    BROKER_E_INVAL);
	broker_read_end(t);
	assert_int_equal(get_kv(f->store, "b2", out, sizeof(out)), 0);
}

static int
bad_args(struct broker_txn *t, void *arg)
{
	(void)arg;
	assert_int_equal(broker_txn_put(t, BROKER_DB_PROFILES, "k", 1, "v", 1,
	    0), BROKER_E_INVAL);
	assert_int_equal(broker_txn_put(t, BROKER_DB_PROFILES, "k", 1, "v", 1,
	    256), BROKER_E_INVAL);
	assert_int_equal(broker_txn_put(t, BROKER_DB_PROFILES, "", 0, "v", 1,
	    1), BROKER_E_INVAL);
	assert_int_equal(broker_txn_put(t, BROKER_DB_COUNT, "k", 1, "v", 1, 1),
	    BROKER_E_INVAL);
	return 0;
}

static void
test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct broker_txn *t;
	const void *v;
	size_t len;

	assert_int_equal(broker_write(f->store, bad_args, NULL), 0);
	/* A read snapshot cannot write. */
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_txn_put(t, BROKER_DB_PROFILES, "k", 1, "v", 1,
	    1), BROKER_E_INVAL);
	assert_int_equal(broker_txn_get(t, BROKER_DB_PROFILES, "", 0, &v, &len,
	    NULL), BROKER_E_INVAL);
	broker_read_end(t);
	assert_int_equal(broker_write_submit(f->store, NULL, NULL, NULL, NULL),
	    BROKER_E_INVAL);
}

/* A write that fails leaves no trace, and its batch-mates are unharmed. */
struct async {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending;
	int rc[64];
};

struct slot {
	struct async *a;
	int i;
};

static void
slot_done(void *cookie, int rc)
{
	struct slot *s = cookie;

	pthread_mutex_lock(&s->a->lock);
	s->a->rc[s->i] = rc;
	s->a->pending--;
	pthread_cond_signal(&s->a->cond);
	pthread_mutex_unlock(&s->a->lock);
}

static void
async_wait(struct async *a)
{
	pthread_mutex_lock(&a->lock);
	while (a->pending > 0)
		pthread_cond_wait(&a->cond, &a->lock);
	pthread_mutex_unlock(&a->lock);
}

/* Holds the committer inside a write until released. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int entered, open;
};

static int
gate_write(struct broker_txn *t, void *arg)
{
	struct gate *g = arg;

	(void)t;
	pthread_mutex_lock(&g->lock);
	g->entered = 1;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void
test_failing_write_isolated(void **state)
{
	struct fixture *f = *state;
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		0, 0 };
	struct async a = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		0, { 0 } };
	struct kv ok1 = { .key = "iso1", .val = "one" };
	struct kv bad = { .key = "iso2", .val = "two", .fail_after = -399 };
	struct kv ok3 = { .key = "iso3", .val = "three" };
	struct slot s[4] = { { &a, 0 }, { &a, 1 }, { &a, 2 }, { &a, 3 } };
	char out[32];

	/* Park the committer so the three writes land in one batch. */
	a.pending = 4;
	assert_int_equal(broker_write_submit(f->store, gate_write, &g,
	    slot_done, &s[0]), 0);
	pthread_mutex_lock(&g.lock);
	while (!g.entered)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	assert_int_equal(broker_write_submit(f->store, put_kv, &ok1, slot_done,
	    &s[1]), 0);
	assert_int_equal(broker_write_submit(f->store, put_kv, &bad, slot_done,
	    &s[2]), 0);
	assert_int_equal(broker_write_submit(f->store, put_kv, &ok3, slot_done,
	    &s[3]), 0);
	pthread_mutex_lock(&g.lock);
	g.open = 1;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	async_wait(&a);

	assert_int_equal(a.rc[0], 0);
	assert_int_equal(a.rc[1], 0);
	assert_int_equal(a.rc[2], -399);
	assert_int_equal(a.rc[3], 0);
	assert_int_equal(get_kv(f->store, "iso1", out, sizeof(out)), 0);
	assert_int_equal(get_kv(f->store, "iso2", out, sizeof(out)),
	    BROKER_E_NOTFOUND);
	assert_int_equal(get_kv(f->store, "iso3", out, sizeof(out)), 0);
	assert_string_equal(out, "three");
}

static void
test_queue_full_is_busy(void **state)
{
	struct fixture *f = *state;
	struct broker_store *s = NULL;
	struct broker_store_opts so = { .queue_cap = 2 };
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		0, 0 };
	struct async a = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		0, { 0 } };
	struct kv k = { .key = "busy", .val = "v" };
	struct slot sl[3] = { { &a, 0 }, { &a, 1 }, { &a, 2 } };

	/* A second handle on the same environment, with a tiny queue. */
	broker_store_close(f->store);
	f->store = NULL;
	assert_int_equal(broker_store_open(f->dir, &so, &s), 0);
	a.pending = 3;
	assert_int_equal(broker_write_submit(s, gate_write, &g, slot_done,
	    &sl[0]), 0);
	pthread_mutex_lock(&g.lock);
	while (!g.entered)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	assert_int_equal(broker_write_submit(s, put_kv, &k, slot_done, &sl[1]),
	    0);
	assert_int_equal(broker_write_submit(s, put_kv, &k, slot_done, &sl[2]),
	    0);
	assert_int_equal(broker_write_submit(s, put_kv, &k, slot_done, &sl[2]),
	    BROKER_E_BUSY);
	pthread_mutex_lock(&g.lock);
	g.open = 1;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	async_wait(&a);
	broker_store_close(s);
	assert_int_equal(broker_store_open(f->dir, NULL, &f->store), 0);
}

/* 32 concurrent writers must share commits: far fewer fsyncs than writes. */
#define WRITERS 32
#define PER_WRITER 8

struct writer {
	struct broker_store *store;
	int id;
	int failures;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	char key[32];
	struct kv kv = { .key = key, .val = "payload" };

	for (int i = 0; i < PER_WRITER; i++) {
		snprintf(key, sizeof(key), "w%02d-%02d", w->id, i);
		if (broker_write(w->store, put_kv, &kv) != 0)
			w->failures++;
	}
	return NULL;
}

static void
test_shared_commits(void **state)
{
	struct fixture *f = *state;
	struct broker_store_stats before, after;
	pthread_t th[WRITERS];
	struct writer w[WRITERS];
	char out[32];
	uint64_t commits, writes;

	broker_store_stats(f->store, &before);
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ f->store, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]),
		    0);
	}
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	broker_store_stats(f->store, &after);
	commits = after.commits - before.commits;
	writes = after.writes - before.writes;
	assert_int_equal(writes, WRITERS * PER_WRITER);
	/*
	 * Each writer waits for durability before its next write, so a
	 * commit per write would mean 256 commits; sharing brings it far
	 * lower.  Structural, not timed: holds on any machine.
	 */
	print_message("shared commits: %llu writes in %llu commits, max batch %llu\n",
	    (unsigned long long)writes, (unsigned long long)commits,
	    (unsigned long long)after.max_batch);
	assert_true(commits * 2 <= writes);
	assert_true(after.max_batch >= 4);
	assert_int_equal(get_kv(f->store, "w31-07", out, sizeof(out)), 0);
	assert_int_equal(get_kv(f->store, "w00-00", out, sizeof(out)), 0);
}

/* Pending writes are committed, not dropped, when the store closes. */
static void
test_close_commits_pending(void **state)
{
	struct fixture *f = *state;
	struct async a = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		0, { 0 } };
	struct kv kv[40];
	struct slot sl[40];
	char keys[40][24], out[32];

	a.pending = 40;
	for (int i = 0; i < 40; i++) {
		snprintf(keys[i], sizeof(keys[i]), "close-%02d", i);
		kv[i] = (struct kv){ .key = keys[i], .val = "kept" };
		sl[i] = (struct slot){ &a, i };
		assert_int_equal(broker_write_submit(f->store, put_kv, &kv[i],
		    slot_done, &sl[i]), 0);
	}
	broker_store_close(f->store);
	assert_int_equal(a.pending, 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(a.rc[i], 0);
	assert_int_equal(broker_store_open(f->dir, NULL, &f->store), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(get_kv(f->store, keys[i], out, sizeof(out)), 0);
}

static int
collect(void *arg, const void *key, size_t klen, const void *val, size_t len)
{
	char *acc = arg;
	size_t used = strlen(acc);

	(void)val;
	(void)len;
	if (klen >= 6 && memcmp(key, "scan-", 5) != 0)
		return 1; /* past our keys: stop */
	snprintf(acc + used, 64 - used, "%.*s,", (int)klen, (const char *)key);
	return 0;
}

static void
test_scan(void **state)
{
	struct fixture *f = *state;
	struct kv c = { .key = "scan-c", .val = "3" };
	struct kv a = { .key = "scan-a", .val = "1" };
	struct kv b = { .key = "scan-b", .val = "2" };
	struct broker_txn *t;
	char acc[64] = "";

	assert_int_equal(broker_write(f->store, put_kv, &c), 0);
	assert_int_equal(broker_write(f->store, put_kv, &a), 0);
	assert_int_equal(broker_write(f->store, put_kv, &b), 0);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_txn_scan(t, BROKER_DB_PROFILES, "scan-", 5,
	    collect, acc), 1);
	assert_string_equal(acc, "scan-a,scan-b,scan-c,");
	broker_read_end(t);
}

/* A snapshot does not see writes committed after it began. */
static void
test_snapshot_isolation(void **state)
{
	struct fixture *f = *state;
	struct kv v1 = { .key = "snap", .val = "old" };
	struct kv v2 = { .key = "snap", .val = "new" };
	struct broker_txn *t;
	const void *val;
	size_t len;

	assert_int_equal(broker_write(f->store, put_kv, &v1), 0);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_write(f->store, put_kv, &v2), 0);
	assert_int_equal(broker_txn_get(t, BROKER_DB_PROFILES, "snap", 4, &val,
	    &len, NULL), 0);
	assert_memory_equal(val, "old", 3);
	broker_read_end(t);
}

/* Raw LMDB access to plant bad data, as a damaged disk or a newer binary would. */
static void
raw_put(const char *dir, const char *db, const char *key, const void *val,
    size_t len)
{
	char path[BROKER_PATH_MAX];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)(uintptr_t)key };
	MDB_val v = { len, (void *)(uintptr_t)val };

	assert_int_equal(broker_path(path, dir, "db"), 0);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, BROKER_DB_COUNT), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_corrupt_record(void **state)
{
	struct fixture *f = *state;
	struct broker_txn *t;
	const void *val = (void *)1;
	size_t len = 7;
	const unsigned char zero_version[] = { 0, 'x' };

	raw_put(f->dir, "profiles", "bad-empty", "", 0);
	raw_put(f->dir, "profiles", "bad-zero", zero_version,
	    sizeof(zero_version));
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_txn_get(t, BROKER_DB_PROFILES, "bad-empty", 9,
	    &val, &len, NULL), BROKER_E_CORRUPT);
	assert_null(val);
	assert_int_equal(len, 0);
	assert_int_equal(broker_txn_get(t, BROKER_DB_PROFILES, "bad-zero", 8,
	    &val, &len, NULL), BROKER_E_CORRUPT);
	broker_read_end(t);
}

static void
test_newer_format_refused(void **state)
{
	struct fixture *f = *state;
	struct broker_store *s = (void *)1;
	const unsigned char newer[] = { 1, BROKER_FORMAT + 1 };
	const unsigned char current[] = { 1, BROKER_FORMAT };

	broker_store_close(f->store);
	f->store = NULL;
	raw_put(f->dir, "meta", "format", newer, sizeof(newer));
	assert_int_equal(broker_store_open(f->dir, NULL, &s), BROKER_E_VERSION);
	assert_null(s);
	raw_put(f->dir, "meta", "format", current, sizeof(current));
	assert_int_equal(broker_store_open(f->dir, NULL, &f->store), 0);
}

/* Length of the record at key, or the error. */
static int
get_len(struct broker_store *s, const char *key, size_t *len)
{
	struct broker_txn *t;
	const void *val;
	int rc;

	if ((rc = broker_read_begin(s, &t)) != 0)
		return rc;
	rc = broker_txn_get(t, BROKER_DB_PROFILES, key, strlen(key), &val, len,
	    NULL);
	broker_read_end(t);
	return rc;
}

/*
 * A full map fails that write with BROKER_E_FULL, keeps every earlier
 * record, and the store goes on serving reads and smaller writes.
 */
static uint64_t
map_bytes(struct broker_store *s)
{
	struct broker_store_stats st;

	broker_store_stats(s, &st);
	assert_true(st.file_bytes > 0 && st.file_bytes <= st.map_bytes);
	return st.map_bytes;
}

/*
 * Opened without a size, a store keeps the one it was last committed
 * with: the admin CLI must not work in a smaller map than the daemon.
 */
static void
test_map_size_adopted(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct broker_store_opts big = { .map_size = (size_t)8 << 20 };
	struct kv k = { .key = "k", .val = "v" };

	(void)state;
	assert_non_null(f);
	assert_int_equal(make_store(f, (size_t)4 << 20), 0);
	assert_int_equal(map_bytes(f->store), (size_t)4 << 20);
	broker_store_close(f->store);
	assert_int_equal(broker_store_open(f->dir, NULL, &f->store), 0);
	assert_int_equal(map_bytes(f->store), (size_t)4 << 20);
	broker_store_close(f->store);
	assert_int_equal(broker_store_open(f->dir, &big, &f->store), 0);
	assert_int_equal(map_bytes(f->store), (size_t)8 << 20);
	assert_int_equal(broker_write(f->store, put_kv, &k), 0);
	broker_store_close(f->store);
	assert_int_equal(broker_store_open(f->dir, NULL, &f->store), 0);
	assert_int_equal(map_bytes(f->store), (size_t)8 << 20);
	teardown((void **)&f);
}

static void
test_map_full(void **state)
{
	struct fixture *small = calloc(1, sizeof(*small));
	struct kv kv = { 0 }, tiny = { .key = "tiny", .val = "t" };
	static char big[64 * 1024];
	char key[32];
	size_t len;
	int i, rc = 0;

	(void)state;
	assert_non_null(small);
	assert_int_equal(make_store(small, 1u << 20), 0);
	memset(big, 'x', sizeof(big));
	kv.val = big;
	kv.vlen = sizeof(big);
	kv.key = key;
	for (i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "big-%02d", i);
		if ((rc = broker_write(small->store, put_kv, &kv)) != 0)
			break;
	}
	assert_int_equal(rc, BROKER_E_FULL);
	assert_true(i > 2);
	/* The failed write left nothing behind. */
	assert_int_equal(get_len(small->store, key, &len), BROKER_E_NOTFOUND);
	/* Everything acknowledged before is intact and readable. */
	for (int j = 0; j < i; j++) {
		snprintf(key, sizeof(key), "big-%02d", j);
		assert_int_equal(get_len(small->store, key, &len), 0);
		assert_int_equal(len, sizeof(big));
	}
	/* The committer is still alive; a small write may still fit. */
	rc = broker_write(small->store, put_kv, &tiny);
	assert_true(rc == 0 || rc == BROKER_E_FULL);
	/* And it all survives a reopen. */
	broker_store_close(small->store);
	assert_int_equal(broker_store_open(small->dir, NULL, &small->store), 0);
	snprintf(key, sizeof(key), "big-%02d", i - 1);
	assert_int_equal(get_len(small->store, key, &len), 0);
	teardown((void **)&small);
}

/* ---- password hashing ------------------------------------------------ */

static const struct broker_kdf_opts cheap = { .m_kib = 64, .t_cost = 1 };

static void
test_kdf_run(void **state)
{
	struct broker_kdf_job h = { .op = BROKER_KDF_HASH,
		.password = "correct horse", .password_len = 13 };
	struct broker_kdf_job v = { .op = BROKER_KDF_VERIFY };

	(void)state;
	assert_int_equal(broker_kdf_run(&cheap, &h), 0);
	assert_non_null(strstr(h.encoded, "$argon2id$"));
	memcpy(v.encoded, h.encoded, sizeof(v.encoded));
	v.password = "correct horse";
	v.password_len = 13;
	assert_int_equal(broker_kdf_run(&cheap, &v), 0);
	v.password = "correct horsf";
	assert_int_equal(broker_kdf_run(&cheap, &v), BROKER_E_BADPASS);
	v.password_len = 12; /* a prefix is not the password */
	v.password = "correct horse";
	assert_int_equal(broker_kdf_run(&cheap, &v), BROKER_E_BADPASS);
	/* Unknown login: the dummy never matches. */
	v.encoded[0] = '\0';
	v.password_len = 13;
	assert_int_equal(broker_kdf_run(&cheap, &v), BROKER_E_BADPASS);
	/* A damaged stored hash is corruption, not a wrong password. */
	snprintf(v.encoded, sizeof(v.encoded), "$argon2id$garbage");
	assert_int_equal(broker_kdf_run(&cheap, &v), BROKER_E_CORRUPT);
	/* Two hashes of one password differ (random salt). */
	memcpy(v.encoded, h.encoded, sizeof(v.encoded));
	assert_int_equal(broker_kdf_run(&cheap, &h), 0);
	assert_string_not_equal(v.encoded, h.encoded);
}

struct kdf_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int left;
};

static void
kdf_done(struct broker_kdf_job *j)
{
	struct kdf_wait *w = j->cookie;

	pthread_mutex_lock(&w->lock);
	w->left--;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void
test_kdf_pool(void **state)
{
	struct broker_kdf_opts o = cheap;
	struct broker_kdf *k = NULL;
	struct broker_kdf_job jobs[8];
	struct kdf_wait w = { PTHREAD_MUTEX_INITIALIZER,
		PTHREAD_COND_INITIALIZER, 0 };
	int busy = 0;

	(void)state;
	o.threads = 2;
	o.max_queue = 3;
	assert_int_equal(broker_kdf_open(&o, &k), 0);
	for (int i = 0; i < 8; i++) {
		jobs[i] = (struct broker_kdf_job){ .op = BROKER_KDF_HASH,
			.password = "pool password", .password_len = 13,
			.done = kdf_done, .cookie = &w };
		pthread_mutex_lock(&w.lock);
		w.left++;
		pthread_mutex_unlock(&w.lock);
		if (broker_kdf_submit(k, &jobs[i]) == BROKER_E_BUSY) {
			busy++;
			pthread_mutex_lock(&w.lock);
			w.left--;
			pthread_mutex_unlock(&w.lock);
		}
	}
	/* Closing finishes what was queued: every accepted job reports. */
	broker_kdf_close(k);
	assert_int_equal(w.left, 0);
	for (int i = 0; i < 8; i++)
		if (jobs[i].encoded[0] != '\0')
			assert_int_equal(jobs[i].rc, 0);
	print_message("kdf pool: %d of 8 refused as busy\n", busy);
}

/* ---- customers, sessions, profiles ------------------------------------ */

static void
test_customer_create(void **state)
{
	struct fixture *f = *state;
	struct broker_customer_new n = { .login = "carol", .pw = "$argon2id$x",
		.now = 1000 };
	struct broker_customer_new dup = n;
	struct broker_customer c;
	struct broker_txn *t;
	const char *json;
	size_t len;
	char etag[BROKER_ETAG_LEN + 1];

	assert_int_equal(broker_write(f->store, broker_customer_create, &n), 0);
	assert_int_equal(strlen(n.id), BROKER_ID_LEN);
	assert_int_equal(broker_write(f->store, broker_customer_create, &dup),
	    BROKER_E_EXISTS);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_customer_by_login(t, "carol", &c), 0);
	assert_string_equal(c.id, n.id);
	assert_string_equal(c.pw, "$argon2id$x");
	assert_int_equal(c.epoch, 0);
	assert_int_equal(broker_customer_by_login(t, "nobody", &c),
	    BROKER_E_NOTFOUND);
	/* The failed duplicate left no second account or profile. */
	assert_int_equal(broker_customer_get(t, dup.id, &c), BROKER_E_NOTFOUND);
	assert_int_equal(broker_profile_get(t, n.id, &json, &len, etag), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(json, "{}", 2);
	assert_int_equal(strlen(etag), BROKER_ETAG_LEN);
	broker_read_end(t);
}

/* Creates a customer and a session; returns the token in tok. */
static void
new_session(struct fixture *f, const char *login, int64_t now,
    char cid[BROKER_ID_LEN + 1], char tok[BROKER_TOKEN_LEN + 1])
{
	struct broker_customer_new n = { .login = login, .pw = "$argon2id$x",
		.now = now };
	struct broker_session_new s = { .now = now, .lifetime = 3600 };

	assert_int_equal(broker_write(f->store, broker_customer_create, &n), 0);
	s.customer_id = n.id;
	assert_int_equal(broker_write(f->store, broker_session_create, &s), 0);
	memcpy(cid, n.id, BROKER_ID_LEN + 1);
	memcpy(tok, s.token, BROKER_TOKEN_LEN + 1);
}

static int
lookup(struct fixture *f, const char *tok, int64_t now, int64_t idle,
    struct broker_session *s)
{
	struct broker_txn *t;
	int rc;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	rc = broker_session_lookup(t, tok, strlen(tok), now, idle, s);
	broker_read_end(t);
	return rc;
}

static void
test_session_limits(void **state)
{
	struct fixture *f = *state;
	struct broker_session s;
	struct broker_session_end touch = { 0 };
	char cid[BROKER_ID_LEN + 1], tok[BROKER_TOKEN_LEN + 1];

	new_session(f, "dave", 10000, cid, tok);
	assert_int_equal(strlen(tok), BROKER_TOKEN_LEN);
	assert_int_equal(lookup(f, tok, 10001, 600, &s), 0);
	assert_string_equal(s.customer_id, cid);
	/* Idle past the limit, absolute past the lifetime. */
	assert_int_equal(lookup(f, tok, 10600, 600, &s), BROKER_E_EXPIRED);
	assert_int_equal(lookup(f, tok, 13600, 0, &s), BROKER_E_EXPIRED);
	/* A touch moves the idle clock, never the absolute one. */
	touch.token = tok;
	touch.token_len = strlen(tok);
	touch.now = 10500;
	assert_int_equal(broker_write(f->store, broker_session_touch, &touch),
	    0);
	assert_int_equal(lookup(f, tok, 10600, 600, &s), 0);
	assert_int_equal(lookup(f, tok, 13600, 600, &s), BROKER_E_EXPIRED);
	/* Unknown, empty and mangled tokens. */
	assert_int_equal(lookup(f, "nope", 10001, 600, &s), BROKER_E_NOTFOUND);
	assert_int_equal(lookup(f, "", 10001, 600, &s), BROKER_E_NOTFOUND);
	tok[0] ^= 1;
	assert_int_equal(lookup(f, tok, 10001, 600, &s), BROKER_E_NOTFOUND);
}

static void
test_session_revocation(void **state)
{
	struct fixture *f = *state;
	struct broker_session s;
	struct broker_session_new second = { .now = 20000, .lifetime = 3600 };
	struct broker_session_end e = { .now = 20001 };
	struct broker_customer c;
	struct broker_txn *t;
	char cid[BROKER_ID_LEN + 1], tok[BROKER_TOKEN_LEN + 1];
	char ocid[BROKER_ID_LEN + 1], otok[BROKER_TOKEN_LEN + 1];

	new_session(f, "erin", 20000, cid, tok);
	new_session(f, "frank", 20000, ocid, otok);
	second.customer_id = cid;
	assert_int_equal(broker_write(f->store, broker_session_create, &second),
	    0);
	/* Password change: new hash, every other session ends, this stays. */
	e.customer_id = cid;
	e.token = tok;
	e.token_len = strlen(tok);
	e.new_pw = "$argon2id$new";
	assert_int_equal(broker_write(f->store, broker_session_revoke_all, &e),
	    0);
	assert_int_equal(lookup(f, tok, 20002, 0, &s), 0);
	assert_int_equal(lookup(f, second.token, 20002, 0, &s),
	    BROKER_E_EXPIRED);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_customer_get(t, cid, &c), 0);
	broker_read_end(t);
	assert_string_equal(c.pw, "$argon2id$new");
	assert_int_equal(c.epoch, 1);
	/* Another customer's session is untouched. */
	assert_int_equal(lookup(f, otok, 20002, 0, &s), 0);
	/* Log out everywhere: this one too. */
	e.token = NULL;
	e.new_pw = NULL;
	assert_int_equal(broker_write(f->store, broker_session_revoke_all, &e),
	    0);
	assert_int_equal(lookup(f, tok, 20003, 0, &s), BROKER_E_EXPIRED);
	/* Log out one session. */
	e.customer_id = ocid;
	e.token = otok;
	e.token_len = strlen(otok);
	assert_int_equal(broker_write(f->store, broker_session_delete, &e), 0);
	assert_int_equal(lookup(f, otok, 20003, 0, &s), BROKER_E_NOTFOUND);
	assert_int_equal(broker_write(f->store, broker_session_delete, &e),
	    BROKER_E_NOTFOUND);
}

static void
test_profile_put(void **state)
{
	struct fixture *f = *state;
	struct broker_profile_put p = { 0 };
	struct broker_txn *t;
	char cid[BROKER_ID_LEN + 1], tok[BROKER_TOKEN_LEN + 1];
	char etag0[BROKER_ETAG_LEN + 1], etag1[BROKER_ETAG_LEN + 1];
	const char *json;
	size_t len;

	new_session(f, "gina", 30000, cid, tok);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_profile_get(t, cid, &json, &len, etag0), 0);
	broker_read_end(t);
	p.customer_id = cid;
	p.json = "{\"language\":\"en\"}";
	p.len = strlen(p.json);
	p.if_match = "AAAAAAAAAAAAAAAAAAAAAA";
	assert_int_equal(broker_write(f->store, broker_profile_put, &p),
	    BROKER_E_STALE);
	p.if_match = etag0;
	assert_int_equal(broker_write(f->store, broker_profile_put, &p), 0);
	assert_string_not_equal(p.etag, etag0);
	memcpy(etag1, p.etag, sizeof(etag1));
	/* The old tag is now stale: a second writer loses. */
	assert_int_equal(broker_write(f->store, broker_profile_put, &p),
	    BROKER_E_STALE);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_profile_get(t, cid, &json, &len, etag0), 0);
	assert_int_equal(len, strlen(p.json));
	assert_memory_equal(json, p.json, len);
	assert_string_equal(etag0, etag1);
	assert_int_equal(broker_profile_get(t, "unknown", &json, &len, etag0),
	    BROKER_E_NOTFOUND);
	broker_read_end(t);
}

/* ---- companies, grants, tokens, audit --------------------------------- */

static void
add_company(struct fixture *f, const char *id, char secret[BROKER_SECRET_LEN + 1])
{
	static const char *uris[] = { "https://example.org/cb" };
	struct broker_company_change c = { .id = id, .name = "Example",
		.redirect_uris = uris, .n_redirects = 1, .now = 100 };

	assert_int_equal(broker_write(f->store, broker_company_add, &c), 0);
	memcpy(secret, c.secret, BROKER_SECRET_LEN + 1);
}

#define CODE_URI "https://example.org/cb"
#define CODE_CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

/* Issues an authorization code of company for customer cid, at now. */
static void
issue_code(struct fixture *f, const char *company, const char *cid,
    int64_t now, struct broker_code_new *cn)
{
	memset(cn, 0, sizeof(*cn));
	cn->grant.company = company;
	cn->grant.customer = cid;
	cn->grant.scopes = "read:communication";
	cn->grant.purpose = "service";
	cn->grant.now = now;
	cn->grant.expires = now + 3600;
	cn->redirect_uri = CODE_URI;
	cn->challenge = CODE_CHALLENGE;
	cn->lifetime = 60;
	assert_int_equal(broker_write(f->store, broker_code_issue, cn), 0);
}

/* Redeems code as company at now; the outcome. */
static enum broker_code_outcome
redeem_code(struct fixture *f, const char *company, const char *code,
    int64_t now)
{
	struct broker_code_use u = { .code = code, .len = strlen(code),
		.company = company, .redirect_uri = CODE_URI,
		.challenge = CODE_CHALLENGE, .now = now };

	assert_int_equal(broker_write(f->store, broker_code_redeem, &u), 0);
	if (u.outcome == BROKER_CODE_OK)
		broker_grant_clear(&u.grant);
	return u.outcome;
}

static int
auth(struct fixture *f, const char *id, const char *secret, int64_t now)
{
	struct broker_txn *t;
	int rc;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	rc = broker_company_auth(t, id, secret, strlen(secret), now);
	broker_read_end(t);
	return rc;
}

static void
test_company_credentials(void **state)
{
	struct fixture *f = *state;
	struct broker_company_change c = { .id = "acme", .now = 1000,
		.overlap = 3600 };
	char secret[BROKER_SECRET_LEN + 1], old[BROKER_SECRET_LEN + 1];
	static const char *bad_ids[] = { "ab", "-abc", "ABC", "a b c", "a/b/c",
		"", "0123456789012345678901234567890123456789012345678901234567890123x" };
	static const char *bad_uris[] = { "http://example.org/cb",
		"https://example.org/cb#frag", "ftp://x", "https:///nohost",
		"javascript:alert(1)", "" };

	add_company(f, "acme", secret);
	assert_int_equal(strlen(secret), BROKER_SECRET_LEN);
	assert_int_equal(auth(f, "acme", secret, 1000), 0);
	assert_int_equal(auth(f, "acme", "wrong", 1000), BROKER_E_BADPASS);
	assert_int_equal(auth(f, "nobody", secret, 1000), BROKER_E_BADPASS);
	/* A new secret with an overlap: both work until the overlap ends. */
	memcpy(old, secret, sizeof(old));
	assert_int_equal(broker_write(f->store, broker_company_new_secret, &c),
	    0);
	assert_int_equal(auth(f, "acme", c.secret, 1001), 0);
	assert_int_equal(auth(f, "acme", old, 1001), 0);
	assert_int_equal(auth(f, "acme", old, 1000 + 3600), BROKER_E_BADPASS);
	/* Without an overlap the old one dies at once. */
	memcpy(old, c.secret, sizeof(old));
	c.overlap = 0;
	assert_int_equal(broker_write(f->store, broker_company_new_secret, &c),
	    0);
	assert_int_equal(auth(f, "acme", old, 1002), BROKER_E_BADPASS);
	assert_int_equal(auth(f, "acme", c.secret, 1002), 0);
	/* Disabled: the right secret no longer authenticates. */
	c.disabled = 1;
	assert_int_equal(broker_write(f->store, broker_company_set_disabled,
	    &c), 0);
	assert_int_equal(auth(f, "acme", c.secret, 1003), BROKER_E_DISABLED);
	c.disabled = 0;
	assert_int_equal(broker_write(f->store, broker_company_set_disabled,
	    &c), 0);
	assert_int_equal(auth(f, "acme", c.secret, 1003), 0);
	/* Validation of ids and redirect URIs. */
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		assert_int_equal(broker_client_id_check(bad_ids[i]),
		    BROKER_E_INVAL);
	for (size_t i = 0; i < sizeof(bad_uris) / sizeof(bad_uris[0]); i++) {
		struct broker_company_change u = { .id = "acme",
			.redirect_uris = &bad_uris[i], .n_redirects = 1 };

		assert_int_equal(broker_write(f->store, broker_company_update,
		    &u), BROKER_E_INVAL);
	}
	{
		struct broker_company_change dup = { .id = "acme", .name = "x",
			.now = 1 };

		assert_int_equal(broker_write(f->store, broker_company_add,
		    &dup), BROKER_E_EXISTS);
	}
}

static int
count_grant(void *arg, const struct broker_grant *g)
{
	(void)g;
	(*(int *)arg)++;
	return 0;
}

struct raw_reads {
	const char *cid;
	int n;
	int second; /* into the second log of reads */
};

/* Logs n reads of distinct fields, and the first one once more. */
static int
log_raw_reads(struct broker_txn *t, void *arg)
{
	struct raw_reads *w = arg;
	unsigned char key[BROKER_AUDIT_LKEY_LEN], val[256];
	char fields[32];
	int rc = 0;

	for (int i = 0; i <= w->n && rc == 0; i++) {
		snprintf(fields, sizeof(fields), "[\"f%d\"]", i < w->n ? i : 0);
		/* Each log its own times: the same read twice is one. */
		broker_put64(key, (uint64_t)(1000 + i + 100000 * w->second));
		broker_put32(key + 8, (uint32_t)i);
		rc = broker_audit_log_value(val, sizeof(val), w->cid,
		    "HHHHHHHHHHHHHHHHHHHHHH", "acme", fields, strlen(fields));
		if (rc == 0)
			rc = broker_txn_put(t, w->second ? BROKER_DB_READLOG1
			    : BROKER_DB_READLOG0, key, sizeof(key), val,
			    broker_audit_log_size("acme", strlen(fields)), 1);
	}
	return rc;
}

/* Entries in one of the store's databases. */
static size_t
db_entries(struct fixture *f, enum broker_db db)
{
	struct broker_txn *t;
	MDB_stat ms;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(mdb_stat(t->txn, f->store->dbi[db], &ms), 0);
	broker_read_end(t);
	return ms.ms_entries;
}

/* The profile reads in a customer's trail, and how many records hold
 * two of them. */
static json_int_t
trail_reads(struct fixture *f, const char *cid, json_int_t *twice)
{
	char cursor[32] = "", next[32];
	struct broker_txn *t;
	json_t *items, *r;
	size_t i;
	json_int_t reads = 0;

	*twice = 0;
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	do {
		assert_int_equal(broker_audit_list(t, cid,
		    cursor[0] ? cursor : NULL, 500, &items, next,
		    sizeof(next)), 0);
		json_array_foreach(items, i, r) {
			json_int_t n = json_integer_value(json_object_get(r,
			    "count"));

			if (strcmp(json_string_value(json_object_get(r,
				"kind")), "profile.read") != 0)
				continue;
			reads += n ? n : 1;
			*twice += n == 2;
		}
		json_decref(items);
		memcpy(cursor, next, sizeof(cursor));
	} while (cursor[0] != '\0');
	broker_read_end(t);
	return reads;
}

/* Folds log to the end, max groups at a time (0: the default). */
static void
fold_all(struct fixture *f, enum broker_db log, size_t max)
{
	struct broker_audit_fold *fo;
	int done;

	assert_int_equal(broker_audit_fold_new(log, max, &fo), 0);
	do {
		assert_int_equal(broker_write(f->store, broker_audit_fold_step,
		    fo), 0);
		done = broker_audit_fold_advance(fo);
	} while (!done);
	broker_audit_fold_free(fo);
}

/*
 * 2,101 reads in a log (2,100 groups, one of them read twice), folded a
 * chunk of max groups at a time (0: the default); with crash, the fold
 * stops after its first step, and the next start of the audit resumes it.
 * Every read must be counted exactly once, and the log left empty.
 */
static void
fold_case(struct fixture *f, const char *login, size_t max, int crash,
    json_int_t want_twice)
{
	char cid[BROKER_ID_LEN + 1], tok[BROKER_TOKEN_LEN + 1];
	struct raw_reads w = { cid, 2100, 0 };
	struct broker_audit_fold *fo;
	struct broker_audit *a;
	json_int_t twice;

	new_session(f, login, 100, cid, tok);
	assert_int_equal(broker_write(f->store, log_raw_reads, &w), 0);
	if (crash) {
		assert_int_equal(broker_audit_fold_new(BROKER_DB_READLOG0, max,
		    &fo), 0);
		assert_int_equal(broker_write(f->store, broker_audit_fold_step,
		    fo), 0);
		assert_int_equal(broker_audit_fold_advance(fo), 0);
		broker_audit_fold_free(fo);
		/* The next start resumes after the mark. */
		assert_true(db_entries(f, BROKER_DB_READLOG0) > 0);
		assert_int_equal(broker_audit_open(f->store, NULL, &a), 0);
		broker_audit_close(a);
	} else {
		fold_all(f, BROKER_DB_READLOG0, max);
	}
	assert_int_equal(db_entries(f, BROKER_DB_READLOG0), 0);
	assert_int_equal(trail_reads(f, cid, &twice), 2101);
	assert_int_equal(twice, want_twice);
}

static void
test_audit_fold_resumes(void **state)
{
	fold_case(*state, "resume", 0, 1, 1);
}

/* A log of more groups than a fold holds is folded a chunk at a time:
 * the repeated read, in another chunk than its first, is a record of
 * its own. */
static void
test_audit_fold_chunks(void **state)
{
	fold_case(*state, "chunks", 500, 0, 0);
}

/* A fold stopped inside a chunk resumes exactly that chunk, even when
 * the next run holds more groups at once. */
static void
test_audit_fold_chunk_resumes(void **state)
{
	fold_case(*state, "chunkresume", 500, 1, 0);
}

/*
 * A crashed run's reads: in0/in1 say which logs hold some, and mark which
 * of them (0, 1; 2 both, which no run leaves but a damaged store could;
 * -1 neither) a fold had begun to file, leaving its mark.
 * New reads are queued while the next start files them, through a queue
 * of 8 per thread; their fields sort before every logged group, so a
 * read put behind the mark would be hidden by it.  Every read must be in
 * the trail once, and both logs end empty.
 */
static void
leftovers_case(struct fixture *f, const char *login, int in0, int in1,
    int mark)
{
	struct broker_audit_opts o = { .flush_ms = 10, .queue = 8,
		.wait_ms = 60000 };
	char cid[BROKER_ID_LEN + 1], tok[BROKER_TOKEN_LEN + 1];
	struct raw_reads w0 = { cid, 2100, 0 }, w1 = { cid, 2100, 1 };
	struct broker_audit_fields *fl;
	struct broker_audit_fold *fo;
	struct broker_audit *a;
	json_int_t twice;

	new_session(f, login, 100, cid, tok);
	if (in0)
		assert_int_equal(broker_write(f->store, log_raw_reads, &w0),
		    0);
	if (in1)
		assert_int_equal(broker_write(f->store, log_raw_reads, &w1),
		    0);
	for (int log = 0; log < 2; log++) {
		if (mark != log && mark != 2)
			continue;
		assert_int_equal(broker_audit_fold_new(log ? BROKER_DB_READLOG1
		    : BROKER_DB_READLOG0, 0, &fo), 0);
		assert_int_equal(broker_write(f->store, broker_audit_fold_step,
		    fo), 0);
		assert_int_equal(broker_audit_fold_advance(fo), 0);
		broker_audit_fold_free(fo);
	}
	assert_int_equal(broker_audit_open(f->store, &o, &a), 0);
	assert_non_null(fl = broker_audit_fields_new("[\"a\"]", 5));
	for (int i = 0; i < 300; i++)
		assert_int_equal(broker_audit_read(a, cid, "acme",
				     "HHHHHHHHHHHHHHHHHHHHHH", fl),
		    0);
	broker_audit_fields_put(fl);
	broker_audit_close(a);
	assert_int_equal(db_entries(f, BROKER_DB_READLOG0), 0);
	assert_int_equal(db_entries(f, BROKER_DB_READLOG1), 0);
	assert_int_equal(trail_reads(f, cid, &twice),
	    2101 * (in0 + in1) + 300);
}

static void
test_audit_leftovers_one_log(void **state)
{
	leftovers_case(*state, "leftone", 0, 1, -1);
}

static void
test_audit_leftovers_both_logs(void **state)
{
	leftovers_case(*state, "leftboth", 1, 1, -1);
}

/* A fold stopped part way, in either log with reads in the other, or
 * in both. */
static void
test_audit_leftovers_marked(void **state)
{
	leftovers_case(*state, "leftmark0", 1, 1, 0);
	leftovers_case(*state, "leftmark1", 1, 1, 1);
	leftovers_case(*state, "leftmark2", 1, 1, 2);
}

/* A mark as an older fold wrote it: the last group filed, its bytes
 * alone (the reads of fields ["f0"], the first in key order). */
static int
put_old_mark(struct broker_txn *t, void *arg)
{
	static const unsigned char mark[BROKER_AUDIT_LKEY_LEN] = { 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	unsigned char val[256];
	int rc;

	rc = broker_audit_log_value(val, sizeof(val), arg,
	    "HHHHHHHHHHHHHHHHHHHHHH", "acme", "[\"f0\"]", 6);
	if (rc == 0)
		rc = broker_txn_put(t, BROKER_DB_READLOG0, mark, sizeof(mark),
		    val, broker_audit_log_size("acme", 6), 1);
	return rc;
}

/* A fold stopped by an older version resumes after its mark: the group
 * it names (two reads) counts as filed, every other read once. */
static void
test_audit_fold_old_mark(void **state)
{
	struct fixture *f = *state;
	char cid[BROKER_ID_LEN + 1], tok[BROKER_TOKEN_LEN + 1];
	struct raw_reads w = { cid, 2100, 0 };
	json_int_t twice;

	new_session(f, "oldmark", 100, cid, tok);
	assert_int_equal(broker_write(f->store, log_raw_reads, &w), 0);
	assert_int_equal(broker_write(f->store, put_old_mark, cid), 0);
	fold_all(f, BROKER_DB_READLOG0, 500);
	assert_int_equal(db_entries(f, BROKER_DB_READLOG0), 0);
	assert_int_equal(trail_reads(f, cid, &twice), 2099);
	assert_int_equal(twice, 0);
}

/*
 * Makes the store look like one made before the logs of reads and the
 * table of codes existed: its codes lie among the revoked token ids.
 */
static int
drop_added(struct broker_txn *t, void *arg)
{
	MDB_dbi codes = t->store->dbi[BROKER_DB_CODES];
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	(void)arg;
	if (mdb_cursor_open(t->txn, codes, &cur) != 0)
		return BROKER_E_STORAGE;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0 &&
	    (rc = mdb_put(t->txn, t->store->dbi[BROKER_DB_TOKENS], &k, &v,
		0)) == 0)
		;
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND ||
	    mdb_drop(t->txn, t->store->dbi[BROKER_DB_READLOG0], 1) != 0 ||
	    mdb_drop(t->txn, t->store->dbi[BROKER_DB_READLOG1], 1) != 0 ||
	    mdb_drop(t->txn, codes, 1) != 0)
		return BROKER_E_STORAGE;
	return 0;
}

static void
test_added_databases(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1];
	/* Ids on either side of the codes' "c:" keys stay where they are. */
	struct broker_token_revoke before = { .jti = "c9", .exp = 99999,
		.company = "movedco" };
	struct broker_token_revoke after = { .jti = "cz", .exp = 99999,
		.company = "movedco" };
	struct broker_code_new one, two;
	struct broker_txn *t;
	size_t tokens = db_entries(f, BROKER_DB_TOKENS);
	size_t codes = db_entries(f, BROKER_DB_CODES);

	add_company(f, "movedco", secret);
	new_session(f, "movedcodes", 1000, cid, tok);
	issue_code(f, "movedco", cid, 1000, &one);
	issue_code(f, "movedco", cid, 1000, &two);
	assert_int_equal(broker_write(f->store, broker_token_revoke, &before),
	    0);
	assert_int_equal(broker_write(f->store, broker_token_revoke, &after),
	    0);
	assert_int_equal(broker_write(f->store, drop_added, NULL), 0);
	assert_int_equal(db_entries(f, BROKER_DB_TOKENS), tokens + codes + 4);
	broker_store_close(f->store);
	/* Opening an older store creates what it lacks, and moves its codes
	 * into their own table, once. */
	assert_int_equal(broker_store_open(f->dir, NULL, &f->store), 0);
	assert_int_equal(db_entries(f, BROKER_DB_READLOG1), 0);
	assert_int_equal(db_entries(f, BROKER_DB_CODES), codes + 2);
	assert_int_equal(db_entries(f, BROKER_DB_TOKENS), tokens + 2);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_jti_revoked(t, "c9"), 1);
	assert_int_equal(broker_jti_revoked(t, "cz"), 1);
	broker_read_end(t);
	broker_store_close(f->store);
	assert_int_equal(broker_store_open(f->dir, NULL, &f->store), 0);
	assert_int_equal(db_entries(f, BROKER_DB_CODES), codes + 2);
	/* The moved codes work as before, spent once. */
	assert_int_equal(redeem_code(f, "movedco", one.code, 1001),
	    BROKER_CODE_OK);
	assert_int_equal(redeem_code(f, "movedco", one.code, 1002),
	    BROKER_CODE_REUSED);
	assert_int_equal(redeem_code(f, "movedco", two.code, 1003),
	    BROKER_CODE_OK);
}

/* Raw records in the first format (version 1, JSON), as older stores
 * hold them. */
static int
put_v1_records(struct broker_txn *t, void *arg)
{
	const char *grant = "{\"company\":\"oldco\",\"created\":10,"
			    "\"customer\":\"EEEEEEEEEEEEEEEEEEEEEE\","
			    "\"expires\":9000000000,\"purpose\":\"service\","
			    "\"revoked_at\":0,\"scopes\":\"read:language\"}";
	const char *company = "{\"created\":1,\"description\":\"\","
			      "\"disabled\":true,\"name\":\"Old\","
			      "\"redirect_uris\":[],\"secrets\":[],\"site\":\"\"}";
	const char *bad = "\x01\x02";
	int rc;

	(void)arg;
	rc = broker_txn_put(t, BROKER_DB_GRANTS, "g:FFFFFFFFFFFFFFFFFFFFFF",
	    24, grant, strlen(grant), 1);
	if (rc == 0)
		rc = broker_txn_put(t, BROKER_DB_COMPANIES, "oldco", 5,
		    company, strlen(company), 1);
	/* A binary grant cut short. */
	if (rc == 0)
		rc = broker_txn_put(t, BROKER_DB_GRANTS,
		    "g:GGGGGGGGGGGGGGGGGGGGGG", 24, bad, 2, 2);
	return rc;
}

static void
test_record_formats(void **state)
{
	struct fixture *f = *state;
	struct broker_grant g;
	struct broker_txn *t;
	json_t *rec = NULL;

	assert_int_equal(broker_write(f->store, put_v1_records, NULL), 0);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	/* Version 1 records still read as before. */
	assert_int_equal(broker_grant_get(t, "FFFFFFFFFFFFFFFFFFFFFF", &g), 0);
	assert_string_equal(g.company, "oldco");
	assert_string_equal(g.customer, "EEEEEEEEEEEEEEEEEEEEEE");
	assert_string_equal(g.scopes, "read:language");
	assert_string_equal(g.purpose, "service");
	assert_int_equal(g.created, 10);
	assert_int_equal(g.expires, 9000000000LL);
	broker_grant_clear(&g);
	assert_int_equal(broker_company_live(t, "oldco"), BROKER_E_DISABLED);
	assert_int_equal(broker_company_get(t, "oldco", &rec), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "name")),
	    "Old");
	json_decref(rec);
	/* A damaged binary record is reported, never handed on. */
	assert_int_equal(broker_grant_get(t, "GGGGGGGGGGGGGGGGGGGGGG", &g),
	    BROKER_E_CORRUPT);
	assert_null(g.scopes);
	broker_read_end(t);
}

static void
test_grants(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char other[BROKER_ID_LEN + 1], tok[BROKER_TOKEN_LEN + 1];
	struct broker_grant_new n = { .company = "shop", .scopes =
		"read:communication", .purpose = "marketing", .now = 5000,
		.expires = 9000 };
	struct broker_grant_end e = { .now = 6000 };
	struct broker_grant g;
	struct broker_txn *t;
	int count = 0;

	add_company(f, "shop", secret);
	new_session(f, "hank", 5000, cid, tok);
	new_session(f, "ivy", 5000, other, tok);
	n.customer = cid;
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	/* Bad inputs change nothing. */
	{
		struct broker_grant_new bad = n;

		bad.company = "nope";
		assert_int_equal(broker_write(f->store, broker_grant_create,
		    &bad), BROKER_E_NOTFOUND);
		bad = n;
		bad.purpose = "selling";
		assert_int_equal(broker_write(f->store, broker_grant_create,
		    &bad), BROKER_E_INVAL);
		bad = n;
		bad.expires = bad.now;
		assert_int_equal(broker_write(f->store, broker_grant_create,
		    &bad), BROKER_E_INVAL);
	}
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_grant_get(t, n.id, &g), 0);
	assert_string_equal(g.customer, cid);
	assert_string_equal(g.scopes, "read:communication");
	assert_string_equal(broker_grant_state(&g, 5001), "active");
	assert_string_equal(broker_grant_state(&g, 9000), "expired");
	assert_int_equal(broker_grant_live(t, &g, 5001), 0);
	assert_int_equal(broker_grant_live(t, &g, 9000), BROKER_E_REVOKED);
	broker_grant_clear(&g);
	assert_int_equal(broker_grants_of_customer(t, cid, count_grant, &count),
	    0);
	assert_int_equal(count, 1);
	count = 0;
	assert_int_equal(broker_grants_of_customer(t, other, count_grant,
	    &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(broker_grants_of_company(t, "shop", NULL, count_grant,
	    &count), 0);
	assert_int_equal(count, 1);
	broker_read_end(t);
	/* Another customer cannot revoke it; the owner can, once. */
	e.customer = other;
	e.id = n.id;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e),
	    BROKER_E_NOTFOUND);
	e.customer = cid;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_grant_get(t, n.id, &g), 0);
	assert_string_equal(broker_grant_state(&g, 6001), "revoked");
	assert_int_equal(broker_grant_live(t, &g, 6001), BROKER_E_REVOKED);
	broker_grant_clear(&g);
	broker_read_end(t);
}

static int
grant_count(struct fixture *f, const char *cid, const char *company)
{
	struct broker_txn *t;
	int n = 0, m = 0;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_grants_of_customer(t, cid, count_grant, &n),
	    0);
	assert_int_equal(broker_grants_of_company(t, company, NULL, count_grant,
	    &m), 0);
	broker_read_end(t);
	assert_int_equal(n, m); /* both indexes agree */
	return n;
}

static int
grant_exists(struct fixture *f, const char *id)
{
	struct broker_grant g;
	struct broker_txn *t;
	int rc;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	rc = broker_grant_get(t, id, &g);
	broker_grant_clear(&g);
	broker_read_end(t);
	assert_true(rc == 0 || rc == BROKER_E_NOTFOUND);
	return rc == 0;
}

/*
 * The quota: live grants (not revoked, not expired) are capped, ended ones
 * beyond the newest max_live are erased, oldest end first, with both
 * indexes; a refusal changes nothing; max_live 0 is no quota.
 */
static void
test_grant_quota(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1], id[4][BROKER_ID_LEN + 1];
	struct broker_grant_new n = { .company = "quo", .scopes =
		"read:language", .purpose = "service", .now = 1000,
		.expires = 100000, .max_live = 2 };
	struct broker_grant_end e = { 0 };
	int i;

	add_company(f, "quo", secret);
	new_session(f, "quota", 1000, cid, tok);
	n.customer = cid;
	e.customer = cid;
	for (i = 0; i < 2; i++) {
		assert_int_equal(broker_write(f->store, broker_grant_create,
		    &n), 0);
		memcpy(id[i], n.id, sizeof(id[i]));
	}
	assert_int_equal(broker_write(f->store, broker_grant_create, &n),
	    BROKER_E_LIMIT);
	assert_int_equal(grant_count(f, cid, "quo"), 2);
	/* One revoked (at 2000) and one expired (at 3000): both free. */
	e.id = id[0];
	e.now = 2000;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	n.now = 2500;
	n.expires = 3000;
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	memcpy(id[2], n.id, sizeof(id[2]));
	n.now = 2900;
	n.expires = 100000;
	assert_int_equal(broker_write(f->store, broker_grant_create, &n),
	    BROKER_E_LIMIT);
	e.id = id[1];
	e.now = 3500;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	n.now = 4000;
	/* Ended: id0 (2000), id2 (3000), id1 (3500); two are kept. */
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	memcpy(id[3], n.id, sizeof(id[3]));
	assert_false(grant_exists(f, id[0]));
	assert_true(grant_exists(f, id[1]) && grant_exists(f, id[2]));
	assert_int_equal(grant_count(f, cid, "quo"), 3);
	/* Ended ones within the number kept stay. */
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	assert_int_equal(broker_write(f->store, broker_grant_create, &n),
	    BROKER_E_LIMIT);
	assert_int_equal(grant_count(f, cid, "quo"), 4);
	e.id = id[3];
	e.now = 4500;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	n.now = 5000;
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	assert_false(grant_exists(f, id[2])); /* ended at 3000: oldest */
	assert_true(grant_exists(f, id[1]) && grant_exists(f, id[3]));
	assert_int_equal(grant_count(f, cid, "quo"), 4);
	/* Without a quota, nothing is refused or erased. */
	n.max_live = 0;
	for (i = 0; i < 3; i++)
		assert_int_equal(broker_write(f->store, broker_grant_create,
		    &n), 0);
	assert_int_equal(grant_count(f, cid, "quo"), 7);
	assert_true(grant_exists(f, id[1]));
}

static void
test_refresh_rotation(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1], first[BROKER_TOKEN_LEN + 1];
	struct broker_grant_new n = { .company = "rot", .scopes =
		"read:contact read:diet", .purpose = "service", .now = 100,
		.expires = 1000000 };
	struct broker_refresh_new rn = { .company = "rot", .now = 100 };
	struct broker_refresh_use u = { .company = "rot", .now = 101 };
	struct broker_refresh_use again;

	add_company(f, "rot", secret);
	add_company(f, "other-co", secret);
	new_session(f, "jack", 100, cid, tok);
	n.customer = cid;
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	rn.grant = n.id;
	rn.customer = cid;
	rn.scopes = n.scopes;
	assert_int_equal(broker_write(f->store, broker_refresh_issue, &rn), 0);
	memcpy(first, rn.token, sizeof(first));
	/* Another company cannot use it. */
	u.presented = first;
	u.len = strlen(first);
	u.company = "other-co";
	assert_int_equal(broker_write(f->store, broker_refresh_redeem, &u), 0);
	assert_int_equal(u.outcome, BROKER_REFRESH_INVALID);
	/* Asking for more than the family holds spends nothing. */
	u.company = "rot";
	u.requested = "read:contact read:identity";
	assert_int_equal(broker_write(f->store, broker_refresh_redeem, &u), 0);
	assert_int_equal(u.outcome, BROKER_REFRESH_SCOPE);
	/* Narrower is fine; rotation hands out a successor. */
	u.requested = "read:contact.email";
	assert_int_equal(broker_write(f->store, broker_refresh_redeem, &u), 0);
	assert_int_equal(u.outcome, BROKER_REFRESH_OK);
	assert_string_equal(u.scopes, "read:contact.email");
	assert_string_not_equal(u.token, first);
	again = u;
	again.scopes = NULL;
	memset(&again.grant, 0, sizeof(again.grant));
	free(u.scopes);
	broker_grant_clear(&u.grant);
	/* Replaying the spent one kills the family, successor included. */
	u.requested = NULL;
	assert_int_equal(broker_write(f->store, broker_refresh_redeem, &u), 0);
	assert_int_equal(u.outcome, BROKER_REFRESH_REUSED);
	again.presented = again.token;
	again.len = strlen(again.token);
	again.requested = NULL;
	{
		char succ[BROKER_TOKEN_LEN + 1];

		memcpy(succ, again.token, sizeof(succ));
		again.presented = succ;
		assert_int_equal(broker_write(f->store, broker_refresh_redeem,
		    &again), 0);
		assert_int_equal(again.outcome, BROKER_REFRESH_INVALID);
	}
	/* A refresh token dies with its grant. */
	rn.now = 200;
	assert_int_equal(broker_write(f->store, broker_refresh_issue, &rn), 0);
	{
		struct broker_grant_end e = { .customer = cid, .id = n.id,
			.now = 300 };
		struct broker_refresh_use d = { .presented = rn.token,
			.len = strlen(rn.token), .company = "rot", .now = 301 };
		char grant[BROKER_ID_LEN + 1], *scopes = NULL;
		struct broker_txn *t;

		assert_int_equal(broker_read_begin(f->store, &t), 0);
		assert_int_equal(broker_refresh_lookup(t, rn.token,
		    strlen(rn.token), "rot", grant, &scopes), 0);
		assert_string_equal(grant, n.id);
		free(scopes);
		assert_int_equal(broker_refresh_lookup(t, rn.token,
		    strlen(rn.token), "other-co", grant, &scopes),
		    BROKER_E_NOTFOUND);
		broker_read_end(t);
		assert_int_equal(broker_write(f->store, broker_grant_revoke, &e),
		    0);
		assert_int_equal(broker_write(f->store, broker_refresh_redeem,
		    &d), 0);
		assert_int_equal(d.outcome, BROKER_REFRESH_DEAD);
	}
}

static int
count_rec(void *arg, const void *key, size_t klen, const void *val,
    size_t len)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

static int
refresh_records(struct fixture *f)
{
	struct broker_txn *t;
	int n = 0;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_txn_scan(t, BROKER_DB_REFRESH, NULL, 0,
	    count_rec, &n), 0);
	broker_read_end(t);
	return n;
}

static void
count_call(void *arg)
{
	(*(int *)arg)++;
}

static int
refresh_known_by(struct fixture *f, const char *company, const char *tok)
{
	char grant[BROKER_ID_LEN + 1], *scopes = NULL;
	struct broker_txn *t;
	int rc;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	rc = broker_refresh_lookup(t, tok, strlen(tok), company, grant,
	    &scopes);
	broker_read_end(t);
	free(scopes);
	return rc == 0;
}

static int
refresh_known(struct fixture *f, const char *tok)
{
	return refresh_known_by(f, "swp", tok);
}

/*
 * The sweep of refresh tokens: a dead family's tokens and record go, so
 * do an ended grant's, and spent tokens once the reuse window has passed;
 * a family's live token and, within the window, its spent ones stay.
 */
static void
test_refresh_sweep(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1], spent[BROKER_TOKEN_LEN + 1];
	struct broker_grant_new a = { .company = "swp", .scopes =
		"read:language", .purpose = "service", .now = 100,
		.expires = 1000000 };
	struct broker_grant_new b = a;
	struct broker_refresh_new rn = { .company = "swp", .now = 100 };
	struct broker_refresh_use u = { .company = "swp", .now = 200 };
	struct broker_token_revoke rv = { .company = "swp", .now = 250 };
	struct broker_grant_end e = { .now = 300 };
	int calls = 0;
	struct broker_sweep sw = { .now = 1000, .between = count_call,
		.between_arg = &calls };
	struct broker_sweep pre = { .now = 20000 };
	size_t n;
	int base;

	/* Earlier tests' records: what is dead by the end goes now. */
	assert_int_equal(broker_tokens_sweep(f->store, &pre, 10000, &n), 0);
	base = refresh_records(f);
	add_company(f, "swp", secret);
	new_session(f, "sweeps", 100, cid, tok);
	a.customer = b.customer = rn.customer = e.customer = cid;
	assert_int_equal(broker_write(f->store, broker_grant_create, &a), 0);
	assert_int_equal(broker_write(f->store, broker_grant_create, &b), 0);
	rn.scopes = a.scopes;
	/* Family 1 of grant a: one spent token and its live successor. */
	rn.grant = a.id;
	assert_int_equal(broker_write(f->store, broker_refresh_issue, &rn), 0);
	memcpy(spent, rn.token, sizeof(spent));
	u.presented = spent;
	u.len = strlen(spent);
	assert_int_equal(broker_write(f->store, broker_refresh_redeem, &u), 0);
	assert_int_equal(u.outcome, BROKER_REFRESH_OK);
	free(u.scopes);
	broker_grant_clear(&u.grant);
	/* Family 2 of grant a, revoked by its company. */
	assert_int_equal(broker_write(f->store, broker_refresh_issue, &rn), 0);
	rv.presented = rn.token;
	rv.len = strlen(rn.token);
	assert_int_equal(broker_write(f->store, broker_token_revoke, &rv), 0);
	/* Family 3, of grant b, which the customer revokes. */
	rn.grant = b.id;
	assert_int_equal(broker_write(f->store, broker_refresh_issue, &rn), 0);
	e.id = b.id;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	/* Four tokens, three families, each in its grant's index. */
	assert_int_equal(refresh_records(f), base + 10);
	assert_int_equal(broker_tokens_sweep(f->store, &sw, 10000, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(refresh_records(f), base + 4);
	assert_true(calls > 0);
	assert_true(refresh_known(f, u.token));
	/* Nothing more to do at the same time. */
	assert_int_equal(broker_tokens_sweep(f->store, &sw, 10000, &n), 0);
	assert_int_equal(n, 0);
	/* Past the window the spent token goes; the live one stays. */
	sw.now = 10201;
	assert_int_equal(broker_tokens_sweep(f->store, &sw, 10000, &n), 0);
	assert_int_equal(n, 1);
	assert_true(refresh_known(f, u.token));
	u.now = 10300;
	assert_int_equal(broker_write(f->store, broker_refresh_redeem, &u), 0);
	assert_int_equal(u.outcome, BROKER_REFRESH_INVALID);
	/* Once grant a ends, its last family goes too. */
	e.id = a.id;
	e.now = 10400;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	assert_int_equal(broker_tokens_sweep(f->store, &sw, 10000, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(refresh_records(f), base);
}

/* A grant keeps at most max_families live families: the oldest go. */
static void
test_refresh_family_cap(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1], t[4][BROKER_TOKEN_LEN + 1];
	struct broker_grant_new a = { .company = "cap", .scopes =
		"read:language", .purpose = "service", .now = 100,
		.expires = 1000000 };
	struct broker_grant_new b = a;
	struct broker_refresh_new rn = { .company = "cap", .max_families = 2 };
	int i;

	add_company(f, "cap", secret);
	new_session(f, "capped", 100, cid, tok);
	a.customer = b.customer = rn.customer = cid;
	assert_int_equal(broker_write(f->store, broker_grant_create, &a), 0);
	assert_int_equal(broker_write(f->store, broker_grant_create, &b), 0);
	rn.scopes = a.scopes;
	rn.grant = a.id;
	for (i = 0; i < 3; i++) {
		rn.now = 100 + i;
		assert_int_equal(broker_write(f->store, broker_refresh_issue,
		    &rn), 0);
		memcpy(t[i], rn.token, sizeof(t[i]));
	}
	/* The third family ended the first; the second and third live. */
	assert_false(refresh_known_by(f, "cap", t[0]));
	assert_true(refresh_known_by(f, "cap", t[1]));
	assert_true(refresh_known_by(f, "cap", t[2]));
	/* Another grant's families are its own. */
	rn.grant = b.id;
	assert_int_equal(broker_write(f->store, broker_refresh_issue, &rn), 0);
	memcpy(t[3], rn.token, sizeof(t[3]));
	assert_true(refresh_known_by(f, "cap", t[1]));
	assert_true(refresh_known_by(f, "cap", t[3]));
	/* A family that died otherwise frees its place. */
	{
		struct broker_token_revoke rv = { .presented = t[1],
			.len = strlen(t[1]), .company = "cap", .now = 200 };

		assert_int_equal(broker_write(f->store, broker_token_revoke,
		    &rv), 0);
	}
	rn.grant = a.id;
	rn.now = 300;
	assert_int_equal(broker_write(f->store, broker_refresh_issue, &rn), 0);
	assert_true(refresh_known_by(f, "cap", t[2]));
	assert_true(refresh_known_by(f, "cap", rn.token));
}

static void
test_jti_revocation(void **state)
{
	struct fixture *f = *state;
	struct broker_token_revoke r = { .jti = "jti-123", .exp = 99999,
		.company = "acme" };
	struct broker_txn *t;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_jti_revoked(t, "jti-123"), 0);
	assert_int_equal(broker_jti_revoked(t, ""), 1);
	broker_read_end(t);
	assert_int_equal(broker_write(f->store, broker_token_revoke, &r), 0);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_jti_revoked(t, "jti-123"), 1);
	assert_int_equal(broker_jti_revoked(t, "jti-124"), 0);
	broker_read_end(t);
}

static uint64_t
access_gen(struct fixture *f)
{
	struct broker_txn *t;
	uint64_t gen;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_access_generation(t, &gen), 0);
	broker_read_end(t);
	return gen;
}

/*
 * Erasing ended grants past the quota takes no access away: the access
 * generation stands.  A code whose grant was erased is merely invalid.
 */
static void
test_grant_erasure(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1];
	struct broker_code_new cn;
	struct broker_grant_new n = { .company = "era", .scopes =
		"read:language", .purpose = "service", .now = 1020,
		.expires = 100000, .max_live = 1 };
	struct broker_grant_end e = { .now = 1010 };
	uint64_t gen;

	add_company(f, "era", secret);
	new_session(f, "erased", 1000, cid, tok);
	n.customer = e.customer = cid;
	issue_code(f, "era", cid, 1000, &cn);
	e.id = cn.grant.id;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	e.id = n.id;
	e.now = 1030;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	gen = access_gen(f);
	/* Two ended, one kept: the code's grant, ended first, goes. */
	n.now = 1040;
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	assert_int_equal(access_gen(f), gen);
	assert_int_equal(redeem_code(f, "era", cn.code, 1041),
	    BROKER_CODE_INVALID);
}

/* Changes a grant record, then fails: nothing of it may remain. */
static int
spoil_grant(struct broker_txn *t, void *arg)
{
	int rc = broker_txn_put(t, BROKER_DB_GRANTS, "g:x", 3, "y", 1, 2);

	(void)arg;
	return rc != 0 ? rc : -399;
}

/*
 * The access generation moves with every write that may take access away
 * and only then: creations, unrelated writes and the authorization-code
 * flow leave it, a failed write leaves it, revocation, disabling and a
 * revoked jti move it.
 */
static void
test_access_generation(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1];
	struct broker_grant_new n = { .company = "gen", .scopes =
		"read:communication", .purpose = "marketing", .now = 5000,
		.expires = 9000 };
	struct broker_grant_end e = { .now = 6000 };
	struct broker_company_change d = { .id = "gen", .now = 6000,
		.disabled = 1 };
	struct broker_token_revoke r = { .jti = "jti-gen", .exp = 99999,
		.company = "gen" };
	struct kv other = { .key = "unrelated", .val = "v" };
	struct broker_code_new cn;
	uint64_t g0 = access_gen(f);

	add_company(f, "gen", secret);
	new_session(f, "gwen", 5000, cid, tok);
	n.customer = cid;
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	assert_int_equal(broker_write(f->store, put_kv, &other), 0);
	/* The code flow creates a grant and spends a code: nothing taken. */
	issue_code(f, "gen", cid, 5000, &cn);
	assert_int_equal(redeem_code(f, "gen", cn.code, 5001), BROKER_CODE_OK);
	assert_int_equal(access_gen(f), g0);
	assert_int_equal(broker_write(f->store, spoil_grant, NULL), -399);
	assert_int_equal(access_gen(f), g0);
	e.customer = cid;
	e.id = n.id;
	assert_int_equal(broker_write(f->store, broker_grant_revoke, &e), 0);
	assert_int_equal(access_gen(f), g0 + 1);
	assert_int_equal(broker_write(f->store, broker_company_set_disabled,
	    &d), 0);
	assert_int_equal(access_gen(f), g0 + 2);
	assert_int_equal(broker_write(f->store, broker_token_revoke, &r), 0);
	assert_int_equal(access_gen(f), g0 + 3);
}

/* What tls_client_auth and a token bound to thumb would find. */
static void
cert_checks(struct fixture *f, const char *id, const char *thumb, int auth,
    int live)
{
	struct broker_txn *t;

	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_company_auth_cert(t, id, thumb), auth);
	assert_int_equal(broker_company_cert_live(t, id, thumb), live);
	broker_read_end(t);
}

/*
 * Revoking one of a company's client certificates stops it for client
 * authentication and for the tokens bound to it, at once (the access
 * generation moves), and leaves its other certificates and its other
 * companies' alone.
 */
static void
test_company_cert_revocation(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cert[BROKER_PATH_MAX];
	char key[BROKER_PATH_MAX], a[64], b[64], other[64];
	struct broker_company_change r = { .id = "certco", .now = 2000 };
	struct broker_company_change d = { .id = "certco", .now = 2001,
		.disabled = 1 };
	struct broker_company_change u = { .id = "certco", .now = 2002 };
	uint64_t g0;

	add_company(f, "certco", secret);
	add_company(f, "certother", secret);
	assert_int_equal(broker_company_cert(f->dir, f->store, "certco", NULL,
	    0, cert, key, a), 0);
	assert_int_equal(broker_company_cert(f->dir, f->store, "certco", NULL,
	    0, cert, key, b), 0);
	assert_int_equal(broker_company_cert(f->dir, f->store, "certother",
	    NULL, 0, cert, key, other), 0);
	cert_checks(f, "certco", a, 0, 0);
	cert_checks(f, "certco", other, BROKER_E_BADPASS, BROKER_E_REVOKED);
	cert_checks(f, "nobody", a, BROKER_E_BADPASS, BROKER_E_REVOKED);

	g0 = access_gen(f);
	r.thumb = a;
	assert_int_equal(broker_write(f->store, broker_company_cert_revoke, &r),
	    0);
	assert_int_equal(access_gen(f), g0 + 1);
	cert_checks(f, "certco", a, BROKER_E_BADPASS, BROKER_E_REVOKED);
	cert_checks(f, "certco", b, 0, 0);
	cert_checks(f, "certother", other, 0, 0);

	/* Again, another company's, or an unknown company: refused, and
	 * nothing moves. */
	assert_int_equal(broker_write(f->store, broker_company_cert_revoke, &r),
	    BROKER_E_REVOKED);
	r.thumb = other;
	assert_int_equal(broker_write(f->store, broker_company_cert_revoke, &r),
	    BROKER_E_INVAL);
	r.id = "nobody";
	assert_int_equal(broker_write(f->store, broker_company_cert_revoke, &r),
	    BROKER_E_NOTFOUND);
	assert_int_equal(access_gen(f), g0 + 1);
	cert_checks(f, "certother", other, 0, 0);

	/* The company's other changes leave the revocation standing. */
	u.name = "Renamed";
	assert_int_equal(broker_write(f->store, broker_company_update, &u), 0);
	assert_int_equal(broker_write(f->store, broker_company_new_secret,
	    &u), 0);
	assert_int_equal(broker_company_cert(f->dir, f->store, "certco", NULL,
	    0, cert, key, other), 0);
	cert_checks(f, "certco", a, BROKER_E_BADPASS, BROKER_E_REVOKED);
	cert_checks(f, "certco", other, 0, 0);
	r.id = "certco";
	r.thumb = NULL;
	assert_int_equal(broker_write(f->store, broker_company_cert_revoke, &r),
	    BROKER_E_INVAL);

	/* Disabled, the live certificate authenticates no more; a token
	 * bound to it is stopped by the company's state (grant check).
	 * Enabled again, the revoked one stays revoked. */
	assert_int_equal(broker_write(f->store, broker_company_set_disabled,
	    &d), 0);
	cert_checks(f, "certco", b, BROKER_E_DISABLED, 0);
	cert_checks(f, "certco", a, BROKER_E_BADPASS, BROKER_E_REVOKED);
	d.disabled = 0;
	assert_int_equal(broker_write(f->store, broker_company_set_disabled,
	    &d), 0);
	cert_checks(f, "certco", b, 0, 0);
	cert_checks(f, "certco", a, BROKER_E_BADPASS, BROKER_E_REVOKED);
}

/* Expired codes and revocation records are swept; live ones stay. */
static void
test_tokens_sweep(void **state)
{
	struct fixture *f = *state;
	struct broker_token_revoke old = { .jti = "old-jti", .exp = 1000,
		.company = "acme" };
	struct broker_token_revoke live = { .jti = "live-jti", .exp = 5000,
		.company = "acme" };
	struct broker_txn *t;
	size_t n;

	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1];
	struct broker_code_new gone, kept;

	struct broker_sweep sw = { .now = 2000 };

	/* What earlier tests left dead by then is not counted below. */
	assert_int_equal(broker_tokens_sweep(f->store, &sw, 86400, &n), 0);
	add_company(f, "sweepco", secret);
	new_session(f, "sweeper", 1000, cid, tok);
	issue_code(f, "sweepco", cid, 1000, &gone); /* expires at 1060 */
	issue_code(f, "sweepco", cid, 1990, &kept); /* at 2050 */
	assert_int_equal(broker_write(f->store, broker_token_revoke, &old), 0);
	assert_int_equal(broker_write(f->store, broker_token_revoke, &live),
	    0);
	assert_int_equal(broker_tokens_sweep(f->store, &sw, 86400, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_jti_revoked(t, "old-jti"), 0);
	assert_int_equal(broker_jti_revoked(t, "live-jti"), 1);
	broker_read_end(t);
	/* A swept code is unknown; one within its minute's grace is not. */
	assert_int_equal(redeem_code(f, "sweepco", gone.code, 1001),
	    BROKER_CODE_INVALID);
	assert_int_equal(redeem_code(f, "sweepco", kept.code, 2001),
	    BROKER_CODE_OK);
}

static int
del_big(struct broker_txn *t, void *arg)
{
	(void)arg;
	return broker_txn_del_prefix(t, BROKER_DB_PROFILES, "big-", 4);
}

/*
 * A store that refuses the log's commits (its map full) makes fetches
 * wait for room, and after wait_ms refuse the read rather than hang or
 * serve it unrecorded; once there is room again, nothing queued is lost.
 */
static void
test_audit_store_full(void **state)
{
	struct fixture *small = calloc(1, sizeof(*small));
	struct broker_audit_opts o = { .flush_ms = 10, .wait_ms = 50 };
	struct broker_audit_stats st;
	struct broker_audit *a = NULL;
	struct broker_audit_fields *fl;
	struct kv kv = { 0 };
	static char big[64 * 1024];
	char cid[BROKER_ID_LEN + 1], tok[BROKER_TOKEN_LEN + 1];
	const char *grant = "BBBBBBBBBBBBBBBBBBBBBB";
	char key[32];
	size_t queued = 0;
	int rc = 0;

	(void)state;
	assert_non_null(small);
	assert_int_equal(make_store(small, 4u << 20), 0);
	new_session(small, "mona", 100, cid, tok);
	memset(big, 'x', sizeof(big));
	kv.val = big;
	kv.vlen = sizeof(big);
	kv.key = key;
	for (int i = 0; i < 256 && rc == 0; i++) {
		snprintf(key, sizeof(key), "big-%03d", i);
		rc = broker_write(small->store, put_kv, &kv);
	}
	assert_int_equal(rc, BROKER_E_FULL);
	assert_int_equal(broker_audit_open(small->store, &o, &a), 0);
	assert_non_null(fl = broker_audit_fields_new("[\"language\"]", 12));
	while ((rc = broker_audit_read(a, cid, "acme", grant, fl)) == 0)
		assert_true(++queued < 100000);
	assert_int_equal(rc, BROKER_E_BUSY);
	broker_audit_stats(a, &st);
	assert_true(st.failed > 0);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.logged, 0);
	/* Room again: the retried commit takes what was queued. */
	assert_int_equal(broker_write(small->store, del_big, NULL), 0);
	/* LMDB reuses the pages a commit freed only two commits later, and
	 * the log's failing commits do not count: one more write. */
	kv.key = "tiny";
	kv.vlen = 1;
	assert_int_equal(broker_write(small->store, put_kv, &kv), 0);
	for (int tries = 0; (rc = broker_audit_read(a, cid, "acme", grant,
				 fl)) == BROKER_E_BUSY && tries < 100; tries++)
		;
	assert_int_equal(rc, 0);
	broker_audit_fields_put(fl);
	broker_audit_close(a);
	/* Closing committed and filed them all, as one record. */
	{
		struct broker_txn *t;
		json_t *items;
		char next[32];

		assert_int_equal(broker_read_begin(small->store, &t), 0);
		assert_int_equal(broker_audit_list(t, cid, NULL, 10, &items,
		    next, sizeof(next)), 0);
		/* Newest first: the reads, then the sign-in. */
		assert_int_equal(json_array_size(items), 2);
		assert_int_equal(json_integer_value(json_object_get(
		    json_array_get(items, 0), "count")), (json_int_t)queued + 1);
		json_decref(items);
		broker_read_end(t);
	}
	teardown((void **)&small);
}

static void
test_audit_trail(void **state)
{
	struct fixture *f = *state;
	struct broker_audit *a = NULL;
	struct broker_audit_opts o = { .flush_ms = 10 };
	char cid[BROKER_ID_LEN + 1], other[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1], next[32], cursor[32];
	const char *grant = "AAAAAAAAAAAAAAAAAAAAAA";
	struct broker_audit_fields *fl;
	struct broker_txn *t;
	json_t *items;
	size_t total = 0, n;

	new_session(f, "kate", 100, cid, tok);
	new_session(f, "liam", 100, other, tok);
	assert_int_equal(broker_audit_open(f->store, &o, &a), 0);
	for (int i = 0; i < 2500; i++) {
		char text[32];

		snprintf(text, sizeof(text), "[\"f%d\"]", i);
		assert_non_null(fl = broker_audit_fields_new(text,
		    strlen(text)));
		assert_int_equal(broker_audit_read(a, cid, "acme", grant, fl),
		    0);
		broker_audit_fields_put(fl); /* the queue holds its own */
	}
	assert_null(broker_audit_fields_new("{}", 2));
	assert_non_null(fl = broker_audit_fields_new("[]", 2));
	/* Ids go into the record text unescaped: malformed ones are refused. */
	assert_int_equal(broker_audit_read(a, "short", "acme", grant, fl),
	    BROKER_E_INVAL);
	assert_int_equal(broker_audit_read(a, cid, "ac\"me", grant, fl),
	    BROKER_E_INVAL);
	assert_int_equal(broker_audit_read(a, cid, "acme", "g", fl),
	    BROKER_E_INVAL);
	assert_int_equal(broker_audit_read(a, cid, "acme", grant, NULL),
	    BROKER_E_INVAL);
	broker_audit_fields_put(fl);
	/* Closing commits whatever is still queued. */
	broker_audit_close(a);
	/* Page through: newest first, session.created last. */
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	cursor[0] = '\0';
	do {
		assert_int_equal(broker_audit_list(t, cid, cursor[0] ? cursor
								       : NULL,
		    200, &items, next, sizeof(next)), 0);
		if (total == 0) {
			json_t *r = json_array_get(items, 0);

			assert_string_equal(json_string_value(json_array_get(
			    json_object_get(r, "fields"), 0)), "f2499");
			assert_string_equal(json_string_value(json_object_get(
			    r, "kind")), "profile.read");
			assert_string_equal(json_string_value(json_object_get(
			    r, "company")), "acme");
			assert_string_equal(json_string_value(json_object_get(
			    r, "grant")), grant);
		}
		total += json_array_size(items);
		json_decref(items);
		memcpy(cursor, next, sizeof(cursor));
	} while (cursor[0] != '\0');
	assert_int_equal(total, 2501);
	assert_int_equal(broker_audit_list(t, other, NULL, 10, &items, next,
	    sizeof(next)), 0);
	assert_int_equal(json_array_size(items), 1); /* its own sign-in only */
	json_decref(items);
	assert_int_equal(broker_audit_list(t, cid, "zz", 10, &items, next,
	    sizeof(next)), BROKER_E_INVAL);
	broker_read_end(t);
	/* Retention: everything before now+1 goes, for everyone. */
	assert_int_equal(broker_audit_purge(f->store, time(NULL) + 1, &n), 0);
	assert_true(n >= 2502); /* plus earlier tests' records */
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_audit_list(t, cid, NULL, 10, &items, next,
	    sizeof(next)), 0);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	broker_read_end(t);
}

/* Puts damaged entries in a log of reads; arg is a customer id. */
static int
put_raw_log(struct broker_txn *t, void *arg)
{
	unsigned char key[BROKER_AUDIT_LKEY_LEN] = { 0 };

	unsigned char val[128];
	int rc;

	broker_put64(key, 1);
	rc = broker_txn_put(t, BROKER_DB_READLOG1, key, sizeof(key), "junk", 4,
	    1);
	/* Well framed, but its fields are not JSON: dropped when filed. */
	broker_put64(key, 2);
	if (rc == 0)
		rc = broker_audit_log_value(val, sizeof(val), arg,
		    "JJJJJJJJJJJJJJJJJJJJJJ", "acme", "[\"a\",]", 6);
	if (rc == 0)
		rc = broker_txn_put(t, BROKER_DB_READLOG1, key, sizeof(key), val,
		    broker_audit_log_size("acme", 6), 1);
	return rc;
}

static void
test_audit_fold(void **state)
{
	struct fixture *f = *state;
	struct broker_audit *a = NULL;
	struct broker_audit_opts o = { .flush_ms = 10, .fold_ms = 60000 };
	char cid[BROKER_ID_LEN + 1], tok[BROKER_TOKEN_LEN + 1], next[32];
	const char *g1 = "BBBBBBBBBBBBBBBBBBBBBB", *g2 = "CCCCCCCCCCCCCCCCCCCCCC";
	const char *gone = "DDDDDDDDDDDDDDDDDDDDDD";
	struct broker_audit_fields *fa, *fb;
	struct broker_txn *t;
	json_t *items, *r;
	size_t i;
	int reads_a = 0, reads_b = 0, reads_g2 = 0;

	new_session(f, "fold", 100, cid, tok);
	assert_int_equal(broker_write(f->store, put_raw_log, cid), 0);
	assert_non_null(fa = broker_audit_fields_new("[\"contact\"]", 11));
	assert_non_null(fb = broker_audit_fields_new("[\"diet\"]", 8));
	assert_int_equal(broker_audit_open(f->store, &o, &a), 0);
	/* 300 reads of one kind, 2 of another, 1 under another grant, and
	 * 5 of a customer who does not exist (deleted meanwhile). */
	for (int k = 0; k < 300; k++)
		assert_int_equal(broker_audit_read(a, cid, "acme", g1, fa), 0);
	assert_int_equal(broker_audit_read(a, cid, "acme", g1, fb), 0);
	assert_int_equal(broker_audit_read(a, cid, "acme", g1, fb), 0);
	assert_int_equal(broker_audit_read(a, cid, "acme", g2, fa), 0);
	for (int k = 0; k < 5; k++)
		assert_int_equal(broker_audit_read(a, gone, "acme", g1, fa),
		    0);
	broker_audit_fields_put(fa);
	broker_audit_fields_put(fb);
	/* Closing flushes to the log and folds the log into the trails. */
	broker_audit_close(a);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_audit_list(t, cid, NULL, 100, &items, next,
	    sizeof(next)), 0);
	json_array_foreach(items, i, r) {
		const char *kind = json_string_value(json_object_get(r, "kind"));
		const char *fl = json_string_value(json_array_get(
		    json_object_get(r, "fields"), 0));
		json_int_t n = json_integer_value(json_object_get(r, "count"));

		if (strcmp(kind, "profile.read") != 0)
			continue;
		if (strcmp(json_string_value(json_object_get(r, "grant")),
			g2) == 0) {
			reads_g2++;
			/* One read: no count, no first_ts. */
			assert_null(json_object_get(r, "count"));
			assert_null(json_object_get(r, "first_ts"));
		} else if (strcmp(fl, "contact") == 0) {
			reads_a++;
			assert_int_equal(n, 300);
			assert_true(json_integer_value(json_object_get(r,
			    "first_ts")) <= json_integer_value(
			    json_object_get(r, "ts")));
		} else {
			reads_b++;
			assert_int_equal(n, 2);
		}
	}
	assert_int_equal(reads_a, 1);
	assert_int_equal(reads_b, 1);
	assert_int_equal(reads_g2, 1);
	json_decref(items);
	/* Nothing filed for the missing customer, nothing left in the log
	 * (the damaged entry was dropped). */
	assert_int_equal(broker_audit_list(t, gone, NULL, 10, &items, next,
	    sizeof(next)), 0);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	for (int log = BROKER_DB_READLOG0; log <= BROKER_DB_READLOG1; log++) {
		MDB_stat ms;

		assert_int_equal(mdb_stat(t->txn, f->store->dbi[log], &ms), 0);
		assert_int_equal(ms.ms_entries, 0);
	}
	broker_read_end(t);
}

static void
test_customer_delete_and_sweep(void **state)
{
	struct fixture *f = *state;
	char secret[BROKER_SECRET_LEN + 1], cid[BROKER_ID_LEN + 1];
	char tok[BROKER_TOKEN_LEN + 1], keep[BROKER_ID_LEN + 1];
	char ktok[BROKER_TOKEN_LEN + 1];
	struct broker_grant_new n = { .company = "del-co", .scopes =
		"read:contact", .purpose = "service", .now = 100,
		.expires = 1000000 };
	struct broker_grant_end e = { .now = 200 };
	struct broker_session s;
	struct broker_customer c;
	struct broker_grant g;
	struct broker_txn *t;
	json_t *items;
	char next[32];
	size_t swept;

	add_company(f, "del-co", secret);
	new_session(f, "mona", 100, cid, tok);
	new_session(f, "nick", 100, keep, ktok);
	n.customer = cid;
	assert_int_equal(broker_write(f->store, broker_grant_create, &n), 0);
	e.customer = cid;
	assert_int_equal(broker_write(f->store, broker_customer_delete, &e), 0);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	/* The grant is revoked, not silently gone: companies see it end. */
	assert_int_equal(broker_grant_get(t, n.id, &g), 0);
	assert_int_not_equal(g.revoked_at, 0);
	broker_grant_clear(&g);
	assert_int_equal(broker_customer_get(t, cid, &c), BROKER_E_NOTFOUND);
	assert_int_equal(broker_customer_by_login(t, "mona", &c),
	    BROKER_E_NOTFOUND);
	assert_int_equal(broker_session_lookup(t, tok, strlen(tok), 101, 0, &s),
	    BROKER_E_EXPIRED);
	assert_int_equal(broker_audit_list(t, cid, NULL, 10, &items, next,
	    sizeof(next)), 0);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	assert_int_equal(broker_session_lookup(t, ktok, strlen(ktok), 101, 0,
	    &s), 0);
	broker_read_end(t);
	/* The dead session record is swept; the live one stays. */
	{
		struct broker_sweep sw = { .now = 101 };

		assert_int_equal(broker_sessions_sweep(f->store, &sw, 0,
		    &swept), 0);
	}
	assert_true(swept >= 1);
	assert_int_equal(broker_read_begin(f->store, &t), 0);
	assert_int_equal(broker_session_lookup(t, tok, strlen(tok), 101, 0, &s),
	    BROKER_E_NOTFOUND);
	assert_int_equal(broker_session_lookup(t, ktok, strlen(ktok), 101, 0,
	    &s), 0);
	broker_read_end(t);
	assert_int_equal(broker_write(f->store, broker_customer_delete, &e),
	    BROKER_E_NOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_refuses_existing),
		cmocka_unit_test(test_init_rejects_bad_issuer),
		cmocka_unit_test(test_open_uninitialised),
		cmocka_unit_test(test_put_get_del),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_del_ranges),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_failing_write_isolated),
		cmocka_unit_test(test_company_cert_revocation),
		cmocka_unit_test(test_access_generation),
		cmocka_unit_test(test_queue_full_is_busy),
		cmocka_unit_test(test_shared_commits),
		cmocka_unit_test(test_close_commits_pending),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_snapshot_isolation),
		cmocka_unit_test(test_corrupt_record),
		cmocka_unit_test(test_newer_format_refused),
		cmocka_unit_test(test_map_full),
		cmocka_unit_test(test_map_size_adopted),
		cmocka_unit_test(test_audit_store_full),
		cmocka_unit_test(test_kdf_run),
		cmocka_unit_test(test_kdf_pool),
		cmocka_unit_test(test_customer_create),
		cmocka_unit_test(test_session_limits),
		cmocka_unit_test(test_session_revocation),
		cmocka_unit_test(test_profile_put),
		cmocka_unit_test(test_company_credentials),
		cmocka_unit_test(test_grants),
		cmocka_unit_test(test_grant_quota),
		cmocka_unit_test(test_grant_erasure),
		cmocka_unit_test(test_refresh_rotation),
		cmocka_unit_test(test_jti_revocation),
		cmocka_unit_test(test_tokens_sweep),
		cmocka_unit_test(test_refresh_sweep),
		cmocka_unit_test(test_refresh_family_cap),
		cmocka_unit_test(test_record_formats),
		cmocka_unit_test(test_added_databases),
		cmocka_unit_test(test_audit_trail),
		cmocka_unit_test(test_audit_fold),
		cmocka_unit_test(test_audit_fold_resumes),
		cmocka_unit_test(test_audit_fold_chunks),
		cmocka_unit_test(test_audit_fold_chunk_resumes),
		cmocka_unit_test(test_audit_leftovers_one_log),
		cmocka_unit_test(test_audit_leftovers_both_logs),
		cmocka_unit_test(test_audit_leftovers_marked),
		cmocka_unit_test(test_audit_fold_old_mark),
		cmocka_unit_test(test_customer_delete_and_sweep),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
