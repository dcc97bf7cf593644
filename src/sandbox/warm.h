/* Warm sandboxes: single-use sandboxes made ahead of time, so that a run starts in about
 * the time of a fork and an exec instead of the milliseconds that making namespaces,
 * a filesystem view and cgroups takes.
 *
 * A warm sandbox is an init that has done every step of a direct run's init (its own
 * namespaces, cgroups, view, rlimits, no capabilities, landlock, seccomp) and waits on a
 * unix socket under CIT_WARM_DIR for one run. A run claims one by renaming its socket
 * (atomic: one winner), connects, and sends argv, environment, cwd and its three stdio
 * fds; init forks the program and reports its status, exactly as in a direct run. No
 * sandbox serves two runs: isolation between runs is the same as without the pool.
 *
 * A pool holds sandboxes made by one executable from one text: the configuration
 * (cit_sandbox_config_write: the view, its binds and the identity of each bind's source,
 * the limits; the timeout and the output limit are the supervisor's, and env and cwd
 * come with the run) and the context of the process that makes them (context.h:
 * credentials, namespaces, cgroups, scheduling, ... everything a sandbox inherits from
 * its maker). A run claims from a pool only when its own text is the pool's byte for
 * byte, and only a sandbox made with the mounts of the moment (the keeper's mark of the
 * mount table: see cit_warm_claim). Then its warm sandbox is what it would have made
 * itself. A run whose context cannot be written down (a seccomp filter, ...) starts
 * cold, as does one in a landlock domain or with a terminal. At most CIT_WARM_POOLS pools
 * per executable are kept, and a new one makes the least recently used one retire.
 *
 * Each pool has a keeper: a process started after the first run of its text that
 * succeeded, which makes CIT_WARM_TARGET sandboxes, is their parent, makes a new one as
 * soon as one is claimed, and after a run reaps its init, removes its cgroups and drops
 * the last references to its namespaces (so that their teardown happens in the keeper,
 * not in the run). At a change of the mount table it rechecks the mounts of its parked
 * sandboxes (mountdeps.h) and replaces those made with others. Its own context must be
 * the pool's, which it checks at start and whenever it makes a sandbox: when it no
 * longer is (or a bind source was replaced), the pool is obsolete and retires. A keeper
 * with no run for CIT_WARM_IDLE_S, sent SIGTERM, or unable to make a sandbox
 * CIT_WARM_MAX_FAILS times in a row (then it says why to syslog) ends its unclaimed
 * sandboxes and itself, and removes its pool's directory. The directory is root's. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "sandbox/config.h"
#include "sandbox/supervise.h"

#define CIT_WARM_DIR "/run/citadel/warm"
#define CIT_WARM_TARGET 2
#define CIT_WARM_IDLE_S 300

#define CIT_WARM_POOLS 8
#define CIT_WARM_MAX_FAILS 3
#define CIT_WARM_CONFIG_MAX (64 * 1024)

/* A pool: where it is, and the text its sandboxes are made of. */
struct cit_warm_pool {
	char dir[PATH_MAX];
	char config[CIT_WARM_CONFIG_MAX];   /* the configuration (cit_sandbox_config_write),
					     * then the context (cit_context_write) */
	size_t cfg_len;                     /* the configuration's part of config */
	size_t len;
};

/* Whether a run of cfg from this process may use a pool, and which (filled into pool):
 * false when CITADEL_WARM=0, not root, a terminal is attached, cfg cannot be written
 * down (a missing bind source, a path with a tab or a newline, too many binds), or this
 * process's context cannot (context.h: a seccomp filter, ...). Costs what
 * cit_context_write() does (docs/sandbox.md gives the time). */
bool cit_warm_pool_for(const struct cit_sandbox_config *cfg, struct cit_warm_pool *pool);

/* Claims a warm sandbox from pool for cfg and hands it the command. On success (0) sv
 * supervises it like a direct run's. Only a sandbox made since the last change of the
 * mount table serves (or one its keeper rechecked since), and only a run in no landlock
 * domain (both checked through the keeper: see mounts_as_made in warm.c). Returns -ENOENT when none is ready (or the pool is of
 * another text); any other failure also leaves nothing running, and the caller makes a
 * sandbox directly. */
int cit_warm_claim(const struct cit_warm_pool *pool, const struct cit_sandbox_config *cfg, char *const argv[],
		   const int stdio[3], struct cit_supervisor *sv, struct cit_error *err);

/* Makes sure pool has a keeper, starting one (detached) when it has none; when
 * CIT_WARM_POOLS pools of this executable are kept already, the least recently used one
 * retires. Call it only after a run of pool's text whose sandbox was made (its setup
 * succeeded): a keeper of a text that fails would only fail. Costs an open and a flock
 * when the keeper runs. Best effort: without a keeper, runs start cold. */
void cit_warm_keep(const struct cit_warm_pool *pool);

/* The hidden command a keeper execs itself as (`citadel __keeper`). */
#define CIT_WARM_KEEPER_CMD "__keeper"

/* The keeper: runs until it retires. Returns an exit status when it cannot start, or
 * when another keeper already keeps the pool. */
int cit_warm_keeper_main(void);
