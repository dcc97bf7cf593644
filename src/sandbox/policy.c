#include "sandbox/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ioprio.h>
#include <linux/kd.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/util.h"

#define ALLOW(n) { .syscall = (n), .verdict = CIT_SC_ALLOW }
#define DENY(n, e) { .syscall = (n), .verdict = CIT_SC_ERRNO, .err = (e) }
#define KILL(n) { .syscall = (n), .verdict = CIT_SC_KILL }
#define C_EQ(a, v) { .arg = (a), .op = CIT_SC_EQ, .datum = (v) }
#define C_MEQ(a, m, v) { .arg = (a), .op = CIT_SC_EQ, .datum = (v), .mask = (m) }

/* Namespace-creating clone flags: a sandboxed process may fork and make threads, never
 * new namespaces (the kernel attack surface of user namespaces stays out of reach). */
#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | \
		  CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME)
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#define SOCK_TYPE_MASK 0xfULL
#define LOW32 0xffffffffULL
#define HIGH32 0xffffffff00000000ULL

/* The rows of every call that names a socket family, type and protocol. IP: TCP and UDP
 * only (SCTP, DCCP, MPTCP and the like would load kernel modules). Raw and packet sockets
 * kill the process. */
#define SOCKET_ROWS(call) \
	{ .syscall = (call), .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_EQ(0, AF_UNIX) } }, \
	IP_ROWS(call, AF_INET), IP_ROWS(call, AF_INET6), \
	{ .syscall = (call), .verdict = CIT_SC_ALLOW, .n_cond = 2, .cond = { C_EQ(0, AF_NETLINK), C_EQ(2, NETLINK_ROUTE) } }, \
	{ .syscall = (call), .verdict = CIT_SC_KILL, .n_cond = 2, .cond = { C_EQ(0, AF_INET), C_MEQ(1, SOCK_TYPE_MASK, SOCK_RAW) } }, \
	{ .syscall = (call), .verdict = CIT_SC_KILL, .n_cond = 2, .cond = { C_EQ(0, AF_INET6), C_MEQ(1, SOCK_TYPE_MASK, SOCK_RAW) } }, \
	{ .syscall = (call), .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_EQ(0, AF_PACKET) } }
#define IP_ROW(call, fam, type, proto) \
	{ .syscall = (call), .verdict = CIT_SC_ALLOW, .n_cond = 3, \
	  .cond = { C_EQ(0, (fam)), C_MEQ(1, SOCK_TYPE_MASK, (type)), C_EQ(2, (proto)) } }
#define IP_ROWS(call, fam) \
	IP_ROW(call, fam, SOCK_STREAM, 0), IP_ROW(call, fam, SOCK_STREAM, IPPROTO_TCP), \
	IP_ROW(call, fam, SOCK_DGRAM, 0), IP_ROW(call, fam, SOCK_DGRAM, IPPROTO_UDP)

