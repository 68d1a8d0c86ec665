#include "config.h"

/*
 * rft_edit: the FSM's state of message edits (issue 13), shared by apply
 * (rft_apply_edit.c), the rebuild from records (rft_fsm.c) and the state
 * image (rft_image.c).
 *
 * How a read finds the latest version of an edited message: each
 * conversation keeps a map, u64 seq (little-endian) -> struct rft_edit,
 * of its edited messages only: the latest edit's messageId, its entry
 * clock (editedAt) and where its LOG_REC_EDIT record lives in the store
 * (struct log_loc: the hot segment it was appended to and its offset; a
 * segment that compaction replaced leads to its cold file, which finds the
 * record by messageId: log_store_read_at). A history or sync read of seq
 * first asks the map (one probe, skipped while the conversation has no
 * edit at all, as rft_conv_recalled is), then reads the message record by
 * seq as before, and only for an edited one the edit's record: a message
 * that was never edited costs what it cost before. The map is persisted in
 * the state image (section "EDT1", below) and rebuilt from the LOG_REC_EDIT
 * records on a full open (the store tells where each scanned record lives:
 * log_store_opts.scan_loc).
 *
 * Idempotency of edits: the key (conversation, editor, clientEditId) lives
 * in a map of its own (f->edit_keys), so it never meets a clientMsgId:
 * u8 length + bytes of each part -> struct rft_edit_key {seq, messageId,
 * ts} of the edit that first used it. A key answers while the entry clock
 * is within RFT_DEDUP_WINDOW_MS of its ts (the rule of sends); older keys
 * are swept from memory now and then (rft__edit_key_add), which changes
 * memory, never an answer. Edits are rare next to messages: a few dozen
 * bytes per edit of the last day.
 *
 * Section "EDT1" (after the idempotency window's, integers little-endian,
 * str = u32 length + bytes):
 *   u32 C conversations with edits, then C times: str id, u32 E, E times:
 *     u64 seq, u64 latest edit's messageId, u64 its ts, u32 segno, u32 off
 *   u32 K keys, then K times: str key, u64 seq, u64 messageId, u64 ts
 *
 * Threads: the FSM's (loop thread, or the open/rebuild thread).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "raft/rft_fsm_int.h"

#define EDIT_TAG 0x31544445u /* "EDT1" */

struct rft_edit_key {
	uint64_t seq;
	uint64_t message_id;
	uint64_t ts;
};

const struct rft_edit *rft_conv_edit(const struct rft_conv *c, uint64_t seq)
{
	const struct rft_conv_st *st = rft__st(c);
	uint8_t key[8];

	if (st->edited.n == 0)
		return NULL;
	cf_put_u64(key, seq);
	return cf_map_get(&st->edited, key, sizeof key);
}

int rft__edit_set(struct rft_conv_st *c, uint64_t seq,
		  const struct rft_edit *e)
{
	struct rft_edit *v;
	uint8_t key[8];
	int rv;

	cf_put_u64(key, seq);
	v = cf_map_get(&c->edited, key, sizeof key);
	if (v != NULL) {
		*v = *e;
		return 0;
	}
	v = malloc(sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	*v = *e;
	rv = cf_map_put(&c->edited, key, sizeof key, v, NULL);
	if (rv != 0)
		free(v);
	return rv;
}

void rft__edit_conv_release(struct rft_conv_st *c)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	while (cf_map_next(&c->edited, &i, &s))
		free(s->val);
	cf_map_release(&c->edited);
}

int rft_fsm_read_edit(struct rft_fsm *f, const struct rft_conv *c,
		      const struct rft_edit *e, struct log_record *rec,
		      struct cf_buf *scratch)
{
	int rv;

	if (f->store == NULL)
		return CF_EUNAVAIL;
	rv = log_store_read_at(f->store, cf_str_c(c->id), &e->loc,
			       e->message_id, rec, scratch);
	if (rv == 0 && rec->kind != LOG_REC_EDIT)
		return CF_ECORRUPT;
	return rv;
}

/* ---- idempotency keys ---- */

