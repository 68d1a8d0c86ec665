#include "config.h"

/* Fetch messages decoded and checked over bytes (rft_fetch_msg.h). */

#include "raft/rft_fetch_msg.h"

#include <errno.h>

#include <xxhash.h>

#include "common/cf_buf.h"
#include "common/cf_err.h"
#include "log/log_record.h"
#include "raft/rft_fetch.h"

int rft_fetch_req_decode(const void *body, size_t n, struct rft_fetch_req *q)
{
	struct cf_rd r;

	if (n != RFT_FETCH_REQ_SIZE)
		return CF_EBADREQ;
	cf_rd_init(&r, body, n);
	q->partition = cf_rd_u32(&r);
	q->segno = cf_rd_u32(&r);
	q->off = cf_rd_u64(&r);
	q->len = cf_rd_u64(&r);
	return r.err != 0 ? CF_EBADREQ : 0;
}

int rft_fetch_req_check(const struct log_manifest *m, uint8_t type,
			const struct rft_fetch_req *q)
{
	const struct log_manifest_seg *ms;
	const struct log_manifest_cold *mc;
	uint64_t length;

	if (q->partition >= m->partitions)
		return CF_EBADREQ;
	if (type == RFT_FETCH_MSG_CRANGE) {
		mc = log_manifest_find_cold(m, q->partition, q->segno);
		if (mc == NULL)
			return CF_ENOTFOUND;
		length = mc->size;
	} else {
		ms = log_manifest_find(m, q->partition, q->segno);
		if (ms == NULL)
			return CF_ENOTFOUND;
		length = ms->length;
	}
	if (q->off > length || q->len > length - q->off)
		return CF_EBADREQ; /* past the checkpointed length */
	if (type != RFT_FETCH_MSG_SUM &&
	    (q->len == 0 || q->len > RFT_FETCH_CHUNK_MAX))
		return CF_EBADREQ;
	return 0;
}

/* Does a cold file of m replace segment segno of partition? */
static bool remote_covers(const struct log_manifest *m, uint32_t partition,
			  uint32_t segno)
{
	for (size_t i = 0; i < m->ncolds; i++)
		if (m->colds[i].partition == partition &&
		    m->colds[i].first_segno <= segno &&
		    segno <= m->colds[i].last_segno)
			return true;
	return false;
}

int rft_fetch_manifest_check(const struct log_manifest *local,
			     const struct log_manifest *remote,
			     uint64_t min_applied, char *errmsg)
{
	uint64_t need = min_applied;

	if (local->partitions != 0 &&
	    local->partitions != remote->partitions) {
		cf_errmsg_printf(errmsg, "peer has %u partitions, we %u",
				 (unsigned)remote->partitions,
				 (unsigned)local->partitions);
		return CF_EBADREQ;
	}
	if (need < local->applied_index)
		need = local->applied_index;
	if (remote->applied_index < need) {
		cf_errmsg_printf(errmsg, "peer checkpoint %llu below %llu",
				 (unsigned long long)remote->applied_index,
				 (unsigned long long)need);
		return -EAGAIN;
	}
	for (size_t i = 0; i < local->nsegs; i++) {
		const struct log_manifest_seg *ls = &local->segs[i];
		const struct log_manifest_seg *rs =
			log_manifest_find(remote, ls->partition, ls->segno);
		if (rs == NULL &&
		    remote_covers(remote, ls->partition, ls->segno))
			continue; /* compacted by the peer */
		if (rs == NULL) {
			cf_errmsg_printf(errmsg,
					 "peer has no segment %u of p%04u",
					 (unsigned)ls->segno,
					 (unsigned)ls->partition);
			return CF_ENOTFOUND;
		}
		if (ls->length > rs->length) {
			cf_errmsg_printf(errmsg,
					 "segment %u of p%04u: local %llu "
					 "bytes, peer %llu",
					 (unsigned)ls->segno,
					 (unsigned)ls->partition,
					 (unsigned long long)ls->length,
					 (unsigned long long)rs->length);
			return CF_ECORRUPT;
		}
	}
	for (size_t i = 0; i < local->ncolds; i++) {
		const struct log_manifest_cold *lc = &local->colds[i];
		const struct log_manifest_cold *rc = log_manifest_find_cold(
			remote, lc->partition, lc->coldno);

		if ((rc == NULL || rc->ident != lc->ident) &&
		    !remote_covers(remote, lc->partition, lc->first_segno)) {
			cf_errmsg_printf(errmsg,
					 "peer has nothing for cold file %u "
					 "of p%04u",
					 (unsigned)lc->coldno,
					 (unsigned)lc->partition);
			return CF_ENOTFOUND;
		}
	}
	return 0;
}

int rft_fetch_records_scan(const void *p, size_t n, uint32_t parts,
			   uint32_t partition, size_t *whole)
{
	struct log_record rec;
	size_t at = 0;
	int rv;

	while (n - at >= 4) {
		const char *q = (const char *)p + at;
		uint32_t total = cf_get_u32(q);
		size_t used;

		if (total > LOG_RECORD_MAX)
			goto bad;
		if (n - at < total)
			break;
		rv = log_record_decode(q, total, &rec, &used);
		if (rv != 0 || used != total ||
		    XXH3_64bits(rec.conv.p, rec.conv.len) % parts != partition)
			goto bad;
		at += total;
	}
	*whole = at;
	return 0;

bad:
	*whole = at;
	return CF_ECORRUPT;
}
