/*
 * bench_sendhttp: confab-bench's default mode: closed-loop sends as POST
 * /v1/messages over keep-alive HTTP/1.1 connections.
 *
 * Purpose: --sockets connections (default --conc) spread round robin over
 * the nodes, sharing --conc requests in flight (pipelined when fewer
 * connections than requests), one sent again for each answer that
 * completes; what a send costs over HTTP. Prints one JSON line on stdout
 * and one human line on stderr, described at the top of bench_sendhttp.c
 * and in confab-bench(1).
 *
 * Ownership: the options are borrowed for the call; bench_sendhttp_run
 * owns its loop, connections and buffers and frees them before returning.
 *
 * Errors: returns the process exit status: 0 when the run completed (its
 * errors are counted in the JSON line), 1 when the set-up failed (a
 * conversation could not be created) or the loop did not close.
 *
 * Threads: runs its own libuv loop on the calling thread.
 */
#ifndef CONFAB_BENCH_SENDHTTP_H
#define CONFAB_BENCH_SENDHTTP_H

#include "bench/bench_cpu.h"
#include "bench/bench_http.h"

struct bsendhttp_opts {
	const struct bh_target *targets; /* connections round robin */
	unsigned n_targets;
	unsigned conc;	  /* requests in flight */
	unsigned sockets; /* connections, 1..conc, sharing them */
	unsigned seconds; /* measured window */
	unsigned warmup;  /* seconds not counted before it */
	unsigned size;	  /* content bytes per message */
	unsigned n_convs; /* conversations the sends go round */
	const char *run_id; /* [0-9a-f]+, makes ids unique per run */
	struct bench_cpu *cpu; /* --pid; read at the window's ends */
};

int bench_sendhttp_run(const struct bsendhttp_opts *o);

#endif
