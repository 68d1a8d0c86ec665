#include "config.h"

/* fe_send_meta: see fe_send_meta.h. */

#include "frontend/fe_send_meta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "frontend/fe_mention.h"
#include "raft/rft_cmd.h"

static bool is_member(void *arg, struct cf_str id)
{
	return rft_conv_has_member(arg, id);
}

static int reply_get(json_t *o, uint64_t *reply_to, char *err,
		     size_t errlen)
{
	json_t *v = json_object_get(o, "replyTo");

	*reply_to = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		snprintf(err, errlen, "'replyTo' must be an integer >= 1");
		return CF_EBADREQ;
	}
	*reply_to = (uint64_t)json_integer_value(v);
	return 0;
}

int fe_send_meta(const struct rft_conv *cv, struct cf_str user,
		 struct cf_str content, json_t *o, bool again,
		 uint64_t *reply_to, struct cf_buf *list, bool *stale,
		 char *err, size_t errlen)
{
	struct cf_str ex[RFT_MENTIONS_MAX], out[RFT_MENTIONS_MAX];
	json_t *m = json_object_get(o, "mentions");
	unsigned n_ex = 0, n;
	size_t i;
	json_t *v;
	int rv;

	*stale = false;
	if ((rv = reply_get(o, reply_to, err, errlen)) != 0)
		return rv;
	if (m != NULL && json_is_null(m))
		m = NULL;
	if (m != NULL &&
	    (!json_is_array(m) || json_array_size(m) > RFT_MENTIONS_MAX)) {
		snprintf(err, errlen,
			 "'mentions' must be an array of at most %u user ids",
			 RFT_MENTIONS_MAX);
		return CF_EBADREQ;
	}
	json_array_foreach(m, i, v)
	{
		struct cf_str id = {json_string_value(v),
				    json_string_length(v)};

		if (!json_is_string(v) || !cf_id_valid(id.p, id.len)) {
			snprintf(err, errlen,
				 "'mentions' must be user ids of 1 to 128 "
				 "bytes of [A-Za-z0-9._:@-]");
			return CF_EBADREQ;
		}
		ex[n_ex++] = id;
	}
	if (cv == NULL || !rft_conv_has_member(cv, user)) {
		if (!again && (n_ex > 0 || (content.len > 0 &&
					    memchr(content.p, '@',
						   content.len) != NULL))) {
			/* Maybe created or joined a moment ago elsewhere. */
			snprintf(err, errlen, "not a member here yet");
			*stale = true;
			return CF_EBADREQ;
		}
		/* Apply answers 404/403; the explicit ids go as they are. */
		n = fe_mention_list((struct cf_str){NULL, 0}, ex, n_ex,
				    is_member, NULL, out, RFT_MENTIONS_MAX);
		goto encode;
	}
	if (*reply_to > cv->last_seq) {
		snprintf(err, errlen,
			 "replyTo out of range: the conversation's lastSeq "
			 "is %" PRIu64,
			 cv->last_seq);
		*stale = true;
		return CF_EBADREQ;
	}
	for (unsigned k = 0; k < n_ex; k++) {
		if (!rft_conv_has_member(cv, ex[k])) {
			snprintf(err, errlen,
				 "'mentions': %.*s is not a member of this "
				 "conversation",
				 (int)ex[k].len, ex[k].p);
			*stale = true;
			return CF_EBADREQ;
		}
	}
	n = fe_mention_list(content, ex, n_ex, is_member, (void *)cv, out,
			    RFT_MENTIONS_MAX);
encode:
	if (n == 0)
		return 0;
	return rft_idlist_encode(list, out, n);
}
