/*
 * bench_history: confab-bench's history read mode (confab-bench --history N).
 *
 * Purpose: measure what a page of history costs, from whichever tier holds
 * it (hot segments or cold files): N requests GET
 * /v1/conversations/ID/messages?fromSeq=R&limit=L over keep-alive
 * connections, each for a random conversation of the bench user and a
 * random R in 1..max(1, lastSeq - L + 1). Prints one JSON line on stdout
 * and one human line on stderr; the fields are described at the top of
 * bench_history.c and in confab-bench(1).
 *
 * Ownership: the options are borrowed for the call; bench_history_run owns
 * its loop, connections and buffers and frees them before returning.
 *
 * Errors: returns the process exit status: 0 when the run completed (its
 * errors are counted in the JSON line), 1 when the set-up failed (the
 * conversation list could not be read or holds no message) or memory ran
 * out.
 *
 * Threads: runs its own libuv loop on the calling thread.
 */
#ifndef CONFAB_BENCH_HISTORY_H
#define CONFAB_BENCH_HISTORY_H

#include "bench/bench_http.h"

struct bhist_opts {
	const struct bh_target *targets; /* requests round robin over them */
	unsigned n_targets;
	unsigned requests; /* N, measured */
	unsigned warmup;   /* requests before them, not measured */
	unsigned conc;	   /* connections, one request in flight each */
	unsigned limit;	   /* page size L, 1..200 */
	unsigned seed;	   /* of the random choices */
	const char *user;  /* whose conversations (dev auth) */
};

int bench_history_run(const struct bhist_opts *o);

#endif
