#include "config.h"

/*
 * fe_ws: RFC 6455 framing, server side.
 *
 * Wire format of a frame (section 5.2), most significant bit first:
 *   byte 0: FIN(1) RSV1(1) RSV2(1) RSV3(1) opcode(4)
 *   byte 1: MASK(1) len7(7)
 *   len7 == 126: 2 more bytes, big-endian length
 *   len7 == 127: 8 more bytes, big-endian length, most significant bit 0
 *   MASK == 1: 4 bytes of masking key (client frames MUST be masked)
 *   payload: byte i is XORed with key[i % 4]
 * Rules enforced on receive, each with the close code to send:
 *   RSV bit set (no extension is negotiated)          -> 1002
 *   reserved opcode (3-7, 0xb-0xf)                    -> 1002
 *   unmasked frame                                    -> 1002
 *   control frame with FIN 0 or more than 125 bytes   -> 1002
 *   64-bit length with the top bit set                -> 1002
 *   continuation with no message started             -> 1002
 *   text/binary while a fragmented message is open    -> 1002
 *   message longer than max_message (all fragments)   -> 1009
 *   text not UTF-8, checked as bytes arrive           -> 1007
 *   close payload of 1 byte, or a code not allowed    -> 1002
 *   close reason not UTF-8                            -> 1007
 * Control frames may arrive between the fragments of a message; their
 * payload goes to a separate 125-byte buffer so the message is untouched.
 * Frames we send carry no mask, and non-minimal lengths are never produced
 * (we accept them on receive).
 */

#include "frontend/fe_ws.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "common/cf_err.h"

enum {
	ST_HDR,
	ST_PAYLOAD,
	ST_CLOSED,
};

/* A message buffer larger than this is freed after its message. */
#define KEEP_BYTES (64u * 1024u)

#define UTF8_ACCEPT 0
#define UTF8_REJECT 12

/*
 * Bjoern Hoehrmann's UTF-8 DFA (http://bjoern.hoehrmann.de/utf-8/decoder/dfa/,
 * MIT licence): byte -> class, then (state + class) -> state.
 */
static const uint8_t utf8d[] = {
	/* byte classes, 16 bytes a line */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	8, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	10, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3,
	11, 6, 6, 6, 5, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
	/* transitions: state (a multiple of 12) + class */
	0, 12, 24, 36, 60, 96, 84, 12, 12, 12, 48, 72,
	12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
	12, 0, 12, 12, 12, 12, 12, 0, 12, 0, 12, 12,
	12, 24, 12, 12, 12, 12, 12, 24, 12, 24, 12, 12,
	12, 12, 12, 12, 12, 12, 12, 24, 12, 12, 12, 12,
	12, 24, 12, 12, 12, 12, 12, 12, 12, 24, 12, 12,
	12, 12, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
	12, 36, 12, 12, 12, 12, 12, 36, 12, 36, 12, 12,
	12, 36, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
};

bool fe_ws_utf8_step(uint32_t *state, const uint8_t *s, size_t n)
{
	uint32_t st = *state;
	size_t i = 0;

	while (i < n) {
		/* between characters, skip ASCII 8 bytes at a time */
		if (st == UTF8_ACCEPT && n - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080ull) == 0) {
				i += 8;
				continue;
			}
		}
		st = utf8d[256 + st + utf8d[s[i++]]];
		if (st == UTF8_REJECT)
			break;
	}
	*state = st;
	return st != UTF8_REJECT;
}

bool fe_ws_utf8_valid(const uint8_t *s, size_t n)
{
	uint32_t st = UTF8_ACCEPT;

	return fe_ws_utf8_step(&st, s, n) && st == UTF8_ACCEPT;
}

