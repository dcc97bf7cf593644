/* Attacks on what the kernel counts machine-wide: each pins as much of one resource as it
 * can (socket buffers, pipes, in-flight descriptors, inotify, epoll, message queues,
 * signals, timers, locked memory, ptys, ...) and reports how much it held.
 *
 * Every attack takes a LIMIT, the most a sandbox may hold by docs/sandbox.md plus the
 * test's slack. It stops as soon as it holds more (then it says ESCAPED), so that even
 * where nothing bounds the resource (on the host) it pins no more than LIMIT and a step;
 * it says BLOCKED with the kernel's refusal when it is stopped first, and ERROR when it
 * ran out of its own time or count without either: a fill that merely ran slow must never
 * pass for a bound. Being killed by the memory cgroup (SIGKILL) is the other way a
 * sandbox stops it. Loops are bounded in count and in time (FILL_SECONDS). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sock_diag.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attack.h"

#define FILL_SECONDS 10
#define MIB (1LL << 20)

static bool out_of_time(void)
{
	static struct timespec start;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!start.tv_sec && !start.tv_nsec)
		start = now;
	return now.tv_sec - start.tv_sec >= FILL_SECONDS;
}

/* Holds what was pinned a while before reporting it: a supervisor that checks from time to
 * time (socket buffers on cgroup v1) must see it, and a pin that lasts less than this
 * starves nobody. */
static void hold(void)
{
	nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
}

/* The verdict on a fill that held got (in units) when it stopped with errno e: over limit
 * is an escape; a stop without a refusal from the kernel (e == 0) proves nothing. */
static int judge(const char *name, long long got, const char *units, long long limit, int e, const char *more)
{
	if (got > limit)
		return escaped("%s: %lld %s%s, over %lld", name, got, units, more, limit);
	if (!e)
		return error("%s: %lld %s%s, neither refused nor over %lld in %d s", name, got, units, more, limit,
			     FILL_SECONDS);
	return blocked("%s %s: %lld %s%s", ename(e), name, got, units, more);
}

static long long arg_limit(char **argv, int i)
{
	long long v = num(argv[i]);
	if (v < 0)
		exit(error("negative limit"));
	return v;
}

/* Several processes pinning one resource together: each adds what it holds to a counter
 * they share, and they stop when it passes the limit. */
struct team {
	long long limit;
	long long *total; /* shared */
	long long *extra; /* shared: a second figure, for the report */
	int arg;
	const struct grab *grab;
};

/* A resource taken one piece at a time: one() takes a piece and returns how much it
 * counts (> 0), or -1 with errno set when refused. */
struct grab {
	const char *name, *units, *how;
	long long (*one)(void);
};

static bool any_dead(const pid_t *kids, int n)
{
	for (int i = 0; i < n; i++)
		if (waitpid(kids[i], NULL, WNOHANG) != 0)
			return true;
	return false;
}

/* Runs work(&t) in n processes; each reports the errno that stopped it, then keeps what
 * it holds until all have reported (held a while longer with hold_after: see hold()).
 * Returns the last report. A process that died before the end was killed (by the memory
 * cgroup, say), and what it held is not held any more: the helper then ends the same
 * way, so that the run's status tells. */
