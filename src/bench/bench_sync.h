/*
 * bench_sync: confab-bench's catch-up mode (confab-bench --sync N): what a
 * user who was offline for N messages pays to come back.
 *
 * Purpose: the --user (by default a fresh one) reads its sync cursor, goes
 * "offline" (holds no socket), another user sends N messages to K group
 * conversations they share, then the user reconnects and catches up with
 * GET /v1/sync (API.md "Offline inbox and sync") page after page until it
 * has the N messages. Prints one JSON line on stdout and one human line on
 * stderr, described at the top of bench_sync.c and in confab-bench(1).
 *
 * Ownership: the options are borrowed for the call; bench_sync_run owns its
 * loop, connections and buffers and frees them before returning.
 *
 * Errors: returns the process exit status: 0 when the run completed (its
 * errors and missing messages are counted in the JSON line), 1 when the
 * set-up failed (a conversation could not be created, the first cursor
 * could not be read) or memory ran out.
 *
 * Threads: runs its own libuv loop on the calling thread.
 */
#ifndef CONFAB_BENCH_SYNC_H
#define CONFAB_BENCH_SYNC_H

#include "bench/bench_cpu.h"
#include "bench/bench_http.h"

struct bsync_opts {
	const struct bh_target *targets; /* sends round robin; sync: first */
	unsigned n_targets;
	unsigned messages;  /* N */
	unsigned convs;	    /* K conversations the N are spread over */
	unsigned limit;	    /* items per sync page, 1..500 */
	unsigned size;	    /* content bytes per message */
	unsigned conc;	    /* sender connections while filling */
	const char *user;   /* the one who catches up; NULL: a fresh one */
	const char *run_id; /* [0-9a-f]+, makes ids unique per run */
	struct bench_cpu *cpu; /* --pid; read around the catch-up */
};

int bench_sync_run(const struct bsync_opts *o);

#endif
