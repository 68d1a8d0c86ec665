#include "config.h"
/*
 * fe_api_search: GET /v1/search and GET /v1/mentions (see
 * fe_api_search.h). A request goes: parse (loop) -> read index if
 * consistent=1 (loop) -> wait for the search index to reach what was
 * applied (sync_search_wait) -> membership windows from the inbox index
 * (loop) -> query in the thread pool (sync_search_run) -> render the hits
 * from the store (loop).
 */
#include "frontend/fe_api_search.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_jw.h"
#include "frontend/fe_api_sync.h"
#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"
#include "frontend/fe_json.h"
#include "frontend/fe_server.h"
#include "log/log_store.h"
#include "raft/rft_node.h"
#include "sync/sync_inbox.h"
#include "sync/sync_edit.h"
#include "sync/sync_read.h"
#include "sync/sync_search.h"
#include "sync/sync_search_norm.h"

struct search_req {
	struct rft_read rd;
	struct sync_search_wait wait;
	struct sync_search_job job;
	struct fe_conn *conn; /* referenced */
	bool mentions;	      /* GET /v1/mentions */
	char user[129];
	char conv[129];	      /* "" if none */
	char *match;	      /* the FTS5 expression (search) */
	struct sync_search_window *windows;
	size_t n_windows;
	struct sync_search_hit *hits;
};

static void req_free(struct search_req *k)
{
	if (k->conn != NULL)
		fe_conn_unref(k->conn);
	for (size_t i = 0; i < k->n_windows; i++)
		free((char *)k->windows[i].conv);
	free(k->windows);
	free(k->hits);
	free(k->match);
	free(k);
}

static void req_fail(struct search_req *k, int rv, const char *msg)
{
	if (fe_conn_alive(k->conn))
		fe_respond_rc(k->conn, rv, msg);
	req_free(k);
}

/* ---- the cursor: "s" and the messageId to continue below, base 36 ---- */

void fe_search_cursor_str(uint64_t v, char out[16])
{
	char tmp[16];
	size_t n = 0, i = 0;

	do {
		unsigned d = (unsigned)(v % 36);
		tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= 36;
	} while (v > 0);
	out[i++] = 's';
	while (n > 0)
		out[i++] = tmp[--n];
	out[i] = '\0';
}

int fe_search_cursor_parse(struct cf_str s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len < 2 || s.len > 14 || s.p[0] != 's')
		return CF_EBADREQ;
	for (size_t i = 1; i < s.len; i++) {
		char c = s.p[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'z')
			d = (unsigned)(c - 'a' + 10);
		else
			return CF_EBADREQ;
		if (v > (UINT64_MAX - d) / 36)
			return CF_EBADREQ;
		v = v * 36 + d;
	}
	if (v == 0 || v > (uint64_t)INT64_MAX)
		return CF_EBADREQ;
	*out = v;
	return 0;
}

/* ---- rendering (loop) ---- */

static int render(struct fe_server *s, struct search_req *k,
		  struct cf_buf *b)
{
	struct rft_fsm *f = rft_node_fsm(s->node);
	struct log_store *store = rft_fsm_store(f);
	struct cf_buf scratch = CF_BUF_INIT, escratch = CF_BUF_INIT;
	const struct sync_search_query *q = &k->job.q;
	bool first = true;
	int rv;

