#include "config.h"

/*
 * test_log_vfs: the store under I/O faults and crashes (issue 11, Tests:
 * "a log_vfs to fail any read/write/fsync/rename and to drop unsynced
 * writes as a crash would, run over the store, checkpoint and
 * compaction"; the seam is src/common/cf_vfs.h).
 *
 * Four operations, each on a store rebuilt the same way for every n:
 * append+commit of one entry, a checkpoint, a compaction (run, switch,
 * checkpoint), and the store's open. Each runs with the n-th I/O call
 * (any kind) made to fail, for n = 1, 2, ... until it runs whole, in four
 * ways:
 *   once      the call fails (EIO or ENOSPC, some writes torn), the rest
 *             work: the operation returns an error, the store goes on, the
 *             operation is done again with the seam off, and a reopened
 *             store holds exactly the new state;
 *   sticky    that call and every later one fail (a disk gone bad): the
 *             store is closed, and reopened with the seam off;
 *   crash     the power goes at that call; the crash model then throws
 *             away every write not fsync'd and every name change whose
 *             folder was not fsync'd; the store is reopened;
 *   crash, names kept   the same, the folders' changes all kept (only
 *             unsynced data lost).
 * After each: the operation returned an error unless the failed call was
 * one whose result is deliberately ignored (close, the unlink of a file
 * no manifest names); no descriptor leaked; and a full scan of the
 * reopened store (log_store_open's scan callback, seq by seq, body by
 * body) finds exactly the state before the operation or the one after,
 * never a mix, and never less than what was checkpointed. ASan's leak
 * check covers memory (--enable-sanitize).
 */

#include <dirent.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "common/cf_vfs.h"
#include "log/log_ckpt.h"
#include "log/log_store.h"

#define NCONV 6
#define ERASED NCONV
/* Bound of every fault loop: far above the calls of any operation here. */
#define MAX_N 2000

enum mode {
	ONCE,
	STICKY_GO_ON,
	ONCE_CRASH,
	STICKY,
	CRASH,
	CRASH_NAMES,
	NMODES
};
static const char *const mode_name[] = {
	"once",  "sticky, then goes on", "once, goes on, crash",
	"sticky", "crash",		      "crash (names kept)"};

enum outcome { OLD = 1, NEW = 2 };

struct fx {
	char dir[64];
	char store[96];
	struct log_store *s;
	struct log_store_opts o;
	char errmsg[CF_ERRMSG_SIZE];
	enum mode mode;
	uint64_t n; /* the call made to fail, 0 outside the loops */
	uint64_t next_index;
	uint64_t last[NCONV]; /* committed, per conversation */
	/* States: the last seq of each conversation, then (ERASED) the
	 * number of messages whose content compaction erased. */
	uint64_t old[NCONV + 1];  /* the state before the operation */
	uint64_t new_[NCONV + 1]; /* and after it */
	uint64_t seen[NCONV + 1]; /* what the last open's scan found */
	int recall_k;		  /* c<recall_k>'s message 1 is recalled */
	unsigned bad;	      /* records out of order or damaged */
	char badmsg[160];
	struct log_compact *job;
	struct log_ckpt *ckpt; /* captured, not run yet */
};

