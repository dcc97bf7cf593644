/* probe: misbehaves on request, one attack per invocation, for the isolation tests.
 *
 * The request is one command; words are separated by spaces and trailing whitespace
 * (such as a final newline) is ignored. DATA is the rest of the request after the
 * preceding word and its single separating space, so it may contain spaces.
 *
 *   connect HOST PORT  TCP connect to an IPv4 address          ok connected
 *   read PATH          read up to 4 KiB of a file               ok <bytes>
 *   write PATH DATA    create/truncate PATH and write DATA      ok wrote
 *   plant DATA         write DATA to ./secret (private dir)     ok <cwd>/secret
 *   spy                read ../ * /secret of other instances    ok found N[: a,b,...]
 *                      (when ../ cannot be listed, it guesses ../iPID for PID 1..1024)
 *   sleep MS           hold the instance busy for MS ms          ok slept
 *   ipc                make a System V shared memory segment     ok shm <id>
 *   hangup             shut its sockets for writing, then spin   (never answers)
 *   hold MS DATA       plant DATA, then sleep MS ms              ok <cwd>/secret
 *   signal             SIGKILL every /proc pid but self and 1   ok killed K of M
 *   peek               open /proc/PID/{mem,environ} of others   ok opened K of M
 *   pid                the instance's pid and uid               ok <pid> <uid>
 *   random             16 hex digits from random()              ok <hex>
 *   badproto           write 64 bytes of 0xff to every socket   ok sent garbage
 *                      among fds 3..1023
 *   harm CALL TARGET   CALL on each TARGET process              ok K of M
 *   proc FILE TARGET   read /proc/PID/FILE of each TARGET       ok read K of M[: [text]...]
 *   reach OP           OP on each sibling's private directory   ok reached K of M
 *                      found as spy finds them
 *   watch PATH MS      inotify watch on PATH for MS ms           ok N events[: name,...]
 *   chmod PATH MODE    chmod PATH to octal MODE                  ok chmod
 *   listen MS          a unix socket ./sock, accepting MS ms     ok <cwd>/sock accepted N
 *   flock PATH sh|ex MS  flock PATH (non-blocking), hold MS ms   ok locked
 *   lock PATH rd|wr posix|ofd MS  an fcntl lock on all of PATH   ok locked
 *                      (non-blocking), held MS ms; PATH is opened read-only for rd,
 *                      read-write for wr (read-only when that is refused)
 *
 * signal: M processes tried, K kill() calls that succeeded. peek: M processes, two opens
 * each, K opens that succeeded (so K may exceed M).
 *
 * harm and proc: TARGET is self, template (the parent: the function's template, for an
 * instance), siblings (every other process whose parent is ours) or, for the calls that
 * can name one, group (the caller's process group) or user (every process of its user).
 * M is the number of processes (1 for group and user), K how many the call worked on.
 * CALLs: prlimit (RLIMIT_CPU to 0; for self, to what it is), setpriority (nice 19),
 * getpriority, affinity (CPU 0 only), getaffinity, setparam, getparam, scheduler
 * (SCHED_BATCH), getscheduler, setattr (nice 19), getattr, rr-interval, ioprio (idle
 * class), getioprio, kill, tkill, tgkill, sigqueue, tgsigqueue (all with signal 0, which
 * checks the right to signal and sends nothing), pidfd (pidfd_open), pidfd-signal
 * (signal 0 through the /proc/PID directory as a pidfd), robust-list, setpgid, getpgid,
 * getsid, setown (F_SETOWN of a pipe: its SIGIO goes to the target). proc FILEs: cwd,
 * root, exe (readlink), fd, fdinfo (the names listed), any other (its bytes); each text is
 * at most 512 bytes, non-printing bytes as '.'.
 * reach OPs on ../DIR: stat (stat DIR/secret), chmod (DIR to 0), connect (to DIR/sock),
 * watch (an inotify watch on DIR).
 *
 * Each response is one line: "ok ..." when the attempt worked, "denied: <strerror>" when
 * the system refused it, "error: ..." for a malformed command. An unknown or empty
 * command fails the invocation with -EINVAL "unknown command". */
