#include "config.h"

/*
 * Unit tests of the idempotency window's section of the state image
 * (src/raft/rft_dedup_image.c): a busy window written to a file and read
 * back lists, finds, grows and expires as the one written; a damaged
 * section or a failed allocation fails cleanly. The windows read back
 * from the world of tests/lib/rft_dedup_world.h.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "common/cf_img.h"
#include "raft/rft_dedup.h"

#include "../lib/cf_test_mem.h"
#include "../lib/rft_dedup_world.h"

#define NEXT_SECTION 0x7e57u

/* Collision classes of about keys/1024 keys, spread over the table. */
static uint64_t hash_spread_1024(struct cf_str conv, struct cf_str sender,
				 struct cf_str id)
{
	return (rft_dedup_hash(conv, sender, id) % 1024 + 1) *
	       0x9e3779b97f4a7c15ull;
}

/* The image of d (and a next section's tag) in a temporary file, mapped. */
static void image_of(const struct rft_dedup *d, struct cf_img_map *m)
{
	char path[] = "/tmp/test_rft_dedup.XXXXXX";
	struct cf_imgw w;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(cf_imgw_init(&w, fd), 0);
	rft_dedup_image_write(d, &w);
	cf_imgw_u32(&w, NEXT_SECTION);
	assert_int_equal(cf_imgw_finish(&w), 0);
	cf_imgw_release(&w);
	assert_int_equal(cf_img_map(m, fd), 0);
	assert_int_equal(close(fd), 0);
}

/*
 * Read m's section into cp, a window initialised here with hash: the
 * result. A success leaves the reader at the next section; a failure
 * leaves it failed and cp empty, with the same hash.
 */
static int image_read(const struct cf_img_map *m, struct rft_dedup *cp,
		      rft_dedup_hash_fn hash)
{
	struct cf_imgr r;
	int rv;

	rft_dedup_init(cp);
	cp->hash = hash;
	cf_imgr_init(&r, m);
	rv = rft_dedup_image_read(cp, &r);
	if (rv == 0) {
		assert_int_equal(cf_imgr_u32(&r), NEXT_SECTION);
		assert_int_equal(cf_imgr_left(&r), 0);
		assert_int_equal(r.err, 0);
	} else {
		assert_int_equal(r.err, rv);
		assert_int_equal(rft_dedup_count(cp), 0);
		assert_int_equal(cp->nb, 0);
		assert_int_equal(cp->cap, 0);
		assert_null(cp->dir);
		assert_null(cp->slots);
		assert_null(cp->b);
		assert_true(cp->hash == hash);
	}
	return rv;
}

/* rft_dedup_next lists the same (bucket, word) pairs in the same order. */
static void assert_same_listing(const struct rft_dedup *a,
				const struct rft_dedup *b)
{
	struct rft_dedup_it ia = {0}, ib = {0};
	uint64_t wa, ba, wb, bb;
	size_t n = 0;
	int more;

	do {
		more = rft_dedup_next(a, &ia, &wa, &ba);
		assert_int_equal(rft_dedup_next(b, &ib, &wb, &bb), more);
		if (more) {
			assert_true(wa == wb && ba == bb);
			n++;
		}
	} while (more);
	assert_int_equal(n, rft_dedup_count(a));
	assert_int_equal(rft_dedup_count(b), rft_dedup_count(a));
	assert_int_equal(b->cap, a->cap);
}

/* w's window and cp answer alike, and by the rule, for keys 0..keys-1. */
static void assert_same_finds(struct world *w, const struct rft_dedup *cp,
			      unsigned convs, unsigned keys, unsigned *hits,
			      unsigned *misses)
{
	unsigned k, ci;

	for (k = 0; k < keys; k += 7)
		for (ci = 0; ci < convs; ci++) {
			struct rft_dedup_key key = wkey(w, ci, k);
			struct rft_dedup_val v1, v2;
			uint64_t seq;
			int r1 = rft_dedup_find(&w->d, &key, w->c[ci].n,
						w->clock, wread, w, &v1);
			int r2 = rft_dedup_find(cp, &key, w->c[ci].n,
						w->clock, wread, w, &v2);

			assert_int_equal(r1, r2);
			assert_int_equal(r1, model_find(w, ci, k, &seq));
			if (r1 == 1) {
				assert_memory_equal(&v1, &v2, sizeof(v1));
				assert_int_equal(v1.seq, seq);
			}
			*(r1 == 1 ? hits : misses) += 1;
		}
}

