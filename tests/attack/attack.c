/* The escape suite's attack helper: `attack NAME [ARGS...]` tries one way out of a
 * Citadel sandbox. tests/test_escape.py runs each attack in `citadel run` (the helper
 * bound in, or handed over on stdin); a few also run on the host, to show that the attack
 * works when nothing stops it.
 *
 * It prints one line and exits:
 *   BLOCKED <errno name, what was refused>   the kernel refused (exit 0)
 *   ESCAPED <what happened>                  the attack worked (exit 66)
 *   DONE <what>                              it did what only the test can judge, from
 *                                            outside (exit 0)
 *   ERROR <why>                              bad usage or a failed preparation (exit 2),
 *                                            so that it never passes for a refusal
 * Being killed (SIGSYS from seccomp, SIGKILL from the memory cgroup, SIGXCPU, ...) also
 * means the attack failed; the test sees that in citadel's exit status.
 *
 * The attacks on what the kernel counts machine-wide (socket buffers, inotify watches,
 * queued signals, ...) are in exhaust.c; they take the bound they test as an argument.
 *
 * System calls go through syscall(2) wherever glibc's wrapper is missing or would check
 * or rewrite the arguments itself. Attacks that would change the host if they worked use
 * arguments that do no harm (the current time, an unload of nothing, ...). Output goes
 * straight to write(2): some attacks fork, and a stdio buffer would be flushed twice. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/aio_abi.h>
#include <linux/fanotify.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "attack.h"

/* ---- reporting ---------------------------------------------------------------------- */

static void say(const char *verdict, const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s ", verdict);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	for (ssize_t off = 0, w; off < n; off += w)
		if ((w = write(1, line + off, (size_t)(n - off))) <= 0)
			break;
}

int blocked(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("BLOCKED", fmt, ap);
	va_end(ap);
	return 0;
}

int escaped(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("ESCAPED", fmt, ap);
	va_end(ap);
	return EXIT_ESCAPED;
}

int done(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("DONE", fmt, ap);
	va_end(ap);
	return 0;
}

int error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("ERROR", fmt, ap);
	va_end(ap);
	return EXIT_ERROR;
}

const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* The verdict on a call that returned r: refused (r < 0, errno says why) or done. */
static int verdict(long r, const char *what)
{
	if (r < 0)
		return blocked("%s %s", ename(errno), what);
	return escaped("%s returned %ld", what, r);
}

long num(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 0);
	if (errno || end == s || *end)
		exit(error("not a number: '%s'", s));
	return v;
}

/* ---- the filesystem ----------------------------------------------------------------- */

