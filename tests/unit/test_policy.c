/* The seccomp policy, row by row, against the program Citadel actually ships (the one
 * generated at build time). A small classic-BPF evaluator runs the program on a
 * seccomp_data made for each row, as libseccomp's own simulator tests do; then a few
 * checks against the real kernel confirm the evaluator's verdicts. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/policy.h"
#include "sandbox/seccomp.h"
#include "tap.h"

#define ENOSYS_RET (SECCOMP_RET_ERRNO | CIT_SC_DEFAULT_ERRNO)

/* Evaluates a seccomp program; returns its verdict, or 0xdeadbeef on an instruction this
 * evaluator does not know (which fails the test rather than guessing). */
static uint32_t run_bpf(const struct cit_bpf *p, const struct seccomp_data *d)
{
	const struct sock_filter *f = p->insns;
	uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = { 0 };
	const unsigned char *data = (const unsigned char *)d;
	for (size_t pc = 0; pc < p->len; pc++) {
		const struct sock_filter *i = &f[pc];
		uint32_t src = BPF_SRC(i->code) == BPF_X ? X : i->k;
		switch (BPF_CLASS(i->code)) {
		case BPF_LD:
			if (BPF_MODE(i->code) == BPF_ABS && i->k + 4 <= sizeof(*d))
				memcpy(&A, data + i->k, 4);
			else if (BPF_MODE(i->code) == BPF_MEM && i->k < BPF_MEMWORDS)
				A = M[i->k];
			else if (BPF_MODE(i->code) == BPF_IMM)
				A = i->k;
			else
				return 0xdeadbeef;
			break;
		case BPF_LDX:
			if (BPF_MODE(i->code) == BPF_MEM && i->k < BPF_MEMWORDS)
				X = M[i->k];
			else if (BPF_MODE(i->code) == BPF_IMM)
				X = i->k;
			else
				return 0xdeadbeef;
			break;
		case BPF_ST: M[i->k % BPF_MEMWORDS] = A; break;
		case BPF_STX: M[i->k % BPF_MEMWORDS] = X; break;
		case BPF_ALU:
			switch (BPF_OP(i->code)) {
			case BPF_AND: A &= src; break;
			case BPF_OR: A |= src; break;
			case BPF_ADD: A += src; break;
			case BPF_SUB: A -= src; break;
			case BPF_RSH: A >>= src; break;
			case BPF_LSH: A <<= src; break;
			default: return 0xdeadbeef;
			}
			break;
		case BPF_JMP: {
			bool t;
			switch (BPF_OP(i->code)) {
			case BPF_JA: pc += i->k; continue;
			case BPF_JEQ: t = A == src; break;
			case BPF_JGT: t = A > src; break;
			case BPF_JGE: t = A >= src; break;
			case BPF_JSET: t = (A & src) != 0; break;
			default: return 0xdeadbeef;
			}
			pc += t ? i->jt : i->jf;
			break;
		}
		case BPF_RET: return BPF_RVAL(i->code) == BPF_A ? A : i->k;
		case BPF_MISC:
			if (BPF_MISCOP(i->code) == BPF_TAX)
				X = A;
			else
				A = X;
			break;
		default: return 0xdeadbeef;
		}
	}
	return 0xdeadbeef;
}

static uint32_t verdict(int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64, .args = { a0, a1, a2 } };
	return run_bpf(&cit_seccomp_builtin, &d);
}

static uint32_t expected_ret(const struct cit_sc_rule *r)
{
	switch (r->verdict) {
	case CIT_SC_ALLOW: return SECCOMP_RET_ALLOW;
	case CIT_SC_ERRNO: return SECCOMP_RET_ERRNO | (uint16_t)r->err;
	default: return SECCOMP_RET_KILL_PROCESS;
	}
}

