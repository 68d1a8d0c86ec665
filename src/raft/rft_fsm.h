/*
 * rft_fsm: the replicated state machine over the segment store.
 *
 * State: conversations (type, owner, title, members, lastSeq, each
 * member's receipt pointers, the recalled seqs), the
 * pair -> direct conversation map, the c_<n> counter, the idempotency window
 * (conversation, sender, clientMsgId) -> (seq, messageId, serverTs), and the
 * entry clock. All of it is rebuilt from segment records on open, so every
 * node holds the same state after applying the same entries.
 *
 * Apply (DESIGN.md "The replicated log"), on every node in log order: skip an
 * entry at or below the store's appliedIndex; decode; for each command check
 * membership and the idempotency key, assign seqs, build records; append them
 * all, commit, then publish each record to the on_record hook. A refused
 * command yields an error result and changes nothing. Apply never returns
 * non-zero to raft: an I/O error or a broken invariant logs why and exits the
 * process (better down than divergent). Apply never reads the local clock or
 * local config: time rules use max(serverTs, previous entry's), where the
 * previous entry is the last one that wrote records (so that the clock is
 * exactly the highest record ts after a rebuild). An entry at or below the
 * applied index is skipped and leaves no results (n = 0). Record bodies are
 * specified in rft_rec.h; media references reach on_record with conv NULL.
 * After a restore from a snapshot ahead of the local store, needs_fetch is
 * set: entries are not applied but kept in a pending file (STORE.pending,
 * not synced: after a crash raft replays them again, since snapshots are
 * refused meanwhile), checkpoints and snapshots are refused, and the node
 * fetches segments from a peer (rft_fetch); rft_fsm_rebuild_*() then
 * rebuild the state from the fetched store (off the loop) and apply the
 * pending entries.
 *
 * Ownership: the FSM owns the store it opens and its state. Pointers to
 * conversations stay valid until the next apply. Results of the last applied
 * entry stay valid until the next apply (the leader's apply callback, which
 * raft 0.15 fires right after fsm->apply, reads them).
 * Errors: 0, -errno, CF_E*. Threads: loop thread only, except the
 * checkpoint job's disk work (libuv's thread pool: rft_ckpt.c), which
 * touches only what it captured, and rft_fsm_open, which may run on another
 * thread (rft_node_open: the pool) and calls its hooks there; the FSM is
 * the loop's once it returned; and rft_fsm_rebuild_run (see there).
 */
#ifndef RFT_FSM_H
#define RFT_FSM_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <uv.h>

#include "common/cf_buf.h"
#include "common/cf_img.h"
#include "log/log_record.h"
#include "log/log_store.h"
#include "raft/rft_cmd.h"

struct rft_fsm;

struct rft_conv {
	char *id;
	uint8_t type; /* enum rft_conv_type */
	char *owner;  /* creator (groups: the owner) */
	char *title;  /* "" if none */
	char **members; /* sorted, n_members entries */
	unsigned n_members;
	uint64_t created_at;	  /* entry clock at creation */
	uint64_t created_msg_id;  /* messageId of the creation record */
	uint64_t last_seq;	  /* highest message seq */
	uint64_t last_item_id;	  /* messageId of its latest item */
};

/*
 * Called after an entry's records are committed to the store, in order.
 * conv is the conversation after the entry, except its members: those as
 * of the record (a later command of the same entry may have changed them).
 */
typedef void (*rft_fsm_record_cb)(void *arg, const struct log_record *rec,
				  const struct rft_conv *conv);

