#include "config.h"

/*
 * The fetch client (protocol at the top of rft_fetch.c). One request in
 * flight at a time, each bounded by the timeout:
 *
 *   1. FETCH_MANIFEST. Refuse a peer whose appliedIndex is below
 *      max(min_applied, local appliedIndex) (-EAGAIN), whose partition
 *      count differs (CF_EBADREQ), that lacks a segment or cold file the
 *      local manifest names without a cold file of its own covering it
 *      (CF_ENOTFOUND; one it compacted, or rewrote, is covered), or that
 *      has a shorter segment than the local one (CF_ECORRUPT).
 *   2. For each segment of the peer's manifest, in (partition, segno)
 *      order, with L its local checkpointed length (0 if the local
 *      manifest does not name it) and R the peer's:
 *      - L > 0: FETCH_SUM of [0, L), compared with the local xxh3 of the
 *        same bytes (CF_ECORRUPT if they differ); the file is cut to L
 *        (bytes past a checkpoint are not trusted);
 *      - L = 0: any stale file is removed and the segment created with its
 *        header (the header is a function of partition and segno, so it
 *        is byte-identical to the peer's);
 *      - FETCH_RANGE chunks from the local end up to R. Bytes are
 *        appended only as whole records that log_record_decode accepts
 *        (checksum, layout) and that belong to the partition; the segment
 *        must end exactly at R on a record boundary (CF_ECORRUPT);
 *      - fdatasync the file; fsync a partition folder once its new files
 *        are all created, and the store folder if partition folders were.
 *   2b. For each cold file of the peer's manifest, in (partition, number)
 *      order: if the local manifest names the same file (size and
 *      identity), nothing; else FETCH_CRANGE chunks into NAME.tmp, then
 *      on the worker thread fdatasync, a full log_cold_verify() (every
 *      checksum, every record) and the identity, partition, number and
 *      size the peer's manifest gives (CF_ECORRUPT otherwise), and the
 *      rename to NAME. Local hot segments the peer compacted are not an
 *      error: the peer's cold files cover them, and log_store_open()
 *      removes the files its new manifest does not name.
 *   3. log_manifest_save() of the peer's manifest (tmp, fsync, rename,
 *      fsync folder): the store is now the peer's checkpoint, byte for
 *      byte. Local segments the peer's manifest does not name cannot exist
 *      (step 1), and uncheckpointed files are removed by log_store_open().
 *
 * Any failure leaves the old MANIFEST in force; bytes already appended lie
 * past its lengths and are cut by log_store_open() or the next fetch.
 *
 * Threads: the local prefix hash, each segment's fdatasync and the install
 * (folder fsyncs, manifest save) run on the node's worker thread as jobs (state
 * RFT_FC_WORK: the loop thread leaves the client's files alone until the
 * job's next step runs on the loop). Verifying and appending a chunk (at
 * most 1 MiB, a pwrite into the page cache) and creating files stay on the
 * loop thread. A link that drops during a job is seen by the next request;
 * rft_fetch_close() during a job ends the fetch when the job is done.
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/cf_diag.h"
#include "common/cf_io.h"
#include "log/log_cold.h"
#include "log/log_record.h"
#include "raft/rft_fetch_int.h"
#include "raft/rft_fetch_msg.h"

void rft_fetch_client_init(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;

	memset(c, 0, sizeof(*c));
	c->state = RFT_FC_IDLE;
	c->dirfd = -1;
	c->part_fd = -1;
	c->job_fd = -1;
	c->cold_fd = -1;
	log_manifest_init(&c->local);
	log_manifest_init(&c->remote);
	log_segment_init(&c->seg, 0, 0);
	cf_buf_init(&c->carry);
}

static void client_reset(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;

	if (!f->closing)
		uv_timer_stop(&f->timer);
	assert(c->state != RFT_FC_WORK);
	log_segment_close(&c->seg);
	if (c->job_fd >= 0)
		close(c->job_fd);
	if (c->cold_fd >= 0)
		close(c->cold_fd);
	if (c->part_fd >= 0)
		close(c->part_fd);
	if (c->dirfd >= 0)
		close(c->dirfd);
	log_manifest_release(&c->local);
	log_manifest_release(&c->remote);
	cf_buf_release(&c->carry);
	rft_fetch_client_init(f);
}

/* End the fetch: cleanup, then the callback (which may start another). */
static void client_finish(struct rft_fetch *f, int status)
{
	struct rft_fetch_client *c = &f->c;
	rft_fetch_cb cb = c->cb;
	void *arg = c->arg;
	uint64_t applied = status == 0 ? c->remote.applied_index : 0;

	assert(c->state != RFT_FC_IDLE);
	if (status == 0) {
		f->stats.done++;
		f->errmsg[0] = '\0';
	} else {
		f->stats.failed++;
		if (f->errmsg[0] == '\0')
			cf_errmsg_printf(f->errmsg, "%s", cf_strerror(status));
		cf_errmsg_wrapf(f->errmsg, "fetch from node %u", c->peer);
		cf_warn("%s", f->errmsg);
	}
	client_reset(f);
	cb(f, status, applied, arg);
}

