#include "config.h"

/*
 * rft_node_fetch: the node's segment fetch (DESIGN.md "Snapshot by
 * reference") and the rebuild after it, off the loop (issue 11).
 *
 * While the FSM needs a fetch, every tick may start one from a peer
 * (rft_fetch). Once it installed the peer's checkpoint, the rebuild of the
 * state from the fetched store, which may read every record, runs as a job
 * on the node's worker thread (rft_worker.h; not libuv's pool, where raft
 * 0.15 does its own writes): rft_fsm_rebuild_begin on the loop, then
 * cfg.on_rebuilding(arg, true), then rft_fsm_rebuild_run on the worker,
 * then on the loop rft_fsm_rebuild_end (the pending entries are applied)
 * and cfg.on_rebuilding(arg, false).
 *
 * Meanwhile (n->rebuilding) the tick starts no fetch, no checkpoint, no
 * compaction, image or erasure step and does not resize raft's memory
 * (rft_node.c); read-index requests do not complete (rft_submit.c), so no
 * caller reads the state on their word; the node is not ready. A close
 * waits for the job (a test hold ends at once) before the worker closes,
 * and replays nothing: the store still needs its fetch, and raft replays
 * the entries at the next start.
 *
 * Threads: rebuild_run runs on the worker and touches only the FSM (which
 * is the worker's until the job is done: rft_fsm_int.h), the node's
 * rebuild_* result fields and, through the hooks, what the caller promised
 * not to read meanwhile; rebuild_cancel is an atomic flag. The rest runs
 * on the loop.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "raft/rft_node_int.h"

#define FETCH_RETRY_MS 1000
/* A test hold looks for its file this often. */
#define HOLD_POLL_MS 10

static uint64_t now_ms(void)
{
	return cf_mono_ms();
}

static bool rebuild_cancelled(struct rft_node *n)
{
	return __atomic_load_n(&n->rebuild_cancel, __ATOMIC_ACQUIRE) != 0;
}

/* On the worker: the test hold, then the rebuild. */
static void rebuild_run(struct rft_worker_job *j)
{
	struct rft_node *n = j->data;
	const char *hold = n->cfg.test_fetch_hold;
	uint64_t t0;

	if (hold != NULL && access(hold, F_OK) == 0) {
		cf_info("segment fetch: test hold: the rebuild waits while %s "
			"exists", hold);
		while (access(hold, F_OK) == 0 && !rebuild_cancelled(n))
			usleep(HOLD_POLL_MS * 1000);
	}
	if (rebuild_cancelled(n)) {
		n->rebuild_rv = CF_ECANCELED;
		return;
	}
	t0 = cf_mono_ms();
	n->rebuild_rv = rft_fsm_rebuild_run(n->fsm, n->rebuild_errmsg);
	n->rebuild_ms = cf_mono_ms() - t0;
}

static void rebuild_notify(struct rft_node *n, bool on)
{
	if (n->cfg.on_rebuilding != NULL)
		n->cfg.on_rebuilding(n->cfg.on_record_arg, on);
}

/* On the loop once the job ran (or was cancelled before it began). */
static void rebuild_done(struct rft_worker_job *j, int status)
{
	struct rft_node *n = j->data;
	char errmsg[CF_ERRMSG_SIZE];
	int rv = status != 0 ? status : n->rebuild_rv;

	n->rebuilding = false;
	if (n->closing || n->halt_err != 0 || rv == CF_ECANCELED) {
		/* Nothing replayed: the store still needs its fetch. */
		rft_fsm_rebuild_drop(n->fsm);
		rebuild_notify(n, false);
		if (n->close_wait_rebuild) {
			n->close_wait_rebuild = false;
			rft__node_worker_close(n);
		} else if (!n->closing) {
			n->fetch_next_ms = now_ms() + FETCH_RETRY_MS;
		}
		return;
	}
	snprintf(errmsg, sizeof errmsg, "%s", n->rebuild_errmsg);
	rv = rft_fsm_rebuild_end(n->fsm, rv, errmsg);
	rebuild_notify(n, false);
	if (rv == -EAGAIN) {
		cf_warn("segment fetch: %s; fetching again", errmsg);
		n->fetch_next_ms = now_ms();
		return;
	}
	if (rv != 0) {
		/* The state is gone; raft replays into a fresh start. */
		cf_error("segment fetch: rebuild failed: %s (%s); exiting",
			 errmsg, cf_strerror(rv));
		fflush(stderr);
		_exit(1);
	}
	n->last_checkpoint = 0; /* checkpoint what the pending entries added */
	/* The fetched store's own jobs (the peer's manifest records them). */
	if (rft_compact_resume(&n->compact) != 0)
		cf_warn("compaction: out of memory; jobs wait in the store");
	cf_info("segment fetch done: store at %llu from node %u (%llu bytes "
		"fetched in all), rebuilt off the loop in %.1f s, applied %llu",
		(unsigned long long)n->rebuild_store_at, n->fetch_peer,
		(unsigned long long)n->rebuild_bytes,
		(double)n->rebuild_ms / 1000.0,
		(unsigned long long)rft_fsm_applied(n->fsm));
}

