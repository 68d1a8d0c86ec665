#include "config.h"

/* sync_edit: see sync_edit.h. */

#include "sync/sync_edit.h"

#include <errno.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_jw.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"
#include "sync/sync_read.h"

int sync_edit_latest(struct rft_fsm *f, const struct rft_conv *c,
		     struct log_record *rec, struct cf_buf *escratch,
		     uint64_t *edited_at)
{
	const struct rft_edit *e = rft_conv_edit(c, rec->seq);
	struct log_record er;
	int rv;

	*edited_at = 0;
	if (e == NULL || rft_conv_recalled(c, rec->seq))
		return 0;
	rv = rft_fsm_read_edit(f, c, e, &er, escratch);
	if (rv != 0)
		return rv;
	rec->body = er.body;
	rec->flags = er.flags;
	*edited_at = e->ts;
	return 0;
}

int sync_edit_write_at(struct cf_buf *b, uint64_t edited_at)
{
	int rv;

	if (edited_at == 0)
		return 0;
	if (b->len == 0 || b->data[b->len - 1] != '}')
		return CF_ECORRUPT; /* not what sync_message_write wrote */
	b->len--;
	if ((rv = cf_jw_lit(b, ",\"editedAt\":")) != 0 ||
	    (rv = cf_jw_u64(b, edited_at)) != 0)
		return rv;
	return cf_jw_lit(b, "}");
}

static json_t *str_json(struct cf_str s)
{
	return json_stringn(s.p != NULL ? s.p : "", s.len);
}

/* The fields every `edited` object has. */
static json_t *edited_base(struct cf_str conv, uint64_t seq,
			   uint64_t message_id)
{
	char id[24], cursor[24];

	sync_message_id_str(message_id, id);
	sync_cursor_str(message_id, cursor);
	return json_pack("{s:s, s:s, s:o, s:I, s:s}", "type", "edited",
			 "cursor", cursor, "conversationId", str_json(conv),
			 "seq", (json_int_t)seq, "messageId", id);
}

/*
 * content, editedAt and mentions (if any) of a version into o, and
 * mentionsMe when it mentions user (user.len 0: nobody in particular).
 */
static int version_set(json_t *o, const struct log_record *ver,
		       uint64_t edited_at, struct cf_str user)
{
	struct cf_str content, att, id;
	struct rft_rec_meta meta;
	size_t pos = 0;
	json_t *a;

	if (rft_rec_message_split(ver, &content, &att) != 0)
		content = ver->body;
	if (rft_rec_message_meta(ver, &meta) != 0)
		meta.mentions.len = 0;
	if (json_object_set_new(o, "content", str_json(content)) != 0 ||
	    json_object_set_new(o, "editedAt",
				json_integer((json_int_t)edited_at)) != 0)
		return -ENOMEM;
	if (meta.mentions.len == 0 || rft_idlist_count(meta.mentions) == 0)
		return 0;
	if (user.len > 0 && rft_rec_mentions_has(meta.mentions, user) &&
	    json_object_set_new(o, "mentionsMe", json_true()) != 0)
		return -ENOMEM;
	a = json_array();
	if (a == NULL || json_object_set_new(o, "mentions", a) != 0)
		return -ENOMEM;
	while (rft_idlist_next(meta.mentions, &pos, &id))
		if (json_array_append_new(a, str_json(id)) != 0)
			return -ENOMEM;
	return 0;
}

json_t *sync_edited_json(const struct log_record *rec)
{
	json_t *o = edited_base(rec->conv, rec->seq, rec->message_id);

	if (o != NULL && version_set(o, rec, rec->ts, CF_STR_LIT("")) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *sync_edited_item(struct rft_fsm *f, const struct rft_conv *c,
			 uint64_t message_id, uint64_t seq, struct cf_str user,
			 struct cf_buf *scratch, int *rv)
{
	const struct rft_edit *e = rft_conv_edit(c, seq);
	struct log_record ver;
	json_t *o;

	*rv = -ENOMEM;
	o = edited_base(cf_str_c(c->id), seq, message_id);
	if (o == NULL)
		return NULL;
	if (rft_conv_recalled(c, seq) || e == NULL) {
		/* Recalled since (an edit item without an edit would be a
		 * broken index: show it as gone rather than fail the sync). */
		if (json_object_set_new(o, "recalled", json_true()) != 0)
			goto err;
		*rv = 0;
		return o;
	}
	*rv = rft_fsm_read_edit(f, c, e, &ver, scratch);
	if (*rv != 0)
		goto err;
	*rv = version_set(o, &ver, e->ts, user);
	if (*rv != 0)
		goto err;
	return o;
err:
	json_decref(o);
	return NULL;
}
