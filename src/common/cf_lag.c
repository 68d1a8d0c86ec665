#include "config.h"

/*
 * cf_lag: see cf_lag.h. One iteration of libuv 1.44's uv_run:
 *
 *   timers, pending, idle, prepare  [our prepare: end of stretch B, observe]
 *   poll: wait for events (idle), I/O callbacks
 *   check                           [our check: end of stretch A]
 *   closing handles, then the next iteration's timers ...
 *
 * A = check - prepare - (idle time accounted meanwhile), B = prepare -
 * check. Prepare handles run newest first, so ours may run before other
 * prepare callbacks: their work then falls in A. Either way every callback
 * lands in one of the two stretches.
 */

#include "common/cf_lag.h"

#include <string.h>

const double cf_lag_bounds[CF_LAG_BUCKETS] = {
	0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25,
};

static uint64_t lag_hrtime(struct cf_lag *l)
{
	(void)l;
	return uv_hrtime();
}

static uint64_t lag_idle(struct cf_lag *l)
{
	return uv_metrics_idle_time(l->loop);
}

void cf_lag_observe(struct cf_lag *l, uint64_t ns)
{
	double s = (double)ns / 1e9;
	unsigned i = 0;

	while (i < CF_LAG_BUCKETS && s > cf_lag_bounds[i])
		i++;
	l->counts[i]++;
	l->n++;
	l->sum_ns += ns;
	if (ns > l->max_ns)
		l->max_ns = ns;
}

static void lag_check_cb(uv_check_t *h)
{
	struct cf_lag *l = h->data;
	uint64_t now = l->now_ns(l);
	uint64_t idle = l->idle_ns(l);
	uint64_t span, waited;

	if (!l->primed)
		return;
	span = now - l->t_prepare;
	waited = idle - l->i_prepare;
	l->poll_work = span > waited ? span - waited : 0;
	l->t_check = now;
}

static void lag_prepare_cb(uv_prepare_t *h)
{
	struct cf_lag *l = h->data;
	uint64_t now = l->now_ns(l);

	if (l->primed && l->t_check != 0) {
		uint64_t rest = now - l->t_check;

		cf_lag_observe(l, rest > l->poll_work ? rest : l->poll_work);
	}
	l->primed = true;
	l->t_check = 0;
	l->t_prepare = now;
	l->i_prepare = l->idle_ns(l);
}

int cf_lag_start(struct cf_lag *l, uv_loop_t *loop)
{
	int rv;

	l->loop = loop;
	if (l->now_ns == NULL)
		l->now_ns = lag_hrtime;
	if (l->idle_ns == NULL) {
		rv = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
		if (rv != 0)
			return rv;
		l->idle_ns = lag_idle;
	}
	rv = uv_prepare_init(loop, &l->prepare);
	if (rv != 0)
		return rv;
	rv = uv_check_init(loop, &l->check);
	if (rv != 0) {
		uv_close((uv_handle_t *)&l->prepare, NULL);
		return rv;
	}
	l->prepare.data = l;
	l->check.data = l;
	uv_prepare_start(&l->prepare, lag_prepare_cb);
	uv_check_start(&l->check, lag_check_cb);
	uv_unref((uv_handle_t *)&l->prepare);
	uv_unref((uv_handle_t *)&l->check);
	return 0;
}

static void lag_closed_cb(uv_handle_t *h)
{
	struct cf_lag *l = h->data;

	if (--l->closes == 0 && l->close_cb != NULL)
		l->close_cb(l);
}

void cf_lag_close(struct cf_lag *l, void (*cb)(struct cf_lag *l))
{
	l->close_cb = cb;
	l->closes = 2;
	uv_close((uv_handle_t *)&l->prepare, lag_closed_cb);
	uv_close((uv_handle_t *)&l->check, lag_closed_cb);
}
