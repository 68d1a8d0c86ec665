#include "config.h"
/*
 * test_sync_search: the search index built from records (messages with
 * mentions, recalls, edits that keep the rowid), membership windows, the
 * scan budget with its cursor, and the worker: caught up from a segment
 * store's files, fed live records, rebuilt from the files after its
 * database was damaged or deleted, and reading the files when more live
 * records come than its queue holds.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "../lib/cf_test_dir.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "log/log_store.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"
#include "sync/sync_search.h"
#include "sync/sync_search_db.h"
#include "sync/sync_search_norm.h"

#define MID(idx) ((uint64_t)(idx) * 65536u)

/* A record; body encoded (with mentions "a,b" if given) into buf. */
static struct log_record rec(uint8_t kind, uint64_t idx, const char *conv,
			     uint64_t seq, const char *text,
			     const char *mentions, struct cf_buf *buf)
{
	struct log_record r;
	struct rft_rec_meta meta;
	struct cf_str ids[4];
	struct cf_buf l = CF_BUF_INIT;
	unsigned n = 0;
	uint8_t flags = 0;

	memset(&r, 0, sizeof r);
	memset(&meta, 0, sizeof meta);
	r.kind = kind;
	r.raft_index = idx;
	r.message_id = MID(idx);
	r.seq = seq;
	r.ts = 1000 + idx;
	r.conv = cf_str_c(conv);
	r.sender = cf_str_c("alice");
	r.msg_type = cf_str_c("text");
	cf_buf_truncate(buf, 0);
	if (text != NULL) {
		char tmp[64], *save = NULL, *t;

		if (mentions != NULL) {
			snprintf(tmp, sizeof tmp, "%s", mentions);
			for (t = strtok_r(tmp, ",", &save); t != NULL;
			     t = strtok_r(NULL, ",", &save))
				ids[n++] = cf_str_c(strdup(t));
			assert_int_equal(rft_idlist_encode(&l, ids, n), 0);
			meta.mentions.p = l.data;
			meta.mentions.len = l.len;
		}
		assert_int_equal(rft_rec_message_encode2(buf, cf_str_c(text),
							 cf_str_c(""),
							 n > 0 ? &meta : NULL,
							 &flags),
				 0);
		r.flags = flags;
		r.body.p = buf->data;
		r.body.len = buf->len;
		for (unsigned i = 0; i < n; i++)
			free((char *)ids[i].p);
		/* the body was copied: l may go */
	}
	cf_buf_release(&l);
	return r;
}

static void apply(struct sync_search_db *db, uint8_t kind, uint64_t idx,
		  const char *conv, uint64_t seq, const char *text,
		  const char *mentions)
{
	struct cf_buf b = CF_BUF_INIT, scratch = CF_BUF_INIT;
	struct log_record r = rec(kind, idx, conv, seq, text, mentions, &b);

	assert_int_equal(sync_search_db_apply(db, &r, &scratch, NULL), 0);
	cf_buf_release(&b);
	cf_buf_release(&scratch);
}

/* Hits of a query as "conv:seq@idx,...". */
static void hits_str(const struct sync_search_query *q, char *out,
		     size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; i < q->n_hits; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s%s:%llu@%llu",
			 i > 0 ? "," : "", q->hits[i].conv,
			 (unsigned long long)q->hits[i].seq,
			 (unsigned long long)(q->hits[i].mid / 65536u));
}

static void query(struct sync_search_db *db, const char *text,
		  const char *user, const struct sync_search_window *w,
		  size_t nw, const char *want)
{
	struct sync_search_hit hits[20];
	struct sync_search_query q;
	struct cf_buf m = CF_BUF_INIT;
	char got[512];

	memset(&q, 0, sizeof q);
	if (text != NULL) {
		assert_int_equal(sync_search_norm_query(text, strlen(text), &m,
							NULL),
				 0);
		q.match = m.data;
	}
	q.user = user;
	q.limit = 20;
	q.budget = 1000;
	q.windows = w;
	q.n_windows = nw;
	q.hits = hits;
	assert_int_equal(sync_search_db_query(db, &q), 0);
	hits_str(&q, got, sizeof got);
	if (strcmp(got, want) != 0)
		fail_msg("\"%s\" for %s: got \"%s\", want \"%s\"",
			 text != NULL ? text : "(mentions)", user, got, want);
	assert_false(q.more);
	cf_buf_release(&m);
}

