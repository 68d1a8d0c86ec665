#include "config.h"

/*
 * rft_fsm: open (rebuild the state from the store's records), the raft_fsm
 * adapter, snapshots and queries. Applying an entry is rft_apply.c; the
 * conversation structures are rft_state.c.
 *
 * Snapshot manifest (the raft snapshot of this FSM; the data stays in the
 * segments, DESIGN.md "Snapshot by reference"), 40 bytes, little-endian:
 *
 *   u32 magic 0x4e534643 ("CFSN"), u32 version 1, u64 appliedIndex,
 *   u32 partitions P, u32 reserved 0, u64 entry clock,
 *   u64 XXH3_64bits of the 32 bytes before it
 *
 * Taking a snapshot is a checkpoint of the store at the applied index, run
 * by the checkpoint job (rft_ckpt.c, raft_fsm version 3: captured in
 * snapshot(), made durable in snapshot_async() off the loop, ended in
 * snapshot_finalize()), so the snapshot raft keeps names a durable
 * manifest. Restoring one never fails: at or below the local applied index
 * (raft_start loading its own last snapshot, the common case) it changes
 * nothing; above it, the node lacks segments: rft_fsm_needs_fetch() turns
 * true, apply keeps entries in a pending file instead of applying them (it
 * would diverge), checkpoints and snapshots are refused (they would record
 * an appliedIndex the segments do not hold), and the node is not ready
 * until rft_node has fetched the segments from a peer (rft_fetch) and
 * rft_fsm_fetch_done() (rft_fsm_fetch.c) rebuilt the state.
 */

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "log/log_image.h"
#include "raft/rft_fsm_int.h"
#include "raft/rft_rec.h"

#define SNAP_MAGIC 0x4e534643u
#define SNAP_VERSION 1u
#define SNAP_SIZE RFT_SNAP_SIZE

/* --- rebuild --- */

