#include "config.h"

/*
 * test_fe_ws: WebSocket handshake, receive state machine and encoders.
 * Every frame sequence is also fed split at every byte boundary and byte by
 * byte (fe_test_feed.h) and must give the same events as when fed whole; and
 * placed against a guard page, so that a read past its end crashes.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "frontend/fe_ws.h"

#include "../lib/fe_test_feed.h"

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/*
 * Append a client frame: b0 is FIN|RSV|opcode; lenform 0 picks the minimal
 * length encoding, 16 or 64 force one; masked false leaves the mask off.
 */
static void add_frame(struct cf_buf *b, uint8_t b0, const void *payload,
		      size_t len, int lenform, bool masked)
{
	const uint8_t *pl = payload;
	uint8_t h[14];
	size_t hl = 2, i;

	h[0] = b0;
	if (lenform == 0)
		lenform = len < 126 ? 7 : len <= 0xffff ? 16 : 64;
	if (lenform == 7) {
		h[1] = (uint8_t)len;
	} else if (lenform == 16) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	if (masked) {
		h[1] |= 0x80;
		memcpy(h + hl, key, 4);
		hl += 4;
	}
	assert_int_equal(cf_buf_append(b, h, hl), 0);
	for (i = 0; i < len; i++)
		assert_int_equal(
			cf_buf_put_u8(b, (uint8_t)(pl[i] ^
						   (masked ? key[i % 4] : 0))),
			0);
}

#define ADD(b, b0, lit) add_frame((b), (b0), (lit), sizeof(lit) - 1, 0, true)

/*
 * Feed in in reads of `step` bytes where every read, and every re-feed of
 * unconsumed bytes, is copied to end right before a PROT_NONE page: a read
 * past the end of what was handed over faults.
 */
static void guarded_feed(char *guard, const struct cf_buf *in, size_t max,
			 size_t step)
{
	struct fe_ws_parser p;
	struct fe_ws_event ev;
	size_t pos = 0, end = 0, used, n;

	fe_ws_parser_init(&p, max);
	while (pos < in->len) {
		if (pos == end)
			end = end + step < in->len ? end + step : in->len;
		n = end - pos;
		memcpy(guard - n, in->data + pos, n);
		if (fe_ws_feed(&p, guard - n, n, &used, &ev) < 0)
			break;
		pos += used;
	}
	fe_ws_parser_release(&p);
}

static void guarded_run(const struct cf_buf *in, size_t max)
{
	static const size_t steps[] = {1, 2, 3, 7, 1000, SIZE_MAX};
	long pg = sysconf(_SC_PAGESIZE);
	size_t pages = (in->len + (size_t)pg - 1) / (size_t)pg + 1, i;
	char *map = mmap(NULL, (size_t)pg * (pages + 1), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + (size_t)pg * pages, (size_t)pg,
				  PROT_NONE),
			 0);
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if (in->len > 4096 && steps[i] < 1000)
			continue; /* keep large inputs quick */
		guarded_feed(map + (size_t)pg * pages, in, max, steps[i]);
	}
	munmap(map, (size_t)pg * (pages + 1));
}

/* Trace of in fed whole; asserts every split and byte-by-byte agree. */
static void check_splits(const struct cf_buf *in, size_t max,
			 struct cf_buf *whole)
{
	struct cf_buf other = CF_BUF_INIT;
	size_t k, step = in->len > 4096 ? 509 : 1;

	whole->len = 0;
	assert_int_equal(fe_test_ws_run(max, in->data, in->len, in->len, 0,
					whole),
			 0);
	for (k = 1; k < in->len; k += step) {
		other.len = 0;
		assert_int_equal(
			fe_test_ws_run(max, in->data, in->len, k, 0, &other),
			0);
		if (other.len != whole->len ||
		    memcmp(other.data, whole->data, whole->len) != 0)
			fail_msg("split at %zu differs", k);
	}
	other.len = 0;
	assert_int_equal(fe_test_ws_run(max, in->data, in->len, 1, 1, &other),
			 0);
	assert_int_equal(other.len, whole->len);
	assert_memory_equal(other.data, whole->data, whole->len);
	cf_buf_release(&other);
	guarded_run(in, max);
}

