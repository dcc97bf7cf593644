#include "sandbox/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "sandbox/launch.h"
#include "sandbox/sync.h"

#define RELAY_CHUNK 65536
/* How often socket buffers are checked on cgroup v1 (cit_cgroup_sockets_over). A run that
 * ends sooner is never checked. */
#define SOCKET_CHECK_MS 10
/* A run in the background of its terminal does not read it (that would stop us with
 * SIGTTIN) and looks this often whether it is back in the foreground: a shell's `fg` of
 * a job that is running sends it no signal. */
#define BACKGROUND_RECHECK_MS 250

/* Forwarded to the program, except what on_signal() acts on itself: SIGCONT, SIGWINCH
 * with a pty, and the keys of our terminal with a pty. */
static const int caught_signals[] = { SIGHUP, SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,
				      SIGUSR2, SIGWINCH, SIGTSTP, SIGCONT };

void cit_supervisor_init(struct cit_supervisor *sv, const struct cit_sandbox_config *cfg)
{
	memset(sv, 0, sizeof(*sv));
	sv->cfg = cfg;
	sv->pidfd = sv->sync = sv->out_r = sv->err_r = sv->sigfd = sv->in.pipe_w = sv->in.peek = -1;
	sv->in.at_line_start = true;
	sv->term = CIT_TERMINAL_NONE;
	sv->child = sv->cg_owned = true;
}

static int relay_pipe(int *r, int *w, struct cit_error *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cit_error_set(err, -errno, "relay pipe");
	*r = p[0];
	*w = p[1];
	return 0;
}

/* Whether fd is a file of a filesystem (a regular file, a device such as /dev/null, a
 * named FIFO), rather than a pipe or a socket: handed over, the program would hold the
 * host's own inode, whose locks block host processes and whose watches report every host
 * process's use of it. Such stdio is relayed through a pipe instead. */
static bool host_inode(int fd)
{
	struct stat st;
	struct statfs sf;
	if (fstat(fd, &st) < 0 || S_ISSOCK(st.st_mode))
		return false;
	return !S_ISFIFO(st.st_mode) || (fstatfs(fd, &sf) == 0 && sf.f_type != PIPEFS_MAGIC);
}

int cit_supervisor_open_stdio(struct cit_supervisor *sv, bool pty, int stdio[3], unsigned *tty_fds,
			      struct cit_error *err)
{
	cit_terminal_init(&sv->term);
	int *relay_r[3] = { NULL, &sv->out_r, &sv->err_r };
	int rc = 0;
	*tty_fds = 0;
	for (int i = 0; i < 3; i++)
		stdio[i] = i;
	for (int i = 0; i < 3 && rc == 0; i++) {
		bool term = sv->term.ttys & (1U << i);
		/* A stdin that is no terminal goes into the pty only when asked for (-t): a
		 * line discipline would mangle piped data (^C bytes, CR, long lines). */
		if (pty && (term || (i == 0 && sv->cfg->terminal == CIT_TERMINAL_ALWAYS))) {
			*tty_fds |= 1U << i;
			stdio[i] = -1;
		} else if (i == 0 && (term || host_inode(0))) {
			rc = relay_pipe(&stdio[0], &sv->in.pipe_w, err);
		} else if (i > 0 && (term || sv->cfg->output_bytes || host_inode(i))) {
			rc = relay_pipe(relay_r[i], &stdio[i], err);
		}
	}
	if (rc == 0 && sv->in.pipe_w >= 0 && fcntl(sv->in.pipe_w, F_SETFL, O_NONBLOCK) < 0)
		rc = cit_error_set(err, -errno, "relay pipe");
	struct stat st;
	if (rc == 0 && sv->in.pipe_w >= 0 && fstat(0, &st) == 0 && S_ISREG(st.st_mode) &&
	    (sv->in.start = lseek(0, 0, SEEK_CUR)) >= 0) {
		sv->in.seekable = true;
		sv->in.pos = sv->in.start;
		if ((sv->in.peek = fcntl(stdio[0], F_DUPFD_CLOEXEC, 3)) < 0)
			rc = cit_error_set(err, -errno, "relay pipe");
	}
	sv->in.open = (*tty_fds & 1U) || sv->in.pipe_w >= 0;
	return rc;
}

