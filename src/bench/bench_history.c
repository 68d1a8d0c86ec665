#include "config.h"

/*
 * bench_history: see bench_history.h.
 *
 * Run:
 *  1. GET /v1/conversations as --user (dev auth) on the first node: the
 *     conversations with at least one message and their lastSeq.
 *  2. --conc connections, spread round robin over the nodes, each with one
 *     request in flight: GET /v1/conversations/ID/messages?fromSeq=R&
 *     limit=L for a random conversation and R in 1..max(1, lastSeq-L+1)
 *     (xorshift from --seed, the same sequence for the same seed and
 *     list). The first --warmup answers are not counted, the next
 *     --requests are.
 *
 * Counted: latency from the moment the request is written to the moment
 * its answer is complete, 2xx answers only; errors are non-2xx answers and
 * connection failures. Output:
 *   {"mode":"history","requests":N,"conversations":K,"limit":L,"conc":C,
 *    "req_s":X,"ops_s":X,"p50_ms":X,"p90_ms":X,"p99_ms":X,"max_ms":X,
 *    "errors":N,"total":N,"bytes":N}
 * bytes: body bytes of the counted answers; ops_s = req_s (the key every
 * mode shares); total: counted answers, any status. Percentiles: p50 =
 * value at rank n/2, p90/p99 at rank ceil(q n).
 */

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_history.h"
#include "bench/bench_lat.h"
#include "common/cf_time.h"

#define MAX_CONC 256

struct hconv {
	char *id;
	uint64_t last_seq;
};

struct hist {
	const struct bhist_opts *o;
	uv_loop_t loop;
	struct bh_conn ctl;
	struct bh_conn conns[MAX_CONC];
	struct hconv *convs;
	size_t nconvs, convs_cap;
	char list_path[96]; /* the conversation list's next page */
	uint64_t rng;
	unsigned issued;   /* requests handed to a connection */
	unsigned answered; /* answers (any status) */
	unsigned target;   /* warmup + requests */
	uint64_t errors, bytes;
	uint32_t *lat_us; /* of counted 2xx answers */
	size_t nlat;
	uint64_t t0_ns, t1_ns; /* first counted request written, last answer */
	int failed;
};

static uint64_t next_rand(struct hist *h)
{
	/* xorshift64 */
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return h->rng;
}

static void issue(struct hist *h, struct bh_conn *c);

static void page_done(struct bh_conn *c, int status, const char *body,
		      size_t len)
{
	struct hist *h = c->data;
	bool counted = h->answered >= h->o->warmup;

	(void)body;
	h->answered++;
	if (counted) {
		if (status >= 200 && status < 300) {
			h->lat_us[h->nlat++] =
				(uint32_t)((cf_mono_ns() - c->sent_ns) / 1000);
			h->bytes += len;
		} else {
			h->errors++;
		}
		h->t1_ns = cf_mono_ns();
	}
	if (h->answered == h->target) {
		for (unsigned i = 0; i < h->o->conc; i++)
			bh_conn_close(&h->conns[i]);
		return;
	}
	issue(h, c);
}

static void issue(struct hist *h, struct bh_conn *c)
{
	const struct hconv *cv;
	uint64_t span, from;
	char path[400];

	if (h->issued == h->target)
		return;
	cv = &h->convs[next_rand(h) % h->nconvs];
	span = cv->last_seq > h->o->limit ? cv->last_seq - h->o->limit + 1 : 1;
	from = 1 + next_rand(h) % span;
	snprintf(path, sizeof path,
		 "/v1/conversations/%s/messages?fromSeq=%llu&limit=%u", cv->id,
		 (unsigned long long)from, h->o->limit);
	if (h->issued == h->o->warmup)
		h->t0_ns = cf_mono_ns();
	h->issued++;
	if (bh_conn_request(c, "GET", path, h->o->user, NULL, 0, page_done) !=
	    0) {
		fprintf(stderr, "confab-bench: out of memory\n");
		h->failed = 1;
		uv_stop(&h->loop);
	}
}

