/* The pool's state machine and decisions (src/monitor/poolcore.c), with no monitor: every
 * move between instance states against a table of what it must change; thousands of
 * random moves against a reference model (counts, the monitor-wide live count and the
 * idle list, most recently idle first, checked after each); the spawn decision over a
 * grid of inputs against the loop pool.c ran before it had this module; keep-alive; the
 * backoff schedule; a crash loop that ends stuck after CIT_START_ATTEMPTS attempts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "monitor/monitor.h"
#include "monitor/poolcore.h"
#include "tap.h"

#define NSTATES 5
#define NF 3   /* functions */
#define NT 64  /* instances */

static const char *const names[NSTATES] = { "NONE", "STARTING", "IDLE", "BUSY", "DYING" };

static struct function fns[NF];
static struct trustlet ts[NT];
static uint32_t live;

static void reset(void)
{
	memset(fns, 0, sizeof(fns));
	memset(ts, 0, sizeof(ts));
	live = 0;
}

/* ---- every move: what it must change ------------------------------------------------ */

/* One row per (from, to): the result, and the change of the function's counts and of the
 * monitor's live count. Written out by hand from the diagram in poolcore.h. */
static const struct move_row {
	enum t_state from, to;
	int rc;
	int d_starting, d_idle, d_busy, d_dying, d_live;
} moves[] = {
	{ T_NONE, T_NONE, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_NONE, T_STARTING, 0, +1, 0, 0, 0, +1 },  /* SPAWN sent */
	{ T_NONE, T_IDLE, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_NONE, T_BUSY, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_NONE, T_DYING, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_STARTING, T_NONE, 0, -1, 0, 0, 0, -1 },  /* failed start, retired, never ready */
	{ T_STARTING, T_STARTING, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_STARTING, T_IDLE, 0, -1, +1, 0, 0, 0 },  /* HELLO */
	{ T_STARTING, T_BUSY, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_STARTING, T_DYING, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_IDLE, T_NONE, 0, 0, -1, 0, 0, -1 },      /* keep-alive, idle check, retired */
	{ T_IDLE, T_STARTING, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_IDLE, T_IDLE, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_IDLE, T_BUSY, 0, 0, -1, +1, 0, 0 },      /* CALL */
	{ T_IDLE, T_DYING, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_BUSY, T_NONE, 0, 0, 0, -1, 0, -1 },      /* timeout, protocol broken */
	{ T_BUSY, T_STARTING, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_BUSY, T_IDLE, 0, 0, +1, -1, 0, 0 },      /* RESULT */
	{ T_BUSY, T_BUSY, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_BUSY, T_DYING, 0, 0, 0, -1, +1, -1 },    /* hung up during the call; --fresh */
	{ T_DYING, T_NONE, 0, 0, 0, 0, -1, 0 },      /* EXITED, or its wait is over */
	{ T_DYING, T_STARTING, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_DYING, T_IDLE, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_DYING, T_BUSY, -EINVAL, 0, 0, 0, 0, 0 },
	{ T_DYING, T_DYING, -EINVAL, 0, 0, 0, 0, 0 },
};

static bool legal(enum t_state from, enum t_state to)
{
	for (size_t i = 0; i < ARRAY_SIZE(moves); i++)
		if (moves[i].from == from && moves[i].to == to)
			return moves[i].rc == 0;
	return false;
}

/* Brings t from T_NONE to state s by legal moves, as the pool would. */
static void bring(struct trustlet *t, struct function *fn, enum t_state s)
{
	static const enum t_state path[] = { T_STARTING, T_IDLE, T_BUSY, T_DYING };
	t->fn = fn;
	for (size_t i = 0; i < ARRAY_SIZE(path) && t->state != s; i++)
		cit_pool_move(t, path[i], &live);
}

/* Checks what holds whatever happened: each function's counts equal its instances in each
 * state, its idle list holds exactly its idle instances with consistent links, the live
 * count is theirs summed over all functions. Returns NULL or what is wrong. */
