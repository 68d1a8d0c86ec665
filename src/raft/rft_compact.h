/*
 * rft_compact: runs the store's compaction jobs on the node (DESIGN.md
 * "Compaction is decided in the log"). Apply of a compaction command plans
 * jobs in the store (log_store_compact_plan, rft_apply.c); this module hands
 * each one to the worker thread (log_compact_run: read, LZ4, fsync, in one
 * job per cold file), and when it is written switches it on the loop
 * (log_store_compact_switch) and tells the node, which checkpoints at once
 * (the manifest then names the cold file and the hot segments are
 * unlinked) and makes Raft snapshot so that its log drops the entries that
 * held erased content.
 *
 * A job that fails (disk full, a damaged input) stays pending in the store
 * and is tried again after RFT_COMPACT_RETRY_MS; one that the worker could
 * not take (queue full) waits in a backlog. Jobs found in the store on open
 * or after a segment fetch are submitted with rft_compact_resume().
 *
 * Ownership: the store owns the jobs; this module owns a small wrapper per
 * submitted job (at most one per pending job). The store must stay open
 * while a job is submitted: rft_compact_busy() is true until every wrapper
 * is back, and the node closes the worker (which completes them) before
 * the store. Errors: 0 or -ENOMEM from submit. Threads: loop thread; the
 * run itself on the worker thread.
 */
#ifndef RFT_COMPACT_H
#define RFT_COMPACT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cf_list.h"
#include "log/log_store.h"
#include "raft/rft_worker.h"

#define RFT_COMPACT_RETRY_MS 60000

/* Counters for /metrics and confabctl status. */
struct rft_compact_stats {
	uint64_t runs;		 /* jobs switched */
	uint64_t failures;	 /* runs that failed */
	uint64_t last_ms;	 /* duration of the last switched job's run */
	uint64_t last_index;	 /* Raft index of the last switched job */
	uint64_t records_erased; /* recalled messages dropped by them */
	uint64_t bytes_read;
	uint64_t bytes_written;
};

struct rft_compact {
	struct rft_worker *worker;
	struct log_store *(*store)(void *arg); /* the store now */
	void (*on_switch)(void *arg, const struct log_compact_result *r);
	void *arg;
	struct cf_list waiting;	  /* wrappers not submitted (backlog, retry) */
	struct cf_list submitted; /* wrappers the worker holds */
	unsigned n;		  /* wrappers in both lists */
	bool closing;
	struct rft_compact_stats stats;
};

void rft_compact_init(struct rft_compact *c, struct rft_worker *w,
		      struct log_store *(*store)(void *arg),
		      void (*on_switch)(void *arg,
					const struct log_compact_result *r),
		      void *arg);
/* Run job (planned in the current store) and switch it when written. */
int rft_compact_submit(struct rft_compact *c, struct log_compact *job);
/* Submit every pending job of the current store not submitted yet. */
int rft_compact_resume(struct rft_compact *c);
/* Submit what waits (backlog, retry delay past); call on a timer. */
void rft_compact_tick(struct rft_compact *c, uint64_t now_ms);
/* True while a job is submitted or waiting. */
bool rft_compact_busy(const struct rft_compact *c);
/*
 * Drop what waits and switch nothing more (jobs stay pending in the
 * store). Wrappers the worker holds are freed as its close completes them.
 */
void rft_compact_close(struct rft_compact *c);
/* Free the waiting wrappers and forget the store's jobs (store replaced). */
void rft_compact_forget(struct rft_compact *c);

#endif
