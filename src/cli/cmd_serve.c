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
#include "cli/usage.h"

int cit_exec_beside(const char *program, char **argv, char *path, size_t cap)
{
	char self[PATH_MAX];
	snprintf(path, cap, "%s", program); /* what messages name until the path is known */
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return -errno;
	self[len] = '\0';
	const char *slash = strrchr(self, '/');
	if (!slash) /* the kernel gives an absolute path: never reached */
		return -ENOENT;
	if ((size_t)(slash + 1 - self) + strlen(program) >= cap)
		return -ENAMETOOLONG;
	snprintf(path, cap, "%.*s%s", (int)(slash + 1 - self), self, program);
	execv(path, argv);
	return -errno;
}

int cit_cmd_serve(int argc, char **argv)
{
	/* The monitor serves here; --url names another's gateway, which serve cannot use
	 * (citadeld would only call it an unknown option). */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--url") || !strncmp(argv[i], "--url=", 6))
			return cit_usage_error("serve", 2, "not available over --url: serve runs the monitor on this "
							   "machine (its HTTP gateway listens at --listen ADDR:PORT)");
	static char name[] = "citadel serve";
	argv[0] = name; /* argv is main's, NULL-terminated: citadeld gets the rest unchanged */
	char path[PATH_MAX];
	int rc = cit_exec_beside("citadeld", argv, path, sizeof(path));
	fprintf(stderr, "citadel serve: cannot run the monitor, %s (installed beside citadel): %s\n", path,
		strerror(-rc));
	return 1;
}