/* The map key of (conv, user, id) into buf (3 * 256 bytes); its length. */
static size_t key_of(struct cf_str conv, struct cf_str user, struct cf_str id,
		     uint8_t *buf)
{
	struct cf_str part[3] = {conv, user, id};
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		size_t len = part[i].len > 255 ? 255 : part[i].len;

		buf[n++] = (uint8_t)len;
		if (len > 0)
			memcpy(buf + n, part[i].p, len);
		n += len;
	}
	return n;
}

int rft__edit_key_find(const struct rft_fsm *f, struct cf_str conv,
		       struct cf_str user, struct cf_str id, uint64_t clock,
		       uint64_t *seq, uint64_t *message_id, uint64_t *ts)
{
	uint8_t buf[3 * 256];
	size_t n = key_of(conv, user, id, buf);
	const struct rft_edit_key *k = cf_map_get(&f->edit_keys, buf, n);

	if (k == NULL ||
	    (clock > k->ts && clock - k->ts >= RFT_DEDUP_WINDOW_MS))
		return 0;
	*seq = k->seq;
	*message_id = k->message_id;
	*ts = k->ts;
	return 1;
}

/* Drop the keys aged out at clock (memory only). */
static void keys_sweep(struct rft_fsm *f, uint64_t clock)
{
	const struct cf_map_slot *s;
	struct cf_map_slot *old = NULL;
	size_t i = 0, n = 0;

	if (f->edit_keys.n > 0)
		old = malloc(f->edit_keys.n * sizeof(*old));
	if (old == NULL)
		return; /* memory only: try at the next sweep */
	while (cf_map_next(&f->edit_keys, &i, &s)) {
		const struct rft_edit_key *k = s->val;

		if (clock > k->ts && clock - k->ts >= RFT_DEDUP_WINDOW_MS)
			old[n++] = *s;
	}
	/* The stored key copies stay valid until their own delete. */
	for (i = 0; i < n; i++)
		free(cf_map_del(&f->edit_keys, old[i].key, old[i].klen));
	free(old);
	f->edit_keys_swept = f->edit_keys.n;
}

int rft__edit_key_add(struct rft_fsm *f, struct cf_str conv,
		      struct cf_str user, struct cf_str id, uint64_t seq,
		      uint64_t message_id, uint64_t ts, uint64_t clock)
{
	uint8_t buf[3 * 256];
	size_t n = key_of(conv, user, id, buf);
	struct rft_edit_key *k;
	void *old = NULL;
	int rv;

	if (clock > ts && clock - ts >= RFT_DEDUP_WINDOW_MS)
		return 0; /* aged out already (a rebuild) */
	k = malloc(sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	k->seq = seq;
	k->message_id = message_id;
	k->ts = ts;
	rv = cf_map_put(&f->edit_keys, buf, n, k, &old);
	if (rv != 0) {
		free(k);
		return rv;
	}
	free(old);
	if (f->edit_keys.n > 2 * f->edit_keys_swept + 64)
		keys_sweep(f, clock);
	return 0;
}

void rft__edit_keys_release(struct rft_fsm *f)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	while (cf_map_next(&f->edit_keys, &i, &s))
		free(s->val);
	cf_map_release(&f->edit_keys);
	cf_map_init(&f->edit_keys);
	f->edit_keys_swept = 0;
}

/* ---- rebuild ---- */

int rft__edit_scan(struct rft_fsm *f, struct rft_conv_st *c,
		   const struct log_record *rec)
{
	const struct rft_edit *cur = rft_conv_edit(&c->pub, rec->seq);
	struct rft_edit e;
	int rv = 0;

	if (rec->seq == 0 || rec->seq > c->pub.last_seq)
		return CF_ECORRUPT; /* an edit before its message */
	/* Cold files list a conversation's records in Raft order, but a
	 * rebuild may meet a cold file's and a hot segment's edits in any
	 * order: the highest messageId is the latest. */
	if (cur == NULL || cur->message_id < rec->message_id) {
		e.message_id = rec->message_id;
		e.ts = rec->ts;
		e.loc = f->scan_loc;
		rv = rft__edit_set(c, rec->seq, &e);
	}
	if (rv == 0 && rec->client_msg_id.len > 0)
		rv = rft__edit_key_add(f, rec->conv, rec->sender,
				       rec->client_msg_id, rec->seq,
				       rec->message_id, rec->ts, f->clock);
	return rv;
}