static int a_read_file(char **argv)
{
	int fd = open(argv[0], O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return blocked("%s open %s", ename(errno), argv[0]);
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	int e = errno;
	close(fd);
	if (n < 0)
		return blocked("%s read %s", ename(e), argv[0]);
	return escaped("read %zd bytes of %s", n, argv[0]);
}

/* Opening for writing (creating when missing) is the escape: nothing is written, so a
 * success changes no host setting (core_pattern, sysrq-trigger, ...) by itself. */
static int a_write_file(char **argv)
{
	/* O_NONBLOCK: a FIFO with no reader refuses (ENXIO) rather than waits. */
	int fd = open(argv[0], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
	if (fd < 0)
		return blocked("%s open %s for writing", ename(errno), argv[0]);
	close(fd);
	return escaped("opened %s for writing", argv[0]);
}

/* Opens an existing PATH (a FIFO, say) for writing and writes a line: without O_CREAT,
 * which a read-only mount refuses before anything else is looked at. */
static int a_open_write(char **argv)
{
	int fd = open(argv[0], O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return blocked("%s open %s for writing", ename(errno), argv[0]);
	ssize_t n = write(fd, "from the sandbox\n", 17);
	close(fd);
	return escaped("opened %s for writing (wrote %zd bytes)", argv[0], n);
}

/* Climbs far above / with "..", then looks for the host path from there. */
static int a_chdir_escape(char **argv)
{
	if (chdir("/") < 0)
		return error("chdir /: %s", ename(errno));
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			return blocked("%s chdir ..", ename(errno));
	const char *rel = argv[0] + strspn(argv[0], "/");
	int fd = open(rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return blocked("%s open %s from 64 levels of ..", ename(errno), rel);
	close(fd);
	return escaped("opened %s from 64 levels of ..", rel);
}

/* Plants symlinks in a writable bind (DIR) towards the view's read-only files and
 * writes through them. */
static int a_symlink_write(char **argv)
{
	static const struct {
		const char *target, *via;
	} tries[] = {
		{ "/etc/passwd", "" },
		{ "../../../../../../../../../../etc/passwd", "" },
		{ "/", "/etc/passwd" },
		{ "/proc/1/root", "/etc/passwd" },
		{ "/proc/self/root", "/etc/passwd" },
	};
	char refused[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		char name[PATH_MAX], path[PATH_MAX + 32];
		snprintf(name, sizeof(name), "%s/link%zu", argv[0], i);
		snprintf(path, sizeof(path), "%s%s", name, tries[i].via);
		unlink(name);
		if (symlink(tries[i].target, name) < 0)
			return error("symlink %s -> %s: %s", name, tries[i].target, ename(errno));
		int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			return escaped("opened %s (-> %s) for writing", path, tries[i].target);
		}
		used += (size_t)snprintf(refused + used, sizeof(refused) - used, "%s%s %s",
					 i ? ", " : "", ename(errno), path);
		if (used >= sizeof(refused))
			used = sizeof(refused) - 1;
	}
	return blocked("%s", refused);
}

/* A hard link from a writable bind (DIR) to the view's /etc/shadow: a writable name for
 * a read-only file, which would outlive the run on the host. */
static int a_hardlink(char **argv)
{
	char name[PATH_MAX];
	snprintf(name, sizeof(name), "%s/shadow", argv[0]);
	return verdict(link("/etc/shadow", name), "link /etc/shadow");
}

/* Leaves a setuid and setgid copy of this helper in a writable bind (DIR): whom it
 * belongs to on the host, only the host can tell. */
static int a_plant_setuid(char **argv)
{
	char path[PATH_MAX], buf[65536];
	snprintf(path, sizeof(path), "%s/planted-setuid", argv[0]);
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return error("open /proc/self/exe: %s", ename(errno));
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0)
		return blocked("%s create %s", ename(errno), path);
	for (ssize_t n; (n = read(in, buf, sizeof(buf))) > 0;)
		if (write(out, buf, (size_t)n) != n)
			return error("copying to %s: %s", path, ename(errno));
	if (fchmod(out, 06755) < 0)
		return blocked("%s fchmod 06755 %s", ename(errno), path);
	struct stat st;
	if (fstat(out, &st) < 0)
		return error("fstat %s: %s", path, ename(errno));
	if (!(st.st_mode & (S_ISUID | S_ISGID)))
		return blocked("the setuid and setgid bits of %s were dropped", path);
	return done("planted %s mode %o, owned by %u:%u inside", path, st.st_mode & 07777, st.st_uid, st.st_gid);
}

static int a_mknod_dev(char **argv)
{
	(void)argv;
	return verdict(mknod("/tmp/null", S_IFCHR | 0666, makedev(1, 3)), "mknod /tmp/null c 1 3");
}

/* All file capabilities on a file the sandbox made in DIR (a writable bind: there, they
 * would stay on the host). */
static int a_fcaps(char **argv)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/fcaps", argv[0]);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	if (fd < 0)
		return error("creating %s: %s", path, ename(errno));
	close(fd);
	struct vfs_cap_data cap = { .magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE };
	cap.data[0].permitted = cap.data[1].permitted = ~0U;
	return verdict(setxattr(path, "security.capability", &cap, sizeof(cap), 0),
		       "setxattr security.capability");
}

/* The "shocker" escape: open the host root filesystem's root inode (ext4 and xfs number
 * it 2) by handle, through the mount of a bind. */
static int a_open_by_handle(char **argv)
{
	(void)argv;
	int dir = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return error("open /etc: %s", ename(errno));
	struct file_handle *fh = calloc(1, sizeof(*fh) + 8);
	if (!fh)
		return error("out of memory");
	const uint32_t ino_gen[2] = { 2, 0 };
	fh->handle_bytes = sizeof(ino_gen);
	fh->handle_type = 1; /* FILEID_INO32_GEN */
	memcpy(fh->f_handle, ino_gen, sizeof(ino_gen));
	return verdict(syscall(SYS_open_by_handle_at, dir, fh, O_RDONLY), "open_by_handle_at");
}

/* ---- privilege ---------------------------------------------------------------------- */

/* Execs a setuid-root copy of this helper (PATH), which reports what it gained. */
static int a_setuid_caps(char **argv)
{
	char euid[16];
	snprintf(euid, sizeof(euid), "%u", geteuid());
	char *args[] = { argv[0], "print-caps", euid, NULL };
	execv(argv[0], args);
	return blocked("%s exec %s", ename(errno), argv[0]);
}

static unsigned long long status_hex(const char *status, const char *key)
{
	const char *p = strstr(status, key);
	return p ? strtoull(p + strlen(key), NULL, 16) : ~0ULL;
}

/* The second half of setuid-caps: run as the setuid program. */
static int a_print_caps(char **argv)
{
	char status[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, status, sizeof(status) - 1);
	if (n <= 0)
		return error("reading /proc/self/status: %s", ename(errno));
	close(fd);
	status[n] = '\0';
	unsigned long long eff = status_hex(status, "\nCapEff:\t"), prm = status_hex(status, "\nCapPrm:\t");
	uid_t before = (uid_t)num(argv[0]), now = geteuid();
	if (eff || prm || now != before)
		return escaped("CapEff=%llx CapPrm=%llx euid=%u (was %u)", eff, prm, now, before);
	return blocked("nothing gained: CapEff=0 CapPrm=0 euid=%u", now);
}

static int a_capset(char **argv)
{
	(void)argv;
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	for (int i = 0; i < 2; i++)
		data[i] = (struct __user_cap_data_struct){ ~0U, ~0U, ~0U };
	return verdict(syscall(SYS_capset, &hdr, data), "capset all capabilities");
}

static int a_sched_fifo(char **argv)
{
	(void)argv;
	struct sched_param sp = { .sched_priority = 1 };
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
		return blocked("%s sched_setscheduler SCHED_FIFO", ename(errno));
	sp.sched_priority = 0;
	sched_setscheduler(0, SCHED_OTHER, &sp);
	return escaped("got real-time scheduling (SCHED_FIFO)");
}

static int a_nice(char **argv)
{
	(void)argv;
	return verdict(setpriority(PRIO_PROCESS, 0, -10), "setpriority -10");
}

static int a_personality(char **argv)
{
	unsigned long want = (unsigned long)num(argv[0]);
	if (syscall(SYS_personality, want) < 0)
		return blocked("%s personality %#lx", ename(errno), want);
	long now = syscall(SYS_personality, 0xffffffffUL);
	if (now == (long)want)
		return escaped("personality is now %#lx", want);
	return blocked("personality %#lx ignored (still %#lx)", want, now);
}

/* ---- other processes ---------------------------------------------------------------- */

/* The command line of the sandbox's init, which whoever made that init left there. */
static int a_init_cmdline(char **argv)
{
	(void)argv;
	char buf[512];
	int fd = open("/proc/1/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return blocked("%s open /proc/1/cmdline", ename(errno));
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return blocked("%s read /proc/1/cmdline", ename(errno));
	close(fd);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0' || buf[i] == '\n')
			buf[i] = ' ';
	buf[n] = '\0';
	return done("read /proc/1/cmdline: %s", buf);
}

static int a_kill(char **argv)
{
	return verdict(kill((pid_t)num(argv[0]), SIGKILL), "kill SIGKILL");
}

static int a_pidfd_kill(char **argv)
{
	long fd = syscall(SYS_pidfd_open, (pid_t)num(argv[0]), 0);
	if (fd < 0)
		return blocked("%s pidfd_open", ename(errno));
	return verdict(syscall(SYS_pidfd_send_signal, (int)fd, SIGKILL, NULL, 0),
		       "pidfd_send_signal SIGKILL");
}

/* Lists /proc: only init (1) and this process should be there. */
static int a_proc_pids(char **argv)
{
	(void)argv;
	DIR *d = opendir("/proc");
	if (!d)
		return blocked("%s opendir /proc", ename(errno));
	char others[512] = "";
	size_t used = 0;
	int count = 0;
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name)
			continue;
		count++;
		if (pid != 1 && pid != getpid() && used < sizeof(others) - 1) {
			used += (size_t)snprintf(others + used, sizeof(others) - used, " %ld", pid);
			if (used >= sizeof(others))
				used = sizeof(others) - 1;
		}
	}
	closedir(d);
	if (used)
		return escaped("%d processes visible, besides init and me:%s", count, others);
	return blocked("only init and me among %d processes in /proc", count);
}

