/*
 * cf_map: a hash map from byte-string keys to pointers (open addressing,
 * linear probing with backward-shift deletion, XXH3 hashing).
 *
 * Growth is incremental, as Redis rehashes (issue 11): when a put finds the
 * table 3/4 full it allocates one twice as large and keeps the full one as
 * the "old" table; from then on every put and every delete moves at most
 * CF_MAP_STEP slots of the old table into the new one, and lookups check
 * both. No single call touches more than CF_MAP_STEP old slots plus its own
 * probes, so a map of millions of keys never stops to rehash them all. The
 * old table is drained long before the new one can fill (a put moves 16
 * slots; the new table fills after 3/8 of its size in puts), and is freed
 * when empty. cf_map_get, cf_map_key and cf_map_next never move anything,
 * so a map that stops changing mid-resize keeps both tables (memory only)
 * until its next put or delete.
 *
 * Draining: the old table is walked from the slot after one empty slot
 * (old_start), so no probe run crosses the walk's start; a slot the walk
 * passed is empty, and a lookup in the old table whose home the walk passed
 * starts probing where the walk stands. Deletes in the old table shift back
 * only within the part the walk has not reached. So both tables keep the
 * linear-probing invariant for the keys they hold.
 *
 * Iteration: for (i = 0; cf_map_next(m, &i, &slot);) visits the old
 * table's slots, then the new table's, and so sees every key once, provided
 * nothing is put or deleted between the calls (a put or delete may move
 * keys: a resize step, a backward shift, so a key could be skipped or seen
 * twice). Callers that need to delete while iterating collect the keys
 * first (the stored key pointers stay valid until their own delete) and
 * delete after the loop.
 *
 * Ownership: the map copies each key into its own allocation and frees it on
 * delete or release; values are the caller's (cf_map_release does not touch
 * them: iterate first if they need freeing). Errors: cf_map_put returns 0,
 * -EINVAL (key over 4 GiB) or -ENOMEM. Threads: one thread at a time.
 */
#ifndef CF_MAP_H
#define CF_MAP_H

#include <stddef.h>
#include <stdint.h>

/* Old slots a put or delete moves during a resize. */
#define CF_MAP_STEP 16

struct cf_map_slot {
	char *key;	/* NULL for an empty slot; NUL-terminated copy */
	uint32_t klen;
	uint32_t hash;
	void *val;
};

struct cf_map {
	struct cf_map_slot *slots; /* the table that takes new keys */
	size_t cap;		   /* power of two, or 0 */
	size_t n;		   /* keys in both tables */
	/* During a resize: the table being drained into slots. */
	struct cf_map_slot *old;
	size_t old_cap;	  /* 0 when there is no old table */
	size_t old_start; /* the slot after an empty one: the walk starts here */
	size_t old_done;  /* slots walked from old_start (now empty) */
	size_t key_bytes; /* bytes of the key copies (klen + 1 each) */
};

void cf_map_init(struct cf_map *m);
void cf_map_release(struct cf_map *m);
/* The value under key, or NULL. */
void *cf_map_get(const struct cf_map *m, const void *key, size_t klen);
/* Insert or replace. If old is not NULL it receives the replaced value. */
int cf_map_put(struct cf_map *m, const void *key, size_t klen, void *val,
	       void **old);
/* Remove key; returns its value or NULL. */
void *cf_map_del(struct cf_map *m, const void *key, size_t klen);
/* The stored copy of key (stable until deleted), or NULL. */
const char *cf_map_key(const struct cf_map *m, const void *key, size_t klen);

/* Iteration (see above): no put or delete between the calls. */
int cf_map_next(const struct cf_map *m, size_t *i,
		const struct cf_map_slot **slot);

/* Heap bytes held: both tables' slots and the key copies. */
size_t cf_map_bytes(const struct cf_map *m);
/* True while an old table is being drained (for tests and metrics). */
static inline int cf_map_resizing(const struct cf_map *m)
{
	return m->old != NULL;
}

#endif
