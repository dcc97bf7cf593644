/* Making a sandbox: the supervisor's side up to the start of supervision, and everything
 * the sandbox's first process (init) and the program do before execve.
 *
 * Order matters and is fixed:
 *   supervisor                       init (pid 1, new user/mnt/pid/ipc/uts[/net] ns)
 *   compile seccomp program
 *   clone3 ───────────────────────▶  wait
 *   write id map, send MAPPED ────▶  become root inside; hostname; loopback; view
 *   make cgroups, attach, PLACED ─▶  enter cgroup ns; fork the program ──▶ program:
 *   supervise (supervise.c)          reap; report status      stdio, cwd, rlimits, caps,
 *                                                             landlock, seccomp, execve
 * Each step has a name; the first that fails stops the sandbox and is reported. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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
#include "sandbox/supervise.h"
#include "sandbox/sync.h"

/* What the sandbox's processes need; a copy lives in each after clone. */
struct child {
	const struct cit_sandbox_config *cfg;
	char *const *argv;
	const struct cit_bpf *bpf;
	const struct cit_fs_plan *plan;
	int sync;          /* init's end of the socketpair */
	int out_w, err_w;  /* write ends of the relay pipes, or -1 to inherit 1 and 2 */
	bool tty;
};

static int send_msg(int fd, uint32_t type, int code, const char *text)
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

static _Noreturn void child_fail(int sync, uint32_t type, const struct cit_error *err, int status)
{
	send_msg(sync, type, err->code, err->msg);
	_exit(status);
}

/* ---- the program: last steps before execve ---------------------------------------- */

static int step_stdio(struct child *c, struct cit_error *err)
{
	sigset_t none;
	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		return cit_error_set(err, -errno, "signal mask");
	const int keep[] = { c->sync };
	if (cit_close_fds_except(3, keep, 1) < 0)
		return cit_error_set(err, -errno, "closing inherited file descriptors");
	return 0;
}

static int step_cwd(struct child *c, struct cit_error *err)
{
	if (chdir(c->cfg->cwd) < 0)
		return cit_error_set(err, -errno, "working directory %s", c->cfg->cwd);
	return 0;
}

static int step_rlimits(struct child *c, struct cit_error *err)
{
	return cit_rlimit_apply(c->cfg, err);
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
	return cit_seccomp_install(c->bpf, err);
}

struct step {
	const char *name;
	int (*run)(struct child *c, struct cit_error *err);
};

static int run_steps(const struct step *steps, size_t n, struct child *c, struct cit_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int rc = steps[i].run(c, err);
		if (rc < 0) {
			cit_error_prefix(err, "sandbox step '%s' failed", steps[i].name);
			return rc;
		}
	}
	return 0;
}

static const struct step program_steps[] = {
	{ "stdio", step_stdio },
	{ "working directory", step_cwd },
	{ "resource limits", step_rlimits },
	{ "capabilities", step_caps },
	{ "landlock", step_landlock },
	{ "seccomp", step_seccomp },
};

static _Noreturn void program_main(struct child *c)
{
	struct cit_error err = { 0 };
	if (run_steps(program_steps, ARRAY_SIZE(program_steps), c, &err) < 0)
		child_fail(c->sync, CIT_SYNC_SETUP_ERROR, &err, 125);
	execvpe(c->argv[0], c->argv, (char *const *)c->cfg->env);
	int e = errno;
	cit_error_set(&err, -e, "%s", c->argv[0]);
	child_fail(c->sync, CIT_SYNC_EXEC_ERROR, &err, e == ENOENT ? 127 : 126);
}

/* ---- init: pid 1 of the sandbox ----------------------------------------------------- */

static int step_identity(struct child *c, struct cit_error *err)
{
	if (expect_msg(c->sync, CIT_SYNC_MAPPED) < 0)
		return cit_error_set(err, -EPROTO, "the supervisor did not map the sandbox's ids");
	return cit_idmap_become_root(err);
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
	return cit_fs_build(c->cfg, c->plan, c->tty, err);
}

static int step_cgroup(struct child *c, struct cit_error *err)
{
	if (expect_msg(c->sync, CIT_SYNC_PLACED) < 0)
		return cit_error_set(err, -EPROTO, "the supervisor did not place the sandbox in its cgroups");
	return cit_ns_enter_cgroup(err);
}

static int step_stdio_relay(struct child *c, struct cit_error *err)
{
	if (c->out_w >= 0 && (dup2(c->out_w, 1) < 0 || dup2(c->err_w, 2) < 0))
		return cit_error_set(err, -errno, "output relay");
	return 0;
}

static const struct step init_steps[] = {
	{ "user namespace identity", step_identity },
	{ "hostname", step_hostname },
	{ "loopback network", step_loopback },
	{ "filesystem view", step_filesystem },
	{ "cgroups", step_cgroup },
	{ "output relay", step_stdio_relay },
};

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

