/*
 * cf_list: an intrusive, circular, doubly-linked list (libuv's QUEUE idea,
 * written out as inline functions). Embed a struct cf_list in the element and
 * get back to it with CF_CONTAINER_OF. Ownership: the list owns nothing.
 * Errors: none. Threads: one thread at a time.
 */
#ifndef CF_LIST_H
#define CF_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct cf_list {
	struct cf_list *next;
	struct cf_list *prev;
};

#define CF_CONTAINER_OF(ptr, type, field) \
	((type *)((char *)(ptr)-offsetof(type, field)))

static inline void cf_list_init(struct cf_list *l)
{
	l->next = l;
	l->prev = l;
}
static inline bool cf_list_empty(const struct cf_list *l)
{
	return l->next == l;
}
static inline void cf_list_push(struct cf_list *head, struct cf_list *e)
{
	e->prev = head->prev;
	e->next = head;
	head->prev->next = e;
	head->prev = e;
}
static inline void cf_list_remove(struct cf_list *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	cf_list_init(e);
}
static inline struct cf_list *cf_list_head(const struct cf_list *head)
{
	return head->next == head ? NULL : head->next;
}
/* Move every element of from to the end of to. */
static inline void cf_list_move(struct cf_list *to, struct cf_list *from)
{
	if (cf_list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	cf_list_init(from);
}

#define cf_list_foreach(it, head) \
	for ((it) = (head)->next; (it) != (head); (it) = (it)->next)

#endif