static void table_rows(void)
{
	size_t n;
	const struct cit_sc_rule *rules = cit_policy_rules(&n);
	for (size_t i = 0; i < n; i++) {
		const struct cit_sc_rule *r = &rules[i];
		int nr = seccomp_syscall_resolve_name(r->syscall);
		if (nr < 0)
			continue; /* not on this architecture */
		uint64_t args[6] = { 0 };
		for (unsigned c = 0; c < r->n_cond; c++)
			args[r->cond[c].arg] |= r->cond[c].datum;
		uint32_t got = verdict(nr, args[0], args[1], args[2]);
		tap_ok(got == expected_ret(r), "row %zu: %s(%#llx, %#llx, %#llx) -> %#x", i, r->syscall,
		       (unsigned long long)args[0], (unsigned long long)args[1], (unsigned long long)args[2], got);
	}
}

static void edge_cases(void)
{
	const uint64_t hi = 1ULL << 32;
	tap_ok(verdict(SYS_ioctl, 0, TCGETS, 0) == SECCOMP_RET_ALLOW, "ioctl TCGETS allowed");
	tap_ok(verdict(SYS_ioctl, 0, TIOCSTI, 0) == (SECCOMP_RET_ERRNO | EPERM), "ioctl TIOCSTI denied");
	tap_ok(verdict(SYS_ioctl, 0, hi | TIOCSTI, 0) == (SECCOMP_RET_ERRNO | EPERM),
	       "ioctl TIOCSTI with high bits set denied");
	tap_ok(verdict(SYS_ioctl, 0, hi | TCGETS, 0) == ENOSYS_RET, "ioctl with high bits set refused");
	tap_ok(verdict(SYS_clone, SIGCHLD, 0, 0) == SECCOMP_RET_ALLOW, "clone for fork allowed");
	tap_ok(verdict(SYS_clone, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD, 0, 0) ==
		       SECCOMP_RET_ALLOW, "clone for a thread allowed");
	static const uint64_t ns[] = { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC,
				       CLONE_NEWUTS, CLONE_NEWCGROUP, 0x80 };
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		tap_ok(verdict(SYS_clone, SIGCHLD | ns[i], 0, 0) == SECCOMP_RET_KILL_PROCESS,
		       "clone with namespace flag %#llx kills", (unsigned long long)ns[i]);
	tap_ok(verdict(SYS_clone3, 0, 0, 0) == ENOSYS_RET, "clone3 reports ENOSYS (libc falls back)");
	tap_ok(verdict(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) == SECCOMP_RET_ALLOW, "TCP socket");
	tap_ok(verdict(SYS_socket, AF_INET, SOCK_STREAM, IPPROTO_TCP) == SECCOMP_RET_ALLOW, "TCP socket, protocol named");
	tap_ok(verdict(SYS_socket, AF_INET, SOCK_STREAM, 132 /* SCTP */) == ENOSYS_RET, "SCTP refused");
	tap_ok(verdict(SYS_socket, AF_INET6, SOCK_STREAM, 262 /* MPTCP */) == ENOSYS_RET, "MPTCP refused");
	tap_ok(verdict(SYS_io_setup, 128, 0, 0) == ENOSYS_RET, "native AIO refused (machine-wide quota)");
	tap_ok(verdict(SYS_ioctl, 0, 0x4B47 /* KDSKBENT */, 0) == (SECCOMP_RET_ERRNO | EPERM), "console keymap denied");
	tap_ok(verdict(SYS_socket, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0) == SECCOMP_RET_ALLOW, "UDP6 socket");
	tap_ok(verdict(SYS_socket, AF_UNIX, SOCK_SEQPACKET, 0) == SECCOMP_RET_ALLOW, "unix socket");
	tap_ok(verdict(SYS_socket, AF_NETLINK, SOCK_RAW, 0) == SECCOMP_RET_ALLOW, "netlink route socket");
	tap_ok(verdict(SYS_socket, AF_NETLINK, SOCK_RAW, 9) == ENOSYS_RET, "netlink audit socket refused");
	tap_ok(verdict(SYS_socket, AF_INET, SOCK_RAW | SOCK_CLOEXEC, 1) == SECCOMP_RET_KILL_PROCESS, "raw socket kills");
	tap_ok(verdict(SYS_socket, AF_PACKET, SOCK_DGRAM, 0) == SECCOMP_RET_KILL_PROCESS, "packet socket kills");
	tap_ok(verdict(SYS_socket, 31 /* AF_BLUETOOTH */, SOCK_STREAM, 0) == ENOSYS_RET, "other families refused");
	tap_ok(verdict(SYS_mknodat, (uint64_t)AT_FDCWD, 0, S_IFCHR | 0600) == (SECCOMP_RET_ERRNO | EPERM), "mknod char denied");
	tap_ok(verdict(SYS_mknodat, (uint64_t)AT_FDCWD, 0, S_IFIFO | 0600) == SECCOMP_RET_ALLOW, "mkfifo allowed");
	tap_ok(verdict(SYS_personality, 0x0040000, 0, 0) == ENOSYS_RET, "personality ADDR_NO_RANDOMIZE refused");
	tap_ok(verdict(SYS_personality, 0xffffffff, 0, 0) == SECCOMP_RET_ALLOW, "personality query allowed");
	tap_ok(verdict(1000, 0, 0, 0) == ENOSYS_RET, "an unknown system call reports ENOSYS");
	uint32_t x32 = verdict(0x40000000 | SYS_getpid, 0, 0, 0);
	tap_ok(x32 != SECCOMP_RET_ALLOW, "x32 system call numbers are not allowed (%#x)", x32);
	struct seccomp_data i386 = { .nr = 20 /* getpid */, .arch = AUDIT_ARCH_I386 };
	tap_ok(run_bpf(&cit_seccomp_builtin, &i386) == SECCOMP_RET_KILL_PROCESS, "i386 calls kill");
}

