#include "config.h"

/* ctl_admin: see ctl_admin.h. */

#include "ctl/ctl_admin.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cf_buf.h"
#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "ctl/ctl_http.h"
#include "frontend/fe_auth.h"

#define EXIT_USAGE 2
#define CALL_TIMEOUT_MS 5000
#define TOKEN_TTL_S 120

struct admin_opts {
	const char *cluster;
	const char *node; /* NULL: every node of the cluster file */
	bool json;
	const char *partition; /* compact only */
	const char *segments;  /* compact only */
	unsigned wait_s;       /* compact only */
	struct cf_cluster cl;
	char *token;
};

/* Parse the options every live verb shares; 0, 1 or EXIT_USAGE. */
static int admin_parse(const char *verb, int argc, char **argv,
		       struct admin_opts *o)
{
	static const struct option opts[] = {
		{"cluster", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"partition", required_argument, NULL, 'p'},
		{"segments", required_argument, NULL, 's'},
		{"wait", required_argument, NULL, 'w'},
		{NULL, 0, NULL, 0},
	};
	bool compact = strcmp(verb, "compact") == 0;
	char errmsg[CF_ERRMSG_SIZE] = "";
	char *end;
	int ch, rv;

	memset(o, 0, sizeof *o);
	o->wait_s = 600;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:n:jp:s:w:", opts, NULL)) !=
	       -1) {
		if (!compact && (ch == 'p' || ch == 's' || ch == 'w'))
			ch = '?';
		switch (ch) {
		case 'p':
			o->partition = optarg;
			break;
		case 's':
			o->segments = optarg;
			break;
		case 'w':
			o->wait_s = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || o->wait_s == 0) {
				fprintf(stderr, "confabctl compact: --wait "
						"takes a number of seconds\n");
				return EXIT_USAGE;
			}
			break;
		case 'c':
			o->cluster = optarg;
			break;
		case 'n':
			o->node = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		default:
			fprintf(stderr, "usage: confabctl %s --cluster FILE "
					"[--node URL] %s[--json]\n",
				verb,
				compact ? "[--partition N] [--segments K] "
					  "[--wait S] "
					: "");
			return EXIT_USAGE;
		}
	}
	if (optind != argc || o->cluster == NULL) {
		fprintf(stderr, "confabctl %s: %s\n", verb,
			optind != argc ? "unexpected argument"
				       : "--cluster FILE is required (its "
					 "admin-secret signs the request)");
		return EXIT_USAGE;
	}
	rv = cf_cluster_load(&o->cl, o->cluster, errmsg);
	if (rv != 0) {
		fprintf(stderr, "confabctl %s: %s\n", verb, errmsg);
		return 1;
	}
	rv = fe_auth_admin_mint(&o->cl, "confabctl", TOKEN_TTL_S, &o->token);
	if (rv != 0) {
		fprintf(stderr, "confabctl %s: %s\n", verb,
			rv == CF_EFORBIDDEN
				? "the cluster file has no admin-secret"
				: "cannot mint an admin token");
		return 1;
	}
	return 0;
}

/* GET path on url as admin: the JSON answer, or NULL with why in err. */
static json_t *admin_get(const struct admin_opts *o, const char *url,
			 const char *path, char *err, size_t esize)
{
	char errmsg[CF_ERRMSG_SIZE] = "";
	struct cf_buf body = CF_BUF_INIT;
	json_t *j = NULL, *m;
	int rv, status = 0;

	rv = ctl_http_call(url, "GET", path, o->token, NULL, CALL_TIMEOUT_MS,
			   &status, &body, errmsg);
	if (rv != 0) {
		snprintf(err, esize, "not answering: %s", errmsg);
		goto out;
	}
	j = json_loadb(body.data, body.len, 0, NULL);
	if (status != 200) {
		m = json_object_get(json_object_get(j, "error"), "message");
		snprintf(err, esize, "HTTP %d: %s", status,
			 json_is_string(m) ? json_string_value(m)
					   : "no message");
		json_decref(j);
		j = NULL;
	} else if (!json_is_object(j)) {
		snprintf(err, esize, "answer is not a JSON object");
		json_decref(j);
		j = NULL;
	}
out:
	cf_buf_release(&body);
	return j;
}

static long long jint(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2 != NULL)
		v = json_object_get(v, path2);
	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* "1.2 GB" */
