/*
 * rft_submit: the request life cycle of rft_node (see rft_node.h for the
 * contract): submit, queue, propose batches, the apply callback, forwarding
 * and results over the peer links, read index and expiry.
 *
 * Request life cycle on the node that took it (struct rft_submit):
 *
 *   WAITING --(we lead, barrier applied)--> QUEUED --(prepare: raft_apply)--> PROPOSED
 *      |  ^                                                     |
 *      |  +-------(leadership lost: unknown outcome)------------+
 *      +--(another node leads, link up)--> FORWARDED --(RESULT)--> done
 *                                             |
 *                                             +--(link down / not leader)--> WAITING
 *   any state past its deadline --> done with CF_EUNAVAIL.
 *
 * On the leader, commands (local and forwarded) become struct node_item on the
 * `queued` list; the prepare handle, which libuv runs once per loop turn right
 * before polling, packs them into as few entries as the 512 KiB cap allows,
 * one raft_apply each (Redis's beforeSleep: batch the turn).
 *
 * Group commit: while an entry is in flight (proposed, not yet applied here)
 * the queue waits and gathers into the next entry, which goes from the
 * in-flight one's apply callback, before its answers; a queue that fills a
 * whole entry goes at once. Every entry costs each node the same fixed work
 * whatever it holds (an AppendEntries and its answer, a disk write and its
 * completion, the loop wake-ups between them), so under load fewer, fuller
 * entries carry the same commands for less: measured on 3 nodes sharing 2
 * cores, HTTP at 256 clients, the cluster's CPU per acknowledged send fell
 * from 33-43 us to 30-33 us and sends/s rose 1-16 %, p99 rose (median of
 * eight pairs 20 -> 25 ms: a command that just missed an entry waits for
 * its commit first; gating on the leader's own write instead of the commit
 * measured between the two). Proposing from the callback rather than at
 * the next prepare took the rest of that loop turn (reading and parsing
 * what clients sent, writing answers: 0.7-1.2 ms at 256 clients, with
 * nothing in flight) out of every cycle: median of six interleaved pairs,
 * HTTP 256 clients 28.4k -> 32.3k sends/s, p99 31 -> 20 ms, CPU per ack
 * 37 -> 34 us; WebSocket (16 sockets) four pairs 41.4k -> 42.6k, p99 31 ->
 * 19 ms. A lone command still goes at its own turn: nothing waits when
 * nothing is in flight. raft 0.15 fires
 * the apply callback right after fsm->apply on the leader, so the results of
 * the FSM are read there and answered: local requests through their
 * callback, forwarded ones with a RESULT message to their origin node.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_time.h"
#include "raft/rft_node.h"
#include "raft/rft_node_int.h"

/* One command on the leader's way into an entry. */
struct node_item {
	struct cf_list link;
	unsigned origin;	 /* node that took the request */
	uint64_t req_id;	 /* origin's request id */
	struct rft_submit *local; /* the request, when origin == self */
	struct cf_buf enc;	 /* forwarded command bytes */
};

struct node_inflight {
	struct raft_apply req;
	struct rft_node *node;
	unsigned n;
	struct node_item *items[];
};

static size_t item_len(const struct node_item *it)
{
	return it->local != NULL ? it->local->enc.len : it->enc.len;
}

static uint64_t now_ms(void)
{
	return cf_mono_ms();
}

static int raft_to_cf(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case RAFT_NOMEM:
		return -ENOMEM;
	case RAFT_NOTLEADER:
		return CF_ENOTLEADER;
	case RAFT_LEADERSHIPLOST:
		return CF_ELEADERSHIP;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED:
		return CF_ESHUTDOWN;
	case RAFT_IOERR:
	case RAFT_NOSPACE:
		return CF_EIO;
	case RAFT_TOOBIG:
		return CF_ETOOBIG;
	default:
		return CF_EUNAVAIL;
	}
}

/* Complete a local request. */
void rft__retry_result(const struct rft_submit *s,
		       const struct rft_result *res, struct rft_result *out)
{
	*out = *res;
	if (!s->resent || res->status != 0 || s->first_index == 0 ||
	    (res->message_id >> 16) < s->first_index)
		return;
	if (res->duplicate)
		out->duplicate = false;
	else if (!res->created && res->conv[0] != '\0' &&
		 res->message_id != 0)
		out->created = true;
}

