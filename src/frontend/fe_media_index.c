#include "config.h"

/*
 * fe_media_index: the index of committed media references (m->index:
 * mediaId -> uploader, mime, size, hash and the conversations whose
 * messages reference it; m->by_msg: message -> mediaId), built from the
 * committed records (fe_media_on_record) and used by fe_media.c's access
 * rules and downloads; erasure of a blob whose last reference is recalled.
 * Contract in fe_media.h; the entries in fe_media_int.h; the index's part
 * of the state image in fe_media_image.c.
 */

#include "frontend/fe_media.h"
#include "frontend/fe_media_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "raft/rft_rec.h"

/* ---- index of committed references ---- */

struct fe_media_meta *fe__media_meta_get(struct fe_media *m, const char *id,
					 size_t len, bool create)
{
	struct fe_media_meta *mt = cf_map_get(&m->index, id, len);

	if (mt != NULL || !create)
		return mt;
	mt = calloc(1, sizeof *mt);
	if (mt != NULL && cf_map_put(&m->index, id, len, mt, NULL) != 0) {
		free(mt);
		mt = NULL;
	}
	return mt;
}

static void index_media(struct fe_media *m, const struct log_record *rec)
{
	struct fe_media_meta *mt;
	json_error_t je;
	json_t *o;
	const char *mime, *x;

	o = json_loadb(rec->body.p, rec->body.len, 0, &je);
	mime = json_string_value(json_object_get(o, "mime"));
	x = json_string_value(json_object_get(o, "xxh3"));
	mt = fe__media_meta_get(m, rec->client_msg_id.p, rec->client_msg_id.len,
				true);
	if (o == NULL || mime == NULL || x == NULL || mt == NULL ||
	    rec->sender.len >= sizeof mt->user) {
		cf_warn("media reference %.*s: bad record (%.*s)",
			(int)rec->client_msg_id.len, rec->client_msg_id.p,
			(int)(rec->body.len < 200 ? rec->body.len : 200),
			rec->body.p);
		json_decref(o);
		return;
	}
	mt->committed = true;
	memcpy(mt->user, rec->sender.p, rec->sender.len);
	mt->user[rec->sender.len] = '\0';
	snprintf(mt->mime, sizeof mt->mime, "%s", mime);
	mt->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
	mt->xxh3 = strtoull(x, NULL, 16);
	json_decref(o);
}

/* by_msg key of conv's message seq. */
static void msg_key(char *key, size_t size, struct cf_str conv, uint64_t seq)
{
	snprintf(key, size, "%.*s\x1f%llu", (int)conv.len, conv.p,
		 (unsigned long long)seq);
}

/*
 * A recall: the message no longer references its blob; a blob no message
 * references any more after a recall is erased (its file unlinked).
 */
static void media_recall(struct fe_media *m, const struct log_record *rec,
			 bool live)
{
	struct fe_media_meta *mt;
	char key[160];
	char *id;
	int rv;

	msg_key(key, sizeof key, rec->conv, rec->seq);
	id = cf_map_get(&m->by_msg, key, strlen(key));
	if (id == NULL)
		return;
	cf_map_del(&m->by_msg, key, strlen(key));
	mt = fe__media_meta_get(m, id, strlen(id), false);
	if (mt != NULL && mt->live > 0 && --mt->live == 0) {
		if (!live) {
			mt->unref = true; /* fe_media_rebuilt() decides */
		} else {
			mt->erased = true;
			rv = fe_media_blob_unlink(m, id);
			if (rv != 0)
				cf_warn("media %s: erasing: %s", id,
					cf_strerror(rv));
		}
	}
	free(id);
}

static void index_attachment(struct fe_media *m, const struct log_record *rec)
{
	struct cf_str content, att;
	char key[160];
	struct fe_media_meta *mt;
	json_error_t je;
	const char *id;
	json_t *o;
	char **v;

	if (!(rec->flags & RFT_REC_MSG_ATTACH) ||
	    rft_rec_message_split(rec, &content, &att) != 0 || att.len == 0)
		return;
	o = json_loadb(att.p, att.len, 0, &je);
	id = json_string_value(json_object_get(o, "mediaId"));
	if (id == NULL || !cf_id_valid(id, strlen(id)) ||
	    (mt = fe__media_meta_get(m, id, strlen(id), true)) == NULL)
		goto out;
	msg_key(key, sizeof key, rec->conv, rec->seq);
	if (cf_map_get(&m->by_msg, key, strlen(key)) == NULL) {
		char *dup = strdup(id);

		if (dup != NULL &&
		    cf_map_put(&m->by_msg, key, strlen(key), dup, NULL) != 0)
			free(dup);
		else if (dup != NULL) {
			mt->live++;
			mt->unref = false;
		}
	}
	for (unsigned i = 0; i < mt->n_convs; i++)
		if (strlen(mt->convs[i]) == rec->conv.len &&
		    memcmp(mt->convs[i], rec->conv.p, rec->conv.len) == 0)
			goto out;
	v = realloc(mt->convs, (mt->n_convs + 1) * sizeof *v);
	if (v == NULL)
		goto out;
	mt->convs = v;
	v[mt->n_convs] = strndup(rec->conv.p, rec->conv.len);
	if (v[mt->n_convs] != NULL)
		mt->n_convs++;
out:
	json_decref(o);
}

void fe_media_on_record(struct fe_media *m, const struct log_record *rec,
			const struct rft_conv *conv, bool live)
{
	(void)conv;
	if (rec->kind == LOG_REC_MEDIA)
		index_media(m, rec);
	else if (rec->kind == LOG_REC_MESSAGE || rec->kind == LOG_REC_EDIT)
		index_attachment(m, rec); /* an edit carries it on */
	else if (rec->kind == LOG_REC_RECALL)
		media_recall(m, rec, live);
}

void fe_media_rebuilt(struct fe_media *m)
{
	const struct cf_map_slot *slot;
	size_t i = 0;
	int rv;

	while (cf_map_next(&m->index, &i, &slot)) {
		struct fe_media_meta *mt = slot->val;

		if (!mt->unref)
			continue;
		mt->unref = false;
		if (mt->live > 0)
			continue;
		/* Erased when the recall was applied; again if a crash came
		 * first. */
		mt->erased = true;
		rv = fe_media_blob_unlink(m, slot->key);
		if (rv != 0)
			cf_warn("media %s: erasing: %s", (const char *)slot->key,
				cf_strerror(rv));
	}
}

void fe__media_index_clear(struct fe_media *m)
{
	const struct cf_map_slot *slot;
	size_t i = 0;

	while (cf_map_next(&m->index, &i, &slot)) {
		struct fe_media_meta *mt = slot->val;
		for (unsigned k = 0; k < mt->n_convs; k++)
			free(mt->convs[k]);
		free(mt->convs);
		free(mt);
	}
	cf_map_release(&m->index);
	i = 0;
	while (cf_map_next(&m->by_msg, &i, &slot))
		free(slot->val);
	cf_map_release(&m->by_msg);
}

void fe_media_reset_index(struct fe_media *m)
{
	fe__media_index_clear(m);
	cf_map_init(&m->index);
	cf_map_init(&m->by_msg);
}
