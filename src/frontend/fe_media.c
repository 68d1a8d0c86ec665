#include "config.h"

/*
 * Media blobs: upload pipeline, access rules and HTTP (contract in
 * fe_media.h; peer-link formats and storage in fe_media_io.c; the index of
 * committed references in fe_media_index.c).
 */

#include "frontend/fe_media.h"
#include "frontend/fe_media_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_time.h"
#include "frontend/fe_json.h"
#include "frontend/fe_server.h"
#include "raft/rft_cmd.h"

#define WAIT_MS 15000

/* Leader: a stored blob waiting for a majority, then for its commit. */
struct upload {
	struct cf_list link;
	struct fe_media *m;
	uint64_t xid;
	char id[32];
	char user[129];
	char mime[128];
	uint64_t size, xxh3;
	unsigned acks, need;
	bool submitted;
	bool writing;	/* its own copy is being written (thread pool) */
	bool written;	/* its own copy is durable */
	struct fe_conn *c;	/* local request, or NULL */
	unsigned from;		/* else the forwarding node and its req */
	uint64_t from_req;
	uint64_t deadline;
	struct rft_submit sub;
	char content[256];
};

/* A local request waiting for a peer's answer (UP_R or GET_R). */
struct wait {
	struct cf_list link;
	uint64_t req;
	uint8_t type;		/* the answer type expected */
	struct fe_conn *c;
	uint64_t deadline;
	char id[32];		/* GET: the mediaId */
	unsigned asked;		/* GET: index of the node asked */
};


/* ---- leader: store, replicate, commit ---- */

static void upload_answer(struct upload *u, int status)
{
	struct fe_media *m = u->m;
	json_t *o = NULL;

	if (status == 0)
		o = json_pack("{s:s, s:I, s:s}", "mediaId", u->id, "size",
			      (json_int_t)u->size, "mime", u->mime);
	if (u->c != NULL) {
		if (fe_conn_alive(u->c)) {
			if (status == 0)
				fe_respond_json(u->c, 200, json_incref(o));
			else
				fe_respond_rc(u->c, status, NULL);
		}
		fe_conn_unref(u->c);
	} else {
		if (o == NULL)
			o = json_object();
		json_object_set_new(o, "status", json_integer(status));
		fe_media_send(m, u->from, FE_MSG_MEDIA_UP_R, u->from_req, o,
			    NULL, 0);
	}
	json_decref(o);
	cf_list_remove(&u->link);
	free(u);
}

static void upload_committed_cb(struct rft_submit *s, int status,
				const struct rft_result *res)
{
	struct upload *u = s->data;

	if (status == 0 && res != NULL)
		status = res->status;
	upload_answer(u, status);
}

static void upload_submit(struct upload *u)
{
	struct rft_cmd cmd;

	u->submitted = true;
	snprintf(u->content, sizeof u->content,
		 "{\"mime\":\"%s\",\"size\":%" PRIu64 ",\"xxh3\":\"%016" PRIx64
		 "\"}",
		 u->mime, u->size, u->xxh3);
	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_MEDIA;
	cmd.user = cf_str_c(u->user);
	cmd.media_id = cf_str_c(u->id);
	cmd.content = cf_str_c(u->content);
	u->sub.data = u;
	rft_node_submit(u->m->srv->node, &u->sub, &cmd, upload_committed_cb);
}

static void new_id(char *out)
{
	static const char az[] =
		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	uint8_t r[22];

	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		for (size_t i = 0; i < sizeof r; i++)
			r[i] = (uint8_t)(cf_mono_ns() >> (i % 8));
	out[0] = 'f';
	for (size_t i = 0; i < sizeof r; i++)
		out[i + 1] = az[r[i] % 62];
	out[sizeof r + 1] = '\0';
}

/* Mime from a Content-Type value: printable, no quotes, < 128 bytes. */
static int mime_ok(struct cf_str v)
{
	if (v.len == 0 || v.len > 127)
		return 0;
	for (size_t i = 0; i < v.len; i++)
		if (v.p[i] < 0x20 || v.p[i] > 0x7e || v.p[i] == '"' ||
		    v.p[i] == '\\')
			return 0;
	return 1;
}

/*
 * Leader: its own copy is durable (or not). The reference is committed once
 * this copy and need followers' copies are.
 */
