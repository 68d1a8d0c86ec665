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

/* Client connections (fe_conn; issue 11). */
struct fe_conn_metrics {
	uint64_t refused;	  /* past --max-connections */
	uint64_t header_timeouts; /* 408: head or body not in time */
	uint64_t idle_timeouts;	  /* idle HTTP or silent WebSocket closed */
	uint64_t buffer_bytes;	  /* input buffers and parser scratch held */
};

struct fe_metrics {
	uint64_t http_requests;
	uint64_t sync_requests;
	uint64_t search_queries;	/* /v1/search, /v1/mentions (issue 13) */
	uint64_t sends;
	uint64_t delivered_frames;
	uint64_t ws_closed_slow;
	struct fe_hist send_ack;  /* request received to ack sent */
	struct fe_hist delivery;  /* commit (apply) to socket write */
	struct fe_conn_metrics conns;
	const struct cf_lag *loop_lag; /* the loop's probe, or NULL */
};

extern const double fe_hist_bounds[FE_HIST_BUCKETS];

void fe_hist_observe(struct fe_hist *h, double seconds);
/* Append "# TYPE name histogram" and its bucket lines to b. */
int fe_hist_render(const struct fe_hist *h, const char *name,
		   const char *help, struct cf_buf *b);

/* Append the connection metrics; open = connections served now. */
int fe_conn_metrics_render(const struct fe_conn_metrics *m, unsigned open,
			   struct cf_buf *b);
/*
 * ---- Loop lag (cf_lag.h) ----
 * Append confab_loop_lag_seconds (histogram: the longest stretch of work of
 * each loop iteration) and confab_loop_lag_max_seconds (gauge: the largest
 * since start) to b; nothing if lag is NULL.
 */
int fe_metrics_render_loop_lag(const struct cf_lag *lag, struct cf_buf *b);
/*
 * ---- Process ----
 * Append the standard Prometheus gauge process_resident_memory_bytes (the
 * resident pages of /proc/self/statm times the page size), read now;
 * nothing where /proc/self/statm cannot be read.
 */
int fe_metrics_render_process(struct cf_buf *b);

#endif
