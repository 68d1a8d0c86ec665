/*
 * fe_metrics: counters and histograms of a node, rendered in the Prometheus
 * text format for GET /metrics. Histograms have fixed buckets (seconds).
 * Ownership: plain values inside struct fe_server. Errors: rendering returns
 * 0 or -ENOMEM. Threads: loop thread only.
 */
#ifndef FE_METRICS_H
#define FE_METRICS_H

#include <stdint.h>

#include "common/cf_buf.h"
#include "common/cf_lag.h"

#define FE_HIST_BUCKETS 16

struct fe_hist {
	uint64_t counts[FE_HIST_BUCKETS + 1]; /* last: +Inf */
	uint64_t n;
	double sum;
};

struct fe_metrics {
	uint64_t http_requests;
	uint64_t sync_requests;
	uint64_t sends;
	uint64_t delivered_frames;
	uint64_t ws_closed_slow;
	struct fe_hist send_ack;  /* request received to ack sent */
	struct fe_hist delivery;  /* commit (apply) to socket write */
	const struct cf_lag *loop_lag; /* the loop's probe, or NULL */
};

extern const double fe_hist_bounds[FE_HIST_BUCKETS];

void fe_hist_observe(struct fe_hist *h, double seconds);
/* Append "# TYPE name histogram" and its bucket lines to b. */
int fe_hist_render(const struct fe_hist *h, const char *name,
		   const char *help, struct cf_buf *b);

/*
 * ---- Loop lag (cf_lag.h) ----
 * Append confab_loop_lag_seconds (histogram: the longest stretch of work of
 * each loop iteration) and confab_loop_lag_max_seconds (gauge: the largest
 * since start) to b; nothing if lag is NULL.
 */
int fe_metrics_render_loop_lag(const struct cf_lag *lag, struct cf_buf *b);

#endif
