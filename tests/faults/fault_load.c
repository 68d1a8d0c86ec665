#include "config.h"

/* fault_load: see fault_load.h. */

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/cf_test_http.h"
#include "fault_load.h"

#define REQ_TIMEOUT_MS 5000
#define RETRY_PAUSE_MS 50

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void fault_load_cmid(const struct fl_ack *a, char out[32])
{
	snprintf(out, 32, "w%u-%u", a->worker, a->k);
}

size_t fault_load_acked(struct fault_load *l)
{
	size_t n;

	pthread_mutex_lock(&l->mu);
	n = l->n_acks;
	pthread_mutex_unlock(&l->mu);
	return n;
}

static void record(struct fault_load *l, const struct fl_ack *a, bool ws)
{
	uint64_t now;

	pthread_mutex_lock(&l->mu);
	now = mono_ns(); /* under the lock: last_ack_ns never passes it */
	if (l->n_acks == l->cap_acks) {
		size_t cap = l->cap_acks ? 2 * l->cap_acks : 4096;
		struct fl_ack *p = realloc(l->acks, cap * sizeof *p);

		if (p == NULL) {
			/* An ack we cannot keep is one we cannot check. */
			fprintf(stderr, "fault_load: out of memory\n");
			abort();
		}
		l->acks = p;
		l->cap_acks = cap;
	}
	l->acks[l->n_acks++] = *a;
	l->acked_ws += ws;
	if (now - l->last_ack_ns > l->max_gap_ns)
		l->max_gap_ns = now - l->last_ack_ns;
	l->last_ack_ns = now;
	pthread_mutex_unlock(&l->mu);
}

static void count(struct fault_load *l, uint64_t *what)
{
	pthread_mutex_lock(&l->mu);
	(*what)++;
	pthread_mutex_unlock(&l->mu);
}

/* The fields of an ack object (HTTP answer or WS `ack`) into *a. */
static bool parse_ack(json_t *j, struct fl_ack *a)
{
	json_t *seq = json_object_get(j, "seq");
	json_t *mid = json_object_get(j, "messageId");

	if (!json_is_integer(seq) || mid == NULL)
		return false;
	a->seq = json_integer_value(seq);
	if (json_is_string(mid))
		snprintf(a->mid, sizeof a->mid, "%s", json_string_value(mid));
	else
		snprintf(a->mid, sizeof a->mid, "%lld",
			 (long long)json_integer_value(mid));
	a->duplicate = json_is_true(json_object_get(j, "duplicate"));
	return true;
}

/*
 * One HTTP send attempt: 1 acked, 0 retry (no answer, 429, 5xx), -1
 * refused.
 */
static int http_try(struct fault_load *l, struct cf_http_conn *c,
		    const char *conv, const char *cmid, struct fl_ack *a)
{
	struct cf_http_resp r;
	char body[240];
	int rv, out = 0;

	snprintf(body, sizeof body,
		 "{\"conversationId\":\"%s\",\"clientMsgId\":\"%s\","
		 "\"content\":\"fault %s\"}",
		 conv, cmid, cmid);
	cf_http_resp_init(&r);
	if (l->token != NULL) {
		char hdr[1100];

		snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n",
			 l->token);
		rv = cf_http_request(c, "POST", "/v1/messages", hdr, body,
				     strlen(body), &r);
	} else {
		rv = cf_http_request_json(c, "POST", "/v1/messages", l->user,
					  body, &r);
	}
	if (rv == 0 && (r.status == 200 || r.status == 201)) {
		json_t *j = cf_http_resp_json(&r);

		out = j != NULL && parse_ack(j, a) ? 1 : -1;
	} else if (rv == 0 && r.status != 429 && r.status < 500) {
		fprintf(stderr, "fault_load: %s: %d %s\n", cmid, r.status,
			r.body != NULL ? r.body : "");
		out = -1;
	}
	cf_http_resp_release(&r);
	return out;
}