static void upload_written(struct fe_media *m, int status, char *data,
			   size_t len, void *arg)
{
	struct upload *u = arg;

	(void)m;
	(void)data;
	(void)len;
	u->writing = false;
	if (status != 0) {
		cf_warn("media %s: %s", u->id, cf_strerror(status));
		upload_answer(u, CF_EIO);
		return;
	}
	u->written = true;
	if (u->acks >= u->need && !u->submitted)
		upload_submit(u);
}

/*
 * Leader: take a blob (from a local request c, or node from's req); data
 * is malloc'd and taken. The followers get it at once; the leader's own
 * copy is written in the thread pool meanwhile.
 */
static void leader_take(struct fe_media *m, const char *user,
			const char *mime, char *data, size_t len,
			struct fe_conn *c, unsigned from, uint64_t from_req)
{
	const struct cf_cluster *cl = m->srv->cluster;
	struct upload *u = calloc(1, sizeof *u);
	json_t *h;
	int rv;

	if (u == NULL) {
		free(data);
		if (c != NULL)
			fe_respond_rc(c, -ENOMEM, NULL);
		else
			fe_media_send_status(m, from, FE_MSG_MEDIA_UP_R, from_req,
				    -ENOMEM);
		return;
	}
	u->m = m;
	u->xid = ++m->next_req;
	new_id(u->id);
	snprintf(u->user, sizeof u->user, "%s", user);
	snprintf(u->mime, sizeof u->mime, "%s", mime);
	u->size = len;
	u->xxh3 = XXH3_64bits(data, len);
	u->need = cl->n_nodes / 2;
	u->c = c;
	if (c != NULL)
		fe_conn_ref(c);
	u->from = from;
	u->from_req = from_req;
	u->deadline = cf_mono_ms() + WAIT_MS;
	cf_list_push(&m->uploads, &u->link);
	h = json_pack("{s:s, s:s, s:s, s:s}", "id", u->id, "user", u->user,
		      "mime", u->mime, "xxh3", "");
	if (h != NULL) {
		char x[17];
		snprintf(x, sizeof x, "%016" PRIx64, u->xxh3);
		json_object_set_new(h, "xxh3", json_string(x));
		for (unsigned i = 0; i < cl->n_nodes; i++)
			if (cl->nodes[i].id != m->srv->self)
				fe_media_send(m, cl->nodes[i].id,
					    FE_MSG_MEDIA_PUT, u->xid, h, data,
					    len);
		json_decref(h);
	}
	u->writing = true;
	rv = fe_media_blob_write_async(m, u->id, data, len, upload_written, u);
	if (rv != 0) {
		u->writing = false;
		cf_warn("media %s: %s", u->id, cf_strerror(rv));
		upload_answer(u, CF_EIO);
	}
}

static void put_answered(struct fe_media *m, uint64_t req, int status)
{
	struct cf_list *e;

	for (e = m->uploads.next; e != &m->uploads; e = e->next) {
		struct upload *u = CF_CONTAINER_OF(e, struct upload, link);
		if (u->xid != req)
			continue;
		if (status == 0 && ++u->acks >= u->need && u->written &&
		    !u->submitted)
			upload_submit(u);
		return;
	}
}

/* ---- local requests waiting for a peer ---- */

static struct wait *wait_new(struct fe_media *m, struct fe_conn *c,
			     uint8_t type)
{
	struct wait *w = calloc(1, sizeof *w);

	if (w == NULL)
		return NULL;
	w->req = ++m->next_req;
	w->type = type;
	w->c = c;
	fe_conn_ref(c);
	w->deadline = cf_mono_ms() + WAIT_MS;
	cf_list_push(&m->waits, &w->link);
	return w;
}

static void wait_free(struct wait *w)
{
	cf_list_remove(&w->link);
	fe_conn_unref(w->c);
	free(w);
}

static struct wait *wait_find(struct fe_media *m, uint64_t req, uint8_t type)
{
	struct cf_list *e;

	for (e = m->waits.next; e != &m->waits; e = e->next) {
		struct wait *w = CF_CONTAINER_OF(e, struct wait, link);
		if (w->req == req && w->type == type)
			return w;
	}
	return NULL;
}

/* GET: ask the next peer (after index w->asked) that is up; false: none. */
static bool fetch_next(struct fe_media *m, struct wait *w)
{
	const struct cf_cluster *cl = m->srv->cluster;
	json_t *h = json_pack("{s:s}", "id", w->id);
	bool sent = false;

	while (h != NULL && !sent && w->asked < cl->n_nodes) {
		unsigned id = cl->nodes[w->asked++].id;
		if (id == m->srv->self || !rft_node_peer_up(m->srv->node, id))
			continue;
		sent = fe_media_send(m, id, FE_MSG_MEDIA_GET, w->req, h, NULL,
				   0) == 0;
	}
	json_decref(h);
	return sent;
}