#include <citadel/function.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST 4096
#define MAX_READ 4096
#define MAX_SECRET 256

static int denied(struct cit_response *resp)
{
	return cit_respondf(resp, "denied: %s\n", strerror(errno));
}

/* Splits off the next space-separated word of *rest (NULL when there is none) and leaves
 * *rest after the word's single separating space. */
static char *next_word(char **rest)
{
	char *word = *rest;

	while (*word == ' ')
		word++;
	if (*word == '\0')
		return NULL;
	char *end = strchrnul(word, ' ');
	*rest = *end ? end + 1 : end;
	*end = '\0';
	return word;
}

/* Reads up to cap bytes of path (relative to dirfd); returns the count or -1 with errno. */
static ssize_t read_file(int dirfd, const char *path, char *buf, size_t cap)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t got = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -1;
	while (got < cap && (n = read(fd, buf + got, cap - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	int saved = errno;
	close(fd);
	errno = saved;
	return n < 0 ? -1 : (ssize_t)got;
}

/* Creates or truncates path and writes len bytes; returns 0 or -1 with errno. */
static int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);

	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		data += n, len -= (size_t)n;
	}
	return close(fd);
}

static int do_connect(struct cit_response *resp, char *args)
{
	const char *host = next_word(&args), *port = next_word(&args);
	struct sockaddr_in addr = { .sin_family = AF_INET };
	char *end;

	if (!host || !port)
		return cit_respondf(resp, "error: usage: connect HOST PORT\n");
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		return cit_respondf(resp, "error: not an IPv4 address: %s\n", host);
	long p = strtol(port, &end, 10);
	if (*end || p < 1 || p > 65535)
		return cit_respondf(resp, "error: not a port: %s\n", port);
	addr.sin_port = htons((uint16_t)p);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return denied(resp);
	int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
	int saved = errno;
	close(fd);
	errno = saved;
	return r == 0 ? cit_respondf(resp, "ok connected\n") : denied(resp);
}

static int do_read(struct cit_response *resp, char *args)
{
	const char *path = next_word(&args);
	char buf[MAX_READ];

	if (!path)
		return cit_respondf(resp, "error: usage: read PATH\n");
	ssize_t n = read_file(AT_FDCWD, path, buf, sizeof buf);
	if (n < 0)
		return denied(resp);
	bool newline = n > 0 && buf[n - 1] == '\n';
	int r = cit_respond(resp, "ok ", 3);
	if (r == 0 && n > 0)
		r = cit_respond(resp, buf, (size_t)n);
	if (r == 0 && !newline)
		r = cit_respond(resp, "\n", 1);
	return r;
}

static int do_write(struct cit_response *resp, char *args)
{
	const char *path = next_word(&args);

	if (!path)
		return cit_respondf(resp, "error: usage: write PATH DATA\n");
	if (write_file(path, args, strlen(args)) != 0)
		return denied(resp);
	return cit_respondf(resp, "ok wrote\n");
}

static int do_plant(struct cit_response *resp, const char *data)
{
	char cwd[PATH_MAX];

	if (write_file("secret", data, strlen(data)) != 0 || !getcwd(cwd, sizeof cwd))
		return denied(resp);
	return cit_respondf(resp, "ok %s/secret\n", cwd);
}

/* Reads DIR/secret beneath parent into found (comma-separated), counting it. */
static void collect(int parent, const char *dirname, char *found, size_t cap, size_t *used, size_t *count)
{
	char rel[NAME_MAX + 8], secret[MAX_SECRET];
	snprintf(rel, sizeof rel, "%s/secret", dirname);
	ssize_t n = read_file(parent, rel, secret, sizeof secret);
	if (n < 0)
		return;
	/* What does not fit in found is dropped; the count stays exact. */
	int w = snprintf(found + *used, cap - *used, "%s%.*s", *count ? "," : "", (int)n, secret);
	if (w > 0)
		*used += (size_t)w < cap - *used ? (size_t)w : cap - 1 - *used;
	(*count)++;
}