/* Walk an id list into f->ids (grown as needed); *n set. */
static int ids_from_list(struct rft_fsm *f, struct cf_str list, unsigned *n)
{
	unsigned want = rft_idlist_count(list), k = 0;
	struct cf_str id;
	size_t pos = 0;

	if (want > f->ids_cap) {
		struct cf_str *v = realloc(f->ids, want * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		f->ids = v;
		f->ids_cap = want;
	}
	while (k < want && rft_idlist_next(list, &pos, &id))
		f->ids[k++] = id;
	if (k != want)
		return CF_ECORRUPT;
	*n = k;
	return 0;
}

static int scan_conv(struct rft_fsm *f, const struct log_record *rec)
{
	struct rft_rec_conv b;
	struct rft_conv_st *c;
	unsigned n, k;
	int rv;

	rv = rft_rec_conv_decode(rec->body, &b);
	if (rv != 0)
		return rv;
	if (rft__conv_find(f, rec->conv) != NULL)
		return CF_ECORRUPT;
	rv = ids_from_list(f, b.members, &n);
	if (rv != 0)
		return rv;
	for (k = 1; k < n; k++)
		if (rft__id_cmp(f->ids[k - 1], f->ids[k]) >= 0)
			return CF_ECORRUPT;
	return rft__conv_create(f, rec->conv, b.type, b.owner, b.title, f->ids,
				n, rec->ts, rec->message_id, &c);
}

static int scan_members(struct rft_fsm *f, struct rft_conv_st *c,
			const struct log_record *rec)
{
	struct rft_rec_members m;
	unsigned n, k;
	int rv;

	rv = rft_rec_members_decode(rec->body, &m);
	if (rv == 0)
		rv = ids_from_list(f, m.added, &n);
	for (k = 0; rv == 0 && k < n; k++)
		rv = rft__member_add(f, c, f->ids[k]);
	if (rv == 0)
		rv = ids_from_list(f, m.removed, &n);
	for (k = 0; rv == 0 && k < n; k++)
		rv = rft__member_remove(f, c, f->ids[k]);
	return rv;
}

/* A message's attachment: its conversation now has the blob. */
static int scan_attachment(struct rft_fsm *f, struct rft_conv_st *c,
			   const struct log_record *rec)
{
	struct cf_str content, att, id;
	char buf[CF_ID_MAX + 1];

	if (rft_rec_message_split(rec, &content, &att) != 0 || att.len == 0)
		return 0;
	if (rft__media_attachment_id(att, &id, buf) != 0)
		return 0; /* as apply, which stored it: no blob named */
	return rft__media_attached(f, id, c);
}

static int scan_rec_state(struct rft_fsm *f, const struct log_record *rec)
{
	struct rft_conv_st *c = NULL;
	struct rft_rec_receipt rr;
	struct rft_receipt *r;
	int rv = 0;

	if (rec->ts > f->clock)
		f->clock = rec->ts;
	if (rec->kind == LOG_REC_MEDIA)
		return rft__media_uploaded(f, rec->client_msg_id, rec->sender);
	if (rec->kind == LOG_REC_CONV)
		return scan_conv(f, rec);
	c = rft__conv_find(f, rec->conv);
	if (c == NULL)
		return CF_ECORRUPT; /* a record before its conversation */
	if (rec->message_id > c->pub.last_item_id &&
	    rec->kind != LOG_REC_RECEIPT)
		c->pub.last_item_id = rec->message_id;
	switch (rec->kind) {
	case LOG_REC_MESSAGE:
		if (rec->seq != c->pub.last_seq + 1)
			return CF_ECORRUPT;
		c->pub.last_seq = rec->seq;
		if (rec->client_msg_id.len > 0) {
			struct rft_dedup_key k =
				rft_dedup_key(&f->dedup, rec->conv, rec->sender,
					      rec->client_msg_id);

			/* f->clock: the highest ts so far, at most the end's. */
			rv = rft_dedup_add(&f->dedup, &k, rec->seq, rec->ts,
					   f->clock);
		}
		if (rv == 0)
			rv = scan_attachment(f, c, rec);
		break;
	case LOG_REC_MEMBERS:
		rv = scan_members(f, c, rec);
		break;
	case LOG_REC_RECALL:
		rv = rft__recalled_add(c, rec->seq);
		break;
	case LOG_REC_EDIT:
		rv = rft__edit_scan(f, c, rec);
		/* It carries the attachment on, once compaction erased the
		 * message's body (LOG_REC_MSG_EDITED). */
		if (rv == 0)
			rv = scan_attachment(f, c, rec);
		break;
	case LOG_REC_RECEIPT:
		rv = rft_rec_receipt_decode(rec->body, &rr);
		if (rv != 0)
			break;
		r = rft__receipt(c, rec->sender);
		if (r == NULL)
			return -ENOMEM;
		r->delivered = rr.delivered;
		r->read = rr.read;
		break;
	default:
		rv = CF_ECORRUPT;
		break;
	}
	return rv;
}

/* Rebuild one record, then publish it to on_rebuild (state after it). */
int rft__scan_rec(void *arg, const struct log_record *rec)
{
	struct rft_fsm *f = arg;
	struct rft_conv_st *c;
	int rv = scan_rec_state(f, rec);

	f->image_recs++; /* what the next image saves reading again */
	if (rv != 0 || f->on_rebuild == NULL)
		return rv;
	c = rec->kind == LOG_REC_MEDIA ? NULL : rft__conv_find(f, rec->conv);
	f->on_rebuild(f->on_record_arg, rec, c != NULL ? &c->pub : NULL);
	return 0;
}

int rft__fsm_load(struct rft_fsm *f, char *errmsg)
{
	int rv;

	static const struct log_image_ops ops = {rft__image_read,
						 rft__image_reset};

	f->image_recs = 0;
	rv = log_store_open_img(&f->store, &f->store_opts, rft__scan_rec, f,
				&ops, errmsg);
	if (rv != 0) {
		f->store = NULL;
		cf_errmsg_wrapf(errmsg, "fsm: rebuild");
		return rv;
	}
	/* Keys that aged out at the clock leave memory now, as they would have. */
	rft_dedup_expire(&f->dedup, f->clock, SIZE_MAX);
	f->applied = log_store_applied_index(f->store);
	if (f->on_rebuilt != NULL)
		f->on_rebuilt(f->on_record_arg);
	return 0;
}

int rft_fsm_open(struct rft_fsm **out, const struct rft_fsm_config *cfg,
		 char *errmsg)
{
	struct rft_fsm *f;
	int rv;

	errmsg[0] = '\0';
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	cf_map_init(&f->convs);
	cf_map_init(&f->pairs);
	cf_map_init(&f->users);
	cf_map_init(&f->media);
	rft_dedup_init(&f->dedup);
	cf_map_init(&f->edit_keys);
	cf_buf_init(&f->scratch);
	cf_buf_init(&f->read_buf);
	f->raft = cfg->raft;
	f->on_record = cfg->on_record;
	f->on_record_arg = cfg->on_record_arg;
	f->on_rebuild = cfg->on_rebuild;
	f->on_reset = cfg->on_reset;
	f->on_rebuilt = cfg->on_rebuilt;
	f->on_image_write = cfg->on_image_write;
	f->on_image_read = cfg->on_image_read;
	f->on_mark = cfg->on_mark;
	f->on_mark_arg = cfg->on_mark_arg;
	f->on_compact = cfg->on_compact;
	f->partitions = cfg->store.partitions;
	f->rfsm.version = 1;
	f->rfsm.data = f;
	f->pending_fd = -1;
	f->store_opts = cfg->store;
	f->store_dir = strdup(cfg->store.dir);
	f->pending_path = malloc(strlen(cfg->store.dir) + sizeof ".pending");
	if (f->store_dir == NULL || f->pending_path == NULL) {
		rv = -ENOMEM;
		goto err_free;
	}
	strcpy(f->pending_path, cfg->store.dir);
	strcat(f->pending_path, ".pending");
	f->store_opts.dir = f->store_dir;
	f->store_opts.scan_loc = &f->scan_loc;
	f->edit_window_ms = cfg->edit_window_ms;
	/* Entries kept by an earlier run: raft replays them (see header). */
	(void)unlink(f->pending_path);
	rv = rft__fsm_load(f, errmsg);
	if (rv != 0)
		goto err_free;
	*out = f;
	return 0;

err_free:
	rft_fsm_close(f);
	assert(rv != 0);
	return rv;
}

void rft_fsm_close(struct rft_fsm *f)
{
	if (f == NULL)
		return;
	assert(f->ckpt == NULL); /* its work would outlive the store */
	rft_fsm_image_stop(f);
	if (f->store != NULL)
		log_store_close(f->store);
	rft__pending_close(f);
	free(f->store_dir);
	free(f->pending_path);
	rft__state_release(f);
	free(f->results);
	free(f->recalls);
	free(f->recs);
	free(f->rec_convs);
	free(f->rec_snap);
	rft__snaps_free(f);
	free(f->rec_body_off);
	free(f->ids);
	cf_buf_release(&f->scratch);
	cf_buf_release(&f->read_buf);
	free(f);
}

/* --- the raft adapter --- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
		     void **result)
{
	struct rft_fsm *f = fsm->data;

	*result = NULL; /* discarded on followers: never allocate it */
	if (f->raft == NULL) {
		cf_error("fsm: apply without a raft instance");
		abort();
	}
	/* raft 0.15 bumps last_applied after apply returns (RAFT.md §1). */
	rft_fsm_apply_entry(f, raft_last_applied(f->raft) + 1, buf->base,
			    buf->len);
	return 0;
}

