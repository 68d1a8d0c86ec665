#include "config.h"

/*
 * rft_node_image: when the node writes a state image (log/log_image.h,
 * raft/rft_image.c). The rule, checked every tick: no image is being
 * written, the node is not closing, at least image_records records were
 * applied (or read after the last image while opening) since the last one
 * began, and the last one ended at least image_gap_ms ago. A start-up that
 * read more than image_records records therefore writes one at once.
 * None is written while the disk is below the watermark (or the node
 * halted): what space is left belongs to the log.
 * A compaction switched since the last image also calls for one (after
 * the same gap, if any record came since): an image no longer fits the
 * store once its cold files changed (log_image.c), and a restart until
 * the next one would read every record.
 */

#include "raft/rft_node_int.h"

#include "common/cf_diag.h"


void rft__node_image_tick(struct rft_node *n)
{
	struct log_store *store;
	uint64_t pending, compactions;
	bool switched;

	/* Every tick: the cheap checks first, no walk over the store. */
	if (n->fsm == NULL || rft_fsm_image_poll(n->fsm) || n->closing ||
	    n->cfg.image_records == 0)
		return;
	store = rft_fsm_store(n->fsm);
	if (store == NULL || rft_fsm_image_idle_ms(n->fsm) < n->cfg.image_gap_ms)
		return;
	/* Below the free-space watermark, the disk is for the log. */
	if (n->halt_err != 0 || rft_disk_low(&n->disk))
		return;
	pending = rft_fsm_image_pending(n->fsm);
	compactions = log_store_compactions(store);
	switched = compactions != n->image_switches && pending > 0;
	if (pending < n->cfg.image_records && !switched)
		return;
	if (rft_fsm_image_start(n->fsm) == 0) /* logs a failed fork */
		n->image_switches = compactions;
}
