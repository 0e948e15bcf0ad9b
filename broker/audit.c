/*
 * audit.c - the customer's audit trail: who read which fields when, and
 * every grant, token and sign-in event.
 *
 * Write-side events are stored inside the transaction of the change they
 * describe.  Read-side events (a company's profile fetch) must not make a
 * fetch wait for the disk: each thread appends to a ring of its own (no
 * lock shared by all threads) and a flusher commits them in one batch at
 * least every flush interval; when a ring is full the fetch waits for
 * room rather than dropping a record.
 *
 * Keys: "a" customer ~time ~seq (a customer's trail, newest first, one
 * prefix scan) and "t" time seq -> the "a" key (the retention purge walks
 * time order).  Nothing here decides who may read a trail.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker_int.h"

#define BATCH_MAX 4096	 /* records per commit */
#define TRIM_GROWTH_KIB 4096
#define PURGE_EVERY 3600 /* seconds between retention purges */
#define PURGE_BATCH 2048 /* records deleted per purge transaction */
#define AKEY_LEN (1 + BROKER_ID_LEN + 8 + 4)
#define TKEY_LEN (1 + 8 + 4)

static _Atomic uint32_t seq;

static int64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* For intervals: a step of the wall clock neither stalls nor hurries. */
static int64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Inverted time and sequence: a forward scan yields newest first. */
static void
akey(unsigned char k[AKEY_LEN], const char *cid, int64_t ts, uint32_t s)
{
	k[0] = 'a';
	memcpy(k + 1, cid, BROKER_ID_LEN);
	broker_put64(k + 1 + BROKER_ID_LEN, ~(uint64_t)ts);
	broker_put32(k + 1 + BROKER_ID_LEN + 8, ~s);
}

static void
tkey(unsigned char k[TKEY_LEN], int64_t ts, uint32_t s)
{
	k[0] = 't';
	broker_put64(k + 1, (uint64_t)ts);
	broker_put32(k + 9, s);
}

/* Stores one record's JSON text under both keys; seq orders equal times. */
int
broker_audit_put_text(struct broker_txn *t, const char *cid, int64_t ts,
    uint32_t s, const char *text, size_t len)
{
	unsigned char ak[AKEY_LEN], tk[TKEY_LEN];
	int rc;

	if (cid == NULL || strlen(cid) != BROKER_ID_LEN)
		return BROKER_E_INVAL;
	akey(ak, cid, ts, s);
	tkey(tk, ts, s);
	rc = broker_txn_put(t, BROKER_DB_AUDIT, ak, sizeof(ak), text, len, 1);
	if (rc == 0)
		rc = broker_txn_put(t, BROKER_DB_AUDIT, tk, sizeof(tk), ak,
		    sizeof(ak), 1);
	return rc;
}

static int
put_record(struct broker_txn *t, const char *cid, int64_t ts,
    const char *kind, const json_t *detail)
{
	json_t *o;
	char *text;
	int rc;

	o = detail != NULL ? json_deep_copy(detail) : json_object();
	if (o == NULL || json_object_set_new(o, "kind", json_string(kind)) ||
	    json_object_set_new(o, "ts", json_integer(ts))) {
		json_decref(o);
		return BROKER_E_NOMEM;
	}
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL)
		return BROKER_E_NOMEM;
	rc = broker_audit_put_text(t, cid, ts, atomic_fetch_add(&seq, 1), text,
	    strlen(text));
	free(text);
	return rc;
}

int
broker_audit_record(struct broker_txn *t, const char *customer,
    const char *kind, const json_t *detail)
{
	return put_record(t, customer, now_usec(), kind, detail);
}

/* ---- listing and erasing --------------------------------------------- */

struct list {
	unsigned char prefix[1 + BROKER_ID_LEN];
	const unsigned char *after; /* cursor: skip up to and incl. this key */
	size_t limit;
	json_t *items;
	unsigned char last[AKEY_LEN];
	int more;
};

