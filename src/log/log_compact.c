#include "config.h"

/*
 * Compaction jobs of the store: decide (plan), write the cold file (run,
 * on any thread), switch (contract in log_store.h; the life of a job and
 * what a crash leaves at each step are described in log_store_cold.c).
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
	if (c->part_dirfd >= 0)
		close(c->part_dirfd);
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
	c->part_dirfd = -1;
	c->j = *mj;
	c->j.recalls = malloc(mj->recalls_len > 0 ? mj->recalls_len : 1);
	c->lengths = calloc(n, sizeof(*c->lengths));
	if (c->j.recalls == NULL || c->lengths == NULL)
		goto nomem;
	if (mj->recalls_len > 0)
		memcpy(c->j.recalls, mj->recalls, mj->recalls_len);
	/* Its inputs must be hot segments of the partition, all of them. */
	for (size_t i = 0; i < part->nsegs; i++) {
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
	c->part_dirfd = fcntl(part->dirfd, F_DUPFD_CLOEXEC, 0);
	if (c->part_dirfd < 0) {
		int rv = -errno;

		log__job_free(c);
		return rv;
	}
	c->res.partition = mj->partition;
	c->res.coldno = mj->coldno;
	c->res.first_segno = mj->first_segno;
	c->res.last_segno = mj->last_segno;
	c->res.index = mj->index;
	c->res.segments = n;
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
static uint32_t part_taken(const struct log_store *s, unsigned partition)
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
	taken = part_taken(s, partition);
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
	int rv;

	assert(s->ntouched == 0); /* commit or abort first */
	if (partition >= s->nparts || max_segs == 0)
		return CF_EBADREQ;
	part = &s->parts[partition];
	taken = part_taken(s, partition);
	for (size_t i = 0; i < part->ncommitted; i++) {
		const struct log_segment *seg = &part->segs[i];

		if (seg->segno <= taken)
			continue;
		if (!seg->sealed || k == max_segs)
			break;
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
		uint32_t segno, off;

		if (recalls[i].conv.len == 0 || recalls[i].conv.len > 128 ||
		    log__part_of(s, recalls[i].conv) != partition ||
		    log_index_find(&s->ix, recalls[i].conv, recalls[i].seq,
				   &segno, &off) != 0 ||
		    segno < first || segno > last)
			continue;
		rv = recall_put(&list, recalls[i].conv, recalls[i].seq);
		if (rv != 0)
			goto out;
		mj.nrecalls++;
	}
	mj.recalls = (uint8_t *)list.data;
	mj.recalls_len = (uint32_t)list.len;
	rv = log__job_new(s, &mj, out);
	if (rv == 0)
		part->next_coldno = mj.coldno + 1;
out:
	cf_buf_release(&list);
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

/* ----------------------------------------------------------------- run */

struct recall_set {
	struct log_recall *v;
	size_t n;
};

static int recall_cmp(const void *a, const void *b)
{
	const struct log_recall *x = a, *y = b;
	size_t n = x->conv.len < y->conv.len ? x->conv.len : y->conv.len;
	int c = memcmp(x->conv.p, y->conv.p, n);

	if (c != 0)
		return c;
	if (x->conv.len != y->conv.len)
		return x->conv.len < y->conv.len ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool recall_has(void *arg, struct cf_str conv, uint64_t seq)
{
	const struct recall_set *rs = arg;
	struct log_recall key = {conv, seq};

	return rs->n > 0 && bsearch(&key, rs->v, rs->n, sizeof(key),
				    recall_cmp) != NULL;
}

int log_compact_run(struct log_compact *c, char *errmsg)
{
	struct log_cold_writer *w = NULL;
	struct log_cold_info info;
	struct recall_set rs = {NULL, 0};
	char name[LOG_COLD_NAME];
	size_t pos = 0;
	int rv;

	errmsg[0] = '\0';
	c->done = false;
	log_cold_name(name, c->j.coldno);
	if (c->j.nrecalls > 0) {
		rs.v = calloc(c->j.nrecalls, sizeof(*rs.v));
		if (rs.v == NULL)
			return -ENOMEM;
		for (; rs.n < c->j.nrecalls; rs.n++) {
			uint8_t len = c->j.recalls[pos];

			rs.v[rs.n].conv.p = (const char *)c->j.recalls + pos + 1;
			rs.v[rs.n].conv.len = len;
			rs.v[rs.n].seq = cf_get_u64(c->j.recalls + pos + 1 + len);
			pos += 1 + (size_t)len + 8;
		}
		qsort(rs.v, rs.n, sizeof(*rs.v), recall_cmp);
	}
	rv = log_cold_writer_open(&w, c->part_dirfd, name, c->j.partition,
				  c->j.coldno);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "create %s: %s", name,
				 cf_strerror(rv));
		goto out;
	}
	log_cold_writer_set_recalled(w, recall_has, &rs);
	for (uint32_t k = 0; k < c->res.segments; k++) {
		uint32_t segno = c->j.first_segno + k;

		rv = log_cold_writer_add_segment(w, c->part_dirfd, segno,
						 c->lengths[k]);
		if (rv != 0) {
			char seg[LOG_SEG_NAME];

			log_segment_name(seg, segno);
			cf_errmsg_printf(errmsg, "read %s: %s", seg,
					 cf_strerror(rv));
			log_cold_writer_abort(w);
			goto out;
		}
	}
	rv = log_cold_writer_finish(w, &info);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "write %s: %s", name, cf_strerror(rv));
		goto out;
	}
	c->res.bytes_out = info.file_size;
	c->res.records = info.records;
	c->res.messages = info.messages;
	c->res.erased = info.recalled;
	c->res.ident = info.content_xxh3;
	c->done = true;
