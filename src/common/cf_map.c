#include "config.h"

/*
 * cf_map: see cf_map.h for the contract and the incremental resize. The
 * arithmetic of the old table's walk: with mask = old_cap - 1, slot i lies
 * at walk position (i - old_start) & mask; positions below old_done are
 * walked (empty) and position old_cap - 1 is the empty slot the walk starts
 * after, so the walk is over once old_done reaches old_cap - 1.
 */

#include "common/cf_map.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void cf_map_init(struct cf_map *m)
{
	memset(m, 0, sizeof(*m));
}

void cf_map_release(struct cf_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	for (size_t i = 0; i < m->old_cap; i++)
		free(m->old[i].key);
	free(m->slots);
	free(m->old);
	cf_map_init(m);
}

static uint32_t map_hash(const void *key, size_t klen)
{
	return (uint32_t)XXH3_64bits(key, klen);
}

static bool slot_is(const struct cf_map_slot *s, const void *key, size_t klen,
		    uint32_t h)
{
	return s->hash == h && s->klen == klen &&
	       memcmp(s->key, key, klen) == 0;
}

/* In slots[0..cap): from i on, the slot of key or the empty one ending its run. */
static size_t tab_probe(const struct cf_map_slot *slots, size_t cap, size_t i,
			const void *key, size_t klen, uint32_t h)
{
	size_t mask = cap - 1;

	for (;;) {
		const struct cf_map_slot *s = &slots[i];

		if (s->key == NULL || slot_is(s, key, klen, h))
			return i;
		i = (i + 1) & mask;
	}
}

/* Where a probe of the old table for hash h starts (see the file comment). */
static size_t old_from(const struct cf_map *m, uint32_t h)
{
	size_t mask = m->old_cap - 1, home = h & mask;

	if (((home - m->old_start) & mask) < m->old_done)
		return (m->old_start + m->old_done) & mask;
	return home;
}

/* The slot holding key (in either table), or NULL; *in_old says which. */
static struct cf_map_slot *map_lookup(const struct cf_map *m, const void *key,
				      size_t klen, uint32_t h, bool *in_old)
{
	size_t i;

	*in_old = false;
	if (m->cap != 0) {
		i = tab_probe(m->slots, m->cap, h & (m->cap - 1), key, klen, h);
		if (m->slots[i].key != NULL)
			return &m->slots[i];
	}
	if (m->old != NULL) {
		i = tab_probe(m->old, m->old_cap, old_from(m, h), key, klen, h);
		if (m->old[i].key != NULL) {
			*in_old = true;
			return &m->old[i];
		}
	}
	return NULL;
}

/* Put a slot whose key is in neither table into the new one. */
static void tab_insert(struct cf_map *m, const struct cf_map_slot *s)
{
	size_t mask = m->cap - 1, i = s->hash & mask;

	while (m->slots[i].key != NULL)
		i = (i + 1) & mask;
	m->slots[i] = *s;
}

/* Move up to max slots of the old table; free it once walked. */
static void map_step(struct cf_map *m, size_t max)
{
	size_t mask;

	if (m->old == NULL)
		return;
	mask = m->old_cap - 1;
	while (max-- > 0 && m->old_done < m->old_cap - 1) {
		struct cf_map_slot *s =
			&m->old[(m->old_start + m->old_done) & mask];

		if (s->key != NULL) {
			tab_insert(m, s);
			s->key = NULL;
		}
		m->old_done++;
	}
	if (m->old_done == m->old_cap - 1) {
		free(m->old);
		m->old = NULL;
		m->old_cap = 0;
		m->old_start = 0;
		m->old_done = 0;
	}
}

static int map_grow(struct cf_map *m)
{
	size_t cap = m->cap != 0 ? m->cap * 2 : 16, e;
	struct cf_map_slot *slots;

	/* Cannot happen (see cf_map.h); if it did, finish the old walk. */
	if (m->old != NULL)
		map_step(m, m->old_cap);
	slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	if (m->cap != 0) {
		for (e = 0; m->slots[e].key != NULL; e++)
			; /* at most 3/4 full: an empty slot exists */
		m->old = m->slots;
		m->old_cap = m->cap;
		m->old_start = (e + 1) & (m->cap - 1);
		m->old_done = 0;
	}
	m->slots = slots;
	m->cap = cap;
	return 0;
}

