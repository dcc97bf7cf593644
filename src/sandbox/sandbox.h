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
#include "sandbox/config.h"

enum cit_run_cause {
	CIT_RUN_EXITED = 0,     /* the program exited on its own; status is its code */
	CIT_RUN_SIGNALED,       /* killed by a signal; status is 128 + signal */
	CIT_RUN_TIMEOUT,        /* wall clock exceeded; whole tree killed; status 124 */
	CIT_RUN_OUTPUT_LIMIT,   /* output limit exceeded; whole tree killed; status 153 */
	CIT_RUN_OUT_OF_MEMORY,  /* the memory cgroup killed it; status 137 */
	CIT_RUN_EXEC_FAILED,    /* the command could not be executed (126) or found (127) */
};

struct cit_run_result {
	enum cit_run_cause cause;
	int status;             /* what `citadel run` exits with, 0..255 */
	int signal;             /* for CIT_RUN_SIGNALED */
	char detail[CIT_ERROR_MSG_MAX]; /* for CIT_RUN_EXEC_FAILED: why */
};

/* Runs argv[0] (looked up in the sandbox's PATH) with argv in a sandbox made from cfg.
 * stdin passes through; stdout and stderr pass through, relayed and counted when an
 * output limit is set. The caller must be single-threaded and have SIGCHLD at its
 * default disposition.
 *
 * Returns 0 when the program ran (or could not be executed: see res->cause), or a
 * negative errno when Citadel itself failed; err then names the step that failed. */
int cit_sandbox_run(const struct cit_sandbox_config *cfg, char *const argv[], struct cit_run_result *res,
		    struct cit_error *err);
