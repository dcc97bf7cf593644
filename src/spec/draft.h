/* A function's deployment as a user writes it: deploy options (`--memory 64M`) or a JSON
 * manifest ({"memory": "64M"}), read into a draft of its spec. Shared by the CLI
 * (`citadel deploy`) and the HTTP gateway to come; not in the monitor, which checks what
 * it receives with cit_fn_spec_check() (spec.h).
 *
 * One table row per option serves its flag and its manifest key: its bounds, its unit,
 * the words of its messages. Nothing here prints, opens a file or reads the environment:
 * a manifest arrives as bytes, and its "code" is kept as a string for the caller to judge
 * (the CLI opens it; a gateway must never open a path a remote peer names).
 *
 * Errors are a negative errno-style code and a struct cit_error whose message is one plain
 * line without a subject: the caller says what it is about ("citadel deploy: --memory ",
 * "citadel deploy: m.json: "). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "spec/spec.h"

/* What an option's value is; it decides how the value is read from a string (a flag's
 * argument) and from a manifest's JSON. */
enum cit_spec_kind {
	CIT_SPEC_SIZE,     /* bytes: "64M"; in a manifest also a JSON integer (bytes) */
	CIT_SPEC_DURATION, /* "500ms", "2s", "1.5"; in a manifest also a JSON number (seconds) */
	CIT_SPEC_COUNT,    /* a whole number; in a manifest a JSON integer or a string of one */
	CIT_SPEC_CPUS,     /* "0.5"; in a manifest also a JSON number */
	CIT_SPEC_FLAG,     /* --fresh; in a manifest a JSON boolean */
	CIT_SPEC_ENV,      /* --env K=V, repeatable; in a manifest an object of strings */
	CIT_SPEC_ENTRY,    /* python: --handler MODULE.FUNCTION; in a manifest a string */
	CIT_SPEC_MODULES,  /* python: --preload MODULE[,MODULE...], repeatable; in a manifest
			    * a string or an array of strings */
	CIT_SPEC_NAMES,    /* --allow-invoke NAME[,NAME...], repeatable; in a manifest a string
			    * or an array of strings */
};

/* One deploy option: its flag and manifest key, how its value is read, its bounds (in the
 * unit of the string form: bytes, milliseconds, thousandths of a CPU, a count) and where in
 * the spec it goes. A new option is a row of the table and a field of the spec. */
struct cit_spec_opt {
	const char *flag;    /* without "--": "output-limit" */
	const char *key;     /* in a manifest: "output_limit" */
	enum cit_spec_kind kind;
	uint64_t min, max;   /* inclusive; CIT_SPEC_FLAG: min is its bit (CIT_FN_*); not for
			      * CIT_SPEC_ENV */
	uint32_t per;        /* CIT_SPEC_DURATION: milliseconds per unit stored (rounded up) */
	size_t off, width;   /* the spec's field: offsetof, sizeof (4 or 8) */
	const char *expect;  /* what a valid value is, for messages: "a size from 4M to 64G, ..." */
	const char *example; /* one valid value, as a flag's argument: "64M" */
};

/* A deployment being read: what was given so far, with the defaults for the rest.
 * Plain data, no resources: copy it, keep it static (it is about 13 KiB). */
struct cit_fn_draft {
	char name[1024];          /* as given (cit_spec_finish() checks it into spec.name); "" none yet */
	struct cit_fn_spec spec;  /* spec.name is set by cit_spec_finish() */
	char env[CIT_ENV_BYTES];  /* spec.n_env NUL-terminated "K=V" strings, spec.env_len bytes */
	char code[4096];          /* the code's path as given, a manifest's resolved against its
				   * base_dir; "" none yet; never opened here */
	char args[CIT_ARGS_BYTES]; /* exec: spec.n_args NUL-terminated strings, spec.args_len bytes */
	char bundle[4096];        /* exec: the bundle directory's path as given (--bundle, a
				   * manifest's "bundle" resolved against its base_dir); "" none;
				   * never opened here */
	bool runtime_set;         /* the runtime was named (--runtime, "runtime"), not defaulted */
	char entry[256];          /* python: --handler, "" for the default (handler.handle) */
	char modules[CIT_ARGS_BYTES]; /* python: --preload's modules, NUL-separated */
	size_t modules_len, n_modules;
};

/* The largest manifest, in bytes, that cit_spec_manifest() reads. */
#define CIT_SPEC_MANIFEST_MAX (1u << 20)

/* Where a manifest's syntax error is, counted from 1 as editors do; 0 and 0 when the
 * error is not about a place in the text (an unknown key, a wrong value). */
