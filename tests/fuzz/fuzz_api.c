#include "config.h"

/*
 * fuzz_api: the JSON bodies of the API's write routes and the WebSocket
 * frames (src/frontend/fe_api_parse.c, fe_send_meta.c, through
 * fe_json_body() as the routes read them) under arbitrary bytes. The first
 * byte picks the route, the rest is the body:
 *
 *   0 send   1 create   2 members   3 receipt   4 edit
 *   5 a WebSocket text frame, routed by its "type" as fe_api_ws_message()
 *     does ("send", "delivered"/"read", "sync" and its cursor, "typing",
 *     "presence_subscribe", "ping")
 *   6 GET /v1/search's parameters, one a line: q, cursor, limit (the
 *     cursor must write back as it was read)
 *
 * Each body is checked with small and default limits and against the
 * conversation as a node may know it: unknown (NULL), a group the caller
 * is in, a group the caller is not in, a direct conversation. What a
 * parser accepts must hold what the route relies on (valid ids, the
 * limits, mention lists that decode, within RFT_MENTIONS_MAX), and a
 * refusal must be one of the documented codes with a message.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "frontend/fe_api_parse.h"
#include "frontend/fe_api_search.h"
#include "frontend/fe_http.h"
#include "frontend/fe_json.h"
#include "frontend/fe_presence_sub.h"
#include "frontend/fe_send_meta.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"
#include "sync/sync_feed.h"
#include "sync/sync_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *group_members[] = {"alice", "bob", "carol", "dave"};
static char *direct_members[] = {"alice", "bob"};
static struct rft_conv group = {
	.id = "g1",
	.type = RFT_CONV_GROUP,
	.owner = "alice",
	.title = "team",
	.members = group_members,
	.n_members = 4,
	.last_seq = 10,
};
static struct rft_conv direct = {
	.id = "d1",
	.type = RFT_CONV_DIRECT,
	.owner = "alice",
	.title = "",
	.members = direct_members,
	.n_members = 2,
	.last_seq = 3,
};
static const struct rft_conv *convs[3] = {NULL, &group, &direct};
static const char *users[2] = {"alice", "mallory"};
static const unsigned limits[2] = {3, 500};

static void refused(int rv, const char *err)
{
	if ((rv != CF_EBADREQ && rv != CF_ETOOBIG && rv != -ENOMEM) ||
	    (rv != -ENOMEM && err[0] == '\0'))
		abort();
}

static void id_ok(struct cf_str s)
{
	if (s.p == NULL || !cf_id_valid(s.p, s.len))
		abort();
}

/* An encoded mention list: ids, distinct, at most RFT_MENTIONS_MAX. */
static void list_ok(const struct cf_buf *b)
{
	struct cf_str l = {b->data, b->len}, id, seen[RFT_MENTIONS_MAX];
	size_t pos = 0;
	unsigned n = 0;

	while (rft_idlist_next(l, &pos, &id)) {
		id_ok(id);
		for (unsigned i = 0; i < n; i++)
			if (cf_str_eq(seen[i], id))
				abort();
		if (n == RFT_MENTIONS_MAX)
			abort();
		seen[n++] = id;
	}
	if (pos != l.len)
		abort();
}

static void route_send(json_t *o)
{
	for (unsigned m = 0; m < 2; m++) {
		struct fe_send_fields f;
		char err[256] = "";
		int rv = fe_parse_send(o, m == 0 ? 8 : 100000, &f, err,
				       sizeof err);

		if (rv != 0) {
			refused(rv, err);
			continue;
		}
		id_ok(f.conv);
		id_ok(f.cmid);
		if (f.type.p == NULL || f.content.p == NULL ||
		    cf_utf8_chars(f.content.p, f.content.len) >
			    (m == 0 ? 8u : 100000u) ||
		    (f.attachment != NULL && !json_is_object(f.attachment)))
			abort();
		for (unsigned c = 0; c < 3; c++)
			for (unsigned u = 0; u < 2; u++)
				for (unsigned again = 0; again < 2; again++) {
					struct cf_buf list = CF_BUF_INIT;
					uint64_t reply_to = 0;
					bool stale = false;

					err[0] = '\0';
					rv = fe_send_meta(
						convs[c], cf_str_c(users[u]),
						f.content, o, again != 0,
						&reply_to, &list, &stale, err,
						sizeof err);
					if (rv != 0) {
						refused(rv, err);
					} else {
						list_ok(&list);
						if (convs[c] != NULL &&
						    u == 0 &&
						    reply_to >
							    convs[c]->last_seq)
							abort();
					}
					cf_buf_release(&list);
				}
	}
}

