#include "config.h"

/* Unit tests of rft_cmd: commands, entries (batches) and results. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "common/cf_err.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"

/* Offset of the user length in an encoded command (after its header). */
#define CMD_USER_LEN_OFFSET 15

static struct cf_str S(const char *s)
{
	return cf_str_c(s);
}

static void assert_str(struct cf_str a, struct cf_str b)
{
	assert_int_equal(a.len, b.len);
	if (a.len > 0)
		assert_memory_equal(a.p, b.p, a.len);
}

/* Encode a list of C strings into buf and return its span. */
static struct cf_str list_of(struct cf_buf *buf, const char **ids,
			     unsigned n)
{
	struct cf_str s[8];
	unsigned i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		s[i] = S(ids[i]);
	assert_int_equal(rft_idlist_encode(buf, s, n), 0);
	return (struct cf_str){buf->data, buf->len};
}

/* Same ids in the same order (an empty span equals an empty list). */
static void assert_list_equal(struct cf_str a, struct cf_str b)
{
	size_t pa = 0, pb = 0;
	struct cf_str ia, ib;
	bool more;

	do {
		more = rft_idlist_next(a, &pa, &ia);
		assert_int_equal(more, rft_idlist_next(b, &pb, &ib));
		if (more)
			assert_str(ia, ib);
	} while (more);
}

static void assert_cmd_equal(const struct rft_cmd *a, const struct rft_cmd *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->origin, b->origin);
	assert_int_equal(a->req_id, b->req_id);
	assert_str(a->user, b->user);
	assert_str(a->conv, b->conv);
	assert_str(a->client_msg_id, b->client_msg_id);
	assert_str(a->msg_type, b->msg_type);
	assert_str(a->content, b->content);
	assert_str(a->attachment, b->attachment);
	assert_str(a->title, b->title);
	assert_str(a->media_id, b->media_id);
	assert_int_equal(a->conv_type, b->conv_type);
	assert_int_equal(a->receipt_kind, b->receipt_kind);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->count, b->count);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(rft_idlist_count(a->members),
			 rft_idlist_count(b->members));
	assert_int_equal(rft_idlist_count(a->removed),
			 rft_idlist_count(b->removed));
	assert_list_equal(a->members, b->members);
	assert_list_equal(a->removed, b->removed);
	assert_int_equal(a->reply_to, b->reply_to);
	assert_int_equal(rft_idlist_count(a->mentions),
			 rft_idlist_count(b->mentions));
	assert_list_equal(a->mentions, b->mentions);
}

/* Encode c, check the size, decode it back and compare. */
static void round_trip(const struct rft_cmd *c)
{
	struct cf_buf out = CF_BUF_INIT;
	struct rft_cmd d;

	assert_int_equal(rft_cmd_encode(c, &out), 0);
	assert_int_equal(out.len, rft_cmd_size(c));
	assert_int_equal(rft_cmd_decode(out.data, out.len, &d), 0);
	assert_cmd_equal(c, &d);
	/* One byte short or one byte long is refused. */
	assert_int_equal(rft_cmd_decode(out.data, out.len - 1, &d),
			 CF_ECORRUPT);
	assert_int_equal(cf_buf_put_u8(&out, 0), 0);
	assert_int_equal(rft_cmd_decode(out.data, out.len, &d), CF_ECORRUPT);
	cf_buf_release(&out);
}

static void create_round_trips(void **state)
{
	struct cf_buf l = CF_BUF_INIT;
	const char *ids[] = {"bob", "carol", "dave"};
	struct rft_cmd c = {0};

	(void)state;
	c.type = RFT_CMD_CREATE;
	c.origin = 2;
	c.req_id = 0x1122334455667788ull;
	c.user = S("alice");
	c.conv = S("trip-2026");
	c.conv_type = RFT_CONV_GROUP;
	c.title = S("Trip");
	c.members = list_of(&l, ids, 3);
	round_trip(&c);
	c.conv = S("");
	c.title = S("");
	c.members = (struct cf_str){NULL, 0};
	round_trip(&c);
	cf_buf_release(&l);
}