/* Looks for other instances' private directories next to ours and reads their secrets. */
static int do_spy(struct cit_response *resp)
{
	char cwd[PATH_MAX], found[MAX_REQUEST] = "";
	size_t used = 0, count = 0;

	if (!getcwd(cwd, sizeof cwd))
		return denied(resp);
	char *slash = strrchr(cwd, '/');
	if (!slash) {
		errno = ENOENT;
		return denied(resp);
	}
	const char *self = slash + 1;
	*slash = '\0';
	const char *up = slash == cwd ? "/" : cwd;
	int parent = open(up, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0)
		return denied(resp);
	DIR *dir = opendir(up);
	/* Unlistable: guess the names instead (instances' directories were once i<pid>). */
	for (int guess = 1; guess <= 1024 && !dir; guess++) {
		char name[32];
		snprintf(name, sizeof name, "i%d", guess);
		if (strcmp(name, self))
			collect(parent, name, found, sizeof found, &used, &count);
	}
	for (struct dirent *e; dir && (e = readdir(dir));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, self))
			continue;
		collect(parent, e->d_name, found, sizeof found, &used, &count);
	}
	if (dir)
		closedir(dir);
	close(parent);
	if (count == 0)
		return cit_respondf(resp, "ok found 0\n");
	return cit_respondf(resp, "ok found %zu: %s\n", count, found);
}

/* Returns the pid a /proc entry names, or -1 for entries that are not processes. */
static pid_t proc_pid(const char *name)
{
	char *end;
	long pid = strtol(name, &end, 10);

	if (!isdigit((unsigned char)name[0]) || *end || pid <= 0 || pid > INT_MAX)
		return -1;
	return (pid_t)pid;
}

/* signal (peek == false): SIGKILL every other process but pid 1.
 * peek (peek == true): open every other process's mem and environ. */
static int do_procs(struct cit_response *resp, bool peek)
{
	DIR *proc = opendir("/proc");
	size_t tried = 0, worked = 0;
	char path[64];

	if (!proc)
		return denied(resp);
	for (struct dirent *e; (e = readdir(proc));) {
		pid_t pid = proc_pid(e->d_name);
		if (pid < 0 || pid == getpid() || (!peek && pid == 1))
			continue;
		tried++;
		if (!peek) {
			worked += kill(pid, SIGKILL) == 0;
			continue;
		}
		for (int i = 0; i < 2; i++) {
			snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, i ? "environ" : "mem");
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				worked++, close(fd);
		}
	}
	closedir(proc);
	return cit_respondf(resp, "ok %s %zu of %zu\n", peek ? "opened" : "killed", worked, tried);
}

/* ---- harm, proc: other processes named by pid --------------------------------------- */

#define MAX_TARGETS 64

/* The pid's parent, from /proc/PID/stat, or -1. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	ssize_t n = read_file(AT_FDCWD, path, buf, sizeof buf - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *close_paren = strrchr(buf, ')');
	int ppid;
	return close_paren && sscanf(close_paren + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

/* Fills pids with TARGET's processes; returns how many, or -1 for an unknown target. */
static int targets(const char *target, pid_t *pids)
{
	if (!strcmp(target, "self") || !strcmp(target, "group") || !strcmp(target, "user")) {
		pids[0] = getpid();
		return 1;
	}
	if (!strcmp(target, "template")) {
		pids[0] = getppid();
		return 1;
	}
	if (strcmp(target, "siblings"))
		return -1;
	DIR *proc = opendir("/proc");
	int n = 0;
	for (struct dirent *e; proc && n < MAX_TARGETS && (e = readdir(proc));) {
		pid_t pid = proc_pid(e->d_name);
		if (pid > 0 && pid != getpid() && parent_of(pid) == getppid())
			pids[n++] = pid;
	}
	if (proc)
		closedir(proc);
	return n;
}

