#include "config.h"

/*
 * test_cf_mem: the allocator seam (src/common/cf_mem.h) and the "fail the Nth
 * allocation" loops over the parsers and codecs (issue 11, Tests). For every
 * N from 1 until the operation completes without reaching the fault, the N-th
 * allocation fails: the operation must fail cleanly (its documented error, no
 * crash, nothing leaked: the live balance returns to zero, and ASan's leak
 * checker runs in the sanitizer build) and leave nothing visible behind.
 * The program links with CF_TEST_MEM_WRAP (ld --wrap), so libconfab's own
 * malloc calls are counted as well as jansson's, libuv's and raft's.
 */

#include <errno.h>
#include <jansson.h>
#include <raft.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "common/cf_conf.h"
#include "common/cf_map.h"
#include "common/cf_mem.h"
#include "frontend/fe_http.h"
#include "frontend/fe_ws.h"
#include "log/log_index.h"
#include "log/log_record.h"
#include "raft/rft_cmd.h"

#include "../lib/cf_test_mem.h"

static int setup(void **state)
{
	(void)state;
	cf_mem_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cf_mem_reset();
	return 0;
}

/* --- the seam itself ------------------------------------------------- */

static void countdown_fails_exactly_the_nth(void **state)
{
	void *p[5];
	int i;

	(void)state;
	cf_test_mem_arm(3, false);
	for (i = 0; i < 5; i++)
		p[i] = malloc(8); /* a plain malloc: the wrap counts it */
	assert_true(cf_test_mem_disarm());
	assert_non_null(p[0]);
	assert_non_null(p[1]);
	assert_null(p[2]);
	assert_non_null(p[3]);
	assert_non_null(p[4]);
	assert_int_equal(cf_test_mem_allocs(), 5);
	for (i = 0; i < 5; i++)
		free(p[i]);
	assert_int_equal(cf_test_mem_live(), 0);
}

static void sticky_countdown_fails_every_one_after(void **state)
{
	void *a, *b, *c, *d;

	(void)state;
	cf_test_mem_arm(2, true);
	a = cf_malloc(8);
	b = calloc(1, 8);
	c = strdup("x");
	d = cf_realloc(a, 64);
	assert_true(cf_test_mem_disarm());
	assert_non_null(a);
	assert_null(b);
	assert_null(c);
	assert_null(d); /* a is untouched, as realloc promises */
	free(a);
	assert_int_equal(cf_test_mem_live(), 0);
	cf_mem_reset();
	a = malloc(8); /* reset: no longer failing */
	assert_non_null(a);
	free(a);
}

/* jansson, libuv and raft allocate through the seam once installed. */
static void libraries_allocate_through_the_seam(void **state)
{
	json_t *j;
	uv_loop_t *loop;
	void *p;

	(void)state;
	cf_test_mem_arm(1, false);
	j = json_object();
	assert_true(cf_test_mem_disarm());
	assert_null(j);

	cf_test_mem_arm(1, false);
	p = raft_malloc(32);
	assert_true(cf_test_mem_disarm());
	assert_null(p);

	cf_test_mem_arm(1, true);
	p = raft_aligned_alloc(4096, 4096);
	assert_true(cf_test_mem_disarm());
	assert_null(p);

	/* libuv: uv_loop_new() allocates the loop with uv__malloc. */
	cf_test_mem_arm(1, false);
	loop = uv_loop_new();
	assert_true(cf_test_mem_disarm());
	assert_null(loop);
	cf_mem_reset();
	j = json_pack("{s:i}", "a", 1);
	assert_non_null(j);
	json_decref(j);
	assert_true(cf_test_mem_allocs() > 0);
	assert_int_equal(cf_test_mem_live(), 0);
}

/* Without a countdown, nothing fails and the counters only count. */
static void production_mode_passes_straight_through(void **state)
{
	void *p;

	(void)state;
	cf_mem_set_mode(CF_MEM_OFF);
	cf_mem_fail_after(1, true);
	p = cf_malloc(8);
	assert_non_null(p);
	cf_free(p);
	p = malloc(8);
	assert_non_null(p);
	free(p);
	p = raft_malloc(8);
	assert_non_null(p);
	raft_free(p);
	assert_int_equal(cf_test_mem_allocs(), 0);
	cf_mem_set_mode(CF_MEM_COUNT_BELOW);
	cf_mem_reset();
}

