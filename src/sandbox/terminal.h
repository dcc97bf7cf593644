/* The caller's terminal and the sandbox's own pty, from the supervisor's side.
 *
 * The program never gets the caller's terminal: it gets a pty made inside the sandbox
 * (init opens the sandbox's /dev/ptmx and hands the master over), and the supervisor
 * relays between the two, as sudo's use_pty and `su --pty` do. While the run is in the
 * foreground of the caller's terminal, a terminal on citadel's stdin is in raw mode, so
 * every key (^C, ^Z included) reaches the pty, whose own line discipline turns it into a
 * signal for the program's foreground job. The caller's modes are restored before citadel stops
 * with the program (^Z) and when the run ends. A citadel in the background of its
 * terminal never changes it. Internal to src/sandbox. */
#pragma once

#include <stdbool.h>
#include <termios.h>

#include "common/error.h"

struct cit_terminal {
	unsigned ttys;         /* bit i: our fd i (stdin, stdout, stderr) is a terminal */
	int master;            /* owned; the sandbox's pty master (non-blocking), -1: no pty */
	int in;                /* borrowed; stdin when it is a terminal, else -1 */
	int size_from;         /* borrowed; the first of stdin, stdout, stderr that is a
				* terminal (the pty takes its window size), else -1 */
	int out;               /* where the pty's output goes: stdout, or stderr when only
				* stderr is a terminal */
	bool fg;               /* in's (or size_from's) foreground process group is ours */
	bool raw;              /* in is in raw mode; saved is what it was */
	struct termios saved;
};

/* No terminal looked at, no pty. */
#define CIT_TERMINAL_NONE ((struct cit_terminal){ .master = -1, .in = -1, .size_from = -1, .out = 1 })

/* Looks at citadel's stdin, stdout and stderr. No pty yet; nothing is changed. */
void cit_terminal_init(struct cit_terminal *t);

/* Takes ownership of master (checked to be a pty master: -EPROTO otherwise), gives the
 * pty the caller's modes (without echo when stdin is not a terminal: its input is not
 * typed) and window size, and puts the caller's terminal in raw mode when the run is in
 * its foreground. */
int cit_terminal_attach(struct cit_terminal *t, int master, struct cit_error *err);

/* The caller's window size, again (SIGWINCH, continued). */
void cit_terminal_resize(struct cit_terminal *t);

/* After a stop, or at the start: checks the foreground again; if it is ours, raw mode
 * again. Idempotent. */
void cit_terminal_resume(struct cit_terminal *t);

/* Gives the caller's terminal back its own modes, when we changed them. Idempotent. */
void cit_terminal_restore(struct cit_terminal *t);

/* The pty's end-of-file character, which ends a relayed stdin (as script(1) does). */
char cit_terminal_eof_char(const struct cit_terminal *t);

/* Restores the caller's terminal and closes the pty. Idempotent. */
void cit_terminal_close(struct cit_terminal *t);