static void test_records(void **state)
{
	char dir[256], path[300], err[CF_ERRMSG_SIZE] = "";
	struct sync_search_db *db;
	uint64_t pos = 9;
	const struct sync_search_window both[] = {{"a", 0, 0}, {"b", 0, 0}};
	const struct sync_search_window only_a[] = {{"a", 0, 0}};
	const struct sync_search_window only_b[] = {{"b", 0, 0}};
	/* a member of a from message 2 on (joined at idx 2's change) */
	const struct sync_search_window late[] = {{"a", MID(2) - 1, 0}};
	/* removed at idx 6: sees idx < 6 */
	const struct sync_search_window gone[] = {{"a", 0, MID(6)}};

	(void)state;
	cf_test_dir_make(dir, sizeof dir, "test_sync_search");
	snprintf(path, sizeof path, "%s/index.db", dir);
	assert_int_equal(sync_search_db_open(path, false, &db, err), 0);
	assert_int_equal(sync_search_db_position(db, &pos), 0);
	assert_int_equal(pos, 0);
	assert_int_equal(sync_search_db_begin(db), 0);
	apply(db, LOG_REC_MESSAGE, 1, "a", 1, "Hello world", NULL);
	apply(db, LOG_REC_MESSAGE, 2, "a", 2, "hello there @bob", "bob");
	apply(db, LOG_REC_MESSAGE, 3, "b", 1, "HELLO from b", "bob,carol");
	apply(db, LOG_REC_MESSAGE, 4, "a", 3, "later hello", NULL);
	assert_int_equal(sync_search_db_set_position(db, 4), 0);
	assert_int_equal(sync_search_db_commit(db), 0);
	query(db, "hello", "x", both, 2, "a:3@4,b:1@3,a:2@2,a:1@1");
	query(db, "hello", "x", only_b, 1, "b:1@3");
	query(db, "hello", "x", late, 1, "a:3@4,a:2@2");
	query(db, "hello", "x", NULL, 0, "");
	query(db, NULL, "bob", both, 2, "b:1@3,a:2@2");
	query(db, NULL, "carol", both, 2, "b:1@3");
	query(db, NULL, "carol", only_a, 1, "");
	/* Recall a:1; edit a:2 (its mentions too); both in one batch. */
	assert_int_equal(sync_search_db_begin(db), 0);
	apply(db, LOG_REC_RECALL, 5, "a", 1, NULL, NULL);
	apply(db, LOG_REC_EDIT, 6, "a", 2, "goodbye there @carol", "carol");
	apply(db, LOG_REC_RECALL, 7, "a", 9, NULL, NULL);	/* unknown */
	apply(db, LOG_REC_EDIT, 8, "a", 1, "resurrected?", NULL); /* recalled */
	apply(db, LOG_REC_EDIT, 8, "a", 3, NULL, NULL); /* erased: no text */
	assert_int_equal(sync_search_db_set_position(db, 8), 0);
	assert_int_equal(sync_search_db_commit(db), 0);
	query(db, "hello", "x", both, 2, "a:3@4,b:1@3");
	query(db, "world", "x", both, 2, "");
	query(db, "resurrected", "x", both, 2, "");
	/* The edit keeps the message's rowid (messageId of idx 2). */
	query(db, "goodbye", "x", both, 2, "a:2@2");
	query(db, "goodbye", "x", gone, 1, "a:2@2");
	query(db, "later", "x", gone, 1, "a:3@4");
	query(db, NULL, "bob", both, 2, "b:1@3");
	query(db, NULL, "carol", both, 2, "b:1@3,a:2@2");
	assert_int_equal(sync_search_db_optimize(db), 0);
	assert_int_equal(sync_search_db_position(db, &pos), 0);
	assert_int_equal(pos, 8);
	sync_search_db_close(db);
	/* Reopened: the same. */
	assert_int_equal(sync_search_db_open(path, true, &db, err), 0);
	query(db, "goodbye", "x", both, 2, "a:2@2");
	sync_search_db_close(db);
	cf_test_dir_remove(dir);
}

