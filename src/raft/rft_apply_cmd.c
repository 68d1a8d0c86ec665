#include "config.h"

/*
 * rft_apply_cmd: the rules of each command of an entry (API.md), applied
 * in order by rft_apply.c (which owns the entry: the staging, the commit,
 * the publication and the all-or-nothing unwinding; see its opening comment
 * and rft_fsm.h for the contract).
 *
 * A command either answers with an error result and changes nothing, or
 * builds its record, stages it (stage: log_store_append copies it) and
 * updates the in-memory state at once, so that later commands of the same
 * entry see it. Any failure after the first change goes to rft__fatal(),
 * which does not return.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "raft/rft_fsm_int.h"
#include "raft/rft_rec.h"

/* Recall by the sender is allowed this long after the message. */
#define RECALL_WINDOW_MS (24ull * 3600 * 1000)
/* Members of a group, bounded by the u16 id lists of the records. */
#define GROUP_MAX 65000u

static uint64_t msg_id(const struct rft_apply *a)
{
	return a->index * 65536u + a->pos;
}

/* Room for the ids of a command: f->ids[0..n). */
static void ids_reserve(struct rft_apply *a, unsigned n)
{
	struct rft_fsm *f = a->f;
	struct cf_str *v;

	if (n <= f->ids_cap)
		return;
	v = realloc(f->ids, n * sizeof(*v));
	if (v == NULL)
		rft__fatal(f, a->index, "ids", -ENOMEM);
	f->ids = v;
	f->ids_cap = n;
}

/*
 * Append the valid ids of list to f->ids from *n on. CF_EBADREQ if one is
 * not a valid id.
 */
static int ids_take(struct rft_apply *a, struct cf_str list, unsigned *n)
{
	struct cf_str id;
	size_t pos = 0;

	ids_reserve(a, *n + rft_idlist_count(list) + 1);
	while (rft_idlist_next(list, &pos, &id)) {
		if (!cf_id_valid(id.p, id.len))
			return CF_EBADREQ;
		a->f->ids[(*n)++] = id;
	}
	return 0;
}

/*
 * Stage rec, remembering it for on_record. body_off is where its body sits
 * in f->scratch (which may move before the entry ends), or SIZE_MAX.
 */
static void stage(struct rft_apply *a, const struct log_record *rec,
		  struct rft_conv_st *c, size_t body_off)
{
	struct rft_fsm *f = a->f;
	int rv;

	if (f->n_recs == f->recs_cap) {
		unsigned cap = f->recs_cap != 0 ? f->recs_cap * 2 : 64;
		void *p;

		p = realloc(f->recs, cap * sizeof(*f->recs));
		if (p == NULL)
			rft__fatal(f, a->index, "records", -ENOMEM);
		f->recs = p;
		p = realloc(f->rec_convs, cap * sizeof(*f->rec_convs));
		if (p == NULL)
			rft__fatal(f, a->index, "records", -ENOMEM);
		f->rec_convs = p;
		p = realloc(f->rec_body_off, cap * sizeof(*f->rec_body_off));
		if (p == NULL)
			rft__fatal(f, a->index, "records", -ENOMEM);
		f->rec_body_off = p;
		p = realloc(f->rec_snap, cap * sizeof(*f->rec_snap));
		if (p == NULL)
			rft__fatal(f, a->index, "records", -ENOMEM);
		f->rec_snap = p;
		f->recs_cap = cap;
	}
	rv = log_store_append(f->store, rec);
	if (rv != 0)
		rft__fatal(f, a->index, "append", rv);
	f->recs[f->n_recs] = *rec;
	f->rec_convs[f->n_recs] = c;
	f->rec_body_off[f->n_recs] = body_off;
	f->rec_snap[f->n_recs] = NULL;
	f->n_recs++;
}

/*
 * Before c's members change: the records of this entry already staged for
 * c keep the members they were made under (a message sent before a member
 * was removed in the same entry still reaches that member; one sent before
 * an add does not reach the newcomer). Fan-out and the inbox index read
 * the members a record is published with.
 */
