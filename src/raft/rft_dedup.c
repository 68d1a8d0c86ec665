#include "config.h"

/*
 * rft_dedup: an open-addressing table (linear probing on h1, backward-shift
 * deletion, load at most 3/4: XXH3 keys probe short even so, and the table
 * is most of the FSM's memory per message) of 128-bit key hashes, and per-conversation
 * rings that evict in insertion order. See rft_dedup.h for the rules.
 *
 * The hash of a key is XXH3_128bits over
 *   u8 len(conv), conv, u8 len(sender), sender, u8 len(id), id
 * so that ("ab","c") and ("a","bc") differ. A hash of {0, 0} becomes {0, 1}
 * since {0, 0} marks an empty slot.
 */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "raft/rft_dedup.h"

void rft_dedup_init(struct rft_dedup *d)
{
	memset(d, 0, sizeof(*d));
}

void rft_dedup_release(struct rft_dedup *d)
{
	free(d->slots);
	rft_dedup_init(d);
}

void rft_dedup_fifo_release(struct rft_dedup_fifo *q)
{
	free(q->v);
	memset(q, 0, sizeof(*q));
}

struct rft_dedup_key rft_dedup_key(struct cf_str conv, struct cf_str sender,
				   struct cf_str client_msg_id)
{
	uint8_t buf[3 * 256];
	struct cf_str part[3] = {conv, sender, client_msg_id};
	struct rft_dedup_key k;
	XXH128_hash_t h;
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
	h = XXH3_128bits(buf, n);
	k.h1 = h.low64;
	k.h2 = h.high64;
	if (k.h1 == 0 && k.h2 == 0)
		k.h2 = 1;
	return k;
}

static bool key_empty(struct rft_dedup_key k)
{
	return k.h1 == 0 && k.h2 == 0;
}

static bool key_eq(struct rft_dedup_key a, struct rft_dedup_key b)
{
	return a.h1 == b.h1 && a.h2 == b.h2;
}

/* Slot of key, or of the empty slot where it would go. */
static size_t probe(const struct rft_dedup *d, struct rft_dedup_key k)
{
	size_t mask = d->cap - 1, i = (size_t)k.h1 & mask;

	while (!key_empty(d->slots[i].key) && !key_eq(d->slots[i].key, k))
		i = (i + 1) & mask;
	return i;
}

static struct rft_dedup_slot *lookup(const struct rft_dedup *d,
				     struct rft_dedup_key k)
{
	size_t i;

	if (d->cap == 0)
		return NULL;
	i = probe(d, k);
	return key_empty(d->slots[i].key) ? NULL : &d->slots[i];
}

static void del_slot(struct rft_dedup *d, size_t i)
{
	size_t mask = d->cap - 1, j = i;

	/* Backward shift: pull later members of the cluster into the hole. */
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (key_empty(d->slots[j].key))
			break;
		home = (size_t)d->slots[j].key.h1 & mask;
		/* Move j to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			d->slots[i] = d->slots[j];
			i = j;
		}
	}
	memset(&d->slots[i], 0, sizeof(d->slots[i]));
	d->n--;
}

static int grow_table(struct rft_dedup *d)
{
	size_t cap = d->cap != 0 ? d->cap * 2 : 64, i;
	struct rft_dedup old = *d;

	d->slots = calloc(cap, sizeof(*d->slots));
	if (d->slots == NULL) {
		*d = old;
		return -ENOMEM;
	}
	d->cap = cap;
	for (i = 0; i < old.cap; i++)
		if (!key_empty(old.slots[i].key))
			d->slots[probe(d, old.slots[i].key)] = old.slots[i];
	free(old.slots);
	return 0;
}

/* Drop the oldest key of q (from d too, unless a later add replaced it). */
static void fifo_pop(struct rft_dedup *d, struct rft_dedup_fifo *q)
{
	struct rft_dedup_item *it = &q->v[q->head];
	struct rft_dedup_slot *s = lookup(d, it->key);

	assert(q->n > 0);
	if (s != NULL && s->val.message_id == it->message_id)
		del_slot(d, (size_t)(s - d->slots));
	q->head = (q->head + 1) % q->cap;
	q->n--;
}

static int fifo_grow(struct rft_dedup_fifo *q)
{
	uint32_t cap = q->cap != 0 ? q->cap * 2 : 16, i;
	struct rft_dedup_item *v;

	if (cap > RFT_DEDUP_MAX_PER_CONV)
		cap = RFT_DEDUP_MAX_PER_CONV;
	assert(cap > q->cap);
	v = malloc(cap * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (i = 0; i < q->n; i++)
		v[i] = q->v[(q->head + i) % q->cap];
	free(q->v);
	q->v = v;
	q->cap = cap;
	q->head = 0;
	return 0;
}

static bool aged_out(uint64_t ts, uint64_t clock)
{
	return clock >= ts && clock - ts >= RFT_DEDUP_WINDOW_MS;
}

void rft_dedup_purge(struct rft_dedup *d, struct rft_dedup_fifo *q,
		     uint64_t clock)
{
	while (q->n > 0 && aged_out(q->v[q->head].server_ts, clock))
		fifo_pop(d, q);
}

const struct rft_dedup_val *rft_dedup_find(struct rft_dedup *d,
					   struct rft_dedup_fifo *q,
					   struct rft_dedup_key key,
					   uint64_t clock)
{
	struct rft_dedup_slot *s;

	rft_dedup_purge(d, q, clock);
	s = lookup(d, key);
	if (s == NULL || aged_out(s->val.server_ts, clock))
		return NULL;
	return &s->val;
}

int rft_dedup_add(struct rft_dedup *d, struct rft_dedup_fifo *q,
		  struct rft_dedup_key key, const struct rft_dedup_val *v)
{
	struct rft_dedup_item *it;
	size_t i;
	int rv;

	assert(!key_empty(key));
	if (q->n == RFT_DEDUP_MAX_PER_CONV)
		fifo_pop(d, q);
	if (q->n == q->cap) {
		rv = fifo_grow(q);
		if (rv != 0)
			return rv;
	}
	if ((d->n + 1) * 4 > d->cap * 3) {
		rv = grow_table(d);
		if (rv != 0)
			return rv;
	}
	i = probe(d, key);
	if (key_empty(d->slots[i].key))
		d->n++;
	d->slots[i].key = key;
	d->slots[i].val = *v;
	it = &q->v[(q->head + q->n) % q->cap];
	it->key = key;
	it->message_id = v->message_id;
	it->server_ts = v->server_ts;
	q->n++;
	return 0;
}