static void members_round_trips(void **state)
{
	struct cf_buf a = CF_BUF_INIT, r = CF_BUF_INIT;
	const char *add[] = {"dave"};
	const char *rem[] = {"carol", "bob"};
	struct rft_cmd c = {0};

	(void)state;
	c.type = RFT_CMD_MEMBERS;
	c.origin = 1;
	c.req_id = 9;
	c.user = S("alice");
	c.conv = S("c_1");
	c.members = list_of(&a, add, 1);
	c.removed = list_of(&r, rem, 2);
	round_trip(&c);
	cf_buf_release(&a);
	cf_buf_release(&r);
}

static void send_round_trips_with_large_content(void **state)
{
	struct rft_cmd c = {0};
	char *big = malloc(400000);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 400000);
	c.type = RFT_CMD_SEND;
	c.origin = 3;
	c.req_id = 77;
	c.user = S("alice");
	c.conv = S("c_17");
	c.client_msg_id = S("alice-phone-000123");
	c.msg_type = S("image");
	c.content = (struct cf_str){big, 400000};
	c.attachment = S("{\"mediaId\":\"m1\",\"size\":3}");
	round_trip(&c);
	c.content = S("");
	c.attachment = S("");
	round_trip(&c);
	free(big);
}

static void send_with_reply_and_mentions_round_trips(void **state)
{
	struct cf_buf l = CF_BUF_INIT, out = CF_BUF_INIT;
	const char *ids[] = {"bob", "carol"};
	struct rft_cmd c = {0}, d;
	size_t plain;

	(void)state;
	c.type = RFT_CMD_SEND;
	c.user = S("alice");
	c.conv = S("c_17");
	c.client_msg_id = S("k1");
	c.msg_type = S("text");
	c.content = S("hi @bob @carol");
	plain = rft_cmd_size(&c);
	c.reply_to = 12;
	round_trip(&c);
	c.mentions = list_of(&l, ids, 2);
	round_trip(&c);
	c.reply_to = 0;
	round_trip(&c);
	/* Neither set: the tail is not written (older entries look so). */
	c.mentions = (struct cf_str){NULL, 0};
	assert_int_equal(rft_cmd_size(&c), plain);
	/* A tail that says nothing is not a valid encoding. */
	assert_int_equal(rft_cmd_encode(&c, &out), 0);
	assert_int_equal(cf_buf_put_u64(&out, 0), 0);
	assert_int_equal(cf_buf_put_u16(&out, 0), 0);
	cf_put_u32((uint8_t *)out.data + 1, (uint32_t)out.len);
	assert_int_equal(rft_cmd_decode(out.data, out.len, &d), CF_ECORRUPT);
	cf_buf_release(&out);
	cf_buf_release(&l);
}

static void edit_round_trips(void **state)
{
	struct cf_buf l = CF_BUF_INIT;
	const char *ids[] = {"dave"};
	struct rft_cmd c = {0};

	(void)state;
	c.type = RFT_CMD_EDIT;
	c.origin = 1;
	c.req_id = 5;
	c.user = S("alice");
	c.conv = S("c_17");
	c.seq = 12045;
	c.client_msg_id = S("edit-1");
	c.content = S("hello, edited");
	round_trip(&c);
	c.mentions = list_of(&l, ids, 1);
	round_trip(&c);
	cf_buf_release(&l);
}