static void snapshot_members(struct rft_apply *a, struct rft_conv_st *c)
{
	struct rft_fsm *f = a->f;
	struct rft_members_snap *snap = NULL;

	for (unsigned i = 0; i < f->n_recs; i++) {
		if (f->rec_convs[i] != c || f->rec_snap[i] != NULL)
			continue;
		if (snap == NULL) {
			snap = calloc(1, sizeof(*snap));
			if (snap == NULL)
				rft__fatal(f, a->index, "members", -ENOMEM);
			snap->next = f->snaps;
			f->snaps = snap;
			snap->members = calloc(c->pub.n_members + 1,
					       sizeof(char *));
			if (snap->members == NULL)
				rft__fatal(f, a->index, "members", -ENOMEM);
			for (unsigned k = 0; k < c->pub.n_members; k++) {
				snap->members[k] = strdup(c->pub.members[k]);
				if (snap->members[k] == NULL)
					rft__fatal(f, a->index, "members",
						   -ENOMEM);
				snap->n_members = k + 1;
			}
		}
		f->rec_snap[i] = snap;
	}
}

static void rec_init(const struct rft_apply *a, struct log_record *rec,
		     uint8_t kind, const struct rft_conv_st *c,
		     struct cf_str sender)
{
	memset(rec, 0, sizeof(*rec));
	rec->kind = kind;
	rec->raft_index = a->index;
	rec->message_id = msg_id(a);
	rec->ts = a->clock;
	if (c != NULL)
		rec->conv = cf_str_c(c->pub.id);
	rec->sender = sender;
}

static struct cf_str scratch_span(const struct rft_fsm *f, size_t off)
{
	struct cf_str s = {f->scratch.data + off, f->scratch.len - off};

	return s;
}

/* Answer with an existing conversation (a repeated create). */
static void found_conv(struct rft_result *res, const struct rft_conv_st *c)
{
	res->created = false;
	res->message_id = c->pub.created_msg_id;
	res->server_ts = c->pub.created_at;
	res->seq = c->pub.last_seq;
	snprintf(res->conv, sizeof(res->conv), "%s", c->pub.id);
}

static bool same_members(const struct rft_conv_st *c, const struct cf_str *ids,
			 unsigned n)
{
	unsigned k;

	if (c->pub.n_members != n)
		return false;
	for (k = 0; k < n; k++)
		if (!cf_str_eqc(ids[k], c->pub.members[k]))
			return false;
	return true;
}

static int do_create(struct rft_apply *a, const struct rft_cmd *cmd,
		     struct rft_result *res)
{
	struct rft_fsm *f = a->f;
	struct rft_conv_st *c;
	struct log_record rec;
	struct cf_str id = cmd->conv;
	char idbuf[32];
	unsigned n = 0;
	size_t off;
	int rv;

	if (!cf_id_valid(cmd->user.p, cmd->user.len))
		return CF_EBADREQ;
	rv = ids_take(a, cmd->members, &n);
	if (rv != 0)
		return rv;
	f->ids[n++] = cmd->user; /* the caller is always a member */
	n = rft__ids_sort_unique(f->ids, n);
	if (cmd->conv_type == RFT_CONV_DIRECT) {
		struct cf_str other;

		if (cmd->conv.len != 0 || n != 2)
			return CF_EBADREQ;
		other = cf_str_eq(f->ids[0], cmd->user) ? f->ids[1] : f->ids[0];
		c = rft__pair_find(f, cmd->user, other);
		if (c != NULL) {
			found_conv(res, c);
			return 0;
		}
	} else if (cmd->conv_type == RFT_CONV_GROUP) {
		if (n > GROUP_MAX)
			return CF_ETOOBIG;
		if (id.len != 0) {
			bool keyed = rft_keyed_conv_id_valid(id);

			if (!cf_id_valid(id.p, id.len) ||
			    (id.len >= 2 && memcmp(id.p, "c_", 2) == 0 &&
			     !keyed))
				return CF_EBADREQ;
			c = rft__conv_find(f, id);
			if (c != NULL) {
				/* A retried keyed create answers the group
				 * made by the first, whatever its members
				 * have become since. */
				if (c->pub.type != RFT_CONV_GROUP ||
				    !cf_str_eqc(cmd->user, c->pub.owner) ||
				    (!keyed && !same_members(c, f->ids, n)))
					return CF_ECONFLICT;
				found_conv(res, c);
				return 0;
			}
		}
	} else {
		return CF_EBADREQ;
	}
	if (id.len == 0) {
		snprintf(idbuf, sizeof(idbuf), "c_%" PRIu64, f->counter + 1);
		id = cf_str_c(idbuf);
		if (rft__conv_find(f, id) != NULL) {
			cf_error("fsm: counter %" PRIu64 " already taken",
				 f->counter + 1);
			abort(); /* broken invariant: counter_follow */
		}
	}
	off = f->scratch.len;
	rv = rft_rec_conv_encode(&f->scratch, cmd->conv_type, cmd->user,
				 cmd->title, f->ids, n);
	if (rv == CF_ETOOBIG)
		return rv; /* a title over 64 KiB */
	if (rv != 0)
		rft__fatal(f, a->index, "create", rv);
	rv = rft__conv_create(f, id, cmd->conv_type, cmd->user, cmd->title,
			      f->ids, n, a->clock, msg_id(a), &c);
	if (rv != 0)
		rft__fatal(f, a->index, "create", rv);
	rec_init(a, &rec, LOG_REC_CONV, c, cmd->user);
	rec.body = scratch_span(f, off);
	stage(a, &rec, c, off);
	res->created = true;
	res->message_id = msg_id(a);
	res->server_ts = a->clock;
	snprintf(res->conv, sizeof(res->conv), "%s", c->pub.id);
	return 0;
}

