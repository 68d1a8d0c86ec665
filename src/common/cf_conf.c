#include "config.h"

#include "common/cf_conf.h"
#include "common/cf_err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cf_addr_split(const char *addr, char *ip, int *port)
{
	const char *colon = strrchr(addr, ':');
	struct in_addr a;
	char *end;
	long p;

	if (colon == NULL || colon == addr || colon - addr > 15)
		return CF_EBADREQ;
	memcpy(ip, addr, (size_t)(colon - addr));
	ip[colon - addr] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1)
		return CF_EBADREQ;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p <= 0 || p > 65535)
		return CF_EBADREQ;
	*port = (int)p;
	return 0;
}

static int conf_set(char *dst, size_t size, const char *word,
		    const char *key)
{
	size_t k = strlen(key);

	if (strncmp(word, key, k) != 0 || word[k] != '=')
		return 0;
	if (strlen(word + k + 1) >= size)
		return -1;
	strcpy(dst, word + k + 1);
	return 1;
}

static int conf_node(struct cf_cluster *c, char *rest, char *errmsg)
{
	struct cf_node_conf *n;
	char ip[16];
	char *save = NULL;
	char *w;
	char *end;
	long id;
	int port;

	if (c->n_nodes == CF_MAX_NODES) {
		cf_errmsg_printf(errmsg, "more than %d nodes", CF_MAX_NODES);
		return CF_EBADREQ;
	}
	n = &c->nodes[c->n_nodes];
	memset(n, 0, sizeof *n);
	w = strtok_r(rest, " \t", &save);
	if (w == NULL) {
		cf_errmsg_printf(errmsg, "node: missing id");
		return CF_EBADREQ;
	}
	id = strtol(w, &end, 10);
	if (*end != '\0' || id < 1 || id > 65535) {
		cf_errmsg_printf(errmsg, "node: bad id '%s'", w);
		return CF_EBADREQ;
	}
	n->id = (unsigned)id;
	for (unsigned i = 0; i < c->n_nodes; i++) {
		if (c->nodes[i].id == n->id) {
			cf_errmsg_printf(errmsg, "node %u: listed twice", n->id);
			return CF_EBADREQ;
		}
	}
	while ((w = strtok_r(NULL, " \t", &save)) != NULL) {
		if (conf_set(n->raft_addr, sizeof n->raft_addr, w, "raft") ||
		    conf_set(n->peer_addr, sizeof n->peer_addr, w, "peer") ||
		    conf_set(n->client_url, sizeof n->client_url, w, "client"))
			continue;
		cf_errmsg_printf(errmsg, "node %u: unknown field '%s'", n->id,
				 w);
		return CF_EBADREQ;
	}
	if (cf_addr_split(n->raft_addr, ip, &port) != 0 ||
	    cf_addr_split(n->peer_addr, ip, &port) != 0) {
		cf_errmsg_printf(errmsg,
				 "node %u: raft= and peer= must be IPv4:port",
				 n->id);
		return CF_EBADREQ;
	}
	if (strncmp(n->client_url, "http://", 7) != 0 ||
	    strlen(n->client_url + 7) >= sizeof n->client_addr) {
		cf_errmsg_printf(errmsg, "node %u: client= must be http://IP:PORT",
				 n->id);
		return CF_EBADREQ;
	}
	strcpy(n->client_addr, n->client_url + 7);
	end = strchr(n->client_addr, '/');
	if (end != NULL)
		*end = '\0';
	if (cf_addr_split(n->client_addr, ip, &port) != 0) {
		cf_errmsg_printf(errmsg, "node %u: client= must be http://IP:PORT",
				 n->id);
		return CF_EBADREQ;
	}
	c->n_nodes++;
	return 0;
}

