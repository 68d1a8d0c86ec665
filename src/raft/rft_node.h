/*
 * rft_node: a Confab node's Raft side: canonical/raft 0.15 on raft_uv with the
 * TCP_NODELAY transport, the FSM over the segment store, the per-turn
 * batcher, leadership tracking with a barrier after each election, leader
 * forwarding over the peer links, read-index requests, readiness and the
 * periodic checkpoint.
 *
 * Submitting: the frontend calls rft_node_submit() with a validated command.
 * On the leader the command joins this loop turn's batch (one raft_apply per
 * turn, many in flight); on a follower it is forwarded to the leader over the
 * peer link and answered from the leader's reply. While no leader is usable
 * the request waits (and is resubmitted with the same idempotency key after
 * a leadership loss) until its deadline, then completes with CF_EUNAVAIL.
 *
 * Ownership: struct rft_submit and struct rft_read are the caller's and must
 * stay valid until their callback runs; the node copies the command. Each
 * callback runs exactly once, never from inside the submitting call, with
 * CF_ESHUTDOWN if the node closes first.
 * Errors: 0 or a negative code; results carry CF_E* statuses.
 * Threads: loop thread only; rft_node_open runs the store's open (and its
 * hooks) on a thread of libuv's pool, and the rebuild after a segment
 * fetch runs (with its hooks) on the node's worker thread (see
 * cfg.on_rebuilding).
 */
#ifndef RFT_NODE_H
#define RFT_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "common/cf_buf.h"
#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "common/cf_list.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fetch.h"
#include "raft/rft_fsm.h"
#include "raft/rft_mark.h"
#include "raft/rft_compact.h"
#include "raft/rft_disk.h"
#include "raft/rft_worker.h"
#include "raft/rft_peer.h"
#include "raft/rft_transport.h"

/* Peer-link message types used by the node (0-15 belong to rft_peer). */
enum rft_node_msg {
	RFT_MSG_FORWARD = 16,	 /* follower -> leader: encoded command */
	RFT_MSG_RESULT = 17,	 /* leader -> follower: encoded result */
	RFT_MSG_READINDEX = 18,	 /* follower -> leader: ask commit index */
	RFT_MSG_READINDEX_R = 19, /* leader -> follower: u32 status, u64 idx */
	RFT_MSG_USER = 32,	 /* first type free for the frontend */
};

struct rft_node;
struct rft_node_opening;
struct rft_submit;
struct rft_read;

typedef void (*rft_submit_cb)(struct rft_submit *s, int status,
			      const struct rft_result *res);
typedef void (*rft_read_cb)(struct rft_read *r, int status);
/* Frontend hook for peer messages of type >= RFT_MSG_USER. */
typedef void (*rft_node_user_msg_cb)(struct rft_node *n, unsigned from,
				     uint8_t type, uint64_t req_id,
				     const void *body, size_t len);

struct rft_submit {
	void *data;		/* user data */
	/* private */
	struct rft_node *node;
	rft_submit_cb cb;
	struct cf_buf enc;	/* encoded command */
	uint64_t req_id;
	uint64_t deadline;	/* monotonic ms */
	uint64_t t0_ns;		/* submit time, for metrics */
	int state;
	int err;		/* encode failure, reported by the next tick */
	unsigned fwd_to;	/* node forwarded to */
	uint64_t first_index;	/* 1 + last log index at the first try */
	bool resent;		/* tried again after an unknown outcome */
	struct cf_list link;
};

struct rft_read {
	void *data;
	/* private */
	struct rft_node *node;
	rft_read_cb cb;
	uint64_t req_id;
	uint64_t deadline;
	uint64_t index;		/* wait until applied >= index */
	int state;
	unsigned asked;		/* node asked for the read index */
	struct cf_list link;
};

#define RFT_IMAGE_RECORDS_DEFAULT 1000000u
#define RFT_IMAGE_GAP_DEFAULT 30000u

