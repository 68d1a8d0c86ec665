#include "config.h"

/*
 * Segment fetch protocol, over the peer links (rft_peer frames carry
 * [type][reqId][body]; an answer has the reqId of its request). Every
 * integer is little-endian. Requests and answers are decoded and checked
 * by rft_fetch_msg.c.
 *
 *   FETCH_MANIFEST   (24)  body: empty
 *   FETCH_MANIFEST_R (25)  i32 status, then (status 0) the server's MANIFEST
 *                          bytes (log_manifest.c layout) as of its last
 *                          checkpoint
 *   FETCH_SUM        (26)  u32 partition, u32 segno, u64 offset, u64 len
 *   FETCH_SUM_R      (27)  i32 status, then (status 0) u64 XXH3_64bits of
 *                          the segment's bytes [offset, offset + len)
 *   FETCH_RANGE      (28)  u32 partition, u32 segno, u64 offset, u64 len,
 *                          1 <= len <= 1 MiB
 *   FETCH_RANGE_R    (29)  i32 status, then (status 0) exactly len bytes:
 *                          the segment's bytes [offset, offset + len)
 *   FETCH_CRANGE     (30)  u32 partition, u32 cold number, u64 offset,
 *                          u64 len, 1 <= len <= 1 MiB
 *   FETCH_CRANGE_R   (31)  i32 status, then (status 0) exactly len bytes of
 *                          the cold file (a cold file named by a manifest
 *                          is complete and never changes)
 *
 * Statuses: 0; CF_ENOTFOUND (no MANIFEST, or the segment or cold file is
 * not in it: it was never there or compaction removed it); CF_EBADREQ (malformed request,
 * partition out of range, range past the checkpointed length, len 0 or too
 * large); CF_ECORRUPT (the file is shorter than its checkpointed length);
 * -errno (a read failed).
 *
 * Consistency: the server answers from the MANIFEST file on disk. A
 * checkpoint fsyncs the segments before it renames a new MANIFEST in, and
 * checkpointed bytes are never rewritten (segments are append-only; open
 * cuts only what is past the manifest), so every byte a server sends
 * within a manifest's lengths is durable and final. The server keeps the
 * decoded manifest and reloads it when MANIFEST's (dev, inode, size,
 * mtime) change, so ranges of a newer checkpoint than the one a client got
 * are served too (lengths only grow; a segment that disappears answers
 * CF_ENOTFOUND).
 *
 * The server checks requests against the manifest on the loop thread and
 * reads files on the node's worker thread (rft_worker.h): one pread of at most
 * 1 MiB per RANGE, a streaming hash of the asked range for SUM. At most
 * RFT_FETCH_SERVE_MAX reads are in flight; beyond, requests are refused
 * with CF_EUNAVAIL (a client has one request out at a time, so this bounds
 * only misbehaving peers).
 */

#include "raft/rft_fetch.h"

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
#include "raft/rft_fetch_int.h"
#include "raft/rft_fetch_msg.h"

#define FETCH_TIMEOUT_DEFAULT 10000u
#define HASH_CHUNK (1u << 20)

/* ------------------------------------------------------------- helpers */