/* A message body with meta: split and meta give back what went in. */
static void check_body(const char *content, const char *attachment,
		       uint64_t reply_to, const char **ids, unsigned n)
{
	struct cf_buf l = CF_BUF_INIT, body = CF_BUF_INIT;
	struct rft_rec_meta in = {0}, out;
	struct log_record rec = {0};
	struct cf_str c, a;
	size_t cut;

	in.reply_to = reply_to;
	if (n > 0)
		in.mentions = list_of(&l, ids, n);
	assert_int_equal(rft_rec_message_encode2(&body, cf_str_c(content),
						 cf_str_c(attachment), &in,
						 &rec.flags),
			 0);
	assert_int_equal((rec.flags & RFT_REC_MSG_META) != 0,
			 reply_to != 0 || n > 0);
	assert_int_equal((rec.flags & RFT_REC_MSG_ATTACH) != 0,
			 attachment[0] != '\0');
	rec.kind = LOG_REC_MESSAGE;
	rec.body = (struct cf_str){body.data, body.len};
	assert_int_equal(rft_rec_message_split(&rec, &c, &a), 0);
	assert_str(c, cf_str_c(content));
	assert_str(a, cf_str_c(attachment));
	assert_int_equal(rft_rec_message_meta(&rec, &out), 0);
	assert_int_equal(out.reply_to, reply_to);
	assert_int_equal(rft_idlist_count(out.mentions), n);
	if (n > 0) {
		assert_true(rft_rec_mentions_has(out.mentions,
						 cf_str_c(ids[n - 1])));
		assert_false(rft_rec_mentions_has(out.mentions, S("zed")));
	}
	/* A body cut inside the meta is refused by both readers. */
	if ((rec.flags & RFT_REC_MSG_META) != 0) {
		for (cut = 0; cut < 10; cut++) {
			rec.body.len = cut;
			assert_int_equal(rft_rec_message_meta(&rec, &out),
					 CF_ECORRUPT);
			assert_int_equal(rft_rec_message_split(&rec, &c, &a),
					 CF_ECORRUPT);
		}
	}
	cf_buf_release(&body);
	cf_buf_release(&l);
}

static void message_body_meta_round_trips(void **state)
{
	const char *ids[] = {"bob", "carol"};

	(void)state;
	check_body("plain", "", 0, NULL, 0);
	check_body("reply", "", 7, NULL, 0);
	check_body("hi @bob @carol", "", 0, ids, 2);
	check_body("both", "{\"mediaId\":\"m\"}", 3, ids, 2);
	check_body("", "{\"mediaId\":\"m\"}", 0, ids, 1);
}

static void recall_receipt_media_round_trip(void **state)
{
	struct rft_cmd c = {0};

	(void)state;
	c.type = RFT_CMD_RECALL;
	c.user = S("bob");
	c.conv = S("c_3");
	c.seq = 12046;
	round_trip(&c);
	c.type = RFT_CMD_RECEIPT;
	c.seq = UINT64_MAX;
	c.receipt_kind = RFT_RECEIPT_READ;
	round_trip(&c);
	memset(&c, 0, sizeof(c));
	c.type = RFT_CMD_MEDIA;
	c.user = S("bob");
	c.media_id = S("m_42");
	c.content = S("{\"size\":1,\"mime\":\"a/b\",\"xxh3\":\"00\"}");
	round_trip(&c);
	memset(&c, 0, sizeof(c));
	c.type = RFT_CMD_MARK;
	c.user = S("confabctl");
	c.seq = (1ull << 53) - 1;
	round_trip(&c);
	memset(&c, 0, sizeof(c));
	c.type = RFT_CMD_COMPACT;
	c.user = S("node-2");
	c.seq = RFT_COMPACT_ALL;
	c.count = 1024;
	c.flags = RFT_COMPACT_SEAL;
	round_trip(&c);
	c.seq = 15;
	c.count = 1;
	c.flags = 0;
	round_trip(&c);
	memset(&c, 0, sizeof(c));
	c.type = RFT_CMD_NOOP;
	c.user = S("node-3");
	round_trip(&c);
}

static void unknown_type_decodes_with_no_fields(void **state)
{
	struct cf_buf out = CF_BUF_INIT;
	struct rft_cmd c = {0}, d;

	(void)state;
	c.type = 200;
	c.req_id = 5;
	assert_int_equal(rft_cmd_encode(&c, &out), 0);
	assert_int_equal(cf_buf_append(&out, "junk", 4), 0);
	cf_put_u32(out.data + 1, (uint32_t)out.len);
	assert_int_equal(rft_cmd_decode(out.data, out.len, &d), 0);
	assert_int_equal(d.type, 200);
	assert_int_equal(d.req_id, 5);
	assert_int_equal(d.user.len, 0);
	cf_buf_release(&out);
}

static void idlist_walks_every_id(void **state)
{
	struct cf_buf l = CF_BUF_INIT;
	const char *ids[] = {"a", "bb", "ccc"};
	struct cf_str list = list_of(&l, ids, 3), id;
	size_t pos = 0;
	unsigned n = 0;

	(void)state;
	assert_int_equal(rft_idlist_count(list), 3);
	while (rft_idlist_next(list, &pos, &id)) {
		assert_true(cf_str_eqc(id, ids[n]));
		n++;
	}
	assert_int_equal(n, 3);
	assert_int_equal(rft_idlist_count((struct cf_str){NULL, 0}), 0);
	pos = 0;
	assert_false(rft_idlist_next((struct cf_str){NULL, 0}, &pos, &id));
	cf_buf_release(&l);
}

