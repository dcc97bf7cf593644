/* The monitor's deadline heap (src/monitor/timer.c): against a plain array, through random
 * arms, re-arms and cancels, every timer fires once, in order, and only when due. */
#include <stdint.h>
#include <stdlib.h>

#include "monitor/timer.h"
#include "tap.h"

#define N 500

static struct cit_timer timers[N];
static uint64_t want[N];      /* when each should fire; 0: not armed */
static int fired[N];
static uint64_t last_at, now_at;
static int out_of_order, early;

static void on_fire(struct monitor *m, struct cit_timer *t)
{
	(void)m;
	size_t i = (size_t)(t - timers);
	fired[i]++;
	if (t->at < last_at)
		out_of_order++;
	if (t->at > now_at || t->at != want[i])
		early++;
	last_at = t->at;
	want[i] = 0;
}

int main(void)
{
	struct cit_timers h = { 0 };
	srand(7);
	for (size_t i = 0; i < N; i++)
		timers[i].fn = on_fire;
	int arm_failed = 0;
	for (int round = 0; round < 20000; round++) {
		size_t i = (size_t)rand() % N;
		if (rand() % 4 == 0) {
			cit_timer_cancel(&h, &timers[i]);
			want[i] = 0;
		} else {
			uint64_t at = 1 + (uint64_t)(rand() % 100000);
			arm_failed += cit_timer_arm(&h, &timers[i], at) < 0;
			want[i] = at;
		}
	}
	size_t armed = 0;
	uint64_t earliest = UINT64_MAX;
	for (size_t i = 0; i < N; i++)
		if (want[i]) {
			armed++;
			earliest = want[i] < earliest ? want[i] : earliest;
		}
	tap_ok(!arm_failed, "every arm succeeded");
	tap_ok(h.n == armed, "the heap holds the armed timers (%u of %zu)", h.n, armed);
	tap_ok(cit_timer_next(&h) == earliest, "the next deadline is the earliest armed");
	now_at = 50000;
	cit_timer_run(NULL, &h, now_at);
	size_t due_left = 0;
	for (size_t i = 0; i < N; i++)
		due_left += want[i] && want[i] <= now_at;
	tap_ok(due_left == 0, "every timer due at 50000 fired");
	tap_ok(cit_timer_next(&h) > now_at, "none left due");
	now_at = UINT64_MAX;
	cit_timer_run(NULL, &h, now_at);
	int twice = 0, unfired = 0;
	for (size_t i = 0; i < N; i++) {
		twice += fired[i] > 1;
		unfired += want[i] != 0;
	}
	tap_ok(!out_of_order && !early, "in order, never early, at the time last armed (%d, %d)", out_of_order, early);
	tap_ok(!twice && !unfired && h.n == 0, "each fired once; the heap is empty");
	tap_ok(cit_timer_next(&h) == UINT64_MAX, "no deadline when empty");
	cit_timer_free(&h);
	return tap_done();
}