int cit_supervisor_block_signals(struct cit_supervisor *sv, struct cit_error *err)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < ARRAY_SIZE(caught_signals); i++)
		sigaddset(&set, caught_signals[i]);
	if (sigprocmask(SIG_BLOCK, &set, &sv->old_mask) < 0)
		return cit_error_set(err, -errno, "blocking signals");
	sv->mask_saved = true;
	sv->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sv->sigfd < 0)
		return cit_error_set(err, -errno, "signalfd");
	return 0;
}

/* A code from the sandbox is believed only if it is a negative errno value. */
static int errno_code(int32_t code)
{
	return code < 0 && code > -4096 ? code : -EIO;
}

/* Reads one message; returns its type, 0 on EOF or when nothing is waiting, or -EPROTO
 * for a message of the wrong size or version (dropped: the sandbox is not trusted). The
 * fd of a TERMINAL message goes to *passed (-1 when none came); any other fd is closed. */
static int read_msg(int fd, struct cit_sync_msg *m, int flags, int *passed)
{
	ssize_t n;
	int fd_came = -1;
	size_t n_fds = 0;
	if (passed)
		*passed = -1;
	/* ECONNRESET is reported once when init exits with a message of ours unread (it may
	 * have failed before PLACED arrived); what it sent before exiting is still queued. */
	do
		n = cit_recv_msg(fd, m, sizeof(*m), flags, &fd_came, 1, &n_fds);
	while (n == -ECONNRESET);
	bool ok = n == (ssize_t)sizeof(*m) && m->version == CIT_SYNC_VERSION;
	if (n_fds && passed && ok && m->type == CIT_SYNC_TERMINAL)
		*passed = fd_came;
	else if (n_fds)
		close(fd_came);
	if (n <= 0)
		return 0;
	if (!ok)
		return -EPROTO;
	m->text[sizeof(m->text) - 1] = '\0';
	return (int)m->type;
}

static int setup_error(const struct cit_sync_msg *m, struct cit_error *err)
{
	snprintf(err->msg, sizeof(err->msg), "%s", m->text);
	err->code = errno_code(m->code);
	return err->code;
}

void cit_supervisor_read_setup_error(struct cit_supervisor *sv, struct cit_error *err)
{
	struct cit_sync_msg m;
	if (read_msg(sv->sync, &m, MSG_DONTWAIT, NULL) == CIT_SYNC_SETUP_ERROR)
		setup_error(&m, err);
}