/* Every call that names a socket family, type and protocol gets the same verdict for each
 * combination: socketpair(2) is no way around the rules of socket(2). */
static void socket_calls_agree(void)
{
	static const uint64_t types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_PACKET,
					  SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK };
	static const uint64_t protos[] = { 0, 1, IPPROTO_TCP, IPPROTO_UDP, 132, 262, 9, 0x10000 };
	size_t differ = 0, cases = 0;
	for (uint64_t fam = 0; fam <= 64; fam++)
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
			for (size_t p = 0; p < sizeof(protos) / sizeof(protos[0]); p++, cases++)
				if (verdict(SYS_socket, fam, types[t], protos[p]) !=
				    verdict(SYS_socketpair, fam, types[t], protos[p]))
					differ++;
	tap_ok(differ == 0, "socket and socketpair agree on %zu family/type/protocol cases (%zu differ)", cases, differ);
	tap_ok(verdict(SYS_socketpair, 40 /* AF_VSOCK */, SOCK_STREAM, 0) == ENOSYS_RET, "socketpair(AF_VSOCK) refused");
	tap_ok(verdict(SYS_socketpair, 30 /* AF_TIPC */, SOCK_SEQPACKET, 0) == ENOSYS_RET, "socketpair(AF_TIPC) refused");
	tap_ok(verdict(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) == SECCOMP_RET_ALLOW, "socketpair(AF_UNIX) allowed");
	tap_ok(verdict(SYS_socketpair, AF_PACKET, SOCK_RAW, 0) == SECCOMP_RET_KILL_PROCESS, "socketpair(AF_PACKET) kills");
}

/* Forks, installs the shipped program, runs fn; returns the child's wait status. */
static int in_filtered_child(int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		struct cit_error err = { 0 };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || cit_seccomp_install(&cit_seccomp_builtin, &err) < 0)
			_exit(99);
		_exit(fn());
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static int try_unknown(void)
{
	return syscall(1000) == -1 && errno == ENOSYS ? 0 : 1;
}

static int try_tiocsti(void)
{
	char c = 'x';
	return syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI, &c) == -1 && errno == EPERM ? 0 : 1;
}

static int try_unshare(void)
{
	syscall(SYS_unshare, CLONE_NEWUSER);
	return 1;
}

static int try_fork(void)
{
	pid_t p = fork();
	if (p == 0)
		_exit(7);
	int st;
	return p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 1;
}

static void real_kernel(void)
{
	int st = in_filtered_child(try_unknown);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kernel: unknown call fails with ENOSYS");
	st = in_filtered_child(try_tiocsti);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kernel: TIOCSTI fails with EPERM");
	st = in_filtered_child(try_unshare);
	tap_ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "kernel: unshare kills with SIGSYS");
	st = in_filtered_child(try_fork);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kernel: fork still works");
}