static int a_ptrace(long request, pid_t pid, const char *what)
{
	long r = syscall(SYS_ptrace, request, pid, NULL, NULL);
	if (r < 0)
		return blocked("%s %s", ename(errno), what);
	syscall(SYS_ptrace, PTRACE_DETACH, pid, NULL, NULL);
	return escaped("%s", what);
}

static int a_ptrace_attach(char **argv)
{
	return a_ptrace(PTRACE_ATTACH, (pid_t)num(argv[0]), "ptrace PTRACE_ATTACH");
}

static int a_ptrace_seize(char **argv)
{
	return a_ptrace(PTRACE_SEIZE, (pid_t)num(argv[0]), "ptrace PTRACE_SEIZE");
}

static int a_ptrace_child(char **argv)
{
	(void)argv;
	pid_t child = fork();
	if (child < 0)
		return error("fork: %s", ename(errno));
	if (child == 0) {
		pause();
		_exit(0);
	}
	int rc = a_ptrace(PTRACE_SEIZE, child, "ptrace PTRACE_SEIZE of a child");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return rc;
}

static int a_process_vm_readv(char **argv)
{
	char buf[16];
	struct iovec local = { buf, sizeof(buf) }, remote = { (void *)0x400000, sizeof(buf) };
	return verdict(syscall(SYS_process_vm_readv, (pid_t)num(argv[0]), &local, 1UL, &remote, 1UL, 0UL),
		       "process_vm_readv");
}

/* ---- namespaces and mounts ---------------------------------------------------------- */

static int a_mount_tmpfs(char **argv)
{
	(void)argv;
	return verdict(mount("none", "/tmp", "tmpfs", 0, "size=1m"), "mount tmpfs on /tmp");
}

static int a_umount_proc(char **argv)
{
	(void)argv;
	return verdict(umount2("/proc", MNT_DETACH), "umount2 /proc");
}

static int a_chroot(char **argv)
{
	(void)argv;
	return verdict(chroot("/tmp"), "chroot /tmp");
}

static int a_unshare_user(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_unshare, CLONE_NEWUSER), "unshare CLONE_NEWUSER");
}

static int a_setns(char **argv)
{
	int fd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return blocked("%s open %s", ename(errno), argv[0]);
	return verdict(syscall(SYS_setns, fd, 0), "setns");
}

/* A child that exits at once; the parent reports. */
static int forked(long pid, const char *what)
{
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return blocked("%s %s", ename(errno), what);
	waitpid((pid_t)pid, NULL, __WALL);
	return escaped("%s made a child in new namespaces", what);
}

static int a_clone_newuser(char **argv)
{
	(void)argv;
	return forked(syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, 0UL),
		      "clone CLONE_NEWUSER");
}

static int a_clone3_newuser(char **argv)
{
	(void)argv;
	struct clone_args args = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	return forked(syscall(SYS_clone3, &args, sizeof(args)), "clone3 CLONE_NEWUSER");
}

/* ---- the network -------------------------------------------------------------------- */

