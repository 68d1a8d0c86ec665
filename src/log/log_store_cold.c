#include "config.h"

/*
 * The store's cold tier: cold files in the partition folders, compaction
 * jobs and their switch (contract in log_store.h).
 *
 *   DIR/p%04u/%08u.cold      cold file number N of the partition
 *   DIR/p%04u/%08u.cold.tmp  one being written (removed on open)
 *
 * A cold file replaces the hot segments [first_segno, last_segno] of its
 * partition (manifest cold entry). Hot segment numbers keep growing past
 * the highest compacted one, and the seq index keeps the hot segment
 * number of every message: a number that is no longer a hot segment names
 * the cold file whose range holds it, and the read goes there (one block
 * decompressed, log_cold.c).
 *
 * Life of a job (the steps a crash can stop between, and where a restart
 * finds the store):
 *   1. plan (apply of the command at index I): in memory only. A crash
 *      before the next checkpoint: the manifest predates I, Raft replays
 *      the command, and plan decides the same job again.
 *   2. checkpoint: the manifest lists the job (with its recall list). From
 *      here a restart finds it in log_store_jobs() and runs it again.
 *   3. run: NAME.tmp written, fsync'd, renamed to NAME, folder fsync'd. A
 *      crash leaves a NAME.tmp or a NAME the manifest does not name: open
 *      removes both (the job is still pending and writes it again; the
 *      content is a function of the job alone, so it is the same).
 *   4. switch: in memory, the cold file serves reads, the hot segments
 *      leave the partition (their descriptors are closed).
 *   5. the next checkpoint's manifest names the cold file and neither the
 *      job nor the hot segments; then they are unlinked. A crash before the
 *      unlink leaves files the manifest does not name: open removes them.
 *
 * Rebuild on open: a cold file holds a conversation's messages by seq and
 * then its other records; the scan hands the caller each conversation's
 * records merged back into Raft order (by messageId, which grows with the
 * Raft index and the command's place in its entry), cold files in segment
 * order before the hot segments, as a scan of the hot segments would.
 */

#include "log/log_store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_err.h"
#include "log/log_store_int.h"

static int cold_erase_in(struct log_part *part, const struct log_manifest *m);

/* ------------------------------------------------------------ helpers */

struct log_coldf *log__part_find_cold(struct log_part *part, uint32_t segno)
{
	size_t lo = 0, hi = part->ncolds;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct log_coldf *c = &part->colds[mid];

		if (segno < c->m.first_segno)
			hi = mid;
		else if (segno > c->m.last_segno)
			lo = mid + 1;
		else
			return c;
	}
	return NULL;
}

