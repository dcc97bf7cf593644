/* The pool's pure core: the states of a function's instances and what the pool decides
 * from them, with no I/O (no socket, no kill, no clock, no log). pool.c is the shell
 * around it: it reads the clock, sends SPAWN and CALL, kills and logs, and asks this
 * module what state an instance may move to, how many instances to fork and which idle
 * ones to end. tests/unit/test_pool.c drives it alone.
 *
 * An instance (a trustlet) lives through
 *
 *     T_NONE -> T_STARTING -> T_IDLE <-> T_BUSY -> T_DYING -> T_NONE
 *
 * SPAWN sent, HELLO came, a call handed out and answered, its channel hung up during a
 * call (or it is to end after it), gone from the pool. Any instance may leave the pool
 * (-> T_NONE) from any state it is in: it is killed, it broke the protocol, keep-alive
 * ended it. T_STARTING, T_IDLE and T_BUSY are "live": they count against the function's
 * and the monitor's --max-instances; a T_DYING one has left both counts while its
 * template has yet to say how it ended. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct function;
struct trustlet;

/* T_NONE: not (or no longer) counted in its function. */
enum t_state { T_NONE, T_STARTING, T_IDLE, T_BUSY, T_DYING };

/* The state's name, for logs: "none", "starting", "idle", "busy", "dying" ("?" for a value
 * that is none of them). Static storage. */
const char *cit_pool_state_name(enum t_state s);

/* Whether an instance in state s counts as live (T_STARTING, T_IDLE, T_BUSY). */
bool cit_pool_is_live(enum t_state s);

/* Whether the pool may move an instance from state from to state to: the arrows of the
 * diagram above, and nothing else (no state to itself either). */
bool cit_pool_may_move(enum t_state from, enum t_state to);

/* Moves t (t->fn set) to state to, keeping with it its function's counts (n_starting,
 * n_idle, n_busy, n_dying), its function's idle list (fn->idle, through t->inext and t->iprev:
 * most recently idle first, so that a call takes the warmest instance) and *live, the
 * monitor-wide count of live instances. The one place an instance changes state.
 *
 * Returns 0, or -EINVAL for a move cit_pool_may_move() refuses, and then changes nothing.
 * Refused rather than asserted: an illegal move is a bug in the monitor, and the monitor
 * is the one process whose crash ends every sandbox and every call in flight; refusing
 * keeps the counts equal to the instances in each state (what the caps and keep-alive
 * rely on), and the caller logs it. It is also what a unit test can check in every build
 * (the plain, the sanitizer and a release one alike). */
int cit_pool_move(struct trustlet *t, enum t_state to, uint32_t *live);

/* How many instances the pool keeps at the least: min_instances, and at least 1. It keeps
 * this many idle or starting beyond the queued calls, and keep-alive ends idle ones only
 * while more than this many are idle. */
uint32_t cit_pool_floor(uint32_t min_instances);

/* What dispatch knows of a function once it has handed queued calls to idle instances. */
struct cit_pool_need {
	uint32_t starting, idle, busy; /* the function's counts (n_starting, n_idle, n_busy) */
	uint32_t queued;        /* calls waiting in its queue */
	uint32_t min_instances, max_instances; /* its spec's */
	uint32_t headroom;      /* instances the monitor may still make under its own
				 * --max-instances (all functions together) */
	bool refill;            /* also keep cit_pool_floor() spares ready (not just after a call
				 * was handed out: that fork would compete with the call for CPUs) */
	bool backoff;           /* its instances have been dying before they were ready and the
				 * wait before the next (cit_pool_backoff_ms) is not over */
};

struct cit_spawn_plan {
	uint32_t n;             /* instances to fork now */
	bool capped;            /* the monitor's --max-instances held back some the function
				 * would have had (the caller says so in its log) */
};

/* How many instances to fork for a function: enough that its idle and starting ones cover
 * the queued calls, plus cit_pool_floor(min_instances) spares when refilling; never more
 * than bring it to max_instances live, nor more than headroom; none while backing off. */
struct cit_spawn_plan cit_pool_plan(const struct cit_pool_need *in);

/* Keep-alive: the first instance, from `from` on along fn's idle list (t->inext; `from`
 * NULL or one of its idle instances), that has been idle keepalive_s or longer at now_ns
 * (CLOCK_MONOTONIC ns; idle since t->since_ns) while more than cit_pool_floor() of fn's
 * instances are idle; NULL when there is none. The caller ends it (which takes it off the
 * list and lowers n_idle) and asks again from the one after it:
 *
 *     for (t = cit_pool_reap_next(fn, fn->idle, now); t; t = cit_pool_reap_next(fn, tn, now)) {
 *             tn = t->inext;
 *             end(t);
 *     }
 *
 * The list runs from the most recently idle, so the instances spared are the newest ones
 * not yet expired and, once the floor is reached, the oldest. Borrowed pointers only. */
struct trustlet *cit_pool_reap_next(const struct function *fn, struct trustlet *from, uint64_t now_ns);

/* How many failed attempts in a row make a function stuck. */
#define CIT_START_ATTEMPTS 8

/* How long a function waits before its next instance after n instances in a row ended
 * before they were ready, in ms: 10 ms, doubling, at most 2 s (n 0 and 1: 10 ms). */
uint64_t cit_pool_backoff_ms(uint32_t n);

enum cit_start_verdict {
	CIT_START_SAME,         /* an attempt already counted: nothing changes */
	CIT_START_RETRY,        /* counted: wait cit_pool_backoff_ms(*failures), then try again */
	CIT_START_STUCK,        /* counted, and the CIT_START_ATTEMPTS-th in a row: the function
				 * fails every call until it is redeployed or restarted */
};

/* An instance of a function ended before it was ready. *failures is the function's count
 * of failed attempts in a row (fn->start_failures; the caller zeroes it when an instance
 * says HELLO), attempt what it was when that instance was spawned (t->attempt): instances
 * started in one attempt that all fail count once. Counts the failure in *failures when it
 * is the attempt's first and says what follows. */
enum cit_start_verdict cit_pool_start_failed(uint32_t *failures, uint32_t attempt);