/* CF_MEM_COUNT_HERE (a program without the wraps): cf_malloc & co and the
 * libraries count; a plain malloc is not seen. */
static void count_here_mode_counts_the_seam_only(void **state)
{
	void *p, *q;
	char *s;

	(void)state;
	cf_mem_set_mode(CF_MEM_COUNT_HERE);
	cf_test_mem_arm(2, false);
	p = malloc(8); /* not counted */
	q = raft_malloc(8); /* 1 */
	s = cf_strdup("abc"); /* 2: fails */
	assert_true(cf_test_mem_disarm());
	assert_non_null(p);
	assert_non_null(q);
	assert_null(s);
	assert_int_equal(cf_test_mem_allocs(), 2);
	free(p);
	raft_free(q);
	assert_int_equal(cf_test_mem_live(), 0);
	cf_mem_set_mode(CF_MEM_COUNT_BELOW);
}

/* --- HTTP parser (fe_http.c) ------------------------------------------ */

static const char http_req[] =
	"POST /v1/conversations/c1/messages?limit=10&q=a%20b HTTP/1.1\r\n"
	"Host: example.org\r\n"
	"Authorization: Bearer abc.def.ghi\r\n"
	"Content-Type: application/json\r\n"
	"Connection: keep-alive\r\n"
	"Connection: x-other\r\n"
	"X-Ignored: some value that is dropped\r\n"
	"Content-Length: 27\r\n"
	"\r\n"
	"{\"text\":\"hello, world 123\"}";

static const char http_chunked[] =
	"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";

/* Feed s in steps of step bytes (re-feeding what was not consumed). */
static int http_feed_steps(struct fe_http_parser *p, const char *s,
			   size_t len, size_t step)
{
	size_t pos = 0, end = 0, used;
	int rv = 0;

	while (pos < len) {
		if (pos == end)
			end = end + step < len ? end + step : len;
		rv = fe_http_feed(p, s + pos, end - pos, &used);
		if (rv != FE_HTTP_NEED_MORE)
			return rv;
		pos += used;
	}
	return rv;
}

static void http_fault_loop(const char *s, size_t len, size_t step,
			    bool sticky, void (*check)(struct fe_http_parser *))
{
	struct fe_http_parser p;
	uint64_t n;
	int rv;

	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		fe_http_parser_init(&p, NULL);
		cf_test_mem_arm(n, sticky);
		rv = http_feed_steps(&p, s, len, step);
		if (!cf_test_mem_disarm()) {
			assert_true(n > 1); /* the loop did inject */
			assert_int_equal(rv, FE_HTTP_REQUEST);
			check(&p);
			fe_http_parser_release(&p);
			assert_int_equal(cf_test_mem_live(), 0);
			return;
		}
		if (rv != -ENOMEM)
			fail_msg("n=%llu step=%zu: rv %d, want -ENOMEM",
				 (unsigned long long)n, step, rv);
		assert_int_equal(p.status, 500);
		/* sticky: the parser stays failed */
		assert_int_equal(fe_http_feed(&p, s, len, &(size_t){0}),
				 -ENOMEM);
		fe_http_parser_release(&p);
		assert_int_equal(cf_test_mem_live(), 0);
	}
	fail_msg("no success after %d allocations", CF_TEST_MEM_MAX_N);
}

static void http_check_post(struct fe_http_parser *p)
{
	const struct fe_http_req *r = &p->req;
	struct cf_str v;

	assert_int_equal(r->method, FE_HTTP_POST);
	assert_string_equal(r->path.p, "/v1/conversations/c1/messages");
	assert_string_equal(r->h[FE_HTTP_H_HOST].p, "example.org");
	assert_string_equal(r->h[FE_HTTP_H_CONNECTION].p,
			    "keep-alive, x-other");
	assert_string_equal(r->body.p, "{\"text\":\"hello, world 123\"}");
	assert_int_equal(fe_http_query_get(r, "q", &v), 0);
	assert_string_equal(v.p, "a b");
}

static void http_check_chunked(struct fe_http_parser *p)
{
	assert_int_equal(p->req.method, FE_HTTP_PUT);
	assert_string_equal(p->req.body.p, "hello, world");
}

static void http_parser_fails_cleanly_at_every_allocation(void **state)
{
	static const size_t steps[] = {SIZE_MAX, 1, 7};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		http_fault_loop(http_req, sizeof http_req - 1, steps[i], false,
				http_check_post);
		http_fault_loop(http_req, sizeof http_req - 1, steps[i], true,
				http_check_post);
		http_fault_loop(http_chunked, sizeof http_chunked - 1,
				steps[i], false, http_check_chunked);
	}
}

