#include "config.h"

/*
 * fe_conn_timer: the deadlines of a client connection (fe_conn.h, "Bounds"),
 * kept in the server's timing wheel: one entry per connection, moved as
 * the connection changes state, acted on when it passes.
 */

#include "frontend/fe_conn.h"
#include "frontend/fe_conn_int.h"

#include "common/cf_buf.h"
#include "common/cf_time.h"
#include "frontend/fe_server.h"

/*
 * A body gets the header timeout plus 1 s per BODY_MIN_RATE bytes received:
 * a large upload on a slow link goes through, a trickle does not.
 */
#define BODY_MIN_RATE 8192u

/* The connection's next deadline, 0 for none (see fe_conn.h). */
static uint64_t conn_deadline(const struct fe_conn *c)
{
	const struct fe_config *cfg = &c->srv->cfg;

	if (c->close_by_ms != 0)
		return c->close_by_ms;
	if (c->state == FE_CONN_WS)
		return c->last_active_ms + (c->ping_sent
						    ? cfg->idle_timeout_ms
						    : cfg->idle_timeout_ms / 2);
	if (fe__conn_owed(c) > 0)
		return 0; /* the answer is on its way (a long poll: 60 s) */
	if (c->phase == FE_CONN_PHASE_BODY && c->http != NULL)
		return c->phase_ms + cfg->header_timeout_ms +
		       (uint64_t)c->http->body.len * 1000u / BODY_MIN_RATE;
	if (c->phase != FE_CONN_PHASE_NONE)
		return c->phase_ms + cfg->header_timeout_ms;
	/* silent since accepted: it gets the time of a head, not of idling */
	return c->last_active_ms + (c->spoke ? cfg->idle_timeout_ms
					     : cfg->header_timeout_ms);
}

void fe_conn_timer_update(struct fe_conn *c)
{
	uint64_t due;

	if (c->state == FE_CONN_CLOSING || c->srv->closing) {
		fe_wheel_cancel(&c->timer);
		return;
	}
	due = conn_deadline(c);
	if (due == 0)
		fe_wheel_cancel(&c->timer);
	else
		fe_wheel_set(&c->srv->wheel, &c->timer, due);
}

static void conn_ws_ping(struct fe_conn *c)
{
	struct cf_buf b = CF_BUF_INIT;
	char *p;
	size_t n;

	if (fe_ws_frame_append(&b, FE_WS_OP_PING, NULL, 0) != 0) {
		cf_buf_release(&b);
		return;
	}
	p = cf_buf_detach(&b, &n);
	if (fe_conn_write_take(c, p, n) == 0)
		c->awaiting_pong = true;
}

void fe_conn_on_deadline(struct fe_wheel_entry *e, void *arg)
{
	struct fe_conn *c = CF_CONTAINER_OF(e, struct fe_conn, timer);
	struct fe_conn_metrics *m = &c->srv->metrics.conns;
	uint64_t due = conn_deadline(c);

	(void)arg;
	if (c->state == FE_CONN_CLOSING || due == 0)
		return;
	if (due > cf_mono_ms()) {
		fe_conn_timer_update(c); /* moved meanwhile */
		return;
	}
	if (c->close_by_ms != 0) {
		/* lingering, or a close that the peer did not drain */
		fe_conn_close(c);
	} else if (c->state == FE_CONN_WS && !c->ping_sent) {
		c->ping_sent = true;
		conn_ws_ping(c);
		fe_conn_timer_update(c);
	} else if (c->state == FE_CONN_WS) {
		m->idle_timeouts++;
		fe_conn_ws_close(c, FE_WS_CLOSE_GOING_AWAY, "idle timeout");
	} else if (c->phase != FE_CONN_PHASE_NONE) {
		m->header_timeouts++;
		c->phase = FE_CONN_PHASE_NONE;
		cf_buf_truncate(&c->in, 0);
		fe_conn_http_error(c, 408);
	} else if (!c->spoke) {
		m->header_timeouts++; /* no request at all: nothing to answer */
		fe_conn_close(c);
	} else {
		m->idle_timeouts++;
		fe_conn_close(c);
	}
}
