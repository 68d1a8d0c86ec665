#include "config.h"
/*
 * sync_search_db: see sync_search_db.h.
 */
#include "sync/sync_search_db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <xxhash.h>

#include "common/cf_diag.h"
#include "common/cf_err.h"
#include "raft/rft_cmd.h"
#include "raft/rft_rec.h"
#include "sync/sync_search_norm.h"

enum {
	ST_POS_GET,
	ST_POS_SET,
	ST_INSERT,  /* t(rowid, body, conv, seq) */
	ST_DELETE,  /* t rowid */
	ST_LOC_SET,
	ST_LOC_GET,
	ST_LOC_DEL,
	ST_MEN_ADD,
	ST_MEN_DEL, /* by mid */
	ST_COUNT
};

static const char *const writer_sql[ST_COUNT] = {
	"SELECT v FROM meta WHERE k = 'position'",
	"INSERT OR REPLACE INTO meta(k, v) VALUES ('position', ?1)",
	"INSERT OR REPLACE INTO t(rowid, body, conv, seq) "
	"VALUES (?1, ?2, ?3, ?4)",
	"DELETE FROM t WHERE rowid = ?1",
	"INSERT OR REPLACE INTO loc(conv, seq, mid) VALUES (?1, ?2, ?3)",
	"SELECT mid FROM loc WHERE conv = ?1 AND seq = ?2",
	"DELETE FROM loc WHERE conv = ?1 AND seq = ?2",
	"INSERT OR REPLACE INTO mentions(user, mid, conv, seq) "
	"VALUES (?1, ?2, ?3, ?4)",
	"DELETE FROM mentions WHERE mid = ?1",
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);"
	"CREATE VIRTUAL TABLE IF NOT EXISTS t USING fts5(body, "
	"conv UNINDEXED, seq UNINDEXED, "
	"tokenize = 'unicode61 remove_diacritics 0', columnsize = 0);"
	"CREATE TABLE IF NOT EXISTS loc(conv TEXT, seq INTEGER, mid INTEGER, "
	"PRIMARY KEY (conv, seq)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS mentions(user TEXT, mid INTEGER, "
	"conv TEXT, seq INTEGER, PRIMARY KEY (user, mid)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS mentions_mid ON mentions(mid);";

struct sync_search_db {
	sqlite3 *h;
	bool readonly;
	sqlite3_stmt *st[ST_COUNT];
	sqlite3_stmt *q_text; /* cached query statements (readers) */
	sqlite3_stmt *q_text_conv;
	sqlite3_stmt *q_men;
};

static int db_err(struct sync_search_db *db, const char *what, int rc)
{
	int ext = db->h != NULL ? sqlite3_extended_errcode(db->h) : rc;

	cf_warn("search index: %s: %s", what,
		db->h != NULL ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
	if (rc == SQLITE_NOMEM)
		return -ENOMEM;
	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ||
	    (ext & 0xff) == SQLITE_CORRUPT)
		return CF_ECORRUPT;
	return CF_EIO;
}

static int exec(struct sync_search_db *db, const char *sql)
{
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_err(db, sql, rc);
}

/* A single integer answer of sql into *v (0 when there is no row). */
static int scalar(struct sync_search_db *db, const char *sql, int64_t *v,
		  const unsigned char **text)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &s, NULL);

	*v = 0;
	if (rc != SQLITE_OK)
		return db_err(db, sql, rc);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(s, 0);
		if (text != NULL) {
			const unsigned char *t = sqlite3_column_text(s, 0);
			*text = t != NULL && strcmp((const char *)t, "ok") == 0
					? (const unsigned char *)"ok"
					: (const unsigned char *)"bad";
		}
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_err(db, sql, rc);
}

static int check(struct sync_search_db *db, char *errmsg)
{
	const unsigned char *ok = NULL;
	int64_t v;
	int rv;

	rv = scalar(db, "PRAGMA quick_check", &v, &ok);
	if (rv == 0 && ok != NULL && strcmp((const char *)ok, "ok") != 0)
		rv = CF_ECORRUPT;
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "quick_check failed");
		return rv == CF_EIO ? CF_ECORRUPT : rv;
	}
	rv = scalar(db, "SELECT v FROM meta WHERE k = 'version'", &v, NULL);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "no version");
		return CF_ECORRUPT;
	}
	if (v != SYNC_SEARCH_DB_VERSION) {
		cf_errmsg_printf(errmsg, "version %lld, not %d", (long long)v,
				 SYNC_SEARCH_DB_VERSION);
		return CF_ECORRUPT;
	}
	/* The FTS5 structure record is read by any query: try one. */
	rv = scalar(db, "SELECT count(*) FROM t WHERE t MATCH 'x'", &v, NULL);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "full-text table unreadable");
		return CF_ECORRUPT;
	}
	return 0;
}

