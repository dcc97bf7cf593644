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
 * Bind destinations are resolved component by component beneath the new root, refusing
 * every symlink (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so that a link planted in
 * a --rw directory by an earlier run cannot redirect a mount. */
#pragma once

#include <stdbool.h>

#include "common/error.h"
#include "sandbox/config.h"

/* Builds the view and pivots into it. Must run in the sandbox's first process: in new
 * user, mount and pid namespaces, as root of its user namespace, single-threaded.
 * with_tty adds /dev/pts (a new devpts instance), /dev/ptmx and /dev/tty. */
int cit_fs_build(const struct cit_sandbox_config *cfg, bool with_tty, struct cit_error *err);
