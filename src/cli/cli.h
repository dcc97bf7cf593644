/* The `citadel` command line: one function per subcommand. Each returns the process's
 * exit status; only the CLI prints and exits (STYLE.md). */
#pragma once

int cit_cmd_run(int argc, char **argv);
int cit_cmd_serve(int argc, char **argv);
int cit_cmd_deploy(int argc, char **argv);
int cit_cmd_invoke(int argc, char **argv);
int cit_cmd_ls(int argc, char **argv);
int cit_cmd_rm(int argc, char **argv);
int cit_cmd_logs(int argc, char **argv);
int cit_cmd_restart(int argc, char **argv);
int cit_cmd_token(int argc, char **argv);
