/*
 * rft_fsm_int: the FSM's private state, shared by its files: rft_fsm.c
 * (open, rebuild, raft adapter, restore, queries), rft_ckpt.c (the
 * checkpoint job and the snapshots), rft_state.c (conversations, members,
 * the user and pair indexes), rft_apply.c (one entry) with
 * rft_apply_cmd.c (its commands) and rft_fsm_fetch.c. Nothing outside the FSM's files includes it.
 *
 * Ownership: struct rft_fsm owns every conversation (struct rft_conv_st,
 * one allocation each, never freed before rft_fsm_close), their strings and
 * arrays, the indexes and the per-entry arrays. Errors: 0, -ENOMEM, CF_E*.
 * Threads: loop thread only, but for the rebuild after a fetch (see
 * rebuilding below) and the open (rft_node_open).
 */
#ifndef RFT_FSM_INT_H
#define RFT_FSM_INT_H

#include <setjmp.h>
#include <sys/types.h>
#include <uv.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_map.h"
#include "log/log_ckpt.h"
#include "raft/rft_dedup.h"
#include "raft/rft_fsm.h"

/* A member's receipt pointers (readSeq <= deliveredSeq <= lastSeq). */
struct rft_receipt {
	uint64_t delivered;
	uint64_t read;
};

struct rft_conv_st {
	struct rft_conv pub; /* first: a struct rft_conv * converts back */
	unsigned members_cap;
	struct cf_map receipts;	   /* user -> struct rft_receipt */
	struct cf_map recalled;	   /* u64 seq (LE bytes) -> the conv itself */
	struct cf_map edited;	   /* u64 seq (LE) -> struct rft_edit (rft_edit.c) */
	char **former;		   /* removed members, sorted (403, not 404) */
	unsigned n_former, former_cap;
};

/* The conversations a user is a member of (unordered). */
struct rft_user {
	const struct rft_conv **v;
	unsigned n, cap;
};

/* A conversation's member list as it was before a change (rft_apply). */
struct rft_members_snap {
	struct rft_members_snap *next;
	char **members;
	unsigned n_members;
};

struct rft_fsm {
	struct log_store *store;
	struct raft *raft;
	struct raft_fsm rfsm;
	rft_fsm_record_cb on_record;
	void *on_record_arg;
	rft_fsm_record_cb on_rebuild;
	unsigned partitions;

	struct cf_map convs; /* id -> struct rft_conv_st */
	struct cf_map pairs; /* "a\0b" (a < b) -> struct rft_conv_st */
	struct cf_map users; /* user -> struct rft_user */
	struct cf_map media; /* mediaId -> struct rft_media (rft_media.c) */
	struct rft_dedup dedup;
	/* Edits (rft_edit.c): clientEditId keys, the window, scan locations. */
	struct cf_map edit_keys;
	size_t edit_keys_swept; /* keys left by the last sweep */
	uint64_t edit_window_ms;
	struct log_loc scan_loc; /* the store writes it while it scans */
	uint64_t counter; /* highest n of a c_<n> id */
	/*
	 * The entry clock: max(serverTs, clock) of the last entry that wrote
	 * records. An entry that writes nothing leaves it alone, so that it
	 * is exactly the highest record ts after a rebuild.
	 */
	uint64_t clock;
	uint64_t applied; /* highest index applied or skipped */
	bool needs_fetch;
	uint64_t fetch_min;	/* snapshot index a fetched store must reach */
	int pending_fd;		/* STORE.pending while needs_fetch, else -1 */
	uint64_t pending_n;	/* entries in it */
	/*
	 * The rebuild after a fetch runs on another thread (rft_fsm.h:
	 * rft_fsm_rebuild_begin .. _end), which then owns the store and the
	 * state (store, the maps, dedup, counter, clock, applied, image_recs).
	 * The loop reads rebuilding first and leaves those alone; it keeps
	 * needs_fetch, fetch_min, the pending file and the results, which the
	 * rebuild never touches. Written on the loop only, before the rebuild
	 * is handed over and after it was handed back (the hand-over orders
	 * the memory); rebuild_applied is f->applied at the begin.
	 */
	bool rebuilding;
	uint64_t rebuild_applied;
	struct log_store_opts store_opts; /* dir points at store_dir */
	char *store_dir;
	char *pending_path;
	void (*on_reset)(void *arg);
	void (*on_rebuilt)(void *arg);
	void (*on_image_write)(void *arg, struct cf_imgw *w);
	int (*on_image_read)(void *arg, struct cf_imgr *r);
	void (*on_mark)(void *arg, uint64_t index, uint64_t mark_id);
	void *on_mark_arg;
	uint64_t marks[4]; /* markers of the entry being applied */
	unsigned n_marks;
	void (*on_compact)(void *arg, struct log_compact *job);
	struct rft_compact_req {
		uint64_t part; /* or RFT_COMPACT_ALL */
		uint32_t count;
		uint8_t flags;
		unsigned pos; /* of the command: its result counts the jobs */
	} compacts[4]; /* compaction commands of the entry being applied */
	unsigned n_compacts;
	struct log_recall *recalls; /* recall list of a compaction */
	size_t recalls_cap;

