#include "sandbox/policy.h"

#include <errno.h>
#include <linux/kd.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/ioctl.h>
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
	 * netlink family that getaddrinfo() asks. Raw and packet sockets kill the process. */
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 1, .cond = { C_EQ(0, AF_UNIX) } },
	/* IP: TCP and UDP only; SCTP, DCCP, MPTCP and the like would load kernel modules. */
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 3, .cond = { C_EQ(0, AF_INET), C_MEQ(1, SOCK_TYPE_MASK, SOCK_STREAM), C_EQ(2, 0) } },
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 3, .cond = { C_EQ(0, AF_INET), C_MEQ(1, SOCK_TYPE_MASK, SOCK_STREAM), C_EQ(2, IPPROTO_TCP) } },
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 3, .cond = { C_EQ(0, AF_INET), C_MEQ(1, SOCK_TYPE_MASK, SOCK_DGRAM), C_EQ(2, 0) } },
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 3, .cond = { C_EQ(0, AF_INET), C_MEQ(1, SOCK_TYPE_MASK, SOCK_DGRAM), C_EQ(2, IPPROTO_UDP) } },
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 3, .cond = { C_EQ(0, AF_INET6), C_MEQ(1, SOCK_TYPE_MASK, SOCK_STREAM), C_EQ(2, 0) } },
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 3, .cond = { C_EQ(0, AF_INET6), C_MEQ(1, SOCK_TYPE_MASK, SOCK_STREAM), C_EQ(2, IPPROTO_TCP) } },
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 3, .cond = { C_EQ(0, AF_INET6), C_MEQ(1, SOCK_TYPE_MASK, SOCK_DGRAM), C_EQ(2, 0) } },
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 3, .cond = { C_EQ(0, AF_INET6), C_MEQ(1, SOCK_TYPE_MASK, SOCK_DGRAM), C_EQ(2, IPPROTO_UDP) } },
	{ .syscall = "socket", .verdict = CIT_SC_ALLOW, .n_cond = 2, .cond = { C_EQ(0, AF_NETLINK), C_EQ(2, NETLINK_ROUTE) } },
	{ .syscall = "socket", .verdict = CIT_SC_KILL, .n_cond = 2, .cond = { C_EQ(0, AF_INET), C_MEQ(1, SOCK_TYPE_MASK, SOCK_RAW) } },
	{ .syscall = "socket", .verdict = CIT_SC_KILL, .n_cond = 2, .cond = { C_EQ(0, AF_INET6), C_MEQ(1, SOCK_TYPE_MASK, SOCK_RAW) } },
	{ .syscall = "socket", .verdict = CIT_SC_KILL, .n_cond = 1, .cond = { C_EQ(0, AF_PACKET) } },
	ALLOW("socketpair"), ALLOW("bind"), ALLOW("listen"), ALLOW("accept"), ALLOW("accept4"),
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
	DENY("fork", EPERM), DENY("vfork", EPERM), DENY("execve", EPERM), DENY("execveat", EPERM),
	/* A thread shares everything with its caller; anything else is a new process. */
	{ .syscall = "clone", .verdict = CIT_SC_ERRNO, .err = EPERM, .n_cond = 1, .cond = { C_MEQ(0, CLONE_THREAD, 0) } },
	/* Its flags are out of reach in memory: glibc falls back to clone. */
	DENY("clone3", ENOSYS),
	/* System V and POSIX IPC objects outlive the trustlet that made them and are shared by
	 * every trustlet of the function (one ipc namespace): no writable area shared between
	 * instances, nor one caller's data left for the next. */
	DENY("shmget", EPERM), DENY("shmat", EPERM), DENY("shmctl", EPERM), DENY("semget", EPERM),
	DENY("semop", EPERM), DENY("semtimedop", EPERM), DENY("semctl", EPERM), DENY("msgget", EPERM),
	DENY("msgsnd", EPERM), DENY("msgrcv", EPERM), DENY("msgctl", EPERM), DENY("mq_open", EPERM),
	DENY("mq_unlink", EPERM), DENY("mq_timedsend", EPERM), DENY("mq_timedreceive", EPERM),
	DENY("mq_notify", EPERM), DENY("mq_getsetattr", EPERM),
};

const struct cit_sc_rule *cit_policy_trustlet_rules(size_t *n_rules)
{
	*n_rules = ARRAY_SIZE(trustlet_rules);
	return trustlet_rules;
}