void rft_fetch_client_fail(struct rft_fetch *f, int status)
{
	assert(status != 0);
	client_finish(f, status);
}

static void client_timeout(uv_timer_t *t)
{
	struct rft_fetch *f = t->data;

	if (f->c.state == RFT_FC_IDLE || f->c.state == RFT_FC_WORK)
		return;
	cf_errmsg_printf(f->errmsg, "no answer in %u ms", f->timeout_ms);
	rft_fetch_client_fail(f, CF_ETIMEDOUT);
}

int rft__fc_send(struct rft_fetch *f, enum rft_fetch_cstate state,
		       uint8_t type, const void *body, size_t len)
{
	struct rft_fetch_client *c = &f->c;
	int rv;

	c->req_id = f->next_req++;
	rv = rft_peer_send(f->peers, c->peer, type, c->req_id, body, len);
	if (rv != 0) {
		cf_errmsg_printf(f->errmsg, "send: %s", cf_strerror(rv));
		return rv;
	}
	c->state = state;
	f->stats.requests++;
	uv_timer_start(&f->timer, client_timeout, f->timeout_ms, 0);
	return 0;
}

static int client_send_seg(struct rft_fetch *f, enum rft_fetch_cstate state,
			   uint8_t type, uint64_t off, uint64_t len)
{
	const struct log_manifest_seg *rs = &f->c.remote.segs[f->c.idx];
	uint8_t b[RFT_FETCH_REQ_SIZE];

	cf_put_u32(b, rs->partition);
	cf_put_u32(b + 4, rs->segno);
	cf_put_u64(b + 8, off);
	cf_put_u64(b + 16, len);
	return rft__fc_send(f, state, type, b, sizeof(b));
}

static void client_work_run(struct rft_worker_job *job)
{
	struct rft_fetch *f = job->data;

	f->c.job_rv = f->c.job(f);
}

static void client_work_done(struct rft_worker_job *job, int status)
{
	struct rft_fetch *f = job->data;
	struct rft_fetch_client *c = &f->c;
	int rv = status != 0 ? status : c->job_rv;

	assert(c->state == RFT_FC_WORK);
	c->state = RFT_FC_STEP;
	if (c->job_errmsg[0] != '\0')
		memcpy(f->errmsg, c->job_errmsg, sizeof(f->errmsg));
	if (f->closing) {
		rft_fetch_client_fail(f, CF_ESHUTDOWN);
		rft_fetch_maybe_free(f);
		return;
	}
	rv = c->next(f, rv);
	if (rv != 0)
		rft_fetch_client_fail(f, rv);
}

/*
 * Run job on the worker thread, then next on the loop: 1 (queued) or an
 * error. While it runs the loop thread leaves the client's files alone.
 */
