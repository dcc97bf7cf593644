/* User and group identity of a sandbox: root inside, an unprivileged id outside. */
#pragma once

#include <sys/types.h>

#include "common/error.h"

/* First outside uid/gid of the range sandboxes run as; far from any real account. */
#define CIT_ID_BASE 0x70000000u

/* The outside id of the sandbox whose first process has host pid init_pid. Unique among
 * live sandboxes: a pid names one live process, and every process of a sandbox dies
 * with its first one (pid namespace), before that pid can be reused. */
uid_t cit_idmap_outside_id(pid_t init_pid);

/* Maps 0 inside the user namespace of pid to outside (uid and gid alike). Written by the
 * privileged parent, so the child may still drop its supplementary groups. */
int cit_idmap_write(pid_t pid, uid_t outside, struct cit_error *err);

/* Makes a user namespace that maps inside_uid:inside_gid (neither may be 0) to
 * outside:outside, for idmapping a bind whose files belong to that owner: through it the
 * sandbox's root is the owner, and what it creates belongs to the owner on disk. Returns
 * an fd to the namespace in *nsfd (O_CLOEXEC; the caller closes it). */
int cit_idmap_userns(uid_t inside_uid, gid_t inside_gid, uid_t outside, int *nsfd, struct cit_error *err);

/* In the child, after the map is written: become 0:0 inside (outside:outside on the
 * host) with no supplementary groups. */
int cit_idmap_become_root(struct cit_error *err);
