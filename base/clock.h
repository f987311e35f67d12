/* The two clocks of the codebase, in nanoseconds: monotonic for deadlines
 * and durations, real time for event timestamps. */
#ifndef SM_BASE_CLOCK_H
#define SM_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t sm_now_ns(void) /* CLOCK_MONOTONIC */
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t sm_wall_ns(void) /* CLOCK_REALTIME */
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