static void
hex(char *out, const unsigned char *p, size_t n)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
list_one(void *arg, const void *key, size_t klen, const void *val, size_t len)
{
	struct list *l = arg;
	json_t *o = NULL;
	char id[2 * 12 + 1];
	int rc;

	if (klen != AKEY_LEN || memcmp(key, l->prefix, sizeof(l->prefix)) != 0)
		return 1; /* past this customer's records */
	if (l->after != NULL && memcmp(key, l->after, AKEY_LEN) <= 0)
		return 0;
	if (json_array_size(l->items) >= l->limit) {
		l->more = 1;
		return 1;
	}
	if ((rc = broker_rec_load(val, len, &o)) != 0)
		return rc;
	hex(id, (const unsigned char *)key + 1 + BROKER_ID_LEN, 12);
	json_object_set_new(o, "id", json_string(id));
	json_array_append_new(l->items, o);
	memcpy(l->last, key, AKEY_LEN);
	return 0;
}

static int
unhex(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0'
		    : c >= 'a' && c <= 'f'   ? c - 'a' + 10
					     : -1;

		if (v < 0)
			return -1;
		out[i / 2] = (unsigned char)(i % 2 ? out[i / 2] | v : v << 4);
	}
	return 0;
}

int
broker_audit_list(struct broker_txn *t, const char *customer,
    const char *cursor, size_t limit, json_t **items, char *next,
    size_t nextcap)
{
	struct list l = { .limit = limit };
	unsigned char after[AKEY_LEN];
	int rc;

	*items = NULL;
	if (nextcap > 0)
		next[0] = '\0';
	if (strlen(customer) != BROKER_ID_LEN || limit == 0 ||
	    nextcap < 2 * 12 + 1)
		return BROKER_E_INVAL;
	l.prefix[0] = 'a';
	memcpy(l.prefix + 1, customer, BROKER_ID_LEN);
	if (cursor != NULL) {
		memcpy(after, l.prefix, sizeof(l.prefix));
		if (unhex(cursor, after + sizeof(l.prefix), 12) != 0)
			return BROKER_E_INVAL;
		l.after = after;
	}
	if ((l.items = json_array()) == NULL)
		return BROKER_E_NOMEM;
	rc = broker_txn_scan(t, BROKER_DB_AUDIT,
	    l.after != NULL ? (const void *)l.after : l.prefix,
	    l.after != NULL ? AKEY_LEN : sizeof(l.prefix), list_one, &l);
	if (rc < 0) {
		json_decref(l.items);
		return rc;
	}
	if (l.more)
		hex(next, l.last + 1 + BROKER_ID_LEN, 12);
	*items = l.items;
	return 0;
}

struct erase {
	unsigned char prefix[1 + BROKER_ID_LEN];
	unsigned char (*tkeys)[TKEY_LEN];
	size_t n, cap;
};

static int
erase_collect(void *arg, const void *key, size_t klen, const void *val,
    size_t len)
{
	struct erase *e = arg;
	const unsigned char *k = key;
	void *grown;

	(void)val;
	(void)len;
	if (klen != AKEY_LEN || memcmp(k, e->prefix, sizeof(e->prefix)) != 0)
		return 1;
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 64;
		if ((grown = realloc(e->tkeys, e->cap * TKEY_LEN)) == NULL)
			return BROKER_E_NOMEM;
		e->tkeys = grown;
	}
	tkey(e->tkeys[e->n++], (int64_t)~broker_get64(k + 1 + BROKER_ID_LEN),
	    ~broker_get32(k + 1 + BROKER_ID_LEN + 8));
	return 0;
}

