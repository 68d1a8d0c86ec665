#include "config.h"

/*
 * Presence and typing (contract in fe_presence.h).
 *
 * Peer-link formats (little-endian):
 *
 *   FE_MSG_PRESENCE: u8 flags (1 = first chunk of a report), then entries
 *     until the end: u8 user_len, user bytes, u64 last_active (wall ms),
 *     u32 open sockets. A report lists every user with a socket on the
 *     sending node, split into chunks of at most CHUNK_MAX bytes; a user
 *     absent from the latest report has no socket there.
 *   FE_MSG_TYPING: the `typing` event's JSON text
 *     {"type":"typing","conversationId","userId","state"}.
 */

#include "frontend/fe_presence.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_blob.h"
#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_time.h"
#include "frontend/fe_json.h"
#include "frontend/fe_query.h"
#include "frontend/fe_server.h"
#include "frontend/fe_session.h"
#include "frontend/fe_ws.h"

#define TICK_MS 250
#define REPORT_EVERY 4		/* ticks */
#define ONLINE_WINDOW_MS 30000
#define REPORT_STALE_MS 3500
#define BCAST_MIN_MS 1000
#define FORGET_MS (3600 * 1000)
#define CHUNK_MAX 32768

struct fe_pres_user {
	uint32_t local_socks;
	uint64_t local_last;	/* wall ms, 0 = never */
	uint32_t socks[CF_MAX_NODES];
	uint64_t last[CF_MAX_NODES];
	uint32_t gen[CF_MAX_NODES];
	bool announced;		/* online state last sent to sockets */
	uint64_t bcast_at;	/* mono ms of the last event */
};

static int node_index(const struct fe_presence *p, unsigned id)
{
	const struct cf_cluster *cl = p->srv->cluster;

	for (unsigned i = 0; i < cl->n_nodes && i < CF_MAX_NODES; i++)
		if (cl->nodes[i].id == id)
			return (int)i;
	return -1;
}

static struct fe_pres_user *user_get(struct fe_presence *p, const char *u,
				     size_t len, bool create)
{
	struct fe_pres_user *pu = cf_map_get(&p->users, u, len);

	if (pu != NULL || !create)
		return pu;
	pu = calloc(1, sizeof *pu);
	if (pu == NULL)
		return NULL;
	if (cf_map_put(&p->users, u, len, pu, NULL) != 0) {
		free(pu);
		return NULL;
	}
	return pu;
}

/* Online now? *last gets the latest activity seen anywhere (0: never). */
static bool user_online(const struct fe_presence *p,
			const struct fe_pres_user *pu, uint64_t *last)
{
	uint64_t wall = cf_wall_ms();
	uint64_t mono = cf_mono_ms();
	uint64_t since = wall > ONLINE_WINDOW_MS ? wall - ONLINE_WINDOW_MS : 0;
	bool online = pu->local_socks > 0 && pu->local_last >= since;

	*last = pu->local_last;
	for (unsigned i = 0; i < CF_MAX_NODES; i++) {
		bool live = p->report_at[i] != 0 &&
			    mono - p->report_at[i] < REPORT_STALE_MS &&
			    pu->gen[i] == p->gen[i];
		if (pu->last[i] > *last)
			*last = pu->last[i];
		if (live && pu->socks[i] > 0 && pu->last[i] >= since)
			online = true;
	}
	return online;
}

void fe_presence_init(struct fe_presence *p, struct fe_server *srv)
{
	memset(p, 0, sizeof *p);
	p->srv = srv;
	cf_map_init(&p->users);
	fe_presence_subs_init(&p->subs);
}

void fe_presence_opened(struct fe_presence *p, const char *user)
{
	struct fe_pres_user *pu = user_get(p, user, strlen(user), true);

	if (pu == NULL)
		return;
	pu->local_socks++;
	pu->local_last = cf_wall_ms();
	p->dirty = true;
}

void fe_presence_closed(struct fe_presence *p, const char *user)
{
	struct fe_pres_user *pu = user_get(p, user, strlen(user), false);

	if (pu == NULL || pu->local_socks == 0)
		return;
	pu->local_socks--;
	p->dirty = true;
}

void fe_presence_touch(struct fe_presence *p, const char *user)
{
	struct fe_pres_user *pu = user_get(p, user, strlen(user), false);
	uint64_t now = cf_wall_ms();

	if (pu == NULL)
		return;
	/* Activity after a quiet spell changes the online state: report. */
	if (now - pu->local_last > ONLINE_WINDOW_MS / 2)
		p->dirty = true;
	pu->local_last = now;
}