	/* Results of the last applied entry. */
	struct rft_result *results;
	unsigned n_results, results_cap;
	uint64_t results_index;

	/* Records of the entry being applied (bodies as offsets in scratch). */
	struct log_record *recs;
	struct rft_conv_st **rec_convs;
	size_t *rec_body_off; /* SIZE_MAX: body is not in scratch */
	/*
	 * The members a record is published with when a later command of
	 * the same entry changed them (NULL: the conversation's own, after
	 * the entry); the snapshots are freed once the entry is published.
	 */
	struct rft_members_snap **rec_snap;
	struct rft_members_snap *snaps; /* every snapshot of the entry */
	unsigned n_recs, recs_cap;
	struct cf_buf scratch;
	struct cf_str *ids; /* id lists of the command being applied */
	unsigned ids_cap;
	struct cf_buf read_buf; /* scratch of log_store_read_seq (recall) */

	struct rft_fsm_stats stats;

	/*
	 * State images (rft_image.c): records applied (or read after the
	 * image on open) since the last image, the child writing one (0:
	 * none), the index it writes, when it started, and the counts
	 * for rft_fsm_stats.
	 */
	uint64_t image_recs;
	uint64_t image_recs_began; /* image_recs when the running one began */
	pid_t image_pid;
	uint64_t image_at;
	uint64_t image_t0_ms;
	uint64_t image_last_ms;
	uint64_t images, image_fails;

	/*
	 * A storage failure (full disk, I/O error) stops the FSM: the entry
	 * being applied is unwound to its start (fail_jmp, armed while an
	 * entry applies: the store's staging is aborted, but the in-memory
	 * state may hold part of it), no later entry is applied, no
	 * checkpoint or snapshot is taken, and rft_node reads the failure
	 * (rft_fsm_failed) to degrade or stop the node (issue 11). Raft
	 * replays what was not checkpointed after the process restarts.
	 */
	int failed; /* 0, or the error */
	char fail_msg[CF_ERRMSG_SIZE];
	bool fail_armed;
	jmp_buf fail_jmp;
	/*
	 * The checkpoint job (rft_ckpt.c): the one owner of the manifest.
	 * At most one in flight, taken by the periodic checkpoint or by
	 * raft's snapshot.
	 */
	struct log_ckpt *ckpt;	/* captured, not ended; NULL: idle */
	bool ckpt_snap;		/* raft's snapshot holds it */
	bool ckpt_ran;		/* run returned (status in ckpt_status) */
	int ckpt_status;
	char ckpt_errmsg[CF_ERRMSG_SIZE];
	uv_work_t ckpt_work;
	rft_fsm_ckpt_cb ckpt_cb;
	void *ckpt_arg;
};

