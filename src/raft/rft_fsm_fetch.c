#include "config.h"

/*
 * rft_fsm_fetch: the FSM's side of a segment fetch (DESIGN.md "Snapshot by
 * reference"): entries that raft hands to apply while the store lacks
 * segments go to a pending file, and once rft_fetch installed a peer's
 * checkpoint the state is rebuilt from the store (off the loop: the
 * rebuild steps in rft_fsm.h) and the pending entries past its
 * appliedIndex are applied in order, on the loop.
 *
 * Pending file (STORE.pending), little-endian, appended in index order:
 *
 *   u64 raft index, u32 length n, u32 XXH32 of the n bytes, n bytes
 *
 * It is not synced: raft holds the same entries in its own log (snapshots
 * are refused while a fetch is pending, so raft keeps them), and after a
 * crash it replays them into a new pending file; rft_fsm_open() removes a
 * leftover one.
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_io.h"
#include "raft/rft_fsm_int.h"

#define PENDING_HDR 16u

/* 1 read all, 0 at a clean end of file, CF_ECORRUPT on a short read. */
static int read_record(int fd, void *p, size_t n)
{
	size_t got;
	int rv = cf_read_all(fd, p, n, &got);

	if (rv != 0)
		return rv;
	if (got == n)
		return 1;
	return got == 0 ? 0 : CF_ECORRUPT;
}

int rft__pending_add(struct rft_fsm *f, uint64_t index, const void *buf,
		     size_t len)
{
	uint8_t h[PENDING_HDR];
	int rv;

	if (len > UINT32_MAX)
		return CF_EBADREQ;
	if (f->pending_fd < 0) {
		f->pending_fd = open(f->pending_path,
				     O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
				     0644);
		if (f->pending_fd < 0)
			return -errno;
		f->pending_n = 0;
		cf_info("fsm: keeping entries from %" PRIu64
			" in %s until the segment fetch is done",
			index, f->pending_path);
	}
	cf_put_u64(h, index);
	cf_put_u32(h + 8, (uint32_t)len);
	cf_put_u32(h + 12, XXH32(buf, len, 0));
	rv = cf_write_all(f->pending_fd, h, sizeof h);
	if (rv == 0)
		rv = cf_write_all(f->pending_fd, buf, len);
	if (rv != 0)
		return rv;
	f->pending_n++;
	return 0;
}

void rft__pending_close(struct rft_fsm *f)
{
	if (f->pending_fd >= 0)
		close(f->pending_fd);
	f->pending_fd = -1;
	f->pending_n = 0;
}

/* Apply the pending entries past the store's appliedIndex, in order. */
static int pending_replay(struct rft_fsm *f, char *errmsg)
{
	uint8_t h[PENDING_HDR];
	uint64_t n_applied = 0, prev = 0;
	void *buf = NULL;
	size_t cap = 0;
	int rv;

	if (f->pending_fd < 0)
		return 0;
	if (lseek(f->pending_fd, 0, SEEK_SET) != 0) {
		rv = -errno;
		goto err;
	}
	while ((rv = read_record(f->pending_fd, h, sizeof h)) == 1) {
		uint64_t index = cf_get_u64(h);
		uint32_t len = cf_get_u32(h + 8);

		if (len > cap) {
			void *p = realloc(buf, len);

			if (p == NULL) {
				rv = -ENOMEM;
				goto err;
			}
			buf = p;
			cap = len;
		}
		rv = read_record(f->pending_fd, buf, len);
		if (rv != 1 && len > 0) {
			rv = rv == 0 ? CF_ECORRUPT : rv;
			goto err;
		}
		if (XXH32(buf, len, 0) != cf_get_u32(h + 12)) {
			rv = CF_ECORRUPT;
			goto err;
		}
		/*
		 * In increasing order; gaps are entries raft never gives the
		 * FSM: barriers (a new leader's, and rft_node_nudge.c's after
		 * each burst) and configuration changes.
		 */
		if (index <= prev) {
			cf_errmsg_printf(errmsg,
					 "pending entry %" PRIu64
					 " after entry %" PRIu64,
					 index, prev);
			rv = CF_ECORRUPT;
			goto out;
		}
		prev = index;
		if (index <= f->applied)
			continue; /* the fetched store holds it */
		rft_fsm_apply_entry(f, index, buf, len);
		n_applied++;
	}
	if (rv != 0)
		goto err;
	cf_info("fsm: applied %" PRIu64 " pending entries, now at %" PRIu64,
		n_applied, f->applied);
	goto out;
err:
	cf_errmsg_printf(errmsg, "pending file %s: %s", f->pending_path,
			 cf_strerror(rv));
out:
	free(buf);
	return rv;
}

int rft_fsm_rebuild_begin(struct rft_fsm *f, char *errmsg)
{
	errmsg[0] = '\0';
	assert(!f->rebuilding);
	if (!f->needs_fetch) {
		cf_errmsg_printf(errmsg, "no segment fetch is pending");
		return CF_EBADREQ;
	}
	/*
	 * A checkpoint job still writing into the folder (taken before the
	 * snapshot arrived): the node starts no fetch while one is in flight
	 * (rft_node.c), so this only guards the contract.
	 */
	if (f->ckpt != NULL) {
		cf_errmsg_printf(errmsg, "a checkpoint is in flight");
		return -EAGAIN;
	}
	f->rebuild_applied = f->applied;
	f->rebuilding = true;
	return 0;
}

/* Off the loop: only the store, the state and the hooks (rft_fsm_int.h). */
int rft_fsm_rebuild_run(struct rft_fsm *f, char *errmsg)
{
	errmsg[0] = '\0';
	assert(f->rebuilding);
	if (f->store != NULL)
		log_store_close(f->store);
	f->store = NULL;
	if (f->on_reset != NULL)
		f->on_reset(f->on_record_arg);
	rft__state_release(f);
	cf_map_init(&f->convs);
	cf_map_init(&f->pairs);
	cf_map_init(&f->users);
	cf_map_init(&f->media);
	rft_dedup_init(&f->dedup);
	f->clock = 0;
	f->applied = 0;
	return rft__fsm_load(f, errmsg);
}

int rft_fsm_rebuild_end(struct rft_fsm *f, int status, char *errmsg)
{
	int rv;

	assert(f->rebuilding);
	f->rebuilding = false;
	if (status != 0)
		return status; /* errmsg is run's */
	errmsg[0] = '\0';
	if (f->applied < f->fetch_min) {
		/* A newer snapshot came meanwhile: fetch again (state is that
		 * of the store; the pending entries wait). */
		cf_errmsg_printf(errmsg,
				 "fetched store at %" PRIu64
				 " is below the snapshot at %" PRIu64,
				 f->applied, f->fetch_min);
		return -EAGAIN;
	}
	f->needs_fetch = false;
	f->fetch_min = 0;
	rv = pending_replay(f, errmsg);
	rft__pending_close(f);
	(void)unlink(f->pending_path);
	return rv;
}

void rft_fsm_rebuild_drop(struct rft_fsm *f)
{
	assert(f->rebuilding);
	f->rebuilding = false;
}

bool rft_fsm_rebuilding(const struct rft_fsm *f)
{
	return f->rebuilding;
}

int rft_fsm_fetch_done(struct rft_fsm *f, char *errmsg)
{
	int rv;

	if (!f->needs_fetch) {
		errmsg[0] = '\0';
		return 0;
	}
	rv = rft_fsm_rebuild_begin(f, errmsg);
	if (rv != 0)
		return rv;
	rv = rft_fsm_rebuild_run(f, errmsg);
	return rft_fsm_rebuild_end(f, rv, errmsg);
}
