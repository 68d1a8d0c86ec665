/*
 * bench_lat: latency samples (µs) of confab-bench's modes: a growable
 * array of them, sorting and reading a percentile, one definition for
 * every mode.
 *
 * Ownership: the caller's array (struct bench_lat's v: free it). Errors:
 * bench_lat_push returns -1 out of memory. Threads: any.
 */
#ifndef CONFAB_BENCH_LAT_H
#define CONFAB_BENCH_LAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct bench_lat {
	uint32_t *v; /* microseconds */
	size_t n, cap;
};

/* Append us (capped at UINT32_MAX); 0, or -1 out of memory. */
static inline int bench_lat_push(struct bench_lat *l, uint64_t us)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 65536;
		uint32_t *p = (uint32_t *)realloc(l->v, cap * sizeof *p);

		if (p == NULL)
			return -1;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	return 0;
}

static inline int bench_lat_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort v[0..n) ascending. */
static inline void bench_lat_sort(uint32_t *v, size_t n)
{
	qsort(v, n, sizeof *v, bench_lat_cmp);
}

/* The value at rank ceil(q n) (q in percent) of a sorted v, in ms. */
static inline double bench_lat_pct(const uint32_t *v, size_t n, unsigned q)
{
	size_t r = (n * q + 99) / 100;

	if (n == 0)
		return 0;
	return v[(r > 0 ? r : 1) - 1] / 1000.0;
}

#endif
