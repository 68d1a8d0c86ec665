/*
 * fe_wheel: a hashed timing wheel (Varghese and Lauck) for the deadlines of
 * client connections: header, body and idle timeouts, lingering closes.
 *
 * One wheel per server, advanced by one uv_timer; each connection embeds one
 * struct fe_wheel_entry (24 bytes), so a deadline costs no handle and no
 * allocation, and setting, moving or cancelling one is O(1). Slots are
 * FE_WHEEL_TICK_MS wide; a deadline further away than the wheel's span sits
 * in the last slot of the span and is placed again when that slot comes up.
 * Moving a deadline later (the common case: activity on a connection) only
 * stores the new time: the entry stays in its earlier slot and is placed
 * again when that slot is processed, so busy connections cost no list
 * operation per read.
 * Deadlines fire at most one tick late, never early.
 * Ownership: the wheel owns nothing; entries belong to their embedders and
 * must be cancelled before they are freed.
 * Errors: none. Threads: one thread (the loop's).
 */
#ifndef FE_WHEEL_H
#define FE_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cf_list.h"

#define FE_WHEEL_SLOTS 512u
#define FE_WHEEL_TICK_MS 250u

struct fe_wheel_entry {
	struct cf_list link; /* in a slot, or self-linked while not armed */
	uint64_t due_ms;     /* 0 while not armed */
};

struct fe_wheel {
	struct cf_list slots[FE_WHEEL_SLOTS];
	uint64_t tick; /* next tick to process: times [tick, tick+1) * TICK */
};

typedef void (*fe_wheel_fire_fn)(struct fe_wheel_entry *e, void *arg);

void fe_wheel_init(struct fe_wheel *w, uint64_t now_ms);
void fe_wheel_entry_init(struct fe_wheel_entry *e);
static inline bool fe_wheel_armed(const struct fe_wheel_entry *e)
{
	return e->due_ms != 0;
}
/* Arm e to fire at due_ms (> 0), or move it there. */
void fe_wheel_set(struct fe_wheel *w, struct fe_wheel_entry *e,
		  uint64_t due_ms);
void fe_wheel_cancel(struct fe_wheel_entry *e);
/*
 * Fire every entry whose time is up by now_ms (each is disarmed before fn
 * runs; fn may set or cancel any entry). Returns how many fired.
 */
unsigned fe_wheel_advance(struct fe_wheel *w, uint64_t now_ms,
			  fe_wheel_fire_fn fn, void *arg);

#endif
