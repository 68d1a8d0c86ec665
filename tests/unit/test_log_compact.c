#include "config.h"

/*
 * test_log_compact: the store's cold tier. Compaction jobs (plan, run,
 * switch), reads by seq across tiers, the rebuild of a store with cold
 * files, erasure of recalled content, the manifest with cold files and
 * jobs, and a crash (close without checkpoint) after every step of a job.
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
#include "log/log_ckpt.h"
#include "log/log_cold.h"
#include "log/log_manifest.h"
#include "log/log_store.h"

#include "../lib/cf_test_dir.h"

#define NCONV 5
#define SECRET "SECRET-CONTENT-7f3a"

/* What a scan saw of one conversation, in order. */
struct seen {
	char *v; /* "kind:seq:mid;" lines */
	size_t len, cap;
};

struct fixture {
	char dir[64];
	char store[96];
	struct log_store *s;
	struct log_store_opts o;
	char errmsg[CF_ERRMSG_SIZE];
	uint64_t next_index;
	uint64_t last_seq[NCONV];
	struct seen seen[NCONV];
	uint64_t scanned;
	uint64_t gone[NCONV]; /* a seq erased earlier, per conversation */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_test_dir_make(f->dir, sizeof(f->dir), "test_log_compact");
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	f->o.dir = f->store;
	f->o.partitions = 1;
	f->o.seal_bytes = 4096;
	f->next_index = 10;
	*state = f;
	return 0;
}

static void seen_reset(struct fixture *f)
{
	for (int i = 0; i < NCONV; i++) {
		free(f->seen[i].v);
		memset(&f->seen[i], 0, sizeof(f->seen[i]));
	}
	f->scanned = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	log_store_close(f->s);
	seen_reset(f);
	cf_test_dir_remove(f->dir);
	free(f);
	return 0;
}

static int conv_no(struct cf_str conv)
{
	assert_true(conv.len == 2 && conv.p[0] == 'c');
	return conv.p[1] - '0';
}

static int scan_cb(void *arg, const struct log_record *rec)
{
	struct fixture *f = arg;
	struct seen *s = &f->seen[conv_no(rec->conv)];
	char line[64];
	int n = snprintf(line, sizeof(line), "%u:%llu:%llu;", rec->kind,
			 (unsigned long long)rec->seq,
			 (unsigned long long)rec->message_id);

	if (s->len + (size_t)n + 1 > s->cap) {
		s->cap = (s->len + (size_t)n + 1) * 2;
		s->v = realloc(s->v, s->cap);
		assert_non_null(s->v);
	}
	memcpy(s->v + s->len, line, (size_t)n + 1);
	s->len += (size_t)n;
	f->scanned++;
	return 0;
}

static int store_open(struct fixture *f)
{
	log_store_close(f->s);
	f->s = NULL;
	seen_reset(f);
	return log_store_open(&f->s, &f->o, scan_cb, f, f->errmsg);
}

static char body_buf[256];

static const char *body_of(int c, uint64_t seq)
{
	snprintf(body_buf, sizeof(body_buf),
		 "message %llu of c%d, padded to fill segments quickly .....",
		 (unsigned long long)seq, c);
	return body_buf;
}

/* One entry: a message to conversation c (body given or the usual). */
static void send(struct fixture *f, int c, const char *body)
{
	struct log_record r;
	char conv[3] = {'c', (char)('0' + c), 0};

	memset(&r, 0, sizeof(r));
	r.kind = LOG_REC_MESSAGE;
	r.raft_index = f->next_index++;
	r.message_id = r.raft_index * 65536;
	r.seq = ++f->last_seq[c];
	r.ts = 1000 + r.raft_index;
	r.conv = cf_str_c(conv);
	r.sender = CF_STR_LIT("alice");
	r.msg_type = CF_STR_LIT("text");
	r.body = cf_str_c(body != NULL ? body : body_of(c, r.seq));
	assert_int_equal(log_store_append(f->s, &r), 0);
	assert_int_equal(log_store_commit(f->s), 0);
}

/* One entry: a non-message record (a recall of seq) to conversation c. */
static void recall(struct fixture *f, int c, uint64_t seq)
{
	struct log_record r;
	char conv[3] = {'c', (char)('0' + c), 0};

	memset(&r, 0, sizeof(r));
	r.kind = LOG_REC_RECALL;
	r.raft_index = f->next_index++;
	r.message_id = r.raft_index * 65536;
	r.seq = seq;
	r.ts = 1000 + r.raft_index;
	r.conv = cf_str_c(conv);
	r.sender = CF_STR_LIT("alice");
	assert_int_equal(log_store_append(f->s, &r), 0);
	assert_int_equal(log_store_commit(f->s), 0);
}

static void sends(struct fixture *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		send(f, (int)(i * 7 % NCONV), NULL);
}

static void checkpoint(struct fixture *f)
{
	assert_int_equal(log_store_checkpoint(f->s, f->next_index - 1,
					      f->errmsg),
			 0);
}

