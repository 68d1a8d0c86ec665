#include "config.h"

/* cf_test_netns: see cf_test_netns.h. */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cf_test_netns.h"

/* Run one shell command (ip ...); 0 or -EIO. */
static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st != 0) {
		fprintf(stderr, "# cf_test_netns: '%s' failed (%d)\n", cmd, st);
		return -EIO;
	}
	return 0;
}

bool cf_test_netns_available(void)
{
	return geteuid() == 0 &&
	       system("ip -V >/dev/null 2>&1 && ip netns list >/dev/null 2>&1") ==
		       0;
}

int cf_test_netns_create(struct cf_test_netns *ns, unsigned n)
{
	char path[64];
	unsigned k, i;
	int rv;

	memset(ns, 0, sizeof *ns);
	if (n == 0 || n > CF_TEST_NETNS_MAX)
		return -EINVAL;
	for (k = 0; k < 250; k++) {
		snprintf(path, sizeof path, "/sys/class/net/cfbr%u", k);
		if (access(path, F_OK) != 0 &&
		    run("ip link add cfbr%u type bridge 2>/dev/null", k) == 0)
			break;
	}
	if (k == 250)
		return -EEXIST;
	ns->k = k;
	ns->n = n;
	ns->made = true;
	rv = run("ip addr add 10.201.%u.254/24 dev cfbr%u && "
		 "ip link set cfbr%u up",
		 k, k, k);
	for (i = 1; rv == 0 && i <= n; i++) {
		snprintf(ns->ns[i], sizeof ns->ns[i], "cf%u-%u", k, i);
		snprintf(ns->ip[i], sizeof ns->ip[i], "10.201.%u.%u", k, i);
		rv = run("ip netns add %s && "
			 "ip link add cfv%u-%u type veth peer name eth0 netns "
			 "%s && "
			 "ip link set cfv%u-%u master cfbr%u up && "
			 "ip -n %s addr add %s/24 dev eth0 && "
			 "ip -n %s link set eth0 up && "
			 "ip -n %s link set lo up",
			 ns->ns[i], k, i, ns->ns[i], k, i, k, ns->ns[i],
			 ns->ip[i], ns->ns[i], ns->ns[i]);
	}
	if (rv != 0)
		cf_test_netns_destroy(ns);
	return rv;
}

int cf_test_netns_enter(const struct cf_test_netns *ns, unsigned id)
{
	char path[64];
	int fd, rv = 0;

	snprintf(path, sizeof path, "/run/netns/%s", ns->ns[id]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) != 0)
		rv = -errno;
	close(fd);
	return rv;
}

int cf_test_netns_cut(const struct cf_test_netns *ns, unsigned id, bool down)
{
	return run("ip link set cfv%u-%u %s", ns->k, id, down ? "down" : "up");
}

void cf_test_netns_destroy(struct cf_test_netns *ns)
{
	unsigned i;

	if (!ns->made)
		return;
	for (i = 1; i <= ns->n; i++)
		if (ns->ns[i][0] != '\0')
			run("ip netns del %s 2>/dev/null", ns->ns[i]);
	run("ip link del cfbr%u 2>/dev/null", ns->k);
	ns->made = false;
}
