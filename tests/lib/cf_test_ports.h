/*
 * cf_test_ports: TCP ports for the tests that start servers, without racing
 * anything else on the machine for them.
 *
 * Raft and peer addresses are written into Raft's log at bootstrap, so a
 * test cluster cannot listen on port 0 and report what it got. Instead
 * cf_test_ports_reserve() picks a loopback address of its own, 127.a.b.c
 * (any address of 127.0.0.0/8 is local on Linux without configuration),
 * chosen at random and never 127.0.0.1, and ports below the kernel's
 * ephemeral range (net.ipv4.ip_local_port_range), which neither a bind to
 * port 0 nor an outgoing connection ever takes. Each port is bound (without
 * SO_REUSEADDR) and stays bound until cf_test_ports_release(): the caller
 * writes its configuration with the ports held, releases them, then starts
 * the servers, which bind with SO_REUSEADDR as libuv does. A clash is left
 * only with a process that binds that very address and port by number;
 * callers retry from empty folders if a server fails to start.
 *
 * Ownership: the struct owns the bound descriptors until release.
 * Errors: 0 or -errno (-EADDRNOTAVAIL when no free port was found).
 * Threads: any, one struct per thread.
 */
#ifndef CF_TEST_PORTS_H
#define CF_TEST_PORTS_H

#define CF_TEST_PORTS_MAX 16

struct cf_test_ports {
	char ip[16]; /* "127.a.b.c" */
	unsigned n;
	int port[CF_TEST_PORTS_MAX];
	int fd[CF_TEST_PORTS_MAX]; /* bound until cf_test_ports_release() */
};

/* Reserve n (<= CF_TEST_PORTS_MAX) ports on a new loopback address. */
int cf_test_ports_reserve(struct cf_test_ports *p, unsigned n);
/* Close the descriptors; ip and port[] stay readable. Idempotent. */
void cf_test_ports_release(struct cf_test_ports *p);
/*
 * For in-process tests that bind the ports themselves: n ports on a new
 * loopback address (ip, >= 16 bytes), released at once; 0 or -errno.
 */
int cf_test_ports_pick(char *ip, int *ports, unsigned n);
/* Fill *sa with p->ip and port (any port, not only reserved ones). */
struct sockaddr_in;
void cf_test_ports_addr(const struct cf_test_ports *p, int port,
			struct sockaddr_in *sa);

#endif
