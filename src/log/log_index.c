#include "config.h"

/*
 * The seq index. Per conversation:
 *
 *   struct log_iconv { runs[], last_seq }
 *   struct log_run   { first_seq, segno, n, cap, off[cap] }
 *
 * Message first_seq + i of a run sits at byte off[i] of segment segno.
 * Runs are sorted by first_seq and never overlap, because seqs only grow
 * (log_index_add refuses anything else). Offsets are u32: the store keeps
 * segments under 4 GiB. A cold run (off NULL, cap 0) holds no offsets:
 * its messages sit in the cold file that replaced segment segno, which
 * finds them itself (log_cold.h), so cold data costs a run per
 * conversation and cold file, not 4 bytes per message.
 */

#include "log/log_index.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"

struct log_run {
	uint64_t first_seq;
	uint32_t segno;
	uint32_t n;
	uint32_t cap;
	uint32_t *off;
};

struct log_iconv {
	struct log_run *runs;
	uint32_t nruns;
	uint32_t cap;
	uint64_t last_seq;
	uint32_t klen; /* for log_index_pop's removal */
	char key[];
};

static size_t ix_map_bytes(const struct cf_map *m)
{
	return m->cap * sizeof(struct cf_map_slot);
}

void log_index_init(struct log_index *ix)
{
	cf_map_init(&ix->convs);
	ix->messages = 0;
	ix->bytes = 0;
}

static void ix_conv_free(struct log_iconv *c)
{
	for (uint32_t i = 0; i < c->nruns; i++)
		free(c->runs[i].off);
	free(c->runs);
	free(c);
}

void log_index_release(struct log_index *ix)
{
	const struct cf_map_slot *slot;
	size_t i = 0;

	while (cf_map_next(&ix->convs, &i, &slot))
		ix_conv_free(slot->val);
	cf_map_release(&ix->convs);
	log_index_init(ix);
}

/* Grow a run's offsets: double while small, then by an eighth, so the slack
 * stays a small fraction of the 4 bytes per message. */
