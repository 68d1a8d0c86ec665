#include "config.h"

/* fault_flood: see fault_flood.h. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault_flood.h"

#define WS_TIMEOUT_MS 5000

/* Raise the soft descriptor limit to the hard one (for conns sockets). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int fault_flood_open(struct fault_flood *fl, const char *url,
		     unsigned conns, unsigned slow_ws, const char *ws_query)
{
	static const char half[] = "GET /v1/sync?wa";
	struct sockaddr_in sa;
	char host[64];
	int port, rcv = 4096;
	unsigned i;

	memset(fl, 0, sizeof *fl);
	if (conns > FAULT_FLOOD_MAX || slow_ws > FAULT_FLOOD_WS_MAX ||
	    cf_http_parse_url(url, host, &port) != 0)
		return -EINVAL;
	raise_nofile();
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	for (i = 0; i < conns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return i == 0 ? -errno : 0;
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
		    send(fd, half, sizeof half - 1, MSG_NOSIGNAL) < 0) {
			fl->refused++;
			close(fd);
			continue;
		}
		fl->fd[fl->n++] = fd;
	}
	for (i = 0; i < slow_ws; i++) {
		struct cf_ws_client *w = &fl->ws[fl->n_ws];

		if (cf_ws_connect(w, url, ws_query, WS_TIMEOUT_MS) != 0) {
			fl->refused++;
			continue;
		}
		/* A small receive buffer: the node's side backs up sooner. */
		(void)setsockopt(w->conn.fd, SOL_SOCKET, SO_RCVBUF, &rcv,
				 sizeof rcv);
		fl->n_ws++;
	}
	return 0;
}

void fault_flood_close(struct fault_flood *fl)
{
	unsigned i;

	for (i = 0; i < fl->n; i++)
		close(fl->fd[i]);
	for (i = 0; i < fl->n_ws; i++) {
		/* never read: just drop the connection */
		cf_http_conn_release(&fl->ws[i].conn);
		cf_buf_release(&fl->ws[i].frag);
	}
	fl->n = fl->n_ws = 0;
}
