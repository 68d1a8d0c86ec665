#include "config.h"

/*
 * Unit tests of edits in the FSM (issue 13): rft_fsm_apply_entry on a real
 * store in a temporary folder. The rules of RFT_CMD_EDIT with the entry
 * clock (member, sender, recalled, seq range, the edit window, mentions,
 * clientEditId dedup and its expiry), the record written, and the edit map
 * kept across a full rebuild and a state image.
 */

#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"
#include "raft/rft_rec.h"

#include "../lib/cf_test_dir.h"

#define T0 1771900000000ull /* an entry clock, ms */
#define DAY (24ull * 3600 * 1000)

struct fx {
	char base[64];
	char dir[128];
	struct rft_fsm *f;
	uint64_t window;
	uint64_t index;
	unsigned edits_seen; /* LOG_REC_EDIT records published */
};

static void on_record(void *arg, const struct log_record *rec,
		      const struct rft_conv *conv)
{
	struct fx *x = arg;

	(void)conv;
	x->edits_seen += rec->kind == LOG_REC_EDIT;
}

static void fx_open(struct fx *x)
{
	struct rft_fsm_config c;
	char errmsg[CF_ERRMSG_SIZE];
	int rv;

	memset(&c, 0, sizeof(c));
	c.store.dir = x->dir;
	c.store.partitions = 4;
	c.on_record = on_record;
	c.on_record_arg = x;
	c.edit_window_ms = x->window;
	rv = rft_fsm_open(&x->f, &c, errmsg);
	if (rv != 0)
		fail_msg("open %s: %s: %s", x->dir, cf_strerror(rv), errmsg);
}

/* Checkpoint (what raft would not replay), close, open with x->window. */
static void fx_reopen(struct fx *x)
{
	char errmsg[CF_ERRMSG_SIZE];

	assert_int_equal(rft_fsm_checkpoint(x->f, errmsg), 0);
	rft_fsm_close(x->f);
	fx_open(x);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	cf_test_dir_make(x->base, sizeof(x->base), "test_rft_edit");
	snprintf(x->dir, sizeof(x->dir), "%s/a", x->base);
	x->window = DAY;
	x->index = 1;
	fx_open(x);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	rft_fsm_close(x->f);
	cf_test_dir_remove(x->base);
	free(x);
	return 0;
}

/* --- entries --- */

struct eb {
	struct cf_buf out, cmd, list;
	struct rft_batch b;
};

static void eb_begin(struct eb *e)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(rft_batch_begin(&e->b, &e->out), 0);
}

static void eb_add(struct eb *e, const struct rft_cmd *c)
{
	e->cmd.len = 0;
	assert_int_equal(rft_cmd_encode(c, &e->cmd), 0);
	assert_int_equal(rft_batch_add(&e->b, e->cmd.data, e->cmd.len), 0);
}

static struct cf_str eb_ids(struct eb *e, const char *const *ids)
{
	struct cf_str v[8];
	unsigned n = 0;

	while (ids != NULL && ids[n] != NULL) {
		v[n] = cf_str_c(ids[n]);
		n++;
	}
	e->list.len = 0;
	assert_int_equal(rft_idlist_encode(&e->list, v, n), 0);
	return (struct cf_str){e->list.data, e->list.len};
}

static void eb_group(struct eb *e, const char *owner, const char *conv,
		     const char *const *others)
{
	struct rft_cmd c = {0};

	c.type = RFT_CMD_CREATE;
	c.user = cf_str_c(owner);
	c.conv = cf_str_c(conv);
	c.conv_type = RFT_CONV_GROUP;
	c.members = eb_ids(e, others);
	eb_add(e, &c);
}

static void eb_send(struct eb *e, const char *user, const char *conv,
		    const char *key, const char *content)
{
	struct rft_cmd c = {0};

	c.type = RFT_CMD_SEND;
	c.user = cf_str_c(user);
	c.conv = cf_str_c(conv);
	c.client_msg_id = cf_str_c(key);
	c.msg_type = CF_STR_LIT("text");
	c.content = cf_str_c(content);
	eb_add(e, &c);
}

