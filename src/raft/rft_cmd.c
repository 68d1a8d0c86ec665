#include "config.h"

/*
 * rft_cmd: the byte layout of commands, entries and results.
 *
 * All integers are little-endian. An "s16" is a string with a u16 byte length
 * in front, an "s32" one with a u32 byte length (content: up to 100,000
 * characters, so up to 400,000 bytes of UTF-8).
 *
 * Entry (one Raft entry, a batch of commands):
 *
 *   offset size
 *        0    4  magic 0x45424643 ("CFBE" read as bytes)
 *        4    2  version (RFT_ENTRY_VERSION)
 *        6    2  reserved, 0
 *        8    4  true length: header + commands, without the padding
 *       12    4  count of commands (1..RFT_ENTRY_MAX_CMDS, 0 allowed)
 *       16    8  serverTs, ms since the epoch, stamped by the leader
 *       24    8  checksum: XXH3_64bits_withSeed(body, XXH3_64bits(hdr[0..24)))
 *       32       commands, back to back
 *                then zero bytes up to the next multiple of 8
 *
 * The checksum covers the first 24 header bytes as well as the body, so that
 * a damaged serverTs or count is caught too. The whole padded entry is at most
 * RFT_ENTRY_MAX bytes. The magic and the version are checked before the
 * checksum (a later version may checksum differently): an unknown version is
 * CF_EVERSION, anything else wrong is CF_ECORRUPT.
 *
 * Command (also the unit a follower forwards on the peer link):
 *
 *   u8 type, u32 len (of the whole command, these 15 bytes included),
 *   u16 origin node, u64 origin reqId, then the fields of the type:
 *
 *   CREATE   s16 user, s16 conv, u8 conv_type, s16 title, list members
 *   MEMBERS  s16 user, s16 conv, list members (added), list removed
 *   SEND     s16 user, s16 conv, s16 client_msg_id, s16 msg_type,
 *            s32 content, s32 attachment, and only when reply_to is set or
 *            mentions is not empty: u64 reply_to, list mentions (entries
 *            written before replies existed end after the attachment)
 *   RECALL   s16 user, s16 conv, u64 seq
 *   RECEIPT  s16 user, s16 conv, u64 seq (upToSeq), u8 receipt_kind
 *   MEDIA    s16 user, s16 media_id, s32 content
 *   MARK     s16 user, u64 seq (the marker id)
 *   COMPACT  s16 user, u64 seq (partition or all), u32 count, u8 flags
 *   NOOP     s16 user
 *   EDIT     s16 user, s16 conv, u64 seq, s16 client_msg_id, s32 content,
 *            list mentions
 *   other    no fields are interpreted: the bytes up to len are skipped, so
 *            that apply can answer CF_EBADREQ for a type it does not know.
 *
 *   list     u16 count, then count s16 ids (an empty list is just u16 0)
 *
 * The fields of a known type must fill len exactly.
 *
 * Result (peer link, leader -> follower):
 *
 *   i32 status, u8 flags (bit 0 duplicate, bit 1 created), u64 index,
 *   u64 seq, u64 message_id, u64 server_ts, u64 seq2, s16 conv (<= 128)
 */

#include <assert.h>
#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "raft/rft_cmd.h"

#define ENTRY_MAGIC 0x45424643u
#define ENTRY_HDR 32u
#define CMD_HDR 15u
#define RESULT_FIXED 45u

/* --- id lists --- */

int rft_idlist_encode(struct cf_buf *out, const struct cf_str *ids,
		      unsigned n)
{
	size_t start = out->len;
	unsigned i;
	int rv;

	if (n > UINT16_MAX)
		return CF_ETOOBIG;
	rv = cf_buf_put_u16(out, (uint16_t)n);
	for (i = 0; rv == 0 && i < n; i++) {
		if (ids[i].len > UINT16_MAX) {
			rv = CF_ETOOBIG;
			break;
		}
		rv = cf_buf_put_u16(out, (uint16_t)ids[i].len);
		if (rv == 0)
			rv = cf_buf_append(out, ids[i].p, ids[i].len);
	}
	if (rv != 0)
		cf_buf_truncate(out, start);
	return rv;
}

