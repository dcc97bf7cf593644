/* `citadel serve`: the monitor in the foreground. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "monitor/monitor.h"

static const char serve_usage[] =
	"usage: citadel serve [--state-dir DIR] [--socket PATH] [--log-format logfmt|json]\n"
	"\n"
	"Runs the monitor in the foreground: it keeps the deployed functions (in the state\n"
	"directory; they survive a restart), makes their sandboxes, and serves `citadel deploy`,\n"
	"`invoke`, `ls`, `rm` and `logs` on a local socket. Logs one event per line on stderr.\n"
	"SIGINT or SIGTERM stop it, and every sandbox with it.\n"
	"\n"
	"  --state-dir DIR      where functions are kept       (default " CIT_DEFAULT_STATE_DIR ")\n"
	"  --socket PATH        the local API socket           (default $CITADEL_SOCKET, else\n"
	"                       " CIT_DEFAULT_SOCKET ")\n"
	"  --runtime PATH       the native runtime             (default: citadel-zygote beside\n"
	"                       this citadel)\n"
	"  --log-format FMT     logfmt (default) or json\n";

int cit_cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' }, { "socket", required_argument, NULL, 's' },
		{ "runtime", required_argument, NULL, 'r' },   { "log-format", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },            { NULL, 0, NULL, 0 },
	};
	struct cit_monitor_opts mo = { .state_dir = CIT_DEFAULT_STATE_DIR };
	const char *sock = NULL;
	char runtime[PATH_MAX];
	runtime[0] = '\0';
	int c;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': mo.state_dir = optarg; break;
		case 's': sock = optarg; break;
		case 'r': snprintf(runtime, sizeof(runtime), "%s", optarg); break;
		case 'l':
			if (strcmp(optarg, "json") && strcmp(optarg, "logfmt")) {
				fprintf(stderr, "citadel serve: --log-format is logfmt or json\n");
				return 2;
			}
			mo.json_log = !strcmp(optarg, "json");
			break;
		case 'h': fputs(serve_usage, stdout); return 0;
		default: fputs(serve_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "citadel serve: unexpected argument '%s'\n%s", argv[optind], serve_usage);
		return 2;
	}
	if (!runtime[0]) {
		ssize_t n = readlink("/proc/self/exe", runtime, sizeof(runtime) - 32);
		if (n <= 0) {
			perror("citadel serve: /proc/self/exe");
			return 1;
		}
		runtime[n] = '\0';
		char *slash = strrchr(runtime, '/');
		snprintf(slash + 1, 32, "citadel-zygote");
	}
	mo.runtime_path = runtime;
	mo.socket_path = cit_client_socket(sock);
	if (mo.state_dir[0] != '/' || mo.runtime_path[0] != '/') {
		fprintf(stderr, "citadel serve: --state-dir and --runtime must be absolute paths\n");
		return 2;
	}
	struct cit_error err = { 0 };
	if (cit_monitor_run(&mo, &err) < 0) {
		fprintf(stderr, "citadel serve: %s\n", err.msg);
		return 1;
	}
	return 0;
}
