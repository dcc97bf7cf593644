/* User and group identity of a sandbox: root inside, an unprivileged id outside. */
#pragma once

#include <sys/types.h>

#include "common/error.h"

/* Sandboxes run as host ids in [CIT_ID_BASE, CIT_ID_BASE + CIT_ID_RANGE), far from any
 * real account. */
#define CIT_ID_BASE 0x70000000u
#define CIT_ID_RANGE 0x08000000u

/* Allocates n (1 or 2) consecutive outside ids for a new sandbox, the first in *out: the
 * next values of a counter kept in CIT_ID_FILE under a lock, so an id comes back only
 * after CIT_ID_RANGE more have been handed out (a file a sandbox leaves on shared storage
 * is not handed to the next sandbox that happens to get its number). Returns 0 or a
 * negative errno. */
#define CIT_ID_FILE "/run/citadel/ids"
int cit_idmap_allocate(uid_t *out, unsigned n, struct cit_error *err);

/* Maps inside ids 0..n-1 of the user namespace of pid to outside..outside+n-1 (uid and gid
 * alike). Written by the privileged parent, so the child may still drop its supplementary
 * groups. */
int cit_idmap_write(pid_t pid, uid_t outside, unsigned n, struct cit_error *err);

/* Makes a user namespace that maps inside_uid:inside_gid (neither may be 0) to
 * outside:outside, for idmapping a bind whose files belong to that owner: through it the
 * sandbox's root is the owner, and what it creates belongs to the owner on disk. Returns
 * an fd to the namespace in *nsfd (O_CLOEXEC; the caller closes it). */
int cit_idmap_userns(uid_t inside_uid, gid_t inside_gid, uid_t outside, int *nsfd, struct cit_error *err);

/* In the child, after the map is written: become 0:0 inside (outside:outside on the
 * host) with no supplementary groups. */
int cit_idmap_become_root(struct cit_error *err);
