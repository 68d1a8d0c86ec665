/*
 * bench_fanmp_int: what bench_fanmp.c (the parent) and bench_fanmp_child.c
 * (a child holding sockets) share: the send-time mapping and the records
 * that cross their pipes. Internal to those two files.
 *
 * Pipes (each child has two): result (child -> parent) carries a struct
 * fmp_ready once its sockets are open, then, after the stop, a struct
 * fmp_result followed by lat[0] (n_lat[0] uint32 µs, sockets on the
 * leader), lat[1] (n_lat[1], sockets on followers), last[0] and last[1]
 * (n_msgs uint32 each: per message, the latest delivery on this child's
 * leader / follower sockets in µs, 0 for none). Control (parent -> child)
 * carries one struct fmp_stop. Records are written whole with blocking
 * writes; both ends are on this machine, same ABI.
 */
#ifndef CONFAB_BENCH_FANMP_INT_H
#define CONFAB_BENCH_FANMP_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "bench/bench_fanmp.h"

/* MAP_SHARED, written by the parent only. */
struct fmp_shared {
	uint64_t first_measured; /* messages below it are warm-up; all are
				    until the window opens (UINT64_MAX) */
	uint64_t cap;		 /* entries of sent_ns */
	uint64_t sent_ns[];	 /* cf_mono_ns() when message k was sent */
};

struct fmp_ready {
	uint32_t opened, failed;
};

struct fmp_stop {
	uint64_t ok_all; /* 2xx sends of the whole run */
	uint64_t n_msgs; /* messages issued */
};

struct fmp_result {
	uint32_t opened, failed, closed;
	uint64_t deliveries; /* of measured messages, duplicates aside */
	uint64_t dup, other;
	double cpu_s; /* user + system from the sockets open to the end */
	uint64_t n_lat[2];
	uint64_t n_msgs;
};

struct fmp_child {
	const struct bfmp_opts *o;
	unsigned idx;
	unsigned first, count; /* its sockets: [first, first + count) */
	unsigned members;      /* M: socket s is member s mod M, device s / M */
	int leader;	       /* target index of the leader, -1 unknown */
	struct fmp_shared *sh;
	int res_fd, ctl_fd;
};

/* The parent's view of a child. */
struct fmp_kid {
	pid_t pid; /* 0: not started */
	int res_fd, ctl_fd;
	struct fmp_ready rd;
	struct fmp_result r;
};

/*
 * Fork o->procs children (kr: that many, zeroed) over o->targets with
 * members M and the leader's index (-1: none); child i holds sockets
 * [i N / P, (i+1) N / P). 0, or -1 after a failed pipe or fork (those
 * started are in kr, for bench_fanmp_reap).
 */
int bench_fanmp_fork(const struct bfmp_opts *o, unsigned members,
		     int leader, struct fmp_shared *sh, struct fmp_kid *kr);
/* Close the pipes and wait for every child; -1 when one failed. */
int bench_fanmp_reap(struct fmp_kid *kr, unsigned n);

/* The child's whole life; returns its exit status. */
int bench_fanmp_child(const struct fmp_child *c);

/* Write / read all n bytes (blocking); 0 or -1. */
int bench_fanmp_write(int fd, const void *p, size_t n);
int bench_fanmp_read(int fd, void *p, size_t n);

#endif
