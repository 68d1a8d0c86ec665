#include "config.h"

/*
 * Opening the segment store (log_store.h): check the manifest, cut what
 * lies past it, and rebuild the seq index and the caller's state from the
 * records (scan), or from a state image (log_image.c) and the records after
 * it. The folder layout and the write protocol are described in
 * log_store.c.
 */

#include "log/log_store.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_time.h"
#include "common/cf_vfs.h"
#include "log/log_image.h"
#include "log/log_index.h"
#include "log/log_manifest.h"
#include "log/log_segment.h"
#include "log/log_store_int.h"

struct store_scan {
	struct log_store *s;
	struct log_part *part;
	struct log_segment *seg;
	log_scan_cb cb;
	void *arg;
	char *errmsg;
};

static int store_scan_rec(void *arg, uint64_t off, const struct log_record *rec)
{
	struct store_scan *sc = arg;
	int rv;

	if (rec->kind == LOG_REC_MESSAGE) {
		rv = log_index_add(&sc->s->ix, rec->conv, rec->seq,
				   sc->seg->segno, (uint32_t)off, NULL);
		if (rv == CF_EBADREQ) {
			cf_errmsg_printf(sc->errmsg,
					 "offset %llu: seq %llu out of order",
					 (unsigned long long)off,
					 (unsigned long long)rec->seq);
			return CF_ECORRUPT;
		}
		if (rv != 0)
			return rv;
	}
	if (rec->kind == LOG_REC_RECALL) {
		uint32_t segno, o;

		/* Its message may wait in a hot segment for compaction. */
		if (log_index_find(&sc->s->ix, rec->conv, rec->seq, &segno,
				   &o) == 0 &&
		    segno > sc->part->cold_segno)
			log__note_hot_recall(sc->part, rec->ts);
	}
	if (sc->seg->records == 0)
		sc->seg->first_ts = rec->ts;
	sc->seg->records++;
	if (sc->s->scan_loc != NULL) {
		sc->s->scan_loc->segno = sc->seg->segno;
		sc->s->scan_loc->off = (uint32_t)off;
	}
	if (sc->cb != NULL) {
		rv = sc->cb(sc->arg, rec);
		if (rv != 0) {
			cf_errmsg_printf(sc->errmsg, "offset %llu: scan: %s",
					 (unsigned long long)off,
					 cf_strerror(rv));
			return rv;
		}
	}
	return 0;
}

/*
 * Is name a file of the partition the manifest does not name: a segment
 * past the checkpoint, a cold file of a job not switched, a temporary?
 */
static bool part_unknown(const struct log_part *part,
			 const struct log_manifest *m, const char *name)
{
	size_t len = strlen(name);
	uint32_t no;

	if (log_segment_parse_name(name, &no) == 0)
		return log_manifest_find(m, part->id, no) == NULL;
	if (log_cold_parse_name(name, &no) == 0)
		return log_manifest_find_cold(m, part->id, no) == NULL;
	return len > 4 && strcmp(name + len - 4, ".tmp") == 0;
}

/* Remove the files of the partition the manifest does not name. */
static int part_drop_unknown(struct log_part *part,
			     const struct log_manifest *m, char *errmsg)
{
	DIR *d;
	struct dirent *e;
	int fd;
	int rv = 0;

	fd = cf_vfs_dup(part->dirfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		rv = -errno;
		cf_vfs_close(fd);
		return rv;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (!part_unknown(part, m, e->d_name))
			continue;
		/*
		 * tested: test_log_store
		 * uncheckpointed_segment_is_removed_on_reopen, test_log_compact
		 * crash_at_every_step_reopens_old_or_new
		 */
		if (cf_vfs_unlinkat(part->dirfd, e->d_name, 0) != 0) {
			rv = -errno;
			cf_errmsg_printf(errmsg, "unlink %s: %s", e->d_name,
					 cf_strerror(rv));
			break;
		}
		part->dir_dirty = true;
	}
	closedir(d);
	return rv;
}

/*
 * Open the segment ms names, cut what lies past its checkpointed length,
 * and scan its records; those an image covers (is: not NULL) are not read.
 */