static void http_response_head_fails_without_change(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	uint64_t n;
	int rv;

	(void)state;
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		assert_int_equal(cf_buf_append(&b, "x", 1), 0);
		cf_test_mem_arm(n, false);
		rv = fe_http_response_begin(&b, 200, "application/json", 12,
					    true, "X-A: b\r\n");
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		assert_int_equal(b.len, 1);
		cf_buf_release(&b);
	}
	assert_int_equal(rv, 0);
	assert_true(b.len > 1);
	cf_buf_release(&b);
}

/* --- WebSocket parser (fe_ws.c) -------------------------------------- */

static const uint8_t ws_key[4] = {0x37, 0xfa, 0x21, 0x3d};

static void ws_frame(struct cf_buf *b, uint8_t b0, const char *pl, size_t len)
{
	uint8_t h[8];
	size_t i;

	assert_true(len < 126);
	h[0] = b0;
	h[1] = (uint8_t)(0x80 | len);
	memcpy(h + 2, ws_key, 4);
	assert_int_equal(cf_buf_append(b, h, 6), 0);
	for (i = 0; i < len; i++)
		assert_int_equal(cf_buf_put_u8(b, (uint8_t)pl[i] ^
						      ws_key[i % 4]),
				 0);
}

/* Events of in fed in steps; appends "K:payload\n" per event to out. */
static int ws_feed_steps(struct fe_ws_parser *p, const struct cf_buf *in,
			 size_t step, char *out, size_t outsz)
{
	struct fe_ws_event ev;
	size_t pos = 0, end = 0, used, o = 0;
	int rv;

	out[0] = '\0';
	while (pos < in->len) {
		if (pos == end)
			end = end + step < in->len ? end + step : in->len;
		rv = fe_ws_feed(p, in->data + pos, end - pos, &used, &ev);
		if (rv < 0)
			return rv;
		pos += used;
		if (rv != FE_WS_NEED_MORE)
			o += (size_t)snprintf(out + o, outsz - o, "%d:%.*s\n",
					      rv, (int)ev.len,
					      (const char *)ev.data);
	}
	return 0;
}

static void ws_parser_fails_cleanly_at_every_allocation(void **state)
{
	static const size_t steps[] = {SIZE_MAX, 1, 5};
	static const char want[] =
		"3:ping!\n1:hello, fragmented world\n1:second message\n";
	struct cf_buf in = CF_BUF_INIT;
	struct fe_ws_parser p;
	char out[256];
	uint64_t n;
	size_t i;
	int rv;
	bool sticky;

	(void)state;
	ws_frame(&in, 0x01, "hello, ", 7);		/* TEXT, not FIN */
	ws_frame(&in, 0x00, "fragmented ", 11);	/* CONT */
	ws_frame(&in, 0x89, "ping!", 5);		/* PING between */
	ws_frame(&in, 0x80, "world", 5);		/* CONT, FIN */
	ws_frame(&in, 0x81, "second message", 14);	/* TEXT, FIN */
	for (i = 0; i < sizeof steps / sizeof steps[0] * 2; i++) {
		sticky = i % 2 == 1;
		for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
			fe_ws_parser_init(&p, 0);
			cf_test_mem_arm(n, sticky);
			rv = ws_feed_steps(&p, &in, steps[i / 2], out,
					   sizeof out);
			if (!cf_test_mem_disarm())
				break;
			assert_int_equal(rv, -ENOMEM);
			assert_int_equal(p.close_code, FE_WS_CLOSE_INTERNAL);
			fe_ws_parser_release(&p);
			assert_int_equal(cf_test_mem_live(), 0);
		}
		assert_true(n > 1); /* the loop did inject */
		assert_int_equal(rv, 0);
		assert_string_equal(out, want);
		fe_ws_parser_release(&p);
		assert_int_equal(cf_test_mem_live(), 0);
	}
	cf_buf_release(&in);
}

