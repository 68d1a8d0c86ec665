#include "config.h"

/*
 * cf_test_cluster: real confabd processes for the integration tests.
 *
 * Folder layout (kept when a test fails):
 *   DIR/cluster.conf   partitions 16, secret secret.key, one "node" line each
 *   DIR/secret.key     32 random hex characters
 *   DIR/admin.key      the admin secret (secret.key with another first byte)
 *   DIR/nK/            node K's --data folder
 *   DIR/nK.log         node K's stdout and stderr, appended across restarts
 */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cf_test_cluster.h"
#include "cf_test_ports.h"
#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "frontend/fe_auth.h"
#include "common/cf_time.h"

#define START_ATTEMPTS 3
#define STOP_GRACE_MS 10000

/* Clusters still running, stopped by the atexit handler. */
static struct cf_test_cluster *registry[8];
static int registry_hooked;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void registry_atexit(void)
{
	for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
		if (registry[i] != NULL)
			cf_test_cluster_stop(registry[i]);
	}
}

static void registry_add(struct cf_test_cluster *c)
{
	if (!registry_hooked) {
		atexit(registry_atexit);
		registry_hooked = 1;
	}
	for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
		if (registry[i] == NULL || registry[i] == c) {
			registry[i] = c;
			return;
		}
	}
}

static void registry_remove(struct cf_test_cluster *c)
{
	for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
		if (registry[i] == c)
			registry[i] = NULL;
	}
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rv = 0;

	if (f == NULL)
		return -errno;
	if (fputs(text, f) < 0)
		rv = -EIO;
	if (fclose(f) != 0 && rv == 0)
		rv = -errno;
	return rv;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

/*
 * Reserve ports on a loopback address of the cluster's own (cf_test_ports.h),
 * write cluster.conf while they are held, then release them for the nodes.
 * Data folders are made empty: a retry must not reuse a Raft log that holds
 * the previous attempt's addresses.
 */