static const char *invariants(void)
{
	static char why[160];
	uint32_t all_live = 0;
	for (int f = 0; f < NF; f++) {
		struct function *fn = &fns[f];
		uint32_t n[NSTATES] = { 0 };
		for (int i = 0; i < NT; i++)
			if (ts[i].fn == fn)
				n[ts[i].state]++;
		all_live += n[T_STARTING] + n[T_IDLE] + n[T_BUSY];
		if (fn->n_starting != n[T_STARTING] || fn->n_idle != n[T_IDLE] || fn->n_busy != n[T_BUSY] ||
		    fn->n_dying != n[T_DYING]) {
			snprintf(why, sizeof(why), "function %d counts %u/%u/%u/%u, instances %u/%u/%u/%u", f,
				 fn->n_starting, fn->n_idle, fn->n_busy, fn->n_dying, n[T_STARTING], n[T_IDLE], n[T_BUSY],
				 n[T_DYING]);
			return why;
		}
		uint32_t len = 0;
		for (struct trustlet *t = fn->idle, *prev = NULL; t; prev = t, t = t->inext) {
			if (++len > NT || t->state != T_IDLE || t->fn != fn || t->iprev != prev) {
				snprintf(why, sizeof(why), "function %d: idle list broken at its %u-th entry", f, len);
				return why;
			}
		}
		if (len != n[T_IDLE]) {
			snprintf(why, sizeof(why), "function %d: %u in the idle list, %u idle", f, len, n[T_IDLE]);
			return why;
		}
	}
	for (int i = 0; i < NT; i++)
		if (ts[i].state != T_IDLE && (ts[i].inext || ts[i].iprev)) {
			snprintf(why, sizeof(why), "instance %d is %s but linked in an idle list", i, names[ts[i].state]);
			return why;
		}
	if (live != all_live) {
		snprintf(why, sizeof(why), "live count %u, live instances %u", live, all_live);
		return why;
	}
	return NULL;
}

/* Copies fn's idle list into out (at most NT); returns its length. */
static int idle_list(const struct function *fn, struct trustlet **out)
{
	int n = 0;
	for (struct trustlet *t = fn->idle; t && n < NT; t = t->inext)
		out[n++] = t;
	return n;
}

