/* Functions: what is deployed (kept in the state directory, so it survives a restart),
 * their runtime zygotes and templates, and the admin requests (deploy, list, remove, logs).
 *
 * State directory layout, written only by the monitor:
 *   functions/NAME/spec      the cit_fn_spec and its environment, as DEPLOY carried them
 *   functions/NAME/code.so   the function's code
 *   functions/NAME/log       its stderr (and log.1, the previous CIT_LOG_MAX bytes)
 * A deploy writes NAME.new/ and renames it over NAME/ only once the template has loaded,
 * so a failed deploy leaves the previous version in place. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "monitor/elfcheck.h"
#include "monitor/monitor.h"
#include "monitor/worker.h"
#include "objects/objects.h"
#include "sandbox/config.h"
#include "sandbox/sync.h"

#define CODE_MAX (256u << 20)
/* A template must load (dlopen and cit_init) within the function's timeout, at least this. */
#define CIT_LOAD_MIN_MS 5000u
/* How long a zygote a function waits on has to say READY (a Python one imports the
 * operator's preloads first): past it the function fails, and its next call starts over. */
#define CIT_ZYGOTE_START_MS 30000u
#define ZYGOTE_PATH "/citadel/zygote"

struct function *cit_fn_find(struct monitor *m, const char *name)
{
	for (struct function *fn = m->functions; fn; fn = fn->next)
		if (!fn->discard && !fn->retired && !strcmp(fn->spec.name, name))
			return fn;
	return NULL;
}

static void fn_path(struct monitor *m, const char *name, const char *suffix, const char *file, char *out,
		    size_t cap)
{
	snprintf(out, cap, "%s/functions/%s%s%s%s", m->opts->state_dir, name, suffix, file ? "/" : "",
		 file ? file : "");
}

/* ---- runtime zygotes --------------------------------------------------------------- */

static void zygote_release(struct monitor *m, struct zygote *z)
{
	if (z->dead)
		return;
	int fds[] = { z->chan, z->sb.sync, z->log_r };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			epoll_ctl(m->ep, EPOLL_CTL_DEL, fds[i], NULL);
	if (z->chan >= 0)
		close(z->chan);
	if (z->log_r >= 0)
		close(z->log_r);
	cit_sandbox_release(&z->sb);
	for (unsigned i = 0; i < CIT_RUNTIMES; i++)
		if (m->spare[i] == z)
			m->spare[i] = NULL;
	z->dead = true;
	z->grave = m->zgrave;
	m->zgrave = z;
}

/* Makes a runtime zygote: a fresh sandbox (its own user, mount, pid, net, ipc, uts and
 * cgroup namespaces, a distinct host uid) running citadel-zygote, whose stdin is its
 * channel to us and whose stdout and stderr go to the log pipe. */
static void zygote_log_event(struct monitor *m, struct cit_ev *ev, uint32_t events);
static void zygote_sync_event(struct monitor *m, struct cit_ev *ev, uint32_t events);

static struct zygote *zygote_new(struct monitor *m, const struct cit_runtime_info *runtime, const char *bundle)
{
	struct zygote *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->runtime = runtime;
	z->chan = z->log_r = -1;
	int sp[2] = { -1, -1 }, lp[2] = { -1, -1 };
	struct cit_error err = { 0 };
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	cfg.cpu_ms = 0;         /* trustlets live long; each call has its own deadline */
	cfg.cgroup_parent = m->cg_name;
	cfg.cpu_millis = CIT_FN_DEFAULT_CPU_MILLIS; /* the function's own is set at LOAD */
	cfg.pids = CIT_FN_MAX_INSTANCES + 16; /* RLIMIT_NPROC; the cgroup holds the real limit */
	cfg.hostname = "citadel";
	cfg.private_tmp = true; /* each trustlet's directory is reached only by its name */
	/* One program serves every runtime of the table; its argument says which it is. */
	char *argv[] = { (char *)ZYGOTE_PATH, (char *)runtime->name, NULL };
	/* The operator's modules for every Python zygote (serve --python-preload). */
	char preload[2100];
	if (m->opts->python_preload && !strcmp(runtime->name, "python")) {
		snprintf(preload, sizeof(preload), "CITADEL_PYTHON_PRELOAD=%s", m->opts->python_preload);
		cfg.env[cfg.n_env++] = preload;
	}
	/* The runtime's program, beside the native one (serve --runtime). */
	char program[4096];
	const char *slash = strrchr(m->opts->runtime_path, '/');
	if (!strcmp(runtime->program, "citadel-zygote"))
		snprintf(program, sizeof(program), "%s", m->opts->runtime_path);
	else
		snprintf(program, sizeof(program), "%.*s/%s", (int)(slash - m->opts->runtime_path),
			 m->opts->runtime_path, runtime->program);
	char why[CIT_TEXT_MAX];
	int rc = cit_attest_program_ok(program, why);
	if (rc == 0 && !strcmp(runtime->name, "python"))
		rc = cit_attest_program_ok(CIT_LIBPYTHON, why);
	if (rc < 0)
		cit_error_say(&err, rc, "%s", why);
	if (rc == 0)
		rc = cit_sandbox_add_bind(&cfg, program, ZYGOTE_PATH, CIT_BIND_RO, &err);
	/* A bundled function's files, read-only like the rest of the view: its zygote is made
	 * for it (a spare one has no such bind). */
	if (rc == 0 && bundle)
		rc = cit_sandbox_add_bind(&cfg, bundle, CIT_BUNDLE_PATH, CIT_BIND_RO, &err);
	if (rc == 0 && (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0 || pipe2(lp, O_CLOEXEC) < 0))
		rc = cit_error_set(&err, -errno, "zygote channel");
	if (rc == 0) {
		int one = 1;
		setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
		const int stdio[3] = { sp[1], lp[1], lp[1] };
		z->start_ns = cit_now_ns();
		rc = cit_sandbox_spawn(&cfg, argv, stdio, &z->sb, &err);
	}
	/* The sandbox holds its own copies now. */
	if (sp[1] >= 0)
		close(sp[1]);
	if (lp[1] >= 0)
		close(lp[1]);
	if (rc < 0) {
		cit_mlog(m, "error", "zygote_failed", "msg=\"%s\"", err.msg);
		if (sp[0] >= 0)
			close(sp[0]);
		if (lp[0] >= 0)
			close(lp[0]);
		free(z);
		return NULL;
	}
	/* Until a function adopts it, a zygote gets little. */
	cfg.memory_bytes = 64ull << 20;
	cfg.pids = 16;
	cit_cgroup_set_limits(&z->sb.cg, &cfg, NULL);
	z->chan = sp[0];
	z->log_r = lp[0];
	z->log_tokens = CIT_LOG_BURST;
	z->log_refill_ns = cit_now_ns();
	fcntl(z->chan, F_SETFL, O_NONBLOCK);
	fcntl(z->log_r, F_SETFL, O_NONBLOCK);
	z->peer = (struct cit_peer){ { cit_fn_zygote_event }, CIT_FROM_TEMPLATE, CIT_ROLE_NONE };
	z->sync_ev = (struct cit_ev){ zygote_sync_event };
	z->log_ev = (struct cit_ev){ zygote_log_event };
	if (cit_ep_add(m, z->chan, &z->peer.ev) < 0 || cit_ep_add(m, z->sb.sync, &z->sync_ev) < 0 ||
	    cit_ep_add(m, z->log_r, &z->log_ev) < 0) {
		zygote_release(m, z);
		return NULL;
	}
	return z;
}

void cit_zygote_spare(struct monitor *m, const struct cit_runtime_info *rt)
{
	unsigned i = cit_runtime_index(rt);
	if (!m->spare[i] && !m->stopping)
		m->spare[i] = zygote_new(m, rt, NULL);
}

static void send_load(struct monitor *m, struct function *fn)
{
	struct zygote *z = fn->z;
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	cfg.memory_bytes = fn->spec.memory_bytes; /* the whole function: template and instances */
	cfg.pids = fn->spec.pids;
	cfg.cpu_millis = fn->spec.cpu_millis;
	struct cit_error err = { 0 };
	int rc = cit_cgroup_set_limits(&z->sb.cg, &cfg, &err);
	fn->oom_base = cit_cgroup_oom_kills(&z->sb.cg);
	fn->load_ns = cit_now_ns();
	uint64_t limit_ms = fn->spec.timeout_ms > CIT_LOAD_MIN_MS ? fn->spec.timeout_ms : CIT_LOAD_MIN_MS;
	fn->load_deadline_ns = fn->load_ns + limit_ms * 1000000ull;
	/* Its secrets first, for its code to read as it loads (an exec program is measured
	 * at LOAD: its come after LOADED). */
	if (rc == 0 && fn->runtime->takes_code)
		cit_secrets_send(m, fn);
	if (rc == 0)
		rc = cit_proto_send(z->chan, CIT_MSG_LOAD, 0, &fn->spec, sizeof(fn->spec), fn->tail,
				    fn->spec.env_len + fn->spec.args_len, &fn->code, fn->code >= 0 ? 1 : 0);
	if (rc < 0)
		cit_fn_failed(m, fn, "could not hand the function to its zygote");
}

