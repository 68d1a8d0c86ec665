#include "config.h"

/*
 * sync_read: see sync_read.h. Event shapes (API.md "WebSocket"):
 *   message       {"type":"message","cursor",...the message object}
 *   recalled      {"type":"recalled","conversationId","seq","cursor"}
 *   conversation  {"type":"conversation","event":"created"|
 *                  "members_changed","cursor","conversation":{...},
 *                  "added":[...],"removed":[...] (members_changed only)}
 *   receipt       {"type":"receipt","conversationId","userId",
 *                  "deliveredSeq","readSeq"}
 *   edited        see sync_edit.h
 * An edited message shows its latest version with "editedAt" (sync_edit.h).
 */

#include "sync/sync_read.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_jw.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"
#include "sync/sync_edit.h"
#include "sync/sync_meta.h"

void sync_message_id_str(uint64_t id, char out[24])
{
	snprintf(out, 24, "%" PRIu64, id);
}

static json_t *str_json(struct cf_str s)
{
	return json_stringn(s.p != NULL ? s.p : "", s.len);
}

json_t *sync_message_json(const struct log_record *rec)
{
	struct cf_str content;
	struct cf_str att;
	char id[24];
	json_t *o;

	/* A record that fails to split was verified by checksum on read: it
	 * was written that way, so show its bytes rather than lose it. */
	if (rft_rec_message_split(rec, &content, &att) != 0) {
		content = rec->body;
		att.len = 0;
	}
	sync_message_id_str(rec->message_id, id);
	o = json_object();
	if (o == NULL)
		return NULL;
	if (att.len > 0) {
		json_t *a = json_loadb(att.p, att.len, JSON_DECODE_ANY, NULL);

		if (a != NULL && json_object_set_new(o, "attachment", a) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	if (json_object_set_new(o, "messageId", json_string(id)) != 0 ||
	    json_object_set_new(o, "conversationId", str_json(rec->conv)) != 0 ||
	    json_object_set_new(o, "seq", json_integer((json_int_t)rec->seq)) !=
		    0 ||
	    json_object_set_new(o, "senderId", str_json(rec->sender)) != 0 ||
	    json_object_set_new(o, "clientMsgId",
				str_json(rec->client_msg_id)) != 0 ||
	    json_object_set_new(o, "msgType", str_json(rec->msg_type)) != 0 ||
	    json_object_set_new(o, "content", str_json(content)) != 0 ||
	    json_object_set_new(o, "serverTs",
				json_integer((json_int_t)rec->ts)) != 0 ||
	    sync_meta_json_set(o, rec) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *sync_message_json_for(const struct log_record *rec, bool recalled,
			      struct cf_str reader)
{
	json_t *o;

	if (recalled)
		return sync_recalled_json(rec);
	o = sync_message_json(rec);
	if (o != NULL && sync_meta_json_me(o, rec, reader) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *sync_recalled_json(const struct log_record *rec)
{
	json_t *o = sync_message_json(rec);

	if (o == NULL)
		return NULL;
	json_object_del(o, "content");
	json_object_del(o, "attachment");
	json_object_del(o, "replyTo");
	json_object_del(o, "mentions");
	if (json_object_set_new(o, "recalled", json_true()) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *sync_conv_json(const struct rft_conv *c)
{
	json_t *members = json_array();
	json_t *o;

	if (members == NULL)
		return NULL;
	for (unsigned i = 0; i < c->n_members; i++)
		json_array_append_new(members, json_string(c->members[i]));
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I}", "conversationId",
		      c->id, "type",
		      c->type == RFT_CONV_DIRECT ? "direct" : "group", "title",
		      c->title != NULL ? c->title : "", "owner",
		      c->owner != NULL ? c->owner : "", "members", members,
		      "createdAt", (json_int_t)c->created_at, "lastSeq",
		      (json_int_t)c->last_seq);
	return o;
}

/*
 * aroundSeq S, limit L: L/2 before S, S, the rest after, shifted when one
 * side runs out; S past lastSeq reads the latest page.
 */
static void around_range(uint64_t last, const struct sync_history_query *q,
			 uint64_t *lo, uint64_t *hi)
{
	uint64_t s = q->around_seq < last ? q->around_seq : last;
	uint64_t half = q->limit / 2;

	*lo = s > half ? s - half : 1;
	*hi = *lo + q->limit - 1;
	if (*hi > last) {
		*hi = last;
		*lo = last >= q->limit ? last - q->limit + 1 : 1;
	}
}

/* An aroundSeq page's flags: ,"hasMoreBefore":b,"hasMoreAfter":b */
static int around_write(struct cf_buf *out, uint64_t lo, uint64_t hi,
			uint64_t last)
{
	int rv = cf_jw_lit(out, hi > 0 && lo > 1 ? ",\"hasMoreBefore\":true"
						 : ",\"hasMoreBefore\":false");

	if (rv == 0)
		rv = cf_jw_lit(out, hi < last ? ",\"hasMoreAfter\":true"
					      : ",\"hasMoreAfter\":false");
	return rv;
}

/* The seq range [*lo, *hi] a history query reads (empty if *hi == 0) and
 * whether more lie beyond it, or the query's error. */
static int history_range(const struct rft_conv *c, struct cf_str user,
			 const struct sync_history_query *q, uint64_t *lo,
			 uint64_t *hi, bool *more)
{
	uint64_t last;

	if (c == NULL)
		return CF_ENOTFOUND;
	if (user.p != NULL && !rft_conv_has_member(c, user))
		return rft_conv_was_member(c, user) ? CF_EFORBIDDEN
						    : CF_ENOTFOUND;
	last = c->last_seq;
	if (q->around_seq > 0) {
		around_range(last, q, lo, hi);
		*more = (*hi > 0 && *lo > 1) || *hi < last;
	} else if (q->from_seq > 0) {
		*lo = q->from_seq;
		*hi = *lo + q->limit - 1;
		if (*hi < *lo || *hi > last)
			*hi = last;
		*more = *hi < last;
	} else {
		*hi = q->before_seq > 0 ? q->before_seq - 1 : last;
		if (*hi > last)
			*hi = last;
		*lo = *hi >= q->limit ? *hi - q->limit + 1 : 1;
		*more = *lo > 1;
	}
	return 0;
}

int sync_history(struct rft_fsm *f, struct cf_str user, struct cf_str conv,
		 const struct sync_history_query *q, json_t **out)
{
	const struct rft_conv *c = rft_fsm_conv(f, conv);
	struct log_store *store = rft_fsm_store(f);
	struct cf_buf scratch = CF_BUF_INIT, escratch = CF_BUF_INIT;
	uint64_t lo;
	uint64_t hi;
	bool more;
	json_t *msgs;
	json_t *o;
	int rv;

	rv = history_range(c, user, q, &lo, &hi, &more);
	if (rv != 0)
		return rv;
	msgs = json_array();
	if (msgs == NULL)
		return -ENOMEM;
	for (uint64_t s = lo; s <= hi && hi > 0; s++) {
		struct log_record rec;
		uint64_t edited_at = 0;
		json_t *m;
		rv = log_store_read_seq(store, conv, s, &rec, &scratch);
		if (rv == 0) /* the latest version (sync_edit.h) */
			rv = sync_edit_latest(f, c, &rec, &escratch,
					      &edited_at);
		if (rv != 0)
			goto err;
		m = sync_message_json_for(&rec, rft_conv_recalled(c, s), user);
		if (m != NULL && edited_at != 0 &&
		    json_object_set_new(m, "editedAt",
					json_integer((json_int_t)edited_at))) {
			json_decref(m);
			m = NULL;
		}
		if (m == NULL || json_array_append_new(msgs, m) != 0) {
			rv = -ENOMEM;
			goto err;
		}
	}
	cf_buf_release(&scratch);
	cf_buf_release(&escratch);
	o = json_pack("{s:o, s:I, s:b}", "messages", msgs, "lastSeq",
		      (json_int_t)c->last_seq, "hasMore", more);
	if (o == NULL)
		return -ENOMEM;
	if (q->around_seq > 0 &&
	    (json_object_set_new(o, "hasMoreBefore",
				 json_boolean(hi > 0 && lo > 1)) != 0 ||
	     json_object_set_new(o, "hasMoreAfter",
				 json_boolean(hi < c->last_seq)) != 0)) {
		json_decref(o);
		return -ENOMEM;
	}
	*out = o;
	return 0;
err:
	cf_buf_release(&scratch);
	cf_buf_release(&escratch);
	json_decref(msgs);
	return rv;
}

int sync_message_write(struct cf_buf *b, const struct log_record *rec,
		       bool recalled)
{
	return sync_message_write_for(b, rec, recalled, (struct cf_str){0});
}

int sync_message_write_for(struct cf_buf *b, const struct log_record *rec,
			   bool recalled, struct cf_str reader)
{
	struct cf_str content;
	struct cf_str att;
	int rv;

	if (rft_rec_message_split(rec, &content, &att) != 0) {
		content = rec->body;
		att.len = 0;
	}
	if ((rv = cf_jw_lit(b, "{")) != 0)
		return rv;
	if (att.len > 0 && !recalled) {
		/* Stored as the sender's attachment JSON, checked at send;
		 * re-encoded (not copied) so that the answer is valid JSON
		 * whatever the record holds, as sync_message_json() does. */
		json_t *a = json_loadb(att.p, att.len, JSON_DECODE_ANY, NULL);
		char *t = a != NULL ? json_dumps(a, JSON_COMPACT |
							    JSON_ENCODE_ANY)
				    : NULL;

		json_decref(a);
		if (a != NULL && t == NULL)
			return -ENOMEM;
		if (t != NULL) {
			rv = cf_jw_key(b, "attachment");
			if (rv == 0)
				rv = cf_jw_lit(b, t);
			if (rv == 0)
				rv = cf_jw_lit(b, ",");
			free(t);
			if (rv != 0)
				return rv;
		}
	}
	if ((rv = cf_jw_key(b, "messageId")) != 0 ||
	    (rv = cf_jw_lit(b, "\"")) != 0 ||
	    (rv = cf_jw_u64(b, rec->message_id)) != 0 ||
	    (rv = cf_jw_lit(b, "\",")) != 0 ||
	    (rv = cf_jw_key(b, "conversationId")) != 0 ||
	    (rv = cf_jw_str(b, rec->conv.p, rec->conv.len)) != 0 ||
	    (rv = cf_jw_lit(b, ",")) != 0 ||
	    (rv = cf_jw_key(b, "seq")) != 0 ||
	    (rv = cf_jw_u64(b, rec->seq)) != 0 ||
	    (rv = cf_jw_lit(b, ",")) != 0 ||
	    (rv = cf_jw_key(b, "senderId")) != 0 ||
	    (rv = cf_jw_str(b, rec->sender.p, rec->sender.len)) != 0 ||
	    (rv = cf_jw_lit(b, ",")) != 0 ||
	    (rv = cf_jw_key(b, "clientMsgId")) != 0 ||
	    (rv = cf_jw_str(b, rec->client_msg_id.p,
			    rec->client_msg_id.len)) != 0 ||
	    (rv = cf_jw_lit(b, ",")) != 0 ||
	    (rv = cf_jw_key(b, "msgType")) != 0 ||
	    (rv = cf_jw_str(b, rec->msg_type.p, rec->msg_type.len)) != 0 ||
	    (rv = cf_jw_lit(b, ",")) != 0)
		return rv;
	if (!recalled &&
	    ((rv = cf_jw_key(b, "content")) != 0 ||
	     (rv = cf_jw_str(b, content.p, content.len)) != 0 ||
	     (rv = cf_jw_lit(b, ",")) != 0))
		return rv;
	if ((rv = cf_jw_key(b, "serverTs")) != 0 ||
	    (rv = cf_jw_i64(b, (int64_t)rec->ts)) != 0 ||
	    (!recalled && (rv = sync_meta_write(b, rec, reader)) != 0))
		return rv;
	return cf_jw_lit(b, recalled ? ",\"recalled\":true}" : "}");
}

int sync_history_write(struct rft_fsm *f, struct cf_str user,
		       struct cf_str conv, const struct sync_history_query *q,
		       struct cf_buf *out)
{
	const struct rft_conv *c = rft_fsm_conv(f, conv);
	struct log_store *store = rft_fsm_store(f);
	struct cf_buf scratch = CF_BUF_INIT, escratch = CF_BUF_INIT;
	uint64_t lo;
	uint64_t hi;
	bool more;
	int rv;

	rv = history_range(c, user, q, &lo, &hi, &more);
	if (rv != 0)
		return rv;
	rv = cf_jw_lit(out, "{\"messages\":[");
	for (uint64_t s = lo; rv == 0 && s <= hi && hi > 0; s++) {
		struct log_record rec;
		uint64_t edited_at = 0;

		rv = log_store_read_seq(store, conv, s, &rec, &scratch);
		if (rv == 0) /* the latest version (sync_edit.h) */
			rv = sync_edit_latest(f, c, &rec, &escratch,
					      &edited_at);
		if (rv == 0 && s > lo)
			rv = cf_jw_lit(out, ",");
		if (rv == 0)
			rv = sync_message_write_for(out, &rec,
						    rft_conv_recalled(c, s),
						    user);
		if (rv == 0)
			rv = sync_edit_write_at(out, edited_at);
	}
	cf_buf_release(&scratch);
	cf_buf_release(&escratch);
	if (rv == 0)
		rv = cf_jw_lit(out, "],\"lastSeq\":");
	if (rv == 0)
		rv = cf_jw_u64(out, c->last_seq);
	if (rv == 0)
		rv = cf_jw_lit(out, more ? ",\"hasMore\":true"
					 : ",\"hasMore\":false");
	if (rv == 0 && q->around_seq > 0)
		rv = around_write(out, lo, hi, c->last_seq);
	if (rv == 0)
		rv = cf_jw_lit(out, "}");
	return rv;
}

/* ---- events ---- */

void sync_cursor_str(uint64_t message_id, char out[24])
{
	snprintf(out, 24, "m%" PRIu64, message_id);
}

/* An id list of a record as a JSON array of strings. */
static json_t *idlist_json(struct cf_str list)
{
	json_t *a = json_array();
	struct cf_str id;
	size_t pos = 0;

	if (a == NULL)
		return NULL;
	while (rft_idlist_next(list, &pos, &id)) {
		if (json_array_append_new(a, str_json(id)) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *conversation_event(const struct log_record *rec,
				  const struct rft_conv *conv)
{
	struct rft_rec_members m;
	char cursor[24];
	json_t *o;

	if (conv == NULL)
		return NULL;
	sync_cursor_str(rec->message_id, cursor);
	o = json_pack("{s:s, s:s, s:s, s:o*}", "type", "conversation", "event",
		      rec->kind == LOG_REC_CONV ? "created" : "members_changed",
		      "cursor", cursor, "conversation", sync_conv_json(conv));
	if (o == NULL || rec->kind != LOG_REC_MEMBERS)
		return o;
	if (rft_rec_members_decode(rec->body, &m) != 0 ||
	    json_object_set_new(o, "added", idlist_json(m.added)) != 0 ||
	    json_object_set_new(o, "removed", idlist_json(m.removed)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *sync_event_json(const struct log_record *rec,
			const struct rft_conv *conv)
{
	struct rft_rec_receipt r;
	char cursor[24];
	json_t *o;

	sync_cursor_str(rec->message_id, cursor);
	switch (rec->kind) {
	case LOG_REC_MESSAGE:
		o = sync_message_json(rec);
		if (o != NULL &&
		    (json_object_set_new(o, "type", json_string("message")) !=
			     0 ||
		     json_object_set_new(o, "cursor", json_string(cursor)) !=
			     0)) {
			json_decref(o);
			return NULL;
		}
		return o;
	case LOG_REC_RECALL:
		return json_pack("{s:s, s:s%, s:I, s:s}", "type", "recalled",
				 "conversationId", rec->conv.p != NULL ? rec->conv.p : "",
				 rec->conv.len, "seq", (json_int_t)rec->seq,
				 "cursor", cursor);
	case LOG_REC_RECEIPT:
		if (rft_rec_receipt_decode(rec->body, &r) != 0)
			return NULL;
		return json_pack("{s:s, s:s%, s:s%, s:I, s:I}", "type",
				 "receipt", "conversationId",
				 rec->conv.p != NULL ? rec->conv.p : "",
				 rec->conv.len, "userId",
				 rec->sender.p != NULL ? rec->sender.p : "",
				 rec->sender.len, "deliveredSeq",
				 (json_int_t)r.delivered, "readSeq",
				 (json_int_t)r.read);
	case LOG_REC_CONV:
	case LOG_REC_MEMBERS:
		return conversation_event(rec, conv);
	case LOG_REC_EDIT:
		return sync_edited_json(rec); /* sync_edit.c */
	default:
		return NULL;
	}
}

int sync_event_write(struct cf_buf *b, const struct log_record *rec,
		     const struct rft_conv *conv, bool mentions_me)
{
	char cursor[24];
	json_t *o;
	char *t;
	int rv;

	if (rec->kind == LOG_REC_MESSAGE) {
		sync_cursor_str(rec->message_id, cursor);
		rv = sync_message_write(b, rec, false);
		if (rv != 0)
			return rv;
		assert(b->len > 0 && b->data[b->len - 1] == '}');
		b->len--; /* the object goes on */
		if ((rv = cf_jw_lit(b, ",\"type\":\"message\",")) != 0 ||
		    (rv = cf_jw_key(b, "cursor")) != 0 ||
		    (rv = cf_jw_str(b, cursor, strlen(cursor))) != 0 ||
		    (mentions_me &&
		     (rv = cf_jw_lit(b, ",\"mentionsMe\":true")) != 0))
			return rv;
		return cf_jw_lit(b, "}");
	}
	o = sync_event_json(rec, conv);
	if (o == NULL) /* no memory, or a kind clients never see */
		return CF_ENOTFOUND;
	if (mentions_me &&
	    json_object_set_new(o, "mentionsMe", json_true()) != 0) {
		json_decref(o);
		return -ENOMEM;
	}
	t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (t == NULL)
		return -ENOMEM;
	rv = cf_jw_raw(b, t, strlen(t));
	free(t);
	return rv;
}
