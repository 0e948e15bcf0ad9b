/*
 * committer.c - shared commits: one thread owns every write transaction.
 *
 * Writers queue a job and return; the committer takes every job pending at
 * that moment (up to max_batch), runs each in a nested transaction of its
 * own so one failing write cannot spoil the others, commits the batch once
 * (one fsync for all of them) and only then reports each result.  So a
 * durable commit costs about the same for 32 concurrent writers as for one.
 * Nothing here may block on anything but the queue lock and the disk.
 */
#include <stdlib.h>
#include <sys/prctl.h>

#include "broker/broker_int.h"

struct broker_job {
	struct broker_job *next;
	broker_write_fn fn;
	void *arg;
	broker_done_fn done;
	void *cookie;
	int rc;
};

/* Runs one job in a nested transaction of the batch. */
static void
run_job(struct broker_store *s, MDB_txn *parent, struct broker_job *j)
{
	struct broker_txn t = { .store = s, .write = 1 };
	int rc;

	if ((rc = mdb_txn_begin(s->env, parent, 0, &t.txn)) != 0) {
		j->rc = broker_mdb_err(rc);
		return;
	}
	if ((j->rc = j->fn(&t, j->arg)) == 0)
		j->rc = broker_access_bump(&t);
	if (j->rc != 0) {
		/* Aborting the child undoes its changes, even a MAP_FULL. */
		mdb_txn_abort(t.txn);
		return;
	}
	j->rc = broker_mdb_err(mdb_txn_commit(t.txn));
}

static void
update_max(_Atomic uint64_t *max, uint64_t v)
{
	if (v > atomic_load_explicit(max, memory_order_relaxed))
		atomic_store_explicit(max, v, memory_order_relaxed);
}

/* Runs and commits one batch, then reports every job's result. */
static void
commit_batch(struct broker_store *s, struct broker_job *batch, unsigned n)
{
	struct broker_job *j, *next;
	MDB_txn *txn = NULL;
	uint64_t ok = 0, failed = 0;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc == 0) {
		for (j = batch; j != NULL; j = j->next)
			run_job(s, txn, j);
		/* A failed commit loses the batch: nothing of it is durable. */
		rc = mdb_txn_commit(txn);
	}
	rc = broker_mdb_err(rc);
	for (j = batch; j != NULL; j = j->next) {
		if (rc != 0 && j->rc == 0)
			j->rc = rc;
		if (j->rc == 0)
			ok++;
		else
			failed++;
	}
	/* Counters first: a writer woken below may read them at once. */
	if (rc == 0)
		atomic_fetch_add_explicit(&s->n_commits, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->n_writes, ok, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->n_write_errors, failed,
	    memory_order_relaxed);
	update_max(&s->n_max_batch, n);
	for (j = batch; j != NULL; j = next) {
		next = j->next;
		j->done(j->cookie, j->rc);
		free(j);
	}
}

static void *
committer_main(void *arg)
{
	struct broker_store *s = arg;
	struct broker_job *batch, **tailp;
	unsigned n;

	/* Named for top -H, perf and /proc/PID/task/TID/comm. */
	(void)prctl(PR_SET_NAME, "ccx-committer", 0, 0, 0);
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (s->head == NULL && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (s->head == NULL) {
			/* Stopping, and every submitted write is done. */
			pthread_mutex_unlock(&s->lock);
			break;
		}
		batch = s->head;
		tailp = &batch;
		for (n = 0; *tailp != NULL && n < s->max_batch; n++)
			tailp = &(*tailp)->next;
		s->head = *tailp;
		if (s->head == NULL)
			s->tail = NULL;
		*tailp = NULL;
		s->queued -= n;
		atomic_store_explicit(&s->n_queued, s->queued,
		    memory_order_relaxed);
		pthread_mutex_unlock(&s->lock);

		commit_batch(s, batch, n);
	}
	return NULL;
}

int
broker_committer_start(struct broker_store *s)
{
	if (pthread_mutex_init(&s->lock, NULL) != 0)
		return BROKER_E_NOMEM;
	if (pthread_cond_init(&s->wake, NULL) != 0) {
		pthread_mutex_destroy(&s->lock);
		return BROKER_E_NOMEM;
	}
	if (pthread_create(&s->thread, NULL, committer_main, s) != 0) {
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		return BROKER_E_NOMEM;
	}
	s->thread_started = 1;
	return 0;
}

void
broker_committer_stop(struct broker_store *s)
{
	if (!s->thread_started)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	s->thread_started = 0;
}

int
broker_write_submit(struct broker_store *s, broker_write_fn fn, void *arg,
    broker_done_fn done, void *cookie)
{
	struct broker_job *j;
	int rc = 0;

	if (fn == NULL || done == NULL)
		return BROKER_E_INVAL;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return BROKER_E_NOMEM;
	j->fn = fn;
	j->arg = arg;
	j->done = done;
	j->cookie = cookie;

	pthread_mutex_lock(&s->lock);
	if (s->stopping)
		rc = BROKER_E_STOPPED;
	else if (s->queued >= s->queue_cap)
		rc = BROKER_E_BUSY;
	else {
		if (s->tail != NULL)
			s->tail->next = j;
		else
			s->head = j;
		s->tail = j;
		s->queued++;
		atomic_store_explicit(&s->n_queued, s->queued,
		    memory_order_relaxed);
		pthread_cond_signal(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc != 0)
		free(j);
	return rc;
}

/* A waiter for broker_write: the committer signals it when done. */
struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int rc;
};

static void
waiter_done(void *cookie, int rc)
{
	struct waiter *w = cookie;

	pthread_mutex_lock(&w->lock);
	w->rc = rc;
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int
broker_write(struct broker_store *s, broker_write_fn fn, void *arg)
{
	struct waiter w = { .done = 0, .rc = 0 };
	int rc;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	rc = broker_write_submit(s, fn, arg, waiter_done, &w);
	if (rc == 0) {
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.lock);
		rc = w.rc;
		pthread_mutex_unlock(&w.lock);
	}
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return rc;
}
