#include "sandbox/warm.h"

#include <dirent.h>
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "sandbox/launch.h"
#include "sandbox/sync.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#define KEEPER_MAX 16        /* sandboxes a keeper tracks: parked plus running */
#define KEEPER_MAX_FAILS 3   /* consecutive failed makes before a keeper gives up */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* One pool per executable and per caller context. A keeper runs the code of the binary
 * that started it, so a rebuilt or upgraded citadel must not be handed its sandboxes; and
 * a warm sandbox inherits the keeper's context (mount namespace, cgroup, rlimits, umask,
 * priority), which is the context of the run that started the keeper, so only runs from
 * the same context may use it: then a warm run is what a cold run would have been. */
void cit_warm_pool_dir(char *out, size_t cap)
{
	struct stat exe = { 0 }, mnt = { 0 };
	stat("/proc/self/exe", &exe);
	stat("/proc/self/ns/mnt", &mnt);
	uint64_t h = fnv(0xcbf29ce484222325ULL, &mnt.st_ino, sizeof(mnt.st_ino));
	char cg[4096];
	ssize_t n = cit_read_file("/proc/self/cgroup", cg, sizeof(cg));
	h = fnv(h, cg, n > 0 ? (size_t)n : 0);
	static const int res[] = { RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CPU, RLIMIT_CORE, RLIMIT_MEMLOCK,
				   RLIMIT_MSGQUEUE, RLIMIT_RTPRIO, RLIMIT_RTTIME, RLIMIT_NICE, RLIMIT_AS,
				   RLIMIT_FSIZE, RLIMIT_STACK, RLIMIT_DATA, RLIMIT_SIGPENDING };
	for (size_t i = 0; i < ARRAY_SIZE(res); i++) {
		struct rlimit rl = { 0 };
		getrlimit(res[i], &rl);
		h = fnv(h, &rl, sizeof(rl));
	}
	mode_t mask = umask(022);
	umask(mask);
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, 0);
	h = fnv(h, &mask, sizeof(mask));
	h = fnv(h, &prio, sizeof(prio));
	snprintf(out, cap, CIT_WARM_DIR "/%llx-%llx-%llx-%016llx", (unsigned long long)exe.st_dev,
		 (unsigned long long)exe.st_ino, (unsigned long long)exe.st_mtime, (unsigned long long)h);
}

/* Only the default sandbox is kept warm: one pool per executable, not one per limit set
 * (which would leave parked sandboxes behind for every variation a caller tries). The
 * timeout and the output limit are the supervisor's, so they may differ. */
bool cit_warm_eligible(const struct cit_sandbox_config *cfg)
{
	const char *env = getenv("CITADEL_WARM");
	if ((env && !strcmp(env, "0")) || geteuid() != 0)
		return false;
	struct cit_sandbox_config def;
	cit_sandbox_config_init(&def);
	return !cfg->root && !cfg->n_binds && !cfg->net_host && cfg->memory_bytes == def.memory_bytes &&
	       cfg->tmp_bytes == def.tmp_bytes && cfg->pids == def.pids && cfg->nofile == def.nofile &&
	       cfg->cpu_ms == def.cpu_ms && !strcmp(cfg->hostname, def.hostname) && !isatty(0) && !isatty(1) &&
	       !isatty(2);
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

/* Claims one entry: rename (one winner), connect, and take the peer's pidfd. */
static int claim_one(const char *dir, const char *entry, pid_t pid, struct cit_supervisor *sv)
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
	sv->pidfd = pidfd;
	sv->sync = steal_fd(&conn);
	sv->pid = pid;
	sv->child = false;
	sv->cg_owned = false;
	return 0;
}

