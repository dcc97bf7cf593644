/* Namespaces: which ones a sandbox gets, and the few things done inside them. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "sandbox/config.h"

/* The clone flags of a sandbox's first process: user, mount, pid, ipc, uts and, unless
 * the policy grants the host network, net. The cgroup namespace is entered later
 * (cit_ns_enter_cgroup), once the process sits in its own cgroup. */
uint64_t cit_ns_clone_flags(const struct cit_sandbox_config *cfg);

/* clone3() with the given flags and a pidfd for the child (O_CLOEXEC). Returns the pid
 * in the parent, 0 in the child, or a negative errno. The caller must be single-threaded:
 * the child continues in a copy of its memory, as after fork(). */
pid_t cit_clone3(uint64_t flags, int *pidfd);

/* Brings the loopback interface of the current network namespace up. */
int cit_ns_loopback_up(struct cit_error *err);

/* Sets the hostname of the current UTS namespace. */
int cit_ns_set_hostname(const char *name, struct cit_error *err);

/* Enters a new cgroup namespace rooted at the caller's current cgroup. */
int cit_ns_enter_cgroup(struct cit_error *err);
