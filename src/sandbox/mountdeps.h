/* The mounts a sandbox's view rests on, written down, so that a sandbox made ahead of
 * time (warm.h) only serves a run whose view would be made of the very same mounts.
 *
 * A view is made of clones and overlays of host trees taken when its sandbox is made
 * (mount.h): a mount that comes or goes at or below one of them afterwards is not in a
 * sandbox made before, and a mount that is gone may still be shown by one. So the text
 * names, for every tree the view shows (the host's system directories or --root, and
 * each bind's source), every mount at, above or below it: its line of
 * /proc/self/mountinfo (options and propagation included) and the id of the mount now
 * at its mount point. That id is the 64-bit one the kernel never reuses
 * (statx STATX_MNT_ID_UNIQUE, Linux 6.8); an older kernel only has the 32-bit id that
 * mountinfo shows, which a later mount may take again (see docs/sandbox.md). The
 * caller's root directory is part of it too. */
#pragma once

#include <stddef.h>

#include "sandbox/config.h"

/* Writes down the mounts cfg's view would be made of now, one per line (into out, cap
 * bytes, NUL-terminated). Equal texts mean the same mounts with the same options, in the
 * same places. Returns the length, -E2BIG when it does not fit (a view of most of the
 * mount table, such as a bind of "/"), or a negative errno when the mount table or a
 * source cannot be read. Either way the caller can only go without a warm sandbox. */
int cit_fs_mounts_write(const struct cit_sandbox_config *cfg, char *out, size_t cap);
