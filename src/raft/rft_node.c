/*
 * rft_node: see rft_node.h for the contract. This file: setup (raft_uv with
 * the TCP_NODELAY transport, the FSM, the peer links), leadership tracking
 * with a barrier after each election, readiness, the loop hooks and the
 * periodic checkpoint, the close order and introspection. The request life
 * cycle is in rft_submit.c.
 */
#include "config.h"

#include "raft/rft_node.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_lock.h"
#include "common/cf_time.h"
#include "raft/rft_node_int.h"

#define TICK_MS 20
#define CLOSE_DRAIN_MS 2000
#define BUDGET_EVERY_MS 1000
#define BUDGET_MIN_ENTRIES 256u
#define CHECKPOINT_MS 1000
#define RFT_INSTALL_SNAPSHOT_MS 3000
/* Jobs waiting for the worker thread, at most. */
#define WORKER_QUEUE 64

static uint64_t now_ms(void)
{
	return cf_mono_ms();
}

unsigned rft__node_leader(const struct rft_node *n)
{
	raft_id id = 0;
	const char *addr = NULL;

	raft_leader((struct raft *)&n->raft, &id, &addr);
	return (unsigned)id;
}

bool rft__can_propose(const struct rft_node *n)
{
	return !n->closing && n->halt_err == 0 &&
	       raft_state((struct raft *)&n->raft) == RAFT_LEADER &&
	       n->barrier_done;
}

/* ---- leadership ---- */

static void node_barrier_cb(struct raft_barrier *req, int status)
{
	struct rft_node *n = req->data;

	n->barrier_pending = false;
	if (n->closing)
		return;
	if (status != 0) {
		cf_warn("barrier failed: %s", raft_strerror(status));
		return;
	}
	if (raft_state(&n->raft) == RAFT_LEADER &&
	    n->raft.current_term == n->last_term) {
		n->barrier_done = true;
		cf_info("leader for term %llu: barrier applied at %llu",
			(unsigned long long)n->last_term,
			(unsigned long long)raft_last_applied(&n->raft));
		rft__dispatch_waiting(n);
	}
}

static void node_ready_cb(struct rft_read *r, int status);

static void node_track(struct rft_node *n)
{
	int st = raft_state(&n->raft);
	raft_term term = n->raft.current_term;
	unsigned leader;

	if (st != n->last_state || term != n->last_term) {
		if (n->last_state == RAFT_LEADER &&
		    (st != RAFT_LEADER || term != n->last_term)) {
			cf_info("lost leadership (term %llu)",
				(unsigned long long)n->last_term);
			n->barrier_done = false;
			rft__drop_queued(n, CF_ENOTLEADER);
		}
		if (st == RAFT_LEADER)
			n->barrier_done = false;
		n->last_state = st;
		n->last_term = term;
	}
	if (st == RAFT_LEADER && !n->barrier_done && !n->barrier_pending &&
	    !n->closing) {
		n->barrier.data = n;
		if (raft_barrier(&n->raft, &n->barrier, node_barrier_cb) == 0)
			n->barrier_pending = true;
	}
	leader = rft__node_leader(n);
	if (leader != 0 && leader != n->known_leader) {
		unsigned old = n->known_leader;

		n->known_leader = leader;
		if (old != 0)
			rft__leader_changed(n, old);
	}
	/*
	 * Ready once applied up to the leader's commit index (a read index
	 * asked of the leader itself: the commit index this node sees may
	 * only cover its own log, e.g. before the leader finds it needs a
	 * snapshot). A read that times out is asked again.
	 */
	if (!n->ready && leader != 0 && !n->ready_asking && !n->closing) {
		n->ready_asking = true;
		n->ready_rd.data = n;
		rft_node_read_index(n, &n->ready_rd, node_ready_cb);
	}
}

static void node_ready_cb(struct rft_read *r, int status)
{
	struct rft_node *n = r->data;

	n->ready_asking = false;
	if (status != 0 || n->closing || n->fsm == NULL ||
	    rft_fsm_needs_fetch(n->fsm))
		return;
	n->ready = true;
	n->ready_index = r->index;
	cf_info("ready: applied %llu", (unsigned long long)
				raft_last_applied(&n->raft));
}

