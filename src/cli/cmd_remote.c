/* The monitor's commands over HTTP: `citadel deploy | invoke | ls | rm | logs` with
 * --url URL (or $CITADEL_URL) talk to the monitor's gateway instead of its socket. HTTP
 * needs libcurl, a shared library that this static program cannot link: the work is done by
 * citadel-remote (src/remote/remote.c), installed beside citadel, which this process
 * becomes with the command's arguments. It reads them with the same code (the deploy
 * options: cli/deploy.c and the spec module), so a command means the same either way. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/usage.h"

int cit_remote(int argc, char **argv, const char *url, const char *sock)
{
	const char *cmd = argv[0];
	if (url && sock)
		return cit_usage_error(cmd, 2, "--url and --socket together: the monitor is reached one way, over "
					       "HTTP at --url or at its local --socket");
	if (url && !url[0])
		return cit_usage_error(cmd, 2, "--url wants the gateway's URL (http://HOST:PORT or https://...)");
	const char *env = getenv("CITADEL_URL");
	if (!url && (sock || !env || !env[0]))
		return -1;
	/* citadel-remote CMD ARGS...: argv is the command's, NULL-terminated (main's). Its
	 * order may be getopt's (options first), which reads the same. */
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	if (!args) {
		fprintf(stderr, "citadel %s: %s\n", cmd, strerror(ENOMEM));
		return 1;
	}
	static char self[] = "citadel-remote";
	args[0] = self;
	memcpy(args + 1, argv, (size_t)argc * sizeof(*args));
	char path[PATH_MAX];
	int rc = cit_exec_beside("citadel-remote", args, path, sizeof(path));
	free(args);
	fprintf(stderr, "citadel %s: cannot run %s (installed beside citadel, for --url and CITADEL_URL): %s\n", cmd,
		path, strerror(-rc));
	return 1;
}
