/* `citadel run [OPTIONS] -- CMD [ARGS...]` */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/parse.h"
#include "sandbox/sandbox.h"

/* Exit statuses of `citadel run` besides the program's own (docker's and timeout(1)'s). */
enum {
	EXIT_TIMEOUT = 124,
	EXIT_CITADEL = 125,
	EXIT_CANNOT_EXEC = 126,
	EXIT_NOT_FOUND = 127,
	EXIT_USAGE = 125,
};

static const char run_usage[] =
	"usage: citadel run [OPTIONS] -- CMD [ARGS...]\n"
	"\n"
	"Runs CMD in a fresh sandbox: its own user, mount, pid, ipc, uts, cgroup and network\n"
	"namespaces; a read-only view of the host's system directories; an in-memory /tmp;\n"
	"no capabilities; a seccomp allowlist; landlock; memory, process, CPU, time and output\n"
	"limits. Nothing written survives the run except under --rw paths.\n"
	"\n"
	"filesystem:\n"
	"  --root DIR           use DIR's top-level entries instead of the host's system dirs\n"
	"  --ro SRC[:DST]       bind host path SRC read-only at DST (default: same path)\n"
	"  --rw SRC[:DST]       bind host path SRC writable at DST\n"
	"  --tmp-size SIZE      size of the in-memory /tmp             (default 64M)\n"
	"  --cwd DIR            working directory inside the sandbox   (default /)\n"
	"network:\n"
	"  --net none|host      none: a private loopback only (default); host: the host's network\n"
	"limits (0 = unlimited where noted):\n"
	"  --memory SIZE        memory of the whole tree, /tmp included (default 256M)\n"
	"  --pids N             processes and threads alive at once    (default 128)\n"
	"  --timeout DURATION   wall clock, kills the whole tree; 0 = unlimited (default 60s)\n"
	"  --cpu-time DURATION  CPU time per process; 0 = unlimited    (default 10s)\n"
	"  --output-limit SIZE  stdout+stderr bytes; 0 = unlimited, unrelayed (default 16M)\n"
	"  --nofile N           open files per process                 (default 1024)\n"
	"environment:\n"
	"  --env K=V            set K (repeatable); --env K copies K from citadel's environment.\n"
	"                       The environment is otherwise clean: PATH and HOME=/tmp only.\n"
	"\n"
	"SIZE: bytes with an optional K, M, G suffix. DURATION: seconds, or with ms, s, m, h.\n"
	"\n"
	"exit status: CMD's own; 128+N if it was killed by signal N (153: output limit,\n"
	"137: memory limit); 124 on timeout; 125 if citadel itself failed; 126 if CMD cannot\n"
	"be executed; 127 if CMD was not found.\n";

enum {
	OPT_ROOT = 256, OPT_RO, OPT_RW, OPT_TMP, OPT_CWD, OPT_NET, OPT_MEM, OPT_PIDS, OPT_TIMEOUT,
	OPT_CPU, OPT_OUT, OPT_NOFILE, OPT_ENV,
};

static const struct option run_options[] = {
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "ro", required_argument, NULL, OPT_RO },
	{ "rw", required_argument, NULL, OPT_RW },
	{ "tmp-size", required_argument, NULL, OPT_TMP },
	{ "cwd", required_argument, NULL, OPT_CWD },
	{ "net", required_argument, NULL, OPT_NET },
	{ "memory", required_argument, NULL, OPT_MEM },
	{ "pids", required_argument, NULL, OPT_PIDS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "cpu-time", required_argument, NULL, OPT_CPU },
	{ "output-limit", required_argument, NULL, OPT_OUT },
	{ "nofile", required_argument, NULL, OPT_NOFILE },
	{ "env", required_argument, NULL, OPT_ENV },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int bad_value(const char *opt, const char *val, int rc)
{
	fprintf(stderr, "citadel run: invalid value '%s' for --%s: %s\n", val, opt,
		rc == -ERANGE ? "out of range" : "malformed");
	return EXIT_USAGE;
}

