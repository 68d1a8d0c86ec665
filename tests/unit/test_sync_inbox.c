#include "config.h"
/*
 * test_sync_inbox: the inbox index (per-user conversations by latest item,
 * joined/left, per-conversation non-message items) and sync cursors.
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
#include "raft/rft_rec.h"
#include "sync/sync_feed.h"
#include "sync/sync_inbox.h"

/* A conversation as the FSM would pass it (members after the record). */
struct fake_conv {
	struct rft_conv c;
	char *m[8];
};

static void conv_set(struct fake_conv *f, const char *id, const char *m0,
		     const char *m1, const char *m2)
{
	const char *ms[3] = {m0, m1, m2};

	memset(f, 0, sizeof(*f));
	f->c.id = (char *)id;
	f->c.members = f->m;
	for (unsigned i = 0; i < 3; i++)
		if (ms[i] != NULL)
			f->m[f->c.n_members++] = (char *)ms[i];
}

static uint64_t next_id = 65536;

static void feed(struct sync_inbox *ix, uint8_t kind, struct fake_conv *f,
		 uint64_t seq, struct cf_str body, uint64_t *id)
{
	struct log_record r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.message_id = next_id;
	next_id += 65536;
	r.seq = seq;
	r.conv = cf_str_c(f->c.id);
	r.body = body;
	assert_int_equal(sync_inbox_on_record(ix, &r, &f->c), 0);
	if (id != NULL)
		*id = r.message_id;
}

static void members(struct sync_inbox *ix, struct fake_conv *f,
		    const char *add, const char *rm, uint64_t *id)
{
	struct cf_buf b = CF_BUF_INIT;
	struct cf_str a = cf_str_c(add), r = cf_str_c(rm);

	assert_int_equal(rft_rec_members_encode(&b, &a, add != NULL ? 1 : 0,
						&r, rm != NULL ? 1 : 0),
			 0);
	feed(ix, LOG_REC_MEMBERS, f, 0, (struct cf_str){b.data, b.len},
	     id);
	cf_buf_release(&b);
}

static const struct cf_str NOBODY = {NULL, 0};

static void conversations_are_ordered_by_their_latest_item(void **state)
{
	struct sync_inbox *ix;
	struct fake_conv a, b, c;
	const struct sync_inbox_entry *e[4];
	uint64_t id_a, id_b, id_c, m1, m2;

	(void)state;
	assert_int_equal(sync_inbox_new(&ix), 0);
	conv_set(&a, "c_1", "alice", "bob", NULL);
	conv_set(&b, "c_2", "alice", "carol", NULL);
	conv_set(&c, "c_3", "bob", "carol", NULL);
	feed(ix, LOG_REC_CONV, &a, 0, NOBODY, &id_a);
	feed(ix, LOG_REC_CONV, &b, 0, NOBODY, &id_b);
	feed(ix, LOG_REC_CONV, &c, 0, NOBODY, &id_c);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("alice"), 0, e, 4), 2);
	assert_string_equal(e[0]->conv, "c_2");
	assert_string_equal(e[1]->conv, "c_1");
	assert_int_equal(e[1]->joined, id_a);
	feed(ix, LOG_REC_MESSAGE, &a, 1, NOBODY, &m1);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("alice"), 0, e, 4), 2);
	assert_string_equal(e[0]->conv, "c_1");
	assert_int_equal(e[0]->last, m1);
	/* Only what changed after a cursor is visited. */
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("alice"), id_c, e, 4),
			 1);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("alice"), m1, e, 4),
			 0);
	feed(ix, LOG_REC_MESSAGE, &c, 1, NOBODY, &m2);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("alice"), m1, e, 4),
			 0);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("carol"), m1, e, 4),
			 1);
	assert_int_equal(sync_inbox_last_id(ix), m2);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("dave"), 0, e, 4), 0);
	sync_inbox_free(ix);
}

static bool rebuild_feed; /* feed_at() as a rebuild does */

/* Feed a record with a given messageId (the rebuild's order, not ours). */
static void feed_at(struct sync_inbox *ix, uint8_t kind, struct fake_conv *f,
		    uint64_t seq, uint64_t id)
{
	struct log_record r;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.message_id = id;
	r.seq = seq;
	r.conv = cf_str_c(f->c.id);
	if (rebuild_feed)
		assert_int_equal(sync_inbox_on_rebuild_record(ix, &r, &f->c), 0);
	else
		assert_int_equal(sync_inbox_on_record(ix, &r, &f->c), 0);
}

