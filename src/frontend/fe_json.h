/*
 * fe_json: the JSON edge of the API: error bodies and statuses (API.md's
 * table), request-body parsing with jansson, and typed field getters that
 * validate ids as API.md defines them.
 * Ownership: fe_respond_json() steals the reference to o. Parsed bodies are
 * returned with one reference for the caller.
 * Errors: getters return 0 or CF_EBADREQ with a message in err (static or in
 * errbuf). Threads: loop thread only.
 */
#ifndef FE_JSON_H
#define FE_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/cf_buf.h"
#include "frontend/fe_conn.h"
#include "frontend/fe_http.h"

/* HTTP status and API error code for a 0 / -errno / CF_E* code. */
void fe_error_of(int rc, int *status, const char **code);

void fe_respond_json(struct fe_conn *c, int status, json_t *o);
void fe_respond_error(struct fe_conn *c, int status, const char *code,
		      const char *msg);
/* The same with extra header lines ("Name: value\r\n"..., or NULL). */
void fe_respond_error_hdr(struct fe_conn *c, int status, const char *code,
			  const char *msg, const char *extra);
/* 405 bad_request with "Allow: <allow>" (e.g. "GET, POST"). */
void fe_respond_405(struct fe_conn *c, const char *allow);
/* Answer the error of rc (msg may be NULL: cf_strerror's). */
void fe_respond_rc(struct fe_conn *c, int rc, const char *msg);
/* {"error":{"code","message"}}, the body of an HTTP error answer. */
json_t *fe_error_json(const char *code, const char *msg);

/* Queue o (stolen; NULL is ignored) on WebSocket c as one text frame. */
void fe_ws_send_json(struct fe_conn *c, json_t *o);
/*
 * Queue {"type":"error","code","message"} for rc (msg may be NULL:
 * cf_strerror's), echoing the client's "id" when id is not NULL.
 */
void fe_ws_send_error(struct fe_conn *c, json_t *id, int rc, const char *msg);

/* Parse a request body that must be one JSON object. */
int fe_json_body(const struct fe_http_req *req, json_t **out, char *err,
		 size_t errlen);

/*
 * Read o[key] as a string. required: missing -> error; kind selects the
 * validation: FE_STR_ANY (any UTF-8, up to max bytes: longer is
 * CF_EBADREQ too), FE_STR_ID (API id), FE_STR_MSGTYPE ([a-z_]{1,32}).
 */
enum fe_str_kind { FE_STR_ANY, FE_STR_ID, FE_STR_MSGTYPE };
int fe_json_str(json_t *o, const char *key, bool required,
		enum fe_str_kind kind, size_t max, struct cf_str *out,
		char *err, size_t errlen);

/* Whether the request asks ?consistent=1 (or =true): read after a read
 * index (API.md). */
bool fe_wants_consistent(const struct fe_http_req *req);

/*
 * Parse a decimal u64 from a query value: 1 to 16 digits (leading zeros
 * allowed), at most 2^53; 0 is accepted (callers that need a positive
 * number check it). 0 or CF_EBADREQ (*out unchanged).
 */
int fe_parse_u64(struct cf_str s, uint64_t *out);

#endif
