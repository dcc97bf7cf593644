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
#define CIT_CPU_MILLIS_MAX (1024 * 1000) /* cpu_millis: at most 1024 CPUs' worth */
#define CIT_MAX_ENV 256

/* What a bind shows. Read-only trees go through an overlay of the sandbox's own (see
 * fsmount.h): the host's sockets there refuse connections, and watches and locks there
 * reach no host process. */
enum cit_bind_kind {
	CIT_BIND_RO = 0,   /* --ro: a read-only view of src */
	CIT_BIND_RW,       /* --rw: src itself, writable: writes reach the host */
	CIT_BIND_SOCKET,   /* --allow-socket: the host's unix socket src, connectable */
};

/* Which object a bind's source is: a sandbox made ahead of time (a warm one) must show a
 * run the object the run's own paths name now. */
struct cit_bind_identity {
	uint64_t dev, ino;
	uint32_t uid, gid;
};

struct cit_bind {
	const char *src;   /* host path (absolute), resolved on the host */
	const char *dst;   /* path inside the sandbox (absolute); resolved without symlinks */
	enum cit_bind_kind kind;
	bool expect_set;   /* when set, the source must still be expect, or making the
			    * sandbox fails with -ESTALE */
	struct cit_bind_identity expect;
};

/* Whether cit_sandbox_run() gives the program a terminal: a pseudo-terminal of the
 * sandbox's own, which the supervisor relays to and from the caller's. The caller's own
 * terminal is never handed to the program. */
enum cit_terminal_mode {
	CIT_TERMINAL_AUTO = 0, /* a pty when citadel's stdout is a terminal, or its stderr with
				* a stdin that is none (run.c) */
	CIT_TERMINAL_ALWAYS,   /* a pty whatever citadel's stdio is (-t) */
	CIT_TERMINAL_NEVER,    /* no terminal (-T): a caller's terminal is relayed through pipes */
};

struct cit_sandbox_config {
	const char *root;           /* NULL: the host root's system directories (see mount.c) */
	struct cit_bind binds[CIT_MAX_BINDS];
	size_t n_binds;
	bool net_host;              /* share the host network namespace (explicit grant) */

	uint64_t memory_bytes;      /* cgroup memory limit for the whole tree (includes /tmp) */
	uint64_t tmp_bytes;         /* size of the in-memory /tmp */
	bool private_tmp;           /* /tmp only for private directories: the sandbox gets a
				     * second id (inside uid and gid 1, which no process runs as)
				     * that owns /tmp, mode 1733: anyone may make an entry and
				     * reach one by its name, nobody may list, watch or chmod
				     * /tmp. The monitor's sandboxes (each instance's directory
				     * has a name nobody else knows); `citadel run` keeps a 1777
				     * /tmp and one id */
	uint64_t pids;              /* most processes and threads alive at once */
	uint64_t nofile;            /* RLIMIT_NOFILE */
	uint64_t cpu_ms;            /* CPU time per process (RLIMIT_CPU), 0 = unlimited */
	uint32_t cpu_millis;        /* CPU bandwidth of the whole tree, in thousandths of a CPU
				     * (1000: one CPU's worth), 0 = unlimited */
	const char *cgroup_parent;  /* the sandbox's cgroups go beneath this cgroup of ours
				     * (cit_cgroup_parent_create), NULL: beneath our own */
	uint64_t timeout_ms;        /* wall clock for the whole run, 0 = unlimited */
	uint64_t output_bytes;      /* stdout+stderr bytes the run may write, 0 = unlimited */

	const char *env[CIT_MAX_ENV];  /* "K=V" strings: the whole environment */
	size_t n_env;
	const char *cwd;            /* working directory inside the sandbox */
	const char *hostname;
	enum cit_terminal_mode terminal; /* cit_sandbox_run() only; a spawned sandbox never has one */
};

/* Fills cfg with the defaults: host system directories read-only, no network, 256 MiB of
 * memory, 64 MiB /tmp, 128 processes, 1024 open files, 10 s of CPU, 60 s of wall clock,
 * 16 MiB of output, PATH and HOME only, cwd "/". */
void cit_sandbox_config_init(struct cit_sandbox_config *cfg);

/* Adds a bind of kind: the host path src at dst inside (dst NULL: the same path). src is
 * absolute and resolved by the kernel as the caller would (symlinks and ".." included);
 * dst is absolute without ".." components. Returns 0, -EINVAL (relative or empty path,
 * ".." in dst, dst "/"), -E2BIG (too many binds). Borrowed: src and dst must outlive
 * cfg. */
int cit_sandbox_add_bind(struct cit_sandbox_config *cfg, const char *src, const char *dst,
			 enum cit_bind_kind kind, struct cit_error *err);

/* Sets K=V in the environment, replacing an earlier K. Returns 0, -EINVAL, -E2BIG.
 * Borrowed: kv must outlive cfg. */
int cit_sandbox_set_env(struct cit_sandbox_config *cfg, const char *kv, struct cit_error *err);

/* Writes cfg down as text (into out, cap bytes, NUL-terminated), with the identity of
 * each bind's source as stat(2) finds it now: one line per setting, so that equal texts
 * mean equal sandboxes. Leaves out what does not make the sandbox (env, cwd, timeout,
 * output limit: a run's own). Returns the length, -E2BIG when it does not fit, -EINVAL
 * when a path holds a tab or a newline, or the errno of a source that cannot be
 * stat'ed. */
int cit_sandbox_config_write(const struct cit_sandbox_config *cfg, char *out, size_t cap);

/* Reads a text of cit_sandbox_config_write() back into cfg (initialised to the
 * defaults first), each bind expecting its recorded identity. text is split in place and
 * borrowed by cfg. Returns 0 or -EINVAL (err says which line). */
int cit_sandbox_config_read(char *text, struct cit_sandbox_config *cfg, struct cit_error *err);

/* Checks the whole configuration for consistency. Returns 0 or -EINVAL with a message. */
int cit_sandbox_config_check(const struct cit_sandbox_config *cfg, struct cit_error *err);