static void test_moves(void)
{
	bool covered[NSTATES][NSTATES] = { { false } };
	for (size_t r = 0; r < ARRAY_SIZE(moves); r++) {
		const struct move_row *row = &moves[r];
		covered[row->from][row->to] = true;
		reset();
		/* Around the instance moved (ts[0], of fns[0]): one of each state in its function
		 * and in another, and idle ones made before and after it, so that it leaves the
		 * idle list from its middle. */
		struct function *a = &fns[0], *b = &fns[1];
		bring(&ts[1], a, T_IDLE);
		bring(&ts[0], a, row->from);
		bring(&ts[2], a, T_IDLE);
		bring(&ts[3], a, T_STARTING);
		bring(&ts[4], a, T_BUSY);
		bring(&ts[5], a, T_DYING);
		for (int i = 6; i < 6 + NSTATES; i++)
			bring(&ts[i], b, (enum t_state)(i - 6));
		struct function a0 = *a, b0 = *b;
		uint32_t live0 = live;
		struct trustlet *before[NT], *after[NT], *want[NT];
		int n_before = idle_list(a, before), n_want = 0;

		int rc = cit_pool_move(&ts[0], row->to, &live);

		if (row->rc == 0 && row->to == T_IDLE)
			want[n_want++] = &ts[0];
		for (int i = 0; i < n_before; i++)
			if (row->rc != 0 || row->from != T_IDLE || before[i] != &ts[0])
				want[n_want++] = before[i];
		int n_after = idle_list(a, after);
		const char *broken = invariants();
		bool ok = rc == row->rc && cit_pool_may_move(row->from, row->to) == (row->rc == 0) &&
			  ts[0].state == (row->rc == 0 ? row->to : row->from) &&
			  a->n_starting == a0.n_starting + (uint32_t)row->d_starting &&
			  a->n_idle == a0.n_idle + (uint32_t)row->d_idle && a->n_busy == a0.n_busy + (uint32_t)row->d_busy &&
			  a->n_dying == a0.n_dying + (uint32_t)row->d_dying && live == live0 + (uint32_t)row->d_live &&
			  b->n_starting == b0.n_starting && b->n_idle == b0.n_idle && b->n_busy == b0.n_busy &&
			  b->n_dying == b0.n_dying && b->idle == b0.idle &&
			  n_after == n_want && !memcmp(after, want, sizeof(*want) * (size_t)n_want) && !broken;
		if (row->rc == 0)
			tap_ok(ok, "%s -> %s: starting %+d, idle %+d, busy %+d, dying %+d, live %+d%s%s", names[row->from],
			       names[row->to], row->d_starting, row->d_idle, row->d_busy, row->d_dying, row->d_live,
			       row->to == T_IDLE ? ", at the head of the idle list" : "",
			       row->from == T_IDLE ? ", out of the middle of the idle list" : "");
		else
			tap_ok(ok, "%s -> %s refused (-EINVAL), nothing changed%s%s", names[row->from], names[row->to],
			       broken ? ": " : "", broken ? broken : "");
	}
	bool all = true;
	for (int f = 0; f < NSTATES; f++)
		for (int t = 0; t < NSTATES; t++)
			all &= covered[f][t];
	tap_ok(all && ARRAY_SIZE(moves) == NSTATES * NSTATES, "the table has every (from, to) once");
	tap_ok(!strcmp(cit_pool_state_name(T_STARTING), "starting") && !strcmp(cit_pool_state_name(T_DYING), "dying") &&
	       !strcmp(cit_pool_state_name((enum t_state)7), "?"), "state names, and one for a value out of range");
	tap_ok(!cit_pool_is_live(T_NONE) && cit_pool_is_live(T_STARTING) && cit_pool_is_live(T_IDLE) &&
	       cit_pool_is_live(T_BUSY) && !cit_pool_is_live(T_DYING), "live: STARTING, IDLE and BUSY only");
}