static int a_connect_tcp(char **argv)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return blocked("%s socket", ename(errno));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)num(argv[0])),
				  .sin_addr = { htonl(INADDR_LOOPBACK) } };
	return verdict(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), "connect 127.0.0.1");
}

static int a_abstract_unix(char **argv)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return blocked("%s socket", ename(errno));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(argv[0]);
	if (len + 1 > sizeof(sa.sun_path))
		return error("abstract name too long");
	memcpy(sa.sun_path + 1, argv[0], len);
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
	return verdict(connect(fd, (struct sockaddr *)&sa, sl), "connect to an abstract unix socket");
}

static int a_raw_socket(char **argv)
{
	(void)argv;
	return verdict(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), "socket AF_INET SOCK_RAW");
}

static int a_packet_socket(char **argv)
{
	(void)argv;
	return verdict(socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), "socket AF_PACKET");
}

/* A host daemon's pathname socket: connect to it (stream), or send to it (datagram,
 * by sendto and by sendmsg). */
static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	strcpy(sa->sun_path, path);
	return 0;
}

static int a_unix_connect(char **argv)
{
	struct sockaddr_un sa;
	if (unix_addr(argv[0], &sa) < 0)
		return error("path too long");
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return blocked("%s socket", ename(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return escaped("connected to %s", argv[0]);
		if (errno != EPROTOTYPE) /* a stream listener refuses a seqpacket: try the other */
			return blocked("%s connect %s", ename(errno), argv[0]);
		close(fd);
	}
	return blocked("EPROTOTYPE connect %s", argv[0]);
}

static int a_unix_send(char **argv)
{
	struct sockaddr_un sa;
	if (unix_addr(argv[0], &sa) < 0)
		return error("path too long");
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return blocked("%s socket", ename(errno));
	if (sendto(fd, "sendto", 6, 0, (struct sockaddr *)&sa, sizeof(sa)) >= 0)
		return escaped("sendto %s", argv[0]);
	int e1 = errno;
	struct iovec iov = { .iov_base = "sendmsg", .iov_len = 7 };
	struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1 };
	if (sendmsg(fd, &mh, 0) >= 0)
		return escaped("sendmsg %s", argv[0]);
	return blocked("%s sendto, %s sendmsg %s", ename(e1), ename(errno), argv[0]);
}

/* Every address family but the allowed ones (unix, IP, netlink; packet kills), by
 * socket(2) and by socketpair(2), each type: the call must be refused before the family's
 * code runs (ENOSYS from the policy; EAFNOSUPPORT, EOPNOTSUPP or success mean the kernel
 * reached it, and on a modular kernel loaded its module). IP protocols other than TCP
 * and UDP the same. */
static int a_socket_families(char **argv)
{
	(void)argv;
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW, SOCK_RDM };
	int tried = 0;
	for (int fam = 1; fam < 46; fam++) {
		if (fam == AF_UNIX || fam == AF_INET || fam == AF_INET6 || fam == AF_NETLINK || fam == AF_PACKET)
			continue;
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++, tried += 2) {
			int sv[2];
			if (socket(fam, types[t] | SOCK_CLOEXEC, 0) >= 0 || errno != ENOSYS)
				return escaped("socket(%d, %d) reached the family: %s", fam, types[t], ename(errno));
			if (socketpair(fam, types[t] | SOCK_CLOEXEC, 0, sv) == 0 || errno != ENOSYS)
				return escaped("socketpair(%d, %d) reached the family: %s", fam, types[t], ename(errno));
		}
	}
	static const int protos[] = { 132 /* SCTP */, 33 /* DCCP */, 262 /* MPTCP */, 136 /* UDPLITE */ };
	for (size_t p = 0; p < sizeof(protos) / sizeof(protos[0]); p++, tried += 2) {
		int sv[2];
		if (socket(AF_INET, SOCK_STREAM, protos[p]) >= 0 || errno != ENOSYS)
			return escaped("socket(AF_INET, %d) reached the protocol: %s", protos[p], ename(errno));
		if (socketpair(AF_INET6, SOCK_STREAM, protos[p], sv) == 0 || errno != ENOSYS)
			return escaped("socketpair(AF_INET6, %d) reached the protocol: %s", protos[p], ename(errno));
	}
	return blocked("ENOSYS for all %d calls naming another family or protocol", tried);
}

/* Watches DIR for SECONDS (kind: inotify, dnotify or fanotify) after saying so on its
 * first line; the test meanwhile makes other processes (the host, another sandbox) use
 * files there. This process does nothing in DIR itself, so any event is someone else's
 * activity. */