bool fe_presence_has_socket(struct fe_presence *p, const char *user,
			    size_t len)
{
	struct fe_pres_user *pu = user_get(p, user, len, false);
	uint64_t mono = cf_mono_ms();

	if (pu == NULL)
		return false;
	if (pu->local_socks > 0)
		return true;
	for (unsigned i = 0; i < CF_MAX_NODES; i++)
		if (p->report_at[i] != 0 &&
		    mono - p->report_at[i] < REPORT_STALE_MS &&
		    pu->gen[i] == p->gen[i] && pu->socks[i] > 0)
			return true;
	return false;
}

/* ---- reports ---- */

static void report_flush(struct fe_presence *p, struct cf_buf *b, bool *first)
{
	const struct cf_cluster *cl = p->srv->cluster;

	for (unsigned i = 0; i < cl->n_nodes; i++) {
		unsigned id = cl->nodes[i].id;
		if (id != p->srv->self)
			rft_node_send_user(p->srv->node, id, FE_MSG_PRESENCE,
					   0, b->data, b->len);
	}
	cf_buf_truncate(b, 0);
	*first = false;
}

static void report_send(struct fe_presence *p)
{
	struct cf_buf b = CF_BUF_INIT;
	const struct cf_map_slot *slot;
	bool first = true;
	size_t i = 0;

	if (p->srv->node == NULL)
		return;
	while (cf_map_next(&p->users, &i, &slot)) {
		const struct fe_pres_user *pu = slot->val;
		if (pu->local_socks == 0 || slot->klen > 255)
			continue;
		if (b.len == 0 && cf_buf_put_u8(&b, first ? 1 : 0) != 0)
			goto out;
		if (cf_buf_put_u8(&b, (uint8_t)slot->klen) != 0 ||
		    cf_buf_append(&b, slot->key, slot->klen) != 0 ||
		    cf_buf_put_u64(&b, pu->local_last) != 0 ||
		    cf_buf_put_u32(&b, pu->local_socks) != 0)
			goto out;
		if (b.len > CHUNK_MAX)
			report_flush(p, &b, &first);
	}
	/* Always send the first chunk, even empty: it ends the last report. */
	if (first && b.len == 0 && cf_buf_put_u8(&b, 1) != 0)
		goto out;
	if (b.len > 0)
		report_flush(p, &b, &first);
out:
	cf_buf_release(&b);
}

static void report_receive(struct fe_presence *p, unsigned from,
			   const void *body, size_t len)
{
	int ix = node_index(p, from);
	struct cf_rd r;
	uint8_t flags;

	if (ix < 0 || len < 1)
		return;
	cf_rd_init(&r, body, len);
	flags = cf_rd_u8(&r);
	if (flags & 1)
		p->gen[ix]++;
	p->report_at[ix] = cf_mono_ms();
	while (r.left > 0 && r.err == 0) {
		uint8_t ulen = cf_rd_u8(&r);
		const uint8_t *u = cf_rd_take(&r, ulen);
		uint64_t last = cf_rd_u64(&r);
		uint32_t socks = cf_rd_u32(&r);
		struct fe_pres_user *pu;
		if (r.err != 0 || ulen == 0 || !cf_id_valid((const char *)u,
							    ulen))
			break;
		pu = user_get(p, (const char *)u, ulen, true);
		if (pu == NULL)
			break;
		pu->gen[ix] = p->gen[ix];
		pu->socks[ix] = socks;
		if (last > pu->last[ix])
			pu->last[ix] = last;
	}
}

static void presence_tick(uv_timer_t *t)
{
	struct fe_presence *p = t->data;
	const struct cf_map_slot *slot;
	uint64_t mono = cf_mono_ms();
	uint64_t wall = cf_wall_ms();
	char *forget[64];
	unsigned n_forget = 0;
	size_t i = 0;

	if (p->srv->closing)
		return;
	fe_media_tick(&p->srv->media);
	if (p->dirty || ++p->ticks >= REPORT_EVERY) {
		p->ticks = 0;
		p->dirty = false;
		report_send(p);
	}
	while (cf_map_next(&p->users, &i, &slot)) {
		struct fe_pres_user *pu = slot->val;
		uint64_t last;
		bool online = user_online(p, pu, &last);
		if (online != pu->announced &&
		    mono - pu->bcast_at >= BCAST_MIN_MS) {
			pu->announced = online;
			pu->bcast_at = mono;
			fe_presence_sub_changed(p, slot->key, slot->klen,
						online, last);
		} else if (!online && !pu->announced && pu->local_socks == 0 &&
			   wall - last > FORGET_MS && n_forget < 64 &&
			   !fe_presence_has_socket(p, slot->key, slot->klen)) {
			forget[n_forget++] = slot->key;
		}
	}
	for (unsigned k = 0; k < n_forget; k++)
		free(cf_map_del(&p->users, forget[k], strlen(forget[k])));
	/* One frame per watching socket for this tick's changes. */
	fe_presence_sub_flush(p);
}

