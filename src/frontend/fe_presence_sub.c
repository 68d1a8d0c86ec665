#include "config.h"

/*
 * Presence subscriptions (contract in fe_presence_sub.h).
 *
 * Each watched user has a struct fe_watched in ps->watched, listing one
 * struct fe_watch per socket watching it. A socket's struct fe_pres_sub
 * holds its watches in one allocation, plus a queue of the watches whose
 * user changed since the last flush (each at most once: w->queued).
 */

#include "frontend/fe_presence_sub.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "frontend/fe_conn.h"
#include "frontend/fe_json.h"
#include "frontend/fe_presence.h"
#include "frontend/fe_server.h"

/* {"userId":"<128>","online":false,"lastActiveAt":<20 digits>} */
#define ENTRY_MAX (CF_ID_MAX + 64)

struct fe_watched {
	struct cf_list watches; /* struct fe_watch by link */
	char entry[ENTRY_MAX];	/* JSON of the last change */
	size_t entry_len;
	size_t idlen;
	char id[CF_ID_MAX + 1];
};

struct fe_watch {
	struct cf_list link;	/* in wu->watches */
	struct fe_pres_sub *sub;
	struct fe_watched *wu;
	bool queued;
};

struct fe_pres_sub {
	struct fe_conn *c;
	struct cf_list dirty_link; /* in ps->dirty while n_queued > 0 */
	unsigned n;
	unsigned n_queued;
	struct fe_watch **queue;   /* n slots, after w[] */
	struct fe_watch w[];
};

void fe_presence_subs_init(struct fe_presence_subs *ps)
{
	memset(ps, 0, sizeof *ps);
	cf_map_init(&ps->watched);
	cf_list_init(&ps->dirty);
}

void fe_presence_subs_release(struct fe_presence_subs *ps)
{
	const struct cf_map_slot *slot;
	size_t i = 0;

	/* Sockets drop their sets when they close, before this. */
	while (cf_map_next(&ps->watched, &i, &slot))
		free(slot->val);
	cf_map_release(&ps->watched);
}

/* Take sub's first n watches out of their users' lists. */
static void sub_unlink(struct fe_presence_subs *ps, struct fe_pres_sub *sub,
		       unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct fe_watched *wu = sub->w[i].wu;
		cf_list_remove(&sub->w[i].link);
		if (cf_list_empty(&wu->watches)) {
			cf_map_del(&ps->watched, wu->id, wu->idlen);
			free(wu);
		}
	}
	cf_list_remove(&sub->dirty_link);
}

void fe_presence_sub_drop(struct fe_presence_subs *ps, struct fe_conn *c)
{
	struct fe_pres_sub *sub = c->pres_sub;

	if (sub == NULL)
		return;
	sub_unlink(ps, sub, sub->n);
	free(sub);
	c->pres_sub = NULL;
}

/* The watched-user record of u, created if needed (NULL: out of memory). */
static struct fe_watched *watched_get(struct fe_presence_subs *ps,
				      const char *u, size_t ulen)
{
	struct fe_watched *wu = cf_map_get(&ps->watched, u, ulen);

	if (wu != NULL)
		return wu;
	wu = calloc(1, sizeof *wu);
	if (wu == NULL)
		return NULL;
	cf_list_init(&wu->watches);
	memcpy(wu->id, u, ulen);
	wu->idlen = ulen;
	if (cf_map_put(&ps->watched, u, ulen, wu, NULL) != 0) {
		free(wu);
		return NULL;
	}
	return wu;
}

/* One user's entry of a presence frame (subscribed < 0: no such field). */
static json_t *entry_json(const char *u, size_t ulen, bool online,
			  uint64_t last, int subscribed)
{
	json_t *e = json_pack("{s:s%, s:b}", "userId", u, ulen, "online",
			      online);

	if (e == NULL)
		return NULL;
	json_object_set_new(e, "lastActiveAt",
			    last != 0 ? json_integer((json_int_t)last)
				      : json_null());
	if (subscribed >= 0)
		json_object_set_new(e, "subscribed",
				    json_boolean(subscribed != 0));
	return e;
}