/* Run in through check_splits and compare the trace with want. */
static void expect_trace(const struct cf_buf *in, size_t max,
			 const char *want, size_t want_len)
{
	struct cf_buf t = CF_BUF_INIT;

	check_splits(in, max, &t);
	if (t.len != want_len || memcmp(t.data, want, want_len) != 0)
		fail_msg("trace:\n%.*s\nwanted:\n%.*s", (int)t.len, t.data,
			 (int)want_len, want);
	cf_buf_release(&t);
}

#define EXPECT(in, max, lit) expect_trace((in), (max), (lit), sizeof(lit) - 1)

static void accept_key_matches_rfc_example(void **state)
{
	char out[29];

	(void)state;
	fe_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void masked_hello_from_rfc_is_text(void **state)
{
	static const uint8_t frame[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
					0x7f, 0x9f, 0x4d, 0x51, 0x58};
	struct cf_buf in = CF_BUF_INIT;
	struct fe_ws_parser p;
	struct fe_ws_event ev;
	size_t used;

	(void)state;
	fe_ws_parser_init(&p, 0);
	assert_int_equal(fe_ws_feed(&p, frame, sizeof frame, &used, &ev),
			 FE_WS_TEXT);
	assert_int_equal(used, sizeof frame);
	assert_int_equal(ev.len, 5);
	assert_memory_equal(ev.data, "Hello", 5);
	fe_ws_parser_release(&p);
	assert_int_equal(cf_buf_append(&in, frame, sizeof frame), 0);
	EXPECT(&in, 0, "TEXT 5:Hello\nEND\n");
	cf_buf_release(&in);
}

static void fragmented_text_with_ping_between_is_joined(void **state)
{
	struct cf_buf in = CF_BUF_INIT;

	(void)state;
	ADD(&in, 0x01, "Hel");	      /* text, not final */
	ADD(&in, 0x89, "Hello");      /* ping between fragments */
	ADD(&in, 0x00, "");	      /* empty continuation */
	ADD(&in, 0x8a, "");	      /* pong */
	ADD(&in, 0x80, "lo");	      /* final continuation */
	ADD(&in, 0x82, "\x00\x01\xff"); /* binary */
	ADD(&in, 0x81, "");	      /* empty text */
	EXPECT(&in, 0,
	       "PING 5:Hello\nPONG 0:\nTEXT 5:Hello\nBINARY 3:\x00\x01\xff\n"
	       "TEXT 0:\nEND\n");
	cf_buf_release(&in);
}

static void unmasked_client_frame_is_1002(void **state)
{
	struct cf_buf in = CF_BUF_INIT;

	(void)state;
	add_frame(&in, 0x81, "Hello", 5, 0, false);
	EXPECT(&in, 0, "ERR 1002\n");
	cf_buf_release(&in);
}

static void bad_utf8_is_1007(void **state)
{
	struct cf_buf in = CF_BUF_INIT;

	(void)state;
	ADD(&in, 0x81, "ok");
	ADD(&in, 0x81, "a\xc0\xafz"); /* overlong '/' */
	EXPECT(&in, 0, "TEXT 2:ok\nERR 1007\n");
	in.len = 0;
	ADD(&in, 0x81, "\xed\xa0\x80"); /* surrogate */
	EXPECT(&in, 0, "ERR 1007\n");
	in.len = 0;
	ADD(&in, 0x81, "\xf4\x90\x80\x80"); /* over U+10FFFF */
	EXPECT(&in, 0, "ERR 1007\n");
	in.len = 0;
	/* binary messages are not checked */
	ADD(&in, 0x82, "\xff\xfe");
	EXPECT(&in, 0, "BINARY 2:\xff\xfe\nEND\n");
	cf_buf_release(&in);
}

static void bad_utf8_split_across_fragments_is_1007(void **state)
{
	struct cf_buf in = CF_BUF_INIT;

	(void)state;
	/* a valid euro sign split over three fragments */
	ADD(&in, 0x01, "\xe2");
	ADD(&in, 0x00, "\x82");
	ADD(&in, 0x80, "\xac!");
	EXPECT(&in, 0, "TEXT 4:\xe2\x82\xac!\nEND\n");
	in.len = 0;
	/* the second fragment breaks the sequence: fail before FIN */
	ADD(&in, 0x01, "\xe2\x82");
	ADD(&in, 0x00, "(");
	ADD(&in, 0x80, "x");
	EXPECT(&in, 0, "ERR 1007\n");
	cf_buf_release(&in);
}

static void truncated_utf8_at_message_end_is_1007(void **state)
{
	struct cf_buf in = CF_BUF_INIT;

	(void)state;
	ADD(&in, 0x81, "ab\xe2\x82");
	EXPECT(&in, 0, "ERR 1007\n");
	cf_buf_release(&in);
}

static void message_over_limit_is_1009(void **state)
{
	struct cf_buf in = CF_BUF_INIT;
	uint8_t big[300];

	(void)state;
	memset(big, 'a', sizeof big);
	ADD(&in, 0x81, "0123456789");
	EXPECT(&in, 10, "TEXT 10:0123456789\nEND\n");
	in.len = 0;
	ADD(&in, 0x81, "0123456789a");
	EXPECT(&in, 10, "ERR 1009\n");
	in.len = 0;
	/* the limit holds for the message, across fragments */
	ADD(&in, 0x02, "012345");
	ADD(&in, 0x80, "6789a");
	EXPECT(&in, 10, "ERR 1009\n");
	in.len = 0;
	/* default limit: 1 MiB, refused from the header alone */
	{
		uint8_t h[14] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 1};
		in.len = 0;
		assert_int_equal(cf_buf_append(&in, h, 14), 0);
	}
	EXPECT(&in, 0, "ERR 1009\n");
	cf_buf_release(&in);
}

