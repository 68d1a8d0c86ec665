#include "config.h"

/*
 * Media blobs (issue 4), end to end on one 3-node cluster of real confabd
 * processes: an upload through a follower is answered once stored, every
 * node serves the same bytes with their Content-Type, access is limited to
 * the uploader and members of a conversation whose message references the
 * blob (403 / 404 otherwise), the 16 MiB limit holds on /v1/media only,
 * and a node that was down during an upload fetches the blob from a peer.
 * Push: the cluster runs with --push-webhook pointing at a tiny HTTP server
 * of this program, which must receive a body for the offline member only.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/cf_test_api.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "log/log_store.h"

#define START_TIMEOUT_MS 30000

static struct cf_test_cluster cluster;
static int n_passed;

/* ---- the webhook: one thread, one request per connection ---- */

static int hook_fd = -1;
static pthread_mutex_t hook_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *hook_bodies; /* array of the JSON bodies received */

static void *hook_main(void *arg)
{
	(void)arg;
	for (;;) {
		char buf[65536];
		size_t n = 0;
		long clen = -1;
		char *hdr_end = NULL;
		int fd = accept(hook_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		for (;;) {
			ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
			if (k <= 0)
				break;
			n += (size_t)k;
			buf[n] = '\0';
			if (hdr_end == NULL &&
			    (hdr_end = strstr(buf, "\r\n\r\n")) != NULL) {
				char *cl = strcasestr(buf, "Content-Length:");
				clen = cl ? strtol(cl + 15, NULL, 10) : 0;
			}
			if (hdr_end != NULL &&
			    (long)(n - (size_t)(hdr_end + 4 - buf)) >= clen)
				break;
		}
		if (hdr_end != NULL && strncmp(buf, "POST /hook ", 11) == 0) {
			json_error_t je;
			json_t *o = json_loads(hdr_end + 4, 0, &je);
			pthread_mutex_lock(&hook_mu);
			if (o != NULL)
				json_array_append_new(hook_bodies, o);
			pthread_mutex_unlock(&hook_mu);
		}
		dprintf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
			    "Connection: close\r\n\r\n");
		close(fd);
	}
}

static int hook_start(void)
{
	static char args[128];
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	pthread_t t;

	hook_bodies = json_array();
	hook_fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (hook_fd < 0 || bind(hook_fd, (struct sockaddr *)&a, sizeof a) ||
	    listen(hook_fd, 64) ||
	    getsockname(hook_fd, (struct sockaddr *)&a, &al) ||
	    pthread_create(&t, NULL, hook_main, NULL))
		return -1;
	pthread_detach(t);
	snprintf(args, sizeof args, "--push-webhook http://127.0.0.1:%u/hook",
		 (unsigned)ntohs(a.sin_port));
	setenv("CONFAB_IT_ARGS", args, 1);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	if (hook_start() != 0)
		return -1;
	/* A failed start stops what it started. */
	return cf_test_cluster_start(&cluster, 3, START_TIMEOUT_MS) != 0 ? -1 : 0;
}

#define N_TESTS 9

