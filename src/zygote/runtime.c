/* citadel-zygote: the native runtime's zygote, then the function's template (runtime.h).
 *
 * The monitor starts it in a fresh sandbox with its channel as fd 0 and the function's log
 * pipe as stdout and stderr. It says ZYGOTE_READY, waits for LOAD (the function's spec
 * and code, as a sealed memfd), loads the code and runs cit_init in the sandbox it is
 * already in, says LOADED, and from then on only forks a trustlet per SPAWN and reports
 * the ones that end (EXITED). It exits when its channel closes. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "zygote/runtime.h"

#define CHAN 0

static int reply(uint16_t type, int code, const char *text)
{
	struct cit_body b = { .code = code, .aux = (uint64_t)getpid() };
	snprintf(b.text, sizeof(b.text), "%s", text);
	return cit_proto_send(CHAN, type, 0, &b, sizeof(b), NULL, 0, NULL, 0);
}

/* Opens what a trustlet's landlock layer will allow: every top-level entry of the view
 * read-only, except /tmp (where only its own directory is granted) and /dev. */
static int open_view(struct cit_runtime *rt, struct cit_error *err)
{
	DIR *d = opendir("/");
	if (!d)
		return cit_error_set(err, -errno, "reading the view's root");
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "tmp") ||
		    !strcmp(e->d_name, "dev"))
			continue;
		if (rt->n_ro == ARRAY_SIZE(rt->ro))
			break;
		int fd = openat(dirfd(d), e->d_name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			rt->ro[rt->n_ro++] = fd;
	}
	closedir(d);
	rt->dev = open("/dev", O_PATH | O_CLOEXEC | O_DIRECTORY);
	return rt->dev < 0 ? cit_error_set(err, -errno, "opening /dev") : 0;
}

/* LOAD: the function's environment, code and init, in this process. */
static int load(struct cit_runtime *rt, struct cit_rx *rx, struct cit_error *err)
{
	const struct cit_fn_spec *spec = rx->spec;
	snprintf(rt->name, sizeof(rt->name), "%s", spec->name);
	rt->output_bytes = spec->output_bytes;
	for (size_t i = 0; rx->env[i]; i++)
		if (putenv((char *)rx->env[i]) < 0) /* rx's buffer lives on: rt->buf is never reused for LOAD */
			return cit_error_set(err, -errno, "setting the environment");
	int rc = open_view(rt, err);
	if (rc < 0)
		return rc;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", rx->fds[0]);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return cit_error_set(err, -ENOEXEC, "loading the function: %s", dlerror());
	close(steal_fd(&rx->fds[0]));
	const int *abi = dlsym(h, "cit_function_abi");
	if (!abi || *abi != CIT_FUNCTION_ABI)
		return cit_error_set(err, -ENOEXEC, "the function was not built with citadel/function.h ABI %d",
				     CIT_FUNCTION_ABI);
	rt->handler = (int (*)(const struct cit_request *, struct cit_response *))dlsym(h, "cit_handler");
	if (!rt->handler)
		return cit_error_set(err, -ENOEXEC, "the function defines no cit_handler");
	int (*init)(void) = (int (*)(void))dlsym(h, "cit_init");
	if (init && (rc = init()) < 0) {
		const char *m = cit_runtime_init_message();
		return cit_error_set(err, rc < -4095 ? -EINVAL : rc, "cit_init failed%s%s", *m ? ": " : "", m);
	}
	return 0;
}

/* Removes a dead trustlet's private directory, /tmp/i<pid>, and all beneath it. */
static void remove_tree(int dirfd_, const char *name)
{
	int fd = openat(dirfd_, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		for (struct dirent *e; d && (e = readdir(d));) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (unlinkat(fd, e->d_name, 0) < 0 && errno == EISDIR)
				remove_tree(fd, e->d_name);
		}
		if (d)
			closedir(d);
		else
			close(fd);
	}
	unlinkat(dirfd_, name, AT_REMOVEDIR);
}

static void reap(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		char dir[32];
		snprintf(dir, sizeof(dir), "i%d", pid);
		remove_tree(AT_FDCWD, dir);
		struct cit_body b = { .code = st, .aux = (uint64_t)pid };
		cit_proto_send(CHAN, CIT_MSG_EXITED, 0, &b, sizeof(b), NULL, 0, NULL, 0);
	}
}

/* The template's life after LOAD: fork on SPAWN, reap and report. */
static _Noreturn void serve(struct cit_runtime *rt)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		_exit(1);
	for (;;) {
		struct pollfd p[2] = { { .fd = CHAN, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			reap();
		}
		if (!p[0].revents)
			continue;
		struct cit_rx rx;
		struct cit_error err = { 0 };
		int rc = cit_proto_recv(CHAN, rt->buf, &rx, &err);
		if (rc == -EAGAIN)
			continue;
		if (rc <= 0)
			_exit(rc == 0 ? 0 : 1); /* the monitor is gone, or speaks nonsense */
		if (rx.hdr.type != CIT_MSG_SPAWN) {
			cit_rx_close(&rx);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(sfd);
			sigprocmask(SIG_UNBLOCK, &chld, NULL);
			cit_trustlet_main(rt, steal_fd(&rx.fds[0]));
		}
		/* A failed fork closes the trustlet's channel here: the monitor sees it hang up. */
		cit_rx_close(&rx);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct cit_runtime rt = { .dev = -1 };
	static _Alignas(16) char buf[CIT_MSG_MAX];
	rt.buf = buf;
	if (chdir("/tmp") < 0 || reply(CIT_MSG_ZYGOTE_READY, 0, "") < 0)
		return 1;
	struct cit_rx rx;
	struct cit_error err = { 0 };
	/* LOAD arrives in a buffer of its own: the environment points into it for good. */
	static _Alignas(16) char load_buf[CIT_MSG_MAX];
	int rc = cit_proto_recv_wait(CHAN, load_buf, &rx, &err);
	if (rc <= 0 || rx.hdr.type != CIT_MSG_LOAD)
		return 1;
	rc = load(&rt, &rx, &err);
	cit_rx_close(&rx);
	if (reply(CIT_MSG_LOADED, rc, rc < 0 ? err.msg : "") < 0 || rc < 0)
		return 1;
	serve(&rt);
}
