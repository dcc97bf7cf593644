/* cit_sandbox_spawn(): a sandbox whose program the caller watches itself. The monitor makes
 * its runtime zygotes this way; the sandbox is the same as `citadel run`'s. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/launch.h"
#include "sandbox/supervise.h"

int cit_sandbox_spawn(const struct cit_sandbox_config *cfg, char *const argv[], const int stdio[3],
		      struct cit_sandbox *sb, struct cit_error *err)
{
	memset(sb, 0, sizeof(*sb));
	sb->pidfd = sb->sync = -1;
	if (!argv || !argv[0])
		return cit_error_set(err, -EINVAL, "no command to run");
	struct cit_supervisor sv;
	cit_supervisor_init(&sv, cfg);
	struct cit_start st = { .listen_fd = -1, .argv = argv, .detached = true,
				.stdio = { stdio[0], stdio[1], stdio[2] } };
	int rc = cit_sandbox_start(cfg, &st, &sv, err);
	if (rc < 0) {
		cit_supervisor_close(&sv);
		return rc;
	}
	sb->pid = sv.pid;
	sb->pidfd = steal_fd(&sv.pidfd);
	sb->sync = steal_fd(&sv.sync);
	sb->cg = sv.cg;
	sv.cg_owned = false;
	cit_supervisor_close(&sv);
	return 0;
}

void cit_sandbox_release(struct cit_sandbox *sb)
{
	if (sb->pidfd >= 0) {
		/* init's death takes the whole pid namespace with it. */
		syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0);
		siginfo_t si;
		while (waitid(P_PIDFD, (id_t)sb->pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		close(steal_fd(&sb->pidfd));
	}
	if (sb->sync >= 0)
		close(steal_fd(&sb->sync));
	cit_cgroup_destroy(&sb->cg);
	sb->pid = 0;
}