int
broker_audit_erase(struct broker_txn *t, const char *customer)
{
	struct erase e = { 0 };
	int rc;

	e.prefix[0] = 'a';
	memcpy(e.prefix + 1, customer, BROKER_ID_LEN);
	rc = broker_txn_scan(t, BROKER_DB_AUDIT, e.prefix, sizeof(e.prefix),
	    erase_collect, &e);
	if (rc >= 0)
		rc = 0;
	/* The time index would otherwise keep when this customer was active. */
	for (size_t i = 0; i < e.n && rc == 0; i++) {
		rc = broker_txn_del(t, BROKER_DB_AUDIT, e.tkeys[i], TKEY_LEN);
		if (rc == BROKER_E_NOTFOUND)
			rc = 0;
	}
	free(e.tkeys);
	if (rc == 0)
		rc = broker_txn_del_prefix(t, BROKER_DB_AUDIT, e.prefix,
		    sizeof(e.prefix));
	return rc;
}

/* ---- retention -------------------------------------------------------- */

struct purge {
	unsigned char cutoff[TKEY_LEN];
	unsigned char (*keys)[AKEY_LEN + TKEY_LEN];
	size_t n;
};

static int
purge_collect(void *arg, const void *key, size_t klen, const void *val,
    size_t len)
{
	struct purge *p = arg;

	if (klen != TKEY_LEN || ((const unsigned char *)key)[0] != 't' ||
	    memcmp(key, p->cutoff, TKEY_LEN) >= 0 || p->n == PURGE_BATCH)
		return 1;
	if (len != AKEY_LEN)
		return BROKER_E_CORRUPT;
	memcpy(p->keys[p->n], val, AKEY_LEN);
	memcpy(p->keys[p->n] + AKEY_LEN, key, TKEY_LEN);
	p->n++;
	return 0;
}