/* Every message of every conversation reads back with its body. */
static void check_reads(struct fixture *f, int erased_c, uint64_t erased_seq)
{
	struct cf_buf scratch = CF_BUF_INIT;
	struct log_record r;

	for (int c = 0; c < NCONV; c++) {
		char conv[3] = {'c', (char)('0' + c), 0};

		assert_true(log_store_last_seq(f->s, cf_str_c(conv)) ==
			    f->last_seq[c]);
		for (uint64_t q = 1; q <= f->last_seq[c]; q++) {
			assert_int_equal(log_store_read_seq(f->s,
							    cf_str_c(conv), q,
							    &r, &scratch),
					 0);
			assert_true(r.seq == q);
			if ((c == erased_c && q == erased_seq) ||
			    f->gone[c] == q) {
				assert_int_equal(r.body.len, 0);
				assert_true(r.flags & LOG_REC_MSG_RECALLED);
			} else if (!(c == erased_c && r.body.len > 0 &&
				     strstr(r.body.p, SECRET) != NULL)) {
				assert_true(cf_str_eqc(r.body, body_of(c, q)));
			}
		}
	}
	cf_buf_release(&scratch);
}

static size_t count_files(struct fixture *f, const char *ext)
{
	char p[128];
	DIR *d;
	struct dirent *e;
	size_t n = 0, el = strlen(ext);

	snprintf(p, sizeof(p), "%s/p0000", f->store);
	d = opendir(p);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		n += l > el && strcmp(e->d_name + l - el, ext) == 0;
	}
	closedir(d);
	return n;
}

/* Does any file under the store hold needle (cold files decoded too)? */
static const char *grep_store_path;
static const char *grep_needle;
static bool grep_found;

static int grep_rec_cb(void *arg, const struct log_record *rec)
{
	(void)arg;
	return rec->body.len > 0 && memmem(rec->body.p, rec->body.len,
					   grep_needle,
					   strlen(grep_needle)) != NULL;
}

static int grep_cb(const char *p, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	FILE *fp;
	char *buf;
	size_t n, nl = strlen(grep_needle);

	(void)ftw;
	if (flag != FTW_F)
		return 0;
	buf = malloc((size_t)st->st_size + 1);
	assert_non_null(buf);
	fp = fopen(p, "rb");
	assert_non_null(fp);
	n = fread(buf, 1, (size_t)st->st_size, fp);
	fclose(fp);
	for (size_t i = 0; i + nl <= n; i++)
		if (memcmp(buf + i, grep_needle, nl) == 0)
			grep_found = true;
	free(buf);
	/* A cold file is LZ4: look in its decoded records too. */
	if (strlen(p) > 5 && strcmp(p + strlen(p) - 5, ".cold") == 0) {
		struct log_cold *r;

		assert_int_equal(log_cold_open(&r, AT_FDCWD, p), 0);
		if (log_cold_scan(r, grep_rec_cb, NULL) == 1)
			grep_found = true;
		log_cold_close(r);
	}
	return 0;
}

static bool store_holds(struct fixture *f, const char *needle)
{
	grep_store_path = f->store;
	grep_needle = needle;
	grep_found = false;
	assert_int_equal(nftw(f->store, grep_cb, 16, FTW_PHYS), 0);
	return grep_found;
}

/* Plan, run and switch one job of partition 0. */
static const struct log_compact_result *compact(struct fixture *f,
						unsigned max_segs,
						const struct log_recall *r,
						size_t nr,
						struct log_compact_result *out)
{
	struct log_compact *c;

	assert_int_equal(log_store_compact_plan(f->s, 0, f->next_index++,
						max_segs, r, nr, &c),
			 0);
	assert_int_equal(log_compact_run(c, f->errmsg), 0);
	*out = *log_compact_get(c);
	assert_int_equal(log_store_compact_switch(f->s, c, f->errmsg), 0);
	return out;
}

/* ------------------------------------------------------------- tests */