/* A send applied to w's window and to cp alike. */
static void send_both(struct world *w, struct rft_dedup *cp, unsigned ci,
		      unsigned key)
{
	struct rft_dedup_key k = wkey(w, ci, key);
	struct rft_dedup_val v1, v2;
	uint64_t seq;
	int r1 = rft_dedup_find(&w->d, &k, w->c[ci].n, w->clock, wread, w,
				&v1);

	assert_int_equal(rft_dedup_find(cp, &k, w->c[ci].n, w->clock, wread,
					w, &v2),
			 r1);
	if (r1 == 1) {
		assert_memory_equal(&v1, &v2, sizeof(v1));
		return;
	}
	seq = wstore(w, ci, key);
	k = wkey(w, ci, key);
	assert_int_equal(rft_dedup_add(&w->d, &k, seq, w->clock, w->clock), 0);
	assert_int_equal(rft_dedup_add(cp, &k, seq, w->clock, w->clock), 0);
}

/*
 * A window as a node holds it: sends over two days in many buckets, aged
 * buckets left partly popped (the head chunk has an offset), and a table
 * resize under way.
 */
static void busy_window(struct world *w, rft_dedup_hash_fn hash,
			unsigned convs, unsigned sends, unsigned keys)
{
	unsigned i;

	world_init(w);
	w->d.hash = hash;
	srand(11);
	for (i = 0; i < sends; i++) {
		w->clock += (uint64_t)(rand() % 2000) * 2 * DAY / 1000 / sends;
		wsend(w, (unsigned)rand() % convs, (unsigned)rand() % keys,
		      NULL);
		if (i % 16 == 0)
			rft_dedup_expire(&w->d, w->clock, 5);
	}
	/* Adds at the same clock until a resize starts: each pops 2 words. */
	for (i = 0; w->d.old == NULL && i < 4 * sends; i++)
		wsend(w, (unsigned)rand() % convs, (unsigned)rand() % keys,
		      NULL);
	assert_non_null(w->d.old);
	/* Three hours age: the oldest bucket is popped in part. */
	w->clock += 3 * 3600 * 1000;
	rft_dedup_expire(&w->d, w->clock, 333);
	assert_non_null(w->d.old);
	assert_true(w->d.nb > 50);
	assert_true(w->d.b[0].off != 0);
	assert_true((w->d.b[0].key + 1) * RFT_DEDUP_BUCKET_MS - 1 + DAY <=
		    w->clock); /* aged: the next adds pop it */
	assert_true(rft_dedup_count(&w->d) > sends / 4);
}

static void image_round_trip(rft_dedup_hash_fn hash, unsigned sends)
{
	enum { CONVS = 16 };
	unsigned keys = sends / 2, hits = 0, misses = 0, i;
	size_t cap;
	struct world w;
	struct rft_dedup cp;
	struct cf_img_map m;

	busy_window(&w, hash, CONVS, sends, keys);
	image_of(&w.d, &m);
	assert_int_equal(image_read(&m, &cp, hash), 0);
	cf_img_unmap(&m);
	assert_same_listing(&w.d, &cp);
	assert_null(cp.old); /* the resize is finished in the copy */
	assert_true(rft_dedup_bytes(&cp) <= rft_dedup_bytes(&w.d));
	assert_same_finds(&w, &cp, CONVS, keys, &hits, &misses);
	assert_true(hits > 100 && misses > 100);
	/* Both go on alike: adds that pop, grow, expire by budget. */
	for (i = 0; i < sends; i++) {
		w.clock += (uint64_t)(rand() % 2000) * DAY / 1000 / sends;
		send_both(&w, &cp, (unsigned)rand() % CONVS,
			  (unsigned)rand() % keys);
		if (i % 16 == 0) {
			rft_dedup_expire(&w.d, w.clock, 7);
			rft_dedup_expire(&cp, w.clock, 7);
		}
		if (i % (sends / 4) == 0)
			assert_same_listing(&w.d, &cp);
	}
	/* A burst of new keys at one clock: both tables grow at one add. */
	cap = cp.cap;
	for (i = 0; cp.cap == cap && i < 4 * sends; i++) {
		send_both(&w, &cp, i % CONVS, keys + i);
		assert_int_equal(cp.cap, w.d.cap);
	}
	assert_int_equal(cp.cap, 2 * cap);
	assert_same_listing(&w.d, &cp);
	hits = misses = 0;
	assert_same_finds(&w, &cp, CONVS, keys, &hits, &misses);
	assert_true(hits > 100 && misses > 100);
	w.clock += DAY + RFT_DEDUP_BUCKET_MS;
	rft_dedup_expire(&w.d, w.clock, SIZE_MAX);
	rft_dedup_expire(&cp, w.clock, SIZE_MAX);
	assert_int_equal(rft_dedup_count(&cp), 0);
	assert_int_equal(cp.nb, 0);
	assert_same_listing(&w.d, &cp);
	rft_dedup_release(&cp);
	world_release(&w);
}

