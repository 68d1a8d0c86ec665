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
#include "common/cf_vfs.h"
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
	uint64_t bytes = 0;
	bool all = true;
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
	uint32_t t = part_taken(s, partition);

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
		if (log_index_find(&s->ix, conv, seq, &segno, &off) != 0 ||
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

static int add_rec(void *arg, const struct log_record *rec)
{
	return log_cold_writer_add(arg, rec);
}

/*
 * Every record of the job's input cold file into w. The descriptor comes
 * from the store's cache and stays held (never closed under us) while this
 * reader, our own, reads it; the loop's reader of the same file, if any, is
 * not touched (handle attachments are the loop's).
 */
static int rewrite_input(struct log_compact *c, struct log_cold_writer *w,
			 char *errmsg)
{
	struct log_file *h;
	struct log_cold *r;
	char name[LOG_COLD_NAME];
	int rv;

	log_cold_name(name, c->j.input_coldno);
	rv = log_files_get(c->files, c->j.partition, LOG_FILE_COLD,
			   c->j.input_coldno, &h);
	if (rv == 0) {
		rv = log_cold_open_fd(&r, h->fd);
		if (rv == 0) {
			c->res.bytes_in = log_cold_get_info(r)->file_size;
			rv = log_cold_scan(r, add_rec, w);
			log_cold_close(r);
		}
		log_files_put(c->files, h);
	}
	if (rv != 0)
		cf_errmsg_printf(errmsg, "read %s: %s", name, cf_strerror(rv));
	return rv;
}

/* Every record of hot input segno (its first limit bytes) into w. */
static int hot_input(struct log_compact *c, struct log_cold_writer *w,
		     uint32_t segno, uint64_t limit)
{
	struct log_file *h;
	int rv;

	rv = log_files_get(c->files, c->j.partition, LOG_FILE_SEG, segno, &h);
	if (rv != 0)
		return rv;
	rv = log_cold_writer_add_segment_fd(w, h->fd, segno, limit);
	log_files_put(c->files, h);
	return rv;
}

int log_compact_run(struct log_compact *c, char *errmsg)
{
	struct log_cold_writer *w = NULL;
	struct log_cold_info info;
	struct recall_set rs = {NULL, 0};
	char name[LOG_COLD_NAME];
	size_t pos = 0;
	int dirfd = -1;
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
	/* The partition folder, for this run only: a pending job holds none. */
	dirfd = log_files_open_part(c->files, c->j.partition);
	rv = dirfd < 0 ? dirfd
		       : log_cold_writer_open(&w, dirfd, name, c->j.partition,
					      c->j.coldno);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "create %s: %s", name,
				 cf_strerror(rv));
		goto out;
	}
	log_cold_writer_set_recalled(w, recall_has, &rs);
	if (c->j.input_coldno != 0) {
		rv = rewrite_input(c, w, errmsg);
		if (rv != 0) {
			log_cold_writer_abort(w);
			goto out;
		}
	}
	for (uint32_t k = 0; k < c->res.segments; k++) {
		uint32_t segno = c->j.first_segno + k;

		rv = hot_input(c, w, segno, c->lengths[k]);
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
	c->res.max_index = info.max_index;
	c->done = true;
out:
	free(rs.v);
	if (dirfd >= 0)
		cf_vfs_close(dirfd);
	if (rv != 0) {
		char p[LOG_SEG_NAME];

		log_segment_part_name(p, c->j.partition);
		cf_errmsg_wrapf(errmsg, "compact %s to %s", p, name);
	}
	return rv;
}

/* -------------------------------------------------------------- switch */