/* FSM: a verify marker applied at index (rft_mark.h). */
static void node_on_mark(void *arg, uint64_t index, uint64_t mark_id)
{
	struct rft_node *n = arg;

	rft_marks_on_apply(&n->marks, rft_fsm_store(n->fsm), index, mark_id);
}

static void node_close_finish(struct rft_node *n);
static void node_checkpoint(struct rft_node *n, bool force);

/*
 * The checkpoint job ended (rft_fsm_checkpoint_start: captured on the loop,
 * fsyncs and manifest in the thread pool). Only now is it durable.
 */
static void node_ckpt_cb(void *arg, uint64_t index, int status,
			 const char *errmsg)
{
	struct rft_node *n = arg;

	if (status != 0 && status != CF_ECANCELED) {
		/*
		 * The store can no longer be made durable: better down, or
		 * read-only on a full disk (rft_node_disk.c). Nothing was
		 * recorded: raft replays the entries after a restart.
		 */
		cf_error("checkpoint at %llu failed: %s (%s)",
			 (unsigned long long)index, errmsg, cf_strerror(status));
		if (!n->closing)
			rft__storage_failed(n, status, errmsg);
	} else if (status == 0 && index > n->last_checkpoint) {
		n->last_checkpoint = index;
	}
	if (n->ckpt_final) {
		/* Closing: what raft applied while this one ran. */
		n->ckpt_final = false;
		node_checkpoint(n, false);
	}
	if (n->close_wait_ckpt && !rft_fsm_checkpoint_busy(n->fsm))
		node_close_finish(n);
}

/*
 * Checkpoint if anything was applied since the last one, or if forced: start
 * the checkpoint job, which does the disk work off the loop. If a job is in
 * flight already (this one's previous, or raft's snapshot), the next tick
 * tries again.
 */
static void node_checkpoint(struct rft_node *n, bool force)
{
	uint64_t applied = rft_fsm_applied(n->fsm);
	int rv;

	if ((applied <= n->last_checkpoint && !force) || n->halt_err != 0)
		return; /* halted: what is in memory may hold part of an entry */
	/*
	 * While a segment fetch is pending the store lacks segments and must
	 * never record an appliedIndex; the entries applied meanwhile wait in
	 * STORE.pending and in raft's log (snapshots are refused meanwhile).
	 * The fetch's completion resets last_checkpoint: the next tick
	 * checkpoints.
	 */
	if (rft_fsm_needs_fetch(n->fsm) || rft_fsm_checkpoint_busy(n->fsm))
		return;
	rv = rft_fsm_checkpoint_start(n->fsm, n->loop, node_ckpt_cb, n);
	if (rv != 0) {
		char msg[CF_ERRMSG_SIZE];

		/*
		 * The store can no longer be made durable: better down, or
		 * read-only on a full disk (rft_node_disk.c).
		 */
		snprintf(msg, sizeof msg, "checkpoint at %llu: %s",
			 (unsigned long long)applied, cf_strerror(rv));
		cf_error("%s", msg);
		if (!n->closing) /* closing: raft replays it at the start */
			rft__storage_failed(n, rv, msg);
		return;
	}
	n->checkpoint_at = now_ms();
	n->compacted = false;
}

static void node_prepare_cb(uv_prepare_t *h)
{
	struct rft_node *n = h->data;

	if (n->closing || n->halt_err != 0)
		return;
	node_track(n);
	rft__propose(n);
	rft__reads(n);
}


/*
 * Closing: raft 0.15 must not be closed while its own disk writes are in
 * flight (a write completing after raft_close() reaches the freed log and
 * crashed the node on SIGTERM under load). Wait until our entries and the
 * barrier are called back and everything raft holds is stored, at most
 * CLOSE_DRAIN_MS.
 */
bool rft__node_drained(struct rft_node *n)
{
	return n->n_inflight == 0 && !n->barrier_pending &&
	       n->raft.last_stored >= raft_last_index(&n->raft);
}

