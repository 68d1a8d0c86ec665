#include "config.h"

#include "frontend/fe_static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cf_buf.h"
#include "common/cf_diag.h"
#include "common/cf_io.h"
#include "frontend/fe_json.h"
#include "frontend/fe_server.h"

#ifndef CONFAB_WEBDIR
#define CONFAB_WEBDIR "/usr/local/share/confab/web"
#endif
#ifndef CONFAB_SRC_WEBDIR
#define CONFAB_SRC_WEBDIR "web"
#endif

#define STATIC_PREFIX "/app/"

static const struct {
	const char *ext;
	const char *type;
} static_types[] = {
	{".html", "text/html; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".json", "application/json"},
	{".png", "image/png"},
	{".svg", "image/svg+xml"},
	{".ico", "image/x-icon"},
};

const char *fe_static_type(const char *name, size_t len)
{
	size_t stem = 0;

	while (stem < len) {
		char ch = name[stem];

		if (ch == '.')
			break;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return NULL;
		stem++;
	}
	if (stem == 0 || stem == len)
		return NULL;
	for (size_t i = 0; i < sizeof static_types / sizeof static_types[0];
	     i++) {
		size_t el = strlen(static_types[i].ext);

		if (len - stem == el &&
		    memcmp(name + stem, static_types[i].ext, el) == 0)
			return static_types[i].type;
	}
	return NULL;
}

static bool static_has_index(const char *dir)
{
	char path[4096];
	struct stat st;

	if ((size_t)snprintf(path, sizeof path, "%s/index.html", dir) >=
	    sizeof path)
		return false;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

const char *fe_static_dir(const char *cfg_dir)
{
	if (cfg_dir != NULL)
		return cfg_dir;
	if (static_has_index(CONFAB_WEBDIR))
		return CONFAB_WEBDIR;
	return CONFAB_SRC_WEBDIR;
}

/* Read dir/name[0..len) whole into a malloc'd buffer. 0 or -errno. */
static int static_read(const char *dir, const char *name, size_t len,
		       char **out, size_t *out_len)
{
	char path[4096];
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd;
	int rv;

	if ((size_t)snprintf(path, sizeof path, "%s/%.*s", dir, (int)len,
			     name) >= sizeof path)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rv = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rv = -ENOENT;
		goto out;
	}
	if ((uint64_t)st.st_size > FE_STATIC_MAX_BYTES) {
		rv = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rv = -ENOMEM;
		goto out;
	}
	rv = cf_read_all(fd, buf, (size_t)st.st_size, &got);
	if (rv != 0)
		goto out_free;
	*out = buf;
	*out_len = got;
	rv = 0;
	goto out;
out_free:
	free(buf);
out:
	close(fd);
	return rv;
}

bool fe_static_http(struct fe_conn *c, const struct fe_http_req *req)
{
	struct cf_str p = req->path;
	const char *name;
	const char *type;
	const char *dir;
	size_t len;
	char *body = NULL;
	size_t body_len = 0;
	int rv;

	if (cf_str_eqc(p, "/") || cf_str_eqc(p, "/index.html")) {
		name = "index.html";
		len = strlen(name);
	} else if (p.len > strlen(STATIC_PREFIX) &&
		   memcmp(p.p, STATIC_PREFIX, strlen(STATIC_PREFIX)) == 0) {
		name = p.p + strlen(STATIC_PREFIX);
		len = p.len - strlen(STATIC_PREFIX);
	} else if (cf_str_eqc(p, "/favicon.ico")) {
		fe_conn_respond(c, 204, NULL, NULL, 0,
				"Cache-Control: max-age=86400\r\n");
		return true;
	} else {
		return false;
	}
	if (req->method != FE_HTTP_GET) {
		fe_conn_respond(c, 405, "text/plain; charset=utf-8",
				"method not allowed\n", 19, "Allow: GET\r\n");
		return true;
	}
	type = fe_static_type(name, len);
	if (type == NULL) {
		fe_respond_error(c, 404, "not_found", "no such file");
		return true;
	}
	dir = fe_static_dir(c->srv->cfg.web_dir);
	rv = static_read(dir, name, len, &body, &body_len);
	if (rv == -ENOENT || rv == -ELOOP || rv == -ENOTDIR) {
		fe_respond_error(c, 404, "not_found", "no such file");
		return true;
	}
	if (rv != 0) {
		cf_warn("web: %s/%.*s: %s", dir, (int)len, name,
			strerror(-rv));
		fe_respond_error(c, 500, "internal", "cannot read the file");
		return true;
	}
	fe_conn_respond(c, 200, type, body, body_len,
			"Cache-Control: no-cache\r\n"
			"X-Content-Type-Options: nosniff\r\n");
	free(body);
	return true;
}