static _Noreturn void init_main(struct child *c)
{
	struct cit_error err = { 0 };
	/* Die with the supervisor; the pid namespace then takes every process with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		cit_error_set(&err, -errno, "PR_SET_PDEATHSIG");
		child_fail(c->sync, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	if (run_steps(init_steps, ARRAY_SIZE(init_steps), c, &err) < 0)
		child_fail(c->sync, CIT_SYNC_SETUP_ERROR, &err, 125);
	const int keep[] = { c->sync };
	cit_close_fds_except(3, keep, 1);

	pid_t pid = fork();
	if (pid < 0) {
		cit_error_set(&err, -errno, "sandbox step 'fork' failed");
		child_fail(c->sync, CIT_SYNC_SETUP_ERROR, &err, 125);
	}
	if (pid == 0)
		program_main(c);
	init_program_pid = pid;

	/* Init keeps no stdio: the relay sees EOF when the program's tree is done. */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; fd < 3 && devnull >= 0; fd++)
		dup2(devnull, fd);
	struct sigaction sa = { .sa_sigaction = init_forward, .sa_flags = SA_RESTART | SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH };
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Reap everything; the program's own status decides. */
	for (;;) {
		int st;
		pid_t r = waitpid(-1, &st, __WALL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == pid || r < 0) {
			send_msg(c->sync, CIT_SYNC_EXIT, r == pid ? st : -1, NULL);
			_exit(r == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
		}
	}
}

/* ---- the supervisor's side of the start -------------------------------------------- */

static int fail_start(int pidfd, struct cit_error *err)
{
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	siginfo_t si;
	while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	return err->code;
}

int cit_sandbox_run(const struct cit_sandbox_config *cfg, char *const argv[], struct cit_run_result *res,
		    struct cit_error *err)
{
	memset(res, 0, sizeof(*res));
	int rc = cit_sandbox_config_check(cfg, err);
	if (rc < 0)
		return rc;
	if (!argv || !argv[0])
		return cit_error_set(err, -EINVAL, "no command to run");

	struct cit_supervisor sv;
	cit_supervisor_init(&sv, cfg);
	int sv_fds[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv_fds) < 0)
		return cit_error_set(err, -errno, "socketpair");
	sv.sync = sv_fds[0];
	struct child c = { .cfg = cfg, .argv = argv, .bpf = &cit_seccomp_builtin, .sync = sv_fds[1], .out_w = -1, .err_w = -1,
			   .tty = isatty(0) || isatty(1) || isatty(2) };
	/* The plan is large: heap, not stack. Its trees are inherited by init over clone. */
	_cleanup_free_ struct cit_fs_plan *plan = calloc(1, sizeof(*plan));
	if (!plan) {
		rc = cit_error_set(err, -ENOMEM, "mount plan");
		goto out;
	}
	c.plan = plan;
	if ((rc = cit_fs_plan_open(plan, cfg, c.tty, err)) < 0)
		goto out;
	if ((rc = cit_supervisor_open_relay(&sv, &c.out_w, &c.err_w, err)) < 0)
		goto out;
	if ((rc = cit_supervisor_block_signals(&sv, err)) < 0)
		goto out;

	pid_t pid = cit_clone3(cit_ns_clone_flags(cfg), &sv.pidfd);
	if (pid == 0)
		init_main(&c);
	if (pid < 0) {
		rc = cit_error_set(err, pid, "creating the sandbox's namespaces (clone3)");
		goto out;
	}
	close(steal_fd(&c.sync));
	close(steal_fd(&c.out_w));
	close(steal_fd(&c.err_w));
	sv.pid = pid;

	char name[64];
	snprintf(name, sizeof(name), "citadel-%d", pid);
	if ((rc = cit_idmap_write(pid, cit_idmap_outside_id(pid), err)) < 0 ||
	    (rc = cit_fs_plan_idmap(plan, pid, err)) < 0 ||
	    (rc = send_msg(sv.sync, CIT_SYNC_MAPPED, 0, NULL)) < 0 ||
	    (rc = cit_cgroup_create(&sv.cg, name, cfg, err)) < 0 ||
	    (rc = cit_cgroup_attach(&sv.cg, pid, err)) < 0 ||
	    (rc = send_msg(sv.sync, CIT_SYNC_PLACED, 0, NULL)) < 0) {
		/* A setup message from init explains an EPIPE better than EPIPE does. */
		if (rc == -EPIPE)
			cit_error_set(err, rc, "the sandbox's first process died during setup");
		cit_supervisor_read_setup_error(&sv, err);
		fail_start(sv.pidfd, err);
		goto out;
	}
	rc = cit_supervise(&sv, res, err);
out:
	if (c.sync >= 0)
		close(c.sync);
	if (c.out_w >= 0)
		close(c.out_w);
	if (c.err_w >= 0)
		close(c.err_w);
	cit_supervisor_close(&sv);
	if (plan)
		cit_fs_plan_close(plan);
	return rc;
}