/* The conversation of cmd, if it exists and the caller is a member. */
static int member_conv(struct rft_apply *a, const struct rft_cmd *cmd,
		       struct rft_conv_st **out)
{
	struct rft_conv_st *c;

	if (cmd->conv.len == 0 || !cf_id_valid(cmd->user.p, cmd->user.len))
		return CF_EBADREQ;
	c = rft__conv_find(a->f, cmd->conv);
	if (c == NULL)
		return CF_ENOTFOUND;
	if (!rft_conv_has_member(&c->pub, cmd->user))
		return rft_conv_was_member(&c->pub, cmd->user) ? CF_EFORBIDDEN
							       : CF_ENOTFOUND;
	*out = c;
	return 0;
}

/*
 * The dedup window's read-back of a candidate (rft_dedup.h): one record, a
 * staged one of this same entry included.
 */
static int dedup_read(void *arg, struct cf_str conv, uint64_t seq,
		      struct log_record *rec)
{
	struct rft_fsm *f = arg;

	return log_store_read_seq(f->store, conv, seq, rec, &f->read_buf);
}

static int do_send(struct rft_apply *a, const struct rft_cmd *cmd,
		   struct rft_result *res)
{
	struct rft_fsm *f = a->f;
	struct rft_dedup_val hit;
	struct rft_dedup_key key;
	struct rft_conv_st *c;
	struct log_record rec;
	struct cf_str msg_type = cmd->msg_type;
	struct cf_str media;
	char mbuf[CF_ID_MAX + 1];
	struct cf_buf mentions = CF_BUF_INIT;
	struct rft_rec_meta meta;
	size_t off = SIZE_MAX;
	int rv;

	rv = member_conv(a, cmd, &c);
	if (rv != 0)
		return rv;
	if (cmd->client_msg_id.len > 0) {
		if (!cf_id_valid(cmd->client_msg_id.p, cmd->client_msg_id.len))
			return CF_EBADREQ;
		key = rft_dedup_key(&f->dedup, cmd->conv, cmd->user,
				    cmd->client_msg_id);
		rv = rft_dedup_find(&f->dedup, &key, c->pub.last_seq, a->clock,
				    dedup_read, f, &hit);
		if (rv < 0)
			rft__fatal(f, a->index, "dedup: read", rv);
		if (rv == 1) {
			res->duplicate = true;
			res->seq = hit.seq;
			res->message_id = hit.message_id;
			res->server_ts = hit.server_ts;
			f->stats.dedup_hits++;
			return 0;
		}
	}
	if (msg_type.len == 0)
		msg_type = CF_STR_LIT("text");
	if (!cf_msg_type_valid(msg_type.p, msg_type.len))
		return CF_EBADREQ;
	rv = rft__send_meta(cmd, c, &mentions, &meta);
	if (rv == -ENOMEM)
		rft__fatal(f, a->index, "send", rv);
	if (rv != 0)
		return rv;
	if (cmd->attachment.len > 0) {
		/* Only its uploader, or a current member of a conversation
		 * that has it, may attach a blob (rft_media.c); an unknown
		 * one reads the same as a forbidden one. */
		rv = rft__media_attachment_id(cmd->attachment, &media, mbuf);
		if (rv == CF_EBADREQ) {
			cf_buf_release(&mentions);
			return rv;
		}
		if (rv == 0) {
			rv = rft__media_may_attach(f, media, cmd->user);
			if (rv != 0) {
				cf_buf_release(&mentions);
				return CF_EFORBIDDEN;
			}
			rv = rft__media_attached(f, media, c);
			if (rv != 0)
				rft__fatal(f, a->index, "media", rv);
		}
	}
	rec_init(a, &rec, LOG_REC_MESSAGE, c, cmd->user);
	rec.seq = c->pub.last_seq + 1;
	rec.client_msg_id = cmd->client_msg_id;
	rec.msg_type = msg_type;
	if (cmd->attachment.len > 0 || meta.reply_to != 0 ||
	    meta.mentions.len > 0) {
		off = f->scratch.len;
		rv = rft_rec_message_encode2(&f->scratch, cmd->content,
					     cmd->attachment, &meta,
					     &rec.flags);
		cf_buf_release(&mentions);
		if (rv != 0)
			rft__fatal(f, a->index, "send", rv);
		rec.body = scratch_span(f, off);
	} else {
		/* Every mention dropped (no longer members): the list's
		 * buffer may still hold its count. */
		cf_buf_release(&mentions);
		rec.body = cmd->content; /* borrowed from the entry */
	}
	stage(a, &rec, c, off);
	c->pub.last_seq = rec.seq;
	c->pub.last_item_id = rec.message_id;
	if (cmd->client_msg_id.len > 0) {
		rv = rft_dedup_add(&f->dedup, &key, rec.seq, a->clock,
				   a->clock);
		if (rv != 0)
			rft__fatal(f, a->index, "dedup", rv);
	}
	f->stats.messages++;
	res->seq = rec.seq;
	res->message_id = rec.message_id;
	res->server_ts = a->clock;
	return 0;
}