/* Each harm takes a target's pid (whom: 0 for one process, 1 for its group, 2 for its
 * user) and returns 0 when the kernel let it through, -1 with errno when not. */
struct sched_attr_v0 {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

static int h_prlimit(pid_t pid, int whom)
{
	struct rlimit cur;
	(void)whom;
	if (pid == getpid())
		return prlimit(0, RLIMIT_CPU, NULL, &cur) == 0 ? prlimit(pid, RLIMIT_CPU, &cur, NULL) : -1;
	return prlimit(pid, RLIMIT_CPU, &(struct rlimit){ 0, 0 }, NULL);
}

static const int prio_which[] = { PRIO_PROCESS, PRIO_PGRP, PRIO_USER };

static int h_setpriority(pid_t pid, int whom)
{
	return setpriority(prio_which[whom], whom ? 0 : (id_t)pid, 19);
}

static int h_getpriority(pid_t pid, int whom)
{
	errno = 0;
	return getpriority(prio_which[whom], whom ? 0 : (id_t)pid) == -1 && errno ? -1 : 0;
}

static int h_affinity(pid_t pid, int whom)
{
	cpu_set_t set;
	(void)whom;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	return sched_setaffinity(pid, sizeof set, &set);
}

static int h_getaffinity(pid_t pid, int whom)
{
	cpu_set_t set;
	(void)whom;
	return sched_getaffinity(pid, sizeof set, &set);
}

static int h_setparam(pid_t pid, int whom)
{
	(void)whom;
	return sched_setparam(pid, &(struct sched_param){ 0 });
}

static int h_getparam(pid_t pid, int whom)
{
	struct sched_param sp;
	(void)whom;
	return sched_getparam(pid, &sp);
}

static int h_scheduler(pid_t pid, int whom)
{
	(void)whom;
	return sched_setscheduler(pid, SCHED_BATCH, &(struct sched_param){ 0 });
}

static int h_getscheduler(pid_t pid, int whom)
{
	(void)whom;
	return sched_getscheduler(pid) < 0 ? -1 : 0;
}

static int h_setattr(pid_t pid, int whom)
{
	struct sched_attr_v0 a = { .size = sizeof a, .policy = SCHED_OTHER, .nice = 19 };
	(void)whom;
	return (int)syscall(SYS_sched_setattr, pid, &a, 0);
}

static int h_getattr(pid_t pid, int whom)
{
	struct sched_attr_v0 a;
	(void)whom;
	return (int)syscall(SYS_sched_getattr, pid, &a, sizeof a, 0);
}

static int h_rr_interval(pid_t pid, int whom)
{
	struct timespec ts;
	(void)whom;
	return sched_rr_get_interval(pid, &ts);
}

#define IOPRIO_IDLE (3 << 13)

static int h_ioprio(pid_t pid, int whom)
{
	return (int)syscall(SYS_ioprio_set, whom + 1, whom ? 0 : pid, IOPRIO_IDLE);
}

static int h_getioprio(pid_t pid, int whom)
{
	return syscall(SYS_ioprio_get, whom + 1, whom ? 0 : pid) < 0 ? -1 : 0;
}

static int h_kill(pid_t pid, int whom)
{
	return kill(whom == 1 ? 0 : whom == 2 ? -1 : pid, 0);
}

static int h_tkill(pid_t pid, int whom)
{
	(void)whom;
	return (int)syscall(SYS_tkill, pid, 0);
}

static int h_tgkill(pid_t pid, int whom)
{
	(void)whom;
	return (int)syscall(SYS_tgkill, pid, pid, 0);
}

static int h_sigqueue(pid_t pid, int whom)
{
	(void)whom;
	return sigqueue(pid, 0, (union sigval){ 0 });
}

static int h_tgsigqueue(pid_t pid, int whom)
{
	siginfo_t si = { .si_code = SI_QUEUE, .si_pid = getpid(), .si_uid = getuid() };
	(void)whom;
	return (int)syscall(SYS_rt_tgsigqueueinfo, pid, pid, 0, &si);
}

static int h_pidfd(pid_t pid, int whom)
{
	(void)whom;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -1 : close(fd);
}

static int h_pidfd_signal(pid_t pid, int whom)
{
	char path[64];
	(void)whom;
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = (int)syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0);
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}

