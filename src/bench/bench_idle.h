/*
 * bench_idle: confab-bench's idle WebSocket mode (confab-bench --idle N).
 *
 * Purpose: measure what an idle WebSocket costs a node (issue 11: "RSS per
 * idle WebSocket with 10,000 sockets", target <= 1 KB of user-space
 * memory each). Reads one node's /metrics (process_resident_memory_bytes,
 * confab_connections, confab_connection_buffer_bytes), opens N WebSockets
 * to it that then send nothing, waits, reads /metrics again, and prints
 * the difference per open socket: one JSON line on stdout and one human
 * line on stderr (fields at the top of bench_idle.c and in
 * confab-bench(1)); then closes the sockets.
 *
 * Ownership: the options are borrowed for the call; bench_idle_run owns
 * its loop, sockets and buffers and frees them before returning.
 *
 * Errors: returns the process exit status: 0 when every socket opened and
 * both readings of /metrics succeeded; 1 when N does not fit under the
 * hard RLIMIT_NOFILE, a reading failed, a socket did not open within the
 * bound (the figures are still printed, over the sockets that opened) or
 * memory ran out.
 *
 * Threads: runs its own libuv loop on the calling thread. Raises the
 * process's soft RLIMIT_NOFILE to its hard limit. With procs, the sockets
 * are held by forked children instead (each raises its own limit), which
 * it reaps before returning.
 */
#ifndef CONFAB_BENCH_IDLE_H
#define CONFAB_BENCH_IDLE_H

#include "bench/bench_http.h"

struct bidle_opts {
	const struct bh_target *target; /* the node measured */
	unsigned sockets;		/* N, users idle0..idle<N-1> */
	unsigned settle;		/* seconds idle before the 2nd reading */
	unsigned procs;	/* 0: sockets in this process; else in that many
			   forked children (bench_fanmp_child.c) */
	const char *run_id; /* with procs: users g<run>.<i>, deviceId d0 */
};

int bench_idle_run(const struct bidle_opts *o);

#endif
