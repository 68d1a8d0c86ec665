#include "config.h"
/*
 * sync_inbox: the per-user inbox index and per-conversation item lists
 * (see sync_inbox.h). The index is derived from the records: rebuilt from
 * them on open, or read back from the state image (issue 11) and completed
 * from the records after it.
 *
 * Layout: users (id -> struct ib_user) each hold a list of their entries,
 * oldest latest-item first, sorted by `last`: a live record carries the
 * highest messageId so far and moves its entry to the tail; a record of the
 * rebuild (partition by partition) is put in its place. convs (id -> struct
 * ib_conv) hold the non-message items, sorted by messageId for the same
 * reason.
 *
 * A whole rebuild goes through sync_inbox_on_rebuild_record(): finding a
 * record's place by walking back costs up to the user's entry count per
 * record (a user in 100,000 conversations made a 5 M record rebuild take
 * minutes), so entries are left where they are and sync_inbox_settle()
 * sorts every user's list once at the end.
 *
 * IMAGE SECTION (sync_inbox_image_write/read; primitives and framing in
 * common/cf_img.h: integers little-endian, "str" = u32 length + bytes):
 *
 *   u32 tag "SIB1" (0x31424953), the section's name and version
 *   u64 last_id                 highest messageId of any item
 *   u8  unsorted                1: rebuild records not settled yet
 *   u32 n_convs, then per conversation holding items (any order):
 *       str  id                 1..CF_ID_MAX bytes
 *       u32  n_items            >= 1, then per item, messageId order:
 *            u64 message_id     non-decreasing within the conversation
 *            u64 seq            recall, edit: the message's seq, else 0
 *            u8  kind           LOG_REC_RECALL, _CONV, _MEMBERS or _EDIT
 *            str body           LOG_REC_MEMBERS' id lists; else empty
 *   u32 n_users, then per user (any order; a user may have no entry):
 *       str  id                 1..CF_ID_MAX bytes
 *       u32  n_entries, then per entry in list order (oldest `last`
 *            first; non-decreasing `last` unless unsorted):
 *            str conv           1..CF_ID_MAX bytes, once per user
 *            u64 last, u64 joined, u64 left
 *   u32 end marker (cf_imgw_end)
 *
 * The reader refuses (CF_ECORRUPT) a count the rest cannot hold, an id
 * out of bounds, a conversation, user or entry twice, an unknown kind, a
 * body on an item other than a membership change, and an order the
 * queries' binary search and list walk would misread. It reads back the
 * same index: the same lists in the same order, so every query answers as
 * the original did, and so do later records.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_img.h"
#include "common/cf_list.h"
#include "common/cf_map.h"
#include "raft/rft_rec.h"
#include "sync/sync_inbox.h"

struct ib_conv {
	struct sync_item *items;
	size_t n, cap;
};

struct ib_entry {
	struct cf_list link; /* in ib_user.ents */
	struct sync_inbox_entry pub;
};

struct ib_user {
	struct cf_list ents; /* oldest `last` first */
	struct cf_map by_conv; /* conv id -> struct ib_entry */
};

struct sync_inbox {
	struct cf_map convs; /* conv id -> struct ib_conv */
	struct cf_map users; /* user id -> struct ib_user */
	uint64_t last_id;
	bool unsorted; /* rebuild records taken, not settled yet */
};

int sync_inbox_new(struct sync_inbox **out)
{
	struct sync_inbox *ix = calloc(1, sizeof(*ix));

	if (ix == NULL)
		return -ENOMEM;
	cf_map_init(&ix->convs);
	cf_map_init(&ix->users);
	*out = ix;
	return 0;
}

void sync_inbox_free(struct sync_inbox *ix)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	if (ix == NULL)
		return;
	while (cf_map_next(&ix->convs, &i, &s)) {
		struct ib_conv *c = s->val;

		for (size_t k = 0; k < c->n; k++)
			free(c->items[k].body);
		free(c->items);
		free(c);
	}
	i = 0;
	while (cf_map_next(&ix->users, &i, &s)) {
		struct ib_user *u = s->val;
		const struct cf_map_slot *e;
		size_t j = 0;

		while (cf_map_next(&u->by_conv, &j, &e))
			free(e->val);
		cf_map_release(&u->by_conv);
		free(u);
	}
	cf_map_release(&ix->convs);
	cf_map_release(&ix->users);
	free(ix);
}

