/*
 * test_log_vfs_fx: the fixture of test_log_vfs (one program, two files):
 * a store in a temporary folder, entries of known messages, the scan that
 * checks a reopened store seq by seq, and the crash through the seam's
 * model. Contract of the test: test_log_vfs.c.
 */
#ifndef TEST_LOG_VFS_FX_H
#define TEST_LOG_VFS_FX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
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
extern const char *const mode_name[];

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

/* Each is described where test_log_vfs_fx.c defines it. */
int setup(void **state);
int teardown(void **state);
unsigned count_fds(void);
void body_of(char *buf, size_t n, int k, uint64_t seq);
int scan_cb(void *arg, const struct log_record *rec);
int store_open(struct fx *f);
void store_close(struct fx *f);
int entry(struct fx *f, unsigned n, int k0);
void entries(struct fx *f, unsigned n);
int checkpoint(struct fx *f);
void must(int rv, struct fx *f, const char *what);
void fresh_store(struct fx *f);
void plan(struct fx *f);
void finish_jobs(struct fx *f);
size_t cold_files(struct fx *f);
unsigned reopened(struct fx *f, uint64_t n);
void crash(struct fx *f);
int read_all(struct fx *f, struct cf_buf *scratch);
uint64_t store_seg_bytes(struct fx *f);

#endif
