/* Trustlets and invocations: the pool of pre-forked instances of each function, the queue
 * of calls waiting for one, deadlines, and everything that can go wrong with an instance.
 *
 * A call is queued on its function, handed to an idle trustlet (CALL), and answered when
 * the trustlet's RESULT comes, or when the trustlet dies, times out or misbehaves: then
 * the trustlet is killed (kill_trustlet_process) and the caller gets the reason. The pool keeps
 * max(--min-instances, 1) trustlets ready beyond the queued calls, up to --max-instances;
 * idle ones above --min-instances go after --keep-alive. What state a trustlet may move
 * to and what the pool decides from the counts are poolcore.c's, which does no I/O. */
#include <errno.h>
#include <malloc.h>
#include <sodium.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "monitor/monitor.h"
#include "objects/objects.h"

#define QUEUE_MAX 4096
#define DYING_WAIT_NS (200 * 1000000ull)
#define QUEUE_WAIT_MIN_NS (10 * 1000000000ull)
#define START_WAIT_NS (5 * 1000000000ull) /* SPAWN to HELLO, at most */
#define IDLE_CHECKS 16            /* idle instances looked at a function a second... */
#define IDLE_CHECKS_ALL 512       /* ...and for all functions together */
#define IDLE_CPU_MAX_NS (20 * 1000000ull) /* CPU an idle instance may use between two looks */

/* The call leaves its function's queue: its inline bytes no longer count against its
 * client's and the monitor's queue bounds (and are freed). */
static void call_unqueued(struct monitor *m, struct call *c)
{
	uint64_t bytes = (uint64_t)c->data_len + c->meta_len;
	m->queued_bytes -= bytes;
	if (c->client)
		cit_client_count(c->client, 0, -(int64_t)bytes);
	free(c->data);
	free(c->meta);
	c->data = NULL;
	c->meta = NULL;
	c->data_len = c->meta_len = 0;
}

void cit_call_free(struct monitor *m, struct call *c)
{
	cit_state_call_end(c);
	if (c->data || c->meta)
		call_unqueued(m, c);
	if (c->in)
		cit_held_put(m, c->in);
	for (uint32_t i = 0; i < c->n_inputs; i++)
		cit_value_clear(m, &c->inputs[i]);
	free(c->inputs);
	free(c->input_steps);
	for (uint32_t i = 0; i < c->n_refs; i++)
		cit_held_put(m, c->refs[i].o);
	free(c->refs);
	/* A call it waits for goes on, its outcome for nobody; a parent waiting for it hears
	 * nothing more of it (the parent ends first, or its outcome came already). */
	if (c->child)
		c->child->parent = NULL;
	if (c->parent)
		c->parent->child = NULL;
	free(c);
}

#define call_free cit_call_free

