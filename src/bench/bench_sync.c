#include "config.h"

/*
 * bench_sync: see bench_sync.h.
 *
 * Run (user U = --user, or "y<run>" by default; sender S = "s<run>"):
 *  1. S creates K groups "sync-<run>-<k>" with member U (POST
 *     /v1/conversations on the first node, one after another).
 *  2. U's cursor: GET /v1/sync?limit=500 as U on the first node, paged
 *     until hasMore is false (a fresh U has only the K conversations; an
 *     existing --user reads its whole inbox once here, untimed).
 *  3. Offline fill: S sends N messages of --size bytes, message i to group
 *     i mod K, over --concurrency connections round robin over the nodes,
 *     each with one request in flight. Timed apart ("fill_s").
 *  4. Catch-up, timed: a new connection to the first node (a reconnect)
 *     asks GET /v1/sync?cursor=C&limit=L as U, and again from each answer's
 *     cursor while hasMore is true. Should the pages end (hasMore false)
 *     before the N messages arrived (the node has not applied the last
 *     commits yet: a follower learns a commit one heartbeat later), the
 *     next request adds wait=5 (long poll: answered as soon as an item
 *     arrives). The catch-up ends with the N messages, or after 60 s.
 *     The CPU of --pid and of the bench is read at its two ends.
 *
 * Output (one JSON line):
 *   {"mode":"sync","messages":N,"expected":N,"missing":N,"items":N,
 *    "pages":N,"waits":N,"bytes":N,"limit":L,"conversations":K,
 *    "catchup_ms":X,"msgs_s":X,"ops_s":X,"p50_ms":X,"p99_ms":X,
 *    "conc":1,"errors":N,"total":N,"fill_s":X,"fill_ops_s":X,
 *    "client_cpu_s":X[,"server_cpu_s":X,"server_cpu_us_per_ack":X]}
 *   messages   `message` items of the N received in the catch-up (counted
 *              once per clientMsgId); items: every item (conversation
 *              changes too); pages: sync answers; waits: of them, long
 *              polls; bytes: their body bytes
 *   catchup_ms from the reconnect's first request to the last page
 *   msgs_s = ops_s: messages / catch-up seconds; p50/p99: page latency
 *   total: pages; errors: non-2xx answers (sends and pages)
 *   server_cpu_us_per_ack: the servers' CPU in the catch-up per message
 *              caught up (the "ack" of this mode)
 */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_lat.h"
#include "bench/bench_sync.h"
#include "common/cf_buf.h"
#include "common/cf_time.h"

#define MAX_CONC 256
#define WAIT_S 5
#define CATCHUP_MS 60000

enum yphase { Y_CREATE, Y_CURSOR, Y_FILL, Y_CATCHUP, Y_DONE };

struct ysync {
	const struct bsync_opts *o;
	uv_loop_t loop;
	enum yphase phase;
	int failed;
	char user[136], sender[48];
	struct bh_conn ctl, pull, snd[MAX_CONC];
	struct cf_buf body;
	char *content;
	char cursor[256], path[512];
	unsigned created, issued, answered;
	uint64_t errors, items, pages, waits, bytes, fill_ok;
	uint64_t fill_t0, fill_t1, t0, t1, page_t0;
	uint8_t *seen; /* per message index: received in the catch-up */
	uint64_t messages;
	struct bench_lat lat;
	uv_timer_t timer, progress_timer;
	struct bench_progress prog;
};

static void oom(void)
{
	fprintf(stderr, "confab-bench: out of memory\n");
	exit(1);
}

static void fail(struct ysync *y, const char *what, int status,
		 const char *body, size_t len)
{
	fprintf(stderr, "confab-bench: --sync: %s: status %d %.*s\n", what,
		status, (int)(len > 300 ? 300 : len), body != NULL ? body : "");
	y->failed = 1;
	y->phase = Y_DONE;
	uv_stop(&y->loop);
}

static void finish(struct ysync *y)
{
	y->t1 = cf_mono_ns();
	bench_cpu_end(y->o->cpu);
	y->phase = Y_DONE;
	uv_stop(&y->loop);
}

static void request_page(struct ysync *y, int wait);