int rft__fc_queue(struct rft_fetch *f, rft_fetch_job_fn job,
			rft_fetch_next_fn next)
{
	struct rft_fetch_client *c = &f->c;
	int rv;

	c->job = job;
	c->next = next;
	c->job_rv = 0;
	c->job_errmsg[0] = '\0';
	c->work.data = f;
	rv = rft_worker_submit(f->worker, &c->work, client_work_run,
			       client_work_done);
	if (rv != 0) {
		cf_errmsg_printf(f->errmsg, "queue work: %s", cf_strerror(rv));
		return rv;
	}
	c->state = RFT_FC_WORK;
	return 1;
}

/* Make part_fd the folder of partition (created if missing). */
int rft__fc_part(struct rft_fetch *f, unsigned partition)
{
	struct rft_fetch_client *c = &f->c;
	char name[LOG_SEG_NAME];
	int rv;

	if (c->part_fd >= 0 && c->part_id == partition)
		return 0;
	if (c->part_fd >= 0) {
		if (c->part_dirty && fsync(c->part_fd) != 0) {
			rv = -errno;
			cf_errmsg_printf(f->errmsg, "fsync folder: %s",
					 cf_strerror(rv));
			return rv;
		}
		close(c->part_fd);
		c->part_fd = -1;
		c->part_dirty = false;
	}
	log_segment_part_name(name, partition);
	if (mkdirat(c->dirfd, name, 0755) == 0)
		c->root_dirty = true;
	else if (errno != EEXIST)
		goto err;
	c->part_fd = openat(c->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->part_fd < 0)
		goto err;
	c->part_id = partition;
	return 0;

err:
	rv = -errno;
	cf_errmsg_printf(f->errmsg, "folder %s: %s", name, cf_strerror(rv));
	return rv;
}

static uint64_t client_local_len(const struct rft_fetch_client *c)
{
	const struct log_manifest_seg *rs = &c->remote.segs[c->idx];
	const struct log_manifest_seg *ls =
		log_manifest_find(&c->local, rs->partition, rs->segno);

	return ls != NULL ? ls->length : 0;
}

static void client_seg_errmsg(struct rft_fetch *f, const char *what, int rv)
{
	const struct log_manifest_seg *rs = &f->c.remote.segs[f->c.idx];
	char name[LOG_SEG_NAME];

	log_segment_name(name, rs->segno);
	cf_errmsg_printf(f->errmsg, "p%04u/%s: %s: %s", (unsigned)rs->partition,
			 name, what, cf_strerror(rv));
}


/* Threadpool: fdatasync the segment. */
static int client_sync_job(struct rft_fetch *f)
{
	int rv = log_segment_sync(&f->c.seg);

	if (rv != 0)
		cf_errmsg_printf(f->c.job_errmsg, "segment %u of p%04u: "
				 "fdatasync: %s", (unsigned)f->c.seg.segno,
				 f->c.seg.partition, cf_strerror(rv));
	return rv;
}

static int client_sync_next(struct rft_fetch *f, int rv)
{
	if (rv != 0)
		return rv;
	log_segment_close(&f->c.seg);
	f->c.idx++;
	return rft__fc_advance(f, 0);
}

/* Segment fetched: whole records up to R; then its fdatasync (1). */
static int client_seg_done(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;
	const struct log_manifest_seg *rs = &c->remote.segs[c->idx];

	assert(c->seg.fd >= 0);
	if (c->carry.len != 0 || c->seg.size != rs->length) {
		client_seg_errmsg(f, "does not end on a record", CF_ECORRUPT);
		return CF_ECORRUPT;
	}
	return rft__fc_queue(f, client_sync_job, client_sync_next);
}

