/* The filesystem view of a sandbox.
 *
 * A fresh tmpfs becomes the root. Into it, read-only and nosuid: the host's system
 * directories (usr, bin, sbin, lib*, etc, opt) or, with --root DIR, every top-level entry
 * of DIR; a fresh /proc of the sandbox's pid namespace; a minimal /dev (null, zero, full,
 * random, urandom; a pts instance and tty when a terminal is attached); a size-limited
 * in-memory /tmp; the --ro and --rw binds. The root itself is then made read-only, so a
 * write anywhere but /tmp or a --rw bind fails with EROFS. What is left out: /root,
 * /home, /run (host services' sockets), /var, /srv, /mnt, /media, /boot, the host's /proc
 * and all of /sys.
 *
 * Two halves. The supervisor, privileged on the host, opens every source as a detached
 * mount tree already restricted (read-only, nosuid, nodev): that is the plan. The
 * sandbox's first process, unprivileged on the host, never looks a host path up; it only
 * attaches the plan's trees beneath its new root. Destinations are resolved component by
 * component beneath that root, refusing every symlink (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), so a link planted in a --rw directory by an earlier run cannot
 * redirect a mount. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "sandbox/config.h"

#define CIT_FS_MAX_TOP 64
#define CIT_FS_NAME_MAX 256

/* One entry of the plan: a tree to attach (fd >= 0) or a symlink to make (fd < 0). */
struct cit_fs_entry {
	char dst[CIT_FS_NAME_MAX];    /* absolute path inside the sandbox */
	char link[CIT_FS_NAME_MAX];   /* symlink target when fd < 0 */
	int fd;                       /* owned: detached mount tree (open_tree) */
	bool dir;                     /* the tree's root is a directory */
	bool idmap;                   /* a user's bind: its owner's files are the sandbox's */
};

struct cit_fs_plan {
	struct cit_fs_entry e[CIT_FS_MAX_TOP + 8 + CIT_MAX_BINDS];
	size_t n;
};

/* In the supervisor: opens every source of cfg's view. with_tty adds /dev/tty. Returns 0,
 * or a negative errno naming the source that could not be opened. */
int cit_fs_plan_open(struct cit_fs_plan *plan, const struct cit_sandbox_config *cfg, bool with_tty,
		     struct cit_error *err);

/* In the supervisor, once the sandbox's outside id is known: idmaps each user bind whose
 * source belongs to a user other than root, so that the sandbox's root is that user
 * there (it reads and writes what the owner may, and what it creates belongs to the
 * owner). A source that root owns (user or group) is never idmapped: the sandbox would
 * own files as host root and could leave setuid-root programs behind. There, and on the
 * host's system directories, the sandbox is an unprivileged stranger. */
int cit_fs_plan_idmap(struct cit_fs_plan *plan, uid_t outside, struct cit_error *err);

/* Closes the plan's fds. Idempotent. */
void cit_fs_plan_close(struct cit_fs_plan *plan);

/* In the sandbox's first process: builds the view from plan and pivots into it. Must run
 * in new user, mount and pid namespaces, as root of its user namespace. with_tty adds
 * /dev/pts (a new devpts instance) and /dev/ptmx. */
int cit_fs_build(const struct cit_sandbox_config *cfg, const struct cit_fs_plan *plan, bool with_tty,
		 struct cit_error *err);