static void sub_finish(struct rft_submit *s, int status,
		       const struct rft_result *res)
{
	struct rft_result r;

	assert(s->state != SUB_DONE);
	s->state = SUB_DONE;
	cf_list_remove(&s->link);
	cf_buf_release(&s->enc);
	if (res == NULL) {
		memset(&r, 0, sizeof r);
		r.status = status;
	} else {
		rft__retry_result(s, res, &r);
	}
	s->cb(s, status, &r);
}

static void item_free(struct node_item *it)
{
	cf_buf_release(&it->enc);
	free(it);
}

/* Send a result to a forwarded item's origin and free it. */
static void item_reply(struct rft_node *n, struct node_item *it,
		       const struct rft_result *res)
{
	struct cf_buf b = CF_BUF_INIT;

	if (rft_result_encode(res, &b) == 0)
		rft_peer_send(&n->peers, it->origin, RFT_MSG_RESULT,
			      it->req_id, b.data, b.len);
	cf_buf_release(&b);
	item_free(it);
}

static void item_reply_status(struct rft_node *n, struct node_item *it,
			      int status)
{
	struct rft_result r;

	memset(&r, 0, sizeof r);
	r.status = status;
	item_reply(n, it, &r);
}

/* Put a local request back to wait for a usable leader. */
static void sub_requeue(struct rft_node *n, struct rft_submit *s)
{
	s->resent = true;
	cf_list_remove(&s->link);
	s->state = SUB_WAITING;
	cf_list_push(&n->waiting, &s->link);
}

/*
 * An item that will not be proposed here (we lost leadership, or the entry's
 * outcome is unknown): a local request waits again, a forwarded one is
 * answered so that its origin resubmits.
 */
static void item_bounce(struct rft_node *n, struct node_item *it,
			int status)
{
	if (it->local != NULL) {
		struct rft_submit *s = it->local;
		free(it);
		if (n->closing)
			sub_finish(s, CF_ESHUTDOWN, NULL);
		else
			sub_requeue(n, s);
		return;
	}
	item_reply_status(n, it, status);
}

void rft__drop_queued(struct rft_node *n, int status)
{
	struct cf_list *e;

	while ((e = cf_list_head(&n->queued)) != NULL) {
		struct node_item *it = CF_CONTAINER_OF(e, struct node_item, link);
		cf_list_remove(e);
		n->n_queued--;
		n->queued_bytes -= item_len(it);
		item_bounce(n, it, status);
	}
}

static int node_queue_local(struct rft_node *n, struct rft_submit *s)
{
	struct node_item *it = calloc(1, sizeof *it);

	if (it == NULL)
		return -ENOMEM;
	it->origin = n->cfg.self;
	it->req_id = s->req_id;
	it->local = s;
	cf_list_remove(&s->link);
	s->state = SUB_QUEUED;
	cf_list_push(&n->queued, &it->link);
	n->n_queued++;
	n->queued_bytes += item_len(it);
	return 0;
}

/* Try to move one waiting request forward. */
static void sub_dispatch(struct rft_node *n, struct rft_submit *s)
{
	unsigned leader;

	if (s->err != 0)
		return; /* never encoded: rft__expire reports why */
	if (s->first_index == 0)
		s->first_index = raft_last_index(&n->raft) + 1;
	if (rft__can_propose(n)) {
		/*
		 * Out of memory: stays waiting (retried by the next tick, or
		 * CF_EUNAVAIL at its deadline), so that the callback never
		 * runs from inside rft_node_submit.
		 */
		(void)node_queue_local(n, s);
		return;
	}
	leader = rft__node_leader(n);
	if (leader == 0 || leader == n->cfg.self ||
	    !rft_peer_up(&n->peers, leader))
		return;
	if (rft_peer_send(&n->peers, leader, RFT_MSG_FORWARD, s->req_id,
			  s->enc.data, s->enc.len) != 0)
		return;
	cf_list_remove(&s->link);
	s->state = SUB_FORWARDED;
	s->fwd_to = leader;
	cf_list_push(&n->forwarded, &s->link);
	n->stats.forwarded++;
}

void rft__dispatch_waiting(struct rft_node *n)
{
	struct cf_list todo;
	struct cf_list *e;

	cf_list_init(&todo);
	cf_list_move(&todo, &n->waiting);
	while ((e = cf_list_head(&todo)) != NULL) {
		struct rft_submit *s = CF_CONTAINER_OF(e, struct rft_submit, link);
		cf_list_remove(e);
		cf_list_push(&n->waiting, e);
		sub_dispatch(n, s);
	}
}

