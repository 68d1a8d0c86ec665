#include "config.h"

/*
 * log_ckpt: the store's checkpoint, captured on the loop and made durable
 * anywhere (contract in log_ckpt.h). log_store_checkpoint() (log_store.h)
 * is the three steps in a row, for callers that may block (tests, tools).
 */

#include "log/log_ckpt.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_err.h"
#include "common/cf_vfs.h"
#include "log/log_image.h"
#include "log/log_manifest.h"
#include "log/log_store_int.h"

void (*log_ckpt_test_hook)(void *arg);
void *log_ckpt_test_arg;

/* A segment with bytes written since its last sync. */
struct ckpt_seg {
	int fd; /* duplicate, -1 once closed */
	unsigned partition;
	uint32_t segno;
	uint64_t size; /* what the manifest names */
};

/* A partition folder to sync (it gained files) and/or to unlink in. */
struct ckpt_dir {
	int fd; /* duplicate, -1 once closed */
	unsigned partition;
	bool sync;
	uint32_t *doomed; /* hot segnos, cold numbers | LOG_DOOMED_COLD */
	size_t ndoomed;
};

struct log_ckpt {
	struct log_manifest m;
	int dirfd; /* duplicate of the store folder */
	struct ckpt_seg *segs;
	size_t nsegs;
	struct ckpt_dir *dirs;
	size_t ndirs;
	uint64_t old_image; /* state image to unlink once m is durable, or 0 */
};

uint64_t log_ckpt_index(const struct log_ckpt *c)
{
	return c->m.applied_index;
}

static void ckpt_close_fds(struct log_ckpt *c)
{
	if (c->dirfd >= 0)
		cf_vfs_close(c->dirfd);
	c->dirfd = -1;
	for (size_t i = 0; i < c->nsegs; i++) {
		if (c->segs[i].fd >= 0)
			cf_vfs_close(c->segs[i].fd);
		c->segs[i].fd = -1;
	}
	for (size_t i = 0; i < c->ndirs; i++) {
		if (c->dirs[i].fd >= 0)
			cf_vfs_close(c->dirs[i].fd);
		c->dirs[i].fd = -1;
	}
}

void log_ckpt_free(struct log_ckpt *c)
{
	if (c == NULL)
		return;
	ckpt_close_fds(c);
	for (size_t i = 0; i < c->ndirs; i++)
		free(c->dirs[i].doomed);
	free(c->dirs);
	free(c->segs);
	log_manifest_release(&c->m);
	free(c);
}

/*
 * A duplicate of seg's descriptor, or -1 for a parked segment (sealed, its
 * descriptor given back: log_store_fds.c), which the run opens by name, one
 * at a time: a checkpoint holds at most the open segments' duplicates
 * however many segments were sealed since the last one.
 */
static int ckpt_dup_seg(struct log_segment *seg, int *fd)
{
	*fd = -1;
	if (seg->fd < 0)
		return 0;
	*fd = fcntl(seg->fd, F_DUPFD_CLOEXEC, 0);
	return *fd >= 0 ? 0 : -errno;
}

/* Capture part: its segments (manifest, unsynced ones), its folder. */
static int ckpt_take_part(struct log_ckpt *c, struct log_part *part)
{
	struct ckpt_dir *d;
	int rv;

	for (size_t k = 0; k < part->nsegs; k++) {
		struct log_segment *seg = &part->segs[k];
		struct ckpt_seg *cs;

		rv = log_manifest_add(&c->m, part->id, seg->segno, seg->size,
				      seg->sealed);
		if (rv != 0)
			return rv;
		if (seg->synced >= seg->size)
			continue;
		cs = &c->segs[c->nsegs];
		cs->partition = part->id;
		cs->segno = seg->segno;
		cs->size = seg->size;
		rv = ckpt_dup_seg(seg, &cs->fd);
		if (rv != 0)
			return rv;
		c->nsegs++;
	}
	if (!part->dir_dirty && part->ndoomed == 0)
		return 0;
	d = &c->dirs[c->ndirs];
	memset(d, 0, sizeof(*d));
	d->partition = part->id;
	d->sync = part->dir_dirty;
	d->fd = cf_vfs_dup(part->dirfd);
	if (d->fd < 0)
		return -errno;
	c->ndirs++;
	if (part->ndoomed > 0) {
		d->doomed = malloc(part->ndoomed * sizeof(*d->doomed));
		if (d->doomed == NULL)
			return -ENOMEM;
		memcpy(d->doomed, part->doomed,
		       part->ndoomed * sizeof(*d->doomed));
		d->ndoomed = part->ndoomed;
	}
	return 0;
}

