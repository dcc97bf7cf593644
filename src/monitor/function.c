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
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "monitor/monitor.h"
#include "sandbox/config.h"
#include "sandbox/sync.h"

#define CODE_MAX (256u << 20)
/* A template must load (dlopen and cit_init) within the function's timeout, at least this. */
#define CIT_LOAD_MIN_MS 5000u
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
	if (m->spare == z)
		m->spare = NULL;
	z->dead = true;
	z->grave = m->zgrave;
	m->zgrave = z;
}

/* Makes a runtime zygote: a fresh sandbox (its own user, mount, pid, net, ipc, uts and
 * cgroup namespaces, a distinct host uid) running citadel-zygote, whose stdin is its
 * channel to us and whose stdout and stderr go to the log pipe. */
static struct zygote *zygote_new(struct monitor *m)
{
	struct zygote *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->chan = z->log_r = -1;
	int sp[2] = { -1, -1 }, lp[2] = { -1, -1 };
	struct cit_error err = { 0 };
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	cfg.cpu_ms = 0;         /* trustlets live long; each call has its own deadline */
	cfg.pids = CIT_FN_MAX_INSTANCES + 16; /* RLIMIT_NPROC; the cgroup holds the real limit */
	cfg.hostname = "citadel";
	char spec[4200];
	snprintf(spec, sizeof(spec), "%s:%s", m->opts->runtime_path, ZYGOTE_PATH);
	char *argv[] = { (char *)ZYGOTE_PATH, NULL };
	int rc = cit_sandbox_add_bind(&cfg, spec, false, &err);
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
	fcntl(z->chan, F_SETFL, O_NONBLOCK);
	fcntl(z->log_r, F_SETFL, O_NONBLOCK);
	z->chan_ev = (struct cit_ev){ EV_ZYGOTE, z };
	z->sync_ev = (struct cit_ev){ EV_SYNC, z };
	z->log_ev = (struct cit_ev){ EV_LOG, z };
	if (cit_ep_add(m, z->chan, &z->chan_ev) < 0 || cit_ep_add(m, z->sb.sync, &z->sync_ev) < 0 ||
	    cit_ep_add(m, z->log_r, &z->log_ev) < 0) {
		zygote_release(m, z);
		return NULL;
	}
	return z;
}

void cit_zygote_spare(struct monitor *m)
{
	if (!m->spare && !m->stopping)
		m->spare = zygote_new(m);
}

static void send_load(struct monitor *m, struct function *fn)
{
	struct zygote *z = fn->z;
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	cfg.memory_bytes = fn->spec.memory_bytes; /* the whole function: template and instances */
	cfg.pids = fn->spec.max_instances + 8ull;
	struct cit_error err = { 0 };
	int rc = cit_cgroup_set_limits(&z->sb.cg, &cfg, &err);
	fn->oom_base = cit_cgroup_oom_kills(&z->sb.cg);
	fn->load_ns = cit_now_ns();
	uint64_t limit_ms = fn->spec.timeout_ms > CIT_LOAD_MIN_MS ? fn->spec.timeout_ms : CIT_LOAD_MIN_MS;
	fn->load_deadline_ns = fn->load_ns + limit_ms * 1000000ull;
	if (rc == 0)
		rc = cit_proto_send(z->chan, CIT_MSG_LOAD, 0, &fn->spec, sizeof(fn->spec), fn->env_buf,
				    fn->spec.env_len, &fn->code, 1);
	if (rc < 0)
		cit_fn_failed(m, fn, "could not hand the function to its zygote");
}

/* Gives fn a template: the spare zygote when there is one (its cold start is already
 * paid), else a new one; then a new spare is made for the next function. */
void cit_fn_start(struct monitor *m, struct function *fn)
{
	if (fn->z)
		return;
	struct zygote *z = m->spare ? m->spare : zygote_new(m);
	m->spare = NULL;
	if (!z) {
		snprintf(fn->error, sizeof(fn->error), "could not make a runtime zygote (see the monitor's log)");
		fn->state = F_FAILED;
		cit_pool_fail_all(m, fn, -EAGAIN, fn->error);
		return;
	}
	z->fn = fn;
	fn->z = z;
	fn->state = F_STARTING;
	fn->error[0] = '\0';
	if (z->ready)
		send_load(m, fn);
	cit_zygote_spare(m);
}

