#include "config.h"

/*
 * rft_rec: the bodies of FSM records (little-endian; "s16" is a string with a
 * u16 byte length in front; "list" is u16 count then count s16 ids, the same
 * id list as in rft_cmd).
 *
 *   LOG_REC_CONV      u8 conv type (enum rft_conv_type), s16 owner,
 *                     s16 title, list members (sorted bytewise, owner
 *                     included, no repeats)
 *   LOG_REC_MEMBERS   list added, list removed (only real changes)
 *   LOG_REC_RECEIPT   u64 deliveredSeq, u64 readSeq (after the receipt)
 *   LOG_REC_MESSAGE   without RFT_REC_MSG_ATTACH in flags: the content
 *                     itself; with it: u32 content length, content, then the
 *                     attachment JSON to the end of the body. Readers that
 *                     only want text use rft_rec_message_split().
 *                     With RFT_REC_MSG_META, the body starts with u64
 *                     replyTo (0 = none), list mentions (sorted, unique),
 *                     and the rest is as above.
 *   LOG_REC_EDIT      the same as a message (the new version).
 *
 * Each body must be consumed exactly by its decoder, or it is CF_ECORRUPT.
 */

#include <errno.h>
#include <string.h>

#include "common/cf_err.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"

static int put_s16(struct cf_buf *out, struct cf_str s)
{
	int rv;

	if (s.len > UINT16_MAX)
		return CF_ETOOBIG;
	rv = cf_buf_put_u16(out, (uint16_t)s.len);
	if (rv == 0)
		rv = cf_buf_append(out, s.p, s.len);
	return rv;
}

static struct cf_str rd_s16(struct cf_rd *r)
{
	struct cf_str s;
	uint16_t n = cf_rd_u16(r);

	s.p = (const char *)cf_rd_take(r, n);
	s.len = s.p != NULL ? n : 0;
	return s;
}

/* A list at r's position: validated, returned as its raw span. */
static struct cf_str rd_list(struct cf_rd *r)
{
	const uint8_t *start = r->p;
	struct cf_str s = {(const char *)start, 0};
	unsigned n = cf_rd_u16(r), i;

	for (i = 0; i < n && r->err == 0; i++)
		cf_rd_take(r, cf_rd_u16(r));
	if (r->err == 0)
		s.len = (size_t)(r->p - start);
	return s;
}

int rft_rec_conv_encode(struct cf_buf *out, uint8_t type, struct cf_str owner,
			struct cf_str title, const struct cf_str *members,
			unsigned n)
{
	size_t start = out->len;
	int rv;

	rv = cf_buf_put_u8(out, type);
	if (rv == 0)
		rv = put_s16(out, owner);
	if (rv == 0)
		rv = put_s16(out, title);
	if (rv == 0)
		rv = rft_idlist_encode(out, members, n);
	if (rv != 0)
		cf_buf_truncate(out, start);
	return rv;
}

int rft_rec_conv_decode(struct cf_str body, struct rft_rec_conv *c)
{
	struct cf_rd r;

	cf_rd_init(&r, body.p, body.len);
	c->type = cf_rd_u8(&r);
	c->owner = rd_s16(&r);
	c->title = rd_s16(&r);
	c->members = rd_list(&r);
	if (r.err != 0 || r.left != 0)
		return CF_ECORRUPT;
	if (c->type != RFT_CONV_DIRECT && c->type != RFT_CONV_GROUP)
		return CF_ECORRUPT;
	return 0;
}

int rft_rec_members_encode(struct cf_buf *out, const struct cf_str *added,
			   unsigned n_added, const struct cf_str *removed,
			   unsigned n_removed)
{
	size_t start = out->len;
	int rv;

	rv = rft_idlist_encode(out, added, n_added);
	if (rv == 0)
		rv = rft_idlist_encode(out, removed, n_removed);
	if (rv != 0)
		cf_buf_truncate(out, start);
	return rv;
}

int rft_rec_members_decode(struct cf_str body, struct rft_rec_members *m)
{
	struct cf_rd r;

	cf_rd_init(&r, body.p, body.len);
	m->added = rd_list(&r);
	m->removed = rd_list(&r);
	if (r.err != 0 || r.left != 0)
		return CF_ECORRUPT;
	return 0;
}

int rft_rec_receipt_encode(struct cf_buf *out, const struct rft_rec_receipt *r)
{
	int rv = cf_buf_put_u64(out, r->delivered);

	if (rv == 0)
		rv = cf_buf_put_u64(out, r->read);
	return rv;
}

