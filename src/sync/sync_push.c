#include "config.h"

/*
 * Push notifications (contract in sync_push.h).
 *
 * Wire: one "POST {path} HTTP/1.1" per body, with Host, Content-Type:
 * application/json, Content-Length and Connection: close; the status line
 * of the answer decides (2xx delivered, anything else or no answer within
 * ATTEMPT_MS: retry). Dead letters: DIR/push-dead-letter.jsonl, one body
 * per line, appended (O_APPEND) when a body is given up.
 */

#include "sync/sync_push.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "raft/rft_rec.h"
#include "sync/sync_push_int.h"
#include "sync/sync_read.h"

#define TICK_MS 200
#define ATTEMPT_MS 5000
#define GIVE_UP_MS (10u * 60u * 1000u)
#define BACKOFF_MAX_MS 60000
#define MAX_INFLIGHT 8
#define MAX_QUEUED 100000
#define PREVIEW_CHARS 100

struct push_job {
	struct cf_list link;
	struct sync_push *p;
	char *body;
	size_t len;
	char *conv;	/* the message's conversation (NULL: unknown) */
	uint64_t seq;
	bool recalled;	/* its message was recalled: never dead-lettered */
	uint64_t first_ms, next_ms;
	unsigned attempts;
	/* the attempt in flight */
	uv_tcp_t tcp;
	uv_timer_t to;
	uv_connect_t conn;
	uv_write_t wr;
	char *req;
	char rbuf[64];
	size_t rlen;
	bool finished, ok;
	int closes;
};

static void dead_letter(struct sync_push *p, struct push_job *j)
{
	int fd;

	if (j->recalled)
		return;
	p->failed++;
	if (p->rewrite != NULL) {
		/* The file is being rewritten: append after it. */
		if (cf_buf_append(&p->held, j->body, j->len) != 0 ||
		    cf_buf_append(&p->held, "\n", 1) != 0)
			cf_warn("push: a dead letter was lost (no memory)");
		return;
	}
	fd = open(p->dead_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		  0644);
	if (fd < 0) {
		cf_warn("push: %s: %s", p->dead_path, strerror(errno));
		return;
	}
	if (write(fd, j->body, j->len) != (ssize_t)j->len ||
	    write(fd, "\n", 1) != 1)
		cf_warn("push: writing %s failed", p->dead_path);
	close(fd);
}

static void job_free(struct push_job *j)
{
	free(j->conv);
	free(j->body);
	free(j->req);
	free(j);
}

void sync__push_maybe_closed(struct sync_push *p)
{
	if (p->closing && p->pending == 0 && p->n_inflight == 0 &&
	    p->close_cb != NULL) {
		void (*cb)(struct sync_push *) = p->close_cb;
		p->close_cb = NULL;
		cb(p);
	}
}

static void attempt_closed_cb(uv_handle_t *h)
{
	struct push_job *j = h->data;
	struct sync_push *p = j->p;
	uint64_t now = cf_mono_ms();
	uint64_t wait;

	if (--j->closes > 0)
		return;
	cf_list_remove(&j->link);
	p->n_inflight--;
	free(j->req);
	j->req = NULL;
	if (j->ok) {
		p->sent++;
		job_free(j);
	} else if (p->closing) {
		job_free(j);
	} else if (now - j->first_ms >= p->give_up_ms) {
		dead_letter(p, j);
		job_free(j);
	} else {
		j->attempts++;
		wait = 1000ull << (j->attempts < 7 ? j->attempts - 1 : 6);
		j->next_ms = now + (wait < BACKOFF_MAX_MS ? wait
							  : BACKOFF_MAX_MS);
		cf_list_push(&p->queue, &j->link);
		p->n_queued++;
	}
	sync__push_maybe_closed(p);
}

static void finish(struct push_job *j, bool ok)
{
	if (j->finished)
		return;
	j->finished = true;
	j->ok = ok;
	j->closes = 2;
	uv_timer_stop(&j->to);
	uv_close((uv_handle_t *)&j->tcp, attempt_closed_cb);
	uv_close((uv_handle_t *)&j->to, attempt_closed_cb);
}

