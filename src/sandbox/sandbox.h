/* Running a program in a Citadel sandbox: the one call behind `citadel run`.
 *
 * The caller's process stays outside as the supervisor: it maps the sandbox's identity,
 * puts it in its cgroups, relays and counts its output, enforces the wall clock, forwards
 * signals, and reports how the run ended. Inside, the sandbox's first process (pid 1 of
 * its pid namespace) builds the view, then forks the program and reaps; when it exits the
 * kernel kills everything left in the namespace, so no process outlives a run. */
#pragma once

#include <stdbool.h>

#include "common/error.h"
#include "sandbox/cgroup.h"
#include "sandbox/config.h"

enum cit_run_cause {
	CIT_RUN_EXITED = 0,     /* the program exited on its own; status is its code */
	CIT_RUN_SIGNALED,       /* killed by a signal; status is 128 + signal */
	CIT_RUN_TIMEOUT,        /* wall clock exceeded; whole tree killed; status 124 */
	CIT_RUN_OUTPUT_LIMIT,   /* output limit exceeded; whole tree killed; status 153 */
	CIT_RUN_OUT_OF_MEMORY,  /* the memory cgroup killed it; status 137 */
	CIT_RUN_EXEC_FAILED,    /* the command could not be executed (126) or found (127) */
	CIT_RUN_OUTPUT_FAILED,  /* our stdout or stderr refused its output (a full disk, a
				 * closed fd): the rest was not relayed; status 125 */
};

struct cit_run_result {
	enum cit_run_cause cause;
	int status;             /* what `citadel run` exits with, 0..255 */
	int signal;             /* for CIT_RUN_SIGNALED */
	char detail[CIT_ERROR_MSG_MAX]; /* for CIT_RUN_EXEC_FAILED and CIT_RUN_OUTPUT_FAILED: why */
};

/* Runs argv[0] (looked up in the sandbox's PATH) with argv in a sandbox made from cfg.
 * stdin passes through; stdout and stderr pass through, relayed and counted when an
 * output limit is set. A terminal of the caller's is never handed over: with a terminal
 * (cit_sandbox_wants_terminal) the program gets a pty of its own, as its stdin and as its
 * stdout and stderr where ours are terminals, relayed (and counted) to and from ours,
 * which is in raw mode meanwhile and gets its modes back at the end; a stop of the
 * program (^Z) stops the caller too, and continuing the caller continues it. Without one
 * (CIT_TERMINAL_NEVER) a terminal of ours is relayed through a pipe. The caller must be
 * single-threaded and have SIGCHLD at its default disposition.
 *
 * Returns 0 when the program ran (or could not be executed: see res->cause), or a
 * negative errno when Citadel itself failed; err then names the step that failed. */
int cit_sandbox_run(const struct cit_sandbox_config *cfg, char *const argv[], struct cit_run_result *res,
		    struct cit_error *err);

/* Whether cit_sandbox_run() gives the program a pty: cfg->terminal, and for
 * CIT_TERMINAL_AUTO whether our stdout is a terminal, or our stderr with a stdin that is
 * none (not a terminal stdin with a stdout that is none: a pipeline's, whose other
 * programs write to the terminal we would put in raw mode). */
bool cit_sandbox_wants_terminal(const struct cit_sandbox_config *cfg);

/* A long-lived sandbox that the caller watches itself (the monitor's runtime zygotes):
 * no relay, no signal forwarding, no wall clock. */
struct cit_sandbox {
	pid_t pid;              /* the sandbox's init, our child; 0 when none */
	int pidfd;              /* owned; init's pidfd: readable when init has exited */
	int sync;               /* owned; init's reports (sync.h): setup errors, exec errors,
				 * the program's exit; its closing means init is gone */
	struct cit_cgroup cg;   /* the sandbox's cgroups, removed by cit_sandbox_release() */
};

/* Starts argv[0] in a sandbox made from cfg, with stdio[0..2] as its stdin, stdout and
 * stderr (borrowed; the caller closes its copies), never with a terminal. Returns 0 with
 * sb filled, or a negative errno (err names the step). The caller must reap init: it is
 * our child (cit_sandbox_release does). */
int cit_sandbox_spawn(const struct cit_sandbox_config *cfg, char *const argv[], const int stdio[3],
		      struct cit_sandbox *sb, struct cit_error *err);

/* Kills the whole sandbox (when still running), reaps init and removes its cgroups.
 * Idempotent. */
void cit_sandbox_release(struct cit_sandbox *sb);
