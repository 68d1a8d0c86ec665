#include "config.h"

#include "common/cf_fds.h"

#include <errno.h>
#include <sys/resource.h>

/* RLIM_INFINITY as a count: more than a process ever holds. */
static uint64_t lim_value(rlim_t v)
{
	return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v;
}

int cf_fds_raise(struct cf_fds *b)
{
	struct rlimit rl;
	int rv = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -errno;
	b->soft_was = lim_value(rl.rlim_cur);
	b->hard = lim_value(rl.rlim_max);
	if (rl.rlim_cur != rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		/* tested: tests/integration/test_fds.c */
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			rv = -errno;
			rl.rlim_cur = was;
		}
	}
	b->limit = lim_value(rl.rlim_cur);
	return rv;
}

void cf_fds_budget(struct cf_fds *b, unsigned store, unsigned nodes)
{
	uint64_t used;

	b->store = store;
	b->raft = CF_FDS_RAFT;
	b->peers = CF_FDS_PER_PEER * (nodes > 0 ? nodes - 1 : 0);
	b->reserve = CF_FDS_RESERVE;
	used = (uint64_t)b->store + b->raft + b->peers + b->reserve;
	b->clients = b->limit > used ? b->limit - used : 0;
}