/* Ask for the next chunk, or sync the complete segment: 1 or an error. */
static int client_next_range(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;
	const struct log_manifest_seg *rs = &c->remote.segs[c->idx];
	uint64_t len;
	int rv;

	if (c->req_off >= rs->length)
		return client_seg_done(f);
	len = rs->length - c->req_off;
	if (len > f->chunk)
		len = f->chunk;
	rv = client_send_seg(f, RFT_FC_RANGE, RFT_FETCH_MSG_RANGE, c->req_off,
			     len);
	return rv != 0 ? rv : 1;
}

/* Open or create the current segment at local length L, then fetch. */
static int client_seg_open(struct rft_fetch *f, uint64_t l)
{
	struct rft_fetch_client *c = &f->c;
	const struct log_manifest_seg *rs = &c->remote.segs[c->idx];
	char name[LOG_SEG_NAME];
	int rv;

	if (l == rs->length)
		return 0; /* already complete */
	rv = rft__fc_part(f, rs->partition);
	if (rv != 0)
		return rv;
	log_segment_init(&c->seg, rs->partition, rs->segno);
	if (l == 0) {
		log_segment_name(name, rs->segno);
		if (unlinkat(c->part_fd, name, 0) != 0 && errno != ENOENT) {
			rv = -errno;
			client_seg_errmsg(f, "unlink stale file", rv);
			return rv;
		}
		rv = log_segment_create(&c->seg, c->part_fd);
		if (rv != 0) {
			client_seg_errmsg(f, "create", rv);
			return rv;
		}
		c->part_dirty = true;
	} else {
		rv = log_segment_open(&c->seg, c->part_fd, false);
		if (rv == 0 && c->seg.size > l)
			rv = log_segment_truncate(&c->seg, l);
		if (rv != 0) {
			client_seg_errmsg(f, "open", rv);
			return rv;
		}
	}
	c->carry.len = 0;
	c->req_off = c->seg.size;
	return client_next_range(f);
}

/* Threadpool: xxh3 of the local checkpointed prefix. */
static int client_hash_job(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;
	int rv = rft_fetch_hash_file(c->job_fd, 0, c->job_len, &c->local_sum);

	if (rv != 0)
		cf_errmsg_printf(c->job_errmsg, "segment %u of p%04u: local "
				 "prefix: %s", (unsigned)c->remote.segs[c->idx].segno,
				 (unsigned)c->remote.segs[c->idx].partition,
				 cf_strerror(rv));
	return rv;
}

static int client_hash_next(struct rft_fetch *f, int rv)
{
	struct rft_fetch_client *c = &f->c;

	close(c->job_fd);
	c->job_fd = -1;
	if (rv != 0)
		return rv;
	rv = client_send_seg(f, RFT_FC_SUM, RFT_FETCH_MSG_SUM, 0, c->job_len);
	return rv;
}

/* Start the current segment: 1 if a request or job is out, 0 if done. */
static int client_seg_start(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;
	const struct log_manifest_seg *rs = &c->remote.segs[c->idx];
	uint64_t l = client_local_len(c);
	char name[LOG_SEG_NAME];
	int rv;

	if (l == 0)
		return client_seg_open(f, 0);
	rv = rft__fc_part(f, rs->partition);
	if (rv != 0)
		return rv;
	log_segment_name(name, rs->segno);
	c->job_fd = openat(c->part_fd, name, O_RDONLY | O_CLOEXEC);
	if (c->job_fd < 0) {
		rv = errno == ENOENT ? CF_ECORRUPT : -errno;
		client_seg_errmsg(f, "checkpointed segment", rv);
		return rv;
	}
	c->job_len = l;
	return rft__fc_queue(f, client_hash_job, client_hash_next);
}

/* Threadpool: fsync the folders, then install the peer's manifest. */
static int client_install_job(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;
	int rv;

	if (c->part_fd >= 0 && c->part_dirty && fsync(c->part_fd) != 0) {
		rv = -errno;
		cf_errmsg_printf(c->job_errmsg, "fsync folder: %s",
				 cf_strerror(rv));
		return rv;
	}
	c->part_dirty = false;
	if (c->root_dirty && fsync(c->dirfd) != 0) {
		rv = -errno;
		cf_errmsg_printf(c->job_errmsg, "fsync store folder: %s",
				 cf_strerror(rv));
		return rv;
	}
	return log_manifest_save(c->dirfd, &c->remote, c->job_errmsg);
}