static int do_members(struct rft_apply *a, const struct rft_cmd *cmd,
		      struct rft_result *res)
{
	struct rft_fsm *f = a->f;
	struct rft_conv_st *c;
	struct log_record rec;
	unsigned na = 0, nr = 0, n_add = 0, n_rem = 0, k;
	bool owner;
	size_t off;
	int rv;

	rv = member_conv(a, cmd, &c);
	if (rv != 0)
		return rv;
	if (c->pub.type != RFT_CONV_GROUP)
		return CF_EBADREQ;
	owner = cf_str_eqc(cmd->user, c->pub.owner);
	rv = ids_take(a, cmd->members, &na);
	if (rv != 0)
		return rv;
	na = rft__ids_sort_unique(f->ids, na);
	nr = na;
	rv = ids_take(a, cmd->removed, &nr);
	if (rv != 0)
		return rv;
	nr = rft__ids_sort_unique(f->ids + na, nr - na);
	if (na > 0 && !owner)
		return CF_EFORBIDDEN; /* only the owner adds */
	for (k = 0; k < nr; k++) {
		struct cf_str id = f->ids[na + k];

		if (!owner && !cf_str_eq(id, cmd->user))
			return CF_EFORBIDDEN; /* others leave, not removed */
	}
	/* Keep only real changes, in place: adds then removes. */
	for (k = 0; k < na; k++) {
		if (rft_conv_has_member(&c->pub, f->ids[k]))
			continue;
		f->ids[n_add++] = f->ids[k];
	}
	for (k = 0; k < nr; k++) {
		struct cf_str id = f->ids[na + k];
		unsigned j;

		for (j = 0; j < n_add; j++)
			if (cf_str_eq(f->ids[j], id))
				return CF_EBADREQ; /* added and removed */
		if (rft_conv_has_member(&c->pub, id))
			f->ids[n_add + n_rem++] = id;
	}
	if (c->pub.n_members + n_add - n_rem > GROUP_MAX)
		return CF_ETOOBIG;
	res->seq = c->pub.last_seq;
	if (n_add == 0 && n_rem == 0)
		return 0; /* nothing to change: no record */
	off = f->scratch.len;
	rv = rft_rec_members_encode(&f->scratch, f->ids, n_add,
				    f->ids + n_add, n_rem);
	if (rv != 0)
		rft__fatal(f, a->index, "members", rv);
	snapshot_members(a, c);
	for (k = 0; k < n_add; k++) {
		rv = rft__member_add(f, c, f->ids[k]);
		if (rv != 0)
			rft__fatal(f, a->index, "members", rv);
	}
	for (k = 0; k < n_rem; k++) {
		rv = rft__member_remove(f, c, f->ids[n_add + k]);
		if (rv != 0)
			rft__fatal(f, a->index, "members", rv);
	}
	rec_init(a, &rec, LOG_REC_MEMBERS, c, cmd->user);
	rec.body = scratch_span(f, off);
	stage(a, &rec, c, off);
	c->pub.last_item_id = rec.message_id;
	res->message_id = rec.message_id;
	res->server_ts = a->clock;
	return 0;
}

