#include "config.h"

/* ctl_dump: see ctl_dump.h. */

#include "ctl/ctl_dump.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_buf.h"
#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_lock.h"
#include "ctl/ctl_http.h"
#include "frontend/fe_auth.h"
#include "log/log_cold.h"
#include "log/log_inspect.h"
#include "log/log_manifest.h"
#include "log/log_store.h"
#include "sync/sync_read.h"

#define EXIT_USAGE 2
#define CALL_TIMEOUT_MS 10000
#define PAGE 200

struct dump {
	const char *conv;
	uint64_t from, to; /* to 0: up to the last seq */
	/* offline: the conversation's recalled seqs, from recall records */
	uint64_t *recalled;
	size_t nrecalled, cap;
	/* offline: each edited seq's latest edit (highest messageId) */
	struct dump_edit {
		uint64_t seq, message_id, ts;
		json_t *version; /* sync_message_json of the edit record */
	} *edits;
	size_t nedits, edits_cap;
	bool oom;
};

static void emit(json_t *m)
{
	json_dumpf(m, stdout, JSON_COMPACT);
	fputc('\n', stdout);
}

/* ---- live, through GET /v1/admin/conversations/{id}/messages ---- */

static int dump_live(struct dump *d, const char *cluster, const char *url)
{
	char errmsg[CF_ERRMSG_SIZE] = "", path[512];
	struct cf_buf body = CF_BUF_INIT;
	struct cf_cluster cl;
	json_t *j, *msgs, *m;
	uint64_t seq = d->from, last;
	char *tok = NULL;
	int rv, status, code = 0;
	size_t i;

	if (cf_cluster_load(&cl, cluster, errmsg) != 0) {
		fprintf(stderr, "confabctl dump: %s\n", errmsg);
		return 1;
	}
	if (fe_auth_admin_mint(&cl, "confabctl", 120, &tok) != 0) {
		fprintf(stderr, "confabctl dump: the cluster file has no "
				"admin-secret\n");
		return 1;
	}
	for (;;) {
		snprintf(path, sizeof path,
			 "/v1/admin/conversations/%s/messages?fromSeq=%" PRIu64
			 "&limit=%d",
			 d->conv, seq, PAGE);
		body.len = 0;
		rv = ctl_http_call(url, "GET", path, tok, NULL, CALL_TIMEOUT_MS,
				   &status, &body, errmsg);
		if (rv != 0) {
			fprintf(stderr, "confabctl dump: %s\n", errmsg);
			code = 1;
			break;
		}
		j = json_loadb(body.data, body.len, 0, NULL);
		if (status != 200 || !json_is_object(j)) {
			m = json_object_get(json_object_get(j, "error"),
					    "message");
			fprintf(stderr, "confabctl dump: %s: HTTP %d: %s\n",
				url, status,
				json_is_string(m) ? json_string_value(m)
						  : "bad answer");
			json_decref(j);
			code = 1;
			break;
		}
		msgs = json_object_get(j, "messages");
		last = (uint64_t)json_integer_value(json_object_get(j,
								    "lastSeq"));
		json_array_foreach(msgs, i, m) {
			seq = (uint64_t)json_integer_value(
				json_object_get(m, "seq"));
			if (d->to != 0 && seq > d->to)
				break;
			emit(m);
		}
		seq = seq + 1;
		i = json_array_size(msgs);
		json_decref(j);
		if (i == 0 || seq > last || (d->to != 0 && seq > d->to))
			break;
	}
	cf_buf_release(&body);
	free(tok);
	return code;
}

/* ---- offline, from a stopped node's data folder ---- */

/* One message of the range, as found. */
struct found {
	uint64_t seq;
	json_t *msg; /* message object, or the placeholder if erased */
};

struct offline {
	struct dump *d;
	struct cf_str conv;
	unsigned partition;
	struct found *v;
	size_t n, cap;
	bool any; /* a message of conv was seen (in the range or not) */
	char errmsg[CF_ERRMSG_SIZE];
};

