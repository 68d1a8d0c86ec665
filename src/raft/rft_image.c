#include "config.h"

/*
 * rft_image: the FSM's part of the state image (log/log_image.h): its
 * sections, and the child process that writes an image.
 *
 * Sections, after the store's and the seq index's (integers little-endian,
 * str = u32 length + bytes, framed by cf_img):
 *
 *   "FSM1": u64 counter (highest n of a c_<n> id), u64 entry clock,
 *           u32 conversations C, then C times:
 *             str id, u8 type, str owner, str title, u64 created_at,
 *             u64 created messageId, u64 last_seq, u64 last item's
 *             messageId,
 *             u32 M members (str each, strictly ascending),
 *             u32 F former members (str each, strictly ascending),
 *             u32 R receipts (str user, u64 delivered, u64 read),
 *             u32 S recalled seqs (u64 each)
 *   "MED1": u32 blobs B, then B times: str mediaId, u8 uploader known,
 *           str uploader, u32 K, K conversation ids (str, each one of the
 *           conversations above)
 *   the idempotency window's section (rft_dedup_image.c)
 *   "EDT1": the edits (rft_edit.c)
 *   the caller's sections (rft_fsm_config.on_image_write)
 *
 * The users and direct-pair maps are not written: reading a conversation
 * builds them as its creation did (rft__conv_create).
 *
 * The child (rft_fsm_image_start): fork() on the loop, between entries, so
 * that the child's memory is the state after f->applied exactly, with
 * every record of it committed to the store. The child resets the signals
 * the node handles (libuv's handlers would write to the parent's signal
 * pipe), asks to be killed if the parent dies, lowers its priority, writes
 * the image (log_image_write: the file, fsync, rename, fsync folder) and
 * _exit()s: it takes no lock the parent's other threads may hold at the
 * fork (no stdio: errors go to stderr by write(2)) and touches no
 * descriptor but its own file and the store folder. The parent reaps it
 * from the node's tick (rft_fsm_image_poll) and hands the index to the
 * store, whose next checkpoint names the image.
 */

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cf_diag.h"
#include "common/cf_time.h"
#include "log/log_image.h"
#include "raft/rft_fsm_int.h"

#define FSM_TAG 0x314d5346u   /* "FSM1" */
#define MEDIA_TAG 0x3144454du /* "MED1" */

/* ---------------------------------------------------------------- write */

static void write_conv(struct cf_imgw *w, const struct rft_conv_st *c)
{
	const struct rft_conv *p = &c->pub;
	const struct cf_map_slot *s;
	size_t i = 0;

	cf_imgw_cstr(w, p->id);
	cf_imgw_u8(w, p->type);
	cf_imgw_cstr(w, p->owner);
	cf_imgw_cstr(w, p->title);
	cf_imgw_u64(w, p->created_at);
	cf_imgw_u64(w, p->created_msg_id);
	cf_imgw_u64(w, p->last_seq);
	cf_imgw_u64(w, p->last_item_id);
	cf_imgw_u32(w, p->n_members);
	for (unsigned k = 0; k < p->n_members; k++)
		cf_imgw_cstr(w, p->members[k]);
	cf_imgw_u32(w, c->n_former);
	for (unsigned k = 0; k < c->n_former; k++)
		cf_imgw_cstr(w, c->former[k]);
	cf_imgw_u32(w, (uint32_t)c->receipts.n);
	while (cf_map_next(&c->receipts, &i, &s)) {
		const struct rft_receipt *r = s->val;

		cf_imgw_str(w, s->key, s->klen);
		cf_imgw_u64(w, r->delivered);
		cf_imgw_u64(w, r->read);
	}
	cf_imgw_u32(w, (uint32_t)c->recalled.n);
	i = 0;
	while (cf_map_next(&c->recalled, &i, &s))
		cf_imgw_bytes(w, s->key, 8);
}

void rft__image_write(void *arg, struct cf_imgw *w)
{
	struct rft_fsm *f = arg;
	const struct cf_map_slot *s;
	size_t i = 0;

	cf_imgw_begin(w, FSM_TAG);
	cf_imgw_u64(w, f->counter);
	cf_imgw_u64(w, f->clock);
	cf_imgw_u32(w, (uint32_t)f->convs.n);
	while (cf_map_next(&f->convs, &i, &s))
		write_conv(w, s->val);
	cf_imgw_end(w, FSM_TAG);
	cf_imgw_begin(w, MEDIA_TAG);
	rft__media_image_write(f, w);
	cf_imgw_end(w, MEDIA_TAG);
	rft_dedup_image_write(&f->dedup, w);
	rft__edit_image_write(f, w);
	if (f->on_image_write != NULL)
		f->on_image_write(f->on_record_arg, w);
}

