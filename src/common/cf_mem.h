/*
 * cf_mem: the one allocator seam (STYLE.md 2.5.5), and its fault injection.
 *
 * Purpose: cf_malloc/cf_calloc/cf_realloc/cf_free/cf_strdup/cf_strndup are the
 * libc functions with a switch in front. cf_mem_install() hands them to the
 * three libraries that allocate on our behalf: jansson (json_set_alloc_funcs),
 * libuv (uv_replace_allocator) and raft (raft_heap_set). confabd and confabctl
 * call it first thing in main(), before any loop, raft instance or JSON value
 * exists. In production the switch is off and each function is one predictable
 * branch on a global followed by the libc call: memory from cf_malloc() may be
 * released with free() and the reverse, since both end in the same heap.
 *
 * Test control: cf_mem_fail_after(n, sticky) makes the n-th allocation from now
 * (n = 1: the next one) return NULL, and with sticky every later one too, until
 * cf_mem_reset(). cf_mem_stats() reports the allocations attempted since the
 * last reset, how many were made to fail, and the live balance (successful
 * allocations minus frees of non-NULL pointers; exact only when every byte of
 * the operation under test passes through the seam, see below). Tests loop
 * N = 1, 2, ... until the operation succeeds with the fault not reached.
 *
 * Reaching our own code. libconfab calls malloc() and friends directly in
 * hundreds of places; they are not rewritten. A test program that needs every
 * allocation counted links tests/lib/cf_test_mem.c and GNU ld's
 *     -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,
 *      --wrap=strndup,--wrap=aligned_alloc,--wrap=free
 * (CF_TEST_MEM_WRAP in Makefile.am). The linker then binds every undefined
 * reference to malloc in the objects linked statically (libconfab.a, the test
 * itself, and this file) to __wrap_malloc, and __real_malloc to the real one;
 * shared libraries are untouched, which is why they get the seam through
 * cf_mem_install() instead. The wrappers count and fail through the same
 * countdown and call __real_malloc, which under AddressSanitizer is still
 * ASan's interceptor, so the sanitizer build keeps its leak and use-after-free
 * checks. Since this file's own call to malloc is then wrapped too, the test
 * support selects CF_MEM_COUNT_BELOW: cf_malloc passes straight through and
 * the wrapper below it counts, so each allocation is counted once.
 * Not seen: allocations made inside libc (fopen, getaddrinfo, and the one
 * asprintf, in sync_push.c) and inside the libraries without a hook (liblz4,
 * libxxhash's XXH3_createState); memory such a call returns and our code
 * frees skews the live balance. A forked child inherits the countdown.
 *
 * Errors: the allocators return NULL (with errno ENOMEM on an injected fault)
 * as libc does; cf_mem_install() returns 0 or a negative errno.
 * Threads: the allocators are thread-safe (libuv's pool and raft's I/O threads
 * use them); the counters are atomics. The test control functions are called
 * from one thread while the operation under test is not running.
 */
#ifndef CF_MEM_H
#define CF_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *cf_malloc(size_t size);
void *cf_calloc(size_t nmemb, size_t size);
void *cf_realloc(void *ptr, size_t size);
void cf_free(void *ptr);
char *cf_strdup(const char *s);
char *cf_strndup(const char *s, size_t n);
void *cf_aligned_alloc(size_t alignment, size_t size);

/* Install the seam into jansson, libuv and raft. Call once, before any libuv
 * loop, raft instance or jansson value exists: memory they allocated before
 * would be released through the new functions (harmless here, since both end
 * in libc, but the counts would be off). Returns 0 or a negative errno. */
int cf_mem_install(void);

/* --- test control ---------------------------------------------------- */

enum cf_mem_mode {
	CF_MEM_OFF = 0, /* production: plain libc calls, nothing counted */
	CF_MEM_COUNT_HERE, /* cf_malloc & co count and fail themselves */
	CF_MEM_COUNT_BELOW, /* a --wrap interposer below them counts (cf_test_mem.c) */
};

struct cf_mem_stats {
	uint64_t allocs; /* allocation calls since the last reset */
	uint64_t failed; /* of which made to fail */
	int64_t live; /* successful allocations minus frees since the last reset */
};

/* Select who counts; cf_mem_reset() keeps the mode. */
void cf_mem_set_mode(enum cf_mem_mode mode);
/* The n-th allocation from now fails (n >= 1); with sticky, every one after
 * it fails as well until cf_mem_reset(). */
void cf_mem_fail_after(uint64_t n, bool sticky);
/* Disarm the countdown and zero the counters. */
void cf_mem_reset(void);
void cf_mem_stats(struct cf_mem_stats *out);

/* For the interposer (tests/lib/cf_test_mem.c) and for cf_mem.c itself:
 * count one allocation attempt; true if it must fail. */
bool cf_mem__fault(void);
/* Adjust the live balance by d (+1 allocation made, -1 block freed). */
void cf_mem__live(int64_t d);
/* Counting is on (mode != CF_MEM_OFF); one relaxed load. */
extern enum cf_mem_mode cf_mem__mode;
static inline enum cf_mem_mode cf_mem__mode_get(void)
{
	return __atomic_load_n(&cf_mem__mode, __ATOMIC_RELAXED);
}

#endif