/* Build an entry of three different commands; returns the true length. */
static size_t build_entry(struct cf_buf *e, uint64_t ts)
{
	struct cf_buf cmd = CF_BUF_INIT;
	struct rft_batch b;
	struct rft_cmd c = {0};
	size_t true_len;

	assert_int_equal(rft_batch_begin(&b, e), 0);
	c.type = RFT_CMD_SEND;
	c.req_id = 1;
	c.user = S("alice");
	c.conv = S("c_1");
	c.client_msg_id = S("k1");
	c.msg_type = S("text");
	c.content = S("hello");
	assert_int_equal(rft_cmd_encode(&c, &cmd), 0);
	c.req_id = 2;
	c.client_msg_id = S("k2");
	c.content = S("world!");
	assert_int_equal(rft_cmd_encode(&c, &cmd), 0);
	assert_int_equal(rft_batch_add(&b, cmd.data, rft_cmd_size(&c) - 1), 0);
	assert_int_equal(
		rft_batch_add(&b, cmd.data + rft_cmd_size(&c) - 1,
			      cmd.len - (rft_cmd_size(&c) - 1)),
		0);
	memset(&c, 0, sizeof(c));
	c.type = RFT_CMD_RECEIPT;
	c.req_id = 3;
	c.user = S("bob");
	c.conv = S("c_1");
	c.seq = 2;
	c.receipt_kind = RFT_RECEIPT_DELIVERED;
	cmd.len = 0;
	assert_int_equal(rft_cmd_encode(&c, &cmd), 0);
	assert_int_equal(rft_batch_add(&b, cmd.data, cmd.len), 0);
	true_len = e->len - b.start;
	assert_int_equal(rft_batch_finish(&b, ts), 0);
	cf_buf_release(&cmd);
	return true_len;
}

static void entry_is_padded_to_8_with_true_length_inside(void **state)
{
	struct cf_buf e = CF_BUF_INIT;
	size_t true_len = build_entry(&e, 1771900123456ull);
	struct rft_entry d;
	struct rft_cmd c;
	size_t pos = 0, k;
	int n = 0, rv;

	(void)state;
	assert_int_equal(e.len % 8, 0);
	assert_true(e.len >= true_len && e.len - true_len < 8);
	assert_int_not_equal(true_len % 8, 0); /* padding was needed */
	assert_int_equal(cf_get_u32(e.data + 8), true_len);
	for (k = true_len; k < e.len; k++)
		assert_int_equal(e.data[k], 0);
	assert_int_equal(rft_entry_decode(e.data, e.len, &d), 0);
	assert_int_equal(d.version, RFT_ENTRY_VERSION);
	assert_int_equal(d.count, 3);
	assert_int_equal(d.server_ts, 1771900123456ull);
	while ((rv = rft_entry_next(&d, &pos, &c)) == 1) {
		n++;
		assert_int_equal(c.req_id, (uint64_t)n);
	}
	assert_int_equal(rv, 0);
	assert_int_equal(n, 3);
	assert_true(cf_str_eqc(c.user, "bob"));
	/* The unpadded length is not an entry. */
	assert_int_equal(rft_entry_decode(e.data, true_len, &d), CF_ECORRUPT);
	cf_buf_release(&e);
}

static void corrupted_byte_at_every_position_is_rejected(void **state)
{
	struct cf_buf e = CF_BUF_INIT;
	struct rft_entry d;
	size_t k;
	int rv;

	(void)state;
	build_entry(&e, 42);
	for (k = 0; k < e.len; k++) {
		unsigned bit;

		for (bit = 0; bit < 8; bit += 3) {
			e.data[k] ^= (char)(1u << bit);
			rv = rft_entry_decode(e.data, e.len, &d);
			assert_true(rv == CF_ECORRUPT || rv == CF_EVERSION);
			e.data[k] ^= (char)(1u << bit);
		}
	}
	assert_int_equal(rft_entry_decode(e.data, e.len, &d), 0);
	/* Truncated at every multiple of 8. */
	for (k = 0; k < e.len; k += 8)
		assert_int_equal(rft_entry_decode(e.data, k, &d), CF_ECORRUPT);
	cf_buf_release(&e);
}

