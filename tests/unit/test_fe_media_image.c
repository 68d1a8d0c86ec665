#include "config.h"
/*
 * test_fe_media_image: the media reference index's section of the state
 * image (issue 11; format at the top of src/frontend/fe_media_image.c).
 *
 * An index built from a realistic history (uploads, messages that attach
 * them, some before their upload commits, recalls that drop references
 * and erase blobs; the first part fed as a rebuild reads it, partition by
 * partition, the rest live) is written with cf_imgw, mapped and read into
 * a fresh fe_media, which must hold the same entries (every field) and the
 * same attachment keys, and act the same on later records (the same blobs
 * erased, their files unlinked). An image taken in the middle of a rebuild
 * keeps its pending erasures for fe_media_rebuilt. An image cut at any
 * byte, with any byte flipped, or read while the n-th allocation fails,
 * fails cleanly (or, for a flip, reads something), leaves the index empty
 * or freeable, and leaks nothing. The frontend's hooks write the inbox
 * section then this one, and read both back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "common/cf_img.h"
#include "frontend/fe_api_sync.h"
#include "frontend/fe_media_int.h"
#include "frontend/fe_server.h"
#include "raft/rft_rec.h"
#include "sync/sync_inbox.h"

#include "../lib/cf_test_mem.h"

#define MEDIA 40
#define CONVS 6
#define PARTS 3
#define MAX_RECS 600
#define NEXT_TAG 0x7478656eu

struct rec {
	uint8_t kind;
	uint8_t flags;
	int conv; /* -1: the media pseudo-conversation */
	uint64_t seq;
	char id[16]; /* media: its mediaId */
	char user[16];
	struct cf_buf body;
};

struct history {
	struct rec r[MAX_RECS];
	size_t n;
	unsigned recalls_attached;
};

static const char *conv_ids[CONVS] = {"c_0", "c_1", "c_2",
				      "c_3", "c_4", "c_5"};
static uint64_t rnd_state;

static unsigned rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state % n);
}

static void history_make(struct history *h, size_t n)
{
	uint64_t seqs[CONVS] = {0};
	bool attached[CONVS][MAX_RECS] = {{false}};
	bool recalled[CONVS][MAX_RECS] = {{false}};
	unsigned uploaded = 0;

	memset(h, 0, sizeof(*h));
	rnd_state = 2463534242ull; /* the same history in every test */
	while (h->n < n) {
		struct rec *r = &h->r[h->n];
		/* the last fifth recalls attachments: blobs get erased */
		bool sweep = h->n >= n - n / 5;
		unsigned a = sweep ? 99 : rnd(100), k = rnd(CONVS);
		char att[64];
		uint8_t flags;

		memset(r, 0, sizeof(*r));
		cf_buf_init(&r->body);
		snprintf(r->user, sizeof r->user, "user%u", rnd(5));
		r->conv = (int)k;
		if (a < 15 && uploaded < MEDIA) {
			char json[128];

			r->kind = LOG_REC_MEDIA;
			r->conv = -1;
			snprintf(r->id, sizeof r->id, "m_%u", uploaded++);
			snprintf(json, sizeof json,
				 "{\"mime\":\"image/png\",\"size\":%u,"
				 "\"xxh3\":\"%016" PRIx64 "\"}",
				 1000 + rnd(5000), rnd_state);
			assert_int_equal(cf_buf_append(&r->body, json,
						       strlen(json)),
					 0);
		} else if (a < 38) {
			/* an attachment, sometimes of a later upload */
			snprintf(att, sizeof att, "{\"mediaId\":\"m_%u\"}",
				 rnd(uploaded + 2));
			r->kind = LOG_REC_MESSAGE;
			r->seq = ++seqs[k];
			assert_int_equal(rft_rec_message_encode(
						 &r->body, cf_str_c("look"),
						 cf_str_c(att), &flags),
					 0);
			r->flags = flags;
			attached[k][r->seq] = true;
		} else if (a < 65) {
			r->kind = LOG_REC_MESSAGE;
			r->seq = ++seqs[k];
			assert_int_equal(cf_buf_append(&r->body, "hello", 5),
					 0);
		} else {
			uint64_t s = 0;

			if (seqs[k] == 0)
				continue;
			for (uint64_t q = 1; sweep && s == 0 && q <= seqs[k];
			     q++)
				if (attached[k][q] && !recalled[k][q])
					s = q;
			if (s == 0)
				s = 1 + rnd((unsigned)seqs[k]);
			if (recalled[k][s])
				continue;
			recalled[k][s] = true;
			r->kind = LOG_REC_RECALL;
			r->seq = s;
			h->recalls_attached += attached[k][s];
		}
		h->n++;
	}
}

