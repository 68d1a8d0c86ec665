#include "config.h"

/*
 * rft_disk: see rft_disk.h. The timer asks for a statfs in the pool; its
 * answer updates free/total/watermark, then the ballast is made if there is
 * room, then on_measure runs. At most one statfs, one make and one unlink
 * are in flight; close waits for them (busy) and the timer.
 */

#include "raft/rft_disk.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "log/log_store.h"
#include "common/cf_buf.h"

#define MIB (1024.0 * 1024.0)
/* After a failed make of the ballast, wait this long (ms). */
#define MAKE_RETRY_MS 60000u

/* ---- pure rules ---- */

uint64_t rft_disk_watermark(uint64_t min_free, unsigned min_free_pct,
			    uint64_t total, uint64_t floor)
{
	uint64_t w;

	if (min_free != 0) {
		w = min_free;
	} else if (min_free_pct != 0) {
		w = total / 100 * min_free_pct;
	} else {
		w = total / 100 * RFT_DISK_MIN_FREE_PCT_DEFAULT;
		if (w > RFT_DISK_MIN_FREE_DEFAULT)
			w = RFT_DISK_MIN_FREE_DEFAULT;
	}
	/* Refuse writes well before raft runs out of room for a segment. */
	if (w < 2 * floor)
		w = 2 * floor;
	return w;
}

bool rft_disk_refuse(bool leader, bool self_low, bool self_full,
		     unsigned voters, unsigned n_low)
{
	if (self_full)
		return true;
	if (leader && self_low)
		return true;
	return voters > 0 && n_low >= voters / 2 + 1;
}

uint64_t rft_disk_ballast_default(uint64_t raft_segment,
				  uint64_t manifest_bytes,
				  unsigned compact_segments,
				  uint64_t seal_bytes)
{
	/* A job takes segments up to LOG_COMPACT_INPUT_MAX beyond its first;
	 * its cold file is no larger than its input. */
	uint64_t out = (uint64_t)compact_segments * seal_bytes;
	uint64_t cap = LOG_COMPACT_INPUT_MAX + seal_bytes;

	return 2 * raft_segment + manifest_bytes + (out < cap ? out : cap);
}

void rft_disk_status_encode(const struct rft_disk_status *st,
			    uint8_t out[RFT_DISK_STATUS_SIZE])
{
	memset(out, 0, RFT_DISK_STATUS_SIZE);
	out[0] = 1;
	out[1] = (uint8_t)((st->low ? 1 : 0) | (st->full ? 2 : 0));
	cf_put_u64(out + 8, st->free);
}

int rft_disk_status_decode(const void *body, size_t len,
			   struct rft_disk_status *st)
{
	const uint8_t *p = body;

	memset(st, 0, sizeof *st);
	if (len == 0)
		return CF_ENOTFOUND;
	if (len < RFT_DISK_STATUS_SIZE || p[0] == 0)
		return CF_ECORRUPT;
	st->low = (p[1] & 1) != 0;
	st->full = (p[1] & 2) != 0;
	st->free = cf_get_u64(p + 8);
	return 0;
}

/* ---- the watcher ---- */

bool rft_disk_low(const struct rft_disk *d)
{
	return d->measured && d->free < d->watermark;
}

bool rft_disk_below_floor(const struct rft_disk *d)
{
	return d->measured && d->free < d->cfg.floor;
}

uint64_t rft_disk_recover_bytes(const struct rft_disk *d)
{
	uint64_t want = d->watermark + d->cfg.restart_reserve;

	if (d->ballast != RFT_BALLAST_HELD)
		want += d->cfg.ballast;
	return want;
}

bool rft_disk_recovered(const struct rft_disk *d)
{
	return d->measured && d->free >= rft_disk_recover_bytes(d);
}

static void disk_maybe_done(struct rft_disk *d)
{
	void (*cb)(struct rft_disk *) = d->close_cb;

	if (!d->closing || d->busy != 0 || d->ballast_path == NULL)
		return;
	free(d->ballast_path);
	d->ballast_path = NULL;
	d->close_cb = NULL;
	if (cb != NULL)
		cb(d);
}

