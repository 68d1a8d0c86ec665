#include "config.h"

/*
 * rft_state: the FSM's conversations and the indexes over them: id ->
 * conversation, pair -> direct conversation, user -> conversations, and each
 * conversation's receipts. Apply and the rebuild on open both go through
 * these functions, so the two paths cannot build different state.
 */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "common/cf_id.h"
#include "raft/rft_fsm_int.h"

int rft__id_cmp(struct cf_str a, struct cf_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n > 0 ? memcmp(a.p, b.p, n) : 0;

	if (c != 0)
		return c;
	return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

static int id_qcmp(const void *a, const void *b)
{
	return rft__id_cmp(*(const struct cf_str *)a,
			   *(const struct cf_str *)b);
}

unsigned rft__ids_sort_unique(struct cf_str *ids, unsigned n)
{
	unsigned i, k = 0;

	if (n == 0)
		return 0;
	qsort(ids, n, sizeof(*ids), id_qcmp);
	for (i = 1; i < n; i++)
		if (rft__id_cmp(ids[k], ids[i]) != 0)
			ids[++k] = ids[i];
	return k + 1;
}

static char *dup_str(struct cf_str s)
{
	char *p = malloc(s.len + 1);

	if (p != NULL) {
		if (s.len > 0)
			memcpy(p, s.p, s.len);
		p[s.len] = '\0';
	}
	return p;
}

/* Position of user in c's sorted members, or where it would go (*found). */
/* Where user is (or goes) in the sorted ids v[0..n). */
static unsigned ids_pos(char *const *v, unsigned n, struct cf_str user,
			bool *found)
{
	unsigned lo = 0, hi = n;

	*found = false;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int cmp = rft__id_cmp(cf_str_c(v[mid]), user);

		if (cmp == 0) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static unsigned member_pos(const struct rft_conv *c, struct cf_str user,
			   bool *found)
{
	return ids_pos(c->members, c->n_members, user, found);
}

bool rft_conv_has_member(const struct rft_conv *c, struct cf_str user)
{
	bool found;

	member_pos(c, user, &found);
	return found;
}

bool rft_conv_was_member(const struct rft_conv *c, struct cf_str user)
{
	const struct rft_conv_st *st = rft__st(c);
	bool found;

	if (rft_conv_has_member(c, user))
		return true;
	ids_pos(st->former, st->n_former, user, &found);
	return found;
}

static int user_link(struct rft_fsm *f, struct cf_str user,
		     const struct rft_conv *c)
{
	struct rft_user *u = cf_map_get(&f->users, user.p, user.len);
	int rv;

	if (u == NULL) {
		u = calloc(1, sizeof(*u));
		if (u == NULL)
			return -ENOMEM;
		rv = cf_map_put(&f->users, user.p, user.len, u, NULL);
		if (rv != 0) {
			free(u);
			return rv;
		}
	}
	if (u->n == u->cap) {
		unsigned cap = u->cap != 0 ? u->cap * 2 : 4;
		const struct rft_conv **v = realloc(u->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		u->v = v;
		u->cap = cap;
	}
	u->v[u->n++] = c;
	return 0;
}

static void user_unlink(struct rft_fsm *f, struct cf_str user,
			const struct rft_conv *c)
{
	struct rft_user *u = cf_map_get(&f->users, user.p, user.len);
	unsigned i;

	if (u == NULL)
		return;
	for (i = 0; i < u->n; i++) {
		if (u->v[i] == c) {
			u->v[i] = u->v[--u->n];
			return;
		}
	}
}

/* Key of the pair map: the two ids in order, NUL between. */
static size_t pair_key(char *key, struct cf_str a, struct cf_str b)
{
	if (rft__id_cmp(a, b) > 0) {
		struct cf_str t = a;

		a = b;
		b = t;
	}
	memcpy(key, a.p, a.len);
	key[a.len] = '\0';
	memcpy(key + a.len + 1, b.p, b.len);
	return a.len + 1 + b.len;
}

struct rft_conv_st *rft__pair_find(const struct rft_fsm *f, struct cf_str a,
				   struct cf_str b)
{
	char key[2 * CF_ID_MAX + 2];

	if (a.len > CF_ID_MAX || b.len > CF_ID_MAX)
		return NULL;
	return cf_map_get(&f->pairs, key, pair_key(key, a, b));
}

struct rft_conv_st *rft__conv_find(const struct rft_fsm *f, struct cf_str id)
{
	return cf_map_get(&f->convs, id.p, id.len);
}

/* Follow the counter past a server-assigned id c_<n>. */
static void counter_follow(struct rft_fsm *f, struct cf_str id)
{
	uint64_t n = 0;
	size_t i;

	if (id.len < 3 || id.len > 21 || memcmp(id.p, "c_", 2) != 0)
		return;
	for (i = 2; i < id.len; i++) {
		if (id.p[i] < '0' || id.p[i] > '9')
			return;
		n = n * 10 + (uint64_t)(id.p[i] - '0');
	}
	if (n > f->counter)
		f->counter = n;
}

static void conv_free(struct rft_conv_st *c)
{
	const struct cf_map_slot *s;
	size_t i = 0;
	unsigned k;

	for (k = 0; k < c->pub.n_members; k++)
		free(c->pub.members[k]);
	free(c->pub.members);
	for (k = 0; k < c->n_former; k++)
		free(c->former[k]);
	free(c->former);
	free(c->pub.id);
	free(c->pub.owner);
	free(c->pub.title);
	while (cf_map_next(&c->receipts, &i, &s))
		free(s->val);
	cf_map_release(&c->receipts);
	cf_map_release(&c->recalled);
	rft__edit_conv_release(c);
	free(c);
}

int rft__conv_create(struct rft_fsm *f, struct cf_str id, uint8_t type,
		     struct cf_str owner, struct cf_str title,
		     const struct cf_str *members, unsigned n, uint64_t ts,
		     uint64_t message_id, struct rft_conv_st **out)
{
	struct rft_conv_st *c;
	unsigned k;
	int rv = -ENOMEM;

	assert(rft__conv_find(f, id) == NULL);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	cf_map_init(&c->receipts);
	cf_map_init(&c->recalled);
	cf_map_init(&c->edited);
	c->pub.type = type;
	c->pub.created_at = ts;
	c->pub.created_msg_id = message_id;
	c->pub.last_item_id = message_id;
	c->pub.id = dup_str(id);
	c->pub.owner = dup_str(owner);
	c->pub.title = dup_str(title);
	c->pub.members = calloc(n > 0 ? n : 1, sizeof(char *));
	if (c->pub.id == NULL || c->pub.owner == NULL ||
	    c->pub.title == NULL || c->pub.members == NULL)
		goto err_free;
	c->members_cap = n > 0 ? n : 1;
	for (k = 0; k < n; k++) {
		/* The caller sorted them: keep that invariant checked. */
		assert(k == 0 || rft__id_cmp(members[k - 1], members[k]) < 0);
		c->pub.members[k] = dup_str(members[k]);
		if (c->pub.members[k] == NULL)
			goto err_free;
		c->pub.n_members = k + 1;
	}
	rv = cf_map_put(&f->convs, id.p, id.len, c, NULL);
	if (rv != 0)
		goto err_free;
	/* From here on a failure is -ENOMEM, which the callers treat as fatal. */
	for (k = 0; k < n; k++) {
		rv = user_link(f, members[k], &c->pub);
		if (rv != 0)
			return rv;
	}
	if (type == RFT_CONV_DIRECT && n == 2 &&
	    members[0].len <= CF_ID_MAX &&
	    members[1].len <= CF_ID_MAX) {
		char key[2 * CF_ID_MAX + 2];

		rv = cf_map_put(&f->pairs, key,
				pair_key(key, members[0], members[1]), c, NULL);
		if (rv != 0)
			return rv;
	}
	counter_follow(f, id);
	*out = c;
	return 0;

err_free:
	conv_free(c);
	assert(rv != 0);
	return rv;
}

int rft__member_add(struct rft_fsm *f, struct rft_conv_st *c,
		    struct cf_str user)
{
	struct rft_conv *p = &c->pub;
	bool found;
	unsigned pos = member_pos(p, user, &found);
	char *s;

	if (found)
		return 0;
	if (p->n_members == c->members_cap) {
		unsigned cap = c->members_cap * 2;
		char **v = realloc(p->members, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		p->members = v;
		c->members_cap = cap;
	}
	s = dup_str(user);
	if (s == NULL)
		return -ENOMEM;
	memmove(p->members + pos + 1, p->members + pos,
		(p->n_members - pos) * sizeof(*p->members));
	p->members[pos] = s;
	p->n_members++;
	return user_link(f, user, p);
}

int rft__member_remove(struct rft_fsm *f, struct rft_conv_st *c,
		       struct cf_str user)
{
	struct rft_conv *p = &c->pub;
	bool found, was;
	unsigned pos = member_pos(p, user, &found);
	unsigned fpos;

	if (!found)
		return 0;
	fpos = ids_pos(c->former, c->n_former, user, &was);
	if (!was && c->n_former == c->former_cap) {
		unsigned cap = c->former_cap != 0 ? c->former_cap * 2 : 4;
		char **v = realloc(c->former, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		c->former = v;
		c->former_cap = cap;
	}
	user_unlink(f, user, p);
	if (was) {
		free(p->members[pos]);
	} else {
		/* The string moves to the former members. */
		memmove(c->former + fpos + 1, c->former + fpos,
			(c->n_former - fpos) * sizeof(*c->former));
		c->former[fpos] = p->members[pos];
		c->n_former++;
	}
	memmove(p->members + pos, p->members + pos + 1,
		(p->n_members - pos - 1) * sizeof(*p->members));
	p->n_members--;
	return 0;
}

struct rft_receipt *rft__receipt(struct rft_conv_st *c, struct cf_str user)
{
	struct rft_receipt *r = cf_map_get(&c->receipts, user.p, user.len);

	if (r != NULL)
		return r;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (cf_map_put(&c->receipts, user.p, user.len, r, NULL) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

void rft_conv_receipt(const struct rft_conv *c, struct cf_str user,
		      uint64_t *delivered, uint64_t *read)
{
	const struct rft_receipt *r =
		cf_map_get(&rft__st(c)->receipts, user.p, user.len);

	*delivered = r != NULL ? r->delivered : 0;
	*read = r != NULL ? r->read : 0;
}

int rft__recalled_add(struct rft_conv_st *c, uint64_t seq)
{
	uint8_t key[8];

	cf_put_u64(key, seq);
	return cf_map_put(&c->recalled, key, sizeof key, c, NULL);
}

bool rft_conv_recalled(const struct rft_conv *c, uint64_t seq)
{
	uint8_t key[8];

	cf_put_u64(key, seq);
	return cf_map_get(&rft__st(c)->recalled, key, sizeof key) != NULL;
}

void rft__state_release(struct rft_fsm *f)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	while (cf_map_next(&f->convs, &i, &s))
		conv_free(s->val);
	cf_map_release(&f->convs);
	cf_map_release(&f->pairs);
	i = 0;
	while (cf_map_next(&f->users, &i, &s)) {
		struct rft_user *u = s->val;

		free(u->v);
		free(u);
	}
	cf_map_release(&f->users);
	rft_dedup_release(&f->dedup);
	rft__edit_keys_release(f);
	rft__media_release(f);
	cf_map_release(&f->media);
	f->counter = 0;
}