	if (store == NULL)
		return CF_EUNAVAIL;
	rv = cf_jw_lit(b, k->mentions ? "{\"mentions\":[" : "{\"results\":[");
	for (size_t i = 0; rv == 0 && i < q->n_hits; i++) {
		const struct sync_search_hit *h = &q->hits[i];
		const struct rft_conv *c = rft_fsm_conv(f, cf_str_c(h->conv));
		struct log_record rec;
		uint64_t edited_at = 0;

		/* Recalled since it was indexed (the index lags): dropped. */
		if (c == NULL || h->seq > c->last_seq ||
		    rft_conv_recalled(c, h->seq))
			continue;
		rv = log_store_read_seq(store, cf_str_c(h->conv), h->seq, &rec,
					&scratch);
		/* Edited: its latest version, as history shows it. */
		if (rv == 0)
			rv = sync_edit_latest(f, c, &rec, &escratch,
					      &edited_at);
		if (rv != 0)
			break;
		if (!first)
			rv = cf_jw_lit(b, ",");
		first = false;
		/* As the caller reads it: mentionsMe when it is mentioned. */
		if (rv == 0)
			rv = sync_message_write_for(b, &rec, false,
						    cf_str_c(k->user));
		if (rv == 0)
			rv = sync_edit_write_at(b, edited_at);
	}
	cf_buf_release(&scratch);
	cf_buf_release(&escratch);
	if (rv == 0)
		rv = cf_jw_lit(b, q->more ? "],\"hasMore\":true"
					  : "],\"hasMore\":false");
	if (rv == 0 && q->more) {
		char cur[16];

		fe_search_cursor_str(q->next, cur);
		rv = cf_jw_lit(b, ",\"cursor\":\"");
		if (rv == 0)
			rv = cf_jw_lit(b, cur);
		if (rv == 0)
			rv = cf_jw_lit(b, "\"");
	}
	if (rv == 0)
		rv = cf_jw_lit(b, "}");
	return rv;
}

static void job_done_cb(struct sync_search_job *job)
{
	struct search_req *k = job->data;
	struct fe_conn *c = k->conn;
	struct cf_buf b = CF_BUF_INIT;
	int rv = job->rv;

	if (!fe_conn_alive(c) || c->srv->closing) {
		req_free(k);
		return;
	}
	if (rv == CF_EBADREQ) {
		req_fail(k, rv, "'q' is not a query this index can run");
		return;
	}
	if (rv == 0 && fe_server_unavailable(c->srv) != NULL)
		rv = CF_EUNAVAIL;
	if (rv == 0)
		rv = render(c->srv, k, &b);
	if (rv == 0)
		fe_conn_respond(c, 200, "application/json", b.data, b.len,
				NULL);
	cf_buf_release(&b);
	if (rv != 0) {
		req_fail(k, rv, rv == CF_EUNAVAIL ? "the search index is not "
						    "open yet; try again"
						  : NULL);
		return;
	}
	req_free(k);
}

/* ---- membership windows (loop) ---- */

static int win_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sync_search_window *)a)->conv,
		      ((const struct sync_search_window *)b)->conv);
}

static int collect_windows(struct fe_server *s, struct search_req *k)
{
	const struct sync_inbox *ix = fe_api_sync_inbox(s);
	const struct sync_inbox_entry **es = NULL;
	size_t max = 256, n;

	for (;;) {
		const struct sync_inbox_entry **p =
			realloc(es, max * sizeof(*es));

		if (p == NULL) {
			free(es);
			return -ENOMEM;
		}
		es = p;
		n = sync_inbox_changed(ix, cf_str_c(k->user), 0, es, max);
		if (n <= max)
			break;
		max = n;
	}
	k->windows = calloc(n > 0 ? n : 1, sizeof(*k->windows));
	if (k->windows == NULL) {
		free(es);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char *conv = strdup(es[i]->conv);

		if (conv == NULL) {
			free(es);
			return -ENOMEM;
		}
		k->windows[k->n_windows].conv = conv;
		k->windows[k->n_windows].joined = es[i]->joined;
		k->windows[k->n_windows].left = es[i]->left;
		k->n_windows++;
	}
	free(es);
	qsort(k->windows, k->n_windows, sizeof(*k->windows), win_cmp);
	return 0;
}

static void query_start(struct search_req *k)
{
	struct fe_server *s = k->conn->srv;
	int rv;

	if (!fe_conn_alive(k->conn) || s->closing) {
		req_free(k);
		return;
	}
	if (fe_server_unavailable(s) != NULL) {
		req_fail(k, CF_EUNAVAIL, fe_server_unavailable(s));
		return;
	}
	rv = collect_windows(s, k);
	if (rv != 0) {
		req_fail(k, rv, NULL);
		return;
	}
	k->job.q.windows = k->windows;
	k->job.q.n_windows = k->n_windows;
	k->job.data = k;
	rv = sync_search_run(s->search, &k->job, job_done_cb);
	if (rv == -EBUSY)
		req_fail(k, CF_EUNAVAIL,
			 "too many searches at once on this node; try again");
	else if (rv != 0)
		req_fail(k, rv, "search is not available on this node now");
}