struct rft_node_config {
	const struct cf_cluster *cluster;
	unsigned self;
	const char *data_dir;	    /* DIR/raft and DIR/store */
	unsigned heartbeat_ms;	    /* default 30 */
	unsigned election_ms;	    /* default 1000 */
	unsigned snapshot_threshold; /* default 16384 */
	unsigned snapshot_trailing;  /* default 32768 */
	size_t raft_segment_size;    /* default 16 MiB */
	/*
	 * Bytes of entries raft may hold in memory (default 128 MiB): raft
	 * 0.15 keeps threshold + trailing entries, counted not sized, so the
	 * node lowers both (never below 256 each, never above the values
	 * above) from the mean entry size it applies.
	 */
	uint64_t raft_memory;
	unsigned request_timeout_ms; /* default 5000 */
	/*
	 * The compaction rule, applied by the leader only: a partition with
	 * at least compact_after sealed hot segments no job has taken gets a
	 * compaction of at most compact_segments of them (defaults 4 and 4;
	 * compact_after -1: the default, 0: never by rule).
	 */
	int compact_after;
	unsigned compact_segments;
	/*
	 * State images (rft_node_image.c): write one after this many records
	 * (UINT64_MAX: RFT_IMAGE_RECORDS_DEFAULT; 0: never).
	 */
	uint64_t image_records;
	/* ... and at most one per image_gap_ms (0: RFT_IMAGE_GAP_DEFAULT). */
	uint64_t image_gap_ms;
	rft_fsm_record_cb on_record; /* committed-record tail */
	void *on_record_arg;
	rft_fsm_record_cb on_rebuild; /* records read on open, may be NULL */
	void (*on_rebuilt)(void *arg); /* a rebuild read every record */
	void (*on_reset)(void *arg);  /* before a rebuild after a segment
				       * fetch (on_record_arg), may be NULL */
	/*
	 * May be NULL: the rebuild after a segment fetch (issue 11) runs on
	 * the node's worker thread, with on_reset, on_rebuild and on_rebuilt
	 * called there. on_rebuilding(on_record_arg, true) comes on the loop
	 * before it begins: from then on, until on_rebuilding(arg, false)
	 * (on the loop, after the pending entries were applied or the
	 * rebuild was dropped), the caller must not read what those hooks
	 * write, nor the FSM (see rft_node_rebuilding).
	 */
	void (*on_rebuilding)(void *arg, bool on);
	/* The caller's sections of the state image (rft_fsm.h), may be NULL */
	void (*on_image_write)(void *arg, struct cf_imgw *w);
	int (*on_image_read)(void *arg, struct cf_imgr *r);
	rft_node_user_msg_cb on_user_msg;
	void *data;
	/*
	 * Full disks (issue 11; rft_disk.h): the watermark (min_free bytes,
	 * or min_free_pct percent of the file system, 0 and 0: the default),
	 * the ballast's bytes (-1: the computed default, 0: none).
	 */
	uint64_t min_free;
	unsigned min_free_pct;
	int64_t ballast;
	/*
	 * The node halted after a storage failure (see "Storage failures"
	 * below) and its raft side is closed: status 0 once free space came
	 * back (close the node and run it again: the process re-execs), or the
	 * error (close the node and exit non-zero). May be NULL.
	 */
	void (*on_halt)(struct rft_node *n, int status);
	/*
	 * Test only (confabd --test-start-hold): rft_node_open's work waits,
	 * in the thread pool, while this file exists (or until cancelled),
	 * before it opens the store. NULL: no wait.
	 */
	const char *test_start_hold;
	/*
	 * Test only (confabd --test-fetch-hold): the rebuild after a segment
	 * fetch waits, on the worker thread, while this file exists (or until
	 * the node closes), before it begins. NULL: no wait.
	 */
	const char *test_fetch_hold;
};

struct rft_node_stats {
	uint64_t entries_proposed;
	uint64_t commands_proposed;
	uint64_t forwarded;
	uint64_t nudges; /* barriers appended after a burst (rft_node_nudge.c) */
};

