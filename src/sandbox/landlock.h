/* Landlock: a second, independent fence around the filesystem view, and (ABI 6+) a scope
 * that stops signals and abstract unix sockets from crossing the sandbox's boundary.
 *
 * The ruleset matches the mount table: read and execute beneath /, read and write beneath
 * /tmp, /dev and every --rw destination. It is applied after the view is in place, so the
 * paths are the sandbox's own. A kernel without landlock is an error, not a silent
 * downgrade (STYLE: a security step that fails is fatal). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "sandbox/config.h"

/* The landlock ABI version of the running kernel, or a negative errno. */
int cit_landlock_abi(void);

int cit_landlock_apply(const struct cit_sandbox_config *cfg, struct cit_error *err);

/* A path a trustlet's layer grants: an O_PATH fd, and whether it is a directory (known
 * ahead, so that a trustlet does not look again at every start). */
struct cit_landlock_path {
	int fd;
	bool dir;
};

/* A further layer for one trustlet (stacked on the sandbox's): read-only beneath each of
 * ro[0..n_ro), read-write on the device files below dev, read-write beneath own (its
 * private directory), and nothing else; signals and abstract unix sockets are scoped to
 * the layer, so sibling trustlets (each in a layer of its own) cannot reach one another.
 * The fds are borrowed. The landlock ABI is asked once per process (a trustlet has its
 * template's answer). */
int cit_landlock_confine(const struct cit_landlock_path *ro, size_t n_ro, int dev, int own, struct cit_error *err);