/* Read a secret file (relative to the cluster file's folder), trimmed. */
static int conf_read_secret(const char *name, const char *file,
			    const char *cluster_path, char *buf, size_t size,
			    unsigned *len, char *errmsg)
{
	char path[1024];
	const char *slash;
	FILE *f;
	size_t n;
	int rv;

	if (file[0] == '/') {
		snprintf(path, sizeof path, "%s", file);
	} else {
		slash = strrchr(cluster_path, '/');
		if (slash == NULL)
			snprintf(path, sizeof path, "%s", file);
		else
			snprintf(path, sizeof path, "%.*s/%s",
				 (int)(slash - cluster_path), cluster_path,
				 file);
	}
	f = fopen(path, "r");
	if (f == NULL) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "%s file %s: %s", name, path,
				 strerror(errno));
		return rv;
	}
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (n < 16) {
		cf_errmsg_printf(errmsg, "%s file %s: at least 16 bytes needed",
				 name, path);
		return CF_EBADREQ;
	}
	*len = (unsigned)n;
	return 0;
}

static int conf_secret(struct cf_cluster *c, const char *cluster_path,
		       char *errmsg)
{
	int rv;

	rv = conf_read_secret("secret", c->secret_path, cluster_path,
			      c->secret, sizeof c->secret, &c->secret_len,
			      errmsg);
	if (rv != 0 || c->admin_secret_path[0] == '\0')
		return rv;
	rv = conf_read_secret("admin-secret", c->admin_secret_path,
			      cluster_path, c->admin_secret,
			      sizeof c->admin_secret, &c->admin_secret_len,
			      errmsg);
	if (rv == 0 && c->admin_secret_len == c->secret_len &&
	    memcmp(c->admin_secret, c->secret, c->secret_len) == 0) {
		/* A user token must never pass for an admin's. */
		cf_errmsg_printf(errmsg, "admin-secret must differ from secret");
		rv = CF_EBADREQ;
	}
	return rv;
}

/*
 * A decimal number with at most one unit letter from units (its multiplier
 * in muls, same position); 0 or CF_EBADREQ, also past max.
 */
static int parse_units(const char *s, const char *units, const uint64_t *muls,
		       uint64_t max, uint64_t *out)
{
	unsigned long long v;
	uint64_t mul = 1;
	const char *u;
	char *end;

	if (*s < '0' || *s > '9')
		return CF_EBADREQ;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return CF_EBADREQ;
	if (*end != '\0') {
		u = strchr(units, *end);
		if (u == NULL || end[1] != '\0')
			return CF_EBADREQ;
		mul = muls[u - units];
	}
	if (v > max / mul)
		return CF_EBADREQ;
	*out = (uint64_t)v * mul;
	return 0;
}

int cf_parse_size(const char *s, uint64_t *out)
{
	static const uint64_t muls[] = {1ull << 10, 1ull << 20, 1ull << 30};

	return parse_units(s, "KMG", muls, UINT64_MAX, out);
}

int cf_parse_duration(const char *s, uint64_t *out)
{
	static const uint64_t muls[] = {1, 60, 3600, 86400};

	return parse_units(s, "smhd", muls, 10ULL * 366 * 86400, out);
}

/*
 * segment-size SIZE / seal-age DURATION / erase-within DURATION /
 * edit-window DURATION
 */
static int conf_store_key(struct cf_cluster *c, const char *key, char *save,
			  char *errmsg)
{
	char *v = strtok_r(NULL, " \t", &save);
	uint64_t n;

	if (strcmp(key, "segment-size") == 0) {
		if (v == NULL || cf_parse_size(v, &n) != 0 ||
		    n < CF_SEGMENT_SIZE_MIN || n > CF_SEGMENT_SIZE_MAX) {
			cf_errmsg_printf(errmsg, "segment-size: 64K to 1G "
						 "(bytes, or N with K, M or G)");
			return CF_EBADREQ;
		}
		c->segment_size = n;
	} else if (strcmp(key, "erase-within") == 0) {
		if (v == NULL || cf_parse_duration(v, &n) != 0 || n == 0) {
			cf_errmsg_printf(errmsg, "erase-within: a duration (N "
						 "with s, m, h or d) from 1s "
						 "up to 10 years");
			return CF_EBADREQ;
		}
		c->erase_within_ms = n * 1000;
	} else if (strcmp(key, "edit-window") == 0) {
		if (v == NULL || cf_parse_duration(v, &n) != 0) {
			cf_errmsg_printf(errmsg, "edit-window: 0 (no edits) or "
						 "a duration (N with s, m, h "
						 "or d) up to 10 years");
			return CF_EBADREQ;
		}
		c->edit_window_ms = n * 1000;
	} else {
		if (v == NULL || cf_parse_duration(v, &n) != 0) {
			cf_errmsg_printf(errmsg, "seal-age: 0 (never) or a "
						 "duration (N with s, m, h or "
						 "d) up to 10 years");
			return CF_EBADREQ;
		}
		c->seal_age_ms = n * 1000;
	}
	if (strtok_r(NULL, " \t", &save) != NULL) {
		cf_errmsg_printf(errmsg, "%s: one value only", key);
		return CF_EBADREQ;
	}
	return 0;
}

