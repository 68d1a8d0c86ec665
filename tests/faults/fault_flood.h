/*
 * fault_flood: abusive clients for the fault suite (issue 14, "a connection
 * flood and slow clients against one node").
 *
 * fault_flood_open() opens, against one node's client address, `conns`
 * TCP connections that each send half a request line and then nothing
 * (slowloris: the node must bound and time them out), and `slow_ws`
 * WebSockets of `user` that never read a byte, so that the node's
 * fan-out to them backs up until it closes them (--ws-max-buffer).
 * Connections the node refuses or resets are counted, not errors: the
 * point is that the node and the rest of the load carry on.
 * fault_flood_close() closes everything.
 *
 * Ownership: the struct owns the descriptors it opened. Errors: 0 or
 * -errno for the first socket that could not even be created.
 * Threads: the test's main thread.
 */
#ifndef FAULT_FLOOD_H
#define FAULT_FLOOD_H

#include "../lib/cf_test_http.h"

#define FAULT_FLOOD_MAX 2000
#define FAULT_FLOOD_WS_MAX 32

struct fault_flood {
	int fd[FAULT_FLOOD_MAX];
	unsigned n;
	struct cf_ws_client ws[FAULT_FLOOD_WS_MAX];
	unsigned n_ws;
	unsigned refused; /* connects or upgrades that failed */
};

int fault_flood_open(struct fault_flood *fl, const char *url,
		     unsigned conns, unsigned slow_ws, const char *ws_query);
void fault_flood_close(struct fault_flood *fl);

#endif
