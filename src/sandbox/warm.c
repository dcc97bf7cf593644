#include "sandbox/warm.h"

#include <dirent.h>
#include <linux/magic.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "sandbox/context.h"
#include "sandbox/launch.h"
#include "sandbox/mount.h"
#include "sandbox/mountdeps.h"
#include "sandbox/sandbox.h"
#include "sandbox/sync.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#define KEEPER_MAX 16        /* sandboxes a keeper tracks: parked plus running */

/* Where a pool's text turns from the configuration to the context it was made in. */
#define CONTEXT_MARK "citadel-context 1\n"

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* The executable's part of a pool's name: a keeper runs the code of the binary that
 * started it, so a rebuilt or upgraded citadel must not be handed its sandboxes. */
static void exe_prefix(char *out, size_t cap)
{
	struct stat exe = { 0 };
	stat("/proc/self/exe", &exe);
	snprintf(out, cap, "%llx-%llx-%llx-", (unsigned long long)exe.st_dev, (unsigned long long)exe.st_ino,
		 (unsigned long long)exe.st_mtime);
}

/* A pool's directory: per executable and text (configuration and context). The
 * hash only names the directory; a claim compares the text itself. */
static void pool_dir(const char *text, size_t len, char *out, size_t cap)
{
	uint64_t h = fnv(0xcbf29ce484222325ULL, text, len);
	char exe[96];
	exe_prefix(exe, sizeof(exe));
	snprintf(out, cap, CIT_WARM_DIR "/%s%016llx", exe, (unsigned long long)h);
}

/* The part of a pool's text after the configuration: the context of this process,
 * which a sandbox inherits from its maker (context.h). Returns its length, or a negative
 * errno when it cannot be written down (then no sandbox of a pool may serve: the run
 * makes its own). */
static int context_text(char *out, size_t cap, struct cit_error *err)
{
	size_t n = strlen(CONTEXT_MARK);
	if (cap <= n)
		return -E2BIG;
	memcpy(out, CONTEXT_MARK, n + 1);
	int c = cit_context_write(out + n, cap - n, err);
	return c < 0 ? c : (int)n + c;
}

/* A run with a terminal starts cold: its init opens a pty of the sandbox's own during
 * setup. */
bool cit_warm_pool_for(const struct cit_sandbox_config *cfg, struct cit_warm_pool *pool)
{
	const char *env = getenv("CITADEL_WARM");
	if ((env && !strcmp(env, "0")) || geteuid() != 0 || cit_sandbox_wants_terminal(cfg))
		return false;
	int n = cit_sandbox_config_write(cfg, pool->config, sizeof(pool->config));
	if (n < 0)
		return false;
	pool->cfg_len = (size_t)n;
	struct cit_error err = { 0 };
	int m = context_text(pool->config + n, sizeof(pool->config) - (size_t)n, &err);
	if (m < 0)
		return false;
	pool->len = (size_t)n + (size_t)m;
	pool_dir(pool->config, pool->len, pool->dir, sizeof(pool->dir));
	return true;
}

/* ---- a run's side ------------------------------------------------------------------ */

static int send_request(int conn, const struct cit_sandbox_config *cfg, char *const argv[], const int stdio[3],
			struct cit_error *err)
{
	_cleanup_free_ struct cit_sync_req *req = malloc(sizeof(*req));
	if (!req)
		return cit_error_set(err, -ENOMEM, "warm request");
	/* Only the header is set: zeroing all of data would touch 128 KiB for every run. */
	req->version = CIT_SYNC_VERSION;
	req->type = CIT_SYNC_REQUEST;
	req->len = 0;
	size_t room = sizeof(req->data);
	const char *cwd[] = { cfg->cwd, NULL };
	const char *const *lists[] = { cwd, (const char *const *)argv, cfg->env };
	uint32_t counts[3] = { 0 };
	for (size_t l = 0; l < 3; l++) {
		for (const char *const *p = lists[l]; *p; p++, counts[l]++) {
			size_t len = strlen(*p) + 1;
			if (len > room - req->len || counts[l] >= CIT_REQ_MAX_STRINGS)
				return cit_error_set(err, -E2BIG, "command line too long for a warm sandbox");
			memcpy(req->data + req->len, *p, len);
			req->len += (uint32_t)len;
		}
	}
	req->argc = counts[1];
	req->envc = counts[2];
	int rc = cit_send_fds(conn, req, offsetof(struct cit_sync_req, data) + req->len, stdio, 3);
	if (rc < 0)
		return cit_error_set(err, rc, "sending the request to a warm sandbox");
	return 0;
}