static int cluster_configure(struct cf_test_cluster *c)
{
	struct cf_test_ports ports;
	char line[300];
	struct cf_buf conf = CF_BUF_INIT;
	struct cf_test_node *nd;
	const char *ip;
	unsigned i;
	int rv;

	rv = cf_test_ports_reserve(&ports, 3 * c->n);
	if (rv != 0)
		return rv;
	snprintf(c->ip, sizeof c->ip, "%s", ports.ip);
	rv = cf_buf_appendf(&conf, "# written by cf_test_cluster\n"
				   "partitions 16\nsecret secret.key\n"
				   "admin-secret admin.key\n");
	/* Extra cluster-file lines, ';'-separated (segment-size 64K;...). */
	for (const char *p = getenv("CONFAB_IT_CONF"); rv == 0 && p && *p;) {
		size_t n = strcspn(p, ";");

		rv = cf_buf_appendf(&conf, "%.*s\n", (int)n, p);
		p += n + (p[n] == ';');
	}
	for (i = 1; rv == 0 && i <= c->n; i++) {
		nd = &c->nodes[i];
		nd->id = i;
		nd->raft_port = ports.port[3 * (i - 1)];
		nd->peer_port = ports.port[3 * (i - 1) + 1];
		nd->client_port = ports.port[3 * (i - 1) + 2];
		/* In namespaces: the node's own address (cf_test_netns.h). */
		ip = c->netns != NULL ? c->netns->ip[i] : c->ip;
		snprintf(nd->url, sizeof nd->url, "http://%s:%d", ip,
			 nd->client_port);
		snprintf(line, sizeof line,
			 "node %u raft=%s:%d peer=%s:%d client=%s\n", i, ip,
			 nd->raft_port, ip, nd->peer_port, nd->url);
		rv = cf_buf_append(&conf, line, strlen(line));
		snprintf(nd->data_dir, sizeof nd->data_dir, "%s/n%u", c->dir,
			 i);
		snprintf(nd->log_path, sizeof nd->log_path, "%s/n%u.log",
			 c->dir, i);
		if (rv == 0 && access(nd->data_dir, F_OK) == 0 &&
		    nftw(nd->data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
			rv = -errno;
		if (rv == 0 && mkdir(nd->data_dir, 0700) != 0)
			rv = -errno;
		cf_http_conn_release(&nd->conn);
		/*
		 * Long enough for the slowest request a test makes (a 3 MiB
		 * upload replicated to two peers) on a loaded machine: 3 s
		 * failed there once in twelve runs.
		 */
		if (rv == 0)
			rv = cf_http_conn_init(&nd->conn, nd->url, 10000);
	}
	if (rv == 0)
		rv = cf_buf_append(&conf, "", 1);
	if (rv == 0)
		rv = write_file(c->conf_path, conf.data);
	cf_buf_release(&conf);
	cf_test_ports_release(&ports);
	return rv;
}

int cf_test_cluster_node_spawn(struct cf_test_cluster *c, unsigned id)
{
	struct cf_test_node *nd = &c->nodes[id];
	const char *level = getenv("CONFAB_IT_LOG_LEVEL");
	const char *extra = getenv("CONFAB_IT_ARGS");
	char idarg[16], lvarg[32], extra_buf[512], *argv[32], *save;
	int argc = 0;
	pid_t parent = getpid(), pid;
	int fd;

	assert(id >= 1 && id <= c->n && nd->pid == 0);
	snprintf(idarg, sizeof idarg, "%u", id);
	snprintf(lvarg, sizeof lvarg, "--log-level=%s", level ? level : "info");
	argv[argc++] = c->confabd;
	argv[argc++] = "--cluster";
	argv[argc++] = c->conf_path;
	argv[argc++] = "--id";
	argv[argc++] = idarg;
	argv[argc++] = "--data";
	argv[argc++] = nd->data_dir;
	/* dev auth is loopback only: in namespaces, tokens. */
	argv[argc++] = c->netns != NULL ? "--auth=jwt" : "--auth=dev";
	argv[argc++] = lvarg;
	/*
	 * Tests and confab-bench send far faster than one person; the per-user
	 * rate is tested by test_limits, which sets its own in CONFAB_IT_ARGS
	 * (later options win).
	 */
	argv[argc++] = "--rate-limit=1000000";
	argv[argc++] = "--rate-burst=1000000";
	/*
	 * No ballast (296 MiB per node by default): test_disk sets its own
	 * (issue 11).
	 */
	argv[argc++] = "--ballast=0";
	/* Extra options for every node, split at spaces. */
	snprintf(extra_buf, sizeof extra_buf, "%s", extra ? extra : "");
	for (char *t = strtok_r(extra_buf, " ", &save); t && argc < 31;
	     t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	fd = open(nd->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		  0644);
	if (fd < 0)
		return -errno;
	dprintf(fd, "=== cf_test_cluster: spawn node %u ===\n", id);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fd);
		return -errno;
	}
	if (pid == 0) {
		/* Die with the test process, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		if (c->netns != NULL && cf_test_netns_enter(c->netns, id) != 0) {
			dprintf(2, "setns %s: %s\n", c->netns->ns[id],
				strerror(errno));
			_exit(127);
		}
		execv(c->confabd, argv);
		dprintf(2, "exec %s: %s\n", c->confabd, strerror(errno));
		_exit(127);
	}
	close(fd);
	nd->pid = pid;
	nd->paused = 0;
	return 0;
}

int cf_test_cluster_alive(struct cf_test_cluster *c, unsigned id)
{
	struct cf_test_node *nd = &c->nodes[id];
	int st;

	if (nd->pid == 0)
		return 0;
	if (waitpid(nd->pid, &st, WNOHANG) == nd->pid) {
		nd->pid = 0;
		nd->exit_status =
			WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		/* Only a stop by SIGTERM may end a node. */
		if (!nd->stopping || nd->exit_status != 0)
			nd->unexpected_exit = 1;
		return 0;
	}
	return 1;
}

int cf_test_cluster_kill(struct cf_test_cluster *c, unsigned id)
{
	struct cf_test_node *nd = &c->nodes[id];
	int st;

	if (nd->pid == 0)
		return -ESRCH;
	if (kill(nd->pid, SIGKILL) != 0)
		return -errno;
	while (waitpid(nd->pid, &st, 0) < 0 && errno == EINTR)
		;
	nd->pid = 0;
	nd->paused = 0;
	cf_http_conn_drop(&nd->conn);
	return 0;
}

int cf_test_cluster_term(struct cf_test_cluster *c, unsigned id,
			 int timeout_ms, int *status)
{
	struct cf_test_node *nd = &c->nodes[id];
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;
	pid_t got;
	int st = 0;

	if (nd->pid == 0)
		return -ESRCH;
	if (nd->paused)
		kill(nd->pid, SIGCONT);
	if (kill(nd->pid, SIGTERM) != 0)
		return -errno;
	cf_http_conn_drop(&nd->conn);
	for (;;) {
		got = waitpid(nd->pid, &st, WNOHANG);
		if (got == nd->pid)
			break;
		if (cf_mono_ms() >= deadline)
			return CF_ETIMEDOUT;
		sleep_ms(20);
	}
	nd->pid = 0;
	nd->paused = 0;
	if (status != NULL)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

int cf_test_cluster_pause(struct cf_test_cluster *c, unsigned id)
{
	struct cf_test_node *nd = &c->nodes[id];

	if (nd->pid == 0)
		return -ESRCH;
	if (kill(nd->pid, SIGSTOP) != 0)
		return -errno;
	nd->paused = 1;
	cf_http_conn_drop(&nd->conn);
	return 0;
}

int cf_test_cluster_resume(struct cf_test_cluster *c, unsigned id)
{
	struct cf_test_node *nd = &c->nodes[id];

	if (nd->pid == 0)
		return -ESRCH;
	if (kill(nd->pid, SIGCONT) != 0)
		return -errno;
	nd->paused = 0;
	return 0;
}

int cf_test_cluster_token(struct cf_test_cluster *c, const char *user,
			  char *out, size_t size)
{
	char errmsg[CF_ERRMSG_SIZE];
	struct cf_cluster *cl = calloc(1, sizeof *cl);
	char *tok = NULL;
	int rv;

	if (cl == NULL)
		return -ENOMEM;
	rv = cf_cluster_load(cl, c->conf_path, errmsg);
	if (rv == 0)
		rv = fe_auth_mint(cl, user, 3600, &tok);
	if (rv == 0 && strlen(tok) >= size)
		rv = CF_ETOOBIG;
	if (rv == 0)
		snprintf(out, size, "%s", tok);
	free(tok);
	free(cl);
	return rv;
}

int cf_test_cluster_http(struct cf_test_cluster *c, unsigned id,
			 const char *method, const char *path,
			 const char *user, const char *json,
			 struct cf_http_resp *r)
{
	char tok[1024], hdr[1100];
	int rv;

	assert(id >= 1 && id <= c->n);
	if (c->netns == NULL || user == NULL)
		return cf_http_request_json(&c->nodes[id].conn, method, path,
					    user, json, r);
	/* Off loopback the nodes take tokens only (--auth=jwt). */
	rv = cf_test_cluster_token(c, user, tok, sizeof tok);
	if (rv != 0)
		return rv;
	snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", tok);
	return cf_http_request(&c->nodes[id].conn, method, path, hdr, json,
			       json != NULL ? strlen(json) : 0, r);
}

int cf_test_cluster_wait_ready(struct cf_test_cluster *c, unsigned id,
			       int timeout_ms)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;
	struct cf_http_resp r;
	int rv;

	cf_http_resp_init(&r);
	for (;;) {
		if (!cf_test_cluster_alive(c, id)) {
			rv = -ECHILD;
			break;
		}
		rv = cf_test_cluster_http(c, id, "GET", "/readyz", NULL, NULL,
					  &r);
		if (rv == 0 && r.status == 200)
			break;
		if (cf_mono_ms() >= deadline) {
			rv = CF_ETIMEDOUT;
			break;
		}
		sleep_ms(100);
	}
	cf_http_resp_release(&r);
	return rv;
}

/* Ask node id for (role, leaderId); 0 or an error. */
static int node_view(struct cf_test_cluster *c, unsigned id, char *role,
		     size_t rsize, long long *leader)
{
	struct cf_http_resp r;
	json_t *j, *v;
	int rv;

	cf_http_resp_init(&r);
	rv = cf_test_cluster_http(c, id, "GET", "/v1/cluster", NULL, NULL,
				  &r);
	if (rv == 0 && r.status != 200)
		rv = CF_EUNAVAIL;
	j = rv == 0 ? cf_http_resp_json(&r) : NULL;
	if (rv == 0 && j == NULL)
		rv = CF_ECORRUPT;
	if (rv == 0) {
		v = json_object_get(j, "role");
		snprintf(role, rsize, "%s",
			 json_is_string(v) ? json_string_value(v) : "");
		v = json_object_get(j, "leaderId");
		if (json_is_integer(v))
			*leader = json_integer_value(v);
		else if (json_is_string(v))
			*leader = atoll(json_string_value(v));
		else
			*leader = 0;
	}
	cf_http_resp_release(&r);
	return rv;
}

int cf_test_cluster_leader(struct cf_test_cluster *c, int timeout_ms)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;
	char role[32];
	long long leader, agreed;
	int ok, leader_says;
	unsigned i;

	do {
		agreed = 0;
		ok = 1;
		leader_says = 0;
		for (i = 1; i <= c->n && ok; i++) {
			if (!cf_test_cluster_alive(c, i) || c->nodes[i].paused)
				continue;
			if (node_view(c, i, role, sizeof role, &leader) != 0 ||
			    leader <= 0 || (agreed != 0 && leader != agreed)) {
				ok = 0;
				break;
			}
			agreed = leader;
			if ((unsigned)leader == i && strcmp(role, "leader") == 0)
				leader_says = 1;
		}
		if (ok && agreed > 0 && leader_says)
			return (int)agreed;
		sleep_ms(100);
	} while (cf_mono_ms() < deadline);
	return CF_ETIMEDOUT;
}