/*
 * The window read back from its image lists the same words per bucket in
 * the same order, finds the same keys, and goes on after further sends
 * and expiry exactly as the window written, with the real hash and with
 * one that makes keys collide.
 */
static void image_reads_back_the_same_window(void **state)
{
	(void)state;
	image_round_trip(rft_dedup_hash, 40000);
	image_round_trip(hash_spread_1024, 12000);
}

/* An empty window, and one emptied after growing, read back as such. */
static void image_of_an_empty_window(void **state)
{
	struct world w;
	struct rft_dedup cp;
	struct cf_img_map m;
	unsigned i;

	(void)state;
	world_init(&w);
	image_of(&w.d, &m);
	assert_int_equal(image_read(&m, &cp, rft_dedup_hash), 0);
	cf_img_unmap(&m);
	assert_same_listing(&w.d, &cp);
	for (i = 0; i < 1000; i++)
		send_both(&w, &cp, i % WCONVS, i);
	assert_same_listing(&w.d, &cp);
	rft_dedup_release(&cp);
	w.clock += DAY + RFT_DEDUP_BUCKET_MS;
	rft_dedup_expire(&w.d, w.clock, SIZE_MAX);
	image_of(&w.d, &m);
	assert_int_equal(image_read(&m, &cp, rft_dedup_hash), 0);
	cf_img_unmap(&m);
	assert_int_equal(cp.cap, w.d.cap); /* 0 words, the table kept */
	assert_same_listing(&w.d, &cp);
	rft_dedup_release(&cp);
	world_release(&w);
}

/*
 * A table size past 2^20 slots is read back at what the words need: an
 * image that claims 2^32 slots (16 GiB) for a few thousand words reads
 * into a table of 2^20, the same window (found by fuzz_image, whose
 * corpus keeps the input as image/crash-dedup-table-16g).
 */
static void huge_table_reads_at_what_the_words_need(void **state)
{
	enum { CAP_OFF = 12 };
	struct world w;
	struct rft_dedup cp;
	struct cf_img_map m, big;
	uint8_t *buf;

	(void)state;
	busy_window(&w, hash_spread_1024, 8, 6000, 3000);
	image_of(&w.d, &m);
	buf = malloc(m.len);
	assert_non_null(buf);
	memcpy(buf, m.p, m.len);
	big = (struct cf_img_map){buf, m.len, m.len};
	cf_img_unmap(&m);
	cf_put_u64(buf + 4 + CAP_OFF, 1ull << 32);
	assert_int_equal(image_read(&big, &cp, hash_spread_1024), 0);
	assert_int_equal(cp.cap, 1u << 20);
	assert_true(w.d.cap < cp.cap);
	/* The same words in the same buckets, in the same order. */
	{
		struct rft_dedup_it ia = {0}, ib = {0};
		uint64_t wa, ba, wb, bb;
		int more;

		do {
			more = rft_dedup_next(&w.d, &ia, &wa, &ba);
			assert_int_equal(rft_dedup_next(&cp, &ib, &wb, &bb),
					 more);
			assert_true(!more || (wa == wb && ba == bb));
		} while (more);
		assert_int_equal(rft_dedup_count(&cp), rft_dedup_count(&w.d));
	}
	rft_dedup_release(&cp);
	free(buf);
	world_release(&w);
}

/* The u64 or u32 at off of a section copy, set to v (then restored). */
static int read_patched(struct cf_img_map *m, uint8_t *buf, size_t off,
			int wide, uint64_t v)
{
	struct rft_dedup cp;
	uint8_t save[8];
	int rv;

	memcpy(save, buf + off, 8);
	if (wide)
		cf_put_u64(buf + off, v);
	else
		cf_put_u32(buf + off, (uint32_t)v);
	rv = image_read(m, &cp, hash_spread_1024);
	rft_dedup_release(&cp);
	memcpy(buf + off, save, 8);
	return rv;
}

/*
 * A damaged section (cut short anywhere, a count, size, key or version
 * changed) fails with CF_ECORRUPT and leaves the window empty, and an
 * allocation failing anywhere gives -ENOMEM, all with nothing leaked.
 * (The image's checksum catches such damage first; the section's own
 * checks are what stand between a wrong image and a crash.)
 */