/* Parses one option into cfg; returns 0 or the exit status to stop with. */
static int apply_option(struct cit_sandbox_config *cfg, int opt, char *val)
{
	struct cit_error err = { 0 };
	const char *name = run_options[opt - OPT_ROOT].name;
	int rc = 0;
	switch (opt) {
	case OPT_ROOT: cfg->root = val; break;
	case OPT_RO:
	case OPT_RW: rc = cit_sandbox_add_bind(cfg, val, opt == OPT_RW, &err); break;
	case OPT_TMP: rc = cit_parse_size(val, &cfg->tmp_bytes); break;
	case OPT_CWD: cfg->cwd = val; break;
	case OPT_NET:
		if (strcmp(val, "none") && strcmp(val, "host"))
			return bad_value(name, val, -EINVAL);
		cfg->net_host = !strcmp(val, "host");
		break;
	case OPT_MEM: rc = cit_parse_size(val, &cfg->memory_bytes); break;
	case OPT_PIDS: rc = cit_parse_u64(val, 1, 1 << 22, &cfg->pids); break;
	case OPT_TIMEOUT: rc = cit_parse_duration_ms(val, &cfg->timeout_ms); break;
	case OPT_CPU: rc = cit_parse_duration_ms(val, &cfg->cpu_ms); break;
	case OPT_OUT: rc = cit_parse_size(val, &cfg->output_bytes); break;
	case OPT_NOFILE: rc = cit_parse_u64(val, 8, 1 << 20, &cfg->nofile); break;
	case OPT_ENV:
		if (!strchr(val, '=')) {
			const char *v = getenv(val);
			if (!v)
				return 0; /* docker's --env K: copy when set, nothing otherwise */
			size_t n = strlen(val) + strlen(v) + 2;
			char *kv = malloc(n); /* lives until exit, like argv */
			if (!kv)
				return EXIT_CITADEL;
			snprintf(kv, n, "%s=%s", val, v);
			val = kv;
		}
		rc = cit_sandbox_set_env(cfg, val, &err);
		break;
	default: return EXIT_USAGE;
	}
	if (rc < 0 && err.msg[0]) {
		fprintf(stderr, "citadel run: %s\n", err.msg);
		return EXIT_USAGE;
	}
	return rc < 0 ? bad_value(name, val, rc) : 0;
}

static void explain(const struct cit_run_result *res, const struct cit_sandbox_config *cfg, const char *cmd)
{
	switch (res->cause) {
	case CIT_RUN_TIMEOUT:
		fprintf(stderr, "citadel: %s timed out after %.3gs; the sandbox was killed\n", cmd,
			(double)cfg->timeout_ms / 1000.0);
		break;
	case CIT_RUN_OUTPUT_LIMIT:
		fprintf(stderr, "citadel: %s exceeded the output limit of %llu bytes; the sandbox was killed\n",
			cmd, (unsigned long long)cfg->output_bytes);
		break;
	case CIT_RUN_OUT_OF_MEMORY:
		fprintf(stderr, "citadel: %s exceeded the memory limit of %llu bytes and was killed\n", cmd,
			(unsigned long long)cfg->memory_bytes);
		break;
	case CIT_RUN_EXEC_FAILED:
		if (res->status == EXIT_NOT_FOUND && !strchr(cmd, '/'))
			fprintf(stderr, "citadel: %s: command not found in the sandbox's PATH\n", cmd);
		else
			fprintf(stderr, "citadel: %s\n", res->detail);
		break;
	case CIT_RUN_SIGNALED:
		if (res->signal == SIGSYS)
			fprintf(stderr, "citadel: %s was killed for a forbidden system call (seccomp policy)\n", cmd);
		else if (res->signal == SIGXCPU)
			fprintf(stderr, "citadel: %s exceeded its CPU time limit\n", cmd);
		break;
	case CIT_RUN_EXITED:
	default:
		break;
	}
}

int cit_cmd_run(int argc, char **argv)
{
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "+h", run_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(run_usage, stdout);
			return 0;
		}
		if (opt == '?') {
			fputs("citadel run: see 'citadel run --help'\n", stderr);
			return EXIT_USAGE;
		}
		int rc = apply_option(&cfg, opt, optarg);
		if (rc)
			return rc;
	}
	if (optind >= argc) {
		fputs("citadel run: no command given\nusage: citadel run [OPTIONS] -- CMD [ARGS...]\n", stderr);
		return EXIT_USAGE;
	}
	char **cmd = argv + optind;
	struct cit_run_result res;
	struct cit_error err = { 0 };
	if (cit_sandbox_run(&cfg, cmd, &res, &err) < 0) {
		fprintf(stderr, "citadel: %s\n", err.msg[0] ? err.msg : cit_strerror(err.code));
		return EXIT_CITADEL;
	}
	explain(&res, &cfg, cmd[0]);
	return res.status;
}
