#include "config.h"

/*
 * rft_dedup_image: the idempotency window's section of the state image
 * (rft_dedup.h, "State image"; the file around it: raft/rft_image.c).
 *
 * SECTION FORMAT (cf_img.h conventions: integers little-endian, no padding)
 *
 *   u32  tag          RFT_DEDUP_IMG_TAG ("DDUP"), cf_imgw_begin
 *   u32  version      RFT_DEDUP_IMG_VERSION (1)
 *   u64  n            words held, the sum of the buckets' counts
 *   u64  cap          slots of the table: 0 (the window never held a word,
 *                     then n is 0), or a power of two from 64 to 2^32 with
 *                     4 n <= 3 cap
 *   u32  nb           buckets, then nb times, oldest bucket first:
 *     u64  key          ts / RFT_DEDUP_BUCKET_MS, strictly increasing
 *     u32  count        words of the bucket (0: a bucket a failed add left)
 *     u64  word[count]  its words, oldest first (the order rft_dedup_next
 *                       lists and expiry pops them)
 *   u32  end marker   cf_imgw_end
 *
 * A word is as in memory: the low 44 bits of the key's hash above the low
 * 20 bits of its seq. The hash is the window's (rft_dedup_hash: XXH3-64,
 * stable across xxhash releases); a change to it or to the word's layout
 * takes a new version, which older readers refuse (the node then rebuilds
 * from the records).
 *
 * What is not written, and why the window read back answers alike:
 *  - The table: it is rebuilt from the words, so that no slot of a damaged
 *    or hostile image can point outside the chunks. It has the written
 *    size up to 2^20 slots, so adds trigger growth at the same counts as
 *    in the window written (a larger one is read back at the size its
 *    words need, so that a damaged size cannot make the reader allocate
 *    up to 16 GiB); a resize under way there is finished here (one table). The
 *    slots' order within a probe run may differ; a find's answer does not
 *    depend on it (by the rule of rft_dedup.h a key has at most one
 *    record that answers).
 *  - The chunks: each bucket's words are packed into full chunks from the
 *    start (a popped head's offset is gone, free chunk numbers too), so
 *    the window read back holds at most as many chunks as the one written.
 *
 * Reading: the counts are checked against the bytes left before anything
 * is allocated for them (cf_imgr_count); the directory, the bucket array
 * and the table are allocated once at their final size; each chunk is one
 * malloc and one copy; each word is inserted into the table with the slot
 * of a word a few places ahead prefetched. For 10 M words (76 MiB of
 * image), 0.6 to 0.9 s on the loaded 2-core test machine, of which about
 * 0.25 s is the copies and their page faults and the rest the table's
 * random writes; writing takes 0.03 s to the page cache (bench_mem).
 */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "raft/rft_dedup.h"
#include "raft/rft_dedup_int.h"

#define RFT_DEDUP_IMG_VERSION 1u
/* Slots of a written table kept as they are when read (5 MiB): read_cap. */
#define RFT_DEDUP_IMG_KEEP_CAP (1u << 20)
#define BUCKET_MIN_BYTES 12 /* key and count */
#define PREFETCH_AHEAD 8

#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__)
#error "rft_dedup_image: unknown byte order"
#endif
#define HOST_IS_LE (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

/* ---------------------------------------------------------------- write */

static void put_words(struct cf_imgw *w, const uint64_t *p, size_t n)
{
#if HOST_IS_LE
	cf_imgw_bytes(w, p, n * sizeof(*p));
#else
	size_t i;

	for (i = 0; i < n; i++)
		cf_imgw_u64(w, p[i]);
#endif
}

/* Words of bucket b: its chunks' words after the head's offset. */
static uint64_t bucket_count(const struct rft_dedup *d,
			     const struct rft_dedup_bucket *b)
{
	uint64_t n = 0;
	uint32_t no;

	if (b->head == RFT_DEDUP_NONE)
		return 0;
	for (no = b->head;; no = d->dir[no]->next) {
		n += d->dir[no]->n;
		if (no == b->tail)
			break;
	}
	return n - b->off;
}