static void inflight_unlink(struct monitor *m, struct call *c)
{
	cit_timer_cancel(&m->timers, &c->deadline);
	if (c->prev)
		c->prev->next = c->next;
	else if (m->inflight == c)
		m->inflight = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

static void record_latency(struct function *fn, uint64_t ns)
{
	fn->lat_us[fn->lat_n++ % LAT_RING] = (uint32_t)(ns / 1000 > UINT32_MAX ? UINT32_MAX : ns / 1000);
	cit_fn_hist(fn, CIT_PHASE_WARM, ns / 1000);
}

/* Gives a call's outcome to whoever waits for it: its client (OK or ERROR), its
 * asynchronous record, its chain run, the call that made it; then frees it. The output is
 * o's inline bytes or held object, or *fd (a data object of obj_len bytes, lent) when the
 * output went to nobody that holds it. */
void cit_reply_outcome(struct monitor *m, struct client *cl, uint64_t id, const struct outcome *o, int fd,
		       uint64_t obj_len)
{
	int out_fd = o->o ? o->o->fd : fd;
	uint64_t out_len = o->o ? o->o->len : obj_len;
	cit_client_count(cl, -1, 0);
	if (o->code < 0) {
		struct cit_p_status st = { .code = o->code, .flags = o->flags };
		if ((o->flags & CIT_STATUS_FUNCTION) && o->http_status >= 400 && o->http_status <= 499)
			st.http_status = o->http_status; /* the caller's mistake, as the function says */
		snprintf(st.text, sizeof(st.text), "%s", o->text);
		cit_proto_send(cl->fd, CIT_MSG_ERROR, id, &st, sizeof(st), NULL, 0, NULL, 0);
		return;
	}
	struct cit_p_ok ok = { .data = { .len = out_fd >= 0 ? 0 : (uint32_t)o->len, .obj_len = out_len },
			       .http_status = o->http_status };
	if (o->content_type)
		memcpy(ok.content_type, o->content_type, sizeof(ok.content_type));
	if (cit_proto_send(cl->fd, CIT_MSG_OK, id, &ok, sizeof(ok), out_fd >= 0 ? NULL : o->data, out_fd >= 0 ? 0 : o->len,
			   out_fd >= 0 ? &out_fd : NULL, out_fd >= 0) < 0)
		cit_mlog(m, "warn", "reply_dropped", "id=%llu", (unsigned long long)id);
	else if (out_fd >= 0)
		cit_client_object_sent(m, cl, 0); /* the function's memory, not ours */
}

/* A sealed call's outcome: its output sealed to the caller's key; the function's own words
 * on a failure (its error text) are withheld, the monitor's (a timeout, a limit) said. */
static void reply_sealed(struct monitor *m, struct call *c, const struct outcome *o, int fd, uint64_t obj_len)
{
	char text[CIT_TEXT_MAX];
	struct outcome failed = *o;
	if (o->code == 0) {
		int rc = cit_attest_reply_sealed(m, c->client, c->id, o, fd, obj_len, c->reply_pk);
		if (rc == 0)
			return;
		snprintf(text, sizeof(text), "sealing the response: %s", strerror(-rc));
		failed = (struct outcome){ .code = rc, .text = text };
	} else if (o->flags & CIT_STATUS_FUNCTION) {
		snprintf(text, sizeof(text), "the function failed (its message is withheld from a sealed call)");
		failed.text = text;
	}
	cit_reply_outcome(m, c->client, c->id, &failed, -1, 0);
}

static void call_end(struct monitor *m, struct call *c, const struct outcome *o, int *fd, uint64_t obj_len)
{
	int out_fd = o->o ? o->o->fd : fd ? *fd : -1;
	uint64_t out_len = o->o ? o->o->len : obj_len;
	if (c->client && c->sealed)
		reply_sealed(m, c, o, fd ? *fd : -1, obj_len);
	else if (c->client)
		cit_reply_outcome(m, c->client, c->id, o, fd ? *fd : -1, obj_len);
	if (c->async) {
		int dup = o->o ? fcntl(o->o->fd, F_DUPFD_CLOEXEC, 3) : -1;
		cit_async_finish(m, c->async, &(struct cit_async_outcome){
			.code = o->code, .flags = o->flags, .text = o->text, .http_status = o->http_status,
			.content_type = o->content_type, .data = o->data, .len = out_fd >= 0 ? 0 : o->len,
			.fd = o->o ? (dup >= 0 ? &dup : NULL) : fd, .obj_len = out_len });
		if (dup >= 0)
			close(dup);
	}
	if (c->run)
		cit_chain_step_done(m, c, o);
	if (c->parent)
		cit_invoke_done(m, c, o);
	call_free(m, c);
}

/* Answers a call with an error and frees it. */
static void call_fail(struct monitor *m, struct function *fn, struct call *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void call_fail(struct monitor *m, struct function *fn, struct call *c, int code, const char *fmt, ...)
{
	char text[CIT_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fn->errors++;
	call_end(m, c, &(struct outcome){ .code = code, .text = text }, NULL, 0);
}

/* Moves t to state s, keeping its function's counts, the monitor's and the idle list with
 * it (cit_pool_move). A move the state machine refuses is a bug in the monitor: it is
 * logged, and t stays as it was. */
static void set_state(struct monitor *m, struct trustlet *t, enum t_state s)
{
	enum t_state from = t->state;
	if (cit_pool_move(t, s, &m->live_instances) < 0) {
		cit_mlog(m, "error", "instance_state", "function=%s pid=%d from=%s to=%s msg=\"a move the pool does "
			 "not make, refused\"", t->fn->spec.name, (int)t->pid, cit_pool_state_name(from),
			 cit_pool_state_name(s));
		return;
	}
	if (s == T_IDLE)
		t->idle_cpu_ns = 0;
}

/* ---- instances by pid: EXITED names one by its pid in the sandbox ------------------- */

static uint32_t pid_slot(uint64_t pid, uint32_t cap)
{
	return (uint32_t)((pid * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static struct trustlet *pid_find(const struct function *fn, uint64_t pid)
{
	if (!fn->by_pid_n)
		return NULL;
	for (uint32_t i = pid_slot(pid, fn->by_pid_cap);; i = (i + 1) & (fn->by_pid_cap - 1)) {
		struct trustlet *t = fn->by_pid[i];
		if (!t || t->ns_pid == pid)
			return t;
	}
}

static void pid_put(struct function *fn, struct trustlet *t)
{
	uint32_t i = pid_slot(t->ns_pid, fn->by_pid_cap);
	while (fn->by_pid[i] && fn->by_pid[i]->ns_pid != t->ns_pid)
		i = (i + 1) & (fn->by_pid_cap - 1);
	if (fn->by_pid[i]) /* a pid reused before its old owner's end was reported */
		fn->by_pid[i]->indexed = false;
	else
		fn->by_pid_n++;
	fn->by_pid[i] = t;
	t->indexed = true;
}

/* Indexes t under its ns_pid; at most half the slots are used. Returns 0 or -ENOMEM. */
static int pid_add(struct function *fn, struct trustlet *t)
{
	if (2 * (fn->by_pid_n + 1) > fn->by_pid_cap) {
		uint32_t cap = fn->by_pid_cap ? 2 * fn->by_pid_cap : 64, old_cap = fn->by_pid_cap;
		struct trustlet **old = fn->by_pid, **table = calloc(cap, sizeof(*table));
		if (!table)
			return -ENOMEM;
		fn->by_pid = table;
		fn->by_pid_cap = cap;
		fn->by_pid_n = 0;
		for (uint32_t i = 0; i < old_cap; i++)
			if (old[i])
				pid_put(fn, old[i]);
		free(old);
	}
	pid_put(fn, t);
	return 0;
}

/* Removes t from the index (linear probing: the entries after it move back into the gap). */
static void pid_del(struct function *fn, struct trustlet *t)
{
	if (!t->indexed)
		return;
	t->indexed = false;
	uint32_t mask = fn->by_pid_cap - 1, i = pid_slot(t->ns_pid, fn->by_pid_cap);
	while (fn->by_pid[i] != t)
		i = (i + 1) & mask;
	fn->by_pid[i] = NULL;
	fn->by_pid_n--;
	for (uint32_t j = (i + 1) & mask; fn->by_pid[j]; j = (j + 1) & mask) {
		uint32_t home = pid_slot(fn->by_pid[j]->ns_pid, fn->by_pid_cap);
		/* An entry stays unless the gap lies between its home and it (cyclically). */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			fn->by_pid[i] = fn->by_pid[j];
			fn->by_pid[j] = NULL;
			i = j;
		}
	}
}

static void trustlet_unlink(struct monitor *m, struct trustlet *t)
{
	pid_del(t->fn, t);
	struct function *fn = t->fn;
	if (t->prev)
		t->prev->next = t->next;
	else
		fn->trustlets = t->next;
	if (t->next)
		t->next->prev = t->prev;
	set_state(m, t, T_NONE);
	cit_timer_cancel(&m->timers, &t->dying);
	cit_dir_keep(fn, t->ns_pid, t->dir);
	epoll_ctl(m->ep, EPOLL_CTL_DEL, t->chan, NULL);
	close(t->chan);
	t->dead = true;
	t->grave = m->grave;
	m->grave = t;
}

/* Sends SIGKILL to a trustlet without ever hitting a reused pid, and without holding a
 * pidfd per trustlet (ten thousand trustlets would need twenty thousand fds). The pidfd is
 * opened now, and the process behind the pid is then checked to be a child of this
 * function's template: if the trustlet was reaped and its pid reused in between, the check
 * fails, or the pidfd names the dead process and the signal goes nowhere. Whether its
 * channel hung up says nothing: function code can keep a channel open past its trustlet. */
static void kill_trustlet_process(struct trustlet *t)
{
	if (t->pid <= 0 || !t->fn->z)
		return;
	int pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
	if (pidfd < 0)
		return;
	if (cit_verify_child(t->pid, t->fn->z->pid) == 0)
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	close(pidfd);
}

/* Kills a trustlet and answers its call, if it had one, with the reason. A trustlet that
 * never said hello has no pid yet: closing its channel ends it (it exits on EOF). */
static void trustlet_kill(struct monitor *m, struct trustlet *t, int code, const char *why)
{
	if (t->dead)
		return;
	kill_trustlet_process(t);
	struct call *c = t->call;
	if (c) {
		inflight_unlink(m, c);
		t->call = NULL;
		cit_mlog(m, "warn", "instance_killed", "function=%s pid=%d msg=\"%s\"", t->fn->spec.name,
			 (int)t->pid, why);
		call_fail(m, t->fn, c, code, "function %s: %s", t->fn->spec.name, why);
	}
	trustlet_unlink(m, t);
}

/* A call's deadline passed while its instance runs it: the instance is ended, the caller
 * told why. */
static void call_timeout(struct monitor *m, struct cit_timer *timer)
{
	struct call *c = container_of(timer, struct call, deadline);
	struct trustlet *t = c->t;
	struct function *fn = t->fn;
	char why[96];
	snprintf(why, sizeof(why), "timed out after %llu ms%s", (unsigned long long)(c->deadline_ns - c->start_run_ns) / 1000000,
		 c->deadline_cap_ns && c->deadline_ns == c->deadline_cap_ns ? " (its caller's deadline)" : "");
	trustlet_kill(m, t, -ETIMEDOUT, why);
	cit_pool_dispatch(m, fn);
}

/* An instance hung up during a call and its template has not said how it ended within
 * DYING_WAIT_NS: the caller hears it ended. */
static void dying_timeout(struct monitor *m, struct cit_timer *timer)
{
	struct trustlet *t = container_of(timer, struct trustlet, dying);
	struct function *fn = t->fn;
	struct call *c = t->call;
	if (c) {
		inflight_unlink(m, c);
		t->call = NULL;
		call_fail(m, fn, c, -EIO, "function %s: instance ended during the call", fn->spec.name);
	}
	trustlet_unlink(m, t);
	cit_pool_dispatch(m, fn);
}

/* fn would have more instances but the monitor's --max-instances are all in use: said at
 * most once a second. */
static void cap_reached(struct monitor *m, struct function *fn)
{
	uint64_t now = cit_now_ns();
	if (now >= m->cap_logged_ns + 1000000000ull) {
		m->cap_logged_ns = now;
		cit_mlog(m, "warn", "instance_cap", "function=%s instances=%u msg=\"the monitor's --max-instances "
			 "are all in use: no instance is made\"", fn->spec.name, m->live_instances);
	}
}

/* Forks one instance of fn (SPAWN to its template); dispatch has checked the caps. */
static int spawn(struct monitor *m, struct function *fn)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
		return -errno;
	int one = 1;
	setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	struct trustlet *t = calloc(1, sizeof(*t));
	struct cit_p_none none = { 0 };
	int rc = t ? cit_proto_send(fn->z->chan, CIT_MSG_SPAWN, 0, &none, sizeof(none), NULL, 0, &sp[1], 1) : -ENOMEM;
	close(sp[1]);
	if (rc == 0) {
		t->peer = (struct cit_peer){ { cit_fn_trustlet_event }, CIT_FROM_TRUSTLET, CIT_ROLE_NONE };
		rc = cit_ep_add(m, sp[0], &t->peer.ev);
	}
	if (rc < 0) {
		close(sp[0]);
		free(t);
		return rc;
	}
	t->fn = fn;
	t->chan = sp[0];
	t->attempt = fn->start_failures;
	t->serial = ++fn->made;
	fn->spawned++;
	set_state(m, t, T_STARTING);
	t->since_ns = cit_now_ns();
	t->next = fn->trustlets;
	if (fn->trustlets)
		fn->trustlets->prev = t;
	fn->trustlets = t;
	return 0;
}

static uint32_t live(const struct function *fn)
{
	return fn->n_starting + fn->n_idle + fn->n_busy;
}

static void dispatch(struct monitor *m, struct function *fn, bool refill);

/* A fan-in step's inputs, each an INPUT before its CALL (same id): a held object's fd with
 * the reference the call now holds, or inline bytes. Returns 0 or the send's error. */
static int send_inputs(struct monitor *m, struct trustlet *t, struct call *c)
{
	for (uint32_t i = 0; i < c->n_inputs; i++) {
		const struct value *v = &c->inputs[i];
		struct cit_p_input in = { .data = { .len = v->o ? 0 : v->len, .obj_len = v->o ? v->o->len : 0 }, .index = i };
		memcpy(in.step, c->input_steps[i], sizeof(in.step));
		if (v->o && !(in.object = cit_call_ref(m, c, v->o)))
			return -ENOMEM;
		int rc = v->o ? cit_proto_send(t->chan, CIT_MSG_INPUT, c->id, &in, sizeof(in), NULL, 0, &v->o->fd, 1)
			      : cit_proto_send(t->chan, CIT_MSG_INPUT, c->id, &in, sizeof(in), v->data, v->len, NULL, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Hands queued calls to idle trustlets, then forks what the queue and the pool need. */
void cit_pool_dispatch(struct monitor *m, struct function *fn)
{
	dispatch(m, fn, true);
}

/* refill: also fork the spare trustlets the pool keeps ready. A call that has just been
 * handed out does not refill: that fork would compete with the call for the CPUs; the
 * pool refills when the result has gone back (on_result). */
static void dispatch(struct monitor *m, struct function *fn, bool refill)
{
	if (fn->state != F_READY || fn->retired)
		return;
	while (fn->idle && fn->q_head) {
		struct trustlet *t = fn->idle;
		struct call *c = fn->q_head;
		/* A call made by another (cit_invoke) whose caller has ended, or whose caller's
		 * deadline passed while it waited, is not started: nobody would take its
		 * outcome, and starting it would only time it out. */
		if (c->depth && (!c->parent || cit_now_ns() >= c->deadline_cap_ns)) {
			fn->q_head = c->next;
			if (!fn->q_head)
				fn->q_tail = NULL;
			fn->q_len--;
			call_fail(m, fn, c, -ETIMEDOUT, "function %s: its caller's deadline passed before it started",
				  fn->spec.name);
			continue;
		}
		struct cit_p_call call = { .data = { .len = c->data_len, .obj_len = c->in ? c->in->len : 0 },
					   .invocation = c->invocation,
					   .grants = c->grants | (c->sealed ? CIT_CALL_SEALED : 0), .n_inputs = c->n_inputs };
		memcpy(call.content_type, c->content_type, sizeof(call.content_type));
		struct cit_p_meta meta = { .data = { .len = c->meta_len } };
		int rc = send_inputs(m, t, c);
		if (rc == 0 && c->meta)
			rc = cit_proto_send(t->chan, CIT_MSG_CALL_META, c->id, &meta, sizeof(meta), c->meta, c->meta_len, NULL, 0);
		if (rc == 0 && c->in && !(call.object = cit_call_ref(m, c, c->in)))
			rc = -ENOMEM;
		if (rc == 0)
			rc = c->in ? cit_proto_send(t->chan, CIT_MSG_CALL, c->id, &call, sizeof(call), NULL, 0, &c->in->fd, 1)
				   : cit_proto_send(t->chan, CIT_MSG_CALL, c->id, &call, sizeof(call), c->data,
						    c->data_len, NULL, 0);
		if (rc < 0) {
			trustlet_kill(m, t, -EIO, "instance stopped accepting calls");
			return dispatch(m, fn, refill);
		}
		fn->q_head = c->next;
		if (!fn->q_head)
			fn->q_tail = NULL;
		fn->q_len--;
		call_unqueued(m, c);
		set_state(m, t, T_BUSY);
		fn->invocations++; /* handed to an instance: counted however it ends */
		t->call = c;
		c->t = t;
		c->start_run_ns = cit_now_ns();
		c->deadline_ns = c->start_run_ns + fn->spec.timeout_ms * 1000000ull;
		if (c->deadline_cap_ns && c->deadline_cap_ns < c->deadline_ns)
			c->deadline_ns = c->deadline_cap_ns > c->start_run_ns ? c->deadline_cap_ns : c->start_run_ns + 1;
		c->deadline.fn = call_timeout;
		if (cit_timer_arm(&m->timers, &c->deadline, c->deadline_ns) < 0) {
			trustlet_kill(m, t, -ENOMEM, "the monitor is out of memory");
			continue;
		}
		c->prev = NULL;
		c->next = m->inflight;
		if (m->inflight)
			m->inflight->prev = c;
		m->inflight = c;
	}
	uint32_t cap = m->opts->max_instances;
	struct cit_pool_need need = {
		.starting = fn->n_starting, .idle = fn->n_idle, .busy = fn->n_busy, .queued = fn->q_len,
		.min_instances = fn->spec.min_instances, .max_instances = fn->spec.max_instances,
		.headroom = m->live_instances < cap ? cap - m->live_instances : 0, .refill = refill,
		/* instances have been dying before they were ready: wait (cit_pool_backoffs) */
		.backoff = fn->backoff_until_ns && cit_now_ns() < fn->backoff_until_ns,
	};
	struct cit_spawn_plan plan = cit_pool_plan(&need);
	for (uint32_t i = 0; i < plan.n; i++)
		if (spawn(m, fn) < 0)
			return;
	if (plan.capped)
		cap_reached(m, fn);
}

/* The CPU time a process has had, in ns (/proc/PID/schedstat), or 0 when it is gone. */
static uint64_t cpu_ns(pid_t pid)
{
	char path[64], buf[96];
	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	return cit_read_file(path, buf, sizeof(buf)) > 0 ? strtoull(buf, NULL, 10) : 0;
}

/* Work left behind by a call that is no thread (a timer and its signal handler, say)
 * spends CPU while the instance waits idle for its next caller: such an instance is
 * ended and replaced. Idle instances are looked at in turn, at most IDLE_CHECKS a
 * function a second (a read of /proc each): one is seen idle at least twice, a second
 * apart, before it is judged. Returns the reads made. */
static unsigned idle_check(struct monitor *m, struct function *fn, uint64_t now, unsigned budget)
{
	unsigned reads = 0;
	uint64_t lowest = 0; /* fn->trustlets holds the newest first: serials go down */
	for (struct trustlet *t = fn->trustlets, *tn; t && reads < budget; t = tn) {
		tn = t->next;
		if (t->state != T_IDLE || (fn->idle_scan_below && t->serial >= fn->idle_scan_below) ||
		    now < t->since_ns + 1000000000ull)
			continue;
		uint64_t cpu = cpu_ns(t->pid);
		reads++;
		lowest = t->serial;
		if (!t->idle_cpu_ns) {
			t->idle_cpu_ns = cpu ? cpu : 1;
		} else if (cpu > t->idle_cpu_ns + IDLE_CPU_MAX_NS) {
			cit_mlog(m, "warn", "instance_replaced", "function=%s pid=%d msg=\"it used %llu ms of CPU while "
				 "idle (work left behind by a call: a timer, a signal handler)\"", fn->spec.name, (int)t->pid,
				 (unsigned long long)((cpu - t->idle_cpu_ns) / 1000000));
			trustlet_kill(m, t, 0, "");
			cit_pool_dispatch(m, fn);
		}
	}
	/* The end of the list reached: the next round starts over. */
	fn->idle_scan_below = reads < budget ? 0 : lowest;
	return reads;
}

/* An instance ended before it was ready, for why. Instances started together (in one
 * attempt) that fail count once. After CIT_START_ATTEMPTS failed attempts in a row the
 * function is stuck: it fails every call with why until a redeploy or a restart; before
 * that, the next attempt waits 10 ms, doubling: 10, 20, ... 640 ms, 1.27 s in all. */
static void start_failed(struct monitor *m, struct function *fn, uint32_t attempt, const char *why)
{
	snprintf(fn->error, sizeof(fn->error), "its instances end before they are ready: %s", why);
	enum cit_start_verdict v = cit_pool_start_failed(&fn->start_failures, attempt);
	if (v == CIT_START_SAME)
		return;
	if (v == CIT_START_STUCK) {
		cit_mlog(m, "error", "function_stuck", "function=%s attempts=%u msg=\"%s\"", fn->spec.name,
			 fn->start_failures, why);
		cit_fn_stuck(m, fn);
		return;
	}
	uint64_t until = cit_now_ns() + cit_pool_backoff_ms(fn->start_failures) * 1000000ull;
	fn->backoff_until_ns = until;
	if (!m->next_backoff_ns || until < m->next_backoff_ns)
		m->next_backoff_ns = until;
	cit_mlog(m, "warn", "instance_start_failed", "function=%s attempt=%u backoff_ms=%llu msg=\"%s\"",
		 fn->spec.name, fn->start_failures, (unsigned long long)cit_pool_backoff_ms(fn->start_failures), why);
}

void cit_pool_backoffs(struct monitor *m, uint64_t now)
{
	if (!m->next_backoff_ns || now < m->next_backoff_ns)
		return;
	m->next_backoff_ns = 0;
	for (struct function *fn = m->functions; fn; fn = fn->next) {
		if (!fn->backoff_until_ns)
			continue;
		if (now >= fn->backoff_until_ns) {
			fn->backoff_until_ns = 0;
			cit_pool_dispatch(m, fn);
		} else if (!m->next_backoff_ns || fn->backoff_until_ns < m->next_backoff_ns) {
			m->next_backoff_ns = fn->backoff_until_ns;
		}
	}
}

/* A call's copy of an INVOKE_META (checked on receipt, len bytes), without its callback:
 * the meta the trustlet gets (CALL_META). *callback points into meta. Returns 0 or -ENOMEM. */
static int take_meta(struct call *c, const char *meta, uint32_t len, const char **callback)
{
	const char *s[CIT_META_STRINGS + 2 * CIT_META_HEADERS + 1];
	const char *why;
	if (cit_meta_parse(meta, len, true, s, NULL, &why) < 0)
		return 0; /* cannot happen: checked on receipt */
	*callback = s[3];
	size_t cb = strlen(s[3]);
	if (!(c->meta = malloc(len - cb)))
		return -ENOMEM;
	size_t head = (size_t)(s[3] - meta);
	memcpy(c->meta, meta, head);
	memcpy(c->meta + head, s[3] + cb, len - head - cb);
	c->meta_len = (uint32_t)(len - cb);
	return 0;
}

static int queue_refusal(struct function *fn, char why[CIT_TEXT_MAX]);

/* INVOKE: the call waits in its function's queue until an idle instance takes it. Every
 * refusal is an ERROR to the caller (the function unknown or failed, the caller's or the
 * monitor's queue bounds reached). */
static void invoke(struct monitor *m, struct client *cl, struct cit_rx *rx, const char *meta, uint32_t meta_len)
{
	uint64_t id = rx->hdr.id;
	const char *name = CIT_P(rx, cit_p_invoke)->name;
	bool async = CIT_P(rx, cit_p_invoke)->flags & CIT_INVOKE_ASYNC;
	struct function *fn = cit_fn_find(m, name);
	if (!fn)
		return cit_reply_error(m, cl, id, -ENOENT, "no function named '%s' (see citadel ls)", name);
	/* Over HTTP (the gateway's calls), a function deployed --invoke-key takes only callers
	 * presenting its key, or an admin token; the local socket keeps its group rule. */
	if (fn->keyed && cl->uid == CIT_GATEWAY_UID && cl->peer.role < CIT_ROLE_ADMIN &&
	    !(cl->bearer_id == id && sodium_memcmp(cl->bearer_hash, fn->invoke_key_hash, 32) == 0))
		return cit_reply_error(m, cl, id, -EKEYREJECTED, "function %s needs its invoke key (Authorization: "
				       "Bearer KEY)%s", fn->spec.name, cl->bearer_id == id ? ": the key given is not it" : "");
	char why_q[CIT_TEXT_MAX];
	int qrc = queue_refusal(fn, why_q);
	if (qrc < 0)
		return cit_reply_error(m, cl, id, qrc, "%s", why_q);
	/* A sealed request is opened here: from now on rx holds its plaintext. */
	_cleanup_free_ void *opened = NULL;
	uint8_t reply_pk[32] = { 0 };
	char ctype[CIT_CTYPE_MAX] = "";
	bool sealed = cit_ctype_sealed(CIT_P(rx, cit_p_invoke)->content_type);
	if (sealed && async)
		return cit_reply_error(m, cl, id, -EINVAL, "a sealed call cannot be asynchronous: its response is for "
				       "its caller's key only");
	if (sealed && (qrc = cit_attest_unseal(m, fn, rx, &opened, reply_pk, ctype, why_q)) < 0)
		return cit_reply_error(m, cl, id, qrc, "%s", why_q);
	/* A connection's own bounds grow with its caller's quota (the gateway's is larger:
	 * it is one connection for all its callers). */
	if (cl->calls >= CLIENT_CALLS_MAX * cl->quota->scale)
		return cit_reply_error(m, cl, id, -EBUSY, "this connection has %u calls in flight already", cl->calls);
	if (rx->nfds) {
		int rc = cit_object_check(rx->fds[0], rx->obj_len, CIT_FN_MAX_OUTPUT);
		if (rc < 0)
			return cit_reply_error(m, cl, id, rc, "the request's data object is not sealed or too large");
	}
	uint32_t len = rx->data_len + meta_len;
	const char *why;
	if (cit_client_may_queue(cl, len, &why) < 0)
		return cit_reply_error(m, cl, id, -EBUSY, "%s", why);
	if (cl->queued_bytes + len > (uint64_t)CLIENT_QUEUED_MAX * cl->quota->scale || m->queued_bytes + len > MON_QUEUED_MAX)
		return cit_reply_error(m, cl, id, -EBUSY, "too many request bytes wait in queues (%s): send "
				       "large requests as data objects, or fewer at once",
				       cl->queued_bytes + len > CLIENT_QUEUED_MAX ? "this connection's" : "the monitor's");
	struct call *c = calloc(1, sizeof(*c));
	if (!c || (rx->data_len && !(c->data = malloc(rx->data_len)))) {
		free(c);
		return cit_reply_error(m, cl, id, -ENOMEM, "out of memory");
	}
	if (rx->data_len)
		memcpy(c->data, rx->data, rx->data_len);
	c->data_len = rx->data_len;
	/* The HTTP request behind it (INVOKE_META just before), its callback kept apart. */
	const char *callback = NULL;
	if (meta && take_meta(c, meta, meta_len, &callback) < 0) {
		free(c->data);
		free(c);
		return cit_reply_error(m, cl, id, -ENOMEM, "out of memory");
	}
	char why2[CIT_TEXT_MAX];
	if (rx->nfds && !(c->in = cit_held_new(m, steal_fd(&rx->fds[0]), rx->obj_len, NULL, 0, why2))) {
		free(c->data);
		free(c->meta);
		free(c);
		return cit_reply_error(m, cl, id, -ENOMEM, "%s", why2);
	}
	if (async) {
		char call_id[CIT_CALL_ID_LEN + 1];
		if (!(c->async = cit_async_new(m, fn->spec.name, callback, call_id, &why))) {
			if (c->in)
				cit_held_put(m, c->in);
			free(c->data);
			free(c->meta);
			free(c);
			return cit_reply_error(m, cl, id, -EBUSY, "%s", why);
		}
		cit_reply_data(m, cl, id, 0, call_id, CIT_CALL_ID_LEN);
	}
	c->client = async ? NULL : cl; /* an asynchronous call's caller has its answer */
	memcpy(c->content_type, sealed ? ctype : CIT_P(rx, cit_p_invoke)->content_type, sizeof(c->content_type));
	c->sealed = sealed;
	memcpy(c->reply_pk, reply_pk, sealed ? sizeof(reply_pk) : 0);
	c->id = id;
	if (c->client)
		cit_client_count(cl, 1, (int64_t)c->data_len + c->meta_len);
	cit_call_queue(m, fn, c, why2); /* checked above: it takes it */
}

/* Why fn cannot take a call now (into why), as a negative errno, or 0. */
static int queue_refusal(struct function *fn, char why[CIT_TEXT_MAX])
{
	if (fn->stuck) {
		fn->errors++;
		snprintf(why, CIT_TEXT_MAX, "function %s has failed: %s (`citadel restart %s` or a redeploy starts it "
			 "again)", fn->spec.name, fn->error, fn->spec.name);
		return -EIO;
	}
	if (fn->q_len >= QUEUE_MAX) {
		snprintf(why, CIT_TEXT_MAX, "function %s is busy: %u instances (its --max-instances) and %u calls "
			 "waiting", fn->spec.name, live(fn), fn->q_len);
		return -EBUSY;
	}
	return 0;
}

int cit_call_queue(struct monitor *m, struct function *fn, struct call *c, char why[CIT_TEXT_MAX])
{
	int rc = queue_refusal(fn, why);
	if (rc < 0)
		return rc;
	c->invocation = ++fn->calls_made; /* per function: a number tells nothing of other tenants' calls */
	c->grants = CIT_GRANTS_ALL | (fn->spec.n_invokes ? CIT_GRANT_INVOKE : 0);
	c->start_ns = cit_now_ns();
	m->queued_bytes += c->data_len + c->meta_len;
	if (m->queued_bytes > (8u << 20))
		m->trim = true;
	if (fn->q_tail)
		fn->q_tail->next = c;
	else
		fn->q_head = c;
	fn->q_tail = c;
	fn->q_len++;
	if (fn->state == F_FAILED || fn->state == F_STOPPED)
		cit_fn_start(m, fn);
	dispatch(m, fn, false);
	return 0;
}

int cit_fn_invoke(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *cl = container_of(p, struct client, peer);
	char *meta = cl->meta_id == rx->hdr.id ? cl->meta : NULL;
	uint32_t meta_len = meta ? cl->meta_len : 0;
	if (cl->meta && !meta)
		free(cl->meta);
	cl->meta = NULL;
	cl->meta_id = 0;
	invoke(m, cl, rx, meta, meta_len);
	free(meta);
	cl->bearer_id = 0;
	return 0;
}

/* INVOKE_META: kept for the client's next message, which must be the INVOKE of that id
 * (else it is dropped). proto.c has checked its shape. */
int cit_fn_invoke_meta(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	(void)m;
	struct client *cl = container_of(p, struct client, peer);
	free(cl->meta);
	cl->meta = NULL;
	if (!(cl->meta = malloc(rx->data_len)))
		return 0; /* its INVOKE goes without it */
	memcpy(cl->meta, rx->data, rx->data_len);
	cl->meta_len = rx->data_len;
	cl->meta_id = rx->hdr.id;
	return 0;
}

void cit_pool_retire(struct monitor *m, struct function *fn)
{
	for (struct trustlet *t = fn->trustlets, *next; t; t = next) {
		next = t->next;
		if (t->state == T_IDLE || t->state == T_STARTING)
			trustlet_kill(m, t, 0, "");
	}
}

/* Every queued call of fn fails with the reason (its template failed, it was removed). */
void cit_pool_fail_all(struct monitor *m, struct function *fn, int code, const char *why)
{
	while (fn->trustlets)
		trustlet_kill(m, fn->trustlets, code, why);
	while (fn->q_head) {
		struct call *c = fn->q_head;
		fn->q_head = c->next;
		call_fail(m, fn, c, code, "function %s: %s", fn->spec.name, why);
	}
	fn->q_tail = NULL;
	fn->q_len = 0;
}

/* Reads /proc/PID/status's PPid: the kernel's word on who made a process. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (cit_read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	const char *p = strstr(buf, "\nPPid:");
	return p ? (pid_t)strtol(p + 6, NULL, 10) : -1;
}

int cit_verify_child(pid_t pid, pid_t parent)
{
	return pid > 0 && parent > 0 && parent_of(pid) == parent ? 0 : -EPERM;
}

int cit_pool_on_hello(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct trustlet *t = container_of(p, struct trustlet, peer);
	struct function *fn = t->fn;
	const struct cit_p_hello *h = CIT_P(rx, cit_p_hello);
	/* An instance that could not confine itself says why before it exits: the function's
	 * reason if that keeps happening (start_failed, when its channel closes). */
	if (t->state == T_STARTING && h->code < 0) {
		snprintf(t->why, sizeof(t->why), "%s", h->text[0] ? h->text : strerror(-h->code));
		return 0;
	}
	/* Who says hello is the kernel's account (SO_PASSCRED), not the trustlet's: it must be
	 * a child of this function's template. Only then is its pid worth killing. */
	if (t->state != T_STARTING || !rx->has_cred || cit_verify_child(rx->pid, fn->z->pid) < 0)
		return trustlet_kill(m, t, -EPROTO, "instance broke the protocol (hello)"), 0;
	t->pid = rx->pid;
	t->ns_pid = h->pid;
	/* When the function's memory runs out (its instances, or files in their private
	 * directories, which no process owns), the kernel ends an instance, never its
	 * template or its sandbox's init: each instance is its first choice (its processes
	 * inherit that). The pid was just checked to be the template's child. */
	char adj[64];
	snprintf(adj, sizeof(adj), "/proc/%d/oom_score_adj", (int)t->pid);
	int afd = open(adj, O_WRONLY | O_CLOEXEC);
	if (afd >= 0) {
		if (write(afd, "1000", 4) != 4)
			cit_mlog(m, "warn", "oom_score_adj", "function=%s pid=%d", fn->spec.name, (int)t->pid);
		close(afd);
	}
	if (pid_add(fn, t) < 0)
		return trustlet_kill(m, t, -ENOMEM, "the monitor is out of memory"), 0;
	memcpy(t->dir, h->dir, sizeof(t->dir)); /* checked on receipt (proto.c) */
	uint64_t now = cit_now_ns();
	fn->luke_us[fn->luke_n++ % ARRAY_SIZE(fn->luke_us)] = (uint32_t)((now - t->since_ns) / 1000);
	cit_fn_hist(fn, CIT_PHASE_LUKEWARM, (now - t->since_ns) / 1000);
	fn->start_failures = 0;
	fn->backoff_until_ns = 0;
	set_state(m, t, T_IDLE);
	t->since_ns = now;
	if (!fn->first_hello) {
		/* The template forks instances that confine themselves and answer: only now is a
		 * deploy done (LOADED alone is the template's word, which the function's code
		 * shares a process with and can forge). */
		fn->first_hello = true;
		if (fn->deploying)
			cit_fn_deploy_done(m, fn);
	}
	cit_pool_dispatch(m, fn);
	return 0;
}

/* How many threads the instance has now: the link count of its /proc/PID/task is 2 + its
 * threads (one statx, about 1 µs; no fd is kept per instance: ten thousand instances
 * must fit in one fd each). It has just answered, so the pid is still its own; were it
 * gone and the pid reused, a wrong count could only end it, through the checked kill.
 * UINT32_MAX when it cannot be read (it is gone). */
static uint32_t threads(const struct trustlet *t)
{
	char path[64];
	struct statx sx;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	if (t->pid <= 0 || statx(AT_FDCWD, path, 0, STATX_NLINK, &sx) < 0 || sx.stx_nlink < 3)
		return UINT32_MAX;
	return (uint32_t)(sx.stx_nlink - 2);
}

int cit_pool_on_result(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct trustlet *t = container_of(p, struct trustlet, peer);
	struct function *fn = t->fn;
	struct call *c = t->call;
	if (t->state != T_BUSY || !c || rx->hdr.id != c->id)
		return trustlet_kill(m, t, -EPROTO, "instance broke the protocol (unexpected result)"), 0;
	const struct cit_p_result *b = CIT_P(rx, cit_p_result);
	uint64_t len = rx->nfds ? rx->obj_len : rx->data_len;
	if (rx->nfds && cit_object_check(rx->fds[0], rx->obj_len, UINT64_MAX) < 0)
		return trustlet_kill(m, t, -EPROTO, "instance broke the protocol (response not a sealed data object)"), 0;
	if (len > fn->spec.output_bytes)
		return trustlet_kill(m, t, -EFBIG, "the response exceeds the output limit"), 0;
	uint64_t now = cit_now_ns();
	inflight_unlink(m, c);
	t->call = NULL;
	t->served++;
	record_latency(fn, now - c->start_ns);
	char text[CIT_TEXT_MAX];
	int code = b->code;
	uint32_t own = 0; /* CIT_STATUS_FUNCTION: the function's failure */
	struct held *made = NULL, *out = NULL;
	if (code == 0 && b->object && !(out = cit_call_held(c, b->object))) {
		code = -EBADF;
		own = CIT_STATUS_FUNCTION;
		snprintf(text, sizeof(text), "function %s failed: its response names no data object it holds (a forged "
			 "or stale reference)", fn->spec.name);
	} else if (code == 0 && rx->nfds && (c->run || c->parent)) {
		/* Held for the step or the call that takes it: within the producer's quota. */
		char why[CIT_TEXT_MAX];
		if (!(out = made = cit_held_new(m, steal_fd(&rx->fds[0]), rx->obj_len, fn->spec.name,
						fn->spec.object_quota, why))) {
			code = -EDQUOT;
			snprintf(text, sizeof(text), "function %s: %s", fn->spec.name, why);
		}
	}
	if (code < 0 && !b->code) {
		fn->errors++;
	} else if (code < 0) {
		fn->errors++;
		/* A process of the call that the kernel ended for the function's memory (an exec
		 * program) is told as such, not as a bare SIGKILL. */
		uint64_t kills = fn->z ? cit_cgroup_oom_kills(&fn->z->sb.cg) : 0;
		if (kills > fn->oom_base) {
			fn->oom_base = kills;
			code = -ENOMEM;
			snprintf(text, sizeof(text), "function %s: the function exceeded its memory limit (%llu MiB): a "
				 "process of the call was killed (%s)", fn->spec.name,
				 (unsigned long long)(fn->spec.memory_bytes >> 20), b->text);
		} else {
			snprintf(text, sizeof(text), "function %s failed: %s", fn->spec.name, b->text);
			own = CIT_STATUS_FUNCTION;
		}
	}
	struct outcome o = { .code = code, .flags = own, .text = text, .http_status = b->http_status,
			     .content_type = b->content_type, .data = rx->data, .len = rx->data_len, .o = out };
	call_end(m, c, &o, rx->nfds && rx->fds[0] >= 0 ? &rx->fds[0] : NULL, rx->obj_len);
	if (made)
		cit_held_put(m, made);
	/* Work that outlives its call (a thread still running) would run on, unseen, while the
	 * instance looks idle: such an instance is ended and replaced, never reused. */
	uint32_t n = threads(t);
	if (n > 1 && n != UINT32_MAX) /* UINT32_MAX: gone already (one ending after its call) */
		cit_mlog(m, "warn", "instance_replaced", "function=%s pid=%d threads=%u msg=\"threads outlived the call\"",
			 fn->spec.name, (int)t->pid, n == UINT32_MAX ? 0 : n);
	if ((fn->spec.flags & CIT_FN_FRESH) || fn->runtime->fresh || fn->retired || n > 1 ||
	    (b->flags & CIT_RESULT_LAST)) {
		set_state(m, t, T_DYING);
		trustlet_kill(m, t, 0, "");
	} else {
		set_state(m, t, T_IDLE);
		t->since_ns = now;
	}
	cit_pool_dispatch(m, fn);
	return 0;
}

/* The answer to a trustlet's request: the same id, a code, a value. A trustlet that does
 * not read its answers (its queue full) broke the protocol: it is ended. */
static void request_reply(struct monitor *m, struct trustlet *t, uint64_t id, int code, uint64_t value)
{
	cit_pool_reply(m, t, id, code, value, NULL, 0, NULL, 0, 0);
}

void cit_pool_reply(struct monitor *m, struct trustlet *t, uint64_t id, int code, uint64_t value, const void *data,
		    size_t len, const int *fds, size_t nfds, uint64_t obj_len)
{
	struct cit_p_reply r = { .data = { .len = (uint32_t)len, .obj_len = obj_len }, .code = code, .value = value };
	if (cit_proto_send(t->chan, CIT_MSG_REPLY, id, &r, sizeof(r), data, len, fds, nfds) < 0)
		trustlet_kill(m, t, -EPROTO, "instance broke the protocol (requests unanswered)");
}

int cit_pool_refuse(struct monitor *m, struct cit_peer *p, struct cit_rx *rx, int code)
{
	request_reply(m, container_of(p, struct trustlet, peer), rx->hdr.id, code, 0);
	return 0;
}

/* LOG: a line for the function's log, marked with the call's invocation id, within the
 * function's log rate (log_append). */
int cit_pool_on_log(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct trustlet *t = container_of(p, struct trustlet, peer);
	int rc = cit_fn_log_line(m, t->fn, t->call->invocation, CIT_P(rx, cit_p_log)->level, (const char *)rx->data,
				 rx->data_len);
	request_reply(m, t, rx->hdr.id, rc, 0);
	return 0;
}

/* DEADLINE: the nanoseconds left to the call (0 when it has passed). */
int cit_pool_on_deadline(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct trustlet *t = container_of(p, struct trustlet, peer);
	uint64_t now = cit_now_ns(), end = t->call->deadline_ns;
	request_reply(m, t, rx->hdr.id, 0, end > now ? end - now : 0);
	return 0;
}

void cit_fn_trustlet_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	struct trustlet *t = container_of(ev, struct trustlet, peer.ev);
	if (t->dead)
		return;
	(void)events;
	/* A few messages at a time (epoll is level-triggered: the rest come next round), so
	 * that one chatty trustlet cannot starve the others. */
	for (int i = 0;; i++) {
		if (i == 4 || t->dead)
			return;
		struct cit_rx rx;
		struct cit_error err = { 0 };
		int rc = cit_proto_recv(t->chan, m->buf, &rx, &err);
		if (rc == -EAGAIN)
			return;
		if (rc < 0)
			return trustlet_kill(m, t, -EPROTO, "instance broke the protocol");
		if (rc == 0)
			break;
		rc = cit_dispatch(m, &t->peer, &rx);
		cit_rx_close(&rx);
		if (rc < 0)
			trustlet_kill(m, t, -EPROTO, "instance broke the protocol (unexpected message)");
	}
	/* It hung up: it died, never started, or closed its channel and lives on (function
	 * code can): it is killed either way. Its template reports how it ended (EXITED); a
	 * busy one waits a moment for that report so that its caller learns the cause. */
	struct function *fn = t->fn;
	kill_trustlet_process(t);
	if (t->state == T_BUSY) {
		set_state(m, t, T_DYING);
		cit_timer_cancel(&m->timers, &t->call->deadline);
		t->dying.fn = dying_timeout;
		if (cit_timer_arm(&m->timers, &t->dying, cit_now_ns() + DYING_WAIT_NS) < 0)
			return dying_timeout(m, &t->dying);
		epoll_ctl(m->ep, EPOLL_CTL_DEL, t->chan, NULL);
		if (t->exited)
			cit_pool_exited(m, fn, t->ns_pid, t->exit_status);
		return;
	}
	bool never_started = t->state == T_STARTING;
	uint32_t attempt = t->attempt;
	char why[CIT_TEXT_MAX];
	snprintf(why, sizeof(why), "%s", t->why[0] ? t->why : "an instance ended before it said hello (see citadel logs)");
	trustlet_unlink(m, t);
	if (never_started && !fn->retired)
		start_failed(m, fn, attempt, why);
	if (!fn->stuck)
		cit_pool_dispatch(m, fn);
}

/* The cause of a trustlet's death from its wait status, as its caller should read it. */
static void describe_death(struct function *fn, int status, bool oom, char *out, size_t cap)
{
	if (oom)
		snprintf(out, cap, "the function exceeded its memory limit (%llu MiB): the instance was killed",
			 (unsigned long long)(fn->spec.memory_bytes >> 20));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		snprintf(out, cap, "instance made a forbidden system call and was killed (SIGSYS)");
	else if (WIFSIGNALED(status))
		snprintf(out, cap, "instance crashed: killed by signal %d (%s)", WTERMSIG(status), sigabbrev_np(WTERMSIG(status)) ?: "?");
	else
		snprintf(out, cap, "instance exited with status %d during the call", WEXITSTATUS(status));
}

void cit_pool_exited(struct monitor *m, struct function *fn, uint64_t ns_pid, int status)
{
	if (++fn->exit_reports > fn->spawned) {
		char why[96];
		snprintf(why, sizeof(why), "its template broke the protocol: it reported pid %llu ended, not one of "
					   "its instances", (unsigned long long)ns_pid);
		return cit_fn_failed(m, fn, why);
	}
	bool oom = false;
	uint64_t kills = cit_cgroup_oom_kills(&fn->z->sb.cg);
	if (kills > fn->oom_base) {
		oom = true;
		fn->oom_base = kills;
	}
	/* One that left the pool already: nothing more to learn. */
	for (struct trustlet *t = cit_dir_exited(m, fn, ns_pid) ? NULL : pid_find(fn, ns_pid); t; t = NULL) {
		cit_dir_remove(m, fn, t->dir);
		t->dir[0] = '\0';
		if (t->state == T_BUSY) { /* its hang-up is still on its way: remember */
			t->exited = true;
			t->exit_status = status;
			t->exit_oom = oom;
			break;
		}
		oom = oom || t->exit_oom;
		char why[CIT_TEXT_MAX];
		describe_death(fn, status, oom, why, sizeof(why));
		if (t->state == T_DYING && t->call) {
			struct call *c = t->call;
			inflight_unlink(m, c);
			t->call = NULL;
			cit_mlog(m, "warn", "instance_died", "function=%s pid=%d msg=\"%s\"", fn->spec.name, (int)t->pid, why);
			call_fail(m, fn, c, -EIO, "function %s: %s", fn->spec.name, why);
		}
		if (t->state == T_DYING)
			trustlet_unlink(m, t);
		break;
	}
	cit_pool_dispatch(m, fn);
}

void cit_fn_tick(struct monitor *m)
{
	uint64_t now = cit_now_ns();
	cit_timer_run(m, &m->timers, now);
	cit_pool_backoffs(m, now);
	cit_fn_logs_resume(m, now);
	if (m->listen_paused_ns && now - m->listen_paused_ns > 100000000ull &&
	    cit_ep_add(m, m->listen_fd, &m->listen_ev) == 0)
		m->listen_paused_ns = 0;
	if (now >= m->next_keepalive_ns) {
		m->next_keepalive_ns = now + 1000000000ull;
		cit_clients_tick(m, now);
		if (m->trim && !m->queued_bytes) {
			/* The queues held much and are empty again: hand the heap back. */
			malloc_trim(0);
			m->trim = false;
		}
		cit_fn_check_loads(m, now);
		unsigned idle_reads = 0;
		for (struct function *fn = m->functions, *fnext; fn; fn = fnext) {
			fnext = fn->next;
			/* cgroup v1 lets each socket pass the socket-buffer limit by a packet
			 * (sandbox.md): a function past it by a quarter is ended, checked once a
			 * second here (a run's supervisor checks every 10 ms). */
			if (fn->z && fn->state == F_READY && cit_cgroup_sockets_over(&fn->z->sb.cg, fn->spec.memory_bytes) == 1) {
				cit_fn_failed(m, fn, "its socket buffers passed its memory limit");
				continue;
			}
			/* Calls that waited too long for an instance. */
			uint64_t wait = fn->spec.timeout_ms * 1000000ull;
			if (wait < QUEUE_WAIT_MIN_NS)
				wait = QUEUE_WAIT_MIN_NS;
			while (fn->q_head && now - fn->q_head->start_ns > wait) {
				struct call *c = fn->q_head;
				fn->q_head = c->next;
				if (!fn->q_head)
					fn->q_tail = NULL;
				fn->q_len--;
				if (fn->start_failures)
					call_fail(m, fn, c, -ETIMEDOUT, "function %s: no instance became ready: %s", fn->spec.name,
						  fn->error);
				else
					call_fail(m, fn, c, -ETIMEDOUT, "function %s: no instance became free in time",
						  fn->spec.name);
			}
			/* Instances that never say HELLO (held in a fork handler, say) are failed
			 * starts too. Their pid is not known yet, so their channel is what ends. */
			for (struct trustlet *t = fn->n_starting ? fn->trustlets : NULL, *tn; t && !fn->stuck; t = tn) {
				tn = t->next;
				/* (since_ns may be after now: made during this tick) */
				if (t->state != T_STARTING || now < t->since_ns + START_WAIT_NS)
					continue;
				uint32_t attempt = t->attempt;
				trustlet_kill(m, t, 0, "");
				start_failed(m, fn, attempt, "an instance did not become ready within 5 s (a fork handler "
							     "or a thread of the template may hold it)");
			}
			if (fn->n_idle && idle_reads < IDLE_CHECKS_ALL)
				idle_reads += idle_check(m, fn, now, IDLE_CHECKS);
			for (struct trustlet *t = cit_pool_reap_next(fn, fn->idle, now), *tn; t;
			     t = cit_pool_reap_next(fn, tn, now)) {
				tn = t->inext;
				trustlet_kill(m, t, 0, "");
			}
		}
	}
	cit_fn_reap_discarded(m);
	while (m->grave) {
		struct trustlet *t = m->grave;
		m->grave = t->grave;
		cit_state_forget(t);
		free(t);
	}
	while (m->zgrave) {
		struct zygote *z = m->zgrave;
		m->zgrave = z->grave;
		free(z);
	}
}

int cit_fn_next_deadline_ms(struct monitor *m)
{
	uint64_t now = cit_now_ns(), next = now + 1000000000ull;
	if (m->next_backoff_ns && m->next_backoff_ns < next)
		next = m->next_backoff_ns;
	if (m->next_log_ns && m->next_log_ns < next)
		next = m->next_log_ns;
	if (cit_timer_next(&m->timers) < next)
		next = cit_timer_next(&m->timers);
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

/* A client has gone: its calls still waiting in queues are dropped (nobody would read
 * their results), the results of those running go nowhere. */
void cit_fn_client_gone(struct monitor *m, struct client *cl)
{
	cit_chain_client_gone(m, cl);
	for (struct call *c = m->inflight; c; c = c->next)
		if (c->client == cl)
			c->client = NULL;
	for (struct function *fn = m->functions; fn; fn = fn->next) {
		struct call **p = &fn->q_head;
		fn->q_tail = NULL;
		while (*p) {
			struct call *c = *p;
			if (c->client != cl) {
				fn->q_tail = c;
				p = &c->next;
				continue;
			}
			*p = c->next;
			fn->q_len--;
			cit_client_count(cl, -1, 0);
			call_free(m, c);
		}
		if (fn->deployer == cl)
			fn->deployer = NULL;
	}
}
