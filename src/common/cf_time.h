/*
 * cf_time: clocks. Wall time (milliseconds since the epoch) only where a
 * timestamp is stamped (the leader's serverTs); monotonic time for every
 * duration and deadline. Apply never calls these (DESIGN.md: apply uses the
 * entry clock). Threads: any. Errors: none.
 */
#ifndef CF_TIME_H
#define CF_TIME_H

#include <stdint.h>

uint64_t cf_wall_ms(void);
uint64_t cf_mono_ns(void);
static inline uint64_t cf_mono_ms(void)
{
	return cf_mono_ns() / 1000000u;
}

#endif
