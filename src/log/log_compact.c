#include "config.h"

/*
 * Compaction jobs of the store: make them (from the manifest or a plan) and
 * decide them (plan, recalls, rewrites); running one (the cold file, on any
 * thread) and switching it in are in log_compact_run.c (contract in
 * log_store.h; the life of a job and what a crash leaves at each step are
 * described in log_store_cold.c).
 *
 * A job is a function of what the command fixed at its Raft index: the
 * partition, the input hot segments (numbers and lengths), the cold file
 * number and the recall list. Every node therefore writes a cold file of
 * the same content (same identity), whenever it runs the job, and again
 * after a restart.
 */

#include "log/log_store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_err.h"
#include "log/log_store_int.h"

void log__job_free(struct log_compact *c)
{
	if (c == NULL)
		return;
	free(c->j.recalls);
	free(c->lengths);
	free(c);
}

/* A job of the manifest, or of plan. */
int log__job_new(struct log_store *s, const struct log_manifest_job *mj,
		   struct log_compact **out)
{
	struct log_part *part = &s->parts[mj->partition];
	struct log_compact *c;
	uint32_t n = mj->last_segno - mj->first_segno + 1;
	size_t k = 0;

	if (s->njobs == s->jobcap) {
		size_t cap = s->jobcap == 0 ? 4 : s->jobcap * 2;
		struct log_compact **p = realloc(s->jobs, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		s->jobs = p;
		s->jobcap = cap;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->files = s->files;
	c->j = *mj;
	c->j.recalls = malloc(mj->recalls_len > 0 ? mj->recalls_len : 1);
	c->lengths = calloc(n, sizeof(*c->lengths));
	if (c->j.recalls == NULL || c->lengths == NULL)
		goto nomem;
	if (mj->recalls_len > 0)
		memcpy(c->j.recalls, mj->recalls, mj->recalls_len);
	if (mj->input_coldno != 0) {
		/* A rewrite: its input is a cold file decided before it. */
		const struct log_coldf *in = NULL;
		bool pending = false;

		for (size_t i = 0; i < part->ncolds; i++)
			if (part->colds[i].m.coldno == mj->input_coldno)
				in = &part->colds[i];
		for (size_t i = 0; i < s->njobs; i++)
			pending = pending ||
				  (s->jobs[i]->j.partition == mj->partition &&
				   s->jobs[i]->j.coldno == mj->input_coldno);
		if ((in == NULL && !pending) ||
		    (in != NULL && (in->m.first_segno != mj->first_segno ||
				    in->m.last_segno != mj->last_segno))) {
			log__job_free(c);
			return CF_ECORRUPT;
		}
		c->res.bytes_in = in != NULL ? in->m.size : 0;
		n = 0;
		k = 0;
	}
	/* Hot inputs must be hot segments of the partition, all of them. */
	for (size_t i = 0; n > 0 && i < part->nsegs; i++) {
		const struct log_segment *seg = &part->segs[i];

		if (seg->segno < mj->first_segno || seg->segno > mj->last_segno)
			continue;
		if (seg->segno != mj->first_segno + k || !seg->sealed)
			break;
		c->lengths[k++] = seg->size;
	}
	if (k != n) {
		log__job_free(c);
		return CF_ECORRUPT;
	}
	c->res.partition = mj->partition;
	c->res.coldno = mj->coldno;
	c->res.first_segno = mj->first_segno;
	c->res.last_segno = mj->last_segno;
	c->res.index = mj->index;
	c->res.segments = n;
	c->res.input_coldno = mj->input_coldno;
	for (k = 0; k < n; k++)
		c->res.bytes_in += c->lengths[k];
	s->jobs[s->njobs++] = c;
	*out = c;
	return 0;

nomem:
	log__job_free(c);
	return -ENOMEM;
}

int log__cold_open_jobs(struct log_store *s, const struct log_manifest *m)
{
	struct log_compact *c;

	for (size_t i = 0; i < m->njobs; i++) {
		int rv = log__job_new(s, &m->jobs[i], &c);

		if (rv != 0)
			return rv;
	}
	return 0;
}

/* ---------------------------------------------------------------- plan */

/* Highest hot segment number taken by a pending job of the partition. */
uint32_t log__part_taken(const struct log_store *s, unsigned partition)
{
	uint32_t t = 0;

	for (size_t i = 0; i < s->njobs; i++)
		if (s->jobs[i]->j.partition == partition &&
		    s->jobs[i]->j.last_segno > t)
			t = s->jobs[i]->j.last_segno;
	return t;
}

unsigned log_store_partitions(const struct log_store *s)
{
	return s->nparts;
}

unsigned log_store_part_of(const struct log_store *s, struct cf_str conv)
{
	return log__part_of(s, conv);
}

void log_store_seal(struct log_store *s, unsigned partition)
{
	struct log_part *part;

	assert(s->ntouched == 0); /* commit or abort first */
	if (partition >= s->nparts)
		return;
	part = &s->parts[partition];
	if (part->nsegs > 0 && part->segs[part->nsegs - 1].records_done > 0)
		part->segs[part->nsegs - 1].sealed = true;
}

unsigned log_store_sealed_free(const struct log_store *s, unsigned partition)
{
	const struct log_part *part;
	uint32_t taken;
	unsigned n = 0;

	if (partition >= s->nparts)
		return 0;
	part = &s->parts[partition];
	taken = log__part_taken(s, partition);
	for (size_t i = 0; i < part->ncommitted; i++)
		if (part->segs[i].sealed && part->segs[i].segno > taken)
			n++;
	return n;
}

/* Append one recall (u8 len, id, u64 seq) to out. */
static int recall_put(struct cf_buf *out, struct cf_str conv, uint64_t seq)
{
	uint8_t b[8];
	uint8_t len = (uint8_t)conv.len;
	int rv;

	cf_put_u64(b, seq);
	rv = cf_buf_append(out, &len, 1);
	if (rv == 0)
		rv = cf_buf_append(out, conv.p, conv.len);
	if (rv == 0)
		rv = cf_buf_append(out, b, sizeof(b));
	return rv;
}

int log_store_compact_plan(struct log_store *s, unsigned partition,
			   uint64_t index, unsigned max_segs,
			   const struct log_recall *recalls, size_t nrecalls,
			   struct log_compact **out)
{
	struct log_manifest_job mj;
	struct cf_buf list = CF_BUF_INIT;
	struct log_part *part;
	uint32_t taken, first = 0, last = 0, k = 0;
	uint64_t bytes = 0;
	bool all = true;
	int rv;

	assert(s->ntouched == 0); /* commit or abort first */
	if (partition >= s->nparts || max_segs == 0)
		return CF_EBADREQ;
	part = &s->parts[partition];
	taken = log__part_taken(s, partition);
	for (size_t i = 0; i < part->ncommitted; i++) {
		const struct log_segment *seg = &part->segs[i];

		if (seg->segno <= taken)
			continue;
		if (!seg->sealed || k == max_segs ||
		    (k > 0 && bytes + seg->end > s->compact_input_max)) {
			all = false;
			break;
		}
		bytes += seg->end;
		if (first == 0)
			first = seg->segno;
		last = seg->segno;
		k++;
	}
	if (first == 0)
		return CF_ENOTFOUND;
	memset(&mj, 0, sizeof(mj));
	mj.partition = partition;
	mj.coldno = part->next_coldno > 0 ? part->next_coldno : 1;
	mj.first_segno = first;
	mj.last_segno = last;
	mj.index = index;
	for (size_t i = 0; i < nrecalls; i++) {
		uint64_t seq = recalls[i].seq;
		uint32_t segno, off;

		if (recalls[i].conv.len == 0 || recalls[i].conv.len > 128 ||
		    log__part_of(s, recalls[i].conv) != partition ||
		    log_index_find(&s->ix, recalls[i].conv, recalls[i].seq,
				   &segno, &off) != 0 ||
		    segno > last)
			continue;
		if (recalls[i].latest_segno != 0) {
			/* Edited: the input may hold versions older than
			 * the latest only if the latest is past it (else
			 * the writer keeps the latest of its input). */
			if (recalls[i].latest_segno <= last)
				continue;
			seq |= LOG_RECALL_EDITED;
		} else if (segno < first) {
			continue;
		}
		rv = recall_put(&list, recalls[i].conv, seq);
		if (rv != 0)
			goto out;
		mj.nrecalls++;
	}
	mj.recalls = (uint8_t *)list.data;
	mj.recalls_len = (uint32_t)list.len;
	rv = log__job_new(s, &mj, out);
	if (rv == 0)
		part->next_coldno = mj.coldno + 1;
	if (rv == 0 && all)
		part->hot_recalls = 0; /* every hot segment is taken */
out:
	cf_buf_release(&list);
	return rv;
}

/* ---------------------------------------------------- recalls, rewrites */

/* Highest segment number compaction has taken in part (decided jobs too). */
static uint32_t part_compacted(const struct log_store *s, unsigned partition)
{
	uint32_t t = log__part_taken(s, partition);

	return s->parts[partition].cold_segno > t
		       ? s->parts[partition].cold_segno
		       : t;
}

void log__note_hot_recall(struct log_part *part, uint64_t ts)
{
	if (part->hot_recalls++ == 0)
		part->hot_recall_ts = ts;
}

unsigned log_store_hot_recalls(const struct log_store *s, unsigned partition,
			       uint64_t *since)
{
	if (partition >= s->nparts)
		return 0;
	*since = s->parts[partition].hot_recall_ts;
	return s->parts[partition].hot_recalls;
}

int log_store_note_recall(struct log_store *s, struct cf_str conv,
			  uint64_t seq, uint64_t ts)
{
	unsigned p = log__part_of(s, conv);
	struct log_part *part = &s->parts[p];
	uint32_t segno, off;
	int rv;

	assert(s->ntouched == 0);
	if (conv.len == 0 || conv.len > 128 ||
	    log_index_find(&s->ix, conv, seq, &segno, &off) != 0)
		return 0;
	if (segno > part_compacted(s, p)) {
		/* Still hot: a compaction that takes its segment drops it. */
		log__note_hot_recall(part, ts);
		return 0;
	}
	rv = recall_put(&part->erase, conv, seq);
	if (rv != 0)
		return rv;
	part->nerase++;
	return 0;
}

int log_store_note_edit(struct log_store *s, struct cf_str conv,
			uint64_t seq)
{
	unsigned p = log__part_of(s, conv);
	struct log_part *part = &s->parts[p];
	uint32_t segno, off;
	int rv;

	assert(s->ntouched == 0);
	if (conv.len == 0 || conv.len > 128 ||
	    log_index_find(&s->ix, conv, seq, &segno, &off) != 0 ||
	    segno > part_compacted(s, p))
		return 0; /* hot: the job that takes it drops it */
	rv = recall_put(&part->erase, conv, seq | LOG_RECALL_EDITED);
	if (rv != 0)
		return rv;
	part->nerase++;
	return 0;
}

unsigned log_store_erase_pending(const struct log_store *s,
				 unsigned partition)
{
	return partition < s->nparts ? s->parts[partition].nerase : 0;
}

/* Entry at pos of an erase list: conversation and seq; its size. */
static size_t erase_at(const uint8_t *p, size_t pos, struct cf_str *conv,
		       uint64_t *seq)
{
	conv->len = p[pos];
	conv->p = (const char *)p + pos + 1;
	*seq = cf_get_u64(p + pos + 1 + conv->len);
	return 1 + conv->len + 8;
}

/*
 * The cold file that holds segno now, as decided: the latest pending job
 * whose range holds it, else the switched cold file; its number and range.
 */
static bool decided_cold(const struct log_store *s, unsigned partition,
			 uint32_t segno, uint32_t *coldno, uint32_t *first,
			 uint32_t *last)
{
	const struct log_part *part = &s->parts[partition];

	for (size_t i = s->njobs; i > 0; i--) {
		const struct log_manifest_job *j = &s->jobs[i - 1]->j;

		if (j->partition == partition && j->first_segno <= segno &&
		    segno <= j->last_segno) {
			*coldno = j->coldno;
			*first = j->first_segno;
			*last = j->last_segno;
			return true;
		}
	}
	for (size_t i = 0; i < part->ncolds; i++) {
		const struct log_manifest_cold *c = &part->colds[i].m;

		if (c->first_segno <= segno && segno <= c->last_segno) {
			*coldno = c->coldno;
			*first = c->first_segno;
			*last = c->last_segno;
			return true;
		}
	}
	return false;
}

int log_store_rewrite_plan(struct log_store *s, unsigned partition,
			   uint64_t index, struct log_compact **out)
{
	struct log_part *part;
	struct log_manifest_job mj;
	struct cf_buf list = CF_BUF_INIT, keep = CF_BUF_INIT;
	uint32_t nkeep = 0;
	bool found = false;
	size_t pos = 0;
	int rv = 0;

	assert(s->ntouched == 0);
	if (partition >= s->nparts)
		return CF_EBADREQ;
	part = &s->parts[partition];
	memset(&mj, 0, sizeof(mj));
	/* Take every waiting recall the first one's cold file holds. */
	for (uint32_t k = 0; k < part->nerase && rv == 0; k++) {
		struct cf_str conv;
		uint64_t seq;
		uint32_t segno, off, coldno, first, last;
		size_t n = erase_at((uint8_t *)part->erase.data, pos, &conv,
				    &seq);

		pos += n;
		if (log_index_find(&s->ix, conv, seq & ~LOG_RECALL_EDITED,
				   &segno, &off) != 0 ||
		    !decided_cold(s, partition, segno, &coldno, &first, &last))
			continue; /* nothing holds it: drop it */
		if (!found) {
			found = true;
			mj.input_coldno = coldno;
			mj.first_segno = first;
			mj.last_segno = last;
		}
		if (coldno == mj.input_coldno) {
			rv = recall_put(&list, conv, seq);
			mj.nrecalls++;
		} else {
			rv = recall_put(&keep, conv, seq);
			nkeep++;
		}
	}
	if (rv == 0 && found) {
		mj.partition = partition;
		mj.coldno = part->next_coldno > 0 ? part->next_coldno : 1;
		mj.index = index;
		mj.recalls = (uint8_t *)list.data;
		mj.recalls_len = (uint32_t)list.len;
		rv = log__job_new(s, &mj, out);
		if (rv == 0)
			part->next_coldno = mj.coldno + 1;
	}
	if (rv == 0) {
		/* Only now, when nothing can fail: the rest keeps waiting. */
		cf_buf_release(&part->erase);
		part->erase = keep;
		part->nerase = nkeep;
		keep = (struct cf_buf)CF_BUF_INIT;
		if (!found)
			rv = CF_ENOTFOUND;
	}
	cf_buf_release(&list);
	cf_buf_release(&keep);
	return rv;
}

size_t log_store_jobs(const struct log_store *s, struct log_compact ***out)
{
	*out = s->jobs;
	return s->njobs;
}

const struct log_compact_result *log_compact_get(const struct log_compact *c)
{
	return &c->res;
}
