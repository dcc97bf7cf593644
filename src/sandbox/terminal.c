#include "sandbox/terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/util.h"

/* Whether the terminal is ours to read and to set: we are in its foreground process
 * group, or it is not our controlling terminal (ENOTTY), where no job control applies. */
static bool foreground(const struct cit_terminal *t)
{
	int fd = t->in >= 0 ? t->in : t->size_from;
	if (fd < 0)
		return false;
	pid_t fg = tcgetpgrp(fd);
	return fg == getpgrp() || (fg < 0 && errno == ENOTTY);
}

void cit_terminal_init(struct cit_terminal *t)
{
	*t = CIT_TERMINAL_NONE;
	for (int fd = 2; fd >= 0; fd--) {
		if (isatty(fd)) {
			t->ttys |= 1U << fd;
			t->size_from = fd;
		}
	}
	t->in = t->ttys & 1U ? 0 : -1;
	t->out = !(t->ttys & 2U) && (t->ttys & 4U) ? 2 : 1;
	t->fg = foreground(t);
}

int cit_terminal_attach(struct cit_terminal *t, int master, struct cit_error *err)
{
	unsigned n;
	if (ioctl(master, TIOCGPTN, &n) < 0) {
		close(master);
		return cit_error_set(err, -EPROTO, "the sandbox's terminal is not a pty master");
	}
	t->master = master;
	/* The caller's modes (erase and interrupt characters...), as sudo and script(1) give
	 * theirs, when the run is in the foreground; in the background the terminal's modes
	 * are its shell's (readline's, say), and the kernel's defaults are what the user has.
	 * termios calls on a master act on its pty. */
	struct termios tio;
	if ((!t->fg || tcgetattr(t->size_from, &tio) < 0) && tcgetattr(master, &tio) < 0)
		return cit_error_set(err, -errno, "reading the pty's modes");
	if (t->in < 0)
		tio.c_lflag &= ~(tcflag_t)ECHO;
	if (tcsetattr(master, TCSANOW, &tio) < 0)
		return cit_error_set(err, -errno, "setting the pty's modes");
	if (fcntl(master, F_SETFL, O_NONBLOCK) < 0)
		return cit_error_set(err, -errno, "making the pty non-blocking");
	cit_terminal_resume(t);
	return 0;
}

void cit_terminal_resize(struct cit_terminal *t)
{
	struct winsize ws;
	if (t->master >= 0 && t->size_from >= 0 && ioctl(t->size_from, TIOCGWINSZ, &ws) == 0)
		ioctl(t->master, TIOCSWINSZ, &ws);
}

void cit_terminal_resume(struct cit_terminal *t)
{
	t->fg = foreground(t);
	cit_terminal_resize(t);
	if (t->master < 0 || t->in < 0 || t->raw || !t->fg || tcgetattr(t->in, &t->saved) < 0)
		return;
	struct termios raw = t->saved;
	cfmakeraw(&raw);
	t->raw = tcsetattr(t->in, TCSADRAIN, &raw) == 0;
}

void cit_terminal_restore(struct cit_terminal *t)
{
	if (!t->raw)
		return;
	/* Should the shell have taken the terminal meanwhile, the modes go back all the same:
	 * with SIGTTOU blocked the kernel lets a background process set them. */
	sigset_t ttou, old;
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	tcsetattr(t->in, TCSADRAIN, &t->saved);
	sigprocmask(SIG_SETMASK, &old, NULL);
	t->raw = false;
}

char cit_terminal_eof_char(const struct cit_terminal *t)
{
	struct termios tio;
	return t->master >= 0 && tcgetattr(t->master, &tio) == 0 ? (char)tio.c_cc[VEOF] : 4;
}

void cit_terminal_close(struct cit_terminal *t)
{
	cit_terminal_restore(t);
	if (t->master >= 0)
		close(steal_fd(&t->master));
}
