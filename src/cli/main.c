#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/paths.h"
#include "sandbox/warm.h"

static const char usage[] =
	"usage: citadel COMMAND [OPTIONS]\n"
	"\n"
	"Citadel runs untrusted programs and functions isolated and fast.\n"
	"\n"
	"commands:\n"
	"  run       run one command in a fresh sandbox (citadel run --help)\n"
	"  serve     run the monitor: deployed functions, served on a local socket\n"
	"  deploy    deploy a function (a shared object, or any program) under a name\n"
	"  invoke    invoke a deployed function; the response goes to stdout\n"
	"  ls        list the deployed functions and their figures\n"
	"  rm        remove a deployed function\n"
	"  logs      show a function's log\n"
	"  restart   start a function again (after it failed)\n"
	"  chain     chains of functions: create, invoke, ls, rm (citadel chain --help)\n"
	"  kv        functions' key-value state: get, put, del, ls, info, purge (citadel kv --help)\n"
	"  attest    print a function's signed attestation report (citadel attest --help)\n"
	"  key       print the monitor's public identity key, which signs its reports\n"
	"  secret    secrets released to a function's code: put, grant, ls, rm\n"
	"  measure   print a function's or the monitor's measurement from the files alone\n"
	"  verify    check an attestation report: its key, signature, nonce, measurements, age\n"
	"  token     manage admin tokens (add, ls, rm); CITADEL_TOKEN presents one\n"
	"  help      show this text\n"
	"  version   print the version\n"
	"\n"
	"The monitor's commands reach it at its socket: --socket PATH, else $CITADEL_SOCKET,\n"
	"else " CIT_DEFAULT_SOCKET ". deploy, invoke, ls, rm, logs and chain can reach it over HTTP\n"
	"instead, at its gateway: --url URL (http:// or https://), or $CITADEL_URL when no\n"
	"--socket is given, with an admin token in $CITADEL_TOKEN (citadel-remote, installed\n"
	"beside citadel, does the HTTP).\n";

int main(int argc, char **argv)
{
	/* A closed stdin, stdout or stderr would be taken by the next fd we open (a relay
	 * pipe, a socket) and handed to the program as its stdio: fill them with /dev/null,
	 * opened the wrong way round, so that using them fails as a closed fd does (EBADF). */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_RDONLY : O_WRONLY) != fd)
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
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "run", cit_cmd_run },       { "serve", cit_cmd_serve }, { "deploy", cit_cmd_deploy },
		{ "invoke", cit_cmd_invoke }, { "ls", cit_cmd_ls },       { "rm", cit_cmd_rm },
		{ "logs", cit_cmd_logs },     { "restart", cit_cmd_restart }, { "token", cit_cmd_token },
		{ "chain", cit_cmd_chain },   { "kv", cit_cmd_kv },
		{ "attest", cit_cmd_attest }, { "key", cit_cmd_key },   { "secret", cit_cmd_secret },
		{ "measure", cit_cmd_measure }, { "verify", cit_cmd_verify },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		puts("citadel " CITADEL_VERSION);
		return 0;
	}
	fprintf(stderr, "citadel: unknown command '%s'\nsee 'citadel --help'\n", cmd);
	return 2;
}