static int note_recall(struct dump *d, uint64_t seq)
{
	uint64_t *p;

	if (d->nrecalled == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 16;
		p = realloc(d->recalled, d->cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		d->recalled = p;
	}
	d->recalled[d->nrecalled++] = seq;
	return 0;
}

/*
 * An edit record: keep it if it is the latest of its seq so far (the
 * tiers are walked in segment order, but keep the highest messageId).
 */
static int note_edit(struct dump *d, const struct log_record *rec)
{
	struct dump_edit *e = NULL;
	json_t *v;

	for (size_t i = 0; i < d->nedits; i++)
		if (d->edits[i].seq == rec->seq)
			e = &d->edits[i];
	if (e != NULL && e->message_id > rec->message_id)
		return 0;
	v = sync_message_json(rec);
	if (v == NULL)
		return -ENOMEM;
	if (e == NULL) {
		if (d->nedits == d->edits_cap) {
			size_t cap = d->edits_cap ? 2 * d->edits_cap : 16;
			struct dump_edit *p =
				realloc(d->edits, cap * sizeof *p);

			if (p == NULL) {
				json_decref(v);
				return -ENOMEM;
			}
			d->edits = p;
			d->edits_cap = cap;
		}
		e = &d->edits[d->nedits++];
		e->version = NULL;
	}
	json_decref(e->version);
	e->seq = rec->seq;
	e->message_id = rec->message_id;
	e->ts = rec->ts;
	e->version = v;
	return 0;
}

/* j (message seq) shows its latest version, as history does. */
static int apply_edit(const struct dump *d, uint64_t seq, json_t *j)
{
	static const char *keys[] = {"content", "attachment", "mentions",
				     "replyTo"};

	for (size_t i = 0; i < d->nedits; i++) {
		const struct dump_edit *e = &d->edits[i];

		if (e->seq != seq)
			continue;
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
			json_t *v = json_object_get(e->version, keys[k]);

			if (v == NULL)
				json_object_del(j, keys[k]);
			else if (json_object_set(j, keys[k], v) != 0)
				return -ENOMEM;
		}
		return json_object_set_new(j, "editedAt",
					   json_integer((json_int_t)e->ts));
	}
	return 0;
}

/* A record of the conversation, from a hot segment or a cold file. */
static int take(struct offline *x, const struct log_record *rec)
{
	struct found *p;
	json_t *j;

	if (!cf_str_eq(rec->conv, x->conv))
		return 0;
	if (rec->kind == LOG_REC_RECALL)
		return note_recall(x->d, rec->seq);
	if (rec->kind == LOG_REC_EDIT)
		return note_edit(x->d, rec);
	if (rec->kind != LOG_REC_MESSAGE)
		return 0;
	x->any = true;
	if (rec->seq < x->d->from || (x->d->to != 0 && rec->seq > x->d->to))
		return 0;
	j = (rec->flags & LOG_REC_MSG_RECALLED) != 0 ? sync_recalled_json(rec)
						      : sync_message_json(rec);
	if (j == NULL)
		return -ENOMEM;
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 64;
		p = realloc(x->v, x->cap * sizeof *p);
		if (p == NULL) {
			json_decref(j);
			return -ENOMEM;
		}
		x->v = p;
	}
	x->v[x->n].seq = rec->seq;
	x->v[x->n++].msg = j;
	return 0;
}

/* Hot records within the checkpoint: what a start keeps. */
static int walk_record(void *arg, const struct log_walk_seg *seg,
		       uint64_t off, const struct log_record *rec)
{
	struct offline *x = arg;

	if (seg->cold || !seg->in_manifest || off >= seg->checkpointed ||
	    seg->partition != x->partition)
		return 0;
	return take(x, rec);
}

static int cold_record(void *arg, const struct log_record *rec)
{
	return take(arg, rec);
}

/* A cold file of the manifest: only the conversation's blocks are read. */
static int walk_cold(void *arg, int pdirfd, const struct log_manifest_cold *mc)
{
	struct offline *x = arg;
	struct log_cold *r;
	char name[LOG_COLD_NAME];
	int rv;

	if (mc->partition != x->partition)
		return 0;
	log_cold_name(name, mc->coldno);
	rv = pdirfd < 0 ? -ENOENT : log_cold_open(&r, pdirfd, name);
	if (rv != 0) {
		snprintf(x->errmsg, sizeof x->errmsg, "p%04u/%s: %s",
			 mc->partition, name, cf_strerror(rv));
		return rv;
	}
	rv = log_cold_scan_conv(r, x->conv, 1, true, cold_record, x);
	log_cold_close(r);
	if (rv == CF_ENOTFOUND)
		rv = 0;
	if (rv != 0 && x->errmsg[0] == '\0')
		snprintf(x->errmsg, sizeof x->errmsg, "p%04u/%s: %s",
			 mc->partition, name, cf_strerror(rv));
	return rv;
}

/* The partition count, once the walk has loaded the manifest. */
static int walk_manifest(void *arg, const struct log_manifest *m)
{
	struct offline *x = arg;

	if (m->partitions == 0)
		return CF_ECORRUPT;
	x->partition = log_partition_of(x->conv, m->partitions);
	return 0;
}

static bool walk_want(void *arg, unsigned partition)
{
	return partition == ((struct offline *)arg)->partition;
}