int sync_search_db_open(const char *path, bool readonly,
			struct sync_search_db **out, char *errmsg)
{
	struct sync_search_db *db = calloc(1, sizeof(*db));
	char pragmas[256];
	int flags = SQLITE_OPEN_NOMUTEX |
		    (readonly ? SQLITE_OPEN_READONLY
			      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	int rc, rv;

	*out = NULL;
	if (db == NULL)
		return -ENOMEM;
	db->readonly = readonly;
	rc = sqlite3_open_v2(path, &db->h, flags, NULL);
	if (rc != SQLITE_OK) {
		cf_errmsg_printf(errmsg, "%s: %s", path,
				 db->h != NULL ? sqlite3_errmsg(db->h)
					       : sqlite3_errstr(rc));
		rv = rc == SQLITE_NOMEM ? -ENOMEM
		     : rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB
			     ? CF_ECORRUPT
			     : CF_EIO;
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 5000);
	snprintf(pragmas, sizeof pragmas,
		 "PRAGMA cache_size = -%d; PRAGMA secure_delete = ON;%s",
		 SYNC_SEARCH_CACHE_KIB,
		 readonly ? ""
			  : " PRAGMA journal_mode = WAL;"
			    " PRAGMA synchronous = NORMAL;");
	rv = exec(db, pragmas);
	if (rv != 0) {
		cf_errmsg_printf(errmsg, "%s: %s", path, sqlite3_errmsg(db->h));
		if (rv == CF_EIO)
			rv = CF_ECORRUPT; /* a file that is no database */
		goto fail;
	}
	if (!readonly) {
		rv = exec(db, schema);
		if (rv == 0)
			rv = exec(db, "INSERT OR IGNORE INTO meta(k, v) "
				      "VALUES ('version', 1)");
		if (rv != 0) {
			cf_errmsg_printf(errmsg, "%s: schema: %s", path,
					 sqlite3_errmsg(db->h));
			if (rv == CF_EIO)
				rv = CF_ECORRUPT;
			goto fail;
		}
		rv = check(db, errmsg);
		if (rv != 0) {
			cf_errmsg_wrapf(errmsg, "%s", path);
			goto fail;
		}
		for (int i = 0; i < ST_COUNT; i++) {
			rc = sqlite3_prepare_v3(db->h, writer_sql[i], -1,
						SQLITE_PREPARE_PERSISTENT,
						&db->st[i], NULL);
			if (rc != SQLITE_OK) {
				cf_errmsg_printf(errmsg, "%s: %s", path,
						 sqlite3_errmsg(db->h));
				rv = CF_ECORRUPT;
				goto fail;
			}
		}
	}
	*out = db;
	return 0;
fail:
	sync_search_db_close(db);
	return rv;
}

void sync_search_db_close(struct sync_search_db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_finalize(db->q_text);
	sqlite3_finalize(db->q_text_conv);
	sqlite3_finalize(db->q_men);
	sqlite3_close_v2(db->h);
	free(db);
}

int sync_search_db_begin(struct sync_search_db *db)
{
	return exec(db, "BEGIN IMMEDIATE");
}

int sync_search_db_commit(struct sync_search_db *db)
{
	return exec(db, "COMMIT");
}

void sync_search_db_rollback(struct sync_search_db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		(void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

/* Step a write statement to its end and reset it. */
static int run(struct sync_search_db *db, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW
		       ? 0
		       : db_err(db, sqlite3_sql(s), rc);
}

int sync_search_db_position(struct sync_search_db *db, uint64_t *pos)
{
	sqlite3_stmt *s = db->st[ST_POS_GET];
	int rc = sqlite3_step(s);

	*pos = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		       ? 0
		       : db_err(db, "position", rc);
}

int sync_search_db_set_position(struct sync_search_db *db, uint64_t pos)
{
	sqlite3_bind_int64(db->st[ST_POS_SET], 1, (sqlite3_int64)pos);
	return run(db, db->st[ST_POS_SET]);
}

static void bind_str(sqlite3_stmt *s, int i, struct cf_str v)
{
	sqlite3_bind_text(s, i, v.p, (int)v.len, SQLITE_STATIC);
}

/* The messageId of conv's seq in the index, 0 if none. */
static int loc_get(struct sync_search_db *db, const struct log_record *rec,
		   uint64_t *mid)
{
	sqlite3_stmt *s = db->st[ST_LOC_GET];
	int rc;

	bind_str(s, 1, rec->conv);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)rec->seq);
	rc = sqlite3_step(s);
	*mid = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
						     : db_err(db, "loc", rc);
}

/* The conversation's token (sync_search_db.h) appended to b. */
static int conv_token(struct cf_buf *b, const char *conv, size_t len)
{
	return cf_buf_appendf(b, "\xee\x80\x80%016llx",
			      (unsigned long long)XXH3_64bits(conv, len));
}

static int put_text(struct sync_search_db *db, const struct log_record *rec,
		    uint64_t mid, struct cf_buf *scratch)
{
	struct cf_str content, att;
	sqlite3_stmt *s = db->st[ST_INSERT];
	int rv;

	if (rft_rec_message_split(rec, &content, &att) != 0)
		return 0; /* undecodable: nothing to index */
	cf_buf_truncate(scratch, 0);
	rv = sync_search_norm_text(content.p, content.len, scratch);
	if (rv == 0)
		rv = cf_buf_appendf(scratch, " ");
	if (rv == 0)
		rv = conv_token(scratch, rec->conv.p, rec->conv.len);
	if (rv != 0)
		return rv;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)mid);
	sqlite3_bind_text(s, 2, scratch->data != NULL ? scratch->data : "",
			  (int)scratch->len, SQLITE_STATIC);
	bind_str(s, 3, rec->conv);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)rec->seq);
	return run(db, s);
}

