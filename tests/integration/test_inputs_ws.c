#include "config.h"

/*
 * test_inputs (see test_inputs.c): the WebSocket upgrade's refusals,
 * protocol violations closed with RFC 6455's codes, and bad frames
 * answered with error frames on a socket that stays usable.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_err.h"
#include "common/cf_time.h"
#include "test_inputs.h"

/* ---- WebSocket ---- */

/*
 * The next frame of type (with "id" equal to id, or without an "id" when
 * id is NULL) on w, skipping others (presence, messages); bounded wait.
 */
json_t *ws_wait(struct cf_ws_client *w, const char *type, const char *id)
{
	uint64_t deadline = cf_mono_ms() + 10000;
	json_t *e;
	int rv;

	for (;;) {
		uint64_t now = cf_mono_ms();

		rv = cf_ws_recv_json(w, now < deadline ? (int)(deadline - now)
						       : 1,
				     &e);
		if (rv != 0)
			fail_msg("no %s frame (id %s): %s", type,
				 id ? id : "-", cf_strerror(rv));
		if (strcmp(cf_test_str(e, "type"), type) == 0 &&
		    (id != NULL ? strcmp(cf_test_str(e, "id"), id) == 0
				: json_object_get(e, "id") == NULL))
			return e;
		json_decref(e);
	}
}

/* The server must close w with code (reading past any other frames). */
static void ws_expect_close(struct cf_ws_client *w, unsigned code,
			    const char *what)
{
	uint64_t deadline = cf_mono_ms() + WAIT_MS;
	char *data;
	size_t len;
	int op, rv;

	for (;;) {
		uint64_t now = cf_mono_ms();

		data = NULL;
		rv = cf_ws_recv(w, now < deadline ? (int)(deadline - now) : 1,
				&op, &data, &len);
		free(data);
		if (rv != 0)
			break;
	}
	if (rv != -ECONNRESET || w->close_code != code)
		fail_msg("%s: %s, close code %u, expected close %u", what,
			 cf_strerror(rv), w->close_code, code);
	cf_ws_close(w);
}

void ws_open(struct cf_ws_client *w, unsigned node, const char *user)
{
	char pq[128];

	snprintf(pq, sizeof pq, "/v1/ws?user=%s&deviceId=d%u", user, node);
	assert_int_equal(cf_ws_connect(w, cluster.nodes[node].url, pq, WAIT_MS),
			 0);
}

void websocket_protocol_violations_close_with_rfc_codes(void **state)
{
	static const char ping[] = "{\"type\":\"ping\"}";
	static const unsigned char ctl[126] = {0};
	static const struct {
		const char *what;
		unsigned first;
		int masked;
		const void *p;
		size_t n;
		uint64_t declared; /* 0: n */
		unsigned code;
	} cases[] = {
		{"unmasked text", 0x81, 0, ping, sizeof ping - 1, 0, 1002},
		{"invalid UTF-8", 0x81, 1, BYTES("{\"a\":\"\xff\xfe\"}"), 0,
		 1007},
		{"truncated UTF-8", 0x81, 1, BYTES("\"\xc3"), 0, 1007},
		{"opcode 3", 0x83, 1, ping, sizeof ping - 1, 0, 1002},
		{"opcode 0xb", 0x8b, 1, "", 0, 0, 1002},
		{"RSV1 set", 0xc1, 1, ping, sizeof ping - 1, 0, 1002},
		{"continuation first", 0x80, 1, ping, sizeof ping - 1, 0, 1002},
		{"ping of 126 bytes", 0x89, 1, ctl, sizeof ctl, 0, 1002},
		{"fragmented ping", 0x09, 1, "x", 1, 0, 1002},
		{"close code 1005", 0x88, 1, BYTES("\x03\xed"), 0, 1002},
		{"close of 1 byte", 0x88, 1, BYTES("\x03"), 0, 1002},
		{"binary", 0x82, 1, ping, sizeof ping - 1, 0, 1003},
		{"frame over the limit", 0x81, 1, "", 0, MAX_BODY + 1, 1009},
	};
	struct cf_ws_client w;
	char *half;
	json_t *e;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned node = (unsigned)(i % 3) + 1;

		ws_open(&w, node, "in-wv");
		assert_int_equal(cf_ws_send_raw(&w, cases[i].first,
						cases[i].masked,
						cases[i].declared
							? cases[i].declared
							: cases[i].n,
						cases[i].p, cases[i].n),
				 0);
		ws_expect_close(&w, cases[i].code, cases[i].what);
	}
	/* Fragments are joined, a ping may come between them. */
	ws_open(&w, 2, "in-wv");
	assert_int_equal(
		cf_ws_send_raw(&w, 0x01, 1, 12, BYTES("{\"type\":\"pin")), 0);
	assert_int_equal(cf_ws_send(&w, CF_WS_PING, "p", 1), 0);
	assert_int_equal(
		cf_ws_send_raw(&w, 0x80, 1, 12, BYTES("g\",\"id\":\"f\"}")), 0);
	e = ws_wait(&w, "pong", "f");
	json_decref(e);
	/* ... but not past the limit: 700 KB and 700 KB more is 1009. */
	half = malloc(700000);
	assert_non_null(half);
	memset(half, ' ', 700000);
	assert_int_equal(cf_ws_send_raw(&w, 0x01, 1, 700000, half, 700000), 0);
	free(half);
	assert_int_equal(cf_ws_send_raw(&w, 0x80, 1, 700000, "", 0), 0);
	ws_expect_close(&w, 1009, "fragments over the limit");
	n_passed++;
}

