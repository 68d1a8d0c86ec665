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
 * check covers memory (--enable-sanitize). The fixture (store, entries,
 * scan, crash) is test_log_vfs_fx.c.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "common/cf_vfs.h"

#include "test_log_vfs_fx.h"

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
