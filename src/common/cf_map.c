#include "config.h"

#include "common/cf_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void cf_map_init(struct cf_map *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->n = 0;
}

void cf_map_release(struct cf_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	cf_map_init(m);
}

static uint32_t map_hash(const void *key, size_t klen)
{
	return (uint32_t)XXH3_64bits(key, klen);
}

static size_t map_find(const struct cf_map *m, const void *key, size_t klen,
		       uint32_t h)
{
	size_t mask = m->cap - 1;
	size_t i = h & mask;

	for (;;) {
		const struct cf_map_slot *s = &m->slots[i];
		if (s->key == NULL)
			return i;
		if (s->hash == h && s->klen == klen &&
		    memcmp(s->key, key, klen) == 0)
			return i;
		i = (i + 1) & mask;
	}
}

static int map_grow(struct cf_map *m)
{
	size_t cap = m->cap != 0 ? m->cap * 2 : 16;
	struct cf_map_slot *slots = calloc(cap, sizeof *slots);
	struct cf_map old = *m;

	if (slots == NULL)
		return -ENOMEM;
	m->slots = slots;
	m->cap = cap;
	for (size_t i = 0; i < old.cap; i++) {
		struct cf_map_slot *s = &old.slots[i];
		if (s->key != NULL)
			m->slots[map_find(m, s->key, s->klen, s->hash)] = *s;
	}
	free(old.slots);
	return 0;
}

void *cf_map_get(const struct cf_map *m, const void *key, size_t klen)
{
	size_t i;

	if (m->n == 0)
		return NULL;
	i = map_find(m, key, klen, map_hash(key, klen));
	return m->slots[i].key != NULL ? m->slots[i].val : NULL;
}

const char *cf_map_key(const struct cf_map *m, const void *key, size_t klen)
{
	size_t i;

	if (m->n == 0)
		return NULL;
	i = map_find(m, key, klen, map_hash(key, klen));
	return m->slots[i].key;
}

int cf_map_put(struct cf_map *m, const void *key, size_t klen, void *val,
	       void **old)
{
	uint32_t h = map_hash(key, klen);
	struct cf_map_slot *s;
	size_t i;
	int rv;

	if (old != NULL)
		*old = NULL;
	if (klen > UINT32_MAX)
		return -EINVAL;
	if ((m->n + 1) * 4 > m->cap * 3) {
		rv = map_grow(m);
		if (rv != 0)
			return rv;
	}
	i = map_find(m, key, klen, h);
	s = &m->slots[i];
	if (s->key != NULL) {
		if (old != NULL)
			*old = s->val;
		s->val = val;
		return 0;
	}
	s->key = malloc(klen + 1);
	if (s->key == NULL)
		return -ENOMEM;
	memcpy(s->key, key, klen);
	s->key[klen] = '\0';
	s->klen = (uint32_t)klen;
	s->hash = h;
	s->val = val;
	m->n++;
	return 0;
}

void *cf_map_del(struct cf_map *m, const void *key, size_t klen)
{
	size_t mask;
	size_t i;
	size_t j;
	void *val;

	if (m->n == 0)
		return NULL;
	mask = m->cap - 1;
	i = map_find(m, key, klen, map_hash(key, klen));
	if (m->slots[i].key == NULL)
		return NULL;
	val = m->slots[i].val;
	free(m->slots[i].key);
	m->slots[i].key = NULL;
	m->n--;
	/* Backward-shift the cluster that follows so lookups never stop early. */
	j = i;
	for (;;) {
		size_t home;
		j = (j + 1) & mask;
		if (m->slots[j].key == NULL)
			break;
		home = m->slots[j].hash & mask;
		/* Move j into the hole at i unless its home lies in (i, j]. */
		if ((i <= j) ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		m->slots[i] = m->slots[j];
		m->slots[j].key = NULL;
		i = j;
	}
	return val;
}

int cf_map_next(const struct cf_map *m, size_t *i,
		const struct cf_map_slot **slot)
{
	while (*i < m->cap) {
		const struct cf_map_slot *s = &m->slots[(*i)++];
		if (s->key != NULL) {
			*slot = s;
			return 1;
		}
	}
	return 0;
}
