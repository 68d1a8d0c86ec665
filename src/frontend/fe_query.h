/*
 * fe_query: the query parameters of the GET routes (and the admin
 * compaction's), read from a request as fe_http decoded them, without the
 * node. Each route's handler calls its function here and answers what it
 * returns; tests/fuzz/fuzz_query.c feeds the same functions arbitrary query
 * strings, so the route and the fuzz target share one code path.
 *
 *   GET /v1/conversations                 limit, cursor ("a<itemId>")
 *   GET /v1/conversations/{id}/messages   fromSeq, beforeSeq, aroundSeq,
 *                                         limit (at most one of the seqs)
 *   GET /v1/sync                          conversationId (the conversation
 *                                         form: lastSeq, limit) or cursor
 *                                         ("m<messageId>"), limit, wait
 *   GET /v1/admin/conversations/{id}/messages   fromSeq, limit
 *   POST /v1/admin/compact                partition, segments
 *   GET /v1/presence                      users (a,b,...)
 *   GET /v1/ws (the upgrade)              deviceId
 *
 * Numbers are decimal, at most 16 digits and 2^53 (fe_parse_u64), leading
 * zeros allowed. A limit given above its cap is clamped to it, a limit of 0
 * is refused (every route); an accepted limit always lies in 1..cap.
 * Cursors with leading zeros ("a007") are accepted and read as their
 * canonical text ("a7", what the node writes).
 *
 * Ownership: out's cf_str fields point into req's storage (valid as long as
 * req). Errors: 0, or CF_EBADREQ with *err the message the route answers
 * with 400 bad_request (a static string). Threads: any.
 */
#ifndef FE_QUERY_H
#define FE_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cf_buf.h"
#include "frontend/fe_http.h"
#include "sync/sync_read.h"

/* GET /v1/conversations: default and cap of limit (man/confab.7). */
#define FE_LIST_LIMIT_DEFAULT 50
#define FE_LIST_LIMIT_MAX 200
/* GET /v1/sync?wait=S: S is clamped to this many seconds. */
#define FE_SYNC_WAIT_MAX_S 60
/* POST /v1/admin/compact?segments=N: default, and N in 1..MAX. */
#define FE_COMPACT_SEGMENTS_DEFAULT 64u
#define FE_COMPACT_SEGMENTS_MAX 1024u

struct fe_query_list {
	unsigned limit;	 /* 1..FE_LIST_LIMIT_MAX */
	uint64_t before; /* the cursor's item id; 0: the first page */
};

/* GET /v1/conversations?limit=&cursor= */
int fe_query_conv_list(const struct fe_http_req *req,
		       struct fe_query_list *out, const char **err);

/*
 * The conversation list's cursor "a<id>" (id 1..2^53) and its text (what a
 * page's "cursor" holds). 0 or CF_EBADREQ.
 */
int fe_query_list_cursor_parse(struct cf_str s, uint64_t *id);
void fe_query_list_cursor_str(uint64_t id, char out[24]);

/*
 * GET /v1/conversations/{id}/messages?fromSeq=|beforeSeq=|aroundSeq=&limit=
 * into q: each seq 0 if absent (else 1..2^53, at most one given), limit
 * 1..SYNC_LIMIT_MAX (SYNC_LIMIT_DEFAULT if absent).
 */
int fe_query_history(const struct fe_http_req *req,
		     struct sync_history_query *q, const char **err);

struct fe_query_sync {
	bool form;	 /* conversationId given: the conversation form */
	struct cf_str conv; /* form: the id as given (not checked: an id
			       that names nothing is answered 404) */
	uint64_t last;	 /* form: lastSeq (0..2^53; 0 if absent) */
	uint64_t after;	 /* feed: the cursor's messageId, 0 if absent */
	unsigned limit;	 /* form: 1..SYNC_LIMIT_MAX; feed: 1..
			    SYNC_FEED_LIMIT_MAX (absent: default; 0 is
			    refused, as on every route) */
	unsigned wait;	 /* feed: seconds, 0..FE_SYNC_WAIT_MAX_S */
};

/* GET /v1/sync?... (the form's cursor and wait are ignored). */
int fe_query_sync(const struct fe_http_req *req, struct fe_query_sync *out,
		  const char **err);

/*
 * GET /v1/admin/conversations/{id}/messages?fromSeq=&limit= into q:
 * from_seq 1..2^53 (1 if absent), limit 1..SYNC_LIMIT_MAX (the cap if
 * absent).
 */
int fe_query_admin_messages(const struct fe_http_req *req,
			    struct sync_history_query *q, const char **err);

/*
 * POST /v1/admin/compact?partition=&segments= for a cluster of partitions
 * partitions (>= 1): *partition below it (all if absent: *all set),
 * *segments 1..FE_COMPACT_SEGMENTS_MAX (the default if absent).
 */
int fe_query_admin_compact(const struct fe_http_req *req, unsigned partitions,
			   bool *all, uint64_t *partition, uint32_t *segments,
			   const char **err);

/*
 * GET /v1/presence?users=a,b: the ids into ids[0..*n) (pointing into req),
 * empty items skipped, each cf_id_valid, at most FE_QUERY_PRESENCE_MAX;
 * users absent or empty is refused.
 */
#define FE_QUERY_PRESENCE_MAX 200u
int fe_query_presence(const struct fe_http_req *req, struct cf_str *ids,
		      unsigned *n, const char **err);

/* GET /v1/ws?deviceId=: the device id, "default" when absent; one that is
 * not cf_device_id_valid is refused. */
int fe_query_ws(const struct fe_http_req *req, struct cf_str *device,
		const char **err);

#endif