static void damaged_image_fails_cleanly(void **state)
{
	enum { N_OFF = 4, CAP_OFF = 12, NB_OFF = 20, B0_OFF = 24 };
	struct world w;
	struct rft_dedup cp;
	struct cf_img_map m, bad;
	uint8_t *buf;
	size_t sec, cut, b1;
	uint64_t n, cap, count0;
	uint32_t nb;

	(void)state;
	busy_window(&w, hash_spread_1024, 8, 6000, 3000);
	image_of(&w.d, &m);
	sec = m.len - 4; /* the section, without the next one's tag */
	buf = malloc(m.len);
	assert_non_null(buf);
	memcpy(buf, m.p, m.len);
	bad = (struct cf_img_map){buf, m.len, m.len};
	cf_img_unmap(&m);
	/* The copy reads; the offsets below are the format's. */
	assert_int_equal(image_read(&bad, &cp, hash_spread_1024), 0);
	assert_same_listing(&w.d, &cp);
	rft_dedup_release(&cp);
	n = cf_get_u64(buf + 4 + N_OFF);
	cap = cf_get_u64(buf + 4 + CAP_OFF);
	nb = cf_get_u32(buf + 4 + NB_OFF);
	count0 = cf_get_u32(buf + 4 + B0_OFF + 8);
	assert_int_equal(n, rft_dedup_count(&w.d));
	assert_int_equal(cap, w.d.cap);
	assert_int_equal(nb, w.d.nb);
	assert_int_equal(cf_get_u64(buf + 4 + B0_OFF), w.d.b[0].key);
	b1 = 4 + B0_OFF + 12 + count0 * 8;
	assert_int_equal(cf_get_u64(buf + b1), w.d.b[1].key);

	for (cut = 0; cut < sec; cut += cut < 300 ? 1 : 97) {
		bad.len = cut;
		assert_int_equal(image_read(&bad, &cp, hash_spread_1024),
				 CF_ECORRUPT);
		rft_dedup_release(&cp);
	}
	bad.len = sec - 1;
	assert_int_equal(image_read(&bad, &cp, hash_spread_1024), CF_ECORRUPT);
	rft_dedup_release(&cp);
	bad.len = bad.maplen;

	assert_int_equal(read_patched(&bad, buf, 0, 0, 0), CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4, 0, 2), CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + N_OFF, 1, n + 1),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + N_OFF, 1, n - 1),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + N_OFF, 1, UINT64_MAX),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + CAP_OFF, 1, cap - 1),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + CAP_OFF, 1, cap / 4),
			 CF_ECORRUPT); /* too small for n */
	assert_int_equal(read_patched(&bad, buf, 4 + CAP_OFF, 1, 0),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + CAP_OFF, 1, 1ull << 40),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + NB_OFF, 0, nb + 1),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + NB_OFF, 0, nb - 1),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + NB_OFF, 0, UINT32_MAX),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + B0_OFF + 8, 0,
				      count0 + 1),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + B0_OFF + 8, 0,
				      count0 - 1),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, 4 + B0_OFF + 8, 0,
				      UINT32_MAX),
			 CF_ECORRUPT);
	assert_int_equal(read_patched(&bad, buf, b1, 1, w.d.b[0].key),
			 CF_ECORRUPT); /* buckets out of order */
	assert_int_equal(read_patched(&bad, buf, sec - 4, 0, 0), CF_ECORRUPT);

	/* Out of memory at each allocation in turn. */
	for (n = 1; n <= CF_TEST_MEM_MAX_N; n++) {
		int rv;

		cf_test_mem_arm(n, n % 2 == 0);
		rv = image_read(&bad, &cp, hash_spread_1024);
		if (!cf_test_mem_disarm()) {
			assert_int_equal(rv, 0);
			break;
		}
		assert_int_equal(rv, -ENOMEM);
		assert_int_equal(cf_test_mem_live(), 0);
		rft_dedup_release(&cp);
	}
	assert_true(n > 3 && n <= CF_TEST_MEM_MAX_N);
	assert_same_listing(&w.d, &cp);
	rft_dedup_release(&cp);
	free(buf);
	world_release(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(image_reads_back_the_same_window),
		cmocka_unit_test(image_of_an_empty_window),
		cmocka_unit_test(damaged_image_fails_cleanly),
		cmocka_unit_test(huge_table_reads_at_what_the_words_need),
	};

	cf_test_mem_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
