#include "config.h"

/*
 * fuzz_ws: the fe_ws receive state machine under arbitrary bytes. Each input
 * is parsed whole, byte by byte, in 3-byte chunks and split at one point
 * chosen from the input, with the default and a 64-byte message limit; all
 * chunkings must report the same events and the same close code. Every text
 * event is checked to be valid UTF-8 (in fe_test_feed.h).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/fe_test_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(size_t max, const uint8_t *d, size_t n)
{
	struct cf_buf whole = CF_BUF_INIT, other = CF_BUF_INIT;
	size_t cut = n > 0 ? (size_t)d[n - 1] % (n + 1) : 0;
	size_t plans[3][2] = {{1, 1}, {3, 3}, {cut, 0}};
	int i;

	if (fe_test_ws_run(max, d, n, n, 0, &whole) != 0)
		abort();
	for (i = 0; i < 3; i++) {
		other.len = 0;
		if (fe_test_ws_run(max, d, n, plans[i][0], plans[i][1],
				   &other) != 0)
			abort();
		if (other.len != whole.len ||
		    memcmp(other.data, whole.data, whole.len) != 0)
			abort();
	}
	cf_buf_release(&whole);
	cf_buf_release(&other);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(0, data, size);
	check(64, data, size);
	return 0;
}
