#include "config.h"

/*
 * test_cf_mem_store: the "fail the Nth allocation" loops over the store's
 * readers and the FSM apply path (issue 11, Tests; src/common/cf_mem.h).
 *
 * The cold reader must fail cleanly: -ENOMEM, nothing leaked, and an open
 * reader still answers afterwards. Apply is different by design (DESIGN.md:
 * "better down than divergent"): a failed allocation while applying an entry
 * ends the process with status 1 and a message naming the entry, and writes
 * nothing that a restart would keep. Each N runs in a forked child; the
 * parent checks the exit, the message, the store files, and that a reopened
 * store is at the entry before and then applies the entry whole.
 */

#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "common/cf_mem.h"
#include "log/log_cold.h"
#include "log/log_record.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"

#include "../lib/cf_test_mem.h"
#include "../lib/cf_test_dir.h"

#define T0 1771900000000ull /* an entry clock, ms */
#define PARTS 4

struct fx {
	char dir[64];
	int dirfd;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_mem_reset();
	cf_test_dir_make(f->dir, sizeof(f->dir), "test_cf_mem_store");
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->dirfd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cf_mem_reset();
	close(f->dirfd);
	cf_test_dir_remove(f->dir);
	free(f);
	return 0;
}

/* --- the cold reader (log_cold_read.c) --------------------------------- */

#define COLD_CONVS 6
#define COLD_SEQS 40

static void cold_body(char *buf, size_t n, unsigned k, unsigned seq)
{
	snprintf(buf, n, "{\"text\":\"conversation %u message %u\"}", k, seq);
}

static void cold_write(struct fx *f)
{
	struct log_cold_writer *w;
	struct log_record rec;
	char conv[16], body[64];
	unsigned k, seq;

	assert_int_equal(log_cold_writer_open(&w, f->dirfd, "a.cold", 1, 1),
			 0);
	for (k = 0; k < COLD_CONVS; k++) {
		snprintf(conv, sizeof conv, "conv-%u", k);
		for (seq = 1; seq <= COLD_SEQS; seq++) {
			memset(&rec, 0, sizeof rec);
			cold_body(body, sizeof body, k, seq);
			rec.kind = LOG_REC_MESSAGE;
			rec.raft_index = 10 + seq;
			rec.message_id = (10 + seq) * 65536u + k;
			rec.seq = seq;
			rec.ts = T0 + seq;
			rec.conv = cf_str_c(conv);
			rec.sender = CF_STR_LIT("alice");
			rec.client_msg_id = CF_STR_LIT("k");
			rec.msg_type = CF_STR_LIT("text");
			rec.body = cf_str_c(body);
			assert_int_equal(log_cold_writer_add(w, &rec), 0);
		}
	}
	assert_int_equal(log_cold_writer_finish(w, NULL), 0);
}

/* The writer: every allocation of open, add and finish fails in turn; a
 * failure leaves neither the file nor its .tmp, and nothing allocated.
 * issue 11: the folder's fsync after the rename strdup'ed the folder name,
 * so an -ENOMEM there reported a failure with the file already in place. */
static void cold_write_fails_cleanly(void **state)
{
	struct fx *f = *state;
	struct log_cold_writer *w;
	struct log_cold_info info;
	struct log_record rec;
	char conv[16], body[64];
	unsigned k, seq;
	uint64_t n;
	bool opened;
	int rv;

	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		cf_test_mem_arm(n, n % 3 == 0);
		w = NULL;
		rv = log_cold_writer_open(&w, f->dirfd, "w.cold", 1, 2);
		opened = rv == 0;
		for (k = 0; rv == 0 && k < COLD_CONVS; k++) {
			snprintf(conv, sizeof conv, "conv-%u", k);
			for (seq = 1; rv == 0 && seq <= COLD_SEQS; seq++) {
				memset(&rec, 0, sizeof rec);
				cold_body(body, sizeof body, k, seq);
				rec.kind = LOG_REC_MESSAGE;
				rec.raft_index = 10 + seq;
				rec.seq = seq;
				rec.conv = cf_str_c(conv);
				rec.body = cf_str_c(body);
				rv = log_cold_writer_add(w, &rec);
			}
		}
		if (rv == 0)
			rv = log_cold_writer_finish(w, &info);
		else if (opened)
			log_cold_writer_abort(w);
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		assert_int_equal(faccessat(f->dirfd, "w.cold", F_OK, 0), -1);
		assert_int_equal(faccessat(f->dirfd, "w.cold.tmp", F_OK, 0),
				 -1);
		assert_int_equal(cf_test_mem_live(), 0);
	}
	assert_true(n > 3);
	assert_int_equal(rv, 0);
	assert_int_equal(info.messages, COLD_CONVS * COLD_SEQS);
	assert_int_equal(cf_test_mem_live(), 0);
}