static int team_run(int n, struct team t, int (*work)(const struct team *t), bool hold_after)
{
	enum { MAX_PROCS = 128 };
	pid_t kids[MAX_PROCS];
	int report[2], e = 0;
	if (n > MAX_PROCS || pipe2(report, O_CLOEXEC) < 0)
		exit(error("%d processes: %s", n, ename(errno)));
	for (int i = 0; i < n; i++) {
		if ((kids[i] = fork()) < 0)
			exit(error("fork %d: %s", i, ename(errno)));
		if (kids[i] == 0) {
			int why = work(&t);
			if (write(report[1], &why, sizeof(why)) != sizeof(why))
				_exit(1);
			pause();
			_exit(0);
		}
	}
	bool lost = false;
	for (int got = 0; got < n && !lost;) {
		struct pollfd p = { .fd = report[0], .events = POLLIN };
		if (poll(&p, 1, 100) > 0 && read(report[0], &e, sizeof(e)) == sizeof(e))
			got++;
		else
			lost = any_dead(kids, n);
	}
	if (!lost && hold_after)
		hold();
	lost = lost || any_dead(kids, n);
	for (int i = 0; i < n; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	if (lost)
		kill(getpid(), SIGKILL);
	return e;
}

/* A counter the processes of a team share. */
static long long *shared_counters(void)
{
	long long *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		exit(error("mmap: %s", ename(errno)));
	return c;
}

static bool team_full(const struct team *t)
{
	return __atomic_load_n(t->total, __ATOMIC_RELAXED) > t->limit;
}

/* ---- buffers of sockets and pipes ---------------------------------------------------- */

/* Writes into each non-blocking fd until it refuses, round after round (a loopback
 * peer's window opens a moment later) until a round adds nothing, or *queued passes
 * limit; *queued may be shared by several processes. Returns the last refusal's errno. */
static int fill_streams(const int *fds, int n, long long limit, long long *queued)
{
	static char chunk[65536];
	int e = 0;
	for (int round = 0; round < 50 && !out_of_time(); round++) {
		long long mine = 0;
		for (int i = 0; i < n && __atomic_load_n(queued, __ATOMIC_RELAXED) <= limit; i++) {
			ssize_t w;
			while (__atomic_load_n(queued, __ATOMIC_RELAXED) <= limit &&
			       (w = write(fds[i], chunk, sizeof(chunk))) > 0) {
				__atomic_add_fetch(queued, w, __ATOMIC_RELAXED);
				mine += w;
			}
			if (__atomic_load_n(queued, __ATOMIC_RELAXED) <= limit)
				e = errno;
		}
		if (__atomic_load_n(queued, __ATOMIC_RELAXED) > limit || !mine)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	return e;
}

/* What the kernel holds for fds' sockets: receive queues and queued writes (truesize). */
static long long held(const int *fds, int n)
{
	long long sum = 0;
	for (int i = 0; i < n; i++) {
		unsigned int mi[SK_MEMINFO_VARS] = { 0 };
		socklen_t len = sizeof(mi);
		if (getsockopt(fds[i], SOL_SOCKET, SO_MEMINFO, mi, &len) == 0)
			sum += mi[SK_MEMINFO_RMEM_ALLOC] + mi[SK_MEMINFO_WMEM_QUEUED];
	}
	return sum;
}

/* Asks for the largest buffers a process may set (the kernel caps them at rmem_max and
 * wmem_max without failing). */
static void big_buffers(int fd)
{
	int big = 64 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
}

static int count_arg(char **argv, int max)
{
	long n = num(argv[0]);
	if (n < 1 || n > max)
		exit(error("a count from 1 to %d", max));
	return (int)n;
}

/* One process's share of tcp-buffers: t->arg connections, written from both ends, never
 * read. */
static int tcp_pairs(const struct team *t)
{
	int fds[512], n = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sl) < 0 || listen(l, t->arg) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
		return errno;
	for (int i = 0; i < t->arg; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&sa, sl) < 0)
			return errno;
		int s = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (s < 0 || fcntl(c, F_SETFL, O_NONBLOCK) < 0)
			return errno;
		fds[n++] = c;
		fds[n++] = s;
	}
	int e = fill_streams(fds, n, t->limit, t->total);
	__atomic_add_fetch(t->extra, held(fds, n), __ATOMIC_RELAXED);
	return e;
}

/* PROCS processes with PAIRS loopback TCP connections each: many sockets, because the
 * kernel lets each one past a full limit by a packet rather than stall it. */
static int a_tcp_buffers(char **argv)
{
	int procs = count_arg(argv, 128), pairs = (int)num(argv[1]);
	if (pairs < 1 || pairs > 256)
		return error("from 1 to 256 pairs a process");
	long long *c = shared_counters();
	struct team t = { .limit = arg_limit(argv, 2), .total = &c[0], .extra = &c[1], .arg = pairs };
	int e = team_run(procs, t, tcp_pairs, true);
	char more[96];
	snprintf(more, sizeof(more), " queued (%lld held) after %d pairs in %d processes", c[1], pairs * procs,
		 procs);
	return judge("tcp-buffers", c[0], "bytes", t.limit, e, more);
}

/* SOCKETS loopback UDP sockets with the largest receive buffers, sent to and never read:
 * what counts is what their receive queues hold (datagrams beyond are dropped). */
