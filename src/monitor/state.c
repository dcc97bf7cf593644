/* Functions' key-value state, monitor side (docs/state.md).
 *
 * The sealed engine (state/engine.h) runs in a thread of the monitor's own, the state
 * thread, so that neither sealing nor the store's round trips ever hold up the loop. Its
 * backend is the store process (state/store.h): citadel-store, which alone maps the LMDB
 * file, in a sandbox of its own (no network, its directory the only one writable), started
 * again whenever it ends. The loop checks each request (STATE from a trustlet, KV from an
 * admin), resolves its namespace and limits from the deployments, and queues it; the
 * thread takes every request waiting at once, runs their operations as one batch (one
 * transaction and one fsync for all their writes: a group commit), and hands the answers
 * back through an eventfd. A write is answered only once it is durable.
 *
 * The checkpoint (engine.h) is written by the thread to STATE_DIR/state/checkpoint, apart
 * from the store, at most CK_INTERVAL_NS after the writes it covers, and when the monitor
 * stops: a rollback of the whole store to a copy older than the checkpoint is found at the
 * next start. The master key: --master-key-file FILE, else $CITADEL_MASTER_KEY (64 hex
 * digits), else STATE_DIR/master.key, made at first start (32 random bytes, mode 0600) and
 * refused when anyone but its owner may read it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "monitor/monitor.h"
#include "objects/objects.h"
#include "sandbox/idmap.h"
#include "state/engine.h"
#include "state/store.h"
#include "state/wire.h"

#define CK_INTERVAL_NS 1000000000ull  /* the checkpoint trails the writes by at most this */
#define STORE_MAP (16ull << 20)       /* the store's first map; it doubles up to --store-max */
#define STORE_FILE_ID (CIT_ID_BASE - 1) /* the store's file's owner: below the sandboxes' ids */
#define ANSWER_MAX (CIT_STATE_BATCH_MAX - (1u << 20)) /* a batch's values, and room beside */
#define GROUP_MAX (256u << 20)        /* requests' bytes served together at most */
#define STOP_WAIT_NS (5 * 1000000000ull) /* at stop, how long the store has to answer */

/* One request in flight: made by the loop, answered by the thread, sent by the loop. */
struct sreq {
	struct sreq *next;
	struct sreq *lnext, *lprev; /* in the loop's list of those in flight */
	/* who: a trustlet's call, or a client (by serial) */
	struct trustlet *t;       /* NULL once it has gone (the answer is dropped) */
	struct call *call;
	uint64_t invocation;
	uint64_t client;          /* a client's serial, or 0 */
	uint64_t id;              /* its message's */
	/* what */
	char ns[CIT_NAME_MAX];
	uint64_t quota;
	uint32_t value_max;
	uint32_t flags;           /* CIT_KV_* */
	uint8_t *batch;           /* owned */
	size_t len;
	uint32_t n_ops;
	uint64_t session;         /* its call's (locks), 0 for an admin's */
	uint64_t deadline_ns;     /* its call's: a LOCK waits until then at most */
	bool end_session;         /* no batch: the call ended; its locks go, its writes under them too */
	/* the answer */
	int code;                 /* < 0: the batch was refused as a whole (text says why) */
	char text[CIT_TEXT_MAX];
	struct cit_wbuf out;      /* the results (wire.h) */
};

static struct {
	/* shared, under lock */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct sreq *todo, *todo_tail, *done;
	char notes[8][CIT_TEXT_MAX]; /* the thread's events for the loop's log */
	unsigned n_notes;
	bool stop, started;
	/* the store's spawn, asked of the loop: processes are made only by the loop's thread
	 * (a fork in another thread may copy a lock another thread holds) */
	struct {
		bool pending, done;
		char *const *argv;
		int chan, rc;
		struct cit_error *err;
	} spawn;
	pthread_cond_t spawned;
	/* the loop's */
	pthread_t thread;
	int efd;
	struct cit_ev ev;
	struct sreq *inflight;
	uint64_t next_session;    /* the last call's session number given */
	/* the thread's */
	struct cit_sandbox sb;
	struct cit_backend *b;
	struct cit_engine *e;
	uint8_t master[CIT_SEAL_KEY_LEN];
	char dir[4096], ck_path[4200], program[4200], db_path[4200];
	int db_fd;                /* the store's file (STATE_DIR/state/store.mdb), ours */
	uint64_t map_max;
	bool ck_dirty;
	uint64_t ck_ns;
	char fail[CIT_TEXT_MAX];  /* the state is unavailable: why ("" when it is) */
	bool accept;              /* --state-accept: a store whose checkpoint fails is taken */
} st = { .lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1, .db_fd = -1 };

/* An event for the monitor's log, from the thread (the loop logs it). */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	pthread_mutex_lock(&st.lock);
	if (st.n_notes < ARRAY_SIZE(st.notes)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st.notes[st.n_notes++], CIT_TEXT_MAX, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&st.lock);
	uint64_t one = 1;
	if (write(st.efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow */
	}
}

/* ---- the store process, in its sandbox -------------------------------------------------- */

/* In the loop: the spawn the thread asked for. */
static void store_spawn_now(struct monitor *m)
{
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	cfg.cpu_ms = 0;
	cfg.cgroup_parent = m->cg_name;
	cfg.net_host = false;
	cfg.memory_bytes = st.map_max + (256ull << 20); /* its map's pages, and room */
	cfg.pids = 8;
	cfg.nofile = 64;
	cfg.hostname = "citadel-store";
	struct cit_error *err = st.spawn.err;
	char why[CIT_TEXT_MAX];
	int rc = cit_attest_program_ok(st.program, why);
	if (rc < 0)
		cit_error_say(err, rc, "%s", why);
	if (rc == 0)
		rc = cit_sandbox_add_bind(&cfg, st.program, "/citadel/store", CIT_BIND_RO, err);
	if (rc == 0) /* the file alone (ours, shown as the sandbox's own): no directory of ours */
		rc = cit_sandbox_add_bind(&cfg, st.db_path, "/citadel/store.mdb", CIT_BIND_RW, err);
	const int stdio[3] = { st.spawn.chan, STDERR_FILENO, STDERR_FILENO }; /* its last words: our stderr */
	if (rc == 0)
		rc = cit_sandbox_spawn(&cfg, st.spawn.argv, stdio, &st.sb, err);
	st.spawn.rc = rc;
}