/* Read a few seqs of every conversation: 0 or the first error. */
static int cold_reads(struct log_cold *r, struct cf_buf *scratch)
{
	static const unsigned seqs[] = {1, COLD_SEQS, 17};
	struct log_record rec;
	char conv[16], body[64];
	unsigned k, i;
	int rv;

	for (k = 0; k < COLD_CONVS; k++) {
		snprintf(conv, sizeof conv, "conv-%u", k);
		for (i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
			rv = log_cold_read_seq(r, cf_str_c(conv), seqs[i], &rec,
					       scratch);
			if (rv != 0)
				return rv;
			cold_body(body, sizeof body, k, seqs[i]);
			assert_true(cf_str_eqc(rec.body, body));
			assert_int_equal(rec.seq, seqs[i]);
		}
	}
	return 0;
}

static void cold_open_and_read_fail_cleanly(void **state)
{
	struct fx *f = *state;
	struct cf_buf scratch = CF_BUF_INIT;
	struct log_cold *r;
	uint64_t n;
	int rv;

	cold_write(f);
	/* Open, then read: every allocation of both fails in turn. */
	for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
		r = NULL;
		cf_test_mem_arm(n, n % 3 == 0);
		rv = log_cold_open(&r, f->dirfd, "a.cold");
		if (rv == 0)
			rv = cold_reads(r, &scratch);
		if (!cf_test_mem_disarm())
			break;
		assert_int_equal(rv, -ENOMEM);
		if (r != NULL) {
			/* The open reader failed a read: it still answers. */
			cf_buf_release(&scratch);
			assert_int_equal(cold_reads(r, &scratch), 0);
			log_cold_close(r);
		}
		cf_buf_release(&scratch);
		assert_int_equal(cf_test_mem_live(), 0);
	}
	assert_true(n > 3);
	assert_int_equal(rv, 0);
	assert_int_equal(log_cold_get_info(r)->messages,
			 COLD_CONVS * COLD_SEQS);
	log_cold_close(r);
	cf_buf_release(&scratch);
	assert_int_equal(cf_test_mem_live(), 0);
}

/* --- the FSM apply path (rft_apply.c) --------------------------------- */

struct eb {
	struct cf_buf out, cmd, list;
	struct rft_batch b;
};

static void eb_add(struct eb *e, const struct rft_cmd *c)
{
	e->cmd.len = 0;
	assert_int_equal(rft_cmd_encode(c, &e->cmd), 0);
	assert_int_equal(rft_batch_add(&e->b, e->cmd.data, e->cmd.len), 0);
}

static void eb_create(struct eb *e, const char *conv, const char *m1,
		      const char *m2)
{
	struct cf_str ids[2] = {cf_str_c(m1), cf_str_c(m2)};
	struct rft_cmd c = {0};

	e->list.len = 0;
	assert_int_equal(rft_idlist_encode(&e->list, ids, m2 ? 2 : 1), 0);
	c.type = RFT_CMD_CREATE;
	c.user = CF_STR_LIT("alice");
	c.conv = cf_str_c(conv);
	c.conv_type = RFT_CONV_GROUP;
	c.title = CF_STR_LIT("title");
	c.members = (struct cf_str){e->list.data, e->list.len};
	eb_add(e, &c);
}

static void eb_send(struct eb *e, const char *user, const char *conv,
		    const char *key, const char *content)
{
	struct rft_cmd c = {0};

	c.type = RFT_CMD_SEND;
	c.user = cf_str_c(user);
	c.conv = cf_str_c(conv);
	c.client_msg_id = cf_str_c(key);
	c.msg_type = CF_STR_LIT("text");
	c.content = cf_str_c(content);
	eb_add(e, &c);
}

static void eb_members(struct eb *e, const char *conv, const char *add)
{
	struct cf_str id = cf_str_c(add);
	struct rft_cmd c = {0};

	e->list.len = 0;
	assert_int_equal(rft_idlist_encode(&e->list, &id, 1), 0);
	c.type = RFT_CMD_MEMBERS;
	c.user = CF_STR_LIT("alice");
	c.conv = cf_str_c(conv);
	c.members = (struct cf_str){e->list.data, e->list.len};
	eb_add(e, &c);
}

static void eb_receipt(struct eb *e, const char *user, const char *conv,
		       uint64_t seq)
{
	struct rft_cmd c = {0};

	c.type = RFT_CMD_RECEIPT;
	c.user = cf_str_c(user);
	c.conv = cf_str_c(conv);
	c.seq = seq;
	c.receipt_kind = RFT_RECEIPT_READ;
	eb_add(e, &c);
}

static void eb_release(struct eb *e)
{
	cf_buf_release(&e->out);
	cf_buf_release(&e->cmd);
	cf_buf_release(&e->list);
}

