#include "config.h"
/*
 * sync_feed: sync after a cursor through the inbox index (see sync_feed.h).
 *
 * Cursor format (API.md): "m" followed by the decimal messageId of an item,
 * 1 to 20 digits, value below 2^64. "m0" is the beginning.
 *
 * Merge: one head per changed conversation, holding the messageId of its
 * next message (read from the store) and of its next non-message item; the
 * smallest head goes out next. A user sees the items of a conversation from
 * the change that added it (joined) up to the change that removed it (left).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "sync/sync_feed.h"
#include "sync/sync_meta.h"
#include "sync/sync_read.h"
#include "sync/sync_edit.h"

int sync_cursor_parse(struct cf_str s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len < 2 || s.len > 21 || s.p[0] != 'm')
		return CF_EBADREQ;
	for (size_t i = 1; i < s.len; i++) {
		unsigned d;

		if (s.p[i] < '0' || s.p[i] > '9')
			return CF_EBADREQ;
		d = (unsigned)(s.p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return CF_EBADREQ;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

struct head {
	struct cf_str conv;
	const struct rft_conv *c;
	uint64_t lo, hi; /* visible messageIds: (lo, hi] */
	uint64_t seq;	 /* next message seq, 0 if none left */
	uint64_t msg_id; /* its messageId */
	const struct sync_item *items;
	size_t n_items, next_item;
};

/* Read seq's messageId into *id. */
static int msg_id_at(struct log_store *st, struct cf_str conv, uint64_t seq,
		     struct cf_buf *scratch, uint64_t *id)
{
	struct log_record rec;
	int rv = log_store_read_seq(st, conv, seq, &rec, scratch);

	if (rv == 0)
		*id = rec.message_id;
	return rv;
}

/* Load the head's next message (seq already set) or mark none. */
static int head_load(struct head *h, struct log_store *st,
		     struct cf_buf *scratch)
{
	int rv;

	if (h->seq == 0 || h->seq > h->c->last_seq) {
		h->seq = 0;
		return 0;
	}
	rv = msg_id_at(st, h->conv, h->seq, scratch, &h->msg_id);
	if (rv != 0)
		return rv;
	if (h->msg_id > h->hi)
		h->seq = 0;
	return 0;
}

/*
 * First seq whose messageId is above lo: a galloping search back from the
 * conversation's last message (last, last-1, last-3, last-7, ...), then a
 * binary search within the last step. Messages after the cursor are what
 * a sync returns, so this costs O(log k) reads for k new messages (two for
 * a conversation with one), not O(log n) for the whole conversation.
 */
static int head_start(struct head *h, struct log_store *st,
		      struct cf_buf *scratch)
{
	uint64_t last = h->c->last_seq;
	uint64_t a = 1, b = last + 1; /* every seq >= b is above lo */
	uint64_t d = 1;
	int rv;

	while (b > 1) {
		uint64_t p = last + 1 > d ? last + 1 - d : 1, id;

		rv = msg_id_at(st, h->conv, p, scratch, &id);
		if (rv != 0)
			return rv;
		if (id <= h->lo) {
			a = p + 1;
			break;
		}
		b = p;
		d *= 2;
	}
	while (a < b) {
		uint64_t mid = a + (b - a) / 2, id;

		rv = msg_id_at(st, h->conv, mid, scratch, &id);
		if (rv != 0)
			return rv;
		if (id <= h->lo)
			a = mid + 1;
		else
			b = mid;
	}
	h->seq = a;
	return head_load(h, st, scratch);
}

static uint64_t item_head(const struct head *h)
{
	if (h->next_item < h->n_items &&
	    h->items[h->next_item].message_id <= h->hi)
		return h->items[h->next_item].message_id;
	return 0;
}