static void route_create(json_t *o)
{
	for (unsigned m = 0; m < 2; m++)
		for (unsigned u = 0; u < 2; u++) {
			struct fe_create_fields f;
			struct cf_buf list = CF_BUF_INIT;
			char err[256] = "";
			int rv = fe_parse_create(o, users[u], limits[m], &f,
						 err, sizeof err);

			if (rv != 0) {
				refused(rv, err);
				free(f.ids);
				continue;
			}
			for (unsigned i = 0; i < f.n; i++) {
				id_ok(f.ids[i]);
				if (cf_str_eqc(f.ids[i], users[u]))
					abort();
			}
			if ((f.direct && (f.n != 1 || f.conv.p != NULL)) ||
			    (!f.direct && f.n + 1 > limits[m]) ||
			    (f.conv.p != NULL && !cf_id_valid(f.conv.p,
							      f.conv.len)))
				abort();
			if (rft_idlist_encode(&list, f.ids, f.n) != 0)
				abort();
			cf_buf_release(&list);
			free(f.ids);
		}
}

static void route_members(json_t *o)
{
	for (unsigned m = 0; m < 2; m++) {
		struct cf_str *ids = calloc(2u * (limits[m] + 1), sizeof *ids);
		unsigned na = 0, n = 0;
		char err[256] = "";
		int rv;

		if (ids == NULL)
			abort();
		rv = fe_parse_members(o, limits[m], ids, &na, &n, err,
				      sizeof err);
		if (rv != 0) {
			refused(rv, err);
			free(ids);
			continue;
		}
		if (n == 0 || na > n || na > limits[m] + 1 ||
		    n - na > limits[m] + 1)
			abort();
		for (unsigned i = 0; i < n; i++)
			id_ok(ids[i]);
		for (unsigned c = 0; c < 3; c++) {
			err[0] = '\0';
			rv = fe_members_limit(convs[c], limits[m], ids, na, n,
					      err, sizeof err);
			if (rv != 0)
				refused(rv, err);
			else if (convs[c] == &direct)
				abort();
		}
		free(ids);
	}
}

static void route_receipt(json_t *o)
{
	char err[256] = "";
	uint64_t seq = 0;
	int rv = fe_parse_receipt(o, &seq, err, sizeof err);

	if (rv != 0)
		refused(rv, err);
	else if (seq > (1ull << 53))
		abort();
}

static void route_edit(json_t *o)
{
	for (unsigned m = 0; m < 2; m++) {
		struct cf_str ceid, content;
		char err[256] = "";
		int rv = fe_parse_edit(o, m == 0 ? 8 : 100000, &ceid, &content,
				       err, sizeof err);

		if (rv != 0) {
			refused(rv, err);
			continue;
		}
		id_ok(ceid);
		if (content.len == 0 ||
		    cf_utf8_chars(content.p, content.len) >
			    (m == 0 ? 8u : 100000u))
			abort();
		for (unsigned c = 0; c < 3; c++)
			for (unsigned u = 0; u < 2; u++) {
				struct cf_buf list = CF_BUF_INIT;

				err[0] = '\0';
				rv = fe_edit_mentions(o, convs[c], users[u],
						      content, &list, err,
						      sizeof err);
				if (rv != 0)
					refused(rv, err);
				else
					list_ok(&list);
				cf_buf_release(&list);
			}
	}
}

