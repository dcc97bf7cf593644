/* Trustlets and invocations: the pool of pre-forked instances of each function, the queue
 * of calls waiting for one, deadlines, and everything that can go wrong with an instance.
 *
 * A call is queued on its function, handed to an idle trustlet (CALL), and answered when
 * the trustlet's RESULT comes, or when the trustlet dies, times out or misbehaves: then
 * the trustlet is killed (kill_trustlet_process) and the caller gets the reason. The pool keeps
 * max(--min-instances, 1) trustlets ready beyond the queued calls, up to --max-instances;
 * idle ones above --min-instances go after --keep-alive. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "monitor/monitor.h"

#define QUEUE_MAX 4096
#define CLIENT_CALLS_MAX 256  /* calls one connection may have queued or running */
#define DYING_WAIT_NS (200 * 1000000ull)
#define QUEUE_WAIT_MIN_NS (10 * 1000000000ull)

static void call_free(struct call *c)
{
	if (c->obj >= 0)
		close(c->obj);
	free(c->data);
	free(c);
}

static void inflight_unlink(struct monitor *m, struct call *c)
{
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
	if (c->client) {
		c->client->calls--;
		cit_reply_error(m, c->client, c->id, code, "%s", text);
	}
	call_free(c);
}

/* Moves t to state s, keeping its function's counts and idle list with it: the one place
 * a trustlet changes state. */
static void set_state(struct trustlet *t, enum t_state s)
{
	struct function *fn = t->fn;
	switch (t->state) {
	case T_STARTING: fn->n_starting--; break;
	case T_BUSY: fn->n_busy--; break;
	case T_IDLE:
		fn->n_idle--;
		if (t->iprev)
			t->iprev->inext = t->inext;
		else
			fn->idle = t->inext;
		if (t->inext)
			t->inext->iprev = t->iprev;
		t->inext = t->iprev = NULL;
		break;
	default: break;
	}
	switch (s) {
	case T_STARTING: fn->n_starting++; break;
	case T_BUSY: fn->n_busy++; break;
	case T_IDLE:
		fn->n_idle++;
		t->inext = fn->idle;
		if (fn->idle)
			fn->idle->iprev = t;
		fn->idle = t;
		break;
	default: break;
	}
	t->state = s;
}

static void trustlet_unlink(struct monitor *m, struct trustlet *t)
{
	struct function *fn = t->fn;
	if (t->prev)
		t->prev->next = t->next;
	else
		fn->trustlets = t->next;
	if (t->next)
		t->next->prev = t->prev;
	set_state(t, T_NONE);
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

static int spawn(struct monitor *m, struct function *fn)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
		return -errno;
	int one = 1;
	setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	struct trustlet *t = calloc(1, sizeof(*t));
	struct cit_body b = { 0 };
	int rc = t ? cit_proto_send(fn->z->chan, CIT_MSG_SPAWN, 0, &b, sizeof(b), NULL, 0, &sp[1], 1) : -ENOMEM;
	close(sp[1]);
	if (rc == 0) {
		t->ev = (struct cit_ev){ EV_TRUSTLET, t };
		rc = cit_ep_add(m, sp[0], &t->ev);
	}
	if (rc < 0) {
		close(sp[0]);
		free(t);
		return rc;
	}
	t->fn = fn;
	t->chan = sp[0];
	set_state(t, T_STARTING);
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
		struct cit_body b = { .data_len = c->data_len, .obj_len = c->obj_len };
		int rc = c->obj >= 0 ? cit_proto_send(t->chan, CIT_MSG_CALL, c->id, &b, sizeof(b), NULL, 0, &c->obj, 1)
				     : cit_proto_send(t->chan, CIT_MSG_CALL, c->id, &b, sizeof(b), c->data, c->data_len,
						      NULL, 0);
		if (rc < 0) {
			trustlet_kill(m, t, -EIO, "instance stopped accepting calls");
			return dispatch(m, fn, refill);
		}
		fn->q_head = c->next;
		if (!fn->q_head)
			fn->q_tail = NULL;
		fn->q_len--;
		set_state(t, T_BUSY);
		t->call = c;
		c->t = t;
		c->deadline_ns = cit_now_ns() + fn->spec.timeout_ms * 1000000ull;
		c->prev = NULL;
		c->next = m->inflight;
		if (m->inflight)
			m->inflight->prev = c;
		m->inflight = c;
	}
	uint32_t ready = !refill ? 0 : fn->spec.min_instances > 1 ? fn->spec.min_instances : 1;
	while (fn->n_idle + fn->n_starting < fn->q_len + ready && live(fn) < fn->spec.max_instances)
		if (spawn(m, fn) < 0)
			break;
}

