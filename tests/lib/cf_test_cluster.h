/*
 * cf_test_cluster: a cluster of real confabd processes on loopback, for the
 * integration tests.
 *
 * cf_test_cluster_start() makes a folder with mkdtemp (/tmp/confab-it-XXXXXX)
 * holding cluster.conf, secret.key, one data folder per node (n1/, n2/...) and
 * each node's stdout+stderr (n1.log...). Every cluster listens on a loopback
 * address of its own, 127.a.b.c, on ports held bound until cluster.conf is
 * written (cf_test_ports.h); if a node dies before it is ready (a port taken
 * meanwhile), the whole start is retried on a new address and new ports
 * from empty data folders. The confabd binary
 * is $CONFAB_BUILDDIR/confabd (set by make check), else ./confabd.
 * Environment knobs: CONFAB_IT_LOG_LEVEL (--log-level, default info),
 * CONFAB_IT_ARGS (extra confabd options, split at spaces; they come last
 * and win over the defaults, e.g. --rate-limit=1000000; the defaults
 * include --ballast=0), CONFAB_IT_CONF
 * (extra cluster-file lines separated by ';', e.g. "segment-size 64K"),
 * CONFAB_IT_KEEP
 * (keep the folder of passed tests too).
 *
 * Processes are always stopped by PID: cf_test_cluster_stop() (SIGTERM, a
 * bounded wait, then SIGKILL), an atexit handler for clusters still running,
 * and PR_SET_PDEATHSIG in each child in case the test process dies. A test
 * marks success with cf_test_cluster_pass(); if it did not, stop keeps the
 * folder and prints its path and the tail of every node log.
 *
 * Ownership: the cluster struct owns its processes and folder; it must stay
 * at a fixed address from start to stop (the atexit registry points to it).
 * Errors: 0 or a negative code (-errno, CF_ETIMEDOUT, CF_EUNAVAIL).
 * Threads: start, stop, kill, restart, pause and resume from one thread;
 * the read-only accessors (url, pid) from any.
 */
#ifndef CF_TEST_CLUSTER_H
#define CF_TEST_CLUSTER_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cf_test_http.h"
#include "cf_test_netns.h"

#define CF_TEST_MAX_NODES 5

struct cf_test_node {
	unsigned id; /* 1..n */
	pid_t pid;   /* 0 while not running */
	int paused;  /* SIGSTOPped */
	int stopping;	     /* SIGTERM sent by stop */
	int unexpected_exit; /* crashed, or a non-zero status on SIGTERM */
	int exit_status;     /* of the last reaped process */
	int raft_port, peer_port, client_port;
	char url[64]; /* "http://127.a.b.c:PORT" */
	char data_dir[PATH_MAX];
	char log_path[PATH_MAX];
	struct cf_http_conn conn; /* for the calling (main) thread */
};

struct cf_test_cluster {
	unsigned n;
	char ip[16]; /* the cluster's loopback address, "127.a.b.c" */
	char dir[PATH_MAX];
	char conf_path[PATH_MAX];
	char confabd[PATH_MAX];
	int passed; /* set by cf_test_cluster_pass() */
	const struct cf_test_netns *netns; /* nodes in namespaces, or NULL */
	struct cf_test_node nodes[CF_TEST_MAX_NODES + 1]; /* [1..n] */
};

/*
 * Start n nodes and wait (at most timeout_ms) until every /readyz answers
 * 200 and a leader is known. On failure everything is stopped and the
 * folder is kept for inspection.
 */
int cf_test_cluster_start(struct cf_test_cluster *c, unsigned n,
			  int timeout_ms);
/*
 * The same with node i in namespace i of ns (cf_test_netns.h), on its
 * address there; ns must outlive the cluster.
 */
int cf_test_cluster_start_netns(struct cf_test_cluster *c, unsigned n,
				int timeout_ms, const struct cf_test_netns *ns);
/*
 * A cmocka group teardown: mark the tests passed if all were (the folder is
 * then removed), then stop. 0, or cf_test_cluster_stop()'s code.
 */
int cf_test_cluster_end(struct cf_test_cluster *c, bool all_passed);
/* Mark the running test as passed: stop will remove the folder. */
void cf_test_cluster_pass(struct cf_test_cluster *c);
/*
 * Stop every node (TERM, then KILL after 10 s); see the header comment.
 * Returns -ECHILD (and treats the test as failed) if a node crashed during
 * the test, or did not exit with status 0 on SIGTERM; else 0.
 */
int cf_test_cluster_stop(struct cf_test_cluster *c);

/* Spawn node id (again) with its existing data folder. */
int cf_test_cluster_node_spawn(struct cf_test_cluster *c, unsigned id);
/* SIGKILL node id and reap it. */
int cf_test_cluster_kill(struct cf_test_cluster *c, unsigned id);
/* SIGTERM node id, wait at most timeout_ms for exit; *status = exit code. */
int cf_test_cluster_term(struct cf_test_cluster *c, unsigned id,
			 int timeout_ms, int *status);
/* Spawn node id and wait until its /readyz answers 200. */
int cf_test_cluster_restart(struct cf_test_cluster *c, unsigned id,
			    int timeout_ms);
int cf_test_cluster_pause(struct cf_test_cluster *c, unsigned id);
int cf_test_cluster_resume(struct cf_test_cluster *c, unsigned id);
/* 1 if node id's process is still alive (reaps it if it exited). */
int cf_test_cluster_alive(struct cf_test_cluster *c, unsigned id);

/* Wait until node id answers /readyz with 200. */
int cf_test_cluster_wait_ready(struct cf_test_cluster *c, unsigned id,
			       int timeout_ms);
/*
 * Wait until every running, unpaused node reports the same leader in
 * /v1/cluster, and that leader says role "leader"; returns its id (> 0),
 * or CF_ETIMEDOUT.
 */
int cf_test_cluster_leader(struct cf_test_cluster *c, int timeout_ms);

/*
 * One request to node id through its main-thread conn, with dev auth as
 * user (or none if NULL; in namespaces a token for user) and a JSON body
 * (or NULL). *r is released first.
 */
int cf_test_cluster_http(struct cf_test_cluster *c, unsigned id,
			 const char *method, const char *path,
			 const char *user, const char *json,
			 struct cf_http_resp *r);

/*
 * A user token for the cluster (HS256 with its secret, 1 h), for clusters
 * whose nodes take no dev identity (in namespaces). 0 or a negative code.
 */
int cf_test_cluster_token(struct cf_test_cluster *c, const char *user,
			  char *out, size_t size);

/* Print the last lines of every node log to stderr. */
void cf_test_cluster_dump_logs(struct cf_test_cluster *c, int lines);
/*
 * Whether node id's log (log_path) has a line that holds needle (a line is
 * read in pieces of up to 4095 bytes); false if the log cannot be opened.
 */
bool cf_test_cluster_log_has(struct cf_test_cluster *c, unsigned id,
			     const char *needle);

#endif