/* ---- random moves against a reference model ----------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 11) % n);
}

#define STEPS 50000

static void test_random(void)
{
	reset();
	/* The model: each instance's state and function, each function's idle instances in
	 * an array, most recently idle first. */
	enum t_state state[NT] = { T_NONE };
	int fn_of[NT], order[NF][NT], len[NF] = { 0 };
	int refused = 0, done[NSTATES][NSTATES] = { { 0 } }, longest = 0;
	for (int i = 0; i < NT; i++) {
		fn_of[i] = (int)rnd(NF);
		ts[i].fn = &fns[fn_of[i]];
	}
	const char *broken = NULL;
	char why[200];
	int step;
	for (step = 0; step < STEPS && !broken; step++) {
		int i = (int)rnd(NT);
		if (state[i] == T_NONE && rnd(4) == 0) { /* gone; its slot becomes another's instance */
			fn_of[i] = (int)rnd(NF);
			ts[i].fn = &fns[fn_of[i]];
		}
		enum t_state from = state[i], to = (enum t_state)rnd(NSTATES);
		/* Mostly moves the pool makes, so that the pool fills; a quarter at random. */
		for (int tries = 0; rnd(4) && !legal(from, to) && tries < 32; tries++)
			to = (enum t_state)rnd(NSTATES);
		bool ok = legal(from, to);
		int rc = cit_pool_move(&ts[i], to, &live);
		if (rc != (ok ? 0 : -EINVAL)) {
			snprintf(why, sizeof(why), "%s -> %s returned %d", names[from], names[to], rc);
			broken = why;
			break;
		}
		if (!ok) {
			refused++;
			continue;
		}
		done[from][to]++;
		int f = fn_of[i];
		if (from == T_IDLE) {
			int k = 0;
			while (order[f][k] != i)
				k++;
			memmove(&order[f][k], &order[f][k + 1], sizeof(int) * (size_t)(len[f] - k - 1));
			len[f]--;
		}
		if (to == T_IDLE) {
			memmove(&order[f][1], &order[f][0], sizeof(int) * (size_t)len[f]);
			order[f][0] = i;
			len[f]++;
			longest = len[f] > longest ? len[f] : longest;
		}
		state[i] = to;
		/* After each step: the model's states, the invariants, the idle lists in order. */
		broken = invariants();
		for (int k = 0; k < NT && !broken; k++)
			if (ts[k].state != state[k]) {
				snprintf(why, sizeof(why), "instance %d is %s, the model says %s", k, names[ts[k].state],
					 names[state[k]]);
				broken = why;
			}
		for (int g = 0; g < NF && !broken; g++) {
			struct trustlet *list[NT];
			int n = idle_list(&fns[g], list);
			for (int k = 0; k < (n > len[g] ? n : len[g]) && !broken; k++)
				if (n != len[g] || list[k] != &ts[order[g][k]]) {
					snprintf(why, sizeof(why), "function %d's idle list is not most recently idle first", g);
					broken = why;
				}
		}
	}
	tap_ok(!broken, "%d random moves (%d refused): counts, live count and idle lists follow the model%s%s", step,
	       refused, broken ? ": " : "", broken ? broken : "");
	if (broken)
		printf("# broken at step %d\n", step);
	bool every = true;
	for (int f = 0; f < NSTATES; f++)
		for (int t = 0; t < NSTATES; t++)
			every &= !legal((enum t_state)f, (enum t_state)t) || done[f][t] > 100;
	tap_ok(every && refused > 1000 && longest >= 8,
	       "each legal move made over 100 times, over 1000 refused, idle lists up to %d long", longest);
}

/* ---- how many to spawn --------------------------------------------------------------- */

/* What pool.c's dispatch did before this module: fork one at a time while the idle and
 * starting ones do not cover the queue and the spares and the function is under its
 * --max-instances; a fork the monitor's cap refused ended the loop, and was logged. */
static struct cit_spawn_plan old_dispatch(const struct cit_pool_need *in)
{
	struct cit_spawn_plan p = { 0 };
	if (in->backoff)
		return p;
	uint32_t starting = in->starting;
	uint32_t ready = !in->refill ? 0 : in->min_instances > 1 ? in->min_instances : 1;
	while (in->idle + starting < in->queued + ready && starting + in->idle + in->busy < in->max_instances) {
		if (p.n >= in->headroom) {
			p.capped = true;
			break;
		}
		starting++;
		p.n++;
	}
	return p;
}

