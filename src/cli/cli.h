/* The `citadel` command line: one function per subcommand. Each returns the process's
 * exit status; only the CLI prints and exits (STYLE.md). */
#pragma once

#include <stddef.h>

int cit_cmd_run(int argc, char **argv);
int cit_cmd_serve(int argc, char **argv);
int cit_cmd_deploy(int argc, char **argv);
int cit_cmd_invoke(int argc, char **argv);
int cit_cmd_ls(int argc, char **argv);
int cit_cmd_rm(int argc, char **argv);
int cit_cmd_logs(int argc, char **argv);
int cit_cmd_restart(int argc, char **argv);
int cit_cmd_token(int argc, char **argv);
int cit_cmd_chain(int argc, char **argv);
int cit_cmd_kv(int argc, char **argv);
/* cmd_attest.c: `citadel measure` and `citadel verify` (src/attest/attest.h), no monitor. */
int cit_cmd_measure(int argc, char **argv);
int cit_cmd_verify(int argc, char **argv);
/* Deletes every key of namespace ns (rm --purge) at the monitor's socket sock (NULL: the
 * default). Returns 0, or 1 with the reason printed. */
int cit_kv_purge(const char *sock, const char *ns);

/* cmd_fn.c, shared by the monitor's commands. */
#include <stdbool.h>
#include <stdint.h>

#include "cli/usage.h"
#include "proto/proto.h"

/* An OK reply and its bytes (inline, or its data object mapped). */
struct reply {
	struct cit_rx rx;
	const void *data;
	size_t len;
	void *map;     /* to munmap (len bytes), or NULL */
};
void cit_reply_done(struct reply *r);
/* A request with just a name (or none: LIST-like types). Returns 0 with r filled
 * (cit_reply_done() after), or 1 with the reason printed as "citadel CMD: ...". */
int cit_simple_request(const char *cmd, uint16_t type, const char *name, const char *sock, struct reply *r);
/* The same with a payload of the caller's (plen bytes, no data after it). */
int cit_request(const char *cmd, uint16_t type, const void *payload, size_t plen, const char *sock, struct reply *r);
/* Parses `CMD [NAME] [--socket PATH | --url URL] [--json]` (json NULL: no --json). Returns
 * 1 when valid, 0 after --help, or minus the exit status of a usage error. */
int cit_name_args(int argc, char **argv, const char *cmd, const char *usage, bool want_name, const char **name,
		  const char **sock, const char **url, bool *json);
/* Sends an INVOKE-shaped request (INVOKE, CHAIN_INVOKE) with a's data, --file or stdin, and
 * writes the response to stdout. Returns the exit status (1: the reason printed). */
int cit_invoke_request(const char *cmd, uint16_t type, const struct cit_invoke_args *a);

/* cmd_report.c: citadel attest, citadel key, and invoke --seal on the local socket. */
int cit_cmd_attest(int argc, char **argv);
int cit_cmd_key(int argc, char **argv);
/* cmd_secret.c: citadel secret put | grant | ls | rm. */
int cit_cmd_secret(int argc, char **argv);
/* invoke --seal: returns the exit status (1: the reason printed). */
int cit_invoke_sealed(const struct cit_invoke_args *a);

/* Where a monitor command goes, once its options are read (cmd_remote.c): to the local
 * socket, or, given --url (url, not NULL) or with $CITADEL_URL set and no --socket (sock
 * NULL), to the monitor's HTTP gateway through citadel-remote, which this process becomes
 * (exec) with the command's arguments (argv[0] is the command's name). Returns -1 for the
 * local socket; else the exit status to stop with: 2 after a usage error (--url with
 * --socket, an empty --url), 1 when citadel-remote could not be run. */
int cit_remote(int argc, char **argv, const char *url, const char *sock);

/* Executes program, found beside this process's own executable, with argv (NULL-
 * terminated); path (cap bytes) gets the program's path, for messages. Returns only on
 * failure: a negative errno (path may then be incomplete). */
int cit_exec_beside(const char *program, char **argv, char *path, size_t cap);
