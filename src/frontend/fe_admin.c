#include "config.h"

/* fe_admin: admin routes; see fe_admin.h. */

#include "frontend/fe_admin.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/statvfs.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "common/cf_id.h"
#include "common/cf_time.h"
#include "frontend/fe_auth.h"
#include "frontend/fe_json.h"
#include "frontend/fe_query.h"
#include "frontend/fe_server.h"
#include "log/log_store.h"
#include "raft/rft_cmd.h"
#include "raft/rft_fsm.h"
#include "raft/rft_mark.h"
#include "raft/rft_node.h"
#include "sync/sync_read.h"

#define ADMIN_PREFIX "/v1/admin/"

/* {segments, bytes, records} of one tier. */
static json_t *tier(uint64_t segments, uint64_t bytes, uint64_t records)
{
	return json_pack("{s:I, s:I, s:I}", "segments", (json_int_t)segments,
			 "bytes", (json_int_t)bytes, "records",
			 (json_int_t)records);
}

static void admin_status(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	struct rft_node *n = s->node;
	struct rft_fsm *f = rft_node_fsm(n);
	struct log_store_stats st;
	struct log_store_cold_stats cs;
	const struct rft_compact_stats *ks = &n->compact.stats;
	struct statvfs vfs;
	const char *why = NULL;
	bool ready = rft_node_is_ready(n, &why);
	uint64_t commit = n->raft.commit_index;
	uint64_t applied = raft_last_applied(&n->raft);
	json_t *o, *disk;

	log_store_stats(rft_fsm_store(f), &st);
	log_store_cold_stats(rft_fsm_store(f), &cs);
	if (statvfs(rft_fsm_store_dir(f), &vfs) == 0)
		disk = json_pack("{s:I, s:I}", "freeBytes",
				 (json_int_t)((uint64_t)vfs.f_bavail *
					      vfs.f_frsize),
				 "totalBytes",
				 (json_int_t)((uint64_t)vfs.f_blocks *
					      vfs.f_frsize));
	else
		disk = json_null();
	o = json_pack("{s:i, s:s, s:i, s:I, s:I, s:I, s:I, s:b, s:b, s:s, "
		      "s:{s:o, s:o}, s:o, s:s}",
		      "nodeId", (int)s->self, "role", rft_node_role(n),
		      "leaderId", (int)rft_node_leader_id(n), "term",
		      (json_int_t)n->raft.current_term, "commitIndex",
		      (json_int_t)commit, "appliedIndex", (json_int_t)applied,
		      "applyLag",
		      (json_int_t)(commit > applied ? commit - applied : 0),
		      "ready", ready, "fetching", rft_fsm_needs_fetch(f),
		      "notReadyBecause", ready || why == NULL ? "" : why,
		      "store", "hot",
		      tier(st.segments, st.bytes, st.records), "cold",
		      tier(cs.files, cs.bytes, cs.records), "disk", disk,
		      "version", PACKAGE_VERSION);
	if (o != NULL) {
		json_object_set_new(
			o, "checkpointIndex",
			json_integer((json_int_t)log_store_applied_index(
				rft_fsm_store(f))));
		json_object_set_new(
			o, "compaction",
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
				  "s:I, s:b}",
				  "pendingJobs", (json_int_t)cs.jobs, "runs",
				  (json_int_t)ks->runs, "failures",
				  (json_int_t)ks->failures, "lastMs",
				  (json_int_t)ks->last_ms, "lastIndex",
				  (json_int_t)ks->last_index, "recordsErased",
				  (json_int_t)ks->records_erased, "bytesRead",
				  (json_int_t)ks->bytes_read, "bytesWritten",
				  (json_int_t)ks->bytes_written,
				  "erasedHeld", (json_int_t)cs.erased,
				  "erasing", n->erase_left > 0));
	}
	fe_respond_json(c, 200, o);
}

/* GET /v1/admin/conversations/{id}/messages?fromSeq=&limit= */
static void admin_messages(struct fe_conn *c, const struct fe_http_req *req,
			   struct cf_str conv)
{
	struct rft_fsm *f = rft_node_fsm(c->srv->node);
	struct sync_history_query q;
	const char *err = NULL;
	json_t *o = NULL;
	int rv;