static void serve_blob(struct fe_conn *c, const struct fe_media_meta *mt,
		       const char *data, size_t len)
{
	fe_conn_respond(c, 200, mt->mime, data, len,
			"Cache-Control: private, max-age=31536000, immutable\r\n");
}

static void fetched_written(struct fe_media *m, int status, char *data,
			    size_t len, void *arg)
{
	(void)m;
	(void)data;
	(void)len;
	if (status != 0)
		cf_warn("media %s: keeping the fetched copy: %s",
			(const char *)arg, cf_strerror(status));
	free(arg);
}

/* A peer's answer to GET; data (malloc'd, may be NULL) is taken. */
static void fetched(struct fe_media *m, struct wait *w, int status,
		    char *data, size_t len)
{
	struct fe_media_meta *mt =
		fe__media_meta_get(m, w->id, strlen(w->id), false);

	if (status == 0 && mt != NULL &&
	    (len != mt->size || XXH3_64bits(data, len) != mt->xxh3)) {
		cf_warn("media %s: fetched copy does not match", w->id);
		status = CF_ECORRUPT;
	}
	if (status != 0 && fetch_next(m, w)) {
		free(data);
		return;
	}
	if (fe_conn_alive(w->c)) {
		if (status == 0 && mt != NULL) {
			char *id = strdup(w->id);

			serve_blob(w->c, mt, data, len);
			/* Keep a copy, in the thread pool (best effort). */
			if (id != NULL &&
			    fe_media_blob_write_async(m, id, data, len,
						      fetched_written,
						      id) == 0)
				data = NULL;
			else
				free(id);
		} else {
			fe_respond_rc(w->c,
				      status == CF_ECORRUPT ? CF_EUNAVAIL
							    : CF_ENOTFOUND,
				      "media not available");
		}
	}
	free(data);
	wait_free(w);
}

void fe_media_tick(struct fe_media *m)
{
	uint64_t now = cf_mono_ms();
	struct cf_list *e;

	e = m->waits.next;
	while (e != &m->waits) {
		struct wait *w = CF_CONTAINER_OF(e, struct wait, link);
		e = e->next;
		if (now < w->deadline)
			continue;
		if (fe_conn_alive(w->c))
			fe_respond_rc(w->c, CF_EUNAVAIL, "no answer in time");
		wait_free(w);
	}
	e = m->uploads.next;
	while (e != &m->uploads) {
		struct upload *u = CF_CONTAINER_OF(e, struct upload, link);
		e = e->next;
		if (!u->submitted && !u->writing && now >= u->deadline)
			upload_answer(u, CF_EUNAVAIL);
	}
	fe_media_xfers_expire(m, now);
}

/* ---- peer messages ---- */

void fe_media_complete(struct fe_media *m, struct fe_media_xfer *x)
{
	const char *s1 = json_string_value(json_object_get(x->hdr, "id"));
	const char *user = json_string_value(json_object_get(x->hdr, "user"));
	const char *mime = json_string_value(json_object_get(x->hdr, "mime"));
	int status = (int)json_integer_value(json_object_get(x->hdr, "status"));
	struct wait *w;
	char *blob;
	size_t len = 0;

	switch (x->type) {
	case FE_MSG_MEDIA_UP:
		if (user == NULL || mime == NULL)
			break;
		if (strcmp(rft_node_role(m->srv->node), "leader") != 0) {
			fe_media_send_status(m, x->from, FE_MSG_MEDIA_UP_R, x->req,
				    CF_ENOTLEADER);
			break;
		}
		blob = fe_media_xfer_take(x, &len);
		leader_take(m, user, mime, blob, len, NULL, x->from, x->req);
		break;
	case FE_MSG_MEDIA_UP_R:
		w = wait_find(m, x->req, FE_MSG_MEDIA_UP_R);
		if (w == NULL)
			break;
		if (fe_conn_alive(w->c)) {
			if (status == 0) {
				json_object_del(x->hdr, "status");
				fe_respond_json(w->c, 200,
						json_incref(x->hdr));
			} else {
				fe_respond_rc(w->c,
					      status == CF_ENOTLEADER
						      ? CF_EUNAVAIL
						      : status,
					      NULL);
			}
		}
		wait_free(w);
		break;
	case FE_MSG_MEDIA_PUT:
		fe_media_peer_blob_io(m, x, s1, true);
		break;
	case FE_MSG_MEDIA_PUT_R:
		put_answered(m, x->req, status);
		break;
	case FE_MSG_MEDIA_GET:
		fe_media_peer_blob_io(m, x, s1, false);
		break;
	case FE_MSG_MEDIA_GET_R:
		w = wait_find(m, x->req, FE_MSG_MEDIA_GET);
		if (w != NULL) {
			blob = fe_media_xfer_take(x, &len);
			fetched(m, w, status, blob, len);
		}
		break;
	}
}

