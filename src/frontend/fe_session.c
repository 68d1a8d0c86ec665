#include "config.h"

#include "frontend/fe_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_time.h"
#include "frontend/fe_api_sync.h"
#include "frontend/fe_server.h"

struct fe_user {
	struct cf_list socks; /* struct fe_conn by user_link */
	unsigned n;
};

void fe_session_opened(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	size_t len = strlen(c->user);
	struct fe_user *u = cf_map_get(&s->users, c->user, len);

	if (u == NULL) {
		u = calloc(1, sizeof *u);
		if (u == NULL || cf_map_put(&s->users, c->user, len, u, NULL)) {
			free(u);
			fe_conn_ws_close(c, 1011, "out of memory");
			return;
		}
		cf_list_init(&u->socks);
	}
	cf_list_push(&u->socks, &c->user_link);
	u->n++;
	s->n_ws++;
	fe_presence_opened(&s->presence, c->user);
}

void fe_session_closed(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	size_t len = strlen(c->user);
	struct fe_user *u = cf_map_get(&s->users, c->user, len);

	fe_presence_sub_drop(&s->presence.subs, c);
	if (u == NULL || cf_list_empty(&c->user_link))
		return;
	cf_list_remove(&c->user_link);
	s->n_ws--;
	fe_presence_closed(&s->presence, c->user);
	if (--u->n == 0) {
		cf_map_del(&s->users, c->user, len);
		free(u);
	}
}

void fe_session_touch(struct fe_conn *c)
{
	c->last_active_ms = cf_mono_ms();
	fe_presence_touch(&c->srv->presence, c->user);
}

void fe_session_send_user(struct fe_server *s, const char *user, size_t len,
			  struct cf_blob *frame)
{
	struct fe_user *u = cf_map_get(&s->users, user, len);
	struct cf_list *e;

	if (u == NULL)
		return;
	for (e = u->socks.next; e != &u->socks; e = e->next) {
		struct fe_conn *c = CF_CONTAINER_OF(e, struct fe_conn, user_link);
		if (c->state != FE_CONN_WS || c->ws_close_sent ||
		    c->out_bytes + frame->len > s->cfg.ws_max_buffer)
			continue;
		if (fe_conn_write_blob(c, frame) == 0)
			s->metrics.delivered_frames++;
	}
}

unsigned fe_session_event(struct fe_server *s, const char *m, size_t len,
			  struct cf_blob *frame, uint64_t id)
{
	struct fe_user *u = cf_map_get(&s->users, m, len);
	struct cf_list *e;
	unsigned n = 0;

	if (u == NULL)
		return 0;
	e = u->socks.next;
	while (e != &u->socks) {
		struct fe_conn *c = CF_CONTAINER_OF(e, struct fe_conn, user_link);

		e = e->next;
		if (c->state != FE_CONN_WS || c->ws_close_sent)
			continue;
		/* A replay that sent `synced` read it from the store. */
		if (id != 0 && id <= c->synced_id)
			continue;
		if (c->out_bytes + fe_api_sync_held_bytes(c) + frame->len >
		    s->cfg.ws_max_buffer) {
			s->metrics.ws_closed_slow++;
			/*
			 * The close frame goes after the frames already
			 * queued (no more are added); a client that does not
			 * drain them within FE_SLOW_DRAIN_MS is dropped at
			 * its deadline (fe_conn_ws_close arms it).
			 */
			c->close_by_ms = cf_mono_ms() + FE_SLOW_DRAIN_MS;
			fe_conn_ws_close(c, 1008, "too slow: reconnect and sync");
			/* That may have been the user's last socket. */
			if (cf_map_get(&s->users, m, len) == NULL)
				break;
			continue;
		}
		if (fe_api_sync_hold(c, frame, id)) {
			n++; /* after the replay's `synced` */
		} else if (fe_conn_write_blob(c, frame) == 0) {
			n++;
			s->metrics.delivered_frames++;
			if (id > c->last_live_id)
				c->last_live_id = id;
		}
		if (c->first_live_id == 0 && id != 0)
			c->first_live_id = id;
	}
	return n;
}

bool fe_session_has_user(const struct fe_server *s, const char *m, size_t len)
{
	return cf_map_get(&s->users, m, len) != NULL;
}

void fe_session_release(struct fe_server *s)
{
	const struct cf_map_slot *slot;
	size_t i = 0;

	while (cf_map_next(&s->users, &i, &slot))
		free(slot->val);
	cf_map_release(&s->users);
}
