/* `citadel deploy`'s command line, read one way for both ways of reaching the monitor:
 * its local socket (cmd_fn.c) and its HTTP gateway (citadel-remote, src/remote/). The
 * options are the spec module's table (spec/draft.h) and the command's own; the code is a
 * native function's .so, or an exec function's --bundle packed (bundle.h). Both read it
 * into a sealed data object: immutable from then on, whoever reads it after. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "spec/chain.h"
#include "spec/draft.h"

/* The help text of `citadel deploy`. */
extern const char cit_deploy_usage[];

/* A deployment read from the command line. Plain data; the strings are borrowed from argv. */
struct cit_deploy {
	struct cit_fn_draft d;   /* the deployment, its spec finished and checked */
	const char *manifest;    /* --manifest FILE, or NULL */
	const char *socket;      /* --socket PATH, or NULL */
	const char *url;         /* --url URL, or NULL (the gateway's; see cmd_remote.c) */
	bool exec;               /* an exec function: a command, no code file */
};

/* Reads `deploy`'s arguments (argv[0] is "deploy") into dep, checking the deployment as
 * the monitor will (cit_spec_finish()). Opens no code file. Returns 1 when dep is ready;
 * else minus the exit status to stop with, the reason printed: 0 after --help, -2 after a
 * usage error (or a manifest that cannot be read). */
int cit_deploy_parse(struct cit_deploy *dep, int argc, char **argv);

/* A command that takes deploy's arguments (`citadel measure`): its name, for messages
 * ("citadel NAME: ..."), the text --help prints, and options of its own beside deploy's.
 * Plain data, borrowed for the call. */
#define CIT_DEPLOY_EXTRA 256 /* the least val of an extra option */
struct cit_deploy_cmd {
	const char *name;
	const char *usage;
	const struct option *extra; /* getopt_long rows, each val >= CIT_DEPLOY_EXTRA, ended by a
				     * row of zeros; NULL: none */
	/* Called for each extra option given, with its val and its argument (NULL for none).
	 * Returns 0, or minus the exit status to stop with (the reason printed). */
	int (*on_extra)(void *ctx, int val, const char *arg);
	void *ctx;
};

/* cit_deploy_parse() for command as: the same options, checks and returns. */
int cit_deploy_parse_as(struct cit_deploy *dep, int argc, char **argv, const struct cit_deploy_cmd *as);

/* The deployment's code as a sealed data object: a native function's .so (read as a
 * regular file only, its runtime found from its first bytes when --runtime did not name
 * one: this may change dep's spec), or an exec function's --bundle packed as a canonical
 * tar archive. Returns 0 with *obj (-1 for an exec function without a bundle; else the
 * caller closes it) and *len; or the exit status to stop with (1, 2), the reason printed. */
int cit_deploy_code(struct cit_deploy *dep, int *obj, uint64_t *len);
/* The same, its messages saying "citadel CMD: ". */
int cit_deploy_code_as(struct cit_deploy *dep, const char *cmd, int *obj, uint64_t *len);

/* Prints a deploy's outcome on stdout: "deployed NAME (measurement HEX)" and, for a
 * function deployed --invoke-key, "invoke key: KEY" (the monitor shows it this once).
 * measurement and key are mlen and klen bytes, not NUL-terminated; key may be NULL. */
void cit_deploy_print(const char *name, const char *measurement, size_t mlen, const char *key, size_t klen);

/* What messages about the deployment name: the code file, or the exec command's program. */
const char *cit_deploy_what(const struct cit_deploy *dep);

/* The largest request read from stdin or a file (cit_slurp). */
#define CIT_SLURP_MAX (1ull << 30)

/* Reads all of fd, at most CIT_SLURP_MAX bytes, into a new sealed data object: *obj gets
 * its fd (the caller closes it), *len its size. Returns 0, or a negative errno (-EFBIG:
 * more than CIT_SLURP_MAX). */
int cit_slurp(int fd, int *obj, uint64_t *len);

/* A request's bytes in memory: data as it is, else file's or stdin's read whole (at most
 * 1 GiB) into a data object, *obj (the caller closes it; -1 for data), mapped at *map (the
 * caller unmaps *len bytes; NULL for none). *bytes points at them. Returns 0, or 1 with
 * the reason printed as citadel CMD's. */
int cit_request_bytes(const char *cmd, const char *data, const char *file, int *obj, const void **bytes,
		      uint64_t *len, void **map);

/* `chain create`'s chain (cmd_chain.c, and citadel-remote's): from manifest (a JSON file,
 * regular only, at most CIT_CHAIN_MANIFEST_MAX bytes), or else the n functions fns in a
 * line, named name. Returns 0, or a negative errno with err saying why (without the
 * manifest's path): -EINVAL for what is not a chain (a usage mistake when it came from the
 * command line), -EFBIG, or the file's error. */
int cit_chain_read(struct cit_chain_spec *out, const char *name, const char *manifest, const char *const *fns,
		   size_t n, struct cit_error *err);
