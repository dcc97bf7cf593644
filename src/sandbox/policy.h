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
 * System V or POSIX IPC objects.
 * A call that no row names is allowed (the policy below it decides). */
const struct cit_sc_rule *cit_policy_trustlet_rules(size_t *n_rules);

/* The errno a call that no row names fails with. */
#define CIT_SC_DEFAULT_ERRNO 38 /* ENOSYS */