/*
 * Keep (threshold + trailing) x mean entry size within cfg.raft_memory:
 * trailing gets two thirds of the entries, threshold one third. A lower
 * trailing makes snapshot installs (then segment fetches) more likely for
 * a follower that falls far behind; that is the price of bounded memory.
 */
static void node_budget(struct rft_node *n)
{
	struct rft_fsm_stats st;
	uint64_t cap, mean;
	unsigned thr, trail;

	if (now_ms() - n->budget_at_ms < BUDGET_EVERY_MS)
		return;
	n->budget_at_ms = now_ms();
	rft_fsm_stats(n->fsm, &st);
	if (st.entries < 64)
		return;
	mean = st.entry_bytes / st.entries + 64; /* + raft's own per entry */
	cap = n->cfg.raft_memory / mean;
	thr = cap / 3 > n->cfg.snapshot_threshold ? n->cfg.snapshot_threshold
						  : (unsigned)(cap / 3);
	trail = cap - cap / 3 > n->cfg.snapshot_trailing
			? n->cfg.snapshot_trailing
			: (unsigned)(cap - cap / 3);
	if (thr < BUDGET_MIN_ENTRIES)
		thr = BUDGET_MIN_ENTRIES < n->cfg.snapshot_threshold
			      ? BUDGET_MIN_ENTRIES
			      : n->cfg.snapshot_threshold;
	if (trail < BUDGET_MIN_ENTRIES)
		trail = BUDGET_MIN_ENTRIES < n->cfg.snapshot_trailing
				? BUDGET_MIN_ENTRIES
				: n->cfg.snapshot_trailing;
	/* Move on a change of a quarter or more, not on every wobble. */
	if ((uint64_t)thr * 4 > (uint64_t)n->cur_threshold * 3 &&
	    (uint64_t)thr * 3 < (uint64_t)n->cur_threshold * 4 &&
	    (uint64_t)trail * 4 > (uint64_t)n->cur_trailing * 3 &&
	    (uint64_t)trail * 3 < (uint64_t)n->cur_trailing * 4)
		return;
	raft_set_snapshot_threshold(&n->raft, thr);
	raft_set_snapshot_trailing(&n->raft, trail);
	cf_info("raft memory: mean entry %llu bytes: snapshot threshold %u, "
		"trailing %u (budget %llu MiB)",
		(unsigned long long)mean, thr, trail,
		(unsigned long long)(n->cfg.raft_memory >> 20));
	n->cur_threshold = thr;
	n->cur_trailing = trail;
}

static void node_tick_cb(uv_timer_t *h)
{
	struct rft_node *n = h->data;

	if (n->closing) {
		if (!n->raft_closing &&
		    (rft__node_drained(n) || now_ms() >= n->drain_deadline)) {
			if (!rft__node_drained(n))
				cf_warn("closing with %u entries in flight",
					n->n_inflight);
			rft__node_raft_close(n);
		}
		return;
	}
	rft__disk_tick(n);
	if (n->halt_err != 0) {
		/* Halted (rft_node_disk.c): requests only expire. */
		rft__expire(n);
		return;
	}
	node_track(n);
	/*
	 * While the worker rebuilds the state after a fetch (rft_node_fetch.c)
	 * nothing here may read the state or the store, nor start a fetch
	 * into the folder it reads: requests only move and expire.
	 */
	if (!n->rebuilding) {
		rft__node_fetch_tick(n);
		if (n->erase_left == 0)
			node_budget(n);
		rft__node_erase_tick(n);
		rft__node_rule_tick(n);
		rft__node_image_tick(n);
	}
	rft__dispatch_waiting(n);
	rft__reads(n);
	rft__expire(n);
	if (n->rebuilding)
		return;
	rft_compact_tick(&n->compact, now_ms());
	if (n->compacted || now_ms() - n->checkpoint_at >= CHECKPOINT_MS)
		node_checkpoint(n, n->compacted);
}

/* ---- setup ---- */