/* One purge transaction: removes up to PURGE_BATCH expired records. */
static int
purge_some(struct broker_txn *t, void *arg)
{
	struct purge *p = arg;
	unsigned char start = 't';
	int rc;

	p->n = 0;
	rc = broker_txn_scan(t, BROKER_DB_AUDIT, &start, 1, purge_collect, p);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < p->n; i++) {
		rc = broker_txn_del(t, BROKER_DB_AUDIT, p->keys[i], AKEY_LEN);
		if (rc == 0 || rc == BROKER_E_NOTFOUND)
			rc = broker_txn_del(t, BROKER_DB_AUDIT,
			    p->keys[i] + AKEY_LEN, TKEY_LEN);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void flush(struct broker_audit *a);

/*
 * Deletes the records older than before_sec, a batch per commit.  With
 * drain, the queue of reads is emptied between batches, so that a long
 * purge keeps reads durable within the flush interval and fetches need
 * not wait for room.
 */
static int
purge(struct broker_store *s, int64_t before_sec, size_t *purged,
    struct broker_audit *drain)
{
	struct purge p = { 0 };
	int rc;

	*purged = 0;
	tkey(p.cutoff, before_sec * 1000000, 0);
	if ((p.keys = calloc(PURGE_BATCH, sizeof(*p.keys))) == NULL)
		return BROKER_E_NOMEM;
	do {
		if ((rc = broker_write(s, purge_some, &p)) != 0)
			break;
		*purged += p.n;
		if (drain != NULL)
			flush(drain);
	} while (p.n == PURGE_BATCH);
	free(p.keys);
	return rc;
}

int
broker_audit_purge(struct broker_store *s, int64_t before_sec, size_t *purged)
{
	return purge(s, before_sec, purged, NULL);
}

/* ---- the read-side queue ---------------------------------------------- */

struct broker_audit_fields {
	_Atomic int refs;
	size_t len;
	char text[]; /* a JSON array, not NUL-terminated */
};

struct broker_audit_fields *
broker_audit_fields_new(const char *json_array, size_t len)
{
	struct broker_audit_fields *f;

	if (len < 2 || json_array[0] != '[' || json_array[len - 1] != ']')
		return NULL;
	if ((f = malloc(sizeof(*f) + len)) == NULL)
		return NULL;
	atomic_init(&f->refs, 1);
	f->len = len;
	memcpy(f->text, json_array, len);
	return f;
}

static struct broker_audit_fields *
fields_ref(struct broker_audit_fields *f)
{
	atomic_fetch_add(&f->refs, 1);
	return f;
}

void
broker_audit_fields_put(struct broker_audit_fields *f)
{
	if (f != NULL && atomic_fetch_sub(&f->refs, 1) == 1)
		free(f);
}

/*
 * One read, as the fetch saw it: fixed-size copies of the ids and a
 * reference to the shared fields text, so queuing one allocates nothing.
 */
struct item {
	char cid[BROKER_ID_LEN + 1];
	char company[BROKER_CLIENT_ID_MAX + 1];
	char grant[BROKER_ID_LEN + 1];
	struct broker_audit_fields *fields;
	int64_t ts;
};

struct ring {
	struct ring *next;
	_Atomic size_t head; /* the producing thread's */
	_Atomic size_t tail; /* the flusher's */
	size_t seen, taken;  /* the flusher's cursors while it takes a batch */
	struct item items[]; /* o.queue of them */
};

struct broker_audit {
	struct broker_store *store;
	struct broker_audit_opts o;
	_Atomic(struct ring *) rings;
	pthread_t thread;
	pthread_mutex_t lock; /* the flusher's sleep, not the rings */
	pthread_cond_t wake;
	_Atomic int stop;
	int64_t last_purge;
	unsigned gen;
	struct item *batch;
	size_t n;
	enum broker_db log; /* the log reads go to now */
	int unfinished;	    /* the other log's fold failed part way */
	int trim_due;	    /* reads came since malloc_trim last ran */
	long trimmed_kib;   /* private memory after that trim */
	char *text;	    /* the flusher's record buffer */
	size_t textcap;
	int64_t last_fold; /* microseconds */
	_Atomic uint64_t flushed, waits, purged, folded, fold_records;
	_Atomic uint64_t failed, refused;
};

/* A new queue at a freed one's address must not inherit its rings. */
static _Atomic unsigned generations;

static _Thread_local struct {
	unsigned gen;
	struct ring *ring;
} mine;

static struct ring *
ring_get(struct broker_audit *a)
{
	struct ring *r;

	if (mine.gen == a->gen && mine.ring != NULL)
		return mine.ring;
	if ((r = calloc(1, sizeof(*r) + a->o.queue * sizeof(r->items[0]))) ==
	    NULL)
		return NULL;
	r->next = atomic_load(&a->rings);
	while (!atomic_compare_exchange_weak(&a->rings, &r->next, r))
		;
	mine.gen = a->gen;
	mine.ring = r;
	return r;
}

static void
kick(struct broker_audit *a)
{
	pthread_mutex_lock(&a->lock);
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
}

int
broker_audit_read(struct broker_audit *a, const char *customer,
    const char *company, const char *grant,
    struct broker_audit_fields *fields)
{
	struct ring *r;
	struct item *it;
	size_t head;
	int64_t since = 0;

	/* The ids go into the record text unescaped: they must be ids. */
	if (strlen(customer) != BROKER_ID_LEN || strlen(grant) != BROKER_ID_LEN ||
	    broker_client_id_check(company) != 0 || fields == NULL)
		return BROKER_E_INVAL;
	if ((r = ring_get(a)) == NULL)
		return BROKER_E_NOMEM;
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	/* Full: wait for room rather than lose a record. */
	while (head - atomic_load_explicit(&r->tail, memory_order_acquire) >=
	    a->o.queue) {
		if (since == 0)
			since = mono_usec();
		else if (mono_usec() - since >= (int64_t)a->o.wait_ms * 1000) {
			atomic_fetch_add_explicit(&a->refused, 1,
			    memory_order_relaxed);
			return BROKER_E_BUSY;
		}
		atomic_fetch_add_explicit(&a->waits, 1, memory_order_relaxed);
		kick(a);
		usleep(1000);
	}
	it = &r->items[head % a->o.queue];
	memcpy(it->cid, customer, BROKER_ID_LEN + 1);
	memcpy(it->grant, grant, BROKER_ID_LEN + 1);
	memcpy(it->company, company, strlen(company) + 1);
	it->fields = fields_ref(fields);
	it->ts = now_usec();
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	/* Half full: wake the flusher early instead of making fetches wait. */
	if (head + 1 - atomic_load_explicit(&r->tail, memory_order_relaxed) ==
	    a->o.queue / 2)
		kick(a);
	return 0;
}

/* Appends the batch to the log of reads (audit_fold.c files them). */
static int
write_batch(struct broker_txn *t, void *arg)
{
	struct broker_audit *a = arg;
	unsigned char key[BROKER_AUDIT_LKEY_LEN];
	int rc;

	for (size_t i = 0; i < a->n; i++) {
		const struct item *it = &a->batch[i];

		size_t need = broker_audit_log_size(it->company,
		    it->fields->len);

		if (need > a->textcap) {
			char *p = realloc(a->text, need);

			if (p == NULL)
				return BROKER_E_NOMEM;
			a->text = p;
			a->textcap = need;
		}
		if ((rc = broker_audit_log_value((unsigned char *)a->text,
			 a->textcap, it->cid, it->grant, it->company,
			 it->fields->text, it->fields->len)) != 0)
			return rc;
		broker_put64(key, (uint64_t)it->ts);
		broker_put32(key + 8, atomic_fetch_add(&seq, 1));
		/* A read stamped before the last one filed goes in its place. */
		rc = broker_txn_append(t, a->log, key, sizeof(key), a->text,
		    need, 1);
		if (rc == BROKER_E_EXISTS)
			rc = broker_txn_put(t, a->log, key, sizeof(key),
			    a->text, need, 1);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * Takes up to a batch of reads from the rings, oldest first across them:
 * each ring is in time order, and merging them keeps the log's keys
 * ascending, so that they append to it with full pages.
 */
static size_t
take(struct broker_audit *a)
{
	struct ring *r, *best;

	for (r = atomic_load(&a->rings); r != NULL; r = r->next) {
		r->seen = atomic_load_explicit(&r->head, memory_order_acquire);
		r->taken = atomic_load_explicit(&r->tail, memory_order_relaxed);
	}
	for (a->n = 0; a->n < BATCH_MAX; a->n++) {
		best = NULL;
		for (r = atomic_load(&a->rings); r != NULL; r = r->next)
			if (r->taken != r->seen && (best == NULL ||
			    r->items[r->taken % a->o.queue].ts <
			    best->items[best->taken % a->o.queue].ts))
				best = r;
		if (best == NULL)
			break;
		a->batch[a->n] = best->items[best->taken++ % a->o.queue];
	}
	for (r = atomic_load(&a->rings); r != NULL; r = r->next)
		atomic_store_explicit(&r->tail, r->taken, memory_order_release);
	return a->n;
}

/*
 * Moves what the rings hold into batches and commits them.  It goes round
 * again only after a full batch: under steady load that keeps commits to
 * one per interval (or per half ring), not one per millisecond.
 */
static void
flush(struct broker_audit *a)
{
	size_t taken;

	do {
		if ((taken = take(a)) == 0)
			return;
		/* A failed commit is retried: the records stay in hand. */
		while (broker_write(a->store, write_batch, a) != 0 && !a->stop) {
			atomic_fetch_add(&a->failed, 1);
			usleep(100000);
		}
		atomic_fetch_add(&a->flushed, a->n);
		for (size_t i = 0; i < a->n; i++)
			broker_audit_fields_put(a->batch[i].fields);
	} while (taken == BATCH_MAX);
}

/*
 * Files one log under the customers, a step at a time.  With drain, the
 * queue of reads is emptied between steps (into the other log) so that
 * fetches need not wait for room.  0 once the log is filed and empty.
 */
static int
fold_log(struct broker_audit *a, enum broker_db log, int drain)
{
	struct broker_audit_fold *f;
	struct broker_audit_fold_stats st;
	int rc, done = 0;

	if ((rc = broker_audit_fold_new(log, 0, &f)) != 0)
		return rc;
	while (!done) {
		if ((rc = broker_write(a->store, broker_audit_fold_step,
			 f)) != 0)
			break; /* the log stays; the next fold resumes it */
		done = broker_audit_fold_advance(f);
		if (drain)
			flush(a);
	}
	broker_audit_fold_stats(f, &st);
	atomic_fetch_add(&a->folded, done ? st.entries : 0);
	atomic_fetch_add(&a->fold_records, st.records);
	broker_audit_fold_free(f);
	return rc;
}

static enum broker_db
other(enum broker_db log)
{
	return log == BROKER_DB_READLOG0 ? BROKER_DB_READLOG1
					 : BROKER_DB_READLOG0;
}

/*
 * Reads go to the other log from now on, and the one they went to is
 * folded.  A log whose fold failed part way must not take new reads (its
 * progress mark would hide them): it stays closed and is finished first
 * at the next fold.  Only this thread writes or folds the logs.
 */
static void
fold(struct broker_audit *a)
{
	enum broker_db closed = a->log;

	if (a->unfinished) {
		if (fold_log(a, other(a->log), 1) != 0)
			return;
		a->unfinished = 0;
	}
	a->log = other(closed);
	a->unfinished = fold_log(a, closed, 1) != 0;
}

/* What a log holds (broker_audit_log_state); MARKED if unsure. */
static int
log_state(struct broker_audit *a, enum broker_db log)
{
	struct broker_txn *t;
	int st;

	if (broker_read_begin(a->store, &t) != 0)
		return BROKER_AUDIT_LOG_MARKED;
	st = broker_audit_log_state(t, log);
	broker_read_end(t);
	return st < 0 ? BROKER_AUDIT_LOG_MARKED : st;
}

/*
 * What an earlier run logged but did not file (a crash), filed the way
 * fold() files a closed log: new reads go to the other log meanwhile,
 * drained between the fold's steps, so fetches need not wait for room
 * however long the crashed run's log was.  New reads may go to a log
 * holding reads, but never behind a fold's mark, which would hide them;
 * and only the log being folded can hold a mark (fold() finishes an
 * unfinished log before it switches), so the marked log, if any, is the
 * one filed now.  The other log's leftovers are filed by the first
 * fold() with the reads added to them.  A fold that fails (the store
 * refusing commits at shutdown) is left unfinished, as in fold().
 */
static void
fold_leftovers(struct broker_audit *a)
{
	int s0 = log_state(a, BROKER_DB_READLOG0);
	int s1 = log_state(a, BROKER_DB_READLOG1);
	enum broker_db full;

	if (s0 == BROKER_AUDIT_LOG_EMPTY && s1 == BROKER_AUDIT_LOG_EMPTY)
		return;
	/* Both marked cannot happen; should it, the first is filed with
	 * reads waiting in the queue. */
	if (s0 == BROKER_AUDIT_LOG_MARKED && s1 == BROKER_AUDIT_LOG_MARKED) {
		while (fold_log(a, BROKER_DB_READLOG0, 0) != 0 && !a->stop)
			usleep(100000);
		s0 = log_state(a, BROKER_DB_READLOG0);
	}
	/* The marked log; else the one holding reads (the second if both
	 * do, the first being then the one new reads join). */
	full = s0 == BROKER_AUDIT_LOG_MARKED || s1 == BROKER_AUDIT_LOG_EMPTY
	    ? BROKER_DB_READLOG0
	    : BROKER_DB_READLOG1;
	a->log = other(full);
	for (;;) {
		a->unfinished = fold_log(a, full, 1) != 0;
		if (!a->unfinished || a->stop)
			break;
		usleep(100000);
	}
}

/* For the hourly jobs, between their commits: see purge(). */
static void
drain(void *arg)
{
	flush(arg);
}

static void
maybe_purge(struct broker_audit *a)
{
	int64_t now = time(NULL);
	size_t n = 0;

	if (now - a->last_purge < PURGE_EVERY)
		return;
	a->last_purge = now;
	if (a->o.maintain != NULL)
		a->o.maintain(a->o.maintain_arg, drain, a);
	if (a->o.retention_days == 0)
		return;
	if (purge(a->store, now - (int64_t)a->o.retention_days * 86400, &n,
		a) == 0)
		atomic_fetch_add(&a->purged, n);
}

/* Private memory in KiB (RssAnon: not the LMDB map); 0 if unknown. */
static long
rss_anon_kib(void)
{
	char line[128];
	long kib = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "RssAnon:", 8) == 0) {
			kib = strtol(line + 8, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

/*
 * Gives the memory fetches and folds freed back to the kernel: once reads
 * stop coming, and under load only when private memory has grown by
 * TRIM_GROWTH_KIB since the last trim (checked at each fold).  Trimming
 * after every fold made the server threads wait on malloc's arena locks
 * and fault the pages back in, for nothing to give back in a steady warm
 * load; never trimming under load let a stream of new tokens leave 20 MiB
 * of freed memory in the arenas.
 */
static void
maybe_trim(struct broker_audit *a, int busy, int folded)
{
	if (busy) {
		a->trim_due = 1;
		if (!folded ||
		    rss_anon_kib() < a->trimmed_kib + TRIM_GROWTH_KIB)
			return;
	} else if (!a->trim_due)
		return;
	malloc_trim(0);
	a->trim_due = 0;
	a->trimmed_kib = rss_anon_kib();
}

static void *
flusher_main(void *arg)
{
	struct broker_audit *a = arg;
	struct timespec until;
	uint64_t before;
	int stop = 0, busy, folded;

	(void)prctl(PR_SET_NAME, "ccx-audit", 0, 0, 0);
	fold_leftovers(a);
	a->last_fold = mono_usec();

	while (!stop) {
		pthread_mutex_lock(&a->lock);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)(a->o.flush_ms % 1000) * 1000000L;
		until.tv_sec += a->o.flush_ms / 1000 +
		    until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (!a->stop)
			pthread_cond_timedwait(&a->wake, &a->lock, &until);
		stop = a->stop;
		pthread_mutex_unlock(&a->lock);
		before = atomic_load(&a->flushed);
		flush(a);
		busy = atomic_load(&a->flushed) != before;
		/* The last pass files everything, so a closed queue's reads
		 * are all in their customers' trails. */
		folded = stop || mono_usec() - a->last_fold >=
		    (int64_t)a->o.fold_ms * 1000;
		if (folded) {
			a->last_fold = mono_usec();
			fold(a);
		}
		maybe_trim(a, busy, folded);
		maybe_purge(a);
	}
	return NULL;
}

int
broker_audit_open(struct broker_store *s, const struct broker_audit_opts *o,
    struct broker_audit **out)
{
	struct broker_audit *a;
	pthread_condattr_t ca;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return BROKER_E_NOMEM;
	a->store = s;
	a->log = BROKER_DB_READLOG0;
	a->gen = atomic_fetch_add(&generations, 1) + 1;
	if (o != NULL)
		a->o = *o;
	if (a->o.flush_ms == 0)
		a->o.flush_ms = 200;
	if (a->o.fold_ms == 0)
		a->o.fold_ms = 5000;
	if (a->o.wait_ms == 0)
		a->o.wait_ms = 2000;
	if (a->o.queue == 0)
		a->o.queue = 8192;
	if ((a->batch = calloc(BATCH_MAX, sizeof(*a->batch))) == NULL) {
		free(a);
		return BROKER_E_NOMEM;
	}
	pthread_mutex_init(&a->lock, NULL);
	/* The flusher's timed waits run on the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&a->thread, NULL, flusher_main, a) != 0) {
		pthread_cond_destroy(&a->wake);
		pthread_mutex_destroy(&a->lock);
		free(a->batch);
		free(a);
		return BROKER_E_NOMEM;
	}
	*out = a;
	return 0;
}

void
broker_audit_close(struct broker_audit *a)
{
	struct ring *r, *next;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL); /* its last pass flushes everything */
	for (r = atomic_load(&a->rings); r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	free(a->text);
	free(a->batch);
	free(a);
}

void
broker_audit_stats(const struct broker_audit *a, struct broker_audit_stats *o)
{
	o->logged = atomic_load(&a->flushed);
	o->waits = atomic_load(&a->waits);
	o->folded = atomic_load(&a->folded);
	o->filed = atomic_load(&a->fold_records);
	o->purged = atomic_load(&a->purged);
	o->failed = atomic_load(&a->failed);
	o->refused = atomic_load(&a->refused);
}

/* ---- the admin trail -------------------------------------------------- */

#define ZKEY_LEN (1 + 8 + 4)

struct admin_rec {
	const char *action;
	const char *target;
	const json_t *detail;
};

static int
admin_put(struct broker_txn *t, void *arg)
{
	const struct admin_rec *a = arg;
	unsigned char k[ZKEY_LEN];
	uint32_t s = atomic_fetch_add(&seq, 1);
	int64_t ts = now_usec();
	json_t *o;
	int rc;

	/* "z", then inverted time: a forward scan reads newest first. */
	k[0] = 'z';
	broker_put64(k + 1, ~(uint64_t)ts);
	broker_put32(k + 9, ~s);
	o = a->detail != NULL ? json_deep_copy(a->detail) : json_object();
	if (o == NULL || json_object_set_new(o, "action",
			     json_string(a->action)) ||
	    json_object_set_new(o, "target", json_string(a->target)) ||
	    json_object_set_new(o, "ts", json_integer(ts))) {
		json_decref(o);
		return BROKER_E_NOMEM;
	}
	rc = broker_rec_put(t, BROKER_DB_AUDIT, k, sizeof(k), o, 0);
	json_decref(o);
	return rc;
}

int
broker_admin_record(struct broker_store *s, const char *action,
    const char *target, const json_t *detail)
{
	struct admin_rec a = { action, target != NULL ? target : "", detail };

	return broker_write(s, admin_put, &a);
}

struct admin_list {
	json_t *items;
	size_t limit;
};

static int
admin_one(void *arg, const void *key, size_t klen, const void *val,
    size_t len)
{
	struct admin_list *l = arg;
	json_t *o = NULL;
	int rc;

	if (klen != ZKEY_LEN || ((const unsigned char *)key)[0] != 'z' ||
	    json_array_size(l->items) >= l->limit)
		return 1;
	if ((rc = broker_rec_load(val, len, &o)) != 0)
		return rc;
	return json_array_append_new(l->items, o) == 0 ? 0 : BROKER_E_NOMEM;
}

int
broker_admin_trail(struct broker_store *s, size_t limit, json_t **items)
{
	struct admin_list l = { json_array(), limit };
	struct broker_txn *t = NULL;
	unsigned char start = 'z';
	int rc;

	*items = NULL;
	if (l.items == NULL)
		return BROKER_E_NOMEM;
	if ((rc = broker_read_begin(s, &t)) == 0) {
		rc = broker_txn_scan(t, BROKER_DB_AUDIT, &start, 1, admin_one,
		    &l);
		broker_read_end(t);
	}
	if (rc < 0) {
		json_decref(l.items);
		return rc;
	}
	*items = l.items;
	return 0;
}
