#include "config.h"

/* cf_test_ports: see cf_test_ports.h for the contract. */

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cf_test_ports.h"

/* Ports are picked in [PORT_MIN, ephemeral low bound). */
#define PORT_MIN 10000
#define ADDR_TRIES 8

static uint32_t rand32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
		/* Never expected; any value is still a valid choice. */
		v = (uint32_t)getpid() * 2654435761u;
	}
	return v;
}

/* The low bound of the ephemeral port range (32768 if unreadable). */
static int ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int lo = 32768, hi = 60999;

	if (f != NULL) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	return lo;
}

void cf_test_ports_addr(const struct cf_test_ports *p, int port,
			struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, p->ip, &sa->sin_addr);
}

/* Bind a new socket to ip:port (port 0: the kernel picks); fd or -errno. */
static int bind_one(const struct cf_test_ports *p, int port, int *got)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd, rv;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	cf_test_ports_addr(p, port, &sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		rv = -errno;
		close(fd);
		return rv;
	}
	*got = ntohs(sa.sin_port);
	return fd;
}

static int reserve_on(struct cf_test_ports *p, unsigned n)
{
	int lo = PORT_MIN, hi = ephemeral_low(), span, port, fd, got = 0;
	unsigned tries = 0;
	uint32_t start;

	p->n = 0;
	span = hi - lo;
	start = rand32();
	while (p->n < n) {
		if (span < 1000) {
			/* An odd ephemeral range: let the kernel choose. */
			port = 0;
		} else {
			if (++tries > 4000)
				return -EADDRNOTAVAIL;
			port = lo + (int)((start + tries * 7919u) %
					  (uint32_t)span);
		}
		fd = bind_one(p, port, &got);
		if (fd == -EADDRINUSE)
			continue;
		if (fd < 0)
			return fd;
		p->fd[p->n] = fd;
		p->port[p->n] = got;
		p->n++;
	}
	return 0;
}

int cf_test_ports_reserve(struct cf_test_ports *p, unsigned n)
{
	uint32_t r;
	int rv = -EADDRNOTAVAIL;

	assert(n <= CF_TEST_PORTS_MAX);
	memset(p, 0, sizeof *p);
	for (int i = 0; i < ADDR_TRIES; i++) {
		r = rand32();
		/* 127.1-254.0-255.1-254: never 127.0.0.x, no .0 or .255. */
		snprintf(p->ip, sizeof p->ip, "127.%u.%u.%u",
			 1 + (r & 0xff) % 254, (r >> 8) & 0xff,
			 1 + ((r >> 16) & 0xff) % 254);
		rv = reserve_on(p, n);
		if (rv == 0)
			return 0;
		cf_test_ports_release(p);
	}
	return rv;
}

void cf_test_ports_release(struct cf_test_ports *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->fd[i] >= 0)
			close(p->fd[i]);
		p->fd[i] = -1;
	}
}

int cf_test_ports_pick(char *ip, int *ports, unsigned n)
{
	struct cf_test_ports tp;
	int rv = cf_test_ports_reserve(&tp, n);

	if (rv != 0)
		return rv;
	memcpy(ip, tp.ip, sizeof tp.ip);
	for (unsigned i = 0; i < n; i++)
		ports[i] = tp.port[i];
	cf_test_ports_release(&tp);
	return 0;
}
