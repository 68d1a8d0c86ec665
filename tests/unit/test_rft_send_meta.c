#include "config.h"

/*
 * Unit tests of a SEND's replyTo and mentions at apply (rft_apply_send.c):
 * the range of replyTo, the shape of the mentions list, non-members
 * dropped rather than refused, the record's meta read back from the store
 * (and after a reopen that rebuilds the state from the segments), and a
 * duplicate answered as the first send whatever it carries.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"
#include "raft/rft_rec.h"

#include "../lib/cf_test_dir.h"

#define T0 1771900000000ull

struct fx {
	char base[64];
	char dir[128];
	struct rft_fsm *f;
	uint64_t index;
	struct cf_buf list, read_buf;
};

static void on_record(void *arg, const struct log_record *rec,
		      const struct rft_conv *conv)
{
	(void)arg;
	(void)rec;
	(void)conv;
}

static void fx_open(struct fx *x)
{
	struct rft_fsm_config c;
	char errmsg[CF_ERRMSG_SIZE];

	memset(&c, 0, sizeof(c));
	c.store.dir = x->dir;
	c.store.partitions = 2;
	c.on_record = on_record;
	if (rft_fsm_open(&x->f, &c, errmsg) != 0)
		fail_msg("open %s: %s", x->dir, errmsg);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	cf_test_dir_make(x->base, sizeof(x->base), "test_rft_send_meta");
	snprintf(x->dir, sizeof(x->dir), "%s/a", x->base);
	fx_open(x);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	rft_fsm_close(x->f);
	cf_buf_release(&x->list);
	cf_buf_release(&x->read_buf);
	cf_test_dir_remove(x->base);
	free(x);
	return 0;
}

/* Apply one command as its own entry; its result. */
static struct rft_result apply1(struct fx *x, const struct rft_cmd *c)
{
	struct cf_buf out = CF_BUF_INIT, cmd = CF_BUF_INIT;
	const struct rft_result *r;
	struct rft_batch b;
	struct rft_result res;
	unsigned n = 0;
	uint64_t at = 0;

	assert_int_equal(rft_batch_begin(&b, &out), 0);
	assert_int_equal(rft_cmd_encode(c, &cmd), 0);
	assert_int_equal(rft_batch_add(&b, cmd.data, cmd.len), 0);
	assert_int_equal(rft_batch_finish(&b, T0 + x->index), 0);
	x->index++;
	rft_fsm_apply_entry(x->f, x->index, out.data, out.len);
	r = rft_fsm_results(x->f, &n, &at);
	assert_int_equal(n, 1);
	assert_int_equal(at, x->index);
	res = r[0];
	cf_buf_release(&out);
	cf_buf_release(&cmd);
	return res;
}

/* The ids (NULL-terminated, as given: order and repeats kept). */
static struct cf_str ids(struct fx *x, ...)
{
	struct cf_str v[64];
	const char *s;
	unsigned n = 0;
	va_list ap;

	va_start(ap, x);
	while ((s = va_arg(ap, const char *)) != NULL)
		v[n++] = cf_str_c(s);
	va_end(ap);
	x->list.len = 0;
	assert_int_equal(rft_idlist_encode(&x->list, v, n), 0);
	return (struct cf_str){x->list.data, x->list.len};
}

static void create_group(struct fx *x)
{
	struct rft_cmd c = {0};

	c.type = RFT_CMD_CREATE;
	c.user = CF_STR_LIT("alice");
	c.conv = CF_STR_LIT("g");
	c.conv_type = RFT_CONV_GROUP;
	c.members = ids(x, "bob", "carol", "dave", NULL);
	assert_int_equal(apply1(x, &c).status, 0);
}

static struct rft_result send_msg(struct fx *x, const char *key, uint64_t reply,
			      struct cf_str mentions)
{
	struct rft_cmd c = {0};

	c.type = RFT_CMD_SEND;
	c.user = CF_STR_LIT("alice");
	c.conv = CF_STR_LIT("g");
	c.client_msg_id = cf_str_c(key);
	c.content = CF_STR_LIT("hi @bob");
	c.reply_to = reply;
	c.mentions = mentions;
	return apply1(x, &c);
}

static uint64_t last_seq(struct fx *x)
{
	const struct rft_conv *c = rft_fsm_conv(x->f, CF_STR_LIT("g"));

	assert_non_null(c);
	return c->last_seq;
}

/* The meta of message seq of g, as read back from the store. */
static void read_meta(struct fx *x, uint64_t seq, struct log_record *rec,
		      struct rft_rec_meta *m)
{
	struct cf_str content, att;

	assert_int_equal(log_store_read_seq(rft_fsm_store(x->f),
					    CF_STR_LIT("g"), seq, rec,
					    &x->read_buf),
			 0);
	assert_int_equal(rft_rec_message_meta(rec, m), 0);
	assert_int_equal(rft_rec_message_split(rec, &content, &att), 0);
	assert_true(cf_str_eqc(content, "hi @bob"));
}