static int a_watch(char **argv)
{
	const char *kind = argv[0], *dir = argv[1];
	long secs = num(argv[2]);
	int fd;
	if (!strcmp(kind, "inotify")) {
		fd = (int)syscall(SYS_inotify_init1, O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 || syscall(SYS_inotify_add_watch, fd, dir, 0xfffU /* IN_ALL_EVENTS */) < 0)
			return blocked("%s inotify on %s", ename(errno), dir);
	} else if (!strcmp(kind, "dnotify")) {
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		sigset_t rt;
		sigemptyset(&rt);
		sigaddset(&rt, SIGRTMIN);
		sigprocmask(SIG_BLOCK, &rt, NULL);
		if (fd < 0 || fcntl(fd, F_SETSIG, SIGRTMIN) < 0 ||
		    fcntl(fd, F_NOTIFY, DN_ACCESS | DN_MODIFY | DN_CREATE | DN_DELETE | DN_RENAME | DN_ATTRIB | DN_MULTISHOT) < 0)
			return blocked("%s dnotify on %s", ename(errno), dir);
	} else if (!strcmp(kind, "fanotify")) {
		fd = (int)syscall(SYS_fanotify_init, 0 /* FAN_CLASS_NOTIF */, O_RDONLY);
		if (fd < 0)
			return blocked("%s fanotify_init", ename(errno));
		return escaped("fanotify_init");
	} else {
		return error("unknown kind %s", kind);
	}
	done("watching %s", dir);
	for (long waited = 0; waited < secs * 10; waited++) {
		char buf[4096] __attribute__((aligned(8)));
		if (!strcmp(kind, "inotify")) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n > 0) {
				const char *name = ((const int *)buf)[3] ? buf + 16 : "";
				return escaped("inotify reported mask %#x on '%s' in %s", ((const unsigned *)buf)[1], name, dir);
			}
		} else {
			sigset_t rt;
			sigemptyset(&rt);
			sigaddset(&rt, SIGRTMIN);
			if (sigtimedwait(&rt, NULL, &(struct timespec){ 0, 0 }) > 0)
				return escaped("dnotify reported activity in %s", dir);
		}
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	return blocked("nothing reported in %s for %lds", dir, secs);
}

/* Takes a lock (kind: flock, posix, ofd, lease) on PATH and holds it SECONDS after saying
 * so; the test meanwhile takes a conflicting lock, or opens the file for writing, from the
 * host, which must not wait for this process. */
static int a_lock(char **argv)
{
	const char *kind = argv[0], *path = argv[1];
	long secs = num(argv[2]);
	/* fd:N locks what the program was handed as fd N (its stdio), not a path to it. */
	int fd = !strncmp(path, "fd:", 3) ? (int)num(path + 3) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return blocked("%s open %s", ename(errno), path);
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	long r;
	if (!strcmp(kind, "flock"))
		r = flock(fd, LOCK_EX | LOCK_NB);
	else if (!strcmp(kind, "posix"))
		r = fcntl(fd, F_SETLK, &fl);
	else if (!strcmp(kind, "ofd"))
		r = fcntl(fd, F_OFD_SETLK, &fl);
	else if (!strcmp(kind, "lease"))
		r = fcntl(fd, F_SETLEASE, F_RDLCK);
	else
		return error("unknown kind %s", kind);
	if (r < 0)
		return blocked("%s %s lock on %s", ename(errno), kind, path);
	done("locked %s (%s)", path, kind);
	sleep((unsigned)secs);
	return done("released %s", path);
}

/* ---- kernel attack surface and the machine ------------------------------------------ */

static int a_bpf(char **argv)
{
	(void)argv;
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr = {
		.prog_type = BPF_PROG_TYPE_SOCKET_FILTER,
		.insn_cnt = 2,
		.insns = (uint64_t)(uintptr_t)prog,
		.license = (uint64_t)(uintptr_t)"GPL",
	};
	return verdict(syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)), "bpf BPF_PROG_LOAD");
}

/* The session keyring is the caller's (host root's): possession would reach its keys. */
static int a_keyctl(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0),
		       "keyctl KEYCTL_GET_KEYRING_ID session");
}

static int a_add_key(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_add_key, "user", "citadel-escape", "x", 1UL, KEY_SPEC_SESSION_KEYRING),
		       "add_key to the session keyring");
}

static int a_request_key(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_request_key, "user", "citadel-escape", NULL, KEY_SPEC_SESSION_KEYRING),
		       "request_key from the session keyring");
}

static int a_userfaultfd(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK), "userfaultfd");
}

static int a_io_uring(char **argv)
{
	(void)argv;
	struct io_uring_params p = { 0 };
	return verdict(syscall(SYS_io_uring_setup, 4U, &p), "io_uring_setup");
}

/* Native AIO reserves its events from the machine-wide fs.aio-max-nr. */
static int a_aio_setup(char **argv)
{
	(void)argv;
	aio_context_t ctx = 0;
	return verdict(syscall(SYS_io_setup, 4096U, &ctx), "io_setup");
}

/* A fanotify group and its marks come from per-user quotas a sandbox need not have. */
static int a_fanotify_init(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_CLOEXEC, O_RDONLY), "fanotify_init");
}

static int a_perf_event_open(char **argv)
{
	(void)argv;
	struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE, .size = sizeof(attr),
					.config = PERF_COUNT_SW_CPU_CLOCK, .disabled = 1 };
	return verdict(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0UL), "perf_event_open");
}

/* No segments and an unknown architecture: even with the right, nothing is loaded. */
static int a_kexec_load(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xffff0000UL), "kexec_load");
}

/* Four bytes that are no module. */
static int a_init_module(char **argv)
{
	(void)argv;
	static const char image[4] = { 0 };
	return verdict(syscall(SYS_init_module, image, sizeof(image), ""), "init_module");
}

/* CAD_OFF: the harmless reboot command (Ctrl-Alt-Del then signals init). */
static int a_reboot(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
			       LINUX_REBOOT_CMD_CAD_OFF, NULL),
		       "reboot CAD_OFF");
}

static int a_swapon(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_swapon, "/dev/null", 0), "swapon /dev/null");
}

/* Turning accounting off: the harmless form. */
static int a_acct(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_acct, NULL), "acct NULL");
}