/* Entry 1: a group and a message. */
static void entry1(struct eb *e)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(rft_batch_begin(&e->b, &e->out), 0);
	eb_create(e, "g", "bob", NULL);
	eb_send(e, "alice", "g", "m1", "{\"text\":\"one\"}");
	assert_int_equal(rft_batch_finish(&e->b, T0), 0);
}

/* Entry 2: every kind of change, across two conversations. */
static void entry2(struct eb *e)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(rft_batch_begin(&e->b, &e->out), 0);
	eb_send(e, "bob", "g", "m2", "{\"text\":\"two\"}");
	eb_create(e, "h", "bob", "carol");
	eb_send(e, "carol", "h", "m3", "{\"text\":\"three\"}");
	eb_members(e, "h", "dave");
	eb_send(e, "dave", "h", "m4", "{\"text\":\"four\"}");
	eb_receipt(e, "bob", "g", 2);
	eb_send(e, "bob", "g", "m2", "{\"text\":\"two\"}"); /* a duplicate */
	assert_int_equal(rft_batch_finish(&e->b, T0 + 1000), 0);
}

static struct rft_fsm *fsm_open(struct fx *f)
{
	struct rft_fsm_config c;
	struct rft_fsm *fsm;
	char errmsg[CF_ERRMSG_SIZE], dir[96];
	int rv;

	snprintf(dir, sizeof dir, "%s/store", f->dir);
	memset(&c, 0, sizeof(c));
	c.store.dir = dir;
	c.store.partitions = PARTS;
	rv = rft_fsm_open(&fsm, &c, errmsg);
	if (rv != 0)
		fail_msg("open %s: %s: %s", dir, cf_strerror(rv), errmsg);
	return fsm;
}

/* Every file under the store: path, then its bytes, into out. */
static struct cf_buf files_snapshot;
static int snap_cb(const char *path, const struct stat *sb, int flag,
		   struct FTW *ftw)
{
	char buf[4096];
	ssize_t n;
	int fd;

	(void)ftw;
	if (flag != FTW_F)
		return 0;
	cf_buf_appendf(&files_snapshot, "%s %lld\n", path,
		       (long long)sb->st_size);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		cf_buf_append(&files_snapshot, buf, (size_t)n);
	close(fd);
	return 0;
}

static struct cf_buf store_files(struct fx *f)
{
	struct cf_buf out;
	char dir[96];

	snprintf(dir, sizeof dir, "%s/store", f->dir);
	cf_buf_init(&files_snapshot);
	assert_int_equal(nftw(dir, snap_cb, 16, FTW_PHYS), 0);
	out = files_snapshot;
	cf_buf_init(&files_snapshot);
	return out;
}

/*
 * In a child: open the store, fail allocation n (and with sticky every
 * later one, the exit path's included) of applying entry e at index 2. Exits 0 if the fault was never reached (the entry applied and
 * was checkpointed), 2 if apply returned although an allocation failed;
 * apply's own exit (1) otherwise. The child's stderr goes to errpath.
 */