static int do_recall(struct rft_apply *a, const struct rft_cmd *cmd,
		     struct rft_result *res)
{
	struct rft_fsm *f = a->f;
	struct rft_conv_st *c;
	struct log_record rec, msg;
	bool by_sender, by_owner;
	int rv;

	rv = member_conv(a, cmd, &c);
	if (rv != 0)
		return rv;
	if (cmd->seq == 0 || cmd->seq > c->pub.last_seq)
		return CF_ENOTFOUND;
	rv = log_store_read_seq(f->store, cmd->conv, cmd->seq, &msg,
				&f->read_buf);
	if (rv == CF_ENOTFOUND)
		return rv; /* e.g. sent in this same entry: not yet readable */
	if (rv != 0)
		rft__fatal(f, a->index, "recall: read", rv);
	by_sender = cf_str_eq(msg.sender, cmd->user) &&
		    (msg.ts >= a->clock || a->clock - msg.ts < RECALL_WINDOW_MS);
	by_owner = c->pub.type == RFT_CONV_GROUP &&
		   cf_str_eqc(cmd->user, c->pub.owner);
	if (!by_sender && !by_owner)
		return CF_EFORBIDDEN;
	res->seq = cmd->seq;
	if (rft_conv_recalled(&c->pub, cmd->seq))
		return 0; /* recalled already: no second record */
	rec_init(a, &rec, LOG_REC_RECALL, c, cmd->user);
	rec.seq = cmd->seq;
	stage(a, &rec, c, SIZE_MAX);
	if (rft__recalled_add(c, cmd->seq) != 0)
		rft__fatal(f, a->index, "recall", -ENOMEM);
	c->pub.last_item_id = rec.message_id;
	res->message_id = rec.message_id;
	res->server_ts = a->clock;
	return 0;
}

static int do_receipt(struct rft_apply *a, const struct rft_cmd *cmd,
		      struct rft_result *res)
{
	struct rft_fsm *f = a->f;
	struct rft_rec_receipt body;
	struct rft_receipt *r, old;
	struct rft_conv_st *c;
	struct log_record rec;
	uint64_t up;
	size_t off;
	int rv;

	rv = member_conv(a, cmd, &c);
	if (rv != 0)
		return rv;
	if (cmd->receipt_kind != RFT_RECEIPT_DELIVERED &&
	    cmd->receipt_kind != RFT_RECEIPT_READ)
		return CF_EBADREQ;
	up = cmd->seq < c->pub.last_seq ? cmd->seq : c->pub.last_seq;
	r = rft__receipt(c, cmd->user);
	if (r == NULL)
		rft__fatal(f, a->index, "receipt", -ENOMEM);
	old = *r;
	if (cmd->receipt_kind == RFT_RECEIPT_READ && up > r->read)
		r->read = up;
	if (cmd->receipt_kind == RFT_RECEIPT_DELIVERED && up > r->delivered)
		r->delivered = up;
	if (r->read > r->delivered)
		r->delivered = r->read; /* reading implies delivered */
	res->seq = cmd->receipt_kind == RFT_RECEIPT_READ ? r->read
							 : r->delivered;
	res->seq2 = r->delivered;
	if (old.read == r->read && old.delivered == r->delivered)
		return 0; /* pointers only move forward: no-op */
	body.delivered = r->delivered;
	body.read = r->read;
	off = f->scratch.len;
	rv = rft_rec_receipt_encode(&f->scratch, &body);
	if (rv != 0)
		rft__fatal(f, a->index, "receipt", rv);
	rec_init(a, &rec, LOG_REC_RECEIPT, c, cmd->user);
	rec.seq = up;
	rec.flags = cmd->receipt_kind;
	rec.body = scratch_span(f, off);
	stage(a, &rec, c, off);
	res->message_id = rec.message_id;
	res->server_ts = a->clock;
	return 0;
}

static int do_media(struct rft_apply *a, const struct rft_cmd *cmd,
		    struct rft_result *res)
{
	struct log_record rec;
	int rv;

