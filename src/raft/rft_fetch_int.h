/*
 * rft_fetch_int: the state of struct rft_fetch, shared by rft_fetch.c (the
 * protocol, the server, create/close) and rft_fetch_client.c (the client).
 * Ownership and threads as in rft_fetch.h. Errors: 0 or a negative code.
 */
#ifndef RFT_FETCH_INT_H
#define RFT_FETCH_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "log/log_manifest.h"
#include "log/log_segment.h"
#include "raft/rft_worker.h"
#include "raft/rft_fetch.h"
#include "raft/rft_fetch_msg.h"

/* Status field at the head of every answer: i32, 0 or a negative code. */
#define RFT_FETCH_STATUS 4
/* Server reads in the worker thread at a time, at most. */
#define RFT_FETCH_SERVE_MAX 16

enum rft_fetch_cstate {
	RFT_FC_IDLE = 0,
	RFT_FC_MANIFEST, /* waiting for MANIFEST_R */
	RFT_FC_SUM,	 /* waiting for SUM_R of the current segment */
	RFT_FC_RANGE,	 /* waiting for RANGE_R of the current segment */
	RFT_FC_CRANGE,	 /* waiting for CRANGE_R of the current cold file */
	RFT_FC_WORK,	 /* file work in the worker thread (no request out) */
	RFT_FC_STEP,	 /* between steps, on the loop thread */
};

struct rft_fetch;
/* A client job: fn runs in the worker thread, next on the loop with its rv. */
typedef int (*rft_fetch_job_fn)(struct rft_fetch *f);
typedef int (*rft_fetch_next_fn)(struct rft_fetch *f, int rv);

/* The client side: one fetch in flight. */
struct rft_fetch_client {
	enum rft_fetch_cstate state;
	unsigned peer;
	uint64_t req_id;      /* the request waiting for its answer */
	uint64_t min_applied;
	rft_fetch_cb cb;
	void *arg;
	int dirfd;	      /* dest folder */
	struct log_manifest local;
	struct log_manifest remote;
	size_t idx;	      /* current segment in remote.segs */
	size_t cidx;	      /* then current cold file in remote.colds */
	int cold_fd;	      /* its NAME.tmp being written, or -1 */
	uint64_t local_sum;   /* xxh3 of the local prefix being checked */
	uint64_t req_off;     /* offset of the next byte to ask for */
	int part_fd;	      /* folder of part_id, or -1 */
	unsigned part_id;
	bool part_dirty;      /* files created in part_fd, not fsync'd */
	bool root_dirty;      /* partition folders created */
	struct log_segment seg; /* the file being appended to (fd -1) */
	struct cf_buf carry;  /* fetched bytes not yet a whole record */
	struct rft_worker_job work; /* the job on the worker (state WORK) */
	rft_fetch_job_fn job;
	rft_fetch_next_fn next;
	int job_rv;
	int job_fd;	      /* file the job reads, or -1 */
	uint64_t job_len;
	char job_errmsg[CF_ERRMSG_SIZE];
};

/* The server side: the manifest on disk, reloaded when the file changes. */
struct rft_fetch_server {
	int dirfd;
	bool have;	      /* man/raw hold the file identified below */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	struct log_manifest man;
	struct cf_buf raw;    /* man encoded: the MANIFEST_R body */
	struct cf_buf out;    /* answer being built */
	unsigned corrupt;     /* test hook: RANGE answers to damage */
	unsigned inflight;    /* reads queued in the worker thread */
};

struct rft_fetch {
	uv_loop_t *loop;
	struct rft_worker *worker;
	struct rft_peer_mgr *peers;
	unsigned chunk;
	unsigned timeout_ms;
	uint64_t next_req;
	uv_timer_t timer;
	bool closing;
	bool timer_closed;
	void (*close_cb)(void *arg);
	void *close_arg;
	struct rft_fetch_client c;
	struct rft_fetch_server s;
	struct rft_fetch_stats stats;
	char errmsg[CF_ERRMSG_SIZE];
};

/* Server (rft_fetch.c): answer one request. */
void rft_fetch_serve(struct rft_fetch *f, unsigned from, uint8_t type,
		     uint64_t req_id, const void *body, size_t len);
/* Free f once closing, its timer closed and no read or job in flight. */
void rft_fetch_maybe_free(struct rft_fetch *f);
/* xxh3 of fd's bytes [off, off + len); CF_ECORRUPT if the file is short. */
int rft_fetch_hash_file(int fd, uint64_t off, uint64_t len, uint64_t *sum);

/* Client (rft_fetch_client.c). */
void rft_fetch_client_init(struct rft_fetch *f);
void rft_fetch_client_answer(struct rft_fetch *f, unsigned from, uint8_t type,
			     uint64_t req_id, const void *body, size_t len);
/* Client steps shared by rft_fetch_client.c and rft_fetch_cold.c. */
int rft__fc_send(struct rft_fetch *f, enum rft_fetch_cstate state,
		 uint8_t type, const void *body, size_t len);
/* Run job on the worker, then next on the loop: 1 (queued) or an error. */
int rft__fc_queue(struct rft_fetch *f, rft_fetch_job_fn job,
		  rft_fetch_next_fn next);
/* Make the client's part_fd the folder of partition (created if missing). */
int rft__fc_part(struct rft_fetch *f, unsigned partition);
/* Walk the files from the current one until a request is out or done. */
int rft__fc_advance(struct rft_fetch *f, int rv);
/* Cold files (rft_fetch_cold.c): start the current one (1: a request is
 * out, 0: the local one is the same), handle a CRANGE answer. */
int rft__fc_cold_start(struct rft_fetch *f);
int rft__fc_on_crange(struct rft_fetch *f, const void *p, size_t n);
void rft__fc_cold_errmsg(struct rft_fetch *f, char *out, const char *what,
			 int rv);
/* End the running fetch with status (cleanup first, then the callback). */
void rft_fetch_client_fail(struct rft_fetch *f, int status);

#endif