int log_ckpt_begin(struct log_store *s, uint64_t applied_index,
		   struct log_ckpt **out)
{
	struct log_ckpt *c;
	size_t nsegs = 0;
	int rv;

	assert(s->ntouched == 0); /* commit or abort first */
	if (s->ckpt_busy)
		return -EBUSY;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	log_manifest_init(&c->m);
	c->dirfd = -1;
	for (unsigned i = 0; i < s->nparts; i++)
		nsegs += s->parts[i].nsegs;
	c->segs = malloc((nsegs > 0 ? nsegs : 1) * sizeof(*c->segs));
	c->dirs = malloc(s->nparts * sizeof(*c->dirs));
	if (c->segs == NULL || c->dirs == NULL) {
		rv = -ENOMEM;
		goto err;
	}
	c->m.partitions = s->nparts;
	c->m.applied_index = applied_index;
	c->m.seal_bytes = s->seal_bytes;
	c->m.seal_age_ms = s->seal_age_ms;
	/* A new state image replaces the one in force (log_image.h). */
	c->m.image_index = s->image_next != 0 ? s->image_next : s->image_index;
	if (s->image_next != 0 && s->image_index != s->image_next)
		c->old_image = s->image_index;
	for (unsigned i = 0; i < s->nparts; i++) {
		rv = ckpt_take_part(c, &s->parts[i]);
		if (rv != 0)
			goto err;
	}
	rv = log__cold_to_manifest(s, &c->m);
	if (rv != 0)
		goto err;
	c->dirfd = cf_vfs_dup(s->dirfd);
	if (c->dirfd < 0) {
		rv = -errno;
		goto err;
	}
	/* Nothing can fail from here on: the store hands the work over. */
	for (size_t i = 0; i < c->ndirs; i++) {
		struct log_part *part = &s->parts[c->dirs[i].partition];

		part->dir_dirty = false;
		part->ndoomed = 0;
	}
	s->ckpt_busy = true;
	*out = c;
	return 0;

err:
	log_ckpt_free(c);
	assert(rv != 0);
	return rv;
}

static void ckpt_unlink_doomed(struct ckpt_dir *d)
{
	char name[LOG_COLD_NAME > LOG_SEG_NAME ? LOG_COLD_NAME : LOG_SEG_NAME];

	for (size_t k = 0; k < d->ndoomed; k++) {
		uint32_t no = d->doomed[k];

		if (no & LOG_DOOMED_COLD)
			log_cold_name(name, no & ~LOG_DOOMED_COLD);
		else
			log_segment_name(name, no);
		/* A failure leaves a file the next open removes. */
		(void)cf_vfs_unlinkat(d->fd, name, 0);
	}
}