static void version_mismatch_is_eversion(void **state)
{
	struct cf_buf e = CF_BUF_INIT;
	struct rft_entry d;
	size_t true_len;

	(void)state;
	true_len = build_entry(&e, 42);
	/* A well-formed entry of version 2, its checksum recomputed. */
	cf_put_u16(e.data + 4, 2);
	cf_put_u64(e.data + 24,
		   XXH3_64bits_withSeed(e.data + 32, true_len - 32,
					XXH3_64bits(e.data, 24)));
	assert_int_equal(rft_entry_decode(e.data, e.len, &d), CF_EVERSION);
	cf_put_u16(e.data + 4, 0);
	assert_int_equal(rft_entry_decode(e.data, e.len, &d), CF_EVERSION);
	cf_put_u16(e.data + 4, RFT_ENTRY_VERSION);
	assert_int_equal(rft_entry_decode(e.data, e.len, &d), CF_ECORRUPT);
	cf_put_u64(e.data + 24,
		   XXH3_64bits_withSeed(e.data + 32, true_len - 32,
					XXH3_64bits(e.data, 24)));
	assert_int_equal(rft_entry_decode(e.data, e.len, &d), 0);
	cf_buf_release(&e);
}

static void batch_add_refuses_past_entry_max(void **state)
{
	struct cf_buf e = CF_BUF_INIT, cmd = CF_BUF_INIT;
	struct rft_batch b;
	struct rft_cmd c = {0};
	struct rft_entry d;
	char *big = malloc(100000);
	unsigned added = 0;
	int rv;

	(void)state;
	assert_non_null(big);
	memset(big, 'y', 100000);
	c.type = RFT_CMD_SEND;
	c.user = S("alice");
	c.conv = S("c_1");
	c.client_msg_id = S("k");
	c.msg_type = S("text");
	c.content = (struct cf_str){big, 100000};
	assert_int_equal(rft_cmd_encode(&c, &cmd), 0);
	assert_int_equal(rft_batch_begin(&b, &e), 0);
	while ((rv = rft_batch_add(&b, cmd.data, cmd.len)) == 0)
		added++;
	assert_int_equal(rv, CF_ETOOBIG);
	assert_int_equal(added, (RFT_ENTRY_MAX - 32) / cmd.len);
	assert_true(e.len + cmd.len > RFT_ENTRY_MAX);
	assert_int_equal(b.count, added);
	assert_int_equal(rft_batch_finish(&b, 1), 0);
	assert_true(e.len <= RFT_ENTRY_MAX);
	assert_int_equal(rft_entry_decode(e.data, e.len, &d), 0);
	assert_int_equal(d.count, added);
	free(big);
	cf_buf_release(&e);
	cf_buf_release(&cmd);
}

static void batch_add_refuses_past_max_commands(void **state)
{
	struct cf_buf e = CF_BUF_INIT, cmd = CF_BUF_INIT;
	struct rft_batch b;
	struct rft_cmd c = {0};

	(void)state;
	c.type = RFT_CMD_RECALL; /* smallest command with fields: 27 bytes */
	assert_int_equal(rft_cmd_encode(&c, &cmd), 0);
	assert_int_equal(rft_batch_begin(&b, &e), 0);
	/* 65535 x 27 bytes is over 512 KiB; count the cap on count alone. */
	b.count = RFT_ENTRY_MAX_CMDS - 1;
	assert_int_equal(rft_batch_add(&b, cmd.data, cmd.len), 0);
	assert_int_equal(rft_batch_add(&b, cmd.data, cmd.len), CF_ETOOBIG);
	cf_buf_release(&e);
	cf_buf_release(&cmd);
}

