/*
 * cf_test_netns: one network namespace per node, joined by a bridge, so a
 * fault test can cut a node off the network and heal it (issue 14, "a node
 * cut off ... and healed") without touching the machine's own interfaces.
 *
 * cf_test_netns_create() makes a bridge cfbrK (10.201.K.254/24) in the
 * test's namespace and, for node i, a namespace cfK-i whose eth0
 * (10.201.K.i/24) is one end of a veth pair whose other end, cfvK-i, is a
 * port of the bridge; K is the first free number in 0..249. The test
 * process reaches every node through the bridge. A cluster started with
 * c->netns set (cf_test_cluster.h) puts node i's addresses on 10.201.K.i
 * and spawns it inside cfK-i. cf_test_netns_cut() sets the bridge port of
 * node i down (everything to and from it is dropped: peers, clients) or
 * up again. cf_test_netns_destroy() deletes the namespaces and the bridge
 * (the veths go with their namespaces).
 *
 * Needs root and iproute2's ip(8): cf_test_netns_available() says whether
 * both are there (tests skip otherwise).
 * Ownership: the struct is the caller's; destroy undoes create.
 * Errors: 0 or a negative code (-errno, -EEXIST when no K is free, -EIO
 * when an ip(8) command failed; its output goes to stderr).
 * Threads: from the test's main thread.
 */
#ifndef CF_TEST_NETNS_H
#define CF_TEST_NETNS_H

#include <stdbool.h>

#define CF_TEST_NETNS_MAX 5

struct cf_test_netns {
	unsigned k, n;
	bool made;
	char ip[CF_TEST_NETNS_MAX + 1][16]; /* [1..n] */
	char ns[CF_TEST_NETNS_MAX + 1][16]; /* namespace names */
};

bool cf_test_netns_available(void);
int cf_test_netns_create(struct cf_test_netns *ns, unsigned n);
/* In a child before exec: move into node id's namespace. */
int cf_test_netns_enter(const struct cf_test_netns *ns, unsigned id);
/* Cut node id off (down = true) or heal it. */
int cf_test_netns_cut(const struct cf_test_netns *ns, unsigned id, bool down);
void cf_test_netns_destroy(struct cf_test_netns *ns);

#endif
