/* Data objects the monitor holds, calls made during a call, and chains (docs/chains.md).
 *
 * A held object is a sealed memfd with a count of references: the calls that were given it
 * (each by a number of its own, valid during that call only: struct callref), the chain runs
 * that keep a step's output for the steps that follow, and the call that makes it. The bytes
 * of an object a function produced count against that function's --object-quota while the
 * monitor holds it; the last reference closes the fd.
 *
 * A chain run walks its steps as their inputs are ready: a step whose predecessors are all
 * done is queued as a call of its function with their outputs as its input (one: the
 * request; several: a fan-in, INPUT messages before the CALL), without a copy when they are
 * objects. A failure ends the run at once (the steps running go on, their outcomes for
 * nobody); the final step's output is the chain's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "monitor/monitor.h"
#include "monitor/worker.h"
#include "objects/objects.h"

/* ---- held objects -------------------------------------------------------------------- */

static void account_drop(struct monitor *m, struct obj_account *a, uint64_t bytes)
{
	a->bytes -= bytes;
	if (--a->objects)
		return;
	for (struct obj_account **p = &m->accounts; *p; p = &(*p)->next) /* unlinked once empty */
		if (*p == a) {
			*p = a->next;
			break;
		}
	free(a);
}

/* Charges len bytes to function name's account (made on its first charge), within quota,
 * into *out. Returns 0, or -EDQUOT or -ENOMEM with why: nothing charged then. */
static int charge(struct monitor *m, const char *name, uint64_t len, uint64_t quota, struct obj_account **out,
		  char why[CIT_TEXT_MAX])
{
	struct obj_account *a = m->accounts;
	while (a && strcmp(a->name, name))
		a = a->next;
	uint64_t held = a ? a->bytes : 0;
	if (held + len > quota) {
		snprintf(why, CIT_TEXT_MAX, "its data objects would pass its --object-quota of %llu MiB (it holds %llu "
			 "bytes in %u objects, and this one is %llu bytes): they are freed as the calls and chains "
			 "holding them end", (unsigned long long)(quota >> 20), (unsigned long long)held,
			 a ? a->objects : 0, (unsigned long long)len);
		return -EDQUOT;
	}
	if (!a && (a = calloc(1, sizeof(*a)))) {
		snprintf(a->name, sizeof(a->name), "%s", name);
		a->next = m->accounts;
		m->accounts = a;
	}
	if (!a) {
		snprintf(why, CIT_TEXT_MAX, "the monitor is out of memory");
		return -ENOMEM;
	}
	a->bytes += len;
	a->objects++;
	*out = a;
	return 0;
}

struct held *cit_held_new(struct monitor *m, int fd, uint64_t len, const char *owner, uint64_t quota,
			  char why[CIT_TEXT_MAX])
{
	struct held *o = calloc(1, sizeof(*o));
	struct obj_account *a = NULL;
	if (!o)
		snprintf(why, CIT_TEXT_MAX, "the monitor is out of memory");
	if (!o || (owner && charge(m, owner, len, quota, &a, why) < 0)) {
		close(fd);
		free(o);
		return NULL;
	}
	o->fd = fd;
	o->len = len;
	o->refs = 1;
	o->acct = a;
	return o;
}

struct held *cit_held_get(struct held *o)
{
	o->refs++;
	return o;
}

/* The last close of a large object frees its pages (about 80 ms for 1 GiB here): done in
 * the worker, so that the loop serves other calls meanwhile. */
#define CLOSE_IN_WORKER_BYTES (1u << 20)

struct close_job {
	struct cit_job job;
	int fd;
};

static void close_run(struct cit_job *job)
{
	close(container_of(job, struct close_job, job)->fd);
}

static void close_done(struct monitor *m, struct cit_job *job)
{
	(void)m;
	struct close_job *j = container_of(job, struct close_job, job);
	if (job->cancelled)
		close(j->fd);
	free(j);
}