/* Requests forwarded to a node whose link dropped: outcome unknown. */
static void node_requeue_forwarded(struct rft_node *n, unsigned to)
{
	struct cf_list *e = n->forwarded.next;

	while (e != &n->forwarded) {
		struct rft_submit *s = CF_CONTAINER_OF(e, struct rft_submit, link);
		e = e->next;
		if (to == 0 || s->fwd_to == to)
			sub_requeue(n, s);
	}
}

/* Read indexes asked of node id, whose answer will not come: ask again. */
static void node_reask_reads(struct rft_node *n, unsigned id)
{
	struct cf_list *e;

	cf_list_foreach(e, &n->reads)
	{
		struct rft_read *r = CF_CONTAINER_OF(e, struct rft_read, link);

		if (r->state == READ_ASKED && r->asked == id)
			r->state = READ_ASK;
	}
}

void rft__leader_changed(struct rft_node *n, unsigned old)
{
	node_requeue_forwarded(n, old);
	node_reask_reads(n, old);
	rft__dispatch_waiting(n);
}

static struct rft_submit *node_find_forwarded(struct rft_node *n,
					      uint64_t req_id)
{
	struct cf_list *e;

	cf_list_foreach(e, &n->forwarded)
	{
		struct rft_submit *s = CF_CONTAINER_OF(e, struct rft_submit, link);
		if (s->req_id == req_id)
			return s;
	}
	return NULL;
}

void rft_node_submit(struct rft_node *n, struct rft_submit *s,
		     const struct rft_cmd *cmd, rft_submit_cb cb)
{
	struct rft_cmd c = *cmd;

	s->node = n;
	s->cb = cb;
	s->req_id = ++n->next_req_id;
	s->deadline = now_ms() + n->cfg.request_timeout_ms;
	s->t0_ns = cf_mono_ns();
	s->fwd_to = 0;
	s->err = 0;
	s->first_index = 0;
	s->resent = false;
	cf_buf_init(&s->enc);
	cf_list_init(&s->link);
	c.origin = (uint16_t)n->cfg.self;
	c.req_id = s->req_id;
	s->state = SUB_WAITING;
	cf_list_push(&n->waiting, &s->link);
	/* A full disk (rft_node_disk.c): refused like an encode failure. */
	s->err = rft__disk_refuse(n, c.type);
	if (s->err == 0)
		s->err = rft_cmd_encode(&c, &s->enc);
	if (s->err != 0) {
		/*
		 * Completed with this status by the next tick (or the close),
		 * never from inside this call, and never dispatched.
		 */
		cf_buf_release(&s->enc);
		s->deadline = 0;
		return;
	}
	if (!n->closing)
		sub_dispatch(n, s);
}

/* ---- proposing on the leader ---- */

static void node_apply_cb(struct raft_apply *req, int status, void *result)
{
	struct node_inflight *f = req->data;
	struct rft_node *n = f->node;
	const struct rft_result *res = NULL;
	unsigned nres = 0;
	uint64_t index = 0, applied;
	int rc = raft_to_cf(status);

	(void)result;
	assert(n->n_inflight > 0);
	n->n_inflight--;
	if (status == 0) {
		res = rft_fsm_results(n->fsm, &nres, &index);
		if (index != req->index || nres != f->n) {
			cf_error("apply callback for index %llu found results "
				 "of %llu (%u of %u): outcome unknown",
				 (unsigned long long)req->index,
				 (unsigned long long)index, nres, f->n);
			rc = CF_ELEADERSHIP;
		}
	} else {
		cf_warn("entry %llu not applied: %s",
			(unsigned long long)req->index, raft_strerror(status));
		if (status == RAFT_IOERR || status == RAFT_NOSPACE) {
			/*
			 * 0.15 keeps leading after a failed write (0cac59c):
			 * halt, which transfers leadership (rft_node_disk.c).
			 */
			char msg[CF_ERRMSG_SIZE];

			snprintf(msg, sizeof msg, "raft log in %s/raft: %s",
				 n->cfg.data_dir,
				 n->io.errmsg[0] ? n->io.errmsg
						 : raft_strerror(status));
			rft__storage_failed(n,
					    status == RAFT_NOSPACE ? CF_ENOSPACE
								   : -EIO,
					    msg);
		}
		if (rc != CF_ESHUTDOWN)
			rc = CF_ELEADERSHIP;
	}
	/*
	 * Group commit (top): the entry that gathered behind this one goes
	 * now, before this one's answers. raft_apply from inside an apply
	 * callback is safe in 0.15 (RAFT.md): it appends past the commit
	 * index raft's apply loop runs to.
	 */
	applied = req->index; /* req is in f */
	if (status == 0) {
		rft__nudge_arm(n, applied);
		rft__propose(n); /* an entry carries the commit: no nudge */
	}
	for (unsigned i = 0; i < f->n; i++) {
		struct node_item *it = f->items[i];
		if (rc != 0) {
			item_bounce(n, it, rc);
			continue;
		}
		if (it->local != NULL) {
			struct rft_submit *s = it->local;
			free(it);
			sub_finish(s, res[i].status, &res[i]);
		} else {
			item_reply(n, it, &res[i]);
		}
	}
	free(f);
}

