#include "config.h"

/* fe_api_parse: see fe_api_parse.h. */

#include "frontend/fe_api_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "frontend/fe_json.h"
#include "frontend/fe_mention.h"

/* ---- send ---- */

/*
 * API.md's attachment: {"mediaId" (an id, required), "mime" and "name"
 * (strings), "size" (an integer >= 0)}; 0 or CF_EBADREQ with err set.
 */
static int attachment_check(json_t *att, char *err, size_t errlen)
{
	struct cf_str s;
	json_t *size;
	int rv;

	if (!json_is_object(att)) {
		snprintf(err, errlen, "'attachment' must be an object");
		return CF_EBADREQ;
	}
	if ((rv = fe_json_str(att, "mediaId", true, FE_STR_ID, 0, &s, err,
			      errlen)) != 0 ||
	    (rv = fe_json_str(att, "mime", false, FE_STR_ANY, 255, &s, err,
			      errlen)) != 0 ||
	    (rv = fe_json_str(att, "name", false, FE_STR_ANY, 1024, &s, err,
			      errlen)) != 0)
		return rv;
	size = json_object_get(att, "size");
	if (size != NULL && !json_is_null(size) &&
	    (!json_is_integer(size) || json_integer_value(size) < 0)) {
		snprintf(err, errlen, "'size' must be an integer >= 0");
		return CF_EBADREQ;
	}
	return 0;
}

int fe_parse_send(json_t *o, unsigned max_chars, struct fe_send_fields *f,
		  char *err, size_t errlen)
{
	int rv;

	memset(f, 0, sizeof *f);
	if ((rv = fe_json_str(o, "conversationId", true, FE_STR_ID, 0,
			      &f->conv, err, errlen)) != 0 ||
	    (rv = fe_json_str(o, "clientMsgId", true, FE_STR_ID, 0, &f->cmid,
			      err, errlen)) != 0 ||
	    (rv = fe_json_str(o, "msgType", false, FE_STR_MSGTYPE, 0,
			      &f->type, err, errlen)) != 0 ||
	    (rv = fe_json_str(o, "content", false, FE_STR_ANY, 0, &f->content,
			      err, errlen)) != 0)
		return rv;
	return fe_parse_send_rest(f, json_object_get(o, "attachment"),
				  max_chars, err, errlen);
}

int fe_parse_send_rest(struct fe_send_fields *f, json_t *att,
		       unsigned max_chars, char *err, size_t errlen)
{
	int rv;

	if (f->type.p == NULL)
		f->type = CF_STR_LIT("text");
	if (f->content.p == NULL) {
		if (cf_str_eqc(f->type, "text")) {
			snprintf(err, errlen, "'content' is required");
			return CF_EBADREQ;
		}
		f->content = CF_STR_LIT("");
	}
	if (cf_utf8_chars(f->content.p, f->content.len) > max_chars) {
		snprintf(err, errlen, "'content' is over %u characters",
			 max_chars);
		return CF_ETOOBIG;
	}
	if (att != NULL && json_is_null(att))
		att = NULL;
	if (att == NULL &&
	    (cf_str_eqc(f->type, "image") || cf_str_eqc(f->type, "file"))) {
		snprintf(err, errlen,
			 "an image or file carries an 'attachment'");
		return CF_EBADREQ;
	}
	if (att != NULL && (rv = attachment_check(att, err, errlen)) != 0)
		return rv;
	f->attachment = att;
	return 0;
}

/* ---- create ---- */

int fe_parse_create(json_t *o, const char *user, unsigned max_group,
		    struct fe_create_fields *f, char *err, size_t errlen)
{
	struct cf_str type;
	json_t *members;
	size_t i;
	json_t *v;
	int rv;

