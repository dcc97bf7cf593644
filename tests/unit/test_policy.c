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
#include <sys/prctl.h>
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

/* The trustlet layer: no processes and no exec, threads allowed, everything else left to
 * the sandbox's policy below it. */
static void trustlet_layer(void)
{
	struct cit_bpf fresh;
	struct cit_error err = { 0 };
	tap_ok(cit_seccomp_compile_trustlet(&fresh, &err) == 0 && fresh.len == cit_seccomp_trustlet.len &&
		       !memcmp(fresh.insns, cit_seccomp_trustlet.insns, fresh.len * sizeof(struct sock_filter)),
	       "the shipped trustlet layer is its table compiled now");
	cit_bpf_free(&fresh);
	const struct {
		int nr;
		uint64_t a0;
		uint32_t want;
		const char *what;
	} rows[] = {
		{ SYS_fork, 0, SECCOMP_RET_ERRNO | EPERM, "fork" },
		{ SYS_vfork, 0, SECCOMP_RET_ERRNO | EPERM, "vfork" },
		{ SYS_execve, 0, SECCOMP_RET_ERRNO | EPERM, "execve" },
		{ SYS_execveat, 0, SECCOMP_RET_ERRNO | EPERM, "execveat" },
		{ SYS_clone, SIGCHLD, SECCOMP_RET_ERRNO | EPERM, "clone of a process" },
		{ SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD, SECCOMP_RET_ERRNO | EPERM, "clone as posix_spawn does" },
		{ SYS_clone, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
		  SECCOMP_RET_ALLOW, "clone of a thread" },
		{ SYS_clone3, 0, SECCOMP_RET_ERRNO | ENOSYS, "clone3 (glibc falls back to clone)" },
		{ SYS_shmget, 0, SECCOMP_RET_ERRNO | EPERM, "shmget" },
		{ SYS_msgget, 0, SECCOMP_RET_ERRNO | EPERM, "msgget" },
		{ SYS_semget, 0, SECCOMP_RET_ERRNO | EPERM, "semget" },
		{ SYS_mq_open, 0, SECCOMP_RET_ERRNO | EPERM, "mq_open" },
		{ SYS_read, 0, SECCOMP_RET_ALLOW, "read (left to the policy below)" },
		{ SYS_ptrace, 0, SECCOMP_RET_ALLOW, "ptrace (left to the policy below, which kills)" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct seccomp_data d = { .nr = rows[i].nr, .arch = AUDIT_ARCH_X86_64, .args = { rows[i].a0 } };
		uint32_t got = run_bpf(&cit_seccomp_trustlet, &d);
		tap_ok(got == rows[i].want, "trustlet layer: %s -> %#x", rows[i].what, got);
	}
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
	real_kernel();
	trustlet_layer();
	return tap_done();
}