/*
 * A scan budget smaller than the matches: pages continue by cursor. The
 * caller is in more than SYNC_SEARCH_CONV_TOKENS conversations, so that
 * the query scans every match; in one, it reads only that one's rows.
 */
static void test_budget_and_cursor(void **state)
{
	char dir[256], path[300], err[CF_ERRMSG_SIZE] = "";
	char names[SYNC_SEARCH_CONV_TOKENS + 1][8];
	struct sync_search_db *db;
	struct sync_search_window w[SYNC_SEARCH_CONV_TOKENS + 2];
	struct sync_search_hit hits[10];
	struct sync_search_query q;
	struct cf_buf m = CF_BUF_INIT;
	uint64_t before = 0, want = 100;
	unsigned pages = 0, found = 0;

	(void)state;
	memset(w, 0, sizeof w);
	w[0].conv = "c";
	for (unsigned i = 0; i <= SYNC_SEARCH_CONV_TOKENS; i++) {
		snprintf(names[i], sizeof names[i], "x%03u", i);
		w[i + 1].conv = names[i];
	}
	cf_test_dir_make(dir, sizeof dir, "test_sync_search");
	snprintf(path, sizeof path, "%s/index.db", dir);
	assert_int_equal(sync_search_db_open(path, false, &db, err), 0);
	assert_int_equal(sync_search_db_begin(db), 0);
	/* c (a member) at odd indexes 1..99, d (not) at the even ones,
	 * with a run of 30 d rows at the end (idx 101..130). */
	for (uint64_t i = 1; i <= 100; i++)
		apply(db, LOG_REC_MESSAGE, i, i % 2 ? "c" : "d", i,
		      "apple pie", NULL);
	for (uint64_t i = 101; i <= 130; i++)
		apply(db, LOG_REC_MESSAGE, i, "d", i, "apple pie", NULL);
	assert_int_equal(sync_search_db_commit(db), 0);
	assert_int_equal(sync_search_norm_query("apple", 5, &m, NULL), 0);
	want = 99;
	do {
		memset(&q, 0, sizeof q);
		q.match = m.data;
		q.before = before;
		q.limit = 10;
		q.budget = 15;
		q.windows = w;
		q.n_windows = SYNC_SEARCH_CONV_TOKENS + 2;
		q.hits = hits;
		assert_int_equal(sync_search_db_query(db, &q), 0);
		assert_true(q.scanned <= 15);
		for (size_t i = 0; i < q.n_hits; i++) {
			assert_string_equal(hits[i].conv, "c");
			assert_int_equal(hits[i].mid, MID(want));
			want -= 2;
			found++;
		}
		if (q.more) {
			assert_true(q.next > 0);
			assert_true(before == 0 || q.next < before);
		}
		before = q.next;
		pages++;
	} while (q.more && pages < 100);
	assert_int_equal(found, 50);
	/* The first page had no hit at all (30 rows of d), but more. */
	assert_true(pages >= 7);
	/* In c alone: its token finds only its rows, 10 a page. */
	memset(&q, 0, sizeof q);
	q.match = m.data;
	q.limit = 10;
	q.budget = 15;
	q.windows = w;
	q.n_windows = 1;
	q.hits = hits;
	assert_int_equal(sync_search_db_query(db, &q), 0);
	assert_int_equal(q.n_hits, 10);
	assert_int_equal(q.scanned, 11);
	assert_int_equal(hits[0].mid, MID(99));
	assert_true(q.more);
	assert_int_equal(q.next, MID(81));
	/* With conversationId: the same. */
	q.conv = "c";
	q.n_windows = SYNC_SEARCH_CONV_TOKENS + 2;
	assert_int_equal(sync_search_db_query(db, &q), 0);
	assert_int_equal(q.n_hits, 10);
	assert_int_equal(q.scanned, 11);
	cf_buf_release(&m);
	sync_search_db_close(db);
	cf_test_dir_remove(dir);
}