static void close_codes_are_checked(void **state)
{
	static const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015,
				       1016, 2999, 5000, 65535};
	static const unsigned good[] = {1000, 1001, 1002, 1003, 1007,
					1011, 3000, 4999};
	struct cf_buf in = CF_BUF_INIT, want = CF_BUF_INIT;
	uint8_t pl[4];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		in.len = 0;
		pl[0] = (uint8_t)(bad[i] >> 8);
		pl[1] = (uint8_t)bad[i];
		add_frame(&in, 0x88, pl, 2, 0, true);
		EXPECT(&in, 0, "ERR 1002\n");
		assert_false(fe_ws_close_code_valid(bad[i]));
	}
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		in.len = 0;
		want.len = 0;
		pl[0] = (uint8_t)(good[i] >> 8);
		pl[1] = (uint8_t)good[i];
		pl[2] = 'b';
		pl[3] = 'y';
		add_frame(&in, 0x88, pl, 4, 0, true);
		ADD(&in, 0x81, "ignored after close");
		cf_buf_appendf(&want, "CLOSE %u 2:by\nEND\n", good[i]);
		expect_trace(&in, 0, want.data, want.len);
	}
	in.len = 0;
	ADD(&in, 0x88, "");
	EXPECT(&in, 0, "CLOSE 1005 0:\nEND\n");
	in.len = 0;
	ADD(&in, 0x88, "\x03");
	EXPECT(&in, 0, "ERR 1002\n");
	in.len = 0;
	ADD(&in, 0x88, "\x03\xe8\xff");
	EXPECT(&in, 0, "ERR 1007\n");
	cf_buf_release(&in);
	cf_buf_release(&want);
}