static void unlink_cb(uv_fs_t *req)
{
	struct rft_disk *d = req->data;

	d->busy--;
	if (req->result < 0 && req->result != UV_ENOENT)
		cf_warn("ballast %s: unlink: %s", d->ballast_path,
			uv_strerror((int)req->result));
	else
		cf_warn("ballast released: %.0f MiB freed in %s",
			(double)d->cfg.ballast / MIB, d->cfg.dir);
	uv_fs_req_cleanup(req);
	d->ballast = RFT_BALLAST_NONE;
	disk_maybe_done(d);
}

static void disk_unlink(struct rft_disk *d)
{
	int rv;

	d->ballast = RFT_BALLAST_RELEASING;
	d->unlink_req.data = d;
	rv = uv_fs_unlink(d->loop, &d->unlink_req, d->ballast_path, unlink_cb);
	if (rv != 0) {
		cf_warn("ballast %s: unlink: %s", d->ballast_path,
			uv_strerror(rv));
		d->ballast = RFT_BALLAST_NONE;
		return;
	}
	d->busy++;
}

void rft_disk_release(struct rft_disk *d)
{
	d->no_ballast = true;
	if (d->ballast == RFT_BALLAST_HELD && !d->closing)
		disk_unlink(d);
	else if (d->ballast == RFT_BALLAST_MAKING)
		d->release_asked = true;
}

/* In the pool: write the ballast (fallocate'd, fsync'd). */
static void make_work(uv_work_t *req)
{
	struct rft_disk *d = req->data;
	int fd, rv;

	fd = open(d->ballast_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		d->make_rv = -errno;
		return;
	}
	rv = -posix_fallocate(fd, 0, (off_t)d->cfg.ballast);
	if (rv == 0 && fsync(fd) != 0)
		rv = -errno;
	close(fd);
	if (rv != 0)
		(void)unlink(d->ballast_path);
	d->make_rv = rv;
}

static void make_after(uv_work_t *req, int status)
{
	struct rft_disk *d = req->data;
	int rv = status != 0 ? status : d->make_rv;

	d->busy--;
	if (rv == 0) {
		d->ballast = RFT_BALLAST_HELD;
		cf_info("ballast: %.0f MiB held in %s", (double)d->cfg.ballast / MIB,
			d->ballast_path);
	} else {
		d->ballast = RFT_BALLAST_NONE;
		d->make_retry_ms = uv_now(d->loop) + MAKE_RETRY_MS;
		cf_warn("ballast %s: %s (tried again in %u s if there is room)",
			d->ballast_path, cf_strerror(rv), MAKE_RETRY_MS / 1000);
	}
	if (d->release_asked && d->ballast == RFT_BALLAST_HELD && !d->closing)
		disk_unlink(d);
	disk_maybe_done(d);
}

static void disk_maybe_make(struct rft_disk *d)
{
	if (d->cfg.ballast == 0 || d->ballast != RFT_BALLAST_NONE ||
	    d->no_ballast || d->closing ||
	    d->free < d->watermark + d->cfg.ballast ||
	    uv_now(d->loop) < d->make_retry_ms)
		return;
	d->ballast = RFT_BALLAST_MAKING;
	d->make_req.data = d;
	d->make_rv = 0;
	if (uv_queue_work(d->loop, &d->make_req, make_work, make_after) != 0) {
		d->ballast = RFT_BALLAST_NONE;
		return;
	}
	d->busy++;
}

static void disk_set(struct rft_disk *d, uint64_t free, uint64_t total)
{
	d->free = free;
	d->total = total;
	d->watermark = rft_disk_watermark(d->cfg.min_free, d->cfg.min_free_pct,
					  d->total, d->cfg.floor);
}