int cf_cluster_load(struct cf_cluster *c, const char *path, char *errmsg)
{
	char line[1024];
	unsigned lineno = 0;
	FILE *f;
	int rv = 0;

	memset(c, 0, sizeof *c);
	c->partitions = 16;
	c->segment_size = CF_SEGMENT_SIZE_DEFAULT;
	c->seal_age_ms = CF_SEAL_AGE_DEFAULT_MS;
	c->erase_within_ms = CF_ERASE_WITHIN_DEFAULT_MS;
	c->edit_window_ms = CF_EDIT_WINDOW_DEFAULT_MS;
	f = fopen(path, "r");
	if (f == NULL) {
		rv = -errno;
		cf_errmsg_printf(errmsg, "%s: %s", path, strerror(errno));
		return rv;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		char *p = line;
		char *save = NULL;
		char *w;
		lineno++;
		p[strcspn(p, "\r\n#")] = '\0';
		w = strtok_r(p, " \t", &save);
		if (w == NULL)
			continue;
		if (strcmp(w, "node") == 0) {
			rv = conf_node(c, save, errmsg);
		} else if (strcmp(w, "partitions") == 0) {
			char *v = strtok_r(NULL, " \t", &save);
			char *end = NULL;
			long n = v != NULL ? strtol(v, &end, 10) : 0;
			if (v == NULL || *end != '\0' || n < 1 || n > 4096) {
				cf_errmsg_printf(errmsg,
						 "partitions: 1 to 4096");
				rv = CF_EBADREQ;
			} else {
				c->partitions = (unsigned)n;
			}
		} else if (strcmp(w, "segment-size") == 0 ||
			   strcmp(w, "seal-age") == 0 ||
			   strcmp(w, "erase-within") == 0 ||
			   strcmp(w, "edit-window") == 0) {
			rv = conf_store_key(c, w, save, errmsg);
		} else if (strcmp(w, "secret") == 0 ||
			   strcmp(w, "admin-secret") == 0) {
			char *v = strtok_r(NULL, " \t", &save);
			char *dst = w[0] == 's' ? c->secret_path
						: c->admin_secret_path;
			if (v == NULL || strlen(v) >= sizeof c->secret_path) {
				cf_errmsg_printf(errmsg, "%s: missing path", w);
				rv = CF_EBADREQ;
			} else {
				strcpy(dst, v);
			}
		} else {
			cf_errmsg_printf(errmsg, "unknown directive '%s'", w);
			rv = CF_EBADREQ;
		}
		if (rv != 0) {
			cf_errmsg_wrapf(errmsg, "%s:%u", path, lineno);
			goto out;
		}
	}
	if (c->n_nodes == 0) {
		cf_errmsg_printf(errmsg, "%s: no nodes", path);
		rv = CF_EBADREQ;
		goto out;
	}
	if (c->secret_path[0] == '\0') {
		cf_errmsg_printf(errmsg, "%s: no secret file", path);
		rv = CF_EBADREQ;
		goto out;
	}
	rv = conf_secret(c, path, errmsg);
out:
	fclose(f);
	return rv;
}

const struct cf_node_conf *cf_cluster_node(const struct cf_cluster *c,
					   unsigned id)
{
	for (unsigned i = 0; i < c->n_nodes; i++)
		if (c->nodes[i].id == id)
			return &c->nodes[i];
	return NULL;
}
