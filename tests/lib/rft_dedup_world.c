#include "config.h"

/* The test double of the store for the window's tests: rft_dedup_world.h. */

#include "rft_dedup_world.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cf_err.h"

static struct cf_str conv_name(char *buf, size_t size, unsigned ci)
{
	snprintf(buf, size, "c%u", ci);
	return cf_str_c(buf);
}

struct rft_dedup_key wkey(const struct world *w, unsigned ci, unsigned key)
{
	static char conv[16], id[16];

	snprintf(id, sizeof(id), "k%u", key);
	return rft_dedup_key(&w->d, conv_name(conv, sizeof(conv), ci),
			     CF_STR_LIT("alice"), cf_str_c(id));
}

int wread(void *arg, struct cf_str conv, uint64_t seq, struct log_record *rec)
{
	struct world *w = arg;
	unsigned ci = (unsigned)atoi(conv.p + 1);
	const struct msg *m;

	w->reads++;
	if (w->fail_reads)
		return -EIO;
	assert_true(ci < WCONVS);
	if (seq == 0 || seq > w->c[ci].n)
		return CF_ENOTFOUND;
	m = &w->c[ci].v[seq - 1];
	memset(rec, 0, sizeof(*rec));
	rec->kind = LOG_REC_MESSAGE;
	rec->seq = seq;
	rec->ts = m->ts;
	rec->message_id = m->msg_id;
	rec->conv = conv_name(w->conv_buf, sizeof(w->conv_buf), ci);
	rec->sender = CF_STR_LIT("alice");
	snprintf(w->id_buf, sizeof(w->id_buf), "k%u", m->key);
	rec->client_msg_id = cf_str_c(w->id_buf);
	return 0;
}

void world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	rft_dedup_init(&w->d);
	w->clock = T0;
	w->index = 1;
}

void world_release(struct world *w)
{
	unsigned i;

	for (i = 0; i < WCONVS; i++)
		free(w->c[i].v);
	rft_dedup_release(&w->d);
}

/* 1 and *v if key is in the window of conversation ci now. */
int wfind(struct world *w, unsigned ci, unsigned key, struct rft_dedup_val *v)
{
	struct rft_dedup_key k = wkey(w, ci, key);
	int rv = rft_dedup_find(&w->d, &k, w->c[ci].n, w->clock, wread, w, v);

	assert_true(rv == 0 || rv == 1);
	return rv;
}

/* Store a message without the window (a rebuild adds it later). */
uint64_t wstore(struct world *w, unsigned ci, unsigned key)
{
	struct wconv *c = &w->c[ci];

	if (c->n == c->cap) {
		c->cap = c->cap != 0 ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		assert_non_null(c->v);
	}
	c->v[c->n].key = key;
	c->v[c->n].ts = w->clock;
	c->v[c->n].msg_id = w->index++ * 65536;
	return ++c->n;
}

/* A send, as apply does it: 1 if it was a duplicate. */
int wsend(struct world *w, unsigned ci, unsigned key,
	  struct rft_dedup_val *out)
{
	struct rft_dedup_val v;
	struct rft_dedup_key k;
	uint64_t seq;

	if (wfind(w, ci, key, &v)) {
		if (out != NULL)
			*out = v;
		return 1;
	}
	seq = wstore(w, ci, key);
	k = wkey(w, ci, key);
	assert_int_equal(rft_dedup_add(&w->d, &k, seq, w->clock, w->clock), 0);
	return 0;
}

/* The rule of rft_dedup.h, by brute force over the world. */
int model_find(const struct world *w, unsigned ci, unsigned key, uint64_t *seq)
{
	const struct wconv *c = &w->c[ci];
	size_t s;

	for (s = c->n; s > 0 && c->n - s < RFT_DEDUP_MAX_PER_CONV; s--) {
		const struct msg *m = &c->v[s - 1];

		if (w->clock - m->ts >= DAY)
			break;
		if (m->key == key) {
			*seq = s;
			return 1;
		}
	}
	return 0;
}