/* The shipped trustlet layer with self written where the build found the placeholder,
 * into buf (as a trustlet does after fork). */
static struct cit_bpf trustlet_as(pid_t self, struct sock_filter *buf)
{
	memcpy(buf, cit_seccomp_trustlet.insns, cit_seccomp_trustlet.len * sizeof(*buf));
	for (size_t i = 0; i < cit_seccomp_trustlet_n_self; i++)
		buf[cit_seccomp_trustlet_self[i]].k = (uint32_t)self;
	return (struct cit_bpf){ .insns = buf, .len = cit_seccomp_trustlet.len };
}

static uint32_t trustlet_verdict(const struct cit_bpf *p, int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_X86_64, .args = { a0, a1, a2 } };
	return run_bpf(p, &d);
}

/* The pid placeholder: compiled with two other values, the layer differs from the shipped
 * one exactly at the listed instructions, and there only in the constant; the placeholder
 * appears nowhere else. So writing the trustlet's pid at those instructions is the same
 * program as compiling the layer with that pid. */
static void trustlet_placeholder(void)
{
	struct cit_error err = { 0 };
	const struct sock_filter *ship = cit_seccomp_trustlet.insns;
	size_t elsewhere = 0, listed = 0;
	for (size_t i = 0; i < cit_seccomp_trustlet.len; i++) {
		bool in_list = false;
		for (size_t j = 0; j < cit_seccomp_trustlet_n_self; j++)
			in_list = in_list || cit_seccomp_trustlet_self[j] == i;
		if (ship[i].k == CIT_SC_SELF && !in_list)
			elsewhere++;
		if (ship[i].k == CIT_SC_SELF && in_list)
			listed++;
	}
	tap_ok(elsewhere == 0 && listed == cit_seccomp_trustlet_n_self && listed > 0,
	       "the pid placeholder is at the %zu listed instructions and nowhere else (%zu elsewhere)", listed,
	       elsewhere);
	static const uint32_t values[] = { 1, 4242, 4194303, CIT_SC_SELF ^ 0x5a5a5a5au };
	for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
		struct cit_bpf other;
		bool same_len = cit_seccomp_compile_trustlet(&other, values[v], &err) == 0 &&
				other.len == cit_seccomp_trustlet.len;
		size_t differ = 0, wrong = 0;
		for (size_t i = 0; same_len && i < other.len; i++) {
			const struct sock_filter *a = &ship[i], *b = &((const struct sock_filter *)other.insns)[i];
			bool in_list = false;
			for (size_t j = 0; j < cit_seccomp_trustlet_n_self; j++)
				in_list = in_list || cit_seccomp_trustlet_self[j] == i;
			if (memcmp(a, b, sizeof(*a)))
				differ++;
			if (in_list ? a->code != b->code || a->jt != b->jt || a->jf != b->jf || b->k != values[v]
				    : memcmp(a, b, sizeof(*a)) != 0)
				wrong++;
		}
		tap_ok(same_len && differ == cit_seccomp_trustlet_n_self && wrong == 0,
		       "compiled with self %u, the layer differs only in the listed constants (%zu differ, %zu wrong)",
		       values[v], differ, wrong);
		cit_bpf_free(&other);
	}
}

/* The trustlet layer: no processes and no exec, threads allowed, no process but itself
 * named, everything else left to the sandbox's policy below it. */
