/* What a function is: its spec (name, runtime, limits, environment) as DEPLOY carries it,
 * the state directory stores it and LOAD hands it to the runtime; its bounds and defaults,
 * and the checks every side makes of it (the CLI for a clear message, the monitor on
 * receipt and when it reads one back from disk). Shared by the CLI, the monitor and the
 * runtime; no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CIT_NAME_MAX 64          /* function names, with the NUL */
#define CIT_ENV_MAX 64           /* environment entries of a function */
#define CIT_ENV_BYTES 8192       /* their total size */

/* What a function is: sent by DEPLOY, stored in the state directory, sent by LOAD. */
#define CIT_FN_FRESH 0x1u         /* a new trustlet for every invocation */
#define CIT_FN_BUNDLE 0x2u        /* exec: the program and its files came as a bundle (a tar
				   * archive, docs/functions.md), shown read-only at
				   * CIT_BUNDLE_PATH; the program is a path inside it */
#define CIT_FN_INVOKE_KEY 0x4u    /* over HTTP, invoking needs the function's invoke key (made
				   * by the monitor at each deploy, shown once) */
#define CIT_FN_FLAGS_ALL (CIT_FN_FRESH | CIT_FN_BUNDLE | CIT_FN_INVOKE_KEY)

/* A bundle: where a function sees it, and its bounds (the CLI checks them for a clear
 * message; the monitor's unpacker enforces them). */
#define CIT_BUNDLE_PATH "/bundle"
#define CIT_BUNDLE_MAX_BYTES (256ull << 20) /* the archive, and its files' bytes together */
#define CIT_BUNDLE_MAX_ENTRIES 65536u       /* files, directories and symbolic links */
#define CIT_BUNDLE_MAX_DEPTH 128u           /* directories, one inside another */

#define CIT_INVOKES_MAX 16         /* functions one function may be granted to call */
#define CIT_STATE_SHARES_MAX 8     /* functions one function may share its state with */

struct cit_fn_spec {
	char name[CIT_NAME_MAX];  /* [a-z0-9][a-z0-9_-]*, at most 63 */
	char runtime[16];         /* "native" or "exec" (cit_runtime_known) */
	uint64_t memory_bytes;    /* the function's cgroup: template and every instance */
	uint64_t timeout_ms;      /* per invocation */
	uint64_t output_bytes;    /* per response */
	uint32_t max_instances;
	uint32_t min_instances;   /* kept ready; idle ones above it are reaped */
	uint32_t keepalive_s;     /* how long an idle instance above min_instances lives */
	uint32_t flags;           /* CIT_FN_* */
	uint32_t n_env;           /* NUL-terminated "K=V" strings after this struct */
	uint32_t env_len;         /* their bytes, <= CIT_ENV_BYTES */
	uint32_t cpu_millis;      /* CPU bandwidth of template and instances together, in
				   * thousandths of a CPU; 0: unlimited */
	uint32_t pids;            /* processes and threads of template and instances together */
	uint32_t n_args;          /* exec: the program and its arguments, NUL-terminated strings
				   * after the environment; 0 for other runtimes */
	uint32_t args_len;        /* their bytes, <= CIT_ARGS_BYTES */
	uint64_t object_quota;    /* bytes of data objects its outputs may hold in the monitor at
				   * once (a chain's steps, a caller's results), all its calls
				   * together */
	uint32_t n_invokes;       /* functions it may call during a call (cit_invoke) */
	uint32_t reserved;        /* 0 */
	char invokes[CIT_INVOKES_MAX][CIT_NAME_MAX]; /* their names; unused ones all zero */
	uint64_t state_quota;     /* its state namespace's keys and values together, bytes */
	uint32_t state_value_max; /* one value's bytes */
	uint32_t n_state_shares;  /* functions that may use its namespace too (--state-share) */
	char state_shares[CIT_STATE_SHARES_MAX][CIT_NAME_MAX]; /* their names; unused ones zero */
};

/* Specs stored by earlier versions end sooner; read back, they get the defaults below. V0:
 * before cpu_millis and pids; V1: before n_args and args_len; V2: before object_quota and
 * the grants to invoke; V3: before the state's limits and shares. */
