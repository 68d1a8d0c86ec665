#include "config.h"

/*
 * Segment fetch protocol, over the peer links (rft_peer frames carry
 * [type][reqId][body]; an answer has the reqId of its request). Every
 * integer is little-endian.
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
 *
 * Statuses: 0; CF_ENOTFOUND (no MANIFEST, or the segment is not in it: it
 * was never there or compaction removed it); CF_EBADREQ (malformed request,
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
 * The server reads files on the loop thread: one pread of at most 1 MiB
 * per RANGE, a streaming hash for SUM (the whole asked range).
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
#include "raft/rft_fetch_int.h"

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
		ssize_t r = pread(fd, buf, want, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rv = -errno;
			goto out;
		}
		if (r == 0) {
			rv = CF_ECORRUPT; /* shorter than its length */
			goto out;
		}
		XXH3_64bits_update(st, buf, (size_t)r);
		off += (uint64_t)r;
		len -= (uint64_t)r;
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

struct srv_req {
	uint32_t partition;
	uint32_t segno;
	uint64_t off;
	uint64_t len;
};

/* Decode a SUM/RANGE body and check it against the manifest. */
static int srv_check(struct rft_fetch_server *s, const void *body, size_t n,
		     struct srv_req *q)
{
	const struct log_manifest_seg *ms;
	struct cf_rd r;
	int rv;

	if (n != RFT_FETCH_REQ_SIZE)
		return CF_EBADREQ;
	cf_rd_init(&r, body, n);
	q->partition = cf_rd_u32(&r);
	q->segno = cf_rd_u32(&r);
	q->off = cf_rd_u64(&r);
	q->len = cf_rd_u64(&r);
	if (r.err != 0)
		return CF_EBADREQ;
	rv = srv_refresh(s);
	if (rv != 0)
		return rv;
	if (q->partition >= s->man.partitions)
		return CF_EBADREQ;
	ms = log_manifest_find(&s->man, q->partition, q->segno);
	if (ms == NULL)
		return CF_ENOTFOUND;
	if (q->off > ms->length || q->len > ms->length - q->off)
		return CF_EBADREQ; /* past the checkpointed length */
	return 0;
}

static int srv_open(struct rft_fetch_server *s, const struct srv_req *q)
{
	char part[LOG_SEG_NAME];
	char seg[LOG_SEG_NAME];
	char path[2 * LOG_SEG_NAME + 2];
	int fd;

	log_segment_part_name(part, q->partition);
	log_segment_name(seg, q->segno);
	snprintf(path, sizeof(path), "%s/%s", part, seg);
	fd = openat(s->dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? CF_ENOTFOUND : -errno;
	return fd;
}

static int srv_range(struct rft_fetch *f, const struct srv_req *q)
{
	struct rft_fetch_server *s = &f->s;
	size_t done = 0;
	char *p;
	int fd;
	int rv;

	if (q->len == 0 || q->len > RFT_FETCH_CHUNK_MAX)
		return CF_EBADREQ;
	rv = cf_buf_reserve(&s->out, (size_t)q->len);
	if (rv != 0)
		return rv;
	fd = srv_open(s, q);
	if (fd < 0)
		return fd;
	p = s->out.data + s->out.len;
	while (done < q->len) {
		ssize_t r = pread(fd, p + done, (size_t)q->len - done,
				  (off_t)(q->off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rv = r < 0 ? -errno : CF_ECORRUPT;
			close(fd);
			return rv;
		}
		done += (size_t)r;
	}
	close(fd);
	if (s->corrupt > 0) {
		s->corrupt--;
		p[q->len / 2] ^= 0x20; /* test hook: damage in flight */
	}
	s->out.len += done;
	f->stats.served_bytes += done;
	return 0;
}

static int srv_sum(struct rft_fetch *f, const struct srv_req *q)
{
	uint64_t sum;
	int fd;
	int rv;

	fd = srv_open(&f->s, q);
	if (fd < 0)
		return fd;
	rv = rft_fetch_hash_file(fd, q->off, q->len, &sum);
	close(fd);
	if (rv != 0)
		return rv;
	return cf_buf_put_u64(&f->s.out, sum);
}

void rft_fetch_serve(struct rft_fetch *f, unsigned from, uint8_t type,
		     uint64_t req_id, const void *body, size_t len)
{
	struct rft_fetch_server *s = &f->s;
	struct srv_req q;
	uint8_t rtype = (uint8_t)(type + 1);
	int rv;

	s->out.len = 0;
	if (cf_buf_zero(&s->out, RFT_FETCH_STATUS) != 0)
		return; /* no memory: the client times out */
	switch (type) {
	case RFT_FETCH_MSG_MANIFEST:
		rv = len == 0 ? srv_refresh(s) : CF_EBADREQ;
		if (rv == 0)
			rv = cf_buf_append(&s->out, s->raw.data, s->raw.len);
		break;
	case RFT_FETCH_MSG_SUM:
		rv = srv_check(s, body, len, &q);
		if (rv == 0)
			rv = srv_sum(f, &q);
		break;
	case RFT_FETCH_MSG_RANGE:
		rv = srv_check(s, body, len, &q);
		if (rv == 0)
			rv = srv_range(f, &q);
		break;
	default:
		assert(false);
		return;
	}
	if (rv != 0) {
		cf_debug("fetch: refusing request %u of node %u: %s",
			 (unsigned)type, from, cf_errname(rv));
		s->out.len = RFT_FETCH_STATUS;
	}
	cf_put_u32(s->out.data, (uint32_t)(int32_t)rv);
	f->stats.served++;
	/* A link that went down loses the answer: the client sees it. */
	(void)rft_peer_send(f->peers, from, rtype, req_id, s->out.data,
			    s->out.len);
	if (s->out.cap > 2 * (size_t)RFT_FETCH_CHUNK_MAX + 4096)
		cf_buf_release(&s->out);
}

/* ---------------------------------------------------------- life cycle */

int rft_fetch_create(struct rft_fetch **out, uv_loop_t *loop,
		     struct rft_peer_mgr *peers,
		     const struct rft_fetch_opts *o, char *errmsg)
{
	struct rft_fetch *f;
	int rv;

	if (o->store_dir == NULL || o->chunk_bytes > RFT_FETCH_CHUNK_MAX) {
		cf_errmsg_printf(errmsg, "fetch: bad options");
		return CF_EBADREQ;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->loop = loop;
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

static void fetch_closed(uv_handle_t *h)
{
	struct rft_fetch *f = h->data;
	void (*cb)(void *arg) = f->close_cb;
	void *arg = f->close_arg;

	if (f->c.state != RFT_FC_IDLE)
		rft_fetch_client_fail(f, CF_ESHUTDOWN);
	cf_buf_release(&f->c.carry);
	log_manifest_release(&f->s.man);
	cf_buf_release(&f->s.raw);
	cf_buf_release(&f->s.out);
	close(f->s.dirfd);
	free(f);
	if (cb != NULL)
		cb(arg);
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
		if (!f->closing)
			rft_fetch_serve(f, from, type, req_id, body, len);
		return true;
	case RFT_FETCH_MSG_MANIFEST_R:
	case RFT_FETCH_MSG_SUM_R:
	case RFT_FETCH_MSG_RANGE_R:
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
	if (up || f->closing || f->c.state == RFT_FC_IDLE ||
	    f->c.peer != node)
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
}

void rft_fetch_test_corrupt_ranges(struct rft_fetch *f, unsigned n)
{
	f->s.corrupt = n;
}