static inline struct rft_conv_st *rft__st(const struct rft_conv *c)
{
	return (struct rft_conv_st *)c;
}

/* Bytewise order of ids (shorter first on a common prefix). */
int rft__id_cmp(struct cf_str a, struct cf_str b);
/*
 * Media attachments (rft_media.c): the mediaId of an attachment's JSON
 * (CF_ENOTFOUND: none; CF_EBADREQ: not an object with an id); a blob's
 * uploader (from its record); whether user may attach it (0, CF_ENOTFOUND
 * for an unknown blob, CF_EFORBIDDEN); conversation c attached it.
 */
int rft__media_attachment_id(struct cf_str attachment, struct cf_str *id,
			     char buf[CF_ID_MAX + 1]);
int rft__media_uploaded(struct rft_fsm *f, struct cf_str id,
			struct cf_str uploader);
int rft__media_may_attach(struct rft_fsm *f, struct cf_str id,
			  struct cf_str user);
int rft__media_attached(struct rft_fsm *f, struct cf_str id,
			struct rft_conv_st *c);
/* Free every entry (the map is left empty and usable). */
void rft__media_release(struct rft_fsm *f);
/* Free the member snapshots of the entry being applied (rft_apply.c). */
void rft__snaps_free(struct rft_fsm *f);

/* The entry being applied (rft_apply.c) as its commands see it. */
struct rft_apply {
	struct rft_fsm *f;
	uint64_t index;
	uint64_t clock;
	unsigned pos; /* of the command in the entry */
};

/*
 * A storage or memory failure while applying entry index (rft_apply.c):
 * abort the store's staging, record the error (what, and the file for a
 * commit) and unwind to the start of the entry; exits the process if no
 * entry is being applied. Never returns.
 */
void rft__fatal(struct rft_fsm *f, uint64_t index, const char *what, int rv);
/*
 * Apply one command of the entry (rft_apply_cmd.c): its result status, 0
 * or an error answer (nothing changed); a storage failure is rft__fatal().
 */
int rft__apply_cmd(struct rft_apply *a, const struct rft_cmd *cmd,
		   struct rft_result *res);
struct rft_rec_meta;
/*
 * A SEND's reply and mentions, checked against c (rft_apply_send.c): 0 and
 * *meta (its mentions, the members among cmd's, encoded at the end of
 * list), CF_EBADREQ (replyTo past lastSeq; mentions not sorted, repeated,
 * invalid or too many) or -ENOMEM.
 */
int rft__send_meta(const struct rft_cmd *cmd, const struct rft_conv_st *c,
		   struct cf_buf *list, struct rft_rec_meta *meta);
/* Sort ids and drop repeats; returns the new count. */
unsigned rft__ids_sort_unique(struct cf_str *ids, unsigned n);

/*
 * A new conversation with members (sorted, unique) indexed under every
 * member and, for a direct one, under its pair. The counter follows c_<n>.
 */
int rft__conv_create(struct rft_fsm *f, struct cf_str id, uint8_t type,
		     struct cf_str owner, struct cf_str title,
		     const struct cf_str *members, unsigned n, uint64_t ts,
		     uint64_t message_id, struct rft_conv_st **out);
struct rft_conv_st *rft__conv_find(const struct rft_fsm *f, struct cf_str id);
/* The direct conversation of two users, or NULL. */
struct rft_conv_st *rft__pair_find(const struct rft_fsm *f, struct cf_str a,
				   struct cf_str b);
int rft__member_add(struct rft_fsm *f, struct rft_conv_st *c,
		    struct cf_str user);
/* Remove user (if a member); it becomes a former member. 0 or -ENOMEM. */
int rft__member_remove(struct rft_fsm *f, struct rft_conv_st *c,
		       struct cf_str user);