static const char *human(long long b, char *buf, size_t n)
{
	static const char *unit[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	double v = (double)b;
	int u = 0;

	while (v >= 1000 && u < 5) {
		v /= 1000;
		u++;
	}
	if (b < 0)
		snprintf(buf, n, "?");
	else if (u == 0)
		snprintf(buf, n, "%lld B", b);
	else
		snprintf(buf, n, "%.1f %s", v, unit[u]);
	return buf;
}

static void print_status(unsigned id, const char *url, json_t *s)
{
	char hb[32], cb[32], fb[32], tb[32];
	json_t *st = json_object_get(s, "store");
	const char *why = json_string_value(json_object_get(s,
							   "notReadyBecause"));

	printf("node %u  %s  %s  leader %lld  term %lld  commit %lld  "
	       "applied %lld  lag %lld  %s%s%s\n",
	       id, url, json_string_value(json_object_get(s, "role")),
	       jint(s, "leaderId", NULL), jint(s, "term", NULL),
	       jint(s, "commitIndex", NULL), jint(s, "appliedIndex", NULL),
	       jint(s, "applyLag", NULL),
	       json_is_true(json_object_get(s, "ready")) ? "ready"
							 : "not ready",
	       why != NULL && *why ? ": " : "", why != NULL ? why : "");
	printf("  hot %lld segments %s %lld records  cold %lld segments "
	       "%s %lld records  disk %s free of %s\n",
	       jint(st, "hot", "segments"),
	       human(jint(st, "hot", "bytes"), hb, sizeof hb),
	       jint(st, "hot", "records"), jint(st, "cold", "segments"),
	       human(jint(st, "cold", "bytes"), cb, sizeof cb),
	       jint(st, "cold", "records"),
	       human(jint(s, "disk", "freeBytes"), fb, sizeof fb),
	       human(jint(s, "disk", "totalBytes"), tb, sizeof tb));
}

int ctl_status(int argc, char **argv)
{
	struct admin_opts o;
	json_t *all = json_array(), *s, *row;
	char err[CF_ERRMSG_SIZE + 64];
	unsigned bad = 0, asked = 0;
	int rv;

	rv = admin_parse("status", argc, argv, &o);
	if (rv != 0) {
		json_decref(all);
		return rv;
	}
	for (unsigned i = 0; i < o.cl.n_nodes; i++) {
		const struct cf_node_conf *nc = &o.cl.nodes[i];

		if (o.node != NULL && strcmp(o.node, nc->client_url) != 0)
			continue;
		asked++;
		s = admin_get(&o, nc->client_url, "/v1/admin/status", err,
			      sizeof err);
		if (s == NULL)
			bad++;
		if (o.json) {
			row = json_pack("{s:i, s:s}", "nodeId", (int)nc->id,
					"url", nc->client_url);
			if (s != NULL)
				json_object_set_new(row, "status", s);
			else
				json_object_set_new(row, "error",
						    json_string(err));
			json_array_append_new(all, row);
		} else if (s != NULL) {
			print_status(nc->id, nc->client_url, s);
			json_decref(s);
		} else {
			printf("node %u  %s  %s\n", nc->id, nc->client_url,
			       err);
		}
	}
	if (o.json) {
		json_t *out = json_pack("{s:o}", "nodes", all);

		json_dumpf(out, stdout, JSON_COMPACT);
		printf("\n");
		json_decref(out);
	} else {
		json_decref(all);
	}
	free(o.token);
	if (asked == 0) {
		fprintf(stderr, "confabctl status: no node of %s has client "
				"URL %s\n",
			o.cluster, o.node);
		return 1;
	}
	return bad > 0 ? 1 : 0;
}

/* ---- verify --cluster ---- */

#define VERIFY_WAIT_MS 60000

/* POST path as admin to the first node that takes it; the JSON answer. */
static json_t *admin_post_any(const struct admin_opts *o, const char *path,
			      char *err, size_t esize)
{
	char errmsg[CF_ERRMSG_SIZE];
	struct cf_buf body = CF_BUF_INIT;
	json_t *j = NULL;
	int status = 0;

	for (unsigned i = 0; i < o->cl.n_nodes && j == NULL; i++) {
		body.len = 0;
		if (ctl_http_call(o->cl.nodes[i].client_url, "POST", path,
				  o->token, "{}", CALL_TIMEOUT_MS * 2, &status,
				  &body, errmsg) != 0) {
			snprintf(err, esize, "%s", errmsg);
			continue;
		}
		j = json_loadb(body.data, body.len, 0, NULL);
		if (status != 200 || !json_is_object(j)) {
			json_t *m = json_object_get(json_object_get(j, "error"),
						    "message");
			snprintf(err, esize, "%s: HTTP %d: %s",
				 o->cl.nodes[i].client_url, status,
				 json_is_string(m) ? json_string_value(m)
						   : "bad answer");
			json_decref(j);
			j = NULL;
		}
	}
	cf_buf_release(&body);
	return j;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The first difference between two nodes' file lists, in buf. */
static void first_difference(json_t *a, json_t *b, char *buf, size_t n)
{
	size_t na = json_array_size(a), nb = json_array_size(b);

	for (size_t i = 0; i < na || i < nb; i++) {
		json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
		const char *nx = json_string_value(json_object_get(x, "name"));
		const char *ny = json_string_value(json_object_get(y, "name"));

		if (x == NULL || y == NULL || strcmp(nx, ny) != 0) {
			snprintf(buf, n, "%s only on %s",
				 x == NULL ? ny : nx,
				 x == NULL ? "the second" : "the first");
			return;
		}
		if (strstr(nx, ".cold") == NULL &&
		    jint(x, "bytes", NULL) != jint(y, "bytes", NULL)) {
			snprintf(buf, n, "%s: %lld bytes vs %lld", nx,
				 jint(x, "bytes", NULL), jint(y, "bytes", NULL));
			return;
		}
		if (strcmp(json_string_value(json_object_get(x, "xxh3")),
			   json_string_value(json_object_get(y, "xxh3"))) !=
		    0) {
			snprintf(buf, n, "%s: %s", nx,
				 strstr(nx, ".cold") != NULL
					 ? "other content"
					 : "same length, other bytes");
			return;
		}
	}
	snprintf(buf, n, "no file differs");
}

int ctl_verify_cluster(int argc, char **argv)
{
	struct admin_opts o;
	json_t *mark, *res[CF_MAX_NODES] = {NULL}, *ref = NULL, *all;
	char err[CF_ERRMSG_SIZE + 64], path[128], diff[256];
	const char *markid;
	uint64_t deadline;
	unsigned bad = 0, refi = 0;
	int rv;

	rv = admin_parse("verify", argc, argv, &o);
	if (rv != 0)
		return rv;
	mark = admin_post_any(&o, "/v1/admin/verify", err, sizeof err);
	if (mark == NULL) {
		fprintf(stderr, "confabctl verify: no node committed the "
				"marker: %s\n",
			err);
		free(o.token);
		return 1;
	}
	markid = json_string_value(json_object_get(mark, "markId"));
	snprintf(path, sizeof path, "/v1/admin/verify/%s",
		 markid != NULL ? markid : "0");
	deadline = cf_mono_ms() + VERIFY_WAIT_MS;
	for (unsigned i = 0; i < o.cl.n_nodes; i++) {
		const char *url = o.cl.nodes[i].client_url;
		const char *st;

		for (;;) {
			res[i] = admin_get(&o, url, path, err, sizeof err);
			st = json_string_value(json_object_get(res[i], "state"));
			if (res[i] != NULL && st != NULL &&
			    (strcmp(st, "done") == 0 ||
			     strcmp(st, "failed") == 0))
				break;
			if (cf_mono_ms() >= deadline) {
				if (res[i] != NULL)
					snprintf(err, sizeof err,
						 "marker still %s after %d s",
						 st, VERIFY_WAIT_MS / 1000);
				json_decref(res[i]);
				res[i] = NULL;
				break;
			}
			json_decref(res[i]);
			res[i] = NULL;
			sleep_ms(100);
		}
		if (res[i] == NULL) {
			bad++;
			if (!o.json)
				printf("node %u  %s  %s\n", o.cl.nodes[i].id,
				       url, err);
			continue;
		}
		st = json_string_value(json_object_get(res[i], "state"));
		if (strcmp(st, "done") != 0) {
			bad++;
			if (!o.json)
				printf("node %u  %s  failed: %s\n",
				       o.cl.nodes[i].id, url,
				       json_string_value(json_object_get(
					       res[i], "error")));
			continue;
		}
		if (!o.json)
			printf("node %u  %s  index %lld  files %zu  digest "
			       "%s\n",
			       o.cl.nodes[i].id, url,
			       jint(res[i], "index", NULL),
			       json_array_size(
				       json_object_get(res[i], "files")),
			       json_string_value(
				       json_object_get(res[i], "digest")));
		if (ref == NULL) {
			ref = res[i];
			refi = i;
		} else if (strcmp(json_string_value(
					  json_object_get(ref, "digest")),
				  json_string_value(json_object_get(
					  res[i], "digest"))) != 0) {
			first_difference(json_object_get(ref, "files"),
					 json_object_get(res[i], "files"), diff,
					 sizeof diff);
			if (!o.json)
				printf("node %u differs from node %u: %s\n",
				       o.cl.nodes[i].id, o.cl.nodes[refi].id,
				       diff);
			bad++;
		}
	}
	if (o.json) {
		all = json_array();
		for (unsigned i = 0; i < o.cl.n_nodes; i++)
			json_array_append_new(
				all, res[i] != NULL ? json_incref(res[i])
						    : json_null());
		json_t *out = json_pack("{s:O, s:o, s:b}", "marker", mark,
					"nodes", all, "identical", bad == 0);
		json_dumpf(out, stdout, JSON_COMPACT);
		printf("\n");
		json_decref(out);
	} else if (bad == 0) {
		printf("identical: %u nodes at index %lld (marker %s)\n",
		       o.cl.n_nodes, jint(mark, "index", NULL), markid);
	}
	for (unsigned i = 0; i < o.cl.n_nodes; i++)
		json_decref(res[i]);
	json_decref(mark);
	free(o.token);
	return bad == 0 ? 0 : 1;
}

/* ---- compact ---- */

/* Has node s applied index, switched every job and checkpointed? */
static bool compact_settled(json_t *s, long long index)
{
	return s != NULL && jint(s, "appliedIndex", NULL) >= index &&
	       jint(s, "checkpointIndex", NULL) >= index &&
	       jint(s, "compaction", "pendingJobs") == 0 &&
	       !json_is_true(json_object_get(json_object_get(s, "compaction"),
					     "erasing"));
}

static void print_compacted(unsigned id, const char *url, json_t *s)
{
	char cb[32], hb[32];
	json_t *st = json_object_get(s, "store");

	printf("node %u  %s  cold %lld files %s %lld records (%lld erased "
	       "held)  hot %lld segments %s  compactions %lld, %lld records "
	       "erased, last %lld ms\n",
	       id, url, jint(st, "cold", "segments"),
	       human(jint(st, "cold", "bytes"), cb, sizeof cb),
	       jint(st, "cold", "records"),
	       jint(s, "compaction", "erasedHeld"),
	       jint(st, "hot", "segments"),
	       human(jint(st, "hot", "bytes"), hb, sizeof hb),
	       jint(s, "compaction", "runs"),
	       jint(s, "compaction", "recordsErased"),
	       jint(s, "compaction", "lastMs"));
}

int ctl_compact(int argc, char **argv)
{
	struct admin_opts o;
	json_t *ans, *res[CF_MAX_NODES] = {NULL};
	char err[CF_ERRMSG_SIZE + 64], path[128];
	long long index;
	uint64_t deadline;
	unsigned bad = 0;
	int rv, n;

	rv = admin_parse("compact", argc, argv, &o);
	if (rv != 0)
		return rv;
	n = snprintf(path, sizeof path, "/v1/admin/compact?x=1");
	if (o.partition != NULL)
		n += snprintf(path + n, sizeof path - (size_t)n,
			      "&partition=%.20s", o.partition);
	if (o.segments != NULL)
		snprintf(path + n, sizeof path - (size_t)n, "&segments=%.20s",
			 o.segments);
	ans = admin_post_any(&o, path, err, sizeof err);
	if (ans == NULL) {
		fprintf(stderr, "confabctl compact: not committed: %s\n", err);
		free(o.token);
		return 1;
	}
	index = jint(ans, "index", NULL);
	if (!o.json)
		printf("compaction committed at index %lld: %lld cold files "
		       "to write on every node\n",
		       index, jint(ans, "jobs", NULL));
	/* Every node: applied, jobs switched, hot files dropped. */
	deadline = cf_mono_ms() + (uint64_t)o.wait_s * 1000;
	for (unsigned i = 0; i < o.cl.n_nodes; i++) {
		const char *url = o.cl.nodes[i].client_url;

		for (;;) {
			res[i] = admin_get(&o, url, "/v1/admin/status", err,
					   sizeof err);
			if (compact_settled(res[i], index))
				break;
			if (cf_mono_ms() >= deadline) {
				if (res[i] != NULL)
					snprintf(err, sizeof err,
						 "applied %lld, %lld jobs "
						 "pending after %u s",
						 jint(res[i], "appliedIndex",
						      NULL),
						 jint(res[i], "compaction",
						      "pendingJobs"),
						 o.wait_s);
				json_decref(res[i]);
				res[i] = NULL;
				break;
			}
			json_decref(res[i]);
			res[i] = NULL;
			sleep_ms(200);
		}
		if (res[i] == NULL) {
			bad++;
			if (!o.json)
				printf("node %u  %s  %s\n", o.cl.nodes[i].id,
				       url, err);
		} else if (!o.json) {
			print_compacted(o.cl.nodes[i].id, url, res[i]);
		}
	}
	if (o.json) {
		json_t *all = json_array();

		for (unsigned i = 0; i < o.cl.n_nodes; i++)
			json_array_append_new(
				all, res[i] != NULL ? json_incref(res[i])
						    : json_null());
		json_t *out = json_pack("{s:I, s:I, s:o, s:b}", "index",
					(json_int_t)index, "jobs",
					(json_int_t)jint(ans, "jobs", NULL),
					"nodes", all, "done", bad == 0);
		json_dumpf(out, stdout, JSON_COMPACT);
		printf("\n");
		json_decref(out);
	}
	for (unsigned i = 0; i < o.cl.n_nodes; i++)
		json_decref(res[i]);
	json_decref(ans);
	free(o.token);
	return bad == 0 ? 0 : 1;
}

/* ---- inspect --cluster --node ---- */

int ctl_inspect_live(int argc, char **argv)
{
	struct admin_opts o;
	char err[CF_ERRMSG_SIZE + 64];
	json_t *j, *seg;
	size_t i;
	int rv;

	rv = admin_parse("inspect", argc, argv, &o);
	if (rv != 0)
		return rv;
	if (o.node == NULL) {
		fprintf(stderr, "confabctl inspect: --node URL is required "
				"with --cluster\n");
		free(o.token);
		return EXIT_USAGE;
	}
	j = admin_get(&o, o.node, "/v1/admin/inspect", err, sizeof err);
	free(o.token);
	if (j == NULL) {
		fprintf(stderr, "confabctl inspect: %s: %s\n", o.node, err);
		return 1;
	}
	if (o.json) {
		json_dumpf(j, stdout, JSON_COMPACT);
		printf("\n");
		json_decref(j);
		return 0;
	}
	printf("node %lld %s\nappliedIndex %lld\ncheckpointIndex %lld\n"
	       "partitions %lld\nsegment-size %lld\nseal-age-ms %lld\n",
	       jint(j, "nodeId", NULL), o.node, jint(j, "appliedIndex", NULL),
	       jint(j, "checkpointIndex", NULL), jint(j, "partitions", NULL),
	       jint(j, "segmentSize", NULL), jint(j, "sealAgeMs", NULL));
	json_array_foreach(json_object_get(j, "segments"), i, seg)
		printf("segment %s bytes %lld %s\n",
		       json_string_value(json_object_get(seg, "name")),
		       jint(seg, "bytes", NULL),
		       json_is_true(json_object_get(seg, "sealed")) ? "sealed"
								    : "hot");
	json_array_foreach(json_object_get(j, "coldFiles"), i, seg)
		printf("cold %s bytes %lld segments %lld-%lld identity %s%s\n",
		       json_string_value(json_object_get(seg, "name")),
		       jint(seg, "bytes", NULL),
		       jint(seg, "firstSegment", NULL),
		       jint(seg, "lastSegment", NULL),
		       json_string_value(json_object_get(seg, "identity")),
		       json_is_true(json_object_get(seg, "pending"))
			       ? "(pending)"
			       : "");
	printf("hot segments %lld bytes %lld records %lld\n"
	       "cold segments %lld bytes %lld records %lld\n"
	       "records %lld\nconversations %lld\nindex-bytes %lld\n",
	       jint(json_object_get(j, "tiers"), "hot", "segments"),
	       jint(json_object_get(j, "tiers"), "hot", "bytes"),
	       jint(json_object_get(j, "tiers"), "hot", "records"),
	       jint(json_object_get(j, "tiers"), "cold", "segments"),
	       jint(json_object_get(j, "tiers"), "cold", "bytes"),
	       jint(json_object_get(j, "tiers"), "cold", "records"),
	       jint(j, "records", NULL), jint(j, "conversations", NULL),
	       jint(j, "indexBytes", NULL));
	json_decref(j);
	return 0;
}
