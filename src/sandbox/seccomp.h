/* Compiles the policy table (policy.h) into a seccomp BPF program and installs it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct cit_bpf {
	void *insns;     /* struct sock_filter[]; owned, freed by cit_bpf_free() */
	size_t len;      /* number of instructions */
};

/* Compiles the policy for the native architecture (other architectures, such as i386
 * calls through int 0x80, kill the process). Returns 0, -ENOMEM, or -EINVAL when a row
 * cannot be expressed (a bug in the table; the message names the row). */
int cit_seccomp_compile(struct cit_bpf *out, struct cit_error *err);

/* Compiles the trustlet layer (cit_policy_trustlet_rules), same returns. */
int cit_seccomp_compile_trustlet(struct cit_bpf *out, struct cit_error *err);

void cit_bpf_free(struct cit_bpf *bpf);

/* The policy compiled when Citadel was built (tools/gen_seccomp.c). Read-only: never
 * passed to cit_bpf_free(). */
extern const struct cit_bpf cit_seccomp_builtin;
extern const struct cit_bpf cit_seccomp_trustlet;

/* Installs a compiled program on the calling thread. no_new_privs must already be set.
 * Async-signal-safe: may be called between fork and exec. */
int cit_seccomp_install(const struct cit_bpf *bpf, struct cit_error *err);