struct rft_fsm_config {
	struct log_store_opts store; /* where and how to open the store */
	struct raft *raft;	     /* may be set later: rft_fsm_set_raft */
	rft_fsm_record_cb on_record; /* may be NULL */
	void *on_record_arg;
	/*
	 * May be NULL: called with on_record_arg for every record read while
	 * rebuilding on open, in order, with the state after it (so that
	 * indexes built from the record tail cover the whole store).
	 */
	rft_fsm_record_cb on_rebuild;
	/*
	 * May be NULL: called with on_record_arg just before the state is
	 * rebuilt from a fetched store (rft_fsm_rebuild_run, off the loop
	 * thread as the rebuild hooks are), so that indexes
	 * built from records can start again from nothing.
	 */
	void (*on_reset)(void *arg);
	/*
	 * May be NULL: called with on_record_arg once a rebuild (on open, or
	 * from a fetched store) has read every record, so that what depends
	 * on the whole store (a count over all partitions) is settled then.
	 */
	void (*on_rebuilt)(void *arg);
	/*
	 * May be NULL: write the caller's sections of the state image
	 * (raft/rft_image.h) with on_record_arg. It runs in a forked child
	 * of the node: it may read the caller's state and allocate, but must
	 * not take locks, touch the loop or write to descriptors it owns.
	 */
	void (*on_image_write)(void *arg, struct cf_imgw *w);
	/*
	 * May be NULL: read those sections back, on open, in place of the
	 * records the image covers (on_rebuild then gets the records after
	 * it). 0, or an error: the open then calls on_reset and rebuilds from
	 * every record. Called with on_record_arg.
	 */
	int (*on_image_read)(void *arg, struct cf_imgr *r);
	/*
	 * May be NULL: a verify marker (RFT_CMD_MARK) was applied at index;
	 * called after the entry's records are written, so that the store's
	 * files then are the state every node has at that index.
	 */
	void (*on_mark)(void *arg, uint64_t index, uint64_t mark_id);
	void *on_mark_arg;
	/*
	 * May be NULL (jobs then wait in the store): a compaction command
	 * planned job in the store (log_store.h) after the entry's records
	 * were written; run it and switch it (rft_compact.h). Called with
	 * on_mark_arg.
	 */
	void (*on_compact)(void *arg, struct log_compact *job);
	/*
	 * How long after a message its sender may edit it, by entry clock
	 * (the cluster file's edit-window, the same on every node); 0: no
	 * edits.
	 */
	uint64_t edit_window_ms;
};

/* Open the store and rebuild the state from its records. */
int rft_fsm_open(struct rft_fsm **out, const struct rft_fsm_config *c,
		 char *errmsg);
/*
 * Checkpoint nothing; close the store; free everything. No checkpoint job
 * may be in flight (rft_fsm_checkpoint_busy).
 */
void rft_fsm_close(struct rft_fsm *f);

/* The raft_fsm to pass to raft_init (its data points back at f). */
struct raft_fsm *rft_fsm_raft(struct rft_fsm *f);
void rft_fsm_set_raft(struct rft_fsm *f, struct raft *r);

/*
 * Apply one entry at index (what the raft adapter calls with
 * raft_last_applied(r) + 1). Exposed for tests and replays.
 */
void rft_fsm_apply_entry(struct rft_fsm *f, uint64_t index, const void *buf,
			 size_t len);

/*
 * Storage failures (issue 11). A failed write of the store while applying
 * (a full disk, an I/O error, or no memory for the entry) does not end the
 * process: the entry is unwound to its start (the store's staging aborted;
 * the in-memory state may hold part of it, so the process must restart
 * before it applies again), and the FSM stops: later entries are skipped
 * (raft keeps them in its log, since no snapshot is taken: snapshot and
 * checkpoint are refused), and rft_fsm_failed() returns the error (-ENOSPC,
 * -EDQUOT, -EIO, ...) with a message that names the file. rft_fsm_halt()
 * stops it the same way between entries, for a reason of the caller's.
 */
int rft_fsm_failed(const struct rft_fsm *f, const char **msg);
void rft_fsm_halt(struct rft_fsm *f, int err, const char *why);

/* Results of the last applied entry: n results, one per command. */
const struct rft_result *rft_fsm_results(const struct rft_fsm *f,
					 unsigned *n, uint64_t *index);

/* Highest applied index (skipped replays included). */
uint64_t rft_fsm_applied(const struct rft_fsm *f);
/*
 * Checkpoint the store at the applied index (fsync + manifest) on the
 * calling thread: for tests and tools. -EBUSY while a checkpoint job is in
 * flight; CF_EUNAVAIL while a segment fetch is pending.
 */
