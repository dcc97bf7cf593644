/* Making a sandbox: the supervisor's side up to the start of supervision, and everything
 * the sandbox's first process (init) and the program do before execve.
 *
 * Order matters and is fixed:
 *   supervisor                        init (pid 1; new user/mnt/pid/ipc/uts[/net] ns)
 *   open the view's sources (plan)
 *   and make its overlays
 *   clone3 ────────────────────────▶  wait
 *   write id map, idmap binds, MAPPED ▶ become root inside; hostname; loopback; view
 *   make cgroups, attach, PLACED ───▶  enter cgroup ns; rlimits; user ns quotas;
 *                                      drop capabilities; landlock; seccomp: init is now
 *                                      as restricted as the program will be
 *   with a terminal: take the pty ◀─── open a pty of the sandbox's own, send the master
 *   set its size, modes, TERMINAL_SET ▶ (keep the other end for the program)
 *   supervise (supervise.c)            direct: fork the program
 *   or, warm: wait READY               warm: fork the program ahead of time, READY; the
 *                                      program accepts one run's request and hands the
 *                                      connection to init
 *                                      program: a process group of its own (the pty's
 *                                      foreground); stdio, cwd, execve
 *                                      reap; report the program's stops and its status;
 *                                      exit
 * Each step has a name; the first that fails stops the sandbox and is reported. */
#include "sandbox/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "sandbox/caps.h"
#include "sandbox/cgroup.h"
#include "sandbox/idmap.h"
#include "sandbox/landlock.h"
#include "sandbox/mount.h"
#include "sandbox/ns.h"
#include "sandbox/rlimit.h"
#include "sandbox/seccomp.h"
#include "sandbox/sync.h"
#include "sandbox/ucounts.h"

/* What init needs; a copy lives in init after clone. */
struct child {
	const struct cit_sandbox_config *cfg;
	const struct cit_fs_plan *plan;
	int sync;               /* init's end of the socketpair with its creator */
	int listen_fd;          /* warm: socket to accept the one run on; -1 for a direct run */
	unsigned tty_fds;       /* bit i: the program's fd i is the pty; 0: no pty */
	int pty;                /* the pty's slave end, for the program; -1 */
	bool detached;          /* the monitor's: the program's stops are not reported */
	/* What the program runs with; for a warm sandbox, filled in from the request. */
	char *const *argv;
	const char *const *envp;
	const char *cwd;
	int stdio[3];
	int report;             /* where EXEC_ERROR and EXIT go: sync, or the run's connection */
	int devnull;            /* init's fd of the sandbox's /dev/null, once opened; -1 */
};

