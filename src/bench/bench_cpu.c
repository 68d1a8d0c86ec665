#include "config.h"

/*
 * bench_cpu: see bench_cpu.h.
 *
 * /proc/PID/stat: "pid (comm) state ppid ..." where comm may hold spaces
 * and parentheses, so the fields are counted from the last ')'; utime and
 * stime are fields 14 and 15 (1-based, man 5 proc), in clock ticks
 * (sysconf(_SC_CLK_TCK)), and cover every thread of the process.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench_cpu.h"

#define PROGRESS_NS 5000000000ull

int bench_cpu_add_pid(struct bench_cpu *c, long pid)
{
	if (pid <= 0 || c->n_pids == BENCH_CPU_MAX_PIDS)
		return -1;
	c->pids[c->n_pids++] = (pid_t)pid;
	return 0;
}

/* utime + stime of pid in ticks; -1 when unreadable. */
static int64_t pid_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	size_t n;
	FILE *f;
	int i;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	/* p + 2 is field 3 (state); skip to field 14 */
	p += 2;
	for (i = 3; i < 14 && p != NULL; i++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (p == NULL || sscanf(p, "%llu %llu", &ut, &st) != 2)
		return -1;
	return (int64_t)(ut + st);
}

static int read_servers(struct bench_cpu *c, uint64_t *out)
{
	int64_t t;
	unsigned i;

	*out = 0;
	for (i = 0; i < c->n_pids; i++) {
		t = pid_ticks(c->pids[i]);
		if (t < 0) {
			fprintf(stderr,
				"confab-bench: --pid %ld: /proc/%ld/stat "
				"unreadable: no server CPU figure\n",
				(long)c->pids[i], (long)c->pids[i]);
			c->server_bad = 1;
			return -1;
		}
		*out += (uint64_t)t;
	}
	return 0;
}

static double ru_s(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

double bench_cpu_self(void)
{
	return ru_s(RUSAGE_SELF);
}

double bench_cpu_children(void)
{
	return ru_s(RUSAGE_CHILDREN);
}

int bench_cpu_begin(struct bench_cpu *c)
{
	c->self_s[0] = bench_cpu_self();
	return read_servers(c, &c->server_ticks[0]);
}

int bench_cpu_end(struct bench_cpu *c)
{
	c->self_s[1] = bench_cpu_self();
	if (c->server_bad)
		return -1;
	return read_servers(c, &c->server_ticks[1]);
}

double bench_cpu_server_s(const struct bench_cpu *c)
{
	long hz = sysconf(_SC_CLK_TCK);

	if (c->n_pids == 0 || c->server_bad || hz <= 0)
		return -1;
	return (double)(c->server_ticks[1] - c->server_ticks[0]) / (double)hz;
}

void bench_cpu_json(const struct bench_cpu *c, FILE *f, uint64_t acks,
		    double extra_client_s)
{
	double srv = bench_cpu_server_s(c);

	fprintf(f, "\"client_cpu_s\":%.3f",
		c->self_s[1] - c->self_s[0] + extra_client_s);
	if (srv < 0)
		return;
	fprintf(f, ",\"server_cpu_s\":%.3f,\"server_cpu_us_per_ack\":%.2f",
		srv, acks > 0 ? srv * 1e6 / (double)acks : 0);
}

void bench_progress_init(struct bench_progress *p, uint64_t now_ns,
			 double planned_s)
{
	memset(p, 0, sizeof *p);
	p->start_ns = now_ns;
	p->last_ns = now_ns;
	p->next_ns = now_ns + PROGRESS_NS;
	p->on = planned_s > 10;
}

void bench_progress_tick(struct bench_progress *p, uint64_t now_ns,
			 const char *what, uint64_t count)
{
	if (!p->on || now_ns < p->next_ns)
		return;
	fprintf(stderr,
		"confab-bench: %.0f s: %llu %s so far (%.0f/s since the last "
		"line)\n",
		(double)(now_ns - p->start_ns) / 1e9, (unsigned long long)count,
		what,
		(double)(count - p->last_count) * 1e9 /
			(double)(now_ns - p->last_ns));
	p->last_count = count;
	p->last_ns = now_ns;
	p->next_ns += PROGRESS_NS;
	if (p->next_ns <= now_ns)
		p->next_ns = now_ns + PROGRESS_NS;
}