static int h_robust_list(pid_t pid, int whom)
{
	void *head;
	size_t len;
	(void)whom;
	return (int)syscall(SYS_get_robust_list, pid, &head, &len);
}

static int h_setpgid(pid_t pid, int whom)
{
	(void)whom;
	return setpgid(pid, 0);
}

static int h_getpgid(pid_t pid, int whom)
{
	(void)whom;
	return getpgid(pid) < 0 ? -1 : 0;
}

static int h_getsid(pid_t pid, int whom)
{
	(void)whom;
	return getsid(pid) < 0 ? -1 : 0;
}

static int h_setown(pid_t pid, int whom)
{
	int p[2];
	(void)whom;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	int r = fcntl(p[0], F_SETOWN, pid);
	int saved = errno;
	close(p[0]);
	close(p[1]);
	errno = saved;
	return r;
}

static const struct {
	const char *name;
	int (*run)(pid_t pid, int whom);
	bool groups;          /* also for TARGET group and user */
} harms[] = {
	{ "prlimit", h_prlimit, false }, { "setpriority", h_setpriority, true },
	{ "getpriority", h_getpriority, true }, { "affinity", h_affinity, false },
	{ "getaffinity", h_getaffinity, false }, { "setparam", h_setparam, false },
	{ "getparam", h_getparam, false }, { "scheduler", h_scheduler, false },
	{ "getscheduler", h_getscheduler, false }, { "setattr", h_setattr, false },
	{ "getattr", h_getattr, false }, { "rr-interval", h_rr_interval, false },
	{ "ioprio", h_ioprio, true }, { "getioprio", h_getioprio, true }, { "kill", h_kill, true },
	{ "tkill", h_tkill, false }, { "tgkill", h_tgkill, false }, { "sigqueue", h_sigqueue, false },
	{ "tgsigqueue", h_tgsigqueue, false }, { "pidfd", h_pidfd, false },
	{ "pidfd-signal", h_pidfd_signal, false }, { "robust-list", h_robust_list, false },
	{ "setpgid", h_setpgid, false }, { "getpgid", h_getpgid, false }, { "getsid", h_getsid, false },
	{ "setown", h_setown, false },
};

static int do_harm(struct cit_response *resp, char *args)
{
	const char *call = next_word(&args), *target = next_word(&args);
	pid_t pids[MAX_TARGETS];
	if (!call || !target)
		return cit_respondf(resp, "error: usage: harm CALL TARGET\n");
	int whom = !strcmp(target, "group") ? 1 : !strcmp(target, "user") ? 2 : 0;
	for (size_t i = 0; i < sizeof harms / sizeof harms[0]; i++) {
		if (strcmp(call, harms[i].name))
			continue;
		int n = whom && !harms[i].groups ? -1 : targets(target, pids), worked = 0;
		if (n < 0)
			return cit_respondf(resp, "error: %s cannot name %s\n", call, target);
		for (int t = 0; t < n; t++)
			worked += harms[i].run(pids[t], whom) == 0;
		return cit_respondf(resp, "ok %d of %d\n", worked, n);
	}
	return cit_respondf(resp, "error: unknown call %s\n", call);
}

