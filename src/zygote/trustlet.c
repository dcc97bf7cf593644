/* A trustlet: a copy-on-write fork of the template that serves one call at a time.
 *
 * It is confined further than the template in the runtime's fork child handler, which
 * runs before fork returns in the child and before any child handler the function's code
 * registered (cit_trustlet_register): no code of the function's runs in a trustlet
 * before it is confined.
 *   1. it drops the template's channel and signalfd, and keeps only its own channel;
 *   2. its random state is reseeded (a fork copies libc's generators; siblings must not
 *      produce the same numbers);
 *   3. it is not dumpable: no sibling of the same uid may open its /proc/PID/mem, environ,
 *      cwd, maps or fds, nor ptrace it;
 *   4. it makes its private directory /tmp/NAME, NAME 32 hex digits from getrandom(),
 *      chosen after fork: the template never knew it, so no sibling (a copy of the
 *      template) does; /tmp cannot be listed (mode 1733, owned by an id no process has);
 *      cwd and $TMPDIR;
 *   5. its own landlock layer: read-only view, writes only beneath its own directory,
 *      signals and abstract sockets scoped to itself (siblings are out of reach);
 *   6. a further seccomp layer: threads yes, new processes and exec no, no process but
 *      itself named by pid (its pid patched into the layer), no exclusive flock.
 * A failure ends it before it says HELLO (which carries NAME): it reports why in a HELLO
 * with a negative code and no name, then exits. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "objects/objects.h"
#include "sandbox/landlock.h"
#include "sandbox/seccomp.h"
#include "zygote/runtime.h"

/* The template being forked, set only by the runtime's own fork and only in the thread
 * that forks: a fork the function's code makes (in its template) is none of the handler's
 * business. */
static _Thread_local struct cit_runtime *forking;

/* TMPDIR: "/tmp" in the template; a trustlet writes "/NAME" after it, in place (nothing
 * to allocate after fork), and NAME is its private directory. In the template NAME is
 * never there. */
#define TMPDIR_PREFIX "TMPDIR=/tmp"
static char tmpdir_env[sizeof(TMPDIR_PREFIX "/") + CIT_DIR_NAME_LEN] = TMPDIR_PREFIX;
static char *const own_dir = tmpdir_env + sizeof(TMPDIR_PREFIX);

/* random() and rand() share their state in glibc: one seed for both. */
static void reseed(const uint8_t seed[16])
{
	uint64_t s[2];
	memcpy(s, seed, sizeof(s));
	srandom((unsigned)(s[0] ^ (s[0] >> 32)));
	unsigned short s48[3];
	memcpy(s48, &s[1], sizeof(s48));
	seed48(s48);
}

/* The channel of the trustlet being forked (from SPAWN), set with forking. */
static _Thread_local int forking_chan = -1;

/* A trustlet that cannot confine itself says why (a HELLO with the error and no name: the
 * monitor keeps it as the function's reason if it keeps happening) and ends before any of
 * the function's code runs in it. */
static _Noreturn __attribute__((format(printf, 3, 4))) void give_up(int chan, int code, const char *fmt, ...)
{
	struct cit_p_hello h = { .code = code < 0 ? code : -EIO, .pid = (uint64_t)getpid() };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h.text, sizeof(h.text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "citadel: trustlet %d: %s\n", getpid(), h.text);
	cit_proto_send(chan, CIT_MSG_HELLO, 0, &h, sizeof(h), NULL, 0, NULL, 0);
	_exit(1);
}