static const struct cit_sc_rule rules[] = {
	/* Files and directories: the mount table, landlock and DAC decide what is reachable. */
	ALLOW("read"), ALLOW("write"), ALLOW("readv"), ALLOW("writev"), ALLOW("pread64"),
	ALLOW("pwrite64"), ALLOW("preadv"), ALLOW("pwritev"), ALLOW("preadv2"), ALLOW("pwritev2"),
	ALLOW("open"), ALLOW("openat"), ALLOW("openat2"), ALLOW("creat"), ALLOW("close"),
	ALLOW("close_range"), ALLOW("stat"), ALLOW("fstat"), ALLOW("lstat"), ALLOW("newfstatat"),
	ALLOW("statx"), ALLOW("statfs"), ALLOW("fstatfs"), ALLOW("lseek"), ALLOW("access"),
	ALLOW("faccessat"), ALLOW("faccessat2"), ALLOW("getdents"), ALLOW("getdents64"),
	ALLOW("getcwd"), ALLOW("chdir"), ALLOW("fchdir"), ALLOW("rename"), ALLOW("renameat"),
	ALLOW("renameat2"), ALLOW("mkdir"), ALLOW("mkdirat"), ALLOW("rmdir"), ALLOW("link"),
	ALLOW("linkat"), ALLOW("unlink"), ALLOW("unlinkat"), ALLOW("symlink"), ALLOW("symlinkat"),
	ALLOW("readlink"), ALLOW("readlinkat"), ALLOW("chmod"), ALLOW("fchmod"), ALLOW("fchmodat"),
	ALLOW("fchmodat2"), ALLOW("chown"), ALLOW("fchown"), ALLOW("lchown"), ALLOW("fchownat"),
	ALLOW("umask"), ALLOW("truncate"), ALLOW("ftruncate"), ALLOW("fallocate"), ALLOW("fsync"),
	ALLOW("fdatasync"), ALLOW("sync"), ALLOW("syncfs"), ALLOW("sync_file_range"),
	ALLOW("fadvise64"), ALLOW("readahead"), ALLOW("utime"), ALLOW("utimes"),
	ALLOW("utimensat"), ALLOW("futimesat"), ALLOW("flock"), ALLOW("fcntl"), ALLOW("dup"),
	ALLOW("dup2"), ALLOW("dup3"), ALLOW("pipe"), ALLOW("pipe2"), ALLOW("sendfile"),
	ALLOW("splice"), ALLOW("tee"), ALLOW("copy_file_range"), ALLOW("getxattr"),
	ALLOW("lgetxattr"), ALLOW("fgetxattr"), ALLOW("listxattr"), ALLOW("llistxattr"),
	ALLOW("flistxattr"), ALLOW("setxattr"), ALLOW("lsetxattr"), ALLOW("fsetxattr"),
	ALLOW("removexattr"), ALLOW("lremovexattr"), ALLOW("fremovexattr"),
	ALLOW("inotify_init"), ALLOW("inotify_init1"), ALLOW("inotify_add_watch"),
	ALLOW("inotify_rm_watch"), ALLOW("memfd_create"), ALLOW("cachestat"),
	/* Device nodes cannot be made; fifos, sockets and plain files can (mkfifo). */
	{ .syscall = "mknod", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_MEQ(1, S_IFMT, S_IFIFO) } },
	{ .syscall = "mknod", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_MEQ(1, S_IFMT, S_IFSOCK) } },
	{ .syscall = "mknod", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_MEQ(1, S_IFMT, S_IFREG) } },
	{ .syscall = "mknod", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, S_IFMT, S_IFCHR) } },
	{ .syscall = "mknod", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, S_IFMT, S_IFBLK) } },
	{ .syscall = "mknodat", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_MEQ(2, S_IFMT, S_IFIFO) } },
	{ .syscall = "mknodat", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_MEQ(2, S_IFMT, S_IFSOCK) } },
	{ .syscall = "mknodat", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_MEQ(2, S_IFMT, S_IFREG) } },
	{ .syscall = "mknodat", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(2, S_IFMT, S_IFCHR) } },
	{ .syscall = "mknodat", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(2, S_IFMT, S_IFBLK) } },

	/* ioctl: everything but injecting input into a terminal (TIOCSTI) and the console
	 * (TIOCLINUX). The kernel reads the command as 32 bits, so the denials compare only
	 * those, and a command with any high bit set is not allowed at all. libseccomp lets
	 * the first-added of two overlapping rows win: the denials must stay above the allow
	 * (tests/unit/test_policy.c checks both orders of attack). */
	{ .syscall = "ioctl", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, LOW32, TIOCSTI) } },
	{ .syscall = "ioctl", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, LOW32, TIOCLINUX) } },
	/* On a Linux console, rewriting the keymap injects keystrokes as TIOCSTI does. */
	{ .syscall = "ioctl", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, LOW32, KDSKBENT) } },
	{ .syscall = "ioctl", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, LOW32, KDSKBSENT) } },
	{ .syscall = "ioctl", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, LOW32, KDSETKEYCODE) } },
	{ .syscall = "ioctl", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_MEQ(1, HIGH32, 0) } },

	/* Memory. */
	ALLOW("brk"), ALLOW("mmap"), ALLOW("munmap"), ALLOW("mremap"), ALLOW("mprotect"),
	ALLOW("madvise"), ALLOW("msync"), ALLOW("mincore"), ALLOW("mlock"), ALLOW("mlock2"),
	ALLOW("munlock"), ALLOW("mlockall"), ALLOW("munlockall"), ALLOW("membarrier"),
	ALLOW("remap_file_pages"), ALLOW("pkey_alloc"), ALLOW("pkey_free"), ALLOW("pkey_mprotect"),
	ALLOW("map_shadow_stack"), ALLOW("mseal"), ALLOW("get_mempolicy"),
	DENY("mbind", EPERM), DENY("set_mempolicy", EPERM), DENY("migrate_pages", EPERM),
	DENY("move_pages", EPERM), DENY("set_mempolicy_home_node", EPERM),
	DENY("process_madvise", EPERM), DENY("memfd_secret", EPERM), DENY("modify_ldt", EPERM),

	/* Processes, threads, signals: confined by the pid namespace and landlock's scope. */
	ALLOW("fork"), ALLOW("vfork"), ALLOW("execve"), ALLOW("execveat"), ALLOW("exit"),
	ALLOW("exit_group"), ALLOW("wait4"), ALLOW("waitid"), ALLOW("kill"), ALLOW("tkill"),
	ALLOW("tgkill"), ALLOW("rt_sigaction"), ALLOW("rt_sigprocmask"), ALLOW("rt_sigreturn"),
	ALLOW("rt_sigpending"), ALLOW("rt_sigsuspend"), ALLOW("rt_sigtimedwait"),
	ALLOW("rt_sigqueueinfo"), ALLOW("rt_tgsigqueueinfo"), ALLOW("sigaltstack"),
	ALLOW("signalfd"), ALLOW("signalfd4"), ALLOW("pause"), ALLOW("pidfd_open"),
	ALLOW("pidfd_send_signal"), ALLOW("getpid"), ALLOW("getppid"), ALLOW("gettid"),
	ALLOW("getpgid"), ALLOW("getpgrp"), ALLOW("setpgid"), ALLOW("getsid"), ALLOW("setsid"),
	ALLOW("set_tid_address"), ALLOW("set_robust_list"), ALLOW("get_robust_list"),
	ALLOW("rseq"), ALLOW("futex"), ALLOW("futex_waitv"), ALLOW("futex_wake"),
	ALLOW("futex_wait"), ALLOW("futex_requeue"), ALLOW("arch_prctl"), ALLOW("prctl"),
	ALLOW("restart_syscall"), ALLOW("seccomp"), ALLOW("landlock_create_ruleset"),
	ALLOW("landlock_add_rule"), ALLOW("landlock_restrict_self"), ALLOW("capget"),
	ALLOW("capset"), ALLOW("getrlimit"), ALLOW("setrlimit"), ALLOW("prlimit64"),
	ALLOW("getrusage"), ALLOW("getpriority"), ALLOW("setpriority"), ALLOW("ioprio_get"),
	ALLOW("ioprio_set"), ALLOW("sched_yield"), ALLOW("sched_getaffinity"),
	ALLOW("sched_setaffinity"), ALLOW("sched_getparam"), ALLOW("sched_setparam"),
	ALLOW("sched_getscheduler"), ALLOW("sched_setscheduler"), ALLOW("sched_getattr"),
	ALLOW("sched_setattr"), ALLOW("sched_get_priority_max"), ALLOW("sched_get_priority_min"),
	ALLOW("sched_rr_get_interval"), ALLOW("getcpu"),
	/* Identity calls only move between ids mapped in the sandbox's user namespace. */
	ALLOW("getuid"), ALLOW("geteuid"), ALLOW("getgid"), ALLOW("getegid"), ALLOW("getresuid"),
	ALLOW("getresgid"), ALLOW("getgroups"), ALLOW("setuid"), ALLOW("setgid"),
	ALLOW("setreuid"), ALLOW("setregid"), ALLOW("setresuid"), ALLOW("setresgid"),
	ALLOW("setfsuid"), ALLOW("setfsgid"), ALLOW("setgroups"),
	/* Threads and fork, but never a new namespace; clone3 hides its flags in memory where
	 * seccomp cannot read them, so it reports ENOSYS and libc falls back to clone. */
	{ .syscall = "clone", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_MEQ(0, NS_FLAGS, 0) } },
	{ .syscall = "clone", .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_MEQ(0, CLONE_NEWNS, CLONE_NEWNS) } },
	{ .syscall = "clone", .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_MEQ(0, CLONE_NEWUSER, CLONE_NEWUSER) } },
	{ .syscall = "clone", .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_MEQ(0, CLONE_NEWPID, CLONE_NEWPID) } },
	{ .syscall = "clone", .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_MEQ(0, CLONE_NEWNET, CLONE_NEWNET) } },
	{ .syscall = "clone", .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_MEQ(0, CLONE_NEWIPC, CLONE_NEWIPC) } },
	{ .syscall = "clone", .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_MEQ(0, CLONE_NEWUTS, CLONE_NEWUTS) } },
	{ .syscall = "clone", .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_MEQ(0, CLONE_NEWCGROUP, CLONE_NEWCGROUP) } },
	{ .syscall = "clone", .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_MEQ(0, CLONE_NEWTIME, CLONE_NEWTIME) } },
	DENY("clone3", ENOSYS),
	/* Execution domains: the default and the ones glibc and uname26 use; nothing else. */
	{ .syscall = "personality", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_EQ(0, 0) } },
	{ .syscall = "personality", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_EQ(0, 0x0008) } },
	{ .syscall = "personality", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_EQ(0, 0x20000) } },
	{ .syscall = "personality", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_EQ(0, 0x20008) } },
	{ .syscall = "personality", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_EQ(0, 0xffffffff) } },

	/* Time, waiting and events. */
	ALLOW("clock_gettime"), ALLOW("clock_getres"), ALLOW("clock_nanosleep"),
	ALLOW("gettimeofday"), ALLOW("time"), ALLOW("nanosleep"), ALLOW("alarm"),
	ALLOW("getitimer"), ALLOW("setitimer"), ALLOW("timer_create"), ALLOW("timer_settime"),
	ALLOW("timer_gettime"), ALLOW("timer_getoverrun"), ALLOW("timer_delete"),
	ALLOW("timerfd_create"), ALLOW("timerfd_settime"), ALLOW("timerfd_gettime"),
	ALLOW("times"), ALLOW("poll"), ALLOW("ppoll"), ALLOW("select"), ALLOW("pselect6"),
	ALLOW("epoll_create"), ALLOW("epoll_create1"), ALLOW("epoll_ctl"), ALLOW("epoll_wait"),
	ALLOW("epoll_pwait"), ALLOW("epoll_pwait2"), ALLOW("eventfd"), ALLOW("eventfd2"),
	/* Native AIO reserves from the machine-wide fs.aio-max-nr: one sandbox could take it
	 * all. glibc's POSIX AIO uses threads, so programs fall back (ENOSYS by default). */
	ALLOW("uname"), ALLOW("sysinfo"), ALLOW("getrandom"),

	/* System V and POSIX IPC: private to the sandbox's IPC namespace. */
	ALLOW("shmget"), ALLOW("shmat"), ALLOW("shmdt"), ALLOW("shmctl"), ALLOW("semget"),
	ALLOW("semop"), ALLOW("semtimedop"), ALLOW("semctl"), ALLOW("msgget"), ALLOW("msgsnd"),
	ALLOW("msgrcv"), ALLOW("msgctl"), ALLOW("mq_open"), ALLOW("mq_unlink"),
	ALLOW("mq_timedsend"), ALLOW("mq_timedreceive"), ALLOW("mq_notify"),
	ALLOW("mq_getsetattr"),

	/* Sockets: local, IP (the network namespace decides what it reaches) and the routing
	 * netlink family that getaddrinfo() asks; nothing else (another family would autoload
	 * its module on a modular kernel). socket(2) and socketpair(2) both name a family, a
	 * type and a protocol, so both get exactly these rows. */
	SOCKET_ROWS("socket"),
	SOCKET_ROWS("socketpair"),
	ALLOW("bind"), ALLOW("listen"), ALLOW("accept"), ALLOW("accept4"),
	ALLOW("connect"), ALLOW("shutdown"), ALLOW("getsockname"), ALLOW("getpeername"),
	ALLOW("getsockopt"), ALLOW("setsockopt"), ALLOW("sendto"), ALLOW("recvfrom"),
	ALLOW("sendmsg"), ALLOW("recvmsg"), ALLOW("sendmmsg"), ALLOW("recvmmsg"),

	/* Probed by ordinary programs: a plain "no". */
	DENY("chroot", EPERM), DENY("fanotify_init", EPERM), DENY("fanotify_mark", EPERM),
	DENY("kcmp", EPERM), DENY("vhangup", EPERM), DENY("lsm_set_self_attr", EPERM),
	DENY("name_to_handle_at", EPERM),

	/* Dangerous: kill. Reaching other processes' memory. */
	KILL("ptrace"), KILL("process_vm_readv"), KILL("process_vm_writev"), KILL("pidfd_getfd"),
	/* Kernel attack surface that ordinary programs never need. */
	KILL("bpf"), KILL("perf_event_open"), KILL("userfaultfd"), KILL("io_uring_setup"),
	KILL("io_uring_enter"), KILL("io_uring_register"), KILL("keyctl"), KILL("add_key"),
	KILL("request_key"), KILL("lookup_dcookie"), KILL("iopl"), KILL("ioperm"),
	KILL("uselib"), KILL("ustat"), KILL("sysfs"), KILL("_sysctl"), KILL("nfsservctl"),
	KILL("vm86"), KILL("vm86old"), KILL("open_by_handle_at"),
	/* Changing the filesystem view or the namespaces. */
	KILL("mount"), KILL("umount"), KILL("umount2"), KILL("pivot_root"), KILL("move_mount"),
	KILL("open_tree"), KILL("open_tree_attr"), KILL("fsopen"), KILL("fsconfig"),
	KILL("fsmount"), KILL("fspick"), KILL("mount_setattr"), KILL("unshare"), KILL("setns"),
	KILL("quotactl"), KILL("quotactl_fd"), KILL("swapon"), KILL("swapoff"),
	/* The machine: modules, kexec, reboot, clocks, hostname, accounting, kernel log. */
	KILL("init_module"), KILL("finit_module"), KILL("delete_module"), KILL("create_module"),
	KILL("get_kernel_syms"), KILL("query_module"), KILL("kexec_load"),
	KILL("kexec_file_load"), KILL("reboot"), KILL("settimeofday"), KILL("clock_settime"),
	KILL("clock_adjtime"), KILL("adjtimex"), KILL("sethostname"), KILL("setdomainname"),
	KILL("acct"), KILL("syslog"),
};

