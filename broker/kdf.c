/*
 * kdf.c - argon2id password hashing on a pool of its own.
 *
 * A hash is deliberately slow and memory-hard; running it on a server
 * thread would stall every request behind it.  Jobs wait in a bounded
 * queue for one of a few pool threads; the pool's size is the cap on
 * concurrent hashes.  Passwords are borrowed, never copied, never logged.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <argon2.h>

#include "broker/broker.h"
#include "certs/certs.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define PARALLELISM 1

struct broker_kdf {
	struct broker_kdf_opts o;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct broker_kdf_job *head, *tail;
	unsigned queued;
	int stopping;
	unsigned n_threads;
	pthread_t *threads;
	char dummy[BROKER_KDF_ENCODED_MAX]; /* for unknown logins */
};

static void
defaults(struct broker_kdf_opts *o)
{
	if (o->m_kib == 0)
		o->m_kib = 19456;
	if (o->t_cost == 0)
		o->t_cost = 2;
	if (o->threads == 0)
		o->threads = 1;
	if (o->max_queue == 0)
		o->max_queue = 64;
}

static int
hash(const struct broker_kdf_opts *o, const char *pw, size_t len, char *out,
    size_t outcap)
{
	unsigned char salt[SALT_LEN];
	int rc;

	if (certs_random(salt, sizeof(salt)) != 0)
		return BROKER_E_STORAGE;
	rc = argon2id_hash_encoded(o->t_cost, o->m_kib, PARALLELISM, pw, len,
	    salt, sizeof(salt), HASH_LEN, out, outcap);
	return rc == ARGON2_OK ? 0 : rc == ARGON2_MEMORY_ALLOCATION_ERROR
					 ? BROKER_E_NOMEM
					 : BROKER_E_INVAL;
}

static void
run(const struct broker_kdf_opts *o, const char *dummy,
    struct broker_kdf_job *j)
{
	int rc;

	if (j->op == BROKER_KDF_HASH) {
		j->rc = hash(o, j->password, j->password_len, j->encoded,
		    sizeof(j->encoded));
		return;
	}
	if (j->encoded[0] == '\0') {
		/* Same work as a real check, and always a mismatch. */
		(void)argon2id_verify(dummy, j->password, j->password_len);
		j->rc = BROKER_E_BADPASS;
		return;
	}
	/* argon2id_verify compares the digests in constant time. */
	rc = argon2id_verify(j->encoded, j->password, j->password_len);
	j->rc = rc == ARGON2_OK ? 0
	    : rc == ARGON2_VERIFY_MISMATCH ? BROKER_E_BADPASS
	    : rc == ARGON2_MEMORY_ALLOCATION_ERROR ? BROKER_E_NOMEM
					       : BROKER_E_CORRUPT;
}

static void *
pool_main(void *arg)
{
	struct broker_kdf *k = arg;
	struct broker_kdf_job *j;

	(void)prctl(PR_SET_NAME, "ccx-kdf", 0, 0, 0);
	for (;;) {
		pthread_mutex_lock(&k->lock);
		while (k->head == NULL && !k->stopping)
			pthread_cond_wait(&k->wake, &k->lock);
		if ((j = k->head) == NULL) {
			pthread_mutex_unlock(&k->lock);
			return NULL;
		}
		k->head = j->next;
		if (k->head == NULL)
			k->tail = NULL;
		k->queued--;
		pthread_mutex_unlock(&k->lock);
		run(&k->o, k->dummy, j);
		j->done(j);
	}
}

int
broker_kdf_open(const struct broker_kdf_opts *opts, struct broker_kdf **out)
{
	struct broker_kdf *k;
	static const char pw[] = "dummy password for timing";
	int rc;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return BROKER_E_NOMEM;
	if (opts != NULL)
		k->o = *opts;
	defaults(&k->o);
	if ((rc = hash(&k->o, pw, sizeof(pw) - 1, k->dummy,
		 sizeof(k->dummy))) != 0) {
		free(k);
		return rc;
	}
	if ((k->threads = calloc(k->o.threads, sizeof(pthread_t))) == NULL) {
		free(k);
		return BROKER_E_NOMEM;
	}
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->wake, NULL);
	for (; k->n_threads < k->o.threads; k->n_threads++) {
		if (pthread_create(&k->threads[k->n_threads], NULL, pool_main,
			k) != 0) {
			broker_kdf_close(k);
			return BROKER_E_NOMEM;
		}
	}
	*out = k;
	return 0;
}

void
broker_kdf_close(struct broker_kdf *k)
{
	if (k == NULL)
		return;
	pthread_mutex_lock(&k->lock);
	k->stopping = 1;
	pthread_cond_broadcast(&k->wake);
	pthread_mutex_unlock(&k->lock);
	for (unsigned i = 0; i < k->n_threads; i++)
		pthread_join(k->threads[i], NULL);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	free(k->threads);
	free(k);
}

int
broker_kdf_submit(struct broker_kdf *k, struct broker_kdf_job *j)
{
	int rc = 0;

	if (j == NULL || j->done == NULL || j->password == NULL)
		return BROKER_E_INVAL;
	j->next = NULL;
	pthread_mutex_lock(&k->lock);
	if (k->stopping)
		rc = BROKER_E_STOPPED;
	else if (k->queued >= k->o.max_queue)
		rc = BROKER_E_BUSY;
	else {
		if (k->tail != NULL)
			k->tail->next = j;
		else
			k->head = j;
		k->tail = j;
		k->queued++;
		pthread_cond_signal(&k->wake);
	}
	pthread_mutex_unlock(&k->lock);
	return rc;
}

int
broker_kdf_run(const struct broker_kdf_opts *opts, struct broker_kdf_job *j)
{
	struct broker_kdf_opts o = { 0 };
	static const char pw[] = "dummy password for timing";
	char dummy[BROKER_KDF_ENCODED_MAX] = "";

	if (opts != NULL)
		o = *opts;
	defaults(&o);
	if (j->op == BROKER_KDF_VERIFY && j->encoded[0] == '\0' &&
	    hash(&o, pw, sizeof(pw) - 1, dummy, sizeof(dummy)) != 0)
		return j->rc = BROKER_E_NOMEM;
	run(&o, dummy, j);
	return j->rc;
}
