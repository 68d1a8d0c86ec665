/* The --wrap interposer below cf_mem (see cf_test_mem.h and cf_mem.h). */
#include "config.h"

#include "cf_test_mem.h"

#include "common/cf_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t nmemb, size_t size);
void *__real_realloc(void *ptr, size_t size);
void __real_free(void *ptr);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t alignment, size_t size);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t nmemb, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void __wrap_free(void *ptr);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t alignment, size_t size);

static inline bool counting(void)
{
	return cf_mem__mode_get() == CF_MEM_COUNT_BELOW;
}

static inline void *made(void *p)
{
	if (p != NULL)
		cf_mem__live(1);
	return p;
}

void *__wrap_malloc(size_t size)
{
	if (!counting())
		return __real_malloc(size);
	if (cf_mem__fault())
		return NULL;
	return made(__real_malloc(size));
}

void *__wrap_calloc(size_t nmemb, size_t size)
{
	if (!counting())
		return __real_calloc(nmemb, size);
	if (cf_mem__fault())
		return NULL;
	return made(__real_calloc(nmemb, size));
}

void *__wrap_realloc(void *ptr, size_t size)
{
	void *p;

	if (!counting())
		return __real_realloc(ptr, size);
	if (cf_mem__fault())
		return NULL;
	p = __real_realloc(ptr, size);
	if (ptr == NULL && p != NULL)
		cf_mem__live(1);
	else if (ptr != NULL && size == 0 && p == NULL)
		cf_mem__live(-1);
	return p;
}

void __wrap_free(void *ptr)
{
	if (counting() && ptr != NULL)
		cf_mem__live(-1);
	__real_free(ptr);
}

char *__wrap_strdup(const char *s)
{
	if (!counting())
		return __real_strdup(s);
	if (cf_mem__fault())
		return NULL;
	return made(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
	if (!counting())
		return __real_strndup(s, n);
	if (cf_mem__fault())
		return NULL;
	return made(__real_strndup(s, n));
}

void *__wrap_aligned_alloc(size_t alignment, size_t size)
{
	if (!counting())
		return __real_aligned_alloc(alignment, size);
	if (cf_mem__fault())
		return NULL;
	return made(__real_aligned_alloc(alignment, size));
}

void cf_test_mem_init(void)
{
	struct cf_mem_stats st;
	void *volatile p;

	if (cf_mem_install() != 0)
		abort();
	cf_mem_set_mode(CF_MEM_COUNT_BELOW);
	/* The wraps are there: a malloc from this file is counted, once. */
	cf_mem_reset();
	p = malloc(16);
	free(p);
	p = cf_malloc(16);
	cf_free(p);
	cf_mem_stats(&st);
	if (st.allocs != 2 || st.live != 0) {
		fprintf(stderr, "cf_test_mem: program not linked with "
				"CF_TEST_MEM_WRAP (allocs %llu, live %lld)\n",
			(unsigned long long)st.allocs, (long long)st.live);
		abort();
	}
	cf_mem_reset();
}

void cf_test_mem_arm(uint64_t n, bool sticky)
{
	cf_mem_reset();
	cf_mem_fail_after(n, sticky);
}

bool cf_test_mem_disarm(void)
{
	struct cf_mem_stats st;

	cf_mem_fail_after(0, false);
	cf_mem_stats(&st);
	return st.failed > 0;
}

uint64_t cf_test_mem_allocs(void)
{
	struct cf_mem_stats st;

	cf_mem_stats(&st);
	return st.allocs;
}

int64_t cf_test_mem_live(void)
{
	struct cf_mem_stats st;

	cf_mem_stats(&st);
	return st.live;
}
