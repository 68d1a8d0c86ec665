#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/fe_static.h"

static const char *type_of(const char *name)
{
	return fe_static_type(name, strlen(name));
}

static void known_extensions_get_their_content_type(void **state)
{
	(void)state;
	assert_string_equal(type_of("index.html"), "text/html; charset=utf-8");
	assert_string_equal(type_of("app.css"), "text/css; charset=utf-8");
	assert_string_equal(type_of("app.js"),
			    "text/javascript; charset=utf-8");
	assert_string_equal(type_of("logo-2_x.png"), "image/png");
	assert_string_equal(type_of("icon.svg"), "image/svg+xml");
}

static void names_that_could_leave_the_folder_are_refused(void **state)
{
	static const char *const bad[] = {
		"..",	       "../app.js",   "..%2fapp.js", "%2e%2e",
		"a/b.js",      "/etc/passwd", ".app.js",     "app.js.",
		"app..js",     "app.js/",     "a\\b.js",     "app.js%00",
		"",	       ".js",	      "app",	     "app.c",
		"app.JS",      "app.html.bak", "app js.js",  "app.js?x=1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (type_of(bad[i]) != NULL)
			fail_msg("'%s' accepted", bad[i]);
	}
}

static void type_reads_only_the_given_length(void **state)
{
	(void)state;
	/* the request path is not NUL-terminated where the name ends */
	assert_non_null(fe_static_type("app.js/../../x", 6));
	assert_null(fe_static_type("app.js/../../x", 7));
}

static void configured_folder_wins_over_the_defaults(void **state)
{
	(void)state;
	assert_string_equal(fe_static_dir("/srv/page"), "/srv/page");
	assert_non_null(fe_static_dir(NULL));
	assert_true(strlen(fe_static_dir(NULL)) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_extensions_get_their_content_type),
		cmocka_unit_test(names_that_could_leave_the_folder_are_refused),
		cmocka_unit_test(type_reads_only_the_given_length),
		cmocka_unit_test(configured_folder_wins_over_the_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