/* Up to 512 bytes of what /proc/PID/FILE shows, as printable text; -1 with errno. */
static ssize_t proc_text(pid_t pid, const char *file, char *out, size_t cap)
{
	char path[96];
	ssize_t n;
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	if (!strcmp(file, "cwd") || !strcmp(file, "root") || !strcmp(file, "exe")) {
		n = readlink(path, out, cap);
	} else if (!strcmp(file, "fd") || !strcmp(file, "fdinfo")) {
		DIR *d = opendir(path);
		if (!d)
			return -1;
		n = 0;
		for (struct dirent *e; (e = readdir(d)) && (size_t)n + NAME_MAX + 2 < cap;) {
			char link[256] = "", sub[128];
			snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
			ssize_t l = !strcmp(file, "fd") ? readlink(sub, link, sizeof link - 1) : 0;
			link[l > 0 ? l : 0] = '\0';
			n += snprintf(out + n, cap - (size_t)n, "%s=%s ", e->d_name, link);
		}
		closedir(d);
	} else {
		n = read_file(AT_FDCWD, path, out, cap);
	}
	for (ssize_t i = 0; i < n; i++)
		if (!isprint((unsigned char)out[i]))
			out[i] = '.';
	return n;
}

static int do_proc(struct cit_response *resp, char *args)
{
	const char *file = next_word(&args), *target = next_word(&args);
	pid_t pids[MAX_TARGETS];
	char texts[MAX_REQUEST] = "";
	size_t used = 0;
	if (!file || !target || strchr(file, '/') || !strcmp(file, ".."))
		return cit_respondf(resp, "error: usage: proc FILE TARGET\n");
	int n = targets(target, pids), worked = 0;
	if (n < 0)
		return cit_respondf(resp, "error: unknown target %s\n", target);
	for (int t = 0; t < n; t++) {
		char text[512];
		ssize_t len = proc_text(pids[t], file, text, sizeof text);
		if (len < 0)
			continue;
		worked++;
		int w = snprintf(texts + used, sizeof texts - used, " [%.*s]", (int)len, text);
		if (w > 0 && (size_t)w < sizeof texts - used)
			used += (size_t)w;
	}
	return cit_respondf(resp, "ok read %d of %d%s%s\n", worked, n, used ? ":" : "", texts);
}

/* ---- reach, watch, chmod, listen: private directories ------------------------------- */

static int reach_one(int parent, const char *dir, const char *op)
{
	char path[NAME_MAX + 16];
	if (!strcmp(op, "stat")) {
		struct stat st;
		snprintf(path, sizeof path, "%s/secret", dir);
		return fstatat(parent, path, &st, AT_SYMLINK_NOFOLLOW);
	}
	if (!strcmp(op, "chmod"))
		return fchmodat(parent, dir, 0, 0);
	if (!strcmp(op, "watch")) {
		int in = inotify_init1(IN_CLOEXEC);
		snprintf(path, sizeof path, "/proc/self/fd/%d/%s", parent, dir);
		int r = in < 0 ? -1 : inotify_add_watch(in, path, IN_ALL_EVENTS);
		if (in >= 0)
			close(in);
		return r < 0 ? -1 : 0;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s/sock", parent, dir);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof sa);
	if (fd >= 0)
		close(fd);
	return r;
}

/* OP on every directory next to ours, listed or (when ../ cannot be listed) guessed as
 * spy guesses them. */
static int do_reach(struct cit_response *resp, char *args)
{
	const char *op = next_word(&args);
	static const char *const ops[] = { "stat", "chmod", "connect", "watch" };
	bool known = false;
	for (size_t i = 0; op && i < sizeof ops / sizeof ops[0]; i++)
		known = known || !strcmp(op, ops[i]);
	if (!known)
		return cit_respondf(resp, "error: usage: reach stat|chmod|connect|watch\n");
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd) || !strrchr(cwd, '/'))
		return denied(resp);
	char *slash = strrchr(cwd, '/');
	const char *self = slash + 1;
	*slash = '\0';
	int parent = open(slash == cwd ? "/" : cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0)
		return denied(resp);
	DIR *dir = opendir(slash == cwd ? "/" : cwd);
	size_t tried = 0, worked = 0;
	for (int guess = 1; guess <= 1024 && !dir; guess++) {
		char name[32];
		snprintf(name, sizeof name, "i%d", guess);
		if (strcmp(name, self))
			tried++, worked += reach_one(parent, name, op) == 0;
	}
	for (struct dirent *e; dir && (e = readdir(dir));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, self))
			tried++, worked += reach_one(parent, e->d_name, op) == 0;
	if (dir)
		closedir(dir);
	close(parent);
	return cit_respondf(resp, "ok reached %zu of %zu\n", worked, tried);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static long ms_arg(char **args)
{
	const char *ms = next_word(args);
	long v = ms ? strtol(ms, NULL, 10) : -1;
	return v < 0 || v > 60000 ? -1 : v;
}