static void control_frame_too_long_or_fragmented_is_1002(void **state)
{
	struct cf_buf in = CF_BUF_INIT;
	uint8_t pl[126];

	(void)state;
	memset(pl, 'p', sizeof pl);
	add_frame(&in, 0x89, pl, 125, 0, true);
	{
		char want[200];
		memcpy(want, "PING 125:", 9);
		memcpy(want + 9, pl, 125);
		memcpy(want + 134, "\nEND\n", 5);
		expect_trace(&in, 0, want, 139);
	}
	in.len = 0;
	add_frame(&in, 0x89, pl, 126, 0, true);
	EXPECT(&in, 0, "ERR 1002\n");
	in.len = 0;
	ADD(&in, 0x09, "x"); /* ping without FIN */
	EXPECT(&in, 0, "ERR 1002\n");
	cf_buf_release(&in);
}

static void lengths_of_16_and_64_bits_are_read(void **state)
{
	struct cf_buf in = CF_BUF_INIT, want = CF_BUF_INIT;
	uint8_t *pl = malloc(70000);
	size_t i;

	(void)state;
	assert_non_null(pl);
	for (i = 0; i < 70000; i++)
		pl[i] = (uint8_t)(i * 7);
	add_frame(&in, 0x82, pl, 200, 0, true);
	add_frame(&in, 0x82, pl, 70000, 0, true);
	add_frame(&in, 0x82, pl, 5, 64, true); /* non-minimal: accepted */
	add_frame(&in, 0x82, pl, 6, 16, true);
	cf_buf_appendf(&want, "BINARY 200:");
	cf_buf_append(&want, pl, 200);
	cf_buf_appendf(&want, "\nBINARY 70000:");
	cf_buf_append(&want, pl, 70000);
	cf_buf_appendf(&want, "\nBINARY 5:");
	cf_buf_append(&want, pl, 5);
	cf_buf_appendf(&want, "\nBINARY 6:");
	cf_buf_append(&want, pl, 6);
	cf_buf_appendf(&want, "\nEND\n");
	expect_trace(&in, 0, want.data, want.len);
	free(pl);
	cf_buf_release(&in);
	cf_buf_release(&want);
}

static void length_with_top_bit_is_1002(void **state)
{
	static const uint8_t h[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1,
				    0x37, 0xfa, 0x21, 0x3d};
	struct cf_buf in = CF_BUF_INIT;

	(void)state;
	assert_int_equal(cf_buf_append(&in, h, sizeof h), 0);
	EXPECT(&in, 0, "ERR 1002\n");
	cf_buf_release(&in);
}

static void rsv_bits_and_reserved_opcodes_are_1002(void **state)
{
	static const uint8_t b0s[] = {0xc1, 0xa1, 0x91, 0x83, 0x87, 0x8b, 0x8f};
	struct cf_buf in = CF_BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof b0s; i++) {
		in.len = 0;
		add_frame(&in, b0s[i], "x", 1, 0, true);
		EXPECT(&in, 0, "ERR 1002\n");
	}
	cf_buf_release(&in);
}

static void fragment_order_is_enforced(void **state)
{
	struct cf_buf in = CF_BUF_INIT;

	(void)state;
	ADD(&in, 0x80, "lo"); /* continuation, nothing started */
	EXPECT(&in, 0, "ERR 1002\n");
	in.len = 0;
	ADD(&in, 0x01, "Hel");
	ADD(&in, 0x81, "new"); /* new message inside a fragmented one */
	EXPECT(&in, 0, "ERR 1002\n");
	in.len = 0;
	ADD(&in, 0x01, "Hel");
	ADD(&in, 0x02, "new");
	EXPECT(&in, 0, "ERR 1002\n");
	cf_buf_release(&in);
}

static void error_is_sticky(void **state)
{
	struct cf_buf in = CF_BUF_INIT;
	struct fe_ws_parser p;
	struct fe_ws_event ev;
	size_t used;

	(void)state;
	add_frame(&in, 0x81, "x", 1, 0, false);
	fe_ws_parser_init(&p, 0);
	assert_int_equal(fe_ws_feed(&p, in.data, in.len, &used, &ev),
			 CF_EBADREQ);
	assert_int_equal(p.close_code, 1002);
	in.len = 0;
	ADD(&in, 0x81, "x");
	assert_int_equal(fe_ws_feed(&p, in.data, in.len, &used, &ev),
			 CF_EBADREQ);
	assert_int_equal(used, 0);
	fe_ws_parser_release(&p);
	cf_buf_release(&in);
}

