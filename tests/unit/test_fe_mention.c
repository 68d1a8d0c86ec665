#include "config.h"

/*
 * fe_mention: the @mention grammar of fe_mention.h over many texts (word
 * starts, ends, trailing punctuation, UTF-8 around, e-mail-like text,
 * long runs), the final list (explicit ids first, sorted, unique, capped),
 * and random bytes (every id found is a member; the list stays sorted).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/fe_mention.h"

static const char *members[] = {"bob",	 "carol", "bob.", "a-b", "x@y",
				"dave_", "Eve",	  "u1",	  "u2",	 NULL};

static bool is_member(void *arg, struct cf_str id)
{
	(void)arg;
	for (unsigned i = 0; members[i] != NULL; i++)
		if (strlen(members[i]) == id.len &&
		    memcmp(members[i], id.p, id.len) == 0)
			return true;
	return false;
}

static bool any_m(void *arg, struct cf_str id)
{
	(void)arg;
	return id.len > 0 && id.p[0] == 'm';
}

/* The list for text (no explicit ids), comma-separated. */
static void list_of(const char *text, char *out, size_t n)
{
	struct cf_str v[50];
	unsigned k = fe_mention_list(cf_str_c(text), NULL, 0, is_member, NULL,
				     v, 50);

	out[0] = '\0';
	for (unsigned i = 0; i < k; i++) {
		size_t l = strlen(out);

		snprintf(out + l, n - l, "%s%.*s", i > 0 ? "," : "",
			 (int)v[i].len, v[i].p);
	}
}

static void check(const char *text, const char *want)
{
	char got[512];

	list_of(text, got, sizeof got);
	if (strcmp(got, want) != 0)
		fail_msg("text \"%s\": got \"%s\", want \"%s\"", text, got,
			 want);
}

static void grammar(void **state)
{
	(void)state;
	/* Plain cases and where a mention may start. */
	check("", "");
	check("@", "");
	check("@@", "");
	check("hello", "");
	check("@bob", "bob");
	check("hi @bob", "bob");
	check("@bob hi", "bob");
	check("hi\t@bob\nthere", "bob");
	check("(@bob)", "bob");
	check("[@bob],@carol;", "bob,carol");
	check("\"@bob\"", "bob");
	check("@carol @bob @carol", "bob,carol"); /* sorted, unique */
	check("@Bob", "");			   /* case matters */
	check("@Eve", "Eve");
	check("@nobody", "");
	check("@bo", "");
	check("@bobby", "");
	/* E-mail-like text: the '@' is inside a word. */
	check("mail bob@carol", "");
	check("bob@example.com", "");
	check("1@bob", "");
	check("_@bob", "");
	check(".@bob", "");
	check("x@@bob", "");
	check("@@bob", ""); /* the run is "@bob": nobody's id */
	/* Trailing punctuation of the sentence. */
	check("thanks @bob!", "bob");
	check("thanks @bob.", "bob."); /* "bob." is a member itself */
	check("thanks @carol.", "carol");
	check("@carol: look", "carol");
	check("@carol...", "carol");
	check("@carol-", "carol");
	check("@carol@", "carol");
	check("@dave_", "dave_");
	check("@dave__", "dave_");
	check("@carol.x", ""); /* the id is "carol.x": not a member */
	check("@a-b, @x@y", "a-b,x@y");
	check("@u1,@u2", "u1,u2");
	check("@u1@u2", ""); /* one run: "u1@u2" */
	/* UTF-8 around a mention. */
	check("你好@bob", "bob");
	check("@bob你好", "bob");
	check("“@carol”", "carol");
	check("«@bob»", "bob");
	check("\xf0\x9f\x91\x8b@bob", "bob"); /* after an emoji */
	check("josé@bob", "");		       /* after a Latin letter */
	check("Ωmega@bob", "");
	check("привет@bob", "");
	check("×@bob", "bob"); /* a sign, not a letter */
	check("\xe9@bob", "bob");	    /* a broken byte starts a word */
	check("\x80\x80\x80\x80@bob", "bob");
	check("@bob\xc3", "bob");
	check("@\xc3\xa9", "");
}