static int a_udp_buffers(char **argv)
{
	static char dgram[16384];
	int socks = count_arg(argv, 512), rx[512];
	long long limit = arg_limit(argv, 1), sum = 0;
	struct sockaddr_in sa[512];
	int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (tx < 0)
		return error("socket: %s", ename(errno));
	for (int i = 0; i < socks; i++) {
		socklen_t sl = sizeof(sa[i]);
		sa[i] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
		rx[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (rx[i] < 0 || bind(rx[i], (struct sockaddr *)&sa[i], sl) < 0 ||
		    getsockname(rx[i], (struct sockaddr *)&sa[i], &sl) < 0)
			return error("receiver %d: %s", i, ename(errno));
		big_buffers(rx[i]);
	}
	/* A receiver is full when three datagrams in a row add nothing to its queue. */
	int e = 0;
	for (int i = 0; i < socks && sum <= limit && !out_of_time(); i++) {
		long long was = held(&rx[i], 1);
		for (int stalled = 0, k = 0; stalled < 3 && k < 100000 && sum <= limit; k++) {
			if (sendto(tx, dgram, sizeof(dgram), 0, (struct sockaddr *)&sa[i], sizeof(sa[i])) < 0) {
				e = errno;
				if (e != EAGAIN && e != ENOBUFS)
					break;
			}
			long long now = held(&rx[i], 1);
			stalled = now > was ? 0 : stalled + 1;
			sum += now - was;
			was = now;
		}
		if (!e)
			e = ENOBUFS; /* the kernel dropped what did not fit */
	}
	hold();
	char more[64];
	snprintf(more, sizeof(more), " held in %d receive queues", socks);
	return judge("udp-buffers", held(rx, socks), "bytes", limit, e, more);
}

/* PAIRS unix stream socket pairs with the largest buffers, written and never read. */
static int a_unix_buffers(char **argv)
{
	int pairs = count_arg(argv, 256), fds[512];
	long long limit = arg_limit(argv, 1), queued = 0;
	for (int i = 0; i < pairs; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, &fds[2 * i]) < 0)
			return error("socketpair %d: %s", i, ename(errno));
		big_buffers(fds[2 * i]);
		big_buffers(fds[2 * i + 1]);
	}
	int e = fill_streams(fds, 2 * pairs, limit, &queued);
	char more[64];
	snprintf(more, sizeof(more), " queued after %d pairs", pairs);
	return judge("unix-buffers", queued, "bytes", limit, e, more);
}

/* PIPES pipes grown to the most a process may ask (pipe-max-size), filled, never read. */
static int a_pipe_buffers(char **argv)
{
	int pipes = count_arg(argv, 500), w[500];
	long long limit = arg_limit(argv, 1), queued = 0;
	for (int i = 0; i < pipes; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
			return error("pipe %d: %s", i, ename(errno));
		fcntl(p[1], F_SETPIPE_SZ, 1 << 20); /* refused past pipe-user-pages-soft: then small */
		w[i] = p[1];
	}
	int e = fill_streams(w, pipes, limit, &queued);
	char more[64];
	snprintf(more, sizeof(more), " queued in %d pipes", pipes);
	return judge("pipe-buffers", queued, "bytes", limit, e, more);
}

/* Descriptors in flight: one file sent over and over (SCM_RIGHTS, 253 a message) to
 * sockets nobody reads; each copy pins the file while no process holds it. */