/* The last line of what fn logged (its log file, at most cap - 1 bytes of it), or "". */
static void log_tail(const struct function *fn, char *out, size_t cap)
{
	out[0] = '\0';
	struct stat st;
	if (fn->log_fd < 0 || fstat(fn->log_fd, &st) < 0 || st.st_size <= 0)
		return;
	char buf[512];
	off_t from = st.st_size > (off_t)sizeof(buf) - 1 ? st.st_size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fn->log_fd, buf, sizeof(buf) - 1, from);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	const char *line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	size_t o = 0;
	for (; *line && o + 1 < cap; line++) /* one line of text: no control characters */
		out[o++] = (unsigned char)*line < 0x20 || *line == 0x7f ? ' ' : *line;
	out[o] = '\0';
}

/* Gives fn a template: the spare zygote of its runtime when there is one (its cold start is
 * already paid), else a new one; then a new spare is made for the next function of that
 * runtime. */
void cit_fn_start(struct monitor *m, struct function *fn)
{
	if (fn->z || fn->hashing)
		return;
	unsigned kind = cit_runtime_index(fn->runtime);
	struct zygote *z;
	if (fn->spec.flags & CIT_FN_BUNDLE) {
		char bundle[4200];
		fn_path(m, fn->spec.name, fn->deploying ? ".new" : "", "bundle", bundle, sizeof(bundle));
		z = zygote_new(m, fn->runtime, bundle);
	} else {
		z = m->spare[kind] ? m->spare[kind] : zygote_new(m, fn->runtime, NULL);
		m->spare[kind] = NULL;
	}
	if (!z) {
		/* Failed as a template that does not load: its calls and its deployer hear why
		 * (a version being deployed is dropped). */
		cit_fn_failed(m, fn, "could not make a runtime zygote (see the monitor's log)");
		return;
	}
	z->fn = fn;
	fn->z = z;
	fn->state = F_STARTING;
	fn->error[0] = '\0';
	if (z->ready) {
		send_load(m, fn);
	} else { /* LOAD follows its READY (cit_fn_on_ready), which must come in time */
		fn->load_ns = cit_now_ns();
		fn->load_deadline_ns = fn->load_ns + CIT_ZYGOTE_START_MS * 1000000ull;
	}
	cit_zygote_spare(m, fn->runtime);
}

static void stop_function(struct monitor *m, struct function *fn, int code, const char *why)
{
	cit_pool_fail_all(m, fn, code, why);
	cit_dir_forget(fn);
	if (fn->z) {
		fn->z->fn = NULL;
		zygote_release(m, fn->z);
		fn->z = NULL;
	}
	if (fn->deployer) {
		/* Its log is dropped with the failed version: its last line goes to the deployer. */
		char tail[160];
		log_tail(fn, tail, sizeof(tail));
		cit_reply_error(m, fn->deployer, fn->deploy_id, code, "deploying %s: %s%s%s", fn->spec.name, why,
				tail[0] ? "; its log ends: " : "", tail);
		fn->deployer = NULL;
	}
}

/* The template is gone or broken: every call fails with why; the next call starts over. */
void cit_fn_failed(struct monitor *m, struct function *fn, const char *why)
{
	cit_mlog(m, "error", "template_failed", "function=%s msg=\"%s\"", fn->spec.name, why);
	snprintf(fn->error, sizeof(fn->error), "%s", why);
	fn->state = F_FAILED;
	/* A version being deployed that fails is dropped (after this batch of events); the
	 * version before it, if any, stays. */
	if (fn->deploying)
		fn->discard = true;
	stop_function(m, fn, -EIO, why);
}

static void discard(struct monitor *m, const char *dir, int fd);

static void fn_free(struct monitor *m, struct function *fn)
{
	stop_function(m, fn, -ESHUTDOWN, "removed");
	for (struct function **p = &m->functions; *p; p = &(*p)->next)
		if (*p == fn) {
			*p = fn->next;
			break;
		}
	if (fn->code >= 0)
		discard(m, NULL, fn->code);
	if (fn->log_fd >= 0)
		close(fn->log_fd);
	free(fn->by_pid);
	free(fn);
}

/* New log bytes of fn to the clients following its log: OK replies to their LOGS request,
 * never waited for. One that cannot take them now (its socket full) misses them and is
 * told how many lines it missed with the next bytes it takes. */
static void log_follow(struct monitor *m, struct function *fn, const char *buf, size_t n)
{
	for (struct client *c = m->clients; c; c = c->next) {
		if (!c->follow[0] || strcmp(c->follow, fn->spec.name))
			continue;
		if (c->follow_waiting) {
			/* Its log so far is being read: held, up to CIT_LOG_MAX, to follow it. */
			char *more = c->follow_pending_len + n <= CIT_LOG_MAX ? realloc(c->follow_pending,
										  c->follow_pending_len + n) : NULL;
			if (!more) {
				for (size_t i = 0; i < n; i++)
					c->follow_dropped += buf[i] == '\n';
				continue;
			}
			memcpy(more + c->follow_pending_len, buf, n);
			c->follow_pending = more;
			c->follow_pending_len += n;
			continue;
		}
		char mark[96];
		int k = c->follow_dropped ? snprintf(mark, sizeof(mark), "citadel: %llu lines not shown (read too "
								       "slowly)\n", (unsigned long long)c->follow_dropped) : 0;
		int rc = 0;
		if (k > 0) {
			struct cit_p_ok ok = { .data = { .len = (uint32_t)k } };
			rc = cit_proto_send(c->fd, CIT_MSG_OK, c->follow_id, &ok, sizeof(ok), mark, (size_t)k, NULL, 0);
			if (rc == 0)
				c->follow_dropped = 0;
		}
		for (size_t off = 0; rc == 0 && off < n;) {
			size_t part = n - off > CIT_INLINE_MAX ? CIT_INLINE_MAX : n - off;
			struct cit_p_ok ok = { .data = { .len = (uint32_t)part } };
			rc = cit_proto_send(c->fd, CIT_MSG_OK, c->follow_id, &ok, sizeof(ok), buf + off, part, NULL, 0);
			if (rc == 0)
				off += part;
			else
				for (size_t i = off; i < n; i++)
					c->follow_dropped += buf[i] == '\n';
		}
	}
}

#define LOG_RAW_MARK "output "

/* Appends what the function wrote to its log, rotating at CIT_LOG_MAX. mid: buf begins
 * inside a line of raw output, so a new file begins with the raw mark (no line of a file
 * is ever without its mark). */