void rft__snap_encode(const struct rft_fsm *f, uint8_t *p)
{
	cf_put_u32(p, SNAP_MAGIC);
	cf_put_u32(p + 4, SNAP_VERSION);
	cf_put_u64(p + 8, f->applied);
	cf_put_u32(p + 16, f->partitions);
	cf_put_u32(p + 20, 0);
	cf_put_u64(p + 24, f->clock);
	cf_put_u64(p + 32, XXH3_64bits(p, 32));
}

/* Parse a snapshot manifest; 0 or CF_ECORRUPT / CF_EVERSION. */
static int snap_decode(const void *base, size_t len, uint64_t *applied,
		       unsigned *partitions)
{
	const uint8_t *p = base;

	if (len != SNAP_SIZE || cf_get_u32(p) != SNAP_MAGIC)
		return CF_ECORRUPT;
	if (cf_get_u32(p + 4) != SNAP_VERSION)
		return CF_EVERSION;
	if (cf_get_u64(p + 32) != XXH3_64bits(p, 32))
		return CF_ECORRUPT;
	*applied = cf_get_u64(p + 8);
	*partitions = cf_get_u32(p + 16);
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct rft_fsm *f = fsm->data;
	uint64_t applied = 0;
	unsigned parts = 0;
	int rv;

	rv = snap_decode(buf->base, buf->len, &applied, &parts);
	raft_free(buf->base);
	if (rv != 0) {
		/* Nothing to fetch against: stay down for an operator. */
		cf_error("fsm: restore: snapshot manifest: %s; not ready",
			 cf_strerror(rv));
		f->needs_fetch = true;
		f->fetch_min = UINT64_MAX;
		return 0;
	}
	if (parts != f->partitions)
		cf_error("fsm: restore: snapshot has %u partitions, store %u",
			 parts, f->partitions);
	if (f->rebuilding) {
		/*
		 * The state is the rebuild's (rft_fsm_int.h): f->applied is not
		 * ours to read. As a snapshot ahead: the fetched store must
		 * reach it (rft_fsm_rebuild_end fetches again if not), and raft
		 * hands us the entries after it again.
		 */
		cf_warn("fsm: restore: snapshot at %llu arrived while the state "
			"is rebuilt from fetched segments",
			(unsigned long long)applied);
		goto ahead;
	}
	if (applied <= f->applied && parts == f->partitions) {
		cf_info("fsm: restore: snapshot at %llu, applied %llu: "
			"nothing to do",
			(unsigned long long)applied,
			(unsigned long long)f->applied);
		return 0;
	}
	cf_warn("fsm: restore: snapshot at %llu is ahead of applied %llu: "
		"segments must be fetched; not ready",
		(unsigned long long)applied, (unsigned long long)f->applied);
ahead:
	f->needs_fetch = true;
	/* A state image of the store the fetch replaces: not wanted. */
	rft_fsm_image_stop(f);
	if (applied > f->fetch_min || f->fetch_min == 0)
		f->fetch_min = applied;
	/* Entries before the snapshot are in what the fetch brings. */
	rft__pending_close(f);
	(void)unlink(f->pending_path);
	return 0;
}