static void stop_function(struct monitor *m, struct function *fn, int code, const char *why)
{
	cit_pool_fail_all(m, fn, code, why);
	if (fn->z) {
		fn->z->fn = NULL;
		zygote_release(m, fn->z);
		fn->z = NULL;
	}
	if (fn->deployer) {
		cit_reply_error(m, fn->deployer, fn->deploy_id, code, "deploying %s: %s", fn->spec.name, why);
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

static void fn_free(struct monitor *m, struct function *fn)
{
	stop_function(m, fn, -ESHUTDOWN, "removed");
	for (struct function **p = &m->functions; *p; p = &(*p)->next)
		if (*p == fn) {
			*p = fn->next;
			break;
		}
	if (fn->code >= 0)
		close(fn->code);
	if (fn->log_fd >= 0)
		close(fn->log_fd);
	free(fn);
}

/* Appends what the function wrote to its log, rotating at CIT_LOG_MAX. */
static void log_append(struct monitor *m, struct function *fn, const char *buf, size_t n)
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
	}
	if (fn->log_fd >= 0 && cit_write_all(fn->log_fd, buf, n) == 0)
		fn->log_size += n;
}

static void on_zygote_msg(struct monitor *m, struct zygote *z, struct cit_rx *rx)
{
	struct function *fn = z->fn;
	const struct cit_body *b = rx->body;
	switch (rx->hdr.type) {
	case CIT_MSG_ZYGOTE_READY:
		/* The kernel's word on who speaks: the program our sandbox's init started. */
		if (z->ready || !rx->has_cred || cit_verify_child(rx->pid, z->sb.pid) < 0)
			break;
		z->pid = rx->pid;
		z->ready = true;
		z->cold_us = (cit_now_ns() - z->start_ns) / 1000;
		if (fn)
			send_load(m, fn);
		return;
	case CIT_MSG_LOADED:
		if (!fn || fn->state != F_STARTING || !z->ready)
			break;
		if (b->code < 0) {
			cit_fn_failed(m, fn, b->text[0] ? b->text : "the function failed to load");
			return;
		}
		fn->state = F_READY;
		fn->cold_us = z->cold_us;
		fn->template_us = (cit_now_ns() - fn->load_ns) / 1000;
		cit_mlog(m, "info", "function_ready", "function=%s cold_us=%llu template_us=%llu", fn->spec.name,
			 (unsigned long long)fn->cold_us, (unsigned long long)fn->template_us);
		if (fn->deploying)
			cit_fn_deploy_done(m, fn);
		cit_pool_dispatch(m, fn);
		return;
	case CIT_MSG_EXITED:
		if (!fn || fn->state != F_READY)
			break;
		cit_pool_exited(m, fn, b->aux, b->code);
		return;
	default:
		break;
	}
	if (fn)
		cit_fn_failed(m, fn, "its template broke the protocol");
	else
		zygote_release(m, z);
}

void cit_fn_zygote_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	struct zygote *z = ev->obj;
	if (z->dead)
		return;
	if (ev->kind == EV_LOG) {
		char buf[65536];
		ssize_t n = read(z->log_r, buf, sizeof(buf));
		if (n > 0)
			log_append(m, z->fn, buf, (size_t)n);
		else if (n == 0 || (n < 0 && errno != EAGAIN)) /* the log's writers are all gone */
			epoll_ctl(m->ep, EPOLL_CTL_DEL, z->log_r, NULL);
		return;
	}
	if (ev->kind == EV_SYNC) {
		/* init speaks only when something ended: a failed step, a failed exec, the
		 * template's exit. Whatever it says, this sandbox is done. */
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
		return;
	}
	for (int i = 0; i < 16 && !z->dead; i++) {
		struct cit_rx rx;
		struct cit_error err = { 0 };
		int rc = cit_proto_recv(z->chan, m->buf, &rx, &err);
		if (rc == -EAGAIN)
			return;
		if (rc <= 0) {
			if (z->fn)
				cit_fn_failed(m, z->fn, rc == 0 ? "its template exited" : "its template broke the protocol");
			else
				zygote_release(m, z);
			return;
		}
		on_zygote_msg(m, z, &rx);
		cit_rx_close(&rx);
	}
	(void)events;
}

/* ---- the function's record ------------------------------------------------------ */