static void history_free(struct history *h)
{
	for (size_t i = 0; i < h->n; i++)
		cf_buf_release(&h->r[i].body);
	h->n = 0;
}

static void feed_one(struct fe_media *m, const struct rec *r, bool live)
{
	struct log_record lr;

	memset(&lr, 0, sizeof(lr));
	lr.kind = r->kind;
	lr.flags = r->flags;
	lr.seq = r->seq;
	lr.conv = cf_str_c(r->conv < 0 ? RFT_REC_MEDIA_CONV
				       : conv_ids[r->conv]);
	lr.sender = cf_str_c(r->user);
	lr.client_msg_id = cf_str_c(r->id);
	lr.body = (struct cf_str){r->body.data, r->body.len};
	fe_media_on_record(m, &lr, NULL, live);
}

/* [from, to) as a rebuild reads them: partition by partition. */
static void feed_rebuild(struct fe_media *m, const struct history *h,
			 size_t from, size_t to)
{
	for (int p = -1; p < PARTS; p++)
		for (size_t i = from; i < to; i++)
			if ((h->r[i].conv < 0 ? -1 : h->r[i].conv % PARTS) ==
			    p)
				feed_one(m, &h->r[i], false);
}

static void feed_live(struct fe_media *m, const struct history *h,
		      size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		feed_one(m, &h->r[i], true);
}

/* What the index holds, for the checks that it is not trivial. */
struct tally {
	unsigned committed, uncommitted, erased, unref, live, multi_conv;
};

static void same_index(const struct fe_media *a, const struct fe_media *b,
		       struct tally *t)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	memset(t, 0, sizeof(*t));
	assert_int_equal(a->index.n, b->index.n);
	assert_int_equal(a->by_msg.n, b->by_msg.n);
	while (cf_map_next(&a->index, &i, &s)) {
		const struct fe_media_meta *x = s->val;
		const struct fe_media_meta *y =
			cf_map_get(&b->index, s->key, s->klen);

		assert_non_null(y);
		assert_int_equal(x->committed, y->committed);
		assert_string_equal(x->user, y->user);
		assert_string_equal(x->mime, y->mime);
		assert_true(x->size == y->size);
		assert_true(x->xxh3 == y->xxh3);
		assert_int_equal(x->live, y->live);
		assert_int_equal(x->erased, y->erased);
		assert_int_equal(x->unref, y->unref);
		assert_int_equal(x->n_convs, y->n_convs);
		for (unsigned k = 0; k < x->n_convs; k++)
			assert_string_equal(x->convs[k], y->convs[k]);
		t->committed += x->committed;
		t->uncommitted += !x->committed;
		t->erased += x->erased;
		t->unref += x->unref;
		t->live += x->live > 0;
		t->multi_conv += x->n_convs > 1;
	}
	i = 0;
	while (cf_map_next(&a->by_msg, &i, &s)) {
		const char *y = cf_map_get(&b->by_msg, s->key, s->klen);

		assert_non_null(y);
		assert_string_equal(s->val, y);
	}
}

/* ---- fixture: a server (for data_dir: erasures unlink blob files) ---- */

struct fx {
	char dir[64];
	struct fe_server *srv;
	struct fe_media a, b;
	char path[80];
	int fd;
	struct cf_img_map map;
};