/* One WS send attempt, on a socket opened (again) as needed. */
static int ws_try(struct fault_load *l, struct cf_ws_client *w, bool *open,
		  unsigned node, unsigned wid, const char *conv,
		  const char *cmid, struct fl_ack *a)
{
	char frame[300], pq[1200];
	uint64_t deadline;
	int out = 0;

	if (!*open) {
		if (l->token != NULL)
			snprintf(pq, sizeof pq,
				 "/v1/ws?token=%s&deviceId=fault%u", l->token,
				 wid);
		else
			snprintf(pq, sizeof pq,
				 "/v1/ws?user=%s&deviceId=fault%u", l->user,
				 wid);
		if (cf_ws_connect(w, l->urls[node], pq, REQ_TIMEOUT_MS) != 0)
			return 0;
		*open = true;
	}
	snprintf(frame, sizeof frame,
		 "{\"type\":\"send\",\"id\":\"%s\",\"conversationId\":\"%s\","
		 "\"clientMsgId\":\"%s\",\"content\":\"fault %s\"}",
		 cmid, conv, cmid, cmid);
	if (cf_ws_send_text(w, frame) != 0)
		goto drop;
	deadline = mono_ns() + (uint64_t)REQ_TIMEOUT_MS * 1000000ull;
	while (mono_ns() < deadline) {
		json_t *j = NULL;
		const char *type, *id;

		if (cf_ws_recv_json(w, REQ_TIMEOUT_MS, &j) != 0)
			goto drop;
		type = json_string_value(json_object_get(j, "type"));
		id = json_string_value(json_object_get(j, "id"));
		if (type == NULL || id == NULL || strcmp(id, cmid) != 0) {
			json_decref(j); /* fan-out of the load: skipped */
			continue;
		}
		if (strcmp(type, "ack") == 0) {
			out = parse_ack(j, a) ? 1 : -1;
		} else {
			const char *code =
				json_string_value(json_object_get(j, "code"));

			if (code != NULL && (strcmp(code, "unavailable") == 0 ||
					     strcmp(code, "rate_limited") == 0 ||
					     strcmp(code, "insufficient_storage") ==
						     0))
				out = 0;
			else
				out = -1;
			if (out < 0)
				fprintf(stderr, "fault_load: %s: ws %s\n", cmid,
					code != NULL ? code : "?");
		}
		json_decref(j);
		return out;
	}
drop:
	cf_ws_close(w);
	*open = false;
	return 0;
}

static void *worker(void *arg)
{
	struct fl_worker *me = arg;
	struct fault_load *l = me->l;
	struct cf_http_conn conns[FL_MAX_NODES];
	struct cf_ws_client ws;
	bool ws_open = false;
	unsigned node = me->id % l->n_nodes, i;
	uint32_t k;

	memset(&ws, 0, sizeof ws);
	for (i = 0; i < l->n_nodes; i++)
		cf_http_conn_init(&conns[i], l->urls[i], REQ_TIMEOUT_MS);
	for (k = 0; !__atomic_load_n(&l->stop, __ATOMIC_RELAXED); k++) {
		struct fl_ack a = {0};
		char conv[64], cmid[32];
		uint64_t until = mono_ns() + (uint64_t)l->give_up_ms * 1000000ull;
		int rv = 0;

		a.worker = me->id;
		a.k = k;
		a.conv = (me->id + k * 7u) % l->convs;
		snprintf(conv, sizeof conv, "%s%u", l->prefix, a.conv);
		fault_load_cmid(&a, cmid);
		for (;;) {
			rv = me->ws ? ws_try(l, &ws, &ws_open, node, me->id,
					     conv, cmid, &a)
				    : http_try(l, &conns[node], conv, cmid,
					       &a);
			if (rv != 0 || mono_ns() > until)
				break;
			count(l, &l->retries);
			if (me->ws && ws_open) {
				cf_ws_close(&ws);
				ws_open = false;
			}
			node = (node + 1) % l->n_nodes;
			sleep_ms(RETRY_PAUSE_MS);
		}
		if (rv > 0) {
			record(l, &a, me->ws);
			/*
			 * Back to its own node: workers that moved on after a
			 * failure would otherwise gather on one node over the
			 * rounds, and a pause of that node would stop them all
			 * (their longest time without acks would be the
			 * request timeout, not the cluster's recovery).
			 */
			if (node != me->id % l->n_nodes) {
				if (me->ws && ws_open) {
					cf_ws_close(&ws);
					ws_open = false;
				}
				node = me->id % l->n_nodes;
			}
		}
		else if (rv < 0)
			count(l, &l->refused);
		else
			count(l, &l->abandoned);
		if (l->pace_ms > 0)
			sleep_ms(l->pace_ms);
	}
	if (ws_open)
		cf_ws_close(&ws);
	for (i = 0; i < l->n_nodes; i++)
		cf_http_conn_release(&conns[i]);
	return NULL;
}

int fault_load_start(struct fault_load *l)
{
	unsigned n = l->http_workers + l->ws_workers, i;
	int rv;

	if (n == 0 || n > FL_MAX_WORKERS || l->n_nodes == 0 ||
	    l->n_nodes > FL_MAX_NODES || l->convs == 0)
		return -EINVAL;
	if (l->give_up_ms == 0)
		l->give_up_ms = 60000;
	pthread_mutex_init(&l->mu, NULL);
	l->start_ns = l->last_ack_ns = mono_ns();
	for (i = 0; i < n; i++) {
		l->w[i].l = l;
		l->w[i].id = i;
		l->w[i].ws = i >= l->http_workers;
		rv = pthread_create(&l->w[i].th, NULL, worker, &l->w[i]);
		if (rv != 0) {
			fault_load_stop(l);
			return -rv;
		}
		l->w[i].started = true;
	}
	return 0;
}

void fault_load_stop(struct fault_load *l)
{
	unsigned i;

	__atomic_store_n(&l->stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < FL_MAX_WORKERS; i++) {
		if (l->w[i].started)
			pthread_join(l->w[i].th, NULL);
		l->w[i].started = false;
	}
}

void fault_load_release(struct fault_load *l)
{
	free(l->acks);
	l->acks = NULL;
	l->n_acks = l->cap_acks = 0;
	pthread_mutex_destroy(&l->mu);
}
