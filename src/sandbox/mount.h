/* The filesystem view of a sandbox.
 *
 * A fresh tmpfs becomes the root. Into it: the host's system directories (usr, bin, sbin,
 * lib*, etc, opt) or, with --root DIR, every top-level entry of DIR; a fresh /proc of the
 * sandbox's pid namespace; a /dev of its own (fsmount.h: null, zero, full, random,
 * urandom; with a terminal, tty and a devpts instance of its own); a size-limited
 * in-memory /tmp; the --ro, --rw and --allow-socket binds. The root itself is then made
 * read-only, so a write anywhere but /tmp or a --rw bind fails with EROFS. What is left
 * out: /root, /home, /run (host services' sockets), /var, /srv, /mnt, /media, /boot, the
 * host's /proc and all of /sys.
 *
 * Every read-only tree (the system directories, --root's entries, --ro binds, and the
 * mounts below each of them) is shown through a read-only overlay of the sandbox's own
 * (fsmount.h), never as a bind of the host's inodes: the host's unix sockets there refuse
 * connections, and inotify watches and file locks there reach no other process. Only a
 * --rw bind is the host's tree itself, and only --allow-socket grants a host socket.
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
	int fd;                       /* owned: detached mount (an overlay, /dev, a bind) */
	bool dir;                     /* the tree's root is a directory */
	bool optional;                /* a mount below a bound tree: where the sandbox cannot
				       * reach its mount point, it cannot reach the mount either,
				       * so it is left out */
};

/* What the copies of files mounted on their own were made from, one line each:
 * "DEV INO SIZE MTIME_NS CTIME_NS\tPATH\n" (PATH the host path; see mount.c's add_copy),
 * so that a sandbox made ahead of time can be checked against them when it is claimed.
 * "?\n" when they did not fit. */
#define CIT_FS_COPIED_MAX 4096

struct cit_fs_plan {
	struct cit_fs_entry e[CIT_FS_MAX_TOP + CIT_MAX_BINDS + 72];
	size_t n;
	char copied[CIT_FS_COPIED_MAX];
	size_t copied_len;
};

/* Whether every file a plan copied (its copied text) is still what it was copied from:
 * same device, inode, size and times at the same path. */
bool cit_fs_copies_current(const char *copied);

/* In the supervisor, once the sandbox's outside id is known: opens every source of cfg's
 * view. A user's bind whose source belongs to a user other than root is idmapped, so that
 * the sandbox's root is that user there (it reads and writes what the owner may, and what
 * it creates belongs to the owner); a source that root owns (user or group) never is: the
 * sandbox would own files as host root and could leave setuid-root programs behind.
 * There, and on the host's system directories, the sandbox is an unprivileged stranger.
 * with_tty adds /dev/tty and /dev/pts. Returns 0, or a negative errno naming the source
 * that could not be opened (-ENOTSOCK: an --allow-socket source that is no socket;
 * -EACCES: a --ro or --rw source that is a socket). */
int cit_fs_plan_open(struct cit_fs_plan *plan, const struct cit_sandbox_config *cfg, uid_t outside,
		     bool with_tty, struct cit_error *err);

/* Closes the plan's fds. Idempotent. */
void cit_fs_plan_close(struct cit_fs_plan *plan);

/* In the sandbox's first process: builds the view from plan and pivots into it. Must run
 * in new user, mount and pid namespaces, as root of its user namespace. with_tty adds
 * /dev/pts (a new devpts instance) and /dev/ptmx. */
int cit_fs_build(const struct cit_sandbox_config *cfg, const struct cit_fs_plan *plan, bool with_tty,
		 struct cit_error *err);

/* The names of the host's top-level directories the default view shows (no --root):
 * static, *n of them. For warm pools (mountdeps.h), which must know every tree a view
 * shows. */
const char *const *cit_fs_system_dirs(size_t *n);