bool fe_ws_close_code_valid(unsigned code)
{
	/* 1004 reserved; 1005, 1006, 1015 never sent; 1012-1014 are in the
	 * IANA registry (service restart, try again later, bad gateway). */
	return (code >= 1000 && code <= 1003) ||
	       (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

void fe_ws_parser_init(struct fe_ws_parser *p, size_t max_message)
{
	memset(p, 0, sizeof *p);
	p->max_message = max_message != 0 ? max_message : FE_WS_MAX_MESSAGE;
	p->state = ST_HDR;
	p->hdr_need = 2;
	cf_buf_init(&p->msg);
}

void fe_ws_parser_release(struct fe_ws_parser *p)
{
	cf_buf_release(&p->msg);
	free(p->ctrl);
	p->ctrl = NULL;
}

void fe_ws_parser_trim(struct fe_ws_parser *p)
{
	/* Between frames (or closed), no control payload is pending. */
	if (p->ctrl != NULL &&
	    ((p->state == ST_HDR && p->hdr_len == 0) || p->state == ST_CLOSED)) {
		free(p->ctrl);
		p->ctrl = NULL;
	}
	if (p->in_message)
		return;
	p->reset_message = false;
	cf_buf_release(&p->msg);
}

/* The control payload received (an empty one may have no buffer). */
static const uint8_t *ctrl_data(const struct fe_ws_parser *p)
{
	static const uint8_t none[1];

	return p->ctrl != NULL ? p->ctrl : none;
}

static int fail(struct fe_ws_parser *p, uint16_t code, int err)
{
	if (p->err == 0) {
		p->err = err;
		p->close_code = code;
	}
	return p->err;
}

static bool is_control(uint8_t op)
{
	return (op & 0x8) != 0;
}

/* Validate the completed header and set up the frame. */
static int start_frame(struct fe_ws_parser *p)
{
	const uint8_t *h = p->hdr;
	uint8_t op = h[0] & 0x0f;
	uint8_t len7 = h[1] & 0x7f;
	uint64_t len;
	size_t k = 2;

	if (len7 == 126) {
		len = ((uint64_t)h[2] << 8) | h[3];
		k = 4;
	} else if (len7 == 127) {
		len = 0;
		for (k = 2; k < 10; k++)
			len = (len << 8) | h[k];
		/* tested: test_fe_ws.c length_with_top_bit_is_1002 */
		if (len >> 63)
			return fail(p, FE_WS_CLOSE_PROTOCOL, CF_EBADREQ);
	} else {
		len = len7;
	}
	memcpy(p->mask, h + k, 4);
	p->mask_pos = 0;
	p->opcode = op;
	p->fin = (h[0] & 0x80) != 0;
	p->remaining = len;
	if (is_control(op)) {
		p->ctrl_len = 0;
		return 0;
	}
	if (op == FE_WS_OP_CONT) {
		if (!p->in_message)
			return fail(p, FE_WS_CLOSE_PROTOCOL, CF_EBADREQ);
	} else {
		if (p->in_message)
			return fail(p, FE_WS_CLOSE_PROTOCOL, CF_EBADREQ);
		p->in_message = true;
		p->msg_opcode = op;
		p->utf8 = UTF8_ACCEPT;
		p->msg.len = 0;
	}
	/* tested: test_fe_ws.c message_over_limit_is_1009 */
	if (len > p->max_message - p->msg.len)
		return fail(p, FE_WS_CLOSE_TOO_BIG, CF_ETOOBIG);
	/* room for the NUL after the message; payload room grows as bytes
	 * arrive, so a header alone cannot make us allocate its length */
	if (cf_buf_reserve(&p->msg, 1) != 0)
		return fail(p, FE_WS_CLOSE_INTERNAL, -ENOMEM);
	return 0;
}

/*
 * Check the first two header bytes as soon as they are here, so a bad frame
 * fails before its extended length arrives. Sets hdr_need.
 */
static int check_first_bytes(struct fe_ws_parser *p)
{
	uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
	uint8_t op = b0 & 0x0f, len7 = b1 & 0x7f;

	if (b0 & 0x70)
		return fail(p, FE_WS_CLOSE_PROTOCOL, CF_EBADREQ);
	if (op != FE_WS_OP_CONT && op != FE_WS_OP_TEXT &&
	    op != FE_WS_OP_BINARY && op != FE_WS_OP_CLOSE &&
	    op != FE_WS_OP_PING && op != FE_WS_OP_PONG)
		return fail(p, FE_WS_CLOSE_PROTOCOL, CF_EBADREQ);
	if (!(b1 & 0x80))
		return fail(p, FE_WS_CLOSE_PROTOCOL, CF_EBADREQ);
	if (is_control(op) && (!(b0 & 0x80) || len7 > 125))
		return fail(p, FE_WS_CLOSE_PROTOCOL, CF_EBADREQ);
	p->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
				4);
	return 0;
}

/* The close payload is complete in ctrl: check it and fill ev. */
static int finish_close(struct fe_ws_parser *p, struct fe_ws_event *ev)
{
	ev->kind = FE_WS_CLOSE;
	if (p->ctrl_len == 0) {
		ev->code = FE_WS_CLOSE_NO_STATUS;
		ev->data = ctrl_data(p);
		ev->len = 0;
		return 0;
	}
	if (p->ctrl_len == 1)
		return fail(p, FE_WS_CLOSE_PROTOCOL, CF_EBADREQ);
	ev->code = (uint16_t)((p->ctrl[0] << 8) | p->ctrl[1]);
	if (!fe_ws_close_code_valid(ev->code))
		return fail(p, FE_WS_CLOSE_PROTOCOL, CF_EBADREQ);
	if (!fe_ws_utf8_valid(p->ctrl + 2, p->ctrl_len - 2u))
		return fail(p, FE_WS_CLOSE_BAD_DATA, CF_EBADREQ);
	ev->data = p->ctrl + 2;
	ev->len = p->ctrl_len - 2u;
	return 0;
}

/*
 * The current frame's payload is all here. Returns 1 with ev filled when the
 * frame completes an event, 0 when it does not (a non-final fragment), or an
 * error.
 */
static int finish_frame(struct fe_ws_parser *p, struct fe_ws_event *ev)
{
	int rv;

	p->state = ST_HDR;
	p->hdr_len = 0;
	p->hdr_need = 2;
	switch (p->opcode) {
	case FE_WS_OP_CLOSE:
		rv = finish_close(p, ev);
		if (rv != 0)
			return rv;
		p->state = ST_CLOSED;
		return 1;
	case FE_WS_OP_PING:
	case FE_WS_OP_PONG:
		ev->kind = p->opcode == FE_WS_OP_PING ? FE_WS_PING : FE_WS_PONG;
		ev->data = ctrl_data(p);
		ev->len = p->ctrl_len;
		return 1;
	default:
		break;
	}
	if (!p->fin)
		return 0;
	/* tested: test_fe_ws.c truncated_utf8_at_message_end_is_1007 */
	if (p->msg_opcode == FE_WS_OP_TEXT && p->utf8 != UTF8_ACCEPT)
		return fail(p, FE_WS_CLOSE_BAD_DATA, CF_EBADREQ);
	p->in_message = false;
	p->reset_message = true;
	p->msg.data[p->msg.len] = '\0'; /* room kept by the reserves */
	ev->kind = p->msg_opcode == FE_WS_OP_TEXT ? FE_WS_TEXT : FE_WS_BINARY;
	ev->data = (const uint8_t *)p->msg.data;
	ev->len = p->msg.len;
	return 1;
}

/* Unmask n payload bytes from src into the frame's destination. */
static int take_payload(struct fe_ws_parser *p, const uint8_t *src, size_t n)
{
	uint8_t *dst, m8[8];
	uint64_t w, mw;
	size_t i;

	if (is_control(p->opcode)) {
		if (p->ctrl == NULL) {
			p->ctrl = malloc(126);
			if (p->ctrl == NULL)
				return fail(p, FE_WS_CLOSE_INTERNAL, -ENOMEM);
		}
		dst = p->ctrl + p->ctrl_len;
		p->ctrl_len = (uint8_t)(p->ctrl_len + n);
	} else {
		/* n + 1: keep room for the NUL after the message */
		if (cf_buf_reserve(&p->msg, n + 1) != 0)
			return fail(p, FE_WS_CLOSE_INTERNAL, -ENOMEM);
		dst = (uint8_t *)p->msg.data + p->msg.len;
		p->msg.len += n;
	}
	/* unmask 8 bytes at a time with the key rotated to mask_pos */
	for (i = 0; i < 8; i++)
		m8[i] = p->mask[(p->mask_pos + i) & 3];
	memcpy(&mw, m8, 8);
	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, src + i, 8);
		w ^= mw;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ m8[i & 7];
	p->mask_pos = (uint8_t)((p->mask_pos + n) & 3);
	p->remaining -= n;
	/* tested: test_fe_ws.c bad_utf8_split_across_fragments_is_1007 */
	if (!is_control(p->opcode) && p->msg_opcode == FE_WS_OP_TEXT &&
	    !fe_ws_utf8_step(&p->utf8, dst, n))
		return fail(p, FE_WS_CLOSE_BAD_DATA, CF_EBADREQ);
	return 0;
}

