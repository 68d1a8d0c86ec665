#include "config.h"

/*
 * Unit tests of cf_map, above all its incremental resize (issue 11: a table
 * that doubled by rehashing every key in one go stalled the loop).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_map.h"

static int key_of(char *buf, size_t size, unsigned n)
{
	return snprintf(buf, size, "key-%u", n);
}

static void put_n(struct cf_map *m, unsigned n, void *val)
{
	char k[32];
	int len = key_of(k, sizeof(k), n);

	assert_int_equal(cf_map_put(m, k, (size_t)len, val, NULL), 0);
}

static void *get_n(const struct cf_map *m, unsigned n)
{
	char k[32];
	int len = key_of(k, sizeof(k), n);

	return cf_map_get(m, k, (size_t)len);
}

static void *del_n(struct cf_map *m, unsigned n)
{
	char k[32];
	int len = key_of(k, sizeof(k), n);

	return cf_map_del(m, k, (size_t)len);
}

/* Keys in the new table. */
static size_t new_count(const struct cf_map *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->cap; i++)
		n += m->slots[i].key != NULL;
	return n;
}

static void put_get_replace_delete(void **state)
{
	struct cf_map m;
	void *old = (void *)1;

	(void)state;
	cf_map_init(&m);
	assert_null(cf_map_get(&m, "a", 1));
	assert_null(cf_map_del(&m, "a", 1));
	assert_int_equal(cf_map_put(&m, "a", 1, (void *)10, &old), 0);
	assert_null(old);
	assert_int_equal(cf_map_put(&m, "a", 1, (void *)11, &old), 0);
	assert_ptr_equal(old, (void *)10);
	assert_ptr_equal(cf_map_get(&m, "a", 1), (void *)11);
	assert_string_equal(cf_map_key(&m, "a", 1), "a");
	assert_int_equal(m.n, 1);
	assert_ptr_equal(cf_map_del(&m, "a", 1), (void *)11);
	assert_null(cf_map_get(&m, "a", 1));
	assert_int_equal(m.n, 0);
	assert_int_equal(m.key_bytes, 0);
	cf_map_release(&m);
}

/*
 * The put that passes 3/4 starts a resize instead of rehashing: the new
 * table then holds that key and at most CF_MAP_STEP moved ones, and every
 * later put or delete moves at most CF_MAP_STEP more (issue 11).
 */
static void growth_moves_a_bounded_number_of_slots_per_call(void **state)
{
	struct cf_map m;
	unsigned i, resizes = 0;

	(void)state;
	cf_map_init(&m);
	for (i = 0; i < 200000; i++) {
		size_t before_new = new_count(&m), done = m.old_done;
		int was = cf_map_resizing(&m);
		size_t old_cap = m.old_cap;

		put_n(&m, i, (void *)(uintptr_t)(i + 1));
		if (cf_map_resizing(&m) && !was) {
			resizes++;
			/* The growing put: the new key plus one step. */
			assert_true(new_count(&m) <= 1 + CF_MAP_STEP);
			assert_true(m.old_done <= CF_MAP_STEP);
			assert_int_equal(m.n, i + 1);
		} else if (was) {
			/* A step: old_done advances by at most a step. */
			if (cf_map_resizing(&m) && m.old_cap == old_cap)
				assert_true(m.old_done - done <= CF_MAP_STEP);
			assert_true(new_count(&m) <=
				    before_new + 1 + CF_MAP_STEP);
		}
	}
	assert_true(resizes >= 10);
	for (i = 0; i < 200000; i += 7)
		assert_ptr_equal(get_n(&m, i), (void *)(uintptr_t)(i + 1));
	cf_map_release(&m);
}

/*
 * Puts, deletes, replaces and lookups at random against a plain array, with
 * full iterations in between (many of them while a resize is under way):
 * every key is found, every deleted key is gone, and an iteration visits
 * each present key exactly once.
 */
