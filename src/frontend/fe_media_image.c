#include "config.h"

/*
 * fe_media_image: the media reference index (fe_media_index.c's m->index and
 * m->by_msg, built from the committed records by fe_media_on_record) in
 * the state image (issue 11), so that a node that opens with an image
 * need not read every message record to know who may read which blob.
 * Contract in fe_media.h; the primitives and the framing in
 * common/cf_img.h (integers little-endian, "str" = u32 length + bytes).
 *
 * IMAGE SECTION
 *
 *   u32 tag "FMI1" (0x31494d46), the section's name and version
 *   u32 n_media, then per mediaId known to the index (any order):
 *       str id          1..CF_ID_MAX bytes
 *       u8  flags       1 committed (its RFT_CMD_MEDIA was applied),
 *                       2 erased (every reference recalled: file gone),
 *                       4 unref (a rebuild's recall dropped the last
 *                       reference: fe_media_rebuilt decides); no others
 *       str user        the uploader, 0..128 bytes, no NUL
 *       str mime        0..127 bytes, no NUL
 *       u64 size, u64 xxh3
 *       u32 live        messages that reference it, not recalled
 *       u32 n_convs, then str conv (1..CF_ID_MAX bytes, no NUL) each:
 *                       the conversations whose messages referenced it,
 *                       in the order they were first seen
 *   u32 n_refs, then per attachment not recalled (any order):
 *       str key         "conv\x1fseq" (1..159 bytes, as fe_media_index.c keys)
 *       str media_id    an id of the list above
 *   u32 end marker (cf_imgw_end)
 *
 * The reader refuses (CF_ECORRUPT) a count the rest cannot hold, a string
 * out of its bounds, a mediaId or key twice, unknown flags, and a
 * reference to a mediaId the section does not list. It reads back the
 * same index: every lookup answers as before, and later records (recalls
 * that erase) act as they would have.
 */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_img.h"
#include "frontend/fe_media.h"
#include "frontend/fe_media_int.h"

#define IMG_TAG 0x31494d46u /* "FMI1" */
#define F_COMMITTED 1u
#define F_ERASED 2u
#define F_UNREF 4u
#define KEY_MAX 159 /* fe_media_index.c: msg_key() into char[160] */
/* The NUL-terminated fields of struct fe_media_meta, without the NUL. */
#define USER_MAX (sizeof(((struct fe_media_meta *)0)->user) - 1)
#define MIME_MAX (sizeof(((struct fe_media_meta *)0)->mime) - 1)

void fe_media_image_write(const struct fe_media *m, struct cf_imgw *w)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	cf_imgw_begin(w, IMG_TAG);
	cf_imgw_u32(w, (uint32_t)m->index.n);
	while (cf_map_next(&m->index, &i, &s)) {
		const struct fe_media_meta *mt = s->val;

		cf_imgw_str(w, s->key, s->klen);
		cf_imgw_u8(w, (uint8_t)((mt->committed ? F_COMMITTED : 0) |
					(mt->erased ? F_ERASED : 0) |
					(mt->unref ? F_UNREF : 0)));
		cf_imgw_cstr(w, mt->user);
		cf_imgw_cstr(w, mt->mime);
		cf_imgw_u64(w, mt->size);
		cf_imgw_u64(w, mt->xxh3);
		cf_imgw_u32(w, mt->live);
		cf_imgw_u32(w, mt->n_convs);
		for (unsigned k = 0; k < mt->n_convs; k++)
			cf_imgw_cstr(w, mt->convs[k]);
	}
	cf_imgw_u32(w, (uint32_t)m->by_msg.n);
	i = 0;
	while (cf_map_next(&m->by_msg, &i, &s)) {
		cf_imgw_str(w, s->key, s->klen);
		cf_imgw_cstr(w, s->val);
	}
	cf_imgw_end(w, IMG_TAG);
}

static int img_nomem(struct cf_imgr *r)
{
	if (r->err == 0)
		r->err = -ENOMEM;
	return r->err;
}