const struct cit_sc_rule *cit_policy_rules(size_t *n_rules)
{
	*n_rules = ARRAY_SIZE(rules);
	return rules;
}

/* A trustlet's further layer, over the rows above (default: allow, so the sandbox's own
 * policy decides). An instance serves calls: it makes threads, never processes, never runs
 * another program and makes no IPC objects, so nothing it starts or leaves can outlive its
 * life or reach its siblings. */
static const struct cit_sc_rule trustlet_rules[] = {
	/* The first NATIVE_ROWS rows are a native (or python) instance's alone. No new process,
	 * no other program (an exec instance runs its program as processes of its own, within
	 * the pids limit). */
	DENY("fork", EPERM), DENY("vfork", EPERM), DENY("execve", EPERM), DENY("execveat", EPERM),
	/* A thread shares everything with its caller; anything else is a new process. */
	{ .syscall = "clone", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(0, CLONE_THREAD, 0) } },
	/* Its flags are out of reach in memory: glibc falls back to clone. */
	DENY("clone3", ENOSYS),
	/* No IP socket: an instance has no network, and the function's loopback is one for all
	 * its instances, where one that listened could be reached by its siblings (another
	 * caller's call). Unix sockets stay (socketpair; its own directory's). */
	{ .syscall = "socket", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_EQ(0, AF_INET) } },
	{ .syscall = "socket", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_EQ(0, AF_INET6) } },
	/* System V and POSIX IPC objects outlive the trustlet that made them and are shared by
	 * every trustlet of the function (one ipc namespace): no writable area shared between
	 * instances, nor one caller's data left for the next. */
	DENY("shmget", EPERM), DENY("shmat", EPERM), DENY("shmctl", EPERM), DENY("semget", EPERM),
	DENY("semop", EPERM), DENY("semtimedop", EPERM), DENY("semctl", EPERM), DENY("msgget", EPERM),
	DENY("msgsnd", EPERM), DENY("msgrcv", EPERM), DENY("msgctl", EPERM), DENY("mq_open", EPERM),
	DENY("mq_unlink", EPERM), DENY("mq_timedsend", EPERM), DENY("mq_timedreceive", EPERM),
	DENY("mq_notify", EPERM), DENY("mq_getsetattr", EPERM),
	/* Calls that name a process group or a user (every process of the function is in one
	 * group and is one user): only PRIO_PROCESS and IOPRIO_WHO_PROCESS, whose pid the pid
	 * rows below check. Any upper half is refused too. */
	{ .syscall = "setpriority", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { { .arg = 0, .op = CIT_SC_NE, .datum = PRIO_PROCESS } } },
	{ .syscall = "getpriority", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { { .arg = 0, .op = CIT_SC_NE, .datum = PRIO_PROCESS } } },
	{ .syscall = "ioprio_set", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { { .arg = 0, .op = CIT_SC_NE, .datum = IOPRIO_WHO_PROCESS } } },
	{ .syscall = "ioprio_get", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { { .arg = 0, .op = CIT_SC_NE, .datum = IOPRIO_WHO_PROCESS } } },
	/* SIGIO and SIGURG to another process: F_SETOWN's pid is a pid row; F_SETOWN_EX's is
	 * in memory seccomp cannot read, and so are the ioctls that set a file's owner. */
	{ .syscall = "fcntl", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, LOW32, F_SETOWN_EX) } },
	{ .syscall = "ioctl", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, LOW32, FIOSETOWN) } },
	{ .syscall = "ioctl", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, LOW32, SIOCSPGRP) } },
	/* Core scheduling shares a cookie with another process named by pid. */
	{ .syscall = "prctl", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(0, LOW32, PR_SCHED_CORE) } },
	/* The view is one mount for all the function's instances: an exclusive flock on one
	 * of its files would make a sibling's flock wait. A shared one blocks nobody when no
	 * instance can take an exclusive one. fcntl locks need no row: a write lock needs a
	 * writable fd, which the view never gives. */
	{ .syscall = "flock", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(1, LOCK_EX, LOCK_EX) } },
};