static void manifest_round_trips_cold_files_and_jobs(void **state)
{
	struct log_manifest m, d;
	struct log_manifest_cold c1 = {1, 3, 1, 4, 9999, 0xabcdefull, 77};
	struct log_manifest_cold c0 = {0, 1, 2, 2, 100, 42, 50};
	uint8_t list[] = {2, 'c', '1', 5, 0, 0, 0, 0, 0, 0, 0};
	struct log_manifest_job j = {1, 4, 5, 6, 90, 0, 1, sizeof(list), list};
	struct cf_buf buf = CF_BUF_INIT;
	char err[CF_ERRMSG_SIZE];

	(void)state;
	log_manifest_init(&m);
	log_manifest_init(&d);
	m.partitions = 2;
	m.applied_index = 91;
	m.seal_bytes = 65536;
	assert_int_equal(log_manifest_add(&m, 1, 5, 400, true), 0);
	assert_int_equal(log_manifest_add(&m, 1, 6, 500, true), 0);
	assert_int_equal(log_manifest_add_cold(&m, &c0), 0);
	assert_int_equal(log_manifest_add_cold(&m, &c1), 0);
	assert_int_equal(log_manifest_add_job(&m, &j), 0);
	assert_int_equal(log_manifest_encode(&m, &buf), 0);
	assert_int_equal(log_manifest_decode(buf.data, buf.len, &d, err), 0);
	assert_int_equal(d.ncolds, 2);
	assert_memory_equal(&d.colds[1], &c1, sizeof(c1));
	assert_int_equal(d.njobs, 1);
	assert_int_equal(d.jobs[0].coldno, 4);
	assert_int_equal(d.jobs[0].nrecalls, 1);
	assert_memory_equal(d.jobs[0].recalls, list, sizeof(list));
	assert_non_null(log_manifest_find_cold(&d, 1, 3));
	assert_null(log_manifest_find_cold(&d, 0, 3));
	/* Every truncation is refused (the checksum or the counts). */
	for (size_t n = 0; n < buf.len; n++)
		assert_int_not_equal(log_manifest_decode(buf.data, n, &d, err),
				     0);
	/* A recall list that does not add up is refused. */
	list[0] = 3;
	log_manifest_release(&m);
	m.partitions = 2;
	assert_int_equal(log_manifest_add_job(&m, &j), 0);
	buf.len = 0;
	assert_int_equal(log_manifest_encode(&m, &buf), 0);
	assert_int_equal(log_manifest_decode(buf.data, buf.len, &d, err),
			 CF_ECORRUPT);
	assert_non_null(strstr(err, "bad job"));
	cf_buf_release(&buf);
	log_manifest_release(&m);
	log_manifest_release(&d);
}

static void plan_takes_the_oldest_sealed_segments_once(void **state)
{
	struct fixture *f = *state;
	struct log_compact *a, *b;
	struct log_compact_result ra, rb;

	assert_int_equal(store_open(f), 0);
	/* Nothing sealed yet. */
	send(f, 0, NULL);
	assert_int_equal(log_store_compact_plan(f->s, 0, 1, 4, NULL, 0, &a),
			 CF_ENOTFOUND);
	assert_int_equal(log_store_compact_plan(f->s, 1, 1, 4, NULL, 0, &a),
			 CF_EBADREQ);
	sends(f, 300);
	assert_true(log_store_sealed_free(f->s, 0) >= 5);
	assert_int_equal(log_store_compact_plan(f->s, 0, 100, 2, NULL, 0, &a),
			 0);
	ra = *log_compact_get(a);
	assert_int_equal(ra.first_segno, 1);
	assert_int_equal(ra.last_segno, 2);
	assert_int_equal(ra.coldno, 1);
	assert_int_equal(ra.segments, 2);
	/* A second job starts past the first one's segments. */
	assert_int_equal(log_store_compact_plan(f->s, 0, 101, 2, NULL, 0, &b),
			 0);
	rb = *log_compact_get(b);
	assert_int_equal(rb.first_segno, 3);
	assert_int_equal(rb.coldno, 2);
	/* Switch needs a run. */
	assert_int_equal(log_store_compact_switch(f->s, b, f->errmsg),
			 CF_EBADREQ);
	/* Jobs may finish out of order. */
	assert_int_equal(log_compact_run(b, f->errmsg), 0);
	assert_int_equal(log_store_compact_switch(f->s, b, f->errmsg), 0);
	assert_int_equal(log_compact_run(a, f->errmsg), 0);
	assert_int_equal(log_store_compact_switch(f->s, a, f->errmsg), 0);
	check_reads(f, -1, 0);
	checkpoint(f);
	assert_int_equal(count_files(f, ".cold"), 2);
	assert_int_equal(store_open(f), 0);
	check_reads(f, -1, 0);
}

/* A job takes sealed segments while their bytes fit the input bound. */
static void plan_bounds_a_job_input_in_bytes(void **state)
{
	struct fixture *f = *state;
	struct log_compact *a, *b;
	struct log_compact_result ra, rb;

	f->o.compact_input_max = 3 * 4096;
	assert_int_equal(store_open(f), 0);
	sends(f, 400);
	assert_true(log_store_sealed_free(f->s, 0) >= 8);
	assert_int_equal(log_store_compact_plan(f->s, 0, 100, 1024, NULL, 0,
						&a),
			 0);
	ra = *log_compact_get(a);
	assert_int_equal(ra.first_segno, 1);
	assert_true(ra.segments >= 2 && ra.segments <= 3);
	assert_true(ra.bytes_in <= 3 * 4096);
	/* The next job goes on from there, bounded the same way. */
	assert_int_equal(log_store_compact_plan(f->s, 0, 101, 1024, NULL, 0,
						&b),
			 0);
	rb = *log_compact_get(b);
	assert_int_equal(rb.first_segno, ra.last_segno + 1);
	assert_true(rb.segments >= 2 && rb.segments <= 3);
	assert_int_equal(log_compact_run(a, f->errmsg), 0);
	assert_int_equal(log_store_compact_switch(f->s, a, f->errmsg), 0);
	assert_int_equal(log_compact_run(b, f->errmsg), 0);
	assert_int_equal(log_store_compact_switch(f->s, b, f->errmsg), 0);
	check_reads(f, -1, 0);
	/* One segment is always taken, however large. */
	f->o.compact_input_max = 1;
	checkpoint(f);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(log_store_compact_plan(f->s, 0, 102, 1024, NULL, 0,
						&a),
			 0);
	ra = *log_compact_get(a);
	assert_int_equal(ra.segments, 1);
	assert_int_equal(ra.first_segno, rb.last_segno + 1);
}

