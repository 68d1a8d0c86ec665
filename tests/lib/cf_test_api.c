#include "config.h"

/* cf_test_api: Confab API calls with assertions, for the integration tests. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <xxhash.h>

#include <cmocka.h>

#include "cf_test_api.h"
#include "common/cf_err.h"

#define HISTORY_RETRIES 60

void cf_test_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A messageId (string, or integer from an older node) as text. */
const char *cf_test_id_text(json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, size, "?");
	return buf;
}

long long cf_test_int(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

const char *cf_test_str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : "";
}

/*
 * One request on the main thread; returns the JSON answer (new reference,
 * or NULL) and the status (or a negative code) in *status.
 */
json_t *cf_test_call(struct cf_test_cluster *c, unsigned node,
		    const char *method, const char *path, const char *user,
		    const char *body, int *status)
{
	struct cf_http_resp r;
	json_t *j = NULL;
	int rv;

	cf_http_resp_init(&r);
	rv = cf_test_cluster_http(c, node, method, path, user, body, &r);
	*status = rv != 0 ? rv : r.status;
	if (rv == 0 && cf_http_resp_json(&r) != NULL)
		j = json_incref(cf_http_resp_json(&r));
	if (rv != 0 || r.status >= 300)
		print_message("# %s %s on n%u: %d %s\n", method, path, node,
			      *status, r.body ? r.body : cf_strerror(rv));
	cf_http_resp_release(&r);
	return j;
}

json_t *cf_test_expect(struct cf_test_cluster *c, unsigned node,
		       const char *method, const char *path, const char *user,
		       const char *body, int want)
{
	int st;
	json_t *j = cf_test_call(c, node, method, path, user, body, &st);

	if (st != want)
		fail_msg("%s %s as %s on n%u: %d, expected %d", method, path,
			 user != NULL ? user : "-", node, st, want);
	return j;
}

void cf_test_create_group(struct cf_test_cluster *c, unsigned node,
			 const char *owner, const char *id,
			 const char *members_json)
{
	char body[512];
	json_t *j;
	int st;

	snprintf(body, sizeof body,
		 "{\"type\":\"group\",\"members\":%s,\"title\":\"t %s\","
		 "\"conversationId\":\"%s\"}",
		 members_json, id, id);
	j = cf_test_call(c, node, "POST", "/v1/conversations", owner, body, &st);
	assert_int_equal(st, 201);
	assert_non_null(j);
	assert_string_equal(cf_test_str(j, "conversationId"), id);
	assert_string_equal(cf_test_str(j, "owner"), owner);
	json_decref(j);
}

/* Send one message; returns the status; fills *a on success. */
int cf_test_send(struct cf_test_cluster *c, unsigned node,
		    const char *user, const char *conv, const char *cmid,
		    const char *content, struct cf_test_ack *a)
{
	char body[1024];
	json_t *j;
	int st;

	snprintf(body, sizeof body,
		 "{\"conversationId\":\"%s\",\"clientMsgId\":\"%s\","
		 "\"msgType\":\"text\",\"content\":\"%s\"}",
		 conv, cmid, content);
	j = cf_test_call(c, node, "POST", "/v1/messages", user, body, &st);
	if (j != NULL && st >= 200 && st < 300) {
		assert_string_equal(cf_test_str(j, "status"), "sent");
		assert_string_equal(cf_test_str(j, "conversationId"), conv);
		a->seq = cf_test_int(j, "seq");
		cf_test_id_text(json_object_get(j, "messageId"), a->mid,
			sizeof a->mid);
		a->duplicate = json_is_true(json_object_get(j, "duplicate"));
		assert_true(json_is_boolean(json_object_get(j, "duplicate")));
	}
	json_decref(j);
	return st;
}

/*
 * The whole history of conv read through node with consistent=1, as a
 * JSON array of message objects (new reference). Retries 503 and
 * transport errors a bounded number of times.
 */
json_t *cf_test_history(struct cf_test_cluster *c, unsigned node,
			    const char *user, const char *conv)
{
	json_t *all = json_array(), *j, *msgs, *m;
	char path[256];
	long long from = 1;
	int st, tries = 0;
	size_t i;

	for (int page = 0; page < 1000; page++) {
		snprintf(path, sizeof path,
			 "/v1/conversations/%s/messages?fromSeq=%lld&limit=200"
			 "&consistent=1",
			 conv, from);
		j = cf_test_call(c, node, "GET", path, user, NULL, &st);
		if (st != 200) {
			json_decref(j);
			assert_true(++tries < HISTORY_RETRIES);
			cf_test_sleep_ms(200);
			page--;
			continue;
		}
		msgs = json_object_get(j, "messages");
		assert_true(json_is_array(msgs));
		json_array_foreach(msgs, i, m)
		{
			json_array_append(all, m);
			from = cf_test_int(m, "seq") + 1;
		}
		if (!json_is_true(json_object_get(j, "hasMore"))) {
			json_decref(j);
			return all;
		}
		assert_true(json_array_size(msgs) > 0);
		json_decref(j);
	}
	fail_msg("history of %s on n%u does not end", conv, node);
	return NULL;
}

