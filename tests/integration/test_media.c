#include "config.h"

/*
 * Media blobs (issue 4), end to end on one 3-node cluster of real confabd
 * processes: an upload through a follower is answered once stored, every
 * node serves the same bytes with their Content-Type, access is limited to
 * the uploader and members of a conversation whose message references the
 * blob (403 / 404 otherwise), the 16 MiB limit holds on /v1/media only,
 * and a node that was down during an upload fetches the blob from a peer.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

#define START_TIMEOUT_MS 30000

static struct cf_test_cluster cluster;
static int n_passed;

static int group_setup(void **state)
{
	(void)state;
	if (cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0) {
		cf_test_cluster_stop(&cluster);
		return -1;
	}
	return 0;
}

#define N_TESTS 4

static int group_teardown(void **state)
{
	(void)state;
	if (n_passed == N_TESTS)
		cf_test_cluster_pass(&cluster);
	cf_test_cluster_stop(&cluster);
	return 0;
}

/* Raw request on node as user; returns the HTTP status (r filled). */
static int raw(unsigned node, const char *method, const char *path,
	       const char *user, const char *ctype, const void *body,
	       size_t len, struct cf_http_resp *r)
{
	char h[256];
	int rv;

	snprintf(h, sizeof h, "X-Confab-User: %s\r\n%s%s%s", user,
		 ctype ? "Content-Type: " : "", ctype ? ctype : "",
		 ctype ? "\r\n" : "");
	cf_http_resp_init(r);
	rv = cf_http_request(&cluster.nodes[node].conn, method, path, h, body,
			     len, r);
	if (rv != 0) {
		cf_http_conn_drop(&cluster.nodes[node].conn);
		return rv;
	}
	return r->status;
}

static unsigned a_follower(void)
{
	int leader = cf_test_cluster_leader(&cluster, 10000);

	assert_true(leader > 0);
	return leader == 1 ? 2 : 1;
}

static char *pattern(size_t len, unsigned seed)
{
	char *p = malloc(len);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (char)x;
	}
	return p;
}

/* Upload len bytes through node as user; the mediaId into id. */
static void upload(unsigned node, const char *user, const char *mime,
		   const char *data, size_t len, char *id, size_t idsz)
{
	struct cf_http_resp r;
	json_t *j;

	assert_int_equal(
		raw(node, "POST", "/v1/media", user, mime, data, len, &r),
		200);
	j = cf_http_resp_json(&r);
	assert_non_null(j);
	assert_int_equal(cf_test_int(j, "size"), (long long)len);
	assert_string_equal(cf_test_str(j, "mime"), mime);
	assert_true(strlen(cf_test_str(j, "mediaId")) > 0);
	snprintf(id, idsz, "%s", cf_test_str(j, "mediaId"));
	cf_http_resp_release(&r);
}

/* GET /v1/media/id on node as user must answer status (and data if 200). */
static void fetch(unsigned node, const char *user, const char *id,
		  int status, const char *data, size_t len, const char *mime)
{
	struct cf_http_resp r;
	char path[128], ct[128];

	snprintf(path, sizeof path, "/v1/media/%s", id);
	assert_int_equal(raw(node, "GET", path, user, NULL, NULL, 0, &r),
			 status);
	if (status == 200) {
		assert_int_equal(r.body_len, len);
		assert_memory_equal(r.body, data, len);
		assert_int_equal(cf_http_resp_header(&r, "Content-Type", ct,
						     sizeof ct),
				 0);
		assert_string_equal(ct, mime);
	}
	cf_http_resp_release(&r);
}

static void upload_through_a_follower_is_served_by_every_node(void **state)
{
	size_t len = 3u << 20; /* several peer-link chunks */
	char *data = pattern(len, 1);
	char id[64];

	(void)state;
	upload(a_follower(), "md-u", "image/png", data, len, id, sizeof id);
	for (unsigned n = 1; n <= 3; n++)
		fetch(n, "md-u", id, 200, data, len, "image/png");
	free(data);
	n_passed++;
}