static void reads_and_rebuild_are_the_same_from_either_tier(void **state)
{
	struct fixture *f = *state;
	struct log_compact_result r;
	struct log_store_cold_stats cs;
	struct log_store_stats hs;
	struct seen before[NCONV];
	size_t segs_before;

	assert_int_equal(store_open(f), 0);
	sends(f, 400);
	recall(f, 2, 3); /* a non-message record among them */
	sends(f, 50);
	checkpoint(f);
	assert_int_equal(store_open(f), 0);
	memcpy(before, f->seen, sizeof(before));
	memset(f->seen, 0, sizeof(f->seen));
	segs_before = count_files(f, ".seg");
	compact(f, 100, NULL, 0, &r);
	assert_true(r.segments >= 5);
	assert_true(r.bytes_out > 0 && r.bytes_out < r.bytes_in);
	assert_int_equal(r.erased, 1); /* seq 3 of c2: its recall is in */
	check_reads(f, 2, 3);
	log_store_cold_stats(f->s, &cs);
	assert_int_equal(cs.files, 1);
	assert_int_equal(cs.compactions, 1);
	assert_true(cs.bytes == r.bytes_out);
	assert_true(cs.bytes_read == r.bytes_in);
	assert_int_equal(cs.records_erased, 1);
	assert_true(cs.block_reads > 0);
	/* The hot files go with the checkpoint that forgets them. */
	assert_int_equal(count_files(f, ".seg"), segs_before);
	checkpoint(f);
	assert_int_equal(count_files(f, ".seg"), segs_before - r.segments);
	/* Rebuilt from the cold file: each conversation in the same order. */
	assert_int_equal(store_open(f), 0);
	for (int c = 0; c < NCONV; c++) {
		assert_non_null(f->seen[c].v);
		assert_string_equal(f->seen[c].v, before[c].v);
		free(before[c].v);
	}
	check_reads(f, 2, 3);
	log_store_stats(f->s, &hs);
	log_store_cold_stats(f->s, &cs);
	assert_true(cs.records + hs.records == f->scanned);
	/* Appends go on after the compacted numbers. */
	sends(f, 200);
	checkpoint(f);
	assert_int_equal(store_open(f), 0);
	check_reads(f, 2, 3);
}

static void compaction_erases_recalled_content_from_every_file(void **state)
{
	struct fixture *f = *state;
	struct log_compact_result r;
	struct log_recall rc = {CF_STR_LIT("c1"), 0, 0};

	assert_int_equal(store_open(f), 0);
	sends(f, 20);
	send(f, 1, "a message with " SECRET " in it");
	rc.seq = f->last_seq[1];
	sends(f, 300);
	/* The recall is committed later, in a segment not compacted. */
	checkpoint(f);
	assert_true(store_holds(f, SECRET));
	compact(f, 3, &rc, 1, &r);
	assert_int_equal(r.erased, 1);
	checkpoint(f);
	assert_false(store_holds(f, SECRET));
	check_reads(f, 1, rc.seq);
	assert_int_equal(store_open(f), 0);
	check_reads(f, 1, rc.seq);
	assert_false(store_holds(f, SECRET));
}

/* Run every pending job and switch it (what a node does after open). */
static void finish_jobs(struct fixture *f)
{
	struct log_compact **v;

	while (log_store_jobs(f->s, &v) > 0) {
		assert_int_equal(log_compact_run(v[0], f->errmsg), 0);
		assert_int_equal(log_store_compact_switch(f->s, v[0],
							  f->errmsg),
				 0);
	}
}

/* The cold files' identities, in a string. */
static void idents(struct fixture *f, char *out, size_t n)
{
	char p[128];
	DIR *d;
	struct dirent *e;
	size_t len = 0;
	uint64_t v[16];
	size_t k = 0;

	snprintf(p, sizeof(p), "%s/p0000", f->store);
	d = opendir(p);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL && k < 16) {
		struct log_cold *r;
		uint32_t no;
		int dfd = dirfd(d);

		if (log_cold_parse_name(e->d_name, &no) != 0)
			continue;
		assert_int_equal(log_cold_open(&r, dfd, e->d_name), 0);
		v[k++] = log_cold_get_info(r)->content_xxh3 + no;
		log_cold_close(r);
	}
	closedir(d);
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < k; j++)
			if (v[j] < v[i]) {
				uint64_t t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	out[0] = '\0';
	for (size_t i = 0; i < k; i++)
		len += (size_t)snprintf(out + len, n - len, "%016llx ",
					(unsigned long long)v[i]);
}