/*
 * One sync answer: count its items, take its cursor. Returns 1 when more
 * pages follow (hasMore), 0 when not, -1 when it does not parse.
 */
static int read_page(struct ysync *y, const char *body, size_t len)
{
	json_t *j, *items, *e;
	const char *cur, *cmid;
	size_t i, pl;
	unsigned long k;
	char *end;
	int more;

	j = json_loadb(body, len, 0, NULL);
	items = json_object_get(j, "items");
	cur = json_string_value(json_object_get(j, "cursor"));
	if (!json_is_array(items) || cur == NULL ||
	    strlen(cur) >= sizeof y->cursor) {
		json_decref(j);
		return -1;
	}
	pl = strlen(y->o->run_id) + 2; /* "y" run "-" */
	json_array_foreach(items, i, e) {
		y->items++;
		if (y->phase != Y_CATCHUP)
			continue;
		cmid = json_string_value(json_object_get(e, "clientMsgId"));
		if (cmid == NULL || strlen(cmid) <= pl || cmid[0] != 'y' ||
		    strncmp(cmid + 1, y->o->run_id, pl - 2) != 0 ||
		    cmid[pl - 1] != '-')
			continue;
		k = strtoul(cmid + pl, &end, 10);
		if (*end == '\0' && k < y->o->messages && !y->seen[k]) {
			y->seen[k] = 1;
			y->messages++;
		}
	}
	snprintf(y->cursor, sizeof y->cursor, "%s", cur);
	more = json_is_true(json_object_get(j, "hasMore"));
	json_decref(j);
	return more;
}

static void send_next(struct ysync *y, struct bh_conn *c);

static void page_done(struct bh_conn *c, int status, const char *body,
		      size_t len)
{
	struct ysync *y = c->data;
	int more;

	if (status != 200) {
		if (y->phase == Y_CURSOR) {
			fail(y, "reading the first cursor", status, body, len);
			return;
		}
		y->errors++;
		fprintf(stderr, "confab-bench: sync page: status %d\n", status);
		finish(y);
		return;
	}
	more = read_page(y, body, len);
	if (more < 0) {
		fail(y, "a sync answer without items or cursor", status, body,
		     len);
		return;
	}
	if (y->phase == Y_CURSOR) {
		if (more) {
			request_page(y, 0);
			return;
		}
		/* U is now "offline": fill. */
		y->phase = Y_FILL;
		y->fill_t0 = cf_mono_ns();
		for (unsigned i = 0; i < y->o->conc; i++)
			send_next(y, &y->snd[i]);
		return;
	}
	y->pages++;
	y->bytes += len;
	if (bench_lat_push(&y->lat, (cf_mono_ns() - y->page_t0) / 1000) != 0)
		oom();
	if (y->messages == y->o->messages) {
		finish(y);
		return;
	}
	request_page(y, !more);
}

static void request_page(struct ysync *y, int wait)
{
	struct bh_conn *c = y->phase == Y_CURSOR ? &y->ctl : &y->pull;
	int n;

	if (y->cursor[0] != '\0')
		n = snprintf(y->path, sizeof y->path,
			     "/v1/sync?cursor=%s&limit=%u%s", y->cursor,
			     y->phase == Y_CURSOR ? 500 : y->o->limit,
			     wait ? "&wait=5" : "");
	else
		n = snprintf(y->path, sizeof y->path, "/v1/sync?limit=%u",
			     y->phase == Y_CURSOR ? 500 : y->o->limit);
	if (n < 0 || (size_t)n >= sizeof y->path)
		oom();
	y->waits += wait;
	c->data = y;
	y->page_t0 = cf_mono_ns();
	if (bh_conn_request(c, "GET", y->path, y->user, NULL, 0,
			    page_done) != 0)
		oom();
}

static void timer_cb(uv_timer_t *t)
{
	struct ysync *y = t->data;

	fprintf(stderr, "confab-bench: sync: %llu of %u messages after %d "
			"s: stopped\n",
		(unsigned long long)y->messages, y->o->messages,
		CATCHUP_MS / 1000);
	finish(y);
}