static void random_ops_match_a_model_across_resizes(void **state)
{
	enum { KEYS = 30000, OPS = 400000 };
	uintptr_t *model = calloc(KEYS, sizeof(*model));
	unsigned char *seen = calloc(KEYS, 1);
	struct cf_map m;
	size_t present = 0, it_resizing = 0, del_in_old = 0;
	unsigned op, k;

	(void)state;
	assert_non_null(model);
	assert_non_null(seen);
	cf_map_init(&m);
	srand(11);
	for (op = 0; op < OPS; op++) {
		unsigned r = (unsigned)rand();
		/* Grow more than shrink at first, then churn. */
		unsigned put_share = op < OPS / 2 ? 70 : 50;

		k = (unsigned)rand() % KEYS;
		if (r % 100 < put_share) {
			uintptr_t v = (uintptr_t)op + 1;

			put_n(&m, k, (void *)v);
			present += model[k] == 0;
			model[k] = v;
		} else {
			if (cf_map_resizing(&m))
				del_in_old++;
			assert_ptr_equal(del_n(&m, k), (void *)model[k]);
			present -= model[k] != 0;
			model[k] = 0;
		}
		assert_int_equal(m.n, present);
		k = (unsigned)rand() % KEYS;
		assert_ptr_equal(get_n(&m, k), (void *)model[k]);
		if (op % 5003 == 0 || (cf_map_resizing(&m) && op % 97 == 0)) {
			const struct cf_map_slot *s;
			size_t i = 0, visited = 0;

			it_resizing += cf_map_resizing(&m);
			memset(seen, 0, KEYS);
			while (cf_map_next(&m, &i, &s)) {
				unsigned n = (unsigned)atoi(s->key + 4);

				assert_true(n < KEYS);
				assert_int_equal(seen[n], 0);
				seen[n] = 1;
				assert_ptr_equal(s->val, (void *)model[n]);
				visited++;
			}
			assert_int_equal(visited, present);
		}
	}
	for (k = 0; k < KEYS; k++)
		assert_ptr_equal(get_n(&m, k), (void *)model[k]);
	/* The run did iterate and delete during resizes. */
	assert_true(it_resizing > 0);
	assert_true(del_in_old > 0);
	cf_map_release(&m);
	free(model);
	free(seen);
}

/* True if key n sits in the old table. */
static int in_old(const struct cf_map *m, unsigned n)
{
	char k[32];
	int len = key_of(k, sizeof(k), n);
	const char *stored = cf_map_key(m, k, (size_t)len);
	size_t i;

	for (i = 0; stored != NULL && i < m->old_cap; i++)
		if (m->old[i].key == stored)
			return 1;
	return 0;
}

/*
 * Deleting keys that still sit in the old table, from anywhere in their
 * probe runs, keeps every other key reachable in both tables; the walk goes
 * on with deletes alone and frees the old table.
 */
static void deletes_in_the_old_table_keep_runs_reachable(void **state)
{
	enum { MAX = 8192 };
	unsigned char *live = calloc(MAX, 1);
	struct cf_map m;
	unsigned i, n = 0, from_old = 0, left;

	(void)state;
	assert_non_null(live);
	cf_map_init(&m);
	/* Fill until the resize of a 4096-slot table starts. */
	while (!(cf_map_resizing(&m) && m.old_cap == 4096)) {
		live[n] = 1;
		put_n(&m, n, (void *)(uintptr_t)(n + 1));
		n++;
	}
	assert_true(n < MAX);
	left = n;
	srand(5);
	while (cf_map_resizing(&m)) {
		unsigned k = (unsigned)rand() % n;

		if (!live[k])
			continue;
		from_old += in_old(&m, k);
		assert_ptr_equal(del_n(&m, k), (void *)(uintptr_t)(k + 1));
		live[k] = 0;
		left--;
		for (i = 0; i < n; i++)
			assert_ptr_equal(get_n(&m, i),
					 live[i] ? (void *)(uintptr_t)(i + 1)
						 : NULL);
	}
	assert_int_equal(m.n, left);
	assert_true(from_old > 100);
	assert_int_equal(m.old_cap, 0);
	assert_null(m.old);
	cf_map_release(&m);
	free(live);
}

static void bytes_count_both_tables_and_keys(void **state)
{
	struct cf_map m;
	unsigned n = 0;

	(void)state;
	cf_map_init(&m);
	assert_int_equal(cf_map_bytes(&m), 0);
	put_n(&m, n++, (void *)1); /* "key-0" */
	assert_int_equal(cf_map_bytes(&m), 16 * sizeof(struct cf_map_slot) + 6);
	while (!cf_map_resizing(&m))
		put_n(&m, n++, (void *)1);
	assert_int_equal(cf_map_bytes(&m),
			 (16 + 32) * sizeof(struct cf_map_slot) + m.key_bytes);
	while (cf_map_resizing(&m))
		put_n(&m, n++, (void *)1);
	assert_int_equal(cf_map_bytes(&m),
			 32 * sizeof(struct cf_map_slot) + m.key_bytes);
	cf_map_release(&m);
	assert_int_equal(cf_map_bytes(&m), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_get_replace_delete),
		cmocka_unit_test(growth_moves_a_bounded_number_of_slots_per_call),
		cmocka_unit_test(random_ops_match_a_model_across_resizes),
		cmocka_unit_test(deletes_in_the_old_table_keep_runs_reachable),
		cmocka_unit_test(bytes_count_both_tables_and_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
