/* The deadline heap (timer.h). */
#include "monitor/timer.h"

#include <errno.h>
#include <stdlib.h>

static void place(struct cit_timers *h, uint32_t i, struct cit_timer *t)
{
	h->heap[i] = t;
	t->slot = i + 1;
}

static void up(struct cit_timers *h, uint32_t i)
{
	struct cit_timer *t = h->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (h->heap[parent]->at <= t->at)
			break;
		place(h, i, h->heap[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void down(struct cit_timers *h, uint32_t i)
{
	struct cit_timer *t = h->heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->heap[c + 1]->at < h->heap[c]->at)
			c++;
		if (t->at <= h->heap[c]->at)
			break;
		place(h, i, h->heap[c]);
		i = c;
	}
	place(h, i, t);
}

int cit_timer_arm(struct cit_timers *h, struct cit_timer *t, uint64_t at)
{
	if (t->slot) {
		uint32_t i = t->slot - 1;
		uint64_t was = t->at;
		t->at = at;
		if (at < was)
			up(h, i);
		else
			down(h, i);
		return 0;
	}
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? 2 * h->cap : 64;
		struct cit_timer **heap = realloc(h->heap, cap * sizeof(*heap));
		if (!heap)
			return -ENOMEM;
		h->heap = heap;
		h->cap = cap;
	}
	t->at = at;
	h->heap[h->n] = t;
	up(h, h->n++);
	return 0;
}

void cit_timer_cancel(struct cit_timers *h, struct cit_timer *t)
{
	if (!t->slot)
		return;
	uint32_t i = t->slot - 1;
	t->slot = 0;
	struct cit_timer *last = h->heap[--h->n];
	if (i == h->n)
		return;
	h->heap[i] = last;
	last->slot = i + 1;
	if (i > 0 && h->heap[(i - 1) / 2]->at > last->at)
		up(h, i);
	else
		down(h, i);
}

uint64_t cit_timer_next(const struct cit_timers *h)
{
	return h->n ? h->heap[0]->at : UINT64_MAX;
}

void cit_timer_run(struct monitor *m, struct cit_timers *h, uint64_t now)
{
	while (h->n && h->heap[0]->at <= now) {
		struct cit_timer *t = h->heap[0];
		cit_timer_cancel(h, t);
		t->fn(m, t);
	}
}

void cit_timer_free(struct cit_timers *h)
{
	free(h->heap);
	*h = (struct cit_timers){ 0 };
}