static void message_buffer_is_reused(void **state)
{
	struct cf_buf in = CF_BUF_INIT;
	struct fe_ws_parser p;
	struct fe_ws_event ev;
	size_t used, off = 0;
	char *buf = NULL;
	int i;

	(void)state;
	for (i = 0; i < 50; i++)
		ADD(&in, 0x81, "{\"type\":\"ping\"}");
	fe_ws_parser_init(&p, 0);
	for (i = 0; i < 50; i++) {
		assert_int_equal(fe_ws_feed(&p, in.data + off, in.len - off,
					    &used, &ev),
				 FE_WS_TEXT);
		off += used;
		if (buf == NULL)
			buf = p.msg.data;
		assert_ptr_equal(ev.data, buf);
	}
	assert_int_equal(off, in.len);
	fe_ws_parser_release(&p);
	cf_buf_release(&in);
}

/*
 * An idle parser holds no buffer (issue 11, memory per idle WebSocket):
 * a control payload is allocated when a ping arrives and given back by
 * trim between frames, never in the middle of one (a ping split across
 * reads, trimmed after each, still reads back whole).
 */
static void trim_gives_back_control_and_message_buffers(void **state)
{
	struct cf_buf in = CF_BUF_INIT;
	struct fe_ws_parser p;
	struct fe_ws_event ev;
	size_t used, off = 0;
	int rv;

	(void)state;
	ADD(&in, 0x89, "are you there?");
	ADD(&in, 0x81, "{\"type\":\"ping\"}");
	fe_ws_parser_init(&p, 0);
	assert_null(p.ctrl);
	/* The ping, a byte at a time, trimmed after each read. */
	for (;;) {
		rv = fe_ws_feed(&p, in.data + off, 1, &used, &ev);
		off += used;
		if (rv == FE_WS_PING)
			break;
		assert_int_equal(rv, 0);
		fe_ws_parser_trim(&p);
	}
	assert_int_equal(ev.len, 14);
	assert_memory_equal(ev.data, "are you there?", 14);
	fe_ws_parser_trim(&p);
	assert_null(p.ctrl);
	assert_int_equal(fe_ws_feed(&p, in.data + off, in.len - off, &used,
				    &ev),
			 FE_WS_TEXT);
	fe_ws_parser_trim(&p);
	assert_null(p.ctrl);
	assert_null(p.msg.data);
	fe_ws_parser_release(&p);
	cf_buf_release(&in);
}

/* A client that announces a large frame and sends little of it must not
 * make the server allocate the announced length. */
static void header_alone_does_not_allocate_its_length(void **state)
{
	static const uint8_t h[] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x0f,
				    0xff, 0xff, 1, 2, 3, 4, 'a', 'b', 'c'};
	struct fe_ws_parser p;
	struct fe_ws_event ev;
	size_t used;

	(void)state;
	fe_ws_parser_init(&p, 0);
	assert_int_equal(fe_ws_feed(&p, h, sizeof h, &used, &ev),
			 FE_WS_NEED_MORE);
	assert_int_equal(used, sizeof h);
	assert_int_equal(p.msg.len, 3);
	assert_true(p.msg.cap < 4096);
	fe_ws_parser_release(&p);
}