/* Setting the clock to what it already says. */
static int a_settimeofday(char **argv)
{
	(void)argv;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return verdict(syscall(SYS_settimeofday, &tv, NULL), "settimeofday");
}

static int a_clock_settime(char **argv)
{
	(void)argv;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return verdict(syscall(SYS_clock_settime, CLOCK_REALTIME, &ts), "clock_settime CLOCK_REALTIME");
}

static int a_sethostname(char **argv)
{
	(void)argv;
	return verdict(syscall(SYS_sethostname, "escaped", 7UL), "sethostname");
}

/* Pushes a byte into the input of a terminal: TTY ("-" for stdin). With high, the
 * command carries bits above 32, which the kernel ignores and a filter might not. */
static int tiocsti(const char *tty, bool high)
{
	int fd = strcmp(tty, "-") ? open(tty, O_RDWR | O_CLOEXEC | O_NOCTTY) : 0;
	if (fd < 0)
		return blocked("%s open %s", ename(errno), tty);
	unsigned long cmd = (high ? 1UL << 32 : 0) | TIOCSTI;
	char c = '#';
	return verdict(syscall(SYS_ioctl, fd, cmd, &c), high ? "ioctl TIOCSTI|1<<32" : "ioctl TIOCSTI");
}

static int a_tiocsti(char **argv)
{
	return tiocsti(argv[0], false);
}

static int a_tiocsti_high(char **argv)
{
	return tiocsti(argv[0], true);
}

/* Opens what TTY names: "-" for stdin, stdout and stderr (those that are terminals), or a
 * path (/dev/tty). Returns how many terminals went into fds, or -errno when TTY is a
 * path that cannot be opened. */
static int tty_open(const char *tty, int fds[3])
{
	int n = 0;
	if (!strcmp(tty, "-")) {
		for (int fd = 0; fd < 3; fd++)
			if (isatty(fd))
				fds[n++] = fd;
		return n;
	}
	int fd = open(tty, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	fds[n++] = fd;
	return n;
}

/* What a program could do to a terminal that would outlast it: another line discipline
 * (N_NULL: nothing typed reaches anyone), raw modes that also stop background writers
 * (TOSTOP), a 1x1 window, exclusive use (no one else may open it), output stopped. */
static void tty_damage(const int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		struct termios t;
		if (tcgetattr(fds[i], &t) == 0) {
			cfmakeraw(&t);
			t.c_lflag |= TOSTOP;
			tcsetattr(fds[i], TCSANOW, &t);
		}
		struct winsize w = { .ws_row = 1, .ws_col = 1 };
		ioctl(fds[i], TIOCSWINSZ, &w);
		ioctl(fds[i], TIOCEXCL);
		int ldisc = 27; /* N_NULL */
		ioctl(fds[i], TIOCSETD, &ldisc);
		tcflow(fds[i], TCOOFF);
	}
}

/* Goes for the caller's terminal by way of GAME, then damages what it reached; judged
 * from outside (the caller's terminal must be as it was). The verdict comes first: a
 * damaged terminal may take no more output.
 *   damage  straight at TTY
 *   notty   TIOCNOTTY first (drops the controlling terminal), then at TTY
 *   sctty   a new session that steals TTY as its controlling terminal (TIOCSCTTY, 1)
 *   jobctl  TTY's foreground taken from citadel, with TOSTOP: a citadel that writes to
 *           its own terminal would stop (SIGTTOU) and the run hang
 *   flush   TCFLSH of both queues first
 *   hold    a child keeps TTY, and damages it a second after the program has exited
 *   write   no damage: 4 MiB written to TTY, around the output limit if it were the
 *           caller's own */
static int a_tty(char **argv)
{
	const char *game = argv[0];
	int fds[3];
	signal(SIGHUP, SIG_IGN); /* TIOCNOTTY of a session leader hangs its terminal up */
	signal(SIGTTOU, SIG_IGN);
	if (!strcmp(game, "sctty")) {
		setsid();
		int n = tty_open(argv[1], fds);
		for (int i = 0; i < n; i++)
			ioctl(fds[i], TIOCSCTTY, 1);
	}
	int n = tty_open(argv[1], fds);
	if (n < 0)
		return blocked("%s open %s", ename(-n), argv[1]);
	if (!strcmp(game, "write")) {
		static char buf[65536];
		memset(buf, 'w', sizeof(buf));
		for (int k = 0; k < 64; k++)
			for (int i = 0; i < n; i++)
				if (write(fds[i], buf, sizeof(buf)) < 0)
					return blocked("%s write %s", ename(errno), argv[1]);
		return done("wrote 4 MiB to %d terminals", n);
	}
	for (int i = 0; i < n; i++) {
		if (!strcmp(game, "notty"))
			ioctl(fds[i], TIOCNOTTY);
		if (!strcmp(game, "jobctl")) {
			setpgid(0, 0);
			tcsetpgrp(fds[i], getpgrp());
		}
		if (!strcmp(game, "flush"))
			tcflush(fds[i], TCIOFLUSH);
	}
	if (!strcmp(game, "hold")) {
		pid_t pid = fork();
		if (pid < 0)
			return error("fork: %s", ename(errno));
		if (pid == 0) {
			sleep(1);
			tty_damage(fds, n);
			_exit(0);
		}
		return done("a child holds %d terminals", n);
	}
	done("%s: damaging %d terminals", game, n);
	tty_damage(fds, n);
	return 0;
}

