#include "config.h"

#include "common/cf_mem.h"

#include <errno.h>
#include <jansson.h>
#include <raft.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum cf_mem_mode cf_mem__mode = CF_MEM_OFF;

/* The countdown and counters; touched only while counting is on. */
static struct {
	bool armed; /* a countdown is set */
	bool sticky; /* keep failing after the n-th */
	int64_t countdown; /* allocations left before the failing one */
	uint64_t allocs;
	uint64_t failed;
	int64_t live;
} cf_mem__st;

#define CF_MEM_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define CF_MEM_ADD(x, d) __atomic_add_fetch(&(x), (d), __ATOMIC_RELAXED)

static inline bool cf_mem_here(void)
{
	return __builtin_expect(cf_mem__mode_get() == CF_MEM_COUNT_HERE, 0);
}

bool cf_mem__fault(void)
{
	int64_t left;

	CF_MEM_ADD(cf_mem__st.allocs, 1);
	if (!CF_MEM_LOAD(cf_mem__st.armed))
		return false;
	left = CF_MEM_ADD(cf_mem__st.countdown, -1);
	if (left == 0 || (left < 0 && CF_MEM_LOAD(cf_mem__st.sticky))) {
		CF_MEM_ADD(cf_mem__st.failed, 1);
		errno = ENOMEM;
		return true;
	}
	return false;
}

void cf_mem__live(int64_t d)
{
	CF_MEM_ADD(cf_mem__st.live, d);
}

void *cf_malloc(size_t size)
{
	void *p;

	if (!cf_mem_here())
		return malloc(size);
	if (cf_mem__fault())
		return NULL;
	p = malloc(size);
	if (p != NULL)
		cf_mem__live(1);
	return p;
}

void *cf_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (!cf_mem_here())
		return calloc(nmemb, size);
	if (cf_mem__fault())
		return NULL;
	p = calloc(nmemb, size);
	if (p != NULL)
		cf_mem__live(1);
	return p;
}

void *cf_realloc(void *ptr, size_t size)
{
	void *p;

	if (!cf_mem_here())
		return realloc(ptr, size);
	if (cf_mem__fault())
		return NULL;
	p = realloc(ptr, size);
	if (ptr == NULL && p != NULL)
		cf_mem__live(1);
	else if (ptr != NULL && size == 0 && p == NULL)
		cf_mem__live(-1);
	return p;
}

void cf_free(void *ptr)
{
	if (cf_mem_here() && ptr != NULL)
		cf_mem__live(-1);
	free(ptr);
}

char *cf_strdup(const char *s)
{
	char *p;

	if (!cf_mem_here())
		return strdup(s);
	if (cf_mem__fault())
		return NULL;
	p = strdup(s);
	if (p != NULL)
		cf_mem__live(1);
	return p;
}

char *cf_strndup(const char *s, size_t n)
{
	char *p;

	if (!cf_mem_here())
		return strndup(s, n);
	if (cf_mem__fault())
		return NULL;
	p = strndup(s, n);
	if (p != NULL)
		cf_mem__live(1);
	return p;
}

void *cf_aligned_alloc(size_t alignment, size_t size)
{
	void *p;

	if (!cf_mem_here())
		return aligned_alloc(alignment, size);
	if (cf_mem__fault())
		return NULL;
	p = aligned_alloc(alignment, size);
	if (p != NULL)
		cf_mem__live(1);
	return p;
}

/* raft's heap passes a data pointer first. */
static void *cf_mem_raft_malloc(void *data, size_t size)
{
	(void)data;
	return cf_malloc(size);
}

static void cf_mem_raft_free(void *data, void *ptr)
{
	(void)data;
	cf_free(ptr);
}

static void *cf_mem_raft_calloc(void *data, size_t nmemb, size_t size)
{
	(void)data;
	return cf_calloc(nmemb, size);
}

static void *cf_mem_raft_realloc(void *data, void *ptr, size_t size)
{
	(void)data;
	return cf_realloc(ptr, size);
}

static void *cf_mem_raft_aligned_alloc(void *data, size_t alignment, size_t size)
{
	(void)data;
	return cf_aligned_alloc(alignment, size);
}

static void cf_mem_raft_aligned_free(void *data, size_t alignment, void *ptr)
{
	(void)data;
	(void)alignment;
	cf_free(ptr);
}

/* raft keeps the pointer, so the heap outlives every raft instance. */
static struct raft_heap cf_mem_raft_heap = {
	.data = NULL,
	.malloc = cf_mem_raft_malloc,
	.free = cf_mem_raft_free,
	.calloc = cf_mem_raft_calloc,
	.realloc = cf_mem_raft_realloc,
	.aligned_alloc = cf_mem_raft_aligned_alloc,
	.aligned_free = cf_mem_raft_aligned_free,
};

int cf_mem_install(void)
{
	int rv;

	rv = uv_replace_allocator(cf_malloc, cf_realloc, cf_calloc, cf_free);
	if (rv != 0)
		return rv;
	json_set_alloc_funcs(cf_malloc, cf_free);
	raft_heap_set(&cf_mem_raft_heap);
	return 0;
}

void cf_mem_set_mode(enum cf_mem_mode mode)
{
	__atomic_store_n(&cf_mem__mode, mode, __ATOMIC_RELAXED);
}

void cf_mem_fail_after(uint64_t n, bool sticky)
{
	__atomic_store_n(&cf_mem__st.sticky, sticky, __ATOMIC_RELAXED);
	__atomic_store_n(&cf_mem__st.countdown, (int64_t)n, __ATOMIC_RELAXED);
	__atomic_store_n(&cf_mem__st.armed, n > 0, __ATOMIC_RELEASE);
}

void cf_mem_reset(void)
{
	__atomic_store_n(&cf_mem__st.armed, false, __ATOMIC_RELEASE);
	__atomic_store_n(&cf_mem__st.sticky, false, __ATOMIC_RELAXED);
	__atomic_store_n(&cf_mem__st.countdown, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cf_mem__st.allocs, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cf_mem__st.failed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cf_mem__st.live, 0, __ATOMIC_RELAXED);
}

void cf_mem_stats(struct cf_mem_stats *out)
{
	out->allocs = CF_MEM_LOAD(cf_mem__st.allocs);
	out->failed = CF_MEM_LOAD(cf_mem__st.failed);
	out->live = CF_MEM_LOAD(cf_mem__st.live);
}
