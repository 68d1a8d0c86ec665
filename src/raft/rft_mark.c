#include "config.h"

/* rft_mark: see rft_mark.h. */

#include "raft/rft_mark.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_io.h"
#include "log/log_cold.h"
#include "log/log_segment.h"

#define HASH_CHUNK (1u << 20)

static void mark_free(struct rft_mark *k)
{
	if (k == NULL)
		return;
	free(k->files);
	free(k);
}

int rft_marks_init(struct rft_marks *m, struct rft_worker *w,
		   const char *store_dir)
{
	memset(m, 0, sizeof *m);
	m->worker = w;
	m->dirfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return m->dirfd < 0 ? -errno : 0;
}

void rft_marks_release(struct rft_marks *m)
{
	for (unsigned i = 0; i < RFT_MARKS_KEEP; i++) {
		assert(m->slot[i] == NULL ||
		       m->slot[i]->state != RFT_MARK_HASHING);
		mark_free(m->slot[i]);
		m->slot[i] = NULL;
	}
	if (m->dirfd >= 0)
		close(m->dirfd);
	m->dirfd = -1;
}

/* Worker thread: check cold file mf in full, take its identity. */
static int cold_run(struct rft_mark *k, struct rft_mark_file *mf)
{
	char part[LOG_SEG_NAME], name[LOG_COLD_NAME], path[2 * LOG_SEG_NAME];
	char err[CF_ERRMSG_SIZE];
	struct log_cold *r;
	int rv;

	log_segment_part_name(part, mf->partition);
	log_cold_name(name, mf->segno);
	snprintf(path, sizeof path, "%s/%s", part, name);
	rv = log_cold_open(&r, k->dirfd, path);
	if (rv != 0)
		return rv;
	rv = log_cold_verify(r, err);
	if (rv == 0) {
		mf->xxh3 = log_cold_get_info(r)->content_xxh3;
		mf->size = log_cold_get_info(r)->file_size;
	}
	log_cold_close(r);
	return rv;
}

/* Worker thread: hash file k->next's prefix (touches only k). */
static void hash_run(struct rft_worker_job *j)
{
	struct rft_mark *k = j->data;
	struct rft_mark_file *mf = &k->files[k->next];
	char part[LOG_SEG_NAME], seg[LOG_SEG_NAME], path[2 * LOG_SEG_NAME];
	XXH3_state_t *st;
	uint64_t off = 0;
	size_t n, got;
	char *buf;
	int fd, rv = 0;

	if (mf->cold) {
		k->status = cold_run(k, mf);
		return;
	}
	log_segment_part_name(part, mf->partition);
	log_segment_name(seg, mf->segno);
	snprintf(path, sizeof path, "%s/%s", part, seg);
	buf = malloc(HASH_CHUNK);
	st = XXH3_createState();
	fd = openat(k->dirfd, path, O_RDONLY | O_CLOEXEC);
	if (buf == NULL || st == NULL) {
		rv = -ENOMEM;
	} else if (fd < 0) {
		rv = -errno;
	} else {
		XXH3_64bits_reset(st);
		while (rv == 0 && off < mf->size) {
			n = mf->size - off < HASH_CHUNK ? (size_t)(mf->size - off)
							: HASH_CHUNK;
			rv = cf_pread_all(fd, buf, n, off, &got);
			if (rv == 0 && got != n)
				rv = CF_ECORRUPT; /* shorter than it was */
			if (rv == 0)
				XXH3_64bits_update(st, buf, n);
			off += n;
		}
		if (rv == 0)
			mf->xxh3 = XXH3_64bits_digest(st);
	}
	if (fd >= 0)
		close(fd);
	XXH3_freeState(st);
	free(buf);
	k->status = rv;
}

static void hash_done(struct rft_worker_job *j, int status);