static void encode_header_picks_minimal_length(void **state)
{
	static const struct {
		uint64_t len;
		size_t hl;
	} cases[] = {{0, 2},	 {125, 2},     {126, 4},
		     {65535, 4}, {65536, 10}, {(uint64_t)1 << 40, 10}};
	uint8_t h[10];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(fe_ws_encode_header(h, FE_WS_OP_TEXT, true,
						     cases[i].len),
				 cases[i].hl);
	assert_int_equal(fe_ws_encode_header(h, FE_WS_OP_BINARY, false, 300), 4);
	assert_memory_equal(h, "\x02\x7e\x01\x2c", 4);
	assert_int_equal(fe_ws_encode_header(h, FE_WS_OP_TEXT, true, 65536), 10);
	assert_memory_equal(h, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	assert_int_equal(fe_ws_encode_header(h, FE_WS_OP_PING, true, 5), 2);
	assert_memory_equal(h, "\x89\x05", 2);
}

/* Mask a server frame as a client would, so the parser can read it back. */
static void remask(const uint8_t *frame, size_t len, struct cf_buf *out)
{
	size_t hl = (frame[1] & 0x7f) < 126 ? 2 : (frame[1] & 0x7f) == 126 ? 4 : 10;

	assert_true(len >= hl);
	assert_int_equal(frame[1] & 0x80, 0); /* servers never mask */
	add_frame(out, frame[0], frame + hl, len - hl, hl == 2 ? 7 : hl == 4 ? 16 : 64,
		  true);
}

static void encoded_frames_read_back(void **state)
{
	struct cf_buf b = CF_BUF_INIT, in = CF_BUF_INIT;
	struct cf_blob *blob;
	char reason[200];
	uint8_t *big = calloc(1, 70000);

	(void)state;
	assert_non_null(big);
	blob = fe_ws_frame_blob(FE_WS_OP_TEXT, "{\"type\":\"message\"}", 18);
	assert_non_null(blob);
	assert_int_equal(blob->len, 20);
	assert_memory_equal(blob->data, "\x81\x12{\"type\":\"message\"}", 20);
	remask((const uint8_t *)blob->data, blob->len, &in);
	cf_blob_unref(blob);
	assert_int_equal(fe_ws_frame_append(&b, FE_WS_OP_BINARY, big, 70000), 0);
	assert_int_equal(b.len, 70010);
	remask((const uint8_t *)b.data, b.len, &in);
	b.len = 0;
	assert_int_equal(fe_ws_pong_append(&b, "pp", 2), 0);
	assert_memory_equal(b.data, "\x8a\x02pp", 4);
	b.len = 0;
	/* 122 ASCII bytes then a euro sign: cut before the euro */
	memset(reason, 'r', 122);
	strcpy(reason + 122, "\xe2\x82\xac tail");
	assert_int_equal(fe_ws_close_append(&b, 1008, reason), 0);
	assert_int_equal(b.len, 2 + 2 + 122);
	assert_memory_equal(b.data, "\x88\x7c\x03\xf0", 4);
	remask((const uint8_t *)b.data, b.len, &in);
	b.len = 0;
	assert_int_equal(fe_ws_close_append(&b, 0, NULL), 0);
	assert_memory_equal(b.data, "\x88\x00", 2);
	{
		struct cf_buf t = CF_BUF_INIT;
		check_splits(&in, 0, &t);
		assert_true(t.len > 70000);
		assert_memory_equal(t.data, "TEXT 18:{\"type\":\"message\"}\n"
					    "BINARY 70000:", 40);
		assert_memory_equal(t.data + t.len - 4 - 1 - 122 - 15,
				    "CLOSE 1008 122:", 15);
		cf_buf_release(&t);
	}
	free(big);
	cf_buf_release(&b);
	cf_buf_release(&in);
}

static void handshake_is_checked(void **state)
{
	struct fe_http_req r;
	struct cf_buf b = CF_BUF_INIT;
	int status;

	(void)state;
	memset(&r, 0, sizeof r);
	r.method = FE_HTTP_GET;
	r.http_minor = 1;
	r.h[FE_HTTP_H_UPGRADE] = CF_STR_LIT("WebSocket");
	r.h[FE_HTTP_H_CONNECTION] = CF_STR_LIT("keep-alive, Upgrade");
	r.h[FE_HTTP_H_SEC_WEBSOCKET_VERSION] = CF_STR_LIT("13");
	r.h[FE_HTTP_H_SEC_WEBSOCKET_KEY] =
		CF_STR_LIT("dGhlIHNhbXBsZSBub25jZQ==");
	assert_int_equal(fe_ws_handshake_check(&r, &status), 0);
	assert_int_equal(fe_ws_handshake_response(&b, &r), 0);
	assert_int_equal(cf_buf_append(&b, "", 1), 0);
	assert_string_equal(b.data,
			    "HTTP/1.1 101 Switching Protocols\r\n"
			    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
			    "\r\n\r\n");
	cf_buf_release(&b);

	r.h[FE_HTTP_H_SEC_WEBSOCKET_VERSION] = CF_STR_LIT("8");
	assert_int_equal(fe_ws_handshake_check(&r, &status), CF_EBADREQ);
	assert_int_equal(status, 426);
	r.h[FE_HTTP_H_SEC_WEBSOCKET_VERSION] = (struct cf_str){NULL, 0};
	assert_int_equal(fe_ws_handshake_check(&r, &status), CF_EBADREQ);
	assert_int_equal(status, 426);
	r.h[FE_HTTP_H_SEC_WEBSOCKET_VERSION] = CF_STR_LIT("13");

	r.h[FE_HTTP_H_SEC_WEBSOCKET_KEY] = CF_STR_LIT("dGhlIHNhbXBsZSBub25jZQ=");
	assert_int_equal(fe_ws_handshake_check(&r, &status), CF_EBADREQ);
	assert_int_equal(status, 400);
	r.h[FE_HTTP_H_SEC_WEBSOCKET_KEY] = CF_STR_LIT("dGhlIHNhbXBsZSBub2!jZQ==");
	assert_int_equal(fe_ws_handshake_check(&r, &status), CF_EBADREQ);
	r.h[FE_HTTP_H_SEC_WEBSOCKET_KEY] = (struct cf_str){NULL, 0};
	assert_int_equal(fe_ws_handshake_check(&r, &status), CF_EBADREQ);
	assert_int_equal(status, 400);
	r.h[FE_HTTP_H_SEC_WEBSOCKET_KEY] =
		CF_STR_LIT("dGhlIHNhbXBsZSBub25jZQ==");

	r.h[FE_HTTP_H_CONNECTION] = CF_STR_LIT("keep-alive");
	assert_int_equal(fe_ws_handshake_check(&r, &status), CF_EBADREQ);
	assert_int_equal(status, 400);
	r.h[FE_HTTP_H_CONNECTION] = CF_STR_LIT("Upgrade");
	r.h[FE_HTTP_H_UPGRADE] = CF_STR_LIT("h2c");
	assert_int_equal(fe_ws_handshake_check(&r, &status), CF_EBADREQ);
	assert_int_equal(status, 400);
	r.h[FE_HTTP_H_UPGRADE] = (struct cf_str){NULL, 0};
	assert_int_equal(fe_ws_handshake_check(&r, &status), CF_EBADREQ);
	assert_int_equal(status, 426);
	r.h[FE_HTTP_H_UPGRADE] = CF_STR_LIT("websocket");
	r.method = FE_HTTP_POST;
	assert_int_equal(fe_ws_handshake_check(&r, &status), CF_EBADREQ);
	assert_int_equal(status, 400);
}

/*
 * Reference UTF-8 check written from RFC 3629 section 4 (the ABNF), to hold
 * the DFA against.
 */
static bool ref_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint8_t lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
		if (i + k >= n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xbf)
				return false;
		i += k + 1;
	}
	return true;
}