struct rft_node {
	void *data;
	uv_loop_t *loop;
	struct rft_node_config cfg;
	struct raft raft;
	struct raft_io io;
	struct rft_transport transport;
	struct raft_fsm *raft_fsm;
	struct rft_fsm *fsm;
	int lock_fd; /* flock on DATA/LOCK (cf_lock.h) until closed */
	struct rft_worker worker; /* long jobs: segment fetch reads, hashes */
	struct rft_marks marks;	  /* verify markers applied here */
	struct rft_compact compact; /* compaction jobs on the worker */
	bool compacted;		  /* a job switched: checkpoint now */
	uint64_t image_switches;  /* compactions when the last image began */
	/*
	 * Erasure from raft's log after a compaction dropped content:
	 * snapshots with threshold 1 and trailing 1 (the first closes the open
	 * segment, a later one deletes the closed segments), an entry asked
	 * of the leader (a no-op) whenever none comes, until at least two
	 * snapshots were taken, no closed segment file under DATA/raft
	 * starts at or below erase_index and no open-N segment that existed
	 * at the start (N <= erase_open) is left. Raft deletes whole segment files
	 * only: a segment that also holds newer entries stays until a
	 * snapshot passes its end. 0 idle, else snapshots still needed.
	 */
	unsigned erase_left;
	uint64_t erase_index;	  /* highest entry that carried erased content */
	unsigned long long erase_open; /* highest open-N segment at the start */
	uint64_t erase_snaps;	  /* rft_fsm_stats.snapshots at the last step */
	uint64_t erase_next_ms;	  /* when to ask for another no-op entry */
	bool erase_inflight;	  /* erase_sub submitted, not answered */
	struct rft_submit erase_sub;
	/* The compaction rule (leader): one proposal at a time. */
	bool rule_inflight;
	unsigned rule_next_part;  /* round robin over partitions */
	uint64_t rule_next_ms;
	struct rft_submit rule_sub;
	struct rft_peer_mgr peers;
	uv_prepare_t prepare;
	uv_timer_t tick;
	uv_timer_t nudge; /* rft_node_nudge.c */
	struct raft_barrier nudge_barrier;
	bool nudge_pending;
	uv_check_t check;
	uint64_t next_req_id;
	int last_state;
	raft_term last_term;
	unsigned known_leader; /* the last leader seen (0: none yet) */
	bool barrier_done;
	bool barrier_pending;
	struct raft_barrier barrier;
	uint64_t ready_index;	/* the leader's commit index when ready */
	struct rft_read ready_rd; /* read index asked to become ready */
	bool ready_asking;
	bool ready;
	uint64_t last_checkpoint; /* index of the last durable checkpoint */
	uint64_t checkpoint_at; /* monotonic ms of the last one started */
	bool ckpt_final;	/* closing: checkpoint again once idle */
	bool close_wait_ckpt;	/* closing: the store waits for the job */
	struct cf_list waiting;	  /* rft_submit waiting for a leader */
	struct cf_list queued;	  /* leader: items to propose this turn */
	struct cf_list forwarded; /* rft_submit sent to the leader */
	struct cf_list reads;	  /* rft_read in any state */
	unsigned n_queued;
	size_t queued_bytes;	  /* encoded size of the queued commands */
	struct rft_node_stats stats;
	struct rft_fetch *fetch;  /* segment fetch: server, and client when needed */
	uint64_t fetch_next_ms;	  /* monotonic ms of the next fetch attempt */
	uint64_t budget_at_ms;	  /* last look at the raft memory budget */
	unsigned cur_threshold;	  /* snapshot threshold / trailing in force */
	unsigned cur_trailing;
	unsigned fetch_peer;	  /* the peer of the last attempt */
	bool closing;
	bool raft_closing;	 /* raft_close() called */
	unsigned n_inflight;	 /* raft_apply() calls not called back yet */
	uint64_t drain_deadline; /* monotonic ms: close raft by then */
	int pending_closes;
	void (*close_cb)(struct rft_node *n);
	/* Full disks and storage failures (rft_node_disk.c). */
	struct rft_disk disk;
	bool disk_on;		 /* disk initialised */
	int halt_err;		 /* 0, or the failure that halted the node */
	char halt_msg[CF_ERRMSG_SIZE];
	uint64_t halt_deadline;	 /* monotonic ms: close raft by then */
	bool transfer_pending;	 /* raft_transfer before raft_close */
	struct raft_transfer transfer;
	bool raft_down;		 /* raft closed, the node still up */
	bool halt_reported;	 /* cfg.on_halt called */
	void (*disk_done)(struct rft_node *n); /* the watcher closed */
	char disk_why[160];	 /* readiness reason */
	struct rft_node_opening *opening; /* rft_node_open in progress */
	/* The rebuild after a segment fetch, a job on the worker (issue 11;
	 * rft_node_fetch.c). */
	struct rft_worker_job rebuild_job;
	bool rebuilding;	 /* submitted, its done() not yet called */
	bool close_wait_rebuild; /* closing: the worker closes after it */
	int rebuild_cancel;	 /* atomic: the node closes (ends a hold) */
	int rebuild_rv;		 /* written by the job, read by done() */
	uint64_t rebuild_ms;
	char rebuild_errmsg[CF_ERRMSG_SIZE];
	uint64_t rebuild_store_at; /* the fetched checkpoint's index */
	uint64_t rebuild_bytes;	   /* fetched in all (for the log) */
};

/* The disk side of a node, for /metrics and /readyz. */
struct rft_node_disk_info {
	bool measured;
	uint64_t free;	    /* bytes available in the data folder */
	uint64_t total;
	uint64_t watermark; /* --min-free in bytes */
	bool low;	    /* free below the watermark */
	bool degraded;	    /* read-only after ENOSPC (or halted by EIO) */
	bool refusing;	    /* this node answers writes with 507 now */
	bool ballast;	    /* the ballast file is held */
};