/* Group commit (above): propose now, or let the queue gather behind the
 * entry in flight? */
static bool propose_now(const struct rft_node *n)
{
	return n->n_inflight == 0 || n->queued_bytes >= RFT_ENTRY_MAX ||
	       n->n_queued >= RFT_ENTRY_MAX_CMDS;
}

/* Pack queued items into entries and propose them. */
void rft__propose(struct rft_node *n)
{
	while (n->n_queued > 0 && rft__can_propose(n) && propose_now(n)) {
		struct cf_buf buf = CF_BUF_INIT;
		struct rft_batch b;
		struct node_inflight *f;
		struct raft_buffer rb;
		struct cf_list *e;
		unsigned max = n->n_queued;
		unsigned k = 0;
		int rv;

		size_t want = 64;

		if (max > RFT_ENTRY_MAX_CMDS)
			max = RFT_ENTRY_MAX_CMDS;
		/* The entry's size, reserved once (not doubled up to it). */
		e = cf_list_head(&n->queued);
		for (unsigned i = 0; i < max && e != NULL && want < RFT_ENTRY_MAX;
		     i++, e = e->next == &n->queued ? NULL : e->next) {
			struct node_item *it =
				CF_CONTAINER_OF(e, struct node_item, link);
			want += item_len(it);
		}
		f = malloc(sizeof *f + max * sizeof f->items[0]);
		if (f == NULL ||
		    cf_buf_reserve(&buf, want < RFT_ENTRY_MAX ? want
							     : RFT_ENTRY_MAX) !=
			    0 ||
		    rft_batch_begin(&b, &buf) != 0) {
			free(f);
			cf_buf_release(&buf);
			return;
		}
		while (k < max && (e = cf_list_head(&n->queued)) != NULL) {
			struct node_item *it =
				CF_CONTAINER_OF(e, struct node_item, link);
			const struct cf_buf *enc =
				it->local != NULL ? &it->local->enc : &it->enc;
			rv = rft_batch_add(&b, enc->data, enc->len);
			if (rv == CF_ETOOBIG && k > 0)
				break;
			cf_list_remove(e);
			n->n_queued--;
			n->queued_bytes -= enc->len;
			if (rv != 0) {
				/* A command alone over the cap: refuse it. */
				struct rft_result r;
				memset(&r, 0, sizeof r);
				r.status = rv == CF_ETOOBIG ? CF_ETOOBIG : rv;
				if (it->local != NULL) {
					struct rft_submit *s = it->local;
					free(it);
					sub_finish(s, r.status, &r);
				} else {
					item_reply(n, it, &r);
				}
				continue;
			}
			if (it->local != NULL)
				it->local->state = SUB_PROPOSED;
			f->items[k++] = it;
		}
		if (k == 0) {
			free(f);
			cf_buf_release(&buf);
			continue;
		}
		rv = rft_batch_finish(&b, cf_wall_ms());
		assert(rv == 0);
		f->node = n;
		f->n = k;
		f->req.data = f;
		rb.len = buf.len;
		rb.base = cf_buf_detach(&buf, NULL);
		assert(rb.len % 8 == 0);
		rv = raft_apply(&n->raft, &f->req, &rb, 1, node_apply_cb);
		if (rv != 0) {
			cf_warn("raft_apply: %s", raft_strerror(rv));
			free(rb.base);
			for (unsigned i = 0; i < k; i++)
				item_bounce(n, f->items[i], raft_to_cf(rv));
			free(f);
			return;
		}
		n->n_inflight++;
		rft__nudge_cancel(n); /* this entry carries the commit index */
		n->stats.entries_proposed++;
		n->stats.commands_proposed += k;
	}
}

/* ---- read index ---- */

static void read_finish(struct rft_read *r, int status)
{
	r->state = READ_DONE;
	cf_list_remove(&r->link);
	r->cb(r, status);
}