static json_t *message_item(struct rft_fsm *f, struct log_store *st,
			    struct head *h, struct cf_str user,
			    struct cf_buf *scratch,
			    size_t *bytes, int *rv)
{
	struct cf_buf escratch = CF_BUF_INIT;
	struct log_record rec;
	uint64_t edited_at = 0;
	char cursor[24];
	json_t *o;

	*rv = log_store_read_seq(st, h->conv, h->seq, &rec, scratch);
	if (*rv == 0) /* the latest version (sync_edit.h) */
		*rv = sync_edit_latest(f, h->c, &rec, &escratch, &edited_at);
	if (*rv != 0) {
		cf_buf_release(&escratch);
		return NULL;
	}
	*bytes += log_record_size(&rec);
	*rv = -ENOMEM;
	if (!rft_conv_recalled(h->c, h->seq)) {
		o = sync_event_json(&rec, h->c);
		if (o != NULL && (sync_meta_json_me(o, &rec, user) != 0 ||
				  (edited_at != 0 &&
				   json_object_set_new(
					   o, "editedAt",
					   json_integer((json_int_t)edited_at))))) {
			cf_buf_release(&escratch);
			json_decref(o);
			return NULL;
		}
		cf_buf_release(&escratch);
		return o;
	}
	cf_buf_release(&escratch);
	o = sync_recalled_json(&rec);
	sync_cursor_str(rec.message_id, cursor);
	if (o != NULL &&
	    (json_object_set_new(o, "type", json_string("message")) != 0 ||
	     json_object_set_new(o, "cursor", json_string(cursor)) != 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *other_item(const struct head *h, const struct sync_item *it)
{
	struct log_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.kind = it->kind;
	rec.message_id = it->message_id;
	rec.seq = it->seq;
	rec.conv = h->conv;
	rec.body.p = it->body;
	rec.body.len = it->body_len;
	return sync_event_json(&rec, h->c);
}

int sync_feed_read(struct rft_fsm *f, const struct sync_inbox *ix,
		   struct cf_str user, uint64_t after, uint64_t upto,
		   unsigned limit, size_t max_bytes, json_t *items,
		   uint64_t *cursor, bool *more)
{
	size_t bytes = 0;
	struct log_store *st = rft_fsm_store(f);
	const struct sync_inbox_entry **ents = NULL;
	struct cf_buf scratch = CF_BUF_INIT;
	struct head *heads = NULL;
	size_t n, nh = 0, emitted = 0;
	int rv = 0;

	*cursor = after;
	*more = false;
	n = sync_inbox_changed(ix, user, after, NULL, 0);
	if (n == 0)
		return 0;
	ents = calloc(n, sizeof(*ents));
	heads = calloc(n, sizeof(*heads));
	if (ents == NULL || heads == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	sync_inbox_changed(ix, user, after, ents, n);
	for (size_t i = 0; i < n; i++) {
		struct head *h = &heads[nh];
		size_t first;

		h->conv = cf_str_c(ents[i]->conv);
		h->c = rft_fsm_conv(f, h->conv);
		if (h->c == NULL)
			continue;
		h->lo = after;
		if (ents[i]->joined > 0 && ents[i]->joined - 1 > h->lo)
			h->lo = ents[i]->joined - 1;
		h->hi = ents[i]->left != 0 ? ents[i]->left : UINT64_MAX;
		if (upto != 0 && h->hi > upto)
			h->hi = upto;
		h->items = sync_inbox_items(ix, h->conv, h->lo, &h->n_items,
					    &first);
		h->next_item = first;
		rv = head_start(h, st, &scratch);
		if (rv != 0)
			goto out;
		nh++;
	}
	for (;;) {
		struct head *best = NULL;
		uint64_t best_id = 0;
		bool best_msg = false;
		json_t *o;

		for (size_t i = 0; i < nh; i++) {
			struct head *h = &heads[i];
			uint64_t id = item_head(h);

			if (id != 0 && (best == NULL || id < best_id)) {
				best = h;
				best_id = id;
				best_msg = false;
			}
			if (h->seq != 0 && (best == NULL || h->msg_id < best_id)) {
				best = h;
				best_id = h->msg_id;
				best_msg = true;
			}
		}
		if (best == NULL)
			break;
		if (emitted == limit ||
		    (max_bytes != 0 && emitted > 0 && bytes >= max_bytes)) {
			*more = true;
			break;
		}
		if (best_msg) {
			o = message_item(f, st, best, user, &scratch, &bytes,
					 &rv);
			if (o == NULL)
				goto out;
			best->seq++;
			rv = head_load(best, st, &scratch);
		} else if (best->items[best->next_item].kind == LOG_REC_EDIT) {
			const struct sync_item *it =
				&best->items[best->next_item];

			/* sync_edit.h: the message's latest version. */
			o = sync_edited_item(f, best->c, it->message_id,
					     it->seq, user, &scratch, &rv);
			bytes += 64 + scratch.len;
			best->next_item++;
			if (o == NULL)
				goto out;
		} else {
			o = other_item(best, &best->items[best->next_item]);
			bytes += 64 + best->items[best->next_item].body_len;
			best->next_item++;
			rv = o != NULL ? 0 : -ENOMEM;
		}
		if (o == NULL || json_array_append_new(items, o) != 0) {
			rv = -ENOMEM;
			goto out;
		}
		if (rv != 0)
			goto out;
		*cursor = best_id;
		emitted++;
	}
	rv = 0;
out:
	cf_buf_release(&scratch);
	free(heads);
	free(ents);
	return rv;
}

int sync_feed(struct rft_fsm *f, const struct sync_inbox *ix,
	      struct cf_str user, uint64_t after, unsigned limit,
	      json_t **out)
{
	json_t *items = json_array();
	char cur[24];
	uint64_t cursor;
	bool more;
	int rv;

	if (items == NULL)
		return -ENOMEM;
	rv = sync_feed_read(f, ix, user, after, 0, limit, 0, items, &cursor,
			    &more);
	if (rv != 0) {
		json_decref(items);
		return rv;
	}
	sync_cursor_str(cursor, cur);
	*out = json_pack("{s:o, s:s, s:b}", "items", items, "cursor", cur,
			 "hasMore", more);
	return *out != NULL ? 0 : -ENOMEM;
}