/* Room for n more doomed files in part. */
static int doom_reserve(struct log_part *part, size_t n)
{
	if (part->ndoomed + n > part->doomcap) {
		size_t cap = part->ndoomed + n + 8;
		uint32_t *p = realloc(part->doomed, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		part->doomed = p;
		part->doomcap = cap;
	}
	return 0;
}

/* The job at s->jobs[i] is switched: forget it, count it, free it. */
static void job_done(struct log_store *s, struct log_compact *c, size_t i)
{
	memmove(&s->jobs[i], &s->jobs[i + 1],
		(s->njobs - i - 1) * sizeof(*s->jobs));
	s->njobs--;
	s->cold.compactions++;
	s->cold.bytes_read += c->res.bytes_in;
	s->cold.bytes_written += c->res.bytes_out;
	s->cold.records_erased += c->res.erased;
	log__job_free(c);
}

/* Switch a rewrite: its cold file takes the place of its input. */
static int rewrite_switch(struct log_store *s, struct log_compact *c,
			  size_t i, char *errmsg)
{
	struct log_part *part = &s->parts[c->j.partition];
	struct log_coldf *old = NULL;
	int rv;

	for (size_t k = 0; k < part->ncolds; k++)
		if (part->colds[k].m.coldno == c->j.input_coldno)
			old = &part->colds[k];
	if (old == NULL) {
		/* Its input's own job has not switched yet: try again. */
		cf_errmsg_printf(errmsg, "compaction: input not switched yet");
		return -EAGAIN;
	}
	rv = doom_reserve(part, 1);
	if (rv != 0)
		return rv;
	log_files_forget(s->files, part->id, LOG_FILE_COLD, old->m.coldno);
	part->doomed[part->ndoomed++] = LOG_DOOMED_COLD | old->m.coldno;
	old->m.coldno = c->j.coldno;
	old->m.size = c->res.bytes_out;
	old->m.ident = c->res.ident;
	old->m.index = c->j.index;
	old->records = c->res.records;
	old->erased = c->res.erased;
	if (c->j.coldno >= part->next_coldno)
		part->next_coldno = c->j.coldno + 1;
	job_done(s, c, i);
	return 0;
}

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
	if (c->j.input_coldno != 0)
		return rewrite_switch(s, c, i, errmsg);
	/* Room first: nothing may fail once the partition changes. */
	rv = doom_reserve(part, n);
	if (rv != 0)
		return rv;
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
		/* Unlinked after the next checkpoint: no descriptor may
		 * keep its bytes on disk. */
		log_files_forget(s->files, part->id, LOG_FILE_SEG,
				 c->j.first_segno + (uint32_t)k);
		part->doomed[part->ndoomed++] = c->j.first_segno + (uint32_t)k;
	}
	memmove(&part->segs[at], &part->segs[at + n],
		(part->nsegs - at - n) * sizeof(*part->segs));
	part->nsegs -= n;
	part->ncommitted -= n;
	job_done(s, c, i);
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

/* Is cold file coldno of partition the input of a pending rewrite? */
static bool rewritten(const struct log_store *s, unsigned partition,
		      uint32_t coldno)
{
	for (size_t i = 0; i < s->njobs; i++)
		if (s->jobs[i]->j.partition == partition &&
		    s->jobs[i]->j.input_coldno == coldno)
			return true;
	return false;
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

		for (size_t j = 0; j < part->ncolds; j++) {
			const struct log_coldf *c = &part->colds[j];

			if (rewritten(s, i, c->m.coldno))
				continue;
			v[k].partition = i;
			v[k].segno = c->m.coldno;
			v[k].size = c->m.size;
			v[k].cold = true;
			v[k].first_segno = c->m.first_segno;
			v[k].last_segno = c->m.last_segno;
			v[k].ident = c->m.ident;
			k++;
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
	for (size_t j = 0; j < s->njobs; j++) {
		const struct log_manifest_job *mj = &s->jobs[j]->j;

		if (rewritten(s, mj->partition, mj->coldno))
			continue;
		v[k].partition = mj->partition;
		v[k].segno = mj->coldno;
		v[k].cold = true;
		v[k].pending = true;
		v[k].first_segno = mj->first_segno;
		v[k].last_segno = mj->last_segno;
		k++;
	}
	qsort(v, k, sizeof(*v), file_cmp);
	*out = v;
	*n = k;
	return 0;
}

void log_store_cold_stats(const struct log_store *s,
			  struct log_store_cold_stats *st)
{
	struct log_files_stats fs;

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
	log_files_stats(s->files, &fs);
	st->open_readers = fs.cold;
}
