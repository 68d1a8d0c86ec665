/*
 * cf_lag: the event loop's lag (issue 11, Settled "Loop lag"): how long the
 * loop thread works, without going back to wait for events, in one
 * iteration. A request that arrives meanwhile waits at most that long before
 * its callback runs.
 *
 * What is measured: for each iteration, the time from the start of one poll
 * phase to the start of the next (a uv_prepare handle, which libuv runs
 * right before it polls), minus the time the loop spent blocked in the
 * kernel waiting for events (libuv's own account, uv_metrics_idle_time(),
 * enabled by cf_lag_start() with UV_METRICS_IDLE_TIME). What remains is the
 * work of that iteration: every I/O callback of the poll (libuv runs them
 * inside the poll phase), then check, close, timer, pending, idle and the
 * prepare callbacks before ours. A uv_check handle, run right after the
 * poll, splits the iteration in two stretches (poll callbacks; the rest);
 * the observation is the longer of the two, the "longest single stretch"
 * the loop could not answer in.
 *
 * Clock: CLOCK_MONOTONIC (uv_hrtime), not CLOCK_THREAD_CPUTIME_ID. The loop
 * must never block on disk, and a thread blocked in fsync() or a page-cache
 * miss uses no CPU: a CPU clock would report a 15 ms fsync as almost
 * nothing, hiding exactly the stalls this metric exists to catch. The
 * price: on a loaded machine a stretch also counts the time the loop thread
 * waited for a core (preempted), so the figures are an upper bound of the
 * CPU time in callbacks; compare them with the machine's load.
 *
 * Buckets (seconds): 0.00025 0.0005 0.001 0.002 0.005 0.01 0.02 0.05 0.1
 * 0.25, then +Inf; plus the sum, count and the largest stretch since start.
 *
 * Ownership: struct cf_lag is the caller's; its two handles are closed by
 * cf_lag_close() (the struct may be freed in its callback). The handles are
 * unreferenced: they never keep the loop alive. Errors: a libuv code from
 * start. Threads: loop thread only.
 */
#ifndef CF_LAG_H
#define CF_LAG_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#define CF_LAG_BUCKETS 10

/* Upper bounds of the buckets, in seconds (ascending). */
extern const double cf_lag_bounds[CF_LAG_BUCKETS];

struct cf_lag {
	uv_loop_t *loop;
	uv_prepare_t prepare;
	uv_check_t check;
	/*
	 * Clock seam (tests install fakes before cf_lag_start): monotonic
	 * now and the loop's cumulative idle time, in ns. Default: uv_hrtime
	 * and uv_metrics_idle_time.
	 */
	uint64_t (*now_ns)(struct cf_lag *l);
	uint64_t (*idle_ns)(struct cf_lag *l);
	void *clock_arg;
	/* The stretch in progress. */
	bool primed;	     /* a prepare has run: the next one observes */
	uint64_t t_prepare;  /* now at the last prepare */
	uint64_t i_prepare;  /* idle at the last prepare */
	uint64_t t_check;    /* now at the last check (0: none since) */
	uint64_t poll_work;  /* work of the last poll phase (at check) */
	/* Observations. */
	uint64_t counts[CF_LAG_BUCKETS + 1]; /* last: +Inf */
	uint64_t n;
	uint64_t sum_ns;
	uint64_t max_ns;
	int closes;
	void (*close_cb)(struct cf_lag *l);
};

/* Start observing loop (enables its idle-time metric). */
int cf_lag_start(struct cf_lag *l, uv_loop_t *loop);
/* Stop; cb (may be NULL) once both handles are closed. */
void cf_lag_close(struct cf_lag *l, void (*cb)(struct cf_lag *l));
/* Count one stretch of ns (what each iteration does; for tests too). */
void cf_lag_observe(struct cf_lag *l, uint64_t ns);

#endif