struct raft_fsm *rft_fsm_raft(struct rft_fsm *f)
{
	f->rfsm.version = 3;
	f->rfsm.data = f;
	f->rfsm.apply = fsm_apply;
	f->rfsm.snapshot = rft__fsm_snapshot;
	f->rfsm.restore = fsm_restore;
	f->rfsm.snapshot_finalize = rft__fsm_snapshot_finalize;
	f->rfsm.snapshot_async = rft__fsm_snapshot_async;
	return &f->rfsm;
}

void rft_fsm_set_raft(struct rft_fsm *f, struct raft *r)
{
	f->raft = r;
}

/* --- queries --- */

const struct rft_result *rft_fsm_results(const struct rft_fsm *f,
					 unsigned *n, uint64_t *index)
{
	*n = f->n_results;
	if (index != NULL)
		*index = f->results_index;
	return f->results;
}

uint64_t rft_fsm_applied(const struct rft_fsm *f)
{
	if (f->rebuilding)
		return f->rebuild_applied; /* applied is the rebuild's */
	return f->applied;
}

int rft_fsm_failed(const struct rft_fsm *f, const char **msg)
{
	if (msg != NULL)
		*msg = f->fail_msg;
	return f->failed;
}

void rft_fsm_halt(struct rft_fsm *f, int err, const char *why)
{
	assert(err != 0 && !f->fail_armed);
	if (f->failed != 0)
		return;
	f->failed = err;
	snprintf(f->fail_msg, sizeof f->fail_msg, "%s", why);
}

bool rft_fsm_needs_fetch(const struct rft_fsm *f)
{
	return f->needs_fetch;
}

uint64_t rft_fsm_fetch_min(const struct rft_fsm *f)
{
	return f->needs_fetch ? f->fetch_min : 0;
}

const char *rft_fsm_store_dir(const struct rft_fsm *f)
{
	return f->store_dir;
}

struct log_store *rft_fsm_store(struct rft_fsm *f)
{
	return f->rebuilding ? NULL : f->store;
}

const struct rft_conv *rft_fsm_conv(const struct rft_fsm *f, struct cf_str id)
{
	struct rft_conv_st *c = f->rebuilding ? NULL : rft__conv_find(f, id);

	return c != NULL ? &c->pub : NULL;
}

uint64_t rft_fsm_conv_count(const struct rft_fsm *f)
{
	return f->rebuilding ? 0 : f->convs.n;
}

const struct rft_conv *rft_fsm_conv_next(const struct rft_fsm *f, size_t *it)
{
	const struct cf_map_slot *s;

	if (f->rebuilding || !cf_map_next(&f->convs, it, &s))
		return NULL;
	return &((struct rft_conv_st *)s->val)->pub;
}

const struct rft_conv *const *rft_fsm_user_convs(const struct rft_fsm *f,
						 struct cf_str user,
						 unsigned *n)
{
	const struct rft_user *u =
		f->rebuilding ? NULL : cf_map_get(&f->users, user.p, user.len);

	*n = u != NULL ? u->n : 0;
	return u != NULL ? u->v : NULL;
}

void rft_fsm_stats(const struct rft_fsm *f, struct rft_fsm_stats *st)
{
	*st = f->stats;
	st->images = f->images;
	st->image_fails = f->image_fails;
	if (f->rebuilding) {
		/* The window and the store are the rebuild's. */
		st->dedup_keys = st->dedup_bytes = st->image_index = 0;
		return;
	}
	st->dedup_keys = rft_dedup_count(&f->dedup);
	st->dedup_bytes = rft_dedup_bytes(&f->dedup);
	st->image_index =
		f->store != NULL ? log_store_image_index(f->store) : 0;
}