void rft__reads(struct rft_node *n)
{
	uint64_t applied = raft_last_applied(&n->raft);
	struct cf_list *e = n->reads.next;

	while (e != &n->reads) {
		struct rft_read *r = CF_CONTAINER_OF(e, struct rft_read, link);
		e = e->next;
		if (r->state == READ_ASK) {
			unsigned leader = rft__node_leader(n);
			if (rft__can_propose(n)) {
				r->index = n->raft.commit_index;
				r->state = READ_WAIT;
			} else if (leader != 0 && leader != n->cfg.self &&
				   rft_peer_send(&n->peers, leader,
						 RFT_MSG_READINDEX, r->req_id,
						 NULL, 0) == 0) {
				r->asked = leader;
				r->state = READ_ASKED;
			}
		}
		/* Not while the worker rebuilds the state (rft_node_fetch.c):
		 * the caller would read it on our word. */
		if (r->state == READ_WAIT && applied >= r->index &&
		    !n->rebuilding)
			read_finish(r, 0);
	}
}

void rft_node_read_index(struct rft_node *n, struct rft_read *r,
			 rft_read_cb cb)
{
	r->node = n;
	r->cb = cb;
	r->req_id = ++n->next_req_id;
	r->deadline = now_ms() + n->cfg.request_timeout_ms;
	r->index = 0;
	r->asked = 0;
	r->state = READ_ASK;
	cf_list_init(&r->link);
	cf_list_push(&n->reads, &r->link);
	/* Answered from the next prepare or tick, never from here. */
}

void rft_node_wait_applied(struct rft_node *n, struct rft_read *r,
			   uint64_t index, rft_read_cb cb)
{
	rft_node_read_index(n, r, cb);
	r->index = index;
	r->state = READ_WAIT;
}

/* ---- peer messages ---- */

static void node_on_forward(struct rft_node *n, unsigned from,
			    uint64_t req_id, const void *body, size_t len)
{
	struct node_item *it;
	struct rft_cmd cmd;
	struct rft_result r;

	memset(&r, 0, sizeof r);
	if (rft_cmd_decode(body, len, &cmd) != 0) {
		r.status = CF_EBADREQ;
		goto reply;
	}
	if (!rft__can_propose(n)) {
		r.status = CF_ENOTLEADER;
		goto reply;
	}
	r.status = rft__disk_refuse(n, cmd.type);
	if (r.status != 0)
		goto reply; /* a full disk: the same answer as on the leader */
	it = calloc(1, sizeof *it);
	if (it == NULL || cf_buf_append(&it->enc, body, len) != 0) {
		free(it);
		r.status = -ENOMEM;
		goto reply;
	}
	it->origin = from;
	it->req_id = req_id;
	cf_list_push(&n->queued, &it->link);
	n->n_queued++;
	n->queued_bytes += item_len(it);
	return;
reply: {
	struct cf_buf b = CF_BUF_INIT;
	if (rft_result_encode(&r, &b) == 0)
		rft_peer_send(&n->peers, from, RFT_MSG_RESULT, req_id, b.data,
			      b.len);
	cf_buf_release(&b);
}
}

static void node_on_result(struct rft_node *n, unsigned from, uint64_t req_id,
			   const void *body, size_t len)
{
	struct rft_submit *s = node_find_forwarded(n, req_id);
	struct rft_result r;

	if (s == NULL || s->fwd_to != from)
		return; /* late answer to a request already completed */
	if (rft_result_decode(body, len, &r) != 0) {
		cf_warn("bad result from node %u", from);
		sub_requeue(n, s);
		return;
	}
	if (r.status == CF_ENOTLEADER || r.status == CF_ELEADERSHIP ||
	    r.status == CF_ESHUTDOWN) {
		/* Retried with the same key by the next tick. */
		sub_requeue(n, s);
		return;
	}
	sub_finish(s, r.status, &r);
}

static void node_on_readindex(struct rft_node *n, unsigned from,
			      uint64_t req_id)
{
	uint8_t b[12];

	if (rft__can_propose(n)) {
		cf_put_u32(b, 0);
		cf_put_u64(b + 4, n->raft.commit_index);
	} else {
		cf_put_u32(b, (uint32_t)CF_ENOTLEADER);
		cf_put_u64(b + 4, 0);
	}
	rft_peer_send(&n->peers, from, RFT_MSG_READINDEX_R, req_id, b,
		      sizeof b);
}

