/* Detached filesystems, made with the new mount API (fsopen, fsconfig, fsmount) by the
 * privileged supervisor and never attached in its own mount namespace: the sandbox's
 * init attaches them in its view (mount.c).
 *
 * Why overlays: a read-only bind of a host tree still hands the sandbox the host's own
 * inodes. Three things work on an inode whatever the mount's read-only flag says:
 * connect(2)/sendmsg(2) to a unix socket bound there by a host daemon, inotify/dnotify
 * watches (which report every host process's opens and writes under the tree by name),
 * and flock/fcntl locks (which block host processes that lock the same file). A
 * read-only overlayfs whose lower layer is the host tree shows the same files through
 * inodes of its own superblock, one per sandbox: a socket there has no listener
 * (ECONNREFUSED), a watch there sees only this sandbox's own accesses, a lock there
 * conflicts only within this sandbox. Reads go through to the host file; the cost is an
 * overlay per tree on the cold path (about 40 µs here) and nothing per call. */
#pragma once

#include <stdbool.h>

#include "common/error.h"

/* A read-only, nosuid, nodev overlay whose lower layers are tree (a detached mount fd,
 * e.g. from open_tree(OPEN_TREE_CLONE), possibly idmapped) and empty (an empty directory:
 * overlayfs needs two lower layers when it has no upper one). Borrows both fds
 * (the overlay keeps its own references). Returns a detached mount fd or a negative
 * errno (-EINVAL when overlayfs refuses the tree, e.g. procfs or sysfs). */
int cit_fsm_overlay(int tree, int empty, struct cit_error *err);

/* The sandbox's /dev: a fresh, read-only tmpfs of its own holding the device nodes null,
 * zero, full, random and urandom, the links fd, stdin, stdout, stderr and shm (-> /tmp),
 * and an empty pts directory (where a devpts instance goes when there is a terminal; it
 * is also the empty layer every overlay of the sandbox's takes: an overlay sees the
 * directory, never what is mounted on it); with_tty adds tty (the opener's controlling
 * terminal: inside, only ever a pseudo-terminal of the sandbox's own devpts) and the link
 * ptmx (-> pts/ptmx). Its inodes are the sandbox's alone: a watch or
 * a lock on /dev/null sees and blocks nobody outside. Returns a detached mount fd or a
 * negative errno. */
int cit_fsm_devfs(bool with_tty, struct cit_error *err);

/* A writable, nosuid, nodev tmpfs of at most size bytes (a tmpfs size string: "8m") and
 * inodes inodes, mode 0755, for the supervisor to fill before it hands parts of it to a
 * sandbox. Returns a detached mount fd or a negative errno. */
int cit_fsm_tmpfs(const char *size, const char *inodes, struct cit_error *err);