static int ix_run_grow(struct log_index *ix, struct log_run *r)
{
	uint32_t cap = r->cap < 64 ? (r->cap == 0 ? 4 : r->cap * 2)
				   : r->cap + r->cap / 8;
	uint32_t *p = realloc(r->off, (size_t)cap * sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	ix->bytes += (uint64_t)(cap - r->cap) * sizeof(*p);
	r->off = p;
	r->cap = cap;
	return 0;
}

static int ix_conv_new_run(struct log_index *ix, struct log_iconv *c,
			   uint64_t seq, uint32_t segno, bool cold)
{
	struct log_run *r;

	if (c->nruns == c->cap) {
		uint32_t cap = c->cap == 0 ? 1 : c->cap * 2;
		r = realloc(c->runs, (size_t)cap * sizeof(*r));
		if (r == NULL)
			return -ENOMEM;
		ix->bytes += (uint64_t)(cap - c->cap) * sizeof(*r);
		c->runs = r;
		c->cap = cap;
	}
	r = &c->runs[c->nruns];
	r->first_seq = seq;
	r->segno = segno;
	r->n = 0;
	r->cap = 0;
	r->off = NULL;
	if (!cold && ix_run_grow(ix, r) != 0)
		return -ENOMEM;
	c->nruns++;
	return 0;
}

static int ix_add(struct log_index *ix, struct cf_str conv, uint64_t seq,
		  uint32_t segno, uint32_t off, bool cold,
		  struct log_iconv **out)
{
	struct log_iconv *c;
	struct log_run *r;
	bool fresh = false;
	size_t map_before;
	int rv;

	c = cf_map_get(&ix->convs, conv.p, conv.len);
	if (c == NULL) {
		c = calloc(1, sizeof(*c) + conv.len);
		if (c == NULL)
			return -ENOMEM;
		memcpy(c->key, conv.p, conv.len);
		c->klen = (uint32_t)conv.len;
		map_before = ix_map_bytes(&ix->convs);
		rv = cf_map_put(&ix->convs, conv.p, conv.len, c, NULL);
		/* The map may have grown even if the put failed. */
		ix->bytes += ix_map_bytes(&ix->convs) - map_before;
		if (rv != 0) {
			free(c);
			return rv;
		}
		/* The conversation struct, and the map's copy of the key. */
		ix->bytes += 2 * (sizeof(*c) + conv.len + 1);
		fresh = true;
	}
	if (seq == 0 || seq <= c->last_seq) {
		rv = CF_EBADREQ; /* tested: test_log_index seq_must_grow */
		goto err_drop_conv;
	}
	r = c->nruns > 0 ? &c->runs[c->nruns - 1] : NULL;
	if (r == NULL || r->segno != segno || r->first_seq + r->n != seq ||
	    (r->off == NULL) != cold) {
		rv = ix_conv_new_run(ix, c, seq, segno, cold);
		if (rv != 0)
			goto err_drop_conv;
		r = &c->runs[c->nruns - 1];
	} else if (!cold && r->n == r->cap) {
		rv = ix_run_grow(ix, r);
		if (rv != 0)
			goto err_drop_conv;
	}
	if (cold)
		r->n++;
	else
		r->off[r->n++] = off;
	c->last_seq = seq;
	ix->messages++;
	if (out != NULL)
		*out = c;
	return 0;

err_drop_conv:
	if (fresh) {
		cf_map_del(&ix->convs, conv.p, conv.len);
		ix->bytes -= 2 * (sizeof(*c) + conv.len + 1);
		ix->bytes -= (uint64_t)c->cap * sizeof(*c->runs);
		ix_conv_free(c);
	}
	assert(rv != 0);
	return rv;
}

int log_index_add(struct log_index *ix, struct cf_str conv, uint64_t seq,
		  uint32_t segno, uint32_t off, struct log_iconv **out)
{
	return ix_add(ix, conv, seq, segno, off, false, out);
}

int log_index_add_cold(struct log_index *ix, struct cf_str conv,
		       uint64_t seq, uint32_t segno)
{
	return ix_add(ix, conv, seq, segno, 0, true, NULL);
}

void log_index_pop(struct log_index *ix, struct log_iconv *c)
{
	struct log_run *r;

	assert(c->nruns > 0);
	r = &c->runs[c->nruns - 1];
	assert(r->n > 0);
	r->n--;
	ix->messages--;
	if (r->n == 0) {
		ix->bytes -= (uint64_t)r->cap * sizeof(*r->off);
		free(r->off);
		c->nruns--;
	}
	if (c->nruns > 0) {
		r = &c->runs[c->nruns - 1];
		c->last_seq = r->first_seq + r->n - 1;
		return;
	}
	/* No message left: drop the conversation. */
	cf_map_del(&ix->convs, c->key, c->klen);
	ix->bytes -= 2 * (sizeof(*c) + c->klen + 1);
	ix->bytes -= (uint64_t)c->cap * sizeof(*c->runs);
	ix_conv_free(c);
}

static const struct log_run *ix_find_run(const struct log_iconv *c,
					 uint64_t seq)
{
	uint32_t lo = 0;
	uint32_t hi = c->nruns;

	/* Last run with first_seq <= seq. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c->runs[mid].first_seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	return &c->runs[lo - 1];
}

int log_index_find(const struct log_index *ix, struct cf_str conv,
		   uint64_t seq, uint32_t *segno, uint32_t *off)
{
	const struct log_iconv *c = cf_map_get(&ix->convs, conv.p, conv.len);
	const struct log_run *r;

	if (c == NULL)
		return CF_ENOTFOUND;
	r = ix_find_run(c, seq);
	if (r == NULL || seq - r->first_seq >= r->n)
		return CF_ENOTFOUND;
	*segno = r->segno;
	*off = r->off != NULL ? r->off[seq - r->first_seq] : 0;
	return 0;
}

uint64_t log_index_last_seq(const struct log_index *ix, struct cf_str conv)
{
	const struct log_iconv *c = cf_map_get(&ix->convs, conv.p, conv.len);

	return c != NULL ? c->last_seq : 0;
}

uint64_t log_index_first_seq(const struct log_index *ix, struct cf_str conv)
{
	const struct log_iconv *c = cf_map_get(&ix->convs, conv.p, conv.len);

	return c != NULL && c->nruns > 0 ? c->runs[0].first_seq : 0;
}

size_t log_index_count(const struct log_index *ix)
{
	return ix->convs.n;
}

/*
 * The index's section of a state image (log_image.c), after the tag:
 *
 *   u32 conversations C, then C times:
 *     str id, u64 last_seq, u32 runs R, then R times:
 *       u64 first_seq, u32 segno, u32 n | (cold ? 2^31 : 0) (n >= 1),
 *       then, for a run that is not cold, n u32 offsets
 *
 * Runs in order (first_seq ascending, not overlapping, last_seq the last
 * run's end): the reader checks it, so that a damaged image is refused
 * instead of breaking the binary searches. The writer turns runs of
 * segments compaction replaced (cold_of) into cold runs, merged per cold
 * file, so that an image, and a start from it, holds no offsets for
 * them.
 */
#define IX_TAG 0x58444e49u /* "INDX" */
#define IX_COLD 0x80000000u

/* Where run k of c goes: the cold file's segno, or 0 (stays hot). */
static uint32_t ix_run_cold(const struct log_iconv *c, uint32_t k,
			    log_index_cold_fn cold_of, void *arg)
{
	const struct log_run *r = &c->runs[k];

	if (r->off == NULL)
		return r->segno;
	return cold_of != NULL
		       ? cold_of(arg, (struct cf_str){c->key, c->klen}, r->segno)
		       : 0;
}

/* Does run k continue run k - 1 in the same cold file (cold: its segno)? */
static bool ix_run_joins(const struct log_iconv *c, uint32_t k, uint32_t cold,
			 uint32_t prev_cold)
{
	const struct log_run *p = &c->runs[k - 1];

	return cold != 0 && cold == prev_cold &&
	       p->first_seq + p->n == c->runs[k].first_seq;
}

static void ix_image_conv_write(const struct log_iconv *c,
				struct cf_imgw *w, log_index_cold_fn cold_of,
				void *arg)
{
	uint32_t nruns = 0, prev = 0, k, j;

	for (k = 0; k < c->nruns; k++) {
		uint32_t cold = ix_run_cold(c, k, cold_of, arg);

		if (k == 0 || !ix_run_joins(c, k, cold, prev))
			nruns++;
		prev = cold;
	}
	cf_imgw_str(w, c->key, c->klen);
	cf_imgw_u64(w, c->last_seq);
	cf_imgw_u32(w, nruns);
	for (k = 0; k < c->nruns; k = j) {
		const struct log_run *r = &c->runs[k];
		uint32_t cold = ix_run_cold(c, k, cold_of, arg), n = r->n;

		prev = cold;
		for (j = k + 1; j < c->nruns; j++) {
			uint32_t cj = ix_run_cold(c, j, cold_of, arg);

			if (!ix_run_joins(c, j, cj, prev))
				break;
			n += c->runs[j].n;
			prev = cj;
		}
		cf_imgw_u64(w, r->first_seq);
		cf_imgw_u32(w, cold != 0 ? cold : r->segno);
		cf_imgw_u32(w, n | (cold != 0 ? IX_COLD : 0));
		if (cold == 0)
			cf_imgw_bytes(w, r->off, (size_t)r->n * 4);
	}
}

void log_index_image_write(const struct log_index *ix, struct cf_imgw *w,
			   log_index_cold_fn cold_of, void *arg)
{
	const struct cf_map_slot *slot;
	size_t i = 0;

	cf_imgw_begin(w, IX_TAG);
	cf_imgw_u32(w, (uint32_t)ix->convs.n);
	while (cf_map_next(&ix->convs, &i, &slot))
		ix_image_conv_write(slot->val, w, cold_of, arg);
	cf_imgw_end(w, IX_TAG);
}

/* One conversation of the image into ix; 0 or an error (r->err set). */
static int ix_image_conv(struct log_index *ix, struct cf_imgr *r)
{
	struct cf_str id = cf_imgr_str(r, 65535);
	uint64_t last = cf_imgr_u64(r), next = 1;
	uint32_t nruns = cf_imgr_count(r, 16);
	struct log_iconv *c;
	size_t map_before;
	int rv;

	if (r->err != 0)
		return r->err;
	if (id.len == 0 || nruns == 0 || cf_map_get(&ix->convs, id.p, id.len)) {
		cf_imgr_fail(r);
		return r->err;
	}
	c = calloc(1, sizeof(*c) + id.len);
	if (c == NULL)
		return r->err = -ENOMEM;
	memcpy(c->key, id.p, id.len);
	c->klen = (uint32_t)id.len;
	c->last_seq = last;
	c->runs = calloc(nruns, sizeof(*c->runs));
	if (c->runs == NULL) {
		free(c);
		return r->err = -ENOMEM;
	}
	c->cap = nruns;
	for (uint32_t k = 0; k < nruns && r->err == 0; k++) {
		struct log_run *run = &c->runs[k];
		const void *p;

		uint32_t n;
		bool cold;

		run->first_seq = cf_imgr_u64(r);
		run->segno = cf_imgr_u32(r);
		n = cf_imgr_u32(r);
		cold = (n & IX_COLD) != 0;
		run->n = n & ~IX_COLD;
		p = cold ? "" : cf_imgr_bytes(r, (size_t)run->n * 4);
		if (p == NULL || run->n == 0 || run->first_seq < next ||
		    run->first_seq + run->n < run->first_seq) {
			cf_imgr_fail(r);
			break;
		}
		next = run->first_seq + run->n;
		if (!cold) {
			run->off = malloc((size_t)run->n * 4);
			if (run->off == NULL) {
				r->err = -ENOMEM;
				break;
			}
			memcpy(run->off, p, (size_t)run->n * 4);
			run->cap = run->n;
		}
		c->nruns = k + 1;
		ix->bytes += (uint64_t)run->cap * 4;
		ix->messages += run->n;
	}
	if (r->err == 0 && next - 1 != last)
		cf_imgr_fail(r);
	if (r->err != 0) {
		for (uint32_t k = 0; k < c->nruns; k++) {
			ix->bytes -= (uint64_t)c->runs[k].cap * 4;
			ix->messages -= c->runs[k].n;
		}
		ix_conv_free(c);
		return r->err;
	}
	map_before = ix_map_bytes(&ix->convs);
	rv = cf_map_put(&ix->convs, id.p, id.len, c, NULL);
	ix->bytes += ix_map_bytes(&ix->convs) - map_before;
	if (rv != 0) {
		ix_conv_free(c);
		return r->err = rv;
	}
	ix->bytes += 2 * (sizeof(*c) + id.len + 1) +
		     (uint64_t)nruns * sizeof(*c->runs);
	return 0;
}

int log_index_image_read(struct log_index *ix, struct cf_imgr *r)
{
	uint32_t n;

	assert(ix->convs.n == 0);
	cf_imgr_begin(r, IX_TAG);
	n = cf_imgr_count(r, 4 + 1 + 8 + 4 + 20);
	for (uint32_t i = 0; i < n && r->err == 0; i++)
		(void)ix_image_conv(ix, r);
	cf_imgr_end(r, IX_TAG);
	if (r->err != 0) {
		log_index_release(ix);
		return r->err;
	}
	return 0;
}