static void timeout_cb(uv_timer_t *t)
{
	finish(t->data, false);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct push_job *j = h->data;

	(void)hint;
	buf->base = j->rbuf + j->rlen;
	buf->len = sizeof j->rbuf - 1 - j->rlen;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct push_job *j = s->data;
	int status;

	(void)buf;
	if (n < 0) {
		finish(j, false);
		return;
	}
	j->rlen += (size_t)n;
	j->rbuf[j->rlen] = '\0';
	if (strchr(j->rbuf, '\n') == NULL && j->rlen < sizeof j->rbuf - 1)
		return;
	if (sscanf(j->rbuf, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	finish(j, status >= 200 && status < 300);
}

static void write_cb(uv_write_t *w, int status)
{
	if (status != 0)
		finish(w->data, false);
}

static void connect_cb(uv_connect_t *c, int status)
{
	struct push_job *j = c->data;
	struct sync_push *p = j->p;
	int n;

	if (status != 0 || j->finished) {
		finish(j, false);
		return;
	}
	n = asprintf(&j->req,
		     "POST %s HTTP/1.1\r\nHost: %s\r\n"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     p->path, p->host, j->len);
	if (n < 0) {
		j->req = NULL;
		finish(j, false);
		return;
	}
	{
		uv_buf_t bufs[2] = {uv_buf_init(j->req, (unsigned)n),
				    uv_buf_init(j->body, (unsigned)j->len)};
		j->wr.data = j;
		if (uv_write(&j->wr, (uv_stream_t *)&j->tcp, bufs, 2,
			     write_cb) != 0 ||
		    uv_read_start((uv_stream_t *)&j->tcp, alloc_cb, read_cb) !=
			    0)
			finish(j, false);
	}
}

static void attempt(struct sync_push *p, struct push_job *j)
{
	j->finished = false;
	j->ok = false;
	j->rlen = 0;
	p->n_inflight++;
	cf_list_push(&p->inflight, &j->link);
	uv_tcp_init(p->loop, &j->tcp);
	uv_timer_init(p->loop, &j->to);
	j->tcp.data = j;
	j->to.data = j;
	j->conn.data = j;
	uv_timer_start(&j->to, timeout_cb, ATTEMPT_MS, 0);
	if (uv_tcp_connect(&j->conn, &j->tcp,
			   (const struct sockaddr *)&p->addr, connect_cb) != 0)
		finish(j, false);
}

static void tick_cb(uv_timer_t *t)
{
	struct sync_push *p = t->data;
	uint64_t now = cf_mono_ms();
	struct cf_list *e = p->queue.next;

	while (e != &p->queue && p->n_inflight < MAX_INFLIGHT) {
		struct push_job *j = CF_CONTAINER_OF(e, struct push_job, link);
		e = e->next;
		if (j->next_ms > now)
			continue;
		cf_list_remove(&j->link);
		p->n_queued--;
		attempt(p, j);
	}
}

static void enqueue(struct sync_push *p, const char *body, size_t len,
		    struct cf_str conv, uint64_t seq);

void sync_push_enqueue(struct sync_push *p, const char *body, size_t len)
{
	enqueue(p, body, len, (struct cf_str){NULL, 0}, 0);
}

/* Queue a body for conv's message seq (conv may be empty: unknown). */
static void enqueue(struct sync_push *p, const char *body, size_t len,
		    struct cf_str conv, uint64_t seq)
{
	struct push_job *j;

	if (p->closing)
		return;
	j = calloc(1, sizeof *j);
	if (j == NULL || (j->body = malloc(len + 1)) == NULL) {
		free(j);
		p->failed++;
		return;
	}
	memcpy(j->body, body, len);
	j->body[len] = '\0';
	j->len = len;
	j->p = p;
	j->seq = seq;
	if (conv.len > 0 && (j->conv = strndup(conv.p, conv.len)) == NULL) {
		job_free(j);
		p->failed++;
		return;
	}
	j->first_ms = j->next_ms = cf_mono_ms();
	if (p->n_queued >= MAX_QUEUED) {
		dead_letter(p, j);
		job_free(j);
		return;
	}
	cf_list_push(&p->queue, &j->link);
	p->n_queued++;
}

/* The first PREVIEW_CHARS UTF-8 characters of s. */
static size_t preview_len(struct cf_str s)
{
	size_t i = 0;
	unsigned chars = 0;

	while (i < s.len && chars < PREVIEW_CHARS) {
		i++;
		while (i < s.len && ((unsigned char)s.p[i] & 0xC0) == 0x80)
			i++;
		chars++;
	}
	return i;
}

void sync_push_record(struct sync_push *p, const struct log_record *rec,
		      const struct rft_conv *conv, sync_push_online_fn online,
		      void *arg)
{
	struct cf_str content, att;
	struct rft_rec_meta meta;
	char id[24];
	json_t *o;

	if (rec->kind != LOG_REC_MESSAGE || conv == NULL || p->closing ||
	    rft_rec_message_split(rec, &content, &att) != 0)
		return;
	if (rft_rec_message_meta(rec, &meta) != 0)
		memset(&meta, 0, sizeof meta); /* shown without mentions */
	sync_message_id_str(rec->message_id, id);
	o = json_pack("{s:s%, s:I, s:s, s:s%, s:s%}", "conversationId",
		      rec->conv.p, rec->conv.len, "seq", (json_int_t)rec->seq,
		      "messageId", id, "senderId", rec->sender.p,
		      rec->sender.len, "preview", content.p ? content.p : "",
		      preview_len(content));
	if (o == NULL)
		return;
	for (unsigned i = 0; i < conv->n_members; i++) {
		const char *m = conv->members[i];
		size_t ml = strlen(m);
		char *s;
		if ((ml == rec->sender.len &&
		     memcmp(m, rec->sender.p, ml) == 0) ||
		    online(arg, m, ml))
			continue;
		json_object_set_new(o, "userId", json_string(m));
		if (rft_rec_mentions_has(meta.mentions,
					 (struct cf_str){m, ml}))
			json_object_set_new(o, "mention", json_true());
		else
			json_object_del(o, "mention");
		s = json_dumps(o, JSON_COMPACT);
		if (s != NULL)
			enqueue(p, s, strlen(s), rec->conv, rec->seq);
		free(s);
	}
	json_decref(o);
}

int sync_push_init(struct sync_push *p, uv_loop_t *loop, const char *url,
		   const char *data_dir, char *errmsg)
{
	struct addrinfo hints, *res = NULL;
	const char *h = url + 7, *slash;
	char host[256], port[8] = "80";
	size_t hl;
	const char *colon;
	int rv;

	memset(p, 0, sizeof *p);
	p->loop = loop;
	p->give_up_ms = GIVE_UP_MS;
	cf_list_init(&p->queue);
	cf_list_init(&p->inflight);
	if (strncmp(url, "http://", 7) != 0) {
		cf_errmsg_printf(errmsg, "--push-webhook: http:// URLs only");
		return CF_EBADREQ;
	}
	slash = strchr(h, '/');
	hl = slash != NULL ? (size_t)(slash - h) : strlen(h);
	snprintf(p->path, sizeof p->path, "%s", slash != NULL ? slash : "/");
	if (hl == 0 || hl >= sizeof host) {
		cf_errmsg_printf(errmsg, "--push-webhook: bad host");
		return CF_EBADREQ;
	}
	memcpy(p->host, h, hl);
	p->host[hl] = '\0';
	memcpy(host, h, hl);
	host[hl] = '\0';
	colon = strrchr(host, ':');
	if (colon != NULL) {
		snprintf(port, sizeof port, "%s", colon + 1);
		host[colon - host] = '\0';
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rv = getaddrinfo(host, port, &hints, &res);
	if (rv != 0 || res == NULL) {
		cf_errmsg_printf(errmsg, "--push-webhook: %s: %s", host,
				 gai_strerror(rv));
		return CF_EBADREQ;
	}
	memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	snprintf(p->dead_path, sizeof p->dead_path,
		 "%s/push-dead-letter.jsonl", data_dir);
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, tick_cb, TICK_MS, TICK_MS);
	return 0;
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct sync_push *p = h->data;

	p->pending--;
	sync__push_maybe_closed(p);
}

void sync_push_recall(struct sync_push *p, struct cf_str conv, uint64_t seq)
{
	const struct cf_list *heads[2] = {&p->queue, &p->inflight};
	struct cf_list *e, *next;

	if (p->closing || conv.len == 0 || conv.len > 128)
		return;
	for (int h = 0; h < 2; h++) {
		for (e = heads[h]->next; e != heads[h]; e = next) {
			struct push_job *j =
				CF_CONTAINER_OF(e, struct push_job, link);

			next = e->next;
			if (j->conv == NULL || j->seq != seq ||
			    strlen(j->conv) != conv.len ||
			    memcmp(j->conv, conv.p, conv.len) != 0)
				continue;
			j->recalled = true;
			if (h == 0) { /* queued: gone now */
				cf_list_remove(&j->link);
				p->n_queued--;
				job_free(j);
			}
		}
	}
	sync__push_erase(p, conv, seq);
}

void sync_push_close(struct sync_push *p, void (*cb)(struct sync_push *p))
{
	p->closing = true;
	p->close_cb = cb;
	p->pending++; /* the timer (a running dead letter rewrite may be too) */
	while (!cf_list_empty(&p->queue)) {
		struct push_job *j =
			CF_CONTAINER_OF(p->queue.next, struct push_job, link);
		cf_list_remove(&j->link);
		job_free(j);
	}
	p->n_queued = 0;
	for (struct cf_list *e = p->inflight.next; e != &p->inflight;
	     e = e->next)
		finish(CF_CONTAINER_OF(e, struct push_job, link), false);
	uv_close((uv_handle_t *)&p->timer, timer_closed_cb);
	sync__push_erase_close(p);
}
