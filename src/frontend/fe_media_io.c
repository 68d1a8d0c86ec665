#include "config.h"

/*
 * Media blobs: chunked peer messages and blob files (see fe_media_int.h).
 *
 * On disk: DIR/media/{mediaId} holds the bytes (written to a .tmp file,
 * fsync'd, renamed, directory fsync'd). The node writes and reads blobs
 * (up to --max-media, 16 MiB by default) in libuv's thread pool
 * (fe_media_blob_write_async, fe_media_blob_read_async), never on the loop:
 * a 16 MiB write with its fsync takes tens to hundreds of milliseconds.
 * The pool, not the worker thread, because a blob is one short job that a
 * client waits for, and the worker may be busy with a long compaction.
 *
 * Peer-link messages (FE_MSG_MEDIA_*), every one chunked the same way
 * (a blob of 16 MiB does not fit one peer message):
 *   u64 req      transfer id, chosen by the requesting side; answers
 *                carry the id of the request
 *   u8 flags     1 = first chunk, 2 = last chunk
 *   u32 hlen     header length (0 except in the first chunk)
 *   hlen bytes   header, a JSON object (below)
 *   data         the next bytes of the blob (CHUNK bytes at most)
 * Headers:
 *   UP     {"user","mime"}                         data: the blob
 *   UP_R   {"status"} or the answer's fields        no data
 *   PUT    {"id","user","mime","xxh3"}              data: the blob
 *   PUT_R  {"status"}                               no data
 *   GET    {"id"}                                   no data
 *   GET_R  {"status"}                               data: the blob if 0
 * xxh3 is the XXH3-64 of the bytes, 16 hex digits.
 */

#include "frontend/fe_media_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_io.h"
#include "common/cf_time.h"
#include "frontend/fe_server.h"

#define CHUNK (1u << 20)
#define XFER_MS 30000

size_t fe_media_max(const struct fe_media *m)
{
	return m->srv->cfg.max_media ? m->srv->cfg.max_media
				     : FE_MEDIA_MAX_DEFAULT;
}

int fe_media_send(struct fe_media *m, unsigned to, uint8_t type,
		       uint64_t req, json_t *hdr, const void *data,
		       size_t len)
{
	struct cf_buf b = CF_BUF_INIT;
	char *h = hdr != NULL ? json_dumps(hdr, JSON_COMPACT) : NULL;
	size_t hl = h != NULL ? strlen(h) : 0;
	size_t off = 0;
	int rv = 0;

	if (hdr != NULL && h == NULL)
		return -ENOMEM;
	do {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		uint8_t flags = (off == 0 ? 1 : 0) | (off + n == len ? 2 : 0);
		cf_buf_truncate(&b, 0);
		if ((rv = cf_buf_put_u64(&b, req)) != 0 ||
		    (rv = cf_buf_put_u8(&b, flags)) != 0 ||
		    (rv = cf_buf_put_u32(&b, off == 0 ? (uint32_t)hl : 0)) !=
			    0 ||
		    (off == 0 && hl > 0 &&
		     (rv = cf_buf_append(&b, h, hl)) != 0) ||
		    (n > 0 &&
		     (rv = cf_buf_append(&b, (const char *)data + off, n)) != 0))
			break;
		rv = rft_node_send_user(m->srv->node, to, type, 0, b.data, b.len);
		if (rv != 0)
			break;
		off += n;
	} while (off < len);
	free(h);
	cf_buf_release(&b);
	return rv;
}

int fe_media_send_status(struct fe_media *m, unsigned to, uint8_t type,
		       uint64_t req, int status)
{
	json_t *h = json_pack("{s:i}", "status", status);
	int rv = fe_media_send(m, to, type, req, h, NULL, 0);

	json_decref(h);
	return rv;
}

/* ---- storage ---- */

static void blob_path(struct fe_media *m, const char *id, const char *suffix,
		      char *out, size_t size)
{
	snprintf(out, size, "%s/media/%s%s", m->srv->cfg.data_dir, id,
		 suffix);
}

