/* Warm sandboxes: single-use sandboxes made ahead of time, so that a run starts in about
 * the time of a fork and an exec instead of the milliseconds that making namespaces,
 * a filesystem view and cgroups takes.
 *
 * A warm sandbox is an init that has done every step of a direct run's init (its own
 * namespaces, cgroups, view, rlimits, no capabilities, landlock, seccomp) and waits on a
 * unix socket under CIT_WARM_DIR for one run. A run claims one by renaming its socket
 * (atomic: one winner), connects, and sends argv, environment, cwd and its three stdio
 * fds; init forks the program and reports its status, exactly as in a direct run. No
 * sandbox serves two runs: isolation between runs is the same as without the pool.
 *
 * Only the default sandbox is kept warm: default view and limits (the timeout and the
 * output limit, enforced outside, may differ), no terminal; one pool per executable. Each pool
 * has a keeper: a process that runs start to make CIT_WARM_TARGET sandboxes, is their
 * parent, makes a new one as soon as one is claimed, and after a run reaps its init,
 * removes its cgroups and drops the last references to its namespaces (so that their
 * teardown happens in the keeper, not in the run). A keeper with no run for
 * CIT_WARM_IDLE_S ends its unclaimed sandboxes and itself. The directory is root's. */
#pragma once

#include <stdbool.h>

#include "common/error.h"
#include "sandbox/config.h"
#include "sandbox/supervise.h"

#define CIT_WARM_DIR "/run/citadel/warm"
#define CIT_WARM_TARGET 2
#define CIT_WARM_IDLE_S 300

/* Whether a run of cfg may use the pool (also false when CITADEL_WARM=0 or not root). */
bool cit_warm_eligible(const struct cit_sandbox_config *cfg);

/* The pool directory for runs from the calling process's context (executable, mount
 * namespace, cgroup, rlimits, umask, priority); computed once per run. */
void cit_warm_pool_dir(char *out, size_t cap);

/* Claims a warm sandbox from the pool in dir for cfg and hands it the command. On success (0) sv supervises
 * it like a direct run's. Returns -ENOENT when none is ready; any other failure also
 * leaves nothing running, and the caller makes a sandbox directly. */
int cit_warm_claim(const char *dir, const struct cit_sandbox_config *cfg, char *const argv[],
		   const int stdio[3], struct cit_supervisor *sv, struct cit_error *err);

/* Makes sure the pool in dir has a keeper, starting one (detached) when it has none.
 * Costs an open and a flock when the keeper runs. Best effort: without a keeper, runs
 * start cold. */
void cit_warm_keep(const char *dir);

/* The hidden command a keeper execs itself as (`citadel __keeper`). */
#define CIT_WARM_KEEPER_CMD "__keeper"

/* The keeper: runs until it retires. Returns an exit status when it cannot start, or
 * when another keeper already keeps the pool. */
int cit_warm_keeper_main(void);
