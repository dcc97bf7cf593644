/* Per-process resource limits of a sandbox (the per-tree limits are in cgroup.c). */
#pragma once

#include "common/error.h"
#include "sandbox/config.h"

/* Signals queued and POSIX timers, together, in the whole sandbox (RLIMIT_SIGPENDING counts
 * per user, and the sandbox's outside uid is its own). */
#define CIT_SIGPENDING_MAX 1024

/* Sets RLIMIT_NOFILE, RLIMIT_NPROC (a second fence under the pids cgroup: the sandbox's
 * outside uid is its own), RLIMIT_CPU (SIGXCPU at the limit, SIGKILL a second later),
 * RLIMIT_CORE 0, small RLIMIT_MEMLOCK / RLIMIT_MSGQUEUE, RLIMIT_SIGPENDING
 * (CIT_SIGPENDING_MAX), and RLIMIT_RTPRIO, RLIMIT_RTTIME, RLIMIT_NICE 0 (no real-time
 * scheduling to starve the host's CPUs). Each is only ever lowered. */
int cit_rlimit_apply(const struct cit_sandbox_config *cfg, struct cit_error *err);
