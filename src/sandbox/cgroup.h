/* Per-sandbox cgroups: the limits that hold for the whole process tree (memory, including
 * the in-memory /tmp; number of processes; CPU bandwidth when asked). Works with cgroup v2
 * (pure, or the unified hierarchy of a hybrid host when it holds the memory and pids
 * controllers) and with v1. The sandbox's cgroups are made beneath the caller's own (or
 * beneath a parent the caller made there), so nesting is respected. */
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
	char cpu[PATH_MAX];            /* the cpu controller's (same as mem on v2); "" when the
					* sandbox has no CPU limit (cpu_millis 0 at create) */
};

/* A cgroup of the caller's own beneath which it makes its sandboxes' (the monitor's), so
 * that a limit holds for all of them together: at most pids_max processes and threads in
 * all. name is a single path component ("citadel-<pid>" of the caller, so that
 * cit_cgroup_sweep() removes it once the caller is gone). Returns 0 or a negative errno. */
int cit_cgroup_parent_create(struct cit_cgroup *cg, const char *name, uint64_t pids_max, struct cit_error *err);

/* How many processes and threads a cgroup holds now (pids.current), or 0. */
uint64_t cit_cgroup_pids(const struct cit_cgroup *cg);

/* Makes the cgroup(s) named name (beneath cfg->cgroup_parent when set) and sets the
 * limits of cfg; a CPU controller's cgroup only when cfg->cpu_millis is set. On failure
 * nothing is left behind. */
int cit_cgroup_create(struct cit_cgroup *cg, const char *name, const struct cit_sandbox_config *cfg,
		      struct cit_error *err);

/* Rewrites the memory and pids limits of an existing cgroup from cfg (on v1, also the limit
 * of socket buffers, which is the memory limit; it must be in place before the sandbox
 * makes sockets, which are charged only when made in a cgroup that has one). A lower
 * memory limit than what the tree uses makes the kernel reclaim; a socket limit below
 * what sockets hold fails with -EBUSY, leaving every limit as it was. A v1 kernel without
 * memory.kmem.tcp.limit_in_bytes fails with -ENOENT: nothing bounds socket buffers there. */
int cit_cgroup_set_limits(const struct cit_cgroup *cg, const struct cit_sandbox_config *cfg,
			  struct cit_error *err);

/* Finds the cgroup(s) named name (beneath parent, NULL: our own) that an earlier
 * cit_cgroup_create() made, for cit_cgroup_oom_killed() and cit_cgroup_destroy(). */
int cit_cgroup_open(struct cit_cgroup *cg, const char *parent, const char *name);

/* Moves pid (and its future children) into the cgroup(s). */
int cit_cgroup_attach(const struct cit_cgroup *cg, pid_t pid, struct cit_error *err);

/* Bytes of memory the cgroup's tasks use now (its files, page cache and kernel memory
 * included, as the limit counts them); 0 when it cannot be read. */
uint64_t cit_cgroup_memory(const struct cit_cgroup *cg);

/* On cgroup v1, socket buffers have a counter of their own (memory.kmem.tcp), limited to
 * the memory limit; but rather than stall a socket, the kernel lets each one past a full
 * limit by a packet or two (up to about 64 KiB), so a tree of thousands of sockets holds
 * many times its limit (16 processes of 500 sockets held 530 MiB under 32 MiB). The
 * supervisor calls this while the sandbox runs and kills it when it returns 1: the
 * counter is past memory_bytes by more than a quarter of it (at least
 * CIT_SOCKET_SLACK_MIN), which the kernel's own overshoot for a few sockets never is.
 * Returns 0 when within, -EOPNOTSUPP on v2 (socket buffers are in memory.current, which
 * memory.max bounds), or a negative errno when the counter cannot be read. */
#define CIT_SOCKET_SLACK_MIN (8ULL << 20)
int cit_cgroup_sockets_over(const struct cit_cgroup *cg, uint64_t memory_bytes);

/* True when the kernel killed a process of the cgroup for exceeding the memory limit. */
bool cit_cgroup_oom_killed(const struct cit_cgroup *cg);

/* How many processes of the cgroup the kernel has killed for memory so far. */
uint64_t cit_cgroup_oom_kills(const struct cit_cgroup *cg);

/* Removes the "citadel-<pid>" cgroups beside ours whose pid no longer exists: those of
 * runs whose supervisor was killed before it could remove them, and the parents of a
 * monitor that was (with the empty cgroups beneath them). A cgroup that still has
 * processes cannot be removed, so a live sandbox's is never touched. */
void cit_cgroup_sweep(void);

/* Removes the cgroup(s); the processes in them must have exited. Idempotent. */
void cit_cgroup_destroy(struct cit_cgroup *cg);
