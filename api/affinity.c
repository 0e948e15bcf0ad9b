/*
 * affinity.c - one server thread per core, each kept on a core of its own.
 *
 * With as many workers as cores (the default), the scheduler still puts
 * two workers on one core now and then, and the requests behind them
 * wait a tick or two.  On the 2-core bench machine the warm p99 fell in
 * two groups, about 3 ms and about 7.8 ms; with each worker on a core of
 * its own the second group did not show in twelve runs (README,
 * Performance).  A worker pins itself at its first connection, to the
 * next core the process may run on; with more workers than cores nothing
 * is pinned.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>

#include "api/api_int.h"

static _Thread_local int pinned;

void
api_affinity_init(struct api_affinity *a, unsigned threads, int enabled)
{
	cpu_set_t set;

	a->n = 0;
	atomic_init(&a->next, 0);
	if (!enabled || sched_getaffinity(0, sizeof(set), &set) != 0)
		return;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			a->cpus[a->n++] = cpu;
	if (threads > a->n)
		a->n = 0;
}

void
api_affinity_pin(struct api_affinity *a)
{
	cpu_set_t set;
	unsigned i;

	if (pinned || a->n == 0)
		return;
	pinned = 1;
	i = atomic_fetch_add(&a->next, 1) % a->n;
	CPU_ZERO(&set);
	CPU_SET(a->cpus[i], &set);
	/* Best effort: a refusal leaves the thread where it was. */
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}
