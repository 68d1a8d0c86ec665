#include "config.h"

/*
 * Unit tests of full disks (issue 11): the watermark and refusal rules and
 * the disk status of rft_disk, its ballast on a real loop, the mapping of
 * the refusal to 507 insufficient_storage (fe_json), and the FSM on a full
 * disk: on a tmpfs of its own (skipped where mount(2) is refused) the
 * failed entry is unwound, nothing after it applies, nothing is
 * checkpointed, and a reopen after space returns applies it again as if
 * nothing had happened; an error that is not ENOSPC (EFBIG, from
 * RLIMIT_FSIZE) is reported with the file it failed on.
 */

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>
#include <uv.h>

#include "common/cf_err.h"
#include "common/cf_list.h"
#include "frontend/fe_json.h"
#include "raft/rft_cmd.h"
#include "raft/rft_disk.h"
#include "raft/rft_fsm.h"
#include "raft/rft_rec.h"

#include "../lib/cf_test_dir.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)
#define T0 1771900000000ull

/* ---- rules ---- */

static void watermark_defaults_to_1g_or_5_percent(void **state)
{
	(void)state;
	/* A large file system: 1 GiB. */
	assert_int_equal(rft_disk_watermark(0, 0, 1000 * GIB, 16 * MIB), GIB);
	/* A small one: 5%. */
	assert_int_equal(rft_disk_watermark(0, 0, 2000 * MIB, 16 * MIB),
			 100 * MIB);
	/* Never below two raft segments. */
	assert_int_equal(rft_disk_watermark(0, 0, 100 * MIB, 16 * MIB),
			 32 * MIB);
	/* Given in bytes, or in percent. */
	assert_int_equal(rft_disk_watermark(5 * GIB, 0, 1000 * GIB, 16 * MIB),
			 5 * GIB);
	assert_int_equal(rft_disk_watermark(0, 10, 1000 * GIB, 16 * MIB),
			 100 * GIB);
	assert_int_equal(rft_disk_watermark(MIB, 0, 1000 * GIB, 16 * MIB),
			 32 * MIB);
}

static void refusal_needs_the_leader_or_a_majority(void **state)
{
	(void)state;
	/* Nobody low: writes pass. */
	assert_false(rft_disk_refuse(true, false, false, 3, 0));
	/* One follower low (1 of 3): the other two commit. */
	assert_false(rft_disk_refuse(true, false, false, 3, 1));
	assert_false(rft_disk_refuse(false, false, false, 3, 1));
	/* A low follower itself forwards: its leader decides. */
	assert_false(rft_disk_refuse(false, true, false, 3, 1));
	/* The leader low: refused. */
	assert_true(rft_disk_refuse(true, true, false, 3, 1));
	/* A majority low, as any node sees it: refused. */
	assert_true(rft_disk_refuse(false, false, false, 3, 2));
	assert_true(rft_disk_refuse(true, false, false, 3, 2));
	assert_false(rft_disk_refuse(true, false, false, 5, 2));
	assert_true(rft_disk_refuse(false, false, false, 5, 3));
	/* A full (degraded) node refuses whatever the others say. */
	assert_true(rft_disk_refuse(false, false, true, 3, 0));
}

static void ballast_covers_segments_manifest_and_compaction(void **state)
{
	(void)state;
	/* 2 x 16 MiB + 8 MiB + 4 x 64 MiB. */
	assert_int_equal(rft_disk_ballast_default(16 * MIB, 8 * MIB, 4,
						  64 * MIB),
			 296 * MIB);
	/* A job's input is capped (log_store.h): so is its output. */
	assert_int_equal(rft_disk_ballast_default(16 * MIB, 8 * MIB, 1024,
						  64 * MIB),
			 40 * MIB + LOG_COMPACT_INPUT_MAX + 64 * MIB);
}

static void status_round_trips_and_tolerates_old_and_new(void **state)
{
	struct rft_disk_status in = {true, false, 123456789012ull}, out;
	uint8_t b[RFT_DISK_STATUS_SIZE + 8];

	(void)state;
	rft_disk_status_encode(&in, b);
	assert_int_equal(rft_disk_status_decode(b, RFT_DISK_STATUS_SIZE, &out),
			 0);
	assert_true(out.low);
	assert_false(out.full);
	assert_int_equal(out.free, in.free);
	in.full = true;
	rft_disk_status_encode(&in, b);
	/* A later version may append fields. */
	memset(b + RFT_DISK_STATUS_SIZE, 0xee, 8);
	assert_int_equal(rft_disk_status_decode(b, sizeof b, &out), 0);
	assert_true(out.full);
	/* An empty ping (a node that predates it), a short one. */
	assert_int_equal(rft_disk_status_decode(b, 0, &out), CF_ENOTFOUND);
	assert_false(out.low || out.full);
	assert_int_equal(rft_disk_status_decode(b, 8, &out), CF_ECORRUPT);
}