static void utf8_dfa_agrees_with_rfc_3629(void **state)
{
	uint8_t s[4];
	unsigned a, b, c, d;

	(void)state;
	for (a = 0; a < 256; a++) {
		s[0] = (uint8_t)a;
		assert_int_equal(fe_ws_utf8_valid(s, 1), ref_utf8(s, 1));
		for (b = 0; b < 256; b++) {
			s[1] = (uint8_t)b;
			assert_int_equal(fe_ws_utf8_valid(s, 2), ref_utf8(s, 2));
			if (a < 0xc0)
				continue; /* 3 bytes from a lead byte only */
			for (c = 0; c < 256; c++) {
				s[2] = (uint8_t)c;
				if (fe_ws_utf8_valid(s, 3) != ref_utf8(s, 3))
					fail_msg("%02x %02x %02x", a, b, c);
			}
		}
	}
	/* four bytes: every lead F0-F7 with boundary continuation bytes */
	{
		static const uint8_t cont[] = {0x00, 0x7f, 0x80, 0x8f, 0x90,
					       0x9f, 0xa0, 0xbf, 0xc0, 0xff};
		for (a = 0xf0; a <= 0xf7; a++)
			for (b = 0; b < sizeof cont; b++)
				for (c = 0; c < sizeof cont; c++)
					for (d = 0; d < sizeof cont; d++) {
						s[0] = (uint8_t)a;
						s[1] = cont[b];
						s[2] = cont[c];
						s[3] = cont[d];
						assert_int_equal(
							fe_ws_utf8_valid(s, 4),
							ref_utf8(s, 4));
					}
	}
}

