#include "config.h"

#include <errno.h>
#include <fcntl.h>
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
#include <xxhash.h>

#include "common/cf_err.h"
#include "log/log_cold.h"
#include "log/log_segment.h"

#include "../lib/cf_test_dir.h"

/* A record of the model, owning its strings. */
struct mrec {
	uint8_t kind;
	uint8_t flags;
	uint64_t ridx, mid, seq, ts;
	char conv[40];
	char sender[16];
	char cmid[16];
	char type[8];
	char *body;
	size_t body_len;
	bool recalled; /* expected to come back without its body */
};

struct model {
	struct mrec *r;
	size_t n, cap;
};

struct fixture {
	char dir[64];
	int dirfd;
	struct model m;
	struct cf_buf scratch;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cf_test_dir_make(f->dir, sizeof(f->dir), "test_log_cold");
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->dirfd >= 0);
	rng_state = 88172645463325252ull;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->dirfd);
	cf_test_dir_remove(f->dir);
	for (size_t i = 0; i < f->m.n; i++)
		free(f->m.r[i].body);
	free(f->m.r);
	cf_buf_release(&f->scratch);
	free(f);
	return 0;
}

static struct mrec *model_add(struct model *m, uint8_t kind, const char *conv,
			      uint64_t seq, uint64_t ridx, size_t body_len)
{
	struct mrec *r;

	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->r = realloc(m->r, m->cap * sizeof(*m->r));
		assert_non_null(m->r);
	}
	r = &m->r[m->n++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->seq = seq;
	r->ridx = ridx;
	r->mid = ridx * 65536 + (m->n % 3);
	r->ts = 1700000000000ull + ridx;
	snprintf(r->conv, sizeof(r->conv), "%s", conv);
	snprintf(r->sender, sizeof(r->sender), "u%u", (unsigned)(rnd() % 50));
	if (kind == LOG_REC_MESSAGE) {
		snprintf(r->cmid, sizeof(r->cmid), "m%llu",
			 (unsigned long long)ridx);
		strcpy(r->type, "text");
	}
	r->body = malloc(body_len + 1);
	assert_non_null(r->body);
	/* Random letters: a body never repeats inside the file. */
	for (size_t i = 0; i < body_len; i++)
		r->body[i] = (char)('a' + rnd() % 26);
	r->body[body_len] = 0;
	r->body_len = body_len;
	return r;
}

static struct log_record to_rec(const struct mrec *m)
{
	struct log_record r;

	memset(&r, 0, sizeof(r));
	r.kind = m->kind;
	r.flags = m->flags;
	r.raft_index = m->ridx;
	r.message_id = m->mid;
	r.seq = m->seq;
	r.ts = m->ts;
	r.conv = cf_str_c(m->conv);
	r.sender = cf_str_c(m->sender);
	r.client_msg_id = cf_str_c(m->cmid);
	r.msg_type = cf_str_c(m->type);
	r.body = (struct cf_str){m->body, m->body_len};
	return r;
}

static void assert_rec_is(const struct log_record *got, const struct mrec *m)
{
	assert_int_equal(got->kind, m->kind);
	assert_int_equal(got->raft_index, m->ridx);
	assert_int_equal(got->message_id, m->mid);
	assert_int_equal(got->seq, m->seq);
	assert_int_equal(got->ts, m->ts);
	assert_true(cf_str_eqc(got->conv, m->conv));
	assert_true(cf_str_eqc(got->sender, m->sender));
	assert_true(cf_str_eqc(got->client_msg_id, m->cmid));
	assert_true(cf_str_eqc(got->msg_type, m->type));
	if (m->recalled) {
		assert_int_equal(got->flags, LOG_REC_MSG_RECALLED);
		assert_int_equal(got->body.len, 0);
	} else {
		assert_int_equal(got->flags, m->flags);
		assert_true(cf_str_eq(got->body,
				      (struct cf_str){m->body, m->body_len}));
	}
}

/*
 * A partition's worth of records in Raft order: nconv conversations, each
 * created first, then messages (with a seq gap now and then), membership
 * changes, receipts and recalls; plus media references.
 */
static void make_history(struct model *m, unsigned nconv, unsigned steps,
			 size_t max_body)
{
	uint64_t last[64] = {0};
	char name[40];
	uint64_t ridx = 100;

	assert_true(nconv <= 64);
	for (unsigned c = 0; c < nconv; c++) {
		/* Ids of varied lengths and shared prefixes. */
		snprintf(name, sizeof(name), "%s%u", c % 3 ? "g_" : "d_a",
			 (c * 7919u) % 1000u);
		model_add(m, LOG_REC_CONV, name, 0, ridx++, 20);
	}
	for (unsigned s = 0; s < steps; s++) {
		unsigned c = (unsigned)(rnd() % nconv);
		unsigned k = (unsigned)(rnd() % 20);
		struct mrec *r;

		snprintf(name, sizeof(name), "%s%u", c % 3 ? "g_" : "d_a",
			 (c * 7919u) % 1000u);
		if (k < 15 || last[c] == 0) {
			last[c] += (rnd() % 25 == 0) ? 3 : 1;
			model_add(m, LOG_REC_MESSAGE, name, last[c], ridx++,
				  1 + (size_t)(rnd() % max_body));
		} else if (k < 16) {
			model_add(m, LOG_REC_MEMBERS, name, 0, ridx++, 12);
		} else if (k < 18) {
			r = model_add(m, LOG_REC_RECEIPT, name, last[c], ridx++,
				      16);
			r->flags = 2;
		} else if (k < 19) {
			model_add(m, LOG_REC_MEDIA, "~media", 0, ridx++, 40);
		} else {
			/* Recall a message of the model (if it has one). */
			for (size_t i = m->n; i-- > 0;) {
				r = &m->r[i];
				if (r->kind == LOG_REC_MESSAGE &&
				    strcmp(r->conv, name) == 0 && !r->recalled) {
					r->recalled = true;
					model_add(m, LOG_REC_RECALL, name,
						  r->seq, ridx++, 0);
					break;
				}
			}
		}
	}
}