#define CIT_FN_SPEC_V0_SIZE offsetof(struct cit_fn_spec, cpu_millis)
#define CIT_FN_SPEC_V1_SIZE offsetof(struct cit_fn_spec, n_args)
#define CIT_FN_SPEC_V2_SIZE offsetof(struct cit_fn_spec, object_quota)
#define CIT_FN_SPEC_V3_SIZE offsetof(struct cit_fn_spec, state_quota)
#define CIT_FN_DEFAULT_STATE_QUOTA (64ull << 20)
#define CIT_FN_MIN_STATE_QUOTA (64ull << 10)
#define CIT_FN_MAX_STATE_QUOTA (64ull << 30)
#define CIT_FN_DEFAULT_STATE_VALUE_MAX (1u << 20)
#define CIT_FN_MAX_STATE_VALUE_MAX (16u << 20)
#define CIT_FN_DEFAULT_OBJECT_QUOTA (256ull << 20)
#define CIT_FN_MIN_OBJECT_QUOTA (1ull << 20)
#define CIT_FN_MAX_OBJECT_QUOTA (64ull << 30)
#define CIT_ARGS_MAX 256          /* an exec function's program and arguments */
#define CIT_ARGS_BYTES 8192       /* their total size */
#define CIT_FN_DEFAULT_CPU_MILLIS 1000
#define CIT_FN_DEFAULT_PIDS 256

/* Limits a spec must keep (checked by the CLI for a clear message, and by the monitor). */
#define CIT_FN_MAX_INSTANCES 16384
#define CIT_FN_MAX_MEMORY (64ULL << 30)
#define CIT_FN_MIN_MEMORY (4ULL << 20)
#define CIT_FN_MAX_TIMEOUT_MS (3600ULL * 1000)
#define CIT_FN_MAX_OUTPUT (1ULL << 30)
#define CIT_FN_MAX_PIDS (1u << 22)
#define CIT_FN_MAX_CPU_MILLIS (1024u * 1000)
#define CIT_FN_MIN_CPU_MILLIS 10u  /* 0.01 CPU: a CFS quota of 1 ms a 100 ms period */
#define CIT_FN_MAX_KEEPALIVE_S (30u * 24 * 3600)

/* Checks a function's spec (also the one read back from disk): name syntax, runtime,
 * limits, environment, and an exec function's command (args: its strings, NULL-terminated,
 * or NULL): its program an absolute path, or with CIT_FN_BUNDLE a relative one that stays
 * inside the bundle (no "..", no leading '/'). Returns 0 or -EINVAL with err saying which
 * field. */
int cit_fn_spec_check(const struct cit_fn_spec *spec, const char *const *env, const char *const *args,
		      struct cit_error *err);

/* True when path names a file inside a bundle: relative, no ".." component, shorter than
 * PATH_MAX. */
bool cit_bundle_path_ok(const char *path);

/* True when a symbolic link at path (a bundle's entry: relative, canonical, no "..")
 * whose target is target stays inside the bundle, its target read as a path from the
 * link's own directory: relative, never climbing above the top, shorter than PATH_MAX. */
bool cit_bundle_link_ok(const char *path, const char *target);

/* True when the field of n bytes at f holds a string NUL-terminated and NUL-padded: what
 * every fixed string field of a spec or a message must be. */
bool cit_field_padded(const char *f, size_t n);

/* True when name is a valid function name. */
bool cit_fn_name_ok(const char *name);

/* True when name is a valid secret's name: 1 to 63 of A-Z, a-z, 0-9, '.', '-' and '_', not
 * beginning with '.' (a file's name in the secrets' directories, never a hidden one). */
bool cit_secret_name_ok(const char *name);

/* What a function runs in: a runtime's name and the version of its contract with the code
 * (what a native function's ABI or an exec program's stdin/stdout mean). Both are part of
 * the function's measurement. */