int rft_fsm_checkpoint(struct rft_fsm *f, char *errmsg);
/*
 * The checkpoint job (rft_ckpt.c), the one owner of the manifest: start
 * one at the applied index. The state is captured now, on the loop (cheap:
 * log_ckpt.h); the fsyncs and the manifest run in libuv's thread pool; cb
 * follows on the loop with the index and 0, or an error (errmsg says which
 * step; the store may have lost pages: the caller should stop the node).
 * Only then does the store report the new appliedIndex. 0 started, -EBUSY
 * (one is in flight, periodic or raft's snapshot: try later), CF_EUNAVAIL
 * (segment fetch pending), -ENOMEM or -errno (nothing started).
 */
typedef void (*rft_fsm_ckpt_cb)(void *arg, uint64_t index, int status,
				const char *errmsg);
int rft_fsm_checkpoint_start(struct rft_fsm *f, uv_loop_t *loop,
			     rft_fsm_ckpt_cb cb, void *arg);
/* A checkpoint job (periodic or snapshot) is in flight. */
bool rft_fsm_checkpoint_busy(const struct rft_fsm *f);
/* True after a snapshot arrived that is ahead of local state (needs fetch). */
bool rft_fsm_needs_fetch(const struct rft_fsm *f);
/* The appliedIndex a fetched store must reach (the snapshot's), if needed. */
uint64_t rft_fsm_fetch_min(const struct rft_fsm *f);
/* The store folder (what a segment fetch fills). */
const char *rft_fsm_store_dir(const struct rft_fsm *f);
/*
 * The rebuild after a segment fetch installed a checkpoint at applied >=
 * rft_fsm_fetch_min() in the store folder (the open store wrote nothing
 * meanwhile: apply kept the entries it was given in a pending file). It
 * may read every record, so it comes in three steps (issue 11), the long
 * one off the loop:
 *
 * rft_fsm_rebuild_begin (loop): 0, or -EAGAIN while a checkpoint job is in
 * flight, CF_EBADREQ if no fetch is pending. From 0 on, the FSM is
 * rebuilding: apply keeps every entry in the pending file, a restore only
 * raises the snapshot the store must reach, checkpoints and snapshots are
 * refused, and the loop must not read the state: rft_fsm_store() is NULL,
 * rft_fsm_conv() and rft_fsm_user_convs() find nothing, rft_fsm_applied()
 * is the index before the rebuild, rft_fsm_stats() leaves out the dedup
 * window and the image index (a backstop: callers should refuse instead).
 *
 * rft_fsm_rebuild_run (one other thread, e.g. the node's worker): close
 * the store, on_reset, rebuild the state from the new store (on_rebuild
 * for every record, on_rebuilt); touches only the state and the store, the
 * hooks too. 0, or a negative code with errmsg.
 *
 * rft_fsm_rebuild_end (loop, after run; status is run's): the FSM is the
 * loop's again. Then the pending entries past the store's appliedIndex are
 * applied in order (on_record for each). 0; -EAGAIN if a newer snapshot
 * arrived meanwhile (still needs_fetch: fetch again); another negative
 * code with errmsg: the state is then unusable and the caller must stop
 * the node.
 *
 * rft_fsm_rebuild_drop (loop, instead of end): the node closes, or run
 * never ran: the FSM is the loop's again, nothing is replayed and it still
 * needs a fetch (a closing node checkpoints nothing: raft replays at the
 * next start).
 *
 * rft_fsm_fetch_done: the three steps in a row on the calling thread.
 */
int rft_fsm_rebuild_begin(struct rft_fsm *f, char *errmsg);
int rft_fsm_rebuild_run(struct rft_fsm *f, char *errmsg);
int rft_fsm_rebuild_end(struct rft_fsm *f, int status, char *errmsg);
void rft_fsm_rebuild_drop(struct rft_fsm *f);
/* Between rft_fsm_rebuild_begin and _end (or _drop). */
bool rft_fsm_rebuilding(const struct rft_fsm *f);
int rft_fsm_fetch_done(struct rft_fsm *f, char *errmsg);

struct log_store *rft_fsm_store(struct rft_fsm *f);
const struct rft_conv *rft_fsm_conv(const struct rft_fsm *f, struct cf_str id);
bool rft_conv_has_member(const struct rft_conv *c, struct cf_str user);
/*
 * True if user is or ever was a member of c. Refusals tell the two apart:
 * a former member gets 403 (it knows the conversation exists), anyone else
 * 404, as if the conversation did not exist (API.md).
 */