/* ---- other system call entries ------------------------------------------------------ */

static int a_x32_getpid(char **argv)
{
	(void)argv;
	long r = syscall(0x40000000L | SYS_getpid);
	if (r < 0)
		return blocked("%s x32 getpid", ename(errno));
	return escaped("x32 getpid returned %ld", r);
}

/* The i386 entry (int 0x80) from a 64-bit process: number 20 is getpid there. */
static int a_i386_getpid(char **argv)
{
	(void)argv;
	long r = 20;
	__asm__ volatile("int $0x80" : "+a"(r) : : "r8", "r9", "r10", "r11", "memory");
	if (r < 0)
		return blocked("%s i386 getpid", ename((int)-r));
	return escaped("i386 getpid returned %ld", r);
}

/* unshare(CLONE_NEWUSER) with bits above 32 in the system call number, which the
 * kernel drops: a filter that compared all 64 bits would let it through. */
static int a_nr_high_bits(char **argv)
{
	(void)argv;
	long r = (1L << 32) | SYS_unshare;
	register long flags __asm__("rdi") = CLONE_NEWUSER;
	__asm__ volatile("syscall" : "+a"(r) : "r"(flags) : "rcx", "r11", "memory");
	if (r < 0)
		return blocked("%s unshare with a 64-bit system call number", ename((int)-r));
	return escaped("unshare CLONE_NEWUSER with a 64-bit system call number returned %ld", r);
}

/* ---- file descriptors --------------------------------------------------------------- */

/* Looks for descriptors above stdio that the sandbox let through: a host directory among
 * them would be a way out (openat(fd, "..")). */
static int a_inherited_fds(char **argv)
{
	(void)argv;
	char found[512] = "";
	size_t used = 0;
	for (int fd = 3; fd <= 64; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		char what[64] = "";
		if (S_ISDIR(st.st_mode)) {
			int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			snprintf(what, sizeof(what), "a directory%s", up >= 0 ? " whose parent opens" : "");
			if (up >= 0)
				close(up);
		} else {
			snprintf(what, sizeof(what), "mode %o", st.st_mode & S_IFMT);
		}
		used += (size_t)snprintf(found + used, sizeof(found) - used, " fd %d (%s)", fd, what);
		if (used >= sizeof(found))
			used = sizeof(found) - 1;
	}
	if (used)
		return escaped("inherited descriptors:%s", found);
	return blocked("no descriptor above 2 is open");
}

/* ---- resources ---------------------------------------------------------------------- */

/* Forks until refused; the children wait for the end of the sandbox. Stops at MAX. */
static int a_fork_bomb(char **argv)
{
	long max = num(argv[0]);
	for (long n = 0; n < max; n++) {
		pid_t p = fork();
		if (p < 0)
			return blocked("%s after %ld forks", ename(errno), n);
		if (p == 0) {
			pause();
			_exit(0);
		}
	}
	return escaped("%ld forks", max);
}

