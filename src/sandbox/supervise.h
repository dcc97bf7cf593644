/* The supervisor: the part of `citadel run` that stays outside the sandbox while it runs.
 * Internal to src/sandbox; the public entry point is cit_sandbox_run(). */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "sandbox/cgroup.h"
#include "sandbox/config.h"
#include "sandbox/sandbox.h"

struct cit_supervisor {
	const struct cit_sandbox_config *cfg;  /* borrowed */
	pid_t pid;            /* the sandbox's init */
	bool child;           /* init is our child (direct run); a warm init is not */
	int pidfd;            /* owned; the only handle used to signal init */
	int sync;             /* owned; our end of the socketpair */
	int out_r, err_r;     /* owned; read ends of the relay pipes, -1 when not relaying */
	int sigfd;            /* owned; signalfd for the signals we forward */
	sigset_t old_mask;    /* restored on close */
	bool mask_saved;
	struct cit_cgroup cg; /* destroyed on close when owned (a warm sandbox's: its keeper's) */
	bool cg_owned;
	uint64_t relayed;     /* bytes of output written so far */
};

void cit_supervisor_init(struct cit_supervisor *sv, const struct cit_sandbox_config *cfg);

/* Makes the relay pipes when an output limit is set; hands back their write ends
 * (owned by the caller), or -1 when the sandbox inherits stdout and stderr directly. */
int cit_supervisor_open_relay(struct cit_supervisor *sv, int *out_w, int *err_w, struct cit_error *err);

/* Blocks the forwarded signals and opens a signalfd for them. */
int cit_supervisor_block_signals(struct cit_supervisor *sv, struct cit_error *err);

/* When init has reported a failed step, replaces err with its message. */
void cit_supervisor_read_setup_error(struct cit_supervisor *sv, struct cit_error *err);

/* Runs until the sandbox is gone; fills res. Returns 0, or a negative errno when a step
 * inside the sandbox failed (err names it). */
int cit_supervise(struct cit_supervisor *sv, struct cit_run_result *res, struct cit_error *err);

/* Releases everything the supervisor owns, removing the cgroups. */
void cit_supervisor_close(struct cit_supervisor *sv);