/*
 * Set up the node: take the data folder's lock, open the store and rebuild
 * its state (which may read every record), init raft and the peer links.
 * Synchronous: the loop waits for the whole open.
 */
int rft_node_init(struct rft_node *n, uv_loop_t *loop,
		  const struct rft_node_config *cfg, char *errmsg);
/*
 * The same with the store's open and rebuild in libuv's thread pool (issue
 * 11: a node serves /healthz while it starts): the folder and the lock are
 * taken now (an error returns here, nothing to undo), then the open runs
 * off the loop, then, on the loop, the rest of rft_node_init and cb(n, 0,
 * "") or cb(n, err, errmsg) with everything released again. cb is called
 * exactly once, never from inside this call. Meanwhile the node must not
 * be used (no rft_node_* call but rft_node_open_cancel), and the store's
 * hooks (cfg.on_rebuild, on_rebuilt, on_reset, on_image_read) run on the
 * pool's thread: what they write must not be read by the loop until cb.
 */
typedef void (*rft_node_open_cb)(struct rft_node *n, int status,
				 const char *errmsg);
int rft_node_open(struct rft_node *n, uv_loop_t *loop,
		  const struct rft_node_config *cfg, rft_node_open_cb cb,
		  char *errmsg);
/* True between rft_node_open and its callback. */
bool rft_node_opening(const struct rft_node *n);
/*
 * Stop an rft_node_open in progress: the open is dropped if it has not
 * begun, a test hold ends, a running open is waited for (the store's
 * rebuild cannot stop half-way); then everything is released and cb gets
 * CF_ECANCELED. A no-op once cb ran.
 */
void rft_node_open_cancel(struct rft_node *n);
/* Bootstrap (if new), start raft and the peer links. */
int rft_node_start(struct rft_node *n, char *errmsg);
/*
 * Fail queued requests, checkpoint, wait (at most 2 s) for the entries
 * already proposed and raft's disk writes, close raft and every handle;
 * cb last.
 */
void rft_node_close(struct rft_node *n, void (*cb)(struct rft_node *n));

/* Submit a command (its origin and req_id are set by the node). */
void rft_node_submit(struct rft_node *n, struct rft_submit *s,
		     const struct rft_cmd *cmd, rft_submit_cb cb);
/* Wait until this node has applied the leader's commit index as of now. */
void rft_node_read_index(struct rft_node *n, struct rft_read *r,
			 rft_read_cb cb);
/* Wait until this node has applied index (e.g. a forwarded result's). */
void rft_node_wait_applied(struct rft_node *n, struct rft_read *r,
			   uint64_t index, rft_read_cb cb);
/* Send a frontend message to a peer (CF_EUNAVAIL if the link is down). */
int rft_node_send_user(struct rft_node *n, unsigned to, uint8_t type,
		       uint64_t req_id, const void *body, size_t len);

/*
 * Storage failures (issue 11). Below the watermark the leader refuses
 * writes (client commands: CF_ENOSPACE, 507), as does any node that sees a
 * majority of the voters low (peers report their disk on the peer links).
 * A node that hits ENOSPC (or whose free space falls below one raft
 * segment, where raft 0.15 would fail its next segment and stop writing
 * for good) halts: the FSM applies nothing more, the ballast is released,
 * a leader transfers leadership, raft is closed, and the node stays up
 * read-only (reads from what it applied, writes CF_ENOSPACE, /readyz
 * says why) until free space is back, then cfg.on_halt(n, 0). Any other
 * storage error halts it the same way, then cfg.on_halt(n, err).
 */
void rft_node_disk_info(const struct rft_node *n,
			struct rft_node_disk_info *out);

/*
 * True while the worker rebuilds the state from fetched segments (issue
 * 11): from cfg.on_rebuilding(arg, true) to (arg, false). Meanwhile the
 * FSM and what the rebuild hooks write belong to the worker: the caller
 * refuses what would read them (rft_fsm.h: the FSM's getters find nothing
 * then, as a backstop), read-index requests wait, the node is not ready.
 */
bool rft_node_rebuilding(const struct rft_node *n);

/* Introspection for /v1/cluster, /readyz and /metrics. */
const char *rft_node_role(const struct rft_node *n);
unsigned rft_node_leader_id(const struct rft_node *n);
bool rft_node_is_ready(const struct rft_node *n, const char **why);
bool rft_node_peer_up(const struct rft_node *n, unsigned id);
struct rft_fsm *rft_node_fsm(struct rft_node *n);

#endif