int cit_supervisor_take_terminal(struct cit_supervisor *sv, struct cit_error *err)
{
	struct cit_sync_msg m;
	int master;
	int type = read_msg(sv->sync, &m, 0, &master);
	if (type == CIT_SYNC_SETUP_ERROR)
		return setup_error(&m, err);
	if (type == 0)
		return cit_error_set(err, -EPIPE, "the sandbox's first process died during setup");
	if (type != CIT_SYNC_TERMINAL || master < 0) {
		if (master >= 0)
			close(master);
		return cit_error_set(err, -EPROTO, "the sandbox sent no terminal");
	}
	int rc = cit_terminal_attach(&sv->term, master, err);
	if (rc < 0)
		return rc;
	return cit_sync_send(sv->sync, CIT_SYNC_TERMINAL_SET, 0, NULL);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What ended the run, as seen from outside. */
struct outcome {
	bool init_done;
	siginfo_t init;          /* init's exit */
	bool have_status;
	int program_status;      /* wait status reported by init */
	enum cit_run_cause killed_for; /* CIT_RUN_TIMEOUT / CIT_RUN_OUTPUT_LIMIT, or 0 */
	int setup_code;
	char setup_text[CIT_ERROR_MSG_MAX];
	int exec_code;
	char exec_text[CIT_ERROR_MSG_MAX];
};

static void kill_sandbox(struct cit_supervisor *sv)
{
	syscall(SYS_pidfd_send_signal, sv->pidfd, SIGKILL, NULL, 0);
}

/* Copies one chunk of what the sandbox wrote (a pipe, or its pty) to our fd `to`, within
 * the output limit. Returns whether a chunk came; at the end (EOF, or EIO from a pty with
 * no other end left) *fd is closed. */
static bool relay(struct cit_supervisor *sv, int *fd, int to, struct outcome *o)
{
	char buf[RELAY_CHUNK];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (n <= 0) {
		close(steal_fd(fd));
		return false;
	}
	uint64_t limit = sv->cfg->output_bytes;
	uint64_t room = !limit ? (uint64_t)n : sv->relayed < limit ? limit - sv->relayed : 0;
	size_t give = (uint64_t)n > room ? (size_t)room : (size_t)n;
	sv->relayed += (uint64_t)n;
	int rc = give && o->killed_for != CIT_RUN_OUTPUT_LIMIT ? cit_write_all(to, buf, give) : 0;
	if (rc < 0) {
		/* Our reader went away (EPIPE), or our output refuses more (a full disk, a
		 * closed fd): the sandbox sees EPIPE, as it would from a pipe whose reader left;
		 * anything but EPIPE is ours to report. */
		if (rc != -EPIPE && !sv->output_error) {
			sv->output_error = rc;
			sv->output_fd = to;
		}
		close(steal_fd(fd));
		return true;
	}
	if ((uint64_t)n > room && !o->killed_for) {
		o->killed_for = CIT_RUN_OUTPUT_LIMIT;
		kill_sandbox(sv);
	}
	return true;
}

/* ---- our stdin, into the pty or the program's stdin pipe ---------------------------- */

static void input_stop(struct cit_input *in)
{
	in->open = false;
	in->off = in->len = 0;
	if (in->pipe_w >= 0)
		close(steal_fd(&in->pipe_w));
}

/* The run is over: a regular file on stdin is left where the program stopped reading it
 * (what we read ahead, still in our buffer or the pipe, is given back). */
static void input_end(struct cit_input *in)
{
	if (in->seekable) {
		int in_pipe = 0;
		if (in->peek < 0 || ioctl(in->peek, FIONREAD, &in_pipe) < 0)
			in_pipe = 0;
		off_t unread = (off_t)(in->len - in->off) + in_pipe;
		lseek(0, in->pos - unread >= in->start ? in->pos - unread : in->start, SEEK_SET);
		in->seekable = false;
	}
	if (in->peek >= 0)
		close(steal_fd(&in->peek));
	input_stop(in);
}

/* Reads a chunk of stdin. At its end a pipe is closed; a pty gets its end-of-file
 * character, as from script(1): twice after a partial line, whose first only ends it. */
static void input_read(struct cit_supervisor *sv)
{
	struct cit_input *in = &sv->in;
	ssize_t n = in->seekable ? pread(0, in->buf, sizeof(in->buf), in->pos) : read(0, in->buf, sizeof(in->buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	in->off = 0;
	if (n > 0) {
		in->len = (size_t)n;
		in->pos += n;
		return;
	}
	if (in->pipe_w >= 0 || sv->term.master < 0) {
		input_stop(in);
		return;
	}
	in->open = false;
	in->buf[0] = in->buf[1] = cit_terminal_eof_char(&sv->term);
	in->len = in->at_line_start ? 1 : 2;
}

static void input_write(struct cit_supervisor *sv)
{
	struct cit_input *in = &sv->in;
	int to = in->pipe_w >= 0 ? in->pipe_w : sv->term.master;
	ssize_t n = to < 0 ? -1 : write(to, in->buf + in->off, in->len - in->off);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) { /* the program closed its stdin (EPIPE), or the pty is gone */
		input_stop(in);
		return;
	}
	in->off += (size_t)n;
	in->at_line_start = in->buf[in->off - 1] == '\n';
	if (in->off == in->len)
		in->off = in->len = 0;
}

/* ---- job control -------------------------------------------------------------------- */

/* Whether we have a controlling terminal: only then can a shell continue us. */
static bool have_ctty(void)
{
	int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* We were continued (fg, bg, or a SIGCONT): our terminal again, and the program too when
 * it stopped with us. */
static void resume(struct cit_supervisor *sv)
{
	cit_terminal_resume(&sv->term);
	if (sv->stopped && sv->sync >= 0)
		cit_sync_send(sv->sync, CIT_SYNC_CONTINUE, 0, NULL);
	sv->stopped = false;
}

/* The program stopped (^Z in its pty, a stop signal): we stop with it, as sudo does, so
 * that the caller's shell sees the job stopped and takes its terminal back, with its own
 * modes. SIGTSTP stays blocked but for the moment we stop; in an orphaned process group
 * the kernel discards it and we go on at once. Without a controlling terminal no shell
 * would continue us: the program stays stopped until a SIGCONT reaches us. */
static void suspend(struct cit_supervisor *sv)
{
	sv->stopped = true;
	if (!have_ctty())
		return;
	cit_terminal_restore(&sv->term);
	sigset_t tstp;
	sigemptyset(&tstp);
	sigaddset(&tstp, SIGTSTP);
	kill(getpid(), SIGTSTP);
	sigprocmask(SIG_UNBLOCK, &tstp, NULL);
	sigprocmask(SIG_BLOCK, &tstp, NULL);
	resume(sv);
}

/* ---- messages and signals ----------------------------------------------------------- */

static void on_msg(struct cit_supervisor *sv, struct outcome *o)
{
	struct cit_sync_msg m;
	int type = read_msg(sv->sync, &m, 0, NULL);
	if (type == 0) {
		close(steal_fd(&sv->sync));
		return;
	}
	switch (type) {
	case CIT_SYNC_SETUP_ERROR:
		if (!o->setup_code) {
			o->setup_code = errno_code(m.code);
			snprintf(o->setup_text, sizeof(o->setup_text), "%s", m.text);
		}
		break;
	case CIT_SYNC_EXEC_ERROR:
		o->exec_code = errno_code(m.code);
		snprintf(o->exec_text, sizeof(o->exec_text), "%s", m.text);
		break;
	case CIT_SYNC_EXIT:
		o->have_status = m.code >= 0;
		o->program_status = m.code;
		break;
	case CIT_SYNC_STOPPED:
		if (!o->killed_for)
			suspend(sv);
		break;
	default:
		break; /* unknown or malformed: ignored, never believed */
	}
}

static void on_signal(struct cit_supervisor *sv)
{
	struct signalfd_siginfo si;
	while (read(sv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;
		bool pty = sv->term.master >= 0;
		if (sig == SIGCONT) {
			resume(sv);
			continue;
		}
		if (sig == SIGWINCH && pty) {
			cit_terminal_resize(&sv->term); /* the kernel tells the pty's foreground job */
			continue;
		}
		/* A key of our terminal (SI_KERNEL: the kernel sent it) that stdin did not carry
		 * to the pty (it is not the terminal, or not in raw mode): it goes to the pty's
		 * foreground job, as if typed there. */
		if (pty && si.ssi_code == SI_KERNEL && (sig == SIGINT || sig == SIGQUIT || sig == SIGTSTP) &&
		    ioctl(sv->term.master, TIOCSIG, sig) == 0)
			continue;
		syscall(SYS_pidfd_send_signal, sv->pidfd, sig, NULL, 0);
	}
}

/* The sandbox's cgroups. A warm sandbox's are its keeper's: found by name when needed. */
static const struct cit_cgroup *sandbox_cgroup(struct cit_supervisor *sv)
{
	if (!sv->cg.version) {
		char name[64];
		snprintf(name, sizeof(name), "citadel-%d", sv->pid);
		cit_cgroup_open(&sv->cg, sv->cfg->cgroup_parent, name);
	}
	return &sv->cg;
}

/* Kills the sandbox when its socket buffers are past what its memory limit allows (see
 * cit_cgroup_sockets_over). Returns false when there is nothing to check (cgroup v2). */
static bool check_sockets(struct cit_supervisor *sv, struct outcome *o)
{
	int rc = cit_cgroup_sockets_over(sandbox_cgroup(sv), sv->cfg->memory_bytes);
	if (rc > 0) {
		o->killed_for = CIT_RUN_OUT_OF_MEMORY;
		kill_sandbox(sv);
	}
	return rc != -EOPNOTSUPP;
}

static void decide(struct cit_supervisor *sv, const struct outcome *o, struct cit_run_result *res)
{
	int sig = 0;
	if (sv->output_error && !o->killed_for) {
		res->cause = CIT_RUN_OUTPUT_FAILED;
		res->status = 125;
		snprintf(res->detail, sizeof(res->detail), "writing its %s: %s", sv->output_fd == 2 ? "stderr" : "stdout",
			 cit_strerror(sv->output_error));
		return;
	}
	if (o->killed_for) {
		static const int status[] = { [CIT_RUN_TIMEOUT] = 124, [CIT_RUN_OUTPUT_LIMIT] = 128 + SIGXFSZ,
					      [CIT_RUN_OUT_OF_MEMORY] = 128 + SIGKILL };
		res->cause = o->killed_for;
		res->status = status[o->killed_for];
		return;
	}
	if (o->exec_code) {
		res->cause = CIT_RUN_EXEC_FAILED;
		res->status = o->exec_code == -ENOENT ? 127 : 126;
		snprintf(res->detail, sizeof(res->detail), "%s", o->exec_text);
		return;
	}
	if (o->have_status) {
		if (WIFEXITED(o->program_status)) {
			res->cause = CIT_RUN_EXITED;
			res->status = WEXITSTATUS(o->program_status);
			return;
		}
		sig = WTERMSIG(o->program_status);
	} else if (!sv->child) {
		sig = SIGKILL; /* a warm init died without a word: only a kill does that */
	} else if (o->init.si_code == CLD_EXITED) {
		res->cause = CIT_RUN_EXITED;
		res->status = o->init.si_status;
		return;
	} else {
		sig = o->init.si_status;
	}
	if (sig == SIGKILL && cit_cgroup_oom_killed(sandbox_cgroup(sv))) {
		res->cause = CIT_RUN_OUT_OF_MEMORY;
		res->status = 128 + SIGKILL;
		return;
	}
	res->cause = CIT_RUN_SIGNALED;
	res->signal = sig;
	res->status = 128 + sig;
}

/* Once init is gone every process of the sandbox is: what its pty still holds is read
 * (a bounded number of chunks: a slave fd smuggled out of the sandbox may still write),
 * and the pty closed. */
static void drain_pty(struct cit_supervisor *sv, struct outcome *o)
{
	for (int i = 0; i < 64 && relay(sv, &sv->term.master, sv->term.out, o); i++)
		;
	if (sv->term.master >= 0)
		close(steal_fd(&sv->term.master));
}

enum { P_INIT, P_SYNC, P_OUT, P_ERR, P_SIG, P_PTY, P_IN, P_IN_PIPE, P_COUNT };

int cit_supervise(struct cit_supervisor *sv, struct cit_run_result *res, struct cit_error *err)
{
	struct outcome o = { 0 };
	struct cit_input *in = &sv->in;
	uint64_t deadline = sv->cfg->timeout_ms ? now_ms() + sv->cfg->timeout_ms : 0;
	uint64_t next_check = now_ms() + SOCKET_CHECK_MS;
	bool sockets = true; /* whether socket buffers need checking */
	while (!o.init_done || sv->out_r >= 0 || sv->err_r >= 0 || sv->sync >= 0 || sv->term.master >= 0) {
		bool pending = in->off < in->len;
		/* A terminal is read only while we are in its foreground. */
		bool wait_fg = in->open && !pending && sv->term.in >= 0 && !sv->term.fg;
		bool read_in = in->open && !pending && !wait_fg;
		struct pollfd p[P_COUNT] = {
			[P_INIT] = { .fd = o.init_done ? -1 : sv->pidfd, .events = POLLIN },
			[P_SYNC] = { .fd = sv->sync, .events = POLLIN },
			[P_OUT] = { .fd = sv->out_r, .events = POLLIN },
			[P_ERR] = { .fd = sv->err_r, .events = POLLIN },
			[P_SIG] = { .fd = sv->sigfd, .events = POLLIN },
			[P_PTY] = { .fd = sv->term.master,
				    .events = POLLIN | (pending && in->pipe_w < 0 ? POLLOUT : 0) },
			[P_IN] = { .fd = read_in ? 0 : -1, .events = POLLIN },
			[P_IN_PIPE] = { .fd = pending ? in->pipe_w : -1, .events = POLLOUT },
		};
		int wait = wait_fg ? BACKGROUND_RECHECK_MS : -1;
		bool running = !o.killed_for && !o.init_done;
		uint64_t wake = sockets ? next_check : 0;
		if (deadline && (!wake || deadline < wake))
			wake = deadline;
		if (wake && running) {
			uint64_t now = now_ms(), left = now >= wake ? 0 : wake - now;
			if (wait < 0 || left < (uint64_t)wait)
				wait = (int)(left > 60000 ? 60000 : left);
		}
		int n = poll(p, ARRAY_SIZE(p), wait);
		if (n < 0 && errno != EINTR)
			return cit_error_set(err, -errno, "poll");
		uint64_t now = now_ms();
		if (deadline && running && now >= deadline) {
			o.killed_for = CIT_RUN_TIMEOUT;
			kill_sandbox(sv);
		}
		if (sockets && running && !o.killed_for && now >= next_check) {
			sockets = check_sockets(sv, &o);
			next_check = now + SOCKET_CHECK_MS;
		}
		if (wait_fg)
			cit_terminal_resume(&sv->term);
		if (n <= 0)
			continue;
		if (p[P_OUT].revents)
			relay(sv, &sv->out_r, 1, &o);
		if (p[P_ERR].revents)
			relay(sv, &sv->err_r, 2, &o);
		if (p[P_PTY].revents & (POLLIN | POLLHUP | POLLERR))
			relay(sv, &sv->term.master, sv->term.out, &o);
		if ((p[P_PTY].revents & POLLOUT) || p[P_IN_PIPE].revents)
			input_write(sv);
		if (p[P_IN].revents)
			input_read(sv);
		if (p[P_SYNC].revents)
			on_msg(sv, &o);
		if (p[P_SIG].revents)
			on_signal(sv);
		if (p[P_INIT].revents && !sv->child)
			o.init_done = true; /* not ours to reap; its pidfd says it is gone */
		else if (p[P_INIT].revents && waitid(P_PIDFD, (id_t)sv->pidfd, &o.init, WEXITED | WNOHANG) == 0 &&
			 o.init.si_pid)
			o.init_done = true;
		if (o.init_done) {
			input_end(in);
			drain_pty(sv, &o);
		}
	}
	if (o.setup_code && !o.exec_code) {
		snprintf(err->msg, sizeof(err->msg), "%s", o.setup_text);
		err->code = o.setup_code;
		return err->code;
	}
	decide(sv, &o, res);
	return 0;
}

void cit_supervisor_close(struct cit_supervisor *sv)
{
	cit_terminal_close(&sv->term);
	input_end(&sv->in);
	int *fds[] = { &sv->pidfd, &sv->sync, &sv->out_r, &sv->err_r, &sv->sigfd };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (*fds[i] >= 0)
			close(steal_fd(fds[i]));
	if (sv->cg_owned)
		cit_cgroup_destroy(&sv->cg);
	if (sv->mask_saved)
		sigprocmask(SIG_SETMASK, &sv->old_mask, NULL);
	sv->mask_saved = false;
}