/* ----------------------------------------------------------------- read */

/* n ids, strictly ascending, into f->ids (borrowing from the image). */
static int read_ids(struct rft_fsm *f, struct cf_imgr *r, unsigned n)
{
	if (n > f->ids_cap) {
		struct cf_str *v = realloc(f->ids, n * sizeof(*v));

		if (v == NULL)
			return r->err = -ENOMEM;
		f->ids = v;
		f->ids_cap = n;
	}
	for (unsigned k = 0; k < n && r->err == 0; k++) {
		f->ids[k] = cf_imgr_str(r, CF_ID_MAX);
		if (r->err == 0 &&
		    (f->ids[k].len == 0 ||
		     (k > 0 && rft__id_cmp(f->ids[k - 1], f->ids[k]) >= 0)))
			cf_imgr_fail(r);
	}
	return r->err;
}

static int read_former(struct rft_fsm *f, struct cf_imgr *r,
		       struct rft_conv_st *c)
{
	unsigned n = cf_imgr_count(r, 4);

	if (read_ids(f, r, n) != 0 || n == 0)
		return r->err;
	c->former = calloc(n, sizeof(*c->former));
	if (c->former == NULL)
		return r->err = -ENOMEM;
	c->former_cap = n;
	for (unsigned k = 0; k < n; k++) {
		c->former[k] = strndup(f->ids[k].p, f->ids[k].len);
		if (c->former[k] == NULL)
			return r->err = -ENOMEM;
		c->n_former = k + 1;
	}
	return 0;
}

static int read_conv(struct rft_fsm *f, struct cf_imgr *r)
{
	struct cf_str id = cf_imgr_str(r, CF_ID_MAX);
	uint8_t type = cf_imgr_u8(r);
	struct cf_str owner = cf_imgr_str(r, CF_ID_MAX);
	struct cf_str title = cf_imgr_str(r, 65535);
	uint64_t created_at = cf_imgr_u64(r), created_id = cf_imgr_u64(r);
	uint64_t last_seq = cf_imgr_u64(r), last_item = cf_imgr_u64(r);
	unsigned n = cf_imgr_count(r, 4);
	struct rft_conv_st *c;
	int rv;

	if (r->err == 0 &&
	    (id.len == 0 || rft__conv_find(f, id) != NULL ||
	     (type != RFT_CONV_DIRECT && type != RFT_CONV_GROUP)))
		cf_imgr_fail(r);
	if (read_ids(f, r, n) != 0)
		return r->err;
	rv = rft__conv_create(f, id, type, owner, title, f->ids, n, created_at,
			      created_id, &c);
	if (rv != 0)
		return r->err = rv;
	c->pub.last_seq = last_seq;
	c->pub.last_item_id = last_item;
	if (read_former(f, r, c) != 0)
		return r->err;
	n = cf_imgr_count(r, 4 + 16);
	for (unsigned k = 0; k < n && r->err == 0; k++) {
		struct cf_str user = cf_imgr_str(r, CF_ID_MAX);
		uint64_t delivered = cf_imgr_u64(r), read = cf_imgr_u64(r);
		struct rft_receipt *rc;

		if (r->err != 0)
			break;
		rc = rft__receipt(c, user);
		if (rc == NULL)
			return r->err = -ENOMEM;
		rc->delivered = delivered;
		rc->read = read;
	}
	n = cf_imgr_count(r, 8);
	for (unsigned k = 0; k < n && r->err == 0; k++) {
		uint64_t seq = cf_imgr_u64(r);

		if (r->err == 0 && (rv = rft__recalled_add(c, seq)) != 0)
			return r->err = rv;
	}
	return r->err;
}

int rft__image_read(void *arg, struct cf_imgr *r)
{
	struct rft_fsm *f = arg;
	uint32_t n;

	cf_imgr_begin(r, FSM_TAG);
	f->counter = cf_imgr_u64(r);
	f->clock = cf_imgr_u64(r);
	n = cf_imgr_count(r, 64);
	for (uint32_t i = 0; i < n && r->err == 0; i++)
		(void)read_conv(f, r);
	cf_imgr_end(r, FSM_TAG);
	cf_imgr_begin(r, MEDIA_TAG);
	if (r->err == 0)
		(void)rft__media_image_read(f, r);
	cf_imgr_end(r, MEDIA_TAG);
	if (r->err == 0) {
		int rv = rft_dedup_image_read(&f->dedup, r);

		if (rv != 0 && r->err == 0)
			r->err = rv;
	}
	if (r->err == 0)
		(void)rft__edit_image_read(f, r);
	if (r->err == 0 && f->on_image_read != NULL) {
		int rv = f->on_image_read(f->on_record_arg, r);

		if (rv != 0 && r->err == 0)
			r->err = rv;
	}
	return r->err;
}

