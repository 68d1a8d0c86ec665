#include "config.h"

/*
 * Compaction jobs, second half (contract in log_store.h; the life of a job
 * and what a crash leaves at each step are described in log_store_cold.c;
 * jobs are made and planned in log_compact.c): run a job, which writes its
 * cold file on any thread, and switch it in on the loop, where the cold
 * file takes the place of its input; and the store's list of files and
 * cold-tier counts, which reflect the jobs and switches.
 */

#include "log/log_store.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_vfs.h"
#include "log/log_store_int.h"

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
	struct log_recall key = {conv, seq, 0};

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
	c->res.erased = info.recalled + info.versions_erased;
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
		uint32_t taken = log__part_taken(s, i);

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

uint64_t log_store_compactions(const struct log_store *s)
{
	return s->cold.compactions;
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
