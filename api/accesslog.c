/*
 * accesslog.c - one line per request, written off the request path.
 *
 * Each worker thread appends to a ring of its own (single producer, single
 * consumer: one relaxed load, a copy and a release store); a writer thread
 * drains every ring at a fixed interval and writes in one system call.  No
 * request ever waits for the disk or for another thread; when a ring is
 * full the line is dropped and counted rather than blocking.  Paths are
 * escaped so a client cannot forge log lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"

#define RING_SIZE ((size_t)512 * 1024) /* per thread; a power of two */
#define LINE_MAX_LEN 1024
#define PATH_MAX_LOGGED 200

struct ring {
	struct ring *next;
	_Atomic size_t head; /* written by the owning thread */
	_Atomic size_t tail; /* written by the writer thread */
	_Atomic uint64_t dropped;
	char buf[RING_SIZE];
};

static _Atomic(struct ring *) rings;
static _Atomic unsigned generation = 1;
static _Thread_local struct ring *mine;
static _Thread_local unsigned mine_gen;

static struct {
	int fd;
	int own_fd;
	unsigned flush_ms;
	int running;
	int stop;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *out; /* the writer's staging buffer */
} w = { .fd = -1 };

static struct ring *
ring_get(void)
{
	unsigned gen = atomic_load_explicit(&generation, memory_order_acquire);
	struct ring *r;

	if (mine != NULL && mine_gen == gen)
		return mine;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->next = atomic_load_explicit(&rings, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&rings, &r->next, r,
	    memory_order_release, memory_order_relaxed))
		;
	mine = r;
	mine_gen = gen;
	return r;
}

/* Copies src into dst escaping quotes, backslashes and control bytes. */
static size_t
escape(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < PATH_MAX_LOGGED && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			if (o + 4 >= cap)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else {
			if (o + 1 >= cap)
				break;
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return o;
}

void
api_accesslog_line(const char *ip, const char *method, const char *path,
    unsigned status, size_t bytes, uint64_t usec)
{
	/* Formatted once a second per thread, not once a request. */
	static _Thread_local time_t ts_sec = -1;
	static _Thread_local char ts[32];
	struct ring *r;
	char line[LINE_MAX_LEN], epath[PATH_MAX_LOGGED * 4 + 1];
	struct tm tm;
	time_t now;
	size_t head, tail, off, first;
	int n;

	if (w.fd < 0 || (r = ring_get()) == NULL)
		return;
	if ((now = time(NULL)) != ts_sec) {
		gmtime_r(&now, &tm);
		if (strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			ts[0] = '\0';
		ts_sec = now;
	}
	escape(epath, sizeof(epath), path);
	n = snprintf(line, sizeof(line), "%s %.46s \"%.16s %s\" %u %zu %llu\n", ts,
	    ip, method, epath, status, bytes, (unsigned long long)usec);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (RING_SIZE - (head - tail) < (size_t)n) {
		atomic_store_explicit(&r->dropped,
		    atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
		    memory_order_relaxed);
		return;
	}
	off = head & (RING_SIZE - 1);
	first = RING_SIZE - off < (size_t)n ? RING_SIZE - off : (size_t)n;
	memcpy(r->buf + off, line, first);
	memcpy(r->buf, line + first, (size_t)n - first);
	atomic_store_explicit(&r->head, head + (size_t)n, memory_order_release);
}

uint64_t
api_accesslog_dropped(void)
{
	uint64_t n = 0;

	for (struct ring *r = atomic_load(&rings); r != NULL; r = r->next)
		n += atomic_load_explicit(&r->dropped, memory_order_relaxed);
	return n;
}

static void
write_all(const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(w.fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a broken log must not stop the broker */
		p += n;
		len -= (size_t)n;
	}
}

/* Moves every ring's pending bytes to the log. */
static void
drain(void)
{
	for (struct ring *r = atomic_load(&rings); r != NULL; r = r->next) {
		size_t head = atomic_load_explicit(&r->head,
		    memory_order_acquire);
		size_t tail = atomic_load_explicit(&r->tail,
		    memory_order_relaxed);
		size_t len = head - tail, off = tail & (RING_SIZE - 1);
		size_t first = RING_SIZE - off < len ? RING_SIZE - off : len;

		if (len == 0)
			continue;
		memcpy(w.out, r->buf + off, first);
		memcpy(w.out + first, r->buf, len - first);
		atomic_store_explicit(&r->tail, head, memory_order_release);
		write_all(w.out, len);
	}
}

static void *
writer_main(void *arg)
{
	struct timespec until;
	int stop = 0;

	(void)prctl(PR_SET_NAME, "ccx-accesslog", 0, 0, 0);
	(void)arg;
	while (!stop) {
		pthread_mutex_lock(&w.lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)(w.flush_ms % 1000u) * 1000000L;
		until.tv_sec += w.flush_ms / 1000u + until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (!w.stop)
			pthread_cond_timedwait(&w.cond, &w.lock, &until);
		stop = w.stop;
		pthread_mutex_unlock(&w.lock);
		drain();
	}
	return NULL;
}

int
api_accesslog_open(const char *path, unsigned flush_ms)
{
	if (w.running)
		return API_E_CONFIG;
	if (path == NULL || strcmp(path, "-") == 0) {
		w.fd = STDOUT_FILENO;
		w.own_fd = 0;
	} else {
		w.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0640);
		if (w.fd < 0)
			return API_E_CONFIG;
		w.own_fd = 1;
	}
	if ((w.out = malloc(RING_SIZE)) == NULL)
		goto fail;
	w.flush_ms = flush_ms ? flush_ms : 50;
	w.stop = 0;
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	if (pthread_create(&w.thread, NULL, writer_main, NULL) != 0) {
		pthread_cond_destroy(&w.cond);
		pthread_mutex_destroy(&w.lock);
		goto fail;
	}
	w.running = 1;
	return 0;
fail:
	free(w.out);
	w.out = NULL;
	if (w.own_fd)
		close(w.fd);
	w.fd = -1;
	return API_E_NOMEM;
}

void
api_accesslog_close(void)
{
	struct ring *r, *next;

	if (!w.running)
		return;
	pthread_mutex_lock(&w.lock);
	w.stop = 1;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL); /* its last pass drains everything */
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	if (w.own_fd)
		close(w.fd);
	w.fd = -1;
	free(w.out);
	w.out = NULL;
	w.running = 0;
	atomic_fetch_add(&generation, 1);
	for (r = atomic_exchange(&rings, NULL); r != NULL; r = next) {
		next = r->next;
		free(r);
	}
}