static void log_append(struct monitor *m, struct function *fn, const char *buf, size_t n, bool mid)
{
	if (!fn || fn->log_fd < 0)
		return;
	if (fn->log_size + n > CIT_LOG_MAX) {
		/* A version being deployed logs into its own NAME.new/ until it replaces NAME/. */
		const char *dir = fn->deploying ? ".new" : "";
		char cur[4200], old[4200];
		fn_path(m, fn->spec.name, dir, "log", cur, sizeof(cur));
		fn_path(m, fn->spec.name, dir, "log.1", old, sizeof(old));
		rename(cur, old);
		close(fn->log_fd);
		fn->log_fd = open(cur, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		fn->log_size = 0;
		if (mid && fn->log_fd >= 0 && cit_write_all(fn->log_fd, LOG_RAW_MARK, sizeof(LOG_RAW_MARK) - 1) == 0)
			fn->log_size += sizeof(LOG_RAW_MARK) - 1;
	}
	if (fn->log_fd >= 0 && cit_write_all(fn->log_fd, buf, n) == 0)
		fn->log_size += n;
	if (m->n_following)
		log_follow(m, fn, buf, n);
}

/* What the function wrote to stdout and stderr, each line marked as such ("output "),
 * so that no raw line can pass for one of the monitor's (a level and an invocation
 * number, or "citadel: "), and its control characters but tab shown as spaces (no escape
 * sequence reaches a terminal showing the log, nor a carriage return hides the mark).
 * z->log_mid carries a line cut between two reads. */
static void log_raw(struct monitor *m, struct zygote *z, const char *buf, size_t n)
{
	char out[8192];
	size_t o = 0;
	bool mid = z->log_mid; /* where out's first byte is */
	for (size_t i = 0; i < n;) {
		if (!z->log_mid) {
			memcpy(out + o, LOG_RAW_MARK, sizeof(LOG_RAW_MARK) - 1);
			o += sizeof(LOG_RAW_MARK) - 1;
			z->log_mid = true;
		}
		size_t room = sizeof(out) - o - sizeof(LOG_RAW_MARK); /* a mark's room kept for the next line */
		const char *nl = memchr(buf + i, '\n', n - i);
		size_t take = nl ? (size_t)(nl - (buf + i)) + 1 : n - i;
		if (take > room)
			take = room;
		for (size_t k = 0; k < take; k++) {
			unsigned char ch = (unsigned char)buf[i + k];
			out[o + k] = (ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f ? ' ' : (char)ch;
		}
		o += take;
		i += take;
		if (out[o - 1] == '\n')
			z->log_mid = false;
		if (o > sizeof(out) - 2 * sizeof(LOG_RAW_MARK) || i == n) {
			log_append(m, z->fn, out, o, mid);
			o = 0;
			mid = z->log_mid;
		}
	}
}

/* A line of the monitor's own in the function's log: after a raw line cut short, on a
 * line of its own. */
static void log_own(struct monitor *m, struct zygote *z, const char *line, size_t n)
{
	if (z->log_mid) {
		log_append(m, z->fn, "\n", 1, true);
		z->log_mid = false;
	}
	log_append(m, z->fn, line, n, false);
}

/* Refills z's log bucket for the time since its last refill. */
static void log_refill(struct zygote *z, uint64_t now)
{
	uint64_t earned = (now - z->log_refill_ns) * CIT_LOG_RATE / 1000000000ull;
	if (earned) {
		z->log_tokens = z->log_tokens + earned > CIT_LOG_BURST ? CIT_LOG_BURST : z->log_tokens + earned;
		z->log_refill_ns = now;
	}
}

/* What a function writes to stdout and stderr, within CIT_LOG_RATE: what passes it is
 * dropped, by whole chunks, and counted in lines; a marker says how many once the log
 * flows again. While it is over the rate the pipe is read once per CIT_LOG_PAUSE_MS, so a
 * function that floods it costs the monitor little (its writers wait on the full pipe
 * between reads). */
static void log_read(struct monitor *m, struct zygote *z)
{
	uint64_t now = cit_now_ns();
	log_refill(z, now);
	char buf[65536];
	ssize_t n = read(z->log_r, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) { /* the log's writers are all gone */
		epoll_ctl(m->ep, EPOLL_CTL_DEL, z->log_r, NULL);
		return;
	}
	if (n < 0)
		return;
	if ((uint64_t)n <= z->log_tokens) {
		if (z->log_dropped) {
			char mark[128];
			int k = snprintf(mark, sizeof(mark), "citadel: %llu lines of output dropped (a function may log "
							     "%u KiB/s)\n", (unsigned long long)z->log_dropped, CIT_LOG_RATE >> 10);
			log_own(m, z, mark, (size_t)k);
			z->log_dropped = 0;
		}
		z->log_tokens -= (uint64_t)n;
		log_raw(m, z, buf, (size_t)n);
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		z->log_dropped += buf[i] == '\n';
	z->log_dropped += buf[n - 1] != '\n';
	z->log_resume_ns = now + CIT_LOG_PAUSE_MS * 1000000ull;
	if (!m->next_log_ns || z->log_resume_ns < m->next_log_ns)
		m->next_log_ns = z->log_resume_ns;
	epoll_ctl(m->ep, EPOLL_CTL_DEL, z->log_r, NULL);
}

int cit_fn_log_line(struct monitor *m, struct function *fn, uint64_t invocation, uint32_t level, const char *text,
		    size_t len)
{
	struct zygote *z = fn->z;
	if (!z)
		return -ESRCH;
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	char line[CIT_LOG_LINE_MAX + 64];
	int k = snprintf(line, sizeof(line), "%s invocation=%llu ", levels[level <= CIT_LOG_LEVEL_MAX ? level : 1],
			 (unsigned long long)invocation);
	size_t n = (size_t)k;
	/* One line: the function's bytes, control characters shown as spaces. */
	for (size_t i = 0; i < len && n < sizeof(line) - 1; i++)
		line[n++] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? ' ' : text[i];
	line[n++] = '\n';
	log_refill(z, cit_now_ns());
	if (n > z->log_tokens) {
		z->log_dropped++;
		return -EAGAIN;
	}
	z->log_tokens -= n;
	log_own(m, z, line, n);
	return 0;
}

static void log_resume(struct monitor *m, struct zygote *z, uint64_t now)
{
	if (!z || z->dead || !z->log_resume_ns)
		return;
	if (now < z->log_resume_ns) {
		if (!m->next_log_ns || z->log_resume_ns < m->next_log_ns)
			m->next_log_ns = z->log_resume_ns;
		return;
	}
	z->log_resume_ns = 0;
	cit_ep_add(m, z->log_r, &z->log_ev);
}

void cit_fn_logs_resume(struct monitor *m, uint64_t now)
{
	if (!m->next_log_ns || now < m->next_log_ns)
		return;
	m->next_log_ns = 0;
	for (struct function *fn = m->functions; fn; fn = fn->next)
		log_resume(m, fn->z, now);
	for (unsigned i = 0; i < CIT_RUNTIMES; i++)
		log_resume(m, m->spare[i], now);
}

void cit_fn_hist(struct function *fn, unsigned phase, uint64_t us)
{
	fn->hist[phase][cit_hist_bucket(us)]++;
	fn->hist_sum_us[phase] += us;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

/* The measurement: SHA-256 over the function's canonical encoding (spec.h), its code's
 * hash included. Allocation-free (it runs in the worker too). */
static void fn_measure(struct function *fn)
{
	static _Thread_local char enc[CIT_FN_ENCODING_MAX];
	long n = cit_fn_encode(&fn->spec, fn->tail, fn->code_sha256,
			       (fn->spec.flags & CIT_FN_BUNDLE) ? fn->bundle_sha256 : NULL, enc, sizeof(enc));
	if (n < 0 || (size_t)n > sizeof(enc))
		return;
	crypto_hash_sha256(fn->measurement, (const uint8_t *)enc, (unsigned long long)n);
	n = cit_fn_encode_code(&fn->spec, fn->tail, fn->code_sha256,
			       (fn->spec.flags & CIT_FN_BUNDLE) ? fn->bundle_sha256 : NULL, enc, sizeof(enc));
	if (n < 0 || (size_t)n > sizeof(enc))
		return;
	crypto_hash_sha256(fn->code_measurement, (const uint8_t *)enc, (unsigned long long)n);
	fn->sealing = false; /* its sealing keys follow the code: derived again when asked */
	fn->measured = true;
}

/* The template's word is checked against the kernel's (who sent it) and against what this
 * zygote may say now; anything else from it breaks the protocol (-EPROTO). */
int cit_fn_on_ready(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct zygote *z = container_of(p, struct zygote, peer);
	/* The kernel's word on who speaks: the program our sandbox's init started. */
	if (z->ready || !rx->has_cred || cit_verify_child(rx->pid, z->sb.pid) < 0)
		return -EPROTO;
	z->pid = rx->pid;
	z->ready = true;
	z->cold_us = (cit_now_ns() - z->start_ns) / 1000;
	if (z->fn)
		send_load(m, z->fn);
	return 0;
}

int cit_fn_on_loaded(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct zygote *z = container_of(p, struct zygote, peer);
	struct function *fn = z->fn;
	const struct cit_p_loaded *st = CIT_P(rx, cit_p_loaded);
	if (!fn || fn->state != F_STARTING || !z->ready)
		return -EPROTO;
	if (st->code < 0) {
		cit_fn_failed(m, fn, st->text[0] ? st->text : "the function failed to load");
		return 0;
	}
	/* An exec function's code is the program its zygote opened in the view and measured,
	 * before any code of the function's ran there: its word is the runtime's own. The
	 * monitor measured a native function's code itself. */
	if (!fn->runtime->takes_code) {
		/* The program deployed is the one that runs: bytes other than the deployed
		 * ones (the file replaced in the view since) fail the function, never change
		 * its measurement silently. */
		if (fn->pinned && memcmp(fn->code_sha256, st->code_sha256, sizeof(fn->code_sha256))) {
			char was[65], now[65];
			hex(fn->code_sha256, 32, was);
			hex(st->code_sha256, 32, now);
			snprintf(fn->error, sizeof(fn->error), "the program changed since it was deployed (SHA-256 "
				 "%.12s..., now %.12s...): redeploy the function to run the new one", was, now);
			cit_fn_stuck(m, fn);
			return 0;
		}
		memcpy(fn->code_sha256, st->code_sha256, sizeof(fn->code_sha256));
		fn->pinned = true;
		fn_measure(fn);
		cit_secrets_send(m, fn); /* before its first SPAWN, on the same channel */
	}
	fn->state = F_READY;
	fn->cold_us = z->cold_us;
	fn->template_us = (cit_now_ns() - fn->load_ns) / 1000;
	cit_fn_hist(fn, CIT_PHASE_COLD, fn->cold_us);
	cit_fn_hist(fn, CIT_PHASE_TEMPLATE, fn->template_us);
	cit_mlog(m, "info", "function_ready", "function=%s cold_us=%llu template_us=%llu", fn->spec.name,
		 (unsigned long long)fn->cold_us, (unsigned long long)fn->template_us);
	/* A deploy is done at its first instance's HELLO (pool.c), not at LOADED: the
	 * function's constructors run in the template's process and could forge it. */
	cit_pool_dispatch(m, fn);
	return 0;
}

int cit_fn_on_exited(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct zygote *z = container_of(p, struct zygote, peer);
	const struct cit_p_exited *e = CIT_P(rx, cit_p_exited);
	if (!z->fn || z->fn->state != F_READY)
		return -EPROTO;
	cit_pool_exited(m, z->fn, e->pid, e->status);
	return 0;
}

static void zygote_log_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	struct zygote *z = container_of(ev, struct zygote, log_ev);
	(void)events;
	if (!z->dead)
		log_read(m, z);
}

/* init speaks only when something ended: a failed step, a failed exec, the template's
 * exit. Whatever it says, this sandbox is done. */
static void zygote_sync_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	struct zygote *z = container_of(ev, struct zygote, sync_ev);
	(void)events;
	if (z->dead)
		return;
	struct cit_sync_msg msg;
	ssize_t n = recv(z->sb.sync, &msg, sizeof(msg), MSG_DONTWAIT);
	char why[CIT_TEXT_MAX] = "its sandbox ended";
	if (n == (ssize_t)sizeof(msg) && msg.version == CIT_SYNC_VERSION && msg.type != CIT_SYNC_EXIT) {
		msg.text[sizeof(msg.text) - 1] = '\0';
		snprintf(why, sizeof(why), "its sandbox failed: %s", msg.text);
	}
	if (z->fn)
		cit_fn_failed(m, z->fn, why);
	else {
		cit_mlog(m, "error", "zygote_failed", "msg=\"%s\"", why);
		zygote_release(m, z);
	}
}

void cit_fn_zygote_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	struct zygote *z = container_of(ev, struct zygote, peer.ev);
	(void)events;
	for (int i = 0; i < 16 && !z->dead; i++) {
		struct cit_rx rx;
		struct cit_error err = { 0 };
		int rc = cit_proto_recv(z->chan, m->buf, &rx, &err);
		if (rc == -EAGAIN)
			return;
		if (rc > 0) {
			rc = cit_dispatch(m, &z->peer, &rx);
			cit_rx_close(&rx);
			if (rc == 0)
				continue;
		}
		if (z->fn)
			/* A template that exits with our messages unread resets its channel. */
			cit_fn_failed(m, z->fn, rc == 0 || rc == -ECONNRESET ? "its template exited"
								  : "its template broke the protocol");
		else
			zygote_release(m, z);
		return;
	}
}

/* ---- the function's record ------------------------------------------------------ */

/* Hashes the code (code_sha256), then measures the function (fn_measure). Returns the code
 * as a sealed memfd: src itself (a duplicate) when it is one already (a client's data object:
 * immutable, memory-backed, so reading it never blocks the loop), else a copy (a file of
 * the state directory). The source is read, never mapped: a mapped file truncated under
 * us would kill the monitor. Returns the memfd or -errno. */
#define CHUNK (1u << 16)

static int measure_code(struct function *fn, int src, size_t len, bool adopt)
{
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	int fd = adopt ? fcntl(src, F_DUPFD_CLOEXEC, 3) : memfd_create("citadel-code", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* adopt: in the worker, which allocates nothing (see remove_dir); it is the only
	 * caller with adopt set, so one buffer serves. */
	static uint8_t worker_chunk[CHUNK];
	uint8_t *chunk = adopt ? worker_chunk : malloc(CHUNK);
	if (!chunk) {
		close(fd);
		return -ENOMEM;
	}
	size_t done = 0;
	while (done < len) {
		size_t want = len - done < CHUNK ? len - done : CHUNK;
		ssize_t n = pread(src, chunk, want, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		int rc = n < 0 ? -errno : n == 0 ? -EIO /* it shrank */ : adopt ? 0 : cit_write_all(fd, chunk, (size_t)n);
		if (rc < 0) {
			if (!adopt)
				free(chunk);
			close(fd);
			return rc;
		}
		crypto_hash_sha256_update(&st, chunk, (size_t)n);
		done += (size_t)n;
	}
	if (!adopt)
		free(chunk);
	if (!adopt && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	crypto_hash_sha256_final(&st, fn->code_sha256);
	fn_measure(fn);
	return fd;
}

/* A function record from its spec, environment and command, its code not yet read:
 * code_fd (at most CODE_MAX bytes) is checked, and, from a client, must be a sealed data
 * object. A runtime that takes no code (exec) has code_fd -1, and *len 0. */
static struct function *fn_alloc(const struct cit_fn_spec *spec, const char *const *env, const char *const *args,
				 int code_fd, bool from_client, size_t *len, struct cit_error *err)
{
	const struct cit_runtime_info *rt = cit_runtime_known(spec->runtime);
	struct stat st = { 0 };
	/* A bundle comes with its deploy, as an archive; restored, it is a directory. */
	bool bundle = from_client && (spec->flags & CIT_FN_BUNDLE);
	bool code = rt && rt->takes_code && !(spec->flags & CIT_FN_BUNDLE); /* a bundle is a python function's code */
	if (!rt || (code || bundle) != (code_fd >= 0)) {
		cit_error_set(err, -EINVAL, bundle ? "a function's bundle must come with it (a tar archive)"
				 : rt && rt->takes_code ? "a %s function's code must come with it"
							: "a %s function takes no code file (its program is in the view, "
							  "or in its bundle)", spec->runtime);
		return NULL;
	}
	if (code_fd < 0) {
		/* nothing to check */
	} else if (fstat(code_fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > CODE_MAX) {
		cit_error_say(err, -EINVAL, (spec->flags & CIT_FN_BUNDLE) ? "the bundle must be a tar archive of 1 byte to "
									  "256 MiB"
									: "the function's code must be a regular file of "
									  "1 byte to 256 MiB");
		return NULL;
	}
	if (code_fd >= 0 && from_client && cit_object_check(code_fd, (uint64_t)st.st_size, CODE_MAX) < 0) {
		cit_error_set(err, -EINVAL, "the function's code must come as a sealed data object (a memfd "
					    "sealed against writes, as citadel deploy sends it)");
		return NULL;
	}
	struct function *fn = calloc(1, sizeof(*fn));
	if (!fn) {
		cit_error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	fn->spec = *spec;
	fn->runtime = rt;
	size_t off = 0;
	for (const char *const *list[] = { env, args }, *const **l = list; l < list + 2; l++)
		for (size_t i = 0; *l && (*l)[i]; i++) {
			size_t n = strlen((*l)[i]) + 1;
			memcpy(fn->tail + off, (*l)[i], n);
			off += n;
		}
	fn->log_fd = -1;
	fn->code = -1;
	*len = (size_t)st.st_size;
	return fn;
}

/* A function from the state directory: its code file copied into a sealed memfd and
 * measured (at start-up, before anything is served). */
static struct function *fn_restore(const struct cit_fn_spec *spec, const char *const *env, const char *const *args,
				   int code_fd, struct cit_error *err)
{
	size_t len;
	struct function *fn = fn_alloc(spec, env, args, code_fd, false, &len, err);
	if (fn && code_fd >= 0 && (fn->code = measure_code(fn, code_fd, len, false)) < 0) {
		cit_error_set(err, fn->code, "reading the function's code");
		free(fn);
		return NULL;
	}
	return fn;
}

int cit_write_file_at(int dirfd_, const char *name, const void *a, size_t alen, const void *b, size_t blen)
{
	_cleanup_close_ int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = cit_write_all(fd, a, alen);
	if (rc == 0 && blen)
		rc = cit_write_all(fd, b, blen);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	return rc;
}

/* Removes the entry name of the directory parent, and all beneath it when it is a
 * directory (a bundle's tree: at most CIT_BUNDLE_MAX_DEPTH deep, the function's own
 * directory above it). Never follows a link. Passes over a directory until a pass removes
 * nothing, since removing entries while reading it may skip some. Returns whether name is
 * gone. */
static bool remove_tree_at(int parent, const char *name, unsigned depth)
{
	if (unlinkat(parent, name, 0) == 0)
		return true;
	if (errno != EISDIR)
		return false;
	int fd = depth <= CIT_BUNDLE_MAX_DEPTH + 2 ? openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
						  : -1;
	for (bool progress = fd >= 0; progress;) {
		progress = false;
		lseek(fd, 0, SEEK_SET);
		for (;;) {
			_Alignas(8) char buf[1024];
			ssize_t n = getdents64(fd, buf, sizeof(buf));
			if (n <= 0)
				break;
			for (ssize_t off = 0; off < n;) {
				struct dirent64 *e = (struct dirent64 *)(buf + off);
				off += e->d_reclen;
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
					if (remove_tree_at(fd, e->d_name, depth + 1))
						progress = true;
				}
			}
		}
	}
	if (fd >= 0)
		close(fd);
	return unlinkat(parent, name, AT_REMOVEDIR) == 0;
}

/* Removes a function's directory and everything in it. Runs in the worker too, so it
 * allocates nothing: the monitor's loop makes sandboxes with clone3, whose child must
 * never find a malloc lock held by another thread. */
static void remove_dir(const char *path)
{
	remove_tree_at(AT_FDCWD, path, 0);
}

/* Removing a function's files and closing its code take a 256 MiB file's worth of work
 * (about 0.1 s: the kernel frees the pages then), so the worker does both. The directory
 * is first renamed out of the way (.trash-PID-N, swept at start-up if the monitor dies
 * first), so its name is free at once. */
struct discard_job {
	struct cit_job job;
	int fd;                   /* owned: closed, or -1 */
	char dir[4200];           /* removed, or "" */
};

static void discard_run(struct cit_job *job)
{
	struct discard_job *d = (struct discard_job *)job;
	if (d->dir[0])
		remove_dir(d->dir);
	if (d->fd >= 0)
		close(d->fd);
}

static void discard_done(struct monitor *m, struct cit_job *job)
{
	(void)m;
	if (job->cancelled)
		discard_run(job);
	free(job);
}

/* Removes dir (when not NULL) and closes fd (when >= 0, owned), off the loop. */
static void discard(struct monitor *m, const char *dir, int fd)
{
	struct discard_job *d = calloc(1, sizeof(*d));
	if (!d) {
		if (dir)
			remove_dir(dir);
		if (fd >= 0)
			close(fd);
		return;
	}
	d->job = (struct cit_job){ .run = discard_run, .done = discard_done };
	d->fd = fd;
	if (dir) {
		snprintf(d->dir, sizeof(d->dir), "%s/functions/.trash-%d-%llu", m->opts->state_dir, (int)getpid(),
			 (unsigned long long)++m->trash_seq);
		if (rename(dir, d->dir) < 0) {
			if (errno != ENOENT)
				remove_dir(dir); /* in place, then */
			d->dir[0] = '\0';
		}
	}
	if (m->worker && !m->stopping) {
		cit_worker_submit(m, &d->job);
		return;
	}
	discard_run(&d->job);
	free(d);
}

static void open_log(struct monitor *m, struct function *fn, const char *suffix)
{
	char path[4200];
	fn_path(m, fn->spec.name, suffix, "log", path, sizeof(path));
	fn->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct stat st;
	fn->log_size = fn->log_fd >= 0 && fstat(fn->log_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Writes NAME.new/{spec,code.so} beneath the state directory (state_dir): what a restart
 * will find once it is renamed. Runs in the worker. */
static int save_new(const char *state_dir, struct function *fn, struct cit_error *err)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/functions/%s.new", state_dir, fn->spec.name);
	remove_dir(dir);
	if (mkdir(dir, 0700) < 0)
		return cit_error_set(err, -errno, "creating %s", dir);
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st = { 0 };
	void *code = fn->code < 0 ? NULL
		     : fstat(fn->code, &st) == 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fn->code, 0)
						 : MAP_FAILED;
	int rc = dfd < 0 || code == MAP_FAILED ? -errno : 0;
	if (rc == 0)
		rc = cit_write_file_at(dfd, "spec", &fn->spec, sizeof(fn->spec), fn->tail,
				   fn->spec.env_len + fn->spec.args_len);
	if (rc == 0 && code)
		rc = cit_write_file_at(dfd, "code.so", code, (size_t)st.st_size, NULL, 0);
	if (rc == 0 && fn->keyed) {
		char line[66];
		hex(fn->invoke_key_hash, 32, line);
		line[64] = '\n';
		rc = cit_write_file_at(dfd, "invoke-key.sha256", line, 65, NULL, 0);
	}
	if (code && code != MAP_FAILED)
		munmap(code, (size_t)st.st_size);
	if (rc < 0)
		return cit_error_set(err, rc, "saving %s in the state directory", fn->spec.name);
	return 0;
}

static void add_function(struct monitor *m, struct function *fn)
{
	fn->next = m->functions;
	m->functions = fn;
}


/* The version old is replaced by fn: calls waiting for it go to fn; calls it runs finish
 * (cit_fn_reap_discarded frees it when none is left); its idle trustlets go now. */
static void retire(struct monitor *m, struct function *old, struct function *fn)
{
	old->retired = true;
	if (old->q_head) {
		if (fn->q_tail)
			fn->q_tail->next = old->q_head;
		else
			fn->q_head = old->q_head;
		fn->q_tail = old->q_tail;
		fn->q_len += old->q_len;
		old->q_head = old->q_tail = NULL;
		old->q_len = 0;
	}
	cit_pool_retire(m, old);
}

/* A deploy's template has loaded: the new version replaces the old one on disk and in
 * the table, and the deployer hears so (if still connected). */
void cit_fn_deploy_done(struct monitor *m, struct function *fn)
{
	char cur[4200], next[4200], m_hex[65];
	fn_path(m, fn->spec.name, "", NULL, cur, sizeof(cur));
	fn_path(m, fn->spec.name, ".new", NULL, next, sizeof(next));
	fn->deploying = false;
	for (struct function *old = m->functions; old; old = old->next)
		if (old != fn && !old->discard && !old->retired && !strcmp(old->spec.name, fn->spec.name))
			retire(m, old, fn);
	/* The previous version's log stays, as log.1. */
	char keep_log[4200], new_log[4200];
	fn_path(m, fn->spec.name, "", "log", keep_log, sizeof(keep_log));
	fn_path(m, fn->spec.name, ".new", "log.1", new_log, sizeof(new_log));
	rename(keep_log, new_log);
	if (!fn->runtime->takes_code && fn->pinned) {
		/* What an exec function's program was at deploy, for the templates after a
		 * restart to be checked against. */
		char path[4300], line[66];
		hex(fn->code_sha256, 32, line);
		line[64] = '\n';
		snprintf(path, sizeof(path), "%s/code.sha256", next);
		_cleanup_close_ int pfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (pfd < 0 || cit_write_all(pfd, line, 65) < 0)
			cit_mlog(m, "warn", "save_failed", "function=%s msg=\"code.sha256\"", fn->spec.name);
	}
	discard(m, cur, -1);
	int rc = rename(next, cur);
	hex(fn->measurement, sizeof(fn->measurement), m_hex);
	if (rc < 0) {
		cit_mlog(m, "error", "save_failed", "function=%s", fn->spec.name);
		cit_reply_error(m, fn->deployer, fn->deploy_id, -errno, "saving %s: %s", fn->spec.name, strerror(errno));
		fn->deployer = NULL;
		return;
	}
	cit_mlog(m, "info", "deployed", "function=%s measurement=%s", fn->spec.name, m_hex);
	/* The reply's data: the measurement, in hex; then, for a keyed function, a newline
	 * and its new invoke key, shown this once and kept nowhere. */
	char reply[64 + 1 + CIT_TOKEN_LEN];
	memcpy(reply, m_hex, 64);
	reply[64] = '\n';
	memcpy(reply + 65, fn->invoke_key, CIT_TOKEN_LEN);
	if (fn->deployer)
		cit_reply_data(m, fn->deployer, fn->deploy_id, 0, reply, fn->keyed ? sizeof(reply) : 64);
	sodium_memzero(reply, sizeof(reply));
	sodium_memzero(fn->invoke_key, sizeof(fn->invoke_key));
	fn->deployer = NULL;
}

/* A deploy's blocking part, in the worker: hashing the code (up to CODE_MAX bytes) and
 * writing and syncing it and its spec to the state directory. Until done() the loop
 * leaves fn's code and measurement alone (fn->hashing). */
struct deploy_job {
	struct cit_job job;
	struct function *fn;
	int src;                  /* owned: the client's sealed data object */
	size_t len;
	char state_dir[4096];
	char unpacker[4200];      /* citadel-unpack, beside the runtime's program */
	struct cit_error err;
	int rc;
};

/* SHA-256 of len bytes of fd, read with pread (never mapped: see measure_code). In the
 * worker: allocation-free. */
static int hash_fd(int fd, size_t len, uint8_t out[32])
{
	static uint8_t chunk[CHUNK];
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, chunk, len - done < CHUNK ? len - done : CHUNK, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		crypto_hash_sha256_update(&st, chunk, (size_t)n);
		done += (size_t)n;
	}
	crypto_hash_sha256_final(&st, out);
	return 0;
}

/* Runs citadel-unpack (src/unpack/unpack.c) on the archive src into the empty directory
 * dir, and waits for it: 0, or its one-line reason in err. The archive is handed over as
 * a new open file (its own offset: a client holding the same memfd cannot move it under
 * the reader). In the worker, so no allocation: vfork and execve only. */
static int run_unpacker(const char *unpacker, int src, int dir, struct cit_error *err)
{
	char proc[64], why[CIT_TEXT_MAX];
	if (cit_attest_program_ok(unpacker, why) < 0)
		return cit_error_say(err, -ESTALE, "%s", why);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", src);
	_cleanup_close_ int in = open(proc, O_RDONLY | O_CLOEXEC);
	int pipefd[2];
	if (in < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
		return cit_error_set(err, -errno, "unpacking the bundle: %s", strerror(errno));
	char *const argv[] = { (char *)unpacker, NULL };
	char *const envp[] = { NULL };
	pid_t pid = vfork();
	if (pid == 0) {
		/* Our fds may be 0 to 3 themselves: each goes high first. */
		int a = fcntl(in, F_DUPFD, 10), d = fcntl(dir, F_DUPFD, 10), w = fcntl(pipefd[1], F_DUPFD, 10);
		if (a < 0 || d < 0 || w < 0 || dup2(a, 0) < 0 || dup2(w, 1) < 0 || dup2(w, 2) < 0 || dup2(d, 3) < 0)
			_exit(2);
		execve(unpacker, argv, envp);
		_exit(127);
	}
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return cit_error_set(err, -errno, "unpacking the bundle: %s", strerror(errno));
	}
	char msg[sizeof(err->msg)];
	size_t len = 0;
	for (;;) { /* to its end, so that a chatty unpacker can never block on a full pipe */
		char buf[512];
		ssize_t n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && len + 1 < sizeof(msg); i++)
			msg[len++] = buf[i] == '\n' ? ' ' : buf[i];
	}
	close(pipefd[0]);
	while (len && msg[len - 1] == ' ')
		len--;
	msg[len] = '\0';
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
		return cit_error_say(err, -EINVAL, "%s", msg);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return cit_error_say(err, -ENOENT, "unpacking the bundle: cannot run %s", unpacker);
	if (WIFSIGNALED(status))
		return cit_error_say(err, -EIO, "unpacking the bundle: the unpacker was killed by signal %d%s%s",
				     WTERMSIG(status), len ? ": " : "", msg);
	return cit_error_say(err, -EIO, "%s", len ? msg : "unpacking the bundle: the unpacker failed");
}

/* A bundled exec function: its archive hashed (the measurement's "bundle" line), its spec
 * saved, and the archive unpacked into NAME.new/bundle, with its hash beside it
 * (bundle.sha256) for a restart. */
static int save_bundle(struct deploy_job *d)
{
	struct function *fn = d->fn;
	int rc = hash_fd(d->src, d->len, fn->bundle_sha256);
	if (rc < 0)
		return cit_error_set(&d->err, rc, "reading the bundle");
	if ((rc = save_new(d->state_dir, fn, &d->err)) < 0)
		return rc;
	char dir[4300], line[66];
	snprintf(dir, sizeof(dir), "%s/functions/%s.new/bundle", d->state_dir, fn->spec.name);
	if (mkdir(dir, 0755) < 0)
		return cit_error_set(&d->err, -errno, "creating %s", dir);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return cit_error_set(&d->err, -errno, "opening %s", dir);
	if ((rc = run_unpacker(d->unpacker, d->src, dfd, &d->err)) < 0)
		return rc;
	hex(fn->bundle_sha256, 32, line);
	line[64] = '\n';
	snprintf(dir, sizeof(dir), "%s/functions/%s.new/bundle.sha256", d->state_dir, fn->spec.name);
	_cleanup_close_ int fd = open(dir, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (rc = cit_write_all(fd, line, 65)) < 0 || fsync(fd) < 0)
		return cit_error_set(&d->err, fd < 0 || rc == 0 ? -errno : rc, "saving bundle.sha256");
	return 0;
}

static void deploy_run(struct cit_job *job)
{
	struct deploy_job *d = (struct deploy_job *)job;
	if (d->src < 0) { /* no code (exec): its spec is what is saved */
		d->rc = save_new(d->state_dir, d->fn, &d->err);
		return;
	}
	if (d->fn->spec.flags & CIT_FN_BUNDLE) {
		d->rc = save_bundle(d);
		/* A python function's bundle is its code: measured now (its code line zero); an
		 * exec function's program is measured by its zygote. */
		if (d->rc == 0 && d->fn->runtime->takes_code)
			fn_measure(d->fn);
		return;
	}
	d->fn->code = measure_code(d->fn, d->src, d->len, true);
	if ((d->rc = d->fn->code) < 0) {
		cit_error_set(&d->err, d->rc, "reading the function's code");
		return;
	}
	/* Sealed against writes: the bytes checked are the bytes measured and loaded. */
	void *code = mmap(NULL, d->len, PROT_READ, MAP_PRIVATE, d->fn->code, 0);
	if (code == MAP_FAILED) {
		d->rc = cit_error_set(&d->err, -errno, "reading the function's code");
		return;
	}
	/* A native function's code is a shared object, checked before it goes anywhere near
	 * a loader; a python function's is source, compiled in its own sandbox. */
	d->rc = !strcmp(d->fn->runtime->name, "native") ? cit_elf_check(code, d->len, &d->err) : 0;
	munmap(code, d->len);
	if (d->rc == 0)
		d->rc = save_new(d->state_dir, d->fn, &d->err);
}

static void deploy_done(struct monitor *m, struct cit_job *job)
{
	struct deploy_job *d = (struct deploy_job *)job;
	struct function *fn = d->fn;
	fn->hashing = false;
	if (d->src >= 0)
		close(d->src);
	if (d->rc == 0 && (job->cancelled || m->stopping))
		d->rc = cit_error_set(&d->err, -ESHUTDOWN, "the monitor is stopping");
	if (d->rc < 0) {
		cit_reply_error(m, fn->deployer, fn->deploy_id, d->err.code, "%s", d->err.msg);
		fn->deployer = NULL;
		fn->discard = true; /* freed, and NAME.new removed, after this batch */
		free(d);
		return;
	}
	free(d);
	/* What its init writes is kept: the fd follows the directory when it is renamed. */
	open_log(m, fn, ".new");
	cit_mlog(m, "info", "deploying", "function=%s", fn->spec.name);
	cit_fn_start(m, fn);
}

int cit_fn_deploy(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	struct cit_error err = { 0 };
	if (cit_fn_spec_check(rx->spec, rx->env, rx->args, &err) < 0)
		return cit_reply_error(m, c, rx->hdr.id, err.code, "%s", err.msg), 0;
	for (struct function *f = m->functions; f; f = f->next)
		if (!strcmp(f->spec.name, rx->spec->name) && f->deploying && !f->discard)
			return cit_reply_error(m, c, rx->hdr.id, -EBUSY, "%s is being deployed already", f->spec.name), 0;
	struct deploy_job *d = calloc(1, sizeof(*d));
	struct function *fn = d ? fn_alloc(rx->spec, rx->env, rx->args, rx->fds[0], true, &d->len, &err) : NULL;
	if (!fn) {
		free(d);
		cit_reply_error(m, c, rx->hdr.id, d ? err.code : -ENOMEM, "%s", d ? err.msg : "out of memory");
		return 0;
	}
	if (fn->spec.flags & CIT_FN_INVOKE_KEY) {
		/* A new key at each deploy (a redeploy rotates it): 32 random bytes in hex. */
		uint8_t raw[32];
		randombytes_buf(raw, sizeof(raw));
		sodium_bin2hex(fn->invoke_key, sizeof(fn->invoke_key), raw, sizeof(raw));
		crypto_hash_sha256(fn->invoke_key_hash, (const uint8_t *)fn->invoke_key, CIT_TOKEN_LEN);
		sodium_memzero(raw, sizeof(raw));
		fn->keyed = true;
	}
	d->job = (struct cit_job){ .run = deploy_run, .done = deploy_done };
	d->fn = fn;
	d->src = steal_fd(&rx->fds[0]);
	snprintf(d->state_dir, sizeof(d->state_dir), "%s", m->opts->state_dir);
	const char *slash = strrchr(m->opts->runtime_path, '/');
	snprintf(d->unpacker, sizeof(d->unpacker), "%.*s/citadel-unpack", (int)(slash - m->opts->runtime_path),
		 m->opts->runtime_path);
	/* The new version goes to the end of the table: lookups find the old one (first)
	 * until the new one has loaded and replaced it. */
	struct function **tail = &m->functions;
	while (*tail)
		tail = &(*tail)->next;
	*tail = fn;
	fn->deployer = c;
	fn->deploying = true;
	fn->hashing = true;
	fn->deploy_id = rx->hdr.id;
	cit_worker_submit(m, &d->job);
	return 0;
}

void cit_fn_reap_discarded(struct monitor *m)
{
	for (struct function *fn = m->functions, *next; fn; fn = next) {
		next = fn->next;
		/* Once its calls are over: a dying instance's caller still waits to hear how it
		 * ended, which its template tells (EXITED). */
		if (fn->retired && !fn->n_busy && !fn->n_dying) {
			fn_free(m, fn);
			continue;
		}
		if (!fn->discard)
			continue;
		/* NAME.new is this version's, unless a newer deploy of the name has it now. */
		bool newer = false;
		for (struct function *f = m->functions; f; f = f->next)
			newer |= f != fn && !f->discard && f->deploying && !strcmp(f->spec.name, fn->spec.name);
		char dir[4200];
		fn_path(m, fn->spec.name, ".new", NULL, dir, sizeof(dir));
		if (!newer)
			discard(m, dir, -1);
		fn_free(m, fn);
	}
}

/* Rewrites a spec read back in an earlier layout in the current one (spec.tmp, then
 * renamed over spec): a directory migrated once is read as current from then on. */
static int migrate_spec(struct monitor *m, const struct function *fn)
{
	char dir[4200];
	fn_path(m, fn->spec.name, "", NULL, dir, sizeof(dir));
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int rc = dfd < 0 ? -errno
			 : cit_write_file_at(dfd, "spec.tmp", &fn->spec, sizeof(fn->spec), fn->tail,
					 fn->spec.env_len + fn->spec.args_len);
	if (rc == 0 && renameat(dfd, "spec.tmp", dfd, "spec") < 0)
		rc = -errno;
	return rc;
}

/* The state directory's layout (docs/architecture.md, "The state directory"): the file
 * "format" holds "citadel-state N". Format 1 had no such file (and specs of the V0 and V1
 * layouts, read back as such); this monitor writes format 2. A directory of a newer
 * format is refused: its files would be misread. Returns the format found (1 when there
 * is no file), or -EPROTO with err saying what to do. */
#define STATE_FORMAT 2

static int state_format(struct monitor *m, struct cit_error *err)
{
	char path[4200], buf[64];
	snprintf(path, sizeof(path), "%s/format", m->opts->state_dir);
	/* A regular file only: a FIFO put there would hold the start in open(). */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return 1;
	struct stat st;
	ssize_t n = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, buf, sizeof(buf) - 1) : -1;
	unsigned v = 0;
	char nl = 0;
	if (n > 0)
		buf[n] = '\0';
	if (n <= 0 || sscanf(buf, "citadel-state %9u%c", &v, &nl) != 2 || nl != '\n' || v < 2)
		return cit_error_say(err, -EPROTO, "%s is not a Citadel state directory format file (it should say "
						   "\"citadel-state %d\"): not starting", path, STATE_FORMAT);
	if (v > STATE_FORMAT)
		return cit_error_say(err, -EPROTO, "the state directory %s was written by a newer Citadel (format %u; "
						   "this citadeld reads formats 1 to %d): run that version, or use another "
						   "--state-dir", m->opts->state_dir, v, STATE_FORMAT);
	return (int)v;
}

static int write_state_format(struct monitor *m, struct cit_error *err)
{
	char dir[4200], line[32];
	snprintf(dir, sizeof(dir), "%s", m->opts->state_dir);
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int n = snprintf(line, sizeof(line), "citadel-state %d\n", STATE_FORMAT);
	int rc = dfd < 0 ? -errno : cit_write_file_at(dfd, "format.tmp", line, (size_t)n, NULL, 0);
	if (rc == 0 && renameat(dfd, "format.tmp", dfd, "format") < 0)
		rc = -errno;
	return rc < 0 ? cit_error_set(err, rc, "writing %s/format", dir) : 0;
}

/* A SHA-256 kept in hex in function name's directory (file: 64 digits and a newline)
 * into out. Returns whether it was there and well formed. */
static bool read_hash(struct monitor *m, const char *name, const char *file, uint8_t out[32])
{
	char path[4200], hexsum[80];
	fn_path(m, name, "", file, path, sizeof(path));
	return cit_read_file(path, hexsum, sizeof(hexsum)) == 65 &&
	       sodium_hex2bin(out, 32, hexsum, 64, NULL, NULL, NULL) == 0;
}

int cit_fn_load_all(struct monitor *m, struct cit_error *err)
{
	int format = state_format(m, err);
	if (format < 0)
		return format;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/functions", m->opts->state_dir);
	DIR *d = opendir(dir);
	if (!d)
		return cit_error_set(err, -errno, "reading %s", dir);
	for (struct dirent *e; (e = readdir(d));) {
		if (!cit_fn_name_ok(e->d_name)) {
			/* A deploy that never finished, or files a monitor that died left to remove. */
			if (strstr(e->d_name, ".new") || !strncmp(e->d_name, ".trash-", 7)) {
				char p[4200];
				snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
				remove_dir(p);
			}
			continue;
		}
		char path[4200];
		static _Alignas(16) char buf[sizeof(struct cit_fn_spec) + CIT_ENV_BYTES + CIT_ARGS_BYTES + 1];
		/* A spec of an earlier layout is read as such (proto.h). */
		fn_path(m, e->d_name, "", "spec", path, sizeof(path));
		ssize_t n = cit_read_file(path, buf, sizeof(buf));
		struct cit_rx rx;
		struct cit_error e2 = { 0 };
		struct function *fn = NULL;
		if (n > 0 && cit_fn_spec_parse(buf, (size_t)n, sizeof(buf), &rx, &e2) == 0 &&
		    !strcmp(rx.spec->name, e->d_name)) {
			const struct cit_runtime_info *rt = cit_runtime_known(rx.spec->runtime);
			fn_path(m, e->d_name, "", "code.so", path, sizeof(path));
			bool code = rt && rt->takes_code && !(rx.spec->flags & CIT_FN_BUNDLE); /* else it is a directory */
			_cleanup_close_ int cfd = code ? open(path, O_RDONLY | O_CLOEXEC) : -1;
			fn = !rt || cfd >= 0 || !code ? fn_restore(rx.spec, rx.env, rx.args, cfd, &e2) : NULL;
		}
		if (!fn) {
			cit_mlog(m, "error", "restore_failed", "function=%s msg=\"%s\"", e->d_name,
				 e2.msg[0] ? e2.msg : "unreadable spec or code");
			continue;
		}
		if (fn->spec.flags & CIT_FN_INVOKE_KEY) {
			/* No key hash, no calls over HTTP: a keyed function never opens by loss. */
			if (!read_hash(m, e->d_name, "invoke-key.sha256", fn->invoke_key_hash)) {
				cit_mlog(m, "error", "restore_failed", "function=%s msg=\"its invoke-key.sha256 is missing or "
					 "unreadable: no HTTP caller can invoke it until it is deployed again\"", e->d_name);
				randombytes_buf(fn->invoke_key_hash, 32); /* a hash no key has */
			}
			fn->keyed = true;
		}
		if (fn->spec.flags & CIT_FN_BUNDLE) {
			if (!read_hash(m, e->d_name, "bundle.sha256", fn->bundle_sha256)) {
				cit_mlog(m, "error", "restore_failed", "function=%s msg=\"its bundle.sha256 is missing or "
					 "unreadable\"", e->d_name);
				fn_free(m, fn);
				continue;
			}
			/* A bundled python function: its code is the bundle (the code line zero). */
			if (fn->runtime->takes_code)
				fn_measure(fn);
		}
		if (!fn->runtime->takes_code) {
			if (read_hash(m, e->d_name, "code.sha256", fn->code_sha256)) {
				fn->pinned = true;
				fn_measure(fn);
			}
		}
		if ((size_t)n != sizeof(fn->spec) + fn->spec.env_len + fn->spec.args_len) {
			int rc = migrate_spec(m, fn);
			cit_mlog(m, rc < 0 ? "error" : "info", "spec_migrated", "function=%s%s", fn->spec.name,
				 rc < 0 ? " msg=\"could not rewrite it; read as before\"" : "");
		}
		open_log(m, fn, "");
		add_function(m, fn);
		cit_mlog(m, "info", "restored", "function=%s", fn->spec.name);
	}
	closedir(d);
	if (format < STATE_FORMAT) {
		int rc = write_state_format(m, err);
		if (rc < 0)
			return rc;
		if (m->functions) /* a new, empty directory has nothing to migrate */
			cit_mlog(m, "info", "state_migrated", "from=%d to=%d", format, STATE_FORMAT);
	}
	/* Templates are made as they are first needed, except for the pools asked to be kept. */
	for (struct function *fn = m->functions; fn; fn = fn->next)
		if (fn->spec.min_instances > 0)
			cit_fn_start(m, fn);
	return 0;
}

/* ---- list, remove, logs ----------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t percentile(const uint32_t *ring, uint32_t n, uint32_t cap, int pct)
{
	uint32_t k = n < cap ? n : cap;
	if (!k)
		return 0;
	uint32_t *tmp = malloc(k * sizeof(*tmp));
	if (!tmp)
		return 0;
	memcpy(tmp, ring, k * sizeof(*tmp));
	qsort(tmp, k, sizeof(*tmp), cmp_u32);
	uint64_t v = tmp[(k - 1) * (uint32_t)pct / 100];
	free(tmp);
	return v;
}

int cit_fn_list(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	uint64_t id = rx->hdr.id;
	size_t n = 0;
	for (struct function *fn = m->functions; fn; fn = fn->next)
		n++;
	struct cit_fn_info *info = calloc(n ? n : 1, sizeof(*info));
	if (!info)
		return cit_reply_error(m, c, id, -ENOMEM, "out of memory"), 0;
	size_t i = 0;
	static const char *const states[] = { "cold", "starting", "ready", "failed" };
	for (struct function *fn = m->functions; fn; fn = fn->next) {
		if (fn->discard || fn->retired)
			continue;
		struct cit_fn_info *f = &info[i++];
		snprintf(f->name, sizeof(f->name), "%s", fn->spec.name);
		snprintf(f->runtime, sizeof(f->runtime), "%s", fn->spec.runtime);
		snprintf(f->state, sizeof(f->state), "%s", fn->deploying ? "deploying" : states[fn->state]);
		if (!fn->hashing && fn->measured)
			hex(fn->measurement, sizeof(fn->measurement), f->measurement);
		f->live = fn->n_starting + fn->n_idle + fn->n_busy;
		f->idle = fn->n_idle;
		f->busy = fn->n_busy;
		f->queued = fn->q_len;
		f->max_instances = fn->spec.max_instances;
		f->min_instances = fn->spec.min_instances;
		f->invocations = fn->invocations;
		f->errors = fn->errors;
		f->p50_us = percentile(fn->lat_us, fn->lat_n, LAT_RING, 50);
		f->p99_us = percentile(fn->lat_us, fn->lat_n, LAT_RING, 99);
		f->cold_us = fn->cold_us;
		f->template_us = fn->template_us;
		memcpy(f->hist, fn->hist, sizeof(f->hist));
		memcpy(f->hist_sum_us, fn->hist_sum_us, sizeof(f->hist_sum_us));
		f->keyed = fn->keyed;
		f->memory_used = fn->z ? cit_cgroup_memory(&fn->z->sb.cg) : 0;
		f->lukewarm_us = percentile(fn->luke_us, fn->luke_n, ARRAY_SIZE(fn->luke_us), 50);
		f->memory_bytes = fn->spec.memory_bytes;
		f->timeout_ms = fn->spec.timeout_ms;
		snprintf(f->error, sizeof(f->error), "%s", fn->error);
	}
	int rc = cit_reply_data(m, c, id, i, info, i * sizeof(*info));
	if (rc == -EBUSY)
		cit_reply_error(m, c, id, rc, "too many replies wait unread by their clients: try again later");
	else if (rc < 0)
		cit_mlog(m, "warn", "reply_dropped", "request=list");
	free(info);
	return 0;
}

int cit_fn_remove(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	uint64_t id = rx->hdr.id;
	const char *name = CIT_P(rx, cit_p_name)->name;
	struct function *fn = cit_fn_find(m, name);
	if (!fn)
		return cit_reply_error(m, c, id, -ENOENT, "no function named '%s'", name), 0;
	if (fn->deploying)
		return cit_reply_error(m, c, id, -EBUSY, "%s is being deployed; remove it once that is done", name), 0;
	char dir[4200];
	fn_path(m, name, "", NULL, dir, sizeof(dir));
	discard(m, dir, -1);
	fn_free(m, fn);
	cit_mlog(m, "info", "removed", "function=%s", name);
	for (struct client *f = m->clients, *next; f && m->n_following; f = next) {
		next = f->next;
		if (!strcmp(f->follow, name))
			cit_client_unfollow(m, f, "the function was removed");
	}
	cit_reply_ok(m, c, id);
	return 0;
}

/* LOGS: the log so far (log.1 then log, at most 2 MiB) is read in the worker: the files are
 * opened here and their sizes taken, and the worker reads that much of each, so the loop
 * never waits on the disk for it and a rotation meanwhile changes nothing. With --follow,
 * the lines written meanwhile are held (log_follow) and sent after it. */
struct logs_job {
	struct cit_job job;
	uint64_t serial, id;      /* the client's, and its request's */
	int fds[2];               /* owned: log.1 and log, or -1 */
	uint64_t sizes[2];        /* what to read of each */
	char *buf;                /* owned: sizes[0] + sizes[1] bytes */
	size_t len;
	uint64_t reserved;        /* counted in m->object_bytes_unread until done */
};

static void logs_run(struct cit_job *job)
{
	struct logs_job *l = (struct logs_job *)job;
	for (size_t i = 0; i < 2; i++)
		for (uint64_t off = 0; l->fds[i] >= 0 && off < l->sizes[i];) {
			ssize_t n = pread(l->fds[i], l->buf + l->len, l->sizes[i] - off, (off_t)off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			off += (uint64_t)n;
			l->len += (size_t)n;
		}
}

static void logs_done(struct monitor *m, struct cit_job *job)
{
	struct logs_job *l = (struct logs_job *)job;
	for (size_t i = 0; i < 2; i++)
		if (l->fds[i] >= 0)
			close(l->fds[i]);
	struct client *c = job->cancelled ? NULL : cit_client_find(m, l->serial);
	m->object_bytes_unread -= l->reserved; /* the reply counts its own bytes now */
	if (c)
		c->replies_pending--;
	int rc = c ? cit_reply_data(m, c, l->id, 0, l->buf, l->len) : 0;
	if (rc == -EBUSY)
		cit_reply_error(m, c, l->id, rc, "too many replies wait unread by their clients: try again later");
	else if (rc < 0)
		cit_mlog(m, "warn", "reply_dropped", "request=logs");
	if (c && c->follow_waiting && c->follow_id == l->id) {
		c->follow_waiting = false;
		if (rc < 0) {
			cit_client_unfollow(m, c, NULL);
		} else if (c->follow_pending) {
			char *held = steal_ptr(&c->follow_pending);
			size_t n = c->follow_pending_len;
			c->follow_pending_len = 0;
			struct function *fn = cit_fn_find(m, c->follow);
			if (fn)
				log_follow(m, fn, held, n);
			free(held);
		}
	}
	free(l->buf);
	free(l);
}

int cit_fn_logs(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	uint64_t id = rx->hdr.id;
	const char *name = CIT_P(rx, cit_p_logs)->name;
	struct function *fn = cit_fn_find(m, name);
	if (!fn)
		return cit_reply_error(m, c, id, -ENOENT, "no function named '%s'", name), 0;
	struct logs_job *l = calloc(1, sizeof(*l));
	if (!l)
		return cit_reply_error(m, c, id, -ENOMEM, "out of memory"), 0;
	*l = (struct logs_job){ .job = { .run = logs_run, .done = logs_done }, .serial = c->serial, .id = id,
				.fds = { -1, -1 } };
	static const char *const files[] = { "log.1", "log" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char path[4200];
		struct stat st;
		fn_path(m, name, "", files[i], path, sizeof(path));
		l->fds[i] = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (l->fds[i] >= 0 && fstat(l->fds[i], &st) == 0)
			l->sizes[i] = (uint64_t)st.st_size < CIT_LOG_MAX + 1 ? (uint64_t)st.st_size : CIT_LOG_MAX + 1;
	}
	/* A reply that will be a data object counts against the monitor's unread replies from
	 * now on (cit_reply_data's bound, taken here). */
	uint64_t total = l->sizes[0] + l->sizes[1];
	l->reserved = total > CIT_INLINE_MAX ? total : 0;
	bool full = m->object_bytes_unread + l->reserved > MON_OBJECT_BYTES_UNREAD;
	l->buf = full ? NULL : malloc(total + 1);
	if (!l->buf) {
		for (size_t i = 0; i < 2; i++)
			if (l->fds[i] >= 0)
				close(l->fds[i]);
		free(l);
		return cit_reply_error(m, c, id, full ? -EBUSY : -ENOMEM, "%s", full ? "too many replies wait unread by "
					   "their clients: try again later" : "out of memory"), 0;
	}
	m->object_bytes_unread += l->reserved;
	c->replies_pending++;
	/* --follow: from now on, each new part of the log as it is written, after the log so
	 * far. */
	if (CIT_P(rx, cit_p_logs)->flags & CIT_LOGS_FOLLOW) {
		if (!c->follow[0])
			m->n_following++;
		free(steal_ptr(&c->follow_pending));
		c->follow_pending_len = 0;
		snprintf(c->follow, sizeof(c->follow), "%s", name);
		/* Granted by a token: it lasts as long as the token (token rm ends it). */
		snprintf(c->follow_token, sizeof(c->follow_token), "%s",
			 c->token_grant >= 0 ? m->tokens[c->token_grant].name : "");
		c->follow_id = id;
		c->follow_dropped = 0;
		c->follow_waiting = true;
	}
	cit_worker_submit(m, &l->job);
	return 0;
}

/* Templates that took too long to load fail (their deployer hears why), and so does a
 * version being deployed whose first instance did not answer in that time. */
void cit_fn_check_loads(struct monitor *m, uint64_t now)
{
	for (struct function *fn = m->functions, *next; fn; fn = next) {
		next = fn->next;
		if (!fn->load_deadline_ns || now <= fn->load_deadline_ns)
			continue;
		char why[160];
		unsigned long long ms = (fn->load_deadline_ns - fn->load_ns) / 1000000;
		if (fn->state == F_STARTING && fn->z && !fn->z->ready) {
			snprintf(why, sizeof(why), "its runtime's zygote did not start within %llu ms", ms);
			cit_fn_failed(m, fn, why);
		} else if (fn->state == F_STARTING && fn->z) {
			snprintf(why, sizeof(why), "its template did not load within %llu ms", ms);
			cit_fn_failed(m, fn, why);
		} else if (fn->state == F_READY && fn->deploying && !fn->first_hello) {
			bool full = m->live_instances >= m->opts->max_instances;
			snprintf(why, sizeof(why), "no instance of it was ready within %llu ms%s", ms,
				 full ? " (the monitor's --max-instances are all in use)" : "");
			cit_fn_failed(m, fn, why);
		}
	}
}

void cit_fn_stuck(struct monitor *m, struct function *fn)
{
	char why[CIT_TEXT_MAX];
	snprintf(why, sizeof(why), "%s", fn->error);
	cit_fn_failed(m, fn, why);
	fn->stuck = !fn->discard;
}

int cit_fn_restart(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	uint64_t id = rx->hdr.id;
	const char *name = CIT_P(rx, cit_p_name)->name;
	struct function *fn = cit_fn_find(m, name);
	if (!fn)
		return cit_reply_error(m, c, id, -ENOENT, "no function named '%s'", name), 0;
	if (fn->deploying)
		return cit_reply_error(m, c, id, -EBUSY, "%s is being deployed", name), 0;
	stop_function(m, fn, -ECANCELED, "restarted");
	fn->stuck = false;
	fn->start_failures = 0;
	fn->backoff_until_ns = 0;
	fn->state = F_STOPPED;
	fn->error[0] = '\0';
	cit_mlog(m, "info", "restarted", "function=%s", name);
	cit_fn_start(m, fn);
	cit_reply_ok(m, c, id);
	return 0;
}

void cit_fn_stop_all(struct monitor *m)
{
	m->stopping = true;
	while (m->functions) {
		struct function *fn = m->functions;
		m->functions = fn->next;
		stop_function(m, fn, -ESHUTDOWN, "the monitor is stopping");
		if (fn->code >= 0)
			close(fn->code);
		if (fn->log_fd >= 0)
			close(fn->log_fd);
		free(fn->by_pid);
		free(fn);
	}
	for (unsigned i = 0; i < CIT_RUNTIMES; i++)
		if (m->spare[i])
			zygote_release(m, m->spare[i]);
	cit_fn_tick(m);
}
