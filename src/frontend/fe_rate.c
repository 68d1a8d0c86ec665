#include "config.h"

/*
 * fe_rate: token buckets, one per user (see fe_rate.h). A bucket holds a
 * fractional token count and the time it was last refilled; a take first
 * refills it by rate * elapsed (capped at burst).
 */

#include "frontend/fe_rate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"

struct fe_rate_bucket {
	double tokens;
	uint64_t last_ns;
};

void fe_rate_init(struct fe_rate *r, unsigned rate, unsigned burst)
{
	r->rate = rate > 0 ? (double)rate : 1.0;
	r->burst = burst > 0 ? (double)burst : 1.0;
	cf_map_init(&r->users);
	r->next_sweep = FE_RATE_SWEEP;
}

void fe_rate_release(struct fe_rate *r)
{
	const struct cf_map_slot *s;
	size_t i = 0;

	while (cf_map_next(&r->users, &i, &s))
		free(s->val);
	cf_map_release(&r->users);
}

static void refill(struct fe_rate *r, struct fe_rate_bucket *b,
		   uint64_t now_ns)
{
	if (now_ns > b->last_ns) {
		b->tokens += r->rate * (double)(now_ns - b->last_ns) / 1e9;
		if (b->tokens > r->burst)
			b->tokens = r->burst;
		b->last_ns = now_ns;
	}
}

/* Drop the buckets that are full again: they hold no state worth keeping. */
static void sweep(struct fe_rate *r, uint64_t now_ns)
{
	const struct cf_map_slot *s;
	char **drop;
	size_t i = 0, n = 0;

	drop = malloc(r->users.n * sizeof *drop);
	if (drop == NULL)
		return;
	while (cf_map_next(&r->users, &i, &s)) {
		struct fe_rate_bucket *b = s->val;

		refill(r, b, now_ns);
		if (b->tokens >= r->burst)
			drop[n++] = s->key;
	}
	for (i = 0; i < n; i++) {
		/* Copy the key: deleting frees the map's copy. */
		char key[129];
		size_t len = strlen(drop[i]);

		if (len >= sizeof key)
			continue;
		memcpy(key, drop[i], len + 1);
		free(cf_map_del(&r->users, key, len));
	}
	free(drop);
}

int fe_rate_take(struct fe_rate *r, const char *user, uint64_t now_ns,
		 unsigned *retry_s)
{
	size_t len = strlen(user);
	struct fe_rate_bucket *b = cf_map_get(&r->users, user, len);
	double wait;

	if (b == NULL) {
		if (r->users.n >= r->next_sweep) {
			sweep(r, now_ns);
			r->next_sweep = r->users.n * 2 > FE_RATE_SWEEP
						? r->users.n * 2
						: FE_RATE_SWEEP;
		}
		b = malloc(sizeof *b);
		if (b == NULL)
			return -ENOMEM;
		b->tokens = r->burst;
		b->last_ns = now_ns;
		if (cf_map_put(&r->users, user, len, b, NULL) != 0) {
			free(b);
			return -ENOMEM;
		}
	}
	refill(r, b, now_ns);
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	wait = (1.0 - b->tokens) / r->rate;
	*retry_s = (unsigned)ceil(wait);
	if (*retry_s == 0)
		*retry_s = 1;
	return CF_ERATE;
}