unsigned rft_idlist_count(struct cf_str list)
{
	if (list.len < 2)
		return 0;
	return cf_get_u16(list.p);
}

bool rft_idlist_next(struct cf_str list, size_t *pos, struct cf_str *id)
{
	size_t n;

	if (list.len < 2)
		return false;
	if (*pos == 0)
		*pos = 2;
	if (*pos + 2 > list.len)
		return false;
	n = cf_get_u16(list.p + *pos);
	if (*pos + 2 + n > list.len)
		return false;
	id->p = list.p + *pos + 2;
	id->len = n;
	*pos += 2 + n;
	return true;
}

/* Read a list from r: validates it and returns its raw span. */
static struct cf_str rd_list(struct cf_rd *r)
{
	struct cf_str s = {(const char *)r->p, 0};
	const uint8_t *start = r->p;
	unsigned n = cf_rd_u16(r), i;

	for (i = 0; i < n && r->err == 0; i++)
		cf_rd_take(r, cf_rd_u16(r));
	if (r->err == 0)
		s.len = (size_t)(r->p - start);
	return s;
}

static struct cf_str rd_s16(struct cf_rd *r)
{
	struct cf_str s;
	uint16_t n = cf_rd_u16(r);

	s.p = (const char *)cf_rd_take(r, n);
	s.len = s.p != NULL ? n : 0;
	return s;
}

static struct cf_str rd_s32(struct cf_rd *r)
{
	struct cf_str s;
	uint32_t n = cf_rd_u32(r);

	s.p = (const char *)cf_rd_take(r, n);
	s.len = s.p != NULL ? n : 0;
	return s;
}

/* --- commands --- */

/* Size of a list as encoded: an empty span encodes as a bare count. */
static size_t list_size(struct cf_str l)
{
	return l.len >= 2 ? l.len : 2;
}

/* Whether a SEND carries its optional tail (reply_to, mentions). */
static bool send_has_meta(const struct rft_cmd *c)
{
	return c->reply_to != 0 || rft_idlist_count(c->mentions) > 0;
}

size_t rft_cmd_size(const struct rft_cmd *c)
{
	size_t n = CMD_HDR;

	switch (c->type) {
	case RFT_CMD_CREATE:
		n += 2 + c->user.len + 2 + c->conv.len + 1 + 2 + c->title.len +
		     list_size(c->members);
		break;
	case RFT_CMD_MEMBERS:
		n += 2 + c->user.len + 2 + c->conv.len + list_size(c->members) +
		     list_size(c->removed);
		break;
	case RFT_CMD_SEND:
		n += 2 + c->user.len + 2 + c->conv.len + 2 +
		     c->client_msg_id.len + 2 + c->msg_type.len + 4 +
		     c->content.len + 4 + c->attachment.len;
		if (send_has_meta(c))
			n += 8 + list_size(c->mentions);
		break;
	case RFT_CMD_EDIT:
		n += 2 + c->user.len + 2 + c->conv.len + 8 + 2 +
		     c->client_msg_id.len + 4 + c->content.len +
		     list_size(c->mentions);
		break;
	case RFT_CMD_RECALL:
		n += 2 + c->user.len + 2 + c->conv.len + 8;
		break;
	case RFT_CMD_RECEIPT:
		n += 2 + c->user.len + 2 + c->conv.len + 8 + 1;
		break;
	case RFT_CMD_MEDIA:
		n += 2 + c->user.len + 2 + c->media_id.len + 4 +
		     c->content.len;
		break;
	case RFT_CMD_MARK:
		n += 2 + c->user.len + 8;
		break;
	case RFT_CMD_COMPACT:
		n += 2 + c->user.len + 8 + 4 + 1;
		break;
	case RFT_CMD_NOOP:
		n += 2 + c->user.len;
		break;
	default:
		break;
	}
	return n;
}

