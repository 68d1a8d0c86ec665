/*
 * cf_test_dir: temporary folders for the tests that write files (STYLE.md
 * 2.7, "mkdtemp fixtures"): make a fresh folder under /tmp, and remove a
 * tree again in teardown.
 *
 * Ownership: the caller owns the path buffer and the folder; nothing is
 * allocated here. Errors: cf_test_dir_make fails the running test (cmocka)
 * if the folder cannot be made; cf_test_dir_remove returns what nftw(3)
 * returns (0, or the first failing remove(3)'s -1). Threads: any.
 */
#ifndef CF_TEST_DIR_H
#define CF_TEST_DIR_H

#include <stddef.h>

/*
 * Make the folder /tmp/<name>.XXXXXX (mkdtemp) and write its path into
 * dir, which holds size bytes.
 */
void cf_test_dir_make(char *dir, size_t size, const char *name);
/*
 * Remove path and everything below it, depth first, without following
 * links; the walk stops at the first entry that cannot be removed.
 */
int cf_test_dir_remove(const char *path);

#endif