static int mkdir_p(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The first step of a start: up to the store's open (rft_node_int.h). */
int rft__node_begin(struct rft_node *n, uv_loop_t *loop,
		    const struct rft_node_config *cfg,
		    struct rft_fsm_config *fc, char *store_dir, char *errmsg)
{
	const struct cf_node_conf *self;
	char raft_dir[1024];
	int rv;

	memset(n, 0, sizeof *n);
	n->lock_fd = -1;
	n->loop = loop;
	n->cfg = *cfg;
	if (n->cfg.heartbeat_ms == 0)
		n->cfg.heartbeat_ms = 30;
	if (n->cfg.election_ms == 0)
		n->cfg.election_ms = 1000;
	if (n->cfg.snapshot_threshold == 0)
		n->cfg.snapshot_threshold = 16384;
	if (n->cfg.snapshot_trailing == 0)
		n->cfg.snapshot_trailing = 32768;
	if (n->cfg.raft_memory == 0)
		n->cfg.raft_memory = 128ull << 20;
	if (n->cfg.raft_segment_size == 0)
		n->cfg.raft_segment_size = 16u << 20;
	if (n->cfg.request_timeout_ms == 0)
		n->cfg.request_timeout_ms = 5000;
	if (n->cfg.compact_after < 0)
		n->cfg.compact_after = 4;
	if (n->cfg.image_records == UINT64_MAX)
		n->cfg.image_records = RFT_IMAGE_RECORDS_DEFAULT;
	if (n->cfg.image_gap_ms == 0)
		n->cfg.image_gap_ms = RFT_IMAGE_GAP_DEFAULT;
	if (n->cfg.compact_segments == 0)
		n->cfg.compact_segments = 4;
	n->data = cfg->data;
	cf_list_init(&n->waiting);
	cf_list_init(&n->queued);
	cf_list_init(&n->forwarded);
	cf_list_init(&n->reads);
	n->last_state = RAFT_UNAVAILABLE;
	self = cf_cluster_node(cfg->cluster, cfg->self);
	if (self == NULL) {
		cf_errmsg_printf(errmsg, "node %u is not in the cluster file",
				 cfg->self);
		return CF_EBADREQ;
	}
	snprintf(raft_dir, sizeof raft_dir, "%s/raft", cfg->data_dir);
	snprintf(store_dir, RFT_NODE_DIR_MAX, "%s/store", cfg->data_dir);
	if ((rv = mkdir_p(cfg->data_dir)) != 0 ||
	    (rv = mkdir_p(raft_dir)) != 0) {
		cf_errmsg_printf(errmsg, "data dir %s: %s", cfg->data_dir,
				 cf_strerror(rv));
		return rv;
	}
	/* Two processes on one folder would write the same segments. */
	rv = cf_lock_dir(cfg->data_dir, &n->lock_fd, errmsg);
	if (rv != 0)
		return rv;
	rv = rft__disk_init(n, errmsg);
	if (rv != 0) {
		rft__node_unbegin(n);
		return rv;
	}

	memset(fc, 0, sizeof *fc);
	fc->store.dir = store_dir;
	fc->store.partitions = cfg->cluster->partitions;
	fc->store.seal_bytes = cfg->cluster->segment_size;
	fc->store.seal_age_ms = cfg->cluster->seal_age_ms;
	fc->edit_window_ms = cfg->cluster->edit_window_ms;
	fc->raft = &n->raft;
	fc->on_record = cfg->on_record;
	fc->on_record_arg = cfg->on_record_arg;
	fc->on_rebuild = cfg->on_rebuild;
	fc->on_reset = cfg->on_reset;
	fc->on_rebuilt = cfg->on_rebuilt;
	fc->on_image_write = cfg->on_image_write;
	fc->on_image_read = cfg->on_image_read;
	fc->on_mark = node_on_mark;
	fc->on_mark_arg = n;
	fc->on_compact = rft__node_on_compact;
	return 0;
}

/* Undo rft__node_begin (the store is closed, or was never open). */
void rft__node_unbegin(struct rft_node *n)
{
	if (n->disk_on)
		rft_disk_close(&n->disk, NULL); /* never started */
	n->disk_on = false;
	cf_unlock_dir(n->lock_fd);
	n->lock_fd = -1;
}

/*
 * The last step of a start, on the loop once n->fsm is open: raft, the
 * worker, compaction, the fetch, the peer links. On failure everything is
 * released, the store and the lock too.
 */
int rft__node_finish(struct rft_node *n, char *errmsg)
{
	const struct rft_node_config *cfg = &n->cfg;
	uv_loop_t *loop = n->loop;
	const struct cf_node_conf *self =
		cf_cluster_node(cfg->cluster, cfg->self);
	char raft_dir[1024];
	int rv;

	snprintf(raft_dir, sizeof raft_dir, "%s/raft", cfg->data_dir);
	n->raft_fsm = rft_fsm_raft(n->fsm);
	n->last_checkpoint = rft_fsm_applied(n->fsm);

	rv = rft_transport_init(&n->transport, loop);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "raft transport: %s", cf_strerror(rv));
		goto err_fsm;
	}
	rv = raft_uv_init(&n->io, loop, raft_dir,
			  rft_transport_iface(&n->transport));
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "raft_uv_init %s: %s", raft_dir,
				 raft_strerror(rv));
		rv = CF_EIO;
		goto err_transport;
	}
	/* A corrupt raft segment stops the node for an operator (RAFT.md §4). */
	raft_uv_set_auto_recovery(&n->io, false);
	/*
	 * raft 0.15's raft_uv implements async_work but says version 1, and
	 * raft_init refuses the FSM's snapshot_async on that (rft_ckpt.c).
	 */
	if (n->io.version < 2 && n->io.async_work != NULL)
		n->io.version = 2;
	raft_uv_set_segment_size(&n->io, n->cfg.raft_segment_size);
	raft_uv_set_connect_retry_delay(&n->io, 200);
	rv = raft_init(&n->raft, &n->io, n->raft_fsm, cfg->self,
		       self->raft_addr);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "raft_init: %s", raft_strerror(rv));
		rv = CF_EIO;
		goto err_io;
	}
	rft_fsm_set_raft(n->fsm, &n->raft);
	raft_set_heartbeat_timeout(&n->raft, n->cfg.heartbeat_ms);
	raft_set_election_timeout(&n->raft, n->cfg.election_ms);
	raft_set_pre_vote(&n->raft, true);
	/*
	 * A snapshot here is a few dozen bytes (the store travels by segment
	 * fetch): a leader whose install went unanswered need not wait raft's
	 * default 30 s before it tries again. With 30 s, a wiped follower sat
	 * about 27 s between the end of its fetch and its first entries.
	 */
	raft_set_install_snapshot_timeout(&n->raft, RFT_INSTALL_SNAPSHOT_MS);
	raft_set_snapshot_threshold(&n->raft, n->cfg.snapshot_threshold);
	raft_set_snapshot_trailing(&n->raft, n->cfg.snapshot_trailing);
	n->cur_threshold = n->cfg.snapshot_threshold;
	n->cur_trailing = n->cfg.snapshot_trailing;

	rv = rft_worker_init(&n->worker, loop, WORKER_QUEUE);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "worker thread: %s", cf_strerror(rv));
		goto err_raft;
	}
	rv = rft_marks_init(&n->marks, &n->worker, rft_fsm_store_dir(n->fsm));
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "store folder: %s", cf_strerror(rv));
		rft_worker_close(&n->worker, NULL);
		goto err_raft;
	}
	/* Jobs the store recorded before a stop run again. */
	rft_compact_init(&n->compact, &n->worker, rft__node_store,
			 rft__node_on_switch, n);
	rv = rft_compact_resume(&n->compact);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "compaction jobs: %s",
				 cf_strerror(rv));
		rft_compact_close(&n->compact);
		rft_worker_close(&n->worker, NULL);
		rft_marks_release(&n->marks);
		goto err_raft;
	}
	{
		struct rft_fetch_opts fo = {.store_dir = rft_fsm_store_dir(n->fsm),
					    .worker = &n->worker};

		rv = rft_fetch_create(&n->fetch, loop, &n->peers, &fo, errmsg);
		if (rv != 0) {
			cf_errmsg_wrapf(errmsg, "segment fetch");
			rft_compact_close(&n->compact);
			rft_worker_close(&n->worker, NULL);
			rft_marks_release(&n->marks);
			goto err_raft;
		}
	}
	rv = rft_peer_mgr_init(&n->peers, loop, cfg->cluster, cfg->self,
			       rft__peer_msg_cb, rft__peer_state_cb, n);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "peer links: %s", cf_strerror(rv));
		rft_fetch_close(n->fetch, NULL, NULL);
		n->fetch = NULL;
		rft_compact_close(&n->compact);
		rft_worker_close(&n->worker, NULL);
		rft_marks_release(&n->marks);
		goto err_raft;
	}
	uv_prepare_init(loop, &n->prepare);
	n->prepare.data = n;
	uv_timer_init(loop, &n->tick);
	n->tick.data = n;
	rft__nudge_init(n, loop);
	return 0;