void rft_dedup_image_write(const struct rft_dedup *d, struct cf_imgw *w)
{
	uint64_t total = 0;
	size_t i;

	assert(d->nb <= UINT32_MAX);
	cf_imgw_begin(w, RFT_DEDUP_IMG_TAG);
	cf_imgw_u32(w, RFT_DEDUP_IMG_VERSION);
	cf_imgw_u64(w, d->n);
	cf_imgw_u64(w, d->cap);
	cf_imgw_u32(w, (uint32_t)d->nb);
	for (i = 0; i < d->nb; i++) {
		const struct rft_dedup_bucket *b = &d->b[i];
		uint64_t count = bucket_count(d, b);
		uint32_t no, off = b->off;

		assert(count <= UINT32_MAX);
		cf_imgw_u64(w, b->key);
		cf_imgw_u32(w, (uint32_t)count);
		total += count;
		if (count == 0)
			continue;
		for (no = b->head;; no = d->dir[no]->next) {
			const struct rft_dedup_chunk *c = d->dir[no];

			put_words(w, c->w + off, c->n - off);
			off = 0;
			if (no == b->tail)
				break;
		}
	}
	assert(total == d->n);
	cf_imgw_end(w, RFT_DEDUP_IMG_TAG);
}

/* ----------------------------------------------------------------- read */

/* A table size the reader accepts for n words (see the format). */
static bool cap_ok(uint64_t cap, uint64_t n)
{
	if (cap == 0)
		return n == 0;
	return (cap & (cap - 1)) == 0 && cap >= RFT_DEDUP_MIN_CAP &&
	       cap <= (uint64_t)UINT32_MAX + 1 &&
	       cap <= SIZE_MAX / RFT_DEDUP_SLOT_BYTES &&
	       n <= cap / 4 * 3;
}

/* Insert the references of chunk no's words (the table has room). */
static void insert_chunk(struct rft_dedup *d, uint32_t no)
{
	const struct rft_dedup_chunk *c = d->dir[no];
	uint32_t *slots = d->slots, base = no * RFT_DEDUP_CHUNK + 1, j;
	uint8_t *tags = rft_dedup_tags(slots, d->cap);
	size_t mask = d->cap - 1;

	for (j = 0; j < c->n; j++) {
		uint64_t h = c->w[j] >> RFT_DEDUP_SEQ_BITS;
		size_t i = (size_t)h & mask;

		if (j + PREFETCH_AHEAD < c->n)
			__builtin_prefetch(
				&slots[(size_t)(c->w[j + PREFETCH_AHEAD] >>
						RFT_DEDUP_SEQ_BITS) &
				       mask],
				1);
		while (slots[i] != 0)
			i = (i + 1) & mask;
		slots[i] = base + j;
		tags[i] = rft_dedup_tag(h);
	}
}

