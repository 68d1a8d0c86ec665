#include "config.h"

#include "common/cf_blob.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct cf_blob *cf_blob_new(size_t len)
{
	struct cf_blob *b = malloc(sizeof *b + len + 1);

	if (b == NULL)
		return NULL;
	b->refs = 1;
	b->len = len;
	b->data[len] = '\0';
	return b;
}

struct cf_blob *cf_blob_copy(const void *p, size_t len)
{
	struct cf_blob *b = cf_blob_new(len);

	if (b != NULL && len > 0)
		memcpy(b->data, p, len);
	return b;
}

struct cf_blob *cf_blob_ref(struct cf_blob *b)
{
	assert(b->refs > 0);
	b->refs++;
	return b;
}

void cf_blob_unref(struct cf_blob *b)
{
	if (b == NULL)
		return;
	assert(b->refs > 0);
	if (--b->refs == 0)
		free(b);
}