struct cit_runtime_info {
	const char *name;
	uint32_t version;
	bool takes_code;          /* the deploy carries code (native: the .so); exec: a program
				   * in the view, named by its first argument */
	bool fresh;               /* each instance serves one call (exec: a program run is not
				   * reused) */
	bool command;             /* its command words are a program and its arguments (exec),
				   * one at least; else python's entry point and modules to
				   * import (none: the defaults), or none at all (native) */
	bool bundles;             /* it may come as a bundle (--bundle DIR) */
	const char *program;      /* the runtime program the monitor starts for its zygotes
				   * (beside citadel-zygote, which serve --runtime names), given
				   * the runtime's name as its argument */
};

/* The runtime named name, or NULL. */
const struct cit_runtime_info *cit_runtime_known(const char *name);
/* The runtimes in order (i < CIT_RUNTIMES), and a runtime's index among them. */
#define CIT_RUNTIMES 3
const struct cit_runtime_info *cit_runtime_at(unsigned i);
unsigned cit_runtime_index(const struct cit_runtime_info *rt);

/* The canonical encoding of what a function is (docs/functions.md, "Measurement"): lines
 * of text, in a fixed order, every value in decimal or length-prefixed, the name left out
 * (the same function deployed under two names is the same function):
 *
 *     citadel-function 1
 *     runtime NAME VERSION
 *     memory N / timeout_ms N / output_bytes N / max_instances N / min_instances N /
 *     keep_alive_s N / fresh 0|1 / cpus_milli N / pids N      (one line each)
 *     env LEN:K=V                                             (each, in order)
 *     arg LEN:ARG                                             (each, in order)
 *     code sha256:HEX                                         (the code's bytes: the
 *                                                             .so, or the exec program's)
 *     bundle sha256:HEX                                       (only with CIT_FN_BUNDLE:
 *                                                             the bundle archive's bytes)
 *     invoke_key 1                                            (only with CIT_FN_INVOKE_KEY:
 *                                                             who may call it is policy)
 *     object_quota N                                          (only when not the default)
 *     invokes LEN:NAME                                        (each function it may call,
 *                                                             in order)
 *     state_quota N / state_value_max N                       (each only when not the
 *                                                             default)
 *     state_shares LEN:NAME                                   (each function its state is
 *                                                             shared with, in order)
 *
 * env and args are tail (n_env strings, then n_args strings, as DEPLOY carries them);
 * bundle_sha256 is NULL unless the spec has CIT_FN_BUNDLE. Writes at most cap bytes to
 * out; returns the encoding's length (which may exceed cap: then out is incomplete), or
 * -EINVAL for a runtime it does not know or a bundle hash missing or out of place. */
long cit_fn_encode(const struct cit_fn_spec *spec, const char *tail, const uint8_t code_sha256[32],
		   const uint8_t *bundle_sha256, char *out, size_t cap);

/* The canonical encoding of what a function's code is, its code measurement's input
 * (src/attest/attest.h): the lines of cit_fn_encode that are not policy, under a header of
 * its own:
 *
 *     citadel-code 1
 *     runtime NAME VERSION
 *     env LEN:K=V / arg LEN:ARG / code sha256:HEX / bundle sha256:HEX   (as above)
 *
 * Arguments, return and errors as cit_fn_encode's. */
long cit_fn_encode_code(const struct cit_fn_spec *spec, const char *tail, const uint8_t code_sha256[32],
			const uint8_t *bundle_sha256, char *out, size_t cap);

/* The largest encoding (for buffers). */
#define CIT_FN_ENCODING_MAX (4096 + 2 * (CIT_ENV_BYTES + CIT_ARGS_BYTES) + 16 * (CIT_ENV_MAX + CIT_ARGS_MAX))

/* Whether s (NUL-terminated within n bytes) is a content type (a request's, or one a
 * function sets): 1 to 127 printable ASCII characters, beginning with a letter ("" is
 * also accepted: none). */
#define CIT_CTYPE_MAX 128
bool cit_ctype_ok(const char *s, size_t n);

/* Whether s is a dotted Python name (a module: xml.etree), with entry at least two parts
 * (MODULE.FUNCTION: handler.handle). ASCII identifiers only. */
bool cit_py_name_ok(const char *s, bool entry);
