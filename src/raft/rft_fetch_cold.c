#include "config.h"

/*
 * The fetch client's cold files: step 2b of the protocol described at the
 * top of rft_fetch_client.c (requests FETCH_CRANGE, rft_fetch.c). A cold
 * file the local manifest does not name with the same identity is fetched
 * into NAME.tmp, checked in full on the worker thread against the peer's
 * manifest entry, and renamed to NAME.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_io.h"
#include "log/log_cold.h"
#include "raft/rft_fetch_int.h"

void rft__fc_cold_errmsg(struct rft_fetch *f, char *out,
			       const char *what, int rv)
{
	const struct log_manifest_cold *rc = &f->c.remote.colds[f->c.cidx];
	char name[LOG_COLD_NAME];

	log_cold_name(name, rc->coldno);
	cf_errmsg_printf(out, "p%04u/%s: %s: %s", (unsigned)rc->partition,
			 name, what, cf_strerror(rv));
}

static int client_cold_send(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;
	const struct log_manifest_cold *rc = &c->remote.colds[c->cidx];
	uint8_t b[RFT_FETCH_REQ_SIZE];
	uint64_t len = rc->size - c->req_off;

	if (len > f->chunk)
		len = f->chunk;
	cf_put_u32(b, rc->partition);
	cf_put_u32(b + 4, rc->coldno);
	cf_put_u64(b + 8, c->req_off);
	cf_put_u64(b + 16, len);
	return rft__fc_send(f, RFT_FC_CRANGE, RFT_FETCH_MSG_CRANGE, b,
			   sizeof(b));
}

/* Worker: sync NAME.tmp, verify it against the peer's entry, rename it. */
static int client_cold_job(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;
	const struct log_manifest_cold *rc = &c->remote.colds[c->cidx];
	const struct log_cold_info *info;
	struct log_cold *r = NULL;
	char name[LOG_COLD_NAME], tmp[LOG_COLD_NAME + 8];
	char err[CF_ERRMSG_SIZE] = "";
	int rv;

	log_cold_name(name, rc->coldno);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	if (fdatasync(c->cold_fd) != 0) {
		rv = -errno;
		rft__fc_cold_errmsg(f, c->job_errmsg, "fdatasync", rv);
		return rv;
	}
	rv = log_cold_open(&r, c->part_fd, tmp);
	if (rv == 0)
		rv = log_cold_verify(r, err);
	if (rv == 0) {
		info = log_cold_get_info(r);
		if (info->partition != rc->partition ||
		    info->coldno != rc->coldno ||
		    info->file_size != rc->size ||
		    info->content_xxh3 != rc->ident) {
			cf_errmsg_printf(err, "not the file the peer's "
					      "manifest names");
			rv = CF_ECORRUPT;
		}
	}
	log_cold_close(r);
	if (rv != 0) {
		rft__fc_cold_errmsg(f, c->job_errmsg, err[0] ? err : "verify",
				   rv);
		unlinkat(c->part_fd, tmp, 0);
		return rv;
	}
	if (renameat(c->part_fd, tmp, c->part_fd, name) != 0) {
		rv = -errno;
		rft__fc_cold_errmsg(f, c->job_errmsg, "rename", rv);
		return rv;
	}
	return 0;
}

static int client_cold_next(struct rft_fetch *f, int rv)
{
	struct rft_fetch_client *c = &f->c;

	close(c->cold_fd);
	c->cold_fd = -1;
	if (rv != 0)
		return rv;
	c->part_dirty = true;
	c->cidx++;
	return rft__fc_advance(f, 0);
}

/* Start the current cold file: 1 if a request is out, 0 if we have it. */
int rft__fc_cold_start(struct rft_fetch *f)
{
	struct rft_fetch_client *c = &f->c;
	const struct log_manifest_cold *rc = &c->remote.colds[c->cidx];
	const struct log_manifest_cold *lc =
		log_manifest_find_cold(&c->local, rc->partition, rc->coldno);
	char name[LOG_COLD_NAME], tmp[LOG_COLD_NAME + 8];
	int rv;

	if (lc != NULL && lc->ident == rc->ident && lc->size == rc->size)
		return 0;
	rv = rft__fc_part(f, rc->partition);
	if (rv != 0)
		return rv;
	log_cold_name(name, rc->coldno);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	c->cold_fd = openat(c->part_fd, tmp,
			    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c->cold_fd < 0) {
		rv = -errno;
		rft__fc_cold_errmsg(f, f->errmsg, "create", rv);
		return rv;
	}
	c->req_off = 0;
	if (rc->size == 0)
		return CF_ECORRUPT;
	rv = client_cold_send(f);
	return rv != 0 ? rv : 1;
}

int rft__fc_on_crange(struct rft_fetch *f, const void *p, size_t n)
{
	struct rft_fetch_client *c = &f->c;
	const struct log_manifest_cold *rc = &c->remote.colds[c->cidx];
	uint64_t want = rc->size - c->req_off;
	int rv;

	if (want > f->chunk)
		want = f->chunk;
	if (n != want) {
		rft__fc_cold_errmsg(f, f->errmsg, "short chunk", CF_ECORRUPT);
		return CF_ECORRUPT;
	}
	rv = cf_pwrite_all(c->cold_fd, p, n, c->req_off);
	if (rv != 0) {
		rft__fc_cold_errmsg(f, f->errmsg, "write", rv);
		return rv;
	}
	c->req_off += n;
	f->stats.bytes += n;
	if (c->req_off < rc->size) {
		rv = client_cold_send(f);
		return rv;
	}
	rv = rft__fc_queue(f, client_cold_job, client_cold_next);
	return rv < 0 ? rv : 0;
}

