#include "config.h"

/*
 * rft_node_open (issue 11): the store's open and rebuild run in libuv's
 * thread pool, the callback comes once, on the loop, never from inside the
 * call. A one-node cluster on a loopback address of its own, in this
 * process; every loop run is bounded in turns and time.
 *
 * Checked: the rebuild hooks run on another thread than the loop's, and
 * the state they saw is the store's (a record written by an earlier run);
 * a cancel while a test hold keeps the open waiting ends it with
 * CF_ECANCELED and releases the folder's lock (a new open succeeds); a
 * store that cannot open reports through the callback, lock released; a
 * second open of a locked folder fails in the call, with no callback.
 */

#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "raft/rft_cmd.h"
#include "raft/rft_node.h"
#include "../lib/cf_test_ports.h"

#define SECRET "correct horse battery staple"

struct fixture {
	uv_loop_t loop;
	uv_timer_t guard; /* keeps UV_RUN_ONCE from blocking long */
	char dir[64];
	char data[128];
	char hold[160];
	struct cf_cluster cluster;
	struct rft_node node;
	pthread_t loop_thread;
	/* the open's callback */
	int opened; /* times called */
	int status;
	char errmsg[CF_ERRMSG_SIZE];
	/* the rebuild hooks */
	unsigned rebuilt_records;
	bool hook_on_loop_thread;
	bool saw_g1;
	bool closed;
	/* one submit */
	struct rft_submit sub;
	bool sub_done;
	int sub_status;
};

typedef bool (*pred_fn)(struct fixture *f);

static void guard_cb(uv_timer_t *h)
{
	(void)h;
}

