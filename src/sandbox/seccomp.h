/* Compiles the policy table (policy.h) into a seccomp BPF program and installs it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "sandbox/policy.h"

struct cit_bpf {
	void *insns;     /* struct sock_filter[]; owned, freed by cit_bpf_free() */
	size_t len;      /* number of instructions */
};

/* Compiles the policy for the native architecture (other architectures, such as i386
 * calls through int 0x80, kill the process). Returns 0, -ENOMEM, or -EINVAL when a row
 * cannot be expressed (a bug in the table; the message names the row). */
int cit_seccomp_compile(struct cit_bpf *out, struct cit_error *err);

/* Compiles the trustlet layer: the pid rows (cit_policy_trustlet_pid_rules) with self as
 * the trustlet's own pid, then the rows of cit_policy_trustlet_rules. Built with
 * CIT_SC_SELF; the tests compile it with other values to check where self lands. Same
 * returns. */
int cit_seccomp_compile_trustlet(struct cit_bpf *out, uint32_t self, struct cit_error *err);
/* The same for a runtime's instance layer (policy.h: the native one is the trustlet layer;
 * the exec runtime's lets its program make processes). Same returns. */
int cit_seccomp_compile_layer(struct cit_bpf *out, enum cit_sc_layer layer, uint32_t self, struct cit_error *err);

void cit_bpf_free(struct cit_bpf *bpf);

/* The policy compiled when Citadel was built (tools/gen_seccomp.c). Read-only: never
 * passed to cit_bpf_free(). */
extern const struct cit_bpf cit_seccomp_builtin;
extern const struct cit_bpf cit_seccomp_trustlet;
/* The instructions of cit_seccomp_trustlet whose constant is CIT_SC_SELF, found at build
 * time as those that differ between two compilations with different values of self. */
extern const uint16_t cit_seccomp_trustlet_self[];
extern const size_t cit_seccomp_trustlet_n_self;
/* The exec runtime's instance layer, and where its pid goes, likewise. */
extern const struct cit_bpf cit_seccomp_exec;
extern const uint16_t cit_seccomp_exec_self[];
extern const size_t cit_seccomp_exec_n_self;

/* Installs a compiled program on the calling thread. no_new_privs must already be set.
 * Async-signal-safe: may be called between fork and exec. */
int cit_seccomp_install(const struct cit_bpf *bpf, struct cit_error *err);

/* Installs a copy of bpf in which the constant of each instruction at[0..n_at) is
 * CIT_SC_SELF (or the call fails with -EINVAL: a program that does not match its list is
 * never patched) and becomes self. */
int cit_seccomp_install_self(const struct cit_bpf *bpf, const uint16_t *at, size_t n_at, uint32_t self,
			     struct cit_error *err);