/* Send frame on w; an error frame with id (or none) and code follows. */
#define V13 "Sec-WebSocket-Version: 13\r\n"

static void ws_error(struct cf_ws_client *w, const char *frame,
		     const char *id, const char *code)
{
	json_t *e;

	assert_int_equal(cf_ws_send_text(w, frame), 0);
	e = ws_wait(w, "error", id);
	if (strcmp(cf_test_str(e, "code"), code) != 0)
		fail_msg("%.200s: code %s, expected %s", frame,
			 cf_test_str(e, "code"), code);
	assert_true(strlen(cf_test_str(e, "message")) > 0);
	json_decref(e);
}

void websocket_bad_frames_get_error_frames(void **state)
{
	static const struct {
		const char *frame, *id, *code;
	} cases[] = {
		{"not json", NULL, "bad_request"},
		{"[1,2]", NULL, "bad_request"},
		{"'send'", NULL, "bad_request"},
		{"{'id':'a1'}", "a1", "bad_request"},
		{"{'type':'nope','id':'a2'}", "a2", "bad_request"},
		{"{'type':5,'id':'a3'}", "a3", "bad_request"},
		{"{'type':'send','id':'a4'}", "a4", "bad_request"},
		{"{'type':'send','id':'a5','conversationId':'in-w',"
		 "'content':'x'}",
		 "a5", "bad_request"},
		{"{'type':'send','id':'a6','conversationId':'in-w',"
		 "'clientMsgId':'bad id','content':'x'}",
		 "a6", "bad_request"},
		{"{'type':'send','id':'a7','conversationId':'in-w',"
		 "'clientMsgId':'q','content':5}",
		 "a7", "bad_request"},
		{"{'type':'send','id':'a8','conversationId':'in-w',"
		 "'clientMsgId':'q','content':'x','msgType':'BAD'}",
		 "a8", "bad_request"},
		{"{'type':'send','id':'a9','conversationId':'bad*id',"
		 "'clientMsgId':'q','content':'x'}",
		 "a9", "bad_request"},
		{"{'type':'send','id':'b1','conversationId':'in-w',"
		 "'clientMsgId':'q','msgType':'image'}",
		 "b1", "bad_request"},
		{"{'type':'send','id':'b2','conversationId':'in-wnone',"
		 "'clientMsgId':'q','content':'x'}",
		 "b2", "not_found"},
		{"{'type':'send','id':'b3','conversationId':'in-w2',"
		 "'clientMsgId':'q','content':'x'}",
		 "b3", "not_found"}, /* never a member */
	};
	struct cf_ws_client w[4];
	char *big;
	size_t off;
	json_t *e;

	(void)state;
	cf_test_create_group(&cluster, 1, "in-wa", "in-w", "[]");
	cf_test_create_group(&cluster, 2, "in-wz", "in-w2", "[]");
	for (unsigned n = 1; n <= 3; n++) {
		ws_open(&w[n], n, "in-wa");
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
			ws_error(&w[n], jq(cases[i].frame), cases[i].id,
				 cases[i].code);
		/* A non-string id is echoed as it came. */
		assert_int_equal(
			cf_ws_send_text(&w[n], "{\"type\":\"nope\",\"id\":7}"),
			0);
		for (;;) {
			assert_int_equal(cf_ws_recv_json(&w[n], 10000, &e), 0);
			if (strcmp(cf_test_str(e, "type"), "error") == 0)
				break;
			json_decref(e);
		}
		assert_int_equal(json_integer_value(json_object_get(e, "id")),
				 7);
		json_decref(e);
	}
	/* Content over 100,000 characters: 413's code. */
	big = malloc(100100);
	assert_non_null(big);
	off = (size_t)sprintf(big, "{\"type\":\"send\",\"id\":\"c1\","
				   "\"conversationId\":\"in-w\","
				   "\"clientMsgId\":\"big\",\"content\":\"");
	memset(big + off, 'a', 100001);
	sprintf(big + off + 100001, "\"}");
	ws_error(&w[2], big, "c1", "payload_too_large");
	free(big);
	/* Every socket still works: ping, then a good send. */
	for (unsigned n = 1; n <= 3; n++) {
		char frame[200], cmid[8];

		assert_int_equal(cf_ws_send_text(&w[n], "{\"type\":\"ping\","
							"\"id\":\"p\"}"),
				 0);
		json_decref(ws_wait(&w[n], "pong", "p"));
		snprintf(cmid, sizeof cmid, "ok%u", n);
		snprintf(frame, sizeof frame,
			 "{\"type\":\"send\",\"id\":\"g\",\"conversationId\":"
			 "\"in-w\",\"clientMsgId\":\"%s\",\"content\":\"x\"}",
			 cmid);
		assert_int_equal(cf_ws_send_text(&w[n], frame), 0);
		e = ws_wait(&w[n], "ack", "g");
		assert_string_equal(cf_test_str(e, "clientMsgId"), cmid);
		assert_false(json_is_true(json_object_get(e, "duplicate")));
		json_decref(e);
		cf_ws_close(&w[n]);
	}
	for (unsigned n = 1; n <= 3; n++)
		assert_int_equal(history_len(n, "in-wa", "in-w"), 3);
	n_passed++;
}