static int a_unix_inflight(char **argv)
{
	enum { PER_MSG = 253 };
	long long limit = arg_limit(argv, 0), inflight = 0;
	int file = eventfd(0, EFD_CLOEXEC), sp[2] = { -1, -1 }, e = 0;
	if (file < 0)
		return error("eventfd: %s", ename(errno));
	union {
		char buf[CMSG_SPACE(PER_MSG * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(PER_MSG * sizeof(int));
	for (int i = 0; i < PER_MSG; i++)
		((int *)CMSG_DATA(c))[i] = file;
	while (inflight <= limit && !out_of_time()) {
		if (sp[0] < 0 && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0) {
			e = errno;
			break;
		}
		if (sendmsg(sp[0], &mh, MSG_NOSIGNAL) == 1) {
			inflight += PER_MSG;
			continue;
		}
		e = errno;
		if (e != EAGAIN)
			break;
		sp[0] = -1; /* this pair's queue is full: the next one (the full one stays open) */
	}
	return judge("unix-inflight", inflight, "descriptors", limit, e, " in flight");
}

/* ---- message queues ------------------------------------------------------------------- */

/* SysV message queues of the sandbox's IPC namespace, each filled to msgmnb. */
static int a_sysv_msg(char **argv)
{
	struct {
		long type;
		char text[8192];
	} m = { .type = 1 };
	long long limit = arg_limit(argv, 0), queued = 0;
	int queues = 0, e = 0;
	while (queued <= limit && !out_of_time()) {
		int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
		if (q < 0) {
			e = errno;
			break;
		}
		queues++;
		while (queued <= limit && msgsnd(q, &m, sizeof(m.text), IPC_NOWAIT) == 0)
			queued += (long long)sizeof(m.text);
	}
	char more[64];
	snprintf(more, sizeof(more), " queued in %d queues", queues);
	return judge("sysv-msg", queued, "bytes", limit, e, more);
}

/* POSIX message queues of the largest size the namespace allows, each filled. */
static int a_mq_bytes(char **argv)
{
	static char msg[8192];
	long long limit = arg_limit(argv, 0), queued = 0;
	int queues = 0, e = 0;
	while (queued <= limit && !out_of_time()) {
		char name[32];
		snprintf(name, sizeof(name), "/citadel-mq-%d", queues);
		struct mq_attr a = { .mq_maxmsg = 10, .mq_msgsize = sizeof(msg) };
		mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK | O_CLOEXEC, 0600, &a);
		if (q == (mqd_t)-1) {
			e = errno;
			break;
		}
		mq_unlink(name); /* the queue lives on while open; a host run leaves nothing behind */
		queues++;
		while (queued <= limit && mq_send(q, msg, sizeof(msg), 0) == 0)
			queued += (long long)sizeof(msg);
	}
	char more[64];
	snprintf(more, sizeof(more), " queued in %d queues", queues);
	return judge("mq-bytes", queued, "bytes", limit, e, more);
}

/* ---- inotify and epoll ------------------------------------------------------------------ */

/* Watches on every file and directory beneath DIR (each pins its inode in the host's
 * inode cache). Returns the errno that stopped it, or 0. */
static int watch_tree(int in, const char *dir, long long limit, long long *watches, int *top)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int e = 0;
	for (struct dirent *de; !e && *watches <= limit && (de = readdir(d));) {
		char path[4096];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (out_of_time())
			break;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		int wd = inotify_add_watch(in, path, IN_ATTRIB | IN_DONT_FOLLOW);
		if (wd < 0 && (errno == ENOSPC || errno == ENOMEM))
			e = errno;
		if (wd > *top) { /* a new inode (a hard link's returns an old wd) */
			*top = wd;
			++*watches;
		}
		if (!e && de->d_type == DT_DIR)
			e = watch_tree(in, path, limit, watches, top);
	}
	closedir(d);
	return e;
}

static int a_inotify_watches(char **argv)
{
	long long limit = arg_limit(argv, 1), watches = 0;
	int in = inotify_init1(IN_CLOEXEC), top = 0;
	if (in < 0)
		return error("inotify_init1: %s", ename(errno));
	int e = watch_tree(in, argv[0], limit, &watches, &top);
	char more[64];
	snprintf(more, sizeof(more), " on inodes beneath %s", argv[0]);
	return judge("inotify-watches", watches, "watches", limit, e, more);
}

/* Epoll instances each watching the same many eventfds: a watch is an object of its own
 * (the kernel's max_user_watches counts them), the eventfds are few. */
static int a_epoll_watches(char **argv)
{
	int nfd = count_arg(argv, 4096), fds[4096], e = 0, eps = 0;
	long long limit = arg_limit(argv, 1), watches = 0;
	for (int i = 0; i < nfd; i++)
		if ((fds[i] = eventfd(0, EFD_CLOEXEC)) < 0)
			return error("eventfd %d: %s", i, ename(errno));
	while (!e && watches <= limit && !out_of_time()) {
		int ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0) {
			e = errno;
			break;
		}
		eps++;
		for (int i = 0; i < nfd && watches <= limit; i++) {
			struct epoll_event ev = { .events = EPOLLIN };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
				e = errno;
				break;
			}
			watches++;
		}
	}
	char more[64];
	snprintf(more, sizeof(more), " in %d epoll instances", eps);
	return judge("epoll-watches", watches, "watches", limit, e, more);
}

/* ---- resources taken a piece at a time ------------------------------------------------ */

/* Takes pieces until refused, or until the team holds more than its limit. */
static int grab_until_full(const struct team *t)
{
	while (!team_full(t) && !out_of_time()) {
		long long n = t->grab->one();
		if (n < 0)
			return errno;
		__atomic_add_fetch(t->total, n, __ATOMIC_RELAXED);
	}
	return 0;
}

/* g's attack: "LIMIT" (one process), or "PROCS LIMIT". */
static int grab_attack(const struct grab *g, char **argv, bool procs_arg)
{
	int procs = procs_arg ? count_arg(argv, 128) : 1;
	struct team t = { .limit = arg_limit(argv, procs_arg), .total = shared_counters(), .grab = g };
	int e = team_run(procs, t, grab_until_full, false);
	char more[64];
	snprintf(more, sizeof(more), "%s in %d process%s", g->how, procs, procs > 1 ? "es" : "");
	return judge(g->name, *t.total, g->units, t.limit, e, more);
}

/* A real-time signal queued to itself, blocked so that it stays pending. */
static long long one_signal(void)
{
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &rt, NULL);
	return sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = 0 }) < 0 ? -1 : 1;
}