/* Touches memory a MiB at a time until killed or refused. Stops at MAX bytes. */
static int a_memory_bomb(char **argv)
{
	const size_t mib = 1 << 20;
	size_t max = (size_t)num(argv[0]), got = 0;
	for (; got < max; got += mib) {
		char *p = mmap(NULL, mib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return blocked("%s after %zu MiB", ename(errno), got / mib);
		memset(p, 0xa5, mib);
	}
	return escaped("touched %zu MiB", got / mib);
}

/* Writes /tmp/fill until refused; more than LIMIT bytes is an escape. */
static int a_tmp_fill(char **argv)
{
	static char chunk[65536];
	long long limit = num(argv[0]), written = 0;
	int fd = open("/tmp/fill", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return error("creating /tmp/fill: %s", ename(errno));
	memset(chunk, 'x', sizeof(chunk));
	while (written <= limit) {
		ssize_t n = write(fd, chunk, sizeof(chunk));
		if (n < 0)
			return blocked("%s after %lld bytes", ename(errno), written);
		written += n;
	}
	return escaped("wrote %lld bytes to /tmp, over %lld", written, limit);
}

/* Writes to stdout until killed; stops after MAX bytes. */
static int a_output_flood(char **argv)
{
	static char chunk[65536];
	long long max = num(argv[0]), written = 0;
	memset(chunk, 'A', sizeof(chunk));
	while (written < max) {
		ssize_t n = write(1, chunk, sizeof(chunk));
		if (n < 0)
			return blocked("%s after %lld bytes", ename(errno), written);
		written += n;
	}
	return escaped("wrote %lld bytes", written);
}

/* Sleeps, with a child sleeping too, until killed; gives up after 30 s. */
static int a_sleep(char **argv)
{
	(void)argv;
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	struct timespec ts = { .tv_sec = 30 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return escaped("still running after 30 s");
}

/* Burns CPU until killed; gives up after 30 s of it. */
static int a_cpu_burn(char **argv)
{
	(void)argv;
	struct timespec ts;
	do
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	while (ts.tv_sec < 30);
	return escaped("used 30 s of CPU");
}

/* The same, ignoring the SIGXCPU of the soft limit. */
static int a_cpu_burn_ignore(char **argv)
{
	signal(SIGXCPU, SIG_IGN);
	return a_cpu_burn(argv);
}

/* ---- dispatch ----------------------------------------------------------------------- */

static const struct attack attacks[] = {
	{ "read-file", "PATH", 1, a_read_file },
	{ "write-file", "PATH", 1, a_write_file },
	{ "open-write", "PATH", 1, a_open_write },
	{ "chdir-escape", "PATH", 1, a_chdir_escape },
	{ "symlink-write", "DIR", 1, a_symlink_write },
	{ "hardlink", "DIR", 1, a_hardlink },
	{ "plant-setuid", "DIR", 1, a_plant_setuid },
	{ "mknod-dev", "", 0, a_mknod_dev },
	{ "fcaps", "DIR", 1, a_fcaps },
	{ "open-by-handle", "", 0, a_open_by_handle },
	{ "setuid-caps", "PATH", 1, a_setuid_caps },
	{ "print-caps", "EUID", 1, a_print_caps },
	{ "capset", "", 0, a_capset },
	{ "sched-fifo", "", 0, a_sched_fifo },
	{ "nice", "", 0, a_nice },
	{ "personality", "VALUE", 1, a_personality },
	{ "init-cmdline", "", 0, a_init_cmdline },
	{ "kill", "PID", 1, a_kill },
	{ "pidfd-kill", "PID", 1, a_pidfd_kill },
	{ "proc-pids", "", 0, a_proc_pids },
	{ "ptrace-attach", "PID", 1, a_ptrace_attach },
	{ "ptrace-seize", "PID", 1, a_ptrace_seize },
	{ "ptrace-child", "", 0, a_ptrace_child },
	{ "process-vm-readv", "PID", 1, a_process_vm_readv },
	{ "mount-tmpfs", "", 0, a_mount_tmpfs },
	{ "umount-proc", "", 0, a_umount_proc },
	{ "chroot", "", 0, a_chroot },
	{ "unshare-user", "", 0, a_unshare_user },
	{ "setns", "NSFILE", 1, a_setns },
	{ "clone-newuser", "", 0, a_clone_newuser },
	{ "clone3-newuser", "", 0, a_clone3_newuser },
	{ "connect-tcp", "PORT", 1, a_connect_tcp },
	{ "abstract-unix", "NAME", 1, a_abstract_unix },
	{ "unix-connect", "PATH", 1, a_unix_connect },
	{ "unix-send", "PATH", 1, a_unix_send },
	{ "socket-families", "", 0, a_socket_families },
	{ "watch", "inotify|dnotify|fanotify DIR SECONDS", 3, a_watch },
	{ "lock", "flock|posix|ofd|lease PATH|fd:N SECONDS", 3, a_lock },
	{ "raw-socket", "", 0, a_raw_socket },
	{ "packet-socket", "", 0, a_packet_socket },
	{ "bpf", "", 0, a_bpf },
	{ "keyctl", "", 0, a_keyctl },
	{ "add-key", "", 0, a_add_key },
	{ "request-key", "", 0, a_request_key },
	{ "userfaultfd", "", 0, a_userfaultfd },
	{ "io-uring", "", 0, a_io_uring },
	{ "aio-setup", "", 0, a_aio_setup },
	{ "fanotify-init", "", 0, a_fanotify_init },
	{ "perf-event-open", "", 0, a_perf_event_open },
	{ "kexec-load", "", 0, a_kexec_load },
	{ "init-module", "", 0, a_init_module },
	{ "reboot", "", 0, a_reboot },
	{ "swapon", "", 0, a_swapon },
	{ "acct", "", 0, a_acct },
	{ "settimeofday", "", 0, a_settimeofday },
	{ "clock-settime", "", 0, a_clock_settime },
	{ "sethostname", "", 0, a_sethostname },
	{ "tiocsti", "TTY|-", 1, a_tiocsti },
	{ "tiocsti-high", "TTY|-", 1, a_tiocsti_high },
	{ "tty", "damage|notty|sctty|jobctl|flush|hold|write TTY|-", 2, a_tty },
	{ "x32-getpid", "", 0, a_x32_getpid },
	{ "i386-getpid", "", 0, a_i386_getpid },
	{ "nr-high-bits", "", 0, a_nr_high_bits },
	{ "inherited-fds", "", 0, a_inherited_fds },
	{ "fork-bomb", "MAX", 1, a_fork_bomb },
	{ "memory-bomb", "MAXBYTES", 1, a_memory_bomb },
	{ "tmp-fill", "LIMIT", 1, a_tmp_fill },
	{ "output-flood", "MAXBYTES", 1, a_output_flood },
	{ "sleep", "", 0, a_sleep },
	{ "cpu-burn", "", 0, a_cpu_burn },
	{ "cpu-burn-ignore", "", 0, a_cpu_burn_ignore },
};

int main(int argc, char **argv)
{
	const struct {
		const struct attack *row;
		size_t n;
	} tables[] = { { attacks, sizeof(attacks) / sizeof(attacks[0]) }, { exhaust_attacks, n_exhaust_attacks } };
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; argc >= 2 && i < tables[t].n; i++)
			if (!strcmp(argv[1], tables[t].row[i].name) && argc - 2 == tables[t].row[i].nargs)
				return tables[t].row[i].run(argv + 2);
	fprintf(stderr, "usage: attack NAME [ARGS]; the attacks:\n");
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < tables[t].n; i++)
			fprintf(stderr, "  %s %s\n", tables[t].row[i].name, tables[t].row[i].args);
	return EXIT_ERROR;
}