/* ---- the worker over a real store ---- */

struct world {
	char dir[256];
	char store[300];
	uv_loop_t loop;
	struct sync_search *ss;
	struct log_store_opts o;
	int done;
	char got[512];
};

static void store_write(struct world *w, uint64_t from, uint64_t to,
			bool recall_first)
{
	struct log_store *s;
	struct cf_buf b = CF_BUF_INIT;
	char err[CF_ERRMSG_SIZE] = "";

	assert_int_equal(log_store_open(&s, &w->o, NULL, NULL, err), 0);
	for (uint64_t i = from; i <= to; i++) {
		char text[64];
		struct log_record r;

		snprintf(text, sizeof text, "durian number %llu %s",
			 (unsigned long long)i, i % 2 ? "odd" : "even");
		r = rec(LOG_REC_MESSAGE, i, i % 3 ? "p" : "q", i, text,
			i == 5 ? "bob" : NULL, &b);
		assert_int_equal(log_store_append(s, &r), 0);
		assert_int_equal(log_store_commit(s), 0);
	}
	if (recall_first) {
		/* recall p's message at seq 1 (idx 1) */
		struct log_record r = rec(LOG_REC_RECALL, to + 1, "p", 1, NULL,
					  NULL, &b);

		assert_int_equal(log_store_append(s, &r), 0);
		assert_int_equal(log_store_commit(s), 0);
		to++;
	}
	assert_int_equal(log_store_checkpoint(s, to, err), 0);
	log_store_close(s);
	cf_buf_release(&b);
}

/* A scratch folder, its store's options (seal_bytes 0: the default) and a
 * loop. */
static void world_init(struct world *w, size_t seal_bytes)
{
	memset(w, 0, sizeof *w);
	cf_test_dir_make(w->dir, sizeof w->dir, "test_sync_search");
	snprintf(w->store, sizeof w->store, "%s/store", w->dir);
	w->o.dir = w->store;
	w->o.partitions = 2;
	w->o.seal_bytes = seal_bytes;
	uv_loop_init(&w->loop);
}

static void world_start(struct world *w)
{
	char err[CF_ERRMSG_SIZE] = "";

	assert_int_equal(sync_search_new(&w->ss), 0);
	assert_int_equal(sync_search_start(w->ss, &w->loop, w->dir, w->store,
					   err),
			 0);
}

static void closed_cb(void *arg)
{
	((struct world *)arg)->done = 1;
}

static void world_stop(struct world *w)
{
	w->done = 0;
	sync_search_close(w->ss, closed_cb, w);
	for (int i = 0; i < 1000 && !w->done; i++)
		uv_run(&w->loop, UV_RUN_ONCE);
	assert_true(w->done);
	sync_search_free(w->ss);
	w->ss = NULL;
}

static void wait_position(struct world *w, uint64_t pos)
{
	struct sync_search_stats st;
	uint64_t end = cf_mono_ms() + 20000;

	do {
		uv_run(&w->loop, UV_RUN_NOWAIT);
		sync_search_stats(w->ss, &st);
		if (st.position >= pos)
			return;
		usleep(2000);
	} while (cf_mono_ms() < end);
	fail_msg("search index at %llu, not %llu",
		 (unsigned long long)st.position, (unsigned long long)pos);
}