int rft_fetch_hash_file(int fd, uint64_t off, uint64_t len, uint64_t *sum)
{
	XXH3_state_t *st;
	char *buf;
	int rv = 0;

	st = XXH3_createState();
	buf = malloc(HASH_CHUNK);
	if (st == NULL || buf == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	XXH3_64bits_reset(st);
	while (len > 0) {
		size_t want = len < HASH_CHUNK ? (size_t)len : HASH_CHUNK;
		size_t got;

		rv = cf_pread_all(fd, buf, want, off, &got);
		if (rv == 0 && got != want)
			rv = CF_ECORRUPT; /* shorter than its length */
		if (rv != 0)
			goto out;
		XXH3_64bits_update(st, buf, got);
		off += got;
		len -= got;
	}
	*sum = XXH3_64bits_digest(st);
out:
	free(buf);
	if (st != NULL)
		XXH3_freeState(st);
	return rv;
}

/* -------------------------------------------------------------- server */

/* Make s->man the MANIFEST on disk (CF_ENOTFOUND if there is none). */
static int srv_refresh(struct rft_fetch_server *s)
{
	char errmsg[CF_ERRMSG_SIZE];
	struct stat st;
	int rv;

	if (fstatat(s->dirfd, LOG_MANIFEST_NAME, &st, 0) != 0) {
		s->have = false;
		return errno == ENOENT ? CF_ENOTFOUND : -errno;
	}
	if (s->have && st.st_dev == s->dev && st.st_ino == s->ino &&
	    st.st_size == s->size && st.st_mtim.tv_sec == s->mtim.tv_sec &&
	    st.st_mtim.tv_nsec == s->mtim.tv_nsec)
		return 0;
	/*
	 * A rename between the stat and the load gives a newer manifest
	 * under the older identity: the next request reloads again.
	 */
	s->have = false;
	rv = log_manifest_load(s->dirfd, &s->man, errmsg);
	if (rv != 0) {
		cf_warn("fetch: serving: %s", errmsg);
		return rv;
	}
	s->raw.len = 0;
	rv = log_manifest_encode(&s->man, &s->raw);
	if (rv != 0)
		return rv;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtim = st.st_mtim;
	s->have = true;
	return 0;
}

/* Decode a SUM/RANGE/CRANGE body and check it against the manifest. */
static int srv_check(struct rft_fetch_server *s, uint8_t type,
		     const void *body, size_t n, struct rft_fetch_req *q)
{
	int rv;

	rv = rft_fetch_req_decode(body, n, q);
	if (rv != 0)
		return rv;
	rv = srv_refresh(s);
	if (rv != 0)
		return rv;
	return rft_fetch_req_check(&s->man, type, q);
}

/* A SUM or RANGE read, done on the worker thread. */
struct srv_work {
	struct rft_worker_job job;
	struct rft_fetch *f;
	int dirfd;	  /* the store folder (f's, read-only here) */
	unsigned from;
	uint8_t type;
	uint64_t req_id;
	struct rft_fetch_req q;
	int status;
	struct cf_buf out; /* status, then the payload */
};

/*
 * The file of a request, opened by the worker job and closed before it
 * ends: the job owns it (nothing else sees it, so nothing closes it under
 * the read), the worker runs one job at a time, and queued jobs hold none,
 * so serving costs one descriptor of the node's reserve (cf_fds.h). It is
 * not the store's file cache: the files served are those of the last
 * checkpoint's manifest, which the store may have switched away from,
 * and the store is closed and reopened under a fetch.
 */
static int srv_open(int dirfd, uint8_t type, const struct rft_fetch_req *q)
{
	char part[LOG_SEG_NAME];
	char seg[LOG_SEG_NAME];
	char path[2 * LOG_SEG_NAME + 2];
	int fd;

	log_segment_part_name(part, q->partition);
	if (type == RFT_FETCH_MSG_CRANGE)
		log_cold_name(seg, q->segno);
	else
		log_segment_name(seg, q->segno);
	snprintf(path, sizeof(path), "%s/%s", part, seg);
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? CF_ENOTFOUND : -errno;
	return fd;
}

/* Worker thread: touches only w (and reads the folder through dirfd). */
static void srv_work_run(struct rft_worker_job *job)
{
	struct srv_work *w = job->data;
	size_t done = 0;
	uint64_t sum;
	char *p;
	int fd;

	w->status = srv_open(w->dirfd, w->type, &w->q);
	if (w->status < 0)
		return;
	fd = w->status;
	w->status = 0;
	if (w->type == RFT_FETCH_MSG_SUM) {
		w->status = rft_fetch_hash_file(fd, w->q.off, w->q.len, &sum);
		if (w->status == 0)
			w->status = cf_buf_put_u64(&w->out, sum);
		close(fd);
		return;
	}
	w->status = cf_buf_reserve(&w->out, (size_t)w->q.len);
	p = w->out.data + w->out.len;
	if (w->status == 0)
		w->status = cf_pread_all(fd, p, (size_t)w->q.len, w->q.off,
					 &done);
	if (w->status == 0 && done != w->q.len)
		w->status = CF_ECORRUPT; /* shorter than its checkpoint */
	close(fd);
	if (w->status == 0)
		w->out.len += done;
}

static void srv_answer(struct rft_fetch *f, unsigned from, uint8_t type,
		       uint64_t req_id, int status, struct cf_buf *out)
{
	if (status != 0) {
		cf_debug("fetch: refusing request %u of node %u: %s",
			 (unsigned)type, from, cf_errname(status));
		out->len = RFT_FETCH_STATUS;
	}
	cf_put_u32(out->data, (uint32_t)(int32_t)status);
	f->stats.served++;
	if (status == 0)
		f->stats.served_bytes += out->len - RFT_FETCH_STATUS;
	/* A link that went down loses the answer: the client sees it. */
	(void)rft_peer_send(f->peers, from, (uint8_t)(type + 1), req_id,
			    out->data, out->len);
}

static void srv_work_done(struct rft_worker_job *job, int status)
{
	struct srv_work *w = job->data;
	struct rft_fetch *f = w->f;

	if (status != 0) /* canceled */
		w->status = status;
	if (!f->closing) {
		if (w->status == 0 && w->type != RFT_FETCH_MSG_SUM &&
		    f->s.corrupt > 0) {
			f->s.corrupt--; /* test hook: damage in flight */
			w->out.data[RFT_FETCH_STATUS + w->q.len / 2] ^= 0x20;
		}
		srv_answer(f, w->from, w->type, w->req_id, w->status, &w->out);
	}
	cf_buf_release(&w->out);
	free(w);
	assert(f->s.inflight > 0);
	f->s.inflight--;
	rft_fetch_maybe_free(f);
}

/* Check a SUM/RANGE request on the loop, read on the worker thread. */
static int srv_queue(struct rft_fetch *f, unsigned from, uint8_t type,
		     uint64_t req_id, const void *body, size_t len)
{
	struct srv_work *w;
	int rv;

	if (f->s.inflight >= RFT_FETCH_SERVE_MAX)
		return CF_EUNAVAIL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	rv = srv_check(&f->s, type, body, len, &w->q);
	if (rv == 0)
		rv = cf_buf_zero(&w->out, RFT_FETCH_STATUS);
	if (rv != 0)
		goto err;
	w->job.data = w;
	w->f = f;
	w->dirfd = f->s.dirfd;
	w->from = from;
	w->type = type;
	w->req_id = req_id;
	rv = rft_worker_submit(f->worker, &w->job, srv_work_run, srv_work_done);
	if (rv != 0)
		goto err;
	f->s.inflight++;
	return 0;

err:
	cf_buf_release(&w->out);
	free(w);
	return rv;
}

void rft_fetch_serve(struct rft_fetch *f, unsigned from, uint8_t type,
		     uint64_t req_id, const void *body, size_t len)
{
	struct rft_fetch_server *s = &f->s;
	int rv;

	s->out.len = 0;
	if (cf_buf_zero(&s->out, RFT_FETCH_STATUS) != 0)
		return; /* no memory: the client times out */
	if (type == RFT_FETCH_MSG_MANIFEST) {
		rv = len == 0 ? srv_refresh(s) : CF_EBADREQ;
		if (rv == 0)
			rv = cf_buf_append(&s->out, s->raw.data, s->raw.len);
	} else {
		rv = srv_queue(f, from, type, req_id, body, len);
		if (rv == 0)
			return; /* answered by srv_work_done */
	}
	srv_answer(f, from, type, req_id, rv, &s->out);
}

/* ---------------------------------------------------------- life cycle */

int rft_fetch_create(struct rft_fetch **out, uv_loop_t *loop,
		     struct rft_peer_mgr *peers,
		     const struct rft_fetch_opts *o, char *errmsg)
{
	struct rft_fetch *f;
	int rv;

	if (o->store_dir == NULL || o->worker == NULL ||
	    o->chunk_bytes > RFT_FETCH_CHUNK_MAX) {
		cf_errmsg_printf(errmsg, "fetch: bad options");
		return CF_EBADREQ;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->loop = loop;
	f->worker = o->worker;
	f->peers = peers;
	f->chunk = o->chunk_bytes != 0 ? o->chunk_bytes : RFT_FETCH_CHUNK_MAX;
	f->timeout_ms =
		o->timeout_ms != 0 ? o->timeout_ms : FETCH_TIMEOUT_DEFAULT;
	f->next_req = 1;
	log_manifest_init(&f->s.man);
	cf_buf_init(&f->s.raw);
	cf_buf_init(&f->s.out);
	f->s.dirfd = open(o->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->s.dirfd < 0) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "fetch: open %s: %s", o->store_dir,
				 cf_strerror(rv));
		free(f);
		return rv;
	}
	rv = uv_timer_init(loop, &f->timer);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "fetch: timer: %s", cf_strerror(rv));
		close(f->s.dirfd);
		free(f);
		return rv;
	}
	f->timer.data = f;
	rft_fetch_client_init(f);
	*out = f;
	return 0;
}