/* Append count words from p (little-endian) to the new bucket b. */
static int load_words(struct rft_dedup *d, struct rft_dedup_bucket *b,
		      const uint8_t *p, uint32_t count)
{
	while (count > 0) {
		uint32_t k = count < RFT_DEDUP_CHUNK ? count : RFT_DEDUP_CHUNK;
		struct rft_dedup_chunk *c;
		uint32_t no = d->dir_n;

		if (no == RFT_DEDUP_MAX_CHUNKS)
			return CF_ECORRUPT; /* more than a window can hold */
		assert(no < d->dir_cap); /* presized: see rft_dedup_image_read */
		c = malloc(sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		c->bucket = b->key;
		c->next = RFT_DEDUP_NONE;
		c->n = k;
#if HOST_IS_LE
		memcpy(c->w, p, (size_t)k * sizeof(uint64_t));
#else
		for (uint32_t j = 0; j < k; j++)
			c->w[j] = cf_get_u64(p + (size_t)j * 8);
#endif
		d->dir[no] = c;
		d->dir_n++;
		if (b->tail == RFT_DEDUP_NONE)
			b->head = no;
		else
			d->dir[b->tail]->next = no;
		b->tail = no;
		insert_chunk(d, no);
		d->n += k;
		p += (size_t)k * sizeof(uint64_t);
		count -= k;
	}
	return 0;
}

/*
 * The slots the table is read back with: the written size up to
 * RFT_DEDUP_IMG_KEEP_CAP; above, what the words need at most 3/4 full
 * (and no less than that), the table growing again with adds. The written
 * size is the one count of the section the image holds no bytes for: a
 * damaged image's 2^32 slots and no word made the reader calloc 16 GiB
 * (found by fuzz_image).
 */
static uint64_t read_cap(uint64_t cap, uint64_t n)
{
	uint64_t need = RFT_DEDUP_IMG_KEEP_CAP;

	if (cap <= RFT_DEDUP_IMG_KEEP_CAP)
		return cap;
	while (n > need / 4 * 3)
		need *= 2;
	return need; /* <= cap: cap_ok() */
}

/* Allocate the directory, the buckets and the table at their final size. */
static int presize(struct rft_dedup *d, uint64_t n, uint64_t cap, uint32_t nb)
{
	/* Each bucket's words fill whole chunks but its last one. */
	uint64_t chunks = (n + RFT_DEDUP_CHUNK - 1) / RFT_DEDUP_CHUNK + nb;

	if (chunks > RFT_DEDUP_MAX_CHUNKS)
		chunks = RFT_DEDUP_MAX_CHUNKS;
	if (chunks > 0) {
		d->dir = malloc((size_t)chunks * sizeof(*d->dir));
		d->free_no = malloc((size_t)chunks * sizeof(*d->free_no));
		if (d->dir == NULL || d->free_no == NULL)
			return -ENOMEM;
		d->dir_cap = (uint32_t)chunks;
	}
	if (nb > 0) {
		d->b = malloc((size_t)nb * sizeof(*d->b));
		if (d->b == NULL)
			return -ENOMEM;
		d->b_cap = nb;
	}
	if (cap > 0) {
		d->slots = calloc((size_t)cap, RFT_DEDUP_SLOT_BYTES);
		if (d->slots == NULL)
			return -ENOMEM;
		d->cap = (size_t)cap;
	}
	return 0;
}

int rft_dedup_image_read(struct rft_dedup *d, struct cf_imgr *r)
{
	rft_dedup_hash_fn hash = d->hash;
	uint64_t n, cap, prev = 0;
	uint32_t nb, i;
	int rv = CF_ECORRUPT;

	assert(d->n == 0 && d->nb == 0 && d->dir == NULL && d->b == NULL &&
	       d->slots == NULL && d->old == NULL);
	cf_imgr_begin(r, RFT_DEDUP_IMG_TAG);
	if (cf_imgr_u32(r) != RFT_DEDUP_IMG_VERSION)
		goto err;
	n = cf_imgr_u64(r);
	cap = cf_imgr_u64(r);
	nb = cf_imgr_count(r, BUCKET_MIN_BYTES);
	if (r->err != 0)
		goto err;
	/* Every word and bucket takes its bytes: nothing is allocated for
	 * counts the rest of the image cannot hold. */
	if (n > (cf_imgr_left(r) - (uint64_t)nb * BUCKET_MIN_BYTES) / 8 ||
	    !cap_ok(cap, n))
		goto err;
	rv = presize(d, n, read_cap(cap, n), nb);
	if (rv != 0)
		goto err;
	rv = CF_ECORRUPT;
	for (i = 0; i < nb; i++) {
		struct rft_dedup_bucket *b = &d->b[i];
		uint64_t key = cf_imgr_u64(r);
		uint32_t count = cf_imgr_count(r, sizeof(uint64_t));
		const uint8_t *p;

		if (r->err != 0 || (i > 0 && key <= prev) || count > n - d->n)
			goto err;
		p = cf_imgr_bytes(r, (size_t)count * sizeof(uint64_t));
		if (p == NULL)
			goto err;
		prev = key;
		b->key = key;
		b->head = b->tail = RFT_DEDUP_NONE;
		b->off = 0;
		d->nb++;
		rv = load_words(d, b, p, count);
		if (rv != 0)
			goto err;
		rv = CF_ECORRUPT;
	}
	cf_imgr_end(r, RFT_DEDUP_IMG_TAG);
	if (r->err != 0 || d->n != n)
		goto err;
	return 0;
err:
	if (r->err != 0)
		rv = r->err;
	else
		r->err = rv;
	rft_dedup_release(d);
	d->hash = hash;
	return rv;
}
