#include "config.h"

/*
 * fuzz_http: fe_http under arbitrary bytes. Each input is parsed whole,
 * byte by byte, in 3-byte chunks and split at one point chosen from the
 * input, with default and with tiny limits (100-continue events on); every
 * chunking must report the same requests and the same error (differential
 * check), and nothing may
 * read outside the input (run with --enable-sanitize or libFuzzer).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/fe_test_feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct fe_http_limits *lim, const char *d, size_t n)
{
	struct cf_buf whole = CF_BUF_INIT, other = CF_BUF_INIT;
	size_t cut = n > 0 ? (size_t)d[0] % (n + 1) : 0;
	size_t plans[3][2] = {{1, 1}, {3, 3}, {cut, 0}};
	int i;

	if (fe_test_http_run(lim, d, n, n, 0, &whole) != 0)
		abort();
	for (i = 0; i < 3; i++) {
		other.len = 0;
		if (fe_test_http_run(lim, d, n, plans[i][0], plans[i][1],
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
	struct fe_http_limits tiny = {.max_header_bytes = 256,
				      .max_body_bytes = 64,
				      .max_url_bytes = 64,
				      .report_continue = true};

	check(NULL, (const char *)data, size);
	check(&tiny, (const char *)data, size);
	return 0;
}
