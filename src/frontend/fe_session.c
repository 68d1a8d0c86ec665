#include "config.h"

#include "frontend/fe_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_time.h"
#include "frontend/fe_server.h"
#include "sync/sync_read.h"

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
}

void fe_session_closed(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	size_t len = strlen(c->user);
	struct fe_user *u = cf_map_get(&s->users, c->user, len);

	if (u == NULL || cf_list_empty(&c->user_link))
		return;
	cf_list_remove(&c->user_link);
	s->n_ws--;
	if (--u->n == 0) {
		cf_map_del(&s->users, c->user, len);
		free(u);
	}
}

void fe_session_touch(struct fe_conn *c)
{
	c->last_active_ms = cf_mono_ms();
}

static struct cf_blob *message_frame(const struct log_record *rec)
{
	struct cf_blob *b = NULL;
	char cursor[32];
	json_t *o;
	char *s;

	o = sync_message_json(rec);
	if (o == NULL)
		return NULL;
	snprintf(cursor, sizeof cursor, "m%llu",
		 (unsigned long long)rec->message_id);
	json_object_set_new(o, "type", json_string("message"));
	json_object_set_new(o, "cursor", json_string(cursor));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s != NULL) {
		b = fe_ws_frame_blob(FE_WS_OP_TEXT, s, strlen(s));
		free(s);
	}
	return b;
}

void fe_session_fanout(struct fe_server *s, const struct log_record *rec,
		       const struct rft_conv *conv)
{
	struct cf_blob *frame = NULL;
	uint64_t now;

	if (rec->kind != LOG_REC_MESSAGE || conv == NULL || s->n_ws == 0)
		return;
	for (unsigned i = 0; i < conv->n_members; i++) {
		const char *m = conv->members[i];
		struct fe_user *u = cf_map_get(&s->users, m, strlen(m));
		struct cf_list *e;
		if (u == NULL)
			continue;
		if (frame == NULL) {
			frame = message_frame(rec);
			if (frame == NULL) {
				cf_warn("fan-out: out of memory");
				return;
			}
		}
		e = u->socks.next;
		while (e != &u->socks) {
			struct fe_conn *c =
				CF_CONTAINER_OF(e, struct fe_conn, user_link);
			e = e->next;
			if (c->state != FE_CONN_WS || c->ws_close_sent)
				continue;
			if (c->out_bytes + frame->len > s->cfg.ws_max_buffer) {
				s->metrics.ws_closed_slow++;
				fe_conn_ws_close(c, 1008,
						 "too slow: reconnect and sync");
				fe_conn_close(c);
				/* That may have been the user's last socket. */
				if (cf_map_get(&s->users, m, strlen(m)) == NULL)
					break;
				continue;
			}
			if (fe_conn_write_blob(c, frame) == 0)
				s->metrics.delivered_frames++;
		}
	}
	if (frame != NULL) {
		now = cf_wall_ms();
		fe_hist_observe(&s->metrics.delivery,
				now > rec->ts ? (double)(now - rec->ts) / 1e3
					      : 0.0);
		cf_blob_unref(frame);
	}
}

void fe_session_release(struct fe_server *s)
{
	const struct cf_map_slot *slot;
	size_t i = 0;

	while (cf_map_next(&s->users, &i, &slot))
		free(slot->val);
	cf_map_release(&s->users);
}
