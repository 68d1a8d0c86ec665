#include "config.h"

/*
 * fuzz_record: the segment log's decoders under arbitrary bytes.
 * log_record_decode() is run over the input as a recovery scan would (record
 * after record until the first invalid one); every record it accepts must
 * re-encode to exactly the bytes it was decoded from (the encoding is
 * canonical), and its strings must lie inside the input. The input is also
 * given to log_manifest_decode(), whose accepted manifests must re-encode to
 * the input as well (a manifest of an older version: to one that decodes to
 * the same contents).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cf_err.h"
#include "log/log_manifest.h"
#include "log/log_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(struct cf_str s, const uint8_t *lo, const uint8_t *hi)
{
	if (s.len > 0 && ((const uint8_t *)s.p < lo ||
			  (const uint8_t *)s.p + s.len > hi))
		abort();
}

static void check_records(const uint8_t *data, size_t size)
{
	struct cf_buf again = CF_BUF_INIT;
	size_t off = 0;

	while (off < size) {
		struct log_record rec;
		size_t used;

		if (log_record_decode(data + off, size - off, &rec, &used) != 0)
			break;
		if (used == 0 || used > size - off ||
		    used != log_record_size(&rec))
			abort();
		check_str(rec.conv, data + off, data + off + used);
		check_str(rec.sender, data + off, data + off + used);
		check_str(rec.client_msg_id, data + off, data + off + used);
		check_str(rec.msg_type, data + off, data + off + used);
		check_str(rec.body, data + off, data + off + used);
		again.len = 0;
		if (log_record_encode(&rec, &again) != 0 || again.len != used ||
		    memcmp(again.data, data + off, used) != 0)
			abort();
		off += used;
	}
	cf_buf_release(&again);
}

static void check_manifest(const uint8_t *data, size_t size)
{
	struct log_manifest m, m2;
	struct cf_buf again = CF_BUF_INIT;
	char errmsg[CF_ERRMSG_SIZE];

	log_manifest_init(&m);
	log_manifest_init(&m2);
	if (log_manifest_decode(data, size, &m, errmsg) == 0) {
		if (log_manifest_encode(&m, &again) != 0)
			abort();
		/* The current version re-encodes byte for byte... */
		if (data[8] == 4 &&
		    (again.len != size || memcmp(again.data, data, size) != 0))
			abort();
		/* ...and an older one to a manifest that says the same. */
		if (log_manifest_decode(again.data, again.len, &m2, errmsg) !=
			    0 ||
		    m2.partitions != m.partitions ||
		    m2.applied_index != m.applied_index ||
		    m2.image_index != m.image_index ||
		    m2.seal_bytes != m.seal_bytes ||
		    m2.seal_age_ms != m.seal_age_ms || m2.nsegs != m.nsegs ||
		    m2.ncolds != m.ncolds || m2.njobs != m.njobs ||
		    m2.nerase != m.nerase || m2.erase_len != m.erase_len ||
		    (m.erase_len > 0 &&
		     memcmp(m2.erase, m.erase, m.erase_len) != 0))
			abort();
		for (size_t i = 0; i < m.ncolds; i++)
			if (memcmp(&m2.colds[i], &m.colds[i],
				   sizeof(m.colds[i])) != 0)
				abort();
		for (size_t i = 0; i < m.njobs; i++)
			if (m2.jobs[i].coldno != m.jobs[i].coldno ||
			    m2.jobs[i].input_coldno != m.jobs[i].input_coldno ||
			    m2.jobs[i].recalls_len != m.jobs[i].recalls_len ||
			    memcmp(m2.jobs[i].recalls, m.jobs[i].recalls,
				   m.jobs[i].recalls_len) != 0)
				abort();
		for (size_t i = 0; i < m.nsegs; i++)
			if (m2.segs[i].partition != m.segs[i].partition ||
			    m2.segs[i].segno != m.segs[i].segno ||
			    m2.segs[i].length != m.segs[i].length ||
			    m2.segs[i].sealed != m.segs[i].sealed)
				abort();
	}
	log_manifest_release(&m);
	log_manifest_release(&m2);
	cf_buf_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_records(data, size);
	check_manifest(data, size);
	return 0;
}
