#include "config.h"

/*
 * fe_fanout: see fe_fanout.h.
 *
 * A queued record (struct fanout_item) holds its event frame, a reference
 * to the member snapshot of its conversation as of the record, the members
 * a members_changed record removed (its own copy), and how far its
 * recipients were written. Snapshots (struct fanout_snap) are one
 * allocation each: the member pointers, the member ids and the
 * conversation id. q->snaps maps a conversation to its current snapshot
 * while queued records use it: a conversation or members_changed record
 * replaces it (the records queued before keep the old one), and the last
 * record using a snapshot frees it and takes it out of the map. So apply
 * copies a group's member list once per membership change while records of
 * it are queued, not once per record, and q->snaps holds only snapshots
 * that queued records use.
 */

#include "frontend/fe_fanout.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_blob.h"
#include "common/cf_diag.h"
#include "common/cf_time.h"
#include "frontend/fe_server.h"
#include "frontend/fe_session.h"
#include "frontend/fe_ws.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"
#include "sync/sync_read.h"

/* Records of groups up to this size are skipped when no member has a
 * socket here (checked in apply; larger groups are checked by the slices). */
#define PRECHECK_MAX 16

struct fanout_snap {
	unsigned refs;	 /* queued records that use it */
	bool cached;	 /* q->snaps maps its conversation to it */
	unsigned n;
	char **members;	 /* n ids, sorted as conv->members */
	char *conv;	 /* the conversation id */
	size_t conv_len;
};

/*
 * A message that mentions members (issue 13): its frame for them, with
 * "mentionsMe": true, and a copy of its mentions (an rft id list). Built
 * only for such messages; every other recipient gets the common frame.
 */
struct fanout_mention {
	struct cf_blob *frame; /* NULL: the record mentions nobody */
	char *ids;
	size_t ids_len;
};

struct fanout_item {
	struct fanout_item *next;
	struct cf_blob *frame;
	struct fanout_mention me; /* the mentioned members' frame, if any */
	struct fanout_snap *snap;
	char **removed;	 /* members_changed: removed members, NULL if none */
	unsigned n_removed;
	unsigned pos;	 /* next recipient: snap's members, then removed */
	uint64_t id;	 /* the event's cursor; 0 for a receipt */
	uint64_t ts;	 /* a message's serverTs (delivery histogram), else 0 */
	bool wrote;	 /* a local socket got it */
};

/* A slice's budget. */
struct budget {
	unsigned frames;
	unsigned visits;
	uint64_t deadline_ns;
};

void fe_fanout_init(struct fe_fanout *q, struct fe_server *srv)
{
	memset(q, 0, sizeof *q);
	q->srv = srv;
	q->tail = &q->head;
	cf_map_init(&q->snaps);
}

void fe_fanout_start(struct fe_fanout *q, uv_loop_t *loop)
{
	uv_check_init(loop, &q->check);
	uv_idle_init(loop, &q->idle);
	q->check.data = q;
	q->idle.data = q;
	q->started = true;
}

/* ---- member snapshots ---- */

static struct fanout_snap *snap_new(const struct rft_conv *conv)
{
	size_t clen = strlen(conv->id), bytes = sizeof(struct fanout_snap);
	struct fanout_snap *sn;
	char *p;

	bytes += (size_t)conv->n_members * sizeof(char *) + clen + 1;
	for (unsigned i = 0; i < conv->n_members; i++)
		bytes += strlen(conv->members[i]) + 1;
	sn = malloc(bytes);
	if (sn == NULL)
		return NULL;
	sn->refs = 0;
	sn->cached = false;
	sn->n = conv->n_members;
	sn->members = (char **)(sn + 1);
	p = (char *)(sn->members + sn->n);
	for (unsigned i = 0; i < sn->n; i++) {
		size_t l = strlen(conv->members[i]) + 1;

		memcpy(p, conv->members[i], l);
		sn->members[i] = p;
		p += l;
	}
	memcpy(p, conv->id, clen + 1);
	sn->conv = p;
	sn->conv_len = clen;
	return sn;
}