static void wait_cb(struct sync_search_wait *w, int status)
{
	struct search_req *k = w->data;

	if (status != 0) {
		req_fail(k, status == CF_ETIMEDOUT ? CF_EUNAVAIL : status,
			 "the search index did not catch up in time; try "
			 "again");
		return;
	}
	query_start(k);
}

static void read_index_cb(struct rft_read *r, int status)
{
	struct search_req *k = r->data;

	if (status != 0) {
		req_fail(k, status,
			 "could not reach the leader for a consistent read");
		return;
	}
	if (!fe_conn_alive(k->conn) || k->conn->srv->closing) {
		req_free(k);
		return;
	}
	/* Everything applied was handed to the index: wait for it. */
	k->wait.data = k;
	sync_search_wait(k->conn->srv->search, &k->wait, FE_SEARCH_WAIT_MS,
			 wait_cb);
}

/* ---- parsing (loop) ---- */

static int parse_common(const struct fe_http_req *req, struct search_req *k,
			const char **err)
{
	struct cf_str v;
	uint64_t limit = FE_SEARCH_LIMIT_DEFAULT;

	k->job.q.before = 0;
	if (fe_http_query_get(req, "cursor", &v) == 0 &&
	    fe_search_cursor_parse(v, &k->job.q.before) != 0) {
		*err = "malformed cursor";
		return CF_EBADREQ;
	}
	if (fe_http_query_get(req, "limit", &v) == 0 &&
	    (fe_parse_u64(v, &limit) != 0 || limit < 1 ||
	     limit > FE_SEARCH_LIMIT_MAX)) {
		*err = "'limit' must be an integer from 1 to 100";
		return CF_EBADREQ;
	}
	k->job.q.limit = (unsigned)limit;
	k->job.q.budget = FE_SEARCH_BUDGET;
	k->hits = calloc(limit, sizeof(*k->hits));
	if (k->hits == NULL)
		return -ENOMEM;
	k->job.q.hits = k->hits;
	return 0;
}

/* See fe_api_search.h. */
int fe_search_query(struct cf_str q, struct cf_buf *m, const char **err)
{
	int rv;

	while (q.len > 0 && (q.p[0] == ' ' || q.p[0] == '\t' ||
			     q.p[0] == '\n' || q.p[0] == '\r')) {
		q.p++;
		q.len--;
	}
	while (q.len > 0 &&
	       (q.p[q.len - 1] == ' ' || q.p[q.len - 1] == '\t' ||
		q.p[q.len - 1] == '\n' || q.p[q.len - 1] == '\r'))
		q.len--;
	if (q.len == 0) {
		*err = "'q' is required (1 to 256 bytes)";
		return CF_EBADREQ;
	}
	if (q.len > FE_SEARCH_Q_MAX) {
		*err = "'q' is longer than 256 bytes";
		return CF_EBADREQ;
	}
	rv = sync_search_norm_query(q.p, q.len, m, NULL);
	if (rv == CF_EBADREQ)
		*err = "'q' has no word to search for";
	return rv;
}

static int parse_search(struct fe_server *s, const struct fe_http_req *req,
			struct search_req *k, const char **err)
{
	struct cf_buf m = CF_BUF_INIT;
	struct cf_str q, conv;
	int rv;

	if (fe_http_query_get(req, "q", &q) != 0)
		q.len = 0;
	rv = fe_search_query(q, &m, err);
	if (rv != 0)
		return rv;
	k->match = cf_buf_detach(&m, NULL);
	if (fe_http_query_get(req, "conversationId", &conv) == 0) {
		const struct rft_conv *c;

		if (!cf_id_valid(conv.p, conv.len) ||
		    conv.len >= sizeof k->conv) {
			*err = "bad conversation id";
			return CF_EBADREQ;
		}
		c = rft_fsm_conv(rft_node_fsm(s->node), conv);
		if (c == NULL || !rft_conv_was_member(c, cf_str_c(k->user))) {
			*err = "no such conversation";
			return CF_ENOTFOUND;
		}
		memcpy(k->conv, conv.p, conv.len);
		k->job.q.conv = k->conv;
	}
	k->job.q.match = k->match;
	return 0;
}

