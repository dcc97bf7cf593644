#include "sandbox/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "sandbox/sync.h"

#define RELAY_CHUNK 65536

static const int forwarded_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH };

void cit_supervisor_init(struct cit_supervisor *sv, const struct cit_sandbox_config *cfg)
{
	memset(sv, 0, sizeof(*sv));
	sv->cfg = cfg;
	sv->pidfd = sv->sync = sv->out_r = sv->err_r = sv->sigfd = -1;
	sv->child = sv->cg_owned = true;
}

int cit_supervisor_open_relay(struct cit_supervisor *sv, int *out_w, int *err_w, struct cit_error *err)
{
	*out_w = *err_w = -1;
	if (!sv->cfg->output_bytes)
		return 0;
	int p[2], q[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cit_error_set(err, -errno, "output pipe");
	if (pipe2(q, O_CLOEXEC) < 0) {
		close(p[0]);
		close(p[1]);
		return cit_error_set(err, -errno, "output pipe");
	}
	sv->out_r = p[0];
	sv->err_r = q[0];
	*out_w = p[1];
	*err_w = q[1];
	return 0;
}

int cit_supervisor_block_signals(struct cit_supervisor *sv, struct cit_error *err)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++)
		sigaddset(&set, forwarded_signals[i]);
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
 * for a message of the wrong size or version (dropped: the sandbox is not trusted). */
static int read_msg(int fd, struct cit_sync_msg *m, int flags)
{
	ssize_t n;
	/* ECONNRESET is reported once when init exits with a message of ours unread (it may
	 * have failed before PLACED arrived); what it sent before exiting is still queued. */
	do
		n = recv(fd, m, sizeof(*m), flags);
	while (n < 0 && (errno == EINTR || errno == ECONNRESET));
	if (n <= 0)
		return 0;
	if (n != (ssize_t)sizeof(*m) || m->version != CIT_SYNC_VERSION)
		return -EPROTO;
	m->text[sizeof(m->text) - 1] = '\0';
	return (int)m->type;
}

void cit_supervisor_read_setup_error(struct cit_supervisor *sv, struct cit_error *err)
{
	struct cit_sync_msg m;
	if (read_msg(sv->sync, &m, MSG_DONTWAIT) == CIT_SYNC_SETUP_ERROR) {
		snprintf(err->msg, sizeof(err->msg), "%s", m.text);
		err->code = errno_code(m.code);
	}
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

/* Copies what the sandbox wrote to our own fd, within the output limit. */
static void relay(struct cit_supervisor *sv, int *fd, int to, struct outcome *o)
{
	char buf[RELAY_CHUNK];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(steal_fd(fd));
		return;
	}
	uint64_t room = sv->relayed < sv->cfg->output_bytes ? sv->cfg->output_bytes - sv->relayed : 0;
	size_t give = (uint64_t)n > room ? (size_t)room : (size_t)n;
	sv->relayed += (uint64_t)n;
	if (give && o->killed_for != CIT_RUN_OUTPUT_LIMIT && cit_write_all(to, buf, give) == -EPIPE) {
		/* Our reader went away: let the sandbox see EPIPE as it would without us. */
		close(steal_fd(fd));
		return;
	}
	if ((uint64_t)n > room && !o->killed_for) {
		o->killed_for = CIT_RUN_OUTPUT_LIMIT;
		kill_sandbox(sv);
	}
}

static void on_msg(struct cit_supervisor *sv, struct outcome *o)
{
	struct cit_sync_msg m;
	int type = read_msg(sv->sync, &m, 0);
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
	default:
		break; /* unknown or malformed: ignored, never believed */
	}
}

static void on_signal(struct cit_supervisor *sv)
{
	struct signalfd_siginfo si;
	while (read(sv->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		/* A terminal's ^C reaches the sandbox's processes directly (same process group). */
		if (si.ssi_code == SI_KERNEL)
			continue;
		syscall(SYS_pidfd_send_signal, sv->pidfd, (int)si.ssi_signo, NULL, 0);
	}
}

static void decide(struct cit_supervisor *sv, const struct outcome *o, struct cit_run_result *res)
{
	int sig = 0;
	if (o->killed_for) {
		res->cause = o->killed_for;
		res->status = o->killed_for == CIT_RUN_TIMEOUT ? 124 : 128 + SIGXFSZ;
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
	if (sig == SIGKILL && !sv->cg.version) {
		/* A warm sandbox's cgroups are its keeper's; found by name only when needed. */
		char name[64];
		snprintf(name, sizeof(name), "citadel-%d", sv->pid);
		cit_cgroup_open(&sv->cg, name);
	}
	if (sig == SIGKILL && cit_cgroup_oom_killed(&sv->cg)) {
		res->cause = CIT_RUN_OUT_OF_MEMORY;
		res->status = 128 + SIGKILL;
		return;
	}
	res->cause = CIT_RUN_SIGNALED;
	res->signal = sig;
	res->status = 128 + sig;
}

int cit_supervise(struct cit_supervisor *sv, struct cit_run_result *res, struct cit_error *err)
{
	struct outcome o = { 0 };
	uint64_t deadline = sv->cfg->timeout_ms ? now_ms() + sv->cfg->timeout_ms : 0;
	while (!o.init_done || sv->out_r >= 0 || sv->err_r >= 0 || sv->sync >= 0) {
		struct pollfd p[5] = {
			{ .fd = o.init_done ? -1 : sv->pidfd, .events = POLLIN },
			{ .fd = sv->sync, .events = POLLIN },
			{ .fd = sv->out_r, .events = POLLIN },
			{ .fd = sv->err_r, .events = POLLIN },
			{ .fd = sv->sigfd, .events = POLLIN },
		};
		int wait = -1;
		if (deadline && !o.killed_for && !o.init_done) {
			uint64_t now = now_ms();
			wait = now >= deadline ? 0 : (int)(deadline - now > 60000 ? 60000 : deadline - now);
		}
		int n = poll(p, ARRAY_SIZE(p), wait);
		if (n < 0 && errno != EINTR)
			return cit_error_set(err, -errno, "poll");
		if (deadline && !o.killed_for && !o.init_done && now_ms() >= deadline) {
			o.killed_for = CIT_RUN_TIMEOUT;
			kill_sandbox(sv);
		}
		if (n <= 0)
			continue;
		if (p[2].revents)
			relay(sv, &sv->out_r, 1, &o);
		if (p[3].revents)
			relay(sv, &sv->err_r, 2, &o);
		if (p[1].revents)
			on_msg(sv, &o);
		if (p[4].revents)
			on_signal(sv);
		if (p[0].revents && !sv->child)
			o.init_done = true; /* not ours to reap; its pidfd says it is gone */
		else if (p[0].revents && waitid(P_PIDFD, (id_t)sv->pidfd, &o.init, WEXITED | WNOHANG) == 0 &&
			 o.init.si_pid)
			o.init_done = true;
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