static void trustlet_layer(void)
{
	struct cit_bpf fresh;
	struct cit_error err = { 0 };
	tap_ok(cit_seccomp_compile_trustlet(&fresh, CIT_SC_SELF, &err) == 0 && fresh.len == cit_seccomp_trustlet.len &&
		       !memcmp(fresh.insns, cit_seccomp_trustlet.insns, fresh.len * sizeof(struct sock_filter)),
	       "the shipped trustlet layer is its table compiled now");
	cit_bpf_free(&fresh);
	static struct sock_filter buf[BPF_MAXINSNS];
	const pid_t self = 4242;
	const struct cit_bpf p = trustlet_as(self, buf);
	const uint64_t me = (uint64_t)self, other = me + 1, template = 2, hi = 1ULL << 32;
	const uint32_t allow = SECCOMP_RET_ALLOW, eperm = SECCOMP_RET_ERRNO | EPERM;
	const struct {
		int nr;
		uint64_t a0, a1, a2;
		uint32_t want;
		const char *what;
	} rows[] = {
		{ SYS_fork, 0, 0, 0, eperm, "fork" },
		{ SYS_vfork, 0, 0, 0, eperm, "vfork" },
		{ SYS_execve, 0, 0, 0, eperm, "execve" },
		{ SYS_execveat, 0, 0, 0, eperm, "execveat" },
		{ SYS_clone, SIGCHLD, 0, 0, eperm, "clone of a process" },
		{ SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, eperm, "clone as posix_spawn does" },
		{ SYS_clone, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, 0, 0,
		  allow, "clone of a thread" },
		{ SYS_clone3, 0, 0, 0, SECCOMP_RET_ERRNO | ENOSYS, "clone3 (glibc falls back to clone)" },
		{ SYS_shmget, 0, 0, 0, eperm, "shmget" },
		{ SYS_msgget, 0, 0, 0, eperm, "msgget" },
		{ SYS_semget, 0, 0, 0, eperm, "semget" },
		{ SYS_mq_open, 0, 0, 0, eperm, "mq_open" },
		{ SYS_read, 0, 0, 0, allow, "read (left to the policy below)" },
		{ SYS_ptrace, 0, 0, 0, allow, "ptrace (left to the policy below, which kills)" },
		/* Naming a process: 0 (where it means the caller) and its own pid only. */
		{ SYS_prlimit64, 0, RLIMIT_CPU, 0, allow, "prlimit64(0) (glibc's setrlimit)" },
		{ SYS_prlimit64, me, RLIMIT_CPU, 0, allow, "prlimit64(self)" },
		{ SYS_prlimit64, other, RLIMIT_CPU, 0, eperm, "prlimit64(a sibling)" },
		{ SYS_prlimit64, template, RLIMIT_NPROC, 0, eperm, "prlimit64(the template)" },
		{ SYS_prlimit64, hi | me, RLIMIT_CPU, 0, eperm, "prlimit64(self with an upper half)" },
		{ SYS_prlimit64, hi | other, RLIMIT_CPU, 0, eperm, "prlimit64(a sibling with an upper half)" },
		{ SYS_prlimit64, hi, RLIMIT_CPU, 0, eperm, "prlimit64(0 with an upper half)" },
		{ SYS_prlimit64, (uint64_t)-1, RLIMIT_CPU, 0, eperm, "prlimit64(-1)" },
		{ SYS_setpriority, PRIO_PROCESS, 0, 19, allow, "setpriority(PRIO_PROCESS, 0)" },
		{ SYS_setpriority, PRIO_PROCESS, me, 19, allow, "setpriority(PRIO_PROCESS, self)" },
		{ SYS_setpriority, PRIO_PROCESS, other, 19, eperm, "setpriority(PRIO_PROCESS, a sibling)" },
		{ SYS_setpriority, PRIO_PGRP, 0, 19, eperm, "setpriority(PRIO_PGRP, 0)" },
		{ SYS_setpriority, PRIO_USER, 0, 19, eperm, "setpriority(PRIO_USER, 0)" },
		{ SYS_setpriority, hi | PRIO_PROCESS, 0, 19, eperm, "setpriority(PRIO_PROCESS with an upper half)" },
		{ SYS_getpriority, PRIO_PROCESS, template, 0, eperm, "getpriority(PRIO_PROCESS, the template)" },
		{ SYS_getpriority, PRIO_USER, 0, 0, eperm, "getpriority(PRIO_USER, 0)" },
		{ SYS_getpriority, PRIO_PROCESS, 0, 0, allow, "getpriority(PRIO_PROCESS, 0)" },
		{ SYS_sched_setaffinity, 0, 8, 0, allow, "sched_setaffinity(0)" },
		{ SYS_sched_setaffinity, other, 8, 0, eperm, "sched_setaffinity(a sibling)" },
		{ SYS_sched_getaffinity, template, 8, 0, eperm, "sched_getaffinity(the template)" },
		{ SYS_sched_setparam, other, 0, 0, eperm, "sched_setparam(a sibling)" },
		{ SYS_sched_getparam, other, 0, 0, eperm, "sched_getparam(a sibling)" },
		{ SYS_sched_setscheduler, other, 0, 0, eperm, "sched_setscheduler(a sibling)" },
		{ SYS_sched_setscheduler, me, 0, 0, allow, "sched_setscheduler(self)" },
		{ SYS_sched_getscheduler, template, 0, 0, eperm, "sched_getscheduler(the template)" },
		{ SYS_sched_setattr, other, 0, 0, eperm, "sched_setattr(a sibling)" },
		{ SYS_sched_getattr, other, 0, 0, eperm, "sched_getattr(a sibling)" },
		{ SYS_sched_rr_get_interval, other, 0, 0, eperm, "sched_rr_get_interval(a sibling)" },
		{ SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, other, 0, eperm, "ioprio_set(a sibling)" },
		{ SYS_ioprio_set, 1, 0, 0, allow, "ioprio_set(0)" },
		{ SYS_ioprio_set, 2 /* IOPRIO_WHO_PGRP */, 0, 0, eperm, "ioprio_set(IOPRIO_WHO_PGRP, 0)" },
		{ SYS_ioprio_get, 3 /* IOPRIO_WHO_USER */, 0, 0, eperm, "ioprio_get(IOPRIO_WHO_USER, 0)" },
		{ SYS_ioprio_get, 1, template, 0, eperm, "ioprio_get(the template)" },
		{ SYS_get_robust_list, other, 0, 0, eperm, "get_robust_list(a sibling)" },
		{ SYS_get_robust_list, 0, 0, 0, allow, "get_robust_list(0)" },
		{ SYS_setpgid, 0, 0, 0, allow, "setpgid(0, 0)" },
		{ SYS_setpgid, other, 0, 0, eperm, "setpgid(a sibling, 0)" },
		{ SYS_setpgid, 0, template, 0, eperm, "setpgid(0, the template's group)" },
		{ SYS_getpgid, other, 0, 0, eperm, "getpgid(a sibling)" },
		{ SYS_getsid, other, 0, 0, eperm, "getsid(a sibling)" },
		{ SYS_kill, me, SIGTERM, 0, allow, "kill(self)" },
		{ SYS_kill, 0, SIGKILL, 0, eperm, "kill(0): the whole process group" },
		{ SYS_kill, (uint64_t)-1, SIGKILL, 0, eperm, "kill(-1)" },
		{ SYS_kill, (uint64_t)-(int64_t)template, SIGKILL, 0, eperm, "kill(-template's group)" },
		{ SYS_kill, other, SIGKILL, 0, eperm, "kill(a sibling)" },
		{ SYS_kill, hi | me, SIGKILL, 0, eperm, "kill(self with an upper half)" },
		{ SYS_tkill, other, SIGKILL, 0, eperm, "tkill(a sibling)" },
		{ SYS_tgkill, me, me + 7, SIGABRT, allow, "tgkill(self, a thread of its own) (raise, pthread_kill)" },
		{ SYS_tgkill, other, other, SIGKILL, eperm, "tgkill(a sibling)" },
		{ SYS_tgkill, 0, other, SIGKILL, eperm, "tgkill(0, a sibling) (tgid 0 is not checked by the kernel)" },
		{ SYS_rt_sigqueueinfo, template, SIGUSR1, 0, eperm, "rt_sigqueueinfo(the template)" },
		{ SYS_rt_tgsigqueueinfo, other, other, SIGUSR1, eperm, "rt_tgsigqueueinfo(a sibling)" },
		{ SYS_pidfd_open, me, 0, 0, allow, "pidfd_open(self)" },
		{ SYS_pidfd_open, other, 0, 0, eperm, "pidfd_open(a sibling)" },
		{ SYS_pidfd_open, 0, 0, 0, eperm, "pidfd_open(0)" },
		{ SYS_fcntl, 3, F_SETOWN, me, allow, "fcntl(F_SETOWN, self)" },
		{ SYS_fcntl, 3, F_SETOWN, 0, allow, "fcntl(F_SETOWN, 0)" },
		{ SYS_fcntl, 3, F_SETOWN, other, eperm, "fcntl(F_SETOWN, a sibling): SIGIO to it" },
		{ SYS_fcntl, 3, F_SETOWN, (uint32_t)-2, eperm, "fcntl(F_SETOWN, -group)" },
		{ SYS_fcntl, 3, hi | F_SETOWN, other, eperm, "fcntl(F_SETOWN with an upper half, a sibling)" },
		{ SYS_fcntl, 3, F_SETOWN_EX, 0, eperm, "fcntl(F_SETOWN_EX): its pid is out of sight" },
		{ SYS_fcntl, 3, F_GETFL, other, allow, "fcntl(F_GETFL) with any third argument" },
		{ SYS_fcntl, 3, F_SETFL, O_NONBLOCK, allow, "fcntl(F_SETFL)" },
		{ SYS_ioctl, 3, 0x8901 /* FIOSETOWN */, 0, eperm, "ioctl(FIOSETOWN)" },
		{ SYS_ioctl, 3, 0x8902 /* SIOCSPGRP */, 0, eperm, "ioctl(SIOCSPGRP)" },
		{ SYS_prctl, 62 /* PR_SCHED_CORE */, 2, other, eperm, "prctl(PR_SCHED_CORE)" },
		{ SYS_prctl, PR_SET_NAME, 0, 0, allow, "prctl(PR_SET_NAME)" },
		{ SYS_wait4, other, 0, 0, allow, "wait4 (only ever its own children)" },
		/* Locks on the shared view: shared flocks only. */
		{ SYS_flock, 3, LOCK_EX, 0, eperm, "flock(LOCK_EX)" },
		{ SYS_flock, 3, LOCK_EX | LOCK_NB, 0, eperm, "flock(LOCK_EX | LOCK_NB)" },
		{ SYS_flock, 3, hi | LOCK_EX, 0, eperm, "flock(LOCK_EX with an upper half)" },
		{ SYS_flock, 3, LOCK_SH, 0, allow, "flock(LOCK_SH)" },
		{ SYS_flock, 3, LOCK_UN, 0, allow, "flock(LOCK_UN)" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint32_t got = trustlet_verdict(&p, rows[i].nr, rows[i].a0, rows[i].a1, rows[i].a2);
		tap_ok(got == rows[i].want, "trustlet layer: %s -> %#x", rows[i].what, got);
	}
	/* Every pid row refuses a sibling and, where 0 is not the caller, 0. */
	size_t n;
	const struct cit_sc_pid_rule *pr = cit_policy_trustlet_pid_rules(&n);
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(pr[i].syscall);
		uint64_t a[3] = { PRIO_PROCESS, 0, 0 };
		if (!strncmp(pr[i].syscall, "ioprio", 6))
			a[0] = 1; /* IOPRIO_WHO_PROCESS */
		if (pr[i].when_arg)
			a[pr[i].when_arg - 1] = pr[i].when_cmd;
		uint32_t got[4];
		const uint64_t v[4] = { 0, me, other, hi | me };
		for (int k = 0; k < 4; k++) {
			a[pr[i].arg] = v[k];
			got[k] = trustlet_verdict(&p, nr, a[0], a[1], a[2]);
		}
		tap_ok(got[0] == (pr[i].zero_self ? allow : eperm) && got[1] == allow && got[2] == eperm && got[3] == eperm,
		       "pid row %s arg %u: 0 -> %#x, self -> %#x, other -> %#x, self with an upper half -> %#x",
		       pr[i].syscall, pr[i].arg, got[0], got[1], got[2], got[3]);
	}
}