static void progress_cb(uv_timer_t *t)
{
	struct ysync *y = t->data;

	bench_progress_tick(&y->prog, cf_mono_ns(),
			    y->phase == Y_CATCHUP ? "messages caught up"
						  : "sends",
			    y->phase == Y_CATCHUP ? y->messages : y->fill_ok);
}

static void send_done(struct bh_conn *c, int status, const char *body,
		      size_t len)
{
	struct ysync *y = c->data;

	y->answered++;
	if (status >= 200 && status < 300) {
		y->fill_ok++;
	} else {
		if (y->errors < 5)
			fprintf(stderr, "confab-bench: send: status %d %.*s\n",
				status, (int)(len > 200 ? 200 : len),
				body != NULL ? body : "");
		y->errors++;
	}
	if (y->issued < y->o->messages) {
		send_next(y, c);
		return;
	}
	if (y->answered < y->o->messages)
		return;
	/* All answered: U reconnects. */
	y->fill_t1 = cf_mono_ns();
	y->phase = Y_CATCHUP;
	bench_progress_init(&y->prog, cf_mono_ns(), 11);
	bench_cpu_begin(y->o->cpu);
	y->t0 = cf_mono_ns();
	uv_timer_start(&y->timer, timer_cb, CATCHUP_MS, 0);
	request_page(y, 0);
}

static void send_next(struct ysync *y, struct bh_conn *c)
{
	unsigned k;

	if (y->issued == y->o->messages)
		return;
	k = y->issued++;
	cf_buf_truncate(&y->body, 0);
	if (cf_buf_appendf(&y->body,
			   "{\"conversationId\":\"sync-%s-%u\",\"clientMsgId\":"
			   "\"y%s-%u\",\"msgType\":\"text\",\"content\":\"%s\"}",
			   y->o->run_id, k % y->o->convs, y->o->run_id, k,
			   y->content) != 0)
		oom();
	c->data = y;
	if (bh_conn_request(c, "POST", "/v1/messages", y->sender,
			    y->body.data, y->body.len, send_done) != 0)
		oom();
}

static void create_next(struct ysync *y);

static void create_done(struct bh_conn *c, int status, const char *body,
			size_t len)
{
	struct ysync *y = c->data;

	if (status != 200 && status != 201) {
		fail(y, "creating a conversation", status, body, len);
		return;
	}
	if (++y->created < y->o->convs) {
		create_next(y);
		return;
	}
	y->phase = Y_CURSOR;
	request_page(y, 0);
}

static void create_next(struct ysync *y)
{
	cf_buf_truncate(&y->body, 0);
	if (cf_buf_appendf(&y->body,
			   "{\"type\":\"group\",\"members\":[\"%s\"],"
			   "\"title\":\"sync\",\"conversationId\":"
			   "\"sync-%s-%u\"}",
			   y->user, y->o->run_id, y->created) != 0)
		oom();
	y->ctl.data = y;
	if (bh_conn_request(&y->ctl, "POST", "/v1/conversations", y->sender,
			    y->body.data, y->body.len, create_done) != 0)
		oom();
}

static void report(struct ysync *y)
{
	double cs = (double)(y->t1 - y->t0) / 1e9;
	double fs = (double)(y->fill_t1 - y->fill_t0) / 1e9;
	double rate = cs > 0 ? (double)y->messages / cs : 0;
	double p50, p99;

	bench_lat_sort(y->lat.v, y->lat.n);
	p50 = bench_lat_pct(y->lat.v, y->lat.n, 50);
	p99 = bench_lat_pct(y->lat.v, y->lat.n, 99);
	printf("{\"mode\":\"sync\",\"messages\":%llu,\"expected\":%u,"
	       "\"missing\":%llu,\"items\":%llu,\"pages\":%llu,\"waits\":%llu,"
	       "\"bytes\":%llu,\"limit\":%u,\"conversations\":%u,"
	       "\"catchup_ms\":%.3f,\"msgs_s\":%.1f,\"ops_s\":%.1f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"conc\":1,\"errors\":%llu,"
	       "\"total\":%llu,\"fill_s\":%.3f,\"fill_ops_s\":%.1f,",
	       (unsigned long long)y->messages, y->o->messages,
	       (unsigned long long)(y->o->messages - y->messages),
	       (unsigned long long)y->items, (unsigned long long)y->pages,
	       (unsigned long long)y->waits, (unsigned long long)y->bytes,
	       y->o->limit, y->o->convs, cs * 1000, rate, rate, p50, p99,
	       (unsigned long long)y->errors, (unsigned long long)y->pages, fs,
	       fs > 0 ? (double)y->fill_ok / fs : 0);
	bench_cpu_json(y->o->cpu, stdout, y->messages, 0);
	printf("}\n");
	fflush(stdout);
	fprintf(stderr,
		"confab-bench: sync: %s caught up %llu of %u messages in %.1f "
		"ms (%.0f msg/s), %llu pages of up to %u (%llu long polls), "
		"%llu bytes; page p50 %.2f ms p99 %.2f ms; filled at %.0f "
		"sends/s\n",
		y->user, (unsigned long long)y->messages, y->o->messages,
		cs * 1000, rate, (unsigned long long)y->pages, y->o->limit,
		(unsigned long long)y->waits, (unsigned long long)y->bytes, p50,
		p99, fs > 0 ? (double)y->fill_ok / fs : 0);
}

