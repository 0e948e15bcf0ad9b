/*
 * clock.h - the bench programs' stopwatch: seconds on the monotonic clock.
 */
#ifndef CCX_BENCH_CLOCK_H
#define CCX_BENCH_CLOCK_H

#include <time.h>

static inline double
bench_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