static int do_watch(struct cit_response *resp, char *args)
{
	const char *path = next_word(&args);
	long ms = ms_arg(&args);
	char names[MAX_REQUEST] = "";
	size_t used = 0, events = 0;
	if (!path || ms < 0)
		return cit_respondf(resp, "error: usage: watch PATH MS\n");
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in < 0 || inotify_add_watch(in, path, IN_ALL_EVENTS) < 0) {
		int saved = errno;
		if (in >= 0)
			close(in);
		errno = saved;
		return denied(resp);
	}
	for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end;) {
		_Alignas(struct inotify_event) char buf[4096];
		ssize_t n = read(in, buf, sizeof buf);
		if (n <= 0) {
			usleep(10000);
			continue;
		}
		for (char *p = buf; p < buf + n; p += sizeof(struct inotify_event) + ((struct inotify_event *)p)->len) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			events++;
			if (ev->len && !strstr(names, ev->name) && used + strlen(ev->name) + 2 < sizeof names)
				used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? "," : "", ev->name);
		}
	}
	close(in);
	return cit_respondf(resp, "ok %zu events%s%s\n", events, used ? ": " : "", names);
}

static int do_chmod(struct cit_response *resp, char *args)
{
	const char *path = next_word(&args), *mode = next_word(&args);
	if (!path || !mode)
		return cit_respondf(resp, "error: usage: chmod PATH MODE\n");
	return chmod(path, (mode_t)strtol(mode, NULL, 8)) == 0 ? cit_respondf(resp, "ok chmod\n") : denied(resp);
}

static int do_listen(struct cit_response *resp, char *args)
{
	long ms = ms_arg(&args);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cwd[PATH_MAX];
	size_t accepted = 0;
	if (ms < 0)
		return cit_respondf(resp, "error: usage: listen MS\n");
	strcpy(sa.sun_path, "sock");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0 || !getcwd(cwd, sizeof cwd))
		return denied(resp);
	for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			accepted++, close(c);
		else
			usleep(10000);
	}
	close(fd);
	unlink("sock");
	return cit_respondf(resp, "ok %s/sock accepted %zu\n", cwd, accepted);
}

/* flock PATH sh|ex MS, lock PATH rd|wr posix|ofd MS: non-blocking, so that a lock held
 * by another shows as "denied: Resource temporarily unavailable" at once. */
static int do_lock(struct cit_response *resp, char *args, bool is_flock)
{
	const char *path = next_word(&args), *kind = next_word(&args), *flavour = is_flock ? "" : next_word(&args);
	long ms = ms_arg(&args);
	if (!path || !kind || !flavour || ms < 0)
		return cit_respondf(resp, "error: usage: flock PATH sh|ex MS, lock PATH rd|wr posix|ofd MS\n");
	bool exclusive = !strcmp(kind, "ex") || !strcmp(kind, "wr");
	int fd = !is_flock && exclusive ? open(path, O_RDWR | O_CLOEXEC) : -1;
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return denied(resp);
	int r;
	if (is_flock) {
		r = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
	} else {
		struct flock fl = { .l_type = exclusive ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET };
		r = fcntl(fd, !strcmp(flavour, "ofd") ? F_OFD_SETLK : F_SETLK, &fl);
	}
	if (r < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return denied(resp);
	}
	usleep((useconds_t)ms * 1000);
	close(fd);
	return cit_respondf(resp, "ok locked\n");
}