/* ---- HTTP ---- */

static void http_upload(struct fe_conn *c, const struct fe_http_req *req,
			const char *user)
{
	struct fe_media *m = &c->srv->media;
	struct cf_str ct = req->h[FE_HTTP_H_CONTENT_TYPE];
	unsigned leader = rft_node_leader_id(m->srv->node);
	char mime[128];
	struct wait *w;
	json_t *h;

	if (ct.p == NULL || !mime_ok(ct))
		return fe_respond_error(c, 400, "bad_request",
					"a Content-Type is required");
	if (req->body.len == 0)
		return fe_respond_error(c, 400, "bad_request", "empty body");
	if (req->body.len > fe_media_max(m))
		return fe_respond_error(c, 413, "too_large",
					"over --max-media");
	memcpy(mime, ct.p, ct.len);
	mime[ct.len] = '\0';
	if (leader == c->srv->self) {
		char *data = malloc(req->body.len);

		if (data == NULL)
			return fe_respond_rc(c, -ENOMEM, NULL);
		memcpy(data, req->body.p, req->body.len);
		leader_take(m, user, mime, data, req->body.len, c, 0, 0);
		return;
	}
	if (leader == 0 || !rft_node_peer_up(m->srv->node, leader))
		return fe_respond_rc(c, CF_EUNAVAIL, "no leader reachable");
	w = wait_new(m, c, FE_MSG_MEDIA_UP_R);
	h = json_pack("{s:s, s:s}", "user", user, "mime", mime);
	if (w == NULL || h == NULL ||
	    fe_media_send(m, leader, FE_MSG_MEDIA_UP, w->req, h, req->body.p,
			req->body.len) != 0) {
		json_decref(h);
		if (w != NULL)
			wait_free(w);
		return fe_respond_rc(c, CF_EUNAVAIL, "no leader reachable");
	}
	json_decref(h);
}

static bool may_read(struct fe_server *s, const struct fe_media_meta *mt,
		     const char *user)
{
	struct rft_fsm *f = rft_node_fsm(s->node);

	if (strcmp(mt->user, user) == 0)
		return true;
	for (unsigned i = 0; i < mt->n_convs; i++) {
		const struct rft_conv *cv = rft_fsm_conv(f, cf_str_c(mt->convs[i]));
		if (cv != NULL && rft_conv_has_member(cv, cf_str_c(user)))
			return true;
	}
	return false;
}

/* A download of a reference this node has not applied yet: read index. */
struct lookup {
	struct rft_read rd;
	struct fe_conn *c;
	char id[32];
	char user[129];
};

static void download(struct fe_conn *c, struct cf_str id, const char *user,
		     bool waited);

static void lookup_cb(struct rft_read *r, int status)
{
	struct lookup *l = r->data;

	if (fe_conn_alive(l->c)) {
		if (status != 0)
			fe_respond_rc(l->c, status, NULL);
		else
			download(l->c, cf_str_c(l->id), l->user, true);
	}
	fe_conn_unref(l->c);
	free(l);
}

/* A download's read of the local copy (thread pool). */
struct dl_read {
	struct fe_conn *c;
	char id[32];
};