static void full_disk_maps_to_507_insufficient_storage(void **state)
{
	const char *code;
	int status;

	(void)state;
	fe_error_of(CF_ENOSPACE, &status, &code);
	assert_int_equal(status, 507);
	assert_string_equal(code, "insufficient_storage");
	fe_error_of(-ENOSPC, &status, &code);
	assert_int_equal(status, 507);
	assert_string_equal(code, "insufficient_storage");
	fe_error_of(-EDQUOT, &status, &code);
	assert_int_equal(status, 507);
	/* An I/O error is not a full disk. */
	fe_error_of(CF_EIO, &status, &code);
	assert_int_equal(status, 503);
	assert_string_equal(code, "unavailable");
}

/* ---- the watcher on a real loop ---- */

struct wfx {
	char dir[64];
	uv_loop_t loop;
	struct rft_disk d;
	unsigned measures;
	bool closed;
};

static void on_measure(void *arg)
{
	((struct wfx *)arg)->measures++;
}

static void on_closed(struct rft_disk *d)
{
	struct wfx *x = CF_CONTAINER_OF(d, struct wfx, d);

	x->closed = true;
}

static void run_until(struct wfx *x, bool (*pred)(struct wfx *))
{
	for (int i = 0; i < 2000 && !pred(x); i++) {
		uv_run(&x->loop, UV_RUN_ONCE);
		usleep(1000);
	}
	assert_true(pred(x));
}

static bool ballast_held(struct wfx *x)
{
	return x->d.ballast == RFT_BALLAST_HELD;
}

static bool ballast_gone(struct wfx *x)
{
	return x->d.ballast == RFT_BALLAST_NONE;
}

static bool measured_twice(struct wfx *x)
{
	return x->measures >= 2;
}

static bool closed(struct wfx *x)
{
	return x->closed;
}

static void watcher_makes_releases_and_never_remakes_ballast(void **state)
{
	struct rft_disk_config c;
	struct wfx x;
	char path[128];
	struct stat st;

	(void)state;
	memset(&x, 0, sizeof x);
	cf_test_dir_make(x.dir, sizeof x.dir, "test_rft_disk");
	assert_int_equal(uv_loop_init(&x.loop), 0);
	memset(&c, 0, sizeof c);
	c.dir = x.dir;
	c.min_free = MIB; /* raised to 2 x floor */
	c.floor = MIB;
	c.ballast = 2 * MIB;
	c.period_ms = 20;
	c.on_measure = on_measure;
	c.arg = &x;
	assert_int_equal(rft_disk_init(&x.d, &x.loop, &c), 0);
	rft_disk_start(&x.d);
	run_until(&x, ballast_held);
	snprintf(path, sizeof path, "%s/ballast", x.dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 2 * MIB);
	assert_int_equal(x.d.watermark, 2 * MIB);
	assert_false(rft_disk_low(&x.d));
	assert_true(rft_disk_recovered(&x.d));
	/* ENOSPC: released, and not made again while the node lives. */
	rft_disk_release(&x.d);
	run_until(&x, ballast_gone);
	assert_int_equal(stat(path, &st), -1);
	x.measures = 0;
	run_until(&x, measured_twice);
	assert_int_equal(x.d.ballast, RFT_BALLAST_NONE);
	assert_int_equal(rft_disk_recover_bytes(&x.d), 4 * MIB);
	rft_disk_close(&x.d, on_closed);
	run_until(&x, closed);
	assert_int_equal(uv_loop_close(&x.loop), 0);

	/* A start finds a ballast of another size: replaced. */
	assert_int_equal(truncate(path, 0) == 0 || errno == ENOENT, 1);
	{
		int fd = open(path, O_WRONLY | O_CREAT, 0600);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 12345), 0);
		close(fd);
	}
	memset(&x.d, 0, sizeof x.d);
	x.closed = false;
	assert_int_equal(uv_loop_init(&x.loop), 0);
	assert_int_equal(rft_disk_init(&x.d, &x.loop, &c), 0);
	assert_int_equal(stat(path, &st), -1);
	rft_disk_start(&x.d);
	run_until(&x, ballast_held);
	rft_disk_close(&x.d, on_closed);
	run_until(&x, closed);
	assert_int_equal(uv_loop_close(&x.loop), 0);
	unlink(path);
	rmdir(x.dir);
}