err_raft:
	/* raft_init without raft_start: raft_close is still required. */
	rv = rv != 0 ? rv : CF_EIO;
err_io:
	raft_uv_close(&n->io);
err_transport:
	rft_transport_close(&n->transport);
err_fsm:
	rft_fsm_close(n->fsm);
	n->fsm = NULL;
	rft__node_unbegin(n);
	assert(rv != 0);
	return rv;
}

int rft_node_init(struct rft_node *n, uv_loop_t *loop,
		  const struct rft_node_config *cfg, char *errmsg)
{
	struct rft_fsm_config fc;
	char store_dir[RFT_NODE_DIR_MAX];
	int rv;

	rv = rft__node_begin(n, loop, cfg, &fc, store_dir, errmsg);
	if (rv != 0)
		return rv;
	rv = rft_fsm_open(&n->fsm, &fc, errmsg);
	if (rv != 0) {
		cf_errmsg_wrapf(errmsg, "store %s", store_dir);
		rft__node_unbegin(n);
		return rv;
	}
	return rft__node_finish(n, errmsg);
}

int rft_node_start(struct rft_node *n, char *errmsg)
{
	struct raft_configuration conf;
	int rv;

	raft_configuration_init(&conf);
	for (unsigned i = 0; i < n->cfg.cluster->n_nodes; i++) {
		const struct cf_node_conf *nc = &n->cfg.cluster->nodes[i];
		rv = raft_configuration_add(&conf, nc->id, nc->raft_addr,
					    RAFT_VOTER);
		if (rv != 0) {
			raft_configuration_close(&conf);
			cf_errmsg_printf(errmsg, "configuration: %s",
					 raft_strerror(rv));
			return CF_EBADREQ;
		}
	}
	rv = raft_bootstrap(&n->raft, &conf);
	raft_configuration_close(&conf);
	if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
		cf_errmsg_printf(errmsg, "bootstrap: %s", raft_strerror(rv));
		return CF_EIO;
	}
	rv = raft_start(&n->raft);
	if (rv != 0) {
		/* raft 0.15 often says only "I/O error": name what it binds. */
		const struct cf_node_conf *me =
			cf_cluster_node(n->cfg.cluster, n->cfg.self);

		cf_errmsg_printf(errmsg,
				 "raft_start on %s: %s%s%s (is the address in "
				 "use, or not on this host?)",
				 me != NULL ? me->raft_addr : "?",
				 raft_strerror(rv),
				 raft_errmsg(&n->raft)[0] ? ": " : "",
				 raft_errmsg(&n->raft));
		return CF_EIO;
	}
	cf_info("raft started: last index %llu, applied %llu, store applied "
		"%llu",
		(unsigned long long)raft_last_index(&n->raft),
		(unsigned long long)raft_last_applied(&n->raft),
		(unsigned long long)rft_fsm_applied(n->fsm));
	/* What raft_uv leaves here from now on is a failed write. */
	n->io.errmsg[0] = '\0';
	rv = rft_peer_mgr_start(&n->peers);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "peer links: %s", cf_strerror(rv));
		return rv;
	}
	rft__disk_start(n);
	uv_prepare_start(&n->prepare, node_prepare_cb);
	uv_timer_start(&n->tick, node_tick_cb, TICK_MS, TICK_MS);
	n->checkpoint_at = now_ms();
	return 0;
}

