#include "config.h"

/* ctl_http: see ctl_http.h. */

#include "ctl/ctl_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cf_conf.h"
#include "common/cf_err.h"
#include "common/cf_time.h"

struct exchange {
	struct cf_buf *body;
	int status;
	int too_big;
	int done;
};

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct exchange *x = p->data;

	if (x->body->len + n > CTL_HTTP_BODY_MAX) {
		x->too_big = 1;
		return HPE_USER;
	}
	return cf_buf_append(x->body, at, n) == 0 ? 0 : HPE_USER;
}

static int on_complete(llhttp_t *p)
{
	struct exchange *x = p->data;

	x->status = p->status_code;
	x->done = 1;
	return 0;
}

/* Wait for fd to be ready for events before deadline; 0 or an error. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pf = {.fd = fd, .events = events};
	uint64_t now;
	int rv;

	for (;;) {
		now = cf_mono_ms();
		if (now >= deadline)
			return CF_ETIMEDOUT;
		rv = poll(&pf, 1, (int)(deadline - now));
		if (rv > 0)
			return 0;
		if (rv < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_to(const char *url, uint64_t deadline, char *host,
		      size_t hsize, char *errmsg)
{
	struct sockaddr_in sa;
	char ip[16];
	int port, fd, rv, err = 0;
	socklen_t el = sizeof err;

	if (strncmp(url, "http://", 7) != 0 ||
	    strlen(url + 7) >= hsize) {
		cf_errmsg_printf(errmsg, "%s: not http://IP:PORT", url);
		return CF_EBADREQ;
	}
	snprintf(host, hsize, "%s", url + 7);
	host[strcspn(host, "/")] = '\0';
	if (cf_addr_split(host, ip, &port) != 0) {
		cf_errmsg_printf(errmsg, "%s: not http://IP:PORT", url);
		return CF_EBADREQ;
	}
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		rv = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, deadline)
					  : -errno;
		if (rv == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			rv = -errno;
		if (rv == 0 && err != 0)
			rv = -err;
		if (rv != 0) {
			cf_errmsg_printf(errmsg, "connect %s: %s", host,
					 cf_strerror(rv));
			close(fd);
			return rv;
		}
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	ssize_t w;
	int rv;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		rv = wait_fd(fd, POLLOUT, deadline);
		if (rv != 0)
			return rv;
	}
	return 0;
}

int ctl_http_call(const char *url, const char *method, const char *path,
		  const char *token, const char *json, int timeout_ms,
		  int *status, struct cf_buf *body, char *errmsg)
{
	uint64_t deadline = cf_mono_ms() + (uint64_t)timeout_ms;
	struct cf_buf req = CF_BUF_INIT;
	struct exchange x = {.body = body};
	llhttp_settings_t settings;
	llhttp_t parser;
	char host[128], chunk[16384];
	ssize_t n;
	int fd, rv;

	errmsg[0] = '\0';
	fd = connect_to(url, deadline, host, sizeof host, errmsg);
	if (fd < 0)
		return fd;
	rv = cf_buf_appendf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\n"
				  "Connection: close\r\n",
			    method, path, host);
	if (rv == 0 && token != NULL)
		rv = cf_buf_appendf(&req, "Authorization: Bearer %s\r\n",
				    token);
	if (rv == 0 && json != NULL)
		rv = cf_buf_appendf(&req, "Content-Type: application/json\r\n"
					  "Content-Length: %zu\r\n\r\n%s",
				    strlen(json), json);
	else if (rv == 0)
		rv = cf_buf_appendf(&req, "Content-Length: 0\r\n\r\n");
	if (rv == 0)
		rv = send_all(fd, req.data, req.len, deadline);
	cf_buf_release(&req);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "%s: send: %s", host, cf_strerror(rv));
		goto out;
	}
	llhttp_settings_init(&settings);
	settings.on_body = on_body;
	settings.on_message_complete = on_complete;
	llhttp_init(&parser, HTTP_RESPONSE, &settings);
	parser.data = &x;
	while (!x.done) {
		n = recv(fd, chunk, sizeof chunk, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			rv = wait_fd(fd, POLLIN, deadline);
			if (rv != 0)
				break;
			continue;
		}
		if (n < 0) {
			rv = -errno;
			break;
		}
		if (n == 0) {
			/* A body framed by the end of the connection. */
			if (llhttp_finish(&parser) != HPE_OK || !x.done)
				rv = CF_ECORRUPT;
			break;
		}
		if (llhttp_execute(&parser, chunk, (size_t)n) != HPE_OK &&
		    !x.done) {
			rv = x.too_big ? CF_ETOOBIG : CF_ECORRUPT;
			break;
		}
	}
	if (rv == 0 && x.done)
		*status = x.status;
	else if (rv == 0)
		rv = CF_ECORRUPT;
	if (rv != 0)
		cf_errmsg_printf(errmsg, "%s %s: %s", host, path,
				 cf_strerror(rv));
out:
	close(fd);
	return rv;
}
