#include "config.h"
/*
 * test_sync_search_norm: the normalisation in front of the search index
 * (tokens of indexed text, FTS5 expressions of queries), and matching
 * through a real FTS5 table: CJK without spaces, kana, Korean, accents,
 * case, German sharp s, fullwidth forms, word prefixes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/cf_err.h"
#include "sync/sync_search_norm.h"

static void text_is(const char *in, const char *want)
{
	struct cf_buf b = CF_BUF_INIT;

	assert_int_equal(sync_search_norm_text(in, strlen(in), &b), 0);
	if (strcmp(b.data != NULL ? b.data : "", want) != 0)
		fail_msg("norm(\"%s\") = \"%s\", want \"%s\"", in,
			 b.data != NULL ? b.data : "", want);
	cf_buf_release(&b);
}

static void query_is(const char *in, const char *want)
{
	struct cf_buf b = CF_BUF_INIT;

	assert_int_equal(sync_search_norm_query(in, strlen(in), &b, NULL), 0);
	if (strcmp(b.data, want) != 0)
		fail_msg("query(\"%s\") = \"%s\", want \"%s\"", in, b.data,
			 want);
	cf_buf_release(&b);
}

/*
 * Issue 14: ASCII text skips libunistring (fold's fast path). Its tokens
 * must be those of the full path, which a non-ASCII word after it forces:
 * norm(s + " \xc3\xa9") is norm(s) + " e", for every byte 0..127 alone and
 * in random strings of them.
 */
static void ascii_agrees(const char *s, size_t len)
{
	struct cf_buf fast = CF_BUF_INIT, full = CF_BUF_INIT;
	char in[300];

	assert_true(len + 3 <= sizeof in);
	memcpy(in, s, len);
	memcpy(in + len, " \xc3\xa9", 3);
	assert_int_equal(sync_search_norm_text(s, len, &fast), 0);
	assert_int_equal(sync_search_norm_text(in, len + 3, &full), 0);
	assert_int_equal(cf_buf_append(&fast, fast.len > 0 ? " e" : "e",
				       fast.len > 0 ? 3 : 2),
			 0); /* with its NUL */
	if (strcmp(fast.data, full.data) != 0)
		fail_msg("ascii path \"%s\" != full path \"%s\"", fast.data,
			 full.data);
	cf_buf_release(&fast);
	cf_buf_release(&full);
}

static void test_ascii_fast_path(void **state)
{
	unsigned long x = 0x9E3779B97F4A7C15UL;

	(void)state;
	for (int c = 0; c < 128; c++) {
		char s[3] = {'a', (char)c, 'Z'};
		ascii_agrees(s + 1, 1);
		ascii_agrees(s, 3);
	}
	for (int n = 0; n < 2000; n++) {
		char s[200];
		size_t len;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		len = 1 + (size_t)(x % 199);
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* mostly letters, digits and spaces */
			s[i] = (x & 3) != 0 ? " aZ09_-'.\t"[(x >> 8) % 11]
					    : (char)((x >> 16) & 0x7f);
		}
		ascii_agrees(s, len);
	}
}

static void test_latin(void **state)
{
	(void)state;
	text_is("Hello, World!", "hello world");
	text_is("Café crème brûlée", "cafe creme brulee");
	text_is("ÉCOLE élève", "ecole eleve");
	text_is("Straße STRASSE", "strasse strasse");
	text_is("ＡＢＣ　ｄｅｆ １２３", "abc def 123");
	text_is("ﬁnal", "final");
	text_is("naïve Ångström ﬀ", "naive angstrom ff");
	text_is("Ελληνικά ΚΕΙΜΕΝΑ", "ελληνικα κειμενα");
	text_is("Привет МИР", "привет мир");
	text_is("  a--b__c  ", "a b c");
	text_is("", "");
	text_is("!!! ...", "");
	text_is("x\x80y\xff", "x y");
}

static void test_cjk(void **state)
{
	(void)state;
	text_is("東京都", "東京 京都 都");
	text_is("東", "東");
	text_is("東京", "東京 京");
	text_is("我爱北京天安门", "我爱 爱北 北京 京天 天安 安门 门");
	text_is("東京tower", "東京 京 tower");
	text_is("ひらがな", "ひら らが がな な");
	text_is("カタカナ", "カタ タカ カナ ナ");
	/* halfwidth katakana and voiced marks are composed again */
	text_is("ｶﾞｷﾞ", "ガギ ギ");
	text_is("한국어 문장", "한국 국어 어 문장 장");
	text_is("中 文", "中 文");
}

