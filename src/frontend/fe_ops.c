#include "config.h"

#include "frontend/fe_ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "frontend/fe_api_search.h"
#include "frontend/fe_json.h"
#include "frontend/fe_server.h"
#include "frontend/fe_static.h"

#define FE_OPS_STARTING_HELP                                                   \
	"# HELP confab_starting 1 while the node opens its store (only "      \
	"/healthz, /readyz and this short /metrics are served).\n"            \
	"# TYPE confab_starting gauge\n"
#define FE_OPS_REBUILDING_HELP                                                 \
	"# HELP confab_rebuilding 1 while the node rebuilds its state from "  \
	"fetched segments (only /healthz, /readyz, /v1/cluster and this "     \
	"short /metrics are served).\n"                                       \
	"# TYPE confab_rebuilding gauge\n"

static void ops_cluster(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	struct rft_node *n = s->node;
	json_t *peers = json_array();
	json_t *o;

	for (unsigned i = 0; i < s->cluster->n_nodes; i++) {
		const struct cf_node_conf *nc = &s->cluster->nodes[i];
		bool me = nc->id == s->self;
		const struct fe_peer_status *ps = &s->peers[i];
		json_t *p = json_pack(
			"{s:i, s:s, s:s, s:b, s:i}", "nodeId", (int)nc->id,
			"url", nc->client_url, "role",
			me ? rft_node_role(n)
			   : (ps->known && rft_node_peer_up(n, nc->id)
				      ? ps->role
				      : "unknown"),
			"reachable", me || rft_node_peer_up(n, nc->id),
			"wsConnections",
			(int)(me ? s->n_ws : (ps->known ? ps->ws_count : 0)));
		if (p != NULL)
			json_array_append_new(peers, p);
	}
	o = json_pack("{s:i, s:s, s:i, s:I, s:I, s:I, s:o}", "nodeId",
		      (int)s->self, "role", rft_node_role(n), "leaderId",
		      (int)rft_node_leader_id(n), "term",
		      (json_int_t)n->raft.current_term, "commitIndex",
		      (json_int_t)n->raft.commit_index, "appliedIndex",
		      (json_int_t)raft_last_applied(&n->raft), "peers", peers);
	fe_respond_json(c, 200, o);
}

/* Issue 11: the data folder's free space and the write refusal. */
static int ops_metrics_disk(struct rft_node *n, struct cf_buf *b)
{
	struct rft_node_disk_info di;

	rft_node_disk_info(n, &di);
	return cf_buf_appendf(
		b,
		"# HELP confab_disk_free_bytes Bytes free for the data folder "
		"(statfs f_bavail).\n"
		"# TYPE confab_disk_free_bytes gauge\n"
		"confab_disk_free_bytes %llu\n"
		"# HELP confab_disk_min_free_bytes The watermark (--min-free) "
		"below which writes are refused.\n"
		"# TYPE confab_disk_min_free_bytes gauge\n"
		"confab_disk_min_free_bytes %llu\n"
		"# HELP confab_disk_writes_refused 1 while this node answers "
		"writes with 507.\n"
		"# TYPE confab_disk_writes_refused gauge\n"
		"confab_disk_writes_refused %d\n"
		"# HELP confab_disk_degraded 1 while this node is read-only "
		"after a storage failure.\n"
		"# TYPE confab_disk_degraded gauge\n"
		"confab_disk_degraded %d\n"
		"# HELP confab_disk_ballast_bytes Bytes held by the ballast "
		"file.\n"
		"# TYPE confab_disk_ballast_bytes gauge\n"
		"confab_disk_ballast_bytes %llu\n",
		(unsigned long long)di.free, (unsigned long long)di.watermark,
		di.refusing ? 1 : 0, di.degraded ? 1 : 0,
		(unsigned long long)(di.ballast ? n->disk.cfg.ballast : 0));
}