/* The receipt pointers of user in c, created at zero if missing. */
struct rft_receipt *rft__receipt(struct rft_conv_st *c, struct cf_str user);
/* Mark seq of c recalled (idempotent). */
int rft__recalled_add(struct rft_conv_st *c, uint64_t seq);
/* Free every conversation and index. */
void rft__state_release(struct rft_fsm *f);

/*
 * Edits (rft_edit.c; apply: rft_apply_edit.c). Set the latest edit of seq;
 * free a conversation's map; find a clientEditId key (1 and its answer, or
 * 0) and add one; rebuild from a LOG_REC_EDIT (f->scan_loc says where it
 * lives); the image section; free the keys.
 */
int rft__edit_set(struct rft_conv_st *c, uint64_t seq,
		  const struct rft_edit *e);
void rft__edit_conv_release(struct rft_conv_st *c);
int rft__edit_key_find(const struct rft_fsm *f, struct cf_str conv,
		       struct cf_str user, struct cf_str id, uint64_t clock,
		       uint64_t *seq, uint64_t *message_id, uint64_t *ts);
int rft__edit_key_add(struct rft_fsm *f, struct cf_str conv,
		      struct cf_str user, struct cf_str id, uint64_t seq,
		      uint64_t message_id, uint64_t ts, uint64_t clock);
int rft__edit_scan(struct rft_fsm *f, struct rft_conv_st *c,
		   const struct log_record *rec);
void rft__edit_image_write(const struct rft_fsm *f, struct cf_imgw *w);
int rft__edit_image_read(struct rft_fsm *f, struct cf_imgr *r);
void rft__edit_keys_release(struct rft_fsm *f);
int rft__apply_edit(struct rft_apply *a, const struct rft_cmd *cmd,
		    struct rft_result *res);
/* Helpers of rft_apply_cmd.c that rft_apply_edit.c shares. */
int rft__member_conv(struct rft_apply *a, const struct rft_cmd *cmd,
		     struct rft_conv_st **out);
int rft__ids_take(struct rft_apply *a, struct cf_str list, unsigned *n);
void rft__rec_init(const struct rft_apply *a, struct log_record *rec,
		   uint8_t kind, const struct rft_conv_st *c,
		   struct cf_str sender);
void rft__stage(struct rft_apply *a, const struct log_record *rec,
		struct rft_conv_st *c, size_t body_off);

/* The FSM's sections of the state image (rft_image.c). */
void rft__image_write(void *arg, struct cf_imgw *w);
int rft__image_read(void *arg, struct cf_imgr *r);
/* Forget what rft__image_read loaded (log_image_ops reset). */
void rft__image_reset(void *arg);
/* The media map's part of the FSM's sections (rft_media.c). */
void rft__media_image_write(const struct rft_fsm *f, struct cf_imgw *w);
int rft__media_image_read(struct rft_fsm *f, struct cf_imgr *r);

/* log_store scan callback of a rebuild (rft_fsm.c). */
int rft__scan_rec(void *arg, const struct log_record *rec);
/* Open f->store from f->store_opts and rebuild the state (rft_fsm.c). */
int rft__fsm_load(struct rft_fsm *f, char *errmsg);
/* The 40-byte snapshot manifest of f's state into p (rft_fsm.c). */
void rft__snap_encode(const struct rft_fsm *f, uint8_t *p);
#define RFT_SNAP_SIZE 40u
/* raft_fsm v3 snapshot callbacks (rft_ckpt.c). */
int rft__fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
		      unsigned *n_bufs);
int rft__fsm_snapshot_async(struct raft_fsm *fsm, struct raft_buffer *bufs[],
			    unsigned *n_bufs);
int rft__fsm_snapshot_finalize(struct raft_fsm *fsm,
			       struct raft_buffer *bufs[], unsigned *n_bufs);
/* Keep an entry that arrived while needs_fetch (rft_fsm_fetch.c). */
int rft__pending_add(struct rft_fsm *f, uint64_t index, const void *buf,
		     size_t len);
void rft__pending_close(struct rft_fsm *f);

#endif