/* Insert c in part->colds, keeping first_segno order. */
int log__part_add_cold(struct log_part *part, const struct log_coldf *c)
{
	size_t at;

	if (part->ncolds == part->coldcap) {
		size_t cap = part->coldcap == 0 ? 4 : part->coldcap * 2;
		struct log_coldf *p = realloc(part->colds, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		part->colds = p;
		part->coldcap = cap;
	}
	for (at = part->ncolds; at > 0; at--)
		if (part->colds[at - 1].m.first_segno < c->m.first_segno)
			break;
	memmove(&part->colds[at + 1], &part->colds[at],
		(part->ncolds - at) * sizeof(*c));
	part->colds[at] = *c;
	part->ncolds++;
	if (c->m.last_segno > part->cold_segno)
		part->cold_segno = c->m.last_segno;
	if (c->m.coldno >= part->next_coldno)
		part->next_coldno = c->m.coldno + 1;
	return 0;
}

void log__cold_part_release(struct log_part *part)
{
	free(part->colds);
	part->colds = NULL;
	part->ncolds = part->coldcap = 0;
	free(part->doomed);
	part->doomed = NULL;
	part->ndoomed = part->doomcap = 0;
	cf_buf_release(&part->erase);
	part->nerase = 0;
}

void log__cold_release(struct log_store *s)
{
	for (size_t i = 0; i < s->njobs; i++)
		log__job_free(s->jobs[i]);
	free(s->jobs);
	s->jobs = NULL;
	s->njobs = s->jobcap = 0;
}

/* ---------------------------------------------------------------- open */

/* The records of one conversation of a cold file, put back in Raft order. */
struct cold_scan {
	struct log_store *s;
	struct log_coldf *cf;
	log_scan_cb cb;
	void *arg;
	struct cf_buf recs;  /* the conversation's records, encoded */
	struct cf_buf ents;  /* struct cs_ent per record */
	struct cf_buf dec;   /* a record decoded for the callback */
};

struct cs_ent {
	uint64_t mid;
	size_t off, len, ord;
};

static int cs_ent_cmp(const void *a, const void *b)
{
	const struct cs_ent *x = a, *y = b;

	if (x->mid != y->mid)
		return x->mid < y->mid ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int cs_flush(struct cold_scan *sc)
{
	struct cs_ent *v = (struct cs_ent *)sc->ents.data;
	size_t n = sc->ents.len / sizeof(*v);
	int rv = 0;

	qsort(v, n, sizeof(*v), cs_ent_cmp);
	for (size_t i = 0; i < n && rv == 0; i++) {
		struct log_record rec;

		rv = log_record_decode(sc->recs.data + v[i].off, v[i].len, &rec,
				       NULL);
		if (rv != 0)
			break;
		if (rec.kind == LOG_REC_MESSAGE) {
			rv = log_index_add_cold(&sc->s->ix, rec.conv, rec.seq,
						sc->cf->m.last_segno);
			if (rv == CF_EBADREQ)
				rv = CF_ECORRUPT; /* seq out of order */
		}
		if (rv == 0 && sc->s->scan_loc != NULL) {
			sc->s->scan_loc->segno = sc->cf->m.last_segno;
			sc->s->scan_loc->off = 0;
		}
		if (rv == 0 && sc->cb != NULL)
			rv = sc->cb(sc->arg, &rec);
	}
	sc->recs.len = 0;
	sc->ents.len = 0;
	return rv;
}

static int cs_rec(void *arg, const struct log_record *rec)
{
	struct cold_scan *sc = arg;
	struct cs_ent e;
	int rv;

	if (sc->ents.len > 0) {
		const struct cs_ent *first = (const struct cs_ent *)sc->ents.data;
		struct log_record prev;

		rv = log_record_decode(sc->recs.data + first->off, first->len,
				       &prev, NULL);
		if (rv != 0)
			return rv;
		if (!cf_str_eq(prev.conv, rec->conv)) {
			rv = cs_flush(sc);
			if (rv != 0)
				return rv;
		}
	}
	e.mid = rec->message_id;
	e.off = sc->recs.len;
	e.ord = sc->ents.len / sizeof(e);
	rv = log_record_encode(rec, &sc->recs);
	if (rv != 0)
		return rv;
	e.len = sc->recs.len - e.off;
	return cf_buf_append(&sc->ents, &e, sizeof(e));
}

static int cold_load(struct log_store *s, struct log_part *part,
		     const struct log_manifest_cold *mc, log_scan_cb cb,
		     void *arg, bool indexed, char *errmsg)
{
	struct cold_scan sc = {s, NULL, cb, arg, CF_BUF_INIT, CF_BUF_INIT,
			       CF_BUF_INIT};
	struct log_coldf cf = {*mc, 0, 0};
	const struct log_cold_info *info;
	struct log_cold *r = NULL;
	char name[LOG_COLD_NAME];
	int rv;

	/* Its own descriptor, one file at a time, closed below. */
	log_cold_name(name, mc->coldno);
	rv = log_cold_open(&r, part->dirfd, name);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "cold file %s: %s", name,
				 cf_strerror(rv));
		return rv == -ENOENT ? CF_ECORRUPT : rv;
	}
	info = log_cold_get_info(r);
	if (info->partition != part->id || info->coldno != mc->coldno ||
	    info->file_size != mc->size || info->content_xxh3 != mc->ident) {
		cf_errmsg_printf(errmsg, "cold file %s: not the one the "
					 "manifest names",
				 name);
		rv = CF_ECORRUPT;
		goto out;
	}
	if (part->ncolds > 0 &&
	    mc->first_segno <= part->colds[part->ncolds - 1].m.last_segno) {
		cf_errmsg_printf(errmsg, "cold file %s: overlaps another",
				 name);
		rv = CF_ECORRUPT;
		goto out;
	}
	sc.cf = &cf;
	/* A state image holds what its records give (log_image.c). */
	rv = indexed ? 0 : log_cold_scan(r, cs_rec, &sc);
	if (rv == 0 && sc.ents.len > 0)
		rv = cs_flush(&sc);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "cold file %s: scan: %s", name,
				 cf_strerror(rv));
		goto out;
	}
	cf.records = info->records;
	cf.erased = info->recalled;
	rv = log__part_add_cold(part, &cf);