void cit_held_put(struct monitor *m, struct held *o)
{
	if (!o || --o->refs)
		return;
	if (o->acct)
		account_drop(m, o->acct, o->len);
	struct close_job *j = o->len >= CLOSE_IN_WORKER_BYTES && m->worker && !m->stopping ? calloc(1, sizeof(*j)) : NULL;
	if (j) {
		j->fd = o->fd;
		j->job.run = close_run;
		j->job.done = close_done;
		cit_worker_submit(m, &j->job);
	} else {
		close(o->fd);
	}
	free(o);
}

void cit_value_clear(struct monitor *m, struct value *v)
{
	free(v->data);
	cit_held_put(m, v->o);
	if (v->acct)
		account_drop(m, v->acct, v->len);
	*v = (struct value){ 0 };
}

/* A copy of v: its bytes copied, or one more reference of its object. */
static int value_copy(struct value *to, const struct value *v)
{
	*to = (struct value){ .len = v->o ? 0 : v->len, .o = v->o ? cit_held_get(v->o) : NULL };
	if (!v->o && v->len && !(to->data = malloc(v->len)))
		return -ENOMEM;
	if (!v->o && v->len)
		memcpy(to->data, v->data, v->len);
	return 0;
}

/* An outcome's output as a value a chain keeps (bytes copied, or a reference): inline bytes
 * are charged to the producer's account, within its quota, as its objects are. Returns 0,
 * -EDQUOT (why says so) or -ENOMEM. */
static int value_of(struct monitor *m, struct value *to, const struct outcome *o, const char *producer,
		    char why[CIT_TEXT_MAX])
{
	struct value v = { .data = (uint8_t *)o->data, .len = (uint32_t)o->len, .o = o->o };
	if (o->o || !o->len)
		return value_copy(to, &v);
	struct function *fn = cit_fn_find(m, producer);
	struct obj_account *a;
	int rc = charge(m, producer, v.len, fn ? fn->spec.object_quota : CIT_FN_DEFAULT_OBJECT_QUOTA, &a, why);
	if (rc < 0)
		return rc;
	rc = value_copy(to, &v);
	if (rc == 0)
		to->acct = a;
	else
		account_drop(m, a, v.len);
	return rc;
}

uint64_t cit_call_ref(struct monitor *m, struct call *c, struct held *o)
{
	for (uint32_t i = 0; i < c->n_refs; i++)
		if (c->refs[i].o == o)
			return c->refs[i].ref; /* one number per object a call holds */
	if (c->n_refs >= CALL_REFS_MAX)
		return 0;
	if (!(c->n_refs & (c->n_refs - 1)) || !c->refs) { /* 0, 1, 2, 4, ...: grow */
		struct callref *r = realloc(c->refs, sizeof(*r) * (c->n_refs ? 2 * c->n_refs : 4));
		if (!r)
			return 0;
		c->refs = r;
	}
	c->refs[c->n_refs++] = (struct callref){ ++m->next_ref, cit_held_get(o) };
	return m->next_ref;
}

struct held *cit_call_held(const struct call *c, uint64_t ref)
{
	for (uint32_t i = 0; ref && i < c->n_refs; i++)
		if (c->refs[i].ref == ref)
			return c->refs[i].o;
	return NULL;
}

/* ---- calls made during a call (FN_INVOKE) --------------------------------------------- */