static void eb_edit(struct eb *e, const char *user, const char *conv,
		    uint64_t seq, const char *key, const char *content,
		    const char *const *mentions)
{
	struct rft_cmd c = {0};

	c.type = RFT_CMD_EDIT;
	c.user = cf_str_c(user);
	c.conv = cf_str_c(conv);
	c.seq = seq;
	c.client_msg_id = cf_str_c(key);
	c.content = cf_str_c(content);
	if (mentions != NULL)
		c.mentions = eb_ids(e, mentions);
	eb_add(e, &c);
}

static void eb_recall(struct eb *e, const char *user, const char *conv,
		      uint64_t seq)
{
	struct rft_cmd c = {0};

	c.type = RFT_CMD_RECALL;
	c.user = cf_str_c(user);
	c.conv = cf_str_c(conv);
	c.seq = seq;
	eb_add(e, &c);
}

/* Finish e at ts, apply it as the next entry; the results (n). */
static const struct rft_result *eb_apply(struct fx *x, struct eb *e,
					 uint64_t ts, unsigned *n)
{
	const struct rft_result *r;
	uint64_t at = 0;

	assert_int_equal(rft_batch_finish(&e->b, ts), 0);
	x->index++;
	rft_fsm_apply_entry(x->f, x->index, e->out.data, e->out.len);
	r = rft_fsm_results(x->f, n, &at);
	assert_int_equal(at, x->index);
	cf_buf_release(&e->out);
	cf_buf_release(&e->cmd);
	cf_buf_release(&e->list);
	return r;
}

/* One command in an entry of its own: its result (copied). */
static struct rft_result one(struct fx *x, struct eb *e, uint64_t ts)
{
	unsigned n;
	const struct rft_result *r = eb_apply(x, e, ts, &n);

	assert_int_equal(n, 1);
	return *r;
}

/* The latest version of seq of g: content, mentions count, editedAt. */
static void latest(struct fx *x, uint64_t seq, char *content, size_t clen,
		   unsigned *mentions, uint64_t *edited_at)
{
	const struct rft_conv *c = rft_fsm_conv(x->f, CF_STR_LIT("g"));
	const struct rft_edit *ed;
	struct cf_buf scratch = CF_BUF_INIT;
	struct rft_rec_meta meta;
	struct log_record rec;
	struct cf_str text, att;

	assert_non_null(c);
	ed = rft_conv_edit(c, seq);
	assert_non_null(ed);
	assert_int_equal(rft_fsm_read_edit(x->f, c, ed, &rec, &scratch), 0);
	assert_int_equal(rec.kind, LOG_REC_EDIT);
	assert_int_equal(rec.seq, seq);
	assert_int_equal(rec.message_id, ed->message_id);
	assert_int_equal(rft_rec_message_split(&rec, &text, &att), 0);
	assert_int_equal(rft_rec_message_meta(&rec, &meta), 0);
	snprintf(content, clen, "%.*s", (int)text.len, text.p);
	*mentions = rft_idlist_count(meta.mentions);
	*edited_at = ed->ts;
	cf_buf_release(&scratch);
}

static const char *const OTHERS[] = {"bob", "carol", NULL};

/* g: alice (owner), bob, carol; alice's seq 1 and bob's seq 2 at T0. */
static void history(struct fx *x)
{
	struct eb e;
	unsigned n;

	eb_begin(&e);
	eb_group(&e, "alice", "g", OTHERS);
	eb_send(&e, "alice", "g", "a1", "first text");
	eb_send(&e, "bob", "g", "b1", "bob's text");
	eb_apply(x, &e, T0, &n);
	assert_int_equal(n, 3);
}

