/* The seccomp policy of a Citadel sandbox, as data.
 *
 * Default-deny: a system call that no row names fails with ENOSYS (so that programs fall
 * back, as glibc does from clone3 to clone). Each row names one system call, what happens
 * to it (optionally only when its arguments match), and why. Rows that deny with an errno
 * are for calls ordinary programs probe; rows that kill the process are for the calls that
 * Docker's default profile and gVisor's analysis call dangerous (kernel attack surface,
 * escaping the namespaces, reaching other processes' memory). The table is what the tests
 * walk row by row (tests/unit/test_policy.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cit_sc_verdict {
	CIT_SC_ALLOW = 0,
	CIT_SC_ERRNO = 1,  /* fail with the row's errno */
	CIT_SC_KILL = 2,   /* kill the whole process (SIGSYS) */
};

enum cit_sc_op {
	CIT_SC_EQ = 1,        /* (arg & mask) == datum, mask defaults to all 64 bits */
	CIT_SC_NE = 2,        /* (arg & mask) != datum */
};

struct cit_sc_cond {
	uint8_t arg;          /* argument index 0..5 */
	uint8_t op;           /* enum cit_sc_op */
	uint64_t datum;
	uint64_t mask;        /* 0 means all bits */
};

#define CIT_SC_MAX_COND 3

struct cit_sc_rule {
	const char *syscall;  /* name as libseccomp knows it */
	uint8_t verdict;      /* enum cit_sc_verdict */
	int16_t err;          /* errno for CIT_SC_ERRNO */
	uint8_t n_cond;       /* all conditions must hold (AND) */
	struct cit_sc_cond cond[CIT_SC_MAX_COND];
};

/* The rows of the policy. Borrowed: static storage, valid for the life of the process. */
const struct cit_sc_rule *cit_policy_rules(size_t *n_rules);

/* The extra layer every trustlet installs over the policy: no new processes, no exec, no
 * System V or POSIX IPC objects, no process but itself named by pid (see the pid rows
 * below), no exclusive flock.
 * A call that no row names is allowed (the policy below it decides). */
const struct cit_sc_rule *cit_policy_trustlet_rules(size_t *n_rules);

/* A pid row of the trustlet layer: argument arg of the call names a process (or, by its
 * sign or by which, a group or a user), and the call is allowed only when it names the
 * trustlet itself, as the 64-bit value of its own pid (the kernel reads 32 bits: any
 * other upper half is refused), or also as 0 when zero_self (0 means "the caller" for
 * that call). When when_arg is set, the row applies only when the low 32 bits of argument
 * when_arg - 1 equal when_cmd (fcntl's F_SETOWN). libseccomp cannot say "only 0 or X" in
 * a layer that allows by default (it refuses a row whose action is the default, and
 * compares an argument once per row), so these rows are compiled into the layer's own
 * prefix (seccomp_compile.c). The trustlet's pid is known only after fork: the compiled
 * layer holds CIT_SC_SELF where the pid goes, and each trustlet patches its own in
 * (cit_seccomp_install_self). */
struct cit_sc_pid_rule {
	const char *syscall;
	uint8_t arg;
	bool zero_self;
	uint8_t when_arg;     /* 0: always; else argument index + 1 */
	uint32_t when_cmd;
	int16_t err;
};

const struct cit_sc_pid_rule *cit_policy_trustlet_pid_rules(size_t *n_rules);

/* The exec runtime's instance layer: the trustlet layer without its rows against new
 * processes and programs (an exec instance runs its program as processes of its own,
 * within the function's pids limit) and without the pid rows of signals (its landlock
 * layer scopes signals to itself and its descendants). Subsets of the rows above. */
const struct cit_sc_rule *cit_policy_exec_rules(size_t *n_rules);
const struct cit_sc_pid_rule *cit_policy_exec_pid_rules(size_t *n_rules);

/* Which instance layer (the runtime's). */
enum cit_sc_layer { CIT_SC_LAYER_NATIVE, CIT_SC_LAYER_EXEC };

/* The placeholder for the trustlet's own pid: above any pid the kernel hands out
 * (PID_MAX_LIMIT is 2^22), and checked by the tests to appear in the compiled layer only
 * where a pid row puts it. */
#define CIT_SC_SELF 0x5e1f0000u

/* The errno a call that no row names fails with. */
#define CIT_SC_DEFAULT_ERRNO 38 /* ENOSYS */