	memset(f, 0, sizeof *f);
	if ((rv = fe_json_str(o, "type", true, FE_STR_ANY, 16, &type, err,
			      errlen)) != 0 ||
	    (rv = fe_json_str(o, "title", false, FE_STR_ANY, 256, &f->title,
			      err, errlen)) != 0 ||
	    (rv = fe_json_str(o, "conversationId", false, FE_STR_ID, 0,
			      &f->conv, err, errlen)) != 0 ||
	    (rv = fe_json_str(o, "clientMsgId", false, FE_STR_ID, 0, &f->key,
			      err, errlen)) != 0)
		return rv;
	if (!cf_str_eqc(type, "direct") && !cf_str_eqc(type, "group")) {
		snprintf(err, errlen, "'type' must be direct or group");
		return CF_EBADREQ;
	}
	f->direct = cf_str_eqc(type, "direct");
	members = json_object_get(o, "members");
	if (!json_is_array(members)) {
		snprintf(err, errlen, "'members' must be an array of ids");
		return CF_EBADREQ;
	}
	if (json_array_size(members) > max_group) {
		snprintf(err, errlen, "a group has at most %u members",
			 max_group);
		return CF_EBADREQ;
	}
	f->ids = calloc(json_array_size(members) + 1, sizeof *f->ids);
	if (f->ids == NULL)
		return -ENOMEM;
	json_array_foreach(members, i, v)
	{
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		if (!json_is_string(v) || !cf_id_valid(s, len)) {
			snprintf(err, errlen,
				 "'members' must be ids of 1 to 128 bytes of "
				 "[A-Za-z0-9._:@-]");
			return CF_EBADREQ;
		}
		if (strcmp(s, user) == 0)
			continue; /* the caller is always a member */
		f->ids[f->n].p = s;
		f->ids[f->n].len = len;
		f->n++;
	}
	if (f->direct) {
		if (f->n != 1 || f->conv.p != NULL || f->title.p != NULL) {
			snprintf(err, errlen,
				 "a direct conversation has exactly one other "
				 "member, and no id or title");
			return CF_EBADREQ;
		}
		return 0;
	}
	if (f->n + 1 > max_group) {
		snprintf(err, errlen, "a group has at most %u members",
			 max_group);
		return CF_EBADREQ;
	}
	if (f->conv.p != NULL && f->conv.len >= 2 &&
	    strncmp(f->conv.p, "c_", 2) == 0) {
		snprintf(err, errlen,
			 "'conversationId' may not start with c_");
		return CF_EBADREQ;
	}
	if (f->conv.p == NULL && f->key.p != NULL) {
		/* The idempotency key names the group (see
		 * rft_keyed_conv_id): a retry is the same create. */
		rft_keyed_conv_id(cf_str_c(user), f->key, f->keyed);
		f->conv = cf_str_c(f->keyed);
	}
	return 0;
}

/* ---- members ---- */

/*
 * o[key]: absent, or an array of valid ids, appended to ids (distinct
 * ones only: a repeat is dropped). *n grows.
 */
static int take_ids(json_t *o, const char *key, struct cf_str *ids,
		    unsigned cap, unsigned *n, char *err, size_t errlen)
{
	json_t *a = json_object_get(o, key), *v;
	unsigned first = *n;
	size_t i;

	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a)) {
		snprintf(err, errlen, "'%s' must be an array of ids", key);
		return CF_EBADREQ;
	}
	if (json_array_size(a) > cap - *n) {
		snprintf(err, errlen, "too many ids in '%s'", key);
		return CF_EBADREQ;
	}
	json_array_foreach(a, i, v)
	{
		struct cf_str id = {json_string_value(v), json_string_length(v)};
		unsigned j;

		if (!json_is_string(v) || !cf_id_valid(id.p, id.len)) {
			snprintf(err, errlen,
				 "'%s' must be ids of 1 to 128 bytes of "
				 "[A-Za-z0-9._:@-]",
				 key);
			return CF_EBADREQ;
		}
		for (j = first; j < *n && !cf_str_eq(ids[j], id); j++)
			;
		if (j == *n)
			ids[(*n)++] = id;
	}
	return 0;
}

int fe_parse_members(json_t *o, unsigned max_group, struct cf_str *ids,
		     unsigned *na, unsigned *n, char *err, size_t errlen)
{
	unsigned cap = max_group + 1;
	int rv;

	*na = 0;
	*n = 0;
	rv = take_ids(o, "add", ids, cap, na, err, errlen);
	if (rv != 0)
		return rv;
	*n = *na;
	rv = take_ids(o, "remove", ids, *na + cap, n, err, errlen);
	if (rv != 0)
		return rv;
	if (*n == 0) {
		snprintf(err, errlen,
			 "give 'add' and/or 'remove', arrays of ids");
		return CF_EBADREQ;
	}
	return 0;
}