void *cf_map_get(const struct cf_map *m, const void *key, size_t klen)
{
	struct cf_map_slot *s;
	bool in_old;

	if (m->n == 0)
		return NULL;
	s = map_lookup(m, key, klen, map_hash(key, klen), &in_old);
	return s != NULL ? s->val : NULL;
}

const char *cf_map_key(const struct cf_map *m, const void *key, size_t klen)
{
	struct cf_map_slot *s;
	bool in_old;

	if (m->n == 0)
		return NULL;
	s = map_lookup(m, key, klen, map_hash(key, klen), &in_old);
	return s != NULL ? s->key : NULL;
}

int cf_map_put(struct cf_map *m, const void *key, size_t klen, void *val,
	       void **old)
{
	uint32_t h = map_hash(key, klen);
	struct cf_map_slot s, *found;
	bool in_old;
	int rv;

	if (old != NULL)
		*old = NULL;
	if (klen > UINT32_MAX)
		return -EINVAL;
	map_step(m, CF_MAP_STEP);
	found = map_lookup(m, key, klen, h, &in_old);
	if (found != NULL) {
		if (old != NULL)
			*old = found->val;
		found->val = val;
		return 0;
	}
	if ((m->n + 1) * 4 > m->cap * 3) {
		rv = map_grow(m);
		if (rv != 0)
			return rv;
	}
	s.key = malloc(klen + 1);
	if (s.key == NULL)
		return -ENOMEM;
	memcpy(s.key, key, klen);
	s.key[klen] = '\0';
	s.klen = (uint32_t)klen;
	s.hash = h;
	s.val = val;
	tab_insert(m, &s);
	m->n++;
	m->key_bytes += klen + 1;
	return 0;
}

/*
 * Empty slot i of slots[0..cap) and backward-shift the run that follows so
 * that lookups never stop early. In the old table the run never reaches
 * the walked part: it ends at the latest at the empty slot the walk started
 * after.
 */
static void tab_remove(struct cf_map_slot *slots, size_t cap, size_t i)
{
	size_t mask = cap - 1, j = i;

	slots[i].key = NULL;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (slots[j].key == NULL)
			break;
		home = slots[j].hash & mask;
		/* Move j into the hole at i unless its home lies in (i, j]. */
		if ((i <= j) ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		slots[i] = slots[j];
		slots[j].key = NULL;
		i = j;
	}
}

void *cf_map_del(struct cf_map *m, const void *key, size_t klen)
{
	struct cf_map_slot *s;
	bool in_old;
	void *val;

	if (m->n == 0)
		return NULL;
	map_step(m, CF_MAP_STEP);
	s = map_lookup(m, key, klen, map_hash(key, klen), &in_old);
	if (s == NULL)
		return NULL;
	val = s->val;
	free(s->key);
	m->key_bytes -= (size_t)s->klen + 1;
	m->n--;
	if (in_old)
		tab_remove(m->old, m->old_cap, (size_t)(s - m->old));
	else
		tab_remove(m->slots, m->cap, (size_t)(s - m->slots));
	return val;
}

int cf_map_next(const struct cf_map *m, size_t *i,
		const struct cf_map_slot **slot)
{
	while (*i < m->old_cap + m->cap) {
		const struct cf_map_slot *s = *i < m->old_cap
						      ? &m->old[*i]
						      : &m->slots[*i - m->old_cap];

		(*i)++;
		if (s->key != NULL) {
			*slot = s;
			return 1;
		}
	}
	return 0;
}

size_t cf_map_bytes(const struct cf_map *m)
{
	return (m->cap + m->old_cap) * sizeof(struct cf_map_slot) +
	       m->key_bytes;
}