static int found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int seq_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* d->recalled sorted (seq_cmp) first. */
static bool was_recalled(const struct dump *d, uint64_t seq)
{
	return d->nrecalled > 0 &&
	       bsearch(&seq, d->recalled, d->nrecalled, sizeof seq,
		       seq_cmp) != NULL;
}

/*
 * Read-only: the files are opened as confabctl inspect opens them, nothing
 * is cut or removed; what is read is what a start would keep (the
 * manifest's cold files, and its hot segments up to their checkpointed
 * length) of the conversation's partition only.
 */
static int dump_offline(struct dump *d, const char *data)
{
	static const struct log_walk_ops ops = {
		.manifest = walk_manifest,
		.record = walk_record,
		.cold = walk_cold,
		.want = walk_want,
	};
	char errmsg[CF_ERRMSG_SIZE] = "", store_dir[4096];
	struct offline x;
	struct log_manifest m;
	int lock_fd = -1, rv, code = 1;

	/* The seqs are collected, then sorted: the tiers hold a
	 * conversation's messages in pieces. */

	memset(&x, 0, sizeof x);
	x.d = d;
	x.conv = cf_str_c(d->conv);
	rv = cf_lock_dir(data, &lock_fd, errmsg);
	if (rv != 0) {
		fprintf(stderr, "confabctl dump: %s%s\n", errmsg,
			rv == -EBUSY ? ": stop the node first, or dump through "
				       "it (--cluster, --node)"
				     : "");
		return 1;
	}
	snprintf(store_dir, sizeof store_dir, "%s/store", data);
	log_manifest_init(&m);
	rv = log_walk(store_dir, &m, &ops, &x, errmsg);
	if (rv != 0) {
		fprintf(stderr, "confabctl dump: %s: %s\n", store_dir,
			x.errmsg[0] ? x.errmsg
				    : errmsg[0] ? errmsg : cf_strerror(rv));
		goto out;
	}
	if (!x.any) {
		fprintf(stderr, "confabctl dump: no conversation %s in %s\n",
			d->conv, store_dir);
		goto out;
	}
	qsort(x.v, x.n, sizeof *x.v, found_cmp);
	if (d->nrecalled > 0)
		qsort(d->recalled, d->nrecalled, sizeof *d->recalled, seq_cmp);
	for (size_t i = 0; i < x.n; i++) {
		json_t *j = x.v[i].msg;

		if (i > 0 && x.v[i - 1].seq == x.v[i].seq)
			continue; /* cannot happen in a sound store */
		if (was_recalled(d, x.v[i].seq)) {
			/* recalled after its file was written: the same
			 * placeholder as sync_recalled_json() */
			json_object_del(j, "content");
			json_object_del(j, "attachment");
			json_object_del(j, "replyTo");
			json_object_del(j, "mentions");
			if (json_object_set_new(j, "recalled", json_true()) !=
			    0)
				goto out;
		} else if (apply_edit(d, x.v[i].seq, j) != 0) {
			goto out;
		}
		emit(j);
	}
	code = 0;
out:
	for (size_t i = 0; i < x.n; i++)
		json_decref(x.v[i].msg);
	free(x.v);
	for (size_t i = 0; i < d->nedits; i++)
		json_decref(d->edits[i].version);
	free(d->edits);
	d->edits = NULL;
	d->nedits = 0;
	log_manifest_release(&m);
	cf_unlock_dir(lock_fd);
	return code;
}

static int parse_seq(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return -1;
	*out = v;
	return 0;
}

int ctl_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{"conversation", required_argument, NULL, 'C'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"cluster", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"data", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	struct dump d = {.from = 1};
	const char *cluster = NULL, *node = NULL, *data = NULL;
	int ch, code;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "C:f:t:c:n:d:", opts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'C':
			d.conv = optarg;
			break;
		case 'f':
		case 't':
			if (parse_seq(optarg, ch == 'f' ? &d.from : &d.to) !=
			    0) {
				fprintf(stderr, "confabctl dump: --%s takes a "
						"seq (1 or more)\n",
					ch == 'f' ? "from" : "to");
				return EXIT_USAGE;
			}
			break;
		case 'c':
			cluster = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 'd':
			data = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || d.conv == NULL ||
	    !cf_id_valid(d.conv, strlen(d.conv)) ||
	    (data != NULL) == (cluster != NULL || node != NULL) ||
	    (data == NULL && (cluster == NULL || node == NULL)) ||
	    (d.to != 0 && d.to < d.from))
		goto usage;
	code = data != NULL ? dump_offline(&d, data)
			    : dump_live(&d, cluster, node);
	free(d.recalled);
	fflush(stdout);
	return code;
usage:
	fprintf(stderr, "usage: confabctl dump --conversation ID [--from N] "
			"[--to N] (--cluster FILE --node URL | --data DIR)\n");
	return EXIT_USAGE;
}