/* The conversation list: keep those with a message. */
static void list_done(struct bh_conn *c, int status, const char *body,
		      size_t len)
{
	struct hist *h = c->data;
	json_t *j = NULL, *arr, *e;
	json_error_t jerr;
	const char *next;
	size_t i;

	if (status != 200) {
		fprintf(stderr, "confab-bench: GET /v1/conversations: %s\n",
			status < 0 ? uv_strerror(status) : "not 200");
		goto fail;
	}
	j = json_loadb(body, len, 0, &jerr);
	arr = json_object_get(j, "conversations");
	if (!json_is_array(arr)) {
		fprintf(stderr, "confab-bench: conversation list: %s\n",
			j == NULL ? jerr.text : "no conversations array");
		goto fail;
	}
	if (h->nconvs + json_array_size(arr) + 1 > h->convs_cap) {
		size_t cap = h->nconvs + json_array_size(arr) + 1;
		struct hconv *p = realloc(h->convs, 2 * cap * sizeof *p);

		if (p == NULL)
			goto fail;
		h->convs = p;
		h->convs_cap = 2 * cap;
	}
	json_array_foreach(arr, i, e) {
		const char *id = json_string_value(
			json_object_get(e, "conversationId"));
		json_int_t last = json_integer_value(
			json_object_get(e, "lastSeq"));

		if (id == NULL || last <= 0)
			continue;
		h->convs[h->nconvs].id = strdup(id);
		if (h->convs[h->nconvs].id == NULL)
			goto fail;
		h->convs[h->nconvs++].last_seq = (uint64_t)last;
	}
	next = json_string_value(json_object_get(j, "cursor"));
	if (json_is_true(json_object_get(j, "hasMore")) && next != NULL) {
		/* the list is paged: the next page on the same connection */
		snprintf(h->list_path, sizeof h->list_path,
			 "/v1/conversations?limit=200&cursor=%s", next);
		json_decref(j);
		if (bh_conn_request(c, "GET", h->list_path, h->o->user, NULL,
				    0, list_done) != 0)
			h->failed = 1;
		return;
	}
	bh_conn_close(c);
	json_decref(j);
	j = NULL;
	if (h->nconvs == 0) {
		fprintf(stderr, "confab-bench: user %s has no message to read\n",
			h->o->user);
		goto fail;
	}
	for (unsigned k = 0; k < h->o->conc; k++)
		issue(h, &h->conns[k]);
	return;
fail:
	bh_conn_close(c);
	json_decref(j);
	h->failed = 1;
}

static void report(const struct hist *h)
{
	double secs = (double)(h->t1_ns - h->t0_ns) / 1e9;
	double rps = secs > 0 ? (double)h->nlat / secs : 0;
	double p50 = h->nlat > 0 ? h->lat_us[h->nlat / 2] / 1000.0 : 0;
	double p90 = bench_lat_pct(h->lat_us, h->nlat, 90);
	double p99 = bench_lat_pct(h->lat_us, h->nlat, 99);
	double max = bench_lat_pct(h->lat_us, h->nlat, 100);

	printf("{\"mode\":\"history\",\"requests\":%u,\"conversations\":%zu,"
	       "\"limit\":%u,\"conc\":%u,\"req_s\":%.1f,\"ops_s\":%.1f,"
	       "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
	       "\"max_ms\":%.3f,\"errors\":%llu,\"total\":%u,"
	       "\"bytes\":%llu}\n",
	       h->o->requests, h->nconvs, h->o->limit, h->o->conc, rps, rps,
	       p50, p90, p99, max, (unsigned long long)h->errors,
	       h->o->requests, (unsigned long long)h->bytes);
	fflush(stdout);
	fprintf(stderr,
		"confab-bench: history: %u pages of %u from %zu conversations, "
		"c=%u: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, "
		"%.0f req/s, %llu errors\n",
		h->o->requests, h->o->limit, h->nconvs, h->o->conc, p50, p90,
		p99, max, rps, (unsigned long long)h->errors);
}

int bench_history_run(const struct bhist_opts *o)
{
	struct hist *h;
	unsigned i;
	int rv, status = 1;

	if (o->conc == 0 || o->conc > MAX_CONC || o->requests == 0 ||
	    o->limit == 0 || o->n_targets == 0) {
		fprintf(stderr, "confab-bench: --history needs 1..%d "
				"connections and at least one request\n",
			MAX_CONC);
		return 2;
	}
	h = calloc(1, sizeof *h);
	if (h == NULL)
		return 1;
	h->o = o;
	h->rng = 0x9e3779b97f4a7c15ull ^ o->seed;
	h->target = o->warmup + o->requests;
	h->lat_us = calloc(o->requests, sizeof *h->lat_us);
	if (h->lat_us == NULL) {
		free(h);
		return 1;
	}
	rv = uv_loop_init(&h->loop);
	if (rv != 0) {
		fprintf(stderr, "confab-bench: %s\n", uv_strerror(rv));
		free(h->lat_us);
		free(h);
		return 1;
	}
	bh_conn_init(&h->ctl, &h->loop, &o->targets[0]);
	h->ctl.data = h;
	for (i = 0; i < o->conc; i++) {
		bh_conn_init(&h->conns[i], &h->loop,
			     &o->targets[i % o->n_targets]);
		h->conns[i].data = h;
	}
	snprintf(h->list_path, sizeof h->list_path,
		 "/v1/conversations?limit=200");
	if (bh_conn_request(&h->ctl, "GET", h->list_path, o->user,
			    NULL, 0, list_done) == 0)
		uv_run(&h->loop, UV_RUN_DEFAULT);
	else
		h->failed = 1;
	if (!h->failed && h->answered == h->target) {
		bench_lat_sort(h->lat_us, h->nlat);
		report(h);
		status = 0;
	} else if (!h->failed) {
		fprintf(stderr, "confab-bench: history run stopped after %u "
				"answers\n",
			h->answered);
	}
	bh_conn_close(&h->ctl);
	for (i = 0; i < o->conc; i++)
		bh_conn_close(&h->conns[i]);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	bh_conn_release(&h->ctl);
	for (i = 0; i < o->conc; i++)
		bh_conn_release(&h->conns[i]);
	uv_loop_close(&h->loop);
	for (size_t k = 0; k < h->nconvs; k++)
		free(h->convs[k].id);
	free(h->convs);
	free(h->lat_us);
	free(h);
	return status;
}