static void ops_metrics(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	struct rft_node *n = s->node;
	struct rft_fsm_stats fst;
	struct log_store_stats lst;
	struct log_store_cold_stats cst;
	const struct rft_compact_stats *k = &n->compact.stats;
	struct cf_buf b = CF_BUF_INIT;
	int role = 0;
	int rv;

	rft_fsm_stats(rft_node_fsm(n), &fst);
	log_store_stats(rft_fsm_store(rft_node_fsm(n)), &lst);
	log_store_cold_stats(rft_fsm_store(rft_node_fsm(n)), &cst);
	switch (raft_state(&n->raft)) {
	case RAFT_FOLLOWER:
		role = 1;
		break;
	case RAFT_CANDIDATE:
		role = 2;
		break;
	case RAFT_LEADER:
		role = 3;
		break;
	default:
		role = 0;
	}
	rv = cf_buf_appendf(
		&b,
		"# HELP confab_messages_committed_total Messages committed "
		"(applied on this node, duplicates excluded).\n"
		"# TYPE confab_messages_committed_total counter\n"
		"confab_messages_committed_total %llu\n"
		"# HELP confab_dedup_hits_total Sends answered from the "
		"idempotency window.\n"
		"# TYPE confab_dedup_hits_total counter\n"
		"confab_dedup_hits_total %llu\n"
		"# HELP confab_ws_connections Open WebSockets on this node.\n"
		"# TYPE confab_ws_connections gauge\n"
		"confab_ws_connections %u\n"
		"# HELP confab_sync_requests_total Sync requests served.\n"
		"# TYPE confab_sync_requests_total counter\n"
		"confab_sync_requests_total %llu\n"
		"# HELP confab_apply_lag_entries Commit index minus applied "
		"index.\n"
		"# TYPE confab_apply_lag_entries gauge\n"
		"confab_apply_lag_entries %llu\n"
		"# HELP confab_raft_role 0 unavailable, 1 follower, 2 "
		"candidate, 3 leader.\n"
		"# TYPE confab_raft_role gauge\n"
		"confab_raft_role %d\n"
		"# HELP confab_raft_entries_applied_total Raft entries "
		"applied.\n"
		"# TYPE confab_raft_entries_applied_total counter\n"
		"confab_raft_entries_applied_total %llu\n"
		"# HELP confab_raft_commands_applied_total Commands applied.\n"
		"# TYPE confab_raft_commands_applied_total counter\n"
		"confab_raft_commands_applied_total %llu\n"
		"# HELP confab_raft_nudges_total Barriers the leader appended "
		"so that followers learn a commit without waiting for a "
		"heartbeat.\n"
		"# TYPE confab_raft_nudges_total counter\n"
		"confab_raft_nudges_total %llu\n"
		"# HELP confab_segments Segment files by tier.\n"
		"# TYPE confab_segments gauge\n"
		"confab_segments{tier=\"hot\"} %llu\n"
		"confab_segments{tier=\"cold\"} %llu\n"
		"# HELP confab_segment_bytes Segment bytes by tier.\n"
		"# TYPE confab_segment_bytes gauge\n"
		"confab_segment_bytes{tier=\"hot\"} %llu\n"
		"confab_segment_bytes{tier=\"cold\"} %llu\n"
		"# HELP confab_segment_records Records by tier.\n"
		"# TYPE confab_segment_records gauge\n"
		"confab_segment_records{tier=\"hot\"} %llu\n"
		"confab_segment_records{tier=\"cold\"} %llu\n"
		"# HELP confab_cold_erased_records Recalled messages the cold "
		"tier holds without content.\n"
		"# TYPE confab_cold_erased_records gauge\n"
		"confab_cold_erased_records %llu\n"
		"# HELP confab_cold_block_reads_total Cold blocks read and "
		"decompressed by reads.\n"
		"# TYPE confab_cold_block_reads_total counter\n"
		"confab_cold_block_reads_total %llu\n"
		"# HELP confab_compaction_jobs Compaction jobs decided and not "
		"switched yet.\n"
		"# TYPE confab_compaction_jobs gauge\n"
		"confab_compaction_jobs %llu\n"
		"# HELP confab_compactions_total Compaction jobs switched.\n"
		"# TYPE confab_compactions_total counter\n"
		"confab_compactions_total %llu\n"
		"# HELP confab_compaction_failures_total Compaction runs that "
		"failed (retried).\n"
		"# TYPE confab_compaction_failures_total counter\n"
		"confab_compaction_failures_total %llu\n"
		"# HELP confab_compaction_read_bytes_total Hot bytes read by "
		"compactions.\n"
		"# TYPE confab_compaction_read_bytes_total counter\n"
		"confab_compaction_read_bytes_total %llu\n"
		"# HELP confab_compaction_written_bytes_total Cold bytes "
		"written by compactions.\n"
		"# TYPE confab_compaction_written_bytes_total counter\n"
		"confab_compaction_written_bytes_total %llu\n"
		"# HELP confab_compaction_erased_records_total Recalled "
		"messages whose content compactions dropped.\n"
		"# TYPE confab_compaction_erased_records_total counter\n"
		"confab_compaction_erased_records_total %llu\n"
		"# HELP confab_compaction_last_seconds Duration of the last "
		"compaction job's run.\n"
		"# TYPE confab_compaction_last_seconds gauge\n"
		"confab_compaction_last_seconds %.3f\n"
		"# HELP confab_index_bytes Memory of the seq index.\n"
		"# TYPE confab_index_bytes gauge\n"
		"confab_index_bytes %llu\n"
		"# HELP confab_dedup_keys Keys held by the idempotency "
		"window.\n"
		"# TYPE confab_dedup_keys gauge\n"
		"confab_dedup_keys %llu\n"
		"# HELP confab_dedup_bytes Memory of the idempotency window.\n"
		"# TYPE confab_dedup_bytes gauge\n"
		"confab_dedup_bytes %llu\n"
		"# HELP confab_push_sent_total Push notifications sent.\n"
		"# TYPE confab_push_sent_total counter\n"
		"confab_push_sent_total %llu\n"
		"# HELP confab_push_failed_total Push notifications failed.\n"
		"# TYPE confab_push_failed_total counter\n"
		"confab_push_failed_total %llu\n",
		(unsigned long long)fst.messages,
		(unsigned long long)fst.dedup_hits, s->n_ws,
		(unsigned long long)s->metrics.sync_requests,
		(unsigned long long)(n->raft.commit_index >
						     raft_last_applied(&n->raft)
					     ? n->raft.commit_index -
						       raft_last_applied(&n->raft)
					     : 0),
		role, (unsigned long long)fst.entries,
		(unsigned long long)fst.commands,
		(unsigned long long)n->stats.nudges,
		(unsigned long long)lst.segments,
		(unsigned long long)cst.files,
		(unsigned long long)lst.bytes,
		(unsigned long long)cst.bytes,
		(unsigned long long)lst.records,
		(unsigned long long)cst.records,
		(unsigned long long)cst.erased,
		(unsigned long long)cst.block_reads,
		(unsigned long long)cst.jobs, (unsigned long long)k->runs,
		(unsigned long long)k->failures,
		(unsigned long long)k->bytes_read,
		(unsigned long long)k->bytes_written,
		(unsigned long long)k->records_erased,
		(double)k->last_ms / 1000.0,
		(unsigned long long)lst.index_bytes,
		(unsigned long long)fst.dedup_keys,
		(unsigned long long)fst.dedup_bytes,
		(unsigned long long)(s->push_on ? s->push.sent : 0),
		(unsigned long long)(s->push_on ? s->push.failed : 0));
	if (rv == 0)
		rv = cf_buf_appendf(
			&b,
			"# HELP confab_state_image_index Applied index of the "
			"state image the store's manifest names (0: none).\n"
			"# TYPE confab_state_image_index gauge\n"
			"confab_state_image_index %llu\n"
			"# HELP confab_state_images_total State images written.\n"
			"# TYPE confab_state_images_total counter\n"
			"confab_state_images_total %llu\n"
			"# HELP confab_state_image_failures_total State image "
			"writers that failed.\n"
			"# TYPE confab_state_image_failures_total counter\n"
			"confab_state_image_failures_total %llu\n",
			(unsigned long long)fst.image_index,
			(unsigned long long)fst.images,
			(unsigned long long)fst.image_fails);
	if (rv == 0)
		rv = cf_buf_appendf(
			&b,
			"# HELP confab_store_open_files Descriptors the segment "
			"store holds (folders, live hot segments, file "
			"cache).\n"
			"# TYPE confab_store_open_files gauge\n"
			"confab_store_open_files %llu\n"
			"# HELP confab_store_cached_files Sealed and cold files "
			"open in the store's bounded file cache.\n"
			"# TYPE confab_store_cached_files gauge\n"
			"confab_store_cached_files %llu\n",
			(unsigned long long)lst.open_files,
			(unsigned long long)lst.cached_files);
	if (rv == 0)
		rv = ops_metrics_disk(n, &b);
	if (rv == 0)
		rv = cf_buf_appendf(&b, "%sconfab_starting 0\n%sconfab_rebuilding 0\n",
				    FE_OPS_STARTING_HELP,
				    FE_OPS_REBUILDING_HELP);
	if (rv == 0)
		rv = fe_hist_render(&s->metrics.send_ack,
				    "confab_send_ack_seconds",
				    "Send request received to ack sent.", &b);
	if (rv == 0)
		rv = fe_hist_render(&s->metrics.delivery,
				    "confab_delivery_seconds",
				    "Leader's serverTs of a message to the write "
				    "of its event on a socket of this node.",
				    &b);
	if (rv == 0)
		rv = fe_conn_metrics_render(&s->metrics.conns, s->n_conns, &b);
	if (rv == 0)
		rv = fe_metrics_render_loop_lag(s->metrics.loop_lag, &b);
	if (rv == 0)
		rv = fe_metrics_render_process(&b);
	if (rv == 0)
		rv = fe_fanout_metrics_render(&s->fanout, &b);
	if (rv == 0)
		rv = fe_api_search_metrics(s, &b);
	if (rv == 0)
		rv = cf_buf_appendf(
			&b,
			"# HELP confab_presence_frames_total Presence change "
			"frames written to subscribed sockets.\n"
			"# TYPE confab_presence_frames_total counter\n"
			"confab_presence_frames_total %llu\n",
			(unsigned long long)s->presence.subs.frames);
	if (rv != 0) {
		cf_buf_release(&b);
		fe_respond_rc(c, -ENOMEM, NULL);
		return;
	}
	fe_conn_respond(c, 200, "text/plain; version=0.0.4", b.data, b.len,
			NULL);
	cf_buf_release(&b);
}

