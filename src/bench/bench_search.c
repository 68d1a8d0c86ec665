#include "config.h"

/*
 * bench_search: see bench_search.h.
 *
 * Run: --conc connections, spread round robin over the nodes, each with one
 * request in flight: GET /v1/search?q=W1+W2..&limit=L as --user (dev
 * auth; with --users U as a random one of u0..u<U-1>), the words drawn by xorshift from --seed (the same queries for the
 * same seed). The first --warmup answers are not counted, the next
 * --requests are.
 *
 * Counted: latency from the moment the request is written to the moment
 * its answer is complete, 200 answers only; errors are other answers and
 * connection failures. Output:
 *   {"mode":"search","requests":N,"terms":K,"limit":L,"conc":C,
 *    "req_s":X,"ops_s":X,"p50_ms":X,"p90_ms":X,"p99_ms":X,"max_ms":X,
 *    "results_mean":X,"empty":N,"errors":N,"total":N}
 * results_mean: results per counted answer; empty: counted answers with
 * none; ops_s = req_s and total = requests (the keys every mode shares). Percentiles: p50 = value at rank n/2, p90/p99 at rank ceil(q n).
 */

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_search.h"
#include "bench/bench_words.h"
#include "bench/bench_lat.h"
#include "common/cf_time.h"

#define MAX_CONC 256

struct srch {
	const struct bsearch_opts *o;
	uv_loop_t loop;
	struct bh_conn conns[MAX_CONC];
	uint64_t rng;
	unsigned issued, answered, target;
	uint64_t errors, results, empty;
	uint32_t *lat_us; /* of counted 200 answers */
	size_t nlat;
	uint64_t t0_ns, t1_ns;
	int failed;
};

static void issue(struct srch *h, struct bh_conn *c);

static void answer(struct bh_conn *c, int status, const char *body,
		   size_t len)
{
	struct srch *h = c->data;
	bool counted = h->answered >= h->o->warmup;

	h->answered++;
	if (counted) {
		if (status == 200) {
			json_t *j = json_loadb(body, len, 0, NULL);
			size_t n = json_array_size(json_object_get(j,
								   "results"));

			h->lat_us[h->nlat++] =
				(uint32_t)((cf_mono_ns() - c->sent_ns) / 1000);
			h->results += n;
			h->empty += n == 0;
			json_decref(j);
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

static void issue(struct srch *h, struct bh_conn *c)
{
	unsigned span = h->o->rank_hi - h->o->rank_lo, k;
	char path[256], w[BENCH_WORD_MAX], user[24];
	const char *who = h->o->user;
	size_t len;

	if (h->issued == h->target)
		return;
	len = (size_t)snprintf(path, sizeof path, "/v1/search?limit=%u&q=",
			       h->o->limit);
	for (k = 0; k < h->o->terms; k++) {
		uint32_t r = h->o->rank_lo +
			     (uint32_t)(bench_rand(&h->rng) % span);

		bench_word(r, w);
		len += (size_t)snprintf(path + len, sizeof path - len, "%s%s",
					k > 0 ? "+" : "", w);
	}
	if (h->o->users > 0) {
		snprintf(user, sizeof user, "u%u",
			 (unsigned)(bench_rand(&h->rng) % h->o->users));
		who = user;
	}
	if (h->issued == h->o->warmup)
		h->t0_ns = cf_mono_ns();
	h->issued++;
	if (bh_conn_request(c, "GET", path, who, NULL, 0, answer) !=
	    0) {
		fprintf(stderr, "confab-bench: out of memory\n");
		h->failed = 1;
		uv_stop(&h->loop);
	}
}

static void report(const struct srch *h)
{
	double secs = (double)(h->t1_ns - h->t0_ns) / 1e9;
	double rps = secs > 0 ? (double)h->nlat / secs : 0;
	double p50 = h->nlat > 0 ? h->lat_us[h->nlat / 2] / 1000.0 : 0;
	double p90 = bench_lat_pct(h->lat_us, h->nlat, 90);
	double p99 = bench_lat_pct(h->lat_us, h->nlat, 99);
	double max = bench_lat_pct(h->lat_us, h->nlat, 100);
	double mean = h->nlat > 0 ? (double)h->results / (double)h->nlat : 0;

	printf("{\"mode\":\"search\",\"requests\":%u,\"terms\":%u,"
	       "\"limit\":%u,\"conc\":%u,\"req_s\":%.1f,\"ops_s\":%.1f,"
	       "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
	       "\"max_ms\":%.3f,\"results_mean\":%.2f,\"empty\":%llu,"
	       "\"errors\":%llu,\"total\":%u}\n",
	       h->o->requests, h->o->terms, h->o->limit, h->o->conc, rps, rps,
	       p50, p90, p99, max, mean, (unsigned long long)h->empty,
	       (unsigned long long)h->errors, h->o->requests);
	fflush(stdout);
	fprintf(stderr,
		"confab-bench: search: %u queries of %u term(s), c=%u: p50 "
		"%.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, %.0f req/s, "
		"%.1f results each, %llu empty, %llu errors\n",
		h->o->requests, h->o->terms, h->o->conc, p50, p90, p99, max,
		rps, mean, (unsigned long long)h->empty,
		(unsigned long long)h->errors);
}

int bench_search_run(const struct bsearch_opts *o)
{
	struct srch *h;
	unsigned i;
	int rv, status = 1;

	if (o->conc == 0 || o->conc > MAX_CONC || o->requests == 0 ||
	    o->limit == 0 || o->limit > 100 || o->terms == 0 ||
	    o->terms > 4 || o->n_targets == 0 || o->rank_hi <= o->rank_lo ||
	    o->rank_hi > BENCH_WORDS_VOCAB) {
		fprintf(stderr, "confab-bench: --search needs 1..%d "
				"connections, a limit of 1..100, 1..4 terms "
				"and ranks lo < hi <= %u\n",
			MAX_CONC, BENCH_WORDS_VOCAB);
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
	for (i = 0; i < o->conc; i++) {
		bh_conn_init(&h->conns[i], &h->loop,
			     &o->targets[i % o->n_targets]);
		h->conns[i].data = h;
	}
	for (i = 0; i < o->conc; i++)
		issue(h, &h->conns[i]);
	if (!h->failed)
		uv_run(&h->loop, UV_RUN_DEFAULT);
	if (!h->failed && h->answered == h->target) {
		bench_lat_sort(h->lat_us, h->nlat);
		report(h);
		status = 0;
	} else if (!h->failed) {
		fprintf(stderr, "confab-bench: search run stopped after %u "
				"answers\n",
			h->answered);
	}
	for (i = 0; i < o->conc; i++)
		bh_conn_close(&h->conns[i]);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	for (i = 0; i < o->conc; i++)
		bh_conn_release(&h->conns[i]);
	uv_loop_close(&h->loop);
	free(h->lat_us);
	free(h);
	return status;
}