static void edit_rules_with_the_entry_clock(void **state)
{
	static const char *const bob[] = {"bob", NULL};
	static const char *const zed[] = {"zed", NULL};
	struct fx *x = *state;
	struct rft_result r, first;
	char text[64];
	unsigned m;
	uint64_t at;
	struct eb e;

	history(x);
	/* The sender, within the window: a record, the map points at it. */
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 1, "e1", "second text", bob);
	first = one(x, &e, T0 + 1000);
	assert_int_equal(first.status, 0);
	assert_false(first.duplicate);
	assert_int_equal(first.seq, 1);
	assert_int_equal(first.server_ts, T0 + 1000);
	assert_int_equal(first.message_id, x->index * 65536);
	assert_int_equal(x->edits_seen, 1);
	latest(x, 1, text, sizeof text, &m, &at);
	assert_string_equal(text, "second text");
	assert_int_equal(m, 1);
	assert_int_equal(at, T0 + 1000);
	assert_int_equal(rft_fsm_conv(x->f, CF_STR_LIT("g"))->last_item_id,
			 first.message_id);
	assert_null(rft_conv_edit(rft_fsm_conv(x->f, CF_STR_LIT("g")), 2));

	/* The same clientEditId again: the first answer, nothing written. */
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 1, "e1", "other text", NULL);
	r = one(x, &e, T0 + 2000);
	assert_int_equal(r.status, 0);
	assert_true(r.duplicate);
	assert_int_equal(r.message_id, first.message_id);
	assert_int_equal(r.server_ts, first.server_ts);
	assert_int_equal(x->edits_seen, 1);
	/* A clientMsgId of a send is another key space. */
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 1, "a1", "third text", NULL);
	r = one(x, &e, T0 + 3000);
	assert_int_equal(r.status, 0);
	assert_false(r.duplicate);
	latest(x, 1, text, sizeof text, &m, &at);
	assert_string_equal(text, "third text");
	assert_int_equal(m, 0);

	/* Not the sender; not a member; no such seq; no key. */
	eb_begin(&e);
	eb_edit(&e, "bob", "g", 1, "x1", "bob's try", NULL);
	r = one(x, &e, T0 + 4000);
	assert_int_equal(r.status, CF_EFORBIDDEN);
	assert_int_not_equal(r.seq2, RFT_EDIT_LATE);
	eb_begin(&e);
	eb_edit(&e, "dave", "g", 1, "x2", "dave's try", NULL);
	assert_int_equal(one(x, &e, T0 + 4000).status, CF_ENOTFOUND);
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 3, "x3", "no seq 3", NULL);
	assert_int_equal(one(x, &e, T0 + 4000).status, CF_ENOTFOUND);
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 0, "x4", "no seq 0", NULL);
	assert_int_equal(one(x, &e, T0 + 4000).status, CF_ENOTFOUND);
	eb_begin(&e);
	eb_edit(&e, "alice", "nope", 1, "x5", "no conversation", NULL);
	assert_int_equal(one(x, &e, T0 + 4000).status, CF_ENOTFOUND);
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 1, "", "no key", NULL);
	assert_int_equal(one(x, &e, T0 + 4000).status, CF_EBADREQ);
	/* Mentions: members only. */
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 1, "x6", "hi zed", zed);
	assert_int_equal(one(x, &e, T0 + 4000).status, CF_EBADREQ);
	assert_int_equal(x->edits_seen, 2);

	/* The window, by entry clock: at T0 + DAY still, after it not. */
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 1, "w1", "just in time", NULL);
	assert_int_equal(one(x, &e, T0 + DAY).status, 0);
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 1, "w2", "too late", NULL);
	r = one(x, &e, T0 + DAY + 1);
	assert_int_equal(r.status, CF_EFORBIDDEN);
	assert_int_equal(r.seq2, RFT_EDIT_LATE);
	latest(x, 1, text, sizeof text, &m, &at);
	assert_string_equal(text, "just in time");
	assert_int_equal(at, T0 + DAY);
}

