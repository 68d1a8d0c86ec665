/*
 * fault_load: the fault suite's checker client (issue 14, "Fault suite").
 *
 * Purpose: keep a cluster under write load while a scenario kills, pauses
 * or starves its nodes, and remember every acknowledged message so that the
 * scenario can prove afterwards that none was lost or duplicated. Worker
 * threads send messages with unique clientMsgIds ("<worker>-<k>") to a set
 * of conversations, some over HTTP (POST /v1/messages), some over
 * WebSocket (`send` frames, the `ack` reply); a send that gets no answer,
 * a 503 or a dropped connection is retried with the same clientMsgId on
 * the next node (DESIGN.md: a retry is always safe) until it is acked or a
 * bound passes (then it is "abandoned": never acked, so never owed).
 * Every ack is recorded (conversation, clientMsgId, seq, messageId), and
 * so is the longest time the whole load went without an ack.
 *
 * Ownership: struct fault_load is the caller's, in place from start to
 * stop; it owns its threads, connections and the ack list until
 * fault_load_release().
 * Errors: fault_load_start returns 0 or -errno (threads); a refused send
 * (4xx other than 429) is counted in `refused` and makes the scenario
 * fail: the load only sends valid messages.
 * Threads: start, stop, release and the counters after stop from the test
 * thread; the workers share the ack list under a mutex.
 */
#ifndef FAULT_LOAD_H
#define FAULT_LOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FL_MAX_NODES 3
#define FL_MAX_WORKERS 16

struct fl_ack {
	unsigned conv;	 /* index into the conversations */
	unsigned worker; /* clientMsgId "<worker>-<k>" */
	uint32_t k;
	long long seq;
	char mid[24];
	bool duplicate;
};

struct fault_load;

struct fl_worker {
	struct fault_load *l;
	unsigned id;
	bool ws; /* sends over a WebSocket */
	pthread_t th;
	bool started;
};

struct fault_load {
	/* set before fault_load_start() */
	const char *urls[FL_MAX_NODES]; /* the nodes' client URLs */
	unsigned n_nodes;
	unsigned http_workers, ws_workers;
	unsigned convs;	       /* conversations "<prefix><i>" */
	const char *prefix;
	const char *user;      /* a member of every conversation */
	const char *token;     /* user's token, or NULL: dev auth */
	unsigned pace_ms;      /* pause between a worker's sends */
	unsigned give_up_ms;   /* a send's bound (retries included) */

	/* state */
	pthread_mutex_t mu;
	int stop; /* atomic */
	struct fl_worker w[FL_MAX_WORKERS];
	struct fl_ack *acks;
	size_t n_acks, cap_acks;
	uint64_t last_ack_ns, max_gap_ns, start_ns;
	uint64_t retries, abandoned, refused;
	uint64_t acked_ws; /* of n_acks, over WebSocket */
};

int fault_load_start(struct fault_load *l);
/* Ask the workers to stop after their current send; join them. */
void fault_load_stop(struct fault_load *l);
void fault_load_release(struct fault_load *l);
/* Acks so far (locked read; any thread). */
size_t fault_load_acked(struct fault_load *l);
/* The clientMsgId of an ack, "<worker>-<k>". */
void fault_load_cmid(const struct fl_ack *a, char out[32]);

#endif