int fe_ws_feed(struct fe_ws_parser *p, const void *data, size_t len,
	       size_t *consumed, struct fe_ws_event *ev)
{
	const uint8_t *d = data;
	size_t i = 0, n;
	int rv;

	*consumed = 0;
	memset(ev, 0, sizeof *ev);
	if (p->err != 0)
		return p->err;
	if (p->reset_message) {
		p->reset_message = false;
		p->msg.len = 0;
		if (p->msg.cap > KEEP_BYTES)
			cf_buf_release(&p->msg);
	}
	if (p->state == ST_CLOSED) {
		*consumed = len;
		return FE_WS_NEED_MORE;
	}
	while (i < len) {
		if (p->state == ST_HDR) {
			n = p->hdr_need - p->hdr_len;
			if (n > len - i)
				n = len - i;
			memcpy(p->hdr + p->hdr_len, d + i, n);
			p->hdr_len = (uint8_t)(p->hdr_len + n);
			i += n;
			if (p->hdr_len == 2 && p->hdr_need == 2) {
				rv = check_first_bytes(p);
				if (rv != 0)
					return rv;
				continue;
			}
			if (p->hdr_len < p->hdr_need)
				continue;
			rv = start_frame(p);
			if (rv != 0)
				return rv;
			p->state = ST_PAYLOAD;
		} else {
			n = len - i;
			if (n > p->remaining)
				n = (size_t)p->remaining;
			rv = take_payload(p, d + i, n);
			if (rv != 0)
				return rv;
			i += n;
		}
		if (p->state == ST_PAYLOAD && p->remaining == 0) {
			rv = finish_frame(p, ev);
			if (rv < 0)
				return rv;
			if (rv == 1) {
				*consumed = i;
				return (int)ev->kind;
			}
		}
	}
	*consumed = i;
	return FE_WS_NEED_MORE;
}