static const struct plan_row {
	const char *what;
	struct cit_pool_need in;
	uint32_t n;
	bool capped;
} plans[] = {
	{ "an idle spare and nothing queued: nothing to fork",
	  { .idle = 1, .max_instances = 4, .headroom = 100, .refill = true }, 0, false },
	{ "nothing idle, nothing queued: one spare (min 0)",
	  { .max_instances = 4, .headroom = 100, .refill = true }, 1, false },
	{ "a call just handed out (no refill): no spare forked",
	  { .busy = 1, .max_instances = 4, .headroom = 100 }, 0, false },
	{ "3 queued, 1 idle, 1 starting, no refill: one more",
	  { .idle = 1, .starting = 1, .queued = 3, .max_instances = 8, .headroom = 100 }, 1, false },
	{ "3 queued, 1 idle, 1 starting, refill, min 2: three more",
	  { .idle = 1, .starting = 1, .queued = 3, .min_instances = 2, .max_instances = 8, .headroom = 100,
	    .refill = true }, 3, false },
	{ "min 4, one idle: three spares",
	  { .idle = 1, .min_instances = 4, .max_instances = 8, .headroom = 100, .refill = true }, 3, false },
	{ "busy ones fill its --max-instances: none, calls wait",
	  { .busy = 2, .queued = 5, .max_instances = 2, .headroom = 100, .refill = true }, 0, false },
	{ "its --max-instances bounds the forks: 5 queued, 3 busy of 4",
	  { .busy = 3, .queued = 5, .max_instances = 4, .headroom = 100, .refill = true }, 1, false },
	{ "the monitor has room for 1 of 3 wanted: 1, capped",
	  { .queued = 3, .max_instances = 8, .headroom = 1 }, 1, true },
	{ "the monitor is full and one is wanted: none, capped",
	  { .queued = 1, .max_instances = 8, .headroom = 0 }, 0, true },
	{ "the monitor is full, nothing wanted: not capped",
	  { .idle = 1, .max_instances = 8, .headroom = 0, .refill = true }, 0, false },
	{ "the function is full, so is the monitor: not capped (the function's own limit)",
	  { .busy = 2, .queued = 1, .max_instances = 2, .headroom = 0 }, 0, false },
	{ "backing off: none though calls wait",
	  { .queued = 3, .max_instances = 8, .headroom = 100, .refill = true, .backoff = true }, 0, false },
	{ "a full queue and refill: 4,097 of 16,384",
	  { .queued = 4096, .max_instances = 16384, .headroom = 12000, .refill = true }, 4097, false },
	{ "more live than its max (no new ones)",
	  { .busy = 9, .queued = 1, .max_instances = 4, .headroom = 100, .refill = true }, 0, false },
};

static void test_plan(void)
{
	for (size_t r = 0; r < ARRAY_SIZE(plans); r++) {
		struct cit_spawn_plan p = cit_pool_plan(&plans[r].in);
		tap_ok(p.n == plans[r].n && p.capped == plans[r].capped, "spawn: %s (%u%s)", plans[r].what, p.n,
		       p.capped ? ", capped" : "");
	}
	static const uint32_t mins[] = { 0, 1, 2, 4 }, maxs[] = { 1, 2, 4, 8, 16384 }, queued[] = { 0, 1, 3, 4096 },
			      idle[] = { 0, 1, 2, 5 }, starting[] = { 0, 1, 3 }, busy[] = { 0, 1, 4, 16 },
			      headroom[] = { 0, 1, 3, 12000 };
	unsigned cases = 0, differ = 0, unsound = 0;
	char first[200] = "";
	for (size_t a = 0; a < ARRAY_SIZE(mins); a++)
	for (size_t b = 0; b < ARRAY_SIZE(maxs); b++)
	for (size_t c = 0; c < ARRAY_SIZE(queued); c++)
	for (size_t d = 0; d < ARRAY_SIZE(idle); d++)
	for (size_t e = 0; e < ARRAY_SIZE(starting); e++)
	for (size_t f = 0; f < ARRAY_SIZE(busy); f++)
	for (size_t g = 0; g < ARRAY_SIZE(headroom); g++)
	for (int flags = 0; flags < 4; flags++) {
		if (mins[a] > maxs[b]) /* the spec refuses it */
			continue;
		struct cit_pool_need in = { .min_instances = mins[a], .max_instances = maxs[b], .queued = queued[c],
					    .idle = idle[d], .starting = starting[e], .busy = busy[f],
					    .headroom = headroom[g], .refill = flags & 1, .backoff = flags & 2 };
		struct cit_spawn_plan p = cit_pool_plan(&in), q = old_dispatch(&in);
		cases++;
		uint64_t after = (uint64_t)in.starting + in.idle + in.busy + p.n;
		if (p.n > in.headroom || (p.n && after > in.max_instances) || (in.backoff && (p.n || p.capped)) ||
		    (p.capped && p.n != in.headroom))
			unsound++;
		if (p.n != q.n || p.capped != q.capped) {
			if (!differ++)
				snprintf(first, sizeof(first), " (first: min %u max %u queued %u idle %u starting %u busy %u "
					 "headroom %u refill %d backoff %d: %u%s, was %u%s)", in.min_instances,
					 in.max_instances, in.queued, in.idle, in.starting, in.busy, in.headroom, in.refill,
					 in.backoff, p.n, p.capped ? " capped" : "", q.n, q.capped ? " capped" : "");
		}
	}
	tap_ok(!differ, "spawn: %u cases of the grid decide as the old dispatch loop did (%u differ)%s", cases, differ,
	       first);
	tap_ok(!unsound, "spawn: never past its max or the monitor's headroom, none while backing off (%u not)",
	       unsound);
	tap_ok(cit_pool_floor(0) == 1 && cit_pool_floor(1) == 1 && cit_pool_floor(5) == 5,
	       "the floor: min, at least 1");
}