static void ws_encoders_fail_without_change(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	struct cf_blob *blob;
	uint64_t n;
	int rv;

	(void)state;
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		cf_test_mem_arm(n, false);
		rv = fe_ws_close_append(&b, 1000, "bye");
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		assert_int_equal(b.len, 0);
	}
	assert_int_equal(rv, 0);
	cf_buf_release(&b);
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		cf_test_mem_arm(n, false);
		blob = fe_ws_frame_blob(FE_WS_OP_TEXT, "abc", 3);
		if (!cf_test_mem_disarm())
			break;
		assert_null(blob);
		assert_int_equal(cf_test_mem_live(), 0);
	}
	assert_non_null(blob);
	cf_blob_unref(blob);
	assert_int_equal(cf_test_mem_live(), 0);
}

/* --- command codec (rft_cmd.c) -------------------------------------- */

/* Build a batch of three commands into out; 0 or the first error. */
static int cmd_batch_build(struct cf_buf *out, const struct cf_str *members)
{
	struct cf_buf one = CF_BUF_INIT;
	struct rft_batch b;
	struct rft_cmd c[3] = {{0}};
	int rv, i;

	c[0].type = RFT_CMD_CREATE;
	c[0].user = cf_str_c("alice");
	c[0].conv = cf_str_c("trip");
	c[0].conv_type = RFT_CONV_GROUP;
	c[0].title = cf_str_c("Trip");
	c[0].members = *members;
	c[1].type = RFT_CMD_SEND;
	c[1].origin = 2;
	c[1].req_id = 77;
	c[1].user = cf_str_c("bob");
	c[1].conv = cf_str_c("trip");
	c[1].client_msg_id = cf_str_c("k-1");
	c[1].msg_type = cf_str_c("text");
	c[1].content = cf_str_c("{\"text\":\"hello\"}");
	c[2].type = RFT_CMD_RECEIPT;
	c[2].user = cf_str_c("carol");
	c[2].conv = cf_str_c("trip");
	c[2].seq = 1;
	c[2].receipt_kind = RFT_RECEIPT_READ;
	rv = rft_batch_begin(&b, out);
	for (i = 0; rv == 0 && i < 3; i++) {
		one.len = 0;
		rv = rft_cmd_encode(&c[i], &one);
		if (rv == 0)
			rv = rft_batch_add(&b, one.data, one.len);
	}
	if (rv == 0)
		rv = rft_batch_finish(&b, 1234);
	cf_buf_release(&one);
	return rv;
}

static void cmd_batch_encode_fails_cleanly_then_decodes(void **state)
{
	static const char *ids[] = {"bob", "carol"};
	struct cf_buf l = CF_BUF_INIT, out = CF_BUF_INIT;
	struct cf_str members[2] = {cf_str_c(ids[0]), cf_str_c(ids[1])};
	struct cf_str list;
	struct rft_entry e;
	struct rft_cmd d;
	struct rft_result r = {0}, r2;
	size_t pos = 0;
	uint64_t n;
	int rv;

	(void)state;
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		cf_test_mem_arm(n, false);
		rv = rft_idlist_encode(&l, members, 2);
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		assert_int_equal(l.len, 0);
	}
	assert_int_equal(rv, 0);
	list = (struct cf_str){l.data, l.len};
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		cf_test_mem_arm(n, n % 2 == 0);
		rv = cmd_batch_build(&out, &list);
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		cf_buf_release(&out);
		assert_int_equal(cf_test_mem_live(), 0);
	}
	assert_true(n > 1);
	assert_int_equal(rv, 0);
	/* Decoding borrows from the bytes: no allocation at all. */
	cf_test_mem_arm(1, true);
	assert_int_equal(rft_entry_decode(out.data, out.len, &e), 0);
	assert_int_equal(e.count, 3);
	assert_int_equal(rft_entry_next(&e, &pos, &d), 1);
	assert_int_equal(d.type, RFT_CMD_CREATE);
	assert_int_equal(rft_idlist_count(d.members), 2);
	assert_int_equal(rft_entry_next(&e, &pos, &d), 1);
	assert_int_equal(d.req_id, 77);
	assert_int_equal(rft_entry_next(&e, &pos, &d), 1);
	assert_int_equal(rft_entry_next(&e, &pos, &d), 0);
	assert_false(cf_test_mem_disarm());
	cf_buf_release(&out);
	/* Results, as they travel back over the peer link. */
	r.seq = 5;
	strcpy(r.conv, "trip");
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		cf_test_mem_arm(n, false);
		rv = rft_result_encode(&r, &out);
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		assert_int_equal(out.len, 0);
	}
	assert_int_equal(rv, 0);
	assert_int_equal(rft_result_decode(out.data, out.len, &r2), 0);
	assert_int_equal(r2.seq, 5);
	assert_string_equal(r2.conv, "trip");
	cf_buf_release(&out);
	cf_buf_release(&l);
}

