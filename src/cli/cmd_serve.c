/* `citadel serve`: the monitor in the foreground. The monitor is a program of its own,
 * citadeld, installed beside citadel, so that nothing of the CLI runs in the trusted
 * process: this command becomes it (exec: the same pid, signals and exit status), with
 * its arguments as given, and names itself "citadel serve" for citadeld's messages and
 * --help. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int cit_cmd_serve(int argc, char **argv)
{
	(void)argc;
	static const char daemon[] = "citadeld";
	char path[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", path, sizeof(path));
	if (len <= 0 || (size_t)len > sizeof(path) - sizeof(daemon)) {
		fprintf(stderr, "citadel serve: /proc/self/exe: %s\n", strerror(len < 0 ? errno : ENAMETOOLONG));
		return 1;
	}
	path[len] = '\0';
	char *slash = strrchr(path, '/');
	if (!slash) { /* the kernel gives an absolute path: never reached */
		fprintf(stderr, "citadel serve: /proc/self/exe is '%s', not a path\n", path);
		return 1;
	}
	memcpy(slash + 1, daemon, sizeof(daemon));
	static char name[] = "citadel serve";
	argv[0] = name; /* argv is main's, NULL-terminated: citadeld gets the rest unchanged */
	execv(path, argv);
	fprintf(stderr, "citadel serve: cannot run the monitor, %s (installed beside citadel): %s\n", path,
		strerror(errno));
	return 1;
}