int cit_warm_claim(const char *dir, const struct cit_sandbox_config *cfg, char *const argv[],
		   const int stdio[3], struct cit_supervisor *sv, struct cit_error *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return -ENOENT;
	int rc = -ENOENT;
	for (struct dirent *e; rc == -ENOENT && (e = readdir(d));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (pid <= 0 || strcmp(end, ".sock") || claim_one(dir, e->d_name, (pid_t)pid, sv) < 0)
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
	pid_t pid;       /* 0: free slot */
	int pidfd;
	int mntns, netns; /* held so that their teardown happens here, after the run */
	bool claimed;
};

struct keeper {
	const struct cit_sandbox_config *cfg;
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

/* Makes one warm sandbox: a socket bound under a temporary name, a sandbox started in
 * warm mode on it, and once init reports READY, the socket renamed to <pid>.sock. */
static int park_one(struct keeper *k, struct parked *slot, struct cit_error *err)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s/filling-%d", k->dir, getpid());
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (s < 0 || strlen(tmp) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, tmp);
	unlink(tmp);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	struct cit_supervisor sv;
	cit_supervisor_init(&sv, k->cfg);
	struct cit_start st = { .listen_fd = s, .stdio = { -1, -1, -1 } };
	int rc = cit_sandbox_start(k->cfg, &st, &sv, err);
	if (rc == 0) {
		struct cit_sync_msg m;
		ssize_t n = recv(sv.sync, &m, sizeof(m), 0);
		rc = n == (ssize_t)sizeof(m) && m.version == CIT_SYNC_VERSION && m.type == CIT_SYNC_READY ? 0 : -EPROTO;
	}
	snprintf(final, sizeof(final), "%s/%d.sock", k->dir, sv.pid);
	if (rc == 0 && rename(tmp, final) < 0)
		rc = cit_error_set(err, -errno, "publishing %s", final);
	if (rc == 0) {
		*slot = (struct parked){ .pid = sv.pid, .pidfd = steal_fd(&sv.pidfd), .mntns = open_ns(sv.pid, "mnt"),
					 .netns = k->cfg->net_host ? -1 : open_ns(sv.pid, "net") };
		sv.cg_owned = false; /* the sandbox keeps its cgroups until reaped */
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

/* A keeper has no terminal: what goes wrong is appended to keeper.log in its pool
 * directory, which is restarted when it passes 64 KiB. */
static void keeper_log(const struct keeper *k, const char *msg)
{
	char path[PATH_MAX + 16], line[CIT_ERROR_MSG_MAX + 64];
	snprintf(path, sizeof(path), "%s/keeper.log", k->dir);
	struct stat st;
	int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
	if (stat(path, &st) == 0 && st.st_size > 64 * 1024)
		flags |= O_TRUNC;
	int fd = open(path, flags, 0600);
	if (fd < 0)
		return;
	int n = snprintf(line, sizeof(line), "%lld keeper %d: %s\n", (long long)time(NULL), getpid(), msg);
	if (write(fd, line, (size_t)n) < 0) {
		/* nowhere else to say it */
	}
	close(fd);
}

/* After a sandbox's init is gone: its namespaces and its socket. Its cgroups go with the
 * sweep that follows every reap (cit_cgroup_sweep: the pid is gone now). */
static void forget(struct keeper *k, struct parked *p)
{
	char path[PATH_MAX];
	static const char *const suffixes[] = { "sock", "claimed", "running", "retired" };
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		snprintf(path, sizeof(path), "%s/%d.%s", k->dir, p->pid, suffixes[i]);
		unlink(path);
	}
	int *fds[] = { &p->pidfd, &p->mntns, &p->netns };
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

static void note_claims(struct keeper *k, int ifd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	while ((n = read(ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			char *end;
			long pid = ev->len ? strtol(ev->name, &end, 10) : 0;
			if (pid > 0 && !strcmp(end, ".sock"))
				for (size_t i = 0; i < KEEPER_MAX; i++)
					if (k->p[i].pid == pid)
						k->p[i].claimed = true;
			p += sizeof(*ev) + ev->len;
		}
	}
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
		snprintf(path, sizeof(path), "%s/%d.claimed", k->dir, p->pid);
		if (p->pid && p->claimed && stat(path, &st) == 0 && time(NULL) - st.st_ctime > STALE_CLAIM_S)
			syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
	}
}

/* Ends the unclaimed sandboxes (a run that claims one at the same moment wins the rename
 * and keeps it), waits for every run in progress, and returns. */
static void retire(struct keeper *k)
{
	for (size_t i = 0; i < KEEPER_MAX; i++) {
		struct parked *p = &k->p[i];
		char from[PATH_MAX], to[PATH_MAX];
		snprintf(from, sizeof(from), "%s/%d.sock", k->dir, p->pid);
		snprintf(to, sizeof(to), "%s/%d.retired", k->dir, p->pid);
		if (p->pid && !p->claimed && rename(from, to) == 0)
			syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
	}
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

static _Noreturn void keeper_main(const struct cit_sandbox_config *cfg, const char *dir)
{
	sweep(dir);
	cit_cgroup_sweep();
	static struct keeper k;
	k.cfg = cfg;
	snprintf(k.dir, sizeof(k.dir), "%s", dir);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (sfd < 0 || ifd < 0 || inotify_add_watch(ifd, dir, IN_MOVED_FROM) < 0)
		_exit(1);
	time_t last = time(NULL);
	for (int fails = 0;;) {
		/* While a run is going and a spare is ready, the next one waits: the work of
		 * making it would compete with the run for the CPUs. */
		while (count(&k, false) < CIT_WARM_TARGET && fails < KEEPER_MAX_FAILS &&
		       (count(&k, false) == 0 || count(&k, true) == 0)) {
			struct parked *slot = NULL;
			for (size_t i = 0; i < KEEPER_MAX && !slot; i++)
				slot = k.p[i].pid ? NULL : &k.p[i];
			if (!slot)
				break;
			struct cit_error perr = { 0 };
			if (park_one(&k, slot, &perr) < 0) {
				keeper_log(&k, perr.msg);
				fails++;
			} else {
				fails = 0;
			}
		}
		time_t idle = time(NULL) - last;
		struct pollfd pf[2] = { { .fd = ifd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		int wait_ms = idle >= CIT_WARM_IDLE_S ? 1000 : (int)(CIT_WARM_IDLE_S - idle) * 1000;
		if (count(&k, true) > 0 && wait_ms > STALE_CLAIM_S * 1000)
			wait_ms = STALE_CLAIM_S * 1000;
		int n = poll(pf, 2, wait_ms);
		if (n > 0 && pf[0].revents) {
			note_claims(&k, ifd);
			last = time(NULL);
		}
		if (n > 0 && pf[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			reap(&k, WNOHANG);
		}
		expire_claims(&k);
		if (fails >= KEEPER_MAX_FAILS && count(&k, true) == 0) {
			keeper_log(&k, "giving up after repeated failures; runs start cold");
			break;
		}
		if (time(NULL) - last >= CIT_WARM_IDLE_S && count(&k, true) == 0)
			break;
	}
	retire(&k);
	/* Leave nothing behind: a run that starts a new keeper now makes a new lock. */
	char lock[PATH_MAX + 16];
	snprintf(lock, sizeof(lock), "%s/keeper.lock", dir);
	unlink(lock);
	rmdir(dir);
	_exit(0);
}

void cit_warm_keep(const char *dir)
{
	char lock[PATH_MAX + 16];
	snprintf(lock, sizeof(lock), "%s/keeper.lock", dir);
	int fd = open(lock, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		bool running = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		close(fd);
		if (running)
			return;
	}
	/* Double fork: the keeper is nobody's child to wait for, in its own session. It then
	 * execs itself afresh: a fixed argv, no environment, cwd /, none of this run's fds,
	 * so that no sandbox it makes carries anything of the run that started it (a fork
	 * would show this run's command line in every warm sandbox's /proc/1/cmdline). */
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
	if (chdir("/") < 0)
		_exit(1);
	char *const argv[] = { "citadel", CIT_WARM_KEEPER_CMD, NULL };
	char *const envp[] = { NULL };
	execve("/proc/self/exe", argv, envp);
	_exit(1);
}

int cit_warm_keeper_main(void)
{
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	char dir[PATH_MAX], lock[PATH_MAX + 16];
	cit_warm_pool_dir(dir, sizeof(dir));
	snprintf(lock, sizeof(lock), "%s/keeper.lock", dir);
	if ((mkdir("/run/citadel", 0700) < 0 && errno != EEXIST) ||
	    (mkdir(CIT_WARM_DIR, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST))
		return 1;
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
		return 0; /* another keeper won */
	/* A retiring keeper unlinks its lock: ours must still be the one at that path, or a
	 * newer keeper holds another and both would sweep each other's sandboxes. */
	struct stat held, now;
	if (fstat(fd, &held) < 0 || stat(lock, &now) < 0 || held.st_ino != now.st_ino)
		return 0;
	keeper_main(&cfg, dir);
}