/*
 * The rebuild reads the store partition by partition: each conversation's
 * records in order, but conversations interleaved in any order. The index
 * must end up as if fed in commit order, or sync after a restart (or a
 * segment fetch) would skip conversations whose latest item sits behind an
 * older one in the list.
 */
static void records_fed_partition_by_partition_keep_the_order(void **state)
{
	struct sync_inbox *ix;
	struct fake_conv a, b, c;
	const struct sync_inbox_entry *e[4];

	(void)state;
	assert_int_equal(sync_inbox_new(&ix), 0);
	conv_set(&a, "c_a", "alice", "bob", NULL);
	conv_set(&b, "c_b", "alice", "bob", NULL);
	conv_set(&c, "c_c", "alice", "bob", NULL);
	/* commit order: a1 b1 c1 a2 b2 a3 c2 (ids 10..70); fed a, c, b. */
	feed_at(ix, LOG_REC_CONV, &a, 0, 10);
	feed_at(ix, LOG_REC_MESSAGE, &a, 1, 40);
	feed_at(ix, LOG_REC_MESSAGE, &a, 2, 60);
	feed_at(ix, LOG_REC_CONV, &c, 0, 30);
	feed_at(ix, LOG_REC_MESSAGE, &c, 1, 70);
	feed_at(ix, LOG_REC_CONV, &b, 0, 20);
	feed_at(ix, LOG_REC_MESSAGE, &b, 1, 50);
	assert_int_equal(sync_inbox_settle(ix), 0);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("alice"), 0, e, 4), 3);
	assert_string_equal(e[0]->conv, "c_c"); /* newest first */
	assert_string_equal(e[1]->conv, "c_a");
	assert_string_equal(e[2]->conv, "c_b");
	/* After a cursor inside the range: every newer one, none missed. */
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("alice"), 45, e, 4), 3);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("alice"), 55, e, 4), 2);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("bob"), 65, e, 4), 1);
	assert_string_equal(e[0]->conv, "c_c");
	/* A live record after the rebuild still goes to the newest end. */
	rebuild_feed = false;
	feed_at(ix, LOG_REC_MESSAGE, &b, 2, 80);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("alice"), 75, e, 4), 1);
	assert_string_equal(e[0]->conv, "c_b");
	sync_inbox_free(ix);
}

/* The same through the rebuild's entry point: sorted once, at the end. */
static void rebuild_records_are_sorted_once_settled(void **state)
{
	rebuild_feed = true;
	records_fed_partition_by_partition_keep_the_order(state);
	rebuild_feed = false;
}

static void a_removed_member_sees_its_removal_and_nothing_after(void **state)
{
	struct sync_inbox *ix;
	struct fake_conv g;
	const struct sync_inbox_entry *e[2];
	const struct sync_item *it;
	size_t n, first;
	uint64_t id_rm, id_add, m;

	(void)state;
	assert_int_equal(sync_inbox_new(&ix), 0);
	conv_set(&g, "c_9", "alice", "bob", "carol");
	feed(ix, LOG_REC_CONV, &g, 0, NOBODY, NULL);
	conv_set(&g, "c_9", "alice", "bob", NULL); /* after carol's removal */
	members(ix, &g, NULL, "carol", &id_rm);
	feed(ix, LOG_REC_MESSAGE, &g, 1, NOBODY, &m);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("carol"), 0, e, 2), 1);
	assert_int_equal(e[0]->left, id_rm);
	assert_int_equal(e[0]->last, id_rm);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("carol"), id_rm, e, 2),
			 0);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("bob"), id_rm, e, 2),
			 1);
	/* Added again: a new interval from the change that added it. */
	conv_set(&g, "c_9", "alice", "bob", "carol");
	members(ix, &g, "carol", NULL, &id_add);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("carol"), id_rm, e, 2),
			 1);
	assert_int_equal(e[0]->joined, id_add);
	assert_int_equal(e[0]->left, 0);
	/* Items: creation, removal, addition (no messages), in order. */
	it = sync_inbox_items(ix, cf_str_c("c_9"), 0, &n, &first);
	assert_non_null(it);
	assert_int_equal(n, 3);
	assert_int_equal(first, 0);
	assert_int_equal(it[0].kind, LOG_REC_CONV);
	assert_int_equal(it[1].kind, LOG_REC_MEMBERS);
	assert_true(it[1].body_len > 0);
	assert_int_equal(it[2].message_id, id_add);
	sync_inbox_items(ix, cf_str_c("c_9"), id_rm, &n, &first);
	assert_int_equal(first, 2);
	sync_inbox_items(ix, cf_str_c("c_9"), m, &n, &first);
	assert_int_equal(first, 2);
	sync_inbox_items(ix, cf_str_c("c_9"), id_add, &n, &first);
	assert_int_equal(first, 3);
	assert_null(sync_inbox_items(ix, cf_str_c("c_none"), 0, &n, &first));
	sync_inbox_free(ix);
}