int cf_test_cluster_restart(struct cf_test_cluster *c, unsigned id,
			    int timeout_ms)
{
	int rv;

	if (c->nodes[id].pid != 0)
		return -EBUSY;
	rv = cf_test_cluster_node_spawn(c, id);
	if (rv == 0)
		rv = cf_test_cluster_wait_ready(c, id, timeout_ms);
	return rv;
}

/* Stop every node; returns how many ended other than by a clean exit 0. */
static int stop_nodes(struct cf_test_cluster *c)
{
	uint64_t deadline = cf_mono_ms() + STOP_GRACE_MS;
	unsigned i, running;
	int bad = 0;

	for (i = 1; i <= c->n; i++) {
		if (c->nodes[i].pid == 0)
			continue;
		c->nodes[i].stopping = 1;
		if (c->nodes[i].paused)
			kill(c->nodes[i].pid, SIGCONT);
		kill(c->nodes[i].pid, SIGTERM);
	}
	do {
		running = 0;
		for (i = 1; i <= c->n; i++)
			running += (unsigned)cf_test_cluster_alive(c, i);
		if (running > 0)
			sleep_ms(20);
	} while (running > 0 && cf_mono_ms() < deadline);
	for (i = 1; i <= c->n; i++) {
		if (c->nodes[i].pid == 0)
			continue;
		fprintf(stderr, "# node %u did not stop on SIGTERM: SIGKILL\n",
			i);
		cf_test_cluster_kill(c, i);
		c->nodes[i].unexpected_exit = 1;
	}
	for (i = 1; i <= c->n; i++) {
		if (c->nodes[i].unexpected_exit) {
			fprintf(stderr, "# node %u ended badly (status %d)\n", i,
				c->nodes[i].exit_status);
			bad++;
		}
		c->nodes[i].stopping = 0;
		c->nodes[i].unexpected_exit = 0;
	}
	return bad;
}