/*
 * The group limit (--max-group) as this node sees the conversation: the
 * FSM cannot apply local config, so the frontend refuses what would pass
 * it here (a concurrent change may still add a few).
 */
int fe_members_limit(const struct rft_conv *cv, unsigned max_group,
		     const struct cf_str *ids, unsigned na, unsigned n,
		     char *err, size_t errlen)
{
	unsigned total, k;

	if (cv == NULL) {
		if (na <= max_group)
			return 0; /* the FSM answers 404 */
		snprintf(err, errlen, "a group has at most %u members",
			 max_group);
		return CF_EBADREQ;
	}
	if (cv->type == RFT_CONV_DIRECT) {
		snprintf(err, errlen,
			 "members of a direct conversation cannot change");
		return CF_EBADREQ;
	}
	total = cv->n_members;
	for (k = 0; k < na; k++)
		if (!rft_conv_has_member(cv, ids[k]))
			total++;
	for (k = na; k < n; k++)
		if (rft_conv_has_member(cv, ids[k]) && total > 0)
			total--;
	if (total > max_group && total > cv->n_members) {
		snprintf(err, errlen, "a group has at most %u members",
			 max_group);
		return CF_EBADREQ;
	}
	return 0;
}

/* ---- receipts ---- */

int fe_parse_receipt(json_t *o, uint64_t *seq, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "upToSeq");

	if (v == NULL || json_is_null(v)) {
		snprintf(err, errlen, "'upToSeq' is required");
		return CF_EBADREQ;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)(1ll << 53)) {
		snprintf(err, errlen,
			 "'upToSeq' must be a non-negative integer");
		return CF_EBADREQ;
	}
	*seq = (uint64_t)json_integer_value(v);
	return 0;
}

/* ---- edits ---- */

int fe_parse_edit(json_t *o, unsigned max_chars, struct cf_str *ceid,
		  struct cf_str *content, char *err, size_t errlen)
{
	int rv;

	if ((rv = fe_json_str(o, "clientEditId", true, FE_STR_ID, 0, ceid,
			      err, errlen)) != 0 ||
	    (rv = fe_json_str(o, "content", true, FE_STR_ANY, 0, content, err,
			      errlen)) != 0)
		return rv;
	if (content->len == 0) {
		snprintf(err, errlen, "'content' must not be empty");
		return CF_EBADREQ;
	}
	if (cf_utf8_chars(content->p, content->len) > max_chars) {
		snprintf(err, errlen, "'content' is over %u characters",
			 max_chars);
		return CF_ETOOBIG;
	}
	return 0;
}

static bool is_member(void *arg, struct cf_str id)
{
	return rft_conv_has_member(arg, id);
}

int fe_edit_mentions(json_t *o, const struct rft_conv *cv, const char *user,
		     struct cf_str content, struct cf_buf *out, char *err,
		     size_t errlen)
{
	json_t *a = json_object_get(o, "mentions");
	struct cf_str ids[RFT_MENTIONS_MAX], final[RFT_MENTIONS_MAX];
	size_t i, n = 0;
	unsigned nf;
	json_t *v;

	if (a != NULL && !json_is_null(a) &&
	    (!json_is_array(a) || json_array_size(a) > RFT_MENTIONS_MAX)) {
		snprintf(err, errlen, "'mentions' must be an array of at most "
				      "%u user ids",
			 RFT_MENTIONS_MAX);
		return CF_EBADREQ;
	}
	if (a != NULL && json_is_array(a)) {
		json_array_foreach(a, i, v)
		{
			if (!json_is_string(v) ||
			    !cf_id_valid(json_string_value(v),
					 json_string_length(v))) {
				snprintf(err, errlen,
					 "'mentions' must be user ids");
				return CF_EBADREQ;
			}
			ids[n].p = json_string_value(v);
			ids[n++].len = json_string_length(v);
		}
	}
	if (cv != NULL && rft_conv_has_member(cv, cf_str_c(user)))
		nf = fe_mention_list(content, ids, (unsigned)n, is_member,
				     (void *)cv, final, RFT_MENTIONS_MAX);
	else
		nf = fe_mention_list(CF_STR_LIT(""), ids, (unsigned)n,
				     is_member, NULL, final, RFT_MENTIONS_MAX);
	return nf > 0 ? rft_idlist_encode(out, final, nf) : 0;
}