void fe_presence_start(struct fe_presence *p)
{
	uv_timer_init(p->srv->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, presence_tick, TICK_MS, TICK_MS);
	p->started = true;
}

void fe_presence_close(struct fe_presence *p, uv_close_cb cb)
{
	if (p->started)
		uv_close((uv_handle_t *)&p->timer, cb);
}

void fe_presence_release(struct fe_presence *p)
{
	const struct cf_map_slot *slot;
	size_t i = 0;

	while (cf_map_next(&p->users, &i, &slot))
		free(slot->val);
	cf_map_release(&p->users);
	fe_presence_subs_release(&p->subs);
}

/* ---- typing ---- */

/* Deliver a typing event to local sockets of conv's members but the sender. */
static void typing_deliver(struct fe_server *s, struct cf_str conv,
			   struct cf_str user, const char *json, size_t len)
{
	const struct rft_conv *cv;
	struct cf_blob *frame;

	if (fe_server_unavailable(s) != NULL)
		return; /* the FSM is being rebuilt (fe_server.h) */
	cv = rft_fsm_conv(rft_node_fsm(s->node), conv);
	/* Big groups get no typing indicators (issue 11): bounded work. */
	if (cv == NULL || s->n_ws == 0 ||
	    cv->n_members > s->cfg.presence_group_max)
		return;
	frame = fe_ws_frame_blob(FE_WS_OP_TEXT, json, len);
	if (frame == NULL)
		return;
	for (unsigned i = 0; i < cv->n_members; i++) {
		const char *m = cv->members[i];
		size_t ml = strlen(m);
		if (ml == user.len && memcmp(m, user.p, ml) == 0)
			continue;
		fe_session_send_user(s, m, ml, frame);
	}
	cf_blob_unref(frame);
}

static void typing_receive(struct fe_presence *p, const void *body,
			   size_t len)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, 0, &je);
	const char *conv, *user;

	if (o == NULL)
		return;
	conv = json_string_value(json_object_get(o, "conversationId"));
	user = json_string_value(json_object_get(o, "userId"));
	if (conv != NULL && user != NULL)
		typing_deliver(p->srv, (struct cf_str){conv, strlen(conv)},
			       (struct cf_str){user, strlen(user)}, body, len);
	json_decref(o);
}

bool fe_presence_ws(struct fe_conn *c, const char *type, json_t *o,
		    json_t *id)
{
	struct fe_server *s = c->srv;
	const struct cf_cluster *cl = s->cluster;
	const struct rft_conv *cv;
	struct cf_str conv, st;
	unsigned retry_s;
	char err[128];
	json_t *ev;
	char *js;
	int rv;

	if (strcmp(type, "presence_subscribe") == 0) {
		fe_presence_sub_ws(c, o, id);
		return true;
	}
	if (strcmp(type, "typing") != 0)
		return false;
	rv = fe_json_str(o, "conversationId", true, FE_STR_ID, 64, &conv, err,
			 sizeof err);
	if (rv == 0)
		rv = fe_json_str(o, "state", true, FE_STR_ANY, 8, &st, err,
				 sizeof err);
	if (rv != 0) {
		fe_ws_send_error(c, id, rv, err);
		return true;
	}
	if (!cf_str_eqc(st, "start") && !cf_str_eqc(st, "stop")) {
		fe_ws_send_error(c, id, CF_EBADREQ, "'state' is start or stop");
		return true;
	}
	cv = rft_fsm_conv(rft_node_fsm(s->node), conv);
	if (cv == NULL) {
		fe_ws_send_error(c, id, CF_ENOTFOUND, "no such conversation");
		return true;
	}
	if (!rft_conv_has_member(cv, cf_str_c(c->user))) {
		if (rft_conv_was_member(cv, cf_str_c(c->user)))
			fe_ws_send_error(c, id, CF_EFORBIDDEN, "not a member");
		else
			fe_ws_send_error(c, id, CF_ENOTFOUND,
					 "no such conversation");
		return true;
	}
	/* Accepted, but relayed only in groups small enough for presence. */
	if (cv->n_members > s->cfg.presence_group_max)
		return true;
	/* Each relayed frame costs a send's token (--rate-limit). */
	rv = fe_rate_take(&s->rate, c->user, cf_mono_ns(), &retry_s);
	if (rv != 0) {
		snprintf(err, sizeof err, "over %u frames per second; retry "
			 "in %u s", s->cfg.rate_limit, retry_s);
		fe_ws_send_error(c, id, rv, err);
		return true;
	}
	ev = json_pack("{s:s, s:s%, s:s, s:s%}", "type", "typing",
		       "conversationId", conv.p, conv.len, "userId", c->user,
		       "state", st.p, st.len);
	js = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (js == NULL) {
		fe_ws_send_error(c, id, -ENOMEM, "out of memory");
		return true;
	}
	typing_deliver(s, conv, (struct cf_str){c->user, strlen(c->user)}, js,
		       strlen(js));
	for (unsigned i = 0; i < cl->n_nodes; i++)
		if (cl->nodes[i].id != s->self)
			rft_node_send_user(s->node, cl->nodes[i].id,
					   FE_MSG_TYPING, 0, js, strlen(js));
	free(js);
	return true;
}