static struct history hist;

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	char media[96];

	assert_non_null(x);
	strcpy(x->dir, "/tmp/test_fe_media_image.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(media, sizeof media, "%s/media", x->dir);
	assert_int_equal(mkdir(media, 0700), 0);
	x->srv = calloc(1, sizeof(*x->srv));
	assert_non_null(x->srv);
	x->srv->cfg.data_dir = x->dir;
	fe_media_init(&x->a, x->srv);
	fe_media_init(&x->b, x->srv);
	fe_media_init(&x->srv->media, x->srv);
	x->fd = -1;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	char p[128];

	fe_media_release(&x->a);
	fe_media_release(&x->b);
	fe_media_release(&x->srv->media);
	fe_api_sync_release(x->srv);
	if (x->fd >= 0) {
		cf_img_unmap(&x->map);
		close(x->fd);
		unlink(x->path);
	}
	for (unsigned i = 0; i < MEDIA + 2; i++) {
		snprintf(p, sizeof p, "%s/media/m_%u", x->dir, i);
		unlink(p);
	}
	snprintf(p, sizeof p, "%s/media", x->dir);
	rmdir(p);
	rmdir(x->dir);
	free(x->srv);
	free(x);
	history_free(&hist);
	return 0;
}

/* Write a's section (and a u32 after it, as the next section), map it. */
static void image_write(struct fx *x)
{
	struct cf_imgw w;

	strcpy(x->path, "/tmp/test_fe_media_image.img.XXXXXX");
	x->fd = mkstemp(x->path);
	assert_true(x->fd >= 0);
	assert_int_equal(cf_imgw_init(&w, x->fd), 0);
	fe_media_image_write(&x->a, &w);
	cf_imgw_u32(&w, NEXT_TAG);
	assert_int_equal(cf_imgw_finish(&w), 0);
	cf_imgw_release(&w);
	assert_int_equal(cf_img_map(&x->map, x->fd), 0);
}

/* Read bytes [0, len) of p into m (empty): the read's result. */
static int read_back(struct fe_media *m, const uint8_t *p, size_t len)
{
	struct cf_img_map mp = {p, len, len};
	struct cf_imgr r;
	int rv;

	cf_imgr_init(&r, &mp);
	rv = fe_media_image_read(m, &r);
	assert_int_equal(rv, r.err);
	if (rv == 0) {
		assert_int_equal(cf_imgr_u32(&r), NEXT_TAG);
		assert_int_equal(cf_imgr_left(&r), 0);
	} else {
		/* a failed read leaves the index as it found it: empty */
		assert_int_equal(m->index.n, 0);
		assert_int_equal(m->by_msg.n, 0);
	}
	return rv;
}

static bool blob_exists(const struct fx *x, const char *id)
{
	char p[128];

	snprintf(p, sizeof p, "%s/media/%s", x->dir, id);
	return access(p, F_OK) == 0;
}