uint64_t sync_inbox_last_id(const struct sync_inbox *ix)
{
	return ix->last_id;
}

static struct ib_conv *conv_get(struct sync_inbox *ix, struct cf_str id)
{
	struct ib_conv *c = cf_map_get(&ix->convs, id.p, id.len);

	if (c != NULL)
		return c;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (cf_map_put(&ix->convs, id.p, id.len, c, NULL) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

static int item_add(struct ib_conv *c, const struct log_record *rec)
{
	struct sync_item *it;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4;
		struct sync_item *v = realloc(c->items, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		c->items = v;
		c->cap = cap;
	}
	it = &c->items[c->n];
	memset(it, 0, sizeof(*it));
	it->message_id = rec->message_id;
	it->kind = (uint8_t)rec->kind;
	if (rec->kind == LOG_REC_RECALL || rec->kind == LOG_REC_EDIT)
		it->seq = rec->seq;
	if (rec->kind == LOG_REC_MEMBERS && rec->body.len > 0) {
		it->body = malloc(rec->body.len);
		if (it->body == NULL)
			return -ENOMEM;
		memcpy(it->body, rec->body.p, rec->body.len);
		it->body_len = (uint32_t)rec->body.len;
	}
	c->n++;
	return 0;
}

static struct ib_user *user_get(struct sync_inbox *ix, struct cf_str id)
{
	struct ib_user *u = cf_map_get(&ix->users, id.p, id.len);

	if (u != NULL)
		return u;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	cf_list_init(&u->ents);
	cf_map_init(&u->by_conv);
	if (cf_map_put(&ix->users, id.p, id.len, u, NULL) != 0) {
		free(u);
		return NULL;
	}
	return u;
}

/*
 * Move user's entry for conv to the newest place with last = id; create it
 * if joining. join: set joined (and clear left); leave: set left. An entry
 * already left is not touched unless join.
 */
enum { TOUCH, JOIN, LEAVE };

static int touch(struct sync_inbox *ix, struct cf_str user, struct cf_str conv,
		 uint64_t id, int how, bool place)
{
	struct ib_user *u = user_get(ix, user);
	struct ib_entry *e;

	if (u == NULL)
		return -ENOMEM;
	e = cf_map_get(&u->by_conv, conv.p, conv.len);
	if (e == NULL) {
		if (how != JOIN)
			return 0; /* not a member seen joining: nothing */
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		cf_list_init(&e->link);
		if (cf_map_put(&u->by_conv, conv.p, conv.len, e, NULL) != 0) {
			free(e);
			return -ENOMEM;
		}
		e->pub.conv = cf_map_key(&u->by_conv, conv.p, conv.len);
	}
	if (how == TOUCH && e->pub.left != 0)
		return 0;
	if (how == JOIN) {
		if (e->pub.joined == 0 || e->pub.left != 0)
			e->pub.joined = id;
		e->pub.left = 0;
	} else if (how == LEAVE) {
		if (e->pub.left != 0)
			return 0;
		e->pub.left = id;
	}
	e->pub.last = id;
	if (!place) {
		/* a rebuild: sync_inbox_settle() sorts; new entries at the
		 * tail, the others stay */
		if (cf_list_empty(&e->link))
			cf_list_push(&u->ents, &e->link);
		return 0;
	}
	cf_list_remove(&e->link);
	/*
	 * Live records come in commit order, so the entry goes to the tail.
	 * The rebuild on open (and after a segment fetch) reads the store
	 * partition by partition: a conversation's records are in order, but
	 * another partition's may be older, so walk back from the tail to the
	 * entry's place (sync_inbox_changed stops at the first entry not newer
	 * than the cursor: an unsorted list hides conversations from sync).
	 */
	{
		struct cf_list *at = u->ents.prev;

		while (at != &u->ents &&
		       CF_CONTAINER_OF(at, struct ib_entry, link)->pub.last >
			       id)
			at = at->prev;
		cf_list_push(at->next, &e->link);
	}
	return 0;
}

static int members_change(struct sync_inbox *ix, const struct log_record *rec,
			  const struct rft_conv *conv, bool place)
{
	struct rft_rec_members m;
	struct cf_str id;
	size_t pos = 0;
	int rv;

	if (rft_rec_members_decode(rec->body, &m) != 0)
		return CF_ECORRUPT;
	while (rft_idlist_next(m.added, &pos, &id)) {
		rv = touch(ix, id, rec->conv, rec->message_id, JOIN, place);
		if (rv != 0)
			return rv;
	}
	pos = 0;
	while (rft_idlist_next(m.removed, &pos, &id)) {
		rv = touch(ix, id, rec->conv, rec->message_id, LEAVE, place);
		if (rv != 0)
			return rv;
	}
	for (unsigned k = 0; conv != NULL && k < conv->n_members; k++) {
		rv = touch(ix, cf_str_c(conv->members[k]), rec->conv,
			   rec->message_id, TOUCH, place);
		if (rv != 0)
			return rv;
	}
	return 0;
}

static int take(struct sync_inbox *ix, const struct log_record *rec,
		const struct rft_conv *conv, bool place)
{
	struct ib_conv *c;
	int how = TOUCH;
	int rv;

	switch (rec->kind) {
	case LOG_REC_MESSAGE:
	case LOG_REC_RECALL:
	case LOG_REC_CONV:
	case LOG_REC_MEMBERS:
	case LOG_REC_EDIT: /* `edited` items (sync_edit.h) */
		break;
	default:
		return 0; /* receipts, media: not items */
	}
	if (rec->message_id > ix->last_id)
		ix->last_id = rec->message_id;
	if (rec->kind != LOG_REC_MESSAGE) {
		c = conv_get(ix, rec->conv);
		if (c == NULL)
			return -ENOMEM;
		rv = item_add(c, rec);
		if (rv != 0)
			return rv;
	}
	if (rec->kind == LOG_REC_MEMBERS)
		return members_change(ix, rec, conv, place);
	if (rec->kind == LOG_REC_CONV)
		how = JOIN;
	for (unsigned k = 0; conv != NULL && k < conv->n_members; k++) {
		rv = touch(ix, cf_str_c(conv->members[k]), rec->conv,
			   rec->message_id, how, place);
		if (rv != 0)
			return rv;
	}
	return 0;
}

int sync_inbox_on_record(struct sync_inbox *ix, const struct log_record *rec,
			 const struct rft_conv *conv)
{
	int rv = sync_inbox_settle(ix);

	return rv != 0 ? rv : take(ix, rec, conv, true);
}

int sync_inbox_on_rebuild_record(struct sync_inbox *ix,
				 const struct log_record *rec,
				 const struct rft_conv *conv)
{
	ix->unsorted = true;
	return take(ix, rec, conv, false);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct ib_entry *x = *(const struct ib_entry *const *)a;
	const struct ib_entry *y = *(const struct ib_entry *const *)b;

	return x->pub.last < y->pub.last ? -1 : x->pub.last > y->pub.last;
}

int sync_inbox_settle(struct sync_inbox *ix)
{
	const struct cf_map_slot *s;
	struct ib_entry **v = NULL;
	size_t i = 0, cap = 0;

	if (!ix->unsorted)
		return 0;
	while (cf_map_next(&ix->users, &i, &s)) {
		struct ib_user *u = s->val;
		size_t n = 0;
		struct cf_list *l;

		for (l = u->ents.next; l != &u->ents; l = l->next)
			n++;
		if (n > cap) {
			struct ib_entry **nv = realloc(v, n * sizeof(*v));

			if (nv == NULL) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = n;
		}
		n = 0;
		for (l = u->ents.next; l != &u->ents; l = l->next)
			v[n++] = CF_CONTAINER_OF(l, struct ib_entry, link);
		qsort(v, n, sizeof(*v), entry_cmp);
		cf_list_init(&u->ents);
		for (size_t k = 0; k < n; k++) {
			cf_list_init(&v[k]->link);
			cf_list_push(&u->ents, &v[k]->link);
		}
	}
	free(v);
	ix->unsorted = false;
	return 0;
}

size_t sync_inbox_changed(const struct sync_inbox *ix, struct cf_str user,
			  uint64_t after, const struct sync_inbox_entry **out,
			  size_t max)
{
	const struct ib_user *u = cf_map_get(&ix->users, user.p, user.len);
	const struct cf_list *l;
	size_t n = 0;

	if (u == NULL)
		return 0;
	for (l = u->ents.prev; l != &u->ents; l = l->prev) {
		const struct ib_entry *e =
			CF_CONTAINER_OF(l, struct ib_entry, link);

		if (e->pub.last <= after)
			break;
		if (n < max)
			out[n] = &e->pub;
		n++;
	}
	return n;
}

const struct sync_inbox_entry *sync_inbox_entry(const struct sync_inbox *ix,
						struct cf_str user,
						struct cf_str conv)
{
	const struct ib_user *u = cf_map_get(&ix->users, user.p, user.len);
	const struct ib_entry *e;

	if (u == NULL)
		return NULL;
	e = cf_map_get(&u->by_conv, conv.p, conv.len);
	return e != NULL ? &e->pub : NULL;
}

const struct sync_item *sync_inbox_items(const struct sync_inbox *ix,
					 struct cf_str conv, uint64_t after,
					 size_t *n, size_t *first)
{
	const struct ib_conv *c = cf_map_get(&ix->convs, conv.p, conv.len);
	size_t lo = 0, hi;

	*n = 0;
	*first = 0;
	if (c == NULL || c->n == 0)
		return NULL;
	hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->items[mid].message_id <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	*n = c->n;
	*first = lo;
	return c->items;
}

/* ---- the state image (format at the top of this file) ---- */

#define IMG_TAG 0x31424953u /* "SIB1" */
#define IMG_BODY_MAX (16u << 20)

void sync_inbox_image_write(const struct sync_inbox *ix, struct cf_imgw *w)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	cf_imgw_begin(w, IMG_TAG);
	cf_imgw_u64(w, ix->last_id);
	cf_imgw_u8(w, ix->unsorted ? 1 : 0);
	cf_imgw_u32(w, (uint32_t)ix->convs.n);
	while (cf_map_next(&ix->convs, &i, &s)) {
		const struct ib_conv *c = s->val;

		cf_imgw_str(w, s->key, s->klen);
		cf_imgw_u32(w, (uint32_t)c->n);
		for (size_t k = 0; k < c->n; k++) {
			const struct sync_item *it = &c->items[k];

			cf_imgw_u64(w, it->message_id);
			cf_imgw_u64(w, it->seq);
			cf_imgw_u8(w, it->kind);
			cf_imgw_str(w, it->body, it->body_len);
		}
	}
	cf_imgw_u32(w, (uint32_t)ix->users.n);
	i = 0;
	while (cf_map_next(&ix->users, &i, &s)) {
		const struct ib_user *u = s->val;
		const struct cf_list *l;
		uint32_t n = 0;

		cf_list_foreach(l, &u->ents)
			n++;
		cf_imgw_str(w, s->key, s->klen);
		cf_imgw_u32(w, n);
		cf_list_foreach(l, &u->ents) {
			const struct ib_entry *e =
				CF_CONTAINER_OF(l, struct ib_entry, link);

			cf_imgw_cstr(w, e->pub.conv);
			cf_imgw_u64(w, e->pub.last);
			cf_imgw_u64(w, e->pub.joined);
			cf_imgw_u64(w, e->pub.left);
		}
	}
	cf_imgw_end(w, IMG_TAG);
}

/* Keep the first error: CF_ECORRUPT from the data, or -ENOMEM. */
static int img_nomem(struct cf_imgr *r)
{
	if (r->err == 0)
		r->err = -ENOMEM;
	return r->err;
}

static struct cf_str img_id(struct cf_imgr *r)
{
	struct cf_str id = cf_imgr_str(r, CF_ID_MAX);