/* A POSIX timer: each holds a preallocated signal. */
static long long one_timer(void)
{
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN };
	timer_t t;
	return timer_create(CLOCK_MONOTONIC, &sev, &t) < 0 ? -1 : 1;
}

static long long one_inotify(void)
{
	return inotify_init1(IN_CLOEXEC) < 0 ? -1 : 1;
}

static long long one_pty(void)
{
	return open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC) < 0 ? -1 : 1;
}

/* A file of its own (an eventfd; dup would only add a descriptor). */
static long long one_file(void)
{
	return eventfd(0, EFD_CLOEXEC) < 0 ? -1 : 1;
}

/* A MiB of memory, locked. */
static long long one_locked_mib(void)
{
	void *p = mmap(NULL, (size_t)MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED || mlock(p, (size_t)MIB) < 0 ? -1 : MIB;
}

/* A SysV shared memory segment of a MiB, touched and detached: no process maps it. */
static long long one_shm_mib(void)
{
	int id = shmget(IPC_PRIVATE, (size_t)MIB, IPC_CREAT | 0600);
	void *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	if (p == (void *)-1)
		return -1;
	memset(p, 0xa5, (size_t)MIB);
	shmdt(p);
	return MIB;
}

/* A MiB more written to one memfd. */
static long long one_memfd_mib(void)
{
	static char chunk[1 << 20];
	static int fd = -1;
	if (fd < 0 && (fd = memfd_create("fill", MFD_CLOEXEC)) < 0)
		return -1;
	memset(chunk, 0xa5, sizeof(chunk));
	return write(fd, chunk, sizeof(chunk));
}

static const struct grab signals = { "signal-queue", "signals", " pending", one_signal },
			 timers = { "posix-timers", "timers", " made", one_timer },
			 inotifies = { "inotify-instances", "instances", " made", one_inotify },
			 ptys = { "ptys", "ptys", " opened", one_pty },
			 files = { "open-files", "files", " open at once", one_file },
			 locked = { "mlock", "bytes", " locked at once", one_locked_mib },
			 shm = { "sysv-shm", "bytes", " in detached segments", one_shm_mib },
			 memfd = { "memfd-fill", "bytes", " written", one_memfd_mib };

static int a_signal_queue(char **argv)
{
	return grab_attack(&signals, argv, false);
}

static int a_posix_timers(char **argv)
{
	return grab_attack(&timers, argv, false);
}

static int a_inotify_instances(char **argv)
{
	return grab_attack(&inotifies, argv, false);
}

static int a_ptys(char **argv)
{
	return grab_attack(&ptys, argv, false);
}

static int a_open_files(char **argv)
{
	return grab_attack(&files, argv, true);
}

static int a_mlock(char **argv)
{
	return grab_attack(&locked, argv, true);
}

static int a_sysv_shm(char **argv)
{
	return grab_attack(&shm, argv, false);
}

static int a_memfd_fill(char **argv)
{
	return grab_attack(&memfd, argv, false);
}

const struct attack exhaust_attacks[] = {
	{ "tcp-buffers", "PROCS PAIRS LIMIT", 3, a_tcp_buffers },
	{ "udp-buffers", "SOCKETS LIMIT", 2, a_udp_buffers },
	{ "unix-buffers", "PAIRS LIMIT", 2, a_unix_buffers },
	{ "pipe-buffers", "PIPES LIMIT", 2, a_pipe_buffers },
	{ "unix-inflight", "LIMIT", 1, a_unix_inflight },
	{ "sysv-msg", "LIMIT", 1, a_sysv_msg },
	{ "sysv-shm", "LIMIT", 1, a_sysv_shm },
	{ "memfd-fill", "LIMIT", 1, a_memfd_fill },
	{ "mq-bytes", "LIMIT", 1, a_mq_bytes },
	{ "mlock", "PROCS LIMIT", 2, a_mlock },
	{ "signal-queue", "LIMIT", 1, a_signal_queue },
	{ "posix-timers", "LIMIT", 1, a_posix_timers },
	{ "inotify-instances", "LIMIT", 1, a_inotify_instances },
	{ "inotify-watches", "DIR LIMIT", 2, a_inotify_watches },
	{ "epoll-watches", "FDS LIMIT", 2, a_epoll_watches },
	{ "ptys", "LIMIT", 1, a_ptys },
	{ "open-files", "PROCS LIMIT", 2, a_open_files },
};
const size_t n_exhaust_attacks = sizeof(exhaust_attacks) / sizeof(exhaust_attacks[0]);