int rft_disk_measure_now(struct rft_disk *d)
{
	struct statvfs sv;

	if (statvfs(d->cfg.dir, &sv) != 0)
		return -errno;
	disk_set(d, (uint64_t)sv.f_bavail * sv.f_frsize,
		 (uint64_t)sv.f_blocks * sv.f_frsize);
	d->measured = true;
	return 0;
}

static void statfs_cb(uv_fs_t *req)
{
	struct rft_disk *d = req->data;
	const uv_statfs_t *st = req->ptr;
	bool was_low = rft_disk_low(d);

	d->busy--;
	d->statfs_busy = false;
	if (req->result < 0 || st == NULL) {
		cf_warn("statfs %s: %s", d->cfg.dir,
			uv_strerror((int)req->result));
		uv_fs_req_cleanup(req);
		disk_maybe_done(d);
		return;
	}
	disk_set(d, st->f_bavail * st->f_bsize, st->f_blocks * st->f_bsize);
	uv_fs_req_cleanup(req);
	if (!d->measured)
		cf_info("disk %s: %.0f MiB free of %.0f MiB; writes are refused "
			"below %.0f MiB (--min-free)",
			d->cfg.dir, (double)d->free / MIB,
			(double)d->total / MIB, (double)d->watermark / MIB);
	d->measured = true;
	if (rft_disk_low(d) != was_low)
		cf_warn("disk %s: %.0f MiB free: %s the watermark of %.0f MiB",
			d->cfg.dir, (double)d->free / MIB,
			was_low ? "back above" : "below",
			(double)d->watermark / MIB);
	if (d->closing) {
		disk_maybe_done(d);
		return;
	}
	disk_maybe_make(d);
	if (d->cfg.on_measure != NULL)
		d->cfg.on_measure(d->cfg.arg);
}

static void timer_cb(uv_timer_t *t)
{
	struct rft_disk *d = t->data;
	int rv;

	if (d->closing || d->statfs_busy)
		return; /* one statfs at a time */
	d->statfs_req.data = d;
	rv = uv_fs_statfs(d->loop, &d->statfs_req, d->cfg.dir, statfs_cb);
	if (rv != 0) {
		cf_warn("statfs %s: %s", d->cfg.dir, uv_strerror(rv));
		return;
	}
	d->statfs_busy = true;
	d->busy++;
}

int rft_disk_init(struct rft_disk *d, uv_loop_t *loop,
		  const struct rft_disk_config *cfg)
{
	size_t n = strlen(cfg->dir);
	struct stat st;

	memset(d, 0, sizeof *d);
	d->loop = loop;
	d->cfg = *cfg;
	if (d->cfg.period_ms == 0)
		d->cfg.period_ms = RFT_DISK_PERIOD_MS;
	d->ballast_path = malloc(n + sizeof "/ballast");
	if (d->ballast_path == NULL)
		return -ENOMEM;
	memcpy(d->ballast_path, cfg->dir, n);
	memcpy(d->ballast_path + n, "/ballast", sizeof "/ballast");
	d->ballast = RFT_BALLAST_NONE;
	if (stat(d->ballast_path, &st) == 0) {
		if (cfg->ballast != 0 && S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size == cfg->ballast)
			d->ballast = RFT_BALLAST_HELD;
		else if (unlink(d->ballast_path) != 0)
			cf_warn("ballast %s: unlink: %s", d->ballast_path,
				strerror(errno));
	}
	return 0;
}

void rft_disk_start(struct rft_disk *d)
{
	assert(!d->started);
	d->started = true;
	uv_timer_init(d->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, timer_cb, 0, d->cfg.period_ms);
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct rft_disk *d = h->data;

	d->busy--;
	disk_maybe_done(d);
}

void rft_disk_close(struct rft_disk *d, void (*cb)(struct rft_disk *d))
{
	assert(!d->closing);
	d->closing = true;
	d->close_cb = cb;
	if (d->started) {
		d->busy++;
		uv_close((uv_handle_t *)&d->timer, timer_closed_cb);
	}
	disk_maybe_done(d);
}
