#include "config.h"
/*
 * test_sync_inbox_image: the inbox index's section of the state image
 * (issue 11; format at the top of src/sync/sync_inbox.c).
 *
 * An index built from a realistic history (creations, members removed and
 * added again, messages, recalls, receipts, over several users and
 * conversations; the first part fed as a rebuild reads it, partition by
 * partition, the rest live) is written with cf_imgw, mapped with
 * cf_img_map and read into a fresh inbox, which must answer every query
 * (every user, conversation and cursor) as the original does, then again
 * after the same later records went to both. An image cut at any byte, or
 * with any byte flipped, or read while the n-th allocation fails, must
 * fail cleanly (or, for a flip, read something) and leave an inbox that
 * sync_inbox_free frees, with nothing leaked (the allocator's balance).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "common/cf_img.h"
#include "raft/rft_rec.h"
#include "sync/sync_inbox.h"

#include "../lib/cf_test_mem.h"

#define USERS 8
#define CONVS 10
#define PARTS 3		/* the rebuild reads conv % PARTS partitions */
#define MAX_RECS 1200
#define NEXT_TAG 0x7478656eu /* a section after ours */

static const char *user_ids[USERS] = {"alice", "bob", "carol", "dave",
				      "erin", "frank", "grace", "heidi"};
static const char *conv_ids[CONVS] = {"c_0", "c_1", "c_2", "c_3", "c_4",
				      "c_5", "c_6", "c_7", "c_8", "c_9"};

struct rec {
	uint8_t kind;
	unsigned conv;
	uint64_t seq, id;
	unsigned members; /* bitmask of members after the record */
	struct cf_buf body;
};

struct history {
	struct rec r[MAX_RECS];
	size_t n;
	unsigned removed, readded, recalls; /* what the history holds */
};

static uint64_t rnd_state = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state % n);
}

static unsigned popcount(unsigned v)
{
	return (unsigned)__builtin_popcount(v);
}

/* A random member (want 1) or non-member (want 0) of mask, or -1. */
static int pick(unsigned mask, int want)
{
	int v[USERS];
	unsigned n = 0;

	for (int u = 0; u < USERS; u++)
		if (((mask >> u) & 1u) == (unsigned)want)
			v[n++] = u;
	return n > 0 ? v[rnd(n)] : -1;
}

static void history_make(struct history *h, size_t n)
{
	unsigned members[CONVS] = {0}, ever[CONVS] = {0};
	uint64_t seqs[CONVS] = {0}, id = 1u << 20;
	unsigned long long recalled[CONVS] = {0}; /* seqs 1..64 recalled */

	memset(h, 0, sizeof(*h));
	assert_true(n <= MAX_RECS);
	while (h->n < n) {
		unsigned k = rnd(CONVS), a = rnd(100);
		struct rec *r = &h->r[h->n];
		struct cf_str add, rm;
		int u;

		memset(r, 0, sizeof(*r));
		cf_buf_init(&r->body);
		r->conv = k;
		id += 1 + rnd(70000);
		r->id = id;
		if (members[k] == 0) {
			while (popcount(members[k]) < 2 + rnd(3))
				members[k] |= 1u << rnd(USERS);
			ever[k] |= members[k];
			r->kind = LOG_REC_CONV;
		} else if (a < 50) {
			r->kind = LOG_REC_MESSAGE;
			r->seq = ++seqs[k];
		} else if (a < 60) {
			uint64_t s;

			if (seqs[k] == 0)
				continue;
			s = 1 + rnd((unsigned)(seqs[k] < 64 ? seqs[k] : 64));
			if (recalled[k] & (1ull << (s - 1)))
				continue;
			recalled[k] |= 1ull << (s - 1);
			r->kind = LOG_REC_RECALL;
			r->seq = s;
			h->recalls++;
		} else if (a < 68) {
			r->kind = LOG_REC_RECEIPT;
			r->seq = seqs[k];
		} else if (a < 84) {
			u = pick(members[k], 0);
			if (u < 0)
				continue;
			if (ever[k] & (1u << u))
				h->readded++;
			members[k] |= 1u << u;
			ever[k] |= 1u << u;
			add = cf_str_c(user_ids[u]);
			assert_int_equal(
				rft_rec_members_encode(&r->body, &add, 1, NULL,
						       0),
				0);
			r->kind = LOG_REC_MEMBERS;
		} else {
			u = pick(members[k], 1);
			if (u < 0 || popcount(members[k]) < 2)
				continue;
			members[k] &= ~(1u << u);
			rm = cf_str_c(user_ids[u]);
			assert_int_equal(
				rft_rec_members_encode(&r->body, NULL, 0, &rm,
						       1),
				0);
			r->kind = LOG_REC_MEMBERS;
			h->removed++;
		}
		r->members = members[k];
		h->n++;
	}
}