void rft__image_reset(void *arg)
{
	struct rft_fsm *f = arg;
	rft_dedup_hash_fn hash = f->dedup.hash;

	rft__state_release(f);
	cf_map_init(&f->convs);
	cf_map_init(&f->pairs);
	cf_map_init(&f->users);
	cf_map_init(&f->media);
	rft_dedup_init(&f->dedup);
	f->dedup.hash = hash;
	f->clock = 0;
	if (f->on_reset != NULL)
		f->on_reset(f->on_record_arg);
}

/* ---------------------------------------------------------------- child */

/* A message to stderr without stdio (its lock may be held by a thread). */
static void child_say(const char *a, const char *b)
{
	char line[CF_ERRMSG_SIZE + 128];
	int n = snprintf(line, sizeof line, "confabd: state image: %s%s\n", a,
			 b);

	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof line ? (size_t)n
							      : sizeof line - 1);
}

static void __attribute__((noreturn))
child_run(struct rft_fsm *f, pid_t parent)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT,
				   SIGUSR1, SIGUSR2, SIGCHLD};
	char errmsg[CF_ERRMSG_SIZE];
	sigset_t none;

	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(2);
	(void)setpriority(PRIO_PROCESS, 0, 10);
	if (log_image_write(f->store, f->applied, rft__image_write, f,
			    errmsg) != 0) {
		child_say(errmsg, "");
		_exit(1);
	}
	_exit(0);
}

int rft_fsm_image_start(struct rft_fsm *f)
{
	pid_t parent = getpid(), pid;

	if (f->image_pid != 0)
		return -EBUSY;
	if (f->failed != 0 || f->needs_fetch || f->store == NULL)
		return -EAGAIN;
	if (f->applied == 0 || f->applied == log_store_image_index(f->store))
		return -EAGAIN;
	pid = fork();
	if (pid < 0) {
		int rv = -errno;

		cf_warn("fsm: state image: fork: %s", cf_strerror(rv));
		return rv;
	}
	if (pid == 0)
		child_run(f, parent);
	f->image_pid = pid;
	f->image_at = f->applied;
	f->image_t0_ms = cf_mono_ms();
	f->image_recs_began = f->image_recs;
	f->image_recs = 0;
	return 0;
}

/* The child ended with status: tell the store, or say why not. */
static void image_reaped(struct rft_fsm *f, int status)
{
	char name[LOG_IMAGE_NAME], path[4200];
	struct stat st;
	double secs = (double)(cf_mono_ms() - f->image_t0_ms) / 1000.0;

	f->image_pid = 0;
	f->image_last_ms = cf_mono_ms();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cf_warn("fsm: state image at %llu: the writer %s %d; the next "
			"one is tried later",
			(unsigned long long)f->image_at,
			WIFEXITED(status) ? "exited with" : "was killed by",
			WIFEXITED(status) ? WEXITSTATUS(status)
					  : WTERMSIG(status));
		f->image_fails++;
		/* What it would have covered is still to be covered. */
		f->image_recs += f->image_recs_began;
		return;
	}
	log_image_name(name, f->image_at);
	snprintf(path, sizeof path, "%s/%s", f->store_dir, name);
	cf_info("fsm: state image at %llu written in %.1f s (%.1f MiB)",
		(unsigned long long)f->image_at, secs,
		stat(path, &st) == 0 ? (double)st.st_size / 1048576.0 : 0.0);
	f->images++;
	if (f->store != NULL)
		log_store_image_ready(f->store, f->image_at);
}

bool rft_fsm_image_poll(struct rft_fsm *f)
{
	int status;
	pid_t rv;

	if (f->image_pid == 0)
		return false;
	do
		rv = waitpid(f->image_pid, &status, WNOHANG);
	while (rv < 0 && errno == EINTR);
	if (rv == 0)
		return true;
	if (rv < 0)
		status = 0x7f00; /* lost: as a failure */
	image_reaped(f, status);
	return false;
}

void rft_fsm_image_stop(struct rft_fsm *f)
{
	int status;

	if (f->image_pid == 0)
		return;
	(void)kill(f->image_pid, SIGKILL);
	while (waitpid(f->image_pid, &status, 0) < 0 && errno == EINTR)
		;
	f->image_pid = 0; /* its image.tmp: the next open removes it */
}

uint64_t rft_fsm_image_pending(const struct rft_fsm *f)
{
	return f->image_recs;
}

uint64_t rft_fsm_image_idle_ms(const struct rft_fsm *f)
{
	return f->image_pid != 0 ? 0 : cf_mono_ms() - f->image_last_ms;
}