bool fe_api_search_http(struct fe_conn *c, const struct fe_http_req *req,
			const char *user)
{
	struct fe_server *s = c->srv;
	bool mentions = cf_str_eqc(req->path, "/v1/mentions");
	struct search_req *k;
	const char *err = NULL;
	int rv;

	if (!mentions && !cf_str_eqc(req->path, "/v1/search"))
		return false;
	if (req->method != FE_HTTP_GET) {
		fe_respond_405(c, "GET");
		return true;
	}
	if (s->search == NULL) {
		fe_respond_error(c, 404, "not_found",
				 "search is off on this node");
		return true;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		fe_respond_rc(c, -ENOMEM, NULL);
		return true;
	}
	k->mentions = mentions;
	snprintf(k->user, sizeof k->user, "%s", user);
	k->job.q.user = k->user;
	rv = parse_common(req, k, &err);
	if (rv == 0 && !mentions)
		rv = parse_search(s, req, k, &err);
	if (rv != 0) {
		fe_respond_rc(c, rv, err);
		req_free(k);
		return true;
	}
	k->conn = c;
	fe_conn_ref(c);
	s->metrics.search_queries++;
	if (fe_wants_consistent(req)) {
		k->rd.data = k;
		rft_node_read_index(s->node, &k->rd, read_index_cb);
		return true;
	}
	query_start(k);
	return true;
}

int fe_api_search_metrics(struct fe_server *s, struct cf_buf *b)
{
	struct sync_search_stats st;

	memset(&st, 0, sizeof st);
	if (s->search != NULL)
		sync_search_stats(s->search, &st);
	return cf_buf_appendf(
		b,
		"# HELP confab_search_enabled 1 when this node keeps the "
		"search index (--search=on).\n"
		"# TYPE confab_search_enabled gauge\n"
		"confab_search_enabled %d\n"
		"# HELP confab_search_indexed_index Raft index up to which "
		"the search index holds every record.\n"
		"# TYPE confab_search_indexed_index gauge\n"
		"confab_search_indexed_index %llu\n"
		"# HELP confab_search_published_index Raft index of the last "
		"record handed to the search index.\n"
		"# TYPE confab_search_published_index gauge\n"
		"confab_search_published_index %llu\n"
		"# HELP confab_search_lag_records Records queued for the "
		"search index's worker.\n"
		"# TYPE confab_search_lag_records gauge\n"
		"confab_search_lag_records %llu\n"
		"# HELP confab_search_pending_erasures Batches with deleted "
		"text not yet optimized out of the index's files.\n"
		"# TYPE confab_search_pending_erasures gauge\n"
		"confab_search_pending_erasures %llu\n"
		"# HELP confab_search_rebuilds_total Catch-ups of the search "
		"index from the store's files.\n"
		"# TYPE confab_search_rebuilds_total counter\n"
		"confab_search_rebuilds_total %llu\n"
		"# HELP confab_search_indexed_records_total Records applied "
		"to the search index since start.\n"
		"# TYPE confab_search_indexed_records_total counter\n"
		"confab_search_indexed_records_total %llu\n"
		"# HELP confab_search_queries_total Search and mentions "
		"requests.\n"
		"# TYPE confab_search_queries_total counter\n"
		"confab_search_queries_total %llu\n",
		s->search != NULL ? 1 : 0, (unsigned long long)st.position,
		(unsigned long long)st.published,
		(unsigned long long)st.queued,
		(unsigned long long)st.pending_erasures,
		(unsigned long long)st.rebuilds,
		(unsigned long long)st.indexed,
		(unsigned long long)s->metrics.search_queries);
}
