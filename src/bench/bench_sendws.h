/*
 * bench_sendws: confab-bench's send mode over WebSockets (confab-bench
 * --ws): the path a chat client really sends on.
 *
 * Purpose: closed-loop sends as `send` frames (API.md "WebSocket"), --conc
 * in flight in total over --sockets WebSockets spread round robin over the
 * nodes; each socket keeps its share in flight, every request carrying an
 * `id` that its `ack` (or `error`) echoes. Prints one JSON line on stdout
 * and one human line on stderr, described at the top of bench_sendws.c and
 * in confab-bench(1).
 *
 * Ownership: the options are borrowed for the call; bench_sendws_run owns
 * its loop, sockets and buffers and frees them before returning.
 *
 * Errors: returns the process exit status: 0 when the run completed (its
 * errors are counted in the JSON line), 1 when the set-up failed (a
 * conversation could not be created, a socket did not open) or memory ran
 * out.
 *
 * Threads: runs its own libuv loop on the calling thread.
 */
#ifndef CONFAB_BENCH_SENDWS_H
#define CONFAB_BENCH_SENDWS_H

#include "bench/bench_cpu.h"
#include "bench/bench_http.h"

struct bsendws_opts {
	const struct bh_target *targets; /* sockets round robin over them */
	unsigned n_targets;
	unsigned conc;	  /* sends in flight in total, >= sockets */
	unsigned sockets; /* WebSockets, >= 1 */
	unsigned seconds; /* measured window */
	unsigned warmup;  /* seconds not counted before it */
	unsigned size;	  /* content bytes per message */
	const char *run_id; /* [0-9a-f]+, makes ids unique per run */
	struct bench_cpu *cpu; /* --pid; read at the window's ends */
};

int bench_sendws_run(const struct bsendws_opts *o);

#endif