static int client_install_next(struct rft_fetch *f, int rv)
{
	if (rv != 0)
		return rv;
	client_finish(f, 0);
	return 0;
}

/* Walk the segments from idx on until a request is out or all are done. */
int rft__fc_advance(struct rft_fetch *f, int rv)
{
	struct rft_fetch_client *c = &f->c;

	for (;;) {
		if (rv < 0)
			return rv;
		if (rv > 0)
			return 0; /* a request is out */
		if (c->idx < c->remote.nsegs) {
			rv = client_seg_start(f);
			if (rv == 0)
				c->idx++;
			continue;
		}
		if (c->cidx == c->remote.ncolds)
			break;
		rv = rft__fc_cold_start(f);
		if (rv == 0)
			c->cidx++;
	}
	rv = rft__fc_queue(f, client_install_job, client_install_next);
	return rv < 0 ? rv : 0;
}

static int client_on_manifest(struct rft_fetch *f, const void *p, size_t n)
{
	struct rft_fetch_client *c = &f->c;
	int rv;

	rv = log_manifest_decode(p, n, &c->remote, f->errmsg);
	if (rv != 0)
		return rv;
	rv = rft_fetch_manifest_check(&c->local, &c->remote, c->min_applied,
				      f->errmsg);
	if (rv != 0)
		return rv;
	c->idx = 0;
	c->cidx = 0;
	return rft__fc_advance(f, 0);
}

static int client_on_sum(struct rft_fetch *f, const void *p, size_t n)
{
	struct rft_fetch_client *c = &f->c;
	int rv;

	if (n != 8)
		return CF_ECORRUPT;
	if (cf_get_u64(p) != c->local_sum) {
		client_seg_errmsg(f, "local prefix differs from the peer's",
				  CF_ECORRUPT);
		return CF_ECORRUPT;
	}
	rv = client_seg_open(f, client_local_len(c));
	if (rv == 0)
		c->idx++;
	return rft__fc_advance(f, rv);
}

/* Append whole, valid records of carry to the segment. */
static int client_drain(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;
	size_t at = 0;
	int rv;

	rv = rft_fetch_records_scan(c->carry.data, c->carry.len,
				    c->remote.partitions, c->seg.partition,
				    &at);
	if (rv != 0)
		goto bad;
	if (at == 0)
		return 0;
	rv = log_segment_write(&c->seg, c->carry.data, at);
	if (rv != 0) {
		client_seg_errmsg(f, "write", rv);
		return rv;
	}
	cf_buf_consume(&c->carry, at);
	f->stats.bytes += at;
	return 0;

bad:
	cf_errmsg_printf(f->errmsg, "segment %u of p%04u: bad record at %llu",
			 (unsigned)c->seg.segno, c->seg.partition,
			 (unsigned long long)(c->seg.size + at));
	return CF_ECORRUPT;
}

static int client_on_range(struct rft_fetch *f, const void *p, size_t n)
{
	struct rft_fetch_client *c = &f->c;
	const struct log_manifest_seg *rs = &c->remote.segs[c->idx];
	uint64_t want = rs->length - c->req_off;
	int rv;

	if (want > f->chunk)
		want = f->chunk;
	if (n != want) {
		client_seg_errmsg(f, "short chunk", CF_ECORRUPT);
		return CF_ECORRUPT;
	}
	rv = cf_buf_append(&c->carry, p, n);
	if (rv != 0)
		return rv;
	c->req_off += n;
	rv = client_drain(f);
	if (rv != 0)
		return rv;
	return rft__fc_advance(f, client_next_range(f));
}

