#include "config.h"

/*
 * Record encoding. Every integer is little-endian.
 *
 *   offset  size  field
 *        0     4  total length of the record in bytes, checksum included
 *        4     1  kind (enum log_rec_kind, 1..7)
 *        5     1  flags
 *        6     1  length of conv            (1..128)
 *        7     1  length of sender          (0..128)
 *        8     1  length of client_msg_id   (0..128)
 *        9     1  length of msg_type        (0..32)
 *       10     2  reserved, zero
 *       12     4  length of body
 *       16     8  raft index
 *       24     8  messageId
 *       32     8  seq
 *       40     8  ts (entry clock, ms since the epoch)
 *       48     .  conv, sender, client_msg_id, msg_type, body, back to back
 *    len-8     8  XXH3_64bits of bytes [0, len-8)
 *
 * Validity rule (a reader accepts a record only if all hold):
 *   - at least LOG_REC_HDR + 8 bytes are available and the total length is
 *     within [LOG_REC_HDR + 1 + 8, LOG_RECORD_MAX] and available;
 *   - the string lengths are within their limits, the reserved bytes are
 *     zero, and 48 + the sum of the string lengths + 8 == total length;
 *   - the kind is known;
 *   - the checksum matches.
 * The checksum is checked before any field is trusted beyond the lengths
 * needed to find it, so a torn or damaged record is always refused and a
 * recovery scan stops there.
 */

#include "log/log_record.h"

#include <errno.h>
#include <xxhash.h>

#include "common/cf_err.h"

#define LOG_REC_HDR 48
#define LOG_REC_SUM 8
#define LOG_REC_CONV_MAX 128
#define LOG_REC_SENDER_MAX 128
#define LOG_REC_CMID_MAX 128
#define LOG_REC_TYPE_MAX 32

static int rec_kind_known(unsigned kind)
{
	return kind >= LOG_REC_MESSAGE && kind <= LOG_REC_EDIT;
}

size_t log_record_size(const struct log_record *rec)
{
	return LOG_REC_HDR + rec->conv.len + rec->sender.len +
	       rec->client_msg_id.len + rec->msg_type.len + rec->body.len +
	       LOG_REC_SUM;
}

static uint8_t *rec_put_str(uint8_t *p, struct cf_str s)
{
	if (s.len > 0)
		memcpy(p, s.p, s.len);
	return p + s.len;
}

int log_record_encode(const struct log_record *rec, struct cf_buf *out)
{
	size_t n;
	uint8_t *start;
	uint8_t *p;
	int rv;

	if (!rec_kind_known(rec->kind) || rec->conv.len == 0 ||
	    rec->conv.len > LOG_REC_CONV_MAX ||
	    rec->sender.len > LOG_REC_SENDER_MAX ||
	    rec->client_msg_id.len > LOG_REC_CMID_MAX ||
	    rec->msg_type.len > LOG_REC_TYPE_MAX)
		return CF_EBADREQ;
	if (rec->body.len > LOG_RECORD_MAX)
		return CF_ETOOBIG;
	n = log_record_size(rec);
	if (n > LOG_RECORD_MAX)
		return CF_ETOOBIG;
	rv = cf_buf_reserve(out, n);
	if (rv != 0)
		return rv;
	start = (uint8_t *)out->data + out->len;
	p = start;
	cf_put_u32(p, (uint32_t)n);
	p[4] = rec->kind;
	p[5] = rec->flags;
	p[6] = (uint8_t)rec->conv.len;
	p[7] = (uint8_t)rec->sender.len;
	p[8] = (uint8_t)rec->client_msg_id.len;
	p[9] = (uint8_t)rec->msg_type.len;
	cf_put_u16(p + 10, 0);
	cf_put_u32(p + 12, (uint32_t)rec->body.len);
	cf_put_u64(p + 16, rec->raft_index);
	cf_put_u64(p + 24, rec->message_id);
	cf_put_u64(p + 32, rec->seq);
	cf_put_u64(p + 40, rec->ts);
	p += LOG_REC_HDR;
	p = rec_put_str(p, rec->conv);
	p = rec_put_str(p, rec->sender);
	p = rec_put_str(p, rec->client_msg_id);
	p = rec_put_str(p, rec->msg_type);
	p = rec_put_str(p, rec->body);
	cf_put_u64(p, XXH3_64bits(start, n - LOG_REC_SUM));
	out->len += n;
	return 0;
}

static struct cf_str rec_take_str(const uint8_t **p, size_t n)
{
	struct cf_str s = {(const char *)*p, n};
	*p += n;
	return s;
}

int log_record_decode(const void *buf, size_t len, struct log_record *rec,
		      size_t *used)
{
	const uint8_t *p = buf;
	uint32_t total;
	uint32_t body_len;
	size_t want;

	if (len < LOG_REC_HDR + LOG_REC_SUM)
		/*
		 * tested: test_log_record
		 * short_input_is_refused_without_reading_past_len
		 */
		return CF_ECORRUPT;
	total = cf_get_u32(p);
	if (total < LOG_REC_HDR + 1 + LOG_REC_SUM || total > LOG_RECORD_MAX ||
	    total > len)
		return CF_ECORRUPT;
	body_len = cf_get_u32(p + 12);
	if (p[6] == 0 || p[6] > LOG_REC_CONV_MAX ||
	    p[7] > LOG_REC_SENDER_MAX || p[8] > LOG_REC_CMID_MAX ||
	    p[9] > LOG_REC_TYPE_MAX || cf_get_u16(p + 10) != 0 ||
	    body_len > LOG_RECORD_MAX)
		return CF_ECORRUPT;
	want = (size_t)LOG_REC_HDR + p[6] + p[7] + p[8] + p[9] + body_len +
	       LOG_REC_SUM;
	if (want != total)
		return CF_ECORRUPT;
	if (XXH3_64bits(p, total - LOG_REC_SUM) !=
	    cf_get_u64(p + total - LOG_REC_SUM))
		/*
		 * tested: test_log_record
		 * corrupt_byte_at_every_position_is_detected
		 */
		return CF_ECORRUPT;
	if (!rec_kind_known(p[4]))
		return CF_ECORRUPT;
	rec->kind = p[4];
	rec->flags = p[5];
	rec->raft_index = cf_get_u64(p + 16);
	rec->message_id = cf_get_u64(p + 24);
	rec->seq = cf_get_u64(p + 32);
	rec->ts = cf_get_u64(p + 40);
	{
		const uint8_t *q = p + LOG_REC_HDR;
		rec->conv = rec_take_str(&q, p[6]);
		rec->sender = rec_take_str(&q, p[7]);
		rec->client_msg_id = rec_take_str(&q, p[8]);
		rec->msg_type = rec_take_str(&q, p[9]);
		rec->body = rec_take_str(&q, body_len);
	}
	if (used != NULL)
		*used = total;
	return 0;
}
