#include "config.h"

/* test_log_vfs_fx: the fixture of test_log_vfs (see its header). */

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

#include "test_log_vfs_fx.h"

#include "../lib/cf_test_dir.h"

const char *const mode_name[] = {
	"once",  "sticky, then goes on", "once, goes on, crash",
	"sticky", "crash",		      "crash (names kept)"};

int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_test_dir_make(f->dir, sizeof(f->dir), "test_log_vfs");
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	f->o.dir = f->store;
	f->o.partitions = 2;
	f->recall_k = -1;
	f->o.seal_bytes = 4096;
	*state = f;
	return 0;
}

int teardown(void **state)
{
	struct fx *f = *state;

	cf_vfs_reset();
	log_store_close(f->s);
	cf_test_dir_remove(f->dir);
	free(f);
	return 0;
}

unsigned count_fds(void)
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

void body_of(char *buf, size_t n, int k, uint64_t seq)
{
	snprintf(buf, n,
		 "message %llu of c%d, padded so that segments seal often ...",
		 (unsigned long long)seq, k);
}

int scan_cb(void *arg, const struct log_record *rec)
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

int store_open(struct fx *f)
{
	log_store_close(f->s);
	f->s = NULL;
	memset(f->seen, 0, sizeof(f->seen));
	f->bad = 0;
	return log_store_open(&f->s, &f->o, scan_cb, f, f->errmsg);
}

void store_close(struct fx *f)
{
	log_store_close(f->s);
	f->s = NULL;
}

/* One entry of n messages, to conversations k0, k0 + 1, ...: 0 or the
 * commit's error (then nothing of it is kept in f->last). */
int entry(struct fx *f, unsigned n, int k0)
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

void entries(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(entry(f, 1 + i % 3, (int)(i * 5 % NCONV)), 0);
}

int checkpoint(struct fx *f)
{
	return log_store_checkpoint(f->s, f->next_index - 1, f->errmsg);
}

void must(int rv, struct fx *f, const char *what)
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
void fresh_store(struct fx *f)
{
	store_close(f);
	cf_test_dir_remove(f->store);
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
void plan(struct fx *f)
{
	must(log_store_compact_plan(f->s, 0, f->next_index++, 3, NULL, 0,
				    &f->job),
	     f, "plan");
}

/* Run and switch every pending job, with the seam off. */
void finish_jobs(struct fx *f)
{
	struct log_compact **v;

	while (log_store_jobs(f->s, &v) > 0) {
		must(log_compact_run(v[0], f->errmsg), f, "run");
		must(log_store_compact_switch(f->s, v[0], f->errmsg), f,
		     "switch");
	}
}

size_t cold_files(struct fx *f)
{
	struct log_store_cold_stats st;

	log_store_cold_stats(f->s, &st);
	return st.files;
}


/* The reopened store's state: OLD, NEW (both if they are the same). */
unsigned reopened(struct fx *f, uint64_t n)
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
void crash(struct fx *f)
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

/* Read every message by seq: 0, or the first error; never wrong bytes. */
int read_all(struct fx *f, struct cf_buf *scratch)
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

uint64_t store_seg_bytes(struct fx *f)
{
	seg_bytes = 0;
	assert_int_equal(nftw(f->store, seg_bytes_cb, 16, FTW_PHYS), 0);
	return seg_bytes;
}