static int cluster_start(struct cf_test_cluster *c, unsigned n,
			 int timeout_ms, const struct cf_test_netns *ns);

int cf_test_cluster_start(struct cf_test_cluster *c, unsigned n,
			  int timeout_ms)
{
	return cluster_start(c, n, timeout_ms, NULL);
}

int cf_test_cluster_start_netns(struct cf_test_cluster *c, unsigned n,
				int timeout_ms, const struct cf_test_netns *ns)
{
	assert(ns != NULL && ns->n >= n);
	return cluster_start(c, n, timeout_ms, ns);
}

static int cluster_start(struct cf_test_cluster *c, unsigned n,
			 int timeout_ms, const struct cf_test_netns *ns)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;
	const char *bd = getenv("CONFAB_BUILDDIR");
	unsigned char raw[16];
	char secret[40], path[PATH_MAX + 32];
	unsigned i;
	int rv = 0, attempt, left;

	assert(n >= 1 && n <= CF_TEST_MAX_NODES);
	memset(c, 0, sizeof *c);
	c->n = n;
	c->netns = ns;
	for (i = 0; i <= CF_TEST_MAX_NODES; i++)
		c->nodes[i].conn.fd = -1;
	snprintf(c->confabd, sizeof c->confabd, "%s/confabd",
		 bd && *bd ? bd : ".");
	if (access(c->confabd, X_OK) != 0) {
		rv = -errno;
		fprintf(stderr, "# %s: %s\n", c->confabd, strerror(errno));
		c->n = 0;
		return rv;
	}
	snprintf(c->dir, sizeof c->dir, "/tmp/confab-it-XXXXXX");
	if (mkdtemp(c->dir) == NULL)
		return -errno;
	registry_add(c);
	snprintf(c->conf_path, sizeof c->conf_path, "%s/cluster.conf", c->dir);
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -EIO;
	for (i = 0; i < sizeof raw; i++)
		snprintf(secret + 2 * i, 3, "%02x", raw[i]);
	snprintf(path, sizeof path, "%s/secret.key", c->dir);
	rv = write_file(path, secret);
	/* The admin secret: another first character (it must differ). */
	secret[0] = secret[0] == '0' ? '1' : '0';
	snprintf(path, sizeof path, "%s/admin.key", c->dir);
	if (rv == 0)
		rv = write_file(path, secret);
	for (attempt = 0; rv == 0 && attempt < START_ATTEMPTS; attempt++) {
		rv = cluster_configure(c);
		for (i = 1; rv == 0 && i <= n; i++)
			rv = cf_test_cluster_node_spawn(c, i);
		for (i = 1; rv == 0 && i <= n; i++) {
			left = (int)(deadline > cf_mono_ms()
					     ? deadline - cf_mono_ms()
					     : 1);
			rv = cf_test_cluster_wait_ready(c, i, left);
		}
		if (rv == 0) {
			left = (int)(deadline > cf_mono_ms()
					     ? deadline - cf_mono_ms()
					     : 1);
			rv = cf_test_cluster_leader(c, left);
			return rv > 0 ? 0 : rv;
		}
		(void)stop_nodes(c);
		if (rv != -ECHILD)
			break; /* only a node that died is worth a retry */
		fprintf(stderr, "# cluster start attempt %d on %s: a node "
				"exited (port taken?); again from empty "
				"folders\n",
			attempt + 1, c->ip);
		if (attempt + 1 < START_ATTEMPTS)
			rv = 0;
	}
	fprintf(stderr, "# cluster start failed: %s\n", cf_strerror(rv));
	return rv != 0 ? rv : CF_EUNAVAIL;
}