/* ---- close ---- */

static void node_closed_one(struct rft_node *n)
{
	if (--n->pending_closes != 0)
		return;
	/* Requests submitted while closing: nothing runs them any more. */
	rft__fail_all(n);
	/* Every file is closed: another process may open the folder. */
	cf_unlock_dir(n->lock_fd);
	n->lock_fd = -1;
	if (n->close_cb != NULL)
		n->close_cb(n);
}

static void node_handle_closed_cb(uv_handle_t *h)
{
	node_closed_one(h->data);
}

static void node_peers_closed_cb(struct rft_peer_mgr *m)
{
	node_closed_one(m->data);
}

static void node_worker_closed_cb(struct rft_worker *w)
{
	struct rft_node *n = CF_CONTAINER_OF(w, struct rft_node, worker);

	rft_marks_release(&n->marks); /* every hashing job has ended */
	/* The last checkpoint still writes: the store closes after it. */
	if (rft_fsm_checkpoint_busy(n->fsm) || n->ckpt_final) {
		n->close_wait_ckpt = true;
		return;
	}
	node_close_finish(n);
}

/* Every job that used the store has ended: close it, then the links. */
static void node_close_finish(struct rft_node *n)
{
	n->close_wait_ckpt = false;
	rft_fsm_close(n->fsm);
	n->fsm = NULL;
	rft_peer_mgr_close(&n->peers, node_peers_closed_cb);
}

