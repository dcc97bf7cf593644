/* The `citadel` command line: one function per subcommand. Each returns the process's
 * exit status; only the CLI prints and exits (STYLE.md). */
#pragma once

int cit_cmd_run(int argc, char **argv);
