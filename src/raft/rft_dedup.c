#include "config.h"

/*
 * rft_dedup: words in chunks per time bucket, and an open-addressing table
 * of references to them (linear probing on the word's hash bits,
 * backward-shift deletion, load at most 3/4, incremental growth with the
 * same walk as cf_map.c). See rft_dedup.h for the rules.
 *
 * A reference is chunk number * RFT_DEDUP_CHUNK + position; a table slot
 * holds reference + 1, so 0 marks an empty slot and chunk numbers stay
 * below 2^22 - 1. A word is (hash & 2^44 - 1) << 20 | (seq & 2^20 - 1): its
 * table home is its hash bits & (cap - 1), for tables of up to 2^32 slots.
 *
 * Each slot has a tag byte, its word's hash bits 36..43 (never part of a
 * home), in an array right after the slots (one allocation: cap * 5
 * bytes). A probe compares the tag before it follows the reference to the
 * word: a miss, which is what nearly every send is, touches the slots and
 * tags (contiguous) and about one word in 256 instead of a word per slot of
 * its run, each a cache miss in a table of millions (the leader spent 3 % of
 * its CPU in find at 256 clients before the tags).
 */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/cf_err.h"
#include "raft/rft_dedup.h"
#include "raft/rft_dedup_int.h"

#define NONE RFT_DEDUP_NONE
#define MAX_CHUNKS RFT_DEDUP_MAX_CHUNKS
#define SEQ_MASK ((1ull << RFT_DEDUP_SEQ_BITS) - 1)
#define HASH_MASK ((1ull << (64 - RFT_DEDUP_SEQ_BITS)) - 1)

void rft_dedup_init(struct rft_dedup *d)
{
	memset(d, 0, sizeof(*d));
	d->hash = rft_dedup_hash;
}

void rft_dedup_release(struct rft_dedup *d)
{
	uint32_t i;

	for (i = 0; i < d->dir_n; i++)
		free(d->dir[i]);
	free(d->dir);
	free(d->free_no);
	free(d->slots);
	free(d->old);
	free(d->b);
	rft_dedup_init(d);
}

uint64_t rft_dedup_hash(struct cf_str conv, struct cf_str sender,
			struct cf_str client_msg_id)
{
	uint8_t buf[3 * 256];
	struct cf_str part[3] = {conv, sender, client_msg_id};
	size_t n = 0;
	int i;

	for (i = 0; i < 3; i++) {
		size_t len = part[i].len > 255 ? 255 : part[i].len;

		assert(part[i].len <= 255);
		buf[n++] = (uint8_t)len;
		if (len > 0)
			memcpy(buf + n, part[i].p, len);
		n += len;
	}
	return XXH3_64bits(buf, n);
}

struct rft_dedup_key rft_dedup_key(const struct rft_dedup *d,
				   struct cf_str conv, struct cf_str sender,
				   struct cf_str client_msg_id)
{
	struct rft_dedup_key k = {conv, sender, client_msg_id, 0};

	k.hash = d->hash(conv, sender, client_msg_id);
	return k;
}

/* ---------------------------------------------------------------- words */

static uint64_t word_at(const struct rft_dedup *d, uint32_t ref)
{
	return d->dir[ref / RFT_DEDUP_CHUNK]->w[ref % RFT_DEDUP_CHUNK];
}

static uint64_t word_hash(uint64_t w)
{
	return w >> RFT_DEDUP_SEQ_BITS;
}

static bool bucket_aged(uint64_t key, uint64_t clock)
{
	uint64_t end = key * RFT_DEDUP_BUCKET_MS + RFT_DEDUP_BUCKET_MS - 1;

	return clock >= end && clock - end >= RFT_DEDUP_WINDOW_MS;
}

static bool aged(uint64_t ts, uint64_t clock)
{
	return clock >= ts && clock - ts >= RFT_DEDUP_WINDOW_MS;
}

/* ---------------------------------------------------------------- table */

/* Where a probe of the old table starts (see cf_map.c). */
static size_t old_from(const struct rft_dedup *d, uint64_t h)
{
	size_t mask = d->old_cap - 1, home = (size_t)h & mask;

	if (((home - d->old_start) & mask) < d->old_done)
		return (d->old_start + d->old_done) & mask;
	return home;
}