/* conv's membership changed: records from now on take a new snapshot. */
static void snap_forget(struct fe_fanout *q, const char *conv, size_t len)
{
	struct fanout_snap *sn;

	if (q->snaps.n == 0)
		return;
	sn = cf_map_del(&q->snaps, conv, len);
	if (sn != NULL)
		sn->cached = false; /* freed by its last record */
}

static struct fanout_snap *snap_get(struct fe_fanout *q,
				    const struct rft_conv *conv)
{
	size_t len = strlen(conv->id);
	struct fanout_snap *sn = cf_map_get(&q->snaps, conv->id, len);

	if (sn != NULL)
		return sn;
	sn = snap_new(conv);
	if (sn != NULL && cf_map_put(&q->snaps, conv->id, len, sn, NULL) == 0)
		sn->cached = true;
	return sn; /* not cached without memory: this record's own */
}

static void snap_unref(struct fe_fanout *q, struct fanout_snap *sn)
{
	if (--sn->refs > 0)
		return;
	if (sn->cached)
		cf_map_del(&q->snaps, sn->conv, sn->conv_len);
	free(sn);
}

/* ---- building a queued record ---- */

/* The frame of rec's event, built once for every socket (NULL: none). */
static struct cf_blob *event_frame(const struct log_record *rec,
				   const struct rft_conv *conv, bool mentions_me)
{
	struct cf_buf t = CF_BUF_INIT;
	struct cf_blob *b = NULL;

	if (sync_event_write(&t, rec, conv, mentions_me) == 0)
		b = fe_ws_frame_blob(FE_WS_OP_TEXT, t.data, t.len);
	cf_buf_release(&t);
	return b;
}

/*
 * The frame of rec's event for its mentioned members, and their ids (me
 * zeroed if it mentions nobody); 0, or -ENOMEM.
 */
static int mention_frame(const struct log_record *rec,
			 const struct rft_conv *conv,
			 struct fanout_mention *me)
{
	struct rft_rec_meta m;

	memset(me, 0, sizeof *me);
	if ((rec->kind != LOG_REC_MESSAGE && rec->kind != LOG_REC_EDIT) ||
	    rft_rec_message_meta(rec, &m) != 0 ||
	    rft_idlist_count(m.mentions) == 0)
		return 0;
	me->ids = malloc(m.mentions.len);
	if (me->ids != NULL)
		me->frame = event_frame(rec, conv, true);
	if (me->frame == NULL) {
		free(me->ids);
		me->ids = NULL;
		return -ENOMEM;
	}
	memcpy(me->ids, m.mentions.p, m.mentions.len);
	me->ids_len = m.mentions.len;
	return 0;
}

/* The frame for member m (len bytes): the mentioned get their own. */
static struct cf_blob *frame_for(struct cf_blob *frame,
				 const struct fanout_mention *me,
				 const char *m, size_t len)
{
	struct cf_str ids = {me->ids, me->ids_len};

	if (me->frame != NULL &&
	    rft_rec_mentions_has(ids, (struct cf_str){m, len}))
		return me->frame;
	return frame;
}

static size_t item_bytes(const struct fanout_item *it)
{
	return it->frame->len + (it->me.frame != NULL ? it->me.frame->len : 0);
}

/*
 * The members a members_changed record removed (and that are not members
 * again), copied into one allocation; 0, or -ENOMEM.
 */