/*
 * /metrics while the node opens its store or rebuilds its state after a
 * segment fetch (issue 11): only what the loop owns (connections, loop
 * lag), resident memory, and confab_starting or
 * confab_rebuilding 1.
 */
static void ops_metrics_starting(struct fe_conn *c)
{
	struct fe_server *s = c->srv;
	bool starting = s->starting;
	struct cf_buf b = CF_BUF_INIT;
	int rv;

	rv = cf_buf_appendf(&b, "%sconfab_starting %d\n%sconfab_rebuilding %d\n",
			    FE_OPS_STARTING_HELP, starting ? 1 : 0,
			    FE_OPS_REBUILDING_HELP, starting ? 0 : 1);
	if (rv == 0)
		rv = fe_conn_metrics_render(&s->metrics.conns, s->n_conns, &b);
	if (rv == 0)
		rv = fe_metrics_render_loop_lag(s->metrics.loop_lag, &b);
	if (rv == 0)
		rv = fe_metrics_render_process(&b);
	if (rv != 0) {
		cf_buf_release(&b);
		fe_respond_rc(c, -ENOMEM, NULL);
		return;
	}
	fe_conn_respond(c, 200, "text/plain; version=0.0.4", b.data, b.len,
			NULL);
	cf_buf_release(&b);
}