static void test_query(void **state)
{
	struct cf_buf b = CF_BUF_INIT;
	unsigned n = 9;

	(void)state;
	query_is("Hello", "\"hello\"*");
	query_is("hi there", "\"hi\" \"there\"*");
	query_is("Éte", "\"ete\"*");
	query_is("東京", "\"東京\"");
	query_is("東京都", "\"東京 京都\"");
	query_is("京", "\"京\"*");
	query_is("\"quoted\" OR NOT", "\"quoted\"* \"or\" \"not\"*");
	query_is("a*b(c)", "\"a\" \"b\" \"c\"");
	assert_int_equal(sync_search_norm_query("  ", 2, &b, &n), CF_EBADREQ);
	assert_int_equal(n, 0);
	assert_int_equal(sync_search_norm_query("?!", 2, &b, NULL),
			 CF_EBADREQ);
	cf_buf_release(&b);
}

/* ---- matching through FTS5 ---- */

static sqlite3 *db;

static void add(int64_t id, const char *text)
{
	struct cf_buf b = CF_BUF_INIT;
	sqlite3_stmt *s;

	assert_int_equal(sync_search_norm_text(text, strlen(text), &b), 0);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(rowid, body) "
						"VALUES (?1, ?2)",
					    -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, b.data != NULL ? b.data : "", -1,
			  SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	cf_buf_release(&b);
}

/* The ids found by q, as "1,3" (newest first). */
static void finds(const char *q, const char *want)
{
	struct cf_buf b = CF_BUF_INIT;
	char got[256] = "";
	sqlite3_stmt *s;

	assert_int_equal(sync_search_norm_query(q, strlen(q), &b, NULL), 0);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t "
						"MATCH ?1 ORDER BY rowid DESC",
					    -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(s, 1, b.data, -1, SQLITE_STATIC);
	while (sqlite3_step(s) == SQLITE_ROW)
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld",
			 got[0] ? "," : "",
			 (long long)sqlite3_column_int64(s, 0));
	sqlite3_finalize(s);
	if (strcmp(got, want) != 0)
		fail_msg("search \"%s\" (%s) found \"%s\", want \"%s\"", q,
			 b.data, got, want);
	cf_buf_release(&b);
}

static void test_match(void **state)
{
	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE VIRTUAL TABLE t USING fts5(body, "
				      "tokenize = 'unicode61 "
				      "remove_diacritics 0')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	add(1, "我们明天在北京见面");
	add(2, "東京都に住んでいます");
	add(3, "今日はいい天気ですね");
	add(4, "한국어를 공부하고 있어요");
	add(5, "Le café est très bon");
	add(6, "Die Straße ist lang");
	add(7, "ＦＵＬＬＷＩＤＴＨ text");
	add(8, "Meeting about the message queue");
	add(9, "北");
	add(10, "カタカナのテスト");
	finds("北京", "1");
	finds("明天", "1");
	finds("北", "9,1");
	finds("见面", "1");
	finds("京都", "2");
	finds("東京", "2");
	finds("住んで", "2");
	finds("天気", "3");
	finds("いい天気", "3");
	finds("天", "3,1");
	finds("한국", "4");
	finds("공부", "4");
	finds("있어요", "4");
	finds("CAFE", "5");
	finds("café très", "5");
	finds("TRES bon", "5");
	finds("strasse", "6");
	finds("STRAẞE", "6");
	finds("fullwidth", "7");
	finds("ｔｅｘｔ", "7");
	finds("mess", "8");
	finds("meet queue", "8");
	finds("meeting nothing", "");
	finds("テスト", "10");
	finds("ト", "10");
	finds("京都見", "");
	finds("ssage", "");
	/* A run longer than the cut (128): phrases across it match. */
	{
		static const char *const han[10] = {"一", "二", "三", "四", "五",
						    "六", "七", "八", "九", "十"};
		char text[1024] = "";

		for (int i = 0; i < 150; i++)
			strcat(text, han[(i * 7 + i / 10) % 10]);
		add(11, text);
		for (int from = 120; from < 135; from++) {
			char q[64] = "";

			for (int i = from; i < from + 4; i++)
				strcat(q, han[(i * 7 + i / 10) % 10]);
			finds(q, "11");
		}
	}
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii_fast_path),
		cmocka_unit_test(test_latin),
		cmocka_unit_test(test_cjk),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
