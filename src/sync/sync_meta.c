#include "config.h"

/* sync_meta: see sync_meta.h. */

#include "sync/sync_meta.h"

#include <errno.h>

#include "common/cf_jw.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"

static bool meta_of(const struct log_record *rec, struct rft_rec_meta *m)
{
	if (rec->kind != LOG_REC_MESSAGE && rec->kind != LOG_REC_EDIT)
		return false;
	if ((rec->flags & RFT_REC_MSG_META) == 0)
		return false;
	return rft_rec_message_meta(rec, m) == 0;
}

int sync_meta_json_set(json_t *o, const struct log_record *rec)
{
	struct rft_rec_meta m;
	struct cf_str id;
	size_t pos = 0;
	json_t *a;

	if (!meta_of(rec, &m))
		return 0;
	if (m.reply_to != 0 &&
	    json_object_set_new(o, "replyTo",
				json_integer((json_int_t)m.reply_to)) != 0)
		return -ENOMEM;
	if (rft_idlist_count(m.mentions) == 0)
		return 0;
	a = json_array();
	if (a == NULL)
		return -ENOMEM;
	while (rft_idlist_next(m.mentions, &pos, &id)) {
		if (json_array_append_new(a, json_stringn(id.p, id.len)) != 0) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	return json_object_set_new(o, "mentions", a) != 0 ? -ENOMEM : 0;
}

bool sync_meta_mentions(const struct log_record *rec, struct cf_str reader)
{
	struct rft_rec_meta m;

	if (reader.p == NULL || reader.len == 0 || !meta_of(rec, &m))
		return false;
	return rft_rec_mentions_has(m.mentions, reader);
}

int sync_meta_json_me(json_t *o, const struct log_record *rec,
		      struct cf_str reader)
{
	if (!sync_meta_mentions(rec, reader))
		return 0;
	return json_object_set_new(o, "mentionsMe", json_true()) != 0
		       ? -ENOMEM
		       : 0;
}

int sync_meta_write(struct cf_buf *b, const struct log_record *rec,
		    struct cf_str reader)
{
	struct rft_rec_meta m;
	struct cf_str id;
	size_t pos = 0;
	bool first = true;
	int rv = 0;

	if (!meta_of(rec, &m))
		return 0;
	if (m.reply_to != 0 &&
	    ((rv = cf_jw_lit(b, ",\"replyTo\":")) != 0 ||
	     (rv = cf_jw_u64(b, m.reply_to)) != 0))
		return rv;
	if (rft_idlist_count(m.mentions) == 0)
		return 0;
	rv = cf_jw_lit(b, ",\"mentions\":[");
	while (rv == 0 && rft_idlist_next(m.mentions, &pos, &id)) {
		if (!first)
			rv = cf_jw_lit(b, ",");
		first = false;
		if (rv == 0)
			rv = cf_jw_str(b, id.p, id.len);
	}
	if (rv == 0)
		rv = cf_jw_lit(b, "]");
	if (rv == 0 && reader.p != NULL && reader.len > 0 &&
	    rft_rec_mentions_has(m.mentions, reader))
		rv = cf_jw_lit(b, ",\"mentionsMe\":true");
	return rv;
}
