/*
 * fe_rate: the per-user send rate (API.md "Limits"), a token bucket per user
 * id: `rate` tokens per second, at most `burst` saved; one send takes one.
 * Buckets live only on the node that takes the send, in memory; a bucket
 * that has refilled completely is worth nothing and is dropped when the
 * table grows past FE_RATE_SWEEP users (then past twice what a sweep
 * left).
 * Ownership: struct fe_rate owns its buckets and key copies.
 * Errors: fe_rate_take returns 0 (allowed), CF_ERATE (over the rate; *retry_s
 * says in how many whole seconds a token will be there) or -ENOMEM.
 * Threads: loop thread only.
 */
#ifndef FE_RATE_H
#define FE_RATE_H

#include <stdint.h>

#include "common/cf_map.h"

#define FE_RATE_SWEEP 4096

struct fe_rate {
	double rate;  /* tokens per second, > 0 */
	double burst; /* bucket size, >= 1 */
	struct cf_map users; /* user id -> struct fe_rate_bucket * */
	size_t next_sweep;   /* sweep when users.n reaches it */
};

void fe_rate_init(struct fe_rate *r, unsigned rate, unsigned burst);
void fe_rate_release(struct fe_rate *r);
/* Take one token for user at now_ns (monotonic). */
int fe_rate_take(struct fe_rate *r, const char *user, uint64_t now_ns,
		 unsigned *retry_s);

#endif
