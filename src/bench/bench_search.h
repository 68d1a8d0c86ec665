/*
 * bench_search: confab-bench's search mode (confab-bench --search N).
 *
 * Purpose: measure what a search costs over a user's conversations (issue
 * 13's figures): N requests GET /v1/search?q=TERMS&limit=L over keep-alive
 * connections, TERMS being --terms words (1 to 4) of the synthetic
 * vocabulary of bench_words.h (the texts tests/bench/gen_cluster -T
 * writes), each drawn uniformly from the ranks [rank_lo, rank_hi). Prints
 * one JSON line on stdout and one human line on stderr; the fields are
 * described at the top of bench_search.c and in confab-bench(1).
 *
 * Ownership: the options are borrowed for the call; bench_search_run owns
 * its loop, connections and buffers and frees them before returning.
 *
 * Errors: returns the process exit status: 0 when the run completed (its
 * errors are counted in the JSON line), 1 when memory ran out or the loop
 * could not start, 2 for bad options.
 *
 * Threads: runs its own libuv loop on the calling thread.
 */
#ifndef CONFAB_BENCH_SEARCH_H
#define CONFAB_BENCH_SEARCH_H

#include "bench/bench_http.h"

struct bsearch_opts {
	const struct bh_target *targets; /* requests round robin over them */
	unsigned n_targets;
	unsigned requests; /* N, measured */
	unsigned warmup;   /* requests before them, not measured */
	unsigned conc;	   /* connections, one request in flight each */
	unsigned limit;	   /* results per page, 1..100 */
	unsigned terms;	   /* words per query, 1..4 */
	unsigned rank_lo, rank_hi; /* vocabulary ranks drawn from */
	unsigned seed;	   /* of the random choices */
	const char *user;  /* who searches (dev auth), unless users > 0: */
	unsigned users;	   /* then "u<k>" for a random k < users, as
			      tests/bench/gen_cluster names its users */
};

int bench_search_run(const struct bsearch_opts *o);

#endif
