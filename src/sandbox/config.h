/* What a sandbox is: the policy a caller fills in before a sandbox is made.
 *
 * The same description serves `citadel run` today and the runtime zygotes and function
 * templates of the monitor next: every field has a safe default (cit_sandbox_config_init),
 * and a caller only loosens what it must. Strings are borrowed: they must stay valid until
 * the sandbox has been made (for the CLI they point into argv). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CIT_MAX_BINDS 64
#define CIT_MAX_ENV 256

struct cit_bind {
	const char *src;   /* host path (absolute), resolved on the host */
	const char *dst;   /* path inside the sandbox (absolute); resolved without symlinks */
	bool writable;     /* --rw: writes reach src; otherwise read-only */
};

struct cit_sandbox_config {
	const char *root;           /* NULL: the host root's system directories (see mount.c) */
	struct cit_bind binds[CIT_MAX_BINDS];
	size_t n_binds;
	bool net_host;              /* share the host network namespace (explicit grant) */

	uint64_t memory_bytes;      /* cgroup memory limit for the whole tree (includes /tmp) */
	uint64_t tmp_bytes;         /* size of the in-memory /tmp */
	uint64_t pids;              /* most processes and threads alive at once */
	uint64_t nofile;            /* RLIMIT_NOFILE */
	uint64_t cpu_ms;            /* CPU time per process (RLIMIT_CPU), 0 = unlimited */
	uint64_t timeout_ms;        /* wall clock for the whole run, 0 = unlimited */
	uint64_t output_bytes;      /* stdout+stderr bytes the run may write, 0 = unlimited */

	const char *env[CIT_MAX_ENV];  /* "K=V" strings: the whole environment */
	size_t n_env;
	const char *cwd;            /* working directory inside the sandbox */
	const char *hostname;
};

/* Fills cfg with the defaults: host system directories read-only, no network, 256 MiB of
 * memory, 64 MiB /tmp, 128 processes, 1024 open files, 10 s of CPU, 60 s of wall clock,
 * 16 MiB of output, PATH and HOME only, cwd "/". */
void cit_sandbox_config_init(struct cit_sandbox_config *cfg);

/* Adds a bind; spec is "SRC" or "SRC:DST". Returns 0, -EINVAL (relative path, empty,
 * ".." component), -E2BIG (too many binds). Borrowed: spec must outlive cfg. */
int cit_sandbox_add_bind(struct cit_sandbox_config *cfg, char *spec, bool writable,
			 struct cit_error *err);

/* Sets K=V in the environment, replacing an earlier K. Returns 0, -EINVAL, -E2BIG.
 * Borrowed: kv must outlive cfg. */
int cit_sandbox_set_env(struct cit_sandbox_config *cfg, const char *kv, struct cit_error *err);

/* Checks the whole configuration for consistency. Returns 0 or -EINVAL with a message. */
int cit_sandbox_config_check(const struct cit_sandbox_config *cfg, struct cit_error *err);