/* The patched layer on the real kernel: in a child, its parent is what a template is to a
 * trustlet. */
static int try_named(void)
{
	struct cit_error err = { 0 };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    cit_seccomp_install_self(&cit_seccomp_trustlet, cit_seccomp_trustlet_self, cit_seccomp_trustlet_n_self,
				     (uint32_t)getpid(), &err) < 0)
		return 99;
	struct rlimit rl;
	pid_t parent = getppid();
	int fails = 0;
	fails += syscall(SYS_prlimit64, parent, RLIMIT_NPROC, NULL, &rl) == -1 && errno == EPERM ? 0 : 1;
	fails += syscall(SYS_prlimit64, 0, RLIMIT_NPROC, NULL, &rl) == 0 ? 0 : 2;
	fails += syscall(SYS_prlimit64, getpid(), RLIMIT_NPROC, NULL, &rl) == 0 ? 0 : 4;
	fails += getrlimit(RLIMIT_NOFILE, &rl) == 0 && setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : 8;
	fails += kill(parent, 0) == -1 && errno == EPERM ? 0 : 16;
	fails += kill(getpid(), 0) == 0 ? 0 : 32;
	fails += fcntl(0, F_SETOWN, parent) == -1 && errno == EPERM ? 0 : 64;
	fails += syscall(SYS_sched_setaffinity, parent, 0, NULL) == -1 && errno == EPERM ? 0 : 128;
	return fails;
}