#define NATIVE_ROWS 8

const struct cit_sc_rule *cit_policy_trustlet_rules(size_t *n_rules)
{
	*n_rules = ARRAY_SIZE(trustlet_rules);
	return trustlet_rules;
}

const struct cit_sc_rule *cit_policy_exec_rules(size_t *n_rules)
{
	*n_rules = ARRAY_SIZE(trustlet_rules) - NATIVE_ROWS;
	return trustlet_rules + NATIVE_ROWS;
}

#define PID_ROW(n, a, z) { .syscall = (n), .arg = (a), .zero_self = (z), .err = EPERM }

/* Every call that names another process by pid: an instance may name only itself. Its
 * siblings and its template run as the same user, so the kernel's own checks (same owner)
 * would let it change their limits, priorities and CPUs, or watch them. Signals are also
 * scoped by the trustlet's landlock layer; ptrace-like access (get_robust_list, /proc)
 * also fails because instances are not dumpable and landlock scopes ptrace: these rows are
 * the same rule stated once for every call. Threads of the instance named by their tid
 * (pthread_setaffinity_np) are refused too: the layer knows only the pid. */
static const struct cit_sc_pid_rule trustlet_pid_rules[] = {
	PID_ROW("prlimit64", 0, true),
	PID_ROW("setpriority", 1, true), PID_ROW("getpriority", 1, true),
	PID_ROW("sched_setaffinity", 0, true), PID_ROW("sched_getaffinity", 0, true),
	PID_ROW("sched_setparam", 0, true), PID_ROW("sched_getparam", 0, true),
	PID_ROW("sched_setscheduler", 0, true), PID_ROW("sched_getscheduler", 0, true),
	PID_ROW("sched_setattr", 0, true), PID_ROW("sched_getattr", 0, true),
	PID_ROW("sched_rr_get_interval", 0, true),
	PID_ROW("ioprio_set", 1, true), PID_ROW("ioprio_get", 1, true),
	PID_ROW("get_robust_list", 0, true),
	PID_ROW("setpgid", 0, true), PID_ROW("setpgid", 1, true),
	PID_ROW("getpgid", 0, true), PID_ROW("getsid", 0, true),
	/* F_SETOWN 0 removes the owner; a negative value names a group. */
	{ .syscall = "fcntl", .arg = 2, .zero_self = true, .when_arg = 1 + 1, .when_cmd = F_SETOWN, .err = EPERM },
	/* The last SIGNAL_ROWS rows (a native instance's): 0 names the caller's process group
	 * for kill, and a negative pid a group: only its own pid. tgkill and
	 * rt_tgsigqueueinfo then reach only its own threads (the kernel checks that the tid is
	 * in the group named). An exec instance signals its program's processes: its signals
	 * are scoped by its landlock layer alone (itself and its descendants). */
	PID_ROW("kill", 0, false), PID_ROW("tkill", 0, false), PID_ROW("tgkill", 0, false),
	PID_ROW("rt_sigqueueinfo", 0, false), PID_ROW("rt_tgsigqueueinfo", 0, false),
	PID_ROW("pidfd_open", 0, false),
};

#define SIGNAL_ROWS 6

const struct cit_sc_pid_rule *cit_policy_trustlet_pid_rules(size_t *n_rules)
{
	*n_rules = ARRAY_SIZE(trustlet_pid_rules);
	return trustlet_pid_rules;
}

const struct cit_sc_pid_rule *cit_policy_exec_pid_rules(size_t *n_rules)
{
	*n_rules = ARRAY_SIZE(trustlet_pid_rules) - SIGNAL_ROWS;
	return trustlet_pid_rules;
}