void fe_ws_accept_key(const char *sec_key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	char in[128];
	size_t kl = strlen(sec_key);
	int n;

	/* a checked key is 24 bytes; longer ones are cut, never overflow */
	if (kl > sizeof in - sizeof guid)
		kl = sizeof in - sizeof guid;
	memcpy(in, sec_key, kl);
	memcpy(in + kl, guid, sizeof guid - 1);
	SHA1((const unsigned char *)in, kl + sizeof guid - 1, md);
	n = EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
	assert(n == 28);
	out[28] = '\0';
}

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* A Sec-WebSocket-Key is base64 of 16 bytes: 22 characters and "==". */
static bool key_valid(struct cf_str k)
{
	size_t i;

	if (k.p == NULL || k.len != 24 || k.p[22] != '=' || k.p[23] != '=')
		return false;
	for (i = 0; i < 22; i++)
		if (!is_b64(k.p[i]))
			return false;
	return true;
}

int fe_ws_handshake_check(const struct fe_http_req *req, int *status)
{
	struct cf_str up = req->h[FE_HTTP_H_UPGRADE];
	struct cf_str ver = req->h[FE_HTTP_H_SEC_WEBSOCKET_VERSION];

	*status = 400;
	if (up.p == NULL) {
		*status = 426;
		return CF_EBADREQ;
	}
	if (req->method != FE_HTTP_GET || req->http_minor != 1)
		return CF_EBADREQ;
	if (!fe_http_list_has(up, "websocket"))
		return CF_EBADREQ;
	if (!fe_http_list_has(req->h[FE_HTTP_H_CONNECTION], "upgrade"))
		return CF_EBADREQ;
	if (ver.p == NULL || !cf_str_eqc(ver, "13")) {
		*status = 426;
		return CF_EBADREQ;
	}
	if (!key_valid(req->h[FE_HTTP_H_SEC_WEBSOCKET_KEY]))
		return CF_EBADREQ;
	*status = 101;
	return 0;
}