out:
	free(rs.v);
	if (rv != 0) {
		char p[LOG_SEG_NAME];

		log_segment_part_name(p, c->j.partition);
		cf_errmsg_wrapf(errmsg, "compact %s to %s", p, name);
	}
	return rv;
}

/* -------------------------------------------------------------- switch */

int log_store_compact_switch(struct log_store *s, struct log_compact *c,
			     char *errmsg)
{
	struct log_part *part = &s->parts[c->j.partition];
	struct log_coldf cf;
	size_t at, n = c->res.segments, i;
	int rv;

	assert(s->ntouched == 0);
	for (i = 0; i < s->njobs && s->jobs[i] != c; i++)
		;
	assert(i < s->njobs);
	if (!c->done) {
		cf_errmsg_printf(errmsg, "compaction: job not run");
		return CF_EBADREQ;
	}
	/* Room first: nothing may fail once the partition changes. */
	if (part->ndoomed + n > part->doomcap) {
		size_t cap = part->ndoomed + n + 8;
		uint32_t *p = realloc(part->doomed, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		part->doomed = p;
		part->doomcap = cap;
	}
	memset(&cf, 0, sizeof(cf));
	cf.m.partition = c->j.partition;
	cf.m.coldno = c->j.coldno;
	cf.m.first_segno = c->j.first_segno;
	cf.m.last_segno = c->j.last_segno;
	cf.m.size = c->res.bytes_out;
	cf.m.ident = c->res.ident;
	cf.m.index = c->j.index;
	cf.records = c->res.records;
	cf.erased = c->res.erased;
	rv = log__part_add_cold(part, &cf);
	if (rv != 0)
		return rv;
	for (at = 0; at < part->nsegs; at++)
		if (part->segs[at].segno == c->j.first_segno)
			break;
	assert(at + n <= part->ncommitted);
	for (size_t k = 0; k < n; k++) {
		assert(part->segs[at + k].segno == c->j.first_segno + k);
		log_segment_close(&part->segs[at + k]);
		part->doomed[part->ndoomed++] = c->j.first_segno + (uint32_t)k;
	}
	memmove(&part->segs[at], &part->segs[at + n],
		(part->nsegs - at - n) * sizeof(*part->segs));
	part->nsegs -= n;
	part->ncommitted -= n;
	memmove(&s->jobs[i], &s->jobs[i + 1],
		(s->njobs - i - 1) * sizeof(*s->jobs));
	s->njobs--;
	s->cold.compactions++;
	s->cold.bytes_read += c->res.bytes_in;
	s->cold.bytes_written += c->res.bytes_out;
	s->cold.records_erased += c->res.erased;
	log__job_free(c);
	return 0;
}

static int file_cmp(const void *a, const void *b)
{
	const struct log_store_file *x = a, *y = b;

	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	if (x->cold != y->cold)
		return x->cold ? -1 : 1;
	return x->segno < y->segno ? -1 : x->segno > y->segno;
}

int log_store_files(const struct log_store *s, struct log_store_file **out,
		    size_t *n)
{
	struct log_store_file *v;
	size_t total = s->njobs, k = 0;

	assert(s->ntouched == 0); /* commit or abort first */
	for (unsigned i = 0; i < s->nparts; i++)
		total += s->parts[i].nsegs + s->parts[i].ncolds;
	v = calloc(total > 0 ? total : 1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < s->nparts; i++) {
		const struct log_part *part = &s->parts[i];
		uint32_t taken = part_taken(s, i);

		for (size_t j = 0; j < part->ncolds; j++, k++) {
			const struct log_coldf *c = &part->colds[j];

			v[k].partition = i;
			v[k].segno = c->m.coldno;
			v[k].size = c->m.size;
			v[k].cold = true;
			v[k].first_segno = c->m.first_segno;
			v[k].last_segno = c->m.last_segno;
			v[k].ident = c->m.ident;
		}
		for (size_t j = 0; j < part->nsegs; j++) {
			if (part->segs[j].segno <= taken)
				continue;
			v[k].partition = i;
			v[k].segno = part->segs[j].segno;
			v[k].size = part->segs[j].size;
			v[k].sealed = part->segs[j].sealed;
			k++;
		}
	}
	for (size_t j = 0; j < s->njobs; j++, k++) {
		const struct log_manifest_job *mj = &s->jobs[j]->j;

		v[k].partition = mj->partition;
		v[k].segno = mj->coldno;
		v[k].cold = true;
		v[k].pending = true;
		v[k].first_segno = mj->first_segno;
		v[k].last_segno = mj->last_segno;
	}
	qsort(v, k, sizeof(*v), file_cmp);
	*out = v;
	*n = k;
	return 0;
}

void log_store_cold_stats(const struct log_store *s,
			  struct log_store_cold_stats *st)
{
	*st = s->cold;
	st->files = st->bytes = st->records = st->erased = 0;
	for (unsigned i = 0; i < s->nparts; i++) {
		const struct log_part *part = &s->parts[i];

		for (size_t k = 0; k < part->ncolds; k++) {
			st->files++;
			st->bytes += part->colds[k].m.size;
			st->records += part->colds[k].records;
			st->erased += part->colds[k].erased;
		}
	}
	st->jobs = s->njobs;
}