static int removed_copy(const struct log_record *rec,
			const struct rft_conv *conv, struct fanout_item *it)
{
	struct rft_rec_members mb;
	struct cf_str id;
	size_t pos = 0, bytes = 0;
	unsigned n = 0;
	char *p;

	if (rec->kind != LOG_REC_MEMBERS ||
	    rft_rec_members_decode(rec->body, &mb) != 0)
		return 0;
	while (rft_idlist_next(mb.removed, &pos, &id))
		if (!rft_conv_has_member(conv, id)) {
			n++;
			bytes += sizeof(char *) + id.len + 1;
		}
	if (n == 0)
		return 0;
	it->removed = malloc(bytes);
	if (it->removed == NULL)
		return -ENOMEM;
	p = (char *)(it->removed + n);
	pos = 0;
	while (rft_idlist_next(mb.removed, &pos, &id))
		if (!rft_conv_has_member(conv, id)) {
			memcpy(p, id.p, id.len);
			p[id.len] = '\0';
			it->removed[it->n_removed++] = p;
			p += id.len + 1;
		}
	return 0;
}

/* True if no member of a small group (nor anyone removed) has a socket. */
static bool nobody_here(const struct fe_server *s,
			const struct log_record *rec,
			const struct rft_conv *conv)
{
	if (conv->n_members > PRECHECK_MAX || rec->kind == LOG_REC_MEMBERS)
		return false;
	for (unsigned i = 0; i < conv->n_members; i++)
		if (fe_session_has_user(s, conv->members[i],
					strlen(conv->members[i])))
			return false;
	return true;
}

static uint64_t item_id(const struct log_record *rec)
{
	return rec->kind != LOG_REC_RECEIPT ? rec->message_id : 0;
}

/* ---- writing ---- */

static bool budget_spent(struct budget *b)
{
	if (b->frames >= FE_FANOUT_SLICE_FRAMES)
		return true;
	return b->visits % FE_FANOUT_SLICE_CHECK == 0 && b->visits > 0 &&
	       uv_hrtime() >= b->deadline_ns;
}

/* A message's event reached every local socket it went to. */
static void observe_delivery(struct fe_server *s, uint64_t ts)
{
	uint64_t now = cf_wall_ms();

	fe_hist_observe(&s->metrics.delivery,
			now > ts ? (double)(now - ts) / 1e3 : 0.0);
}

/*
 * Write it to its next recipients, within b (NULL: all of them); true once
 * every recipient was reached.
 */
static bool item_run(struct fe_fanout *q, struct fanout_item *it,
		     struct budget *b)
{
	struct fe_server *s = q->srv;
	unsigned total = it->snap->n + it->n_removed;

	while (it->pos < total) {
		const char *m;
		unsigned w;

		if (b != NULL && budget_spent(b))
			return false;
		m = it->pos < it->snap->n ? it->snap->members[it->pos]
					  : it->removed[it->pos - it->snap->n];
		it->pos++;
		w = fe_session_event(s, m, strlen(m),
				     frame_for(it->frame, &it->me, m,
					       strlen(m)),
				     it->id);
		q->frames += w;
		if (w > 0)
			it->wrote = true;
		if (b != NULL) {
			b->frames += w;
			b->visits++;
		}
	}
	if (it->wrote && it->ts != 0)
		observe_delivery(s, it->ts);
	return true;
}

static void item_free(struct fe_fanout *q, struct fanout_item *it)
{
	cf_blob_unref(it->frame);
	if (it->me.frame != NULL)
		cf_blob_unref(it->me.frame);
	free(it->me.ids);
	snap_unref(q, it->snap);
	free(it->removed);
	free(it);
}

static void pop_head(struct fe_fanout *q)
{
	struct fanout_item *it = q->head;

	q->head = it->next;
	if (q->head == NULL)
		q->tail = &q->head;
	q->n--;
	q->bytes -= item_bytes(it);
	item_free(q, it);
	if (q->head == NULL && q->started) {
		uv_check_stop(&q->check);
		uv_idle_stop(&q->idle);
	}
}

/* Write out the oldest record to all its recipients (in apply). */
static void run_head_whole(struct fe_fanout *q)
{
	item_run(q, q->head, NULL);
	q->in_apply++;
	pop_head(q);
}

