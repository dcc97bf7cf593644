/* Making a sandbox, shared by direct runs and warm sandboxes. Internal to src/sandbox. */
#pragma once

#include "common/error.h"
#include "sandbox/config.h"
#include "sandbox/supervise.h"

struct cit_start {
	int listen_fd;      /* warm: a bound socket init listens on for its one run; -1: direct */
	char *const *argv;  /* direct: the command (borrowed) */
	int stdio[3];       /* direct: the program's stdin, stdout, stderr (borrowed), never a
			     * terminal of the caller's; unused where tty_fds has its bit */
	unsigned tty_fds;   /* direct: bit i set: the program's fd i is the sandbox's own pty */
	bool detached;      /* the monitor's: never a terminal, and the program is not watched
			     * for stops */
	char *copied;       /* warm, or NULL: receives the view's copied text (mount.h,
			     * CIT_FS_COPIED_MAX bytes) */
};

/* Makes a sandbox from cfg: opens the view's sources, clones init into its namespaces,
 * maps its ids, places it in its cgroups, and with tty_fds takes its pty's master into
 * sv->term. On return sv holds init's pid, pidfd, the sync socket and the cgroups; init
 * goes on to build its view and restrict itself (with tty_fds it has done so already),
 * then runs the command (direct) or parks (warm). On failure nothing is left running. */
int cit_sandbox_start(const struct cit_sandbox_config *cfg, const struct cit_start *st,
		      struct cit_supervisor *sv, struct cit_error *err);

/* Sends one sync message; 0 or -EPIPE. */
int cit_sync_send(int fd, uint32_t type, int code, const char *text);