static void a_read_back_index_is_the_same_and_acts_the_same(void **state)
{
	struct fx *x = *state;
	const struct cf_map_slot *s;
	struct tally t;
	size_t i = 0;
	unsigned gone = 0;

	history_make(&hist, 600);
	assert_true(hist.recalls_attached > 0);
	feed_rebuild(&x->a, &hist, 0, 150);
	fe_media_rebuilt(&x->a);
	feed_live(&x->a, &hist, 150, 300);
	image_write(x);
	assert_int_equal(read_back(&x->b, x->map.p, x->map.len), 0);
	same_index(&x->a, &x->b, &t);
	assert_true(t.committed > 0 && t.uncommitted > 0 && t.erased > 0 &&
		    t.live > 0 && t.multi_conv > 0);
	/* Later records act alike: a blob whose last reference goes is
	 * erased through the read-back index (its file unlinked). */
	for (unsigned k = 0; k < MEDIA + 2; k++) {
		const struct fe_media_meta *mt;
		char p[128];
		int fd;

		snprintf(p, sizeof p, "m_%u", k);
		mt = cf_map_get(&x->b.index, p, strlen(p));
		if (mt != NULL && mt->erased)
			continue; /* its file went before the image */
		snprintf(p, sizeof p, "%s/media/m_%u", x->dir, k);
		fd = open(p, O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	feed_live(&x->b, &hist, 300, 600);
	while (cf_map_next(&x->b.index, &i, &s)) {
		const struct fe_media_meta *mt = s->val;
		const struct fe_media_meta *was =
			cf_map_get(&x->a.index, s->key, s->klen);

		assert_int_equal(blob_exists(x, s->key), !mt->erased);
		gone += mt->erased && (was == NULL || !was->erased);
	}
	assert_true(gone > 0);
	feed_live(&x->a, &hist, 300, 600);
	same_index(&x->a, &x->b, &t);
}

/* Taken mid-rebuild: the erasures fe_media_rebuilt decides stay pending. */
static void an_image_of_a_rebuild_keeps_its_pending_erasures(void **state)
{
	struct fx *x = *state;
	struct tally t, u;

	history_make(&hist, 500);
	feed_rebuild(&x->a, &hist, 0, 500);
	image_write(x);
	assert_int_equal(read_back(&x->b, x->map.p, x->map.len), 0);
	same_index(&x->a, &x->b, &t);
	assert_true(t.unref > 0);
	fe_media_rebuilt(&x->a);
	fe_media_rebuilt(&x->b);
	same_index(&x->a, &x->b, &u);
	assert_int_equal(u.unref, 0);
	assert_true(u.erased > t.erased);
}

static void an_empty_index_reads_back_empty(void **state)
{
	struct fx *x = *state;

	image_write(x);
	assert_int_equal(read_back(&x->b, x->map.p, x->map.len), 0);
	assert_int_equal(x->b.index.n, 0);
	assert_int_equal(x->b.by_msg.n, 0);
}

static void build_small(struct fx *x)
{
	history_make(&hist, 150); /* fed up to its sweep */
	feed_rebuild(&x->a, &hist, 0, 50);
	fe_media_rebuilt(&x->a);
	feed_live(&x->a, &hist, 50, 120);
	image_write(x);
	assert_true(x->a.index.n > 0 && x->a.by_msg.n > 0);
}

static void a_cut_image_fails_cleanly_at_every_byte(void **state)
{
	struct fx *x = *state;

	build_small(x);
	for (size_t cut = 0; cut < x->map.len - 4; cut++) {
		uint8_t *p = malloc(cut > 0 ? cut : 1);

		assert_non_null(p);
		memcpy(p, x->map.p, cut);
		cf_test_mem_arm(0, false); /* count only */
		assert_int_equal(read_back(&x->b, p, cut), CF_ECORRUPT);
		assert_int_equal(cf_test_mem_live(), 0);
		free(p);
	}
}

static void a_flipped_byte_never_crashes_nor_leaks(void **state)
{
	static const uint8_t masks[3] = {0x01, 0x80, 0xff};
	struct fx *x = *state;
	unsigned failed = 0;
	uint8_t *p;

	build_small(x);
	p = malloc(x->map.len);
	assert_non_null(p);
	for (size_t at = 0; at < x->map.len - 4; at++) {
		for (unsigned k = 0; k < 3; k++) {
			int rv;

			memcpy(p, x->map.p, x->map.len);
			p[at] ^= masks[k];
			cf_test_mem_arm(0, false);
			rv = read_back(&x->b, p, x->map.len);
			assert_true(rv == 0 || rv == CF_ECORRUPT);
			failed += rv != 0;
			fe_media_reset_index(&x->b);
			assert_int_equal(cf_test_mem_live(), 0);
		}
	}
	assert_true(failed > x->map.len / 2);
	free(p);
}

static void a_read_without_memory_fails_cleanly(void **state)
{
	struct fx *x = *state;
	struct tally t;
	uint64_t n;
	int rv = -1;

	build_small(x);
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		cf_test_mem_arm(n, n % 3 == 0);
		rv = read_back(&x->b, x->map.p, x->map.len);
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		assert_int_equal(cf_test_mem_live(), 0);
	}
	assert_true(n > 20);
	assert_int_equal(rv, 0);
	same_index(&x->a, &x->b, &t);
}

/*
 * The frontend's sections (fe_server_image_write/read): the inbox index,
 * then the media index, each readable on its own in that order; read back
 * whole into another server; cut anywhere, the read fails and leaves
 * nothing behind once the server's indexes are freed.
 */
static void the_frontend_writes_its_sections_in_order(void **state)
{
	struct fx *x = *state;
	struct fe_server *s2 = calloc(1, sizeof(*s2));
	struct sync_inbox *ix;
	struct log_record lr;
	struct rft_conv conv;
	char *members[2] = {"user1", "user2"};
	struct cf_imgw w;
	struct cf_imgr r;
	struct tally t;
	const struct sync_inbox_entry *e[2];

	assert_non_null(s2);
	s2->cfg.data_dir = x->dir;
	fe_media_init(&s2->media, s2);
	history_make(&hist, 150);
	for (size_t i = 0; i < 120; i++)
		feed_one(&x->srv->media, &hist.r[i], true);
	memset(&conv, 0, sizeof(conv));
	conv.id = "c_0";
	conv.members = members;
	conv.n_members = 2;
	memset(&lr, 0, sizeof(lr));
	lr.kind = LOG_REC_CONV;
	lr.message_id = 77;
	lr.conv = cf_str_c("c_0");
	fe_api_sync_on_record(x->srv, &lr, &conv, true);

	strcpy(x->path, "/tmp/test_fe_media_image.img.XXXXXX");
	x->fd = mkstemp(x->path);
	assert_true(x->fd >= 0);
	assert_int_equal(cf_imgw_init(&w, x->fd), 0);
	fe_server_image_write(x->srv, &w);
	assert_int_equal(cf_imgw_finish(&w), 0);
	cf_imgw_release(&w);
	assert_int_equal(cf_img_map(&x->map, x->fd), 0);

	/* Section by section. */
	cf_imgr_init(&r, &x->map);
	assert_int_equal(sync_inbox_new(&ix), 0);
	assert_int_equal(sync_inbox_image_read(ix, &r), 0);
	assert_int_equal(sync_inbox_changed(ix, cf_str_c("user2"), 0, e, 2), 1);
	assert_string_equal(e[0]->conv, "c_0");
	sync_inbox_free(ix);
	assert_int_equal(fe_media_image_read(&x->b, &r), 0);
	assert_int_equal(cf_imgr_left(&r), 0);
	same_index(&x->srv->media, &x->b, &t);
	assert_true(t.committed > 0);

	/* Whole, through the hook. */
	cf_imgr_init(&r, &x->map);
	assert_int_equal(fe_server_image_read(s2, &r), 0);
	assert_int_equal(cf_imgr_left(&r), 0);
	same_index(&x->srv->media, &s2->media, &t);
	fe_api_sync_release(s2);
	fe_media_reset_index(&s2->media);

	for (size_t cut = 0; cut < x->map.len; cut++) {
		struct cf_img_map m = {x->map.p, cut, cut};

		cf_test_mem_arm(0, false);
		cf_imgr_init(&r, &m);
		assert_int_equal(fe_server_image_read(s2, &r), CF_ECORRUPT);
		assert_int_equal(s2->media.index.n, 0);
		fe_api_sync_release(s2);
		assert_int_equal(cf_test_mem_live(), 0);
	}
	fe_media_release(&s2->media);
	free(s2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			a_read_back_index_is_the_same_and_acts_the_same, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			an_image_of_a_rebuild_keeps_its_pending_erasures,
			setup, teardown),
		cmocka_unit_test_setup_teardown(an_empty_index_reads_back_empty,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			a_cut_image_fails_cleanly_at_every_byte, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_flipped_byte_never_crashes_nor_leaks, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_read_without_memory_fails_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(
			the_frontend_writes_its_sections_in_order, setup,
			teardown),
	};

	cf_test_mem_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
