/*
 * rft_disk: the free space of a node's data folder, its ballast file, and
 * the rules that turn free space into "refuse writes" (issue 11; DESIGN.md
 * "The replicated log": a full disk is not a crash).
 *
 * Measuring: a timer asks libuv's thread pool for statfs(2) of the folder
 * (uv_fs_statfs) every period, so the loop never waits on the file system;
 * `free` is what an unprivileged writer may still use (f_bavail). The node
 * is "low" while free < the watermark (--min-free).
 *
 * Ballast: a file DIR/ballast of a fixed size (fallocate'd and fsync'd in
 * the thread pool) that holds room in reserve. It is made when the disk has
 * room for it and still stays at or above the watermark, and deleted by
 * rft_disk_release() when the node hits ENOSPC, so that raft's writes in
 * flight, the node's logs and an operator's shell find room while the node
 * goes read-only. A file of another size found at start (a crash while it
 * was made) is replaced.
 *
 * Status: what a node tells its peers about its disk (rft_peer_set_status),
 * 16 bytes, little-endian: u8 version 1, u8 flags (1 low, 2 full: the node
 * is degraded), u16 0, u32 0, u64 free bytes. A receiver reads the fields it
 * knows from a longer body (a later version appends).
 *
 * Ownership: struct rft_disk is the caller's; after rft_disk_start() it may
 * be freed only in the callback of rft_disk_close(). Errors: 0 or a
 * negative code. Threads: loop thread only (the statfs and the ballast's
 * writes run in libuv's pool and report back on the loop).
 */
#ifndef RFT_DISK_H
#define RFT_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define RFT_DISK_STATUS_SIZE 16u
#define RFT_DISK_PERIOD_MS 500u
/* --min-free when none is given: 1 GiB, or 5% of a smaller file system. */
#define RFT_DISK_MIN_FREE_DEFAULT (1ull << 30)
#define RFT_DISK_MIN_FREE_PCT_DEFAULT 5u

struct rft_disk_config {
	const char *dir; /* measured; holds DIR/ballast */
	/*
	 * The watermark: min_free bytes if not 0, else min_free_pct percent of
	 * the file system if not 0, else the default above. Never below
	 * 2 x floor (rft_disk_watermark).
	 */
	uint64_t min_free;
	unsigned min_free_pct;
	/* Below this raft cannot take its next segment: the node degrades. */
	uint64_t floor;
	uint64_t ballast; /* bytes of DIR/ballast; 0: none */
	/*
	 * Bytes a restarted node takes at once besides the ballast: raft 0.15
	 * allocates its open segment and a pool of two more at start (and
	 * deletes the unused ones, or truncates the open one, when it closes,
	 * so a halted node sees them come back as free space). Part of
	 * rft_disk_recovered().
	 */
	uint64_t restart_reserve;
	unsigned period_ms; /* default RFT_DISK_PERIOD_MS */
	void (*on_measure)(void *arg); /* after each measurement, may be NULL */
	void *arg;
};

enum rft_ballast {
	RFT_BALLAST_NONE,      /* no file (none configured, or no room) */
	RFT_BALLAST_MAKING,    /* being written in the pool */
	RFT_BALLAST_HELD,      /* the file exists at its size */
	RFT_BALLAST_RELEASING, /* being deleted */
};

struct rft_disk {
	uv_loop_t *loop;
	struct rft_disk_config cfg;
	char *ballast_path;
	uv_timer_t timer;
	uv_fs_t statfs_req;
	uv_fs_t unlink_req;
	uv_work_t make_req;
	int make_rv;	     /* result of the last make, in the pool */
	unsigned busy;	     /* requests in flight, the timer's close */
	bool statfs_busy;
	bool measured;	     /* at least one statfs answered */
	uint64_t free;	     /* bytes available (f_bavail x f_bsize) */
	uint64_t total;	     /* bytes of the file system */
	uint64_t watermark;  /* bytes, once measured */
	int ballast;	     /* enum rft_ballast */
	bool no_ballast;     /* released for good (degraded): never remake */
	bool release_asked;  /* release once the make in flight ends */
	uint64_t make_retry_ms; /* loop time before which no new make */
	bool closing;
	bool started;
	void (*close_cb)(struct rft_disk *d);
};

/* A node's disk as its peers see it. */
struct rft_disk_status {
	bool low;  /* free below the watermark */
	bool full; /* degraded: hit ENOSPC, read-only */
	uint64_t free;
};

/*
 * Prepare: copy the configuration, look at DIR/ballast (a file of another
 * size is deleted). Nothing runs until rft_disk_start(). -ENOMEM.
 */
int rft_disk_init(struct rft_disk *d, uv_loop_t *loop,
		  const struct rft_disk_config *cfg);
/* Measure now and every period; make the ballast when there is room. */
void rft_disk_start(struct rft_disk *d);
/*
 * Stop; cb once the timer and every request in flight have ended (call it
 * once, after init; without a start cb runs from inside the call).
 */
void rft_disk_close(struct rft_disk *d, void (*cb)(struct rft_disk *d));
/* Delete the ballast (now, or once its making ends), and never remake it. */
void rft_disk_release(struct rft_disk *d);

/*
 * Measure now, synchronously (one statvfs: for a storage failure, where
 * a stale figure would misjudge it). 0 or -errno.
 */
int rft_disk_measure_now(struct rft_disk *d);
/* Measured and below the watermark / the floor. */
bool rft_disk_low(const struct rft_disk *d);
bool rft_disk_below_floor(const struct rft_disk *d);
/*
 * Space came back for a degraded node: free >= rft_disk_recover_bytes(),
 * the watermark + the ballast's size (unless held) + restart_reserve, so
 * that a restarted node remakes its ballast, lets raft take its segments
 * and is still above the watermark: it does not flap between full and not.
 */
bool rft_disk_recovered(const struct rft_disk *d);
uint64_t rft_disk_recover_bytes(const struct rft_disk *d);

/* ---- pure rules (unit-tested) ---- */

/* The watermark for a file system of total bytes (see the config). */
uint64_t rft_disk_watermark(uint64_t min_free, unsigned min_free_pct,
			    uint64_t total, uint64_t floor);
/*
 * Whether writes are refused: this node cannot store (self_full), or it
 * leads and its own disk is low (self_low && leader), or a majority of the
 * voters are known low or full (n_low counts them, this node included).
 */
bool rft_disk_refuse(bool leader, bool self_low, bool self_full,
		     unsigned voters, unsigned n_low);
/*
 * Default ballast size: two raft segments, a manifest, and the largest
 * compaction output (compact_segments hot segments of seal_bytes, at most
 * LOG_COMPACT_INPUT_MAX + seal_bytes: log_store.h).
 */
uint64_t rft_disk_ballast_default(uint64_t raft_segment,
				  uint64_t manifest_bytes,
				  unsigned compact_segments,
				  uint64_t seal_bytes);

void rft_disk_status_encode(const struct rft_disk_status *st,
			    uint8_t out[RFT_DISK_STATUS_SIZE]);
/* 0, or CF_ENOTFOUND for an empty body (a node that predates it),
 * CF_ECORRUPT for a short one or version 0. */
int rft_disk_status_decode(const void *body, size_t len,
			   struct rft_disk_status *st);

#endif
