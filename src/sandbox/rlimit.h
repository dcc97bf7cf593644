/* Per-process resource limits of a sandbox (the per-tree limits are in cgroup.c). */
#pragma once

#include "common/error.h"
#include "sandbox/config.h"

/* Sets RLIMIT_NOFILE, RLIMIT_NPROC (a second fence under the pids cgroup: the sandbox's
 * outside uid is its own), RLIMIT_CPU (SIGXCPU at the limit, SIGKILL a second later),
 * RLIMIT_CORE 0, small RLIMIT_MEMLOCK / RLIMIT_MSGQUEUE, and RLIMIT_RTPRIO, RLIMIT_RTTIME,
 * RLIMIT_NICE 0 (no real-time scheduling to starve the host's CPUs). */
int cit_rlimit_apply(const struct cit_sandbox_config *cfg, struct cit_error *err);
