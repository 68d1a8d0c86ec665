#include "config.h"

/*
 * log_cold_edits: which versions of edited messages a cold file keeps
 * (issue 13; the rule is at the top of log_cold_write.c): the latest edit
 * of each edited seq among a conversation's records.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "log/log_cold_int.h"
#include "log/log_record.h"

int log__cold_edit_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct log__cold_edit *)a)->seq;
	uint64_t y = ((const struct log__cold_edit *)b)->seq;

	return x < y ? -1 : x > y;
}

int log__cold_edits(const struct cw_ent *ents, size_t n,
		    struct log__cold_edit **out, size_t *nout)
{
	struct log__cold_edit *v;
	size_t k = 0, i;

	*out = NULL;
	*nout = 0;
	for (i = 0; i < n; i++)
		k += ents[i].kind == LOG_REC_EDIT;
	if (k == 0)
		return 0;
	v = malloc(k * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	k = 0;
	for (i = 0; i < n; i++)
		if (ents[i].kind == LOG_REC_EDIT) {
			v[k].seq = ents[i].seq;
			v[k++].mid = ents[i].mid;
		}
	qsort(v, k, sizeof(*v), log__cold_edit_cmp);
	for (i = 0; i < k; i++) {
		if (*nout > 0 && v[*nout - 1].seq == v[i].seq) {
			if (v[i].mid > v[*nout - 1].mid)
				v[*nout - 1].mid = v[i].mid;
			continue;
		}
		v[(*nout)++] = v[i];
	}
	*out = v;
	return 0;
}