static void job_cb(struct sync_search_job *job)
{
	struct world *w = job->data;

	assert_int_equal(job->rv, 0);
	hits_str(&job->q, w->got, sizeof w->got);
	w->done = 1;
}

static void run(struct world *w, const char *text, const char *user,
		const char *want)
{
	static const struct sync_search_window both[] = {{"p", 0, 0},
							 {"q", 0, 0}};
	struct sync_search_hit hits[20];
	struct sync_search_job job;
	struct cf_buf m = CF_BUF_INIT;

	memset(&job, 0, sizeof job);
	if (text != NULL) {
		assert_int_equal(sync_search_norm_query(text, strlen(text), &m,
							NULL),
				 0);
		job.q.match = m.data;
	}
	job.q.user = user;
	job.q.limit = 20;
	job.q.budget = 1000;
	job.q.windows = both;
	job.q.n_windows = 2;
	job.q.hits = hits;
	job.data = w;
	w->done = 0;
	assert_int_equal(sync_search_run(w->ss, &job, job_cb), 0);
	for (int i = 0; i < 10000 && !w->done; i++)
		uv_run(&w->loop, UV_RUN_ONCE);
	assert_true(w->done);
	if (strcmp(w->got, want) != 0)
		fail_msg("\"%s\": got \"%s\", want \"%s\"",
			 text != NULL ? text : "(mentions)", w->got, want);
	cf_buf_release(&m);
}

static void test_worker_store_and_rebuild(void **state)
{
	struct world w;
	char path[400];
	struct cf_buf b = CF_BUF_INIT;
	struct log_record r;
	int fd;

	(void)state;
	world_init(&w, 300); /* a few records per segment */
	/* 1..9 in the store, then idx 10 recalls p:1. */
	store_write(&w, 1, 9, true);
	world_start(&w);
	wait_position(&w, 10);
	run(&w, "durian odd", "x", "q:9@9,p:7@7,p:5@5,q:3@3");
	run(&w, "number 4", "x", "p:4@4");
	run(&w, NULL, "bob", "p:5@5");
	/* A live record through the queue (also written to the store). */
	r = rec(LOG_REC_EDIT, 11, "p", 5, "durian edited", NULL, &b);
	sync_search_on_record(w.ss, &r);
	wait_position(&w, 11);
	run(&w, "durian odd", "x", "q:9@9,p:7@7,q:3@3");
	run(&w, "edited", "x", "p:5@5");
	run(&w, NULL, "bob", "");
	world_stop(&w);
	{
		struct log_store *s;
		char err[CF_ERRMSG_SIZE] = "";

		assert_int_equal(log_store_open(&s, &w.o, NULL, NULL, err), 0);
		assert_int_equal(log_store_append(s, &r), 0);
		assert_int_equal(log_store_commit(s), 0);
		assert_int_equal(log_store_checkpoint(s, 11, err), 0);
		log_store_close(s);
	}
	/* Damaged: its header overwritten; rebuilt from the files. */
	snprintf(path, sizeof path, "%s/search/index.db", w.dir);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "garbage garbage garbage garbage", 31, 0),
			 31);
	close(fd);
	world_start(&w);
	wait_position(&w, 11);
	run(&w, "durian odd", "x", "q:9@9,p:7@7,q:3@3");
	run(&w, "edited", "x", "p:5@5");
	run(&w, "durian", "x",
	    "q:9@9,p:8@8,p:7@7,q:6@6,p:5@5,p:4@4,q:3@3,p:2@2");
	world_stop(&w);
	/* Deleted: rebuilt from the files too. */
	unlink(path);
	world_start(&w);
	wait_position(&w, 11);
	run(&w, "edited", "x", "p:5@5");
	run(&w, "number 1", "x", "");
	world_stop(&w);
	/* Every page after the first overwritten: found by the checks
	 * (quick_check, the FTS5 structure), rebuilt again. */
	{
		char junk[4096];
		off_t size;

		fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		size = lseek(fd, 0, SEEK_END);
		assert_true(size > 4096);
		memset(junk, 0x5A, sizeof junk);
		for (off_t off = 4096; off < size; off += 4096)
			assert_int_equal(pwrite(fd, junk, sizeof junk, off),
					 (ssize_t)sizeof junk);
		close(fd);
	}
	world_start(&w);
	wait_position(&w, 11);
	run(&w, "durian odd", "x", "q:9@9,p:7@7,q:3@3");
	run(&w, NULL, "bob", "");
	world_stop(&w);
	uv_loop_close(&w.loop);
	cf_buf_release(&b);
	cf_test_dir_remove(w.dir);
}

