/*
 * fe_send_meta: a send's optional "replyTo" and "mentions" (issue 13), read
 * from the request's JSON and checked against this node's state before
 * the command goes to Raft (apply checks them again, authoritatively:
 * rft_apply_send.c).
 *
 *   replyTo   absent or null: none; else an integer >= 1 (CF_EBADREQ), at
 *             most the conversation's lastSeq here (CF_EBADREQ "replyTo out
 *             of range")
 *   mentions  absent or null: none; else an array of at most
 *             RFT_MENTIONS_MAX user ids (CF_EBADREQ), each a current member
 *             (CF_EBADREQ naming the first that is not)
 * The final list is fe_mention_list() of the explicit ids and the content,
 * encoded as an rft id list. *stale is set when the refusal rests on this
 * node's state, which may lag the leader's (replyTo past lastSeq, an
 * explicit id not a member): the caller asks again after a read index
 * before it answers 400 (again: this is that second check). If this node
 * does not know the conversation, or the caller is not a member here, and
 * the send mentions anyone or its content has an '@', the first check
 * is stale the same way (the conversation may have been made a moment ago
 * through another node); on the second, nothing is checked against it and
 * no id is parsed from the text: apply answers 404 or 403 (or drops what
 * is not a member).
 *
 * cv is the conversation as this node knows it (rft_fsm_conv(), NULL if
 * unknown here).
 * Ownership: list is the caller's buffer. Errors: 0, CF_EBADREQ (err set),
 * -ENOMEM. Threads: loop thread only (reads the FSM).
 */
#ifndef FE_SEND_META_H
#define FE_SEND_META_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/cf_buf.h"
#include "raft/rft_fsm.h"

int fe_send_meta(const struct rft_conv *cv, struct cf_str user,
		 struct cf_str content, json_t *o, bool again,
		 uint64_t *reply_to, struct cf_buf *list, bool *stale,
		 char *err, size_t errlen);

#endif