int cf_test_cluster_end(struct cf_test_cluster *c, bool all_passed)
{
	if (all_passed)
		cf_test_cluster_pass(c);
	return cf_test_cluster_stop(c);
}

void cf_test_cluster_pass(struct cf_test_cluster *c)
{
	c->passed = 1;
}

void cf_test_cluster_dump_logs(struct cf_test_cluster *c, int lines)
{
	char *buf;
	long size, off;
	int seen;
	FILE *f;

	for (unsigned i = 1; i <= c->n; i++) {
		f = fopen(c->nodes[i].log_path, "r");
		if (f == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		off = size > 65536 ? size - 65536 : 0;
		buf = malloc((size_t)(size - off) + 1);
		if (buf != NULL) {
			fseek(f, off, SEEK_SET);
			size = (long)fread(buf, 1, (size_t)(size - off), f);
			buf[size] = '\0';
			for (off = size - 1, seen = 0; off > 0; off--) {
				if (buf[off - 1] == '\n' && ++seen > lines)
					break;
			}
			fprintf(stderr, "# ---- tail of %s ----\n%s",
				c->nodes[i].log_path, buf + (off > 0 ? off : 0));
			free(buf);
		}
		fclose(f);
	}
}

bool cf_test_cluster_log_has(struct cf_test_cluster *c, unsigned id,
			     const char *needle)
{
	FILE *f = fopen(c->nodes[id].log_path, "r");
	char line[4096];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int cf_test_cluster_stop(struct cf_test_cluster *c)
{
	int bad;

	if (c->n == 0)
		return 0;
	bad = stop_nodes(c);
	if (bad > 0)
		c->passed = 0;
	for (unsigned i = 1; i <= c->n; i++)
		cf_http_conn_release(&c->nodes[i].conn);
	registry_remove(c);
	if (c->passed && getenv("CONFAB_IT_KEEP") == NULL) {
		nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	} else if (c->passed) {
		fprintf(stderr, "# cluster folder kept at %s\n", c->dir);
	} else {
		fprintf(stderr, "# test failed: cluster folder kept at %s\n",
			c->dir);
		cf_test_cluster_dump_logs(c, 30);
	}
	c->n = 0;
	return bad > 0 ? -ECHILD : 0;
}
