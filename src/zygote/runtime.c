/* citadel-zygote: the native runtime's zygote, then the function's template (runtime.h).
 *
 * The monitor starts it in a fresh sandbox with its channel as fd 0 and the function's log
 * pipe as stdout and stderr. It says ZYGOTE_READY, waits for LOAD (the function's spec
 * and code, as a sealed memfd), loads the code and runs cit_init in the sandbox it is
 * already in, says LOADED, and from then on only forks a trustlet per SPAWN, reports the
 * ones that end (EXITED) and removes an ended one's directory when told its name (RMDIR).
 * It exits when its channel closes. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "zygote/runtime.h"

#define CHAN 0

static int ready(void)
{
	struct cit_p_ready r = { .pid = (uint64_t)getpid() };
	return cit_proto_send(CHAN, CIT_MSG_ZYGOTE_READY, 0, &r, sizeof(r), NULL, 0, NULL, 0);
}

/* Opens what a trustlet's landlock layer will allow: every top-level entry of the view
 * read-only, except /tmp (where only its own directory is granted) and /dev. */
int cit_runtime_open_view(struct cit_runtime *rt, struct cit_error *err)
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
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0)
			rt->ro[rt->n_ro++] = (struct cit_landlock_path){ fd, S_ISDIR(st.st_mode) };
		else if (fd >= 0)
			close(fd);
	}
	closedir(d);
	rt->dev = open("/dev", O_PATH | O_CLOEXEC | O_DIRECTORY);
	rt->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (rt->dev < 0 || rt->devnull < 0)
		return cit_error_set(err, -errno, "opening /dev");
	return cit_landlock_abi() < 0 ? cit_error_set(err, cit_landlock_abi(), "landlock") : 0;
}

/* LOAD: the function's environment, then its runtime's own loading (its code and init),
 * in this process. */
static int load(struct cit_runtime *rt, struct cit_rx *rx, uint8_t code_sha256[32], struct cit_error *err)
{
	const struct cit_fn_spec *spec = rx->spec;
	if (strcmp(spec->runtime, rt->ops->name))
		return cit_error_set(err, -EINVAL, "a %s zygote cannot load a %.15s function", rt->ops->name,
				     spec->runtime);
	snprintf(rt->name, sizeof(rt->name), "%s", spec->name);
	rt->output_bytes = spec->output_bytes;
	for (size_t i = 0; rx->env[i]; i++)
		if (putenv((char *)rx->env[i]) < 0) /* rx's buffer lives on: rt->buf is never reused for LOAD */
			return cit_error_set(err, -errno, "setting the environment");
	int rc = cit_runtime_open_view(rt, err);
	return rc < 0 ? rc : rt->ops->load(rt, rx, code_sha256, err);
}

/* Whether (dirfd_, name) is a directory we may read and search, made so if need be (the
 * function's code may have taken its own permissions away: it owns its files). */