static void recalled_or_past_keys_and_edits_off(void **state)
{
	struct fx *x = *state;
	struct rft_result r;
	struct eb e;
	unsigned n;
	const struct rft_result *rs;

	history(x);
	/* Recalled: not found, in the same entry as the recall too. */
	eb_begin(&e);
	eb_recall(&e, "bob", "g", 2);
	eb_edit(&e, "bob", "g", 2, "b-e1", "after the recall", NULL);
	rs = eb_apply(x, &e, T0 + 10, &n);
	assert_int_equal(n, 2);
	assert_int_equal(rs[0].status, 0);
	assert_int_equal(rs[1].status, CF_ENOTFOUND);
	/* An edit of a message sent in the same entry. */
	eb_begin(&e);
	eb_send(&e, "carol", "g", "c1", "carol's text");
	eb_edit(&e, "carol", "g", 3, "c-e1", "carol's edit", NULL);
	rs = eb_apply(x, &e, T0 + 20, &n);
	assert_int_equal(rs[1].status, 0);
	/* A clientEditId answers for 24 hours of entry time, then it is a
	 * new edit (the window here is a week). */
	x->window = 7 * DAY;
	fx_reopen(x);
	eb_begin(&e);
	eb_edit(&e, "carol", "g", 3, "c-e1", "again", NULL);
	r = one(x, &e, T0 + 20 + DAY - 1);
	assert_true(r.duplicate);
	eb_begin(&e);
	eb_edit(&e, "carol", "g", 3, "c-e1", "again", NULL);
	r = one(x, &e, T0 + 20 + DAY);
	assert_int_equal(r.status, 0);
	assert_false(r.duplicate);
	/* Window 0: edits off. */
	x->window = 0;
	fx_reopen(x);
	eb_begin(&e);
	eb_edit(&e, "carol", "g", 3, "c-e9", "off", NULL);
	r = one(x, &e, T0 + 2 * DAY);
	assert_int_equal(r.status, CF_EFORBIDDEN);
	assert_int_equal(r.seq2, RFT_EDIT_LATE);
}

static void image_now(struct fx *x)
{
	assert_int_equal(rft_fsm_image_start(x->f), 0);
	for (int i = 0; i < 3000 && rft_fsm_image_poll(x->f); i++)
		usleep(10000);
	assert_false(rft_fsm_image_poll(x->f));
}

static void edits_are_rebuilt_and_kept_in_the_image(void **state)
{
	struct fx *x = *state;
	char errmsg[CF_ERRMSG_SIZE];
	struct rft_result r, e2;
	char text[64];
	unsigned m;
	uint64_t at;
	struct eb e;

	history(x);
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 1, "e1", "v1", NULL);
	assert_int_equal(one(x, &e, T0 + 100).status, 0);
	eb_begin(&e);
	eb_edit(&e, "bob", "g", 2, "e2", "bob v1", NULL);
	e2 = one(x, &e, T0 + 200);
	eb_begin(&e);
	eb_edit(&e, "alice", "g", 1, "e3", "v2", NULL);
	assert_int_equal(one(x, &e, T0 + 300).status, 0);
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: every record read again; pass 1: from an image. */
		assert_int_equal(rft_fsm_checkpoint(x->f, errmsg), 0);
		if (pass == 1) {
			image_now(x);
			assert_int_equal(rft_fsm_checkpoint(x->f, errmsg), 0);
		}
		rft_fsm_close(x->f);
		fx_open(x);
		/* Records read on open, past the image if one was used. */
		if (pass == 0)
			assert_int_equal(rft_fsm_image_pending(x->f), 6);
		else
			assert_int_equal(rft_fsm_image_pending(x->f), 0);
		latest(x, 1, text, sizeof text, &m, &at);
		assert_string_equal(text, "v2");
		assert_int_equal(at, T0 + 300);
		latest(x, 2, text, sizeof text, &m, &at);
		assert_string_equal(text, "bob v1");
		/* The keys answer as before. */
		eb_begin(&e);
		eb_edit(&e, "bob", "g", 2, "e2", "bob v2", NULL);
		r = one(x, &e, T0 + 400 + (uint64_t)pass);
		assert_true(r.duplicate);
		assert_int_equal(r.message_id, e2.message_id);
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(edit_rules_with_the_entry_clock),
		T(recalled_or_past_keys_and_edits_off),
		T(edits_are_rebuilt_and_kept_in_the_image),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