/* --- log_record (log_record.c) --------------------------------------- */

static void log_record_encode_fails_without_change(void **state)
{
	struct log_record rec = {0}, d;
	struct cf_buf out = CF_BUF_INIT;
	char big[3000];
	size_t used;
	uint64_t n;
	int rv;

	(void)state;
	memset(big, 'x', sizeof big);
	rec.kind = LOG_REC_MESSAGE;
	rec.raft_index = 9;
	rec.message_id = 9 * 65536;
	rec.seq = 3;
	rec.ts = 1700000000000;
	rec.conv = cf_str_c("trip");
	rec.sender = cf_str_c("bob");
	rec.client_msg_id = cf_str_c("k-1");
	rec.msg_type = cf_str_c("text");
	rec.body = (struct cf_str){big, sizeof big};
	assert_int_equal(cf_buf_append(&out, "head", 4), 0);
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		cf_test_mem_arm(n, false);
		rv = log_record_encode(&rec, &out);
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		assert_int_equal(out.len, 4);
		assert_memory_equal(out.data, "head", 4);
	}
	assert_true(n > 1);
	assert_int_equal(rv, 0);
	assert_int_equal(out.len, 4 + log_record_size(&rec));
	cf_test_mem_arm(1, true);
	assert_int_equal(log_record_decode(out.data + 4, out.len - 4, &d,
					   &used),
			 0);
	assert_false(cf_test_mem_disarm());
	assert_int_equal(d.seq, 3);
	assert_int_equal(d.body.len, sizeof big);
	cf_buf_release(&out);
}

/* --- cf_conf (the cluster file) --------------------------------------- */

static void cluster_file_load_fails_cleanly(void **state)
{
	char dir[] = "/tmp/test_cf_mem.XXXXXX", path[64], key[64];
	char errmsg[CF_ERRMSG_SIZE];
	struct cf_cluster c;
	uint64_t n;
	FILE *fp;
	int rv;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(key, sizeof key, "%s/secret.key", dir);
	snprintf(path, sizeof path, "%s/cluster.conf", dir);
	fp = fopen(key, "w");
	assert_non_null(fp);
	fputs("0123456789abcdef0123456789abcdef\n", fp);
	fclose(fp);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("# test\npartitions 4\nsecret secret.key\nsegment-size 1M\n"
	      "node 1 raft=127.0.0.1:7001 peer=127.0.0.1:7101 "
	      "client=http://127.0.0.1:8001\n"
	      "node 2 raft=127.0.0.1:7002 peer=127.0.0.1:7102 "
	      "client=http://127.0.0.1:8002\n",
	      fp);
	fclose(fp);
	/* The parser reads with stdio into fixed buffers: today it makes no
	 * allocation of its own, and any it makes later must fail cleanly. */
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		cf_test_mem_arm(n, false);
		rv = cf_cluster_load(&c, path, errmsg);
		if (!cf_test_mem_disarm())
			break;
		assert_true(rv < 0);
		assert_true(errmsg[0] != '\0');
	}
	assert_int_equal(rv, 0);
	assert_int_equal(c.n_nodes, 2);
	assert_int_equal(c.partitions, 4);
	assert_int_equal(c.segment_size, 1u << 20);
	assert_int_equal(unlink(key), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* --- log_index (log_index.c) ------------------------------------------ */

static uint64_t ix_seq(unsigned i)
{
	return i + 2u * (i / 5); /* gaps at 5 and 10 start new runs */
}

static void log_index_add_fails_without_change(void **state)
{
	struct log_index ix;
	struct log_iconv *h[40];
	char name[32];
	uint64_t n, messages;
	uint32_t segno, off;
	unsigned k, i, added = 0;
	int rv;

	(void)state;
	log_index_init(&ix);
	/* Every path: new conversations, new runs (segment change, seq gap),
	 * run growth, map growth. */
	for (k = 0; k < 40; k++) {
		snprintf(name, sizeof name, "conv-%u", k);
		for (i = 1; i <= 12; i++) {
			for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
				messages = ix.messages;
				cf_test_mem_arm(n, false);
				rv = log_index_add(&ix, cf_str_c(name),
						   ix_seq(i), i / 4, i * 10,
						   &h[k]);
				if (!cf_test_mem_disarm())
					break;
				added++;
				assert_int_equal(rv, -ENOMEM);
				assert_true(ix.messages == messages);
				assert_true(log_index_last_seq(
						    &ix, cf_str_c(name)) ==
					    (i == 1 ? 0 : ix_seq(i - 1)));
			}
			assert_int_equal(rv, 0);
		}
	}
	assert_true(added > 40);
	assert_int_equal(log_index_count(&ix), 40);
	cf_test_mem_arm(1, true); /* lookups allocate nothing */
	for (k = 0; k < 40; k++) {
		snprintf(name, sizeof name, "conv-%u", k);
		for (i = 1; i <= 12; i++) {
			assert_int_equal(log_index_find(&ix, cf_str_c(name),
							ix_seq(i), &segno,
							&off),
					 0);
			assert_int_equal(segno, i / 4);
			assert_int_equal(off, i * 10);
		}
	}
	assert_false(cf_test_mem_disarm());
	/* issue 11: the byte count stays exact across failed adds. A failed
	 * add of a new conversation kept counting its freed runs array, and a
	 * map that grew before a failed put was not counted: once every
	 * message is popped, only the map's slots may remain. */
	for (k = 0; k < 40; k++)
		for (i = 1; i <= 12; i++)
			log_index_pop(&ix, h[k]);
	assert_int_equal(log_index_count(&ix), 0);
	assert_true(ix.messages == 0);
	if (ix.bytes != ix.convs.cap * sizeof(struct cf_map_slot))
		fail_msg("bytes %llu after popping everything, map %zu",
			 (unsigned long long)ix.bytes,
			 ix.convs.cap * sizeof(struct cf_map_slot));
	log_index_release(&ix);
}

