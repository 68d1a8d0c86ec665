/*
 * bench_fanout: confab-bench's group fan-out mode (confab-bench --fanout N).
 *
 * Purpose: measure, for one group of N members whose WebSockets are spread
 * round robin over the nodes, send->ack (the HTTP answer to POST
 * /v1/messages), send->delivery (client-observed, per `message` event on
 * every member socket) and commit->delivery (the nodes' own
 * confab_delivery_seconds histogram, differenced over the window, and the
 * client's receive wall clock minus the event's serverTs). Prints one JSON
 * line on stdout and one human line on stderr; the fields are described at
 * the top of bench_fanout.c and in confab-bench(1).
 *
 * Ownership: the options are borrowed for the call; bench_fanout_run owns
 * its loop, sockets and buffers and frees them before returning.
 *
 * Errors: returns the process exit status: 0 when the run completed (its
 * errors are counted in the JSON line), 1 when the set-up failed (the group
 * could not be created, a socket did not open) or memory ran out.
 *
 * Threads: runs its own libuv loop on the calling thread.
 */
#ifndef CONFAB_BENCH_FANOUT_H
#define CONFAB_BENCH_FANOUT_H

#include "bench/bench_cpu.h"
#include "bench/bench_http.h"

#define BH_MAX_TARGETS 16

struct bf_opts {
	/* the nodes, 1 <= n_targets <= BH_MAX_TARGETS */
	const struct bh_target *targets;
	unsigned n_targets;
	unsigned members; /* group size, >= 2 */
	unsigned seconds; /* measured window */
	unsigned warmup;  /* seconds of unmeasured sends before it */
	unsigned size;	  /* content bytes per message */
	unsigned rate;	  /* messages per second; 0: closed loop */
	unsigned conc;	  /* HTTP sender connections */
	const char *run_id; /* [0-9a-f]+, makes ids unique per run */
	struct bench_cpu *cpu; /* --pid; read from the window's start to the
				  drain's end */
};

int bench_fanout_run(const struct bf_opts *o);

#endif