/* ---- the FSM on a full disk ---- */

struct eb {
	struct cf_buf out, cmd, list;
	struct rft_batch b;
};

static void eb_begin(struct eb *e)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(rft_batch_begin(&e->b, &e->out), 0);
}

static void eb_add(struct eb *e, const struct rft_cmd *c)
{
	e->cmd.len = 0;
	assert_int_equal(rft_cmd_encode(c, &e->cmd), 0);
	assert_int_equal(rft_batch_add(&e->b, e->cmd.data, e->cmd.len), 0);
}

static void eb_finish(struct eb *e, uint64_t ts)
{
	assert_int_equal(rft_batch_finish(&e->b, ts), 0);
}

static void eb_release(struct eb *e)
{
	cf_buf_release(&e->out);
	cf_buf_release(&e->cmd);
	cf_buf_release(&e->list);
}

/* An entry: create group g (alice, bob). */
static void entry_create(struct eb *e)
{
	struct cf_str ids[1] = {CF_STR_LIT("bob")};
	struct rft_cmd c = {0};

	eb_begin(e);
	c.type = RFT_CMD_CREATE;
	c.user = CF_STR_LIT("alice");
	c.conv = CF_STR_LIT("g");
	c.conv_type = RFT_CONV_GROUP;
	c.title = CF_STR_LIT("t");
	assert_int_equal(rft_idlist_encode(&e->list, ids, 1), 0);
	c.members = (struct cf_str){e->list.data, e->list.len};
	eb_add(e, &c);
	eb_finish(e, T0);
}

/* An entry: n sends of content (len bytes of 'x') with keys key-K. */
static void entry_sends(struct eb *e, const char *key, unsigned n,
			size_t len)
{
	static char content[65536];
	char k[32];

	assert_true(len <= sizeof content);
	memset(content, 'x', len);
	eb_begin(e);
	for (unsigned i = 0; i < n; i++) {
		struct rft_cmd c = {0};

		snprintf(k, sizeof k, "%s-%u", key, i);
		c.type = RFT_CMD_SEND;
		c.user = CF_STR_LIT("alice");
		c.conv = CF_STR_LIT("g");
		c.client_msg_id = cf_str_c(k);
		c.msg_type = CF_STR_LIT("text");
		c.content = (struct cf_str){content, len};
		eb_add(e, &c);
	}
	eb_finish(e, T0 + 1000);
}

static struct rft_fsm *fsm_open(const char *dir)
{
	struct rft_fsm_config c;
	char errmsg[CF_ERRMSG_SIZE];
	struct rft_fsm *f = NULL;
	int rv;

	memset(&c, 0, sizeof c);
	c.store.dir = dir;
	c.store.partitions = 2;
	rv = rft_fsm_open(&f, &c, errmsg);
	if (rv != 0)
		fail_msg("open %s: %s: %s", dir, cf_strerror(rv), errmsg);
	return f;
}

/* Apply e at index; the number of results. */
static unsigned apply(struct rft_fsm *f, uint64_t index, struct eb *e)
{
	unsigned n = 0;
	uint64_t at = 0;

	rft_fsm_apply_entry(f, index, e->out.data, e->out.len);
	(void)rft_fsm_results(f, &n, &at);
	assert_int_equal(at, index);
	return n;
}