static void node_fetch_cb(struct rft_fetch *fe, int status, uint64_t applied,
			  void *arg)
{
	struct rft_node *n = arg;
	char errmsg[CF_ERRMSG_SIZE];
	struct rft_fetch_stats st;
	int rv;

	if (n->closing || n->fsm == NULL)
		return;
	if (status != 0) {
		cf_warn("segment fetch from node %u failed: %s (%s); retrying",
			n->fetch_peer, cf_strerror(status),
			rft_fetch_errmsg(fe));
		n->fetch_next_ms = now_ms() + FETCH_RETRY_MS;
		return;
	}
	if (applied < rft_fsm_fetch_min(n->fsm)) {
		/* A newer snapshot arrived meanwhile: again, from there. */
		n->fetch_next_ms = now_ms();
		return;
	}
	rv = rft_fsm_rebuild_begin(n->fsm, errmsg);
	if (rv != 0) {
		cf_warn("segment fetch: rebuild: %s; fetching again", errmsg);
		n->fetch_next_ms = now_ms() + FETCH_RETRY_MS;
		return;
	}
	rft_fetch_get_stats(fe, &st);
	n->rebuild_store_at = applied;
	n->rebuild_bytes = st.bytes;
	n->rebuild_rv = 0;
	n->rebuild_ms = 0;
	n->rebuild_errmsg[0] = '\0';
	__atomic_store_n(&n->rebuild_cancel, 0, __ATOMIC_RELEASE);
	n->rebuilding = true;
	/* Before the job can start: the caller stops reading its indexes. */
	rebuild_notify(n, true);
	n->rebuild_job.data = n;
	rv = rft_worker_submit(&n->worker, &n->rebuild_job, rebuild_run,
			       rebuild_done);
	if (rv != 0) {
		/* The worker's queue is full: the fetched files stay, so the
		 * next fetch finds them and ends quickly. */
		n->rebuilding = false;
		rft_fsm_rebuild_drop(n->fsm);
		rebuild_notify(n, false);
		cf_warn("segment fetch: rebuild: worker: %s; fetching again",
			cf_strerror(rv));
		n->fetch_next_ms = now_ms() + FETCH_RETRY_MS;
		return;
	}
	cf_info("segment fetch: store at %llu from node %u; rebuilding the "
		"state off the loop (not ready meanwhile)",
		(unsigned long long)applied, n->fetch_peer);
}

/* The peer to fetch from: the leader, else (or after a failure) another. */
static unsigned node_fetch_peer(struct rft_node *n)
{
	const struct cf_cluster *cl = n->cfg.cluster;
	unsigned leader = rft__node_leader(n);

	if (leader != 0 && leader != n->cfg.self && leader != n->fetch_peer &&
	    rft_peer_up(&n->peers, leader))
		return leader;
	for (unsigned k = 1; k <= cl->n_nodes; k++) {
		unsigned id = cl->nodes[(n->fetch_peer + k) % cl->n_nodes].id;

		if (id != n->cfg.self && rft_peer_up(&n->peers, id))
			return id;
	}
	return 0;
}

void rft__node_fetch_tick(struct rft_node *n)
{
	uint64_t min = rft_fsm_fetch_min(n->fsm);
	unsigned peer;
	int rv;

	if (min == 0 || min == UINT64_MAX || n->rebuilding ||
	    rft_fetch_running(n->fetch) || now_ms() < n->fetch_next_ms)
		return;
	/*
	 * The fetch replaces the store's files: no compaction job may be
	 * writing into its folder meanwhile. Jobs not handed to the worker
	 * are dropped (the fetched manifest brings its own); a running one
	 * is waited for.
	 */
	rft_compact_forget(&n->compact);
	if (rft_compact_busy(&n->compact))
		return;
	/* Nor may a checkpoint taken before the snapshot still write there. */
	if (rft_fsm_checkpoint_busy(n->fsm))
		return;
	peer = node_fetch_peer(n);
	if (peer == 0) {
		n->fetch_next_ms = now_ms() + FETCH_RETRY_MS;
		return;
	}
	n->fetch_peer = peer;
	rv = rft_fetch_start(n->fetch, peer, rft_fsm_store_dir(n->fsm), min,
			     node_fetch_cb, n);
	if (rv != 0) {
		cf_warn("segment fetch from node %u: %s", peer,
			cf_strerror(rv));
		n->fetch_next_ms = now_ms() + FETCH_RETRY_MS;
		return;
	}
	cf_info("segment fetch from node %u: the snapshot is at %llu", peer,
		(unsigned long long)min);
}

bool rft__node_rebuild_close(struct rft_node *n)
{
	if (!n->rebuilding)
		return false;
	cf_info("closing once the rebuild after the segment fetch has ended");
	n->close_wait_rebuild = true;
	__atomic_store_n(&n->rebuild_cancel, 1, __ATOMIC_RELEASE);
	/* Not begun yet: it never will (rebuild_done gets CF_ECANCELED). */
	(void)rft_worker_cancel(&n->worker, &n->rebuild_job);
	return true;
}

bool rft_node_rebuilding(const struct rft_node *n)
{
	return n->rebuilding;
}