static void node_on_readindex_r(struct rft_node *n, unsigned from,
				uint64_t req_id, const void *body, size_t len)
{
	struct cf_list *e;

	if (len != 12)
		return;
	cf_list_foreach(e, &n->reads)
	{
		struct rft_read *r = CF_CONTAINER_OF(e, struct rft_read, link);
		if (r->req_id != req_id || r->state != READ_ASKED ||
		    r->asked != from)
			continue;
		if ((int32_t)cf_get_u32(body) == 0) {
			r->index = cf_get_u64((const uint8_t *)body + 4);
			r->state = READ_WAIT;
		} else {
			/*
			 * Not (yet) a usable leader, e.g. its barrier is still
			 * pending: ask again from the next tick, not from the
			 * next loop turn (which would ping-pong per turn).
			 */
			r->state = READ_RETRY;
		}
		return;
	}
}

void rft__peer_msg_cb(struct rft_peer_mgr *m, unsigned from,
			     uint8_t type, uint64_t req_id, const void *body,
			     size_t len)
{
	struct rft_node *n = m->data;

	if (n->closing)
		return;
	switch (type) {
	case RFT_MSG_FORWARD:
		node_on_forward(n, from, req_id, body, len);
		break;
	case RFT_MSG_RESULT:
		node_on_result(n, from, req_id, body, len);
		break;
	case RFT_MSG_READINDEX:
		node_on_readindex(n, from, req_id);
		break;
	case RFT_MSG_READINDEX_R:
		node_on_readindex_r(n, from, req_id, body, len);
		break;
	default:
		if (n->fetch != NULL &&
		    rft_fetch_on_msg(n->fetch, from, type, req_id, body, len))
			break;
		if (type >= RFT_MSG_USER && n->cfg.on_user_msg != NULL)
			n->cfg.on_user_msg(n, from, type, req_id, body, len);
		break;
	}
}

void rft__peer_state_cb(struct rft_peer_mgr *m, unsigned id, bool up)
{
	struct rft_node *n = m->data;

	cf_info("peer link to node %u %s", id, up ? "up" : "down");
	if (n->closing)
		return;
	if (n->fetch != NULL)
		rft_fetch_on_peer_state(n->fetch, id, up);
	if (!up) {
		node_requeue_forwarded(n, id);
		node_reask_reads(n, id);
	} else {
		rft__dispatch_waiting(n);
	}
}

int rft_node_send_user(struct rft_node *n, unsigned to, uint8_t type,
		       uint64_t req_id, const void *body, size_t len)
{
	return rft_peer_send(&n->peers, to, type, req_id, body, len);
}

/* ---- expiry and close ---- */

void rft__expire(struct rft_node *n)
{
	uint64_t now = now_ms();
	struct cf_list *lists[] = {&n->waiting, &n->forwarded};
	struct cf_list *e;

	for (unsigned i = 0; i < 2; i++) {
		e = lists[i]->next;
		while (e != lists[i]) {
			struct rft_submit *s =
				CF_CONTAINER_OF(e, struct rft_submit, link);
			e = e->next;
			if (now >= s->deadline)
				sub_finish(s, s->err != 0 ? s->err
							  : CF_EUNAVAIL,
					   NULL);
		}
	}
	e = n->reads.next;
	while (e != &n->reads) {
		struct rft_read *r = CF_CONTAINER_OF(e, struct rft_read, link);
		e = e->next;
		if (now >= r->deadline)
			read_finish(r, CF_EUNAVAIL);
		else if (r->state == READ_RETRY)
			r->state = READ_ASK;
	}
}

void rft__fail_waiting(struct rft_node *n, int status)
{
	struct cf_list *e;

	while ((e = cf_list_head(&n->waiting)) != NULL)
		sub_finish(CF_CONTAINER_OF(e, struct rft_submit, link),
			   status, NULL);
}

void rft__fail_all(struct rft_node *n)
{
	struct cf_list *e;

	while ((e = cf_list_head(&n->waiting)) != NULL)
		sub_finish(CF_CONTAINER_OF(e, struct rft_submit, link),
			   CF_ESHUTDOWN, NULL);
	while ((e = cf_list_head(&n->forwarded)) != NULL)
		sub_finish(CF_CONTAINER_OF(e, struct rft_submit, link),
			   CF_ESHUTDOWN, NULL);
	while ((e = cf_list_head(&n->reads)) != NULL)
		read_finish(CF_CONTAINER_OF(e, struct rft_read, link),
			    CF_ESHUTDOWN);
	rft__drop_queued(n, CF_ESHUTDOWN);
}
