/*
 * rft_node_open: a node's start with the store's open off the loop (issue
 * 11; contract in rft_node.h). rft__node_begin runs on the loop (folders,
 * lock, disk watch), rft_fsm_open, which may read every record of the store
 * and calls the caller's rebuild hooks, runs on a thread of libuv's pool,
 * then rft__node_finish runs on the loop again (rft_node.c).
 *
 * Threads: the work callback touches only struct rft_node_opening (its
 * config, the FSM it opens, its errmsg) and, through the hooks, what the
 * caller promised not to read meanwhile; cancel is an atomic flag the work
 * polls during a test hold. Everything else runs on the loop.
 */
#include "config.h"

#include "raft/rft_node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "raft/rft_node_int.h"

/* A test hold looks for its file this often. */
#define HOLD_POLL_MS 10

struct rft_node_opening {
	uv_work_t req;
	struct rft_node *node;
	rft_node_open_cb cb;
	struct rft_fsm_config fc;
	char store_dir[RFT_NODE_DIR_MAX];
	const char *hold; /* cfg.test_start_hold */
	int cancel;	  /* atomic: rft_node_open_cancel was called */
	/* written by the work, read by the loop after it */
	struct rft_fsm *fsm;
	int rv;
	uint64_t ms;
	char errmsg[CF_ERRMSG_SIZE];
};

static bool open_cancelled(struct rft_node_opening *o)
{
	return __atomic_load_n(&o->cancel, __ATOMIC_ACQUIRE) != 0;
}

/* In the pool: the test hold, then the store's open and rebuild. */
static void open_work_cb(uv_work_t *req)
{
	struct rft_node_opening *o = req->data;
	uint64_t t0;

	if (o->hold != NULL && access(o->hold, F_OK) == 0) {
		cf_info("store: test hold: the open waits while %s exists",
			o->hold);
		while (access(o->hold, F_OK) == 0 && !open_cancelled(o))
			usleep(HOLD_POLL_MS * 1000);
	}
	if (open_cancelled(o)) {
		o->rv = CF_ECANCELED;
		return;
	}
	t0 = cf_mono_ms();
	o->rv = rft_fsm_open(&o->fsm, &o->fc, o->errmsg);
	o->ms = cf_mono_ms() - t0;
}

/* On the loop once the work ran (or was dropped before it began). */
static void open_after_cb(uv_work_t *req, int status)
{
	struct rft_node_opening *o = req->data;
	struct rft_node *n = o->node;
	rft_node_open_cb cb = o->cb;
	char errmsg[CF_ERRMSG_SIZE];
	int rv = status == UV_ECANCELED ? CF_ECANCELED : o->rv;

	n->opening = NULL;
	snprintf(errmsg, sizeof errmsg, "%s", o->errmsg);
	if (rv == 0 && open_cancelled(o)) {
		/* Stopped while the store opened: close it again. */
		rft_fsm_close(o->fsm);
		o->fsm = NULL;
		rv = CF_ECANCELED;
	}
	if (rv == CF_ECANCELED) {
		snprintf(errmsg, sizeof errmsg, "start cancelled");
	} else if (rv != 0) {
		cf_errmsg_wrapf(errmsg, "store %s", o->store_dir);
	} else {
		n->fsm = o->fsm;
		cf_info("store: open in %.1f s, applied %llu",
			(double)o->ms / 1000.0,
			(unsigned long long)rft_fsm_applied(n->fsm));
	}
	free(o);
	if (rv != 0) {
		rft__node_unbegin(n);
		cb(n, rv, errmsg);
		return;
	}
	/* On failure, finish released the store and the lock. */
	rv = rft__node_finish(n, errmsg);
	cb(n, rv, rv == 0 ? "" : errmsg);
}

int rft_node_open(struct rft_node *n, uv_loop_t *loop,
		  const struct rft_node_config *cfg, rft_node_open_cb cb,
		  char *errmsg)
{
	struct rft_node_opening *o;
	int rv;

	o = calloc(1, sizeof *o);
	if (o == NULL) {
		cf_errmsg_printf(errmsg, "no memory to start");
		return -ENOMEM;
	}
	rv = rft__node_begin(n, loop, cfg, &o->fc, o->store_dir, errmsg);
	if (rv != 0) {
		free(o);
		return rv;
	}
	o->node = n;
	o->cb = cb;
	o->hold = cfg->test_start_hold;
	o->req.data = o;
	cf_info("store: opening %s in the background", o->store_dir);
	rv = uv_queue_work(loop, &o->req, open_work_cb, open_after_cb);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "thread pool: %s", uv_strerror(rv));
		rft__node_unbegin(n);
		free(o);
		return rv;
	}
	n->opening = o;
	return 0;
}

bool rft_node_opening(const struct rft_node *n)
{
	return n->opening != NULL;
}

void rft_node_open_cancel(struct rft_node *n)
{
	struct rft_node_opening *o = n->opening;

	if (o == NULL)
		return;
	__atomic_store_n(&o->cancel, 1, __ATOMIC_RELEASE);
	/* Not begun yet: it never will (open_after_cb gets UV_ECANCELED). */
	(void)uv_cancel((uv_req_t *)&o->req);
}