/* ---- keep-alive ----------------------------------------------------------------------- */

#define S 1000000000ull
#define MS 1000000ull

static const struct reap_row {
	const char *what;
	uint32_t min, keepalive_s;
	int n;
	uint64_t age_ms[6];     /* idle for, head of the list (most recently idle) first */
	const char *reaped;     /* per instance from the head: x reaped, . kept */
} reaps[] = {
	{ "none expired", 0, 10, 3, { 1000, 2000, 3000 }, "..." },
	{ "min 0 keeps one: the newest unexpired", 0, 10, 4, { 1000, 20000, 30000, 40000 }, ".xxx" },
	{ "min 2: the expired nearest the head go first, the oldest stays", 2, 10, 4, { 1000, 20000, 30000, 40000 },
	  ".xx." },
	{ "all expired, min 0: the oldest stays", 0, 10, 3, { 20000, 30000, 40000 }, "xx." },
	{ "keep-alive 0: expired at once", 0, 0, 3, { 0, 0, 0 }, "xx." },
	{ "at the floor: none, however old", 3, 10, 3, { 50000, 60000, 70000 }, "..." },
	{ "exactly the keep-alive is expired, a millisecond less is not", 0, 10, 3, { 9999, 10000, 10001 }, ".xx" },
	{ "one idle: never", 0, 10, 1, { 99000 }, "." },
	{ "30 days", 0, CIT_FN_MAX_KEEPALIVE_S, 2, { 1000, 31ull * 24 * 3600 * 1000 }, ".x" },
};

static void test_keepalive(void)
{
	const uint64_t now = 100ull * 24 * 3600 * S;
	for (size_t r = 0; r < ARRAY_SIZE(reaps); r++) {
		const struct reap_row *row = &reaps[r];
		reset();
		struct function *fn = &fns[0];
		fn->spec.min_instances = row->min;
		fn->spec.keepalive_s = row->keepalive_s;
		bring(&ts[NT - 1], fn, T_BUSY); /* busy ones are not idle: they do not count */
		bring(&ts[NT - 2], fn, T_BUSY);
		for (int i = row->n - 1; i >= 0; i--) { /* the oldest idle first */
			bring(&ts[i], fn, T_IDLE);
			ts[i].since_ns = now - row->age_ms[i] * MS;
		}
		char got[8] = "";
		for (int i = 0; i < row->n; i++)
			got[i] = '.';
		for (struct trustlet *t = cit_pool_reap_next(fn, fn->idle, now), *tn; t;
		     t = cit_pool_reap_next(fn, tn, now)) {
			tn = t->inext;
			got[t - ts] = 'x';
			cit_pool_move(t, T_NONE, &live);
		}
		tap_ok(!strcmp(got, row->reaped) && !invariants(), "keep-alive: %s (%s)", row->what, got);
	}
	reset();
	tap_ok(!cit_pool_reap_next(&fns[0], fns[0].idle, UINT64_MAX), "keep-alive: no idle instance, nothing");
}

/* ---- backoff and the crash loop -------------------------------------------------------- */

