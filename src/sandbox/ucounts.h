/* The sandbox's user namespace's own quotas (/proc/sys/user/max_*): counts the kernel keeps
 * per user namespace and checks at every level up to the host's, so lowering them in the
 * sandbox's namespace bounds the whole sandbox without touching the host's. */
#pragma once

#include "common/error.h"

/* Quotas of the sandbox, counted over all its processes. */
#define CIT_INOTIFY_INSTANCES_MAX 32
#define CIT_INOTIFY_WATCHES_MAX 8192

/* Writes the quotas into the calling process's user namespace: inotify instances and
 * watches (CIT_INOTIFY_*_MAX), and 0 for every kind of namespace and for fanotify (the
 * seccomp policy refuses them already; here the kernel refuses them too). Needs
 * CAP_SYS_RESOURCE in that namespace, so it runs before the capabilities are dropped, and
 * after the last namespace of the sandbox's own was made (its cgroup namespace). */
int cit_ucounts_lower(struct cit_error *err);
