#include "config.h"

/*
 * State image file (contract in log_image.h). Every integer little-endian;
 * "str" is u32 length + bytes; sections are framed by cf_img (u32 tag, the
 * payload, u32 end marker).
 *
 *   offset  size
 *        0     8  magic "CFIMAGE1"
 *        8     4  version (1)
 *       12     4  partitions P
 *       16     8  applied index A: the image holds the state after
 *                 applying every entry up to A, and nothing after
 *       24     .  the store's section, tag "STOR": P times, by partition:
 *                   u32 C, C u32 cold numbers (ascending): the cold files
 *                   the partition had (an image is only used if the
 *                   manifest lists exactly these: a compaction switched
 *                   since changes what the counters below count);
 *                   u32 hot recalls, u64 entry time of the first;
 *                   u32 S, S times (by segment number): u32 segno,
 *                   u8 sealed (0/1), u64 bytes covered (header
 *                   included), u64 records in them, u64 ts of the first
 *                   (0 if none)
 *        .     .  the seq index's section, tag "INDX" (log_index.c)
 *        .     .  the sections of the layers above, in their order (the
 *                 FSM's: raft/rft_image.c; the frontend's)
 *        .     8  XXH3_64bits of every byte before it
 *
 * An image fits a manifest m if: A == m.image_index <= m.appliedIndex;
 * per partition, m lists the same cold files, and the image's segments
 * are m's first hot segments (no gap), each with a checkpointed length at
 * least the bytes covered, sealed in m if sealed in the image. The open
 * then reads each segment from the bytes covered on (log_store_open.c).
 */

#include "log/log_image.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_err.h"
#include "common/cf_vfs.h"
#include "log/log_index.h"
#include "log/log_manifest.h"
#include "log/log_segment.h"
#include "log/log_store_int.h"

#define IMG_MAGIC "CFIMAGE1"
#define IMG_VERSION 1u
#define STORE_TAG 0x524f5453u /* "STOR" */

void log_image_name(char *name, uint64_t index)
{
	snprintf(name, LOG_IMAGE_NAME, "image-%020llu",
		 (unsigned long long)index);
}

/* ---------------------------------------------------------------- write */

static void image_write_store(const struct log_store *s, struct cf_imgw *w)
{
	cf_imgw_begin(w, STORE_TAG);
	for (unsigned i = 0; i < s->nparts; i++) {
		const struct log_part *part = &s->parts[i];
		uint32_t prev = 0;

		/* part->colds is by first segment: write the numbers sorted. */
		cf_imgw_u32(w, (uint32_t)part->ncolds);
		for (size_t n = 0; n < part->ncolds; n++) {
			uint32_t best = UINT32_MAX;

			for (size_t k = 0; k < part->ncolds; k++) {
				uint32_t no = part->colds[k].m.coldno;

				if ((n == 0 || no > prev) && no < best)
					best = no;
			}
			cf_imgw_u32(w, best);
			prev = best;
		}
		cf_imgw_u32(w, part->hot_recalls);
		cf_imgw_u64(w, part->hot_recall_ts);
		cf_imgw_u32(w, (uint32_t)part->ncommitted);
		for (size_t k = 0; k < part->ncommitted; k++) {
			const struct log_segment *seg = &part->segs[k];

			cf_imgw_u32(w, seg->segno);
			cf_imgw_u8(w, seg->sealed ? 1 : 0);
			cf_imgw_u64(w, seg->size);
			cf_imgw_u64(w, seg->records_done);
			cf_imgw_u64(w, seg->records_done > 0 ? seg->first_ts
							      : 0);
		}
	}
	cf_imgw_end(w, STORE_TAG);
}

/* The segno the index names conv's messages of segment segno by, if cold. */
static uint32_t image_cold_of(void *arg, struct cf_str conv, uint32_t segno)
{
	struct log_store *s = arg;
	struct log_part *part = &s->parts[log__part_of(s, conv)];
	const struct log_coldf *c;

	if (segno > part->cold_segno)
		return 0;
	c = log__part_find_cold(part, segno);
	return c != NULL ? c->m.last_segno : 0;
}

