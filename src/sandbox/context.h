/* The caller's context: what a sandbox inherits from the process that makes it.
 *
 * A sandbox's init is a clone of its maker, so it starts with the maker's credentials,
 * capability sets and securebits, no_new_privs, seccomp filters, landlock domain, LSM
 * label, namespaces, cgroups, personality, rlimits, umask, scheduling, CPU and memory
 * affinity, I/O priority, oom_score_adj, timer slack, memory flags (THP, MDWE, KSM),
 * speculation controls, audit ids and session keyring; the program, forked by init,
 * keeps most of them. A sandbox made ahead of time by a pool keeper (warm.h) carries the
 * keeper's context, so it may only serve a run from the very same context: this module
 * writes a context down as text, so that a claim can compare it byte for byte.
 *
 * Some contexts cannot be written down: seccomp filters (a filter cannot be read back
 * and compared), a scheduling policy reset on fork, a pid or time namespace for
 * children other than one's own. A run from such a context makes its sandbox itself.
 * Nor can a landlock domain (no interface tells whether a process is in one, let alone
 * which): cit_context_keeper_ok() proves that a keeper is in none, and warm.c has a
 * run prove the same of itself against its keeper at every claim. The full list, and
 * what is left out and why, is in docs/sandbox.md ("Start-up: cold and warm
 * sandboxes"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* Writes down this process's context, one setting per line (into out, cap bytes,
 * NUL-terminated): equal texts mean that sandboxes made by the two processes are alike,
 * but for a landlock domain (above). Reads four small files of /proc/self and makes
 * about 110 system calls (≈ 0.1 ms in a new process: docs/sandbox.md). Returns the
 * length, or a negative errno: -EPERM when the context cannot be written down (err says
 * why), -E2BIG when it does not fit, or the errno of what could not be read. err may be
 * NULL. */
int cit_context_write(char *out, size_t cap, struct cit_error *err);

/* Whether a pool keeper started by this process could serve this process's runs: its
 * children share its pid and time namespaces (after unshare(2) without a fork they do
 * not, and a keeper, two forks down, would live in others), and it is provably in no
 * landlock domain. Landlock refuses a process in a domain any ptrace-mode access (such
 * as reading a namespace link) to a process outside it, and a kernel thread is in none:
 * when the link of pid 2, a kernel thread (kthreadd of the initial pid namespace), can be
 * read, this process is in no domain. False also when it cannot tell (a pid namespace of
 * its own where pid 2 is no kernel thread, an LSM that refuses the access). */
bool cit_context_keeper_ok(void);