enum step {
	STEP_PLANNED,	   /* decided, no checkpoint since */
	STEP_RECORDED,	   /* checkpoint holds the job */
	STEP_TMP,	   /* a partial NAME.tmp on disk */
	STEP_WRITTEN,	   /* NAME written, not switched */
	STEP_SWITCHED,	   /* switched, no checkpoint since */
	STEP_UNLINK_LEFT,  /* checkpoint saved, hot files still there */
	STEP_DONE,
	STEP_N
};

static void crash_at_every_step_reopens_old_or_new(void **state)
{
	struct fixture *f = *state;
	char want[512], got[512];

	/* The uninterrupted run, for the identities to compare with. */
	{
		struct log_compact_result r;
		struct log_recall rc = {CF_STR_LIT("c3"), 2, 0};

		assert_int_equal(store_open(f), 0);
		sends(f, 300);
		checkpoint(f);
		compact(f, 3, &rc, 1, &r);
		checkpoint(f);
		idents(f, want, sizeof(want));
		assert_true(strlen(want) > 0);
		log_store_close(f->s);
		f->s = NULL;
		cf_test_dir_remove(f->store);
	}
	for (int step = 0; step < STEP_N; step++) {
		struct log_recall rc = {CF_STR_LIT("c3"), 2, 0};
		struct log_compact *c;
		uint64_t idx;
		size_t jobs_after, segs0;
		struct log_compact **v;

		memset(f->last_seq, 0, sizeof(f->last_seq));
		f->next_index = 10;
		assert_int_equal(store_open(f), 0);
		sends(f, 300);
		checkpoint(f);
		segs0 = count_files(f, ".seg");
		idx = f->next_index++;
		assert_int_equal(log_store_compact_plan(f->s, 0, idx, 3, &rc,
							1, &c),
				 0);
		jobs_after = 1;
		if (step == STEP_PLANNED)
			jobs_after = 0; /* Raft replays the command */
		if (step >= STEP_RECORDED)
			checkpoint(f);
		if (step == STEP_TMP) {
			char p[160];
			FILE *fp;

			snprintf(p, sizeof(p), "%s/p0000/00000001.cold.tmp",
				 f->store);
			fp = fopen(p, "wb");
			assert_non_null(fp);
			fputs("partial", fp);
			fclose(fp);
		}
		if (step >= STEP_WRITTEN)
			assert_int_equal(log_compact_run(c, f->errmsg), 0);
		if (step >= STEP_SWITCHED) {
			assert_int_equal(
				log_store_compact_switch(f->s, c, f->errmsg), 0);
			jobs_after = 0;
		}
		if (step == STEP_SWITCHED) {
			jobs_after = 1; /* the manifest still holds the job */
		}
		if (step >= STEP_UNLINK_LEFT) {
			char p[160], q[160];

			/* Keep a copy of a hot file the checkpoint unlinks. */
			snprintf(p, sizeof(p), "%s/p0000/00000001.seg",
				 f->store);
			snprintf(q, sizeof(q), "%s/keep", f->dir);
			assert_int_equal(link(p, q), 0);
			checkpoint(f);
			if (step == STEP_UNLINK_LEFT)
				assert_int_equal(rename(q, p), 0);
			else
				unlink(q);
		}
		/* Crash: close without a checkpoint, and open again. */
		assert_int_equal(store_open(f), 0);
		assert_int_equal(log_store_jobs(f->s, &v), jobs_after);
		assert_int_equal(count_files(f, ".tmp"), 0);
		/* The old state, or (checkpointed after the switch) the new. */
		assert_int_equal(count_files(f, ".cold"),
				 step >= STEP_UNLINK_LEFT);
		assert_int_equal(count_files(f, ".seg"),
				 step >= STEP_UNLINK_LEFT ? segs0 - 3 : segs0);
		check_reads(f, step >= STEP_UNLINK_LEFT ? 3 : -1, 2);
		if (jobs_after == 0 && step < STEP_SWITCHED) {
			/* What Raft's replay of the command does. */
			assert_int_equal(log_store_compact_plan(f->s, 0, idx, 3,
								&rc, 1, &c),
					 0);
		}
		finish_jobs(f);
		checkpoint(f);
		check_reads(f, 3, 2);
		idents(f, got, sizeof(got));
		assert_string_equal(got, want);
		assert_int_equal(store_open(f), 0);
		check_reads(f, 3, 2);
		assert_int_equal(count_files(f, ".cold"), 1);
		log_store_close(f->s);
		f->s = NULL;
		cf_test_dir_remove(f->store);
	}
}

static void damaged_input_fails_the_run_and_keeps_the_job(void **state)
{
	struct fixture *f = *state;
	struct log_compact *c, **v;
	char p[160];
	int fd;

	assert_int_equal(store_open(f), 0);
	sends(f, 300);
	checkpoint(f);
	assert_int_equal(log_store_compact_plan(f->s, 0, 999, 2, NULL, 0, &c),
			 0);
	snprintf(p, sizeof(p), "%s/p0000/00000002.seg", f->store);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XXXX", 4, 100), 4);
	close(fd);
	assert_int_equal(log_compact_run(c, f->errmsg), CF_ECORRUPT);
	assert_non_null(strstr(f->errmsg, "00000002.seg"));
	assert_int_equal(count_files(f, ".cold"), 0);
	assert_int_equal(count_files(f, ".tmp"), 0);
	assert_int_equal(log_store_jobs(f->s, &v), 1);
	assert_int_equal(log_store_compact_switch(f->s, c, f->errmsg),
			 CF_EBADREQ);
}