	if (r->err == 0 && id.len == 0)
		cf_imgr_fail(r);
	return id;
}

static int img_read_conv(struct sync_inbox *ix, struct cf_imgr *r)
{
	struct cf_str id = img_id(r);
	uint32_t n = cf_imgr_count(r, 8 + 8 + 1 + 4);
	struct ib_conv *c;

	if (r->err != 0)
		return r->err;
	if (n == 0 || cf_map_get(&ix->convs, id.p, id.len) != NULL) {
		cf_imgr_fail(r);
		return r->err;
	}
	c = conv_get(ix, id);
	if (c == NULL)
		return img_nomem(r);
	c->items = malloc(n * sizeof(*c->items));
	if (c->items == NULL)
		return img_nomem(r);
	c->cap = n;
	for (uint32_t k = 0; k < n; k++) {
		struct sync_item *it = &c->items[c->n];
		struct cf_str body;

		memset(it, 0, sizeof(*it));
		it->message_id = cf_imgr_u64(r);
		it->seq = cf_imgr_u64(r);
		it->kind = cf_imgr_u8(r);
		body = cf_imgr_str(r, IMG_BODY_MAX);
		if (r->err != 0)
			return r->err;
		if ((it->kind != LOG_REC_RECALL && it->kind != LOG_REC_CONV &&
		     it->kind != LOG_REC_MEMBERS &&
		     it->kind != LOG_REC_EDIT) ||
		    (body.len > 0 && it->kind != LOG_REC_MEMBERS) ||
		    (c->n > 0 &&
		     it->message_id < c->items[c->n - 1].message_id)) {
			cf_imgr_fail(r);
			return r->err;
		}
		if (body.len > 0) {
			it->body = malloc(body.len);
			if (it->body == NULL)
				return img_nomem(r);
			memcpy(it->body, body.p, body.len);
			it->body_len = (uint32_t)body.len;
		}
		c->n++;
	}
	return 0;
}

static int img_read_user(struct sync_inbox *ix, struct cf_imgr *r,
			 bool unsorted)
{
	struct cf_str id = img_id(r);
	uint32_t n = cf_imgr_count(r, 4 + 24);
	struct ib_user *u;
	uint64_t prev = 0;

	if (r->err != 0)
		return r->err;
	if (cf_map_get(&ix->users, id.p, id.len) != NULL) {
		cf_imgr_fail(r);
		return r->err;
	}
	u = user_get(ix, id);
	if (u == NULL)
		return img_nomem(r);
	for (uint32_t k = 0; k < n; k++) {
		struct cf_str conv = img_id(r);
		struct ib_entry *e;
		uint64_t last = cf_imgr_u64(r);
		uint64_t joined = cf_imgr_u64(r);
		uint64_t left = cf_imgr_u64(r);

		if (r->err != 0)
			return r->err;
		if ((!unsorted && last < prev) ||
		    cf_map_get(&u->by_conv, conv.p, conv.len) != NULL) {
			cf_imgr_fail(r);
			return r->err;
		}
		prev = last;
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return img_nomem(r);
		if (cf_map_put(&u->by_conv, conv.p, conv.len, e, NULL) != 0) {
			free(e);
			return img_nomem(r);
		}
		e->pub.conv = cf_map_key(&u->by_conv, conv.p, conv.len);
		e->pub.last = last;
		e->pub.joined = joined;
		e->pub.left = left;
		cf_list_init(&e->link);
		cf_list_push(&u->ents, &e->link);
	}
	return 0;
}

int sync_inbox_image_read(struct sync_inbox *ix, struct cf_imgr *r)
{
	uint32_t n;
	uint8_t unsorted;

	assert(ix->convs.n == 0 && ix->users.n == 0);
	cf_imgr_begin(r, IMG_TAG);
	ix->last_id = cf_imgr_u64(r);
	unsorted = cf_imgr_u8(r);
	if (unsorted > 1)
		cf_imgr_fail(r);
	ix->unsorted = unsorted == 1;
	n = cf_imgr_count(r, 4 + 1 + 4);
	for (uint32_t k = 0; k < n && r->err == 0; k++)
		img_read_conv(ix, r);
	n = cf_imgr_count(r, 4 + 1 + 4);
	for (uint32_t k = 0; k < n && r->err == 0; k++)
		img_read_user(ix, r, ix->unsorted);
	cf_imgr_end(r, IMG_TAG);
	return r->err;
}