static void tab_insert(struct rft_dedup *d, uint32_t slot_val)
{
	size_t mask = d->cap - 1;
	uint64_t h = word_hash(word_at(d, slot_val - 1));
	size_t i = (size_t)h & mask;

	while (d->slots[i] != 0)
		i = (i + 1) & mask;
	d->slots[i] = slot_val;
	rft_dedup_tags(d->slots, d->cap)[i] = rft_dedup_tag(h);
}

static void step(struct rft_dedup *d, size_t max)
{
	size_t mask;

	if (d->old == NULL)
		return;
	mask = d->old_cap - 1;
	while (max-- > 0 && d->old_done < d->old_cap - 1) {
		uint32_t *s = &d->old[(d->old_start + d->old_done) & mask];

		if (*s != 0) {
			tab_insert(d, *s);
			*s = 0;
		}
		d->old_done++;
	}
	if (d->old_done == d->old_cap - 1) {
		free(d->old);
		d->old = NULL;
		d->old_cap = d->old_start = d->old_done = 0;
	}
}

static int grow(struct rft_dedup *d)
{
	size_t cap = d->cap != 0 ? d->cap * 2 : RFT_DEDUP_MIN_CAP, e;
	uint32_t *slots;

	if (cap > (size_t)UINT32_MAX + 1)
		return -ENOMEM;
	if (d->old != NULL) /* cannot happen: see cf_map.h */
		step(d, d->old_cap);
	slots = calloc(cap, RFT_DEDUP_SLOT_BYTES);
	if (slots == NULL)
		return -ENOMEM;
	if (d->cap != 0) {
		for (e = 0; d->slots[e] != 0; e++)
			;
		d->old = d->slots;
		d->old_cap = d->cap;
		d->old_start = (e + 1) & (d->cap - 1);
		d->old_done = 0;
	}
	d->slots = slots;
	d->cap = cap;
	return 0;
}

/* Empty slot i and shift the run after it back (see cf_map.c). */
static void tab_remove(const struct rft_dedup *d, uint32_t *slots, size_t cap,
		       size_t i)
{
	size_t mask = cap - 1, j = i;
	uint8_t *tags = rft_dedup_tags(slots, cap);

	slots[i] = 0;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (slots[j] == 0)
			break;
		home = (size_t)word_hash(word_at(d, slots[j] - 1)) & mask;
		if ((i <= j) ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		slots[i] = slots[j];
		tags[i] = tags[j];
		slots[j] = 0;
		i = j;
	}
}

/* Remove the slot of ref from whichever table holds it. */
static void remove_ref(struct rft_dedup *d, uint32_t ref)
{
	uint64_t h = word_hash(word_at(d, ref));
	size_t mask, i;

	if (d->cap != 0) {
		mask = d->cap - 1;
		for (i = (size_t)h & mask; d->slots[i] != 0; i = (i + 1) & mask)
			if (d->slots[i] == ref + 1) {
				tab_remove(d, d->slots, d->cap, i);
				return;
			}
	}
	assert(d->old != NULL);
	mask = d->old_cap - 1;
	for (i = old_from(d, h); d->old[i] != 0; i = (i + 1) & mask)
		if (d->old[i] == ref + 1) {
			tab_remove(d, d->old, d->old_cap, i);
			return;
		}
	assert(!"dedup: a word without its slot");
}

/* --------------------------------------------------------------- chunks */

static int chunk_alloc(struct rft_dedup *d, uint64_t bucket, uint32_t *out)
{
	struct rft_dedup_chunk *c = malloc(sizeof(*c));
	uint32_t no;

	if (c == NULL)
		return -ENOMEM;
	if (d->n_free > 0) {
		no = d->free_no[--d->n_free];
	} else {
		if (d->dir_n == MAX_CHUNKS)
			goto err;
		if (d->dir_n == d->dir_cap) {
			uint32_t cap = d->dir_cap != 0 ? d->dir_cap * 2 : 16;
			void *p;

			if (cap > MAX_CHUNKS)
				cap = MAX_CHUNKS;
			p = realloc(d->dir, cap * sizeof(*d->dir));
			if (p == NULL)
				goto err;
			d->dir = p;
			p = realloc(d->free_no, cap * sizeof(*d->free_no));
			if (p == NULL)
				goto err;
			d->free_no = p;
			d->dir_cap = cap;
		}
		no = d->dir_n++;
	}
	c->bucket = bucket;
	c->next = NONE;
	c->n = 0;
	d->dir[no] = c;
	*out = no;
	return 0;
err:
	free(c);
	return -ENOMEM;
}