/*
 * Check the `users` of a subscribe: an array of at most FE_PRESENCE_SUB_MAX
 * valid ids. 0, or CF_EBADREQ with err set.
 */
int fe_presence_users_check(json_t *users, char *err, size_t errlen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(users)) {
		snprintf(err, errlen, "'users' is an array of user ids");
		return CF_EBADREQ;
	}
	if (json_array_size(users) > FE_PRESENCE_SUB_MAX) {
		snprintf(err, errlen, "at most %u users per socket",
			 FE_PRESENCE_SUB_MAX);
		return CF_EBADREQ;
	}
	json_array_foreach(users, i, v) {
		const char *s = json_string_value(v);
		if (s == NULL || !cf_id_valid(s, json_string_length(v))) {
			snprintf(err, errlen, "'users' holds a bad user id");
			return CF_EBADREQ;
		}
	}
	return 0;
}

void fe_presence_sub_ws(struct fe_conn *c, json_t *o, json_t *id)
{
	struct fe_server *s = c->srv;
	struct fe_presence *p = &s->presence;
	struct fe_presence_subs *ps = &p->subs;
	json_t *users = json_object_get(o, "users");
	json_t *pick[FE_PRESENCE_SUB_MAX]; /* the watchable ones */
	struct fe_pres_sub *sub = NULL;
	struct cf_map seen;
	json_t *ans = NULL, *list;
	unsigned n_pick = 0;
	char err[96];
	size_t i, n;
	json_t *v;
	int rv;

	cf_map_init(&seen);
	/* A client that asks without reading is too slow, as in fan-out:
	 * its answers (at most ~55 KB each) must not pile up. */
	if (c->out_bytes > s->cfg.ws_max_buffer / 2) {
		fe_conn_ws_close(c, 1008, "too slow");
		goto out;
	}
	rv = fe_presence_users_check(users, err, sizeof err);
	if (rv != 0) {
		fe_ws_send_error(c, id, rv, err);
		goto out;
	}
	ans = json_pack("{s:s, s:[]}", "type", "presence", "users");
	if (ans == NULL)
		goto err_oom;
	list = json_object_get(ans, "users");
	json_array_foreach(users, i, v) {
		const char *u = json_string_value(v);
		size_t ulen = json_string_length(v);
		struct cf_str us = {u, ulen};
		bool watch, online = false;
		uint64_t last = 0;
		if (cf_map_get(&seen, u, ulen) != NULL)
			continue;
		if (cf_map_put(&seen, u, ulen, (void *)1, NULL) != 0)
			goto err_oom;
		/* What GET /v1/presence answers; pushed only if watchable. */
		if (fe_presence_may_watch(s, c->user, us, UINT_MAX))
			online = fe_presence_state(p, u, ulen, &last);
		watch = fe_presence_may_watch(s, c->user, us,
					      s->cfg.presence_group_max);
		if (json_array_append_new(list, entry_json(u, ulen, online,
							   last, watch)) != 0)
			goto err_oom;
		if (watch)
			pick[n_pick++] = v;
	}
	n = n_pick;
	sub = calloc(1, sizeof *sub + n * (sizeof sub->w[0] +
					   sizeof sub->queue[0]));
	if (sub == NULL)
		goto err_oom;
	sub->c = c;
	sub->n = n_pick;
	cf_list_init(&sub->dirty_link);
	sub->queue = (struct fe_watch **)(void *)&sub->w[n];
	for (i = 0; i < n; i++) {
		struct fe_watched *wu = watched_get(
			ps, json_string_value(pick[i]),
			json_string_length(pick[i]));
		if (wu == NULL) {
			sub_unlink(ps, sub, (unsigned)i);
			goto err_oom;
		}
		sub->w[i].sub = sub;
		sub->w[i].wu = wu;
		cf_list_push(&wu->watches, &sub->w[i].link);
	}
	/* The new set replaces the old one (its queued changes too). */
	fe_presence_sub_drop(ps, c);
	c->pres_sub = sub;
	sub = NULL;
	if (id != NULL)
		json_object_set(ans, "id", id);
	fe_ws_send_json(c, ans);
	ans = NULL;
	goto out;
err_oom:
	fe_ws_send_error(c, id, -ENOMEM, "out of memory");
out:
	free(sub);
	json_decref(ans);
	cf_map_release(&seen);
}

