/*
 * cf_fds: the process's descriptor limit and how a node spends it.
 *
 * confabd raises its soft RLIMIT_NOFILE to the hard limit at start
 * (cf_fds_raise) and splits the result into a budget: the segment store
 * (its folders, live hot segments and file cache: log_store_fd_budget),
 * Raft's files and connections, the peer links, and a reserve for
 * everything short-lived (listeners, the loop's own descriptors, media
 * blobs, fetches, logs). What is left is what client connections may use:
 * a connection cap (--max-connections) must stay within it.
 *
 * Ownership: plain values. Errors: 0 or -errno (getrlimit/setrlimit); a
 * failed raise keeps the old limit, which the budget then uses.
 * Threads: any (the limit is process-wide: call it before the loop runs).
 */
#ifndef CF_FDS_H
#define CF_FDS_H

#include <stdint.h>

/* Raft's files (data folder, open and prepared segments, metadata,
 * snapshot being written, aio eventfd) and its listener. */
#define CF_FDS_RAFT 16
/* Per other node: Raft's connection each way, the peer link each way. */
#define CF_FDS_PER_PEER 4
/* Listeners, the loop's epoll/eventfds/signal pipe, the lock file, stdio,
 * media blobs and segment fetches in flight, a compaction's output. */
#define CF_FDS_RESERVE 64

struct cf_fds {
	uint64_t soft_was; /* soft limit found at start */
	uint64_t limit;	   /* soft limit now */
	uint64_t hard;
	unsigned store;	   /* the most the store holds */
	unsigned raft;
	unsigned peers;
	unsigned reserve;
	uint64_t clients;  /* left for client connections (0: none) */
};

/* Raise the soft RLIMIT_NOFILE to the hard one; fill the limit fields. */
int cf_fds_raise(struct cf_fds *b);
/* Fill the budget from the limit (store: log_store_fd_budget()). */
void cf_fds_budget(struct cf_fds *b, unsigned store, unsigned nodes);

#endif
