#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "frontend/fe_metrics.h"

const double fe_hist_bounds[FE_HIST_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05,	0.1,	 0.25,	 0.5,	1.0,	2.5,	5.0,  10.0,
};

void fe_hist_observe(struct fe_hist *h, double seconds)
{
	unsigned i = 0;

	while (i < FE_HIST_BUCKETS && seconds > fe_hist_bounds[i])
		i++;
	h->counts[i]++;
	h->n++;
	h->sum += seconds;
}

int fe_hist_render(const struct fe_hist *h, const char *name,
		   const char *help, struct cf_buf *b)
{
	uint64_t cum = 0;
	int rv;

	rv = cf_buf_appendf(b, "# HELP %s %s\n# TYPE %s histogram\n", name,
			    help, name);
	for (unsigned i = 0; rv == 0 && i < FE_HIST_BUCKETS; i++) {
		cum += h->counts[i];
		rv = cf_buf_appendf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
				    fe_hist_bounds[i], (unsigned long long)cum);
	}
	if (rv == 0)
		rv = cf_buf_appendf(b,
				    "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
				    "%s_count %llu\n",
				    name, (unsigned long long)h->n, name, h->sum,
				    name, (unsigned long long)h->n);
	return rv;
}

/* ---- client connections (issue 11) ---- */

int fe_conn_metrics_render(const struct fe_conn_metrics *m, unsigned open,
			   struct cf_buf *b)
{
	return cf_buf_appendf(
		b,
		"# HELP confab_connections Client connections served now "
		"(HTTP and WebSocket).\n"
		"# TYPE confab_connections gauge\n"
		"confab_connections %u\n"
		"# HELP confab_connections_refused_total Client connections "
		"refused with 503 past --max-connections.\n"
		"# TYPE confab_connections_refused_total counter\n"
		"confab_connections_refused_total %llu\n"
		"# HELP confab_connections_timed_out_total Client connections "
		"closed by a timeout.\n"
		"# TYPE confab_connections_timed_out_total counter\n"
		"confab_connections_timed_out_total{reason=\"header\"} %llu\n"
		"confab_connections_timed_out_total{reason=\"idle\"} %llu\n"
		"# HELP confab_connection_buffer_bytes Bytes of input buffers "
		"and parser scratch held by client connections.\n"
		"# TYPE confab_connection_buffer_bytes gauge\n"
		"confab_connection_buffer_bytes %llu\n",
		open, (unsigned long long)m->refused,
		(unsigned long long)m->header_timeouts,
		(unsigned long long)m->idle_timeouts,
		(unsigned long long)m->buffer_bytes);
}

/* ---- Loop lag ---- */

int fe_metrics_render_loop_lag(const struct cf_lag *lag, struct cf_buf *b)
{
	static const char name[] = "confab_loop_lag_seconds";
	uint64_t cum = 0;
	int rv;

	if (lag == NULL)
		return 0;
	rv = cf_buf_appendf(b,
			    "# HELP %s Longest stretch of work of each event "
			    "loop iteration (monotonic time, waits for "
			    "events excluded).\n# TYPE %s histogram\n",
			    name, name);
	for (unsigned i = 0; rv == 0 && i < CF_LAG_BUCKETS; i++) {
		cum += lag->counts[i];
		rv = cf_buf_appendf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
				    cf_lag_bounds[i], (unsigned long long)cum);
	}
	if (rv == 0)
		rv = cf_buf_appendf(
			b,
			"%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
			"%s_count %llu\n"
			"# HELP confab_loop_lag_max_seconds Longest stretch "
			"of work of one loop iteration since start.\n"
			"# TYPE confab_loop_lag_max_seconds gauge\n"
			"confab_loop_lag_max_seconds %.6f\n",
			name, (unsigned long long)lag->n, name,
			(double)lag->sum_ns / 1e9, name,
			(unsigned long long)lag->n,
			(double)lag->max_ns / 1e9);
	return rv;
}

/* ---- Process ---- */

/*
 * Resident set size in bytes: the second field of /proc/self/statm
 * (resident pages) times the page size; 0 and -errno when it cannot be read.
 * A read of procfs costs no disk I/O: it is fine on the loop.
 */
static int process_rss(uint64_t *out)
{
	char buf[128], *e;
	unsigned long long resident;
	long page = sysconf(_SC_PAGESIZE);
	ssize_t n;
	int fd, err;

	fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof buf - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	(void)strtoull(buf, &e, 10); /* size: total pages */
	if (e == buf || *e != ' ' || page <= 0)
		return -EINVAL;
	resident = strtoull(e + 1, NULL, 10);
	*out = (uint64_t)resident * (uint64_t)page;
	return 0;
}

int fe_metrics_render_process(struct cf_buf *b)
{
	uint64_t rss = 0;

	if (process_rss(&rss) != 0)
		return 0;
	return cf_buf_appendf(b,
			      "# HELP process_resident_memory_bytes Resident "
			      "memory size in bytes.\n"
			      "# TYPE process_resident_memory_bytes gauge\n"
			      "process_resident_memory_bytes %llu\n",
			      (unsigned long long)rss);
}
