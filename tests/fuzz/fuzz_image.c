#include "config.h"

/*
 * fuzz_image: the readers of the state image's sections under arbitrary
 * bytes, past the checksum (which a damaged file fails first: a reader
 * meets bad bytes only if a writer or a version went wrong, and must then
 * refuse, not crash or loop). The first byte picks the reader, the rest is
 * its section:
 *   0  the seq index (log_index_image_read) into an empty index
 *   1  the FSM's sections (conversations, media, the idempotency window:
 *      rft__image_read) into an FSM whose state was just reset
 *   2  the inbox index (sync_inbox_image_read) into an empty inbox
 * A reader that succeeds must have produced something its owner can use
 * and free; one that fails must leave nothing behind (a sanitizer build
 * catches leaks and bad reads). The corpus holds real sections cut from
 * an image a test cluster wrote.
 */

#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cf_img.h"
#include "log/log_index.h"
#include "raft/rft_fsm_int.h"
#include "sync/sync_inbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rft_fsm *fsm;
static char dir[] = "/tmp/fuzz_image.XXXXXX";

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

/* At exit: close the FSM and remove its folder (one per process). */
static void fsm_drop(void)
{
	rft_fsm_close(fsm);
	fsm = NULL;
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct rft_fsm *fsm_get(void)
{
	struct rft_fsm_config c;
	char path[64], errmsg[CF_ERRMSG_SIZE];

	if (fsm != NULL)
		return fsm;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/store", dir);
	memset(&c, 0, sizeof c);
	c.store.dir = path;
	c.store.partitions = 2;
	if (rft_fsm_open(&fsm, &c, errmsg) != 0)
		abort();
	atexit(fsm_drop);
	return fsm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cf_img_map m;
	struct cf_imgr r;

	if (size < 1)
		return 0;
	m.p = data + 1;
	m.len = size - 1;
	m.maplen = 0;
	cf_imgr_init(&r, &m);
	switch (data[0]) {
	case 0: {
		struct log_index ix;

		log_index_init(&ix);
		if (log_index_image_read(&ix, &r) == 0) {
			uint32_t segno, off;

			(void)log_index_find(&ix, CF_STR_LIT("img-g"), 1,
					     &segno, &off);
		} else if (ix.convs.n != 0) {
			abort(); /* a failed read leaves it empty */
		}
		log_index_release(&ix);
		break;
	}
	case 1: {
		struct rft_fsm *f = fsm_get();

		rft__image_reset(f);
		(void)rft__image_read(f, &r);
		rft__image_reset(f);
		break;
	}
	case 2: {
		struct sync_inbox *ix;

		if (sync_inbox_new(&ix) != 0)
			abort();
		(void)sync_inbox_image_read(ix, &r);
		sync_inbox_free(ix);
		break;
	}
	default:
		break;
	}
	return 0;
}