static void wr_s16(uint8_t **p, struct cf_str s)
{
	cf_put_u16(*p, (uint16_t)s.len);
	if (s.len > 0)
		memcpy(*p + 2, s.p, s.len);
	*p += 2 + s.len;
}

static void wr_s32(uint8_t **p, struct cf_str s)
{
	cf_put_u32(*p, (uint32_t)s.len);
	if (s.len > 0)
		memcpy(*p + 4, s.p, s.len);
	*p += 4 + s.len;
}

static void wr_list(uint8_t **p, struct cf_str l)
{
	if (l.len < 2) {
		cf_put_u16(*p, 0);
		*p += 2;
		return;
	}
	memcpy(*p, l.p, l.len);
	*p += l.len;
}

static bool s16_ok(struct cf_str s)
{
	return s.len <= UINT16_MAX;
}

/* A list span given by the caller must be one well-formed list. */
static bool list_ok(struct cf_str l)
{
	struct cf_rd r;

	if (l.len < 2)
		return l.len == 0;
	cf_rd_init(&r, l.p, l.len);
	rd_list(&r);
	return r.err == 0 && r.left == 0;
}

int rft_cmd_encode(const struct rft_cmd *c, struct cf_buf *out)
{
	size_t n = rft_cmd_size(c);
	uint8_t *p, *start;
	int rv;

	if (!s16_ok(c->user) || !s16_ok(c->conv) ||
	    !s16_ok(c->client_msg_id) || !s16_ok(c->msg_type) ||
	    !s16_ok(c->title) || !s16_ok(c->media_id) ||
	    c->content.len > RFT_ENTRY_MAX || c->attachment.len > RFT_ENTRY_MAX)
		return CF_ETOOBIG;
	if (n > RFT_ENTRY_MAX - ENTRY_HDR)
		return CF_ETOOBIG;
	if (!list_ok(c->members) || !list_ok(c->removed) ||
	    !list_ok(c->mentions))
		return CF_EBADREQ;
	rv = cf_buf_reserve(out, n);
	if (rv != 0)
		return rv;
	start = p = (uint8_t *)out->data + out->len;
	p[0] = c->type;
	cf_put_u32(p + 1, (uint32_t)n);
	cf_put_u16(p + 5, c->origin);
	cf_put_u64(p + 7, c->req_id);
	p += CMD_HDR;
	switch (c->type) {
	case RFT_CMD_CREATE:
		wr_s16(&p, c->user);
		wr_s16(&p, c->conv);
		*p++ = c->conv_type;
		wr_s16(&p, c->title);
		wr_list(&p, c->members);
		break;
	case RFT_CMD_MEMBERS:
		wr_s16(&p, c->user);
		wr_s16(&p, c->conv);
		wr_list(&p, c->members);
		wr_list(&p, c->removed);
		break;
	case RFT_CMD_SEND:
		wr_s16(&p, c->user);
		wr_s16(&p, c->conv);
		wr_s16(&p, c->client_msg_id);
		wr_s16(&p, c->msg_type);
		wr_s32(&p, c->content);
		wr_s32(&p, c->attachment);
		if (send_has_meta(c)) {
			cf_put_u64(p, c->reply_to);
			p += 8;
			wr_list(&p, c->mentions);
		}
		break;
	case RFT_CMD_EDIT:
		wr_s16(&p, c->user);
		wr_s16(&p, c->conv);
		cf_put_u64(p, c->seq);
		p += 8;
		wr_s16(&p, c->client_msg_id);
		wr_s32(&p, c->content);
		wr_list(&p, c->mentions);
		break;
	case RFT_CMD_RECALL:
	case RFT_CMD_RECEIPT:
		wr_s16(&p, c->user);
		wr_s16(&p, c->conv);
		cf_put_u64(p, c->seq);
		p += 8;
		if (c->type == RFT_CMD_RECEIPT)
			*p++ = c->receipt_kind;
		break;
	case RFT_CMD_MEDIA:
		wr_s16(&p, c->user);
		wr_s16(&p, c->media_id);
		wr_s32(&p, c->content);
		break;
	case RFT_CMD_NOOP:
		wr_s16(&p, c->user);
		break;
	case RFT_CMD_MARK:
	case RFT_CMD_COMPACT:
		wr_s16(&p, c->user);
		cf_put_u64(p, c->seq);
		p += 8;
		if (c->type == RFT_CMD_COMPACT) {
			cf_put_u32(p, c->count);
			p += 4;
			*p++ = c->flags;
		}
		break;
	default:
		break;
	}
	assert((size_t)(p - start) == n);
	out->len += n;
	return 0;
}

