#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "sandbox/warm.h"

static const char usage[] =
	"usage: citadel COMMAND [OPTIONS]\n"
	"\n"
	"Citadel runs untrusted programs isolated and fast.\n"
	"\n"
	"commands:\n"
	"  run       run one command in a fresh sandbox (citadel run --help)\n"
	"  help      show this text\n"
	"  version   print the version\n";

int main(int argc, char **argv)
{
	/* A closed stdin, stdout or stderr would be taken by the next fd we open (a relay
	 * pipe, a socket) and handed to the program as its stdio: fill them with /dev/null. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return 125;
	/* A closed reader of our output ends our relay, not us (see supervise.c). */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, CIT_WARM_KEEPER_CMD)) /* internal: see src/sandbox/warm.h */
		return cit_warm_keeper_main();
	if (!strcmp(cmd, "run"))
		return cit_cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		puts("citadel " CITADEL_VERSION);
		return 0;
	}
	fprintf(stderr, "citadel: unknown command '%s'\n%s", cmd, usage);
	return 2;
}