static bool run_until(struct fixture *f, pred_fn pred, unsigned timeout_ms)
{
	uint64_t end;

	uv_update_time(&f->loop);
	end = uv_now(&f->loop) + timeout_ms;
	uv_timer_start(&f->guard, guard_cb, 5, 5);
	for (unsigned turns = 0; turns < 500000 && !pred(f); turns++) {
		uv_update_time(&f->loop);
		if (uv_now(&f->loop) >= end)
			break;
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	uv_timer_stop(&f->guard);
	return pred(f);
}

static int rm_cb(const char *p, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

/* rft_fsm on_rebuild: in the pool (the test checks). */
static void on_rebuild(void *arg, const struct log_record *rec,
		       const struct rft_conv *conv)
{
	struct fixture *f = arg;

	(void)rec;
	f->rebuilt_records++;
	if (pthread_equal(pthread_self(), f->loop_thread))
		f->hook_on_loop_thread = true;
	if (conv != NULL && strcmp(conv->id, "g1") == 0)
		f->saw_g1 = true;
}

static void opened_cb(struct rft_node *n, int status, const char *errmsg)
{
	struct fixture *f = n->data;

	f->opened++;
	f->status = status;
	snprintf(f->errmsg, sizeof f->errmsg, "%s", errmsg);
}

static bool is_opened(struct fixture *f)
{
	return f->opened > 0;
}

static bool is_closed(struct fixture *f)
{
	return f->closed;
}

static bool is_leader(struct fixture *f)
{
	return rft_node_is_ready(&f->node, NULL);
}

static bool sub_is_done(struct fixture *f)
{
	return f->sub_done;
}

static void closed_cb(struct rft_node *n)
{
	struct fixture *f = n->data;

	f->closed = true;
}

static void submit_cb(struct rft_submit *s, int status,
		      const struct rft_result *res)
{
	struct fixture *f = s->data;

	(void)res;
	f->sub_done = true;
	f->sub_status = status;
}

static void config(struct fixture *f, struct rft_node_config *c)
{
	memset(c, 0, sizeof *c);
	c->cluster = &f->cluster;
	c->self = 1;
	c->data_dir = f->data;
	c->heartbeat_ms = 100;
	c->election_ms = 1000;
	c->ballast = 0;
	c->on_record_arg = f;
	c->on_rebuild = on_rebuild;
	c->data = f;
}

/* rft_node_open, then run the loop until its callback. */
static int open_node(struct fixture *f, const char *hold)
{
	struct rft_node_config c;
	char errmsg[CF_ERRMSG_SIZE] = "";

	config(f, &c);
	c.test_start_hold = hold;
	f->opened = 0;
	assert_int_equal(rft_node_open(&f->node, &f->loop, &c, opened_cb,
				       errmsg),
			 0);
	assert_int_equal(f->opened, 0); /* never from inside the call */
	assert_true(rft_node_opening(&f->node));
	return 0;
}

static void start_and_close(struct fixture *f)
{
	char errmsg[CF_ERRMSG_SIZE] = "";

	assert_int_equal(rft_node_start(&f->node, errmsg), 0);
	assert_true(run_until(f, is_leader, 20000));
	f->closed = false;
	rft_node_close(&f->node, closed_cb);
	assert_true(run_until(f, is_closed, 10000));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char ip[16];
	int ports[2];
	struct cf_node_conf *nc;

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
	f->loop_thread = pthread_self();
	assert_int_equal(cf_test_ports_pick(ip, ports, 2), 0);
	strcpy(f->dir, "/tmp/test_rft_node_open.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->data, sizeof f->data, "%s/n1", f->dir);
	snprintf(f->hold, sizeof f->hold, "%s/hold", f->dir);
	f->cluster.n_nodes = 1;
	f->cluster.partitions = 4;
	nc = &f->cluster.nodes[0];
	nc->id = 1;
	snprintf(nc->raft_addr, CF_ADDR_SIZE, "%s:%d", ip, ports[0]);
	snprintf(nc->peer_addr, CF_ADDR_SIZE, "%s:%d", ip, ports[1]);
	f->cluster.secret_len = (unsigned)strlen(SECRET);
	memcpy(f->cluster.secret, SECRET, f->cluster.secret_len);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uv_close((uv_handle_t *)&f->guard, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* The rebuild reads the store in the pool; the loop gets the result. */
static void open_rebuilds_off_the_loop_thread(void **state)
{
	struct fixture *f = *state;
	struct cf_buf list = CF_BUF_INIT;
	struct cf_str bob = CF_STR_LIT("bob");
	char errmsg[CF_ERRMSG_SIZE] = "";
	struct rft_cmd c;

	/* A first run writes a record. */
	open_node(f, NULL);
	assert_true(run_until(f, is_opened, 20000));
	assert_int_equal(f->status, 0);
	assert_false(rft_node_opening(&f->node));
	assert_int_equal(rft_node_start(&f->node, errmsg), 0);
	assert_true(run_until(f, is_leader, 20000));
	memset(&c, 0, sizeof c);
	assert_int_equal(rft_idlist_encode(&list, &bob, 1), 0);
	c.type = RFT_CMD_CREATE;
	c.user = CF_STR_LIT("alice");
	c.conv = CF_STR_LIT("g1");
	c.conv_type = RFT_CONV_GROUP;
	c.title = CF_STR_LIT("t");
	c.members = (struct cf_str){list.data, list.len};
	f->sub.data = f;
	rft_node_submit(&f->node, &f->sub, &c, submit_cb);
	cf_buf_release(&list);
	assert_true(run_until(f, sub_is_done, 20000));
	assert_int_equal(f->sub_status, 0);
	f->closed = false;
	rft_node_close(&f->node, closed_cb);
	assert_true(run_until(f, is_closed, 10000));

	/* The second run rebuilds it, in the pool. */
	f->rebuilt_records = 0;
	open_node(f, NULL);
	assert_true(run_until(f, is_opened, 20000));
	assert_int_equal(f->status, 0);
	assert_true(f->rebuilt_records >= 1);
	assert_true(f->saw_g1);
	assert_false(f->hook_on_loop_thread);
	assert_non_null(rft_fsm_conv(rft_node_fsm(&f->node),
				     CF_STR_LIT("g1")));
	start_and_close(f);
}

/* A cancel while the open is held: CF_ECANCELED, the lock is free. */
static void cancel_while_held_releases_the_folder(void **state)
{
	struct fixture *f = *state;
	int fd;

	fd = open(f->hold, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	open_node(f, f->hold);
	/* Held: a few turns of the loop change nothing. */
	assert_false(run_until(f, is_opened, 200));
	rft_node_open_cancel(&f->node);
	assert_true(run_until(f, is_opened, 10000));
	assert_int_equal(f->opened, 1);
	assert_int_equal(f->status, CF_ECANCELED);
	assert_false(rft_node_opening(&f->node));
	rft_node_open_cancel(&f->node); /* a no-op now */
	/* The hold is still there: only the cancel ended it. */
	assert_int_equal(access(f->hold, F_OK), 0);
	unlink(f->hold);
	/* The lock was released: the folder opens again. */
	open_node(f, NULL);
	assert_true(run_until(f, is_opened, 20000));
	assert_int_equal(f->status, 0);
	start_and_close(f);
	assert_int_equal(f->opened, 1);
}

/* A store that cannot open: the callback says why; the lock is free. */
static void open_failure_reports_through_the_callback(void **state)
{
	struct fixture *f = *state;
	char store[200];
	int fd;

	assert_int_equal(mkdir(f->data, 0755), 0);
	snprintf(store, sizeof store, "%s/store", f->data);
	fd = open(store, O_WRONLY | O_CREAT, 0644); /* a file, not a folder */
	assert_true(fd >= 0);
	close(fd);
	open_node(f, NULL);
	assert_true(run_until(f, is_opened, 20000));
	assert_true(f->status != 0 && f->status != CF_ECANCELED);
	assert_non_null(strstr(f->errmsg, "store"));
	unlink(store);
	open_node(f, NULL);
	assert_true(run_until(f, is_opened, 20000));
	assert_int_equal(f->status, 0);
	start_and_close(f);
}

/* A folder locked by a node that is open: refused in the call. */
static void second_open_of_a_locked_folder_fails_in_the_call(void **state)
{
	struct fixture *f = *state;
	struct rft_node other;
	struct rft_node_config c;
	char errmsg[CF_ERRMSG_SIZE] = "";

	open_node(f, NULL);
	assert_true(run_until(f, is_opened, 20000));
	assert_int_equal(f->status, 0);
	config(f, &c);
	assert_true(rft_node_open(&other, &f->loop, &c, opened_cb, errmsg) !=
		    0);
	assert_non_null(strstr(errmsg, "in use"));
	assert_false(rft_node_opening(&other));
	start_and_close(f);
	assert_int_equal(f->opened, 1); /* no callback for other */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(open_rebuilds_off_the_loop_thread),
		T(cancel_while_held_releases_the_folder),
		T(open_failure_reports_through_the_callback),
		T(second_open_of_a_locked_folder_fails_in_the_call),
	};

	signal(SIGPIPE, SIG_IGN);
	cf_diag_setup("test", CF_DIAG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