/* /readyz's 503: {"ready": false, "reason": why, "error": {...}}. */
static void ops_not_ready(struct fe_conn *c, const char *why)
{
	fe_respond_json(c, 503,
			json_pack("{s:b, s:s, s:{s:s, s:s}}", "ready", 0,
				  "reason", why, "error", "code",
				  "unavailable", "message", why));
}

bool fe_ops_http(struct fe_conn *c, const struct fe_http_req *req)
{
	struct cf_str p = req->path;
	const char *why = NULL;

	if (c->srv->starting) {
		/* The node is not open: nothing below may touch it. */
		if (cf_str_eqc(p, "/healthz"))
			fe_respond_json(c, 200, json_pack("{s:s}", "status",
							  "starting"));
		else if (cf_str_eqc(p, "/readyz"))
			ops_not_ready(c, "starting");
		else if (cf_str_eqc(p, "/metrics"))
			ops_metrics_starting(c);
		else
			return fe_static_http(c, req);
		return true;
	}
	if (rft_node_rebuilding(c->srv->node)) {
		/*
		 * The worker rebuilds the state after a segment fetch: the FSM
		 * and the indexes are its own (fe_server.h); /v1/cluster reads
		 * only raft and the peers.
		 */
		if (cf_str_eqc(p, "/healthz"))
			fe_respond_json(c, 200, json_pack("{s:s}", "status",
							  "rebuilding"));
		else if (cf_str_eqc(p, "/readyz"))
			ops_not_ready(c, rft_node_is_ready(c->srv->node, &why)
						 ? "rebuilding"
						 : why);
		else if (cf_str_eqc(p, "/metrics"))
			ops_metrics_starting(c);
		else if (cf_str_eqc(p, "/v1/cluster"))
			ops_cluster(c);
		else
			return fe_static_http(c, req);
		return true;
	}
	if (cf_str_eqc(p, "/healthz")) {
		fe_respond_json(c, 200, json_pack("{s:s}", "status", "ok"));
	} else if (cf_str_eqc(p, "/readyz")) {
		if (rft_node_is_ready(c->srv->node, &why))
			fe_respond_json(c, 200,
					json_pack("{s:s}", "status", "ready"));
		else
			ops_not_ready(c, why);
	} else if (cf_str_eqc(p, "/metrics")) {
		ops_metrics(c);
	} else if (cf_str_eqc(p, "/v1/cluster")) {
		ops_cluster(c);
	} else {
		return fe_static_http(c, req);
	}
	return true;
}