static int apply_child(struct fx *f, const struct eb *e, uint64_t n,
		       bool sticky, const char *errpath)
{
	char errmsg[CF_ERRMSG_SIZE];
	struct rft_fsm *fsm;
	pid_t pid;
	int st, fd;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(9);
		fsm = fsm_open(f);
		cf_test_mem_arm(n, sticky);
		rft_fsm_apply_entry(fsm, 2, e->out.data, e->out.len);
		if (rft_fsm_failed(fsm, NULL) != 0) {
			/*
			 * The FSM halted (the entry unwound, nothing more
			 * applied): it never records a checkpoint, and the
			 * node stops on anything but a full disk
			 * (rft_node_disk.c), as this child does.
			 */
			cf_test_mem_disarm();
			if (rft_fsm_failed(fsm, NULL) != -ENOMEM)
				_exit(5);
			if (rft_fsm_checkpoint(fsm, errmsg) == 0)
				_exit(4);
			_exit(1);
		}
		if (cf_test_mem_disarm())
			_exit(2);
		if (rft_fsm_checkpoint(fsm, errmsg) != 0)
			_exit(3);
		rft_fsm_close(fsm);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("n=%llu: child killed by signal %d",
			 (unsigned long long)n, WTERMSIG(st));
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* The store after entry 1 only (again): the state each child starts from. */
static void store_at_entry1(struct fx *f, const struct eb *e1,
			    struct cf_buf *files)
{
	char dir[96], errmsg[CF_ERRMSG_SIZE];
	struct rft_fsm *fsm;

	snprintf(dir, sizeof dir, "%s/store", f->dir);
	cf_test_dir_remove(dir);
	fsm = fsm_open(f);
	rft_fsm_apply_entry(fsm, 1, e1->out.data, e1->out.len);
	assert_int_equal(rft_fsm_checkpoint(fsm, errmsg), 0);
	rft_fsm_close(fsm);
	cf_buf_release(files);
	*files = store_files(f);
}

/* After a child stopped at allocation n: the message, the files, and a
 * reopened store at entry 1. */
static void apply_check_stopped(struct fx *f, uint64_t n, const char *errpath,
				const struct cf_buf *before)
{
	struct cf_buf after;
	const struct rft_conv *c;
	struct rft_fsm *fsm;
	char msg[1024];
	ssize_t len;
	int fd;

	/* "better down than divergent": status 1 (checked by the caller),
	 * and a message naming the entry and the cause. */
	fd = open(errpath, O_RDONLY);
	assert_true(fd >= 0);
	len = read(fd, msg, sizeof msg - 1);
	close(fd);
	assert_true(len > 0);
	msg[len] = '\0';
	if (strstr(msg, "fsm: apply 2: ") == NULL ||
	    strstr(msg, cf_strerror(-ENOMEM)) == NULL)
		fail_msg("n=%llu: message: %s", (unsigned long long)n, msg);
	/* Not a byte of entry 2 reached the files. */
	after = store_files(f);
	if (after.len != before->len ||
	    memcmp(after.data, before->data, before->len) != 0)
		fail_msg("n=%llu: the store's files changed",
			 (unsigned long long)n);
	cf_buf_release(&after);
	/* Reopened, the store is at entry 1 (raft would replay entry 2). */
	fsm = fsm_open(f);
	assert_int_equal(rft_fsm_applied(fsm), 1);
	c = rft_fsm_conv(fsm, CF_STR_LIT("g"));
	assert_non_null(c);
	assert_int_equal(c->last_seq, 1);
	assert_null(rft_fsm_conv(fsm, CF_STR_LIT("h")));
	rft_fsm_close(fsm);
}

/* What entry 2 leaves: reopened from the files, or just applied. */
static void check_entry2(struct rft_fsm *fsm)
{
	const struct rft_conv *c;

	assert_int_equal(rft_fsm_applied(fsm), 2);
	c = rft_fsm_conv(fsm, CF_STR_LIT("g"));
	assert_non_null(c);
	assert_int_equal(c->last_seq, 2);
	c = rft_fsm_conv(fsm, CF_STR_LIT("h"));
	assert_non_null(c);
	assert_int_equal(c->last_seq, 2);
	assert_int_equal(c->n_members, 4);
}

static void apply_stops_the_process_at_every_allocation(void **state)
{
	struct fx *f = *state;
	const struct rft_result *res;
	struct cf_buf before = CF_BUF_INIT;
	struct rft_fsm *fsm;
	struct eb e1, e2;
	char errpath[96];
	uint64_t n, at;
	unsigned nres;
	int sticky, code = -1;

	snprintf(errpath, sizeof errpath, "%s/stderr", f->dir);
	entry1(&e1);
	entry2(&e2);
	for (sticky = 0; sticky < 2; sticky++) {
		store_at_entry1(f, &e1, &before);
		for (n = 1; n < CF_TEST_MEM_MAX_N; n++) {
			code = apply_child(f, &e2, n, sticky != 0, errpath);
			if (code != 1)
				break;
			apply_check_stopped(f, n, errpath, &before);
		}
		if (code != 0)
			fail_msg("n=%llu: child exit %d (2: apply went on "
				 "after a failed allocation)",
				 (unsigned long long)n, code);
		assert_true(n > 10);
		if (sticky == 0)
			print_message("apply of entry 2: %llu allocations\n",
				      (unsigned long long)n - 1);
		/* The last child applied entry 2 whole and checkpointed. */
		fsm = fsm_open(f);
		check_entry2(fsm);
		rft_fsm_close(fsm);
	}

	/* The same, applied here, with its answers. */
	store_at_entry1(f, &e1, &before);
	fsm = fsm_open(f);
	rft_fsm_apply_entry(fsm, 2, e2.out.data, e2.out.len);
	res = rft_fsm_results(fsm, &nres, &at);
	assert_int_equal(at, 2);
	assert_int_equal(nres, 7);
	for (unsigned i = 0; i < nres; i++)
		assert_int_equal(res[i].status, 0);
	assert_int_equal(res[0].seq, 2);
	assert_false(res[0].duplicate);
	assert_true(res[6].duplicate);
	check_entry2(fsm);
	rft_fsm_close(fsm);

	cf_buf_release(&before);
	eb_release(&e1);
	eb_release(&e2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(cold_write_fails_cleanly),
		T(cold_open_and_read_fail_cleanly),
		T(apply_stops_the_process_at_every_allocation),
#undef T
	};

	cf_test_mem_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