void rft__node_worker_close(struct rft_node *n)
{
	rft_worker_close(&n->worker, node_worker_closed_cb);
}

/*
 * The fetch used the worker and the peer links: they close after it, and
 * after the rebuild that followed it (its end closes the worker then).
 */
static void node_fetch_closed_cb(void *arg)
{
	struct rft_node *n = arg;

	if (rft__node_rebuild_close(n))
		return;
	rft__node_worker_close(n);
}

static void node_disk_closed_cb(struct rft_node *n)
{
	node_closed_one(n);
}

/* Raft is closed and the node closes: everything else, in order. */
static void node_after_raft(struct rft_node *n)
{
	rft_compact_close(&n->compact); /* switch nothing more */
	rft__disk_close(n, node_disk_closed_cb);
	/* The final checkpoint: now, or once the one in flight ended. */
	if (rft_fsm_checkpoint_busy(n->fsm))
		n->ckpt_final = true;
	else
		node_checkpoint(n, false);
	uv_close((uv_handle_t *)&n->prepare, node_handle_closed_cb);
	uv_close((uv_handle_t *)&n->tick, node_handle_closed_cb);
	uv_close((uv_handle_t *)&n->nudge, node_handle_closed_cb);
	/* The fetch borrows the peer manager: it goes first. */
	rft_fetch_close(n->fetch, node_fetch_closed_cb, n);
	n->fetch = NULL;
}

static void node_raft_closed_cb(struct raft *r)
{
	struct rft_node *n = CF_CONTAINER_OF(r, struct rft_node, raft);

	raft_uv_close(&n->io);
	rft_transport_close(&n->transport);
	n->raft_down = true;
	if (n->closing)
		node_after_raft(n);
	else
		rft__disk_raft_down(n); /* halted: the node stays up */
}

void rft_node_close(struct rft_node *n, void (*cb)(struct rft_node *n))
{
	assert(!n->closing);
	n->closing = true;
	n->close_cb = cb;
	/* prepare, tick, nudge, peers, disk watcher */
	n->pending_closes = 5;
	rft__fail_all(n);
	node_checkpoint(n, false);
	if (n->raft_down) {
		node_after_raft(n); /* a halt closed raft already */
		return;
	}
	if (n->raft_closing)
		return; /* a halt is closing raft: its callback goes on */
	if (rft__node_drained(n)) {
		rft__node_raft_close(n);
		return;
	}
	/* node_tick_cb closes raft once drained. */
	n->drain_deadline = now_ms() + CLOSE_DRAIN_MS;
}

void rft__node_raft_close(struct rft_node *n)
{
	assert(!n->raft_closing);
	n->raft_closing = true;
	raft_close(&n->raft, node_raft_closed_cb);
}