	if (!cf_id_valid(cmd->user.p, cmd->user.len) ||
	    !cf_id_valid(cmd->media_id.p, cmd->media_id.len))
		return CF_EBADREQ;
	rec_init(a, &rec, LOG_REC_MEDIA, NULL, cmd->user);
	rec.conv = CF_STR_LIT(RFT_REC_MEDIA_CONV);
	rec.client_msg_id = cmd->media_id;
	rec.body = cmd->content;
	rv = rft__media_uploaded(a->f, cmd->media_id, cmd->user);
	if (rv != 0)
		rft__fatal(a->f, a->index, "media", rv);
	stage(a, &rec, NULL, SIZE_MAX);
	res->message_id = rec.message_id;
	res->server_ts = a->clock;
	return 0;
}

/* A verify marker: no record; reported once the entry is written. */
static int do_mark(struct rft_apply *a, const struct rft_cmd *cmd,
		   struct rft_result *res)
{
	struct rft_fsm *f = a->f;

	if (!cf_id_valid(cmd->user.p, cmd->user.len) || cmd->seq == 0)
		return CF_EBADREQ;
	if (f->n_marks == sizeof f->marks / sizeof f->marks[0])
		return CF_EUNAVAIL; /* a few per entry are plenty */
	f->marks[f->n_marks++] = cmd->seq;
	res->seq = cmd->seq;
	res->server_ts = a->clock;
	return 0;
}


static int do_compact(struct rft_apply *a, const struct rft_cmd *cmd,
		      struct rft_result *res)
{
	struct rft_fsm *f = a->f;
	struct rft_compact_req *q;

	if (!cf_id_valid(cmd->user.p, cmd->user.len) ||
	    (cmd->seq >= f->partitions && cmd->seq != RFT_COMPACT_ALL) ||
	    cmd->count == 0 || cmd->count > RFT_COMPACT_COUNT_MAX ||
	    (cmd->flags & ~RFT_COMPACT_SEAL) != 0)
		return CF_EBADREQ;
	if (f->n_compacts == sizeof f->compacts / sizeof f->compacts[0])
		return CF_EUNAVAIL; /* a few per entry are plenty */
	q = &f->compacts[f->n_compacts++];
	q->part = cmd->seq;
	q->count = cmd->count;
	q->flags = cmd->flags;
	q->pos = a->pos;
	res->seq = 0; /* jobs decided: set once planned */
	res->server_ts = a->clock;
	return 0;
}

int rft__apply_cmd(struct rft_apply *a, const struct rft_cmd *cmd,
		     struct rft_result *res)
{
	switch (cmd->type) {
	case RFT_CMD_CREATE:
		return do_create(a, cmd, res);
	case RFT_CMD_SEND:
		return do_send(a, cmd, res);
	case RFT_CMD_MEMBERS:
		return do_members(a, cmd, res);
	case RFT_CMD_RECALL:
		return do_recall(a, cmd, res);
	case RFT_CMD_RECEIPT:
		return do_receipt(a, cmd, res);
	case RFT_CMD_MEDIA:
		return do_media(a, cmd, res);
	case RFT_CMD_MARK:
		return do_mark(a, cmd, res);
	case RFT_CMD_COMPACT:
		return do_compact(a, cmd, res);
	case RFT_CMD_EDIT:
		return rft__apply_edit(a, cmd, res);
	case RFT_CMD_NOOP:
		/* An entry, nothing else (rft_node: erasure from raft's log). */
		return cf_id_valid(cmd->user.p, cmd->user.len) ? 0
							       : CF_EBADREQ;
	default:
		return CF_EBADREQ;
	}
}

/* ---- shared with rft_apply_edit.c (rft_fsm_int.h) ---- */

int rft__member_conv(struct rft_apply *a, const struct rft_cmd *cmd,
		     struct rft_conv_st **out)
{
	return member_conv(a, cmd, out);
}

int rft__ids_take(struct rft_apply *a, struct cf_str list, unsigned *n)
{
	return ids_take(a, list, n);
}

void rft__rec_init(const struct rft_apply *a, struct log_record *rec,
		   uint8_t kind, const struct rft_conv_st *c,
		   struct cf_str sender)
{
	rec_init(a, rec, kind, c, sender);
}

void rft__stage(struct rft_apply *a, const struct log_record *rec,
		struct rft_conv_st *c, size_t body_off)
{
	stage(a, rec, c, body_off);
}