out:
	/* Reads open it again through s->files: no descriptor per file. */
	log_cold_close(r);
	cf_buf_release(&sc.recs);
	cf_buf_release(&sc.ents);
	cf_buf_release(&sc.dec);
	return rv;
}

int log__cold_open_part(struct log_store *s, struct log_part *part,
			const struct log_manifest *m, log_scan_cb cb,
			void *arg, bool indexed, char *errmsg)
{
	const struct log_manifest_cold **v;
	size_t n = 0;
	int rv = 0;

	for (size_t i = 0; i < m->ncolds; i++)
		n += m->colds[i].partition == part->id;
	for (size_t i = 0; i < m->njobs; i++)
		if (m->jobs[i].partition == part->id &&
		    m->jobs[i].coldno >= part->next_coldno)
			part->next_coldno = m->jobs[i].coldno + 1;
	rv = cold_erase_in(part, m);
	if (rv != 0 || n == 0)
		return rv;
	/* Segment order (cold numbers need not follow it). */
	v = calloc(n, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < m->ncolds; i++)
		if (m->colds[i].partition == part->id) {
			size_t k = n++;

			while (k > 0 && v[k - 1]->first_segno >
						m->colds[i].first_segno) {
				v[k] = v[k - 1];
				k--;
			}
			v[k] = &m->colds[i];
		}
	for (size_t i = 0; i < n && rv == 0; i++)
		rv = cold_load(s, part, v[i], cb, arg, indexed, errmsg);
	free(v);
	return rv;
}

/* ---------------------------------------------------------- checkpoint */

/* The partitions' waiting recalls into m's erase list. */
static int cold_erase_out(const struct log_store *s, struct log_manifest *m)
{
	struct cf_buf b = CF_BUF_INIT;
	uint32_t n = 0;
	int rv = 0;

	for (unsigned i = 0; i < s->nparts && rv == 0; i++) {
		const struct log_part *part = &s->parts[i];
		size_t pos = 0;

		for (uint32_t k = 0; k < part->nerase && rv == 0; k++) {
			size_t len = 1 + (uint8_t)part->erase.data[pos] + 8;

			rv = cf_buf_put_u32(&b, i);
			if (rv == 0)
				rv = cf_buf_append(&b, part->erase.data + pos,
						   len);
			pos += len;
			n++;
		}
	}
	if (rv == 0 && n > 0)
		rv = log_manifest_set_erase(m, b.data, (uint32_t)b.len, n);
	cf_buf_release(&b);
	return rv;
}

/* The manifest's waiting recalls of part into part->erase. */
static int cold_erase_in(struct log_part *part, const struct log_manifest *m)
{
	size_t pos = 0;
	int rv = 0;

	for (uint32_t k = 0; k < m->nerase && rv == 0; k++) {
		uint32_t p = cf_get_u32(m->erase + pos);
		size_t len = 1 + (size_t)m->erase[pos + 4] + 8;

		if (p == part->id) {
			rv = cf_buf_append(&part->erase, m->erase + pos + 4,
					   len);
			part->nerase++;
		}
		pos += 4 + len;
	}
	return rv;
}

static int mc_cmp(const void *a, const void *b)
{
	const struct log_manifest_cold *x = a, *y = b;

	return x->coldno < y->coldno ? -1 : x->coldno > y->coldno;
}