/* In the thread: asks the loop to start the store, and waits. */
static int store_spawn(void *ctx, char *const argv[], int chan, struct cit_error *err)
{
	(void)ctx;
	pthread_mutex_lock(&st.lock);
	if (st.stop) {
		pthread_mutex_unlock(&st.lock);
		return cit_error_set(err, -ECANCELED, "the monitor is stopping");
	}
	st.spawn.pending = true;
	st.spawn.done = false;
	st.spawn.argv = argv;
	st.spawn.chan = chan;
	st.spawn.err = err;
	pthread_mutex_unlock(&st.lock);
	uint64_t one = 1;
	if (write(st.efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow */
	}
	pthread_mutex_lock(&st.lock);
	while (!st.spawn.done)
		pthread_cond_wait(&st.spawned, &st.lock);
	int rc = st.spawn.rc;
	pthread_mutex_unlock(&st.lock);
	return rc;
}

/* In the loop: answers the thread's spawn request, if any (refused when stopping). */
static void spawn_serve(struct monitor *m)
{
	pthread_mutex_lock(&st.lock);
	bool pending = st.spawn.pending, stopping = st.stop;
	pthread_mutex_unlock(&st.lock);
	if (!pending)
		return;
	if (stopping)
		st.spawn.rc = cit_error_set(st.spawn.err, -ECANCELED, "the monitor is stopping");
	else
		store_spawn_now(m); /* the thread waits meanwhile: st.sb and the request are ours */
	pthread_mutex_lock(&st.lock);
	st.spawn.pending = false;
	st.spawn.done = true;
	pthread_cond_broadcast(&st.spawned);
	pthread_mutex_unlock(&st.lock);
}

static void store_reap(void *ctx)
{
	(void)ctx;
	if (st.sb.pid) {
		if (!st.stop)
			note("the store process's sandbox (pid %d) ended or failed; a new one is started", (int)st.sb.pid);
		cit_sandbox_release(&st.sb);
		st.sb = (struct cit_sandbox){ .pidfd = -1, .sync = -1 };
	}
}

/* ---- the checkpoint ------------------------------------------------------------------- */

static void checkpoint_write(void)
{
	if (st.fail[0]) /* the evidence stays as it is */
		return;
	size_t cap = cit_engine_checkpoint_size(st.e);
	uint8_t *buf = malloc(cap);
	long n = buf ? cit_engine_checkpoint(st.e, buf, cap) : -ENOMEM;
	char tmp[4300];
	snprintf(tmp, sizeof(tmp), "%s.tmp", st.ck_path);
	int fd = n < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && cit_write_all(fd, buf, (size_t)n) == 0 && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	if (ok && rename(tmp, st.ck_path) == 0) {
		int dfd = open(st.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		st.ck_dirty = false;
		st.ck_ns = cit_now_ns();
	} else {
		note("the state's checkpoint could not be written to %s: %s", st.ck_path, strerror(errno));
		st.ck_ns = cit_now_ns(); /* tried again after the interval */
	}
	free(buf);
}

/* The state is unusable: every request is refused with why, which is logged. */
static void state_fails(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void state_fails(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st.fail, sizeof(st.fail), fmt, ap);
	va_end(ap);
	note("%s", st.fail);
}

/* Verifies the checkpoint left by the last run. A store that holds state but whose
 * checkpoint is missing, damaged, or sealed under another key cannot be checked for a
 * rollback: the state is refused whole, unless --state-accept says to take it as found. */
static void checkpoint_check(bool fresh)
{
	if (fresh) { /* a new store: its first checkpoint now, so that one missing later is seen */
		checkpoint_write();
		return;
	}
	int fd = open(st.ck_path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	uint8_t *buf = NULL;
	size_t len = 0;
	int e = fd < 0 ? errno : 0;
	if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 0 && sb.st_size < (16 << 20) &&
	    (buf = malloc((size_t)sb.st_size)))
		len = cit_read_all(fd, buf, (size_t)sb.st_size) == (ssize_t)sb.st_size ? (size_t)sb.st_size : 0;
	if (fd >= 0)
		close(fd);
	const char *first = NULL;
	struct cit_error err = { 0 };
	int rc = len ? cit_engine_verify(st.e, buf, len, &first, &err)
		     : cit_error_say(&err, -EBADMSG, "the state's checkpoint is %s",
				     e == ENOENT ? "missing" : e ? strerror(e) : "empty or unreadable");
	free(buf);
	if (rc < 0 && st.accept) {
		note("integrity: %s; the store is taken as found (--state-accept): a new checkpoint is written", err.msg);
		st.ck_dirty = true;
	} else if (rc < 0 && rc != -EBADMSG) {
		state_fails("the state store is unavailable: %s", err.msg);
	} else if (rc < 0) {
		state_fails("integrity: %s; a rollback could not be seen, so the state is not used (restore it, or "
			    "start once with --state-accept)", err.msg);
	} else if (rc > 0) {
		note("integrity: %d namespace(s) of the store fail against the checkpoint; the first: %s", rc, first);
	}
}

/* ---- the thread ----------------------------------------------------------------------- */

/* An op of the thread's batch, with where its request's answer will find it. */
struct xop {
	struct cit_engine_op op;
	struct sreq *r;
	struct cit_state_item it;
	size_t voff, vlen;        /* a GET's value in the batch's values */
	struct cit_wbuf names;    /* a SCAN's */
};

static struct cit_wbuf values; /* the thread's: GETs' values, for one batch */

/* got()'s context: the engine's array, and the xops it was copied from. */
struct run {
	struct xop **xp;
	struct cit_engine_op *arr;
};

static void got(void *ctx, struct cit_engine_op *op, const uint8_t *value, size_t len)
{
	struct run *run = ctx;
	struct xop *x = run->xp[op - run->arr];
	x->voff = values.len;
	x->vlen = len;
	if (cit_wbuf_put(&values, value, len, 0) < 0) {
		op->rc = -ENOMEM;
		op->why = "the monitor is out of memory";
	}
}

static void scan_name(void *ctx, const uint8_t *name, size_t nlen, uint64_t version, size_t vlen)
{
	struct xop *x = ctx;
	struct cit_state_name n = { (uint32_t)nlen, (uint32_t)vlen, version };
	if (cit_wbuf_put(&x->names, &n, sizeof(n), 0) < 0 || cit_wbuf_put(&x->names, name, nlen, 1) < 0)
		x->op.rc = -ENOMEM;
}

static void refuse(struct sreq *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refuse(struct sreq *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	r->code = code;
}

/* Runs the ops xp[0..n) point to as engine batches: the ops between SCANs together (one
 * transaction for all their writes), each SCAN from the index after the writes before it
 * are durable. */
static void run_ops(struct xop **xp, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && xp[j]->it.op.kind != CIT_STATE_SCAN)
			j++;
		if (j > i) {
			struct run run = { xp + i, malloc((j - i) * sizeof(*run.arr)) };
			struct cit_error err = { 0 };
			for (size_t k = i; k < j; k++)
				if (run.arr)
					run.arr[k - i] = xp[k]->op;
				else
					xp[k]->op.rc = -ENOMEM, xp[k]->op.why = "the monitor is out of memory";
			if (run.arr) {
				if (cit_engine_run(st.e, run.arr, j - i, got, &run, &err) < 0)
					note("the store refused a batch: %s", err.msg);
				for (size_t k = i; k < j; k++) {
					xp[k]->op = run.arr[k - i];
					st.ck_dirty |= xp[k]->op.kind != CIT_ENGINE_GET;
				}
			}
			free(run.arr);
			i = j;
		}
		if (i < n) { /* a SCAN */
			struct xop *x = xp[i];
			const char *why = NULL;
			x->op.rc = 0;
			long got_n = cit_engine_scan(x->op.ns, x->it.key, x->it.op.klen, x->it.value, x->it.op.vlen,
						     x->it.op.limit, scan_name, x, &why);
			if (got_n < 0)
				x->op.rc = (int)got_n, x->op.why = why;
			i++;
		}
	}
}

/* ---- locks (release consistency) -------------------------------------------------------
 *
 * A call's session holds locks of one namespace at a time. While it holds any, its writes
 * to that namespace are kept here, not made: its own reads see them, nobody else does. Its
 * last unlock makes them, together, in one transaction (or drops them, with
 * CIT_STATE_DISCARD). A lease that runs out, a call that ends, an instance that dies: every
 * lock of the session goes, and its writes with them, never seen. Another caller's write to
 * a locked key is refused (-EBUSY); its reads see what was last made. A LOCK of a key held
 * by another session waits (the request parked) until it is free, or the call's deadline. */

struct buffered {             /* a write made under a lock */
	struct buffered *next;
	enum cit_engine_kind kind;
	uint8_t *name, *value;    /* owned */
	size_t nlen, vlen;
};

struct lock {
	struct lock *next;
	char ns[CIT_NAME_MAX];
	uint8_t *name;            /* owned */
	size_t nlen;
	uint64_t session;
	uint64_t expires_ns;
};

struct session {
	struct session *next;
	uint64_t id;
	char ns[CIT_NAME_MAX];    /* its locks' namespace */
	unsigned n_locks;
	struct buffered *writes, *writes_tail;
	const char *lost;         /* why its locks went (a lease ran out), for its next unlock */
};

static struct lock *locks;
static struct session *sessions;
static struct sreq *parked;   /* LOCKs waiting for their key, oldest first */
static struct sreq *ready;    /* answered outside a batch (a parked LOCK granted), to send */

static struct session *session_of(uint64_t id, bool make)
{
	for (struct session *se = sessions; se; se = se->next)
		if (se->id == id)
			return se;
	struct session *se = make ? calloc(1, sizeof(*se)) : NULL;
	if (se) {
		se->id = id;
		se->next = sessions;
		sessions = se;
	}
	return se;
}

static struct lock *lock_of(const char *ns, const uint8_t *name, size_t nlen)
{
	for (struct lock *l = locks; l; l = l->next)
		if (l->nlen == nlen && !memcmp(l->name, name, nlen) && !strcmp(l->ns, ns))
			return l;
	return NULL;
}

static void writes_drop(struct session *se)
{
	while (se->writes) {
		struct buffered *b = se->writes;
		se->writes = b->next;
		free(b->name);
		free(b->value);
		free(b);
	}
	se->writes_tail = NULL;
}

/* One result for a request answered on its own (a LOCK, an UNLOCK). */
static void answer_one(struct sreq *r, int rc, const char *why)
{
	if (cit_state_add_result(&r->out, rc, 0, why, why ? strlen(why) : 0) < 0)
		refuse(r, -ENOMEM, "the monitor is out of memory");
}

static void grant_parked(const char *ns, const uint8_t *name, size_t nlen);

/* Frees lock l (unlinked first) and gives its key to the oldest parked LOCK of it. */
static void lock_free(struct lock *l)
{
	for (struct lock **p = &locks; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	struct session *se = session_of(l->session, false);
	if (se && se->n_locks)
		se->n_locks--;
	char ns[CIT_NAME_MAX];
	memcpy(ns, l->ns, sizeof(ns));
	uint8_t *name = l->name;
	size_t nlen = l->nlen;
	free(l);
	grant_parked(ns, name, nlen);
	free(name);
}

/* Every lock of session se goes, and the writes made under them: why says so later. */
static void session_lose(struct session *se, const char *why)
{
	for (struct lock *l = locks, *next; l; l = next) {
		next = l->next;
		if (l->session == se->id)
			lock_free(l);
	}
	writes_drop(se);
	se->n_locks = 0;
	se->lost = why;
}

/* Takes the lock for r (a LOCK), or says why not: 0, 1 when it must wait, or the error
 * answered. */
static int lock_take(struct sreq *r, const struct cit_state_item *it)
{
	uint64_t now = cit_now_ns();
	if (!r->session)
		return answer_one(r, -EINVAL, "locks are for functions' calls"), -EINVAL;
	struct session *se = session_of(r->session, true);
	if (!se)
		return answer_one(r, -ENOMEM, "the monitor is out of memory"), -ENOMEM;
	if (se->n_locks && strcmp(se->ns, r->ns))
		return answer_one(r, -EINVAL, "a call holds locks of one namespace at a time"), -EINVAL;
	struct lock *l = lock_of(r->ns, it->key, it->op.klen);
	if (l && l->session == r->session)
		return answer_one(r, -EDEADLK, "this call holds that lock already"), -EDEADLK;
	if (l)
		return 1;
	if (!(l = calloc(1, sizeof(*l))) || !(l->name = malloc(it->op.klen))) {
		free(l);
		return answer_one(r, -ENOMEM, "the monitor is out of memory"), -ENOMEM;
	}
	memcpy(l->name, it->key, it->op.klen);
	l->nlen = it->op.klen;
	memcpy(l->ns, r->ns, sizeof(l->ns));
	l->session = r->session;
	l->expires_ns = now + (uint64_t)it->op.limit * 1000000ull;
	l->next = locks;
	locks = l;
	if (!se->n_locks++)
		memcpy(se->ns, r->ns, sizeof(se->ns));
	se->lost = NULL;
	answer_one(r, 0, NULL);
	return 0;
}

static void grant_parked(const char *ns, const uint8_t *name, size_t nlen)
{
	for (struct sreq **p = &parked; *p; p = &(*p)->next) {
		struct sreq *r = *p;
		size_t at = 0;
		struct cit_state_item it;
		cit_state_next(r->batch, r->len, &at, &it);
		if (it.op.klen != nlen || memcmp(it.key, name, nlen) || strcmp(r->ns, ns))
			continue;
		if (lock_take(r, &it) == 1)
			return; /* taken meanwhile: it waits on */
		*p = r->next;
		r->next = ready;
		ready = r;
		return;
	}
}

/* Publishes (or drops) session se's writes: one engine batch, one transaction. Returns the
 * first failure's code with its text, or 0. */
static int writes_make(struct session *se, struct cit_ns *ns, const char **why)
{
	size_t n = 0;
	for (struct buffered *b = se->writes; b; b = b->next)
		n++;
	if (!n)
		return 0;
	struct cit_engine_op *ops = calloc(n, sizeof(*ops));
	if (!ops) {
		writes_drop(se);
		return *why = "the monitor is out of memory: the writes made under the lock were dropped", -ENOMEM;
	}
	size_t i = 0;
	for (struct buffered *b = se->writes; b; b = b->next, i++)
		ops[i] = (struct cit_engine_op){ .kind = b->kind, .ns = ns, .name = b->name, .nlen = b->nlen,
						 .value = b->value, .vlen = b->vlen };
	struct cit_error err = { 0 };
	int rc = cit_engine_run(st.e, ops, n, NULL, NULL, &err);
	st.ck_dirty = true;
	for (i = 0; rc == 0 && i < n; i++)
		if (ops[i].rc < 0 && !(ops[i].rc == -ENOENT && ops[i].kind == CIT_ENGINE_DEL)) {
			rc = ops[i].rc;
			*why = ops[i].why;
		}
	if (rc < 0 && !*why)
		*why = "the store could not make the writes durable";
	free(ops);
	writes_drop(se);
	return rc;
}

/* An UNLOCK: the lock goes; with the session's last, its writes are made (or dropped). */
static void lock_release(struct sreq *r, const struct cit_state_item *it, struct cit_ns *ns)
{
	struct session *se = r->session ? session_of(r->session, false) : NULL;
	struct lock *l = lock_of(r->ns, it->key, it->op.klen);
	if (!se || !l || l->session != r->session)
		return answer_one(r, -ENOLCK, se && se->lost ? se->lost : "this call holds no lock on that key");
	lock_free(l);
	if (se->n_locks)
		return answer_one(r, 0, NULL);
	const char *why = NULL;
	int rc = it->op.flags & CIT_STATE_DISCARD ? (writes_drop(se), 0) : writes_make(se, ns, &why);
	answer_one(r, rc, why);
}

/* The call of session id ended: its locks go, its writes under them too, its parked LOCKs
 * are answered (to nobody). */
static void session_end(uint64_t id)
{
	struct session *se = session_of(id, false);
	if (se) {
		session_lose(se, NULL);
		for (struct session **p = &sessions; *p; p = &(*p)->next)
			if (*p == se) {
				*p = se->next;
				break;
			}
		free(se);
	}
	for (struct sreq **p = &parked; *p;) {
		struct sreq *r = *p;
		if (r->session != id) {
			p = &r->next;
			continue;
		}
		*p = r->next;
		answer_one(r, -ECANCELED, "the call ended");
		r->next = ready;
		ready = r;
	}
}

/* Leases run out and parked LOCKs reach their deadline. Returns the next time to look
 * (UINT64_MAX: none). */
static uint64_t locks_tick(uint64_t now)
{
	uint64_t next = UINT64_MAX;
	for (bool again = true; again;) {
		again = false;
		for (struct lock *l = locks; l; l = l->next) {
			if (l->expires_ns > now)
				continue;
			struct session *se = session_of(l->session, false);
			if (se) {
				note("a lock's lease ran out in namespace %s: the writes made under it were dropped", l->ns);
				session_lose(se, "the lock's lease ran out: the writes made under it were dropped");
			} else {
				lock_free(l);
			}
			again = true; /* the list changed */
			break;
		}
	}
	for (struct lock *l = locks; l; l = l->next)
		next = l->expires_ns < next ? l->expires_ns : next;
	for (struct sreq **p = &parked; *p;) {
		struct sreq *r = *p;
		if (r->deadline_ns > now) {
			next = r->deadline_ns < next ? r->deadline_ns : next;
			p = &r->next;
			continue;
		}
		*p = r->next;
		answer_one(r, -ETIMEDOUT, "the lock was held by another caller until this call's deadline");
		r->next = ready;
		ready = r;
	}
	return next;
}

/* Under a lock of its session, op x of request r is answered here: a write kept, a read of
 * a key written under the lock. Another session's write to a locked key is refused. Returns
 * whether it was answered. */
static bool locally(struct sreq *r, struct xop *x)
{
	struct session *se = r->session ? session_of(r->session, false) : NULL;
	bool under = se && se->n_locks && !strcmp(se->ns, r->ns);
	int kind = x->it.op.kind;
	if (!under) {
		if (kind != CIT_STATE_PUT && kind != CIT_STATE_DEL)
			return false;
		struct lock *l = locks ? lock_of(r->ns, x->it.key, x->it.op.klen) : NULL;
		if (!l)
			return false;
		x->op.rc = -EBUSY;
		x->op.why = "the key is locked by another caller: try again once it is unlocked";
		return true;
	}
	if (kind == CIT_STATE_GET) {
		struct buffered *last = NULL;
		for (struct buffered *b = se->writes; b; b = b->next)
			if (b->nlen == x->it.op.klen && !memcmp(b->name, x->it.key, b->nlen))
				last = b;
		if (!last)
			return false;
		if (last->kind == CIT_ENGINE_DEL) {
			x->op.rc = -ENOENT;
			x->op.why = "no such key";
		} else {
			x->voff = values.len;
			x->vlen = last->vlen;
			if (cit_wbuf_put(&values, last->value, last->vlen, 0) < 0)
				x->op.rc = -ENOMEM, x->op.why = "the monitor is out of memory";
		}
		return true;
	}
	if (kind != CIT_STATE_PUT && kind != CIT_STATE_DEL)
		return false; /* a SCAN sees what was made, not what is kept */
	if (x->it.op.klen > CIT_STATE_KEY_MAX || (kind == CIT_STATE_PUT && x->it.op.vlen > r->value_max)) {
		x->op.rc = -EMSGSIZE;
		x->op.why = x->it.op.klen > CIT_STATE_KEY_MAX ? "a key is 1 to 1024 bytes"
							      : "the value is larger than the namespace's value limit "
								"(--state-value-max)";
		return true;
	}
	if (x->it.op.flags & CIT_STATE_IF_VERSION) {
		x->op.rc = -EINVAL;
		x->op.why = "a compare-and-swap under a lock: the lock is the guard (write plainly)";
		return true;
	}
	struct buffered *b = calloc(1, sizeof(*b));
	if (b && (b->name = malloc(x->it.op.klen)) && (kind != CIT_STATE_PUT || (b->value = malloc(x->it.op.vlen + 1)))) {
		b->kind = kind == CIT_STATE_PUT ? CIT_ENGINE_PUT : CIT_ENGINE_DEL;
		memcpy(b->name, x->it.key, x->it.op.klen);
		b->nlen = x->it.op.klen;
		if (kind == CIT_STATE_PUT) {
			memcpy(b->value, x->it.value, x->it.op.vlen);
			b->vlen = x->it.op.vlen;
		}
		if (se->writes_tail)
			se->writes_tail->next = b;
		else
			se->writes = b;
		se->writes_tail = b;
		x->op.rc = 0;
	} else {
		if (b)
			free(b->name);
		free(b);
		x->op.rc = -ENOMEM;
		x->op.why = "the monitor is out of memory";
	}
	return true;
}

/* The namespace of r, its limits set; NULL when r is refused. */
static struct cit_ns *ns_of(struct sreq *r)
{
	if (st.fail[0])
		return refuse(r, -EIO, "%s", st.fail), NULL;
	struct cit_error err = { 0 };
	struct cit_ns *ns = cit_engine_ns(st.e, r->ns, &err);
	if (!ns)
		return refuse(r, err.code, "namespace %s: %s", r->ns, err.msg), NULL;
	cit_ns_limits(ns, r->quota, r->value_max);
	return ns;
}

/* A namespace's state as text (KV with CIT_KV_INFO). */
static void info(struct sreq *r, struct cit_ns *ns)
{
	struct cit_ns_usage u;
	cit_ns_usage(ns, &u);
	const char *failed = cit_ns_failed(ns);
	char bad[160], text[1024];
	snprintf(bad, sizeof(bad), "%llu record(s) in the store fail to open (altered or cut): reads of their keys "
		 "are integrity errors, and scans do not list them", (unsigned long long)u.bad);
	int n = snprintf(text, sizeof(text), "namespace %s\nkeys %llu\nbytes %llu\nversion %llu\nbad_records %llu\n"
			 "quota %llu\nvalue_max %u\nintegrity %s\n", r->ns, (unsigned long long)u.keys,
			 (unsigned long long)u.bytes, (unsigned long long)u.version, (unsigned long long)u.bad,
			 (unsigned long long)r->quota, r->value_max, failed ? failed : u.bad ? bad : "ok");
	if (cit_wbuf_put(&r->out, text, (size_t)n, 0) < 0)
		refuse(r, -ENOMEM, "the monitor is out of memory");
}

static const enum cit_engine_kind kinds[] = { [CIT_STATE_GET] = CIT_ENGINE_GET, [CIT_STATE_PUT] = CIT_ENGINE_PUT,
					      [CIT_STATE_DEL] = CIT_ENGINE_DEL, [CIT_STATE_SCAN] = CIT_ENGINE_GET,
					      [CIT_STATE_LOCK] = CIT_ENGINE_GET, [CIT_STATE_UNLOCK] = CIT_ENGINE_GET };

/* Serves every request of list as one batch, answering each; a LOCK that must wait is
 * parked. Returns the requests answered (list's, less those parked, and any answered
 * meanwhile: ready's). */
static struct sreq *serve(struct sreq *list)
{
	size_t n = 0;
	for (struct sreq *r = list; r; r = r->next)
		n += r->flags || r->end_session ? 0 : r->n_ops;
	struct xop *xs = calloc(n ? n : 1, sizeof(*xs));
	struct xop **xp = calloc(n ? n : 1, sizeof(*xp));
	values.len = 0;
	size_t k = 0, nx = 0;
	struct sreq *out = NULL, **tail = &out;
	for (struct sreq *r = list, *next; r; r = next) {
		next = r->next;
		r->next = NULL;
		r->code = 0;
		if (r->end_session) {
			session_end(r->session);
			*tail = r, tail = &r->next;
			continue;
		}
		struct cit_ns *ns = ns_of(r);
		struct cit_error err = { 0 };
		struct cit_state_item it;
		size_t at = 0;
		if (ns && !r->flags && r->n_ops == 1 && cit_state_next(r->batch, r->len, &at, &it) &&
		    (it.op.kind == CIT_STATE_LOCK || it.op.kind == CIT_STATE_UNLOCK)) {
			if (it.op.kind == CIT_STATE_UNLOCK)
				lock_release(r, &it, ns);
			else if (lock_take(r, &it) == 1) {
				struct sreq **p = &parked; /* parked, the oldest first */
				while (*p)
					p = &(*p)->next;
				*p = r;
				continue;
			}
			*tail = r, tail = &r->next;
			continue;
		}
		*tail = r, tail = &r->next;
		if (!ns)
			continue;
		if (r->flags & CIT_KV_PURGE) {
			if (cit_engine_purge(st.e, ns, &err) < 0)
				refuse(r, err.code, "%s", err.msg);
			st.ck_dirty = true;
			continue;
		}
		if (r->flags & CIT_KV_INFO) {
			info(r, ns);
			continue;
		}
		if (!xs || !xp) {
			refuse(r, -ENOMEM, "the monitor is out of memory");
			continue;
		}
		/* What its reads will bring, known from the index before any is made: a batch
		 * whose answer could not be sent is refused now, not after the work. */
		uint64_t bring = 0;
		for (at = 0; cit_state_next(r->batch, r->len, &at, &it);)
			if (it.op.kind == CIT_STATE_GET)
				bring += cit_engine_value_len(ns, it.key, it.op.klen) + sizeof(struct cit_state_result) + 8;
		if (bring > ANSWER_MAX) {
			refuse(r, -E2BIG, "the values asked for come to %llu MiB: at most %u MiB in one batch",
			       (unsigned long long)(bring >> 20), ANSWER_MAX >> 20);
			continue;
		}
		at = 0;
		while (k < n && cit_state_next(r->batch, r->len, &at, &it)) {
			struct xop *x = &xs[k++];
			x->r = r;
			x->it = it;
			x->op = (struct cit_engine_op){ .kind = kinds[it.op.kind], .ns = ns, .name = it.key,
							.nlen = it.op.klen, .if_version = it.op.flags & CIT_STATE_IF_VERSION,
							.expect = it.op.expect };
			if (it.op.kind == CIT_STATE_PUT)
				x->op.value = it.value, x->op.vlen = it.op.vlen;
			if (!locally(r, x))
				xp[nx++] = x;
		}
	}
	run_ops(xp, nx);
	for (size_t i = 0; i < k; i++) {
		struct xop *x = &xs[i];
		const struct cit_engine_op *op = &x->op;
		const void *data = NULL;
		size_t len = 0;
		if (op->rc < 0 && op->why) {
			data = op->why;
			len = strlen(op->why);
		} else if (op->rc == 0 && x->it.op.kind == CIT_STATE_GET) {
			data = values.p + x->voff;
			len = x->vlen;
		} else if (op->rc == 0 && x->it.op.kind == CIT_STATE_SCAN) {
			data = x->names.p;
			len = x->names.len;
		}
		if (x->r->code == 0 && cit_state_add_result(&x->r->out, op->rc, op->version, data, len) < 0)
			refuse(x->r, -E2BIG, "the answer is larger than 64 MiB: ask for less at once");
		free(x->names.p);
	}
	free(xs);
	free(xp);
	if (values.cap > (8u << 20)) { /* a large batch's values are not kept */
		free(values.p);
		values = (struct cit_wbuf){ 0 };
	}
	*tail = ready;
	ready = NULL;
	if (st.ck_dirty && cit_now_ns() - st.ck_ns >= CK_INTERVAL_NS)
		checkpoint_write();
	return out;
}

/* Opens the store and the engine, and checks them against the last checkpoint. */
static void state_open(struct monitor *m)
{
	struct cit_store_opts o = { .program = "/citadel/store", .path = "/citadel/store.mdb", .map_bytes = STORE_MAP,
				    .map_max = st.map_max, .spawn = store_spawn, .reap = store_reap, .ctx = m,
				    .pass_file = true, .file = st.db_fd };
	struct cit_error err = { 0 };
	bool fresh = false;
	int rc = cit_store_open(&st.b, &o, &err);
	if (rc == 0)
		rc = cit_engine_open(&st.e, st.b, st.master, &err);
	if (rc == 0)
		rc = cit_engine_key_check(st.e, &fresh, &err);
	if (rc == -EKEYREJECTED)
		state_fails("integrity: %s", err.msg);
	else if (rc < 0)
		state_fails("the state store is unavailable: %s", err.msg);
	else
		checkpoint_check(fresh);
	sodium_memzero(st.master, sizeof(st.master));
}

/* Hands answered requests to the loop (under st.lock). */
static void hand_over(struct sreq *list)
{
	if (!list)
		return;
	struct sreq *last = list;
	while (last->next)
		last = last->next;
	last->next = st.done;
	st.done = list;
	uint64_t one = 1;
	if (write(st.efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow */
	}
}

static void *state_main(void *arg)
{
	state_open(arg);
	pthread_mutex_lock(&st.lock);
	for (;;) {
		while (!st.todo && !st.stop) {
			/* Between requests: leases, parked LOCKs' deadlines, the checkpoint's time. */
			pthread_mutex_unlock(&st.lock);
			uint64_t now = cit_now_ns();
			uint64_t next = st.e ? locks_tick(now) : UINT64_MAX;
			struct sreq *answered = ready;
			ready = NULL;
			if (st.ck_dirty && now >= st.ck_ns + CK_INTERVAL_NS)
				checkpoint_write();
			if (st.ck_dirty && st.ck_ns + CK_INTERVAL_NS < next)
				next = st.ck_ns + CK_INTERVAL_NS;
			pthread_mutex_lock(&st.lock);
			hand_over(answered);
			if (st.todo || st.stop)
				break;
			if (next == UINT64_MAX) {
				pthread_cond_wait(&st.wake, &st.lock);
			} else {
				struct timespec ts = { (time_t)(next / 1000000000ull), (long)(next % 1000000000ull) };
				pthread_cond_timedwait(&st.wake, &st.lock, &ts);
			}
		}
		/* Every request waiting, as one group (one commit), up to GROUP_MAX bytes. */
		struct sreq *list = st.todo, *cut = list;
		for (size_t bytes = cut ? cut->len : 0; cut && cut->next && bytes + cut->next->len <= GROUP_MAX;)
			cut = cut->next, bytes += cut->len;
		if (cut) {
			st.todo = cut->next;
			cut->next = NULL;
			if (!st.todo)
				st.todo_tail = NULL;
		}
		if (!list)
			break; /* stopping, nothing left */
		pthread_mutex_unlock(&st.lock);
		if (st.e) {
			list = serve(list);
		} else {
			for (struct sreq *r = list; r; r = r->next)
				refuse(r, -EIO, "%s", st.fail);
		}
		pthread_mutex_lock(&st.lock);
		hand_over(list);
	}
	/* Stopping: LOCKs still waiting are answered; every lock goes, its writes with it. */
	while (parked) {
		struct sreq *r = parked;
		parked = r->next;
		r->next = NULL;
		answer_one(r, -ECANCELED, "the monitor is stopping");
		hand_over(r);
	}
	pthread_mutex_unlock(&st.lock);
	while (sessions)
		session_end(sessions->id);
	if (st.e && st.ck_dirty)
		checkpoint_write();
	cit_engine_close(st.e);
	cit_backend_close(st.b);
	st.e = NULL;
	st.b = NULL;
	free(values.p);
	values = (struct cit_wbuf){ 0 };
	return NULL;
}

/* ---- the loop's side ------------------------------------------------------------------ */

static void sreq_free(struct sreq *r)
{
	if (r->lprev)
		r->lprev->lnext = r->lnext;
	else if (st.inflight == r)
		st.inflight = r->lnext;
	if (r->lnext)
		r->lnext->lprev = r->lprev;
	free(r->batch);
	free(r->out.p);
	free(r);
}

/* The answer of r to whoever asked, if they are still there. */
static void deliver(struct monitor *m, struct sreq *r)
{
	if (r->client) {
		struct client *c = cit_client_find(m, r->client);
		if (!c)
			return;
		if (r->code < 0)
			return cit_reply_error(m, c, r->id, r->code, "%s", r->text);
		int rc = cit_reply_data(m, c, r->id, r->n_ops, r->out.p, r->out.len);
		if (rc < 0)
			cit_reply_error(m, c, r->id, rc, "the answer could not be sent: %s", cit_strerror(rc));
		return;
	}
	struct trustlet *t = r->t;
	if (!t || t->dead || t->call != r->call || !t->call || t->call->invocation != r->invocation)
		return; /* its call ended meanwhile: the answer goes nowhere */
	if (r->code < 0)
		return cit_pool_reply(m, t, r->id, r->code, 0, r->text, strlen(r->text), NULL, 0, 0);
	if (r->out.len <= CIT_INLINE_MAX)
		return cit_pool_reply(m, t, r->id, 0, 0, r->out.p, r->out.len, NULL, 0, 0);
	int fd = cit_object_create(r->out.p, r->out.len);
	if (fd < 0)
		return cit_pool_reply(m, t, r->id, fd, 0, "the answer could not be made", 28, NULL, 0, 0);
	cit_pool_reply(m, t, r->id, 0, 0, NULL, 0, &fd, 1, r->out.len);
	close(fd);
}

static void state_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	(void)ev, (void)events;
	uint64_t n;
	if (read(st.efd, &n, sizeof(n)) < 0) {
		/* nothing yet */
	}
	spawn_serve(m);
	pthread_mutex_lock(&st.lock);
	struct sreq *list = st.done;
	st.done = NULL;
	char notes[ARRAY_SIZE(st.notes)][CIT_TEXT_MAX];
	unsigned n_notes = st.n_notes;
	memcpy(notes, st.notes, sizeof(notes[0]) * n_notes);
	st.n_notes = 0;
	pthread_mutex_unlock(&st.lock);
	for (unsigned i = 0; i < n_notes; i++)
		cit_mlog(m, strstr(notes[i], "integrity") ? "error" : "warn", "state", "msg=\"%s\"", notes[i]);
	while (list) {
		struct sreq *r = list;
		list = r->next;
		deliver(m, r);
		sreq_free(r);
	}
}

static void submit(struct sreq *r)
{
	r->lnext = st.inflight;
	if (st.inflight)
		st.inflight->lprev = r;
	st.inflight = r;
	pthread_mutex_lock(&st.lock);
	if (st.todo_tail)
		st.todo_tail->next = r;
	else
		st.todo = r;
	st.todo_tail = r;
	pthread_cond_signal(&st.wake);
	pthread_mutex_unlock(&st.lock);
}

/* A request of q's batch (checked whole here) for namespace ns, with owner's limits (NULL:
 * the defaults); NULL with why on refusal. */
static struct sreq *sreq_new(struct cit_rx *rx, const struct cit_p_state *q, const char *ns,
			     const struct function *owner, int *code, char why[CIT_TEXT_MAX])
{
	const void *data = NULL;
	void *map = NULL;
	size_t len = 0;
	const char *bad = NULL;
	*code = 0;
	if (!q->flags) {
		int rc = cit_rx_data(rx, &data, &len, &map);
		if (rc < 0) {
			snprintf(why, CIT_TEXT_MAX, "the batch's data object cannot be read: %s", cit_strerror(rc));
			return *code = -EPROTO, NULL;
		}
		if (cit_state_check(data, len, q->n_ops, &bad) < 0) {
			if (map)
				munmap(map, len);
			snprintf(why, CIT_TEXT_MAX, "not a batch of key-value operations: %s", bad);
			return *code = -EPROTO, NULL;
		}
	}
	struct sreq *r = calloc(1, sizeof(*r));
	if (r && len && (r->batch = malloc(len)))
		memcpy(r->batch, data, len);
	if (map)
		munmap(map, len);
	if (!r || (len && !r->batch)) {
		if (r)
			free(r);
		snprintf(why, CIT_TEXT_MAX, "the monitor is out of memory");
		return *code = -ENOMEM, NULL;
	}
	r->len = len;
	r->n_ops = q->n_ops;
	r->flags = q->flags;
	r->id = rx->hdr.id;
	snprintf(r->ns, sizeof(r->ns), "%s", ns);
	r->quota = owner && owner->spec.state_quota ? owner->spec.state_quota : CIT_STATE_QUOTA;
	r->value_max = owner && owner->spec.state_value_max ? owner->spec.state_value_max : CIT_STATE_VALUE_MAX;
	return r;
}

/* Whether owner's deployment shares its namespace with function name. */
static bool shares(const struct function *owner, const char *name)
{
	for (uint32_t i = 0; owner && i < owner->spec.n_state_shares; i++)
		if (!strcmp(owner->spec.state_shares[i], name))
			return true;
	return false;
}

int cit_state_on_request(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct trustlet *t = container_of(p, struct trustlet, peer);
	const struct cit_p_state *q = CIT_P(rx, cit_p_state);
	const char *self = t->fn->spec.name;
	const struct function *owner = t->fn;
	char why[CIT_TEXT_MAX];
	if (q->ns[0] && strcmp(q->ns, self)) {
		owner = cit_fn_find(m, q->ns);
		if (!shares(owner, self)) {
			int n = snprintf(why, sizeof(why), "function %s may not use namespace %s: %s's deployment does not "
					 "share it (deploy %s --state-share %s)", self, q->ns, q->ns, q->ns, self);
			cit_pool_reply(m, t, rx->hdr.id, -EPERM, 0, why, (size_t)n, NULL, 0, 0);
			return 0;
		}
	}
	int code = 0;
	struct sreq *r = sreq_new(rx, q, q->ns[0] ? q->ns : self, owner, &code, why);
	if (!r) {
		cit_pool_reply(m, t, rx->hdr.id, code, 0, why, strlen(why), NULL, 0, 0);
		return 0;
	}
	r->t = t;
	r->call = t->call;
	r->invocation = t->call->invocation;
	if (!t->call->state_session)
		t->call->state_session = ++st.next_session;
	r->session = t->call->state_session;
	/* A LOCK waits until a little before the call's deadline, so that the function hears
	 * -ETIMEDOUT before its time is up: a tenth of what is left, at most 100 ms. */
	uint64_t now = cit_now_ns(), end = t->call->deadline_ns;
	uint64_t margin = end > now ? (end - now) / 10 : 0;
	r->deadline_ns = end > now ? end - (margin < 100000000ull ? margin : 100000000ull) : now;
	struct cit_state_item it;
	size_t at = 0;
	if (r->n_ops == 1 && cit_state_next(r->batch, r->len, &at, &it) && it.op.kind == CIT_STATE_LOCK)
		t->call->state_locked = true; /* its end must reach the thread (cit_state_call_end) */
	submit(r);
	return 0;
}

void cit_state_call_end(struct call *c)
{
	if (!c->state_locked || !st.started)
		return;
	struct sreq *r = calloc(1, sizeof(*r));
	if (!r)
		return; /* its locks' leases end them */
	r->end_session = true;
	r->session = c->state_session;
	submit(r);
}

int cit_state_on_kv(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	const struct cit_p_state *q = CIT_P(rx, cit_p_state);
	char why[CIT_TEXT_MAX];
	int code = 0;
	struct sreq *r = sreq_new(rx, q, q->ns, cit_fn_find(m, q->ns), &code, why);
	if (!r)
		return cit_reply_error(m, c, rx->hdr.id, code, "%s", why), 0;
	r->client = c->serial;
	submit(r);
	return 0;
}

void cit_state_forget(struct trustlet *t)
{
	for (struct sreq *r = st.inflight; r; r = r->lnext)
		if (r->t == t)
			r->t = NULL;
}

/* The master key (above) into st.master. */
static int master_key(struct monitor *m, struct cit_error *err)
{
	const char *file = m->opts->master_key_file, *env = getenv("CITADEL_MASTER_KEY");
	char path[4200];
	if (!file && env) {
		size_t bin = 0;
		if (strlen(env) != 2 * CIT_SEAL_KEY_LEN ||
		    sodium_hex2bin(st.master, sizeof(st.master), env, strlen(env), NULL, &bin, NULL) < 0 ||
		    bin != CIT_SEAL_KEY_LEN)
			return cit_error_say(err, -EINVAL, "$CITADEL_MASTER_KEY: 64 hex digits (32 bytes) are needed");
		return 0;
	}
	bool made = false;
	if (!file)
		snprintf(path, sizeof(path), "%s/master.key", m->opts->state_dir);
	int rc = cit_key_file(file ? file : path, !file, "master key", st.master, &made, err);
	if (rc < 0)
		return rc;
	if (made)
		cit_mlog(m, "info", "master_key_made", "path=%s msg=\"keep a copy apart: without it the state cannot be "
			 "read\"", path);
	return 0;
}

int cit_state_start(struct monitor *m, struct cit_error *err)
{
	int rc = master_key(m, err);
	if (rc < 0)
		return rc;
	/* The attestation's keys (sealing keys, secrets) follow from the master key, apart from
	 * the state's: a key of one never opens the other's. */
	crypto_kdf_derive_from_key(m->attest_key, sizeof(m->attest_key), 1, "citattst", st.master);
	snprintf(st.dir, sizeof(st.dir), "%s/state", m->opts->state_dir);
	snprintf(st.ck_path, sizeof(st.ck_path), "%s/checkpoint", st.dir);
	const char *slash = strrchr(m->opts->runtime_path, '/');
	snprintf(st.program, sizeof(st.program), "%.*s/citadel-store", (int)(slash - m->opts->runtime_path),
		 m->opts->runtime_path);
	st.map_max = m->opts->store_max ? m->opts->store_max : CIT_MON_STORE_MAX;
	st.accept = m->opts->state_accept;
	st.sb = (struct cit_sandbox){ .pidfd = -1, .sync = -1 };
	if (mkdir(st.dir, 0700) < 0 && errno != EEXIST)
		return cit_error_set(err, -errno, "creating %s", st.dir);
	if (access(st.program, X_OK) < 0)
		return cit_error_set(err, -errno, "the store program %s", st.program);
	snprintf(st.db_path, sizeof(st.db_path), "%s/store.mdb", st.dir);
	st.db_fd = open(st.db_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat sb;
	if (st.db_fd < 0 || fstat(st.db_fd, &sb) < 0)
		return cit_error_set(err, -errno, "the state store %s", st.db_path);
	if (!S_ISREG(sb.st_mode))
		return cit_error_say(err, -EINVAL, "the state store %s is not a regular file", st.db_path);
	/* Owned by an id of its own, which the store's sandbox's writable bind maps to its root
	 * (an id-mapped mount: sandbox/mount.c); no process runs as it, and the directory
	 * around it is the monitor's (0700). */
	if ((sb.st_uid != STORE_FILE_ID || sb.st_gid != STORE_FILE_ID) &&
	    fchown(st.db_fd, STORE_FILE_ID, STORE_FILE_ID) < 0)
		return cit_error_set(err, -errno, "the state store %s", st.db_path);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st.wake, &ca);
	pthread_cond_init(&st.spawned, NULL);
	pthread_condattr_destroy(&ca);
	st.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (st.efd < 0)
		return cit_error_set(err, -errno, "eventfd");
	st.ev = (struct cit_ev){ state_event };
	if ((rc = cit_ep_add(m, st.efd, &st.ev)) < 0 || (rc = -pthread_create(&st.thread, NULL, state_main, m)) < 0)
		return cit_error_set(err, rc, "starting the state thread");
	st.started = true;
	return 0;
}

void cit_state_stop(struct monitor *m)
{
	if (!st.started)
		return;
	pthread_mutex_lock(&st.lock);
	st.stop = true;
	pthread_cond_signal(&st.wake);
	pthread_mutex_unlock(&st.lock);
	/* The thread may be waiting for a spawn: refused now, and any it asks after. A store
	 * that does not answer within STOP_WAIT_NS is ended (its channel's end wakes it). */
	uint64_t give_up = cit_now_ns() + STOP_WAIT_NS;
	for (bool killed = false;;) {
		spawn_serve(m);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		if (pthread_tryjoin_np(st.thread, NULL) == 0)
			break;
		if (!killed && cit_now_ns() > give_up && st.sb.pidfd >= 0) {
			cit_mlog(m, "warn", "state", "msg=\"the store process did not answer in 5 s: ended\"");
			syscall(SYS_pidfd_send_signal, st.sb.pidfd, SIGKILL, NULL, 0);
			killed = true;
		}
		nanosleep(&ts, NULL);
	}
	st.started = false;
	state_event(m, &st.ev, 0); /* the last answers, and notes */
	while (st.inflight)
		sreq_free(st.inflight);
	close(st.efd);
	st.efd = -1;
	if (st.db_fd >= 0)
		close(st.db_fd);
	st.db_fd = -1;
}