static int part_load_seg(struct log_store *s, struct log_part *part,
			 const struct log_manifest_seg *ms, log_scan_cb cb,
			 void *arg, const struct log__image_seg *is,
			 char *errmsg)
{
	struct store_scan sc = {s, part, NULL, cb, arg, errmsg};
	struct log_segment *seg;
	uint64_t valid_end, from = LOG_SEG_HDR;
	int rv;

	rv = log__part_reserve(part);
	if (rv != 0)
		return rv;
	seg = &part->segs[part->nsegs];
	log_segment_init(seg, part->id, ms->segno);
	rv = log_segment_open(seg, part->dirfd, false);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "open: %s", cf_strerror(rv));
		return rv == -ENOENT ? CF_ECORRUPT : rv;
	}
	part->nsegs++;
	part->ncommitted = part->nsegs;
	if (seg->size < ms->length) {
		cf_errmsg_printf(errmsg, "%llu bytes, checkpoint has %llu",
				 (unsigned long long)seg->size,
				 (unsigned long long)ms->length);
		return CF_ECORRUPT; /* checkpointed bytes are missing */
	}
	if (seg->size > ms->length) {
		/* tested: test_log_store uncheckpointed_tail_is_cut_on_reopen */
		rv = log_segment_truncate(seg, ms->length);
		if (rv != 0) {
			cf_errmsg_printf(errmsg, "truncate: %s", cf_strerror(rv));
			return rv;
		}
	}
	sc.seg = seg;
	if (is != NULL) {
		seg->records = is->records;
		seg->first_ts = is->first_ts;
		from = is->size;
	}
	errmsg[0] = '\0';
	rv = log_segment_scan_from(seg, from, ms->length, &s->scan_buf,
				   store_scan_rec, &sc, &valid_end);
	if (rv == CF_ECORRUPT && errmsg[0] == '\0')
		cf_errmsg_printf(errmsg, "bad record at offset %llu",
				 (unsigned long long)valid_end);
	else if (rv == CF_EVERSION)
		cf_errmsg_printf(errmsg, "unknown segment version");
	if (rv != 0)
		return rv;
	seg->synced = seg->size;
	seg->end = seg->size;
	seg->records_done = seg->records;
	seg->sealed = ms->sealed;
	log__seg_park(seg);
	return 0;
}

static int store_open_part(struct log_store *s, struct log_part *part,
			   const struct log_manifest *m, log_scan_cb cb,
			   void *arg, const struct log__image_part *ip,
			   char *errmsg)
{
	char name[LOG_SEG_NAME];
	uint32_t k = 0;
	int rv;

	log_segment_part_name(name, part->id);
	if (cf_vfs_mkdirat(s->dirfd, name, 0755) != 0 && errno != EEXIST) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "mkdir: %s", cf_strerror(rv));
		goto err;
	}
	part->dirfd = cf_vfs_openat(s->dirfd, name,
				    O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (part->dirfd < 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "open: %s", cf_strerror(rv));
		goto err;
	}
	if (ip != NULL) {
		part->hot_recalls = ip->hot_recalls;
		part->hot_recall_ts = ip->hot_recall_ts;
	}
	rv = part_drop_unknown(part, m, errmsg);
	if (rv == 0)
		rv = log__cold_open_part(s, part, m, cb, arg, ip != NULL,
					 errmsg);
	if (rv != 0)
		goto err;
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct log_manifest_seg *ms = &m->segs[i];
		const struct log__image_seg *is = NULL;

		if (ms->partition != part->id)
			continue;
		/* log__image_load checked that the image's are m's first. */
		if (ip != NULL && k < ip->nsegs && ip->segs[k].segno == ms->segno)
			is = &ip->segs[k++];
		if (ms->segno <= part->cold_segno) {
			cf_errmsg_printf(errmsg, "also in a cold file");
			rv = CF_ECORRUPT;
		} else {
			rv = part_load_seg(s, part, ms, cb, arg, is, errmsg);
		}
		if (rv != 0) {
			log_segment_name(name, ms->segno);
			cf_errmsg_wrapf(errmsg, "segment %s", name);
			goto err;
		}
	}
	return 0;

err:
	log_segment_part_name(name, part->id);
	cf_errmsg_wrapf(errmsg, "partition %s", name);
	assert(rv != 0);
	return rv;
}