int rft_cmd_decode(const void *buf, size_t len, struct rft_cmd *c)
{
	struct cf_rd r;
	uint32_t n;

	memset(c, 0, sizeof(*c));
	cf_rd_init(&r, buf, len);
	c->type = cf_rd_u8(&r);
	n = cf_rd_u32(&r);
	c->origin = cf_rd_u16(&r);
	c->req_id = cf_rd_u64(&r);
	if (r.err != 0 || n != len)
		return CF_ECORRUPT;
	switch (c->type) {
	case RFT_CMD_CREATE:
		c->user = rd_s16(&r);
		c->conv = rd_s16(&r);
		c->conv_type = cf_rd_u8(&r);
		c->title = rd_s16(&r);
		c->members = rd_list(&r);
		break;
	case RFT_CMD_MEMBERS:
		c->user = rd_s16(&r);
		c->conv = rd_s16(&r);
		c->members = rd_list(&r);
		c->removed = rd_list(&r);
		break;
	case RFT_CMD_SEND:
		c->user = rd_s16(&r);
		c->conv = rd_s16(&r);
		c->client_msg_id = rd_s16(&r);
		c->msg_type = rd_s16(&r);
		c->content = rd_s32(&r);
		c->attachment = rd_s32(&r);
		if (r.err == 0 && r.left > 0) {
			c->reply_to = cf_rd_u64(&r);
			c->mentions = rd_list(&r);
			/* The tail is written only when it says something. */
			if (r.err == 0 && c->reply_to == 0 &&
			    rft_idlist_count(c->mentions) == 0)
				return CF_ECORRUPT;
		}
		break;
	case RFT_CMD_EDIT:
		c->user = rd_s16(&r);
		c->conv = rd_s16(&r);
		c->seq = cf_rd_u64(&r);
		c->client_msg_id = rd_s16(&r);
		c->content = rd_s32(&r);
		c->mentions = rd_list(&r);
		break;
	case RFT_CMD_RECALL:
	case RFT_CMD_RECEIPT:
		c->user = rd_s16(&r);
		c->conv = rd_s16(&r);
		c->seq = cf_rd_u64(&r);
		if (c->type == RFT_CMD_RECEIPT)
			c->receipt_kind = cf_rd_u8(&r);
		break;
	case RFT_CMD_MEDIA:
		c->user = rd_s16(&r);
		c->media_id = rd_s16(&r);
		c->content = rd_s32(&r);
		break;
	case RFT_CMD_MARK:
		c->user = rd_s16(&r);
		c->seq = cf_rd_u64(&r);
		break;
	case RFT_CMD_NOOP:
		c->user = rd_s16(&r);
		break;
	case RFT_CMD_COMPACT:
		c->user = rd_s16(&r);
		c->seq = cf_rd_u64(&r);
		c->count = cf_rd_u32(&r);
		c->flags = cf_rd_u8(&r);
		break;
	default:
		/* Unknown type: skip its bytes, apply answers CF_EBADREQ. */
		cf_rd_take(&r, r.left);
		break;
	}
	if (r.err != 0 || r.left != 0)
		return CF_ECORRUPT;
	return 0;
}

/* --- entries --- */

static uint64_t entry_hash(const uint8_t *hdr, const uint8_t *body,
			   size_t body_len)
{
	return XXH3_64bits_withSeed(body, body_len, XXH3_64bits(hdr, 24));
}