static bool open_for_removal(int dirfd_, const char *name, int *fd)
{
	struct stat st;
	if (fstatat(dirfd_, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
	    ((st.st_mode & 0700) != 0700 && fchmodat(dirfd_, name, 0700, AT_SYMLINK_NOFOLLOW) < 0))
		return false;
	*fd = openat(dirfd_, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return *fd >= 0;
}

/* Calls fn(dirfd_, entry name, arg) for each entry of the open directory but . and ..;
 * the directory may change meanwhile (entries may then be seen twice or not at all). */
static void each_entry(int dirfd_, void (*fn)(int, const char *, void *), void *arg)
{
	lseek(dirfd_, 0, SEEK_SET);
	for (;;) {
		_Alignas(8) char buf[4096];
		ssize_t n = getdents64(dirfd_, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + off);
			off += e->d_reclen;
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				fn(dirfd_, e->d_name, arg);
		}
	}
}

struct teardown {
	int top;                  /* the private directory being removed */
	unsigned long moved;      /* directories moved up into it so far (their new names) */
	bool progress;            /* this pass removed something */
};

/* An entry of a directory below top: a file goes; a directory is moved up into top. */
static void hoist(int dirfd_, const char *name, void *arg)
{
	struct teardown *t = arg;
	if (unlinkat(dirfd_, name, 0) == 0 || errno != EISDIR)
		return;
	fchmodat(dirfd_, name, 0700, 0); /* moving a directory writes its ".." */
	for (int tries = 0; tries < 64; tries++) {
		char to[32];
		snprintf(to, sizeof(to), ".citadel-%lu", t->moved++);
		if (renameat2(dirfd_, name, t->top, to, RENAME_NOREPLACE) == 0 || errno != EEXIST)
			return;
	}
}

/* An entry of top: a file goes; a directory is emptied, its own directories moved up into
 * top (so the tree flattens as it goes and no more than two directories are ever open),
 * then removed. */
static void take_down(int top, const char *name, void *arg)
{
	struct teardown *t = arg;
	if (unlinkat(top, name, 0) == 0) {
		t->progress = true;
		return;
	}
	int sub;
	if (errno != EISDIR || !open_for_removal(top, name, &sub))
		return;
	each_entry(sub, hoist, t);
	close(sub);
	if (unlinkat(top, name, AT_REMOVEDIR) == 0)
		t->progress = true;
}

/* Removes a dead trustlet's private directory, /tmp/NAME, and all beneath it, however deep
 * the function made it (a tree a thousand levels deep would take a thousand fds to walk
 * down): in passes over NAME, each of which removes what it can and moves the next level
 * up, while something is removed. */
static void remove_tree(int dirfd_, const char *name)
{
	struct teardown t = { .top = -1 };
	if (open_for_removal(dirfd_, name, &t.top)) {
		do {
			t.progress = false;
			each_entry(t.top, take_down, &t);
		} while (t.progress);
		close(t.top);
	}
	unlinkat(dirfd_, name, AT_REMOVEDIR);
}

/* The template's trustlets, by pid in the sandbox (at most the kernel's PID_MAX_LIMIT):
 * only their ends are reported. A process the function's own code forked in the template
 * is reaped too, silently: the monitor counts every EXITED against the instances it asked
 * for, and one more is a protocol break. 512 KiB of bss, touched only where pids are. */
#define PIDS_MAX (1u << 22)
static uint64_t trustlet_pids[PIDS_MAX / 64];

static bool take_trustlet(pid_t pid, bool set)
{
	if (pid <= 0 || (uint32_t)pid >= PIDS_MAX)
		return false;
	uint64_t bit = 1ull << (pid % 64), *word = &trustlet_pids[pid / 64];
	bool was = *word & bit;
	*word = set ? *word | bit : *word & ~bit;
	return was;
}

unsigned cit_end_children(pid_t keep, bool (*spare)(pid_t), bool and_reap)
{
	unsigned ended = 0;
	pid_t self = getpid();
	for (int round = 0; round < 200; round++) {
		unsigned found = 0;
		DIR *d = opendir("/proc");
		for (struct dirent *e; d && (e = readdir(d));) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);
			if (*end || pid <= 1 || pid == self || pid == keep || (spare && spare((pid_t)pid)))
				continue;
			char path[64], stat[512];
			snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t n = fd >= 0 ? read(fd, stat, sizeof(stat) - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (n <= 0)
				continue;
			stat[n] = '\0';
			const char *close_paren = strrchr(stat, ')'); /* the name may hold anything */
			int ppid = 0;
			char state = 0;
			if (!close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2 || ppid != self)
				continue;
			found++;
			if (state != 'Z' && kill((pid_t)pid, SIGKILL) == 0)
				ended++;
		}
		if (d)
			closedir(d);
		if (!and_reap || !found)
			break;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return ended;
}

static bool is_trustlet(pid_t pid)
{
	return pid > 0 && (uint32_t)pid < PIDS_MAX && (trustlet_pids[pid / 64] & (1ull << (pid % 64)));
}

static void reap(const struct cit_runtime *rt)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (!take_trustlet(pid, false))
			continue;
		struct cit_p_exited e = { .status = st, .pid = (uint64_t)pid };
		cit_proto_send(CHAN, CIT_MSG_EXITED, 0, &e, sizeof(e), NULL, 0, NULL, 0);
	}
	/* Orphans of instances that ended with processes left (the subreaper's): ended; their
	 * ends bring us here again, with any orphans of theirs. */
	if (rt->ops->subreaper)
		cit_end_children(0, is_trustlet, false);
}

