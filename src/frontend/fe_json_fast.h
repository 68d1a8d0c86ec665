/*
 * fe_json_fast: a strict scanner for the one JSON shape that dominates a
 * chat store's load, a plain send:
 *   {"conversationId":"...","clientMsgId":"...","content":"...",
 *    "msgType":"..."}        (HTTP body; msgType optional)
 * plus "type":"send" and a string "id" in a WebSocket frame.
 *
 * Why by hand (issue 14): jansson builds a hash table and a string per
 * value, with a lexer that reads one character at a time through a
 * stream; for a send that is a tenth of the leader's CPU. This scanner
 * accepts only what it fully understands and says "not mine" for anything
 * else, which then goes to jansson as before (fe_json_body): any other
 * key, a value that is not a string, a duplicate key, a \u escape, a raw
 * control character, invalid UTF-8, an id that fails cf_id_valid, a
 * content with an '@' (mentions are read by fe_send_meta from the parsed
 * body), a missing field. So every error answer still comes from the one
 * jansson path, and the scanner can only take inputs that jansson would
 * parse to the same strings (tests/unit/test_fe_json_fast.c checks that
 * against jansson, also on random mutations).
 *
 * Ownership: out's strings point into text, or into scratch for strings
 * with escapes (scratch is reserved once, so they do not move): valid
 * while both are. Errors: none; the result is 1 (scanned) or 0 (use
 * jansson). Threads: any.
 */
#ifndef FE_JSON_FAST_H
#define FE_JSON_FAST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/cf_buf.h"

struct fe_send_scan {
	struct cf_str conv;	/* conversationId */
	struct cf_str cmid;	/* clientMsgId */
	struct cf_str msg_type; /* p NULL: absent */
	struct cf_str content;
	struct cf_str id;	/* WebSocket frame's "id"; p NULL: absent */
};

int fe_send_scan(const char *text, size_t len, bool ws,
		 struct fe_send_scan *out, struct cf_buf *scratch);

#endif