/* A string of min..max bytes without NUL, in place. */
static struct cf_str img_text(struct cf_imgr *r, size_t min, size_t max)
{
	struct cf_str v = cf_imgr_str(r, max);

	if (r->err == 0 &&
	    (v.len < min || memchr(v.p, '\0', v.len) != NULL))
		cf_imgr_fail(r);
	return v;
}

static int img_read_meta(struct fe_media *m, struct cf_imgr *r)
{
	struct cf_str id = img_text(r, 1, CF_ID_MAX);
	uint8_t flags = cf_imgr_u8(r);
	struct cf_str user = img_text(r, 0, USER_MAX);
	struct cf_str mime = img_text(r, 0, MIME_MAX);
	struct fe_media_meta *mt;
	uint32_t n;

	if (r->err != 0)
		return r->err;
	if ((flags & ~(F_COMMITTED | F_ERASED | F_UNREF)) != 0 ||
	    cf_map_get(&m->index, id.p, id.len) != NULL) {
		cf_imgr_fail(r);
		return r->err;
	}
	mt = calloc(1, sizeof(*mt));
	if (mt == NULL)
		return img_nomem(r);
	if (cf_map_put(&m->index, id.p, id.len, mt, NULL) != 0) {
		free(mt);
		return img_nomem(r);
	}
	mt->committed = (flags & F_COMMITTED) != 0;
	mt->erased = (flags & F_ERASED) != 0;
	mt->unref = (flags & F_UNREF) != 0;
	memcpy(mt->user, user.p, user.len);
	memcpy(mt->mime, mime.p, mime.len);
	mt->size = cf_imgr_u64(r);
	mt->xxh3 = cf_imgr_u64(r);
	mt->live = cf_imgr_u32(r);
	n = cf_imgr_count(r, 4 + 1);
	if (r->err != 0)
		return r->err;
	if (n > 0) {
		mt->convs = malloc(n * sizeof(*mt->convs));
		if (mt->convs == NULL)
			return img_nomem(r);
	}
	for (uint32_t k = 0; k < n; k++) {
		struct cf_str conv = img_text(r, 1, CF_ID_MAX);

		if (r->err != 0)
			return r->err;
		mt->convs[k] = strndup(conv.p, conv.len);
		if (mt->convs[k] == NULL)
			return img_nomem(r);
		mt->n_convs++;
	}
	return 0;
}

static int img_read_ref(struct fe_media *m, struct cf_imgr *r)
{
	struct cf_str key = img_text(r, 1, KEY_MAX);
	struct cf_str id = img_text(r, 1, CF_ID_MAX);
	char *dup;

	if (r->err != 0)
		return r->err;
	if (cf_map_get(&m->by_msg, key.p, key.len) != NULL ||
	    cf_map_get(&m->index, id.p, id.len) == NULL) {
		cf_imgr_fail(r);
		return r->err;
	}
	dup = strndup(id.p, id.len);
	if (dup == NULL)
		return img_nomem(r);
	if (cf_map_put(&m->by_msg, key.p, key.len, dup, NULL) != 0) {
		free(dup);
		return img_nomem(r);
	}
	return 0;
}

int fe_media_image_read(struct fe_media *m, struct cf_imgr *r)
{
	uint32_t n;

	assert(m->index.n == 0 && m->by_msg.n == 0);
	cf_imgr_begin(r, IMG_TAG);
	n = cf_imgr_count(r, 4 + 1 + 1 + 4 + 4 + 8 + 8 + 4 + 4);
	for (uint32_t k = 0; k < n && r->err == 0; k++)
		img_read_meta(m, r);
	n = cf_imgr_count(r, 4 + 1 + 4 + 1);
	for (uint32_t k = 0; k < n && r->err == 0; k++)
		img_read_ref(m, r);
	cf_imgr_end(r, IMG_TAG);
	if (r->err != 0)
		fe_media_reset_index(m); /* back to empty, as it came */
	return r->err;
}