bool fe_presence_peer_msg(struct fe_presence *p, unsigned from, uint8_t type,
			  const void *body, size_t len)
{
	if (type == FE_MSG_PRESENCE)
		report_receive(p, from, body, len);
	else if (type == FE_MSG_TYPING)
		typing_receive(p, body, len);
	else
		return false;
	return true;
}

/* ---- GET /v1/presence?users=a,b ---- */

bool fe_presence_may_watch(struct fe_server *s, const char *user,
			   struct cf_str other, unsigned max_members)
{
	const struct rft_fsm *f = rft_node_fsm(s->node);
	const struct rft_conv *const *v;
	struct cf_str me = cf_str_c(user);
	struct cf_str them = other;
	unsigned n1, n2;

	if (fe_server_unavailable(s) != NULL)
		return false; /* the FSM is being rebuilt (fe_server.h) */
	if (cf_str_eq(me, other))
		return true;
	rft_fsm_user_convs(f, me, &n1);
	rft_fsm_user_convs(f, other, &n2);
	if (n2 < n1) {
		them = me;
		me = other;
	}
	v = rft_fsm_user_convs(f, me, &n1);
	for (unsigned i = 0; i < n1; i++)
		if (v[i]->n_members <= max_members &&
		    rft_conv_has_member(v[i], them))
			return true;
	return false;
}

bool fe_presence_state(struct fe_presence *p, const char *user, size_t len,
		       uint64_t *last)
{
	struct fe_pres_user *pu = user_get(p, user, len, false);

	*last = 0;
	return pu != NULL && user_online(p, pu, last);
}

bool fe_presence_http(struct fe_conn *c, const struct fe_http_req *req,
		      const char *user)
{
	struct fe_presence *p = &c->srv->presence;
	struct cf_str ids[FE_QUERY_PRESENCE_MAX];
	const char *err = NULL;
	json_t *out;
	unsigned n;

	if (!cf_str_eqc(req->path, "/v1/presence"))
		return false;
	if (req->method != FE_HTTP_GET) {
		fe_respond_405(c, "GET");
		return true;
	}
	if (fe_query_presence(req, ids, &n, &err) != 0) {
		fe_respond_error(c, 400, "bad_request", err);
		return true;
	}
	out = json_object();
	if (out == NULL) {
		fe_respond_rc(c, -ENOMEM, NULL);
		return true;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *s = ids[i].p;
		size_t l = ids[i].len;
		struct fe_pres_user *pu;
		uint64_t last = 0;
		bool online = false;
		char key[CF_ID_MAX + 1];
		json_t *o;

		pu = user_get(p, s, l, false);
		/* Only users who share a conversation with the caller (or
		 * the caller itself) show: others read as offline. */
		if (pu != NULL && fe_presence_may_watch(c->srv, user,
							(struct cf_str){s, l},
							UINT_MAX))
			online = user_online(p, pu, &last);
		o = json_pack("{s:b}", "online", online);
		if (o != NULL)
			json_object_set_new(o, "lastActiveAt",
					    last ? json_integer(
							   (json_int_t)last)
						 : json_null());
		memcpy(key, s, l);
		key[l] = '\0';
		json_object_set_new(out, key, o);
	}
	fe_respond_json(c, 200, out);
	return true;
}