int bench_sync_run(const struct bsync_opts *o)
{
	struct ysync *y;
	unsigned i;
	int rv;

	if (o->conc == 0 || o->conc > MAX_CONC || o->convs == 0 ||
	    o->limit == 0 || o->limit > 500) {
		fprintf(stderr, "confab-bench: --sync needs 1..%d connections "
				"and --limit 1..500\n",
			MAX_CONC);
		return 2;
	}
	y = calloc(1, sizeof *y);
	if (y == NULL)
		oom();
	y->o = o;
	if (o->user != NULL)
		snprintf(y->user, sizeof y->user, "%s", o->user);
	else
		snprintf(y->user, sizeof y->user, "y%s", o->run_id);
	snprintf(y->sender, sizeof y->sender, "s%s", o->run_id);
	y->seen = calloc(o->messages, 1);
	y->content = malloc(o->size + 1);
	if (y->seen == NULL || y->content == NULL)
		oom();
	for (i = 0; i < o->size; i++)
		y->content[i] = (char)('a' + i % 26);
	y->content[o->size] = '\0';
	cf_buf_init(&y->body);
	rv = uv_loop_init(&y->loop);
	if (rv != 0) {
		fprintf(stderr, "confab-bench: %s\n", uv_strerror(rv));
		return 1;
	}
	uv_timer_init(&y->loop, &y->timer);
	uv_timer_init(&y->loop, &y->progress_timer);
	y->timer.data = y;
	y->progress_timer.data = y;
	bench_progress_init(&y->prog, cf_mono_ns(),
			    o->messages > 20000 ? 11 : 0);
	uv_timer_start(&y->progress_timer, progress_cb, 1000, 1000);
	bh_conn_init(&y->ctl, &y->loop, &o->targets[0]);
	bh_conn_init(&y->pull, &y->loop, &o->targets[0]);
	for (i = 0; i < o->conc; i++)
		bh_conn_init(&y->snd[i], &y->loop,
			     &o->targets[i % o->n_targets]);
	y->phase = Y_CREATE;
	create_next(y);
	uv_run(&y->loop, UV_RUN_DEFAULT);
	if (!y->failed)
		report(y);
	bh_conn_close(&y->ctl);
	bh_conn_close(&y->pull);
	for (i = 0; i < o->conc; i++)
		bh_conn_close(&y->snd[i]);
	uv_close((uv_handle_t *)&y->timer, NULL);
	uv_close((uv_handle_t *)&y->progress_timer, NULL);
	uv_run(&y->loop, UV_RUN_DEFAULT);
	rv = uv_loop_close(&y->loop);
	if (rv != 0)
		fprintf(stderr, "confab-bench: loop close: %s\n",
			uv_strerror(rv));
	rv = y->failed ? 1 : 0;
	bh_conn_release(&y->ctl);
	bh_conn_release(&y->pull);
	for (i = 0; i < o->conc; i++)
		bh_conn_release(&y->snd[i]);
	cf_buf_release(&y->body);
	free(y->lat.v);
	free(y->seen);
	free(y->content);
	free(y);
	return rv;
}