bool rft_conv_was_member(const struct rft_conv *c, struct cf_str user);
/* user's receipt pointers in c (both 0 if it never sent one). */
void rft_conv_receipt(const struct rft_conv *c, struct cf_str user,
		      uint64_t *delivered, uint64_t *read);
/* True if message seq of c was recalled. */
bool rft_conv_recalled(const struct rft_conv *c, uint64_t seq);
/*
 * Edits (issue 13; rft_edit.c says how they are kept). The latest edit of
 * message seq of c, or NULL if it was never edited: one map probe, none
 * while c has no edit. Valid until the next apply.
 */
struct rft_edit {
	uint64_t message_id; /* of the latest LOG_REC_EDIT of the message */
	uint64_t ts;	     /* its entry clock: editedAt */
	struct log_loc loc;  /* where that record lives (log_store_read_at) */
};
const struct rft_edit *rft_conv_edit(const struct rft_conv *c, uint64_t seq);
/*
 * Read e's LOG_REC_EDIT record of c into rec (strings borrow from
 * scratch); rft_rec_message_split/meta read its body.
 */
int rft_fsm_read_edit(struct rft_fsm *f, const struct rft_conv *c,
		      const struct rft_edit *e, struct log_record *rec,
		      struct cf_buf *scratch);
/*
 * An EDIT refused with CF_EFORBIDDEN because the edit window passed (not
 * because the editor is not the sender) says so in its result's seq2.
 */
#define RFT_EDIT_LATE 1u

/* Number of conversations; iterate with rft_fsm_conv_next. */
uint64_t rft_fsm_conv_count(const struct rft_fsm *f);
/* Next conversation (any order) or NULL: size_t it = 0; while ((c = ...)) */
const struct rft_conv *rft_fsm_conv_next(const struct rft_fsm *f, size_t *it);
/* Conversations of user (may be NULL); *n set. Valid until next apply. */
const struct rft_conv *const *rft_fsm_user_convs(const struct rft_fsm *f,
						 struct cf_str user,
						 unsigned *n);

/* Per-entry statistics for the closing-note figures and /metrics. */
/*
 * State images (log/log_image.h; rft_image.c). rft_fsm_image_start forks
 * a child that writes the image of the state now (call it between
 * entries, on the loop: the loop pays the fork): 0, -EBUSY (a child
 * writes one), -EAGAIN (the FSM failed, waits for a fetch, or has nothing
 * since the image in force), or -errno of fork. rft_fsm_image_poll reaps
 * the child without waiting and returns whether one still runs; when it
 * wrote the image, the store names it at its next checkpoint.
 * rft_fsm_image_stop kills and reaps a child (rft_fsm_close does).
 * rft_fsm_image_pending: records applied (or read after the image on open)
 * since the last image began; rft_fsm_image_idle_ms: since the last one
 * ended (0 while one runs).
 */
int rft_fsm_image_start(struct rft_fsm *f);
bool rft_fsm_image_poll(struct rft_fsm *f);
void rft_fsm_image_stop(struct rft_fsm *f);
uint64_t rft_fsm_image_pending(const struct rft_fsm *f);
uint64_t rft_fsm_image_idle_ms(const struct rft_fsm *f);

struct rft_fsm_stats {
	uint64_t entries;  /* entries applied */
	uint64_t entry_bytes; /* their encoded sizes */
	uint64_t commands; /* commands applied */
	uint64_t messages; /* messages committed (not duplicates) */
	uint64_t dedup_hits;
	uint64_t snapshots; /* raft snapshots taken (store checkpointed) */
	uint64_t dedup_keys;  /* keys held by the idempotency window */
	uint64_t dedup_bytes; /* its heap bytes (rft_dedup_bytes) */
	uint64_t images;      /* state images written */
	uint64_t image_fails; /* writers that failed */
	uint64_t image_index; /* the image the store's manifest names */
};
void rft_fsm_stats(const struct rft_fsm *f, struct rft_fsm_stats *st);

#endif