void cit_fn_invoke(struct monitor *m, struct client *cl, struct cit_rx *rx)
{
	uint64_t id = rx->hdr.id;
	struct function *fn = cit_fn_find(m, rx->body->name);
	if (!fn)
		return cit_reply_error(m, cl, id, -ENOENT, "no function named '%s' (see citadel ls)", rx->body->name);
	if (cl->calls >= CLIENT_CALLS_MAX)
		return cit_reply_error(m, cl, id, -EBUSY, "this connection has %u calls in flight already", cl->calls);
	if (fn->q_len >= QUEUE_MAX)
		return cit_reply_error(m, cl, id, -EBUSY,
				       "function %s is busy: %u instances (its --max-instances) and %u calls waiting",
				       fn->spec.name, live(fn), fn->q_len);
	if (rx->nfds) {
		int rc = cit_object_check(rx->fds[0], rx->body->obj_len, CIT_FN_MAX_OUTPUT);
		if (rc < 0)
			return cit_reply_error(m, cl, id, rc, "the request's data object is not sealed or too large");
	}
	struct call *c = calloc(1, sizeof(*c));
	if (!c || (rx->body->data_len && !(c->data = malloc(rx->body->data_len)))) {
		free(c);
		return cit_reply_error(m, cl, id, -ENOMEM, "out of memory");
	}
	memcpy(c->data, rx->data, rx->body->data_len);
	c->data_len = rx->body->data_len;
	c->obj = rx->nfds ? steal_fd(&rx->fds[0]) : -1;
	c->obj_len = rx->nfds ? rx->body->obj_len : 0;
	c->client = cl;
	c->id = id;
	c->start_ns = cit_now_ns();
	cl->calls++;
	if (fn->q_tail)
		fn->q_tail->next = c;
	else
		fn->q_head = c;
	fn->q_tail = c;
	fn->q_len++;
	if (fn->state == F_FAILED || fn->state == F_STOPPED)
		cit_fn_start(m, fn);
	dispatch(m, fn, false);
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

static void on_hello(struct monitor *m, struct trustlet *t, struct cit_rx *rx)
{
	struct function *fn = t->fn;
	/* Who says hello is the kernel's account (SO_PASSCRED), not the trustlet's: it must be
	 * a child of this function's template. Only then is its pid worth killing. */
	if (t->state != T_STARTING || !rx->has_cred || cit_verify_child(rx->pid, fn->z->pid) < 0)
		return trustlet_kill(m, t, -EPROTO, "instance broke the protocol (hello)");
	t->pid = rx->pid;
	t->ns_pid = rx->body->aux;
	uint64_t now = cit_now_ns();
	fn->luke_us[fn->luke_n++ % ARRAY_SIZE(fn->luke_us)] = (uint32_t)((now - t->since_ns) / 1000);
	set_state(t, T_IDLE);
	t->since_ns = now;
	cit_pool_dispatch(m, fn);
}

static void on_result(struct monitor *m, struct trustlet *t, struct cit_rx *rx)
{
	struct function *fn = t->fn;
	struct call *c = t->call;
	if (t->state != T_BUSY || !c || rx->hdr.id != c->id)
		return trustlet_kill(m, t, -EPROTO, "instance broke the protocol (unexpected result)");
	const struct cit_body *b = rx->body;
	uint64_t len = rx->nfds ? b->obj_len : b->data_len;
	if (rx->nfds && cit_object_check(rx->fds[0], b->obj_len, UINT64_MAX) < 0)
		return trustlet_kill(m, t, -EPROTO, "instance broke the protocol (response not a sealed data object)");
	if (len > fn->spec.output_bytes)
		return trustlet_kill(m, t, -EFBIG, "the response exceeds the output limit");
	uint64_t now = cit_now_ns();
	inflight_unlink(m, c);
	t->call = NULL;
	fn->invocations++;
	t->served++;
	record_latency(fn, now - c->start_ns);
	if (c->client) {
		c->client->calls--;
		if (b->code < 0) {
			fn->errors++;
			cit_reply_error(m, c->client, c->id, b->code, "function %s failed: %s", fn->spec.name, b->text);
		} else {
			struct cit_body ok = { .data_len = b->data_len, .obj_len = b->obj_len };
			if (cit_proto_send(c->client->fd, CIT_MSG_OK, c->id, &ok, sizeof(ok), rx->data, b->data_len,
					   rx->fds, rx->nfds) < 0)
				cit_mlog(m, "warn", "reply_dropped", "function=%s", fn->spec.name);
		}
	}
	call_free(c);
	if ((fn->spec.flags & CIT_FN_FRESH) || fn->retired) {
		set_state(t, T_DYING);
		trustlet_kill(m, t, 0, "");
	} else {
		set_state(t, T_IDLE);
		t->since_ns = now;
	}
	cit_pool_dispatch(m, fn);
}

void cit_fn_trustlet_event(struct monitor *m, struct trustlet *t, uint32_t events)
{
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
		if (rx.hdr.type == CIT_MSG_HELLO)
			on_hello(m, t, &rx);
		else if (rx.hdr.type == CIT_MSG_RESULT)
			on_result(m, t, &rx);
		else
			trustlet_kill(m, t, -EPROTO, "instance broke the protocol (unexpected message)");
		cit_rx_close(&rx);
	}
	/* It hung up: it died, never started, or closed its channel and lives on (function
	 * code can): it is killed either way. Its template reports how it ended (EXITED); a
	 * busy one waits a moment for that report so that its caller learns the cause. */
	struct function *fn = t->fn;
	kill_trustlet_process(t);
	if (t->state == T_BUSY) {
		set_state(t, T_DYING);
		t->dying_deadline_ns = cit_now_ns() + DYING_WAIT_NS;
		epoll_ctl(m->ep, EPOLL_CTL_DEL, t->chan, NULL);
		if (t->exited)
			cit_pool_exited(m, fn, t->ns_pid, t->exit_status);
		return;
	}
	bool never_started = t->state == T_STARTING;
	trustlet_unlink(m, t);
	if (never_started && !live(fn) && fn->q_head) {
		cit_mlog(m, "error", "spawn_failed", "function=%s", fn->spec.name);
		cit_pool_fail_all(m, fn, -EAGAIN, "could not start an instance");
		return;
	}
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
	bool oom = false;
	uint64_t kills = cit_cgroup_oom_kills(&fn->z->sb.cg);
	if (kills > fn->oom_base) {
		oom = true;
		fn->oom_base = kills;
	}
	for (struct trustlet *t = fn->trustlets; t; t = t->next) {
		if (t->ns_pid != ns_pid || t->state == T_STARTING)
			continue;
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
	for (struct call *c = m->inflight, *next; c; c = next) {
		next = c->next;
		struct trustlet *t = c->t;
		if (t->state == T_DYING && now >= t->dying_deadline_ns) {
			inflight_unlink(m, c);
			t->call = NULL;
			call_fail(m, t->fn, c, -EIO, "function %s: instance ended during the call", t->fn->spec.name);
			trustlet_unlink(m, t);
			cit_pool_dispatch(m, t->fn);
		} else if (t->state == T_BUSY && now >= c->deadline_ns) {
			char why[96];
			snprintf(why, sizeof(why), "timed out after %llu ms", (unsigned long long)t->fn->spec.timeout_ms);
			struct function *fn = t->fn;
			trustlet_kill(m, t, -ETIMEDOUT, why);
			cit_pool_dispatch(m, fn);
		}
	}
	if (m->listen_paused_ns && now - m->listen_paused_ns > 100000000ull &&
	    cit_ep_add(m, m->listen_fd, &m->listen_ev) == 0)
		m->listen_paused_ns = 0;
	if (now >= m->next_keepalive_ns) {
		m->next_keepalive_ns = now + 1000000000ull;
		cit_fn_check_loads(m, now);
		for (struct function *fn = m->functions; fn; fn = fn->next) {
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
				call_fail(m, fn, c, -ETIMEDOUT, "function %s: no instance became free in time", fn->spec.name);
			}
			uint32_t keep = fn->spec.min_instances > 1 ? fn->spec.min_instances : 1;
			uint64_t ka = (uint64_t)fn->spec.keepalive_s * 1000000000ull;
			for (struct trustlet *t = fn->idle, *tn; t && fn->n_idle > keep; t = tn) {
				tn = t->inext;
				if (now - t->since_ns >= ka)
					trustlet_kill(m, t, 0, "");
			}
		}
	}
	cit_fn_reap_discarded(m);
	while (m->grave) {
		struct trustlet *t = m->grave;
		m->grave = t->grave;
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
	for (struct call *c = m->inflight; c; c = c->next) {
		uint64_t d = c->t->state == T_DYING ? c->t->dying_deadline_ns : c->deadline_ns;
		if (d < next)
			next = d;
	}
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

void cit_fn_client_gone(struct monitor *m, struct client *cl)
{
	for (struct call *c = m->inflight; c; c = c->next)
		if (c->client == cl)
			c->client = NULL;
	for (struct function *fn = m->functions; fn; fn = fn->next) {
		for (struct call *c = fn->q_head; c; c = c->next)
			if (c->client == cl)
				c->client = NULL;
		if (fn->deployer == cl)
			fn->deployer = NULL;
	}
}
