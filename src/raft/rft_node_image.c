#include "config.h"

/*
 * rft_node_image: when the node writes a state image (log/log_image.h,
 * raft/rft_image.c). The rule, checked every tick: no image is being
 * written, the node is not closing, at least image_records records were
 * applied (or read after the last image while opening) since the last one
 * began, and the last one ended at least IMAGE_GAP_MS ago. A start-up that
 * read more than image_records records therefore writes one at once.
 */

#include "raft/rft_node_int.h"

#include "common/cf_diag.h"

#define IMAGE_GAP_MS 30000

void rft__node_image_tick(struct rft_node *n)
{
	if (n->fsm == NULL || rft_fsm_image_poll(n->fsm) || n->closing)
		return;
	if (n->cfg.image_records == 0 ||
	    rft_fsm_image_pending(n->fsm) < n->cfg.image_records ||
	    rft_fsm_image_idle_ms(n->fsm) < IMAGE_GAP_MS)
		return;
	(void)rft_fsm_image_start(n->fsm); /* logs a failed fork */
}
