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
#include "sandbox/terminal.h"

/* The caller's stdin on its way to the program: into the pty, or into a pipe when stdin
 * is a terminal the program must not get (-T). A chunk is read only once the previous
 * one is written, so a program that does not read stalls its input, never the loop. */
struct cit_input {
	bool open;            /* stdin is read: it is relayed and has not ended */
	int pipe_w;           /* owned; the program's stdin pipe, -1 when input goes to the pty */
	char buf[4096];
	size_t off, len;      /* buf[off, len) is still to be written */
	bool at_line_start;   /* the last byte written ended a line (or none was written) */
	/* A regular file on stdin is read at pos (pread: its offset stays), and at the end its
	 * offset moves by what the program read, as if it had read the file itself. */
	bool seekable;
	off_t start, pos;
	int peek;             /* owned; the program's end of the pipe, to count what is unread */
};

struct cit_supervisor {
	const struct cit_sandbox_config *cfg;  /* borrowed */
	pid_t pid;            /* the sandbox's init */
	bool child;           /* init is our child (direct run); a warm init is not */
	int pidfd;            /* owned; the only handle used to signal init */
	int sync;             /* owned; our end of the socketpair */
	int out_r, err_r;     /* owned; read ends of the relay pipes, -1 when not relaying */
	struct cit_input in;  /* stdin, when relayed */
	struct cit_terminal term; /* the caller's terminal; the sandbox's pty (term.master) */
	bool stopped;         /* the program stopped and we with it: continue it when we are */
	int sigfd;            /* owned; signalfd for the signals we forward or act on */
	sigset_t old_mask;    /* restored on close */
	bool mask_saved;
	struct cit_cgroup cg; /* destroyed on close when owned (a warm sandbox's: its keeper's) */
	bool cg_owned;
	uint64_t relayed;     /* bytes of output written so far */
	int output_error;     /* why our stdout or stderr refused the program's output, or 0 */
	int output_fd;        /* which: 1 or 2 */
};

void cit_supervisor_init(struct cit_supervisor *sv, const struct cit_sandbox_config *cfg);

/* Decides what the program's stdin, stdout and stderr are. With a pty (pty true), each
 * whose counterpart of ours is a terminal is the pty, and so is stdin with -t
 * (CIT_TERMINAL_ALWAYS; then it is relayed into the pty): their bit is set in *tty_fds
 * and stdio[i] is -1. Otherwise stdio[i] is a pipe relayed by the supervisor (stdout
 * and stderr when an output limit is set; any fd of ours that is a terminal), owned by
 * the caller, who closes its copy once the sandbox has it; or our own fd i, passed
 * through, never a terminal. */
int cit_supervisor_open_stdio(struct cit_supervisor *sv, bool pty, int stdio[3], unsigned *tty_fds,
			      struct cit_error *err);

/* For a run with a pty: receives the master from init (or init's account of a failed
 * step), sets its size and modes, puts our terminal in raw mode, and lets init start the
 * program. */
int cit_supervisor_take_terminal(struct cit_supervisor *sv, struct cit_error *err);

/* Blocks the forwarded signals, and SIGTSTP and SIGCONT, and opens a signalfd for them. */
int cit_supervisor_block_signals(struct cit_supervisor *sv, struct cit_error *err);

/* When init has reported a failed step, replaces err with its message. */
void cit_supervisor_read_setup_error(struct cit_supervisor *sv, struct cit_error *err);

/* Runs until the sandbox is gone; fills res. Returns 0, or a negative errno when a step
 * inside the sandbox failed (err names it). */
int cit_supervise(struct cit_supervisor *sv, struct cit_run_result *res, struct cit_error *err);

/* Releases everything the supervisor owns, removing the cgroups; gives the caller's
 * terminal its modes back. */
void cit_supervisor_close(struct cit_supervisor *sv);
