/*
 * test_inputs: shared parts of the bad-input integration test program
 * (test_inputs.c: the cluster, helpers, conversation tests and main;
 * test_inputs_msg.c: sends, history, routes; test_inputs_ws.c: WebSocket).
 *
 * One 3-node cluster started by test_inputs.c's group setup serves every
 * test; requests go through each node's main-thread connection with dev
 * auth. Helpers fail the running cmocka test on a broken contract.
 * Ownership: functions returning json_t * return a new reference;
 * jq() and rep() return static ring buffers (valid for a few calls).
 * Errors: cmocka failures. Threads: the main test thread only.
 */
#ifndef TEST_INPUTS_H
#define TEST_INPUTS_H

#include <jansson.h>
#include <stddef.h>

#include "../lib/cf_test_api.h"

#define WAIT_MS 5000
/* --max-body default: 12 bytes per character of content + 64 KiB */
#define MAX_BODY (100000u * 12u + 65536u)
#define MAX_GROUP 500	    /* --max-group default */
#define WS_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define WS_UP "Upgrade: websocket\r\nConnection: Upgrade\r\n"
/* A string literal as (bytes, length) arguments. */
#define BYTES(s) (s), (sizeof(s) - 1)

extern struct cf_test_cluster cluster;
extern int n_passed; /* tests that reached their end */

/* An HTTP answer. */
struct ans {
	int status;
	json_t *json;	/* parsed body, or NULL (owned) */
	char allow[64]; /* Allow header, "" if none */
	char wsver[16]; /* Sec-WebSocket-Version header, "" if none */
};

/* s with every ' turned into " (JSON without the escapes). */
const char *jq(const char *s);
/* n (< 512) copies of c. */
const char *rep(char c, size_t n);
/* One request with raw header lines; fails on a transport error. */
void call_raw(unsigned node, const char *method, const char *path,
	      const char *headers, const char *body, size_t len,
	      struct ans *a);
/* With dev auth as user (none if NULL) and a JSON body (or NULL). */
void call(unsigned node, const char *method, const char *path,
	  const char *user, const char *body, struct ans *a);
/* a must be status with {"error":{code, message}}; releases a's JSON. */
void check_error(struct ans *a, int status, const char *code,
		 const char *what, unsigned node);
/* The same request through nodes 1..3 must be refused with status/code. */
void refused(const char *method, const char *path, const char *user,
	     const char *body, int status, const char *code);
/* One request that must answer status with JSON (returned). */
json_t *ok(unsigned node, const char *method, const char *path,
	   const char *user, const char *body, int status);
/* Messages of conv on node (consistent read, at most 200). */
long long history_len(unsigned node, const char *user, const char *conv);

/* WebSocket helpers (test_inputs_ws.c). */
void ws_open(struct cf_ws_client *w, unsigned node, const char *user);
/*
 * The next frame of type with "id" equal to id (or without "id" if id is
 * NULL), skipping others; fails after 10 s.
 */
json_t *ws_wait(struct cf_ws_client *w, const char *type, const char *id);

/* The tests. */
void direct_conversation_is_unique_per_pair_on_every_node(void **state);
void group_ids_titles_and_conflicts(void **state);
void group_size_is_bounded_by_max_group(void **state);
void create_bad_inputs_are_400(void **state);
void send_bad_inputs_are_refused_and_store_nothing(void **state);
void body_over_max_body_is_413(void **state);
void image_and_file_need_a_valid_attachment(void **state);
void history_queries_are_checked_and_limit_capped(void **state);
void unknown_routes_wrong_methods_and_missing_auth(void **state);
void websocket_protocol_violations_close_with_rfc_codes(void **state);
void websocket_bad_frames_get_error_frames(void **state);
void websocket_upgrade_refusals(void **state);

#endif