static int rm_cb(const char *p, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_log_vfs.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	f->o.dir = f->store;
	f->o.partitions = 2;
	f->recall_k = -1;
	f->o.seal_bytes = 4096;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cf_vfs_reset();
	log_store_close(f->s);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static unsigned count_fds(void)
{
	struct dirent *e;
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void body_of(char *buf, size_t n, int k, uint64_t seq)
{
	snprintf(buf, n,
		 "message %llu of c%d, padded so that segments seal often ...",
		 (unsigned long long)seq, k);
}

static int scan_cb(void *arg, const struct log_record *rec)
{
	struct fx *f = arg;
	char body[128];
	int k = -1;

	if (rec->conv.len == 2 && rec->conv.p[0] == 'c')
		k = rec->conv.p[1] - '0';
	if (k >= 0 && k == f->recall_k && rec->seq == 1 &&
	    rec->kind == LOG_REC_RECALL)
		return 0;
	if (k < 0 || k >= NCONV || rec->kind != LOG_REC_MESSAGE) {
		f->bad++;
		snprintf(f->badmsg, sizeof f->badmsg, "a foreign record");
		return 0;
	}
	body_of(body, sizeof body, k, rec->seq);
	if (k == f->recall_k && rec->seq == 1 &&
	    (rec->flags & LOG_REC_MSG_RECALLED)) {
		f->seen[ERASED]++; /* its content is gone, as it should */
		body[0] = '\0';
	}
	if (rec->seq != f->seen[k] + 1 || !cf_str_eqc(rec->body, body)) {
		f->bad++;
		snprintf(f->badmsg, sizeof f->badmsg,
			 "c%d: seq %llu after %llu, body %s", k,
			 (unsigned long long)rec->seq,
			 (unsigned long long)f->seen[k],
			 cf_str_eqc(rec->body, body) ? "ok" : "wrong");
	}
	f->seen[k] = rec->seq;
	return 0;
}

static int store_open(struct fx *f)
{
	log_store_close(f->s);
	f->s = NULL;
	memset(f->seen, 0, sizeof(f->seen));
	f->bad = 0;
	return log_store_open(&f->s, &f->o, scan_cb, f, f->errmsg);
}

static void store_close(struct fx *f)
{
	log_store_close(f->s);
	f->s = NULL;
}

/* One entry of n messages, to conversations k0, k0 + 1, ...: 0 or the
 * commit's error (then nothing of it is kept in f->last). */
static int entry(struct fx *f, unsigned n, int k0)
{
	uint64_t last[NCONV];
	char body[128], conv[3] = "c0";
	struct log_record r;
	int rv;

	memcpy(last, f->last, sizeof(last));
	for (unsigned i = 0; i < n; i++) {
		int k = (int)((unsigned)k0 + i) % NCONV;

		conv[1] = (char)('0' + k);
		memset(&r, 0, sizeof(r));
		r.kind = LOG_REC_MESSAGE;
		r.raft_index = f->next_index;
		r.message_id = r.raft_index * 65536 + i;
		r.seq = ++last[k];
		r.ts = 1000 + r.raft_index;
		r.conv = cf_str_c(conv);
		r.sender = CF_STR_LIT("alice");
		r.msg_type = CF_STR_LIT("text");
		body_of(body, sizeof body, k, r.seq);
		r.body = cf_str_c(body);
		assert_int_equal(log_store_append(f->s, &r), 0);
	}
	rv = log_store_commit(f->s);
	if (rv == 0) {
		memcpy(f->last, last, sizeof(last));
		f->next_index++;
	}
	return rv;
}

static void entries(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(entry(f, 1 + i % 3, (int)(i * 5 % NCONV)), 0);
}

static int checkpoint(struct fx *f)
{
	return log_store_checkpoint(f->s, f->next_index - 1, f->errmsg);
}

static void must(int rv, struct fx *f, const char *what)
{
	if (rv != 0)
		fail_msg("n=%llu (%s): %s: %s: %s", (unsigned long long)f->n,
			 mode_name[f->mode], what, cf_strerror(rv), f->errmsg);
}

/*
 * A new store with 60 entries checkpointed (several sealed segments in
 * each partition); under a crash mode the model starts on the empty
 * folder first, so that it sees every file the store makes.
 */
static void fresh_store(struct fx *f)
{
	store_close(f);
	nftw(f->store, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_equal(mkdir(f->store, 0755), 0);
	if (f->mode == ONCE_CRASH || f->mode >= CRASH)
		assert_int_equal(cf_vfs_model_start(f->store), 0);
	memset(f->last, 0, sizeof(f->last));
	f->next_index = 10;
	f->job = NULL;
	must(store_open(f), f, "open");
	entries(f, 60);
	must(checkpoint(f), f, "checkpoint");
	memcpy(f->old, f->last, sizeof(f->last));
	memcpy(f->new_, f->last, sizeof(f->last));
	f->old[ERASED] = f->new_[ERASED] = 0;
}

/* Plan a job for partition 0's three oldest sealed segments. */
static void plan(struct fx *f)
{
	must(log_store_compact_plan(f->s, 0, f->next_index++, 3, NULL, 0,
				    &f->job),
	     f, "plan");
}

/* Run and switch every pending job, with the seam off. */
static void finish_jobs(struct fx *f)
{
	struct log_compact **v;

	while (log_store_jobs(f->s, &v) > 0) {
		must(log_compact_run(v[0], f->errmsg), f, "run");
		must(log_store_compact_switch(f->s, v[0], f->errmsg), f,
		     "switch");
	}
}

static size_t cold_files(struct fx *f)
{
	struct log_store_cold_stats st;

	log_store_cold_stats(f->s, &st);
	return st.files;
}

/* --- the operations ---------------------------------------------------- */

struct op {
	const char *name;
	void (*prepare)(struct fx *f); /* fresh_store, then this */
	int (*run)(struct fx *f);      /* under the fault */
	void (*finish)(struct fx *f);  /* once: complete it, seam off */
	unsigned ignorable;	       /* kinds whose failure run absorbs */
	bool new_needs_finish;	       /* only finish makes "new" durable */
};

/* Append+commit: one entry of 40 messages, sealing in both partitions. */
static void commit_prepare(struct fx *f)
{
	for (unsigned i = 0; i < 40; i++)
		f->new_[(1 + i) % NCONV]++;
}

static int commit_run(struct fx *f)
{
	return entry(f, 40, 1);
}

static void commit_finish(struct fx *f)
{
	must(entry(f, 40, 1), f, "commit again");
	must(checkpoint(f), f, "checkpoint");
}

/*
 * A checkpoint with everything to do: segments with unsynced bytes, new
 * segment files (folders to sync), a switched compaction (a cold file to
 * name, hot segments to unlink afterwards).
 */
static void ckpt_prepare(struct fx *f)
{
	plan(f);
	finish_jobs(f);
	entries(f, 30);
	memcpy(f->new_, f->last, sizeof(f->last));
}

static int ckpt_run(struct fx *f)
{
	return checkpoint(f);
}

static void ckpt_finish(struct fx *f)
{
	must(checkpoint(f), f, "checkpoint again");
}

/* A compaction decided and recorded, then run, switched, checkpointed. */
static void compact_prepare(struct fx *f)
{
	plan(f);
	must(checkpoint(f), f, "checkpoint the job");
}

static int compact_run(struct fx *f)
{
	int rv = log_compact_run(f->job, f->errmsg);

	if (rv == 0)
		rv = log_store_compact_switch(f->s, f->job, f->errmsg);
	if (rv == 0)
		rv = checkpoint(f);
	return rv;
}

static void compact_finish(struct fx *f)
{
	finish_jobs(f);
	must(checkpoint(f), f, "checkpoint");
}

/*
 * An open with everything to do: a recorded job whose cold file was
 * written but not switched, uncheckpointed tails and segment files to cut
 * and remove.
 */
static void open_prepare(struct fx *f)
{
	plan(f);
	must(checkpoint(f), f, "checkpoint the job");
	must(log_compact_run(f->job, f->errmsg), f, "run");
	entries(f, 30);
	store_close(f);
}

static int open_run(struct fx *f)
{
	return store_open(f);
}

static void open_finish(struct fx *f)
{
	(void)f;
}

/*
 * A rewrite: the cold file holding a recalled message is written again
 * without its content (run, switch, checkpoint; the old cold file is
 * unlinked after it). The message's content is there before, gone after.
 */
static void rewrite_prepare(struct fx *f)
{
	char conv[3] = "c0";
	struct log_compact_result r;
	struct log_record rec;

	plan(f);
	finish_jobs(f);
	/* A conversation of partition 0: its message 1 is in the cold file. */
	for (f->recall_k = 0; f->recall_k < NCONV; f->recall_k++) {
		conv[1] = (char)('0' + f->recall_k);
		if (log_partition_of(cf_str_c(conv), 2) == 0)
			break;
	}
	assert_true(f->recall_k < NCONV);
	memset(&rec, 0, sizeof(rec));
	rec.kind = LOG_REC_RECALL;
	rec.raft_index = f->next_index++;
	rec.message_id = rec.raft_index * 65536;
	rec.seq = 1;
	rec.ts = 1000 + rec.raft_index;
	rec.conv = cf_str_c(conv);
	rec.sender = CF_STR_LIT("alice");
	assert_int_equal(log_store_append(f->s, &rec), 0);
	must(log_store_commit(f->s), f, "commit the recall");
	must(log_store_note_recall(f->s, rec.conv, 1, rec.ts), f, "note");
	must(log_store_rewrite_plan(f->s, 0, f->next_index++, &f->job), f,
	     "plan the rewrite");
	r = *log_compact_get(f->job);
	assert_int_equal(r.input_coldno, 1);
	must(checkpoint(f), f, "checkpoint the job");
	f->new_[ERASED] = 1;
}

/*
 * The checkpoint as the node runs it: captured on the loop, more entries
 * committed meanwhile (not part of it), then run (on a worker, in the
 * node) and ended. Those entries are never durable by this checkpoint.
 */
static void async_prepare(struct fx *f)
{
	ckpt_prepare(f);
	must(log_ckpt_begin(f->s, f->next_index - 1, &f->ckpt), f, "begin");
	entries(f, 12);
}

static int async_run(struct fx *f)
{
	int rv = log_ckpt_run(f->ckpt, f->errmsg);

	log_ckpt_end(f->s, f->ckpt, rv);
	f->ckpt = NULL;
	return rv;
}

static void async_finish(struct fx *f)
{
	must(checkpoint(f), f, "checkpoint again");
	/* That one took the entries committed during the first, too. */
	memcpy(f->new_, f->last, sizeof(f->last));
}

static const struct op op_commit = {
	"append+commit", commit_prepare, commit_run, commit_finish,
	CF_VFS_CLOSE, true,
};
static const struct op op_ckpt = {
	"checkpoint", ckpt_prepare, ckpt_run, ckpt_finish,
	CF_VFS_CLOSE | CF_VFS_UNLINK, false,
};
static const struct op op_compact = {
	"compaction", compact_prepare, compact_run, compact_finish,
	CF_VFS_CLOSE | CF_VFS_UNLINK | CF_VFS_SYNC_RANGE, false,
};
static const struct op op_rewrite = {
	"rewrite", rewrite_prepare, compact_run, compact_finish,
	CF_VFS_CLOSE | CF_VFS_UNLINK | CF_VFS_SYNC_RANGE, false,
};
static const struct op op_async = {
	"checkpoint in steps", async_prepare, async_run, async_finish,
	CF_VFS_CLOSE | CF_VFS_UNLINK, false,
};
static const struct op op_open = {
	"open", open_prepare, open_run, open_finish,
	CF_VFS_CLOSE | CF_VFS_UNLINK, false,
};

/* --- the driver ---------------------------------------------------------- */

/* The reopened store's state: OLD, NEW (both if they are the same). */
static unsigned reopened(struct fx *f, uint64_t n)
{
	unsigned got = 0;
	int rv = store_open(f);

	if (rv != 0)
		fail_msg("n=%llu (%s): reopen: %s: %s", (unsigned long long)n,
			 mode_name[f->mode], cf_strerror(rv), f->errmsg);
	if (f->bad != 0)
		fail_msg("n=%llu (%s): %u bad records: %s",
			 (unsigned long long)n, mode_name[f->mode], f->bad,
			 f->badmsg);
	if (memcmp(f->seen, f->old, sizeof(f->seen)) == 0)
		got |= OLD;
	if (memcmp(f->seen, f->new_, sizeof(f->seen)) == 0)
		got |= NEW;
	if (got == 0) {
		char s[256];
		size_t len = 0;

		for (int k = 0; k <= NCONV; k++)
			len += (size_t)snprintf(
				s + len, sizeof s - len, " c%d:%llu/%llu/%llu", k,
				(unsigned long long)f->seen[k],
				(unsigned long long)f->old[k],
				(unsigned long long)f->new_[k]);
		fail_msg("n=%llu (%s): a mix (seen/old/new):%s",
			 (unsigned long long)n, mode_name[f->mode], s);
	}
	return got;
}

/* Power cut (the store is closed first, as a dead process's would be). */
static void crash(struct fx *f)
{
	struct cf_vfs_stats st;

	store_close(f);
	assert_int_equal(cf_vfs_crash(f->mode == CRASH_NAMES
					      ? CF_VFS_CRASH_KEEP_NAMES
					      : 0),
			 0);
	cf_vfs_stats(&st);
	assert_int_equal(st.model_errors, 0);
	cf_vfs_reset();
}

/*
 * Fail the n-th call of op, n = 1, 2, ..., in mode; returns the number of
 * calls op makes, and in outcome[n] what each reopen found.
 */
static uint64_t fault_loop(struct fx *f, const struct op *op, enum mode mode,
			   unsigned char *outcome, unsigned *kind)
{
	static const unsigned flags[] = {0,		 CF_VFS_STICKY,
					 0,		 CF_VFS_STICKY,
					 CF_VFS_POWER_OFF, CF_VFS_POWER_OFF};
	struct cf_vfs_stats st;
	uint64_t n;
	unsigned fds0, torn;
	int rv, err;

	f->mode = mode;
	for (n = 1; n < MAX_N; n++) {
		f->n = n;
		fds0 = count_fds();
		fresh_store(f);
		op->prepare(f);
		err = n % 2 ? EIO : ENOSPC;
		torn = (mode == ONCE || mode == ONCE_CRASH) && n % 3 == 0
			       ? CF_VFS_TORN
			       : 0;
		cf_vfs_fail_after(n, CF_VFS_ALL, err, flags[mode] | torn);
		rv = op->run(f);
		cf_vfs_stats(&st);
		cf_vfs_fail_off();
		kind[n] = st.fired_kind;
		if (!st.fired) {
			must(rv, f, op->name);
			if (op->new_needs_finish)
				must(checkpoint(f), f, "checkpoint");
			break;
		}
		if (rv == 0 && !(st.fired_kind & op->ignorable))
			fail_msg("%s, n=%llu (%s): call of kind %#x failed, "
				 "yet 0",
				 op->name, (unsigned long long)n,
				 mode_name[mode], (unsigned)st.fired_kind);
		if (mode <= ONCE_CRASH) {
			/* The store goes on: done again, it is whole. */
			op->finish(f);
		}
		if (mode == ONCE_CRASH || mode >= CRASH) {
			/* ... and durable as it says (ONCE_CRASH). */
			crash(f);
		}
		outcome[n] = (unsigned char)reopened(f, n);
		if (mode <= ONCE_CRASH)
			assert_true(outcome[n] & NEW);
		if (mode > ONCE_CRASH && op->new_needs_finish)
			assert_true(outcome[n] & OLD);
		store_close(f);
		if (count_fds() != fds0)
			fail_msg("%s, n=%llu (%s): %u descriptors leaked",
				 op->name, (unsigned long long)n,
				 mode_name[mode], count_fds() - fds0);
	}
	assert_true(n < MAX_N);
	/* The operation ran whole: the new state, after a crash too. */
	if (mode == ONCE_CRASH || mode >= CRASH)
		crash(f);
	assert_true(reopened(f, n) & NEW);
	store_close(f);
	return n - 1;
}

/* What a loop found, for checks of its own (NULL: none). */
typedef void (*loop_check)(enum mode mode, uint64_t calls,
			   const unsigned char *outcome, const unsigned *kind);

static void fault_loops(struct fx *f, const struct op *op, loop_check check)
{
	unsigned char *outcome = calloc(MAX_N, 1);
	unsigned *kind = calloc(MAX_N, sizeof(*kind));

	assert_non_null(outcome);
	assert_non_null(kind);
	for (int mode = 0; mode < NMODES; mode++) {
		uint64_t calls;

		memset(outcome, 0, MAX_N);
		calls = fault_loop(f, op, (enum mode)mode, outcome, kind);
		assert_true(calls >= 3);
		if (mode == ONCE)
			print_message("%s: %llu I/O calls\n", op->name,
				      (unsigned long long)calls);
		if (check != NULL)
			check((enum mode)mode, calls, outcome, kind);
	}
	free(outcome);
	free(kind);
}

/*
 * A checkpoint is in force from the rename of its manifest (if the disk
 * keeps the rename: sticky, names kept) or from the folder's fsync after
 * it (the strict crash model); before, the old one, never a mix. So a
 * fault at the rename itself (after the fsync of every segment and of
 * MANIFEST.tmp) finds the old state, and one at the folder's fsync just
 * after it the old or the new one by mode.
 */
static void ckpt_check(enum mode mode, uint64_t calls,
		       const unsigned char *outcome, const unsigned *kind)
{
	uint64_t r = 0, from;

	if (mode <= ONCE_CRASH)
		return;
	for (uint64_t n = 1; n <= calls; n++) {
		if (kind[n] == CF_VFS_RENAME) {
			assert_int_equal(r, 0); /* one rename */
			r = n;
		}
	}
	assert_true(r > 1);
	assert_int_equal(kind[r + 1], CF_VFS_SYNC); /* the folder's fsync */
	from = mode == CRASH ? r + 2 : r + 1;
	for (uint64_t n = 1; n <= calls; n++) {
		if (outcome[n] != (n < from ? OLD : NEW))
			fail_msg("checkpoint (%s): n=%llu (rename at %llu): %s",
				 mode_name[mode], (unsigned long long)n,
				 (unsigned long long)r,
				 outcome[n] == OLD ? "old" : "new");
	}
}

static void commit_fails_cleanly_at_every_call(void **state)
{
	fault_loops(*state, &op_commit, NULL);
}

static void checkpoint_fails_cleanly_at_every_call(void **state)
{
	fault_loops(*state, &op_ckpt, ckpt_check);
}

static void checkpoint_in_steps_fails_cleanly_at_every_call(void **state)
{
	fault_loops(*state, &op_async, ckpt_check);
}

static void compaction_fails_cleanly_at_every_call(void **state)
{
	struct fx *f = *state;

	fault_loops(f, &op_compact, NULL);
	/* Whatever the reopen found, the job completes and holds. */
	must(store_open(f), f, "open");
	finish_jobs(f);
	must(checkpoint(f), f, "checkpoint");
	assert_int_equal(cold_files(f), 1);
	assert_true(reopened(f, 0) & NEW);
	assert_int_equal(cold_files(f), 1);
}

static void rewrite_fails_cleanly_at_every_call(void **state)
{
	struct fx *f = *state;

	fault_loops(f, &op_rewrite, NULL);
	must(store_open(f), f, "open");
	assert_int_equal(f->seen[ERASED], 1);
	assert_int_equal(cold_files(f), 1);
	f->recall_k = -1;
}

static void open_fails_cleanly_at_every_call(void **state)
{
	fault_loops(*state, &op_open, NULL);
}

/* Read every message by seq: 0, or the first error; never wrong bytes. */
static int read_all(struct fx *f, struct cf_buf *scratch)
{
	char body[128], conv[3] = "c0";
	struct log_record r;
	int rv;

	for (int k = 0; k < NCONV; k++) {
		conv[1] = (char)('0' + k);
		for (uint64_t seq = 1; seq <= f->last[k]; seq++) {
			rv = log_store_read_seq(f->s, cf_str_c(conv), seq, &r,
						scratch);
			if (rv != 0)
				return rv;
			body_of(body, sizeof body, k, seq);
			if (r.seq != seq || !cf_str_eqc(r.body, body))
				fail_msg("n=%llu: c%d seq %llu read wrong",
					 (unsigned long long)f->n, k,
					 (unsigned long long)seq);
		}
	}
	return 0;
}

/*
 * Reads by seq from every tier (the hot segment, parked sealed segments
 * and a cold file, through a file cache of two so that files are evicted
 * and opened again): a failed call fails the read, and the store answers
 * every read right afterwards (nothing cached from a failed open or
 * read), with single and sticky faults.
 */
static void reads_fail_cleanly_at_every_call(void **state)
{
	struct fx *f = *state;
	struct cf_buf scratch = CF_BUF_INIT;
	struct cf_vfs_stats st;
	uint64_t n = 0;
	int rv;

	f->o.open_files = 2;
	f->mode = ONCE;
	fresh_store(f);
	plan(f);
	finish_jobs(f);
	entries(f, 30);
	must(checkpoint(f), f, "checkpoint");
	assert_int_equal(cold_files(f), 1);
	for (int sticky = 0; sticky < 2; sticky++) {
		for (n = 1; n < MAX_N; n++) {
			f->n = n;
			cf_vfs_fail_after(n, CF_VFS_ALL, EIO,
					  sticky ? CF_VFS_STICKY : 0);
			rv = read_all(f, &scratch);
			cf_vfs_stats(&st);
			cf_vfs_fail_off();
			if (!st.fired)
				break;
			if (rv == 0 && st.fired_kind != CF_VFS_CLOSE)
				fail_msg("n=%llu: call of kind %#x failed, "
					 "yet 0",
					 (unsigned long long)n,
					 (unsigned)st.fired_kind);
			must(read_all(f, &scratch), f, "read again");
		}
		assert_int_equal(rv, 0);
		assert_true(n > 3 && n < MAX_N);
	}
	print_message("reads: %llu I/O calls\n", (unsigned long long)n - 1);
	cf_buf_release(&scratch);
}

/* Bytes of the store's segment files on disk now. */
static uint64_t seg_bytes;
static int seg_bytes_cb(const char *p, const struct stat *st, int flag,
			struct FTW *ftw)
{
	size_t len = strlen(p);

	(void)ftw;
	if (flag == FTW_F && len > 4 && strcmp(p + len - 4, ".seg") == 0)
		seg_bytes += (uint64_t)st->st_size;
	return 0;
}

static uint64_t store_seg_bytes(struct fx *f)
{
	seg_bytes = 0;
	assert_int_equal(nftw(f->store, seg_bytes_cb, 16, FTW_PHYS), 0);
	return seg_bytes;
}

/*
 * Checkpointed records survive a power cut, and nothing else does: some
 * entries checkpointed, more written (new segments sealed and created, a
 * compaction run and switched) without a checkpoint, then the cut. The
 * reopened store holds exactly the checkpointed records, and the cut did
 * remove bytes (the unsynced tail, in both crash modes).
 */
static void crash_keeps_exactly_the_checkpointed_records(void **state)
{
	struct fx *f = *state;

	for (int mode = CRASH; mode <= CRASH_NAMES; mode++) {
		uint64_t before, after;

		f->mode = (enum mode)mode;
		fresh_store(f);
		plan(f);
		entries(f, 40);
		finish_jobs(f);
		assert_int_equal(cold_files(f), 1);
		memcpy(f->new_, f->last, sizeof(f->last));
		store_close(f);
		before = store_seg_bytes(f);
		crash(f);
		after = store_seg_bytes(f);
		assert_true(after < before);
		assert_int_equal(reopened(f, 0), OLD);
		assert_int_equal(cold_files(f), 0);
		/* Raft's replay: the same entries, then a checkpoint, a cut. */
		memcpy(f->last, f->old, sizeof(f->last));
		f->mode = CRASH;
		store_close(f);
		assert_int_equal(cf_vfs_model_start(f->store), 0);
		must(store_open(f), f, "open");
		entries(f, 40);
		must(checkpoint(f), f, "checkpoint");
		crash(f);
		assert_int_equal(reopened(f, 0), NEW);
		store_close(f);
	}
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(commit_fails_cleanly_at_every_call),
		T(checkpoint_fails_cleanly_at_every_call),
		T(checkpoint_in_steps_fails_cleanly_at_every_call),
		T(compaction_fails_cleanly_at_every_call),
		T(rewrite_fails_cleanly_at_every_call),
		T(open_fails_cleanly_at_every_call),
		T(reads_fail_cleanly_at_every_call),
		T(crash_keeps_exactly_the_checkpointed_records),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