static void history_free(struct history *h)
{
	for (size_t i = 0; i < h->n; i++)
		cf_buf_release(&h->r[i].body);
}

static void feed_one(struct sync_inbox *ix, const struct rec *r, bool live)
{
	struct log_record lr;
	struct rft_conv c;
	char *m[USERS];

	memset(&c, 0, sizeof(c));
	c.id = (char *)conv_ids[r->conv];
	c.members = m;
	for (unsigned u = 0; u < USERS; u++)
		if (r->members & (1u << u))
			m[c.n_members++] = (char *)user_ids[u];
	memset(&lr, 0, sizeof(lr));
	lr.kind = r->kind;
	lr.message_id = r->id;
	lr.seq = r->seq;
	lr.conv = cf_str_c(conv_ids[r->conv]);
	lr.body = (struct cf_str){r->body.data, r->body.len};
	if (live)
		assert_int_equal(sync_inbox_on_record(ix, &lr, &c), 0);
	else
		assert_int_equal(sync_inbox_on_rebuild_record(ix, &lr, &c), 0);
}

/* Records [from, to) as a rebuild reads them: partition by partition. */
static void feed_rebuild(struct sync_inbox *ix, const struct history *h,
			 size_t from, size_t to)
{
	for (unsigned p = 0; p < PARTS; p++)
		for (size_t i = from; i < to; i++)
			if (h->r[i].conv % PARTS == p)
				feed_one(ix, &h->r[i], false);
}

static void feed_live(struct sync_inbox *ix, const struct history *h,
		      size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		feed_one(ix, &h->r[i], true);
}

/* ---- comparing two indexes through every query ---- */

static void same_entry(const struct sync_inbox_entry *a,
		       const struct sync_inbox_entry *b)
{
	if (a == NULL || b == NULL) {
		assert_true(a == NULL && b == NULL);
		return;
	}
	assert_string_equal(a->conv, b->conv);
	assert_true(a->last == b->last);
	assert_true(a->joined == b->joined);
	assert_true(a->left == b->left);
}

static size_t cursors(const struct history *h, uint64_t *v)
{
	size_t n = 0;

	v[n++] = 0;
	v[n++] = UINT64_MAX;
	for (size_t i = 0; i < h->n; i++) {
		v[n++] = h->r[i].id - 1;
		v[n++] = h->r[i].id;
		v[n++] = h->r[i].id + 1;
	}
	return n;
}

static void same_answers(const struct sync_inbox *a,
			 const struct sync_inbox *b, const struct history *h)
{
	static uint64_t cur[3 * MAX_RECS + 2];
	const struct sync_inbox_entry *ea[CONVS + 1], *eb[CONVS + 1];
	size_t nc = cursors(h, cur);
	unsigned entries = 0;

	assert_true(sync_inbox_last_id(a) == sync_inbox_last_id(b));
	for (unsigned u = 0; u <= USERS; u++) {
		struct cf_str user = cf_str_c(u < USERS ? user_ids[u] : "zed");

		for (size_t c = 0; c < nc; c++) {
			size_t na = sync_inbox_changed(a, user, cur[c], ea,
						       CONVS + 1);
			size_t nb = sync_inbox_changed(b, user, cur[c], eb,
						       CONVS + 1);

			assert_int_equal(na, nb);
			for (size_t k = 0; k < na; k++)
				same_entry(ea[k], eb[k]);
			/* A short page counts the same and starts alike. */
			na = sync_inbox_changed(a, user, cur[c], ea, 1);
			nb = sync_inbox_changed(b, user, cur[c], eb, 1);
			assert_int_equal(na, nb);
			if (na > 0)
				same_entry(ea[0], eb[0]);
		}
		for (unsigned k = 0; k <= CONVS; k++) {
			struct cf_str conv =
				cf_str_c(k < CONVS ? conv_ids[k] : "c_none");
			const struct sync_inbox_entry *x =
				sync_inbox_entry(a, user, conv);

			same_entry(x, sync_inbox_entry(b, user, conv));
			entries += x != NULL;
		}
	}
	assert_true(entries > USERS); /* not two empty indexes */
	for (unsigned k = 0; k <= CONVS; k++) {
		struct cf_str conv =
			cf_str_c(k < CONVS ? conv_ids[k] : "c_none");

		for (size_t c = 0; c < nc; c++) {
			size_t na, nb, fa, fb;
			const struct sync_item *ia =
				sync_inbox_items(a, conv, cur[c], &na, &fa);
			const struct sync_item *ib =
				sync_inbox_items(b, conv, cur[c], &nb, &fb);

			assert_true((ia == NULL) == (ib == NULL));
			assert_int_equal(na, nb);
			assert_int_equal(fa, fb);
			for (size_t i = 0; i < na; i++) {
				assert_true(ia[i].message_id ==
					    ib[i].message_id);
				assert_true(ia[i].seq == ib[i].seq);
				assert_int_equal(ia[i].kind, ib[i].kind);
				assert_int_equal(ia[i].body_len,
						 ib[i].body_len);
				if (ia[i].body_len > 0)
					assert_memory_equal(ia[i].body,
							    ib[i].body,
							    ia[i].body_len);
			}
		}
	}
}