int fe_ws_handshake_response(struct cf_buf *b, const struct fe_http_req *req)
{
	char accept[29];
	char extra[128];

	assert(req->h[FE_HTTP_H_SEC_WEBSOCKET_KEY].p != NULL);
	fe_ws_accept_key(req->h[FE_HTTP_H_SEC_WEBSOCKET_KEY].p, accept);
	snprintf(extra, sizeof extra,
		 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: %s\r\n",
		 accept);
	return fe_http_response_begin(b, 101, NULL, 0, true, extra);
}

size_t fe_ws_encode_header(uint8_t out[10], enum fe_ws_opcode opcode, bool fin,
			   uint64_t payload_len)
{
	int i;

	assert((payload_len >> 63) == 0);
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (payload_len < 126) {
		out[1] = (uint8_t)payload_len;
		return 2;
	}
	if (payload_len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		return 4;
	}
	out[1] = 127;
	for (i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
	return 10;
}

int fe_ws_frame_append(struct cf_buf *b, enum fe_ws_opcode opcode,
		       const void *payload, size_t len)
{
	uint8_t h[10];
	size_t hl = fe_ws_encode_header(h, opcode, true, len);
	int rv;

	rv = cf_buf_reserve(b, hl + len);
	if (rv != 0)
		return rv;
	memcpy(b->data + b->len, h, hl);
	if (len > 0)
		memcpy(b->data + b->len + hl, payload, len);
	b->len += hl + len;
	return 0;
}

struct cf_blob *fe_ws_frame_blob(enum fe_ws_opcode opcode, const void *payload,
				 size_t len)
{
	uint8_t h[10];
	size_t hl = fe_ws_encode_header(h, opcode, true, len);
	struct cf_blob *blob = cf_blob_new(hl + len);

	if (blob == NULL)
		return NULL;
	memcpy(blob->data, h, hl);
	if (len > 0)
		memcpy(blob->data + hl, payload, len);
	return blob;
}

int fe_ws_close_append(struct cf_buf *b, uint16_t code, const char *reason)
{
	uint8_t payload[125];
	size_t rl = reason != NULL ? strlen(reason) : 0;

	if (code == 0)
		return fe_ws_frame_append(b, FE_WS_OP_CLOSE, NULL, 0);
	if (rl > 123) {
		rl = 123;
		/* do not cut a UTF-8 sequence: back off continuation bytes */
		while (rl > 0 && ((uint8_t)reason[rl] & 0xc0) == 0x80)
			rl--;
	}
	payload[0] = (uint8_t)(code >> 8);
	payload[1] = (uint8_t)code;
	if (rl > 0)
		memcpy(payload + 2, reason, rl);
	return fe_ws_frame_append(b, FE_WS_OP_CLOSE, payload, rl + 2);
}

int fe_ws_pong_append(struct cf_buf *b, const void *payload, size_t len)
{
	assert(len <= 125);
	return fe_ws_frame_append(b, FE_WS_OP_PONG, payload, len);
}