static int group_teardown(void **state)
{
	(void)state;
	cf_test_cluster_end(&cluster, n_passed == N_TESTS);
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

/* POST a file message with mediaId into conv as user; the status. */
static int attach(unsigned node, const char *user, const char *conv,
		  const char *cmid, const char *id)
{
	char body[256];
	int st;

	snprintf(body, sizeof body,
		 "{\"conversationId\":\"%s\",\"clientMsgId\":\"%s\","
		 "\"msgType\":\"file\",\"content\":\"x\","
		 "\"attachment\":{\"mediaId\":\"%s\"}}",
		 conv, cmid, id);
	json_decref(cf_test_call(&cluster, node, "POST", "/v1/messages", user,
				 body, &st));
	return st;
}

/*
 * A mediaId is no key: only its uploader and the current members of a
 * conversation that has it may attach it elsewhere (checked at apply). An
 * outsider who learned the id, or a member removed from the only
 * conversation that had it, cannot attach it to read the blob.
 */
static void only_uploader_or_members_who_have_it_may_attach_media(
	void **state)
{
	char data[] = "GIF89a not really";
	char id[64];

	(void)state;
	upload(1, "at-a", "image/gif", data, sizeof data, id, sizeof id);
	cf_test_create_group(&cluster, 1, "at-a", "at-g", "[\"at-b\"]");
	cf_test_create_group(&cluster, 2, "at-c", "at-x", "[\"at-d\"]");
	cf_test_create_group(&cluster, 3, "at-e", "at-y", "[\"at-b\"]");
	/* an outsider, an unknown id: refused alike */
	assert_int_equal(attach(2, "at-c", "at-x", "x1", id), 403);
	assert_int_equal(attach(2, "at-c", "at-x", "x2", "nosuchmedia"), 403);
	fetch(2, "at-c", id, 403, NULL, 0, NULL);
	/* the uploader shares it; a member passes it on */
	assert_int_equal(attach(3, "at-a", "at-g", "a1", id), 201);
	assert_int_equal(attach(1, "at-b", "at-y", "b1", id), 201);
	fetch(3, "at-e", id, 200, data, sizeof data, "image/gif");
	/* removed from every conversation that has it: no more */
	json_decref(cf_test_expect(&cluster, 1, "POST",
				   "/v1/conversations/at-g/members", "at-a",
				   "{\"remove\":[\"at-b\"]}", 200));
	json_decref(cf_test_expect(&cluster, 3, "POST",
				   "/v1/conversations/at-y/members", "at-b",
				   "{\"remove\":[\"at-b\"]}", 200));
	cf_test_create_group(&cluster, 2, "at-b", "at-z", "[\"at-f\"]");
	assert_int_equal(attach(2, "at-b", "at-z", "b2", id), 403);
	fetch(2, "at-f", id, 403, NULL, 0, NULL);
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

/* Send a file message referencing id in conv; its seq. */
static long long send_file(const char *user, const char *conv,
			   const char *cmid, const char *id)
{
	char body[256];
	json_t *j;
	long long seq;
	int st;

	snprintf(body, sizeof body,
		 "{\"conversationId\":\"%s\",\"clientMsgId\":\"%s\","
		 "\"msgType\":\"image\",\"content\":\"pic\","
		 "\"attachment\":{\"mediaId\":\"%s\",\"name\":\"a.png\"}}",
		 conv, cmid, id);
	j = cf_test_call(&cluster, 1, "POST", "/v1/messages", user, body, &st);
	assert_true(st == 200 || st == 201);
	seq = cf_test_int(j, "seq");
	json_decref(j);
	return seq;
}

static void a_blob_all_of_whose_messages_are_recalled_is_erased(void **state)
{
	char data[] = "\x89PNG not really, erase me";
	char id[64], path[PATH_MAX + 128], del[128];
	long long s1, s2;

	(void)state;
	upload(2, "er-a", "image/png", data, sizeof data, id, sizeof id);
	cf_test_create_group(&cluster, 1, "er-a", "er-g", "[\"er-b\"]");
	s1 = send_file("er-a", "er-g", "e1", id);
	s2 = send_file("er-a", "er-g", "e2", id);
	for (unsigned n = 1; n <= 3; n++)
		fetch(n, "er-b", id, 200, data, sizeof data, "image/png");
	/* One message still references it: still there. */
	snprintf(del, sizeof del, "/v1/conversations/er-g/messages/%lld", s1);
	json_decref(cf_test_expect(&cluster, 1, "DELETE", del, "er-a", NULL,
				   200));
	for (unsigned n = 1; n <= 3; n++)
		fetch(n, "er-b", id, 200, data, sizeof data, "image/png");
	snprintf(del, sizeof del, "/v1/conversations/er-g/messages/%lld", s2);
	json_decref(cf_test_expect(&cluster, 1, "DELETE", del, "er-a", NULL,
				   200));
	/* Every node, once it applied the recall: gone, file and all. */
	for (unsigned n = 1; n <= 3; n++) {
		json_decref(cf_test_expect(&cluster, n, "GET",
					   "/v1/conversations/er-g/messages?"
					   "consistent=1&limit=1",
					   "er-a", NULL, 200));
		fetch(n, "er-a", id, 404, NULL, 0, NULL);
		snprintf(path, sizeof path, "%s/media/%s",
			 cluster.nodes[n].data_dir, id);
		assert_int_equal(access(path, F_OK), -1);
	}
	n_passed++;
}

/* Bodies received for conv so far (a new array; caller decrefs). */
static json_t *hook_for(const char *conv)
{
	json_t *out = json_array();
	size_t i;
	json_t *o;

	pthread_mutex_lock(&hook_mu);
	json_array_foreach(hook_bodies, i, o)
		if (strcmp(cf_test_str(o, "conversationId"), conv) == 0)
			json_array_append(out, o);
	pthread_mutex_unlock(&hook_mu);
	return out;
}

static void push_reaches_only_members_without_a_socket(void **state)
{
	struct cf_ws_client b2;
	char content[160], preview[101];
	struct cf_test_ack a;
	struct cf_http_resp r;
	uint64_t end;
	json_t *got, *o;
	int leader, st;

	(void)state;
	assert_int_equal(cf_ws_connect(&b2, cluster.nodes[2].url,
				       "/v1/ws?user=pu-b&deviceId=d2", 5000),
			 0);
	cf_test_create_group(&cluster, 1, "pu-a", "pu-g",
			     "[\"pu-b\",\"pu-c\"]");
	/* Let every node learn of pu-b's socket (reports every second). */
	cf_test_sleep_ms(1500);
	for (int i = 0; i < 150; i++)
		content[i] = (char)('a' + i % 26);
	content[150] = '\0';
	memcpy(preview, content, 100);
	preview[100] = '\0';
	st = cf_test_send(&cluster, 3, "pu-a", "pu-g", "p1", content, &a);
	assert_true(st == 200 || st == 201);
	end = cf_mono_ms() + 8000;
	for (;;) {
		got = hook_for("pu-g");
		if (json_array_size(got) >= 1 || cf_mono_ms() > end)
			break;
		json_decref(got);
		cf_test_sleep_ms(50);
	}
	/* A little longer: nothing more may come. */
	cf_test_sleep_ms(700);
	json_decref(got);
	got = hook_for("pu-g");
	assert_int_equal(json_array_size(got), 1);
	o = json_array_get(got, 0);
	assert_string_equal(cf_test_str(o, "userId"), "pu-c");
	assert_string_equal(cf_test_str(o, "senderId"), "pu-a");
	assert_string_equal(cf_test_str(o, "preview"), preview);
	assert_int_equal(cf_test_int(o, "seq"), a.seq);
	assert_string_equal(cf_test_str(o, "messageId"), a.mid);
	json_decref(got);
	/* The leader counts it. */
	leader = cf_test_cluster_leader(&cluster, 5000);
	assert_true(leader > 0);
	cf_http_resp_init(&r);
	assert_int_equal(cf_http_request(&cluster.nodes[leader].conn, "GET",
					 "/metrics", NULL, NULL, 0, &r),
			 0);
	assert_non_null(strstr(r.body, "\nconfab_push_sent_total "));
	assert_true(strtoull(strstr(r.body, "\nconfab_push_sent_total ") + 24,
			     NULL, 10) >= 1);
	cf_http_resp_release(&r);
	cf_ws_close(&b2);
	n_passed++;
}

/*
 * A node rebuilds its reference counts partition by partition: a blob
 * whose message in one conversation was recalled, still referenced by a
 * message of a conversation in a later partition, must survive a restart
 * (it is not erased while the rebuild has not read every partition).
 */
static void a_blob_still_referenced_elsewhere_survives_a_restart(void **state)
{
	char data[] = "\x89PNG two partitions";
	char id[64], path[PATH_MAX + 128], del[128], a[32], b[32];
	unsigned pa, pb, k;
	long long s1;
	int st;

	(void)state;
	/* a in a lower partition than b (16 partitions) */
	for (k = 0;; k++) {
		snprintf(a, sizeof a, "xp-a%u", k);
		snprintf(b, sizeof b, "xp-b%u", k);
		pa = log_partition_of(cf_str_c(a), 16);
		pb = log_partition_of(cf_str_c(b), 16);
		if (pa < pb)
			break;
		assert_true(k < 1000);
	}
	upload(1, "xp-u", "image/png", data, sizeof data, id, sizeof id);
	cf_test_create_group(&cluster, 1, "xp-u", a, "[\"xp-v\"]");
	cf_test_create_group(&cluster, 1, "xp-u", b, "[\"xp-v\"]");
	s1 = send_file("xp-u", a, "x1", id);
	(void)send_file("xp-u", b, "x2", id);
	snprintf(del, sizeof del, "/v1/conversations/%s/messages/%lld", a, s1);
	json_decref(cf_test_expect(&cluster, 1, "DELETE", del, "xp-u", NULL,
				   200));
	snprintf(del, sizeof del,
		 "/v1/conversations/%s/messages?consistent=1&limit=1", b);
	json_decref(cf_test_expect(&cluster, 3, "GET", del, "xp-u", NULL, 200));
	fetch(3, "xp-v", id, 200, data, sizeof data, "image/png");
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 15000, &st), 0);
	assert_int_equal(st, 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 30000), 0);
	snprintf(path, sizeof path, "%s/media/%s", cluster.nodes[3].data_dir,
		 id);
	assert_int_equal(access(path, F_OK), 0);
	fetch(3, "xp-v", id, 200, data, sizeof data, "image/png");
	n_passed++;
}