	if (fe_query_admin_messages(req, &q, &err) != 0)
		return fe_respond_error(c, 400, "bad_request", err);
	if (rft_fsm_needs_fetch(f))
		return fe_respond_rc(c, CF_EUNAVAIL,
				     "this node is fetching segments after a "
				     "snapshot");
	rv = sync_history(f, (struct cf_str){NULL, 0}, conv, &q, &o);
	if (rv != 0)
		return fe_respond_rc(c, rv,
				     rv == CF_ENOTFOUND ? "no such conversation"
							: "read failed");
	fe_respond_json(c, 200, o);
}

/* GET /v1/admin/inspect: the store's shape, tiers and segment files. */
static void admin_inspect(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	struct rft_fsm *f = rft_node_fsm(s->node);
	struct log_store *store = rft_fsm_store(f);
	struct log_store_file *files = NULL;
	struct log_store_stats st;
	struct log_store_cold_stats cs;
	json_t *segs, *colds, *o;
	char name[64];
	size_t n = 0;
	int rv;

	rv = log_store_files(store, &files, &n);
	if (rv != 0)
		return fe_respond_rc(c, rv, "cannot list the segments");
	log_store_stats(store, &st);
	log_store_cold_stats(store, &cs);
	segs = json_array();
	colds = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct log_store_file *lf = &files[i];
		char hex[24];

		snprintf(name, sizeof name, "p%04u/%08u.%s", lf->partition,
			 (unsigned)lf->segno, lf->cold ? "cold" : "seg");
		if (!lf->cold) {
			json_array_append_new(
				segs, json_pack("{s:s, s:I, s:b}", "name", name,
						"bytes", (json_int_t)lf->size,
						"sealed", lf->sealed));
			continue;
		}
		snprintf(hex, sizeof hex, "%016" PRIx64, lf->ident);
		json_array_append_new(
			colds,
			json_pack("{s:s, s:I, s:s, s:i, s:i, s:b}", "name",
				  name, "bytes", (json_int_t)lf->size,
				  "identity", lf->pending ? "" : hex,
				  "firstSegment", (int)lf->first_segno,
				  "lastSegment", (int)lf->last_segno, "pending",
				  lf->pending));
	}
	free(files);
	o = json_pack("{s:i, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I, "
		      "s:{s:o, s:o}, s:o}",
		      "nodeId", (int)s->self, "appliedIndex",
		      (json_int_t)rft_fsm_applied(f), "checkpointIndex",
		      (json_int_t)log_store_applied_index(store), "partitions",
		      (int)s->cluster->partitions, "segmentSize",
		      (json_int_t)s->cluster->segment_size, "sealAgeMs",
		      (json_int_t)s->cluster->seal_age_ms, "records",
		      (json_int_t)(st.records + cs.records), "conversations",
		      (json_int_t)st.conversations, "indexBytes",
		      (json_int_t)st.index_bytes, "tiers", "hot",
		      tier(st.segments, st.bytes, st.records), "cold",
		      tier(cs.files, cs.bytes, cs.records), "segments", segs);
	if (o != NULL)
		json_object_set_new(o, "coldFiles", colds);
	else
		json_decref(colds);
	fe_respond_json(c, 200, o);
}

/* ---- verify markers (rft_mark.h) ---- */

struct admin_call {
	struct fe_conn *conn; /* referenced */
	struct rft_submit sub;
	uint64_t mark;
};

static void mark_committed_cb(struct rft_submit *s, int status,
			      const struct rft_result *res)
{
	struct admin_call *k = s->data;
	char id[24];

	if (status == 0 && res != NULL)
		status = res->status;
	if (fe_conn_alive(k->conn)) {
		if (status != 0) {
			fe_respond_rc(k->conn, status,
				      "the verify marker was not committed");
		} else {
			snprintf(id, sizeof id, "%" PRIu64, k->mark);
			fe_respond_json(k->conn, 200,
					json_pack("{s:s, s:I}", "markId", id,
						  "index",
						  (json_int_t)res->index));
		}
	}
	fe_conn_unref(k->conn);
	free(k);
}