/*
 * Longer strings: ASCII runs (the 8-byte fast path) mixed with valid and
 * broken sequences, checked whole and fed in two steps, against the
 * reference. A fixed-seed xorshift keeps the cases the same every run.
 */
static void utf8_dfa_agrees_on_mixed_strings(void **state)
{
	static const char *const pieces[] = {
		"abcdefghij", "A", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xc3", "\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff",
		"12345678", "\xe2\x82", "\xc0\xaf"};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t s[64];
	int round;

	(void)state;
	for (round = 0; round < 50000; round++) {
		size_t n = 0, cut;
		uint32_t st = 0;
		bool ok;

		while (n < 40) {
			const char *pc;
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			pc = pieces[x % (sizeof pieces / sizeof pieces[0])];
			if (n + strlen(pc) > sizeof s)
				break;
			memcpy(s + n, pc, strlen(pc));
			n += strlen(pc);
			if ((x >> 32) % 5 == 0)
				break;
		}
		assert_int_equal(fe_ws_utf8_valid(s, n), ref_utf8(s, n));
		cut = (size_t)(x >> 40) % (n + 1);
		ok = fe_ws_utf8_step(&st, s, cut) && fe_ws_utf8_step(&st, s + cut,
								      n - cut);
		assert_int_equal(ok && st == 0, ref_utf8(s, n));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accept_key_matches_rfc_example),
		cmocka_unit_test(masked_hello_from_rfc_is_text),
		cmocka_unit_test(fragmented_text_with_ping_between_is_joined),
		cmocka_unit_test(unmasked_client_frame_is_1002),
		cmocka_unit_test(bad_utf8_is_1007),
		cmocka_unit_test(bad_utf8_split_across_fragments_is_1007),
		cmocka_unit_test(truncated_utf8_at_message_end_is_1007),
		cmocka_unit_test(message_over_limit_is_1009),
		cmocka_unit_test(close_codes_are_checked),
		cmocka_unit_test(control_frame_too_long_or_fragmented_is_1002),
		cmocka_unit_test(lengths_of_16_and_64_bits_are_read),
		cmocka_unit_test(length_with_top_bit_is_1002),
		cmocka_unit_test(rsv_bits_and_reserved_opcodes_are_1002),
		cmocka_unit_test(fragment_order_is_enforced),
		cmocka_unit_test(error_is_sticky),
		cmocka_unit_test(message_buffer_is_reused),
		cmocka_unit_test(trim_gives_back_control_and_message_buffers),
		cmocka_unit_test(header_alone_does_not_allocate_its_length),
		cmocka_unit_test(encode_header_picks_minimal_length),
		cmocka_unit_test(encoded_frames_read_back),
		cmocka_unit_test(handshake_is_checked),
		cmocka_unit_test(utf8_dfa_agrees_with_rfc_3629),
		cmocka_unit_test(utf8_dfa_agrees_on_mixed_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
