#include "config.h"

/*
 * fuzz_scan: the plain-send scanner (src/frontend/fe_json_fast.c, the
 * bytes of every HTTP send body and WebSocket send frame) against jansson.
 * The first byte picks HTTP or WebSocket, the rest is the body. Whatever
 * fe_send_scan takes, jansson must parse (JSON_REJECT_DUPLICATES, as
 * fe_json_body does) to an object with exactly the keys it reported and
 * the same strings; the strings must lie in the input or the scratch.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "frontend/fe_json_fast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t same(json_t *o, const char *key, struct cf_str s)
{
	json_t *v = json_object_get(o, key);

	if (s.p == NULL) {
		if (v != NULL)
			abort();
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) != s.len ||
	    memcmp(json_string_value(v), s.p, s.len) != 0)
		abort();
	return 1;
}

static void inside(struct cf_str s, const char *text, size_t len,
		   const struct cf_buf *scratch)
{
	if (s.p == NULL)
		return;
	if (!((s.p >= text && s.p + s.len <= text + len) ||
	      (s.p >= scratch->data &&
	       s.p + s.len <= scratch->data + scratch->cap)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_buf scratch = CF_BUF_INIT;
	struct fe_send_scan f;
	const char *text;
	size_t len, keys;
	bool ws;
	json_t *o;

	if (size < 1)
		return 0;
	ws = (data[0] & 1) != 0;
	len = size - 1;
	text = (const char *)data + 1;
	memset(&f, 0, sizeof f);
	if (!fe_send_scan(text, len, ws, &f, &scratch)) {
		cf_buf_release(&scratch);
		return 0;
	}
	inside(f.conv, text, len, &scratch);
	inside(f.cmid, text, len, &scratch);
	inside(f.msg_type, text, len, &scratch);
	inside(f.content, text, len, &scratch);
	inside(f.id, text, len, &scratch);
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (o == NULL || !json_is_object(o))
		abort();
	keys = same(o, "conversationId", f.conv) +
	       same(o, "clientMsgId", f.cmid) + same(o, "msgType", f.msg_type) +
	       same(o, "content", f.content);
	if (ws)
		keys += same(o, "id", f.id) + 1; /* and "type": "send" */
	else if (f.id.p != NULL)
		abort();
	if (json_object_size(o) != keys)
		abort();
	json_decref(o);
	cf_buf_release(&scratch);
	return 0;
}
