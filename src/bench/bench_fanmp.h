/*
 * bench_fanmp: confab-bench's fan-out over several processes
 * (confab-bench --fanout N --procs P): one message to N WebSockets, with a
 * client that is not the bottleneck at N = 10,000.
 *
 * Purpose: P forked processes each hold about N/P of the sockets (spread
 * round robin over the nodes) and time the `message` events they read; the
 * parent creates the group, sends at --rate over HTTP and aggregates the
 * children's latencies, which come back through a pipe, into one JSON line
 * with send->delivery reported apart for sockets on the leader and on the
 * followers. A group holds at most --max-group members (confabd(8),
 * default 500), so N sockets are M = min(N, --group-max) members with
 * ceil(N/M) devices (sockets) each: one message, one commit, N socket
 * deliveries. Fields at the top of bench_fanmp.c and in confab-bench(1).
 *
 * Ownership: the options are borrowed; bench_fanmp_run owns its loops,
 * children, pipes, shared mapping and buffers, and frees them (and reaps
 * the children) before returning.
 *
 * Errors: returns the process exit status: 0 when the run completed (its
 * errors counted in the JSON line), 1 when the set-up failed (the group
 * could not be created, a child failed or no socket opened), 2 for
 * options out of range.
 *
 * Threads: one libuv loop at a time on the calling thread, in the parent
 * and in each child; the children share only a read-only view of the send
 * times (a MAP_SHARED mapping the parent writes).
 */
#ifndef CONFAB_BENCH_FANMP_H
#define CONFAB_BENCH_FANMP_H

#include "bench/bench_cpu.h"
#include "bench/bench_http.h"

struct bfmp_opts {
	const struct bh_target *targets;
	unsigned n_targets;
	unsigned sockets;   /* N, >= 2 */
	unsigned procs;	    /* P, 1..64 */
	unsigned group_max; /* members per group, >= 2 */
	unsigned seconds;   /* measured window */
	unsigned warmup;    /* seconds of unmeasured sends before it */
	unsigned size;	    /* content bytes per message */
	unsigned rate;	    /* messages per second, >= 1 */
	const char *run_id; /* [0-9a-f]+, makes ids unique per run */
	struct bench_cpu *cpu; /* --pid */
};

int bench_fanmp_run(const struct bfmp_opts *o);

#endif