int log_ckpt_run(struct log_ckpt *c, char *errmsg)
{
	char name[LOG_SEG_NAME], part[LOG_SEG_NAME];
	int rv;

	errmsg[0] = '\0';
	if (log_ckpt_test_hook != NULL)
		log_ckpt_test_hook(log_ckpt_test_arg);
	for (size_t i = 0; i < c->nsegs; i++) {
		struct ckpt_seg *cs = &c->segs[i];

		if (cs->fd < 0) {
			/* Parked: opened by name (fdatasync flushes the
			 * file, whichever descriptor asks). */
			char path[2 * LOG_SEG_NAME + 1];

			log_segment_part_name(part, cs->partition);
			log_segment_name(name, cs->segno);
			snprintf(path, sizeof path, "%s/%s", part, name);
			cs->fd = cf_vfs_openat(c->dirfd, path,
					       O_RDONLY | O_CLOEXEC, 0);
			if (cs->fd < 0) {
				rv = -errno;
				cf_errmsg_printf(errmsg, "open %s: %s", path,
						 cf_strerror(rv));
				goto err;
			}
		}
		if (cf_vfs_fdatasync(cs->fd) != 0) {
			rv = -errno;
			log_segment_part_name(part, cs->partition);
			log_segment_name(name, cs->segno);
			cf_errmsg_printf(errmsg, "fdatasync %s/%s: %s", part,
					 name, cf_strerror(rv));
			goto err;
		}
		cf_vfs_close(cs->fd);
		cs->fd = -1;
	}
	for (size_t i = 0; i < c->ndirs; i++) {
		if (c->dirs[i].sync && cf_vfs_fsync(c->dirs[i].fd) != 0) {
			rv = -errno;
			log_segment_part_name(part, c->dirs[i].partition);
			cf_errmsg_printf(errmsg, "fsync folder %s: %s", part,
					 cf_strerror(rv));
			goto err;
		}
	}
	rv = log_manifest_save(c->dirfd, &c->m, errmsg);
	if (rv != 0)
		goto err;
	/* The manifest in force no longer names them. */
	for (size_t i = 0; i < c->ndirs; i++)
		ckpt_unlink_doomed(&c->dirs[i]);
	if (c->old_image != 0) {
		char img[LOG_IMAGE_NAME];

		log_image_name(img, c->old_image);
		(void)cf_vfs_unlinkat(c->dirfd, img, 0); /* else: next open */
	}
	ckpt_close_fds(c);
	return 0;

err:
	cf_errmsg_wrapf(errmsg, "checkpoint at %llu",
			(unsigned long long)c->m.applied_index);
	assert(rv != 0);
	return rv;
}

/* A failed or cancelled checkpoint: give the store its work back. */
static void ckpt_undo(struct log_store *s, struct log_ckpt *c)
{
	for (size_t i = 0; i < c->ndirs; i++) {
		struct ckpt_dir *d = &c->dirs[i];
		struct log_part *part = &s->parts[d->partition];
		size_t need = part->ndoomed + d->ndoomed;

		if (d->sync)
			part->dir_dirty = true;
		if (d->ndoomed == 0)
			continue;
		if (need > part->doomcap) {
			uint32_t *p = realloc(part->doomed, need * sizeof(*p));

			if (p == NULL)
				continue; /* left on disk: open removes them */
			part->doomed = p;
			part->doomcap = need;
		}
		memcpy(part->doomed + part->ndoomed, d->doomed,
		       d->ndoomed * sizeof(*d->doomed));
		part->ndoomed = need;
	}
}

/* The segment segno of part, if it is still a hot segment of the store. */
static struct log_segment *ckpt_find_seg(struct log_part *part,
					 uint32_t segno)
{
	size_t lo = 0, hi = part->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (part->segs[mid].segno == segno)
			return &part->segs[mid];
		if (part->segs[mid].segno < segno)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void log_ckpt_end(struct log_store *s, struct log_ckpt *c, int status)
{
	assert(s->ckpt_busy);
	s->ckpt_busy = false;
	if (status != 0) {
		ckpt_undo(s, c);
		log_ckpt_free(c);
		return;
	}
	for (size_t i = 0; i < c->nsegs; i++) {
		struct ckpt_seg *cs = &c->segs[i];
		struct log_segment *seg =
			ckpt_find_seg(&s->parts[cs->partition], cs->segno);
		uint64_t upto;

		if (seg == NULL) /* switched out by a compaction meanwhile */
			continue;
		upto = cs->size < seg->size ? cs->size : seg->size;
		if (seg->synced < upto)
			seg->synced = upto;
		/* A sealed segment, now synced, gives its descriptor back
		 * (reads go through the file cache: log_store_fds.c). */
		log__seg_park(seg);
	}
	/* The unlinks changed the folders: the next checkpoint syncs them. */
	for (size_t i = 0; i < c->ndirs; i++)
		if (c->dirs[i].ndoomed > 0)
			s->parts[c->dirs[i].partition].dir_dirty = true;
	s->applied_index = c->m.applied_index;
	s->image_index = c->m.image_index;
	if (s->image_next == c->m.image_index)
		s->image_next = 0;
	log_ckpt_free(c);
}

int log_store_checkpoint(struct log_store *s, uint64_t applied_index,
			 char *errmsg)
{
	struct log_ckpt *c;
	int rv;

	errmsg[0] = '\0';
	rv = log_ckpt_begin(s, applied_index, &c);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "checkpoint: %s", cf_strerror(rv));
		return rv;
	}
	rv = log_ckpt_run(c, errmsg);
	log_ckpt_end(s, c, rv);
	return rv;
}
