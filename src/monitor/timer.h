/* The monitor's deadlines: a binary min-heap of timers embedded in the objects they time
 * (a call's deadline, a dying instance's wait), so the loop learns the next one in O(1)
 * and fires each in O(log n), with no scan of the calls in flight. */
#pragma once

#include <stdint.h>

struct monitor;

struct cit_timer {
	uint64_t at;              /* CLOCK_MONOTONIC ns */
	uint32_t slot;            /* its index in the heap + 1; 0: not armed */
	void (*fn)(struct monitor *m, struct cit_timer *t); /* called once at or after at, disarmed */
};

struct cit_timers {
	struct cit_timer **heap;  /* owned array; the timers are their owners' */
	uint32_t n, cap;
};

/* Arms t (its fn set) for at, or moves it there if armed. Returns 0 or -ENOMEM. */
int cit_timer_arm(struct cit_timers *h, struct cit_timer *t, uint64_t at);
/* Disarms t if armed; an unarmed timer is left alone. */
void cit_timer_cancel(struct cit_timers *h, struct cit_timer *t);
/* The earliest armed time, or UINT64_MAX. */
uint64_t cit_timer_next(const struct cit_timers *h);
/* Fires, earliest first, every timer due at now (each disarmed before its fn runs, which
 * may arm or cancel timers). */
void cit_timer_run(struct monitor *m, struct cit_timers *h, uint64_t now);
/* Frees the heap (the timers are their owners'). */
void cit_timer_free(struct cit_timers *h);