/* ---- state image ---- */

void rft__edit_image_write(const struct rft_fsm *f, struct cf_imgw *w)
{
	const struct cf_map_slot *s, *e;
	uint32_t n = 0;
	size_t i = 0;

	cf_imgw_begin(w, EDIT_TAG);
	while (cf_map_next(&f->convs, &i, &s))
		n += ((const struct rft_conv_st *)s->val)->edited.n > 0;
	cf_imgw_u32(w, n);
	i = 0;
	while (cf_map_next(&f->convs, &i, &s)) {
		const struct rft_conv_st *c = s->val;
		size_t k = 0;

		if (c->edited.n == 0)
			continue;
		cf_imgw_cstr(w, c->pub.id);
		cf_imgw_u32(w, (uint32_t)c->edited.n);
		while (cf_map_next(&c->edited, &k, &e)) {
			const struct rft_edit *v = e->val;

			cf_imgw_bytes(w, e->key, 8);
			cf_imgw_u64(w, v->message_id);
			cf_imgw_u64(w, v->ts);
			cf_imgw_u32(w, v->loc.segno);
			cf_imgw_u32(w, v->loc.off);
		}
	}
	cf_imgw_u32(w, (uint32_t)f->edit_keys.n);
	i = 0;
	while (cf_map_next(&f->edit_keys, &i, &s)) {
		const struct rft_edit_key *k = s->val;

		cf_imgw_str(w, s->key, s->klen);
		cf_imgw_u64(w, k->seq);
		cf_imgw_u64(w, k->message_id);
		cf_imgw_u64(w, k->ts);
	}
	cf_imgw_end(w, EDIT_TAG);
}

int rft__edit_image_read(struct rft_fsm *f, struct cf_imgr *r)
{
	uint32_t n;

	cf_imgr_begin(r, EDIT_TAG);
	n = cf_imgr_count(r, 8);
	for (uint32_t i = 0; i < n && r->err == 0; i++) {
		struct cf_str id = cf_imgr_str(r, CF_ID_MAX);
		uint32_t m = cf_imgr_count(r, 32);
		struct rft_conv_st *c = NULL;

		if (r->err == 0 && (c = rft__conv_find(f, id)) == NULL)
			cf_imgr_fail(r);
		for (uint32_t k = 0; k < m && r->err == 0; k++) {
			uint64_t seq = cf_imgr_u64(r);
			struct rft_edit e;
			int rv;

			e.message_id = cf_imgr_u64(r);
			e.ts = cf_imgr_u64(r);
			e.loc.segno = cf_imgr_u32(r);
			e.loc.off = cf_imgr_u32(r);
			if (r->err != 0)
				break;
			if (seq == 0 || seq > c->pub.last_seq) {
				cf_imgr_fail(r);
				break;
			}
			rv = rft__edit_set(c, seq, &e);
			if (rv != 0)
				return r->err = rv;
		}
	}
	n = cf_imgr_count(r, 28);
	for (uint32_t i = 0; i < n && r->err == 0; i++) {
		struct cf_str key = cf_imgr_str(r, 3 * 256);
		struct rft_edit_key *k;
		int rv;

		k = malloc(sizeof(*k));
		if (k == NULL)
			return r->err = -ENOMEM;
		k->seq = cf_imgr_u64(r);
		k->message_id = cf_imgr_u64(r);
		k->ts = cf_imgr_u64(r);
		if (r->err != 0 || key.len == 0) {
			free(k);
			cf_imgr_fail(r);
			break;
		}
		rv = cf_map_put(&f->edit_keys, key.p, key.len, k, NULL);
		if (rv != 0) {
			free(k);
			return r->err = rv;
		}
	}
	f->edit_keys_swept = f->edit_keys.n;
	cf_imgr_end(r, EDIT_TAG);
	return r->err;
}