static void route_ws(const uint8_t *p, size_t n)
{
	json_error_t je;
	json_t *o = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
	const char *type;

	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return; /* "frames are JSON objects with a type" */
	}
	type = json_string_value(json_object_get(o, "type"));
	if (type != NULL && strcmp(type, "send") == 0) {
		route_send(o);
	} else if (type != NULL && (strcmp(type, "delivered") == 0 ||
				    strcmp(type, "read") == 0)) {
		struct cf_str conv;
		char err[256] = "";
		int rv = fe_json_str(o, "conversationId", true, FE_STR_ID, 0,
				     &conv, err, sizeof err);

		if (rv != 0)
			refused(rv, err);
		else
			route_receipt(o);
	} else if (type != NULL && strcmp(type, "sync") == 0) {
		json_t *c = json_object_get(o, "cursor");
		const char *cur = json_string_value(c);
		uint64_t after = 0;
		char again[24];

		if (cur != NULL &&
		    sync_cursor_parse(cf_str_c(cur), &after) == 0) {
			/* A cursor read back names the same position. */
			uint64_t after2 = 0;

			sync_cursor_str(after, again);
			if (sync_cursor_parse(cf_str_c(again), &after2) != 0 ||
			    after2 != after)
				abort();
		}
	} else if (type != NULL && strcmp(type, "typing") == 0) {
		struct cf_str conv, st;
		char err[128] = "";
		int rv = fe_json_str(o, "conversationId", true, FE_STR_ID, 64,
				     &conv, err, sizeof err);

		if (rv == 0)
			rv = fe_json_str(o, "state", true, FE_STR_ANY, 8, &st,
					 err, sizeof err);
		/* fe_presence_ws passes 64 for the id, which FE_STR_ID
		 * ignores: any conversation id (1 to 128 bytes) is typed in. */
		if (rv != 0)
			refused(rv, err);
		else if (!cf_id_valid(conv.p, conv.len) || st.len > 8)
			abort();
	} else if (type != NULL && strcmp(type, "presence_subscribe") == 0) {
		char err[96] = "";
		json_t *u = json_object_get(o, "users");
		int rv = fe_presence_users_check(u, err, sizeof err);

		if (rv != 0)
			refused(rv, err);
		else if (json_array_size(u) > FE_PRESENCE_SUB_MAX)
			abort();
	} else if (type != NULL && strcmp(type, "ping") == 0) {
		json_t *r = json_pack("{s:s}", "type", "pong");
		json_t *id = json_object_get(o, "id");

		if (r != NULL && id != NULL)
			json_object_set(r, "id", id);
		json_decref(r);
	}
	json_decref(o);
}

/* The next line of p[0..n) at *pos (without its '\n'). */
static struct cf_str line(const uint8_t *p, size_t n, size_t *pos)
{
	struct cf_str l = {(const char *)p + *pos, 0};

	while (*pos < n && p[*pos] != '\n') {
		(*pos)++;
		l.len++;
	}
	if (*pos < n)
		(*pos)++;
	return l;
}

static void route_search(const uint8_t *p, size_t n)
{
	size_t pos = 0;
	struct cf_str q = line(p, n, &pos), cur = line(p, n, &pos),
		      lim = line(p, n, &pos);
	struct cf_buf match = CF_BUF_INIT;
	const char *err = NULL;
	uint64_t v = 0;
	char back[16];
	int rv;

	rv = fe_search_query(q, &match, &err);
	if (rv != 0 && (rv != CF_EBADREQ || err == NULL) && rv != -ENOMEM)
		abort();
	if (rv == 0 && match.len == 0)
		abort();
	cf_buf_release(&match);
	if (fe_search_cursor_parse(cur, &v) == 0) {
		fe_search_cursor_str(v, back);
		if (v == 0 || strlen(back) > 14 ||
		    (cur.len == strlen(back) &&
		     memcmp(back, cur.p, cur.len) != 0))
			abort();
	}
	(void)fe_parse_u64(lim, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fe_http_req req;
	char err[256] = "";
	json_t *o = NULL;
	unsigned route;
	int rv;

	if (size < 1)
		return 0;
	route = data[0] % 7;
	if (route == 5) {
		route_ws(data + 1, size - 1);
		return 0;
	}
	if (route == 6) {
		route_search(data + 1, size - 1);
		return 0;
	}
	memset(&req, 0, sizeof req);
	req.body.p = (const char *)data + 1;
	req.body.len = size - 1;
	rv = fe_json_body(&req, &o, err, sizeof err);
	if (rv != 0) {
		if (rv != CF_EBADREQ || err[0] == '\0')
			abort();
		return 0;
	}
	switch (route) {
	case 0:
		route_send(o);
		break;
	case 1:
		route_create(o);
		break;
	case 2:
		route_members(o);
		break;
	case 3:
		route_receipt(o);
		break;
	default:
		route_edit(o);
		break;
	}
	json_decref(o);
	return 0;
}