int rft_rec_receipt_decode(struct cf_str body, struct rft_rec_receipt *r)
{
	if (body.len != 16)
		return CF_ECORRUPT;
	r->delivered = cf_get_u64(body.p);
	r->read = cf_get_u64(body.p + 8);
	if (r->read > r->delivered)
		return CF_ECORRUPT;
	return 0;
}

/* Meta block: u64 reply_to, list mentions; the span it takes, or 0. */
static size_t meta_len(const struct log_record *rec, struct rft_rec_meta *m)
{
	struct cf_rd r;

	cf_rd_init(&r, rec->body.p, rec->body.len);
	m->reply_to = cf_rd_u64(&r);
	m->mentions = rd_list(&r);
	if (r.err != 0)
		return 0;
	if (m->mentions.len == 2) /* an empty list: count only */
		m->mentions.len = 0;
	return (size_t)(r.p - (const uint8_t *)rec->body.p);
}

static bool meta_set(const struct rft_rec_meta *meta)
{
	return meta != NULL &&
	       (meta->reply_to != 0 || rft_idlist_count(meta->mentions) > 0);
}

int rft_rec_message_encode2(struct cf_buf *out, struct cf_str content,
			    struct cf_str attachment,
			    const struct rft_rec_meta *meta, uint8_t *flags)
{
	size_t start = out->len;
	int rv = 0;

	*flags = 0;
	if (meta_set(meta)) {
		rv = cf_buf_put_u64(out, meta->reply_to);
		if (rv == 0 && meta->mentions.len >= 2)
			rv = cf_buf_append(out, meta->mentions.p,
					   meta->mentions.len);
		else if (rv == 0)
			rv = cf_buf_put_u16(out, 0);
		*flags |= RFT_REC_MSG_META;
	}
	if (rv == 0 && attachment.len == 0) {
		rv = cf_buf_append(out, content.p, content.len);
	} else if (rv == 0) {
		if (content.len > UINT32_MAX)
			rv = CF_ETOOBIG;
		if (rv == 0)
			rv = cf_buf_put_u32(out, (uint32_t)content.len);
		if (rv == 0)
			rv = cf_buf_append(out, content.p, content.len);
		if (rv == 0)
			rv = cf_buf_append(out, attachment.p, attachment.len);
		*flags |= RFT_REC_MSG_ATTACH;
	}
	if (rv != 0) {
		cf_buf_truncate(out, start);
		*flags = 0;
	}
	return rv;
}

int rft_rec_message_encode(struct cf_buf *out, struct cf_str content,
			   struct cf_str attachment, uint8_t *flags)
{
	return rft_rec_message_encode2(out, content, attachment, NULL, flags);
}

int rft_rec_message_meta(const struct log_record *rec,
			 struct rft_rec_meta *meta)
{
	memset(meta, 0, sizeof(*meta));
	if ((rec->flags & RFT_REC_MSG_META) == 0)
		return 0;
	if (meta_len(rec, meta) == 0) {
		memset(meta, 0, sizeof(*meta));
		return CF_ECORRUPT;
	}
	return 0;
}

int rft_rec_message_split(const struct log_record *rec, struct cf_str *content,
			  struct cf_str *attachment)
{
	struct cf_str body = rec->body;
	uint32_t n;

	if ((rec->flags & RFT_REC_MSG_META) != 0) {
		struct rft_rec_meta m;
		size_t skip = meta_len(rec, &m);

		if (skip == 0)
			return CF_ECORRUPT;
		body.p += skip;
		body.len -= skip;
	}
	attachment->p = body.p;
	attachment->len = 0;
	if ((rec->flags & RFT_REC_MSG_ATTACH) == 0) {
		*content = body;
		return 0;
	}
	if (body.len < 4)
		return CF_ECORRUPT;
	n = cf_get_u32(body.p);
	if (n > body.len - 4)
		return CF_ECORRUPT;
	content->p = body.p + 4;
	content->len = n;
	attachment->p = body.p + 4 + n;
	attachment->len = body.len - 4 - n;
	return 0;
}

bool rft_rec_mentions_has(struct cf_str mentions, struct cf_str id)
{
	struct cf_str m;
	size_t pos = 0;

	while (rft_idlist_next(mentions, &pos, &m))
		if (m.len == id.len && memcmp(m.p, id.p, id.len) == 0)
			return true;
	return false;
}