struct cit_spec_pos {
	int line, column;
};

/* Fills d with an empty deployment: no name, no code, no environment, runtime "native"
 * and every limit at its default (--memory 256M, --timeout 10s, --output-limit 16M,
 * --max-instances 16, --min-instances 0, --keep-alive 60s, --cpus 1, --pids 256, --object-quota 256M, no --allow-invoke). */
void cit_spec_defaults(struct cit_fn_draft *d);

/* The option table, in the order `citadel deploy --help` and the manifest's keys list
 * show it; *n gets its length. Static: valid for the life of the process. */
const struct cit_spec_opt *cit_spec_options(size_t *n);

/* The option whose flag is flag ("memory", "keep-alive"; without "--"), or NULL. The
 * result points into the static table. */
const struct cit_spec_opt *cit_spec_option(const char *flag);

/* Sets option o of d from its string form, as on the command line: a size, duration,
 * count or CPUs within o's bounds; for CIT_SPEC_FLAG, NULL or "true" sets the flag and
 * "false" clears it; for CIT_SPEC_ENV, one "K=V" added to the environment. value is
 * copied; it may be NULL only for a flag. Returns 0, or -EINVAL with err saying why
 * without naming the option ("wants a size from 4M to 64G, ... (e.g. 64M), not '3M'";
 * "too much environment: at most 64 entries and 8192 bytes in all"). On failure d is
 * unchanged. */
int cit_spec_set(struct cit_fn_draft *d, const struct cit_spec_opt *o, const char *value, struct cit_error *err);

/* Reads a JSON manifest (len bytes of text, not NUL-terminated; at most
 * CIT_SPEC_MANIFEST_MAX) into d: one object whose keys are "name", "code" and the table's
 * keys, each given once in every object. Values apply over what d holds, in the
 * manifest's order, and d must then have a name and a code, or a "command" (with, for
 * an exec function, an optional "bundle" directory). A relative "code" or "bundle" is
 * taken relative to base_dir (as "base_dir/code"; NULL: kept as written); neither is
 * opened.
 * d is left part-filled on failure. Returns 0 or:
 *   -EINVAL  not JSON, not an object, a key given twice, an unknown key (err names the
 *            keys, and the one meant when only case or '-' differ), a wrong value (err
 *            says what the key wants, with an example), no "name" or "code";
 *   -EFBIG   larger than CIT_SPEC_MANIFEST_MAX;
 *   -ENOMEM  out of memory.
 * err's message names no file; *at (when at is not NULL) gets the line and column of a
 * syntax error, else 0 and 0. */
int cit_spec_manifest(struct cit_fn_draft *d, const char *text, size_t len, const char *base_dir,
		      struct cit_spec_pos *at, struct cit_error *err);

/* Completes d's spec: its name (d->name, at most CIT_NAME_MAX - 1 bytes) into spec.name
 * and CIT_FN_BUNDLE when d->bundle is set, a python function's command words from its
 * entry point and modules (--handler, --preload; refused for other runtimes), then checks
 * the whole spec, environment and command as the monitor will (cit_fn_spec_check()).
 * Does not look at d->code. Returns 0, -ENAMETOOLONG (a usage mistake: the name as given
 * does not fit) or -EINVAL (a spec the monitor would refuse), with err saying why. */
int cit_spec_finish(struct cit_fn_draft *d, struct cit_error *err);

/* Names the runtime (spec.h's table: "native", "exec"). Returns 0, or -EINVAL with err
 * naming the runtimes there are. */
int cit_spec_runtime(struct cit_fn_draft *d, const char *name, struct cit_error *err);

/* Sets an exec function's command: its program (an absolute path in the function's view)
 * and arguments, n of them. Returns 0, or -EINVAL (no program, too many or too long). */
int cit_spec_command(struct cit_fn_draft *d, const char *const *argv, size_t n, struct cit_error *err);

/* The runtime a code file's first bytes (head, len of them) and its name say it is for:
 * "native" for an ELF shared object, "python" for a name ending in ".py"; NULL when none
 * (err says what the file is and what to do). A ".wasm" file names a runtime to come:
 * NULL with a message saying so. */
const char *cit_spec_runtime_of(const char *path, const uint8_t *head, size_t len, struct cit_error *err);

/* The environment then the command, as DEPLOY carries them after the spec: copies
 * spec.env_len + spec.args_len bytes to out (cap bytes, at least CIT_ENV_BYTES +
 * CIT_ARGS_BYTES). Returns their length. */
size_t cit_spec_tail(const struct cit_fn_draft *d, char *out, size_t cap);
