/*
 * bench_lat: latency samples (µs) of confab-bench's modes: sorting them
 * and reading a percentile, one definition for every mode.
 *
 * Ownership: the caller's array. Errors: none. Threads: any.
 */
#ifndef CONFAB_BENCH_LAT_H
#define CONFAB_BENCH_LAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

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