int log_image_write(const struct log_store *s, uint64_t index,
		    log_image_write_cb upper, void *arg, char *errmsg)
{
	char name[LOG_IMAGE_NAME];
	struct cf_imgw w;
	int fd, rv;

	assert(s->ntouched == 0); /* between entries */
	errmsg[0] = '\0';
	fd = cf_vfs_openat(s->dirfd, LOG_IMAGE_TMP,
			   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "image: create: %s", cf_strerror(rv));
		return rv;
	}
	rv = cf_imgw_init(&w, fd);
	if (rv != 0) {
		cf_vfs_close(fd);
		cf_errmsg_printf(errmsg, "image: %s", cf_strerror(rv));
		return rv;
	}
	cf_imgw_bytes(&w, IMG_MAGIC, 8);
	cf_imgw_u32(&w, IMG_VERSION);
	cf_imgw_u32(&w, s->nparts);
	cf_imgw_u64(&w, index);
	image_write_store(s, &w);
	log_index_image_write(&s->ix, &w, image_cold_of, (void *)s);
	if (upper != NULL)
		upper(arg, &w);
	rv = cf_imgw_finish(&w);
	cf_imgw_release(&w);
	if (rv == 0 && cf_vfs_fdatasync(fd) != 0)
		rv = -errno;
	if (cf_vfs_close(fd) != 0 && rv == 0)
		rv = -errno;
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "image: write: %s", cf_strerror(rv));
		goto err_unlink;
	}
	log_image_name(name, index);
	if (cf_vfs_renameat(s->dirfd, LOG_IMAGE_TMP, s->dirfd, name) != 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "image: rename: %s", cf_strerror(rv));
		goto err_unlink;
	}
	if (cf_vfs_fsync(s->dirfd) != 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "image: sync folder: %s",
				 cf_strerror(rv));
		(void)cf_vfs_unlinkat(s->dirfd, name, 0);
		return rv;
	}
	return 0;

err_unlink:
	(void)cf_vfs_unlinkat(s->dirfd, LOG_IMAGE_TMP, 0);
	return rv;
}

void log_store_image_ready(struct log_store *s, uint64_t index)
{
	s->image_next = index;
}

uint64_t log_store_image_index(const struct log_store *s)
{
	return s->image_index;
}

/* ----------------------------------------------------------------- read */

void log__image_free(struct log__image *img)
{
	if (img == NULL)
		return;
	for (unsigned i = 0; i < img->nparts; i++) {
		free(img->parts[i].colds);
		free(img->parts[i].segs);
	}
	free(img->parts);
	free(img);
}

static int image_read_part(struct cf_imgr *r, struct log__image_part *ip)
{
	ip->ncolds = cf_imgr_count(r, 4);
	if (r->err == 0 && ip->ncolds > 0) {
		ip->colds = malloc(ip->ncolds * sizeof(*ip->colds));
		if (ip->colds == NULL)
			return r->err = -ENOMEM;
		for (uint32_t k = 0; k < ip->ncolds; k++)
			ip->colds[k] = cf_imgr_u32(r);
	}
	ip->hot_recalls = cf_imgr_u32(r);
	ip->hot_recall_ts = cf_imgr_u64(r);
	ip->nsegs = cf_imgr_count(r, 29);
	if (r->err == 0 && ip->nsegs > 0) {
		ip->segs = calloc(ip->nsegs, sizeof(*ip->segs));
		if (ip->segs == NULL)
			return r->err = -ENOMEM;
	}
	for (uint32_t k = 0; k < ip->nsegs && r->err == 0; k++) {
		struct log__image_seg *is = &ip->segs[k];
		uint8_t sealed;

		is->segno = cf_imgr_u32(r);
		sealed = cf_imgr_u8(r);
		is->sealed = sealed == 1;
		is->size = cf_imgr_u64(r);
		is->records = cf_imgr_u64(r);
		is->first_ts = cf_imgr_u64(r);
		if (sealed > 1 || is->size < LOG_SEG_HDR ||
		    (k > 0 && is->segno <= ip->segs[k - 1].segno))
			cf_imgr_fail(r);
	}
	return r->err;
}

/* Does the image's view of partition p fit m? */
static bool image_fits_part(const struct log__image_part *ip, unsigned p,
			    const struct log_manifest *m, char *errmsg)
{
	uint32_t k = 0, nsegs = 0;

	for (size_t i = 0; i < m->ncolds; i++) {
		if (m->colds[i].partition != p)
			continue;
		if (k >= ip->ncolds || ip->colds[k] != m->colds[i].coldno)
			goto cold;
		k++;
	}
	if (k != ip->ncolds)
		goto cold;
	for (uint32_t i = 0; i < ip->nsegs; i++) {
		const struct log__image_seg *is = &ip->segs[i];
		const struct log_manifest_seg *ms =
			log_manifest_find(m, p, is->segno);

		if (ms == NULL || ms->length < is->size ||
		    (is->sealed && !ms->sealed)) {
			cf_errmsg_printf(errmsg, "partition %u: segment %u is "
						 "not as the image has it",
					 p, (unsigned)is->segno);
			return false;
		}
	}
	/* The image's segments are the manifest's first ones. */
	for (size_t i = 0; i < m->nsegs; i++)
		if (m->segs[i].partition == p && ip->nsegs > 0 &&
		    m->segs[i].segno <= ip->segs[ip->nsegs - 1].segno)
			nsegs++;
	if (nsegs != ip->nsegs) {
		cf_errmsg_printf(errmsg, "partition %u: segments differ", p);
		return false;
	}
	return true;
cold:
	cf_errmsg_printf(errmsg, "partition %u: cold files changed since", p);
	return false;
}

