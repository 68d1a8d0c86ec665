/*
 * fe_api_parse: the JSON bodies of the API's write routes (API.md), read
 * and validated without a connection, a node or a clock: what fe_api.c,
 * fe_api_conv.c and fe_api_edit.c check before they submit a command, and
 * what tests/fuzz/fuzz_api.c feeds arbitrary bytes. The checks against
 * this node's state take the conversation as this node knows it (cv, NULL
 * if unknown): fe_send_meta.h for a send's replyTo and mentions.
 *
 *   send     POST /v1/conversations/{id}/messages, WebSocket "send":
 *            fe_parse_send, then fe_send_meta
 *   create   POST /v1/conversations: fe_parse_create
 *   members  POST /v1/conversations/{id}/members: fe_parse_members, then
 *            fe_members_limit
 *   receipt  POST .../delivered, .../read, WebSocket "delivered"/"read":
 *            fe_parse_receipt
 *   edit     PATCH .../messages/{seq}: fe_parse_edit, then fe_edit_mentions
 *
 * Ownership: the strings returned point into the JSON object o (valid while
 * o lives) or, for create's keyed id, into the fields struct;
 * fe_parse_create allocates f->ids (free() it, also on error); the caller
 * gives fe_parse_members its ids array. Errors: 0, CF_EBADREQ or
 * CF_ETOOBIG with err set (the text the client gets), -ENOMEM.
 * Threads: any; no state.
 */
#ifndef FE_API_PARSE_H
#define FE_API_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/cf_buf.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"

struct fe_send_fields {
	struct cf_str conv;
	struct cf_str cmid;
	struct cf_str type;	/* "text" when absent */
	struct cf_str content;	/* "" when absent (not for text) */
	json_t *attachment;	/* borrowed from o, NULL if absent or null */
};

/* A send's fields; content at most max_chars characters (CF_ETOOBIG). */
int fe_parse_send(json_t *o, unsigned max_chars, struct fe_send_fields *f,
		  char *err, size_t errlen);
/*
 * The checks of fe_parse_send() after the strings (msgType's default,
 * content required and its length, the attachment, NULL if none), for f's
 * conv, cmid, type and content read by other means (fe_json_fast.h).
 */
int fe_parse_send_rest(struct fe_send_fields *f, json_t *att,
		       unsigned max_chars, char *err, size_t errlen);

struct fe_create_fields {
	bool direct;		/* type "direct" (else "group") */
	struct cf_str title;	/* p NULL if absent */
	struct cf_str conv;	/* p NULL: the FSM assigns one */
	struct cf_str key;	/* clientMsgId, p NULL if absent */
	struct cf_str *ids;	/* the other members, allocated */
	unsigned n;
	char keyed[RFT_KEYED_CONV_LEN + 1]; /* conv when named by key */
};

/* A create by user, groups of at most max_group members. */
int fe_parse_create(json_t *o, const char *user, unsigned max_group,
		    struct fe_create_fields *f, char *err, size_t errlen);

/*
 * A members change: "add" then "remove" ids into ids (2 * (max_group + 1)
 * entries), distinct within each list; *na added, *n in all. At least one
 * id in all.
 */
int fe_parse_members(json_t *o, unsigned max_group, struct cf_str *ids,
		     unsigned *na, unsigned *n, char *err, size_t errlen);

/*
 * The group limit as this node sees conversation cv (NULL: unknown here,
 * the FSM answers 404) after adding ids[0..na) and removing ids[na..n).
 */
int fe_members_limit(const struct rft_conv *cv, unsigned max_group,
		     const struct cf_str *ids, unsigned na, unsigned n,
		     char *err, size_t errlen);

/* A receipt's "upToSeq": an integer from 0 to 2^53. */
int fe_parse_receipt(json_t *o, uint64_t *seq, char *err, size_t errlen);

/* An edit's "clientEditId" and non-empty "content" (max_chars). */
int fe_parse_edit(json_t *o, unsigned max_chars, struct cf_str *ceid,
		  struct cf_str *content, char *err, size_t errlen);

/*
 * An edit's final mentions (fe_mention.h), encoded into out: the explicit
 * "mentions" ids and the members the new content names with '@', as cv
 * (NULL if unknown here) knows them; none from the text unless user is a
 * member of cv (apply answers then).
 */
int fe_edit_mentions(json_t *o, const struct rft_conv *cv, const char *user,
		     struct cf_str content, struct cf_buf *out, char *err,
		     size_t errlen);

#endif