int log__cold_to_manifest(const struct log_store *s, struct log_manifest *m)
{
	int rv;

	for (unsigned i = 0; i < s->nparts; i++) {
		const struct log_part *part = &s->parts[i];
		size_t first = m->ncolds;

		for (size_t k = 0; k < part->ncolds; k++) {
			rv = log_manifest_add_cold(m, &part->colds[k].m);
			if (rv != 0)
				return rv;
		}
		/* The manifest lists them by cold number. */
		if (part->ncolds > 1)
			qsort(m->colds + first, m->ncolds - first, sizeof(*m->colds),
		      mc_cmp);
	}
	for (size_t i = 0; i < s->njobs; i++) {
		rv = log_manifest_add_job(m, &s->jobs[i]->j);
		if (rv != 0)
			return rv;
	}
	return cold_erase_out(s, m);
}

/* --------------------------------------------------------------- reads */

static void cold_reader_free(void *r)
{
	log_cold_close(r);
}

int log__cold_read(struct log_store *s, struct log_part *part, uint32_t segno,
		   struct cf_str conv, uint64_t seq, struct log_record *rec,
		   struct cf_buf *scratch)
{
	struct log_coldf *c = log__part_find_cold(part, segno);
	struct log_file *h;
	struct log_cold *r;
	uint64_t before;
	int rv;

	if (c == NULL)
		return CF_ECORRUPT; /* the index names a file that is gone */
	rv = log_files_get(s->files, part->id, LOG_FILE_COLD, c->m.coldno, &h);
	if (rv != 0)
		return rv == -ENOENT ? CF_ECORRUPT : rv;
	if (h->attach == NULL) {
		/*
		 * The reader (footer index, last block) lives as long as the
		 * cached descriptor: evicting the file frees it.
		 */
		rv = log_cold_open_fd(&r, h->fd);
		if (rv != 0)
			goto out;
		h->attach = r;
		h->attach_free = cold_reader_free;
	}
	r = h->attach;
	before = log_cold_get_stats(r)->block_reads;
	rv = log_cold_read_seq(r, conv, seq, rec, scratch);
	s->cold.block_reads += log_cold_get_stats(r)->block_reads - before;
out:
	log_files_put(s->files, h);
	return rv;
}

/* log_cold_scan_conv callback of log__cold_read_other: copy the match. */
struct other_find {
	uint64_t message_id;
	struct cf_buf *scratch;
	int rv;
};

static int other_find_cb(void *arg, const struct log_record *rec)
{
	struct other_find *o = arg;

	if (rec->kind == LOG_REC_MESSAGE || rec->message_id != o->message_id)
		return 0;
	o->scratch->len = 0;
	o->rv = log_record_encode(rec, o->scratch);
	return 1;
}

int log__cold_read_other(struct log_store *s, struct log_part *part,
			 uint32_t segno, struct cf_str conv,
			 uint64_t message_id, struct log_record *rec,
			 struct cf_buf *scratch)
{
	struct log_coldf *c = log__part_find_cold(part, segno);
	struct other_find o = {message_id, scratch, CF_ENOTFOUND};
	struct log_file *h;
	struct log_cold *r;
	int rv;

	if (c == NULL)
		return CF_ENOTFOUND;
	rv = log_files_get(s->files, part->id, LOG_FILE_COLD, c->m.coldno, &h);
	if (rv != 0)
		return rv == -ENOENT ? CF_ECORRUPT : rv;
	if (h->attach == NULL) {
		rv = log_cold_open_fd(&r, h->fd);
		if (rv != 0)
			goto out;
		h->attach = r;
		h->attach_free = cold_reader_free;
	}
	r = h->attach;
	rv = log_cold_scan_conv(r, conv, UINT64_MAX, true, other_find_cb, &o);
	if (rv == 1 || rv == 0)
		rv = o.rv;
	if (rv == 0)
		rv = log_record_decode(scratch->data, scratch->len, rec, NULL);
out:
	log_files_put(s->files, h);
	return rv;
}