/* POST /v1/admin/verify: commit a marker; answers its id and index. */
static void admin_verify_start(struct fe_conn *c, const char *admin)
{
	struct admin_call *k = calloc(1, sizeof *k);
	struct rft_cmd cmd;

	if (k == NULL)
		return fe_respond_rc(c, -ENOMEM, "out of memory");
	if (getrandom(&k->mark, sizeof k->mark, 0) != (ssize_t)sizeof k->mark)
		k->mark = cf_mono_ns();
	/* Non-zero and below 2^53, like every integer of the protocol. */
	k->mark = (k->mark & ((1ull << 53) - 1)) | 1;
	k->conn = c;
	fe_conn_ref(c);
	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_MARK;
	cmd.user = cf_str_c(admin);
	cmd.seq = k->mark;
	k->sub.data = k;
	rft_node_submit(c->srv->node, &k->sub, &cmd, mark_committed_cb);
}

/* ---- compaction ---- */

static void compact_committed_cb(struct rft_submit *s, int status,
				 const struct rft_result *res)
{
	struct admin_call *k = s->data;

	if (status == 0 && res != NULL)
		status = res->status;
	if (fe_conn_alive(k->conn)) {
		if (status != 0)
			fe_respond_rc(k->conn, status,
				      "the compaction was not committed");
		else
			fe_respond_json(k->conn, 200,
					json_pack("{s:I, s:I}", "index",
						  (json_int_t)res->index,
						  "jobs", (json_int_t)res->seq));
	}
	fe_conn_unref(k->conn);
	free(k);
}

/*
 * POST /v1/admin/compact?partition=&segments=: commit a compaction that
 * seals the hot segments first (so that recent recalls are erased too).
 */
static void admin_compact(struct fe_conn *c, const struct fe_http_req *req,
			  const char *admin)
{
	struct admin_call *k;
	struct rft_cmd cmd;
	const char *err = NULL;
	bool all;

	memset(&cmd, 0, sizeof cmd);
	cmd.type = RFT_CMD_COMPACT;
	cmd.user = cf_str_c(admin);
	cmd.flags = RFT_COMPACT_SEAL;
	if (fe_query_admin_compact(req, c->srv->cluster->partitions, &all,
				   &cmd.seq, &cmd.count, &err) != 0)
		return fe_respond_error(c, 400, "bad_request", err);
	if (all)
		cmd.seq = RFT_COMPACT_ALL;
	k = calloc(1, sizeof *k);
	if (k == NULL)
		return fe_respond_rc(c, -ENOMEM, "out of memory");
	k->conn = c;
	fe_conn_ref(c);
	k->sub.data = k;
	rft_node_submit(c->srv->node, &k->sub, &cmd, compact_committed_cb);
}

/* GET /v1/admin/verify/{markId}: this node's files at the marker. */
static void admin_verify_get(struct fe_conn *c, struct cf_str idtext)
{
	const struct rft_mark *k;
	json_t *files, *o;
	char name[64], hex[24];
	uint64_t id;

	if (fe_parse_u64(idtext, &id) != 0 || id == 0)
		return fe_respond_error(c, 400, "bad_request",
					"markId must be a positive integer");
	k = rft_marks_find(&c->srv->node->marks, id);
	if (k == NULL) {
		/* Not applied here yet, or forgotten (restart, 8 newer). */
		fe_respond_json(c, 200,
				json_pack("{s:s%, s:s}", "markId", idtext.p,
					  idtext.len, "state", "unknown"));
		return;
	}
	files = json_array();
	for (size_t i = 0; k->state == RFT_MARK_DONE && i < k->nfiles; i++) {
		snprintf(name, sizeof name, "p%04u/%08u.%s",
			 k->files[i].partition, (unsigned)k->files[i].segno,
			 k->files[i].cold ? "cold" : "seg");
		snprintf(hex, sizeof hex, "%016" PRIx64, k->files[i].xxh3);
		json_array_append_new(files,
				      json_pack("{s:s, s:I, s:s}", "name", name,
						"bytes",
						(json_int_t)k->files[i].size,
						"xxh3", hex));
	}
	snprintf(hex, sizeof hex, "%016" PRIx64, k->digest);
	o = json_pack("{s:s%, s:I, s:s, s:s, s:o}", "markId", idtext.p,
		      idtext.len, "index", (json_int_t)k->index, "state",
		      k->state == RFT_MARK_DONE	     ? "done"
		      : k->state == RFT_MARK_HASHING ? "hashing"
						     : "failed",
		      "digest", k->state == RFT_MARK_DONE ? hex : "", "files",
		      files);
	if (o != NULL && k->state == RFT_MARK_FAILED)
		json_object_set_new(o, "error",
				    json_string(cf_strerror(k->status)));
	fe_respond_json(c, 200, o);
}