static int put_mentions(struct sync_search_db *db,
			const struct log_record *rec, uint64_t mid)
{
	struct rft_rec_meta meta;
	struct cf_str id;
	size_t pos = 0;
	sqlite3_stmt *s = db->st[ST_MEN_ADD];
	int rv;

	if (rft_rec_message_meta(rec, &meta) != 0)
		return 0;
	while (rft_idlist_next(meta.mentions, &pos, &id)) {
		bind_str(s, 1, id);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)mid);
		bind_str(s, 3, rec->conv);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)rec->seq);
		rv = run(db, s);
		if (rv != 0)
			return rv;
	}
	return 0;
}

static int drop_mid(struct sync_search_db *db, uint64_t mid)
{
	int rv;

	sqlite3_bind_int64(db->st[ST_DELETE], 1, (sqlite3_int64)mid);
	rv = run(db, db->st[ST_DELETE]);
	if (rv == 0) {
		sqlite3_bind_int64(db->st[ST_MEN_DEL], 1, (sqlite3_int64)mid);
		rv = run(db, db->st[ST_MEN_DEL]);
	}
	return rv;
}

int sync_search_db_apply(struct sync_search_db *db,
			 const struct log_record *rec, struct cf_buf *scratch,
			 bool *deleted)
{
	uint64_t mid = 0;
	int rv;

	if (deleted != NULL)
		*deleted = false;
	switch (rec->kind) {
	case LOG_REC_MESSAGE:
		if (rec->flags & LOG_REC_MSG_RECALLED)
			return 0; /* erased by compaction: recalled */
		rv = put_text(db, rec, rec->message_id, scratch);
		if (rv == 0) {
			sqlite3_stmt *s = db->st[ST_LOC_SET];

			bind_str(s, 1, rec->conv);
			sqlite3_bind_int64(s, 2, (sqlite3_int64)rec->seq);
			sqlite3_bind_int64(s, 3,
					   (sqlite3_int64)rec->message_id);
			rv = run(db, s);
		}
		if (rv == 0)
			rv = put_mentions(db, rec, rec->message_id);
		return rv;
	case LOG_REC_RECALL:
		rv = loc_get(db, rec, &mid);
		if (rv != 0 || mid == 0)
			return rv;
		rv = drop_mid(db, mid);
		if (rv == 0) {
			bind_str(db->st[ST_LOC_DEL], 1, rec->conv);
			sqlite3_bind_int64(db->st[ST_LOC_DEL], 2,
					   (sqlite3_int64)rec->seq);
			rv = run(db, db->st[ST_LOC_DEL]);
		}
		if (rv == 0 && deleted != NULL)
			*deleted = true;
		return rv;
	case LOG_REC_EDIT:
		/* An edit whose text compaction erased (the message record
		 * then holds the latest version) changes nothing. */
		if ((rec->flags & LOG_REC_MSG_RECALLED) || rec->body.len == 0)
			return 0;
		rv = loc_get(db, rec, &mid);
		if (rv != 0 || mid == 0)
			return rv; /* recalled, or never indexed */
		rv = drop_mid(db, mid);
		if (rv == 0)
			rv = put_text(db, rec, mid, scratch);
		if (rv == 0)
			rv = put_mentions(db, rec, mid);
		if (rv == 0 && deleted != NULL)
			*deleted = true;
		return rv;
	default:
		return 0;
	}
}

int sync_search_db_wipe(struct sync_search_db *db)
{
	int rv = exec(db, "DELETE FROM t; DELETE FROM loc; "
			  "DELETE FROM mentions;");

	if (rv == 0)
		rv = sync_search_db_set_position(db, 0);
	return rv;
}