static void reply_to_must_be_an_earlier_seq(void **state)
{
	struct fx *x = *state;
	struct cf_str none = {NULL, 0};
	struct rft_result r;
	struct log_record rec;
	struct rft_rec_meta m;

	create_group(x);
	/* Nothing sent yet: no seq to reply to. */
	assert_int_equal(send_msg(x, "k0", 1, none).status, CF_EBADREQ);
	assert_int_equal(last_seq(x), 0);
	assert_int_equal(send_msg(x, "k1", 0, none).status, 0);
	assert_int_equal(send_msg(x, "k2", 1, none).status, 0);
	/* lastSeq is 2: 3 would be the message itself, 4 its future. */
	assert_int_equal(send_msg(x, "k3", 3, none).status, CF_EBADREQ);
	assert_int_equal(send_msg(x, "k4", UINT64_MAX, none).status, CF_EBADREQ);
	assert_int_equal(last_seq(x), 2);
	r = send_msg(x, "k5", 2, none);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.seq, 3);

	read_meta(x, 1, &rec, &m);
	assert_int_equal(rec.flags & RFT_REC_MSG_META, 0);
	assert_int_equal(m.reply_to, 0);
	read_meta(x, 2, &rec, &m);
	assert_int_equal(rec.flags & RFT_REC_MSG_META, RFT_REC_MSG_META);
	assert_int_equal(m.reply_to, 1);
	assert_int_equal(rft_idlist_count(m.mentions), 0);
	read_meta(x, 3, &rec, &m);
	assert_int_equal(m.reply_to, 2);
}

static void mentions_must_be_sorted_unique_and_few(void **state)
{
	struct fx *x = *state;
	struct cf_str v[RFT_MENTIONS_MAX + 1];
	char names[RFT_MENTIONS_MAX + 1][8];

	create_group(x);
	assert_int_equal(send_msg(x, "a", 0, ids(x, "carol", "bob", NULL)).status,
			 CF_EBADREQ);
	assert_int_equal(send_msg(x, "b", 0, ids(x, "bob", "bob", NULL)).status,
			 CF_EBADREQ);
	assert_int_equal(send_msg(x, "c", 0, ids(x, "bob", "b d", NULL)).status,
			 CF_EBADREQ);
	for (unsigned i = 0; i <= RFT_MENTIONS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "u%03u", i);
		v[i] = cf_str_c(names[i]);
	}
	x->list.len = 0;
	assert_int_equal(rft_idlist_encode(&x->list, v, RFT_MENTIONS_MAX + 1),
			 0);
	assert_int_equal(send_msg(x, "d", 0,
			      (struct cf_str){x->list.data, x->list.len})
				 .status,
			 CF_EBADREQ);
	assert_int_equal(last_seq(x), 0);
	/* Exactly the most is fine (none of them members: all dropped). */
	x->list.len = 0;
	assert_int_equal(rft_idlist_encode(&x->list, v, RFT_MENTIONS_MAX), 0);
	assert_int_equal(send_msg(x, "e", 0,
			      (struct cf_str){x->list.data, x->list.len})
				 .status,
			 0);
	assert_int_equal(last_seq(x), 1);
}

static void non_members_are_dropped_and_state_rebuilds(void **state)
{
	struct fx *x = *state;
	struct rft_cmd c = {0};
	struct log_record rec;
	struct rft_rec_meta m;
	struct rft_result r;

	create_group(x);
	/* dave leaves; a mention computed before that still sends. */
	c.type = RFT_CMD_MEMBERS;
	c.user = CF_STR_LIT("dave");
	c.conv = CF_STR_LIT("g");
	c.removed = ids(x, "dave", NULL);
	assert_int_equal(apply1(x, &c).status, 0);
	r = send_msg(x, "k1", 0, ids(x, "bob", "dave", "zed", NULL));
	assert_int_equal(r.status, 0);
	r = send_msg(x, "k2", 0, ids(x, "dave", "zed", NULL));
	assert_int_equal(r.status, 0);
	read_meta(x, 1, &rec, &m);
	assert_int_equal(rft_idlist_count(m.mentions), 1);
	assert_true(rft_rec_mentions_has(m.mentions, CF_STR_LIT("bob")));
	assert_false(rft_rec_mentions_has(m.mentions, CF_STR_LIT("dave")));
	/* Nobody left to mention: no meta at all. */
	read_meta(x, 2, &rec, &m);
	assert_int_equal(rec.flags & RFT_REC_MSG_META, 0);

	/* A repeat of k1 answers the first send, whatever it now carries. */
	r = send_msg(x, "k1", 5, ids(x, "carol", NULL));
	assert_int_equal(r.status, 0);
	assert_true(r.duplicate);
	assert_int_equal(r.seq, 1);

	/* The state rebuilt from the segments knows the same. */
	{
		char errmsg[CF_ERRMSG_SIZE];

		assert_int_equal(rft_fsm_checkpoint(x->f, errmsg), 0);
	}
	rft_fsm_close(x->f);
	fx_open(x);
	assert_int_equal(last_seq(x), 2);
	read_meta(x, 1, &rec, &m);
	assert_true(rft_rec_mentions_has(m.mentions, CF_STR_LIT("bob")));
	x->index = rft_fsm_applied(x->f);
	assert_int_equal(send_msg(x, "k3", 3, ids(x, NULL)).status, CF_EBADREQ);
	r = send_msg(x, "k4", 2, ids(x, "alice", "carol", NULL));
	assert_int_equal(r.status, 0);
	read_meta(x, 3, &rec, &m);
	assert_int_equal(m.reply_to, 2);
	assert_int_equal(rft_idlist_count(m.mentions), 2);
	assert_true(rft_rec_mentions_has(m.mentions, CF_STR_LIT("alice")));
	assert_true(rft_rec_mentions_has(m.mentions, CF_STR_LIT("carol")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reply_to_must_be_an_earlier_seq,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			mentions_must_be_sorted_unique_and_few, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			non_members_are_dropped_and_state_rebuilds, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
