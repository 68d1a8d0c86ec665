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

static int scan_cb(void *arg, const struct log_record *rec)
{
	struct dump *d = arg;
	uint64_t *p;

	if (rec->kind != LOG_REC_RECALL || !cf_str_eqc(rec->conv, d->conv))
		return 0;
	if (d->nrecalled == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 16;
		p = realloc(d->recalled, d->cap * sizeof *p);
		if (p == NULL)
			return -ENOMEM;
		d->recalled = p;
	}
	d->recalled[d->nrecalled++] = rec->seq;
	return 0;
}

static bool was_recalled(const struct dump *d, uint64_t seq)
{
	for (size_t i = 0; i < d->nrecalled; i++)
		if (d->recalled[i] == seq)
			return true;
	return false;
}

static int dump_offline(struct dump *d, const char *data)
{
	char errmsg[CF_ERRMSG_SIZE] = "", store_dir[4096];
	struct log_store_opts o;
	struct log_manifest m;
	struct log_store *s = NULL;
	struct cf_buf scratch = CF_BUF_INIT;
	struct log_record rec;
	struct cf_str conv = cf_str_c(d->conv);
	uint64_t last;
	int lock_fd = -1, dirfd, rv, code = 1;
	json_t *j;

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
	dirfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rv = dirfd < 0 ? -errno : log_manifest_load(dirfd, &m, errmsg);
	if (dirfd >= 0)
		close(dirfd);
	if (rv != 0) {
		fprintf(stderr, "confabctl dump: %s: %s\n", store_dir,
			errmsg[0] ? errmsg : cf_strerror(rv));
		goto out;
	}
	memset(&o, 0, sizeof o);
	o.dir = store_dir;
	o.partitions = m.partitions;
	o.seal_bytes = m.seal_bytes;
	o.seal_age_ms = m.seal_age_ms;
	rv = log_store_open(&s, &o, scan_cb, d, errmsg);
	if (rv != 0) {
		fprintf(stderr, "confabctl dump: %s\n", errmsg);
		goto out;
	}
	last = log_store_last_seq(s, conv);
	if (last == 0) {
		fprintf(stderr, "confabctl dump: no conversation %s in %s\n",
			d->conv, store_dir);
		goto out;
	}
	if (d->to == 0 || d->to > last)
		d->to = last;
	for (uint64_t seq = d->from; seq <= d->to; seq++) {
		rv = log_store_read_seq(s, conv, seq, &rec, &scratch);
		if (rv == CF_ENOTFOUND)
			continue; /* before the conversation's first seq */
		if (rv != 0) {
			fprintf(stderr, "confabctl dump: seq %" PRIu64 ": %s\n",
				seq, cf_strerror(rv));
			goto out;
		}
		j = was_recalled(d, seq) ? sync_recalled_json(&rec)
					 : sync_message_json(&rec);
		if (j == NULL)
			goto out;
		emit(j);
		json_decref(j);
	}
	code = 0;
out:
	cf_buf_release(&scratch);
	log_store_close(s);
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