static void download_read(struct fe_media *m, int status, char *data,
			  size_t len, void *arg)
{
	struct dl_read *rd = arg;
	struct fe_media_meta *mt =
		fe__media_meta_get(m, rd->id, strlen(rd->id), false);
	struct wait *w;

	if (!fe_conn_alive(rd->c))
		goto out;
	if (mt == NULL || !mt->committed || mt->erased) {
		/* Erased while it was read. */
		fe_respond_error(rd->c, 404, "not_found", "no such media");
		goto out;
	}
	if (status == 0) {
		serve_blob(rd->c, mt, data, len);
		goto out;
	}
	w = wait_new(m, rd->c, FE_MSG_MEDIA_GET);
	if (w == NULL) {
		fe_respond_rc(rd->c, -ENOMEM, NULL);
		goto out;
	}
	memcpy(w->id, rd->id, sizeof w->id);
	if (!fetch_next(m, w)) {
		fe_respond_rc(rd->c, CF_EUNAVAIL, "no peer holds it");
		wait_free(w);
	}
out:
	free(data);
	fe_conn_unref(rd->c);
	free(rd);
}

static void download(struct fe_conn *c, struct cf_str id, const char *user,
		     bool waited)
{
	struct fe_media *m = &c->srv->media;
	struct fe_media_meta *mt;
	struct dl_read *rd;
	char idc[32];
	int rv;

	if (!cf_id_valid(id.p, id.len) || id.len >= sizeof idc)
		return fe_respond_error(c, 404, "not_found", "no such media");
	mt = fe__media_meta_get(m, id.p, id.len, false);
	if ((mt == NULL || !mt->committed || !may_read(c->srv, mt, user)) &&
	    !waited && (mt == NULL || !mt->erased)) {
		struct lookup *l = calloc(1, sizeof *l);
		if (l == NULL)
			return fe_respond_rc(c, -ENOMEM, NULL);
		l->c = c;
		fe_conn_ref(c);
		memcpy(l->id, id.p, id.len);
		snprintf(l->user, sizeof l->user, "%s", user);
		l->rd.data = l;
		rft_node_read_index(m->srv->node, &l->rd, lookup_cb);
		return;
	}
	if (mt == NULL || !mt->committed || mt->erased)
		return fe_respond_error(c, 404, "not_found", "no such media");
	if (!may_read(c->srv, mt, user))
		return fe_respond_error(c, 403, "forbidden",
					"not the uploader nor a member of a "
					"conversation that references it");
	memcpy(idc, id.p, id.len);
	idc[id.len] = '\0';
	/* The local copy, read in the thread pool; else from a peer. */
	rd = calloc(1, sizeof *rd);
	if (rd == NULL)
		return fe_respond_rc(c, -ENOMEM, NULL);
	rd->c = c;
	fe_conn_ref(c);
	memcpy(rd->id, idc, id.len + 1);
	rv = fe_media_blob_read_async(m, idc, download_read, rd);
	if (rv != 0) {
		fe_conn_unref(c);
		free(rd);
		fe_respond_rc(c, rv, NULL);
	}
}

bool fe_media_http(struct fe_conn *c, const struct fe_http_req *req,
		   const char *user)
{
	static const char pre[] = "/v1/media/";
	struct cf_str p = req->path;

	if (cf_str_eqc(p, "/v1/media")) {
		if (req->method != FE_HTTP_POST)
			fe_respond_405(c, "POST");
		else
			http_upload(c, req, user);
		return true;
	}
	if (p.len > sizeof pre - 1 && memcmp(p.p, pre, sizeof pre - 1) == 0) {
		if (req->method != FE_HTTP_GET)
			fe_respond_405(c, "GET");
		else
			download(c,
				 (struct cf_str){p.p + sizeof pre - 1,
						 p.len - (sizeof pre - 1)},
				 user, false);
		return true;
	}
	return false;
}

void fe_media_init(struct fe_media *m, struct fe_server *srv)
{
	memset(m, 0, sizeof *m);
	m->srv = srv;
	cf_map_init(&m->index);
	cf_map_init(&m->by_msg);
	cf_list_init(&m->xfers);
	cf_list_init(&m->uploads);
	cf_list_init(&m->waits);
}


void fe_media_release(struct fe_media *m)
{
	while (!cf_list_empty(&m->waits))
		wait_free(CF_CONTAINER_OF(m->waits.next, struct wait, link));
	fe_media_xfers_expire(m, UINT64_MAX);
	/* Uploads waiting for Raft complete with CF_ESHUTDOWN before this. */
	while (!cf_list_empty(&m->uploads)) {
		struct upload *u =
			CF_CONTAINER_OF(m->uploads.next, struct upload, link);
		cf_list_remove(&u->link);
		if (u->submitted) /* its callback frees it */
			continue;
		if (u->c != NULL)
			fe_conn_unref(u->c);
		free(u);
	}
	fe__media_index_clear(m);
}