int rft_batch_begin(struct rft_batch *b, struct cf_buf *out)
{
	int rv = cf_buf_zero(out, ENTRY_HDR);

	if (rv != 0)
		return rv;
	b->out = out;
	b->start = out->len - ENTRY_HDR;
	b->count = 0;
	return 0;
}

int rft_batch_add(struct rft_batch *b, const void *cmd, size_t len)
{
	struct rft_cmd c;
	size_t used = b->out->len - b->start;
	int rv;

	if (b->count >= RFT_ENTRY_MAX_CMDS || len > RFT_ENTRY_MAX - used)
		return CF_ETOOBIG;
	/*
	 * A command that does not decode would make every node abort when it
	 * applies the entry: refuse it here, on the leader, instead.
	 */
	rv = rft_cmd_decode(cmd, len, &c);
	if (rv != 0)
		return rv;
	rv = cf_buf_append(b->out, cmd, len);
	if (rv != 0)
		return rv;
	b->count++;
	return 0;
}

int rft_batch_finish(struct rft_batch *b, uint64_t server_ts)
{
	size_t true_len = b->out->len - b->start;
	size_t pad = (8 - true_len % 8) % 8;
	uint8_t *h;
	int rv;

	assert(true_len <= RFT_ENTRY_MAX);
	rv = cf_buf_zero(b->out, pad);
	if (rv != 0)
		return rv;
	h = (uint8_t *)b->out->data + b->start;
	cf_put_u32(h, ENTRY_MAGIC);
	cf_put_u16(h + 4, RFT_ENTRY_VERSION);
	cf_put_u16(h + 6, 0);
	cf_put_u32(h + 8, (uint32_t)true_len);
	cf_put_u32(h + 12, b->count);
	cf_put_u64(h + 16, server_ts);
	cf_put_u64(h + 24,
		   entry_hash(h, h + ENTRY_HDR, true_len - ENTRY_HDR));
	return 0;
}

int rft_entry_decode(const void *buf, size_t len, struct rft_entry *e)
{
	const uint8_t *p = buf;
	uint32_t true_len, count, i;
	size_t pos, k;

	memset(e, 0, sizeof(*e));
	if (len < ENTRY_HDR || len % 8 != 0 || len > RFT_ENTRY_MAX)
		return CF_ECORRUPT;
	if (cf_get_u32(p) != ENTRY_MAGIC)
		return CF_ECORRUPT;
	if (cf_get_u16(p + 4) != RFT_ENTRY_VERSION)
		return CF_EVERSION;
	if (cf_get_u16(p + 6) != 0)
		return CF_ECORRUPT;
	true_len = cf_get_u32(p + 8);
	count = cf_get_u32(p + 12);
	if (true_len < ENTRY_HDR || true_len > len || len - true_len >= 8 ||
	    count > RFT_ENTRY_MAX_CMDS)
		return CF_ECORRUPT;
	for (k = true_len; k < len; k++)
		if (p[k] != 0)
			return CF_ECORRUPT;
	if (cf_get_u64(p + 24) !=
	    entry_hash(p, p + ENTRY_HDR, true_len - ENTRY_HDR))
		return CF_ECORRUPT;
	/* The commands must tile the body exactly, count of them. */
	for (i = 0, pos = ENTRY_HDR; pos < true_len; i++) {
		uint32_t n;

		if (true_len - pos < CMD_HDR)
			return CF_ECORRUPT;
		n = cf_get_u32(p + pos + 1);
		if (n < CMD_HDR || n > true_len - pos)
			return CF_ECORRUPT;
		pos += n;
	}
	if (i != count)
		return CF_ECORRUPT;
	e->version = RFT_ENTRY_VERSION;
	e->count = count;
	e->server_ts = cf_get_u64(p + 16);
	e->body = p + ENTRY_HDR;
	e->body_len = true_len - ENTRY_HDR;
	return 0;
}

int rft_entry_next(const struct rft_entry *e, size_t *pos,
		   struct rft_cmd *cmd)
{
	uint32_t n;
	int rv;

