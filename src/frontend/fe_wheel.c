#include "config.h"

#include "frontend/fe_wheel.h"

#include <assert.h>

void fe_wheel_init(struct fe_wheel *w, uint64_t now_ms)
{
	for (unsigned i = 0; i < FE_WHEEL_SLOTS; i++)
		cf_list_init(&w->slots[i]);
	w->tick = now_ms / FE_WHEEL_TICK_MS;
}

void fe_wheel_entry_init(struct fe_wheel_entry *e)
{
	cf_list_init(&e->link);
	e->due_ms = 0;
}

/* Link e into the slot of its time, within the wheel's span. */
static void place(struct fe_wheel *w, struct fe_wheel_entry *e)
{
	uint64_t t = e->due_ms / FE_WHEEL_TICK_MS;

	if (t < w->tick)
		t = w->tick; /* past due: the next tick processed */
	if (t > w->tick + FE_WHEEL_SLOTS - 1)
		t = w->tick + FE_WHEEL_SLOTS - 1; /* placed again then */
	cf_list_push(&w->slots[t % FE_WHEEL_SLOTS], &e->link);
}

void fe_wheel_set(struct fe_wheel *w, struct fe_wheel_entry *e,
		  uint64_t due_ms)
{
	assert(due_ms != 0);
	if (e->due_ms != 0 && due_ms >= e->due_ms) {
		/* later: its slot comes first and places it again */
		e->due_ms = due_ms;
		return;
	}
	cf_list_remove(&e->link);
	e->due_ms = due_ms;
	place(w, e);
}

void fe_wheel_cancel(struct fe_wheel_entry *e)
{
	cf_list_remove(&e->link);
	e->due_ms = 0;
}

unsigned fe_wheel_advance(struct fe_wheel *w, uint64_t now_ms,
			  fe_wheel_fire_fn fn, void *arg)
{
	uint64_t target = now_ms / FE_WHEEL_TICK_MS;
	unsigned fired = 0;

	/* Behind by more than a turn (a stalled loop): one turn is enough. */
	if (target > w->tick + FE_WHEEL_SLOTS)
		w->tick = target - FE_WHEEL_SLOTS;
	/* Tick k is done once all of its times, up to (k+1)*TICK, passed. */
	while (w->tick < target) {
		struct cf_list due;

		cf_list_init(&due);
		cf_list_move(&due, &w->slots[w->tick % FE_WHEEL_SLOTS]);
		w->tick++;
		while (!cf_list_empty(&due)) {
			struct fe_wheel_entry *e = CF_CONTAINER_OF(
				due.next, struct fe_wheel_entry, link);
			cf_list_remove(&e->link);
			if (e->due_ms > now_ms) {
				place(w, e);
				continue;
			}
			e->due_ms = 0;
			fired++;
			fn(e, arg);
		}
	}
	return fired;
}