void websocket_upgrade_refusals(void **state)
{
	static const struct {
		const char *path, *headers;
		int status;
		const char *code;
		int wants_version;
	} cases[] = {
		{"/v1/ws?deviceId=d1", WS_UP WS_KEY V13, 401, "unauthorized",
		 0},
		{"/v1/ws?user=bad*id", WS_UP WS_KEY V13, 401, "unauthorized",
		 0},
		{"/v1/ws?user=in-ua",
		 WS_UP WS_KEY "Sec-WebSocket-Version: 8\r\n", 426,
		 "bad_request", 1},
		{"/v1/ws?user=in-ua", WS_UP WS_KEY, 426, "bad_request", 1},
		{"/v1/ws?user=in-ua", "", 426, "bad_request", 1},
		{"/v1/ws?user=in-ua", WS_UP V13, 400, "bad_request", 0},
		{"/v1/ws?user=in-ua", WS_UP "Sec-WebSocket-Key: abc\r\n" V13,
		 400, "bad_request", 0},
		{"/v1/ws?user=in-ua&deviceId="
		 "dddddddddddddddddddddddddddddddd"
		 "ddddddddddddddddddddddddddddddddd", /* 65 bytes */
		 WS_UP WS_KEY V13, 400, "bad_request", 0},
		{"/v1/wsx?user=in-ua", WS_UP WS_KEY V13, 404, "not_found", 0},
	};
	struct cf_ws_client w;
	struct ans a;
	char pq[128];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (unsigned n = 1; n <= 3; n++) {
			call_raw(n, "GET", cases[i].path, cases[i].headers,
				 NULL, 0, &a);
			if (cases[i].wants_version &&
			    strcmp(a.wsver, "13") != 0)
				fail_msg("upgrade case %zu on n%u: no "
					 "Sec-WebSocket-Version: 13",
					 i, n);
			check_error(&a, cases[i].status, cases[i].code,
				    cases[i].path, n);
		}
	}
	/* Every node upgrades a good request (a 64-byte deviceId too). */
	snprintf(pq, sizeof pq, "/v1/ws?user=in-ua&deviceId=%s",
		 rep('d', 64));
	for (unsigned n = 1; n <= 3; n++) {
		assert_int_equal(cf_ws_connect(&w, cluster.nodes[n].url, pq,
					       WAIT_MS),
				 0);
		cf_ws_close(&w);
	}
	n_passed++;
}
