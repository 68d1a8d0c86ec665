/*
 * cf_map: a hash map from byte-string keys to pointers (open addressing,
 * linear probing with backward-shift deletion, XXH3 hashing).
 *
 * Ownership: the map copies each key into its own allocation and frees it on
 * delete or release; values are the caller's (cf_map_release does not touch
 * them: iterate first if they need freeing). Errors: cf_map_put returns 0 or
 * -ENOMEM. Threads: one thread at a time.
 */
#ifndef CF_MAP_H
#define CF_MAP_H

#include <stddef.h>
#include <stdint.h>

struct cf_map_slot {
	char *key;	/* NULL for an empty slot; NUL-terminated copy */
	uint32_t klen;
	uint32_t hash;
	void *val;
};

struct cf_map {
	struct cf_map_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
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

/* Iteration: for (i = 0; cf_map_next(m, &i, &slot);) — no changes meanwhile. */
int cf_map_next(const struct cf_map *m, size_t *i,
		const struct cf_map_slot **slot);

#endif