/* The template's life after LOAD: fork on SPAWN, reap and report. */
static _Noreturn void serve(struct cit_runtime *rt)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = rt->sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
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
			reap(rt);
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
		if (rx.hdr.type == CIT_MSG_RMDIR) /* its trustlet has ended; the name is checked */
			remove_tree(rt->tmp, CIT_P(&rx, cit_p_dir)->dir);
		/* An exec function's secrets, once its program is measured. */
		if (rx.hdr.type == CIT_MSG_SECRETS && cit_runtime_secrets(&rx) < 0)
			_exit(1);
		if (rx.hdr.type != CIT_MSG_SPAWN) {
			cit_rx_close(&rx);
			continue;
		}
		pid_t pid = cit_trustlet_fork(rt, rx.fds[0]);
		if (pid == 0)
			cit_trustlet_main(rt, steal_fd(&rx.fds[0]));
		take_trustlet(pid, true); /* SIGCHLD is blocked: its end is not reaped before this */
		/* A failed fork closes the trustlet's channel here: the monitor sees it hang up. */
		cit_rx_close(&rx);
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	struct cit_runtime rt = { .dev = -1, .devnull = -1, .sfd = -1, .prog = -1, .bundle = -1 };
	/* Which runtime this zygote is: the monitor's runtime table names it. */
	const char *kind = argc > 1 ? argv[1] : cit_runtime_table[0]->name;
	for (size_t i = 0; i < cit_runtime_table_n && !rt.ops; i++)
		if (!strcmp(cit_runtime_table[i]->name, kind))
			rt.ops = cit_runtime_table[i];
	if (!rt.ops) {
		fprintf(stderr, "citadel-zygote: unknown runtime '%s'\n", kind);
		return 2;
	}
	static _Alignas(16) char buf[CIT_MSG_MAX];
	rt.buf = buf;
	/* Before anything of the function's is loaded: its fork handlers run after ours. */
	if (cit_trustlet_register() < 0)
		return 1;
	rt.tmp = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rt.tmp < 0 || chdir("/tmp") < 0)
		return 1;
	struct cit_rx rx;
	struct cit_error err = { 0 };
	/* What all the runtime's functions share, before the zygote counts as ready. If it
	 * cannot be made, the function that comes to this zygote hears why, at LOAD. */
	struct cit_error prep = { 0 };
	int prepared = rt.ops->prepare ? rt.ops->prepare(&rt, &prep) : 0;
	if (ready() < 0)
		return 1;
	/* LOAD arrives in a buffer of its own: the environment points into it for good. */
	static _Alignas(16) char load_buf[CIT_MSG_MAX];
	int rc = cit_proto_recv_wait(CHAN, load_buf, &rx, &err);
	/* The secrets released to the function's code may come first. */
	if (rc > 0 && rx.hdr.type == CIT_MSG_SECRETS) {
		if (cit_runtime_secrets(&rx) < 0)
			return 1;
		cit_rx_close(&rx);
		rc = cit_proto_recv_wait(CHAN, load_buf, &rx, &err);
	}
	if (rc <= 0 || rx.hdr.type != CIT_MSG_LOAD)
		return 1;
	struct cit_p_loaded loaded = { 0 };
	rc = prepared < 0 ? cit_error_say(&err, prepared, "the %s runtime did not start: %s", rt.ops->name, prep.msg)
			  : load(&rt, &rx, loaded.code_sha256, &err);
	cit_rx_close(&rx);
	loaded.code = rc < 0 ? rc : 0;
	snprintf(loaded.text, sizeof(loaded.text), "%s", rc < 0 ? err.msg : "");
	if (cit_proto_send(CHAN, CIT_MSG_LOADED, 0, &loaded, sizeof(loaded), NULL, 0, NULL, 0) < 0 || rc < 0)
		return 1;
	/* Its instances' orphans come here (an exec instance ended with processes left): they
	 * are ended as they come (reap). */
	if (rt.ops->subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return 1;
	serve(&rt);
}