/* Runs while records are queued, so that the poll does not block. */
static void idle_cb(uv_idle_t *h)
{
	(void)h;
}

static void check_cb(uv_check_t *h)
{
	struct fe_fanout *q = h->data;
	struct budget b = {0, 0, uv_hrtime() + FE_FANOUT_SLICE_NS};

	if (q->head == NULL)
		return;
	q->slices++;
	while (q->head != NULL && item_run(q, q->head, &b))
		pop_head(q);
}

/*
 * No queue entry (no memory, or no handles yet): write what is queued,
 * then this record, now, in commit order.
 */
static void fanout_now(struct fe_fanout *q, const struct log_record *rec,
		       const struct rft_conv *conv, struct cf_blob *frame,
		       const struct fanout_mention *me)
{
	struct fe_server *s = q->srv;
	struct rft_rec_members mb;
	struct cf_str id;
	uint64_t mid = item_id(rec);
	size_t pos = 0;
	bool wrote = false;
	unsigned w;

	while (q->head != NULL)
		run_head_whole(q);
	q->in_apply++;
	for (unsigned i = 0; i < conv->n_members; i++) {
		size_t ml = strlen(conv->members[i]);

		w = fe_session_event(s, conv->members[i], ml,
				     frame_for(frame, me, conv->members[i],
					       ml),
				     mid);
		q->frames += w;
		wrote = wrote || w > 0;
	}
	if (rec->kind == LOG_REC_MEMBERS &&
	    rft_rec_members_decode(rec->body, &mb) == 0) {
		while (rft_idlist_next(mb.removed, &pos, &id))
			if (!rft_conv_has_member(conv, id)) {
				w = fe_session_event(s, id.p, id.len, frame,
						     mid);
				q->frames += w;
				wrote = wrote || w > 0;
			}
	}
	if (wrote && rec->kind == LOG_REC_MESSAGE)
		observe_delivery(s, rec->ts);
}

void fe_fanout_record(struct fe_fanout *q, const struct log_record *rec,
		      const struct rft_conv *conv)
{
	struct fe_server *s = q->srv;
	struct fanout_item *it;
	struct fanout_mention me;
	struct cf_blob *frame;

	if (conv == NULL)
		return;
	if (rec->kind == LOG_REC_CONV || rec->kind == LOG_REC_MEMBERS)
		snap_forget(q, conv->id, strlen(conv->id));
	if (q->closing || s->n_ws == 0)
		return;
	if (rec->kind != LOG_REC_MESSAGE && rec->kind != LOG_REC_CONV &&
	    rec->kind != LOG_REC_MEMBERS && rec->kind != LOG_REC_RECALL &&
	    rec->kind != LOG_REC_RECEIPT && rec->kind != LOG_REC_EDIT)
		return;
	if (nobody_here(s, rec, conv))
		return;
	frame = event_frame(rec, conv, false);
	if (frame == NULL) {
		cf_warn("fan-out: no frame for a record of kind %u",
			(unsigned)rec->kind);
		return;
	}
	if (mention_frame(rec, conv, &me) != 0)
		cf_warn("fan-out: no memory for a mention's frame; the "
			"mentioned get the common one");
	it = calloc(1, sizeof *it);
	if (it == NULL || !q->started || removed_copy(rec, conv, it) != 0 ||
	    (it->snap = snap_get(q, conv)) == NULL) {
		if (it != NULL)
			free(it->removed);
		free(it);
		fanout_now(q, rec, conv, frame, &me);
		cf_blob_unref(frame);
		if (me.frame != NULL)
			cf_blob_unref(me.frame);
		free(me.ids);
		return;
	}
	it->snap->refs++;
	it->frame = frame;
	it->me = me;
	it->id = item_id(rec);
	it->ts = rec->kind == LOG_REC_MESSAGE ? rec->ts : 0;
	/* Full: the oldest go out now, whole; nothing is dropped. */
	while (q->head != NULL && (q->n >= s->cfg.fanout_queue ||
				   q->bytes + item_bytes(it) >
					   FE_FANOUT_QUEUE_BYTES))
		run_head_whole(q);
	if (q->head == NULL) {
		uv_check_start(&q->check, check_cb);
		uv_idle_start(&q->idle, idle_cb);
	}
	*q->tail = it;
	q->tail = &it->next;
	q->n++;
	q->bytes += item_bytes(it);
	q->records++;
	if (q->n > q->max_depth)
		q->max_depth = q->n;
}