/* ---- writing and reading images ---- */

struct image {
	char path[64];
	int fd;
	struct cf_img_map map;
};

/* Write ix's section (and a u32 after it, as the next section). */
static void image_write(struct image *im, const struct sync_inbox *ix)
{
	struct cf_imgw w;

	strcpy(im->path, "/tmp/test_sync_inbox_image.XXXXXX");
	im->fd = mkstemp(im->path);
	assert_true(im->fd >= 0);
	assert_int_equal(cf_imgw_init(&w, im->fd), 0);
	sync_inbox_image_write(ix, &w);
	cf_imgw_u32(&w, NEXT_TAG);
	assert_int_equal(cf_imgw_finish(&w), 0);
	cf_imgw_release(&w);
	assert_int_equal(cf_img_map(&im->map, im->fd), 0);
}

static void image_drop(struct image *im)
{
	cf_img_unmap(&im->map);
	close(im->fd);
	unlink(im->path);
}

/* Read the section back from bytes [0, len) of p: the read's result. */
static int read_back(const uint8_t *p, size_t len, struct sync_inbox **out)
{
	struct cf_img_map m = {p, len, len};
	struct cf_imgr r;
	int rv;

	cf_imgr_init(&r, &m);
	rv = sync_inbox_new(out);
	if (rv != 0)
		return rv;
	rv = sync_inbox_image_read(*out, &r);
	assert_int_equal(rv, r.err);
	if (rv == 0) {
		assert_int_equal(cf_imgr_u32(&r), NEXT_TAG);
		assert_int_equal(cf_imgr_left(&r), 0);
	}
	return rv;
}

/* Build a settled index: rebuild of [0, k), then live [k, n). */
static struct sync_inbox *build(const struct history *h, size_t k, size_t n)
{
	struct sync_inbox *ix;

	assert_int_equal(sync_inbox_new(&ix), 0);
	feed_rebuild(ix, h, 0, k);
	assert_int_equal(sync_inbox_settle(ix), 0);
	feed_live(ix, h, k, n);
	return ix;
}

static struct history hist;

static void a_read_back_index_answers_every_query_alike(void **state)
{
	struct sync_inbox *a, *b;
	struct image im;

	(void)state;
	history_make(&hist, 1000);
	assert_true(hist.removed > 0 && hist.readded > 0 && hist.recalls > 0);
	a = build(&hist, 400, 800);
	image_write(&im, a);
	assert_int_equal(read_back(im.map.p, im.map.len, &b), 0);
	same_answers(a, b, &hist);
	/* The records after the image go on the same way in both. */
	feed_live(a, &hist, 800, 1000);
	feed_live(b, &hist, 800, 1000);
	same_answers(a, b, &hist);
	image_drop(&im);
	sync_inbox_free(a);
	sync_inbox_free(b);
	history_free(&hist);
}

/* An image of a rebuild not settled yet settles alike. */
static void an_unsettled_index_reads_back_unsettled(void **state)
{
	struct sync_inbox *a, *b;
	struct image im;

	(void)state;
	history_make(&hist, 600);
	assert_int_equal(sync_inbox_new(&a), 0);
	feed_rebuild(a, &hist, 0, 500);
	image_write(&im, a);
	assert_int_equal(read_back(im.map.p, im.map.len, &b), 0);
	assert_int_equal(sync_inbox_settle(a), 0);
	assert_int_equal(sync_inbox_settle(b), 0);
	same_answers(a, b, &hist);
	feed_live(a, &hist, 500, 600);
	feed_live(b, &hist, 500, 600); /* settles first: nothing to do */
	same_answers(a, b, &hist);
	image_drop(&im);
	sync_inbox_free(a);
	sync_inbox_free(b);
	history_free(&hist);
}