static void confine(struct cit_runtime *rt, int chan)
{
	struct cit_error err = { 0 };
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	close(rt->sfd);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	if (dup2(rt->devnull, 0) < 0)
		give_up(chan, -errno, "/dev/null as stdin: %s", strerror(errno));
	close(rt->devnull);
	uint8_t rnd[32]; /* 16 bytes of seeds, 16 of the directory's name */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		give_up(chan, -errno, "getrandom: %s", strerror(errno));
	reseed(rnd);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		give_up(chan, -errno, "PR_SET_DUMPABLE: %s", strerror(errno));
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < CIT_DIR_NAME_LEN / 2; i++) {
		own_dir[2 * i] = hex[rnd[16 + i] >> 4];
		own_dir[2 * i + 1] = hex[rnd[16 + i] & 15];
	}
	explicit_bzero(rnd, sizeof(rnd));
	own_dir[-1] = '/';
	const char *dir = tmpdir_env + sizeof("TMPDIR=") - 1;
	/* The function's init may have set TMPDIR itself (or --env did): then it is set anew. */
	if (mkdirat(rt->tmp, own_dir, 0700) < 0 || chdir(dir) < 0 ||
	    (getenv("TMPDIR") != dir && setenv("TMPDIR", dir, 1) < 0))
		give_up(chan, -errno, "making its private directory in /tmp: %s", strerror(errno));
	_cleanup_close_ int own = openat(rt->tmp, own_dir, O_PATH | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW);
	if (own < 0)
		give_up(chan, -errno, "opening its private directory: %s", strerror(errno));
	if (cit_landlock_confine(rt->ro, rt->n_ro, rt->dev, own, &err) < 0)
		give_up(chan, err.code, "%s", err.msg);
	for (size_t i = 0; i < rt->n_ro; i++)
		close(rt->ro[i].fd);
	close(rt->dev);
	close(rt->tmp);
	/* The runtime's instance layer: an exec instance's program may make processes. */
	bool exec = rt->ops->layer == CIT_SC_LAYER_EXEC;
	if (cit_seccomp_install_self(exec ? &cit_seccomp_exec : &cit_seccomp_trustlet,
				     exec ? cit_seccomp_exec_self : cit_seccomp_trustlet_self,
				     exec ? cit_seccomp_exec_n_self : cit_seccomp_trustlet_n_self, (uint32_t)getpid(), &err) < 0)
		give_up(chan, err.code, "%s", err.msg);
	/* Its program's orphans come to it, to be ended with the call. */
	if (rt->ops->subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		give_up(chan, -errno, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
}

static void confine_child(void)
{
	struct cit_runtime *rt = forking;
	if (!rt)
		return;
	forking = NULL;
	confine(rt, forking_chan);
}

int cit_trustlet_register(void)
{
	if (putenv(tmpdir_env) < 0)
		return -errno;
	return -pthread_atfork(NULL, NULL, confine_child);
}

pid_t cit_trustlet_fork(struct cit_runtime *rt, int chan)
{
	/* Every signal waits until the new trustlet is confined: a handler of the function's
	 * (a thread of the template may signal pids about to be made) must not run in it
	 * before. The child handler confines it with all of them blocked; then the mask is
	 * what it was (SIGCHLD, which the template reads from its signalfd, open again). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	forking = rt;
	forking_chan = chan;
	if (rt->ops->fork)
		rt->ops->fork(-1);
	pid_t pid = fork();
	forking = NULL;
	if (rt->ops->fork && pid != 0)
		rt->ops->fork(1);
	else if (rt->ops->fork)
		rt->ops->fork(0); /* confined already: the runtime's own hooks run in the instance */
	forking_chan = -1;
	if (pid == 0)
		sigdelset(&old, SIGCHLD);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pid;
}

/* The request's bytes: inline in the message, or a data object mapped read-only. */
static int map_request(struct cit_rx *rx, const void **data, size_t *len, void **map)
{
	int rc = cit_rx_data(rx, data, len, map);
	if (rc == 0 && !*len)
		*data = NULL;
	return rc == -EPERM || rc == -EPROTO ? -EPROTO : rc;
}

/* What a call keeps until it ends: mappings of the objects it was given (its inputs, its
 * invocations' results) and copies of inline bytes. */
#define KEEP_MAX 80

/* The call in progress, for the requests its code makes (cit_log, cit_deadline,
 * cit_invoke) from any of its threads: one request at a time on the channel, each answered
 * (REPLY) before the next; the result goes out only when none is in flight. */
static struct {
	pthread_mutex_t lock;
	int chan;                 /* -1: no call in progress */
	uint32_t grants;
	uint64_t next_id;
	struct { void *addr; size_t len; bool heap; } keep[KEEP_MAX];
	uint32_t n_keep;
	ino_t mapped[KEEP_MAX + 1]; /* the inodes of the objects mapped during the call */
	uint32_t n_mapped;
	bool fd_shown;            /* an object's fd was open while the function's code ran (a
				   * cit_invoke result's, until mapped): its threads could copy it */
	_Alignas(16) char buf[sizeof(struct cit_msg) + sizeof(struct cit_p_reply) + CIT_INLINE_MAX];
	void *arena;              /* cit_trustlet_arena's blocks, each linked by its first word */
} current = { PTHREAD_MUTEX_INITIALIZER, -1, 0, 0, { { 0 } }, 0, { 0 }, 0, false, { 0 }, NULL };

bool cit_runtime_call_sealed(void)
{
	return (__atomic_load_n(&current.grants, __ATOMIC_RELAXED) & CIT_CALL_SEALED) != 0;
}

/* Notes that the data object fd is mapped during this call: after the call, no mapping of
 * it may be left (kept_objects). */
static void note_mapped(int fd)
{
	struct stat st;
	if (fd >= 0 && current.n_mapped < KEEP_MAX + 1 && fstat(fd, &st) == 0)
		current.mapped[current.n_mapped++] = st.st_ino;
}

static bool was_mapped(ino_t ino)
{
	for (uint32_t i = 0; i < current.n_mapped; i++)
		if (current.mapped[i] == ino)
			return true;
	return false;
}

/* Whether an object this call was given is still held by the process after the runtime
 * unmapped and closed them all: a mapping the function moved (mremap) where the runtime
 * does not look, or a descriptor it duplicated while the runtime had one open (a
 * cit_invoke result's, between its arrival and its mapping). Its pages would stay alive
 * past the call, outside every quota: the instance ends instead, and its mappings and
 * descriptors with it. Reads /proc/self/maps only after calls that were given objects,
 * and /proc/self/fd only after those that received one by cit_invoke: each read is a few
 * system calls, paid before the result goes out. */
static bool kept_objects(void)
{
	if (!current.n_mapped)
		return false;
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool kept = !f; /* cannot tell: end it */
	while (f && !kept && fgets(line, sizeof(line), f)) {
		unsigned long long ino = 0;
		if (sscanf(line, "%*s %*s %*s %*s %llu", &ino) == 1 && ino)
			kept = strstr(line, "/memfd:citadel-") && was_mapped((ino_t)ino);
	}
	if (f)
		fclose(f);
	DIR *d = kept || !current.fd_shown ? NULL : opendir("/proc/self/fd");
	kept |= !kept && current.fd_shown && !d;
	for (struct dirent *e; d && !kept && (e = readdir(d));) {
		struct stat st;
		int fd = atoi(e->d_name);
		kept = e->d_name[0] != '.' && fd != dirfd(d) && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		       was_mapped(st.st_ino);
	}
	if (d)
		closedir(d);
	current.n_mapped = 0;
	current.fd_shown = false;
	return kept;
}

int cit_trustlet_keep(void *addr, size_t len, bool heap)
{
	if (current.n_keep >= KEEP_MAX)
		return -EMFILE;
	current.keep[current.n_keep].addr = addr;
	current.keep[current.n_keep].len = len;
	current.keep[current.n_keep++].heap = heap;
	return 0;
}

void *cit_trustlet_arena(size_t len)
{
	if (len > SIZE_MAX - 16)
		return NULL;
	void **block = malloc(16 + len);
	if (!block)
		return NULL;
	*block = current.arena;
	current.arena = block;
	return (char *)block + 16;
}

static void keep_release(void)
{
	while (current.arena) {
		void **block = current.arena;
		current.arena = *block;
		free(block);
	}
	for (uint32_t i = 0; i < current.n_keep; i++) {
		if (current.keep[i].heap)
			free(current.keep[i].addr);
		else if (current.keep[i].addr)
			munmap(current.keep[i].addr, current.keep[i].len);
	}
	current.n_keep = 0;
}

/* Sends a request (with fd, when not -1) and waits for its REPLY, which on_reply (when not
 * NULL) reads while the lock is held. Returns the reply's code, or -EPERM outside a call or
 * without the grant. */
static int request(uint16_t type, uint32_t grant, void *payload, size_t plen, const void *data, size_t len, int fd,
		   void (*on_reply)(struct cit_rx *rx, void *ctx), void *ctx)
{
	pthread_mutex_lock(&current.lock);
	int rc = -EPERM;
	if (current.chan < 0 || !(current.grants & grant))
		goto out;
	uint64_t id = ++current.next_id;
	if (fd >= 0)
		rc = cit_proto_send(current.chan, type, id, payload, plen, NULL, 0, &fd, 1);
	else
		rc = data || len ? cit_proto_send_data(current.chan, type, id, payload, plen, data, len)
				 : cit_proto_send(current.chan, type, id, payload, plen, NULL, 0, NULL, 0);
	if (rc == -EAGAIN && fd < 0 && len <= CIT_INLINE_MAX)
		rc = cit_proto_send_wait(current.chan, type, id, payload, plen, data, len, NULL, 0);
	else if (rc == -EAGAIN && fd >= 0)
		rc = cit_proto_send_wait(current.chan, type, id, payload, plen, NULL, 0, &fd, 1);
	if (rc < 0)
		goto out;
	struct cit_rx rx;
	struct cit_error err = { 0 };
	rc = cit_proto_recv_wait(current.chan, current.buf, &rx, &err);
	if (rc <= 0 || rx.hdr.type != CIT_MSG_REPLY || rx.hdr.id != id) {
		/* The monitor answers every request, in order: anything else is the end. */
		fprintf(stderr, "citadel: trustlet %d: no answer to a request\n", getpid());
		_exit(1);
	}
	rc = CIT_P(&rx, cit_p_reply)->code;
	if (on_reply)
		on_reply(&rx, ctx);
	cit_rx_close(&rx);
out:
	pthread_mutex_unlock(&current.lock);
	return rc;
}

static void reply_value(struct cit_rx *rx, void *ctx)
{
	*(uint64_t *)ctx = CIT_P(rx, cit_p_reply)->value;
}

int cit_trustlet_request_with(uint16_t type, uint32_t grant, void *payload, size_t plen, const void *data, size_t len,
			      void (*on_reply)(struct cit_rx *rx, void *ctx), void *ctx)
{
	return request(type, grant, payload, plen, data, len, -1, on_reply, ctx);
}

int cit_trustlet_request(uint16_t type, uint32_t grant, void *payload, size_t plen, const void *data, size_t len,
			 uint64_t *value)
{
	return request(type, grant, payload, plen, data, len, -1, value ? reply_value : NULL, value);
}

static _Thread_local char invoke_error[CIT_TEXT_MAX];

const char *cit_invoke_error(void)
{
	return invoke_error;
}

struct invoke_reply {
	struct cit_object *out;
	int rc;
};

/* FN_INVOKE's REPLY: the output mapped read-only (kept until the call ends), or its inline
 * bytes copied (likewise), or the failure's text. */
static void invoke_reply(struct cit_rx *rx, void *ctx)
{
	struct invoke_reply *ir = ctx;
	const struct cit_p_reply *r = CIT_P(rx, cit_p_reply);
	if (r->code < 0) {
		snprintf(invoke_error, sizeof(invoke_error), "%.*s", (int)rx->data_len, (const char *)rx->data);
		return;
	}
	const void *data = NULL;
	void *map = NULL, *copy = NULL;
	size_t len = 0;
	ir->rc = cit_rx_data(rx, &data, &len, &map);
	current.fd_shown |= rx->nfds > 0;
	if (ir->rc == 0 && map)
		note_mapped(rx->fds[0]);
	if (ir->rc == 0 && !map && len && !(copy = malloc(len)))
		ir->rc = -ENOMEM;
	if (ir->rc == 0 && copy)
		memcpy(copy, data, len);
	if (ir->rc == 0 && (map || copy) && cit_trustlet_keep(map ? map : copy, len, !map) < 0)
		ir->rc = -EMFILE;
	if (ir->rc < 0) {
		if (map)
			munmap(map, len);
		free(copy);
		if (ir->rc == -EMFILE)
			snprintf(invoke_error, sizeof(invoke_error), "a call keeps %d inputs and results at most: this "
				 "result is dropped", KEEP_MAX);
		else
			snprintf(invoke_error, sizeof(invoke_error), "the result could not be taken: %s", strerror(-ir->rc));
		return;
	}
	*ir->out = (struct cit_object){ .data = len ? (map ? map : copy) : NULL, .len = len, .ref = r->value };
}

int cit_invoke(const char *function, const struct cit_object *in, struct cit_object *out)
{
	static const struct cit_object none;
	struct cit_p_fn_invoke p = { .object = in ? in->ref : 0 };
	struct cit_object result = { 0 };
	invoke_error[0] = '\0';
	if (!in)
		in = &none;
	if (!function || !out || (!in->ref && in->len && !in->data)) {
		snprintf(invoke_error, sizeof(invoke_error), "cit_invoke: a function's name, an input and an output "
			 "are needed");
		return -EINVAL;
	}
	if (strlen(function) >= sizeof(p.name) || !cit_fn_name_ok(function)) {
		snprintf(invoke_error, sizeof(invoke_error), "cit_invoke: '%.63s' is not a function's name (1 to 63 of "
			 "a-z, 0-9, '-' and '_')", function);
		return -EINVAL;
	}
	memcpy(p.name, function, strlen(function));
	struct invoke_reply ir = { &result, 0 };
	int rc = request(CIT_MSG_FN_INVOKE, CIT_GRANT_INVOKE, &p, sizeof(p), in->ref ? NULL : in->data,
			 in->ref ? 0 : in->len, -1, invoke_reply, &ir);
	if (rc == -EPERM && !invoke_error[0])
		snprintf(invoke_error, sizeof(invoke_error), "cit_invoke: this function's deployment grants it no "
			 "function to invoke (--allow-invoke), or no call is running");
	else if (rc < 0 && !invoke_error[0])
		snprintf(invoke_error, sizeof(invoke_error), "cit_invoke: sending the request: %s", strerror(-rc));
	if (rc == 0 && ir.rc < 0)
		rc = ir.rc;
	if (rc == 0)
		*out = result;
	return rc;
}

/* The HTTP request behind the next CALL (CALL_META, checked on receipt), its strings
 * pointing into meta. */
static struct {
	uint64_t id;              /* the CALL it is for; 0 for none */
	char meta[CIT_INLINE_MAX];
	struct cit_http http;
	struct cit_http_header headers[CIT_META_HEADERS];
} next_http;

static void take_meta(struct cit_rx *rx)
{
	const char *s[CIT_META_STRINGS + 2 * CIT_META_HEADERS + 1];
	const char *why;
	size_t n = 0;
	next_http.id = 0;
	if (rx->data_len > sizeof(next_http.meta))
		return;
	memcpy(next_http.meta, rx->data, rx->data_len);
	if (cit_meta_parse(next_http.meta, rx->data_len, false, s, &n, &why) < 0)
		return;
	next_http.http = (struct cit_http){ .method = s[0], .path = s[1], .query = s[2], .n_headers = n,
					    .headers = next_http.headers };
	for (size_t i = 0; i < n; i++)
		next_http.headers[i] = (struct cit_http_header){ s[CIT_META_STRINGS + 2 * i],
								 s[CIT_META_STRINGS + 2 * i + 1] };
	next_http.id = rx->hdr.id;
}

/* The inputs of the next CALL (a fan-in step's INPUTs, checked on receipt), each mapped
 * read-only or copied, kept (current.keep) until that call ends. */
static struct {
	uint64_t id;              /* the CALL they are for; 0 for none */
	uint32_t n;
	bool bad;                 /* one could not be taken: the call fails */
	struct cit_object in[CIT_FANIN_MAX];
	char steps[CIT_FANIN_MAX][CIT_NAME_MAX];
} next_in;

static void take_input(struct cit_rx *rx)
{
	const struct cit_p_input *p = CIT_P(rx, cit_p_input);
	if (next_in.id != rx->hdr.id) {
		next_in.id = rx->hdr.id;
		next_in.n = 0;
		next_in.bad = false;
	}
	const void *data = NULL;
	void *map = NULL, *copy = NULL;
	size_t len = 0;
	if (p->index != next_in.n || cit_rx_data(rx, &data, &len, &map) < 0) {
		next_in.bad = true;
		return;
	}
	if (map)
		note_mapped(rx->fds[0]);
	if (!map && len && (copy = malloc(len)))
		memcpy(copy, data, len);
	if ((!map && len && !copy) || ((map || copy) && cit_trustlet_keep(map ? map : copy, len, !map) < 0)) {
		if (map)
			munmap(map, len);
		free(copy);
		next_in.bad = true;
		return;
	}
	memcpy(next_in.steps[next_in.n], p->step, CIT_NAME_MAX);
	next_in.in[next_in.n] = (struct cit_object){ .data = len ? (map ? map : copy) : NULL, .len = len,
						     .ref = p->object, .step = next_in.steps[next_in.n] };
	next_in.n++;
}

/* The response's data object (cit_output) as the kernel will keep it: unmapped here, then
 * sealed (no write, no resize, no more seals). The seal fails while any writable mapping of
 * it is left (a second one the function made through /proc/self/fd): then the call fails.
 * Returns the fd, or -1 with why in out. */
static int seal_output(struct cit_response *resp, struct cit_p_result *out)
{
	if (resp->out_map)
		munmap(resp->out_map, resp->out_len);
	resp->out_map = NULL;
	int fd = steal_fd(&resp->out_fd);
	struct stat st;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
	    fstat(fd, &st) < 0 || (size_t)st.st_size != resp->out_len) {
		out->code = -EBUSY;
		snprintf(out->text, sizeof(out->text), "the output buffer could not be sealed (%s): is it mapped "
			 "writable elsewhere, or was it resized?", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void call(struct cit_runtime *rt, int chan, struct cit_rx *rx)
{
	const struct cit_p_call *in = CIT_P(rx, cit_p_call);
	struct cit_response resp = { .limit = rt->output_bytes, .out_fd = -1 };
	struct cit_request req = { .function = rt->name, .invocation = in->invocation,
				   .http = next_http.id && next_http.id == rx->hdr.id ? &next_http.http : NULL,
				   .content_type = in->content_type };
	next_http.id = 0;
	void *map;
	struct cit_p_result out = { 0 };
	int rc = map_request(rx, &req.data, &req.len, &map);
	/* The request's fd goes before any code of the function's runs: nothing to duplicate
	 * and keep past the call (the mapping is checked after it). */
	if (map)
		note_mapped(rx->fds[0]);
	cit_rx_close(rx);
	struct cit_object input = { .data = req.data, .len = req.len, .ref = in->object };
	req.input = &input;
	if (in->n_inputs) {
		bool ok = next_in.id == rx->hdr.id && next_in.n == in->n_inputs && !next_in.bad;
		req.n_inputs = in->n_inputs;
		req.inputs = next_in.in;
		if (!ok && rc == 0)
			rc = -EPROTO;
	}
	next_in.id = 0;
	pthread_mutex_lock(&current.lock);
	current.chan = chan;
	current.grants = in->grants;
	pthread_mutex_unlock(&current.lock);
	if (rc == 0)
		rc = rt->ops->invoke(rt, &req, &resp);
	pthread_mutex_lock(&current.lock); /* no request in flight from here on */
	current.chan = -1;
	current.grants = 0;
	keep_release();
	pthread_mutex_unlock(&current.lock);
	if (map)
		munmap(map, req.len);
	if (kept_objects()) {
		fprintf(stderr, "citadel: trustlet %d: a data object given to the call is still held after it (a "
			"mapping moved with mremap, or a duplicated descriptor): the instance ends after this call\n",
			getpid());
		rt->end_after_call = true;
	}
	int out_fd = -1;
	bool ok = !resp.overflow && rc >= 0 && !resp.code;
	if (ok && resp.out_fd >= 0)
		out_fd = seal_output(&resp, &out);
	else if (!ok)
		cit_response_drop_object(&resp);
	if (out.code) {
		/* the seal failed: out says why */
	} else if (resp.overflow) {
		out.code = -EFBIG;
		snprintf(out.text, sizeof(out.text), "the response exceeds the output limit of %zu bytes", resp.limit);
	} else if (rc < 0 || resp.code) {
		out.code = resp.code ? resp.code : rc;
		snprintf(out.text, sizeof(out.text), "%s", resp.text[0] ? resp.text : strerror(-out.code));
	}
	out.http_status = resp.http_status;
	memcpy(out.content_type, resp.content_type, sizeof(out.content_type));
	if (rt->end_after_call)
		out.flags |= CIT_RESULT_LAST; /* so that the monitor sends it no other call */
	if (!out.code && out_fd >= 0) {
		out.data.obj_len = resp.out_len;
		rc = cit_proto_send(chan, CIT_MSG_RESULT, rx->hdr.id, &out, sizeof(out), NULL, 0, &out_fd, 1);
		if (rc == -EAGAIN)
			rc = cit_proto_send_wait(chan, CIT_MSG_RESULT, rx->hdr.id, &out, sizeof(out), NULL, 0, &out_fd, 1);
	} else if (!out.code && resp.out_ref) {
		out.object = resp.out_ref;
		rc = cit_proto_send(chan, CIT_MSG_RESULT, rx->hdr.id, &out, sizeof(out), NULL, 0, NULL, 0);
	} else if (out.code) {
		rc = cit_proto_send(chan, CIT_MSG_RESULT, rx->hdr.id, &out, sizeof(out), NULL, 0, NULL, 0);
	} else {
		rc = cit_proto_send_data(chan, CIT_MSG_RESULT, rx->hdr.id, &out, sizeof(out), resp.buf, resp.len);
	}
	if (out_fd >= 0)
		close(out_fd);
	free(resp.buf);
	if (rc < 0) {
		fprintf(stderr, "citadel: trustlet %d: sending the result: %s\n", getpid(), strerror(-rc));
		_exit(1);
	}
}

_Noreturn void cit_trustlet_main(struct cit_runtime *rt, int chan)
{
	if (!own_dir[0])
		_exit(1); /* not confined: never serve */
	struct cit_p_hello hello = { .pid = (uint64_t)getpid() };
	memcpy(hello.dir, own_dir, CIT_DIR_NAME_LEN);
	if (cit_proto_send(chan, CIT_MSG_HELLO, 0, &hello, sizeof(hello), NULL, 0, NULL, 0) < 0)
		_exit(1);
	for (;;) {
		struct cit_rx rx;
		struct cit_error err = { 0 };
		int rc = cit_proto_recv_wait(chan, rt->buf, &rx, &err);
		if (rc < 0)
			fprintf(stderr, "citadel: trustlet %d: %s\n", getpid(), err.msg);
		if (rc <= 0)
			_exit(0); /* the monitor let us go, or broke the protocol */
		if (rx.hdr.type == CIT_MSG_CALL_META)
			take_meta(&rx);
		else if (rx.hdr.type == CIT_MSG_INPUT)
			take_input(&rx);
		else if (rx.hdr.type == CIT_MSG_CALL)
			call(rt, chan, &rx);
		cit_rx_close(&rx);
		if (rt->end_after_call)
			_exit(0);
	}
}