/* Files of the store (log_store_files): cold ones, pending ones. */
static void count_listed(struct fixture *f, size_t *cold, size_t *pending)
{
	struct log_store_file *v;
	size_t n;

	assert_int_equal(log_store_files(f->s, &v, &n), 0);
	*cold = *pending = 0;
	for (size_t i = 0; i < n; i++) {
		*cold += v[i].cold;
		*pending += v[i].pending;
	}
	free(v);
}

static void late_recall_rewrites_the_cold_file_that_holds_it(void **state)
{
	struct fixture *f = *state;
	struct log_compact_result r;
	struct log_compact *hot, *rw, **v;
	struct log_recall late = {CF_STR_LIT("c1"), 0, 0};
	size_t cold, pending;

	assert_int_equal(store_open(f), 0);
	sends(f, 20);
	send(f, 1, "a message with " SECRET " in it");
	late.seq = f->last_seq[1];
	sends(f, 300);
	checkpoint(f);
	/* Compacted without the recall: the content is in the cold file. */
	compact(f, 3, NULL, 0, &r);
	checkpoint(f);
	assert_true(store_holds(f, SECRET));
	assert_int_equal(log_store_rewrite_plan(f->s, 0, 1, &rw), CF_ENOTFOUND);
	/* A recall of a message not compacted yet waits for nothing. */
	assert_int_equal(log_store_note_recall(f->s, CF_STR_LIT("c2"),
					       f->last_seq[2], 1),
			 0);
	assert_int_equal(log_store_erase_pending(f->s, 0), 0);
	/* The late recall waits across a restart (manifest erase list). */
	assert_int_equal(log_store_note_recall(f->s, late.conv, late.seq, 1), 0);
	assert_int_equal(log_store_erase_pending(f->s, 0), 1);
	checkpoint(f);
	assert_int_equal(store_open(f), 0);
	assert_int_equal(log_store_erase_pending(f->s, 0), 1);
	assert_int_equal(log_store_rewrite_plan(f->s, 0, f->next_index++, &rw),
			 0);
	assert_int_equal(log_compact_get(rw)->input_coldno, 1);
	assert_int_equal(log_store_erase_pending(f->s, 0), 0);
	/* Listed once for its range, as the rewrite's file. */
	count_listed(f, &cold, &pending);
	assert_int_equal(cold, 1);
	assert_int_equal(pending, 1);
	assert_int_equal(log_compact_run(rw, f->errmsg), 0);
	assert_int_equal(log_compact_get(rw)->erased, 1);
	assert_int_equal(log_store_compact_switch(f->s, rw, f->errmsg), 0);
	checkpoint(f);
	assert_false(store_holds(f, SECRET));
	assert_int_equal(count_files(f, ".cold"), 1);
	check_reads(f, 1, late.seq);
	assert_int_equal(store_open(f), 0);
	check_reads(f, 1, late.seq);
	f->gone[1] = late.seq;

	/* A recall of a message a decided (unswitched) job holds. */
	sends(f, 300);
	send(f, 2, "another " SECRET " here");
	late.conv = CF_STR_LIT("c2");
	late.seq = f->last_seq[2];
	sends(f, 300);
	checkpoint(f);
	assert_int_equal(log_store_compact_plan(f->s, 0, f->next_index++, 100,
						NULL, 0, &hot),
			 0);
	assert_int_equal(log_store_note_recall(f->s, late.conv, late.seq, 1), 0);
	assert_int_equal(log_store_rewrite_plan(f->s, 0, f->next_index++, &rw),
			 0);
	assert_int_equal(log_compact_get(rw)->input_coldno,
			 log_compact_get(hot)->coldno);
	checkpoint(f); /* both jobs in the manifest */
	assert_int_equal(log_compact_run(hot, f->errmsg), 0);
	assert_int_equal(log_compact_run(rw, f->errmsg), 0);
	/* The rewrite switches after its input only. */
	assert_int_equal(log_store_compact_switch(f->s, rw, f->errmsg),
			 -EAGAIN);
	assert_int_equal(log_store_compact_switch(f->s, hot, f->errmsg), 0);
	assert_int_equal(log_store_compact_switch(f->s, rw, f->errmsg), 0);
	assert_int_equal(log_store_jobs(f->s, &v), 0);
	checkpoint(f);
	assert_false(store_holds(f, SECRET));
	assert_int_equal(count_files(f, ".cold"), 2);
	check_reads(f, 2, late.seq);
	assert_int_equal(store_open(f), 0);
	check_reads(f, 2, late.seq);
}

/*
 * One entry: an edit of seq of conversation c; where it went in *loc; its
 * messageId.
 */