void fe_presence_sub_changed(struct fe_presence *p, const char *u,
			     size_t ulen, bool online, uint64_t last)
{
	struct fe_presence_subs *ps = &p->subs;
	struct fe_watched *wu = cf_map_get(&ps->watched, u, ulen);
	struct cf_list *e;
	int n;

	if (wu == NULL)
		return;
	if (last != 0)
		n = snprintf(wu->entry, sizeof wu->entry,
			     "{\"userId\":\"%.*s\",\"online\":%s,"
			     "\"lastActiveAt\":%" PRIu64 "}",
			     (int)ulen, u, online ? "true" : "false", last);
	else
		n = snprintf(wu->entry, sizeof wu->entry,
			     "{\"userId\":\"%.*s\",\"online\":%s,"
			     "\"lastActiveAt\":null}",
			     (int)ulen, u, online ? "true" : "false");
	/* ids are [A-Za-z0-9._:@-], at most CF_ID_MAX bytes: it fits. */
	if (n < 0 || (size_t)n >= sizeof wu->entry)
		return;
	wu->entry_len = (size_t)n;
	cf_list_foreach(e, &wu->watches)
	{
		struct fe_watch *w = CF_CONTAINER_OF(e, struct fe_watch, link);
		struct fe_pres_sub *sub = w->sub;
		if (w->queued)
			continue;
		w->queued = true;
		sub->queue[sub->n_queued++] = w;
		if (sub->n_queued == 1)
			cf_list_push(&ps->dirty, &sub->dirty_link);
	}
}

void fe_presence_sub_flush(struct fe_presence *p)
{
	struct fe_presence_subs *ps = &p->subs;
	struct fe_server *s = p->srv;
	struct cf_buf b = CF_BUF_INIT;
	struct cf_list *e;

	while ((e = cf_list_head(&ps->dirty)) != NULL) {
		struct fe_pres_sub *sub =
			CF_CONTAINER_OF(e, struct fe_pres_sub, dirty_link);
		struct fe_conn *c = sub->c;
		unsigned n = 0;
		int rv;

		cf_list_remove(&sub->dirty_link);
		cf_buf_truncate(&b, 0);
		rv = cf_buf_appendf(&b, "{\"type\":\"presence\",\"users\":[");
		for (unsigned i = 0; i < sub->n_queued; i++) {
			struct fe_watch *w = sub->queue[i];
			w->queued = false;
			/* Still sharing a small conversation? (membership
			 * may have changed since the subscribe) */
			if (rv != 0 ||
			    !fe_presence_may_watch(
				    s, c->user,
				    (struct cf_str){w->wu->id, w->wu->idlen},
				    s->cfg.presence_group_max))
				continue;
			if ((n++ > 0 && cf_buf_put_u8(&b, ',') != 0) ||
			    cf_buf_append(&b, w->wu->entry,
					  w->wu->entry_len) != 0)
				rv = -ENOMEM;
		}
		sub->n_queued = 0;
		if (rv == 0)
			rv = cf_buf_append(&b, "]}", 2);
		if (rv != 0 || n == 0 || c->state != FE_CONN_WS ||
		    c->ws_close_sent ||
		    c->out_bytes + b.len + 10 > s->cfg.ws_max_buffer)
			continue;
		if (fe_conn_ws_send_text(c, (const char *)b.data, b.len) == 0)
			ps->frames++;
	}
	cf_buf_release(&b);
}