static void mark_finish(struct rft_mark *k)
{
	uint8_t rec[24];
	XXH3_state_t *st = XXH3_createState();

	if (st == NULL) {
		k->state = RFT_MARK_FAILED;
		k->status = -ENOMEM;
		return;
	}
	XXH3_64bits_reset(st);
	for (size_t i = 0; i < k->nfiles; i++) {
		const struct rft_mark_file *mf = &k->files[i];

		cf_put_u32(rec, mf->partition);
		if (mf->cold) {
			cf_put_u32(rec + 4, mf->segno | (1u << 31));
			cf_put_u32(rec + 8, mf->first_segno);
			cf_put_u32(rec + 12, mf->last_segno);
		} else {
			cf_put_u32(rec + 4, mf->segno);
			cf_put_u64(rec + 8, mf->size);
		}
		cf_put_u64(rec + 16, mf->xxh3);
		XXH3_64bits_update(st, rec, sizeof rec);
	}
	k->digest = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	k->state = RFT_MARK_DONE;
	cf_info("verify marker %llu at %llu: %zu files, digest %016llx",
		(unsigned long long)k->id, (unsigned long long)k->index,
		k->nfiles, (unsigned long long)k->digest);
}

/* Hash the next file (one job each: bounded steps), or finish. */
static void mark_step(struct rft_mark *k)
{
	int rv;

	if (k->next == k->nfiles) {
		mark_finish(k);
		return;
	}
	k->job.data = k;
	rv = rft_worker_submit(k->worker, &k->job, hash_run, hash_done);
	if (rv != 0) {
		k->state = RFT_MARK_FAILED;
		k->status = rv;
	}
}

static void hash_done(struct rft_worker_job *j, int status)
{
	struct rft_mark *k = j->data;

	if (status == 0)
		status = k->status;
	if (k->dropped) {
		mark_free(k);
		return;
	}
	if (status != 0) {
		k->state = RFT_MARK_FAILED;
		k->status = status;
		cf_warn("verify marker %llu: hashing failed: %s",
			(unsigned long long)k->id, cf_strerror(status));
		return;
	}
	k->next++;
	mark_step(k);
}

void rft_marks_on_apply(struct rft_marks *m, struct log_store *store,
			uint64_t index, uint64_t id)
{
	struct log_store_file *files = NULL;
	struct rft_mark *k, *old;
	size_t n = 0;
	int rv;

	k = calloc(1, sizeof *k);
	if (k == NULL)
		return; /* the marker stays unknown here: ask again */
	k->id = id;
	k->index = index;
	k->state = RFT_MARK_HASHING;
	k->dirfd = m->dirfd;
	k->worker = m->worker;
	rv = log_store_files(store, &files, &n);
	if (rv == 0) {
		k->files = calloc(n > 0 ? n : 1, sizeof *k->files);
		if (k->files == NULL)
			rv = -ENOMEM;
	}
	for (size_t i = 0; rv == 0 && i < n; i++) {
		k->files[i].partition = files[i].partition;
		k->files[i].segno = files[i].segno;
		k->files[i].size = files[i].size;
		k->files[i].cold = files[i].cold;
		k->files[i].first_segno = files[i].first_segno;
		k->files[i].last_segno = files[i].last_segno;
	}
	k->nfiles = rv == 0 ? n : 0;
	free(files);
	if (rv != 0) {
		k->state = RFT_MARK_FAILED;
		k->status = rv;
	}
	old = m->slot[m->next];
	if (old != NULL && old->state == RFT_MARK_HASHING)
		old->dropped = true; /* its running job frees it */
	else
		mark_free(old);
	m->slot[m->next] = k;
	m->next = (m->next + 1) % RFT_MARKS_KEEP;
	if (rv == 0)
		mark_step(k);
}

const struct rft_mark *rft_marks_find(const struct rft_marks *m, uint64_t id)
{
	for (unsigned i = 0; i < RFT_MARKS_KEEP; i++)
		if (m->slot[i] != NULL && m->slot[i]->id == id)
			return m->slot[i];
	return NULL;
}