static int image_read(struct log_store *s, const struct log_manifest *m,
		      struct cf_imgr *r, struct log__image *img, char *errmsg)
{
	const char *magic = cf_imgr_bytes(r, 8);
	uint32_t version = cf_imgr_u32(r), parts = cf_imgr_u32(r);

	img->index = cf_imgr_u64(r);
	if (r->err != 0 || memcmp(magic, IMG_MAGIC, 8) != 0 ||
	    version != IMG_VERSION) {
		cf_errmsg_printf(errmsg, "not an image of version %u",
				 IMG_VERSION);
		return CF_ECORRUPT;
	}
	if (parts != s->nparts || img->index != m->image_index ||
	    img->index > m->applied_index) {
		cf_errmsg_printf(errmsg, "the image is of another store");
		return CF_ECORRUPT;
	}
	img->parts = calloc(s->nparts, sizeof(*img->parts));
	if (img->parts == NULL)
		return -ENOMEM;
	img->nparts = s->nparts;
	cf_imgr_begin(r, STORE_TAG);
	for (unsigned i = 0; i < s->nparts && r->err == 0; i++)
		(void)image_read_part(r, &img->parts[i]);
	cf_imgr_end(r, STORE_TAG);
	if (r->err != 0)
		return r->err;
	for (unsigned i = 0; i < s->nparts; i++)
		if (!image_fits_part(&img->parts[i], i, m, errmsg))
			return CF_ECORRUPT;
	return log_index_image_read(&s->ix, r);
}

int log__image_load(struct log_store *s, const struct log_manifest *m,
		    const struct log_image_ops *ops, void *arg,
		    struct log__image **out, char *errmsg)
{
	char name[LOG_IMAGE_NAME];
	struct log__image *img;
	struct cf_img_map map;
	struct cf_imgr r;
	bool upper = false;
	int fd, rv;

	*out = NULL;
	log_image_name(name, m->image_index);
	fd = cf_vfs_openat(s->dirfd, name, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "%s: %s", name, cf_strerror(rv));
		return rv;
	}
	rv = cf_img_map(&map, fd);
	cf_vfs_close(fd);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "%s: %s", name,
				 rv == CF_ECORRUPT ? "damaged" : cf_strerror(rv));
		return rv;
	}
	img = calloc(1, sizeof(*img));
	if (img == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	cf_imgr_init(&r, &map);
	rv = image_read(s, m, &r, img, errmsg);
	if (rv == 0 && ops->read != NULL) {
		upper = true;
		rv = ops->read(arg, &r);
		if (rv == 0 && (r.err != 0 || cf_imgr_left(&r) != 0))
			rv = r.err != 0 ? r.err : CF_ECORRUPT;
	}
	if (rv != 0 && errmsg[0] == '\0')
		cf_errmsg_printf(errmsg, "%s: %s", name,
				 rv == CF_ECORRUPT ? "damaged" : cf_strerror(rv));
out:
	cf_img_unmap(&map);
	if (rv != 0) {
		log_index_release(&s->ix);
		log_index_init(&s->ix);
		if (upper && ops->reset != NULL)
			ops->reset(arg);
		log__image_free(img);
		return rv;
	}
	*out = img;
	return 0;
}

void log__image_drop_others(struct log_store *s, uint64_t keep)
{
	char name[LOG_IMAGE_NAME];
	struct dirent *e;
	DIR *d;
	int fd;

	log_image_name(name, keep);
	/* Best effort (what is left, the next open removes): the listing
	 * stays outside the I/O seam, as readdir does; the unlinks go
	 * through it. */
	fd = dup(s->dirfd);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, LOG_IMAGE_TMP) != 0 &&
		    (strncmp(e->d_name, "image-", 6) != 0 ||
		     (keep != 0 && strcmp(e->d_name, name) == 0)))
			continue;
		(void)cf_vfs_unlinkat(s->dirfd, e->d_name, 0);
	}
	closedir(d);
}