uint64_t cf_test_digest(json_t *hist)
{
	XXH3_state_t *st = XXH3_createState();
	char buf[64];
	const char *s;
	uint64_t d;
	json_t *m;
	size_t i;

	assert_non_null(st);
	XXH3_64bits_reset(st);
	json_array_foreach(hist, i, m)
	{
		snprintf(buf, sizeof buf, "%lld", cf_test_int(m, "seq"));
		XXH3_64bits_update(st, buf, strlen(buf) + 1);
		cf_test_id_text(json_object_get(m, "messageId"), buf, sizeof buf);
		XXH3_64bits_update(st, buf, strlen(buf) + 1);
		s = cf_test_str(m, "senderId");
		XXH3_64bits_update(st, s, strlen(s) + 1);
		s = cf_test_str(m, "clientMsgId");
		XXH3_64bits_update(st, s, strlen(s) + 1);
		s = cf_test_str(m, "content");
		XXH3_64bits_update(st, s, strlen(s) + 1);
	}
	d = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return d;
}

/* Seqs are exactly 1..N in order; no (sender, clientMsgId) twice. */
void cf_test_assert_history(json_t *hist)
{
	char key[300], *keys;
	size_t i, n = json_array_size(hist);
	json_t *m;

	keys = calloc(n ? n : 1, sizeof key);
	assert_non_null(keys);
	json_array_foreach(hist, i, m)
	{
		assert_int_equal(cf_test_int(m, "seq"), (long long)i + 1);
		snprintf(key, sizeof key, "%s/%s", cf_test_str(m, "senderId"),
			 cf_test_str(m, "clientMsgId"));
		for (size_t k = 0; k < i; k++) {
			if (strcmp(keys + k * sizeof key, key) == 0)
				fail_msg("%s stored twice", key);
		}
		memcpy(keys + i * sizeof key, key, sizeof key);
	}
	free(keys);
}

/* The digest of conv is the same on all three nodes; returns it. */
uint64_t cf_test_assert_same(struct cf_test_cluster *c,
				       const char *user, const char *conv,
				       size_t expect_n)
{
	uint64_t d[4];
	json_t *h;

	for (unsigned n = 1; n <= 3; n++) {
		h = cf_test_history(c, n, user, conv);
		cf_test_assert_history(h);
		if (expect_n > 0)
			assert_int_equal(json_array_size(h), expect_n);
		d[n] = cf_test_digest(h);
		print_message("# %s on n%u: %zu messages, digest %016llx\n",
			      conv, n, json_array_size(h),
			      (unsigned long long)d[n]);
		json_decref(h);
	}
	assert_true(d[1] == d[2]);
	assert_true(d[1] == d[3]);
	return d[1];
}

int cf_test_ctl(const char *args, char *out, size_t size)
{
	const char *bd = getenv("CONFAB_BUILDDIR");
	char cmd[4096];
	FILE *p;
	size_t n = 0, got;
	int st;

	snprintf(cmd, sizeof cmd, "'%s/confabctl' %s 2>&1",
		 bd != NULL && *bd ? bd : ".", args);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < size && (got = fread(out + n, 1, size - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	st = pclose(p);
	assert_true(WIFEXITED(st));
	/* As TAP comments: "# " before every line, long ones in pieces. */
	print_message("# confabctl %s -> %d\n", args, WEXITSTATUS(st));
	for (char *l = out, *e; *l != '\0'; l = e + (*e != '\0')) {
		e = l + strcspn(l, "\n");
		for (char *q = l; q < e; q += 200)
			print_message("#   %.*s\n",
				      (int)(e - q < 200 ? e - q : 200), q);
	}
	return WEXITSTATUS(st);
}

double cf_test_metric_in(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

double cf_test_metric(struct cf_test_cluster *c, unsigned node,
		      const char *series)
{
	struct cf_http_resp r;
	double v = -1;

	cf_http_resp_init(&r);
	if (cf_http_request(&c->nodes[node].conn, "GET", "/metrics", NULL,
			    NULL, 0, &r) == 0 &&
	    r.status == 200)
		v = cf_test_metric_in(r.body, series);
	cf_http_resp_release(&r);
	return v;
}