static void batch_add_refuses_malformed_command(void **state)
{
	struct cf_buf e = CF_BUF_INIT, cmd = CF_BUF_INIT;
	struct rft_batch b;
	struct rft_cmd c = {0};

	(void)state;
	c.type = RFT_CMD_SEND;
	c.user = S("alice");
	assert_int_equal(rft_cmd_encode(&c, &cmd), 0);
	assert_int_equal(rft_batch_begin(&b, &e), 0);
	cmd.data[CMD_USER_LEN_OFFSET] = 100; /* user length past the end */
	assert_int_equal(rft_batch_add(&b, cmd.data, cmd.len), CF_ECORRUPT);
	assert_int_equal(b.count, 0);
	assert_int_equal(e.len, 32);
	cf_buf_release(&e);
	cf_buf_release(&cmd);
}

static void empty_batch_decodes(void **state)
{
	struct cf_buf e = CF_BUF_INIT;
	struct rft_batch b;
	struct rft_entry d;
	struct rft_cmd c;
	size_t pos = 0;

	(void)state;
	assert_int_equal(rft_batch_begin(&b, &e), 0);
	assert_int_equal(rft_batch_finish(&b, 7), 0);
	assert_int_equal(e.len, 32);
	assert_int_equal(rft_entry_decode(e.data, e.len, &d), 0);
	assert_int_equal(d.count, 0);
	assert_int_equal(rft_entry_next(&d, &pos, &c), 0);
	cf_buf_release(&e);
}

static void result_round_trips(void **state)
{
	struct rft_result r = {0}, d;
	struct cf_buf out = CF_BUF_INIT;

	(void)state;
	r.status = 0;
	r.duplicate = true;
	r.created = false;
	r.index = 90;
	r.seq = 12045;
	r.message_id = 90 * 65536 + 3;
	r.server_ts = 1771900123456ull;
	r.seq2 = 12044;
	strcpy(r.conv, "c_17");
	assert_int_equal(rft_result_encode(&r, &out), 0);
	assert_int_equal(rft_result_decode(out.data, out.len, &d), 0);
	assert_int_equal(d.status, 0);
	assert_true(d.duplicate);
	assert_false(d.created);
	assert_int_equal(d.index, 90);
	assert_int_equal(d.seq, 12045);
	assert_int_equal(d.message_id, r.message_id);
	assert_int_equal(d.server_ts, r.server_ts);
	assert_int_equal(d.seq2, 12044);
	assert_string_equal(d.conv, "c_17");
	assert_int_equal(rft_result_decode(out.data, out.len - 1, &d),
			 CF_ECORRUPT);

	out.len = 0;
	memset(&r, 0, sizeof(r));
	r.status = CF_ECONFLICT;
	r.created = true;
	memset(r.conv, 'a', 128);
	assert_int_equal(rft_result_encode(&r, &out), 0);
	assert_int_equal(rft_result_decode(out.data, out.len, &d), 0);
	assert_int_equal(d.status, CF_ECONFLICT);
	assert_true(d.created);
	assert_false(d.duplicate);
	assert_int_equal(strlen(d.conv), 128);

	/* A conversation id with a NUL inside is refused, not cut short. */
	out.len = 0;
	strcpy(r.conv, "abc");
	assert_int_equal(rft_result_encode(&r, &out), 0);
	out.data[out.len - 2] = '\0';
	assert_int_equal(rft_result_decode(out.data, out.len, &d),
			 CF_ECORRUPT);
	cf_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_round_trips),
		cmocka_unit_test(members_round_trips),
		cmocka_unit_test(send_round_trips_with_large_content),
		cmocka_unit_test(send_with_reply_and_mentions_round_trips),
		cmocka_unit_test(edit_round_trips),
		cmocka_unit_test(message_body_meta_round_trips),
		cmocka_unit_test(recall_receipt_media_round_trip),
		cmocka_unit_test(unknown_type_decodes_with_no_fields),
		cmocka_unit_test(idlist_walks_every_id),
		cmocka_unit_test(entry_is_padded_to_8_with_true_length_inside),
		cmocka_unit_test(corrupted_byte_at_every_position_is_rejected),
		cmocka_unit_test(version_mismatch_is_eversion),
		cmocka_unit_test(batch_add_refuses_past_entry_max),
		cmocka_unit_test(batch_add_refuses_past_max_commands),
		cmocka_unit_test(batch_add_refuses_malformed_command),
		cmocka_unit_test(empty_batch_decodes),
		cmocka_unit_test(result_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
