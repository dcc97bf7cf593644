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