static void trustlet_real_kernel(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(try_named());
	int st = 0;
	waitpid(pid, &st, 0);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "kernel: the patched layer refuses the parent, allows 0 and self (status %#x)", st);
}

/* The exec runtime's layer is the trustlet layer less its process rows and its signal pid
 * rows, and nothing else: every other row is the same row. */
static void exec_layer(void)
{
	size_t nt, ne, npt, npe;
	const struct cit_sc_rule *t = cit_policy_trustlet_rules(&nt), *e = cit_policy_exec_rules(&ne);
	const struct cit_sc_pid_rule *pt = cit_policy_trustlet_pid_rules(&npt), *pe = cit_policy_exec_pid_rules(&npe);
	static const char *const process[] = { "fork", "vfork", "execve", "execveat", "clone", "clone3" };
	static const char *const signals[] = { "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
					       "pidfd_open" };
	int bad = 0;
	for (size_t i = 0; i < ne; i++)
		for (size_t k = 0; k < sizeof(process) / sizeof(process[0]); k++)
			bad += !strcmp(e[i].syscall, process[k]);
	for (size_t i = 0; i < npe; i++)
		for (size_t k = 0; k < sizeof(signals) / sizeof(signals[0]); k++)
			bad += !strcmp(pe[i].syscall, signals[k]);
	for (size_t i = 0; i < ne; i++)
		bad += !strcmp(e[i].syscall, "socket"); /* an exec program may use its loopback */
	tap_ok(bad == 0, "the exec layer has no process rows, no IP socket rows and no signal pid rows");
	tap_ok(nt - ne == 8 && npt - npe == 6, "and lacks only those (%zu and %zu rows fewer)", nt - ne, npt - npe);
	tap_ok(e == t + 8 && pe == pt, "the other rows are the trustlet layer's own");
	struct cit_bpf fresh;
	struct cit_error err = { 0 };
	tap_ok(cit_seccomp_compile_layer(&fresh, CIT_SC_LAYER_EXEC, CIT_SC_SELF, &err) == 0 &&
		       fresh.len == cit_seccomp_exec.len &&
		       !memcmp(fresh.insns, cit_seccomp_exec.insns, fresh.len * sizeof(struct sock_filter)) &&
		       cit_seccomp_exec_n_self > 0,
	       "the shipped exec layer is the table compiled now, with its pid placeholder");
	cit_bpf_free(&fresh);
}

int main(void)
{
	struct cit_bpf fresh;
	struct cit_error err = { 0 };
	tap_ok(cit_seccomp_compile(&fresh, &err) == 0 && fresh.len == cit_seccomp_builtin.len &&
		       !memcmp(fresh.insns, cit_seccomp_builtin.insns, fresh.len * sizeof(struct sock_filter)),
	       "the shipped program is the table compiled now (%zu instructions)", cit_seccomp_builtin.len);
	cit_bpf_free(&fresh);
	table_rows();
	edge_cases();
	socket_calls_agree();
	real_kernel();
	trustlet_placeholder();
	trustlet_layer();
	trustlet_real_kernel();
	exec_layer();
	return tap_done();
}