static uint64_t edit(struct fixture *f, int c, uint64_t seq,
		     const char *body, struct log_loc *loc)
{
	struct log_record r;
	char conv[3] = {'c', (char)('0' + c), 0};

	memset(&r, 0, sizeof(r));
	r.kind = LOG_REC_EDIT;
	r.raft_index = f->next_index++;
	r.message_id = r.raft_index * 65536;
	r.seq = seq;
	r.ts = 1000 + r.raft_index;
	r.conv = cf_str_c(conv);
	r.sender = CF_STR_LIT("alice");
	r.client_msg_id = CF_STR_LIT("edit-key");
	r.body = cf_str_c(body);
	assert_int_equal(log_store_append(f->s, &r), 0);
	log_store_last_loc(f->s, loc);
	assert_int_equal(log_store_commit(f->s), 0);
	return r.message_id;
}

/* Message seq of conv c reads back erased as an earlier version. */
static void assert_version_erased(struct fixture *f, int c, uint64_t seq)
{
	struct cf_buf scratch = CF_BUF_INIT;
	char conv[3] = {'c', (char)('0' + c), 0};
	struct log_record r;

	assert_int_equal(log_store_read_seq(f->s, cf_str_c(conv), seq, &r,
					    &scratch),
			 0);
	assert_int_equal(r.flags, LOG_REC_MSG_EDITED);
	assert_int_equal(r.body.len, 0);
	cf_buf_release(&scratch);
}

/*
 * Issue 13: the earlier versions of an edited message leave the store
 * when compaction took them before the latest edit was committed (a
 * rewrite of their cold file, log_store_note_edit) and when the job that
 * takes them does not take the latest edit's segment (the plan's list).
 */
static void earlier_versions_leave_the_store_across_files(void **state)
{
	struct fixture *f = *state;
	struct log_compact_result r;
	struct log_compact *rw;
	struct log_recall ed = {CF_STR_LIT("c1"), 0, 0};
	struct log_record rec;
	struct cf_buf scratch = CF_BUF_INIT;
	struct log_loc loc, latest;
	uint64_t seq, mid, first_mid;

	assert_int_equal(store_open(f), 0);
	/* Compacted, then edited: its cold file is rewritten. */
	send(f, 1, "first " SECRET " words");
	seq = f->last_seq[1];
	sends(f, 300);
	checkpoint(f);
	compact(f, 100, NULL, 0, &r);
	checkpoint(f);
	assert_true(store_holds(f, SECRET));
	mid = edit(f, 1, seq, "second words", &latest);
	/* A message still hot waits for nothing. */
	assert_int_equal(log_store_note_edit(f->s, CF_STR_LIT("c2"),
					     f->last_seq[2]),
			 0);
	assert_int_equal(log_store_erase_pending(f->s, 0), 0);
	assert_int_equal(log_store_note_edit(f->s, CF_STR_LIT("c1"), seq), 0);
	assert_int_equal(log_store_erase_pending(f->s, 0), 1);
	checkpoint(f);
	assert_int_equal(store_open(f), 0); /* the list is in the manifest */
	assert_int_equal(log_store_rewrite_plan(f->s, 0, f->next_index++, &rw),
			 0);
	assert_int_equal(log_compact_run(rw, f->errmsg), 0);
	assert_int_equal(log_compact_get(rw)->erased, 1);
	assert_int_equal(log_store_compact_switch(f->s, rw, f->errmsg), 0);
	checkpoint(f);
	assert_false(store_holds(f, SECRET));
	assert_version_erased(f, 1, seq);
	/* The latest version reads at its location; another messageId
	 * there is refused. */
	assert_int_equal(log_store_read_at(f->s, CF_STR_LIT("c1"), &latest,
					   mid, &rec, &scratch),
			 0);
	assert_true(cf_str_eqc(rec.body, "second words"));
	assert_int_equal(log_store_read_at(f->s, CF_STR_LIT("c1"), &latest,
					   mid + 1, &rec, &scratch),
			 CF_ECORRUPT);

	/* Message and a first edit sealed, the latest edit still hot. */
	send(f, 2, "old " SECRET " text");
	seq = f->last_seq[2];
	first_mid = edit(f, 2, seq, "older " SECRET " edit", &loc);
	sends(f, 300);
	mid = edit(f, 2, seq, "the latest edit", &latest);
	checkpoint(f);
	ed.conv = CF_STR_LIT("c2");
	ed.seq = seq;
	ed.latest_segno = latest.segno;
	compact(f, 100, &ed, 1, &r);
	assert_int_equal(r.erased, 2);
	checkpoint(f);
	assert_false(store_holds(f, SECRET));
	assert_true(store_holds(f, "the latest edit"));
	assert_version_erased(f, 2, seq);
	/* The first edit's location leads to its cold file: erased there. */
	assert_int_equal(log_store_read_at(f->s, CF_STR_LIT("c2"), &loc,
					   first_mid, &rec, &scratch),
			 0);
	assert_int_equal(rec.kind, LOG_REC_EDIT);
	assert_int_equal(rec.flags, LOG_REC_MSG_EDITED);
	assert_int_equal(rec.body.len, 0);
	assert_int_equal(log_store_read_at(f->s, CF_STR_LIT("c2"), &latest,
					   mid, &rec, &scratch),
			 0);
	assert_true(cf_str_eqc(rec.body, "the latest edit"));
	cf_buf_release(&scratch);
}

