/*
 * cf_test_mem: the counting, faulting allocator for test programs (STYLE.md 2.7).
 *
 * A program that uses it links tests/lib/cf_test_mem.c with CF_TEST_MEM_WRAP
 * (Makefile.am: GNU ld --wrap for malloc, calloc, realloc, strdup, strndup,
 * aligned_alloc and free). Every allocation made by libconfab's code and the
 * test's own then passes the cf_mem countdown; jansson, libuv and raft pass it
 * through cf_mem_install(). See src/common/cf_mem.h for the mechanism.
 *
 * The loop each fault test runs (SQLite's OOM tests, raft's test heap):
 *     for (n = 1; ; n++) {
 *         cf_test_mem_arm(n, false);
 *         rv = operation();
 *         if (!cf_test_mem_disarm())   // the n-th allocation was never made
 *             break;                   // so rv must be success
 *         ...assert a clean failure and no visible change...
 *     }
 * Threads: arm and disarm from the test's thread while nothing else runs.
 */
#ifndef CF_TEST_MEM_H
#define CF_TEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

/* Install cf_mem into the libraries, let the wrappers count, and check that
 * the program was linked with the wraps (aborts if not). */
void cf_test_mem_init(void);
/* Zero the counters and make the n-th allocation from now fail (and every
 * later one with sticky). */
void cf_test_mem_arm(uint64_t n, bool sticky);
/* Stop failing; true if a failure was injected since the last arm. */
bool cf_test_mem_disarm(void);
/* Allocations attempted since the last arm, and the live balance (blocks
 * allocated minus blocks freed). */
uint64_t cf_test_mem_allocs(void);
int64_t cf_test_mem_live(void);

/* Upper bound on N for any loop: an operation that allocates more than this
 * is not a unit under test. */
#define CF_TEST_MEM_MAX_N 20000

#endif
