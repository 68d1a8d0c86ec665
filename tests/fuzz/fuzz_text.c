#include "config.h"

/*
 * fuzz_text: what the node derives from a message's text (issue 13's
 * parsers, issue 14's fuzzing): the @mention grammar (fe_mention.c) and the
 * search normalisation of texts and queries (sync_search_norm.c, on top of
 * libunistring), under arbitrary bytes (invalid UTF-8 included).
 * Checked: the mention list is sorted bytewise without repeats, at most
 * its bound, every id a span of the text that the member predicate
 * accepted; the normalisers never fail but for memory, and a query
 * without a term is CF_EBADREQ.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "frontend/fe_mention.h"
#include "sync/sync_search_norm.h"

#define MAX_IDS 50

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Members: ids of 1 to 8 bytes that do not start with 'z'. */
static bool member(void *arg, struct cf_str id)
{
	(void)arg;
	return id.len >= 1 && id.len <= 8 && id.p[0] != 'z';
}

static void check_mentions(const uint8_t *data, size_t size)
{
	struct cf_str text = {(const char *)data, size}, out[MAX_IDS];
	unsigned n = fe_mention_list(text, NULL, 0, member, NULL, out,
				     MAX_IDS);

	if (n > MAX_IDS)
		abort();
	for (unsigned i = 0; i < n; i++) {
		if (!member(NULL, out[i]) ||
		    (const uint8_t *)out[i].p < data ||
		    (const uint8_t *)out[i].p + out[i].len > data + size)
			abort();
		if (i > 0) {
			size_t m = out[i - 1].len < out[i].len ? out[i - 1].len
							       : out[i].len;
			int c = memcmp(out[i - 1].p, out[i].p, m);

			if (c > 0 || (c == 0 && out[i - 1].len >= out[i].len))
				abort(); /* not sorted, or a repeat */
		}
	}
}

static void check_norm(const uint8_t *data, size_t size)
{
	struct cf_buf out = CF_BUF_INIT;
	unsigned terms = 0;
	int rv;

	rv = sync_search_norm_text((const char *)data, size, &out);
	if (rv != 0 && rv != -ENOMEM)
		abort();
	out.len = 0;
	rv = sync_search_norm_query((const char *)data, size, &out, &terms);
	if (rv != 0 && rv != CF_EBADREQ && rv != -ENOMEM)
		abort();
	if (rv == 0 && (terms == 0 || terms > SYNC_SEARCH_TERMS_MAX))
		abort();
	cf_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_mentions(data, size);
	check_norm(data, size);
	return 0;
}