static void open_cold_files_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct log_compact_result r;
	struct log_store_cold_stats cs;

	assert_int_equal(store_open(f), 0);
	sends(f, 2600); /* about 90 sealed 4 KiB segments */
	checkpoint(f);
	while (log_store_sealed_free(f->s, 0) > 0)
		compact(f, 1, NULL, 0, &r);
	checkpoint(f);
	log_store_cold_stats(f->s, &cs);
	assert_true(cs.files > 70);
	check_reads(f, -1, 0); /* reads every message, every file */
	log_store_cold_stats(f->s, &cs);
	assert_true(cs.open_readers > 0);
	assert_true(cs.open_readers <= 64);
}

/*
 * The checkpoint job (log_ckpt.h, issue 11): captured, then a compaction
 * switches the segments it must sync (their descriptors close): the run
 * syncs its duplicates. The store reports the checkpoint only at its end;
 * a crash before the run reopens the old state, one after the rename the
 * new. A run that fails gives the store its work back: the files to
 * unlink are unlinked by the next checkpoint instead.
 */
static void checkpoint_job_survives_a_switch_and_undoes_a_failure(void **state)
{
	struct fixture *f = *state;
	struct log_compact_result r;
	struct log_manifest m;
	struct log_ckpt *c;
	char p[160];
	uint64_t at;
	int dfd;

	assert_int_equal(store_open(f), 0);
	sends(f, 300);
	checkpoint(f);
	/* Crash between capture and run: the old manifest is in force. */
	sends(f, 10);
	at = f->next_index - 1;
	assert_int_equal(log_ckpt_begin(f->s, at, &c), 0);
	assert_int_equal(log_ckpt_begin(f->s, at, &c), -EBUSY);
	log_ckpt_free(c);
	assert_int_equal(store_open(f), 0);
	assert_true(log_store_applied_index(f->s) == at - 10);
	/* (Raft replays the 10 entries: write them again.) */
	f->next_index -= 10;
	memset(f->last_seq, 0, sizeof(f->last_seq));
	for (int k = 0; k < NCONV; k++) {
		char conv[3] = {'c', (char)('0' + k), 0};

		f->last_seq[k] = log_store_last_seq(f->s, cf_str_c(conv));
	}
	sends(f, 10);
	/* Capture; a compaction switches the captured segments out; run. */
	assert_int_equal(log_ckpt_begin(f->s, at, &c), 0);
	assert_int_equal(log_ckpt_index(c), at);
	compact(f, 3, NULL, 0, &r);
	assert_int_equal(log_ckpt_run(c, f->errmsg), 0);
	/* Durable, yet the store does not say so before the end. */
	log_manifest_init(&m);
	dfd = open(f->store, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(log_manifest_load(dfd, &m, f->errmsg), 0);
	close(dfd);
	assert_true(m.applied_index == at);
	log_manifest_release(&m);
	assert_true(log_store_applied_index(f->s) == at - 10);
	log_ckpt_end(f->s, c, 0);
	assert_true(log_store_applied_index(f->s) == at);
	/* The switched hot segments wait for the next checkpoint. */
	snprintf(p, sizeof(p), "%s/p0000/00000001.seg", f->store);
	assert_int_equal(access(p, F_OK), 0);
	/* That one fails (MANIFEST.tmp cannot be created): nothing lost. */
	snprintf(p, sizeof(p), "%s/MANIFEST.tmp", f->store);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_not_equal(log_store_checkpoint(f->s, at, f->errmsg), 0);
	assert_non_null(strstr(f->errmsg, "MANIFEST.tmp"));
	assert_true(log_store_applied_index(f->s) == at);
	snprintf(p, sizeof(p), "%s/p0000/00000001.seg", f->store);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s/MANIFEST.tmp", f->store);
	assert_int_equal(rmdir(p), 0);
	checkpoint(f);
	snprintf(p, sizeof(p), "%s/p0000/00000001.seg", f->store);
	assert_int_equal(access(p, F_OK), -1);
	/* A crash after the run: the new state, every read as before. */
	assert_int_equal(store_open(f), 0);
	assert_true(log_store_applied_index(f->s) == f->next_index - 1);
	check_reads(f, -1, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(manifest_round_trips_cold_files_and_jobs),
		T(plan_takes_the_oldest_sealed_segments_once),
		T(plan_bounds_a_job_input_in_bytes),
		T(reads_and_rebuild_are_the_same_from_either_tier),
		T(compaction_erases_recalled_content_from_every_file),
		T(crash_at_every_step_reopens_old_or_new),
		T(checkpoint_job_survives_a_switch_and_undoes_a_failure),
		T(damaged_input_fails_the_run_and_keeps_the_job),
		T(late_recall_rewrites_the_cold_file_that_holds_it),
		T(earlier_versions_leave_the_store_across_files),
		T(open_cold_files_are_bounded),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