static void long_runs(void **state)
{
	char text[400], want[200];

	(void)state;
	/* A run longer than an id: not one, unless trailing dots trim it. */
	memset(text, 'a', sizeof text);
	text[0] = '@';
	text[200] = '\0';
	check(text, "");
	snprintf(text, sizeof text, "@carol");
	memset(text + 6, '.', 300);
	text[306] = '\0';
	check(text, "carol");
	/* Many mentions: the first 50 distinct members in text order. */
	{
		struct cf_str v[50];
		size_t l = 0;
		unsigned n;

		for (unsigned i = 60; i-- > 0;)
			l += (size_t)snprintf(text + l, sizeof text - l,
					      "@m%02u ", i);
		n = fe_mention_list((struct cf_str){text, l}, NULL, 0,
				    any_m, NULL, v, 50);
		assert_int_equal(n, 50);
		snprintf(want, sizeof want, "%.*s", (int)v[0].len, v[0].p);
		assert_string_equal(want, "m10"); /* m59 down to m10 */
		snprintf(want, sizeof want, "%.*s", (int)v[49].len, v[49].p);
		assert_string_equal(want, "m59");
	}
}

static void explicit_ids_come_first_and_the_list_is_capped(void **state)
{
	struct cf_str ex[2] = {CF_STR_LIT("u2"), CF_STR_LIT("carol")};
	struct cf_str v[3];
	unsigned n;

	(void)state;
	n = fe_mention_list(CF_STR_LIT("@bob @u1 @carol"), ex, 2, is_member,
			    NULL, v, 3);
	assert_int_equal(n, 3);
	assert_true(cf_str_eqc(v[0], "bob"));
	assert_true(cf_str_eqc(v[1], "carol"));
	assert_true(cf_str_eqc(v[2], "u2")); /* u1 did not fit */
	n = fe_mention_list(CF_STR_LIT("no mentions"), ex, 2, is_member, NULL,
			    v, 3);
	assert_int_equal(n, 2);
	assert_true(cf_str_eqc(v[0], "carol"));
	assert_true(cf_str_eqc(v[1], "u2"));
	/* A repeated explicit id counts once. */
	ex[1] = CF_STR_LIT("u2");
	n = fe_mention_list(CF_STR_LIT("@u2"), ex, 2, is_member, NULL, v, 3);
	assert_int_equal(n, 1);
}

static void random_bytes(void **state)
{
	const char alphabet[] = "@@@@bobcarl.:-_ x\xc3\xa9\xe4\xbd\xa0!";
	unsigned seed = 12345;

	(void)state;
	for (unsigned round = 0; round < 20000; round++) {
		char text[64];
		struct cf_str v[50];
		size_t len = (size_t)(seed % sizeof text);
		unsigned n;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			text[i] = alphabet[(seed >> 16) %
					   (sizeof alphabet - 1)];
		}
		seed = seed * 1103515245u + 12345u;
		n = fe_mention_list((struct cf_str){text, len}, NULL, 0,
				    is_member, NULL, v, 50);
		for (unsigned i = 0; i < n; i++) {
			assert_true(is_member(NULL, v[i]));
			assert_true(v[i].p >= text && v[i].p < text + len);
			assert_true(v[i].p[-1] == '@');
			if (i > 0) {
				size_t m = v[i - 1].len < v[i].len
						   ? v[i - 1].len
						   : v[i].len;
				int c = memcmp(v[i - 1].p, v[i].p, m);

				assert_true(c < 0 ||
					    (c == 0 && v[i - 1].len < v[i].len));
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grammar),
		cmocka_unit_test(long_runs),
		cmocka_unit_test(explicit_ids_come_first_and_the_list_is_capped),
		cmocka_unit_test(random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
