/* Per-sandbox cgroups: the limits that hold for the whole process tree (memory, including
 * the in-memory /tmp; number of processes). Works with cgroup v2 (pure, or the unified
 * hierarchy of a hybrid host when it holds the memory and pids controllers) and with v1.
 * The sandbox's cgroups are made beneath the caller's own, so nesting is respected. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "sandbox/config.h"

struct cit_cgroup {
	int version;                   /* 1 or 2; 0 before create */
	char mem[PATH_MAX];            /* directory holding the memory controller's files */
	char pids[PATH_MAX];           /* same as mem on v2 */
};

/* Makes the cgroup(s) named name and sets the limits of cfg. On failure nothing is left
 * behind. */
int cit_cgroup_create(struct cit_cgroup *cg, const char *name, const struct cit_sandbox_config *cfg,
		      struct cit_error *err);

/* Rewrites the memory and pids limits of an existing cgroup from cfg. A lower memory limit
 * than what the tree uses makes the kernel reclaim, then OOM-kill. */
int cit_cgroup_set_limits(const struct cit_cgroup *cg, const struct cit_sandbox_config *cfg,
			  struct cit_error *err);

/* Finds the cgroup(s) named name that an earlier cit_cgroup_create() made, for
 * cit_cgroup_oom_killed() and cit_cgroup_destroy(). */
int cit_cgroup_open(struct cit_cgroup *cg, const char *name);

/* Moves pid (and its future children) into the cgroup(s). */
int cit_cgroup_attach(const struct cit_cgroup *cg, pid_t pid, struct cit_error *err);

/* True when the kernel killed a process of the cgroup for exceeding the memory limit. */
bool cit_cgroup_oom_killed(const struct cit_cgroup *cg);

/* How many processes of the cgroup the kernel has killed for memory so far. */
uint64_t cit_cgroup_oom_kills(const struct cit_cgroup *cg);

/* Removes the "citadel-<pid>" cgroups beside ours whose pid no longer exists: those of
 * runs whose supervisor was killed before it could remove them. A cgroup that still has
 * processes cannot be removed, so a live sandbox's is never touched. */
void cit_cgroup_sweep(void);

/* Removes the cgroup(s); the processes in them must have exited. Idempotent. */
void cit_cgroup_destroy(struct cit_cgroup *cg);