static int store_check_opts(const struct log_store_opts *o, char *errmsg)
{
	if (o->dir == NULL || o->dir[0] == '\0') {
		cf_errmsg_printf(errmsg, "store: no folder");
		return CF_EBADREQ;
	}
	if (o->partitions == 0 || o->partitions > STORE_PARTS_MAX) {
		cf_errmsg_printf(errmsg, "store: partitions %u not in 1..%u",
				 o->partitions, STORE_PARTS_MAX);
		return CF_EBADREQ;
	}
	if (o->seal_bytes > STORE_SEAL_MAX) {
		cf_errmsg_printf(errmsg, "store: seal_bytes above %llu",
				 (unsigned long long)STORE_SEAL_MAX);
		return CF_EBADREQ;
	}
	if (o->open_files > LOG_FILES_MAX) {
		cf_errmsg_printf(errmsg, "store: open_files above %u",
				 LOG_FILES_MAX);
		return CF_EBADREQ;
	}
	return 0;
}

/*
 * The rebuild's progress: every record read on open goes through here to
 * the caller's scan, and a line is logged every few seconds, so that a
 * long start says what it does (issue 11).
 */
struct open_progress {
	log_scan_cb scan;
	void *arg;
	unsigned part, nparts;
	uint64_t records;
	uint64_t t0_ms, last_ms;
};

#define OPEN_PROGRESS_MS 2000

static int open_progress_rec(void *arg, const struct log_record *rec)
{
	struct open_progress *p = arg;

	if ((++p->records & 0xffff) == 0) {
		uint64_t now = cf_mono_ms();

		if (now - p->last_ms >= OPEN_PROGRESS_MS) {
			p->last_ms = now;
			cf_info("store: rebuilding: %llu records read in %.1f s "
				"(partition %u of %u)",
				(unsigned long long)p->records,
				(double)(now - p->t0_ms) / 1000.0, p->part + 1,
				p->nparts);
		}
	}
	return p->scan(p->arg, rec);
}

/* Load the image m names, or log why not (then *img stays NULL). */
static void store_try_image(struct log_store *s, const struct log_manifest *m,
			    const struct log_image_ops *ops, void *arg,
			    struct log__image **img)
{
	char why[CF_ERRMSG_SIZE];
	uint64_t t0 = cf_mono_ms();
	int rv;

	*img = NULL;
	if (ops == NULL || m->image_index == 0)
		return;
	why[0] = '\0';
	rv = log__image_load(s, m, ops, arg, img, why);
	if (rv != 0) {
		/* tested: test_log_image damaged_image_is_not_used */
		cf_warn("store: state image at %llu not used (%s); rebuilding "
			"from every record",
			(unsigned long long)m->image_index,
			why[0] != '\0' ? why : cf_strerror(rv));
		*img = NULL;
		return;
	}
	cf_info("store: state image at %llu loaded in %.1f s",
		(unsigned long long)m->image_index,
		(double)(cf_mono_ms() - t0) / 1000.0);
}

int log_store_open(struct log_store **out, const struct log_store_opts *o,
		   log_scan_cb scan, void *arg, char *errmsg)
{
	return log_store_open_img(out, o, scan, arg, NULL, errmsg);
}