/* Write the model in the order given by perm (NULL: model order). */
static int write_cold(struct fixture *f, const char *name, const size_t *perm,
		      log_cold_recalled_fn fn, void *arg,
		      struct log_cold_info *info)
{
	struct log_cold_writer *w;

	assert_int_equal(log_cold_writer_open(&w, f->dirfd, name, 3, 7), 0);
	if (fn != NULL)
		log_cold_writer_set_recalled(w, fn, arg);
	for (size_t i = 0; i < f->m.n; i++) {
		struct log_record r = to_rec(&f->m.r[perm ? perm[i] : i]);

		assert_int_equal(log_cold_writer_add(w, &r), 0);
	}
	return log_cold_writer_finish(w, info);
}

static size_t *shuffled(size_t n)
{
	size_t *p = malloc((n ? n : 1) * sizeof(*p));

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rnd() % i);
		size_t t = p[i - 1];

		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

static const struct mrec *model_find(const struct model *m, const char *conv,
				     uint64_t seq)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->r[i].kind == LOG_REC_MESSAGE && m->r[i].seq == seq &&
		    strcmp(m->r[i].conv, conv) == 0)
			return &m->r[i];
	return NULL;
}

static char *read_file(struct fixture *f, const char *name, size_t *len)
{
	struct stat st;
	char *p;
	int fd = openat(f->dirfd, name, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static void write_file(struct fixture *f, const char *name, const void *p,
		       size_t len)
{
	int fd = openat(f->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static bool file_exists(struct fixture *f, const char *name)
{
	struct stat st;

	return fstatat(f->dirfd, name, &st, 0) == 0;
}

/* Scan state: records seen, in order. */
struct seen {
	const struct model *m;
	size_t n;
	char conv[40];
	bool in_others;
	uint64_t last_seq;
	uint64_t last_idx;
	uint64_t first_seq_seen;
};

/* File order: conversations bytewise, messages by seq, then others. */
static int scan_order_cb(void *arg, const struct log_record *rec)
{
	struct seen *s = arg;
	struct cf_str prev = cf_str_c(s->conv);
	const struct mrec *m;
	size_t n = prev.len < rec->conv.len ? prev.len : rec->conv.len;
	int c = memcmp(prev.p, rec->conv.p, n);

	if (c == 0)
		c = prev.len < rec->conv.len ? -1 : prev.len > rec->conv.len;
	assert_true(s->n == 0 || c <= 0);
	if (s->n == 0 || c < 0) {
		memcpy(s->conv, rec->conv.p, rec->conv.len);
		s->conv[rec->conv.len] = 0;
		s->in_others = false;
		s->last_seq = 0;
		s->last_idx = 0;
	}
	if (rec->kind == LOG_REC_MESSAGE) {
		assert_false(s->in_others);
		assert_true(rec->seq > s->last_seq);
		s->last_seq = rec->seq;
		m = model_find(s->m, s->conv, rec->seq);
		assert_non_null(m);
		assert_rec_is(rec, m);
	} else {
		s->in_others = true;
		assert_true(rec->raft_index >= s->last_idx);
		s->last_idx = rec->raft_index;
	}
	s->n++;
	return 0;
}

static void round_trip_keeps_every_record_in_conversation_order(void **state)
{
	struct fixture *f = *state;
	struct log_cold_info wi, ri;
	struct log_cold *r;
	struct log_record rec;
	struct log_cold_conv cc, prev;
	struct seen s;
	uint64_t msgs = 0, recalled = 0;
	char err[CF_ERRMSG_SIZE] = "";

	make_history(&f->m, 40, 3000, 300);
	for (size_t i = 0; i < f->m.n; i++) {
		msgs += f->m.r[i].kind == LOG_REC_MESSAGE;
		recalled += f->m.r[i].recalled;
	}
	assert_int_equal(write_cold(f, "00000007.cold", NULL, NULL, NULL, &wi),
			 0);
	assert_false(file_exists(f, "00000007.cold.tmp"));
	assert_int_equal(log_cold_open(&r, f->dirfd, "00000007.cold"), 0);
	ri = *log_cold_get_info(r);
	assert_int_equal(ri.partition, 3);
	assert_int_equal(ri.coldno, 7);
	assert_int_equal(ri.records, f->m.n);
	assert_int_equal(ri.messages, msgs);
	assert_int_equal(ri.recalled, recalled);
	assert_true(recalled > 0);
	assert_int_equal(ri.conversations, 41); /* ~media included */
	assert_int_equal(ri.min_index, 100);
	assert_int_equal(ri.max_index, 100 + f->m.n - 1);
	assert_true(ri.blocks > 5);
	assert_memory_equal(&ri, &wi, sizeof(ri));
	/* Conversations in bytewise order with their seq ranges. */
	for (size_t i = 0; i < ri.conversations; i++) {
		uint64_t lo = UINT64_MAX, hi = 0, n = 0, o = 0;
		char id[40];

		log_cold_conv_at(r, i, &cc);
		if (i > 0) {
			size_t k = cc.conv.len < prev.conv.len ? cc.conv.len
							       : prev.conv.len;
			int c = memcmp(prev.conv.p, cc.conv.p, k);

			assert_true(c < 0 ||
				    (c == 0 && prev.conv.len < cc.conv.len));
		}
		prev = cc;
		memcpy(id, cc.conv.p, cc.conv.len);
		id[cc.conv.len] = 0;
		for (size_t j = 0; j < f->m.n; j++) {
			const struct mrec *m = &f->m.r[j];

			if (strcmp(m->conv, id) != 0)
				continue;
			if (m->kind != LOG_REC_MESSAGE) {
				o++;
				continue;
			}
			n++;
			lo = m->seq < lo ? m->seq : lo;
			hi = m->seq > hi ? m->seq : hi;
		}
		assert_int_equal(cc.messages, n);
		assert_int_equal(cc.others, o);
		assert_int_equal(cc.first_seq, n ? lo : 0);
		assert_int_equal(cc.last_seq, n ? hi : 0);
		assert_int_equal(log_cold_conv_find(r, cc.conv, &prev), 0);
		assert_true(prev.conv.p == cc.conv.p);
	}
	/* Every message by seq; absent seqs and conversations not found. */
	for (size_t i = 0; i < f->m.n; i++) {
		const struct mrec *m = &f->m.r[i];

		if (m->kind != LOG_REC_MESSAGE)
			continue;
		assert_int_equal(log_cold_read_seq(r, cf_str_c(m->conv), m->seq,
						   &rec, &f->scratch),
				 0);
		assert_rec_is(&rec, m);
		if (model_find(&f->m, m->conv, m->seq + 1) == NULL)
			assert_int_equal(log_cold_read_seq(r, cf_str_c(m->conv),
							   m->seq + 1, &rec,
							   &f->scratch),
					 CF_ENOTFOUND);
	}
	assert_int_equal(log_cold_read_seq(r, CF_STR_LIT("nope"), 1, &rec,
					   &f->scratch),
			 CF_ENOTFOUND);
	assert_int_equal(log_cold_read_seq(r, CF_STR_LIT("g_"), 0, &rec,
					   &f->scratch),
			 CF_ENOTFOUND);
	/* A scan sees everything once, in file order. */
	memset(&s, 0, sizeof(s));
	s.m = &f->m;
	assert_int_equal(log_cold_scan(r, scan_order_cb, &s), 0);
	assert_int_equal(s.n, f->m.n);
	assert_int_equal(log_cold_verify(r, err), 0);
	log_cold_close(r);
}

static int count_cb(void *arg, const struct log_record *rec)
{
	struct seen *s = arg;

	if (rec->kind == LOG_REC_MESSAGE && s->first_seq_seen == 0)
		s->first_seq_seen = rec->seq;
	return scan_order_cb(arg, rec);
}

static void scan_conv_reads_one_conversation_from_a_seq(void **state)
{
	struct fixture *f = *state;
	struct log_cold *r;
	struct log_cold_conv cc;
	struct seen s;
	const char *id = NULL;

	make_history(&f->m, 30, 2000, 300);
	assert_int_equal(write_cold(f, "a.cold", NULL, NULL, NULL, NULL), 0);
	assert_int_equal(log_cold_open(&r, f->dirfd, "a.cold"), 0);
	for (size_t i = 0; i < f->m.n && id == NULL; i++)
		if (f->m.r[i].kind == LOG_REC_MESSAGE)
			id = f->m.r[i].conv;
	assert_int_equal(log_cold_conv_find(r, cf_str_c(id), &cc), 0);
	assert_true(cc.messages > 10);
	for (uint64_t from = cc.first_seq; from <= cc.last_seq + 1;
	     from += 7) {
		uint64_t want = 0, others = cc.others;

		for (size_t i = 0; i < f->m.n; i++)
			want += f->m.r[i].kind == LOG_REC_MESSAGE &&
				f->m.r[i].seq >= from &&
				strcmp(f->m.r[i].conv, id) == 0;
		memset(&s, 0, sizeof(s));
		s.m = &f->m;
		assert_int_equal(log_cold_scan_conv(r, cf_str_c(id), from,
						    true, count_cb, &s),
				 0);
		assert_int_equal(s.n, want + others);
		assert_true(want == 0 || s.first_seq_seen >= from);
		memset(&s, 0, sizeof(s));
		s.m = &f->m;
		assert_int_equal(log_cold_scan_conv(r, cf_str_c(id), from,
						    false, count_cb, &s),
				 0);
		assert_int_equal(s.n, want);
	}
	assert_int_equal(log_cold_scan_conv(r, CF_STR_LIT("nope"), 0, true,
					    count_cb, &s),
			 CF_ENOTFOUND);
	log_cold_close(r);
}

static void read_by_seq_decompresses_at_most_one_block(void **state)
{
	struct fixture *f = *state;
	struct log_cold *r;
	struct log_record rec;
	const struct log_cold_stats *st;
	uint64_t before;

	make_history(&f->m, 50, 4000, 400);
	assert_int_equal(write_cold(f, "b.cold", NULL, NULL, NULL, NULL), 0);
	assert_int_equal(log_cold_open(&r, f->dirfd, "b.cold"), 0);
	assert_true(log_cold_get_info(r)->blocks > 10);
	st = log_cold_get_stats(r);
	assert_int_equal(st->block_reads, 0); /* open reads no block */
	for (size_t i = f->m.n; i-- > 0;) {
		const struct mrec *m = &f->m.r[i];

		if (m->kind != LOG_REC_MESSAGE)
			continue;
		before = st->block_reads;
		assert_int_equal(log_cold_read_seq(r, cf_str_c(m->conv), m->seq,
						   &rec, &f->scratch),
				 0);
		assert_true(st->block_reads - before <= 1);
		/* The same read again is served by the cached block. */
		before = st->block_reads;
		assert_int_equal(log_cold_read_seq(r, cf_str_c(m->conv), m->seq,
						   &rec, &f->scratch),
				 0);
		assert_int_equal(st->block_reads, before);
		assert_rec_is(&rec, m);
	}
	assert_true(st->block_hits > 0);
	log_cold_close(r);
}

static bool recall_cb(void *arg, struct cf_str conv, uint64_t seq)
{
	const struct mrec *m = arg;

	return cf_str_eqc(conv, m->conv) && seq == m->seq;
}

static void recalled_content_is_absent_from_the_file(void **state)
{
	struct fixture *f = *state;
	struct mrec *kept, *by_rec, *by_cb;
	struct log_cold *r;
	struct log_record rec;
	struct log_record in;
	size_t len;
	char *raw;
	char err[CF_ERRMSG_SIZE] = "";

	kept = model_add(&f->m, LOG_REC_MESSAGE, "c", 1, 10, 48);
	by_rec = model_add(&f->m, LOG_REC_MESSAGE, "c", 2, 11, 48);
	by_cb = model_add(&f->m, LOG_REC_MESSAGE, "c", 3, 12, 48);
	model_add(&f->m, LOG_REC_MESSAGE, "c", 4, 13, 48);
	/* The recall of seq 2 comes later in the log (and in the input). */
	model_add(&f->m, LOG_REC_RECALL, "c", 2, 14, 0);
	by_rec = &f->m.r[1];
	by_cb = &f->m.r[2];
	kept = &f->m.r[0];
	by_cb->flags = 1; /* an attachment flag: dropped with the content */
	assert_int_equal(write_cold(f, "r.cold", NULL, recall_cb, by_cb, NULL),
			 0);
	raw = read_file(f, "r.cold", &len);
	/* The control: content of a kept message is found in the raw bytes. */
	assert_non_null(memmem(raw, len, kept->body, kept->body_len));
	assert_null(memmem(raw, len, by_rec->body, by_rec->body_len));
	assert_null(memmem(raw, len, by_cb->body, by_cb->body_len));
	/* Not even a piece of it. */
	assert_null(memmem(raw, len, by_rec->body + 8, 16));
	assert_null(memmem(raw, len, by_cb->body + 8, 16));
	free(raw);
	by_rec->recalled = true;
	by_cb->recalled = true;
	assert_int_equal(log_cold_open(&r, f->dirfd, "r.cold"), 0);
	assert_int_equal(log_cold_get_info(r)->recalled, 2);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(log_cold_read_seq(r, CF_STR_LIT("c"), i + 1,
						   &rec, &f->scratch),
				 0);
		assert_rec_is(&rec, &f->m.r[i]);
	}
	assert_int_equal(log_cold_verify(r, err), 0);
	log_cold_close(r);
	/* Compacting a compacted file again keeps it recalled. */
	{
		struct log_cold_writer *w;
		struct log_cold_info info;

		assert_int_equal(log_cold_writer_open(&w, f->dirfd, "r2.cold",
						      3, 8),
				 0);
		in = to_rec(by_cb);
		in.flags = LOG_REC_MSG_RECALLED;
		in.body.len = 0;
		assert_int_equal(log_cold_writer_add(w, &in), 0);
		assert_int_equal(log_cold_writer_finish(w, &info), 0);
		assert_int_equal(info.recalled, 1);
	}
}

/* Records of conv "c" by kind: the flags and body length of each. */
struct version_seen {
	uint8_t kind[16];
	uint8_t flags[16];
	size_t body_len[16];
	uint64_t mid[16];
	unsigned n;
};

static int version_cb(void *arg, const struct log_record *rec)
{
	struct version_seen *v = arg;

	assert_true(v->n < 16);
	v->kind[v->n] = rec->kind;
	v->flags[v->n] = rec->flags;
	v->body_len[v->n] = rec->body.len;
	v->mid[v->n++] = rec->message_id;
	return 0;
}

static int rewrite_cb(void *arg, const struct log_record *rec)
{
	return log_cold_writer_add(arg, rec);
}

/*
 * Issue 13: an edited message keeps only its latest version: the message
 * and its earlier edits lose their content (LOG_REC_MSG_EDITED), the
 * latest edit keeps it; the edits of a recalled message lose theirs too.
 */
static void earlier_versions_of_an_edited_message_are_erased(void **state)
{
	struct fixture *f = *state;
	struct mrec *orig, *e1, *e2, *other, *gone, *ge;
	struct log_cold_info info;
	struct version_seen v = {0};
	struct log_cold *r;
	struct log_record rec;
	char err[CF_ERRMSG_SIZE] = "";
	size_t len;
	char *raw;

	model_add(&f->m, LOG_REC_MESSAGE, "c", 1, 10, 48);
	model_add(&f->m, LOG_REC_MESSAGE, "c", 2, 11, 48);
	model_add(&f->m, LOG_REC_MESSAGE, "c", 3, 12, 48);
	/* Two edits of seq 1 (the later first in the input), one of seq 3,
	 * which is then recalled. */
	model_add(&f->m, LOG_REC_EDIT, "c", 1, 14, 48);
	model_add(&f->m, LOG_REC_EDIT, "c", 1, 13, 48);
	model_add(&f->m, LOG_REC_EDIT, "c", 3, 15, 48);
	model_add(&f->m, LOG_REC_RECALL, "c", 3, 16, 0);
	orig = &f->m.r[0];
	other = &f->m.r[1];
	gone = &f->m.r[2];
	e2 = &f->m.r[3];
	e1 = &f->m.r[4];
	ge = &f->m.r[5];
	orig->flags = 1; /* an attachment: the edits carry it on */
	assert_int_equal(write_cold(f, "e.cold", NULL, NULL, NULL, &info), 0);
	/* seq 1 and its first edit, the edit of recalled seq 3. */
	assert_int_equal(info.versions_erased, 3);
	assert_int_equal(info.recalled, 1);
	raw = read_file(f, "e.cold", &len);
	assert_non_null(memmem(raw, len, other->body, other->body_len));
	assert_non_null(memmem(raw, len, e2->body, e2->body_len));
	assert_null(memmem(raw, len, orig->body + 8, 16));
	assert_null(memmem(raw, len, e1->body + 8, 16));
	assert_null(memmem(raw, len, gone->body + 8, 16));
	assert_null(memmem(raw, len, ge->body + 8, 16));
	free(raw);
	assert_int_equal(log_cold_open(&r, f->dirfd, "e.cold"), 0);
	assert_int_equal(log_cold_verify(r, err), 0);
	assert_int_equal(log_cold_read_seq(r, CF_STR_LIT("c"), 1, &rec,
					   &f->scratch),
			 0);
	assert_int_equal(rec.flags, LOG_REC_MSG_EDITED);
	assert_int_equal(rec.body.len, 0);
	assert_int_equal(log_cold_scan_conv(r, CF_STR_LIT("c"), UINT64_MAX,
					    true, version_cb, &v),
			 0);
	log_cold_close(r);
	/* Other records in Raft order: e1, e2, ge, the recall. */
	assert_int_equal(v.n, 4);
	assert_int_equal(v.mid[0], e1->mid);
	assert_int_equal(v.flags[0], LOG_REC_MSG_EDITED);
	assert_int_equal(v.body_len[0], 0);
	assert_int_equal(v.mid[1], e2->mid);
	assert_int_equal(v.flags[1], e2->flags);
	assert_int_equal(v.body_len[1], e2->body_len);
	assert_int_equal(v.mid[2], ge->mid);
	assert_int_equal(v.flags[2], LOG_REC_MSG_RECALLED);
	assert_int_equal(v.body_len[2], 0);
	/* A rewrite of the file erases nothing more and counts nothing. */
	{
		struct log_cold_writer *w;

		assert_int_equal(log_cold_writer_open(&w, f->dirfd, "e2.cold",
						      3, 8),
				 0);
		assert_int_equal(log_cold_open(&r, f->dirfd, "e.cold"), 0);
		assert_int_equal(log_cold_scan(r, rewrite_cb, w), 0);
		log_cold_close(r);
		assert_int_equal(log_cold_writer_finish(w, &info), 0);
		assert_int_equal(info.versions_erased, 0);
		assert_int_equal(info.recalled, 1);
	}
}

static void empty_file_has_no_conversation(void **state)
{
	struct fixture *f = *state;
	struct log_cold *r;
	struct log_record rec;
	struct log_cold_info info;
	struct seen s;
	char err[CF_ERRMSG_SIZE] = "";

	assert_int_equal(write_cold(f, "e.cold", NULL, NULL, NULL, &info), 0);
	assert_int_equal(info.records, 0);
	assert_int_equal(info.blocks, 0);
	assert_int_equal(log_cold_open(&r, f->dirfd, "e.cold"), 0);
	assert_int_equal(log_cold_get_info(r)->conversations, 0);
	assert_int_equal(log_cold_get_info(r)->file_size, info.file_size);
	assert_int_equal(log_cold_read_seq(r, CF_STR_LIT("c"), 1, &rec,
					   &f->scratch),
			 CF_ENOTFOUND);
	memset(&s, 0, sizeof(s));
	s.m = &f->m;
	assert_int_equal(log_cold_scan(r, scan_order_cb, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(log_cold_verify(r, err), 0);
	log_cold_close(r);
}

/* Re-encode every record of a scan into one stream. */
static int stream_cb(void *arg, const struct log_record *rec)
{
	return log_record_encode(rec, arg);
}

static void identity_is_the_hash_of_the_decoded_records(void **state)
{
	struct fixture *f = *state;
	struct log_cold *r;
	struct log_cold_info info;
	struct cf_buf all;
	char err[CF_ERRMSG_SIZE] = "";

	make_history(&f->m, 20, 1500, 250);
	assert_int_equal(write_cold(f, "i.cold", NULL, NULL, NULL, &info), 0);
	assert_int_equal(log_cold_open(&r, f->dirfd, "i.cold"), 0);
	assert_true(log_cold_get_info(r)->content_xxh3 == info.content_xxh3);
	cf_buf_init(&all);
	assert_int_equal(log_cold_scan(r, stream_cb, &all), 0);
	assert_true(XXH3_64bits(all.data, all.len) == info.content_xxh3);
	assert_int_equal(log_cold_verify(r, err), 0);
	cf_buf_release(&all);
	log_cold_close(r);
	/* The empty file's identity is the hash of nothing. */
	for (size_t i = 0; i < f->m.n; i++)
		free(f->m.r[i].body);
	f->m.n = 0;
	assert_int_equal(write_cold(f, "z.cold", NULL, NULL, NULL, &info), 0);
	assert_true(info.content_xxh3 == XXH3_64bits(NULL, 0));
}

static void record_larger_than_a_block_gets_its_own_block(void **state)
{
	struct fixture *f = *state;
	struct log_cold *r;
	struct log_record rec;
	char err[CF_ERRMSG_SIZE] = "";

	model_add(&f->m, LOG_REC_MESSAGE, "big", 1, 10, 1000);
	model_add(&f->m, LOG_REC_MESSAGE, "big", 2, 11, 3 * LOG_COLD_BLOCK);
	model_add(&f->m, LOG_REC_MESSAGE, "big", 3, 12, 1000);
	assert_int_equal(write_cold(f, "g.cold", NULL, NULL, NULL, NULL), 0);
	assert_int_equal(log_cold_open(&r, f->dirfd, "g.cold"), 0);
	assert_int_equal(log_cold_get_info(r)->blocks, 3);
	for (uint64_t s = 1; s <= 3; s++) {
		assert_int_equal(log_cold_read_seq(r, CF_STR_LIT("big"), s,
						   &rec, &f->scratch),
				 0);
		assert_rec_is(&rec, &f->m.r[s - 1]);
	}
	assert_int_equal(log_cold_get_stats(r)->block_reads, 3);
	assert_int_equal(log_cold_verify(r, err), 0);
	log_cold_close(r);
}

static void same_records_in_any_order_give_identical_bytes(void **state)
{
	struct fixture *f = *state;
	const struct mrec *victim = NULL;
	size_t *perm;
	size_t la, lb;
	char *a, *b;

	make_history(&f->m, 25, 1500, 200);

	for (size_t i = 40; victim == NULL; i++)
		if (f->m.r[i].kind == LOG_REC_MESSAGE && !f->m.r[i].recalled)
			victim = &f->m.r[i];
	perm = shuffled(f->m.n);
	assert_int_equal(write_cold(f, "x.cold", NULL, recall_cb,
				    (void *)victim, NULL),
			 0);
	assert_int_equal(write_cold(f, "y.cold", perm, recall_cb,
				    (void *)victim, NULL),
			 0);
	free(perm);
	a = read_file(f, "x.cold", &la);
	b = read_file(f, "y.cold", &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
}

static void duplicate_seq_is_refused_and_leaves_no_file(void **state)
{
	struct fixture *f = *state;

	model_add(&f->m, LOG_REC_MESSAGE, "c", 1, 10, 10);
	model_add(&f->m, LOG_REC_MESSAGE, "c", 2, 11, 10);
	model_add(&f->m, LOG_REC_MESSAGE, "c", 2, 12, 10);
	assert_int_equal(write_cold(f, "d.cold", NULL, NULL, NULL, NULL),
			 CF_EBADREQ);
	assert_false(file_exists(f, "d.cold"));
	assert_false(file_exists(f, "d.cold.tmp"));
}

static void abort_leaves_no_file_and_a_stale_tmp_is_replaced(void **state)
{
	struct fixture *f = *state;
	struct log_cold_writer *w;
	struct log_cold *r;
	struct log_record rec;
	struct mrec *m = model_add(&f->m, LOG_REC_MESSAGE, "c", 1, 10, 10);

	rec = to_rec(m);
	assert_int_equal(log_cold_writer_open(&w, f->dirfd, "k.cold", 0, 1),
			 0);
	assert_int_equal(log_cold_writer_add(w, &rec), 0);
	assert_true(file_exists(f, "k.cold.tmp"));
	log_cold_writer_abort(w);
	assert_false(file_exists(f, "k.cold"));
	assert_false(file_exists(f, "k.cold.tmp"));
	/* A crash left a half file under the temporary name. */
	write_file(f, "k.cold.tmp", "CFCOLDSG junk", 13);
	assert_int_equal(write_cold(f, "k.cold", NULL, NULL, NULL, NULL), 0);
	assert_false(file_exists(f, "k.cold.tmp"));
	assert_int_equal(log_cold_open(&r, f->dirfd, "k.cold"), 0);
	log_cold_close(r);
	/* Invalid records are refused at add. */
	assert_int_equal(log_cold_writer_open(&w, f->dirfd, "k2.cold", 0, 1),
			 0);
	rec.conv.len = 0;
	assert_int_equal(log_cold_writer_add(w, &rec), CF_EBADREQ);
	log_cold_writer_abort(w);
}

/* A small file of several blocks (compressible bodies). */
static char *small_file(struct fixture *f, size_t *len)
{
	for (unsigned i = 0; i < 90; i++) {
		struct mrec *m = model_add(&f->m, LOG_REC_MESSAGE,
					   i % 2 ? "c1" : "c2", i / 2 + 1,
					   10 + i, 0);

		free(m->body);
		m->body_len = 1700;
		m->body = malloc(m->body_len);
		assert_non_null(m->body);
		memset(m->body, 'a' + i % 3, m->body_len);
	}
	model_add(&f->m, LOG_REC_CONV, "c1", 0, 5, 20);
	model_add(&f->m, LOG_REC_CONV, "c2", 0, 6, 20);
	assert_int_equal(write_cold(f, "s.cold", NULL, NULL, NULL, NULL), 0);
	return read_file(f, "s.cold", len);
}

static void truncation_at_every_length_is_refused(void **state)
{
	struct fixture *f = *state;
	struct log_cold *r;
	size_t len;
	char *raw = small_file(f, &len);
	int fd;

	assert_int_equal(log_cold_open(&r, f->dirfd, "s.cold"), 0);
	assert_true(log_cold_get_info(r)->blocks >= 3);
	log_cold_close(r);
	write_file(f, "t.cold", raw, len);
	fd = openat(f->dirfd, "t.cold", O_WRONLY);
	assert_true(fd >= 0);
	for (size_t n = len; n-- > 0;) {
		assert_int_equal(ftruncate(fd, (off_t)n), 0);
		assert_int_equal(log_cold_open(&r, f->dirfd, "t.cold"),
				 CF_ECORRUPT);
	}
	close(fd);
	free(raw);
}

struct cscan {
	const struct model *m;
	size_t n;
};

static int corrupt_scan_cb(void *arg, const struct log_record *rec)
{
	struct cscan *s = arg;

	/* Whatever a scan hands out is a record of the model, intact. */
	if (rec->kind == LOG_REC_MESSAGE) {
		char id[40];
		const struct mrec *m;

		assert_true(rec->conv.len < sizeof(id));
		memcpy(id, rec->conv.p, rec->conv.len);
		id[rec->conv.len] = 0;
		m = model_find(s->m, id, rec->seq);
		assert_non_null(m);
		assert_rec_is(rec, m);
	}
	s->n++;
	return 0;
}

static void corrupt_byte_anywhere_is_detected(void **state)
{
	struct fixture *f = *state;
	struct log_cold *r;
	struct log_record rec;
	size_t len;
	char *raw = small_file(f, &len);
	char err[CF_ERRMSG_SIZE];
	unsigned opened = 0;
	int fd;

	/* One file, damaged at one byte at a time (the previous restored). */
	write_file(f, "t.cold", raw, len);
	fd = openat(f->dirfd, "t.cold", O_WRONLY);
	assert_true(fd >= 0);
	for (size_t at = 0; at < len; at++) {
		int rv;

		char bad = (char)(raw[at] ^ (1u << (at % 8)));

		if (at > 0)
			assert_int_equal(pwrite(fd, raw + at - 1, 1,
						(off_t)at - 1),
					 1);
		assert_int_equal(pwrite(fd, &bad, 1, (off_t)at), 1);
		rv = log_cold_open(&r, f->dirfd, "t.cold");
		if (rv != 0) {
			assert_int_equal(rv, CF_ECORRUPT);
			continue;
		}
		opened++;
		/* Reads give the right record or CF_ECORRUPT, never another. */
		for (size_t i = 0; i < f->m.n; i++) {
			const struct mrec *m = &f->m.r[i];

			if (m->kind != LOG_REC_MESSAGE)
				continue;
			rv = log_cold_read_seq(r, cf_str_c(m->conv), m->seq,
					       &rec, &f->scratch);
			if (rv == 0)
				assert_rec_is(&rec, m);
			else
				assert_int_equal(rv, CF_ECORRUPT);
		}
		{
			struct cscan s = {&f->m, 0};

			rv = log_cold_scan(r, corrupt_scan_cb, &s);
			assert_true(rv == 0 || rv == CF_ECORRUPT);
		}
		err[0] = 0;
		assert_int_equal(log_cold_verify(r, err), CF_ECORRUPT);
		assert_true(err[0] != 0);
		log_cold_close(r);
	}
	close(fd);
	/* Damage to blocks (most of the file) is found by reads, not open. */
	assert_true(opened > len / 2);
	free(raw);
}

/*
 * Damage buf[at] and then repair every checksum that does not cover the
 * damaged byte itself (header, its block, index, whole file), so that the
 * checks behind the checksums (index consistency, LZ4 decoding, record
 * placement) meet the damage. The layout is taken from the intact file.
 */
static void damage_and_fix_sums(char *buf, const char *orig, size_t len,
				size_t at)
{
	const char *t = orig + len - 40;
	uint64_t ioff = cf_get_u64(t), ilen = cf_get_u64(t + 8);
	uint32_t nb = cf_get_u32(orig + ioff);
	char *tr = buf + len - 40;

	buf[at] ^= (char)(1u << (at % 8));
	if (at < 56)
		cf_put_u64(buf + 56, XXH3_64bits(buf, 56));
	for (uint32_t b = 0; b < nb; b++) {
		const char *e = orig + ioff + 32 + 24 * (size_t)b;
		uint64_t off = cf_get_u64(e);
		uint32_t clen = cf_get_u32(e + 8);

		if (at >= off && at < off + 24 + clen &&
		    !(at >= off + 16 && at < off + 24))
			cf_put_u64(buf + off + 16,
				   XXH3_64bits(buf + off + 24, clen));
	}
	if (at < len - 24 || at >= len - 16)
		cf_put_u64(tr + 16, XXH3_64bits(buf + ioff, ilen));
	if (at < len - 16 || at >= len - 8)
		cf_put_u64(tr + 24, XXH3_64bits(buf, len - 40));
}

static void damage_behind_valid_checksums_never_gives_a_wrong_record(
	void **state)
{
	struct fixture *f = *state;
	struct log_cold *r;
	struct log_record rec;
	size_t len;
	char *raw;
	char *bad;
	char err[CF_ERRMSG_SIZE];
	unsigned refused_at_open = 0, refused_by_verify = 0;

	make_history(&f->m, 4, 60, 30);
	/* Two big compressible messages: more than one block. */
	for (unsigned i = 0; i < 2; i++) {
		struct mrec *m = model_add(&f->m, LOG_REC_MESSAGE, "zz", i + 1,
					   5000 + i, 0);

		free(m->body);
		m->body_len = 40000;
		m->body = malloc(m->body_len);
		assert_non_null(m->body);
		memset(m->body, 'q', m->body_len);
	}
	assert_int_equal(write_cold(f, "s.cold", NULL, NULL, NULL, NULL), 0);
	raw = read_file(f, "s.cold", &len);
	bad = malloc(len);
	assert_non_null(bad);
	for (size_t at = 0; at < len; at++) {
		int rv;

		memcpy(bad, raw, len);
		damage_and_fix_sums(bad, raw, len, at);
		write_file(f, "t.cold", bad, len);
		rv = log_cold_open(&r, f->dirfd, "t.cold");
		if (rv != 0) {
			assert_true(rv == CF_ECORRUPT || rv == CF_EVERSION);
			refused_at_open++;
			continue;
		}
		err[0] = 0;
		rv = log_cold_verify(r, err);
		assert_true(rv == 0 || rv == CF_ECORRUPT);
		refused_by_verify += rv != 0;
		/*
		 * Reads give the right record, or an error; if verify passed
		 * (the damage changed nothing that matters, e.g. the
		 * partition label or an equivalent LZ4 encoding), every
		 * record is there.
		 */
		for (size_t i = 0; i < f->m.n; i++) {
			const struct mrec *m = &f->m.r[i];
			int rr;

			if (m->kind != LOG_REC_MESSAGE)
				continue;
			rr = log_cold_read_seq(r, cf_str_c(m->conv), m->seq,
					       &rec, &f->scratch);
			if (rr == 0)
				assert_rec_is(&rec, m);
			else if (rv == 0)
				fail_msg("byte %zu: verify passed but seq "
					 "%llu of %s is %d",
					 at, (unsigned long long)m->seq,
					 m->conv, rr);
			else
				assert_true(rr == CF_ECORRUPT ||
					    rr == CF_ENOTFOUND);
		}
		{
			struct cscan s = {&f->m, 0};

			rv = log_cold_scan(r, corrupt_scan_cb, &s);
			assert_true(rv == 0 || rv == CF_ECORRUPT);
		}
		log_cold_close(r);
	}
	/* The checks behind the checksums did run (and refuse). */
	assert_true(refused_at_open > 0);
	assert_true(refused_by_verify > 0);
	free(bad);
	free(raw);
}

static void other_version_is_refused(void **state)
{
	struct fixture *f = *state;
	struct log_cold *r;
	size_t len;
	char *raw;

	assert_int_equal(write_cold(f, "v.cold", NULL, NULL, NULL, NULL), 0);
	raw = read_file(f, "v.cold", &len);
	raw[8] = 2;
	cf_put_u64(raw + 56, XXH3_64bits(raw, 56));
	write_file(f, "v.cold", raw, len);
	assert_int_equal(log_cold_open(&r, f->dirfd, "v.cold"), CF_EVERSION);
	free(raw);
}

/* Write the model's records, in model order, into hot segment segno. */
static uint64_t write_hot(struct fixture *f, int pdir, unsigned part,
			  uint32_t segno, size_t from, size_t to)
{
	struct log_segment seg;
	struct cf_buf bytes = CF_BUF_INIT;
	uint64_t end;

	for (size_t i = from; i < to; i++) {
		struct log_record r = to_rec(&f->m.r[i]);

		assert_int_equal(log_record_encode(&r, &bytes), 0);
	}
	log_segment_init(&seg, part, segno);
	assert_int_equal(log_segment_create(&seg, pdir), 0);
	assert_int_equal(log_segment_write(&seg, bytes.data, bytes.len), 0);
	assert_int_equal(log_segment_sync(&seg), 0);
	log_segment_close(&seg);
	end = LOG_SEG_HDR + bytes.len;
	cf_buf_release(&bytes);
	return end;
}

static void sealed_hot_segments_compact_to_the_same_bytes(void **state)
{
	struct fixture *f = *state;
	struct log_cold_writer *w;
	struct log_cold_info info;
	uint64_t len1, len2;
	size_t la, lb;
	char *a, *b;
	int pdir;

	make_history(&f->m, 12, 800, 200);
	assert_int_equal(mkdirat(f->dirfd, "p0003", 0755), 0);
	pdir = openat(f->dirfd, "p0003", O_RDONLY | O_DIRECTORY);
	assert_true(pdir >= 0);
	len1 = write_hot(f, pdir, 3, 1, 0, f->m.n / 2);
	len2 = write_hot(f, pdir, 3, 2, f->m.n / 2, f->m.n);
	/* Two sealed segments, the later one first. */
	assert_int_equal(log_cold_writer_open(&w, f->dirfd, "h.cold", 3, 7),
			 0);
	assert_int_equal(log_cold_writer_add_segment(w, pdir, 2, len2), 0);
	assert_int_equal(log_cold_writer_add_segment(w, pdir, 1, UINT64_MAX),
			 0);
	assert_int_equal(log_cold_writer_finish(w, &info), 0);
	assert_int_equal(info.records, f->m.n);
	assert_int_equal(write_cold(f, "d.cold", NULL, NULL, NULL, NULL), 0);
	a = read_file(f, "h.cold", &la);
	b = read_file(f, "d.cold", &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
	/* Another partition's segment, or one shorter than its manifest. */
	assert_int_equal(log_cold_writer_open(&w, f->dirfd, "z.cold", 4, 7),
			 0);
	assert_int_equal(log_cold_writer_add_segment(w, pdir, 1, len1),
			 CF_ECORRUPT);
	log_cold_writer_abort(w);
	assert_int_equal(log_cold_writer_open(&w, f->dirfd, "z.cold", 3, 7),
			 0);
	assert_int_equal(log_cold_writer_add_segment(w, pdir, 1, len1 + 1),
			 CF_ECORRUPT);
	assert_int_equal(log_cold_writer_add_segment(w, pdir, 9, len1),
			 -ENOENT);
	log_cold_writer_abort(w);
	assert_false(file_exists(f, "z.cold"));
	close(pdir);
}

static void names_round_trip(void **state)
{
	char name[LOG_COLD_NAME];
	uint32_t n = 0;

	(void)state;
	log_cold_name(name, 42);
	assert_string_equal(name, "00000042.cold");
	assert_int_equal(log_cold_parse_name(name, &n), 0);
	assert_int_equal(n, 42);
	assert_int_equal(log_cold_parse_name("00000042.seg", &n), CF_EBADREQ);
	assert_int_equal(log_cold_parse_name("0000042.cold", &n), CF_EBADREQ);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(names_round_trip),
		T(round_trip_keeps_every_record_in_conversation_order),
		T(scan_conv_reads_one_conversation_from_a_seq),
		T(read_by_seq_decompresses_at_most_one_block),
		T(recalled_content_is_absent_from_the_file),
		T(earlier_versions_of_an_edited_message_are_erased),
		T(empty_file_has_no_conversation),
		T(identity_is_the_hash_of_the_decoded_records),
		T(record_larger_than_a_block_gets_its_own_block),
		T(same_records_in_any_order_give_identical_bytes),
		T(duplicate_seq_is_refused_and_leaves_no_file),
		T(abort_leaves_no_file_and_a_stale_tmp_is_replaced),
		T(truncation_at_every_length_is_refused),
		T(corrupt_byte_anywhere_is_detected),
		T(damage_behind_valid_checksums_never_gives_a_wrong_record),
		T(other_version_is_refused),
		T(sealed_hot_segments_compact_to_the_same_bytes),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