void fe_fanout_reset(struct fe_fanout *q)
{
	const struct cf_map_slot *slot;
	size_t i = 0;

	while (cf_map_next(&q->snaps, &i, &slot))
		((struct fanout_snap *)slot->val)->cached = false;
	cf_map_release(&q->snaps);
	cf_map_init(&q->snaps);
}

/* ---- closing ---- */

static void drop_all(struct fe_fanout *q)
{
	while (q->head != NULL)
		pop_head(q);
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct fe_fanout *q = h->data;

	if (--q->pending_closes == 0 && q->close_cb != NULL)
		q->close_cb(q);
}

bool fe_fanout_close(struct fe_fanout *q, void (*cb)(struct fe_fanout *q))
{
	q->closing = true;
	drop_all(q);
	if (!q->started)
		return false;
	q->close_cb = cb;
	q->pending_closes = 2;
	uv_close((uv_handle_t *)&q->check, handle_closed_cb);
	uv_close((uv_handle_t *)&q->idle, handle_closed_cb);
	return true;
}

void fe_fanout_drop(struct fe_fanout *q)
{
	drop_all(q);
	fe_fanout_reset(q);
}

void fe_fanout_release(struct fe_fanout *q)
{
	q->started = false; /* handles closed: pop_head leaves them */
	drop_all(q);
	fe_fanout_reset(q);
	cf_map_release(&q->snaps);
}

int fe_fanout_metrics_render(const struct fe_fanout *q, struct cf_buf *b)
{
	return cf_buf_appendf(
		b,
		"# HELP confab_fanout_queue_depth Committed records waiting "
		"for fan-out to this node's sockets.\n"
		"# TYPE confab_fanout_queue_depth gauge\n"
		"confab_fanout_queue_depth %u\n"
		"# HELP confab_fanout_queue_max_depth Most records queued at "
		"once since start.\n"
		"# TYPE confab_fanout_queue_max_depth gauge\n"
		"confab_fanout_queue_max_depth %u\n"
		"# HELP confab_fanout_queue_bytes Bytes of the queued records' "
		"event frames.\n"
		"# TYPE confab_fanout_queue_bytes gauge\n"
		"confab_fanout_queue_bytes %llu\n"
		"# HELP confab_fanout_records_total Records queued for "
		"fan-out.\n"
		"# TYPE confab_fanout_records_total counter\n"
		"confab_fanout_records_total %llu\n"
		"# HELP confab_fanout_frames_total Event frames fan-out wrote "
		"to sockets (or held behind a sync replay).\n"
		"# TYPE confab_fanout_frames_total counter\n"
		"confab_fanout_frames_total %llu\n"
		"# HELP confab_fanout_slices_total Loop iterations that wrote "
		"a slice of the queue.\n"
		"# TYPE confab_fanout_slices_total counter\n"
		"confab_fanout_slices_total %llu\n"
		"# HELP confab_fanout_in_apply_total Records fanned out "
		"inside apply (queue full, or no memory for an entry).\n"
		"# TYPE confab_fanout_in_apply_total counter\n"
		"confab_fanout_in_apply_total %llu\n",
		q->n, q->max_depth, (unsigned long long)q->bytes,
		(unsigned long long)q->records, (unsigned long long)q->frames,
		(unsigned long long)q->slices,
		(unsigned long long)q->in_apply);
}
