/* The exec runtime: any Linux program is a function. The template opens the program (an
 * absolute path in the function's read-only view, or a path inside its bundle, shown at
 * CIT_BUNDLE_PATH, which is then the program's working directory) at LOAD and measures
 * its bytes; each
 * call is served by a fresh instance, which runs the program as a child: the request is
 * its stdin, its stdout until it exits is the response, its stderr goes to the function's
 * log. A non-zero exit or a signal fails the call, naming it. When the program exits,
 * whatever it left running is ended: the instance is a child subreaper, so the program's
 * orphans come to it, and it ends every process it finds it is the parent of. */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/openat2.h>
#include <unistd.h>

#include "common/util.h"
#include "zygote/runtime.h"

extern char **environ;

/* LOAD: the program opened and measured; its argv kept for the instances. */
static int exec_load(struct cit_runtime *rt, struct cit_rx *rx, uint8_t code_sha256[32], struct cit_error *err)
{
	/* An instance signals its program's processes with no pid check of its own: only its
	 * landlock layer (ABI 6, signal scoping) keeps its siblings and template out of reach. */
	if (cit_landlock_abi() < 6)
		return cit_error_set(err, -ENOTSUP, "the exec runtime needs landlock ABI 6 (signal scoping); this "
						   "kernel has %d", cit_landlock_abi());
	size_t n = 0;
	while (rx->args[n])
		n++;
	bool bundled = rx->spec->flags & CIT_FN_BUNDLE;
	if (n == 0 || (bundled ? !cit_bundle_path_ok(rx->args[0]) : rx->args[0][0] != '/'))
		return cit_error_set(err, -EINVAL, "no program to run");
	rt->argv = calloc(n + 1, sizeof(char *));
	if (!rt->argv)
		return cit_error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		rt->argv[i] = (char *)rx->args[i]; /* rx's buffer lives on (LOAD's own) */
	/* A bundle's program is found inside it and nowhere else: its links may not lead out. */
	if (bundled && (rt->bundle = open(CIT_BUNDLE_PATH, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return cit_error_set(err, -errno, "the bundle is not at " CIT_BUNDLE_PATH);
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, .resolve = RESOLVE_BENEATH };
	int fd = bundled ? (int)syscall(SYS_openat2, rt->bundle, rx->args[0], &how, sizeof(how))
			 : open(rx->args[0], (int)how.flags);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cit_error_say(err, -errno, bundled ? "the program is not in the bundle (%s)"
							  : "the program is not in the function's read-only view (%s)",
				     strerror(errno));
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return cit_error_say(err, -EACCES, "the program is not an executable file");
	/* The bytes measured are the bytes run: the instances execute this open file (an ELF
	 * program), or, for a script, its path, whose interpreter opens it by name (so that
	 * its $0 is its path); its interpreter must be in the view. */
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	static uint8_t chunk[1 << 16];
	char head[256];
	ssize_t hn = pread(fd, head, sizeof(head) - 1, 0);
	if (hn >= 2 && head[0] == '#' && head[1] == '!') {
		head[hn] = '\0';
		char *interp = head + 2 + strspn(head + 2, " \t");
		interp[strcspn(interp, " \t\n")] = '\0';
		struct stat ist;
		if (!*interp || stat(interp, &ist) < 0 || !S_ISREG(ist.st_mode) || !(ist.st_mode & 0111))
			return cit_error_say(err, -ENOENT, "the script's interpreter '%.100s' is not an executable file in "
							   "the function's read-only view", interp);
		rt->script = true;
	}
	for (;;) {
		ssize_t k = read(fd, chunk, sizeof(chunk));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return cit_error_set(err, -errno, "reading the program");
		if (k == 0)
			break;
		crypto_hash_sha256_update(&h, chunk, (size_t)k);
	}
	crypto_hash_sha256_final(&h, code_sha256);
	rt->prog = fd;
	return 0;
}

/* The program's end, as its caller reads it. */
static int describe_exit(struct cit_response *resp, int st, const char *prog)
{
	if (WIFEXITED(st))
		return cit_fail(resp, -EIO, "the program %s exited with status %d (its stderr is in the function's log)",
				prog, WEXITSTATUS(st));
	int sig = WTERMSIG(st);
	return cit_fail(resp, -EIO, "the program %s was killed by signal %d (SIG%s)", prog, sig,
			sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
}

/* The program's environment: the function's, after the HTTP request's as OpenFaaS's
 * watchdog gives it (Http_Method, Http_Path, Http_Query, and Http_Name_Of_Header for each
 * header, its name capitalised per word, '-' and any other character not a letter or
 * digit made '_'), which come first so that they win. Owned by the caller (free(env[0])
 * and env); NULL without an HTTP request or when out of memory (then environ is used). */
static char **http_environ(const struct cit_http *h)
{
	if (!h)
		return NULL;
	size_t n = 0, bytes = 0;
	while (environ[n])
		n++;
	bytes += strlen(h->method) + strlen(h->path) + strlen(h->query) + 3 * 16;
	for (size_t i = 0; i < h->n_headers; i++)
		bytes += strlen(h->headers[i].name) + strlen(h->headers[i].value) + 8;
	char **env = calloc(n + h->n_headers + 4, sizeof(*env));
	char *buf = malloc(bytes);
	if (!env || !buf) {
		free(env);
		free(buf);
		return NULL;
	}
	size_t k = 0, off = 0;
	const char *fixed[3][2] = { { "Http_Method", h->method }, { "Http_Path", h->path }, { "Http_Query", h->query } };
	for (size_t i = 0; i < 3; i++) {
		env[k++] = buf + off;
		off += (size_t)sprintf(buf + off, "%s=%s", fixed[i][0], fixed[i][1]) + 1;
	}
	for (size_t i = 0; i < h->n_headers; i++) {
		char *v = buf + off;
		off += (size_t)sprintf(v, "Http_%s=%s", h->headers[i].name, h->headers[i].value) + 1;
		bool word = true;
		for (char *c = v + 5; *c != '='; c++) {
			bool alnum = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
			*c = !alnum ? '_' : word ? (char)toupper((unsigned char)*c) : (char)tolower((unsigned char)*c);
			word = !alnum;
		}
		bool dup = false; /* the platform's three, then a header's first value, win */
		for (size_t j = 0; j < k && !dup; j++)
			dup = !strncmp(env[j], v, (size_t)(strchr(v, '=') - v + 1));
		if (!dup)
			env[k++] = v;
	}
	for (size_t i = 0; i < n; i++)
		env[k++] = environ[i];
	env[k] = NULL;
	return env;
}

static _Noreturn void run_program(struct cit_runtime *rt, int in, int out, char **env)
{
	if (env)
		environ = env;
	/* What the runtime set for itself is not the program's: default signal actions (an
	 * ignored SIGPIPE would survive the exec), nothing blocked. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0)
		_exit(127);
	/* A bundled program runs in its bundle, where a script's path is found. */
	if (rt->bundle >= 0 && fchdir(rt->bundle) < 0)
		_exit(127);
	/* An ELF program runs from the file measured (which closes on exec); a script by its
	 * path, as its interpreter wants it. */
	if (rt->script)
		execve(rt->argv[0], rt->argv, environ);
	else
		syscall(SYS_execveat, rt->prog, "", rt->argv, environ, AT_EMPTY_PATH);
	fprintf(stderr, "citadel: exec %s: %s\n", rt->argv[0], strerror(errno));
	_exit(127);
}

/* One call: the program run with the request as its stdin, its stdout collected while it
 * runs (stdin fed meanwhile, so a program that writes before it reads cannot deadlock). */
static int exec_invoke(struct cit_runtime *rt, const struct cit_request *req, struct cit_response *resp)
{
	int in[2], out[2];
	int src_rc = cit_runtime_secrets_to_dir(); /* once: an exec instance serves one call */
	if (src_rc < 0)
		return cit_fail(resp, src_rc, "writing the function's secrets for its program: %s", strerror(-src_rc));
	if (pipe2(in, O_CLOEXEC) < 0)
		return cit_fail(resp, -errno, "pipe: %s", strerror(errno));
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return cit_fail(resp, -errno, "pipe: %s", strerror(errno));
	}
	char **env = http_environ(req->http);
	pid_t pid = fork();
	if (pid == 0)
		run_program(rt, in[0], out[1], env);
	if (env) {
		free(env[0]);
		free(env);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return cit_fail(resp, -EAGAIN, "starting the program: %s (the function's --pids limit?)", strerror(errno));
	}
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	const uint8_t *src = req->data;
	size_t left = req->len;
	int wfd = in[1], rfd = out[0], rc = 0, st = 0;
	bool reaped = false;
	if (!left)
		close(steal_fd(&wfd));
	while (rfd >= 0) {
		struct pollfd p[3] = { { .fd = rfd, .events = POLLIN }, { .fd = wfd, .events = POLLOUT },
				       { .fd = reaped ? -1 : pidfd, .events = POLLIN } };
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (wfd >= 0 && p[1].revents) {
			ssize_t k = write(wfd, src, left > (1u << 16) ? 1u << 16 : left);
			if (k > 0) {
				src += k;
				left -= (size_t)k;
			}
			if ((k < 0 && errno != EAGAIN && errno != EINTR) || left == 0)
				close(steal_fd(&wfd)); /* all written, or the program closed its stdin */
		}
		if (p[0].revents) {
			char buf[1 << 16];
			ssize_t k = read(rfd, buf, sizeof(buf));
			if (k > 0 && rc == 0 && (rc = cit_respond(resp, buf, (size_t)k)) < 0)
				kill(pid, SIGKILL); /* past the output limit: no use running on */
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
				close(steal_fd(&rfd));
		}
		if (!reaped && pidfd >= 0 && p[2].revents) {
			/* The program is done: its status first (ending the rest reaps whatever is
			 * left), then what it left running (holding stdout, maybe) ends. */
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			reaped = true;
			cit_end_children(0, NULL, true);
		}
	}
	if (wfd >= 0)
		close(wfd);
	while (!reaped && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (pidfd >= 0)
		close(pidfd);
	cit_end_children(0, NULL, true);
	if (rc < 0)
		return rc; /* the output limit (the core reports it) or out of memory */
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return describe_exit(resp, st, rt->argv[0]);
	return 0;
}

const struct cit_runtime_ops cit_runtime_exec = {
	.name = "exec",
	.layer = CIT_SC_LAYER_EXEC,
	.subreaper = true,
	.load = exec_load,
	.invoke = exec_invoke,
};
