/*
 * sync_search_int: the state shared by sync_search.c (queue, worker, loop
 * side) and sync_search_walk.c (catch-up from the store's files). Not for
 * other modules.
 */
#ifndef SYNC_SEARCH_INT_H
#define SYNC_SEARCH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/cf_buf.h"
#include "common/cf_list.h"
#include "sync/sync_search.h"
#include "sync/sync_search_db.h"

/* A queued record: strings point into data. */
struct ss_item {
	struct ss_item *next;
	struct log_record rec;
	size_t bytes;
	char data[];
};

struct sync_search {
	char *dir;	 /* DATA/search */
	char *path;	 /* DATA/search/index.db */
	char *store_dir; /* the segment store */
	uv_loop_t *loop;
	uv_async_t async; /* worker -> loop: the position moved */
	uv_timer_t timer; /* wait deadlines */
	bool started;
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
	unsigned pending_closes;
	pthread_t thread;

	pthread_mutex_t mu; /* the fields below, to the atomics */
	pthread_cond_t cond;
	struct ss_item *head, **tail;
	uint64_t q_n, q_bytes;
	bool overflow; /* a record was dropped: walk the files */
	bool reset;    /* the store was replaced: wipe, walk */
	bool stop;
	uint64_t published; /* highest raft index queued (or dropped) */
	struct sync_search_db *pool[SYNC_SEARCH_POOL]; /* idle readers */
	uint64_t pool_gen[SYNC_SEARCH_POOL];
	unsigned n_pool;

	_Atomic uint64_t position;   /* indexed up to */
	_Atomic uint64_t generation; /* the file was deleted and recreated */
	_Atomic uint64_t pending_erasures;
	_Atomic uint64_t rebuilds;
	_Atomic uint64_t indexed;
	_Atomic bool ready; /* the database exists and is open */
	_Atomic bool hurry; /* a consistent query waits: no lingering */

	struct cf_list waits; /* loop only */
	/* queries (loop only): running in the pool, and waiting in order */
	unsigned running, waiting;
	struct sync_search_job *wait_head, *wait_tail;
};

/*
 * Catch up from the store's files: apply every record with raft index in
 * (position, upto] where upto = max(published, the manifest's
 * appliedIndex), then set the position to upto. 0; -EAGAIN if a file
 * vanished meanwhile (a compaction: walk again); CF_ECANCELED on stop;
 * CF_ECORRUPT (the database: rebuild it); another error. *deleted: an
 * optimize is due (text was deleted, or 100,000 records or more came in).
 */
int ss_walk(struct sync_search *ss, struct sync_search_db *db,
	    uint64_t published, struct cf_buf *scratch, bool *deleted);

/* True once the worker must stop (any thread). */
bool ss_stopping(struct sync_search *ss);

#endif