/* "/v1/admin/conversations/{id}/messages": id out. */
static bool path_messages(struct cf_str p, struct cf_str *id)
{
	static const char pre[] = ADMIN_PREFIX "conversations/";
	static const char suf[] = "/messages";
	size_t np = sizeof pre - 1, ns = sizeof suf - 1;

	if (p.len <= np + ns || memcmp(p.p, pre, np) != 0 ||
	    memcmp(p.p + p.len - ns, suf, ns) != 0)
		return false;
	id->p = p.p + np;
	id->len = p.len - np - ns;
	return cf_id_valid(id->p, id->len);
}

bool fe_admin_http(struct fe_conn *c, const struct fe_http_req *req)
{
	struct cf_str p = req->path;
	const char *msg = NULL;
	struct cf_str id;
	char admin[129];
	int rv;

	if (p.len < sizeof ADMIN_PREFIX - 1 ||
	    memcmp(p.p, ADMIN_PREFIX, sizeof ADMIN_PREFIX - 1) != 0)
		return false;
	rv = fe_auth_admin_request(c->srv->cluster, req, admin, &msg);
	if (rv != 0) {
		fe_respond_rc(c, rv, msg);
		return true;
	}
	if (cf_str_eqc(p, ADMIN_PREFIX "status")) {
		if (req->method != FE_HTTP_GET) {
			fe_respond_405(c, "GET");
			return true;
		}
		admin_status(c);
	} else if (cf_str_eqc(p, ADMIN_PREFIX "inspect")) {
		if (req->method != FE_HTTP_GET) {
			fe_respond_405(c, "GET");
			return true;
		}
		if (rft_fsm_needs_fetch(rft_node_fsm(c->srv->node)))
			fe_respond_rc(c, CF_EUNAVAIL,
				      "this node is fetching segments after a "
				      "snapshot");
		else
			admin_inspect(c);
	} else if (cf_str_eqc(p, ADMIN_PREFIX "compact")) {
		if (req->method != FE_HTTP_POST) {
			fe_respond_405(c, "POST");
			return true;
		}
		admin_compact(c, req, admin);
	} else if (cf_str_eqc(p, ADMIN_PREFIX "verify")) {
		if (req->method != FE_HTTP_POST) {
			fe_respond_405(c, "POST");
			return true;
		}
		admin_verify_start(c, admin);
	} else if (p.len > sizeof ADMIN_PREFIX "verify/" - 1 &&
		   memcmp(p.p, ADMIN_PREFIX "verify/",
			  sizeof ADMIN_PREFIX "verify/" - 1) == 0) {
		if (req->method != FE_HTTP_GET) {
			fe_respond_405(c, "GET");
			return true;
		}
		id.p = p.p + sizeof ADMIN_PREFIX "verify/" - 1;
		id.len = p.len - (sizeof ADMIN_PREFIX "verify/" - 1);
		admin_verify_get(c, id);
	} else if (path_messages(p, &id)) {
		if (req->method != FE_HTTP_GET) {
			fe_respond_405(c, "GET");
			return true;
		}
		admin_messages(c, req, id);
	} else {
		fe_respond_error(c, 404, "not_found", "no such admin route");
	}
	return true;
}