/* Whether the file at path holds what. */
static bool file_has(const char *path, const char *what)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/*
 * A node that stopped between a recall's apply and the erasure of its dead
 * letters (the state a crash leaves: the recall is in the store, below the
 * checkpoint, so Raft does not replay it) erases them when it starts.
 */
static void dead_letters_of_recalled_messages_go_at_restart(void **state)
{
	char path[PATH_MAX + 64], del[128];
	struct cf_test_ack a1, a2;
	uint64_t end;
	FILE *f;
	int st;

	(void)state;
	cf_test_create_group(&cluster, 1, "dl-a", "dl-g", "[\"dl-b\"]");
	st = cf_test_send(&cluster, 1, "dl-a", "dl-g", "d1", "one", &a1);
	assert_true(st == 200 || st == 201);
	st = cf_test_send(&cluster, 1, "dl-a", "dl-g", "d2", "two", &a2);
	assert_true(st == 200 || st == 201);
	snprintf(del, sizeof del, "/v1/conversations/dl-g/messages/%llu",
		 (unsigned long long)a1.seq);
	json_decref(cf_test_expect(&cluster, 1, "DELETE", del, "dl-a", NULL,
				   200));
	json_decref(cf_test_expect(&cluster, 3, "GET",
				   "/v1/conversations/dl-g/messages?"
				   "consistent=1&limit=1",
				   "dl-a", NULL, 200));
	assert_int_equal(cf_test_cluster_term(&cluster, 3, 15000, &st), 0);
	assert_int_equal(st, 0);
	snprintf(path, sizeof path, "%s/push-dead-letter.jsonl",
		 cluster.nodes[3].data_dir);
	f = fopen(path, "a");
	assert_non_null(f);
	fprintf(f,
		"{\"userId\":\"dl-b\",\"conversationId\":\"dl-g\",\"seq\":"
		"%llu,\"messageId\":\"%s\",\"senderId\":\"dl-a\","
		"\"preview\":\"DL-ERASE-ME\"}\n"
		"{\"userId\":\"dl-b\",\"conversationId\":\"dl-g\",\"seq\":"
		"%llu,\"messageId\":\"%s\",\"senderId\":\"dl-a\","
		"\"preview\":\"DL-KEEP\"}\n",
		(unsigned long long)a1.seq, a1.mid, (unsigned long long)a2.seq,
		a2.mid);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(cf_test_cluster_restart(&cluster, 3, 30000), 0);
	end = cf_mono_ms() + 20000;
	while (file_has(path, "DL-ERASE-ME") && cf_mono_ms() < end)
		cf_test_sleep_ms(50);
	assert_false(file_has(path, "DL-ERASE-ME"));
	assert_true(file_has(path, "DL-KEEP"));
	n_passed++;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			upload_through_a_follower_is_served_by_every_node),
		cmocka_unit_test(
			only_uploader_and_members_of_a_referencing_conv_may_read),
		cmocka_unit_test(
			only_uploader_or_members_who_have_it_may_attach_media),
		cmocka_unit_test(the_size_limit_holds_on_media_only),
		cmocka_unit_test(
			a_blob_all_of_whose_messages_are_recalled_is_erased),
		cmocka_unit_test(
			a_node_that_missed_the_upload_fetches_it_from_a_peer),
		cmocka_unit_test(push_reaches_only_members_without_a_socket),
		cmocka_unit_test(
			a_blob_still_referenced_elsewhere_survives_a_restart),
		cmocka_unit_test(
			dead_letters_of_recalled_messages_go_at_restart),
	};

	assert_int_equal(sizeof tests / sizeof tests[0], N_TESTS);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