static void recalls_are_items_and_receipts_are_not(void **state)
{
	struct sync_inbox *ix;
	struct fake_conv d;
	const struct sync_inbox_entry *e[2];
	const struct sync_item *it;
	size_t n, first;
	uint64_t m, rc;

	(void)state;
	assert_int_equal(sync_inbox_new(&ix), 0);
	conv_set(&d, "d_1", "alice", "bob", NULL);
	feed(ix, LOG_REC_CONV, &d, 0, NOBODY, NULL);
	feed(ix, LOG_REC_MESSAGE, &d, 1, NOBODY, &m);
	feed(ix, LOG_REC_RECALL, &d, 1, NOBODY, &rc);
	feed(ix, LOG_REC_RECEIPT, &d, 1, NOBODY, NULL);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("bob"), 0, e, 2), 1);
	assert_int_equal(e[0]->last, rc);
	it = sync_inbox_items(ix, cf_str_c("d_1"), m, &n, &first);
	assert_int_equal(n, 2);
	assert_int_equal(first, 1);
	assert_int_equal(it[1].kind, LOG_REC_RECALL);
	assert_int_equal(it[1].seq, 1);
	sync_inbox_free(ix);
}

static void many_conversations_cost_only_what_changed(void **state)
{
	struct sync_inbox *ix;
	static struct fake_conv cs[500];
	static char ids[500][16];
	const struct sync_inbox_entry *e[8];
	uint64_t mark = 0;

	(void)state;
	assert_int_equal(sync_inbox_new(&ix), 0);
	for (unsigned i = 0; i < 500; i++) {
		snprintf(ids[i], sizeof ids[i], "c_%u", i);
		conv_set(&cs[i], ids[i], "alice", "bob", NULL);
		feed(ix, LOG_REC_CONV, &cs[i], 0, NOBODY, &mark);
	}
	feed(ix, LOG_REC_MESSAGE, &cs[17], 1, NOBODY, NULL);
	feed(ix, LOG_REC_MESSAGE, &cs[400], 1, NOBODY, NULL);
	feed(ix, LOG_REC_MESSAGE, &cs[17], 2, NOBODY, NULL);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("bob"), mark, e, 8),
			 2);
	assert_string_equal(e[0]->conv, "c_17");
	assert_string_equal(e[1]->conv, "c_400");
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("bob"), 0, e, 8), 500);
	sync_inbox_free(ix);
}

static void cursors_parse_only_m_and_digits(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(sync_cursor_parse(cf_str_c("m0"), &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(sync_cursor_parse(cf_str_c("m90000123"), &v), 0);
	assert_int_equal(v, 90000123);
	assert_int_equal(sync_cursor_parse(cf_str_c("m18446744073709551615"),
					   &v),
			 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(sync_cursor_parse(cf_str_c("m18446744073709551616"),
					   &v),
			 CF_EBADREQ);
	assert_int_equal(sync_cursor_parse(cf_str_c("m"), &v), CF_EBADREQ);
	assert_int_equal(sync_cursor_parse(cf_str_c("12"), &v), CF_EBADREQ);
	assert_int_equal(sync_cursor_parse(cf_str_c("m-1"), &v), CF_EBADREQ);
	assert_int_equal(sync_cursor_parse(cf_str_c("m1x"), &v), CF_EBADREQ);
	assert_int_equal(sync_cursor_parse(cf_str_c(""), &v), CF_EBADREQ);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conversations_are_ordered_by_their_latest_item),
		cmocka_unit_test(
			records_fed_partition_by_partition_keep_the_order),
		cmocka_unit_test(rebuild_records_are_sorted_once_settled),
		cmocka_unit_test(
			a_removed_member_sees_its_removal_and_nothing_after),
		cmocka_unit_test(recalls_are_items_and_receipts_are_not),
		cmocka_unit_test(many_conversations_cost_only_what_changed),
		cmocka_unit_test(cursors_parse_only_m_and_digits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
