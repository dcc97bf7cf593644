/* The pool's pure core (poolcore.h): instance states, the counts and idle list that follow
 * them, and the pool's decisions. No I/O here: pool.c does that. */
#include <errno.h>

#include "common/util.h"
#include "monitor/monitor.h"
#include "monitor/poolcore.h"

const char *cit_pool_state_name(enum t_state s)
{
	static const char *const names[] = { "none", "starting", "idle", "busy", "dying" };
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

bool cit_pool_is_live(enum t_state s)
{
	return s == T_STARTING || s == T_IDLE || s == T_BUSY;
}

bool cit_pool_may_move(enum t_state from, enum t_state to)
{
	switch (to) {
	case T_STARTING: return from == T_NONE;
	case T_IDLE: return from == T_STARTING || from == T_BUSY;
	case T_BUSY: return from == T_IDLE;
	case T_DYING: return from == T_BUSY;
	case T_NONE: return from != T_NONE;
	default: return false;
	}
}

/* The count of fn that instances in state s make up, or NULL for one that has none. */
static uint32_t *count_of(struct function *fn, enum t_state s)
{
	switch (s) {
	case T_STARTING: return &fn->n_starting;
	case T_IDLE: return &fn->n_idle;
	case T_BUSY: return &fn->n_busy;
	case T_DYING: return &fn->n_dying;
	case T_NONE:
	default: return NULL;
	}
}

int cit_pool_move(struct trustlet *t, enum t_state to, uint32_t *live)
{
	struct function *fn = t->fn;
	enum t_state from = t->state;
	if (!cit_pool_may_move(from, to))
		return -EINVAL;
	*live += (uint32_t)cit_pool_is_live(to) - (uint32_t)cit_pool_is_live(from);
	uint32_t *was = count_of(fn, from), *is = count_of(fn, to);
	if (was)
		(*was)--;
	if (is)
		(*is)++;
	if (from == T_IDLE) {
		if (t->iprev)
			t->iprev->inext = t->inext;
		else
			fn->idle = t->inext;
		if (t->inext)
			t->inext->iprev = t->iprev;
		t->inext = t->iprev = NULL;
	}
	if (to == T_IDLE) {
		t->inext = fn->idle;
		if (fn->idle)
			fn->idle->iprev = t;
		fn->idle = t;
	}
	t->state = to;
	return 0;
}

uint32_t cit_pool_floor(uint32_t min_instances)
{
	return min_instances > 1 ? min_instances : 1;
}

struct cit_spawn_plan cit_pool_plan(const struct cit_pool_need *in)
{
	struct cit_spawn_plan plan = { 0 };
	if (in->backoff)
		return plan;
	/* In 64 bits: no sum of counts can wrap. */
	uint64_t have = (uint64_t)in->idle + in->starting;
	uint64_t want = (uint64_t)in->queued + (in->refill ? cit_pool_floor(in->min_instances) : 0);
	uint64_t live = have + in->busy;
	uint64_t n = want > have ? want - have : 0;
	uint64_t room = in->max_instances > live ? in->max_instances - live : 0;
	if (n > room)
		n = room;
	if (n > in->headroom) {
		n = in->headroom;
		plan.capped = true;
	}
	plan.n = (uint32_t)n;
	return plan;
}

struct trustlet *cit_pool_reap_next(const struct function *fn, struct trustlet *from, uint64_t now_ns)
{
	if (fn->n_idle <= cit_pool_floor(fn->spec.min_instances))
		return NULL;
	uint64_t keep_ns = (uint64_t)fn->spec.keepalive_s * 1000000000ull;
	for (struct trustlet *t = from; t; t = t->inext)
		if (now_ns >= t->since_ns + keep_ns)
			return t;
	return NULL;
}

uint64_t cit_pool_backoff_ms(uint32_t n)
{
	uint64_t ms = 10;
	for (uint32_t i = 1; i < n && ms < 2000; i++)
		ms *= 2;
	return ms < 2000 ? ms : 2000;
}

enum cit_start_verdict cit_pool_start_failed(uint32_t *failures, uint32_t attempt)
{
	if (attempt != *failures)
		return CIT_START_SAME; /* started with others before the last failure was counted */
	(*failures)++;
	return *failures >= CIT_START_ATTEMPTS ? CIT_START_STUCK : CIT_START_RETRY;
}