/* The parent of the process behind pidfd (pid): PIDFD_GET_INFO (Linux 6.13), else
 * /proc/PID/stat, which is that process's only while it lives. 0 when unknown. */
static pid_t parent_of(int pidfd, pid_t pid)
{
	struct {
		uint64_t mask, cgroupid;
		uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
		int32_t exit_code;
		uint32_t spare[2];
	} info = { .mask = 1 /* PIDFD_INFO_PID */ };
	if (ioctl(pidfd, _IOWR(0xFF, 11, info), &info) == 0) /* PIDFD_GET_INFO */
		return (pid_t)info.ppid;
	char path[64], stat[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	const char *p = cit_read_file(path, stat, sizeof(stat)) > 0 ? strrchr(stat, ')') : NULL;
	int ppid = 0;
	struct pollfd alive = { .fd = pidfd, .events = POLLIN };
	if (!p || sscanf(p, ") %*c %d", &ppid) != 1 || poll(&alive, 1, 0) != 0)
		return 0; /* gone: the stat read may have been another process's */
	return (pid_t)ppid;
}

/* Whether the mount table is as it was when the claimed sandbox (its init: pidfd, pid)
 * was made, and this run is in no landlock domain. Its keeper opened /proc/self/mountinfo
 * (its fd number is mounts) before making it and made sure nothing changed until the
 * sandbox was ready: the kernel marks that file POLLPRI at any mount, umount, move or
 * change of mount flags in the namespace since, which is ours (the namespace is part of
 * the pool's text). The file is fetched with pidfd_getfd, which landlock refuses to a
 * process in a domain the keeper is not in, and a keeper is in none
 * (cit_context_keeper_ok at its start). Costs about 8 system calls, where reading
 * the mount table costs tens of microseconds per run. */
static bool mounts_as_made(int pidfd, pid_t pid, int mounts)
{
	pid_t keeper = parent_of(pidfd, pid);
	_cleanup_close_ int kfd = keeper > 1 ? (int)syscall(SYS_pidfd_open, keeper, 0) : -1;
	/* Still the parent after the open: a keeper that died would have lost its children
	 * before its pid could be anyone else's. */
	if (kfd < 0 || parent_of(pidfd, pid) != keeper)
		return false;
	/* A keeper's only files on procfs that outlive a call are mount tables. */
	_cleanup_close_ int fd = (int)syscall(SYS_pidfd_getfd, kfd, mounts, 0);
	struct statfs fs;
	if (fd < 0 || fstatfs(fd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC)
		return false;
	struct pollfd p = { .fd = fd, .events = POLLPRI };
	return poll(&p, 1, 0) == 0;
}

/* Whether the files the sandbox's view holds copies of (files mounted on their own:
 * mount.c) are still what they were copied from. Its keeper wrote them down in
 * <pid>.copies before it published the sandbox; no such file, no copies. */
static bool copies_as_made(const char *dir, pid_t pid)
{
	char path[PATH_MAX], text[CIT_FS_COPIED_MAX];
	snprintf(path, sizeof(path), "%s/%d.copies", dir, (int)pid);
	ssize_t n = cit_read_file(path, text, sizeof(text));
	if (n == -ENOENT)
		return true;
	return n > 0 && (size_t)n < sizeof(text) && cit_fs_copies_current(text);
}

/* Claims one entry, <pid>.<fd>.sock: rename (one winner), connect, take the peer's pidfd,
 * and check that the mounts, and the files it copied, are still those it was made with. */
static int claim_one(const char *dir, const char *entry, pid_t pid, int mounts, struct cit_supervisor *sv)
{
	char from[PATH_MAX], to[PATH_MAX];
	snprintf(from, sizeof(from), "%s/%s", dir, entry);
	snprintf(to, sizeof(to), "%s/%d.claimed", dir, pid);
	if (rename(from, to) < 0)
		return -errno; /* another run was faster */
	_cleanup_close_ int conn = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (conn < 0 || strlen(to) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, to);
	int pidfd = -1;
	socklen_t len = sizeof(pidfd);
	if (connect(conn, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		return -ECONNREFUSED; /* its keeper is gone; the entry is left for the next keeper */
	/* Connected: the keeper must not take this claim for one whose run died before it. */
	char running[PATH_MAX];
	snprintf(running, sizeof(running), "%s/%d.running", dir, pid);
	rename(to, running);
	if (!mounts_as_made(pidfd, pid, mounts) || !copies_as_made(dir, pid)) {
		/* Its view may be stale (or we cannot tell): it ends unused, and its keeper
		 * makes another. */
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		close(pidfd);
		return -ESTALE;
	}
	sv->pidfd = pidfd;
	sv->sync = steal_fd(&conn);
	sv->pid = pid;
	sv->child = false;
	sv->cg_owned = false;
	return 0;
}

/* A published sandbox's name, <pid>.<fd>.sock: its init's pid and the keeper's fd of
 * the mount table it was made with. Returns false for any other name. */
static bool parse_parked(const char *name, pid_t *pid, int *mounts)
{
	char *end;
	long p = strtol(name, &end, 10);
	if (p <= 0 || p > INT_MAX || *end != '.')
		return false;
	long f = strtol(end + 1, &end, 10);
	if (f < 0 || f > INT_MAX || strcmp(end, ".sock"))
		return false;
	*pid = (pid_t)p;
	*mounts = (int)f;
	return true;
}

/* Whether the pool's sandboxes are made of exactly this configuration: its keeper
 * makes them from the text in its directory. */
static bool same_config(const struct cit_warm_pool *pool)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/config", pool->dir);
	_cleanup_free_ char *text = malloc(CIT_WARM_CONFIG_MAX + 1);
	ssize_t n = text ? cit_read_file(path, text, CIT_WARM_CONFIG_MAX + 1) : -1;
	return n == (ssize_t)pool->len && !memcmp(text, pool->config, pool->len);
}

int cit_warm_claim(const struct cit_warm_pool *pool, const struct cit_sandbox_config *cfg, char *const argv[],
		   const int stdio[3], struct cit_supervisor *sv, struct cit_error *err)
{
	const char *dir = pool->dir;
	DIR *d = opendir(dir);
	if (!d)
		return -ENOENT;
	if (!same_config(pool)) {
		closedir(d);
		return -ENOENT;
	}
	int rc = -ENOENT;
	for (struct dirent *e; rc == -ENOENT && (e = readdir(d));) {
		pid_t pid;
		int mounts;
		if (!parse_parked(e->d_name, &pid, &mounts))
			continue;
		int claimed = claim_one(dir, e->d_name, pid, mounts, sv);
		if (claimed == -ESTALE) {
			rc = -EAGAIN; /* the mount table changed: the others were made before too */
			break;
		}
		if (claimed < 0)
			continue;
		rc = send_request(sv->sync, cfg, argv, stdio, err);
		if (rc < 0) {
			/* Nothing ran: end it (its keeper tidies up); the caller starts cold. */
			syscall(SYS_pidfd_send_signal, sv->pidfd, SIGKILL, NULL, 0);
			close(steal_fd(&sv->pidfd));
			close(steal_fd(&sv->sync));
			sv->child = sv->cg_owned = true;
			rc = -EAGAIN;
		}
	}
	closedir(d);
	return rc;
}

/* ---- the keeper --------------------------------------------------------------------- */

struct parked {
	pid_t pid;        /* 0: free slot */
	int pidfd;
	int mntns, netns; /* held so that their teardown happens here, after the run */
	int mounts;       /* /proc/self/mountinfo, opened before the sandbox was made: a run's
			   * claim checks it for changes since (mounts_as_made) */
	bool claimed;
};

struct keeper {
	const struct cit_sandbox_config *cfg;
	const char *context;   /* borrowed: the pool's text after its configuration, which its
				* sandboxes are made in (context_text) */
	size_t context_len;
	char *mounts;          /* owned: the mounts every published sandbox was made with
				* (mountdeps.h); NULL before the first */
	bool unique;           /* its mount ids are never reused, so equal texts mean the same
				* mounts (else any change of the table ends the sandboxes) */
	char dir[PATH_MAX];
	struct parked p[KEEPER_MAX];
};

static int count(const struct keeper *k, bool claimed)
{
	int n = 0;
	for (size_t i = 0; i < KEEPER_MAX; i++)
		n += k->p[i].pid && k->p[i].claimed == claimed;
	return n;
}

static int open_ns(pid_t pid, const char *ns)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static void parked_name(const struct keeper *k, const struct parked *p, const char *suffix, char *out, size_t cap)
{
	if (!strcmp(suffix, "sock"))
		snprintf(out, cap, "%s/%d.%d.sock", k->dir, p->pid, p->mounts);
	else
		snprintf(out, cap, "%s/%d.%s", k->dir, p->pid, suffix);
}

/* Takes a parked sandbox off the pool: its socket renamed to <pid>.<suffix>, atomically,
 * so that no run can claim it any more. False when there is none in slot p, or a run
 * claimed it first. */
static bool withdraw(const struct keeper *k, const struct parked *p, const char *suffix)
{
	char from[PATH_MAX], to[PATH_MAX];
	parked_name(k, p, "sock", from, sizeof(from));
	parked_name(k, p, suffix, to, sizeof(to));
	return p->pid && !p->claimed && rename(from, to) == 0;
}

/* Whether the keeper's context is still the pool's: a sandbox made now is then what a
 * run of the pool's text would make itself. */
static bool context_holds(const struct keeper *k)
{
	_cleanup_free_ char *now = malloc(CIT_WARM_CONFIG_MAX);
	struct cit_error err = { 0 };
	int n = now ? context_text(now, CIT_WARM_CONFIG_MAX, &err) : -ENOMEM;
	return n >= 0 && (size_t)n == k->context_len && !memcmp(now, k->context, k->context_len);
}

/* The mounts the view rests on now (a new string), or NULL when they cannot be read. */
static char *mounts_now(const struct keeper *k)
{
	char *text = malloc(CIT_WARM_CONFIG_MAX);
	if (text && cit_fs_mounts_write(k->cfg, text, CIT_WARM_CONFIG_MAX) < 0) {
		free(text);
		text = NULL;
	}
	return text;
}

/* Whether the mount table changed since fd (/proc/self/mountinfo) was opened or last
 * polled (the kernel marks it POLLPRI); polling consumes the mark. */
static bool mounts_changed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLPRI };
	return fd < 0 || (poll(&p, 1, 0) > 0 && (p.revents & (POLLPRI | POLLERR)));
}

/* The mount table changed (or is about to be made the pool's anew). Each parked sandbox
 * is taken off the pool (renamed: a run that claimed it first keeps it, and its claim
 * sees the change itself), its mark of the change consumed, and only then the mounts are
 * read: if they are those it was made with (by unique ids: the very same mounts), it
 * goes back, else it ends and a new one is made. A change after the read marks it again. */
static void recheck(struct keeper *k)
{
	struct parked *taken[KEEPER_MAX];
	size_t n = 0;
	for (size_t i = 0; i < KEEPER_MAX; i++)
		if (withdraw(k, &k->p[i], "checking"))
			taken[n++] = &k->p[i];
	for (size_t i = 0; i < n; i++)
		mounts_changed(taken[i]->mounts);
	char *now = mounts_now(k);
	bool same = now && k->mounts && k->unique && !strcmp(now, k->mounts);
	for (size_t i = 0; i < n; i++) {
		char from[PATH_MAX], to[PATH_MAX];
		parked_name(k, taken[i], "checking", from, sizeof(from));
		parked_name(k, taken[i], "sock", to, sizeof(to));
		if (!same || rename(from, to) < 0)
			syscall(SYS_pidfd_send_signal, taken[i]->pidfd, SIGKILL, NULL, 0);
	}
	if (now && !same) {
		free(k->mounts);
		k->mounts = now;
		/* Ids of an older kernel ("l", 32 bits) or none ("e") may come back. */
		k->unique = !strstr(now, "\tl") && !strstr(now, "\te");
	} else {
		free(now);
	}
}

/* Waits for the warm init's READY. Its account of a step that failed, or the news of its
 * death, becomes err's message. */
static int await_ready(struct cit_supervisor *sv, struct cit_error *err)
{
	struct cit_sync_msg m;
	ssize_t n;
	do
		n = recv(sv->sync, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	bool whole = n == (ssize_t)sizeof(m) && m.version == CIT_SYNC_VERSION;
	if (whole && m.type == CIT_SYNC_READY)
		return 0;
	if (whole && m.type == CIT_SYNC_SETUP_ERROR) {
		m.text[sizeof(m.text) - 1] = '\0';
		snprintf(err->msg, sizeof(err->msg), "%s", m.text);
		err->code = m.code < 0 && m.code > -4096 ? m.code : -EPROTO;
		return err->code;
	}
	if (n <= 0)
		return cit_error_set(err, -EPIPE, "the warm sandbox's first process died during setup");
	return cit_error_set(err, -EPROTO, "the warm sandbox's first process sent a message of type %u, not READY",
			     whole ? m.type : 0);
}

/* Writes text to a new file at path (replacing a leftover of a pid used before). */
static int write_new(const char *path, const char *text)
{
	unlink(path);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : cit_write_all(fd, text, strlen(text));
}

/* Makes one warm sandbox: a socket bound under a temporary name, a sandbox started in
 * warm mode on it, and once init reports READY, the socket renamed to <pid>.<fd>.sock.
 * Returns 0; -ESTALE when the pool is obsolete (the keeper's context is no longer the
 * pool's, or a bind source is gone or another object now); -EAGAIN when the mount table changed
 * while the sandbox was made (it may show the mounts of before or after: it is ended
 * unpublished); or another negative errno. err says why. */
static int park_one(struct keeper *k, struct parked *slot, struct cit_error *err)
{
	/* Opened before the mounts are read: any change from here on marks it. */
	_cleanup_close_ int mounts = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (mounts < 0)
		return cit_error_set(err, -errno, "/proc/self/mountinfo");
	if (!context_holds(k))
		return cit_error_set(err, -ESTALE, "the keeper's context is no longer the pool's");
	char *now = mounts_now(k);
	if (!now) /* a tree of the view is gone (a bind source removed): obsolete too */
		return cit_error_set(err, -ESTALE, "the mounts of the view cannot be read");
	bool moved = !k->mounts || strcmp(now, k->mounts);
	free(now);
	if (moved)
		recheck(k); /* the published ones were made with other mounts */
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/filling-%d", k->dir, getpid());
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (s < 0 || strlen(tmp) >= sizeof(sa.sun_path))
		return cit_error_set(err, -ENAMETOOLONG, "the warm sandbox's socket %s", tmp);
	strcpy(sa.sun_path, tmp);
	unlink(tmp);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return cit_error_set(err, -errno, "binding %s", tmp);
	struct cit_supervisor sv;
	cit_supervisor_init(&sv, k->cfg);
	static char copied[CIT_FS_COPIED_MAX];
	struct cit_start st = { .listen_fd = s, .stdio = { -1, -1, -1 }, .copied = copied };
	int rc = cit_sandbox_start(k->cfg, &st, &sv, err);
	if (rc == 0)
		rc = await_ready(&sv, err);
	if (rc == 0 && mounts_changed(mounts))
		rc = cit_error_set(err, -EAGAIN, "the mount table changed while a warm sandbox was made");
	if (rc == 0) {
		*slot = (struct parked){ .pid = sv.pid, .pidfd = steal_fd(&sv.pidfd), .mntns = open_ns(sv.pid, "mnt"),
					 .netns = k->cfg->net_host ? -1 : open_ns(sv.pid, "net"),
					 .mounts = steal_fd(&mounts) };
		sv.cg_owned = false; /* the sandbox keeps its cgroups until reaped */
		char final[PATH_MAX], copies[PATH_MAX];
		parked_name(k, slot, "sock", final, sizeof(final));
		parked_name(k, slot, "copies", copies, sizeof(copies));
		if (copied[0] && (rc = write_new(copies, copied)) < 0)
			cit_error_set(err, rc, "writing %s", copies);
		if (rc == 0 && rename(tmp, final) < 0)
			rc = cit_error_set(err, -errno, "publishing %s", final);
		if (rc < 0) {
			syscall(SYS_pidfd_send_signal, slot->pidfd, SIGKILL, NULL, 0); /* reaped as any */
		}
	} else if (sv.pid > 0) {
		syscall(SYS_pidfd_send_signal, sv.pidfd, SIGKILL, NULL, 0);
		waitpid(sv.pid, NULL, 0);
	}
	if (rc < 0)
		unlink(tmp);
	if (rc < 0 && !err->msg[0])
		cit_error_set(err, rc, "making a warm sandbox");
	cit_supervisor_close(&sv);
	return rc;
}

/* After a sandbox's init is gone: its namespaces, its mount table's fd and its socket.
 * Its cgroups go with the sweep that follows every reap (cit_cgroup_sweep: the pid is
 * gone now). */
static void forget(struct keeper *k, struct parked *p)
{
	char path[PATH_MAX];
	static const char *const suffixes[] = { "sock", "claimed", "running", "retired", "checking", "copies" };
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		parked_name(k, p, suffixes[i], path, sizeof(path));
		unlink(path);
	}
	int *fds[] = { &p->pidfd, &p->mntns, &p->netns, &p->mounts };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (*fds[i] >= 0)
			close(steal_fd(fds[i]));
	p->pid = 0;
}

static void reap(struct keeper *k, int flags)
{
	pid_t pid;
	while ((pid = waitpid(-1, NULL, flags)) > 0)
		for (size_t i = 0; i < KEEPER_MAX; i++)
			if (k->p[i].pid == pid)
				forget(k, &k->p[i]);
	cit_cgroup_sweep();
}

/* Notes what happened in the pool directory: claims (a socket renamed away by a run; the
 * keeper's own renames put it back before this is read), and a run's request that the
 * pool retire (a "retire" file: the pools are full and this one was the least recently
 * used). Returns true on the latter. */
static bool note_events(struct keeper *k, int ifd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	bool retire_asked = false;
	while ((n = read(ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			pid_t pid;
			int mounts;
			if (ev->len && (ev->mask & IN_MOVED_FROM) && parse_parked(ev->name, &pid, &mounts)) {
				for (size_t i = 0; i < KEEPER_MAX; i++) {
					char path[PATH_MAX];
					parked_name(k, &k->p[i], "sock", path, sizeof(path));
					if (k->p[i].pid == pid && access(path, F_OK) < 0)
						k->p[i].claimed = true;
				}
			}
			retire_asked |= ev->len && !strcmp(ev->name, "retire");
			p += sizeof(*ev) + ev->len;
		}
	}
	return retire_asked;
}

/* A claim whose run never connected (it died between rename and connect) would hold
 * its sandbox, and the pool, forever: after STALE_CLAIM_S it is ended. */
#define STALE_CLAIM_S 10

static void expire_claims(struct keeper *k)
{
	for (size_t i = 0; i < KEEPER_MAX; i++) {
		struct parked *p = &k->p[i];
		char path[PATH_MAX];
		struct stat st;
		parked_name(k, p, "claimed", path, sizeof(path));
		if (p->pid && p->claimed && stat(path, &st) == 0 && time(NULL) - st.st_ctime > STALE_CLAIM_S)
			syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
	}
}

/* Ends the unclaimed sandboxes (a run that claims one at the same moment wins the rename
 * and keeps it), waits for every run in progress, and returns. */
static void retire(struct keeper *k)
{
	for (size_t i = 0; i < KEEPER_MAX; i++)
		if (withdraw(k, &k->p[i], "retired"))
			syscall(SYS_pidfd_send_signal, k->p[i].pidfd, SIGKILL, NULL, 0);
	reap(k, 0);
}

/* A keeper that died took its sandboxes with it (their PR_SET_PDEATHSIG); what they left
 * in the directory is removed before anything new is made (their cgroups by
 * cit_cgroup_sweep). */
static void sweep(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		char *end, path[PATH_MAX];
		long pid = strtol(e->d_name, &end, 10);
		if ((pid <= 0 || *end != '.') && strncmp(e->d_name, "filling-", 8))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Removes a pool's directory and everything in it (dir_fd: where name is). */
static void remove_pool(int dir_fd, const char *name)
{
	_cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (d)
		fd = -1;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	unlinkat(dir_fd, name, AT_REMOVEDIR);
}

/* A mount table that keeps changing while sandboxes are made makes a keeper try again,
 * at most this many times in a row before it counts as one failure. */
#define KEEPER_MAX_RACES 8

/* Makes sandboxes until CIT_WARM_TARGET are parked (only one while a run is going, so
 * that the work does not compete with it). Returns false when the pool must retire:
 * obsolete (*obsolete set) or unable to make one CIT_WARM_MAX_FAILS times in a row. */
static bool fill(struct keeper *k, int *fails, bool *obsolete)
{
	int races = 0;
	while (count(k, false) < CIT_WARM_TARGET && *fails < CIT_WARM_MAX_FAILS &&
	       (count(k, false) == 0 || count(k, true) == 0)) {
		struct parked *slot = NULL;
		for (size_t i = 0; i < KEEPER_MAX && !slot; i++)
			slot = k->p[i].pid ? NULL : &k->p[i];
		if (!slot)
			break;
		struct cit_error err = { 0 };
		int rc = park_one(k, slot, &err);
		if (rc == -ESTALE) {
			*obsolete = true;
			return false;
		}
		if (rc == -EAGAIN && ++races < KEEPER_MAX_RACES)
			continue;
		if (rc < 0) {
			/* A keeper has no terminal: syslog is where a daemon's trouble is looked for. */
			syslog(LOG_WARNING, "pool %s: %s", k->dir, err.msg);
			(*fails)++;
		} else {
			*fails = 0;
		}
		races = 0;
	}
	return *fails < CIT_WARM_MAX_FAILS || count(k, true) > 0;
}

static _Noreturn void keeper_main(struct keeper *k)
{
	prctl(PR_SET_NAME, "citadel-keeper", 0, 0, 0);
	openlog("citadel-keeper", LOG_PID, LOG_DAEMON);
	sweep(k->dir);
	cit_cgroup_sweep();
	/* SIGCHLD: a sandbox ended. SIGTERM, SIGINT: retire now (as after the idle time). */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	/* Any change of the mount table wakes us, to recheck the parked sandboxes. */
	int mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (sfd < 0 || ifd < 0 || mfd < 0 || inotify_add_watch(ifd, k->dir, IN_MOVED_FROM | IN_CREATE) < 0)
		_exit(1);
	/* The run that started us wrote the pool's text in its own context: ours must be the
	 * same, or none of our sandboxes could serve it. A claim proves that its run is in no
	 * landlock domain by reaching into us, which proves nothing unless we are in none. */
	bool obsolete = !context_holds(k) || !cit_context_keeper_ok();
	time_t last = time(NULL);
	int fails = 0;
	while (!obsolete && fill(k, &fails, &obsolete)) {
		time_t idle = time(NULL) - last;
		struct pollfd pf[3] = { { .fd = ifd, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
					{ .fd = mfd, .events = POLLPRI } };
		int wait_ms = idle >= CIT_WARM_IDLE_S ? 1000 : (int)(CIT_WARM_IDLE_S - idle) * 1000;
		if (count(k, true) > 0 && wait_ms > STALE_CLAIM_S * 1000)
			wait_ms = STALE_CLAIM_S * 1000;
		int n = poll(pf, 3, wait_ms);
		bool stop = false;
		if (n > 0 && pf[0].revents) {
			stop = note_events(k, ifd);
			last = time(NULL);
		}
		if (n > 0 && pf[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				stop |= si.ssi_signo != SIGCHLD;
			reap(k, WNOHANG);
		}
		if (n > 0 && pf[2].revents) {
			mounts_changed(mfd);
			recheck(k);
		}
		if (stop)
			break;
		expire_claims(k);
		if (time(NULL) - last >= CIT_WARM_IDLE_S && count(k, true) == 0)
			break;
	}
	if (fails >= CIT_WARM_MAX_FAILS)
		syslog(LOG_WARNING, "pool %s: no warm sandbox could be made %d times in a row: the pool is removed, "
				    "and runs of its configuration start cold until one starts a new keeper",
		       k->dir, fails);
	retire(k);
	/* Nothing is left behind: the sandboxes' sockets, the configuration, the lock (a run
	 * that starts a new keeper now writes a new configuration and makes a new lock). */
	remove_pool(AT_FDCWD, k->dir);
	_exit(0);
}

/* A pool whose keeper is gone (it retired, gave up or was killed) is removed by the next
 * run of its executable that starts a keeper, once it has been left alone this long. */
#define DEAD_POOL_S 600

/* Whether a keeper holds the pool at dir (its lock). */
static bool kept(int dirfd_, const char *name)
{
	char lock[NAME_MAX + 16];
	snprintf(lock, sizeof(lock), "%s/keeper.lock", name);
	_cleanup_close_ int fd = openat(dirfd_, lock, O_RDWR | O_CLOEXEC);
	return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

/* Makes room for one more pool of this executable: when CIT_WARM_POOLS are kept, the
 * least recently used one (its directory changes with every park and claim) is asked to
 * retire. Dead pools left alone for DEAD_POOL_S are removed on the way. */
static void make_room(void)
{
	char exe[96], oldest[NAME_MAX + 1] = "";
	exe_prefix(exe, sizeof(exe));
	DIR *d = opendir(CIT_WARM_DIR);
	int live = 0;
	struct timespec oldest_t = { 0 };
	for (struct dirent *e; d && (e = readdir(d));) {
		struct stat st;
		if (strncmp(e->d_name, exe, strlen(exe)) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!kept(dirfd(d), e->d_name)) {
			if (time(NULL) - st.st_mtime > DEAD_POOL_S)
				remove_pool(dirfd(d), e->d_name);
			continue;
		}
		live++;
		if (!oldest[0] || st.st_mtim.tv_sec < oldest_t.tv_sec ||
		    (st.st_mtim.tv_sec == oldest_t.tv_sec && st.st_mtim.tv_nsec < oldest_t.tv_nsec)) {
			oldest_t = st.st_mtim;
			snprintf(oldest, sizeof(oldest), "%s", e->d_name);
		}
	}
	if (live >= CIT_WARM_POOLS && oldest[0]) {
		char retire[NAME_MAX + 16];
		snprintf(retire, sizeof(retire), "%s/retire", oldest);
		int fd = openat(dirfd(d), retire, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
}

/* Writes the pool's configuration into its directory (made here when missing), for the
 * keeper to make its sandboxes from: atomically, as another run may do the same. */
static int write_config(const struct cit_warm_pool *pool)
{
	if ((mkdir("/run/citadel", 0700) < 0 && errno != EEXIST) || (mkdir(CIT_WARM_DIR, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(pool->dir, 0700) < 0 && errno != EEXIST))
		return -errno;
	char tmp[PATH_MAX + 32], path[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s/config.%d", pool->dir, getpid());
	snprintf(path, sizeof(path), "%s/config", pool->dir);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = fd < 0 ? -errno : cit_write_all(fd, pool->config, pool->len);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

void cit_warm_keep(const struct cit_warm_pool *pool)
{
	char lock[PATH_MAX + 16];
	snprintf(lock, sizeof(lock), "%s/keeper.lock", pool->dir);
	int fd = open(lock, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		bool running = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		close(fd);
		if (running)
			return;
	}
	/* A keeper that could not serve (in a landlock domain, or in other pid or time
	 * namespaces than its runs': see keeper_main) is not started. */
	if (!cit_context_keeper_ok())
		return;
	make_room();
	if (write_config(pool) < 0)
		return;
	/* Double fork: the keeper is nobody's child to wait for, in its own session. It then
	 * execs itself afresh: a fixed argv, no environment, none of this run's fds, its pool
	 * directory as its working directory (the one thing it learns from the run), so that
	 * no sandbox it makes carries anything of the run that started it (a fork would show
	 * this run's command line in every warm sandbox's /proc/1/cmdline). */
	pid_t mid = fork();
	if (mid < 0)
		return;
	if (mid > 0) {
		waitpid(mid, NULL, 0);
		return;
	}
	setsid();
	if (fork() != 0)
		_exit(0);
	int devnull = open("/dev/null", O_RDWR);
	for (int i = 0; i < 3 && devnull >= 0; i++)
		dup2(devnull, i);
	syscall(SYS_close_range, 3, ~0U, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (chdir(pool->dir) < 0)
		_exit(1);
	char *const argv[] = { "citadel", CIT_WARM_KEEPER_CMD, NULL };
	char *const envp[] = { NULL };
	execve("/proc/self/exe", argv, envp);
	_exit(1);
}

int cit_warm_keeper_main(void)
{
	/* The pool is the working directory the run left; its text must be the one the
	 * directory's name says. */
	static char dir[PATH_MAX], text[CIT_WARM_CONFIG_MAX];
	static struct cit_warm_pool pool;
	static struct cit_sandbox_config cfg;
	static struct keeper k;
	struct cit_error err = { 0 };
	char lock[PATH_MAX + 16], config[PATH_MAX + 16];
	if (!getcwd(dir, sizeof(dir)) || strncmp(dir, CIT_WARM_DIR "/", strlen(CIT_WARM_DIR) + 1) || chdir("/") < 0)
		return 1;
	snprintf(config, sizeof(config), "%s/config", dir);
	ssize_t n = cit_read_file(config, pool.config, sizeof(pool.config));
	if (n <= 0)
		return 1;
	pool.len = (size_t)n;
	pool_dir(pool.config, pool.len, pool.dir, sizeof(pool.dir));
	const char *mark = strstr(pool.config, "\n" CONTEXT_MARK);
	if (strcmp(pool.dir, dir) || !mark)
		return 1;
	pool.cfg_len = (size_t)(mark + 1 - pool.config);
	memcpy(text, pool.config, pool.cfg_len);
	text[pool.cfg_len] = '\0';
	if (cit_sandbox_config_read(text, &cfg, &err) < 0)
		return 1;
	snprintf(lock, sizeof(lock), "%s/keeper.lock", dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
		return 0; /* another keeper won */
	/* A retiring keeper removes its lock: ours must still be the one at that path, or a
	 * newer keeper holds another and both would sweep each other's sandboxes. */
	struct stat held, now;
	if (fstat(fd, &held) < 0 || stat(lock, &now) < 0 || held.st_ino != now.st_ino)
		return 0;
	k.cfg = &cfg;
	k.context = pool.config + pool.cfg_len;
	k.context_len = pool.len - pool.cfg_len;
	snprintf(k.dir, sizeof(k.dir), "%s", dir);
	keeper_main(&k);
}