void rft_fetch_client_answer(struct rft_fetch *f, unsigned from, uint8_t type,
			     uint64_t req_id, const void *body, size_t len)
{
	struct rft_fetch_client *c = &f->c;
	const uint8_t *p = body;
	int status;
	int rv;

	if (c->state == RFT_FC_IDLE || c->state == RFT_FC_WORK ||
	    from != c->peer || req_id != c->req_id)
		return; /* late answer of an ended fetch or request */
	uv_timer_stop(&f->timer);
	c->req_id = 0; /* answered */
	if ((type == RFT_FETCH_MSG_MANIFEST_R) !=
		    (c->state == RFT_FC_MANIFEST) ||
	    (type == RFT_FETCH_MSG_SUM_R) != (c->state == RFT_FC_SUM) ||
	    (type == RFT_FETCH_MSG_CRANGE_R) != (c->state == RFT_FC_CRANGE) ||
	    len < RFT_FETCH_STATUS) {
		cf_errmsg_printf(f->errmsg, "malformed answer");
		rft_fetch_client_fail(f, CF_ECORRUPT);
		return;
	}
	status = (int32_t)cf_get_u32(p);
	if (status != 0) {
		if (c->state == RFT_FC_MANIFEST)
			cf_errmsg_printf(f->errmsg, "peer manifest: %s",
					 cf_strerror(status));
		else if (c->state == RFT_FC_CRANGE)
			rft__fc_cold_errmsg(f, f->errmsg, "peer refused",
					   status);
		else
			client_seg_errmsg(f, "peer refused", status);
		rft_fetch_client_fail(f, status > 0 ? CF_ECORRUPT : status);
		return;
	}
	p += RFT_FETCH_STATUS;
	len -= RFT_FETCH_STATUS;
	switch (c->state) {
	case RFT_FC_MANIFEST:
		rv = client_on_manifest(f, p, len);
		break;
	case RFT_FC_SUM:
		rv = client_on_sum(f, p, len);
		break;
	case RFT_FC_CRANGE:
		rv = rft__fc_on_crange(f, p, len);
		break;
	default:
		rv = client_on_range(f, p, len);
		break;
	}
	if (rv != 0)
		rft_fetch_client_fail(f, rv);
}

int rft_fetch_start(struct rft_fetch *f, unsigned peer, const char *dest_dir,
		    uint64_t min_applied, rft_fetch_cb cb, void *arg)
{
	struct rft_fetch_client *c = &f->c;
	int rv;

	if (f->closing)
		return CF_ESHUTDOWN;
	if (c->state != RFT_FC_IDLE)
		return CF_ECONFLICT;
	if (!rft_peer_up(f->peers, peer))
		return CF_EUNAVAIL;
	f->errmsg[0] = '\0';
	if (mkdir(dest_dir, 0755) != 0 && errno != EEXIST) {
		rv = -errno;
		cf_errmsg_printf(f->errmsg, "mkdir %s: %s", dest_dir,
				 cf_strerror(rv));
		return rv;
	}
	c->dirfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		rv = -errno;
		cf_errmsg_printf(f->errmsg, "open %s: %s", dest_dir,
				 cf_strerror(rv));
		return rv;
	}
	rv = log_manifest_load(c->dirfd, &c->local, f->errmsg);
	if (rv == CF_ENOTFOUND) {
		log_manifest_init(&c->local); /* empty: any P, index 0 */
		f->errmsg[0] = '\0';
	} else if (rv != 0) {
		goto err;
	}
	c->peer = peer;
	c->min_applied = min_applied;
	c->cb = cb;
	c->arg = arg;
	rv = rft__fc_send(f, RFT_FC_MANIFEST, RFT_FETCH_MSG_MANIFEST, "", 0);
	if (rv != 0)
		goto err;
	f->stats.started++;
	return 0;

err:
	client_reset(f);
	assert(rv != 0);
	return rv;
}