int sync_search_db_optimize(struct sync_search_db *db)
{
	int64_t busy = 0;
	int rv = exec(db, "INSERT INTO t(t) VALUES ('optimize')");

	/* Its first column is 1 when readers kept it from finishing. */
	if (rv == 0)
		rv = scalar(db, "PRAGMA wal_checkpoint(TRUNCATE)", &busy, NULL);
	return rv == 0 && busy != 0 ? -EAGAIN : rv;
}

static int win_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct sync_search_window *)e)->conv);
}

bool sync_search_visible(const struct sync_search_window *w, size_t n,
			 const char *conv, uint64_t mid)
{
	const struct sync_search_window *e =
		n > 0 ? bsearch(conv, w, n, sizeof(*w), win_cmp) : NULL;

	return e != NULL && mid > e->joined && (e->left == 0 || mid < e->left);
}

static int prep(struct sync_search_db *db, sqlite3_stmt **s, const char *sql)
{
	int rc;

	if (*s != NULL) {
		sqlite3_reset(*s);
		sqlite3_clear_bindings(*s);
		return 0;
	}
	rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, s,
				NULL);
	return rc == SQLITE_OK ? 0 : db_err(db, sql, rc);
}

int sync_search_db_query(struct sync_search_db *db,
			 struct sync_search_query *q)
{
	sqlite3_stmt *s;
	uint64_t before = q->before != 0 ? q->before : (uint64_t)INT64_MAX;
	int rv, rc;

	struct cf_buf m = CF_BUF_INIT;
	const char *match = q->match;

	q->n_hits = 0;
	q->more = false;
	q->next = 0;
	q->scanned = 0;
	if (q->n_windows == 0)
		return 0;
	if (match != NULL &&
	    (q->conv != NULL || q->n_windows <= SYNC_SEARCH_CONV_TOKENS)) {
		rv = cf_buf_appendf(&m, "(%s) AND (", match);
		for (size_t i = 0; rv == 0 && i < q->n_windows; i++) {
			const char *c = q->conv != NULL ? q->conv
							: q->windows[i].conv;

			rv = cf_buf_appendf(&m, "%s\"", i > 0 ? " OR " : "");
			if (rv == 0)
				rv = conv_token(&m, c, strlen(c));
			if (rv == 0)
				rv = cf_buf_appendf(&m, "\"");
			if (q->conv != NULL)
				break;
		}
		if (rv == 0)
			rv = cf_buf_appendf(&m, ")");
		if (rv != 0) {
			cf_buf_release(&m);
			return rv;
		}
		match = m.data;
	}
	if (match != NULL && q->conv == NULL) {
		rv = prep(db, &db->q_text,
			  "SELECT rowid, conv, seq FROM t WHERE t MATCH ?1 "
			  "AND rowid < ?2 ORDER BY rowid DESC");
		s = db->q_text;
	} else if (q->match != NULL) {
		rv = prep(db, &db->q_text_conv,
			  "SELECT rowid, conv, seq FROM t WHERE t MATCH ?1 "
			  "AND rowid < ?2 AND conv = ?3 ORDER BY rowid DESC");
		s = db->q_text_conv;
	} else {
		rv = prep(db, &db->q_men,
			  "SELECT mid, conv, seq FROM mentions WHERE "
			  "user = ?1 AND mid < ?2 ORDER BY mid DESC");
		s = db->q_men;
	}
	if (rv != 0) {
		cf_buf_release(&m);
		return rv;
	}
	sqlite3_bind_text(s, 1, match != NULL ? match : q->user, -1,
			  SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)before);
	if (q->match != NULL && q->conv != NULL)
		sqlite3_bind_text(s, 3, q->conv, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint64_t mid = (uint64_t)sqlite3_column_int64(s, 0);
		const char *conv = (const char *)sqlite3_column_text(s, 1);
		struct sync_search_hit *h;

		if (q->scanned >= q->budget) {
			q->more = true; /* continue below the last scanned */
			break;
		}
		q->scanned++;
		q->next = mid;
		if (conv == NULL || strlen(conv) >= sizeof h->conv ||
		    (q->conv != NULL && strcmp(conv, q->conv) != 0) ||
		    !sync_search_visible(q->windows, q->n_windows, conv, mid))
			continue;
		if (q->n_hits == q->limit) {
			q->more = true;
			q->next = q->hits[q->n_hits - 1].mid;
			break;
		}
		h = &q->hits[q->n_hits++];
		h->mid = mid;
		h->seq = (uint64_t)sqlite3_column_int64(s, 2);
		strcpy(h->conv, conv);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rv = db_err(db, "query", rc);
		/* A malformed MATCH expression is the query's fault. */
		if (rc == SQLITE_ERROR)
			rv = CF_EBADREQ;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	cf_buf_release(&m);
	return rv;
}