int cit_sync_send(int fd, uint32_t type, int code, const char *text)
{
	struct cit_sync_msg m = { .version = CIT_SYNC_VERSION, .type = type, .code = code };
	if (text)
		snprintf(m.text, sizeof(m.text), "%s", text);
	ssize_t n;
	do
		n = send(fd, &m, sizeof(m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(m) ? 0 : -EPIPE;
}

/* Waits for one message of the expected type; anything else (or EOF: the supervisor is
 * gone) ends the wait with an error. */
static int expect_msg(int fd, uint32_t type)
{
	struct cit_sync_msg m;
	ssize_t n;
	do
		n = recv(fd, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(m) || m.version != CIT_SYNC_VERSION || m.type != type)
		return -EPROTO;
	return 0;
}

static _Noreturn void child_fail(int fd, uint32_t type, const struct cit_error *err, int status)
{
	cit_sync_send(fd, type, err->code, err->msg);
	_exit(status);
}

/* ---- init's steps ----------------------------------------------------------------- */

static int step_identity(struct child *c, struct cit_error *err)
{
	if (expect_msg(c->sync, CIT_SYNC_MAPPED) < 0)
		return cit_error_set(err, -EPROTO, "the supervisor did not map the sandbox's ids");
	int rc = cit_idmap_become_root(err);
	if (rc < 0)
		return rc;
	/* Die with the supervisor (or keeper); the pid namespace then takes every process
	 * with it. Set here, not earlier: the kernel clears it when credentials change. If
	 * the supervisor died already, the next message never comes and setup fails. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return cit_error_set(err, -errno, "PR_SET_PDEATHSIG");
	return 0;
}

static int step_hostname(struct child *c, struct cit_error *err)
{
	return cit_ns_set_hostname(c->cfg->hostname, err);
}

static int step_loopback(struct child *c, struct cit_error *err)
{
	return c->cfg->net_host ? 0 : cit_ns_loopback_up(err);
}

static int step_filesystem(struct child *c, struct cit_error *err)
{
	return cit_fs_build(c->cfg, c->plan, c->tty_fds != 0, err);
}

static int step_cgroup(struct child *c, struct cit_error *err)
{
	if (expect_msg(c->sync, CIT_SYNC_PLACED) < 0)
		return cit_error_set(err, -EPROTO, "the supervisor did not place the sandbox in its cgroups");
	return cit_ns_enter_cgroup(err);
}

static int step_rlimits(struct child *c, struct cit_error *err)
{
	return cit_rlimit_apply(c->cfg, err);
}

static int step_ucounts(struct child *c, struct cit_error *err)
{
	(void)c;
	return cit_ucounts_lower(err);
}

static int step_caps(struct child *c, struct cit_error *err)
{
	(void)c;
	return cit_caps_drop_all(err);
}

static int step_landlock(struct child *c, struct cit_error *err)
{
	return cit_landlock_apply(c->cfg, err);
}

static int step_seccomp(struct child *c, struct cit_error *err)
{
	(void)c;
	return cit_seccomp_install(&cit_seccomp_builtin, err);
}

/* The sandbox's own terminal, from its own devpts instance: the master goes to the
 * supervisor, which relays between it and the caller's terminal; init keeps the other
 * end for the program (TIOCGPTPEER: no path is looked up) and makes it the controlling
 * terminal of its session, whose foreground the program then takes (sudo's monitor does
 * the same: a stop from the terminal reaches only a process group whose parent is in its
 * session, one that is not "orphaned"). Init waits until the supervisor has given the
 * pty the caller's size and modes: the program sees them from its first instruction.
 * Last of the steps, so that it runs as restricted as the program. */
static int step_terminal(struct child *c, struct cit_error *err)
{
	if (!c->tty_fds)
		return 0;
	_cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return cit_error_set(err, -errno, "opening /dev/ptmx");
	if (grantpt(master) < 0 || unlockpt(master) < 0)
		return cit_error_set(err, -errno, "unlocking the pty");
	c->pty = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->pty < 0)
		return cit_error_set(err, -errno, "opening the pty's terminal end");
	if (ioctl(c->pty, TIOCSCTTY, 0) < 0)
		return cit_error_set(err, -errno, "making the pty the sandbox's controlling terminal");
	struct cit_sync_msg m = { .version = CIT_SYNC_VERSION, .type = CIT_SYNC_TERMINAL };
	int rc = cit_send_fds(c->sync, &m, sizeof(m), &master, 1);
	if (rc < 0)
		return cit_error_set(err, rc, "handing the pty to the supervisor");
	if (expect_msg(c->sync, CIT_SYNC_TERMINAL_SET) < 0)
		return cit_error_set(err, -EPROTO, "the supervisor did not set the pty up");
	return 0;
}

struct step {
	const char *name;
	int (*run)(struct child *c, struct cit_error *err);
};

static const struct step init_steps[] = {
	{ "user namespace identity", step_identity },
	{ "hostname", step_hostname },
	{ "loopback network", step_loopback },
	{ "filesystem view", step_filesystem },
	{ "cgroups", step_cgroup },
	{ "resource limits", step_rlimits },
	{ "user namespace quotas", step_ucounts },
	{ "capabilities", step_caps },
	{ "landlock", step_landlock },
	{ "seccomp", step_seccomp },
	{ "terminal", step_terminal },
};

/* ---- the program ------------------------------------------------------------------- */

static _Noreturn void program_main(struct child *c)
{
	struct cit_error err = { 0 };
	/* A process group of its own in init's session, which init continues after a stop;
	 * with a pty, the pty's foreground group (SIGTTOU held off: until then the program is
	 * in the background). The monitor's programs are left as they were. */
	sigset_t none, ttou;
	sigemptyset(&none);
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, NULL);
	if (!c->detached && (setpgid(0, 0) < 0 || (c->tty_fds && tcsetpgrp(c->pty, getpid()) < 0))) {
		cit_error_set(&err, -errno, "sandbox step 'terminal' failed: the program's process group");
		child_fail(c->report, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < 3; i++) {
		int from = c->tty_fds & (1U << i) ? c->pty : c->stdio[i];
		/* dup2 clears close-on-exec; an fd already in place must lose it too (or stay
		 * closed, when the caller had closed it). */
		if (from == i ? fcntl(i, F_SETFD, 0) < 0 && errno != EBADF : dup2(from, i) < 0) {
			cit_error_set(&err, -errno, "sandbox step 'stdio' failed: dup2");
			child_fail(c->report, CIT_SYNC_SETUP_ERROR, &err, 125);
		}
	}
	const int keep[] = { c->report };
	cit_close_fds_except(3, keep, 1);
	if (chdir(c->cwd) < 0) {
		cit_error_set(&err, -errno, "sandbox step 'working directory' failed: %s", c->cwd);
		child_fail(c->report, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	/* execvpe() looks the command up in the PATH of our own environment, which is the
	 * caller's (or a keeper's): the program's environment is made ours first, so that
	 * its PATH (the default one, or --env PATH) is the one searched. */
	environ = (char **)c->envp;
	execvp(c->argv[0], c->argv);
	int e = errno;
	cit_error_set(&err, -e, "%s", c->argv[0]);
	child_fail(c->report, CIT_SYNC_EXEC_ERROR, &err, e == ENOENT ? 127 : 126);
}

/* ---- init: waiting for and reaping the program ----------------------------------- */

/* The program's pid, for the forwarding handler: init's only mutable global, because a
 * signal handler can reach nothing else. */
static volatile pid_t init_program_pid;

/* Forwards what the supervisor sends. A terminal's signal (SI_KERNEL) already reached the
 * program through its process group; forwarding it would deliver it twice. */
static void init_forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (init_program_pid > 0 && si->si_code != SI_KERNEL)
		kill(init_program_pid, sig);
}

/* Points init's stdin, stdout and stderr at the sandbox's /dev/null (opened once, before
 * the program exists: an open of it later would show in the program's own watch on it)
 * and closes every other fd but a and b: init holds nothing of the caller's, and nothing
 * that would keep a relay pipe open. */
static void init_keep_only(struct child *c, int a, int b)
{
	if (c->devnull < 0 && (c->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		_exit(125);
	for (int fd = 0; fd < 3; fd++)
		if (dup2(c->devnull, fd) < 0)
			_exit(125);
	const int keep[] = { a < b ? a : b, a < b ? b : a };
	cit_close_fds_except(3, keep, 2);
	c->devnull = 0;
}

/* SIGCHLD is blocked before any fork: a program that exits at once must still leave a
 * pending signal for the signalfd (unblocked, the default disposition drops it). */
static int init_signals(struct child *c)
{
	struct cit_error err = { 0 };
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		cit_error_set(&err, -errno, "sandbox step 'signalfd' failed");
		child_fail(c->report, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	struct sigaction sa = { .sa_sigaction = init_forward, .sa_flags = SA_RESTART | SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	static const int forwarded[] = { SIGHUP, SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,
					 SIGUSR2, SIGCONT, SIGWINCH, SIGTSTP };
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &sa, NULL);
	return sfd;
}

static pid_t init_fork(struct child *c, void (*in_child)(struct child *c))
{
	struct cit_error err = { 0 };
	/* _Fork, not fork: init is a raw clone3 copy of a caller that may have threads (the
	 * monitor's worker and state threads), and fork() would first take every malloc arena's
	 * lock and libc's others, which a thread that held one at clone3 never releases here. */
	pid_t pid = _Fork();
	if (pid < 0) {
		cit_error_set(&err, -errno, "sandbox step 'fork' failed");
		child_fail(c->report, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	if (pid == 0)
		in_child(c);
	init_program_pid = pid;
	return pid;
}

/* Once the program runs the supervisor writes only to continue it after a stop (its
 * process group is its pid). Returns false when the supervisor is gone (killed, even):
 * EOF, or anything but a message. */
static bool on_supervisor(struct child *c, pid_t pid)
{
	struct cit_sync_msg m;
	ssize_t n = recv(c->report, &m, sizeof(m), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n != (ssize_t)sizeof(m) || m.version != CIT_SYNC_VERSION)
		return false;
	if (m.type == CIT_SYNC_CONTINUE)
		kill(-pid, SIGCONT);
	return true;
}

/* Reaps everything until the program exits; its status decides. A run's program is also
 * watched for stops, which the supervisor follows (it stops too: ^Z). When the supervisor
 * is gone the sandbox ends too, whoever init's parent is. */
static _Noreturn void init_reap(struct child *c, pid_t pid, int sfd)
{
	/* Init keeps no stdio and no other fd (not the pty either): the relay sees EOF when
	 * the program is done. */
	init_keep_only(c, c->report, sfd);
	const int stops = c->detached ? 0 : WUNTRACED;
	for (;;) {
		int st;
		pid_t r;
		while ((r = waitpid(-1, &st, __WALL | WNOHANG | stops)) > 0 || (r < 0 && errno == EINTR)) {
			if (r != pid)
				continue;
			if (WIFSTOPPED(st)) {
				cit_sync_send(c->report, CIT_SYNC_STOPPED, WSTOPSIG(st), NULL);
				continue;
			}
			cit_sync_send(c->report, CIT_SYNC_EXIT, st, NULL);
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		if (r < 0) {
			cit_sync_send(c->report, CIT_SYNC_EXIT, -1, NULL);
			_exit(125);
		}
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = c->report, .events = POLLIN } };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents && !on_supervisor(c, pid))
			_exit(128 + SIGKILL);
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
	}
}

/* Init is a copy of citadel, and its /proc/1/cmdline, readable by the program, would show
 * citadel's whole command line (host paths of the binds, say). Everything after argv[0]
 * is blanked in init's own copy of the argument area, whose bounds /proc/self/stat gives
 * (fields 48 and 49). */
static void hide_cmdline(void)
{
	char buf[1024];
	if (cit_read_file("/proc/self/stat", buf, sizeof(buf)) <= 0)
		return;
	char *p = strrchr(buf, ')');
	unsigned long start = 0, end = 0;
	for (int field = 2; p && field <= 49; field++) {
		p = strchr(p + 1, ' ');
		if (p && field == 47)
			start = strtoul(p + 1, NULL, 10);
		if (p && field == 48)
			end = strtoul(p + 1, NULL, 10);
	}
	char *arg0 = (char *)start;
	if (!start || end <= start || end - start > (1UL << 20))
		return;
	size_t first = strnlen(arg0, end - start) + 1;
	if (first < end - start)
		memset(arg0 + first, 0, end - start - first);
}

/* A copy of a NULL-terminated string vector, and of the string one (the cwd), in memory
 * of their own (NULL when out of memory). Mapped, not malloc'd: init is a raw clone3 copy
 * of a caller that may have threads, and an arena lock one of them held then is held for
 * good here. Never freed: init execs or exits. */
static char **dup_strv(const char *const *v, const char *one, char **one_copy)
{
	size_t n = 0, bytes = strlen(one) + 1;
	while (v[n])
		bytes += strlen(v[n++]) + 1;
	size_t table = (n + 1) * sizeof(char *);
	char *mem = mmap(NULL, table + bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	char **out = (char **)mem, *p = mem + table;
	for (size_t i = 0; i <= n; i++) {
		const char *from = i < n ? v[i] : one;
		size_t len = strlen(from) + 1;
		memcpy(p, from, len);
		if (i < n)
			out[i] = p;
		else
			*one_copy = p;
		p += len;
	}
	out[n] = NULL;
	return out;
}

/* ---- a warm init waits for its one run ------------------------------------------ */


/* Checks a request and points c's program fields into it. Everything is bounded: the
 * counts, the length, and every string must end inside data. */
static int parse_request(struct child *c, struct cit_sync_req *req, ssize_t n)
{
	if (n < (ssize_t)offsetof(struct cit_sync_req, data) || req->version != CIT_SYNC_VERSION ||
	    req->type != CIT_SYNC_REQUEST || req->len > CIT_REQ_DATA_MAX ||
	    (size_t)n != offsetof(struct cit_sync_req, data) + req->len || req->argc < 1 ||
	    req->argc > CIT_REQ_MAX_STRINGS || req->envc > CIT_REQ_MAX_STRINGS)
		return -EPROTO;
	size_t want = 1 + (size_t)req->argc + req->envc, got = 0;
	const char **s = calloc(want + 2, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t off = 0; off < req->len && got < want; got++) {
		const char *end = memchr(req->data + off, '\0', req->len - off);
		if (!end) {
			free(s);
			return -EPROTO;
		}
		s[got + (got > req->argc ? 1 : 0)] = req->data + off;
		off = (size_t)(end - req->data) + 1;
	}
	if (got != want) {
		free(s);
		return -EPROTO;
	}
	/* s: cwd, argv[0..argc-1], NULL, env..., NULL */
	c->cwd = s[0];
	c->argv = (char *const *)&s[1];
	c->envp = &s[req->argc + 2];
	return 0;
}

/* The pre-forked program of a warm sandbox: it accepts the run's connection, reads the
 * request, hands the connection to init (which reports on it), and execs. */
static void warm_program(struct child *c)
{
	struct cit_error err = { 0 };
	int conn = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		_exit(125);
	struct cit_sync_req *req = malloc(sizeof(*req));
	ssize_t n = req ? cit_recv_fds(conn, req, sizeof(*req), c->stdio, 3) : -ENOMEM;
	if (n < 0 || parse_request(c, req, n) < 0) {
		cit_error_set(&err, -EPROTO, "sandbox step 'request' failed: malformed request");
		child_fail(conn, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	/* The connection goes to init, for the status and to notice a dead supervisor. */
	if (cit_send_fds(c->sync, "c", 1, &conn, 1) < 0)
		_exit(125);
	c->report = conn;
	program_main(c);
}

/* Receives the run's connection from the pre-forked program; returns it, or -1 when the
 * program died first. */
static int park_wait_conn(int sp, int sfd)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = sp, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents & POLLIN) {
			char b;
			int fd = -1;
			return cit_recv_fds(sp, &b, 1, &fd, 1) == 1 ? fd : -1;
		}
		if (p[1].revents || (p[0].revents & (POLLHUP | POLLERR)))
			return -1;
	}
}

static _Noreturn void park(struct child *c)
{
	struct cit_error err = { 0 };
	/* The pool keeper stays our parent (PR_SET_PDEATHSIG still holds); a run that claims
	 * us supervises us through our pidfd and the connection. */
	prctl(PR_SET_NAME, "citadel-warm", 0, 0, 0);
	int sp[2];
	if (listen(c->listen_fd, 1) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		cit_error_set(&err, -errno, "sandbox step 'listen' failed");
		child_fail(c->sync, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	c->report = c->sync;
	int sfd = init_signals(c);
	int keeper = c->sync;
	c->sync = sp[1];
	pid_t pid = init_fork(c, warm_program);
	close(sp[1]);
	close(c->listen_fd);
	cit_sync_send(keeper, CIT_SYNC_READY, 0, NULL);
	close(keeper);
	c->report = park_wait_conn(sp[0], sfd);
	close(sp[0]);
	if (c->report < 0)
		_exit(125); /* the program died before its run came: nobody to report to */
	init_reap(c, pid, sfd);
}

/* ---- init: pid 1 of the sandbox, from start to program ------------------------------ */

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* clone3 copied the creator's whole fd table: a monitor holds thousands of fds (its
 * trustlets' channels), which init must neither keep nor count against its RLIMIT_NOFILE.
 * Only what init needs stays: the program's stdio, the sync socket, the listening socket,
 * the plan. Our own stdin, stdout or stderr that the program is not to have (it may be
 * the caller's terminal) is pointed at /dev/null: init never holds the caller's terminal,
 * not even while it sets the sandbox up. */
static void drop_inherited_fds(struct child *c)
{
	int devnull = -1;
	for (int fd = 0; fd < 3; fd++) {
		if (c->stdio[0] == fd || c->stdio[1] == fd || c->stdio[2] == fd)
			continue;
		if (devnull < 0 && (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
			_exit(125);
		if (dup2(devnull, fd) < 0)
			_exit(125);
	}
	if (devnull > 2)
		close(devnull);
	int keep[3 + 2 + ARRAY_SIZE(c->plan->e)];
	size_t n = 0;
	for (int i = 0; i < 3; i++)
		if (c->stdio[i] >= 3)
			keep[n++] = c->stdio[i];
	keep[n++] = c->sync;
	if (c->listen_fd >= 0)
		keep[n++] = c->listen_fd;
	for (size_t i = 0; i < c->plan->n; i++)
		if (c->plan->e[i].fd >= 0)
			keep[n++] = c->plan->e[i].fd;
	qsort(keep, n, sizeof(keep[0]), cmp_int);
	if (cit_close_fds_except(3, keep, n) < 0)
		_exit(125);
}

static _Noreturn void init_main(struct child *c)
{
	struct cit_error err = { 0 };
	/* Every sandbox leaves its creator's session, so that no process in it has the
	 * caller's terminal as its controlling one (/dev/tty would open it). A terminal's
	 * keys reach the program through its pty, or are forwarded by the supervisor; the
	 * monitor's ^C is for the monitor, which then ends its sandboxes itself. */
	if (setsid() < 0)
		_exit(125);
	drop_inherited_fds(c);
	for (size_t i = 0; i < ARRAY_SIZE(init_steps); i++) {
		if (init_steps[i].run(c, &err) < 0) {
			cit_error_prefix(&err, "sandbox step '%s' failed", init_steps[i].name);
			child_fail(c->sync, CIT_SYNC_SETUP_ERROR, &err, 125);
		}
	}
	if (c->listen_fd >= 0) {
		init_keep_only(c, c->sync, c->listen_fd);
		park(c);
	}
	c->report = c->sync;
	/* The command, environment and cwd point into citadel's argument area: copied before
	 * the area is blanked. */
	char *cwd = NULL, *unused;
	char **argv = dup_strv((const char *const *)c->argv, c->cwd, &cwd), **envp = dup_strv(c->envp, "", &unused);
	if (!argv || !envp) {
		cit_error_set(&err, -ENOMEM, "sandbox step 'command' failed");
		child_fail(c->sync, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	c->argv = argv;
	c->envp = (const char *const *)envp;
	c->cwd = cwd;
	hide_cmdline();
	if ((c->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		cit_error_set(&err, -errno, "sandbox step 'command' failed: /dev/null");
		child_fail(c->sync, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	int sfd = init_signals(c);
	init_reap(c, init_fork(c, program_main), sfd);
}

/* ---- the supervisor's side of the start -------------------------------------------- */

int cit_sandbox_start(const struct cit_sandbox_config *cfg, const struct cit_start *st,
		      struct cit_supervisor *sv, struct cit_error *err)
{
	int rc = cit_sandbox_config_check(cfg, err);
	if (rc < 0)
		return rc;
	struct child c = { .cfg = cfg, .listen_fd = st->listen_fd, .argv = st->argv, .detached = st->detached,
			   .envp = cfg->env, .cwd = cfg->cwd,
			   .stdio = { st->stdio[0], st->stdio[1], st->stdio[2] },
			   .tty_fds = st->listen_fd < 0 && !st->detached ? st->tty_fds : 0, .pty = -1,
			   .devnull = -1 };
	/* The plan is large: heap, not stack. init inherits its trees over clone. */
	_cleanup_free_ struct cit_fs_plan *plan = calloc(1, sizeof(*plan));
	if (!plan)
		return cit_error_set(err, -ENOMEM, "mount plan");
	c.plan = plan;
	uid_t outside;
	const unsigned n_ids = cfg->private_tmp ? 2 : 1;
	if ((rc = cit_idmap_allocate(&outside, n_ids, err)) < 0 ||
	    (rc = cit_fs_plan_open(plan, cfg, outside, c.tty_fds != 0, err)) < 0)
		return rc;
	if (st->copied)
		memcpy(st->copied, plan->copied, plan->copied_len + 1);
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
		cit_fs_plan_close(plan);
		return cit_error_set(err, -errno, "socketpair");
	}
	sv->sync = fds[0];
	c.sync = fds[1];
	/* The sandbox's user namespace is owned by its own id, not by root: per-user kernel
	 * quotas (inotify instances, user namespaces, ...) of everything inside are then
	 * charged to that id, never to host root's. clone3 runs with that effective uid; root
	 * is our saved uid, so it comes straight back. The raw system call changes this
	 * thread's credentials alone (libc's setresuid changes every thread's): another thread
	 * of the caller (the monitor's worker and state threads) goes on as root meanwhile,
	 * and never opens a file as the sandbox's id. */
	pid_t pid = -EPERM;
	if (syscall(SYS_setresuid, (uid_t)-1, outside, (uid_t)-1) == 0) {
		pid = cit_clone3(cit_ns_clone_flags(cfg), &sv->pidfd);
		if (pid == 0)
			init_main(&c);
		if (syscall(SYS_setresuid, (uid_t)-1, 0, (uid_t)-1) < 0)
			abort(); /* cannot happen with saved uid 0; never go on half-privileged */
	}
	close(c.sync);
	if (pid < 0) {
		cit_fs_plan_close(plan);
		return cit_error_set(err, pid, "creating the sandbox's namespaces (clone3)");
	}
	sv->pid = pid;
	char name[64];
	snprintf(name, sizeof(name), "citadel-%d", pid);
	if ((rc = cit_idmap_write(pid, outside, n_ids, err)) < 0 ||
	    (rc = cit_sync_send(sv->sync, CIT_SYNC_MAPPED, 0, NULL)) < 0 ||
	    (rc = cit_cgroup_create(&sv->cg, name, cfg, err)) < 0 ||
	    (rc = cit_cgroup_attach(&sv->cg, pid, err)) < 0 ||
	    (rc = cit_sync_send(sv->sync, CIT_SYNC_PLACED, 0, NULL)) < 0 ||
	    (c.tty_fds && (rc = cit_supervisor_take_terminal(sv, err)) < 0)) {
		/* init's own account of a failed step explains an EPIPE better than EPIPE. */
		if (rc == -EPIPE)
			cit_error_set(err, rc, "the sandbox's first process died during setup");
		cit_supervisor_read_setup_error(sv, err);
		syscall(SYS_pidfd_send_signal, sv->pidfd, SIGKILL, NULL, 0);
		siginfo_t si;
		while (waitid(P_PIDFD, (id_t)sv->pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		sv->pid = 0;
	}
	cit_fs_plan_close(plan);
	return rc;
}