/* Hashes the code into the measurement: SHA-256 over a domain tag, the runtime, the policy
 * (every limit and the environment; not the name) and the code. Returns the code as a
 * sealed memfd: src itself (a duplicate) when it is one already (a client's data object:
 * immutable, memory-backed, so reading it never blocks the loop), else a copy (a file of
 * the state directory). The source is read, never mapped: a mapped file truncated under
 * us would kill the monitor. Returns the memfd or -errno. */
static int measure_code(struct function *fn, int src, size_t len, bool adopt)
{
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	static const char domain[] = "citadel-function-v1";
	crypto_hash_sha256_update(&st, (const uint8_t *)domain, sizeof(domain));
	crypto_hash_sha256_update(&st, (const uint8_t *)fn->spec.runtime, sizeof(fn->spec.runtime));
	struct cit_fn_spec policy = fn->spec;
	memset(policy.name, 0, sizeof(policy.name));
	crypto_hash_sha256_update(&st, (const uint8_t *)&policy, sizeof(policy));
	crypto_hash_sha256_update(&st, (const uint8_t *)fn->env_buf, fn->spec.env_len);
	int fd = adopt ? fcntl(src, F_DUPFD_CLOEXEC, 3) : memfd_create("citadel-code", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	static uint8_t chunk[1 << 16];
	size_t done = 0;
	while (done < len) {
		size_t want = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
		ssize_t n = pread(src, chunk, want, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		int rc = n < 0 ? -errno : n == 0 ? -EIO /* it shrank */ : adopt ? 0 : cit_write_all(fd, chunk, (size_t)n);
		if (rc < 0) {
			close(fd);
			return rc;
		}
		crypto_hash_sha256_update(&st, chunk, (size_t)n);
		done += (size_t)n;
	}
	if (!adopt && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	crypto_hash_sha256_final(&st, fn->measurement);
	return fd;
}

/* A function from its spec and code (at most CODE_MAX bytes): from a client, a sealed data
 * object, used as it is; from the state directory, a file, copied into one. */
static struct function *fn_new(const struct cit_fn_spec *spec, const char *const *env, int code_fd,
			       bool from_client, struct cit_error *err)
{
	struct stat st;
	if (fstat(code_fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > CODE_MAX) {
		cit_error_set(err, -EINVAL, "the function's code must be a regular file of at most 256 MiB");
		return NULL;
	}
	if (from_client && cit_object_check(code_fd, (uint64_t)st.st_size, CODE_MAX) < 0) {
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
	size_t off = 0;
	for (size_t i = 0; env[i]; i++) {
		size_t l = strlen(env[i]) + 1;
		memcpy(fn->env_buf + off, env[i], l);
		off += l;
	}
	fn->log_fd = -1;
	fn->code = measure_code(fn, code_fd, (size_t)st.st_size, from_client);
	if (fn->code < 0) {
		cit_error_set(err, fn->code, "reading the function's code");
		free(fn);
		return NULL;
	}
	return fn;
}

static int write_file_at(int dirfd_, const char *name, const void *a, size_t alen, const void *b, size_t blen)
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

static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(path);
}

static void open_log(struct monitor *m, struct function *fn, const char *suffix)
{
	char path[4200];
	fn_path(m, fn->spec.name, suffix, "log", path, sizeof(path));
	fn->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct stat st;
	fn->log_size = fn->log_fd >= 0 && fstat(fn->log_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Writes NAME.new/{spec,code.so}: what a restart will find once it is renamed. */
static int save_new(struct monitor *m, struct function *fn, struct cit_error *err)
{
	char dir[4200];
	fn_path(m, fn->spec.name, ".new", NULL, dir, sizeof(dir));
	remove_dir(dir);
	if (mkdir(dir, 0700) < 0)
		return cit_error_set(err, -errno, "creating %s", dir);
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	void *code = fstat(fn->code, &st) == 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fn->code, 0)
					       : MAP_FAILED;
	int rc = dfd < 0 || code == MAP_FAILED ? -errno : 0;
	if (rc == 0)
		rc = write_file_at(dfd, "spec", &fn->spec, sizeof(fn->spec), fn->env_buf, fn->spec.env_len);
	if (rc == 0)
		rc = write_file_at(dfd, "code.so", code, (size_t)st.st_size, NULL, 0);
	if (code != MAP_FAILED)
		munmap(code, (size_t)st.st_size);
	if (rc < 0)
		return cit_error_set(err, rc, "saving %s in the state directory", fn->spec.name);
	/* What its init writes is kept: the fd follows the directory when it is renamed. */
	open_log(m, fn, ".new");
	return 0;
}

static void add_function(struct monitor *m, struct function *fn)
{
	fn->next = m->functions;
	m->functions = fn;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
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
	remove_dir(cur);
	int rc = rename(next, cur);
	hex(fn->measurement, sizeof(fn->measurement), m_hex);
	if (rc < 0) {
		cit_mlog(m, "error", "save_failed", "function=%s", fn->spec.name);
		cit_reply_error(m, fn->deployer, fn->deploy_id, -errno, "saving %s: %s", fn->spec.name, strerror(errno));
		fn->deployer = NULL;
		return;
	}
	cit_mlog(m, "info", "deployed", "function=%s measurement=%s", fn->spec.name, m_hex);
	struct cit_body ok = { 0 };
	snprintf(ok.text, sizeof(ok.text), "%s", m_hex);
	snprintf(ok.name, sizeof(ok.name), "%s", fn->spec.name);
	if (fn->deployer)
		cit_proto_send(fn->deployer->fd, CIT_MSG_OK, fn->deploy_id, &ok, sizeof(ok), NULL, 0, NULL, 0);
	fn->deployer = NULL;
}

void cit_fn_deploy(struct monitor *m, struct client *c, struct cit_rx *rx)
{
	struct cit_error err = { 0 };
	if (cit_fn_spec_check(rx->spec, rx->env, &err) < 0)
		return cit_reply_error(m, c, rx->hdr.id, err.code, "%s", err.msg);
	for (struct function *f = m->functions; f; f = f->next)
		if (!strcmp(f->spec.name, rx->spec->name) && f->deploying && !f->discard)
			return cit_reply_error(m, c, rx->hdr.id, -EBUSY, "%s is being deployed already", f->spec.name);
	struct function *fn = fn_new(rx->spec, rx->env, rx->fds[0], true, &err);
	if (!fn)
		return cit_reply_error(m, c, rx->hdr.id, err.code, "%s", err.msg);
	if (save_new(m, fn, &err) < 0) {
		cit_reply_error(m, c, rx->hdr.id, err.code, "%s", err.msg);
		close(fn->code);
		free(fn);
		return;
	}
	/* The new version goes to the end of the table: lookups find the old one (first)
	 * until the new one has loaded and replaced it. */
	struct function **p = &m->functions;
	while (*p)
		p = &(*p)->next;
	*p = fn;
	fn->deployer = c;
	fn->deploying = true;
	fn->deploy_id = rx->hdr.id;
	cit_mlog(m, "info", "deploying", "function=%s", fn->spec.name);
	cit_fn_start(m, fn);
}

void cit_fn_reap_discarded(struct monitor *m)
{
	for (struct function *fn = m->functions, *next; fn; fn = next) {
		next = fn->next;
		if (fn->retired && !fn->n_busy) {
			fn_free(m, fn);
			continue;
		}
		if (!fn->discard)
			continue;
		char dir[4200];
		fn_path(m, fn->spec.name, ".new", NULL, dir, sizeof(dir));
		remove_dir(dir);
		fn_free(m, fn);
	}
}

int cit_fn_load_all(struct monitor *m, struct cit_error *err)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/functions", m->opts->state_dir);
	DIR *d = opendir(dir);
	if (!d)
		return cit_error_set(err, -errno, "reading %s", dir);
	for (struct dirent *e; (e = readdir(d));) {
		if (!cit_fn_name_ok(e->d_name)) {
			if (strstr(e->d_name, ".new")) { /* a deploy that never finished */
				char p[4200];
				snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
				remove_dir(p);
			}
			continue;
		}
		char path[4200];
		static _Alignas(16) char buf[sizeof(struct cit_fn_spec) + CIT_ENV_BYTES + 1];
		fn_path(m, e->d_name, "", "spec", path, sizeof(path));
		ssize_t n = cit_read_file(path, buf, sizeof(buf));
		struct cit_rx rx;
		struct cit_error e2 = { 0 };
		struct function *fn = NULL;
		if (n > 0 && cit_fn_spec_parse(buf, (size_t)n, &rx, &e2) == 0 && !strcmp(rx.spec->name, e->d_name)) {
			fn_path(m, e->d_name, "", "code.so", path, sizeof(path));
			_cleanup_close_ int cfd = open(path, O_RDONLY | O_CLOEXEC);
			fn = cfd >= 0 ? fn_new(rx.spec, rx.env, cfd, false, &e2) : NULL;
		}
		if (!fn) {
			cit_mlog(m, "error", "restore_failed", "function=%s msg=\"%s\"", e->d_name,
				 e2.msg[0] ? e2.msg : "unreadable spec or code");
			continue;
		}
		open_log(m, fn, "");
		add_function(m, fn);
		cit_mlog(m, "info", "restored", "function=%s", fn->spec.name);
	}
	closedir(d);
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

void cit_fn_list(struct monitor *m, struct client *c, uint64_t id)
{
	size_t n = 0;
	for (struct function *fn = m->functions; fn; fn = fn->next)
		n++;
	struct cit_fn_info *info = calloc(n ? n : 1, sizeof(*info));
	if (!info)
		return cit_reply_error(m, c, id, -ENOMEM, "out of memory");
	size_t i = 0;
	static const char *const states[] = { "cold", "starting", "ready", "failed" };
	for (struct function *fn = m->functions; fn; fn = fn->next) {
		if (fn->discard || fn->retired)
			continue;
		struct cit_fn_info *f = &info[i++];
		snprintf(f->name, sizeof(f->name), "%s", fn->spec.name);
		snprintf(f->runtime, sizeof(f->runtime), "%s", fn->spec.runtime);
		snprintf(f->state, sizeof(f->state), "%s", fn->deploying ? "deploying" : states[fn->state]);
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
		f->lukewarm_us = percentile(fn->luke_us, fn->luke_n, ARRAY_SIZE(fn->luke_us), 50);
		f->memory_bytes = fn->spec.memory_bytes;
		f->timeout_ms = fn->spec.timeout_ms;
		snprintf(f->error, sizeof(f->error), "%s", fn->error);
	}
	struct cit_body ok = { .aux = i };
	if (cit_proto_send_data(c->fd, CIT_MSG_OK, id, &ok, info, i * sizeof(*info)) < 0)
		cit_mlog(m, "warn", "reply_dropped", "request=list");
	free(info);
}

void cit_fn_remove(struct monitor *m, struct client *c, uint64_t id, const char *name)
{
	struct function *fn = cit_fn_find(m, name);
	if (!fn)
		return cit_reply_error(m, c, id, -ENOENT, "no function named '%s'", name);
	if (fn->deploying)
		return cit_reply_error(m, c, id, -EBUSY, "%s is being deployed; remove it once that is done", name);
	char dir[4200];
	fn_path(m, name, "", NULL, dir, sizeof(dir));
	remove_dir(dir);
	fn_free(m, fn);
	cit_mlog(m, "info", "removed", "function=%s", name);
	struct cit_body ok = { 0 };
	cit_proto_send(c->fd, CIT_MSG_OK, id, &ok, sizeof(ok), NULL, 0, NULL, 0);
}

void cit_fn_logs(struct monitor *m, struct client *c, uint64_t id, const char *name)
{
	struct function *fn = cit_fn_find(m, name);
	if (!fn)
		return cit_reply_error(m, c, id, -ENOENT, "no function named '%s'", name);
	size_t cap = 2 * CIT_LOG_MAX + 2, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return cit_reply_error(m, c, id, -ENOMEM, "out of memory");
	static const char *const files[] = { "log.1", "log" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char path[4200];
		fn_path(m, name, "", files[i], path, sizeof(path));
		ssize_t n = cit_read_file(path, buf + len, cap - len);
		if (n > 0)
			len += (size_t)n;
	}
	struct cit_body ok = { 0 };
	if (cit_proto_send_data(c->fd, CIT_MSG_OK, id, &ok, buf, len) < 0)
		cit_mlog(m, "warn", "reply_dropped", "request=logs");
	free(buf);
}

/* Templates that took too long to load fail (their deployer hears why). */
void cit_fn_check_loads(struct monitor *m, uint64_t now)
{
	for (struct function *fn = m->functions; fn; fn = fn->next)
		if (fn->state == F_STARTING && fn->z && fn->z->ready && fn->load_deadline_ns && now > fn->load_deadline_ns) {
			char why[96];
			snprintf(why, sizeof(why), "its template did not load within %llu ms",
				 (unsigned long long)((fn->load_deadline_ns - fn->load_ns) / 1000000));
			cit_fn_failed(m, fn, why);
		}
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
		free(fn);
	}
	if (m->spare)
		zygote_release(m, m->spare);
	cit_fn_tick(m);
}