/* Sends garbage down every socket the instance inherited, e.g. its channel to the runtime. */
static int do_badproto(struct cit_response *resp)
{
	char junk[64];
	struct stat st;

	memset(junk, 0xff, sizeof junk);
	for (int fd = 3; fd < 1024; fd++)
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
			/* Errors are expected and ignored; MSG_NOSIGNAL/DONTWAIT keep a closed
			 * or full socket from killing or blocking the probe itself. */
			(void)send(fd, junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
	return cit_respondf(resp, "ok sent garbage\n");
}

static int do_flock(struct cit_response *resp, char *args)
{
	return do_lock(resp, args, true);
}

static int do_fcntl_lock(struct cit_response *resp, char *args)
{
	return do_lock(resp, args, false);
}

/* The commands that take arguments. */
static const struct {
	const char *name;
	int (*run)(struct cit_response *resp, char *args);
} commands[] = {
	{ "connect", do_connect }, { "read", do_read }, { "write", do_write }, { "harm", do_harm },
	{ "proc", do_proc }, { "reach", do_reach }, { "watch", do_watch }, { "chmod", do_chmod },
	{ "listen", do_listen }, { "flock", do_flock }, { "lock", do_fcntl_lock },
};

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	char line[MAX_REQUEST + 1];
	size_t len = req->len;

	if (len > MAX_REQUEST)
		return cit_respondf(resp, "error: request longer than %d bytes\n", MAX_REQUEST);
	if (len > 0)
		memcpy(line, req->data, len);
	while (len > 0 && isspace((unsigned char)line[len - 1]))
		len--;
	line[len] = '\0';

	char *args = line;
	const char *cmd = next_word(&args);
	if (!cmd)
		return cit_fail(resp, -EINVAL, "unknown command");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].run(resp, args);
	if (!strcmp(cmd, "plant"))
		return do_plant(resp, args);
	if (!strcmp(cmd, "spy"))
		return do_spy(resp);
	if (!strcmp(cmd, "signal"))
		return do_procs(resp, false);
	if (!strcmp(cmd, "peek"))
		return do_procs(resp, true);
	if (!strcmp(cmd, "pid"))
		return cit_respondf(resp, "ok %d %u\n", (int)getpid(), (unsigned)getuid());
	if (!strcmp(cmd, "random"))
		return cit_respondf(resp, "ok %016" PRIx64 "\n",
				    ((uint64_t)random() << 32) ^ (uint64_t)random());
	if (!strcmp(cmd, "badproto"))
		return do_badproto(resp);
	if (!strcmp(cmd, "ipc")) {
		int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		return id < 0 ? denied(resp) : cit_respondf(resp, "ok shm %d\n", id);
	}
	if (!strcmp(cmd, "hangup")) {
		/* Looks to the monitor as if it had died, while it keeps running. */
		for (int fd = 3; fd < 1024; fd++) {
			struct stat st;
			if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
				shutdown(fd, SHUT_WR);
		}
		for (volatile unsigned long spin = 0;; spin++)
			;
	}
	if (!strcmp(cmd, "sleep") || !strcmp(cmd, "hold")) {
		const char *ms = next_word(&args);
		long v = ms ? strtol(ms, NULL, 10) : -1;
		if (v < 0 || v > 60000)
			return cit_respondf(resp, "error: %s MS (0..60000)\n", cmd);
		if (!strcmp(cmd, "sleep")) {
			usleep((useconds_t)v * 1000);
			return cit_respondf(resp, "ok slept\n");
		}
		char cwd[PATH_MAX];
		if (write_file("secret", args, strlen(args)) != 0 || !getcwd(cwd, sizeof cwd))
			return denied(resp);
		usleep((useconds_t)v * 1000);
		return cit_respondf(resp, "ok %s/secret\n", cwd);
	}
	return cit_fail(resp, -EINVAL, "unknown command");
}