static void test_backoff(void)
{
	static const struct { uint32_t n; uint64_t ms; } rows[] = {
		{ 0, 10 }, { 1, 10 }, { 2, 20 }, { 3, 40 }, { 4, 80 }, { 5, 160 }, { 6, 320 }, { 7, 640 },
		{ 8, 1280 }, { 9, 2000 }, { 10, 2000 }, { 64, 2000 }, { UINT32_MAX, 2000 },
	};
	bool ok = true;
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		ok &= cit_pool_backoff_ms(rows[i].n) == rows[i].ms;
	tap_ok(ok, "backoff: 10 ms, doubling, at most 2 s");
	uint64_t sum = 0;
	for (uint32_t n = 1; n < CIT_START_ATTEMPTS; n++)
		sum += cit_pool_backoff_ms(n);
	tap_ok(sum == 1270, "backoff: the waits before a function is stuck add up to 1.27 s (%llu ms)",
	       (unsigned long long)sum);

	uint32_t f = 0;
	int retries = 0;
	enum cit_start_verdict v;
	while ((v = cit_pool_start_failed(&f, f)) == CIT_START_RETRY)
		retries++;
	tap_ok(v == CIT_START_STUCK && retries == CIT_START_ATTEMPTS - 1 && f == CIT_START_ATTEMPTS,
	       "stuck: %d failed attempts retry, the %d-th in a row is stuck", retries, CIT_START_ATTEMPTS);
	f = 2;
	v = cit_pool_start_failed(&f, 2);
	tap_ok(v == CIT_START_RETRY && f == 3 && cit_pool_start_failed(&f, 2) == CIT_START_SAME && f == 3,
	       "stuck: instances of one attempt that all fail count once");
	f = 0; /* a HELLO came since that instance was spawned at attempt 3 */
	tap_ok(cit_pool_start_failed(&f, 3) == CIT_START_SAME && f == 0,
	       "stuck: a failure from before a success does not count");

	/* A crash loop, as the pool drives it: a function with min 2 forks, its instances all
	 * die before HELLO, it waits, forks again, ... until it is stuck. */
	reset();
	struct function *fn = &fns[0];
	fn->spec.min_instances = 2;
	fn->spec.max_instances = 4;
	uint64_t waited = 0;
	int attempts = 0, forks = 0;
	bool stuck = false, quiet = true;
	while (!stuck && attempts < 100) {
		struct cit_pool_need need = { .starting = fn->n_starting, .idle = fn->n_idle, .busy = fn->n_busy,
					      .queued = 1, .min_instances = 2, .max_instances = 4,
					      .headroom = 100 - live, .refill = true };
		struct cit_spawn_plan p = cit_pool_plan(&need);
		need.backoff = true;
		quiet &= cit_pool_plan(&need).n == 0;
		attempts++;
		for (uint32_t i = 0; i < p.n; i++, forks++) {
			ts[i].fn = fn;
			ts[i].attempt = fn->start_failures;
			cit_pool_move(&ts[i], T_STARTING, &live);
		}
		for (uint32_t i = 0; i < p.n; i++) {
			cit_pool_move(&ts[i], T_NONE, &live);
			v = cit_pool_start_failed(&fn->start_failures, ts[i].attempt);
			if (v == CIT_START_RETRY)
				waited += cit_pool_backoff_ms(fn->start_failures);
			stuck |= v == CIT_START_STUCK;
		}
	}
	tap_ok(stuck && attempts == CIT_START_ATTEMPTS && forks == 3 * CIT_START_ATTEMPTS && waited == 1270 && quiet &&
	       live == 0 && !invariants(),
	       "crash loop: stuck after %d attempts of 3 instances each (%d forks), 1270 ms waited (%llu)", attempts,
	       forks, (unsigned long long)waited);
}

int main(void)
{
	test_moves();
	test_random();
	test_plan();
	test_keepalive();
	test_backoff();
	return tap_done();
}