void rft_fetch_maybe_free(struct rft_fetch *f)
{
	void (*cb)(void *arg) = f->close_cb;
	void *arg = f->close_arg;

	if (!f->closing || !f->timer_closed || f->s.inflight > 0 ||
	    f->c.state == RFT_FC_WORK)
		return;
	cf_buf_release(&f->c.carry);
	log_manifest_release(&f->s.man);
	cf_buf_release(&f->s.raw);
	cf_buf_release(&f->s.out);
	close(f->s.dirfd);
	free(f);
	if (cb != NULL)
		cb(arg);
}

static void fetch_closed(uv_handle_t *h)
{
	struct rft_fetch *f = h->data;

	f->timer_closed = true;
	/* A job on the worker ends the fetch when it is done. */
	if (f->c.state != RFT_FC_IDLE && f->c.state != RFT_FC_WORK)
		rft_fetch_client_fail(f, CF_ESHUTDOWN);
	rft_fetch_maybe_free(f);
}

void rft_fetch_close(struct rft_fetch *f, void (*cb)(void *arg), void *arg)
{
	assert(!f->closing);
	f->closing = true;
	f->close_cb = cb;
	f->close_arg = arg;
	uv_close((uv_handle_t *)&f->timer, fetch_closed);
}

bool rft_fetch_on_msg(struct rft_fetch *f, unsigned from, uint8_t type,
		      uint64_t req_id, const void *body, size_t len)
{
	switch (type) {
	case RFT_FETCH_MSG_MANIFEST:
	case RFT_FETCH_MSG_SUM:
	case RFT_FETCH_MSG_RANGE:
	case RFT_FETCH_MSG_CRANGE:
		if (!f->closing)
			rft_fetch_serve(f, from, type, req_id, body, len);
		return true;
	case RFT_FETCH_MSG_MANIFEST_R:
	case RFT_FETCH_MSG_SUM_R:
	case RFT_FETCH_MSG_RANGE_R:
	case RFT_FETCH_MSG_CRANGE_R:
		if (!f->closing)
			rft_fetch_client_answer(f, from, type, req_id, body,
						len);
		return true;
	default:
		return false;
	}
}

void rft_fetch_on_peer_state(struct rft_fetch *f, unsigned node, bool up)
{
	/* During local work the next request, if any, sees the link. */
	if (up || f->closing || f->c.state == RFT_FC_IDLE ||
	    f->c.state == RFT_FC_WORK || f->c.peer != node)
		return;
	cf_errmsg_printf(f->errmsg, "link to node %u went down", node);
	rft_fetch_client_fail(f, CF_EUNAVAIL);
}

bool rft_fetch_running(const struct rft_fetch *f)
{
	return f->c.state != RFT_FC_IDLE;
}

const char *rft_fetch_errmsg(const struct rft_fetch *f)
{
	return f->errmsg;
}

void rft_fetch_get_stats(const struct rft_fetch *f, struct rft_fetch_stats *st)
{
	*st = f->stats;
	st->serving = f->s.inflight;
}

void rft_fetch_test_corrupt_ranges(struct rft_fetch *f, unsigned n)
{
	f->s.corrupt = n;
}