static void invoke_refuse(struct monitor *m, struct trustlet *t, uint64_t id, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void invoke_refuse(struct monitor *m, struct trustlet *t, uint64_t id, int code, const char *fmt, ...)
{
	char text[CIT_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n >= sizeof(text) ? sizeof(text) - 1 : (size_t)n;
	cit_pool_reply(m, t, id, code, 0, text, len, NULL, 0, 0);
}

/* FN_INVOKE: the running call's function calls another: one its deployment names
 * (--allow-invoke), not one already in this chain of calls (no cycles), within the depth
 * limit and the caller's deadline. The request is inline bytes, a new data object, or an
 * object the call holds, handed on. The answer (a REPLY) comes when the callee's call
 * ends; meanwhile the caller's trustlet waits (its deadline running). */
int cit_chain_on_invoke(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct trustlet *t = container_of(p, struct trustlet, peer);
	struct call *pc = t->call;
	struct function *fn = t->fn;
	const struct cit_p_fn_invoke *q = CIT_P(rx, cit_p_fn_invoke);
	uint64_t id = rx->hdr.id;
	if (pc->child)
		return invoke_refuse(m, t, id, -EBUSY, "a call is waiting for another already"), 0;
	bool granted = false;
	for (uint32_t i = 0; i < fn->spec.n_invokes; i++)
		granted |= !strcmp(fn->spec.invokes[i], q->name);
	if (!granted)
		return invoke_refuse(m, t, id, -EPERM, "function %s may not invoke %s (its deployment's --allow-invoke "
				     "does not name it)", fn->spec.name, q->name), 0;
	if (pc->depth + 1 > CIT_INVOKE_DEPTH_MAX)
		return invoke_refuse(m, t, id, -ELOOP, "calls within calls go %d deep at most", CIT_INVOKE_DEPTH_MAX), 0;
	for (struct call *a = pc; a; a = a->parent)
		if (a->t && !strcmp(a->t->fn->spec.name, q->name))
			return invoke_refuse(m, t, id, -ELOOP, "%s is already among this call's callers: a cycle",
					     q->name), 0;
	struct function *callee = cit_fn_find(m, q->name);
	if (!callee)
		return invoke_refuse(m, t, id, -ENOENT, "no function named '%s'", q->name), 0;
	struct call *c = calloc(1, sizeof(*c));
	char why[CIT_TEXT_MAX];
	if (!c)
		return invoke_refuse(m, t, id, -ENOMEM, "the monitor is out of memory"), 0;
	if (q->object) {
		struct held *o = cit_call_held(pc, q->object);
		if (!o) {
			free(c);
			return invoke_refuse(m, t, id, -EBADF, "the call holds no data object by that reference (a "
					     "forged or stale one)"), 0;
		}
		c->in = cit_held_get(o);
	} else if (rx->nfds) {
		if (cit_object_check(rx->fds[0], rx->obj_len, fn->spec.output_bytes) < 0) {
			free(c);
			return invoke_refuse(m, t, id, -EMSGSIZE, "the request is not a sealed data object of at most the "
					     "caller's --output-limit (%llu bytes)",
					     (unsigned long long)fn->spec.output_bytes), 0;
		}
		if (!(c->in = cit_held_new(m, steal_fd(&rx->fds[0]), rx->obj_len, fn->spec.name, fn->spec.object_quota,
					   why))) {
			free(c);
			return invoke_refuse(m, t, id, -EDQUOT, "function %s: %s", fn->spec.name, why), 0;
		}
	} else if (rx->data_len) {
		if (!(c->data = malloc(rx->data_len))) {
			free(c);
			return invoke_refuse(m, t, id, -ENOMEM, "the monitor is out of memory"), 0;
		}
		memcpy(c->data, rx->data, rx->data_len);
		c->data_len = rx->data_len;
	}
	memcpy(c->content_type, q->content_type, sizeof(c->content_type));
	c->id = id;
	c->parent = pc;
	c->parent_req = id;
	c->depth = pc->depth + 1;
	c->deadline_cap_ns = pc->deadline_ns;
	c->run = NULL;
	int rc = cit_call_queue(m, callee, c, why);
	if (rc < 0) {
		c->parent = NULL;
		cit_call_free(m, c);
		return invoke_refuse(m, t, id, rc, "%s", why), 0;
	}
	pc->child = c;
	return 0;
}

void cit_invoke_done(struct monitor *m, struct call *c, const struct outcome *o)
{
	struct call *pc = c->parent;
	struct trustlet *t = pc->t;
	pc->child = NULL;
	c->parent = NULL;
	if (!t || t->call != pc)
		return;
	if (o->code < 0)
		return cit_pool_reply(m, t, c->parent_req, o->code, 0, o->text, strlen(o->text), NULL, 0, 0);
	if (!o->o)
		return cit_pool_reply(m, t, c->parent_req, 0, 0, o->data, o->len, NULL, 0, 0);
	uint64_t ref = cit_call_ref(m, pc, o->o);
	if (!ref) {
		char full[96];
		int n = snprintf(full, sizeof(full), "the call holds %d data objects already, the most one call may",
				 CALL_REFS_MAX);
		return cit_pool_reply(m, t, c->parent_req, -EMFILE, 0, full, (size_t)n, NULL, 0, 0);
	}
	cit_pool_reply(m, t, c->parent_req, 0, ref, NULL, 0, &o->o->fd, 1, o->o->len);
}

/* ---- chains: their specs ---------------------------------------------------------------- */

struct chain_def {
	struct chain_def *next;
	struct cit_chain_spec spec;
};

static struct chain_def *chain_find(struct monitor *m, const char *name)
{
	for (struct chain_def *d = m->chains; d; d = d->next)
		if (!strcmp(d->spec.name, name))
			return d;
	return NULL;
}

static int chains_dir(struct monitor *m)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/chains", m->opts->state_dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int cit_chains_load(struct monitor *m, struct cit_error *err)
{
	_cleanup_close_ int dfd = chains_dir(m);
	if (dfd < 0)
		return cit_error_set(err, dfd, "making %s/chains", m->opts->state_dir);
	char path[4200];
	snprintf(path, sizeof(path), "%s/chains", m->opts->state_dir);
	DIR *d = opendir(path);
	if (!d)
		return cit_error_set(err, -errno, "reading %s", path);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char file[4400];
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		static _Alignas(16) char buf[sizeof(struct cit_chain_spec) + 1];
		struct chain_def *c = calloc(1, sizeof(*c));
		struct cit_error e2 = { 0 };
		ssize_t n = c ? cit_read_file(file, buf, sizeof(buf)) : -ENOMEM;
		if (n == (ssize_t)sizeof(c->spec))
			memcpy(&c->spec, buf, sizeof(c->spec));
		if (n != (ssize_t)sizeof(c->spec) || cit_chain_check(&c->spec, &e2) < 0 || strcmp(c->spec.name, e->d_name)) {
			cit_mlog(m, "error", "chain_restore_failed", "chain=%s msg=\"%s\"", e->d_name,
				 e2.msg[0] ? e2.msg : "unreadable");
			free(c);
			continue;
		}
		c->next = m->chains;
		m->chains = c;
	}
	closedir(d);
	return 0;
}

static void run_unlink_free(struct monitor *m, struct chain_run *r);

void cit_chains_free_all(struct monitor *m)
{
	while (m->runs)
		run_unlink_free(m, m->runs);
	while (m->chains) {
		struct chain_def *c = m->chains;
		m->chains = c->next;
		free(c);
	}
}

/* A step's function as a fan-in step may be: not exec (its stdin is one stream). */
static const char *fanin_refusal(const struct cit_chain_spec *s, uint32_t i, const struct function *fn)
{
	return cit_chain_fanin(s, i) > 1 && fn && fn->runtime && !strcmp(fn->runtime->name, "exec")
		       ? "an exec function cannot be a fan-in step (it reads one input on its stdin)" : NULL;
}

/* CHAIN_CREATE: checked on receipt (its shape); here against the functions deployed: each
 * exists, and no fan-in step is an exec function. Stored (fsync'd) before the answer; a
 * chain of that name is replaced. */
int cit_chain_create(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *cl = container_of(p, struct client, peer);
	const struct cit_chain_spec *s = rx->payload;
	uint64_t id = rx->hdr.id;
	for (uint32_t i = 0; i < s->n_steps; i++) {
		struct function *fn = cit_fn_find(m, s->steps[i].function);
		if (!fn)
			return cit_reply_error(m, cl, id, -ENOENT, "chain %s: step %s: no function named '%s' (deploy it "
					       "first)", s->name, s->steps[i].name, s->steps[i].function), 0;
		const char *no = fanin_refusal(s, i, fn);
		if (no)
			return cit_reply_error(m, cl, id, -EINVAL, "chain %s: step %s (%s): %s", s->name, s->steps[i].name,
					       fn->spec.name, no), 0;
	}
	struct chain_def *d = chain_find(m, s->name);
	bool fresh = !d;
	if (fresh && !(d = calloc(1, sizeof(*d))))
		return cit_reply_error(m, cl, id, -ENOMEM, "out of memory"), 0;
	_cleanup_close_ int dfd = chains_dir(m);
	int rc = dfd < 0 ? dfd : cit_write_file_at(dfd, ".new", s, sizeof(*s), NULL, 0);
	if (rc == 0 && renameat(dfd, ".new", dfd, s->name) < 0)
		rc = -errno;
	if (rc < 0) {
		if (fresh)
			free(d);
		return cit_reply_error(m, cl, id, rc, "chain %s: saving it: %s", s->name, cit_strerror(rc)), 0;
	}
	d->spec = *s;
	if (fresh) {
		d->next = m->chains;
		m->chains = d;
	}
	cit_mlog(m, "info", fresh ? "chain_created" : "chain_replaced", "chain=%s steps=%u", s->name, s->n_steps);
	return cit_reply_ok(m, cl, id), 0;
}

int cit_chain_remove(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *cl = container_of(p, struct client, peer);
	const char *name = CIT_P(rx, cit_p_name)->name;
	for (struct chain_def **pp = &m->chains; *pp; pp = &(*pp)->next) {
		struct chain_def *d = *pp;
		if (strcmp(d->spec.name, name))
			continue;
		_cleanup_close_ int dfd = chains_dir(m);
		if (dfd < 0 || unlinkat(dfd, name, 0) < 0)
			return cit_reply_error(m, cl, rx->hdr.id, -errno, "chain %s: removing its file: %s", name,
					       strerror(errno)), 0;
		*pp = d->next;
		free(d); /* its runs keep their own copy */
		cit_mlog(m, "info", "chain_removed", "chain=%s", name);
		return cit_reply_ok(m, cl, rx->hdr.id), 0;
	}
	return cit_reply_error(m, cl, rx->hdr.id, -ENOENT, "no chain named '%s' (see citadel chain ls)", name), 0;
}

int cit_chain_list(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *cl = container_of(p, struct client, peer);
	size_t n = 0;
	for (struct chain_def *d = m->chains; d; d = d->next)
		n++;
	struct cit_chain_spec *all = calloc(n ? n : 1, sizeof(*all));
	if (!all)
		return cit_reply_error(m, cl, rx->hdr.id, -ENOMEM, "out of memory"), 0;
	size_t i = 0;
	for (struct chain_def *d = m->chains; d; d = d->next)
		all[i++] = d->spec;
	int rc = cit_reply_data(m, cl, rx->hdr.id, n, all, n * sizeof(*all));
	free(all);
	if (rc < 0)
		cit_reply_error(m, cl, rx->hdr.id, rc, "the list could not be sent: %s", cit_strerror(rc));
	return 0;
}

/* ---- chains: their runs --------------------------------------------------------------- */

struct chain_run {
	struct chain_run *next, *prev; /* in m->runs */
	struct client *client;    /* NULL once it has gone (the outcome is dropped) */
	uint64_t id;              /* its request's */
	struct cit_chain_spec spec; /* a copy: the chain may be replaced or removed meanwhile */
	char content_type[CIT_CTYPE_MAX];
	struct value input;       /* the chain's input, until every first step has it */
	struct value out[CIT_CHAIN_STEPS_MAX]; /* steps' outputs, until every step after has it */
	char ctype[CIT_CHAIN_STEPS_MAX][CIT_CTYPE_MAX]; /* the content types they set */
	uint32_t waiting[CIT_CHAIN_STEPS_MAX]; /* predecessors not done yet */
	uint32_t takers[CIT_CHAIN_STEPS_MAX];  /* steps following it not started yet */
	uint32_t sources;         /* first steps not started yet */
	uint32_t running;         /* its calls not ended */
	bool ended;               /* answered (done or failed) */
	uint64_t start_ns;
};

static void run_unlink_free(struct monitor *m, struct chain_run *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		m->runs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	cit_value_clear(m, &r->input);
	for (uint32_t i = 0; i < CIT_CHAIN_STEPS_MAX; i++)
		cit_value_clear(m, &r->out[i]);
	free(r);
}

/* Frees r once it has ended and no call of it is left. */
static void run_maybe_free(struct monitor *m, struct chain_run *r)
{
	if (r->ended && !r->running)
		run_unlink_free(m, r);
}

/* The run ends (once): its client answered with o's failure or output. Its outputs go (the
 * run itself in run_maybe_free, by whoever holds it last). */
static void run_end(struct monitor *m, struct chain_run *r, const struct outcome *o)
{
	if (r->ended)
		return;
	r->ended = true;
	if (r->client)
		cit_reply_outcome(m, r->client, r->id, o, -1, 0);
	cit_mlog(m, o->code < 0 ? "warn" : "debug", o->code < 0 ? "chain_failed" : "chain_done",
		 "chain=%s us=%llu%s%s%s", r->spec.name, (unsigned long long)((cit_now_ns() - r->start_ns) / 1000),
		 o->code < 0 ? " msg=\"" : "", o->code < 0 ? o->text : "", o->code < 0 ? "\"" : "");
	cit_value_clear(m, &r->input);
	for (uint32_t i = 0; i < CIT_CHAIN_STEPS_MAX; i++)
		cit_value_clear(m, &r->out[i]);
}

static void run_fail(struct monitor *m, struct chain_run *r, uint32_t step, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void run_fail(struct monitor *m, struct chain_run *r, uint32_t step, int code, const char *fmt, ...)
{
	char why[CIT_TEXT_MAX], text[CIT_TEXT_MAX + 160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(text, sizeof(text), "chain %s failed at step %s (function %s): %s", r->spec.name,
		 r->spec.steps[step].name, r->spec.steps[step].function, why);
	text[CIT_TEXT_MAX - 1] = '\0';
	run_end(m, r, &(struct outcome){ .code = code, .text = text });
}

/* Starts step i: its function's call with its input (the chain's, a predecessor's output,
 * or all its predecessors' for a fan-in). Returns 0, or -1 when the run failed. */
static int step_start(struct monitor *m, struct chain_run *r, uint32_t i)
{
	const struct cit_chain_step *s = &r->spec.steps[i];
	struct function *fn = cit_fn_find(m, s->function);
	if (!fn)
		return run_fail(m, r, i, -ENOENT, "no function named '%s'", s->function), -1;
	const char *no = fanin_refusal(&r->spec, i, fn);
	if (no)
		return run_fail(m, r, i, -EINVAL, "%s", no), -1;
	struct call *c = calloc(1, sizeof(*c));
	uint32_t n = cit_chain_fanin(&r->spec, i);
	struct value in = { 0 };
	int rc = c ? 0 : -ENOMEM;
	if (rc == 0 && n <= 1) {
		uint32_t from = n ? (uint32_t)__builtin_ctz(s->after) : 0;
		rc = value_copy(&in, n ? &r->out[from] : &r->input);
		c->in = steal_ptr(&in.o);
		c->data = steal_ptr(&in.data);
		c->data_len = in.len;
	} else if (rc == 0) {
		c->inputs = calloc(n, sizeof(*c->inputs));
		c->input_steps = calloc(n, sizeof(*c->input_steps));
		rc = c->inputs && c->input_steps ? 0 : -ENOMEM;
		for (uint32_t j = 0, k = 0; rc == 0 && j < i; j++)
			if (s->after & (1u << j)) {
				memcpy(c->input_steps[k], r->spec.steps[j].name, CIT_NAME_MAX);
				rc = value_copy(&c->inputs[k++], &r->out[j]);
				c->n_inputs = k;
			}
	}
	char why[CIT_TEXT_MAX] = "the monitor is out of memory";
	if (rc == 0) {
		/* The content type its one input was given (the request's, or what the step before
		 * set); none for a fan-in. */
		if (n <= 1)
			memcpy(c->content_type, n ? r->ctype[__builtin_ctz(s->after)] : r->content_type, CIT_CTYPE_MAX);
		c->id = r->id;
		c->run = r;
		c->step = i;
		rc = cit_call_queue(m, fn, c, why);
	}
	if (rc < 0) {
		if (c) {
			c->run = NULL;
			if (c->data) { /* not queued: its bytes never counted */
				free(c->data);
				c->data = NULL;
				c->data_len = 0;
			}
			cit_call_free(m, c);
		}
		return run_fail(m, r, i, rc, "%s", why), -1;
	}
	r->running++;
	/* What it took is no longer needed once every taker has it. */
	if (!n && !--r->sources)
		cit_value_clear(m, &r->input);
	for (uint32_t j = 0; j < i; j++)
		if ((s->after & (1u << j)) && !--r->takers[j])
			cit_value_clear(m, &r->out[j]);
	return 0;
}

void cit_chain_step_done(struct monitor *m, struct call *c, const struct outcome *o)
{
	struct chain_run *r = c->run;
	uint32_t i = c->step;
	c->run = NULL;
	r->running--;
	if (r->ended)
		return run_maybe_free(m, r);
	if (o->code < 0) {
		/* Its text names the function already ("function F failed: ...", "function F: ..."):
		 * said once, in the step's part. */
		const char *t = o->text;
		size_t fl = strlen(r->spec.steps[i].function);
		if (!strncmp(t, "function ", 9) && !strncmp(t + 9, r->spec.steps[i].function, fl)) {
			const char *rest = t + 9 + fl;
			if (!strncmp(rest, " failed: ", 9))
				t = rest + 9;
			else if (!strncmp(rest, ": ", 2))
				t = rest + 2;
		}
		char text[CIT_TEXT_MAX + 160];
		snprintf(text, sizeof(text), "chain %s failed at step %s (function %s): %s", r->spec.name,
			 r->spec.steps[i].name, r->spec.steps[i].function, t);
		text[CIT_TEXT_MAX - 1] = '\0';
		run_end(m, r, &(struct outcome){ .code = o->code, .flags = o->flags, .text = text,
						 .http_status = o->http_status });
		return run_maybe_free(m, r);
	}
	if (i == cit_chain_final(&r->spec)) {
		run_end(m, r, o);
		return run_maybe_free(m, r);
	}
	char why[CIT_TEXT_MAX] = "the monitor is out of memory";
	int rc = value_of(m, &r->out[i], o, r->spec.steps[i].function, why);
	if (rc < 0) {
		run_fail(m, r, i, rc, "function %s: %s", r->spec.steps[i].function, why);
		return run_maybe_free(m, r);
	}
	if (o->content_type)
		memcpy(r->ctype[i], o->content_type, CIT_CTYPE_MAX);
	for (uint32_t j = i + 1; j < r->spec.n_steps && !r->ended; j++)
		if ((r->spec.steps[j].after & (1u << i)) && !--r->waiting[j])
			step_start(m, r, j);
	run_maybe_free(m, r);
}

/* CHAIN_INVOKE: the chain's first steps (those following none) get the request; the OK or
 * ERROR comes when the final step ends or a step fails. Over HTTP, a chain with a step
 * whose function needs its invoke key is for admins only (the chain would otherwise call
 * that function for anyone). */
int cit_chain_invoke(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *cl = container_of(p, struct client, peer);
	const struct cit_p_invoke *q = CIT_P(rx, cit_p_invoke);
	uint64_t id = rx->hdr.id;
	struct chain_def *d = chain_find(m, q->name);
	if (!d)
		return cit_reply_error(m, cl, id, -ENOENT, "no chain named '%s' (see citadel chain ls)", q->name), 0;
	for (uint32_t i = 0; cl->uid == CIT_GATEWAY_UID && cl->peer.role < CIT_ROLE_ADMIN && i < d->spec.n_steps; i++) {
		struct function *fn = cit_fn_find(m, d->spec.steps[i].function);
		if (fn && fn->keyed)
			return cit_reply_error(m, cl, id, -EKEYREJECTED, "chain %s calls function %s, which needs its "
					       "invoke key: over HTTP the chain takes an admin token", q->name,
					       fn->spec.name), 0;
	}
	if (cit_ctype_sealed(q->content_type))
		return cit_reply_error(m, cl, id, -EINVAL, "a chain cannot be invoked sealed: seal a call to one "
				       "function (docs/attestation.md)"), 0;
	if (cl->calls >= CLIENT_CALLS_MAX * cl->quota->scale)
		return cit_reply_error(m, cl, id, -EBUSY, "this connection has %u calls in flight already", cl->calls), 0;
	const char *why;
	if (cit_client_may_queue(cl, 0, &why) < 0)
		return cit_reply_error(m, cl, id, -EBUSY, "%s", why), 0;
	if (rx->nfds && cit_object_check(rx->fds[0], rx->obj_len, CIT_FN_MAX_OUTPUT) < 0)
		return cit_reply_error(m, cl, id, -EPERM, "the request's data object is not sealed or too large"), 0;
	struct chain_run *r = calloc(1, sizeof(*r));
	char why2[CIT_TEXT_MAX];
	if (!r || (rx->data_len && !(r->input.data = malloc(rx->data_len))) ||
	    (rx->nfds && !(r->input.o = cit_held_new(m, steal_fd(&rx->fds[0]), rx->obj_len, NULL, 0, why2)))) {
		if (r)
			free(r->input.data);
		free(r);
		return cit_reply_error(m, cl, id, -ENOMEM, "out of memory"), 0;
	}
	if (rx->data_len)
		memcpy(r->input.data, rx->data, rx->data_len);
	r->input.len = rx->data_len;
	r->client = cl;
	r->id = id;
	r->spec = d->spec;
	memcpy(r->content_type, q->content_type, sizeof(r->content_type));
	r->start_ns = cit_now_ns();
	for (uint32_t i = 0; i < r->spec.n_steps; i++) {
		r->waiting[i] = cit_chain_fanin(&r->spec, i);
		r->sources += !r->waiting[i];
		for (uint32_t j = 0; j < i; j++)
			r->takers[j] += (r->spec.steps[i].after >> j) & 1u;
	}
	r->next = m->runs;
	if (m->runs)
		m->runs->prev = r;
	m->runs = r;
	cit_client_count(cl, 1, 0);
	for (uint32_t i = 0; i < r->spec.n_steps && !r->ended; i++)
		if (!r->spec.steps[i].after)
			step_start(m, r, i);
	run_maybe_free(m, r);
	return 0;
}

void cit_chain_client_gone(struct monitor *m, struct client *cl)
{
	for (struct chain_run *r = m->runs; r; r = r->next)
		if (r->client == cl)
			r->client = NULL;
}