/* The empty index (a node before its first record). */
static void an_empty_index_reads_back_empty(void **state)
{
	struct sync_inbox *a, *b;
	struct image im;
	const struct sync_inbox_entry *e[1];
	size_t n, first;

	(void)state;
	assert_int_equal(sync_inbox_new(&a), 0);
	image_write(&im, a);
	assert_int_equal(read_back(im.map.p, im.map.len, &b), 0);
	assert_int_equal(sync_inbox_last_id(b), 0);
	assert_int_equal(sync_inbox_changed(b, cf_str_c("alice"), 0, e, 1), 0);
	assert_null(sync_inbox_items(b, cf_str_c("c_0"), 0, &n, &first));
	image_drop(&im);
	sync_inbox_free(a);
	sync_inbox_free(b);
}

/* Every cut fails; the inbox left behind frees; nothing leaks. */
static void a_cut_image_fails_cleanly_at_every_byte(void **state)
{
	struct sync_inbox *a, *b;
	struct image im;

	(void)state;
	history_make(&hist, 150);
	a = build(&hist, 60, 150);
	image_write(&im, a);
	for (size_t cut = 0; cut < im.map.len - 4; cut++) {
		uint8_t *p = malloc(cut > 0 ? cut : 1);

		assert_non_null(p);
		memcpy(p, im.map.p, cut);
		cf_test_mem_arm(0, false); /* count only */
		assert_int_equal(read_back(p, cut, &b), CF_ECORRUPT);
		sync_inbox_free(b);
		assert_int_equal(cf_test_mem_live(), 0);
		free(p);
	}
	image_drop(&im);
	sync_inbox_free(a);
	history_free(&hist);
}

/*
 * Any byte flipped: the read fails, or reads an index that frees (a flip
 * in a messageId goes unseen here; the file's checksum catches it).
 */
static void a_flipped_byte_never_crashes_nor_leaks(void **state)
{
	struct sync_inbox *a, *b;
	struct image im;
	unsigned failed = 0;
	uint8_t *p;

	(void)state;
	history_make(&hist, 150);
	a = build(&hist, 60, 150);
	image_write(&im, a);
	p = malloc(im.map.len);
	assert_non_null(p);
	for (size_t at = 0; at < im.map.len - 4; at++) { /* ours only */
		for (unsigned x = 0; x < 3; x++) {
			static const uint8_t masks[3] = {0x01, 0x80, 0xff};
			int rv;

			memcpy(p, im.map.p, im.map.len);
			p[at] ^= masks[x];
			cf_test_mem_arm(0, false);
			rv = read_back(p, im.map.len, &b);
			assert_true(rv == 0 || rv == CF_ECORRUPT);
			failed += rv != 0;
			sync_inbox_free(b);
			assert_int_equal(cf_test_mem_live(), 0);
		}
	}
	/* Every count, length, kind, flag and marker is checked. */
	assert_true(failed > im.map.len / 2);
	free(p);
	image_drop(&im);
	sync_inbox_free(a);
	history_free(&hist);
}

/* The n-th allocation fails: -ENOMEM, the inbox frees, nothing leaks. */
static void a_read_without_memory_fails_cleanly(void **state)
{
	struct sync_inbox *a, *b = NULL;
	struct image im;
	uint64_t n;
	int rv = -1;

	(void)state;
	history_make(&hist, 150);
	a = build(&hist, 60, 150);
	image_write(&im, a);
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		b = NULL;
		cf_test_mem_arm(n, n % 3 == 0);
		rv = read_back(im.map.p, im.map.len, &b);
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		sync_inbox_free(b);
		assert_int_equal(cf_test_mem_live(), 0);
	}
	assert_true(n > 20);
	assert_int_equal(rv, 0);
	same_answers(a, b, &hist);
	sync_inbox_free(b);
	image_drop(&im);
	sync_inbox_free(a);
	history_free(&hist);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_read_back_index_answers_every_query_alike),
		cmocka_unit_test(an_unsettled_index_reads_back_unsettled),
		cmocka_unit_test(an_empty_index_reads_back_empty),
		cmocka_unit_test(a_cut_image_fails_cleanly_at_every_byte),
		cmocka_unit_test(a_flipped_byte_never_crashes_nor_leaks),
		cmocka_unit_test(a_read_without_memory_fails_cleanly),
	};

	cf_test_mem_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