static void only_uploader_and_members_of_a_referencing_conv_may_read(
	void **state)
{
	char data[] = "%PDF-1.7 not really";
	char id[64], body[256];
	struct cf_http_resp r;
	uint64_t end;
	int st;

	(void)state;
	upload(3, "ac-a", "application/pdf", data, sizeof data, id,
	       sizeof id);
	fetch(1, "ac-b", id, 403, NULL, 0, NULL);
	fetch(2, "ac-a", "nosuchmedia", 404, NULL, 0, NULL);
	fetch(2, "ac-a", id, 200, data, sizeof data, "application/pdf");

	cf_test_create_group(&cluster, 1, "ac-a", "ac-g", "[\"ac-b\"]");
	snprintf(body, sizeof body,
		 "{\"conversationId\":\"ac-g\",\"clientMsgId\":\"f1\","
		 "\"msgType\":\"file\",\"content\":\"doc\","
		 "\"attachment\":{\"mediaId\":\"%s\",\"name\":\"a.pdf\"}}",
		 id);
	json_decref(cf_test_call(&cluster, 2, "POST", "/v1/messages", "ac-a",
				 body, &st));
	assert_true(st == 200 || st == 201);
	/* Every node learns the reference once it applied the message. */
	for (unsigned n = 1; n <= 3; n++) {
		char path[128];
		snprintf(path, sizeof path, "/v1/media/%s", id);
		end = cf_mono_ms() + 5000;
		for (;;) {
			st = raw(n, "GET", path, "ac-b", NULL, NULL, 0, &r);
			if (st == 200 || cf_mono_ms() > end)
				break;
			cf_http_resp_release(&r);
			cf_test_sleep_ms(50);
		}
		assert_int_equal(st, 200);
		assert_memory_equal(r.body, data, sizeof data);
		cf_http_resp_release(&r);
	}
	fetch(1, "ac-c", id, 403, NULL, 0, NULL);
	n_passed++;
}

static void the_size_limit_holds_on_media_only(void **state)
{
	size_t big = (16u << 20) + 1;
	char *data = pattern(big, 2);
	struct cf_http_resp r;
	char id[64];
	int st;

	(void)state;
	st = raw(1, "POST", "/v1/media", "lim-u", "image/jpeg", data, big,
		 &r);
	/* 413, or the server closed before the whole body went out. */
	assert_true(st == 413 || st < 0);
	cf_http_resp_release(&r);
	cf_http_conn_drop(&cluster.nodes[1].conn);
	/* 2 MiB: fine for media, over the 1 MiB limit of other routes. */
	upload(1, "lim-u", "image/jpeg", data, 2u << 20, id, sizeof id);
	fetch(3, "lim-u", id, 200, data, 2u << 20, "image/jpeg");
	st = raw(1, "POST", "/v1/messages", "lim-u", "application/json", data,
		 2u << 20, &r);
	assert_true(st == 413 || st < 0);
	cf_http_resp_release(&r);
	cf_http_conn_drop(&cluster.nodes[1].conn);
	st = raw(2, "POST", "/v1/media", "lim-u", "image/png", NULL, 0, &r);
	assert_int_equal(st, 400); /* an empty blob */
	cf_http_resp_release(&r);
	free(data);
	n_passed++;
}

static void a_node_that_missed_the_upload_fetches_it_from_a_peer(
	void **state)
{
	size_t len = (1u << 20) + 17;
	char *data = pattern(len, 3);
	unsigned down = a_follower();
	unsigned up = down == 1 ? 3 : 1;
	char id[64];

	(void)state;
	assert_int_equal(cf_test_cluster_kill(&cluster, down), 0);
	cf_http_conn_drop(&cluster.nodes[down].conn);
	upload(up, "mf-u", "audio/ogg", data, len, id, sizeof id);
	assert_int_equal(cf_test_cluster_restart(&cluster, down, 20000), 0);
	fetch(down, "mf-u", id, 200, data, len, "audio/ogg");
	/* Now stored there: still served with the peers' copies unused. */
	fetch(down, "mf-u", id, 200, data, len, "audio/ogg");
	fetch(down, "mf-x", id, 403, NULL, 0, NULL);
	free(data);
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			upload_through_a_follower_is_served_by_every_node),
		cmocka_unit_test(
			only_uploader_and_members_of_a_referencing_conv_may_read),
		cmocka_unit_test(the_size_limit_holds_on_media_only),
		cmocka_unit_test(
			a_node_that_missed_the_upload_fetches_it_from_a_peer),
	};

	assert_int_equal(sizeof tests / sizeof tests[0], N_TESTS);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