	if (*pos >= e->body_len)
		return 0;
	if (e->body_len - *pos < CMD_HDR)
		return CF_ECORRUPT;
	n = cf_get_u32(e->body + *pos + 1);
	if (n < CMD_HDR || n > e->body_len - *pos)
		return CF_ECORRUPT;
	rv = rft_cmd_decode(e->body + *pos, n, cmd);
	if (rv != 0)
		return rv;
	*pos += n;
	return 1;
}

/* --- results --- */

int rft_result_encode(const struct rft_result *r, struct cf_buf *out)
{
	size_t clen = strnlen(r->conv, sizeof(r->conv) - 1);
	uint8_t *p;
	int rv;

	rv = cf_buf_reserve(out, RESULT_FIXED + 2 + clen);
	if (rv != 0)
		return rv;
	p = (uint8_t *)out->data + out->len;
	cf_put_u32(p, (uint32_t)r->status);
	p[4] = (uint8_t)((r->duplicate ? 1 : 0) | (r->created ? 2 : 0));
	cf_put_u64(p + 5, r->index);
	cf_put_u64(p + 13, r->seq);
	cf_put_u64(p + 21, r->message_id);
	cf_put_u64(p + 29, r->server_ts);
	cf_put_u64(p + 37, r->seq2);
	cf_put_u16(p + 45, (uint16_t)clen);
	memcpy(p + 47, r->conv, clen);
	out->len += RESULT_FIXED + 2 + clen;
	return 0;
}

int rft_result_decode(const void *buf, size_t len, struct rft_result *r)
{
	struct cf_rd rd;
	struct cf_str conv;
	uint8_t flags;

	memset(r, 0, sizeof(*r));
	cf_rd_init(&rd, buf, len);
	r->status = (int32_t)cf_rd_u32(&rd);
	flags = cf_rd_u8(&rd);
	r->index = cf_rd_u64(&rd);
	r->seq = cf_rd_u64(&rd);
	r->message_id = cf_rd_u64(&rd);
	r->server_ts = cf_rd_u64(&rd);
	r->seq2 = cf_rd_u64(&rd);
	conv = rd_s16(&rd);
	/* A NUL inside conv would cut the id the client is given (found by
	 * fuzz_cmd: decode, encode did not give the same bytes back). */
	if (rd.err != 0 || rd.left != 0 || conv.len >= sizeof(r->conv) ||
	    (flags & ~3u) != 0 || r->status > 0 ||
	    (conv.len > 0 && memchr(conv.p, '\0', conv.len) != NULL))
		return CF_ECORRUPT;
	r->duplicate = (flags & 1) != 0;
	r->created = (flags & 2) != 0;
	memcpy(r->conv, conv.p, conv.len);
	r->conv[conv.len] = '\0';
	return 0;
}

void rft_keyed_conv_id(struct cf_str user, struct cf_str key,
		       char out[RFT_KEYED_CONV_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	char in[2 * CF_ID_MAX + 1];
	XXH128_hash_t h;
	uint8_t b[16];

	assert(user.len <= CF_ID_MAX && key.len <= CF_ID_MAX);
	memcpy(in, user.p, user.len);
	in[user.len] = '\0';
	memcpy(in + user.len + 1, key.p, key.len);
	h = XXH3_128bits(in, user.len + 1 + key.len);
	cf_put_u64(b, h.high64);
	cf_put_u64(b + 8, h.low64);
	memcpy(out, "c_k", 3);
	for (unsigned i = 0; i < 16; i++) {
		out[3 + 2 * i] = hex[b[i] >> 4];
		out[4 + 2 * i] = hex[b[i] & 15];
	}
	out[RFT_KEYED_CONV_LEN] = '\0';
}

bool rft_keyed_conv_id_valid(struct cf_str id)
{
	if (id.len != RFT_KEYED_CONV_LEN || memcmp(id.p, "c_k", 3) != 0)
		return false;
	for (size_t i = 3; i < id.len; i++)
		if (!((id.p[i] >= '0' && id.p[i] <= '9') ||
		      (id.p[i] >= 'a' && id.p[i] <= 'f')))
			return false;
	return true;
}
