#include "config.h"
/*
 * rft_media: who may attach a media blob (issue 11, security). A mediaId
 * is a capability only for its uploader and for the current members of a
 * conversation where a message already carries it; anyone else who learned
 * the id (a member removed from the group that shared the image, an
 * outsider shown a link) cannot attach it elsewhere and so cannot read the
 * blob through that conversation. The rule is decided at apply from
 * committed records only (deterministic on every node), and rebuilt from
 * the same records when the store opens: the media record names the
 * uploader, a message's attachment names the conversation. The scan of a
 * rebuild reads partitions in turn, so a message may come before its
 * blob's record: an entry is made on first sight and completed later.
 *
 * Memory: one entry per blob (uploader id) plus one pointer per
 * conversation that attached it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "raft/rft_fsm_int.h"

struct rft_media {
	char *uploader; /* NULL until its record is seen (rebuild order) */
	struct rft_conv_st **convs;
	unsigned n, cap;
};

int rft__media_attachment_id(struct cf_str attachment, struct cf_str *id,
			     char buf[CF_ID_MAX + 1])
{
	json_t *o = json_loadb(attachment.p, attachment.len, 0, NULL);
	const char *s = json_string_value(json_object_get(o, "mediaId"));
	size_t n = s != NULL ? strlen(s) : 0;
	int rv = 0;

	if (o == NULL)
		return attachment.len > 0 ? CF_EBADREQ : CF_ENOTFOUND;
	if (s == NULL)
		rv = CF_ENOTFOUND;
	else if (!cf_id_valid(s, n))
		rv = CF_EBADREQ;
	else {
		memcpy(buf, s, n + 1);
		*id = (struct cf_str){buf, n};
	}
	json_decref(o);
	return rv;
}

static struct rft_media *media_get(struct rft_fsm *f, struct cf_str id,
				   bool create)
{
	struct rft_media *m = cf_map_get(&f->media, id.p, id.len);

	if (m != NULL || !create)
		return m;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	if (cf_map_put(&f->media, id.p, id.len, m, NULL) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

int rft__media_uploaded(struct rft_fsm *f, struct cf_str id,
			struct cf_str uploader)
{
	struct rft_media *m = media_get(f, id, true);

	if (m == NULL)
		return -ENOMEM;
	if (m->uploader != NULL)
		return 0; /* the first record names it */
	m->uploader = strndup(uploader.p, uploader.len);
	return m->uploader != NULL ? 0 : -ENOMEM;
}

int rft__media_may_attach(struct rft_fsm *f, struct cf_str id,
			  struct cf_str user)
{
	struct rft_media *m = media_get(f, id, false);

	if (m == NULL || m->uploader == NULL)
		return CF_ENOTFOUND;
	if (cf_str_eqc(user, m->uploader))
		return 0;
	for (unsigned i = 0; i < m->n; i++)
		if (rft_conv_has_member(&m->convs[i]->pub, user))
			return 0;
	return CF_EFORBIDDEN;
}

int rft__media_attached(struct rft_fsm *f, struct cf_str id,
			struct rft_conv_st *c)
{
	struct rft_media *m = media_get(f, id, true);

	if (m == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < m->n; i++)
		if (m->convs[i] == c)
			return 0;
	if (m->n == m->cap) {
		unsigned cap = m->cap != 0 ? m->cap * 2 : 2;
		struct rft_conv_st **v = realloc(m->convs, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		m->convs = v;
		m->cap = cap;
	}
	m->convs[m->n++] = c;
	return 0;
}

void rft__media_release(struct rft_fsm *f)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	while (cf_map_next(&f->media, &i, &s)) {
		struct rft_media *m = s->val;

		free(m->uploader);
		free(m->convs);
		free(m);
	}
	cf_map_release(&f->media);
	cf_map_init(&f->media);
}

/* The "MED1" section's body (format: rft_image.c). */
void rft__media_image_write(const struct rft_fsm *f, struct cf_imgw *w)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	cf_imgw_u32(w, (uint32_t)f->media.n);
	while (cf_map_next(&f->media, &i, &s)) {
		const struct rft_media *m = s->val;

		cf_imgw_str(w, s->key, s->klen);
		cf_imgw_u8(w, m->uploader != NULL ? 1 : 0);
		cf_imgw_cstr(w, m->uploader);
		cf_imgw_u32(w, m->n);
		for (unsigned k = 0; k < m->n; k++)
			cf_imgw_cstr(w, m->convs[k]->pub.id);
	}
}

int rft__media_image_read(struct rft_fsm *f, struct cf_imgr *r)
{
	uint32_t n = cf_imgr_count(r, 13);

	for (uint32_t i = 0; i < n && r->err == 0; i++) {
		struct cf_str id = cf_imgr_str(r, CF_ID_MAX);
		uint8_t known = cf_imgr_u8(r);
		struct cf_str up = cf_imgr_str(r, CF_ID_MAX);
		uint32_t k = cf_imgr_count(r, 4);
		struct rft_media *m;
		int rv;

		if (r->err != 0)
			break;
		if (id.len == 0 || known > 1 ||
		    cf_map_get(&f->media, id.p, id.len) != NULL) {
			cf_imgr_fail(r);
			break;
		}
		m = media_get(f, id, true);
		if (m == NULL)
			return r->err = -ENOMEM;
		if (known) {
			m->uploader = strndup(up.p, up.len);
			if (m->uploader == NULL)
				return r->err = -ENOMEM;
		}
		while (k-- > 0 && r->err == 0) {
			struct cf_str conv = cf_imgr_str(r, CF_ID_MAX);
			struct rft_conv_st *c =
				r->err == 0 ? rft__conv_find(f, conv) : NULL;

			if (r->err != 0)
				break;
			if (c == NULL) {
				cf_imgr_fail(r);
				break;
			}
			rv = rft__media_attached(f, id, c);
			if (rv != 0)
				return r->err = rv;
		}
	}
	return r->err;
}