static void fill_up(const char *dir)
{
	static char chunk[65536];
	char path[128];
	int fd;

	snprintf(path, sizeof path, "%s/filler", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	assert_true(fd >= 0);
	for (int k = 0; k < 100000; k++)
		if (write(fd, chunk, sizeof chunk) < 0)
			break;
	for (int k = 0; k < 100000; k++)
		if (write(fd, chunk, 1) < 0)
			break;
	close(fd);
}

/* Where the full-disk test mounted its tmpfs, for the teardown. */
static char mounted_root[64];

static int unmount_teardown(void **state)
{
	(void)state;
	if (mounted_root[0] != '\0') {
		(void)umount2(mounted_root, MNT_DETACH);
		(void)rmdir(mounted_root);
		mounted_root[0] = '\0';
	}
	return 0;
}

static void full_disk_stops_the_fsm_and_loses_nothing(void **state)
{
	char root[64], store[96], errmsg[CF_ERRMSG_SIZE], path[128];
	struct rft_fsm *f;
	struct raft_fsm *rf;
	struct raft_buffer *bufs = NULL;
	unsigned nbufs = 0;
	const struct rft_conv *g;
	const char *msg = NULL;
	struct eb e;

	(void)state;
	cf_test_dir_make(root, sizeof root, "test_rft_disk");
	if (mount("tmpfs", root, "tmpfs", 0, "size=2m") != 0) {
		fprintf(stderr, "# mount tmpfs: %s: skipped\n", strerror(errno));
		rmdir(root);
		skip();
	}
	snprintf(mounted_root, sizeof mounted_root, "%s", root);
	snprintf(store, sizeof store, "%s/store", root);
	f = fsm_open(store);
	entry_create(&e);
	assert_int_equal(apply(f, 2, &e), 1);
	eb_release(&e);
	entry_sends(&e, "a", 3, 100);
	assert_int_equal(apply(f, 3, &e), 3);
	eb_release(&e);
	assert_int_equal(rft_fsm_checkpoint(f, errmsg), 0);

	/* The disk fills up; entry 4 cannot be stored. */
	fill_up(root);
	entry_sends(&e, "b", 2, 60000);
	assert_int_equal(apply(f, 4, &e), 0); /* no results: unknown */
	eb_release(&e);
	assert_int_equal(rft_fsm_failed(f, &msg), -ENOSPC);
	assert_non_null(strstr(msg, "apply 4: commit "));
	assert_non_null(strstr(msg, store)); /* the file it failed on */
	assert_non_null(strstr(msg, ".seg: No space left on device"));
	assert_int_equal(rft_fsm_applied(f), 3);
	/* Nothing more: entries are skipped, no checkpoint, no snapshot. */
	entry_sends(&e, "c", 1, 10);
	assert_int_equal(apply(f, 5, &e), 0);
	eb_release(&e);
	assert_int_equal(rft_fsm_applied(f), 3);
	assert_int_not_equal(rft_fsm_checkpoint(f, errmsg), 0);
	rf = rft_fsm_raft(f);
	assert_int_equal(rf->snapshot(rf, &bufs, &nbufs), RAFT_BUSY);
	rft_fsm_close(f);

	/* Space returns; the restarted FSM applies 4 and 5 as if new. */
	snprintf(path, sizeof path, "%s/filler", root);
	assert_int_equal(unlink(path), 0);
	f = fsm_open(store);
	assert_int_equal(rft_fsm_failed(f, NULL), 0);
	assert_int_equal(rft_fsm_applied(f), 3);
	entry_sends(&e, "b", 2, 60000);
	assert_int_equal(apply(f, 4, &e), 2);
	assert_int_equal(rft_fsm_results(f, &nbufs, NULL)[1].seq, 5);
	eb_release(&e);
	entry_sends(&e, "c", 1, 10);
	assert_int_equal(apply(f, 5, &e), 1);
	assert_int_equal(rft_fsm_results(f, &nbufs, NULL)[0].seq, 6);
	eb_release(&e);
	g = rft_fsm_conv(f, CF_STR_LIT("g"));
	assert_non_null(g);
	assert_int_equal(g->last_seq, 6);
	assert_int_equal(rft_fsm_checkpoint(f, errmsg), 0);
	rft_fsm_close(f);
}

static void io_error_is_reported_with_its_file(void **state)
{
	char root[64], store[96];
	struct rlimit old, rl;
	struct rft_fsm *f;
	const char *msg = NULL;
	struct eb e;

	(void)state;
	cf_test_dir_make(root, sizeof root, "test_rft_disk");
	snprintf(store, sizeof store, "%s/store", root);
	f = fsm_open(store);
	entry_create(&e);
	assert_int_equal(apply(f, 2, &e), 1);
	eb_release(&e);
	/* No file may grow past 4 KiB: the next segment write is EFBIG. */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	rl = old;
	rl.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	entry_sends(&e, "a", 1, 8000);
	assert_int_equal(apply(f, 3, &e), 0);
	eb_release(&e);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(rft_fsm_failed(f, &msg), -EFBIG);
	assert_non_null(strstr(msg, store));
	assert_non_null(strstr(msg, ".seg: File too large"));
	assert_int_equal(rft_fsm_applied(f), 2);
	rft_fsm_close(f);
	cf_test_dir_remove(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(watermark_defaults_to_1g_or_5_percent),
		cmocka_unit_test(refusal_needs_the_leader_or_a_majority),
		cmocka_unit_test(ballast_covers_segments_manifest_and_compaction),
		cmocka_unit_test(status_round_trips_and_tolerates_old_and_new),
		cmocka_unit_test(full_disk_maps_to_507_insufficient_storage),
		cmocka_unit_test(watcher_makes_releases_and_never_remakes_ballast),
		cmocka_unit_test_teardown(
			full_disk_stops_the_fsm_and_loses_nothing,
			unmount_teardown),
		cmocka_unit_test(io_error_is_reported_with_its_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