int log_store_open_img(struct log_store **out, const struct log_store_opts *o,
		       log_scan_cb scan, void *arg,
		       const struct log_image_ops *ops, char *errmsg)
{
	struct open_progress prog;
	struct log_manifest m;
	struct log__image *img = NULL;
	struct log_store *s;
	bool fresh = false;
	int rv;

	errmsg[0] = '\0';
	rv = store_check_opts(o, errmsg);
	if (rv != 0)
		return rv;
	log_manifest_init(&m);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->dirfd = -1;
	s->nparts = o->partitions;
	s->seal_bytes = o->seal_bytes != 0 ? o->seal_bytes : STORE_SEAL_DEFAULT;
	s->seal_age_ms = o->seal_age_ms;
	s->scan_loc = o->scan_loc;
	s->compact_input_max = o->compact_input_max != 0 ?
				       o->compact_input_max :
				       LOG_COMPACT_INPUT_MAX;
	log_index_init(&s->ix);
	cf_buf_init(&s->scan_buf);
	s->parts = calloc(s->nparts, sizeof(*s->parts));
	if (s->parts == NULL) {
		rv = -ENOMEM;
		goto err_close;
	}
	for (unsigned i = 0; i < s->nparts; i++) {
		s->parts[i].id = i;
		s->parts[i].dirfd = -1;
	}
	s->touched = calloc(s->nparts, sizeof(*s->touched));
	if (s->touched == NULL) {
		rv = -ENOMEM;
		goto err_close;
	}
	if (cf_vfs_mkdirat(AT_FDCWD, o->dir, 0755) != 0 && errno != EEXIST) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "mkdir: %s", cf_strerror(rv));
		goto err_wrap;
	}
	s->dirfd = cf_vfs_openat(AT_FDCWD, o->dir,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (s->dirfd < 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "open: %s", cf_strerror(rv));
		goto err_wrap;
	}
	rv = log_files_create(&s->files, s->dirfd,
			      o->open_files != 0 ? o->open_files
						 : LOG_FILES_DEFAULT);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "file cache: %s", cf_strerror(rv));
		goto err_wrap;
	}
	rv = log_manifest_load(s->dirfd, &m, errmsg);
	if (rv == CF_ENOTFOUND) {
		fresh = true;
		m.partitions = s->nparts;
		m.applied_index = 0;
	} else if (rv != 0) {
		/* tested: test_log_store corrupt_manifest_is_refused */
		goto err_wrap;
	}
	if (m.partitions != s->nparts) {
		cf_errmsg_printf(errmsg, "store has %u partitions, not %u",
				 (unsigned)m.partitions, s->nparts);
		rv = CF_EBADREQ;
		goto err_wrap;
	}
	if (fresh || (m.seal_bytes == 0 && m.seal_age_ms == 0)) {
		/* New, or written before stores recorded their shape. */
		m.seal_bytes = s->seal_bytes;
		m.seal_age_ms = s->seal_age_ms;
	} else if (m.seal_bytes != s->seal_bytes ||
		   m.seal_age_ms != s->seal_age_ms) {
		/*
		 * Every node must seal at the same record: the shape is fixed
		 * at creation (tested: test_log_store shape_is_fixed_...).
		 */
		cf_errmsg_printf(errmsg,
				 "store was created with segment size %llu "
				 "and seal age %llu ms, not %llu and %llu ms",
				 (unsigned long long)m.seal_bytes,
				 (unsigned long long)m.seal_age_ms,
				 (unsigned long long)s->seal_bytes,
				 (unsigned long long)s->seal_age_ms);
		rv = CF_EBADREQ;
		goto err_wrap;
	}
	s->applied_index = m.applied_index;
	cf_vfs_unlinkat(s->dirfd, LOG_MANIFEST_TMP, 0);
	if (ops == NULL) {
		/*
		 * An opener that does not use images (confabctl, tests): the
		 * files and the manifest keep naming the node's image, which
		 * the node's next start checks against the store as always.
		 */
		s->image_index = m.image_index;
	} else {
		if (!fresh)
			store_try_image(s, &m, ops, arg, &img);
		/* The next manifest names only a loaded one. */
		s->image_index = img != NULL ? img->index : 0;
		log__image_drop_others(s, s->image_index);
	}
	memset(&prog, 0, sizeof prog);
	prog.scan = scan;
	prog.arg = arg;
	prog.nparts = s->nparts;
	prog.t0_ms = prog.last_ms = cf_mono_ms();
	for (unsigned i = 0; i < s->nparts; i++) {
		prog.part = i;
		rv = store_open_part(s, &s->parts[i], &m,
				     scan != NULL ? open_progress_rec : NULL,
				     &prog, img != NULL ? &img->parts[i] : NULL,
				     errmsg);
		if (rv != 0)
			goto err_wrap;
	}
	if (prog.records > 0)
		cf_info("store: rebuilt from %llu records%s in %.1f s",
			(unsigned long long)prog.records,
			img != NULL ? " after the state image" : "",
			(double)(cf_mono_ms() - prog.t0_ms) / 1000.0);
	log__image_free(img);
	img = NULL;
	rv = log__cold_open_jobs(s, &m);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "compaction job: %s",
				 rv == CF_ECORRUPT ? "inputs are not sealed "
						     "hot segments"
						   : cf_strerror(rv));
		goto err_wrap;
	}
	if (fresh) {
		rv = log_manifest_save(s->dirfd, &m, errmsg);
		if (rv != 0)
			goto err_wrap;
	}
	log_manifest_release(&m);
	*out = s;
	return 0;

err_wrap:
	cf_errmsg_wrapf(errmsg, "store %s", o->dir);
err_close:
	log__image_free(img);
	log_manifest_release(&m);
	log_store_close(s);
	assert(rv != 0);
	return rv;
}

uint64_t log_store_applied_index(const struct log_store *s)
{
	return s->applied_index;
}