/* --- cf_map (cf_map.c) ------------------------------------------------ */

static void cf_map_put_fails_without_change(void **state)
{
	struct cf_map m;
	char key[32];
	uint64_t n;
	size_t count;
	unsigned k, j;
	int rv;

	(void)state;
	cf_map_init(&m);
	for (k = 0; k < 200; k++) {
		snprintf(key, sizeof key, "key-%u", k);
		for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
			count = m.n;
			cf_test_mem_arm(n, n % 2 == 0);
			rv = cf_map_put(&m, key, strlen(key),
					(void *)(uintptr_t)(k + 1), NULL);
			if (!cf_test_mem_disarm())
				break;
			assert_int_equal(rv, -ENOMEM);
			assert_int_equal(m.n, count);
			assert_null(cf_map_get(&m, key, strlen(key)));
			for (j = 0; j < k; j += 17) {
				snprintf(key, sizeof key, "key-%u", j);
				assert_ptr_equal(cf_map_get(&m, key,
							    strlen(key)),
						 (void *)(uintptr_t)(j + 1));
			}
			snprintf(key, sizeof key, "key-%u", k);
		}
		assert_int_equal(rv, 0);
	}
	/* Replacing and deleting allocate nothing. */
	cf_test_mem_arm(1, true);
	for (k = 0; k < 200; k++) {
		snprintf(key, sizeof key, "key-%u", k);
		assert_int_equal(cf_map_put(&m, key, strlen(key),
					    (void *)(uintptr_t)(k + 2), NULL),
				 0);
	}
	for (k = 0; k < 200; k += 2) {
		snprintf(key, sizeof key, "key-%u", k);
		assert_ptr_equal(cf_map_del(&m, key, strlen(key)),
				 (void *)(uintptr_t)(k + 2));
	}
	assert_false(cf_test_mem_disarm());
	assert_int_equal(m.n, 100);
	cf_map_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(countdown_fails_exactly_the_nth),
		T(sticky_countdown_fails_every_one_after),
		T(libraries_allocate_through_the_seam),
		T(production_mode_passes_straight_through),
		T(count_here_mode_counts_the_seam_only),
		T(http_parser_fails_cleanly_at_every_allocation),
		T(http_response_head_fails_without_change),
		T(ws_parser_fails_cleanly_at_every_allocation),
		T(ws_encoders_fail_without_change),
		T(cmd_batch_encode_fails_cleanly_then_decodes),
		T(log_record_encode_fails_without_change),
		T(cluster_file_load_fails_cleanly),
		T(log_index_add_fails_without_change),
		T(cf_map_put_fails_without_change),
#undef T
	};

	cf_test_mem_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