/*
 * More live records than the queue holds: the worker drops the queue and
 * reads them from the store's files instead (written, not checkpointed,
 * as the loop leaves them), then goes on from the queue.
 */
static void test_queue_overflow_reads_the_files(void **state)
{
	struct world w;
	struct log_store *s;
	struct sync_search_stats st;
	struct cf_buf b = CF_BUF_INIT;
	char err[CF_ERRMSG_SIZE] = "";
	const uint64_t last = 11 + SYNC_SEARCH_QUEUE_MAX + 5000;
	uint64_t rebuilds;
	sqlite3 *lock;
	char path[400];

	(void)state;
	world_init(&w, 0);
	store_write(&w, 1, 9, true);
	world_start(&w);
	wait_position(&w, 10);
	sync_search_stats(w.ss, &st);
	rebuilds = st.rebuilds;
	/* The worker held on the database's write lock meanwhile (without
	 * depending on how fast it is): the queue fills up. */
	snprintf(path, sizeof path, "%s/search/index.db", w.dir);
	assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
	sqlite3_busy_timeout(lock, 20000);
	assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	assert_int_equal(log_store_open(&s, &w.o, NULL, NULL, err), 0);
	for (uint64_t i = 11; i <= last; i++) {
		char text[64];
		struct log_record r;

		snprintf(text, sizeof text, "burst w%lluq",
			 (unsigned long long)i);
		r = rec(LOG_REC_MESSAGE, i, "p", i, text, NULL, &b);
		assert_int_equal(log_store_append(s, &r), 0);
		assert_int_equal(log_store_commit(s), 0);
	}
	/* Handed over as apply does, faster than the worker indexes. */
	for (uint64_t i = 11; i <= last; i++) {
		char text[64];
		struct log_record r;

		snprintf(text, sizeof text, "burst w%lluq",
			 (unsigned long long)i);
		r = rec(LOG_REC_MESSAGE, i, "p", i, text, NULL, &b);
		sync_search_on_record(w.ss, &r);
	}
	sync_search_stats(w.ss, &st);
	assert_true(st.queued < SYNC_SEARCH_QUEUE_MAX); /* dropped */
	assert_int_equal(sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(lock);
	wait_position(&w, last);
	sync_search_stats(w.ss, &st);
	assert_true(st.rebuilds > rebuilds);
	assert_true(st.queued <= SYNC_SEARCH_QUEUE_MAX);
	run(&w, "w11q", "x", "p:11@11");
	run(&w, "w40000q", "x", "p:40000@40000");
	{
		char q[32], want[64];

		snprintf(q, sizeof q, "w%lluq", (unsigned long long)last);
		snprintf(want, sizeof want, "p:%llu@%llu",
			 (unsigned long long)last, (unsigned long long)last);
		run(&w, q, "x", want);
	}
	/* And live again after it. */
	{
		struct log_record r = rec(LOG_REC_RECALL, last + 1, "p", 11,
					  NULL, NULL, &b);

		assert_int_equal(log_store_append(s, &r), 0);
		assert_int_equal(log_store_commit(s), 0);
		sync_search_on_record(w.ss, &r);
	}
	wait_position(&w, last + 1);
	run(&w, "w11q", "x", "");
	world_stop(&w);
	log_store_close(s);
	uv_loop_close(&w.loop);
	cf_buf_release(&b);
	cf_test_dir_remove(w.dir);
}

/* ---- at most SYNC_SEARCH_RUNNING queries in the pool ---- */

struct burst {
	unsigned done, failed;
};

static void burst_cb(struct sync_search_job *job)
{
	struct burst *b = job->data;

	b->done++;
	b->failed += job->rv != 0;
}

/* A query for "durian" (match) in conversation p, answered to b. */
static void burst_job(struct sync_search_job *job, const char *match,
		      const struct sync_search_window *win,
		      struct sync_search_hit *hits, struct burst *b)
{
	memset(job, 0, sizeof *job);
	job->q.match = match;
	job->q.user = "x";
	job->q.limit = 4;
	job->q.budget = 100;
	job->q.windows = win;
	job->q.n_windows = 1;
	job->q.hits = hits;
	job->data = b;
}

/*
 * Queries handed over faster than they end: SYNC_SEARCH_RUNNING go to the
 * pool, SYNC_SEARCH_WAITING wait, the next one is refused at once
 * (-EBUSY); every accepted one is answered, the waiting ones as slots free
 * up, and a query after the burst is accepted again. Then jobs that wait at
 * close are answered CF_ESHUTDOWN. (Slots are freed by after_work_cb on the
 * loop, which does not run while the jobs are handed over: deterministic.)
 */
static void test_queries_are_bounded(void **state)
{
	enum { N = SYNC_SEARCH_RUNNING + SYNC_SEARCH_WAITING };
	static const struct sync_search_window win[] = {{"p", 0, 0}};
	static struct sync_search_job jobs[N + 1];
	static struct sync_search_hit hits[N + 1][4];
	struct cf_buf m = CF_BUF_INIT;
	struct burst b = {0};
	struct world w;

	(void)state;
	world_init(&w, 0);
	store_write(&w, 1, 9, false);
	world_start(&w);
	wait_position(&w, 9);
	assert_int_equal(sync_search_norm_query("durian", 6, &m, NULL), 0);
	for (unsigned round = 0; round < 2; round++) {
		b.done = b.failed = 0;
		for (unsigned i = 0; i <= N; i++) {
			burst_job(&jobs[i], m.data, win, hits[i], &b);
			assert_int_equal(
				sync_search_run(w.ss, &jobs[i], burst_cb),
				i < N ? 0 : -EBUSY);
		}
		for (int k = 0; k < 100000 && b.done < N; k++)
			uv_run(&w.loop, UV_RUN_ONCE);
		assert_int_equal(b.done, N);
		assert_int_equal(b.failed, 0);
		assert_int_equal(jobs[N - 1].q.n_hits, 4);
	}
	/* Close with jobs waiting: they are answered, not lost. */
	b.done = b.failed = 0;
	for (unsigned i = 0; i < N; i++) {
		burst_job(&jobs[i], m.data, win, hits[i], &b);
		assert_int_equal(sync_search_run(w.ss, &jobs[i], burst_cb), 0);
	}
	/* (free only once the running ones are back, as confabd does by
	 * running its loop to the end before it frees the server) */
	w.done = 0;
	sync_search_close(w.ss, closed_cb, &w);
	for (int k = 0; k < 100000 && (!w.done || b.done < N); k++)
		uv_run(&w.loop, UV_RUN_ONCE);
	assert_true(w.done);
	assert_int_equal(b.done, N);
	assert_int_equal(b.failed, SYNC_SEARCH_WAITING);
	sync_search_free(w.ss);
	cf_buf_release(&m);
	assert_int_equal(uv_loop_close(&w.loop), 0);
	cf_test_dir_remove(w.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_budget_and_cursor),
		cmocka_unit_test(test_worker_store_and_rebuild),
		cmocka_unit_test(test_queue_overflow_reads_the_files),
		cmocka_unit_test(test_queries_are_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
