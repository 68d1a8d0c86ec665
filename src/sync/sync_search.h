/*
 * sync_search: the search index and the mentions list of a node (issue
 * 13), derived from the committed records like every other index.
 *
 * The database (sync_search_db.h, DATA/search/index.db) is written by one
 * worker thread of this module only, never on the loop. The loop hands it
 * the committed records it cares about (messages, recalls, edits) through
 * a bounded queue (sync_search_on_record copies them); when the queue is
 * full the record is dropped and the worker, instead of the queue, catches
 * up from the database's position by reading the store's files
 * (sync_search_walk.c): at start, after a segment fetch (sync_search_reset),
 * after an overflow, and when the database is missing or damaged (deleted
 * and rebuilt). Transactions are batched (up to SYNC_SEARCH_BATCH records;
 * a shorter queue gathers for SYNC_SEARCH_LINGER_MS first, unless a
 * consistent query waits); the meta 'position' is written in the same transaction as the rows.
 * After deletes (recalls, edits), once the worker is idle for 300 ms (or
 * 5 s after the first delete under a load that never leaves it idle; the
 * next at least 20 times the last one's duration later), FTS5 'optimize'
 * and a WAL checkpoint make the deleted texts' bytes leave the files.
 *
 * Queries run in libuv's thread pool on read-only connections (a small
 * pool of them), never on the loop; the caller renders the hits.
 *
 * Memory: the queue holds at most SYNC_SEARCH_QUEUE_MAX records and
 * SYNC_SEARCH_QUEUE_BYTES bytes; each connection's page cache is
 * SYNC_SEARCH_CACHE_KIB.
 * Ownership: the module owns the thread, the queue and the connections.
 * Errors: the worker logs and retries (rebuilding a damaged database);
 * queries: 0, CF_EBADREQ (bad expression), CF_EUNAVAIL (no database yet),
 * CF_EIO, -ENOMEM.
 * Threads: every function on the loop thread, except sync_search_reset
 * (any thread: the rebuild's worker calls it).
 */
#ifndef SYNC_SEARCH_H
#define SYNC_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/cf_list.h"
#include "log/log_record.h"
#include "sync/sync_search_db.h"

#define SYNC_SEARCH_QUEUE_MAX 65536
#define SYNC_SEARCH_QUEUE_BYTES (32u << 20)
#define SYNC_SEARCH_BATCH 4096
/*
 * Issue 14: a transaction costs more than the records in it (FTS5 flushes
 * its pending terms into a new segment, the WAL frames are written), so
 * the worker lets a queue shorter than a batch gather this long first,
 * unless a consistent query waits for it.
 */
#define SYNC_SEARCH_LINGER_MS 20
#define SYNC_SEARCH_POOL 4

struct sync_search;

/* New, idle (no thread): records are queued from now on. */
int sync_search_new(struct sync_search **out);
/*
 * Start the worker: the database in data_dir/search/index.db, the store's
 * files in store_dir. 0, or -errno / -ENOMEM with errmsg.
 */
int sync_search_start(struct sync_search *ss, uv_loop_t *loop,
		      const char *data_dir, const char *store_dir,
		      char *errmsg);
/* Stop and join the worker, close the loop handles (cb when closed; may be
 * NULL). Waits are answered CF_ESHUTDOWN. */
void sync_search_close(struct sync_search *ss, void (*cb)(void *arg),
		       void *arg);
/* Free everything (after close, or never started), once the loop has
 * run the queries still in the pool to their callbacks. */
void sync_search_free(struct sync_search *ss);

/* A committed record (the loop's record tail). */
void sync_search_on_record(struct sync_search *ss,
			   const struct log_record *rec);
/* The store was replaced by a fetched one: index it again from nothing. */
void sync_search_reset(struct sync_search *ss);

struct sync_search_stats {
	uint64_t position;	   /* indexed up to this Raft index */
	uint64_t published;	   /* last record handed to the index */
	uint64_t queued;	   /* records waiting in the queue */
	uint64_t pending_erasures; /* deletes not yet optimized away */
	uint64_t rebuilds;	   /* walks over the store's files */
	uint64_t indexed;	   /* records applied since start */
};
void sync_search_stats(struct sync_search *ss, struct sync_search_stats *st);

/*
 * Wait until every record handed so far is indexed (consistent=1):
 * cb(w, 0), or cb(w, CF_ETIMEDOUT) after timeout_ms, or CF_ESHUTDOWN.
 * May call cb at once.
 */
struct sync_search_wait {
	struct cf_list link;
	uint64_t target;
	uint64_t deadline;
	void (*cb)(struct sync_search_wait *w, int status);
	void *data;
};
void sync_search_wait(struct sync_search *ss, struct sync_search_wait *w,
		      uint64_t timeout_ms,
		      void (*cb)(struct sync_search_wait *w, int status));

/*
 * A query in the thread pool; cb on the loop with job->rv. libuv's pool is
 * shared with the store's and raft's disk work, so at most
 * SYNC_SEARCH_RUNNING queries run at once; up to SYNC_SEARCH_WAITING more
 * wait their turn in order, and past that sync_search_run() answers
 * -EBUSY at once (the caller says 503: a flood of searches never holds the
 * pool or grows a queue). Waiting jobs are answered CF_ESHUTDOWN by
 * sync_search_close().
 */
#define SYNC_SEARCH_RUNNING 2
#define SYNC_SEARCH_WAITING 64
struct sync_search_job {
	uv_work_t work;
	struct sync_search *ss;
	struct sync_search_query q;
	int rv;
	void (*cb)(struct sync_search_job *job);
	void *data;
	struct sync_search_job *next; /* waiting: the next one */
};
int sync_search_run(struct sync_search *ss, struct sync_search_job *job,
		    void (*cb)(struct sync_search_job *job));

#endif