static void chunk_free(struct rft_dedup *d, uint32_t no)
{
	free(d->dir[no]);
	d->dir[no] = NULL;
	d->free_no[d->n_free++] = no;
}

/* -------------------------------------------------------------- buckets */

/* Index of the bucket of key, created empty if missing. */
static int bucket_get(struct rft_dedup *d, uint64_t key, size_t *out)
{
	size_t lo = 0, hi = d->nb;

	if (d->nb > 0 && d->b[d->nb - 1].key == key) {
		*out = d->nb - 1;
		return 0;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->b[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < d->nb && d->b[lo].key == key) {
		*out = lo;
		return 0;
	}
	if (d->nb == d->b_cap) {
		size_t cap = d->b_cap != 0 ? d->b_cap * 2 : 128;
		void *p = realloc(d->b, cap * sizeof(*d->b));

		if (p == NULL)
			return -ENOMEM;
		d->b = p;
		d->b_cap = cap;
	}
	memmove(&d->b[lo + 1], &d->b[lo], (d->nb - lo) * sizeof(*d->b));
	d->b[lo].key = key;
	d->b[lo].head = d->b[lo].tail = NONE;
	d->b[lo].off = 0;
	d->nb++;
	*out = lo;
	return 0;
}

static void bucket_drop_first(struct rft_dedup *d)
{
	d->nb--;
	memmove(&d->b[0], &d->b[1], d->nb * sizeof(*d->b));
}

/* Pop the oldest word of the oldest bucket. */
static void pop_one(struct rft_dedup *d)
{
	struct rft_dedup_bucket *b = &d->b[0];
	struct rft_dedup_chunk *c;

	if (b->head == NONE) { /* left empty by a failed add */
		bucket_drop_first(d);
		return;
	}
	c = d->dir[b->head];
	assert(b->off < c->n);
	remove_ref(d, b->head * RFT_DEDUP_CHUNK + b->off);
	d->n--;
	if (++b->off < c->n)
		return;
	if (b->head == b->tail) {
		chunk_free(d, b->head);
		bucket_drop_first(d);
	} else {
		uint32_t next = c->next;

		chunk_free(d, b->head);
		b->head = next;
		b->off = 0;
	}
}

void rft_dedup_expire(struct rft_dedup *d, uint64_t clock, size_t max)
{
	if (d->nb > 0 && bucket_aged(d->b[0].key, clock))
		step(d, RFT_DEDUP_STEP);
	while (max-- > 0 && d->nb > 0 && bucket_aged(d->b[0].key, clock))
		pop_one(d);
}

/* ------------------------------------------------------------ find, add */

int rft_dedup_find(const struct rft_dedup *d, const struct rft_dedup_key *key,
		   uint64_t last_seq, uint64_t clock, rft_dedup_read_fn read,
		   void *arg, struct rft_dedup_val *out)
{
	uint64_t h = key->hash & HASH_MASK;
	uint8_t tag = rft_dedup_tag(h);
	int t;

	for (t = 0; t < 2; t++) {
		const uint32_t *slots = t == 0 ? d->slots : d->old;
		size_t cap = t == 0 ? d->cap : d->old_cap, mask = cap - 1, i;
		const uint8_t *tags;

		if (cap == 0 || slots == NULL)
			continue;
		tags = rft_dedup_tags(slots, cap);
		i = t == 0 ? (size_t)h & mask : old_from(d, h);
		for (; slots[i] != 0; i = (i + 1) & mask) {
			uint32_t ref = slots[i] - 1;
			const struct rft_dedup_chunk *c;
			uint64_t w, back;
			struct log_record rec;
			int rv;

			if (tags[i] != tag)
				continue;
			c = d->dir[ref / RFT_DEDUP_CHUNK];
			w = c->w[ref % RFT_DEDUP_CHUNK];
			back = (last_seq - w) & SEQ_MASK;
			if (word_hash(w) != h || bucket_aged(c->bucket, clock) ||
			    back >= RFT_DEDUP_MAX_PER_CONV || back >= last_seq)
				continue;
			rv = read(arg, key->conv, last_seq - back, &rec);
			if (rv == CF_ENOTFOUND)
				continue;
			if (rv != 0)
				return rv;
			/* The record decides: the exact key, its ts and seq. */
			if (rec.kind != LOG_REC_MESSAGE ||
			    rec.seq != last_seq - back ||
			    !cf_str_eq(rec.conv, key->conv) ||
			    !cf_str_eq(rec.sender, key->sender) ||
			    !cf_str_eq(rec.client_msg_id, key->id) ||
			    aged(rec.ts, clock))
				continue;
			out->seq = rec.seq;
			out->message_id = rec.message_id;
			out->server_ts = rec.ts;
			return 1;
		}
	}
	return 0;
}

int rft_dedup_add(struct rft_dedup *d, const struct rft_dedup_key *key,
		  uint64_t seq, uint64_t ts, uint64_t clock)
{
	uint64_t bk = ts / RFT_DEDUP_BUCKET_MS;
	struct rft_dedup_bucket *b;
	struct rft_dedup_chunk *c;
	uint32_t no;
	size_t bi;
	int rv, k;

	if (bucket_aged(bk, clock))
		return 0; /* a rebuild reading a record already out */
	step(d, RFT_DEDUP_STEP);
	for (k = 0; k < 2 && d->nb > 0 && bucket_aged(d->b[0].key, clock); k++)
		pop_one(d);
	if ((d->n + 1) * 4 > d->cap * 3) {
		rv = grow(d);
		if (rv != 0)
			return rv;
	}
	rv = bucket_get(d, bk, &bi);
	if (rv != 0)
		return rv;
	b = &d->b[bi];
	if (b->tail == NONE || d->dir[b->tail]->n == RFT_DEDUP_CHUNK) {
		rv = chunk_alloc(d, bk, &no);
		if (rv != 0)
			return rv;
		if (b->tail == NONE)
			b->head = no;
		else
			d->dir[b->tail]->next = no;
		b->tail = no;
	}
	c = d->dir[b->tail];
	c->w[c->n] = (key->hash & HASH_MASK) << RFT_DEDUP_SEQ_BITS |
		     (seq & SEQ_MASK);
	tab_insert(d, b->tail * RFT_DEDUP_CHUNK + c->n + 1);
	c->n++;
	d->n++;
	return 0;
}

/* ---------------------------------------------------------------- other */

int rft_dedup_next(const struct rft_dedup *d, struct rft_dedup_it *it,
		   uint64_t *word, uint64_t *bucket)
{
	for (;;) {
		const struct rft_dedup_bucket *b;
		const struct rft_dedup_chunk *c;

		if (it->bucket >= d->nb)
			return 0;
		b = &d->b[it->bucket];
		if (!it->started) {
			it->chunk = b->head;
			it->off = b->off;
			it->started = 1;
		}
		if (it->chunk == NONE) {
			it->bucket++;
			it->started = 0;
			continue;
		}
		c = d->dir[it->chunk];
		if (it->off < c->n) {
			*word = c->w[it->off++];
			*bucket = b->key;
			return 1;
		}
		if (it->chunk == b->tail) {
			it->bucket++;
			it->started = 0;
		} else {
			it->chunk = c->next;
			it->off = 0;
		}
	}
}

size_t rft_dedup_bytes(const struct rft_dedup *d)
{
	return (d->cap + d->old_cap) * RFT_DEDUP_SLOT_BYTES +
	       (size_t)(d->dir_n - d->n_free) *
		       sizeof(struct rft_dedup_chunk) +
	       (size_t)d->dir_cap * (sizeof(*d->dir) + sizeof(*d->free_no)) +
	       d->b_cap * sizeof(struct rft_dedup_bucket);
}
