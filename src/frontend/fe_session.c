#include "config.h"

#include "frontend/fe_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_time.h"
#include "frontend/fe_api_sync.h"
#include "frontend/fe_server.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"
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

/* The frame of rec's event, built once for every socket (NULL: none). */
static struct cf_blob *event_frame(const struct log_record *rec,
				   const struct rft_conv *conv)
{
	struct cf_blob *b = NULL;
	json_t *o;
	char *s;

	o = sync_event_json(rec, conv);
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s != NULL) {
		b = fe_ws_frame_blob(FE_WS_OP_TEXT, s, strlen(s));
		free(s);
	}
	return b;
}

struct fanout {
	struct fe_server *s;
	const struct log_record *rec;
	const struct rft_conv *conv;
	struct cf_blob *frame; /* built on the first local socket */
	bool failed;
};

/* Write the frame to every local socket of user (len bytes). */
static void fanout_user(struct fanout *fo, const char *m, size_t len)
{
	struct fe_server *s = fo->s;
	struct fe_user *u = cf_map_get(&s->users, m, len);
	struct cf_list *e;

	if (u == NULL || fo->failed)
		return;
	if (fo->frame == NULL) {
		fo->frame = event_frame(fo->rec, fo->conv);
		if (fo->frame == NULL) {
			cf_warn("fan-out: no frame for a record of kind %u",
				(unsigned)fo->rec->kind);
			fo->failed = true;
			return;
		}
	}
	e = u->socks.next;
	while (e != &u->socks) {
		struct fe_conn *c = CF_CONTAINER_OF(e, struct fe_conn, user_link);
		uint64_t id;

		e = e->next;
		if (c->state != FE_CONN_WS || c->ws_close_sent)
			continue;
		if (c->out_bytes + fe_api_sync_held_bytes(c) +
			    fo->frame->len >
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
		id = fo->rec->kind != LOG_REC_RECEIPT ? fo->rec->message_id
						      : 0;
		if (fe_api_sync_hold(c, fo->frame, id)) {
			/* after the replay's `synced` */
		} else if (fe_conn_write_blob(c, fo->frame) == 0) {
			s->metrics.delivered_frames++;
			if (id > c->last_live_id)
				c->last_live_id = id;
		}
		if (c->first_live_id == 0 && id != 0)
			c->first_live_id = id;
	}
}

/*
 * Members as of the record's entry get its event; a member that a
 * members_changed record removed gets that one event, and nothing after
 * (it is no longer in conv->members).
 */
void fe_session_fanout(struct fe_server *s, const struct log_record *rec,
		       const struct rft_conv *conv)
{
	struct fanout fo = {s, rec, conv, NULL, false};
	struct rft_rec_members mb;
	struct cf_str id;
	size_t pos = 0;
	uint64_t now;

	if (conv == NULL || s->n_ws == 0)
		return;
	if (rec->kind != LOG_REC_MESSAGE && rec->kind != LOG_REC_CONV &&
	    rec->kind != LOG_REC_MEMBERS && rec->kind != LOG_REC_RECALL &&
	    rec->kind != LOG_REC_RECEIPT)
		return;
	for (unsigned i = 0; i < conv->n_members; i++)
		fanout_user(&fo, conv->members[i], strlen(conv->members[i]));
	if (rec->kind == LOG_REC_MEMBERS &&
	    rft_rec_members_decode(rec->body, &mb) == 0) {
		while (rft_idlist_next(mb.removed, &pos, &id))
			if (!rft_conv_has_member(conv, id))
				fanout_user(&fo, id.p, id.len);
	}
	if (fo.frame != NULL) {
		if (rec->kind == LOG_REC_MESSAGE) {
			now = cf_wall_ms();
			fe_hist_observe(&s->metrics.delivery,
					now > rec->ts
						? (double)(now - rec->ts) / 1e3
						: 0.0);
		}
		cf_blob_unref(fo.frame);
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
