/*
 * cf_conf: the cluster file, identical on every node (DESIGN.md).
 *
 *   # comment
 *   partitions 16
 *   secret secret.key                 (relative to the cluster file's folder)
 *   admin-secret admin.key            optional: signs admin tokens only; must
 *                                     differ from secret
 *   segment-size 64M                  hot segment size (64K..1G; default 64M)
 *   seal-age 1d                       seal a hot segment this much entry time
 *                                     after its first record (0: never;
 *                                     default 1d)
 *   erase-within 24h                  a recalled message's content leaves
 *                                     every file within this (1s..10y;
 *                                     default 24h; the leader's rule)
 *   edit-window 24h                   a sender may edit a message this long
 *                                     after it was sent, by entry time
 *                                     (0: edits off; up to 10y; default
 *                                     24h; checked at apply)
 *   node 1 raft=127.0.0.1:7001 peer=127.0.0.1:7101 client=http://127.0.0.1:8001
 *   node 2 ...
 *
 * Node ids are integers 1..65535 (they are Raft ids and the "origin" of a
 * command). Raft and peer addresses are IPv4 literals with a port (raft 0.15
 * parses no host names). Ownership: struct cf_cluster owns its strings.
 * Errors: cf_cluster_load returns 0, -errno or CF_EBADREQ with errmsg set.
 * Threads: any.
 */
#ifndef CF_CONF_H
#define CF_CONF_H

#include <stdint.h>

#define CF_MAX_NODES 7
#define CF_SEGMENT_SIZE_DEFAULT (64ull << 20)
#define CF_SEGMENT_SIZE_MIN (64ull << 10)
#define CF_SEGMENT_SIZE_MAX (1ull << 30)
#define CF_SEAL_AGE_DEFAULT_MS (86400ull * 1000)
#define CF_ERASE_WITHIN_DEFAULT_MS (86400ull * 1000)
#define CF_EDIT_WINDOW_DEFAULT_MS (86400ull * 1000)
#define CF_ADDR_SIZE 64
#define CF_URL_SIZE 128

struct cf_node_conf {
	unsigned id;
	char raft_addr[CF_ADDR_SIZE];	/* "127.0.0.1:7001" */
	char peer_addr[CF_ADDR_SIZE];	/* "127.0.0.1:7101" */
	char client_url[CF_URL_SIZE];	/* "http://127.0.0.1:8001" */
	char client_addr[CF_ADDR_SIZE]; /* "127.0.0.1:8001", derived */
};

struct cf_cluster {
	unsigned n_nodes;
	struct cf_node_conf nodes[CF_MAX_NODES];
	unsigned partitions; /* P, default 16 */
	/*
	 * Cluster-wide store shape, recorded in each store at creation: a node
	 * whose store says otherwise refuses to start (log_store.h).
	 */
	uint64_t segment_size; /* bytes, default 64 MiB */
	uint64_t seal_age_ms;  /* entry-clock ms, 0 = never, default 1 day */
	uint64_t erase_within_ms; /* default 1 day (the leader's rule) */
	uint64_t edit_window_ms; /* entry-clock ms, 0 = no edits, default 1 day */
	char secret_path[512];
	char secret[256]; /* file contents, trimmed */
	unsigned secret_len;
	char admin_secret_path[512]; /* "" if none: admin routes refuse all */
	char admin_secret[256];
	unsigned admin_secret_len;
};

int cf_cluster_load(struct cf_cluster *c, const char *path, char *errmsg);
/* The entry for id, or NULL. */
const struct cf_node_conf *cf_cluster_node(const struct cf_cluster *c,
					   unsigned id);
/*
 * A size: bytes ("65536"), or a number with K, M or G (binary units).
 * 0 or CF_EBADREQ (also on overflow).
 */
int cf_parse_size(const char *s, uint64_t *out);
/*
 * A duration in seconds: "3600", or a number with s, m, h or d ("30m",
 * "24h", "7d"); "0" is 0. 0 or CF_EBADREQ; at most 10 years.
 */
int cf_parse_duration(const char *s, uint64_t *out);

/* Split "a.b.c.d:port" into ip (>= 16 bytes) and port; 0 or CF_EBADREQ. */
int cf_addr_split(const char *addr, char *ip, int *port);

#endif
