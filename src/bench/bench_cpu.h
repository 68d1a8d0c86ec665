/*
 * bench_cpu: CPU time of the servers under test (--pid) and of the bench
 * itself over a measured window, and the progress line on stderr.
 *
 * Purpose: every confab-bench mode that counts acks or deliveries reports
 * "client_cpu_s" (this process's user + system time in the window, its
 * reaped children included: see bench_cpu_self) and, with --pid, the
 * servers' "server_cpu_s" (utime + stime of /proc/PID/stat, every thread,
 * summed over the pids) and "server_cpu_us_per_ack".
 *
 * Ownership: struct bench_cpu is the caller's, plain data.
 *
 * Errors: bench_cpu_begin/end return 0, or -1 when a /proc/PID/stat could
 * not be read (the process is gone, or it is not on this machine); the
 * server figures are then left out (bench_cpu_json writes only the client's).
 *
 * Threads: any; the stderr progress line is written with one fprintf.
 */
#ifndef CONFAB_BENCH_CPU_H
#define CONFAB_BENCH_CPU_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define BENCH_CPU_MAX_PIDS 8

struct bench_cpu {
	pid_t pids[BENCH_CPU_MAX_PIDS];
	unsigned n_pids;
	int server_bad;	       /* a pid could not be read */
	uint64_t server_ticks[2]; /* at begin and end, summed */
	double self_s[2];	  /* this process's user + system seconds */
};

/* Add a --pid; -1 when there are already BENCH_CPU_MAX_PIDS or pid <= 0. */
int bench_cpu_add_pid(struct bench_cpu *c, long pid);
/* Read the start of the window. */
int bench_cpu_begin(struct bench_cpu *c);
/* Read its end. */
int bench_cpu_end(struct bench_cpu *c);
/* This process's user + system CPU seconds so far (getrusage SELF). */
double bench_cpu_self(void);
/* The same for its terminated, waited-for children (RUSAGE_CHILDREN). */
double bench_cpu_children(void);
/* Servers' CPU seconds in the window; -1 without --pid or on error. */
double bench_cpu_server_s(const struct bench_cpu *c);
/*
 * Append to f, for a JSON object being written (after its other keys, no
 * comma before): "client_cpu_s":X and, with --pid, "server_cpu_s":X,
 * "server_cpu_us_per_ack":X (acks 2xx in the window; 0 acks gives 0).
 * extra_client_s is added to the client's figure (children's CPU).
 */
void bench_cpu_json(const struct bench_cpu *c, FILE *f, uint64_t acks,
		    double extra_client_s);

/*
 * Progress on stderr for long runs: every 5 s once the run is planned for
 * more than 10 s. bench_progress_due() says whether a line is due at
 * now_ns (and moves the next one on); the caller writes it.
 */
struct bench_progress {
	uint64_t start_ns, next_ns, last_ns, last_count;
	int on;
};
void bench_progress_init(struct bench_progress *p, uint64_t now_ns,
			 double planned_s);
/* Write "confab-bench: T s: N <what> so far (X/s since the last line)"
 * when due. */
void bench_progress_tick(struct bench_progress *p, uint64_t now_ns,
			 const char *what, uint64_t count);

#endif