int fe_media_blob_write(struct fe_media *m, const char *id, const void *data,
		      size_t len)
{
	char dir[4096], tmp[4200], path[4200];
	int fd, rv = 0;

	snprintf(dir, sizeof dir, "%s/media", m->srv->cfg.data_dir);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	blob_path(m, id, ".tmp", tmp, sizeof tmp);
	blob_path(m, id, "", path, sizeof path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rv = cf_write_all(fd, data, len);
	if (rv != 0)
		goto fail;
	if (fsync(fd) != 0 || rename(tmp, path) != 0) {
		rv = -errno;
		goto fail;
	}
	close(fd);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return rv;
}

int fe_media_blob_unlink(struct fe_media *m, const char *id)
{
	char path[4200];

	blob_path(m, id, "", path, sizeof path);
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Read the blob into *out (malloc'd). CF_ENOTFOUND if absent. */
int fe_media_blob_read(struct fe_media *m, const char *id, char **out,
		     size_t *len)
{
	char path[4200];
	struct stat st;
	char *p;
	size_t off = 0;
	int fd;

	blob_path(m, id, "", path, sizeof path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? CF_ENOTFOUND : -errno;
	if (fstat(fd, &st) != 0 || (p = malloc((size_t)st.st_size + 1)) ==
						   NULL) {
		close(fd);
		return -ENOMEM;
	}
	if (cf_read_all(fd, p, (size_t)st.st_size, &off) != 0)
		off = 0; /* refused below as short */
	close(fd);
	if (off != (size_t)st.st_size) {
		free(p);
		return CF_EIO;
	}
	*out = p;
	*len = off;
	return 0;
}

/* ---- the same, in libuv's thread pool ---- */

void (*fe_media_io_test_hook)(void *arg);
void *fe_media_io_test_arg;

struct media_io {
	uv_work_t w;
	struct fe_media *m;
	bool write;
	char id[64];
	char *data; /* write: owned, freed after; read: the result */
	size_t len;
	int status;
	fe_media_io_cb cb;
	void *arg;
};

static void media_io_work(uv_work_t *w)
{
	struct media_io *io = w->data;

	if (fe_media_io_test_hook != NULL)
		fe_media_io_test_hook(fe_media_io_test_arg);
	if (io->write)
		io->status = fe_media_blob_write(io->m, io->id, io->data,
						 io->len);
	else
		io->status = fe_media_blob_read(io->m, io->id, &io->data,
						&io->len);
}

static void media_io_after(uv_work_t *w, int status)
{
	struct media_io *io = w->data;

	if (status != 0)
		io->status = status;
	if (io->write || io->status != 0) {
		free(io->data);
		io->data = NULL;
		io->len = 0;
	}
	io->m->io_inflight--;
	io->cb(io->m, io->status, io->data, io->len, io->arg);
	free(io);
}

static int media_io_queue(struct fe_media *m, bool write, const char *id,
			  char *data, size_t len, fe_media_io_cb cb, void *arg)
{
	struct media_io *io = calloc(1, sizeof *io);
	int rv;

	if (io == NULL || strlen(id) >= sizeof io->id) {
		free(io);
		free(data);
		return io == NULL ? -ENOMEM : CF_EBADREQ;
	}
	io->m = m;
	io->write = write;
	strcpy(io->id, id);
	io->data = data;
	io->len = len;
	io->cb = cb;
	io->arg = arg;
	io->w.data = io;
	rv = uv_queue_work(m->srv->loop, &io->w, media_io_work,
			   media_io_after);
	if (rv != 0) {
		free(io->data);
		free(io);
		return rv;
	}
	m->io_inflight++;
	return 0;
}

int fe_media_blob_write_async(struct fe_media *m, const char *id, char *data,
			      size_t len, fe_media_io_cb cb, void *arg)
{
	return media_io_queue(m, true, id, data, len, cb, arg);
}

int fe_media_blob_read_async(struct fe_media *m, const char *id,
			     fe_media_io_cb cb, void *arg)
{
	return media_io_queue(m, false, id, NULL, 0, cb, arg);
}

/* ---- a peer's PUT or GET ---- */

char *fe_media_xfer_take(struct fe_media_xfer *x, size_t *len)
{
	char *p = x->data.data;

	*len = x->data.len;
	cf_buf_init(&x->data);
	return p;
}

/* Who asked (a peer's PUT or GET), for the answer after the disk. */
struct peer_ask {
	unsigned from;
	uint64_t req;
};

static void put_written(struct fe_media *m, int status, char *data,
			size_t len, void *arg)
{
	struct peer_ask *a = arg;

	(void)data;
	(void)len;
	fe_media_send_status(m, a->from, FE_MSG_MEDIA_PUT_R, a->req, status);
	free(a);
}

static void get_read(struct fe_media *m, int status, char *data, size_t len,
		     void *arg)
{
	struct peer_ask *a = arg;

	if (status == 0) {
		json_t *h = json_pack("{s:i}", "status", 0);
		fe_media_send(m, a->from, FE_MSG_MEDIA_GET_R, a->req, h, data,
			      len);
		json_decref(h);
	} else {
		fe_media_send_status(m, a->from, FE_MSG_MEDIA_GET_R, a->req,
				     status);
	}
	free(data);
	free(a);
}

void fe_media_peer_blob_io(struct fe_media *m, struct fe_media_xfer *x,
			 const char *id, bool put)
{
	uint8_t answer = put ? FE_MSG_MEDIA_PUT_R : FE_MSG_MEDIA_GET_R;
	struct peer_ask *a;
	char *data;
	size_t len;
	int rv = CF_EBADREQ;

	if (id == NULL || !cf_id_valid(id, strlen(id)))
		goto answer;
	rv = -ENOMEM;
	a = malloc(sizeof *a);
	if (a == NULL)
		goto answer;
	a->from = x->from;
	a->req = x->req;
	if (put) {
		data = fe_media_xfer_take(x, &len);
		rv = fe_media_blob_write_async(m, id, data, len, put_written,
					       a);
	} else {
		rv = fe_media_blob_read_async(m, id, get_read, a);
	}
	if (rv == 0)
		return;
	free(a);
answer:
	fe_media_send_status(m, x->from, answer, x->req, rv);
}

/* ---- reassembly ---- */

static void xfer_free(struct fe_media_xfer *x)
{
	cf_list_remove(&x->link);
	json_decref(x->hdr);
	cf_buf_release(&x->data);
	free(x);
}

void fe_media_xfers_expire(struct fe_media *m, uint64_t now)
{
	struct cf_list *e = m->xfers.next;

	while (e != &m->xfers) {
		struct fe_media_xfer *x =
			CF_CONTAINER_OF(e, struct fe_media_xfer, link);
		e = e->next;
		if (now == UINT64_MAX || now - x->t_ms > XFER_MS)
			xfer_free(x);
	}
}

bool fe_media_peer_msg(struct fe_media *m, unsigned from, uint8_t type,
		       const void *body, size_t len)
{
	struct fe_media_xfer *x = NULL;
	struct cf_list *e;
	struct cf_rd r;
	json_error_t je;
	uint64_t req;
	uint8_t flags;
	uint32_t hl;
	const uint8_t *h;

	if (type < FE_MSG_MEDIA_UP || type > FE_MSG_MEDIA_GET_R)
		return false;
	cf_rd_init(&r, body, len);
	req = cf_rd_u64(&r);
	flags = cf_rd_u8(&r);
	hl = cf_rd_u32(&r);
	h = cf_rd_take(&r, hl);
	if (r.err != 0)
		return true;
	for (e = m->xfers.next; e != &m->xfers; e = e->next) {
		struct fe_media_xfer *y = CF_CONTAINER_OF(e, struct fe_media_xfer, link);
		if (y->from == from && y->type == type && y->req == req) {
			x = y;
			break;
		}
	}
	if (flags & 1) {
		if (x != NULL)
			return true; /* a duplicate start: keep the first */
		x = calloc(1, sizeof *x);
		if (x == NULL)
			return true;
		x->from = from;
		x->type = type;
		x->req = req;
		x->hdr = json_loadb((const char *)h, hl, 0, &je);
		cf_buf_init(&x->data);
		cf_list_push(&m->xfers, &x->link);
	}
	if (x == NULL)
		return true;
	x->t_ms = cf_mono_ms();
	if (x->data.len + r.left > fe_media_max(m) ||
	    cf_buf_append(&x->data, r.p, r.left) != 0 || x->hdr == NULL) {
		flags |= 2;
		cf_buf_truncate(&x->data, 0);
		json_decref(x->hdr);
		x->hdr = json_pack("{s:i}", "status", CF_ETOOBIG);
	}
	if (flags & 2) {
		/* Not while the index is being rebuilt (fe_server.h): the
		 * peer times out and asks another node. */
		if (x->hdr != NULL && fe_server_unavailable(m->srv) == NULL)
			fe_media_complete(m, x);
		xfer_free(x);
	}
	return true;
}

