#include "config.h"

/*
 * Erasure of recalled messages from the push dead letter file
 * (DIR/push-dead-letter.jsonl, one JSON body per line; sync_push.h).
 *
 * Recalls to erase collect in p->erase. One rewrite at a time runs in
 * libuv's thread pool (a short job: read the file, drop the lines whose
 * conversationId and seq were recalled, write FILE.tmp, fsync, rename,
 * fsync the folder); dead letters given up meanwhile wait in p->held and
 * are appended when it ends, then the recalls that came meanwhile start the
 * next rewrite. A file that holds none of them is left as it is.
 *
 * A recall applied before a crash whose rewrite had not run is not
 * replayed by Raft (it replays only entries past the store's checkpoint):
 * the frontend hands every recall the rebuild at start meets to
 * sync_push_recall() once push starts, when a dead letter file exists
 * (fe_server.c), so the rewrite runs again.
 */

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_io.h"
#include "sync/sync_push_int.h"

struct push_rewrite {
	uv_work_t work;
	struct sync_push *p;
	char path[4096];
	struct cf_buf want; /* u8 id length, id, u64 seq */
	unsigned nwant;
	uint64_t dropped;
	int rv;
};

/* Is the body line[0..n) one of w's recalled messages? */
static bool recalled(const struct push_rewrite *w, const char *line, size_t n)
{
	json_t *o = json_loadb(line, n, 0, NULL);
	const char *conv = json_string_value(json_object_get(o, "conversationId"));
	json_t *seq = json_object_get(o, "seq");
	bool hit = false;
	size_t pos = 0;

	for (unsigned k = 0; conv != NULL && json_is_integer(seq) &&
			     k < w->nwant && !hit;
	     k++) {
		size_t len = (uint8_t)w->want.data[pos];

		hit = strlen(conv) == len &&
		      memcmp(conv, w->want.data + pos + 1, len) == 0 &&
		      (uint64_t)json_integer_value(seq) ==
			      cf_get_u64(w->want.data + pos + 1 + len);
		pos += 1 + len + 8;
	}
	json_decref(o);
	return hit;
}

/* Thread pool: rewrite the file without the recalled lines. */
static void rewrite_run(uv_work_t *req)
{
	struct push_rewrite *w = req->data;
	struct cf_buf in = CF_BUF_INIT, out = CF_BUF_INIT;
	char tmp[4200], dir[4096];
	size_t pos = 0, got = 0;
	off_t size;
	int fd, rv = 0;

	fd = open(w->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		w->rv = errno == ENOENT ? 0 : -errno;
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || cf_buf_reserve(&in, (size_t)size + 1) != 0)
		rv = -ENOMEM;
	if (rv == 0)
		rv = cf_pread_all(fd, in.data, (size_t)size, 0, &got);
	close(fd);
	in.len = got;
	while (rv == 0 && pos < in.len) {
		char *nl = memchr(in.data + pos, '\n', in.len - pos);
		size_t end = nl != NULL ? (size_t)(nl - in.data) : in.len;

		if (recalled(w, in.data + pos, end - pos))
			w->dropped++;
		else
			rv = cf_buf_append(&out, in.data + pos,
					   end - pos + (nl != NULL));
		pos = end + 1;
	}
	if (rv != 0 || w->dropped == 0)
		goto out;
	snprintf(tmp, sizeof tmp, "%s.tmp", w->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rv = -errno;
		goto out;
	}
	rv = cf_write_all(fd, out.data, out.len);
	if (rv == 0 && fsync(fd) != 0)
		rv = -errno;
	close(fd);
	if (rv == 0 && rename(tmp, w->path) != 0)
		rv = -errno;
	if (rv != 0) {
		unlink(tmp);
		goto out;
	}
	snprintf(dir, sizeof dir, "%s", w->path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) != 0)
			rv = -errno;
		close(fd);
	}
out:
	w->rv = rv;
	cf_buf_release(&in);
	cf_buf_release(&out);
}

static void rewrite_start(struct sync_push *p);

/* Loop: the rewrite ended; append what waited, start the next one. */
static void rewrite_done(uv_work_t *req, int status)
{
	struct push_rewrite *w = req->data;
	struct sync_push *p = w->p;
	int fd;

	if (status == 0 && w->rv != 0)
		cf_warn("push: erasing from %s: %s", w->path,
			cf_strerror(w->rv));
	p->erased += w->dropped;
	p->rewrite = NULL;
	p->pending--;
	if (p->held.len > 0) {
		fd = open(p->dead_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0644);
		if (fd < 0 || cf_write_all(fd, p->held.data, p->held.len) != 0)
			cf_warn("push: writing %s failed", p->dead_path);
		if (fd >= 0)
			close(fd);
		p->held.len = 0;
	}
	if (p->closing)
		cf_buf_release(&p->held);
	cf_buf_release(&w->want);
	free(w);
	if (p->n_erase > 0 && !p->closing)
		rewrite_start(p);
	sync__push_maybe_closed(p);
}

static void rewrite_start(struct sync_push *p)
{
	struct push_rewrite *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		cf_warn("push: no memory to erase the dead letter file");
		return;
	}
	w->p = p;
	w->work.data = w;
	snprintf(w->path, sizeof w->path, "%s", p->dead_path);
	w->want = p->erase;
	w->nwant = p->n_erase;
	cf_buf_init(&p->erase);
	p->n_erase = 0;
	p->rewrite = w;
	p->pending++;
	if (uv_queue_work(p->loop, &w->work, rewrite_run, rewrite_done) != 0) {
		cf_warn("push: cannot queue the dead letter rewrite");
		p->rewrite = NULL;
		p->pending--;
		cf_buf_release(&w->want);
		free(w);
	}
}

void sync__push_erase(struct sync_push *p, struct cf_str conv, uint64_t seq)
{
	uint8_t len = (uint8_t)conv.len;

	if (cf_buf_append(&p->erase, &len, 1) != 0 ||
	    cf_buf_append(&p->erase, conv.p, conv.len) != 0 ||
	    cf_buf_put_u64(&p->erase, seq) != 0) {
		cf_warn("push: no memory to erase a recalled message");
		return;
	}
	p->n_erase++;
	if (p->rewrite == NULL)
		rewrite_start(p);
}

void sync__push_erase_close(struct sync_push *p)
{
	cf_buf_release(&p->erase);
	p->n_erase = 0;
	/* A running rewrite ends by itself: rewrite_done frees held. */
	if (p->rewrite == NULL)
		cf_buf_release(&p->held);
}
