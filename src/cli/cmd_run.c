/* `citadel run [OPTIONS] -- CMD [ARGS...]` */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/parse.h"
#include "common/util.h"
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
	"filesystem (a relative SRC or DIR is relative to the current directory):\n"
	"  --root DIR           use DIR's top-level entries instead of the host's system dirs\n"
	"  --ro SRC[:DST]       show host path SRC read-only at DST (default: same path); the\n"
	"                       host's sockets there refuse connections\n"
	"  --rw SRC[:DST]       bind host path SRC writable at DST: writes reach the host\n"
	"  --allow-socket SRC[:DST]  bind the host's unix socket SRC at DST and allow connecting\n"
	"                       to it (repeatable); no other host socket is reachable\n"
	"  --tmp-size SIZE      size of the in-memory /tmp             (default 64M)\n"
	"  --cwd DIR            working directory inside the sandbox (default: where the current\n"
	"                       directory is visible inside, else /)\n"
	"network:\n"
	"  --net none|host      none: a private loopback only (default); host: the host's network\n"
	"limits (0 = unlimited where noted):\n"
	"  --memory SIZE        memory of the whole tree, /tmp included (default 256M)\n"
	"  --pids N             processes and threads alive at once    (default 128)\n"
	"  --cpus N             CPU bandwidth of the whole tree, in CPUs (0.5, 2); 0 = unlimited\n"
	"                                                               (default 0)\n"
	"  --timeout DURATION   wall clock, kills the whole tree; 0 = unlimited (default 60s,\n"
	"                       0 with a terminal)\n"
	"  --cpu-time DURATION  CPU time per process; 0 = unlimited    (default 10s, 0 with a\n"
	"                       terminal)\n"
	"  --output-limit SIZE  stdout+stderr bytes; 0 = unlimited, unrelayed (default 16M)\n"
	"  --nofile N           open files per process                 (default 1024)\n"
	"environment:\n"
	"  --env K=V            set K (repeatable); --env K copies K from citadel's environment.\n"
	"                       The environment is otherwise clean: PATH and HOME=/tmp only.\n"
	"terminal:\n"
	"  -t, --tty            give CMD a terminal even when citadel's stdio is none\n"
	"  -T, --no-tty         give CMD no terminal: a terminal of citadel's is relayed by pipes\n"
	"\n"
	"CMD never gets citadel's own terminal. When citadel's stdout is a terminal (or its\n"
	"stderr, with stdin none), or with -t, CMD gets a pseudo-terminal of the sandbox's own\n"
	"in its place (not in a pipeline such as `citadel run -- cmd | less`: pipes then);\n"
	"citadel relays it, with the window size, and keeps its own terminal in raw mode\n"
	"meanwhile, so ^C and ^Z act in CMD's terminal. ^Z stops CMD and citadel together;\n"
	"fg continues both. Whatever CMD does to its terminal ends with the run, and\n"
	"citadel's terminal gets its modes back. A piped stdin passes through unchanged;\n"
	"with -t it is typed into the pseudo-terminal instead, ending with its end-of-file\n"
	"character. With a terminal, --timeout and --cpu-time default to 0 (an interactive\n"
	"shell is not killed after a minute); the other limits stay.\n"
	"\n"
	"SIZE: bytes with an optional K, M, G, T suffix. DURATION: seconds, or with ms, s, m, h.\n"
	"\n"
	"exit status:\n"
	"  CMD's own   it exited\n"
	"  128+N       it was killed by signal N: 137 over the memory limit, 152 over the CPU\n"
	"              time limit, 153 over the output limit, 159 for a forbidden system call\n"
	"  124         the timeout expired (as timeout(1))\n"
	"  125         citadel itself failed, a bad option, or CMD's output could not be written\n"
	"  126         CMD cannot be executed\n"
	"  127         CMD was not found\n"
	"\n"
	"Citadel needs root today: it maps the sandbox's root to an unprivileged host id.\n";

enum {
	OPT_ROOT = 256, OPT_RO, OPT_RW, OPT_TMP, OPT_CWD, OPT_NET, OPT_MEM, OPT_PIDS, OPT_TIMEOUT,
	OPT_CPU, OPT_OUT, OPT_NOFILE, OPT_ENV, OPT_ALLOW_SOCKET, OPT_CPUS, OPT_URL,
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
	{ "allow-socket", required_argument, NULL, OPT_ALLOW_SOCKET },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "url", required_argument, NULL, OPT_URL }, /* the monitor commands' option: refused here */
	{ "tty", no_argument, NULL, 't' },
	{ "no-tty", no_argument, NULL, 'T' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int bad_value(const char *opt, const char *val, int rc)
{
	fprintf(stderr, "citadel run: invalid value '%s' for --%s: %s\n", val, opt,
		rc == -ERANGE ? "out of range" : "malformed");
	return EXIT_USAGE;
}

/* A host path as the user typed it, made absolute against the current directory (as
 * bwrap does) and tidied: no "." components, ".." taken off the component before it
 * (the current directory itself is symlink-free, as getcwd gives it), no repeated or
 * trailing slashes. Returns a copy that lives until exit (like argv), or NULL when out
 * of memory or the current directory is gone. */
static char *absolute(const char *val)
{
	char cwd[PATH_MAX] = "";
	if (val[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return NULL;
	size_t cap = strlen(cwd) + strlen(val) + 3;
	char *joined = malloc(cap), *out = malloc(cap);
	if (!joined || !out) {
		free(joined);
		free(out);
		return NULL;
	}
	snprintf(joined, cap, "%s/%s", cwd, val);
	size_t len = 0;
	for (char *save = NULL, *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			while (len > 0 && out[--len] != '/')
				;
			continue;
		}
		len += (size_t)snprintf(out + len, cap - len, "/%s", c);
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	free(joined);
	return out;
}

/* Strings made from the options (absolute paths, copied environment entries) that cfg
 * borrows until the run is over. */
struct made {
	char *s[CIT_MAX_BINDS + CIT_MAX_ENV + 1];
	size_t n;
};

static char *keep(struct made *made, char *s)
{
	if (s && made->n < ARRAY_SIZE(made->s))
		return made->s[made->n++] = s;
	free(s);
	return NULL;
}

/* Parses one option into cfg; returns 0 or the exit status to stop with. */
static int apply_option(struct cit_sandbox_config *cfg, struct made *made, int opt, char *val)
{
	struct cit_error err = { 0 };
	const char *name = run_options[opt - OPT_ROOT].name;
	static const enum cit_bind_kind kinds[] = { [OPT_RO - OPT_ROOT] = CIT_BIND_RO, [OPT_RW - OPT_ROOT] = CIT_BIND_RW,
						    [OPT_ALLOW_SOCKET - OPT_ROOT] = CIT_BIND_SOCKET };
	char *abs = NULL;
	int rc = 0;
	switch (opt) {
	case OPT_ROOT:
	case OPT_RO:
	case OPT_RW:
	case OPT_ALLOW_SOCKET: {
		/* SRC[:DST]: only the source is the host's, and only it may be relative. The
		 * argument itself is left as it is (ps shows it). */
		const char *colon = opt == OPT_ROOT ? NULL : strchr(val, ':'), *dst = colon ? colon + 1 : NULL;
		char *src = colon ? keep(made, strndup(val, (size_t)(colon - val))) : val;
		if (!src)
			return EXIT_CITADEL;
		if (!src[0] || (dst && !dst[0])) {
			fprintf(stderr, "citadel run: --%s '%s': an empty path (an unset variable?)\n", name, val);
			return EXIT_USAGE;
		}
		if (dst && dst[0] != '/') {
			fprintf(stderr, "citadel run: --%s '%s': the destination '%s' is not absolute (SRC:DST splits at "
					"the first ':', so a source whose path has one cannot be bound)\n", name, val, dst);
			return EXIT_USAGE;
		}
		if (!(abs = keep(made, absolute(src)))) {
			fprintf(stderr, "citadel run: --%s %s: the current directory: %s\n", name, val, strerror(errno));
			return EXIT_USAGE;
		}
		if (opt == OPT_ROOT)
			cfg->root = abs;
		else
			rc = cit_sandbox_add_bind(cfg, abs, dst, kinds[opt - OPT_ROOT], &err);
		break;
	}
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
	case OPT_CPUS: rc = cit_parse_cpus(val, &cfg->cpu_millis); break;
	case OPT_ENV:
		if (!val[0] || val[0] == '=' || val[0] == '-') {
			fprintf(stderr, "citadel run: --env '%s': give NAME=VALUE, or NAME to pass on the caller's\n", val);
			return EXIT_USAGE;
		}
		if (!strchr(val, '=')) {
			const char *v = getenv(val);
			if (!v)
				return 0; /* docker's --env K: copy when set, nothing otherwise */
			size_t n = strlen(val) + strlen(v) + 2;
			char *kv = keep(made, malloc(n));
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
		fprintf(stderr, "citadel run: %s timed out after %.3gs; the sandbox was killed\n", cmd,
			(double)cfg->timeout_ms / 1000.0);
		break;
	case CIT_RUN_OUTPUT_LIMIT:
		fprintf(stderr, "citadel run: %s exceeded the output limit of %llu bytes; the sandbox was killed\n",
			cmd, (unsigned long long)cfg->output_bytes);
		break;
	case CIT_RUN_OUT_OF_MEMORY:
		fprintf(stderr, "citadel run: %s exceeded the memory limit of %llu bytes and was killed\n", cmd,
			(unsigned long long)cfg->memory_bytes);
		break;
	case CIT_RUN_OUTPUT_FAILED:
		fprintf(stderr, "citadel run: %s: %s; what it wrote after that is lost\n", cmd, res->detail);
		break;
	case CIT_RUN_EXEC_FAILED:
		if (res->status == EXIT_NOT_FOUND && !strchr(cmd, '/'))
			fprintf(stderr, "citadel run: %s: command not found in the sandbox's PATH\n", cmd);
		else
			fprintf(stderr, "citadel run: %s\n", res->detail);
		break;
	case CIT_RUN_SIGNALED:
		if (res->signal == SIGSYS)
			fprintf(stderr, "citadel run: %s was killed for a forbidden system call (seccomp policy)\n", cmd);
		else if (res->signal == SIGXCPU)
			fprintf(stderr, "citadel run: %s exceeded its CPU time limit\n", cmd);
		break;
	case CIT_RUN_EXITED:
	default:
		break;
	}
}

/* The length of dir (trailing slashes aside) when path is dir or beneath it, else 0. */
static size_t under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '/')
		return 1;
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0') ? n : 0;
}

/* Where the caller's current directory is visible inside, for the default --cwd (into
 * out, cap bytes): beneath the destination of the bind whose source holds it (the most
 * specific one), at the same path in the default view's system directories, beneath
 * --root, else "/". */
static void default_cwd(const struct cit_sandbox_config *cfg, char *out, size_t cap)
{
	char here[PATH_MAX];
	snprintf(out, cap, "/");
	if (!getcwd(here, sizeof(here)))
		return;
	size_t best = 0;
	for (size_t i = 0; i < cfg->n_binds; i++) {
		size_t n = cfg->binds[i].kind == CIT_BIND_SOCKET ? 0 : under(here, cfg->binds[i].src);
		if (n && n >= best) {
			best = n;
			const char *rest = n == 1 ? here : here + n;
			snprintf(out, cap, "%s%s", strcmp(cfg->binds[i].dst, "/") ? cfg->binds[i].dst : "",
				 *rest ? rest : "");
		}
	}
	if (best)
		return;
	if (cfg->root) {
		size_t n = under(here, cfg->root);
		if (n > 1 && here[n])
			snprintf(out, cap, "%s", here + n);
		return;
	}
	static const char *const shown[] = { "/usr", "/etc", "/opt" };
	for (size_t i = 0; i < ARRAY_SIZE(shown); i++)
		if (under(here, shown[i]))
			snprintf(out, cap, "%s", here);
}

static int run(int argc, char **argv, struct made *made)
{
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	bool cwd_given = false;
	optind = 1;
	opterr = 0; /* our own messages, with our prefix */
	int opt;
	bool timeout_set = false, cpu_set = false;
	while ((opt = getopt_long(argc, argv, "+:htT", run_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(run_usage, stdout);
			return 0;
		}
		if (opt == ':' || opt == '?')
			return cit_usage_getopt("run", EXIT_USAGE, opt, argv);
		if (opt == OPT_URL)
			return cit_usage_error("run", EXIT_USAGE, "not available over --url: run makes its sandbox on "
								  "this machine, with no monitor");
		if (opt == 't' || opt == 'T') {
			cfg.terminal = opt == 't' ? CIT_TERMINAL_ALWAYS : CIT_TERMINAL_NEVER;
			continue;
		}
		cwd_given |= opt == OPT_CWD;
		timeout_set |= opt == OPT_TIMEOUT;
		cpu_set |= opt == OPT_CPU;
		int rc = apply_option(&cfg, made, opt, optarg);
		if (rc)
			return rc;
	}
	if (optind >= argc)
		return cit_usage_error("run", EXIT_USAGE, "no command given: citadel run [OPTIONS] -- CMD [ARGS...]");
	if (geteuid() != 0) {
		fputs("citadel run: needs root today (it maps the sandbox's root to an unprivileged host id); "
		      "run it with sudo\n", stderr);
		return EXIT_CITADEL;
	}
	char cwd[PATH_MAX];
	if (!cwd_given) {
		default_cwd(&cfg, cwd, sizeof(cwd));
		cfg.cwd = cwd;
	}
	char **cmd = argv + optind;
	/* An interactive program waits for its user: no clock unless asked for. */
	if (cit_sandbox_wants_terminal(&cfg)) {
		if (!timeout_set)
			cfg.timeout_ms = 0;
		if (!cpu_set)
			cfg.cpu_ms = 0;
	}
	struct cit_run_result res;
	struct cit_error err = { 0 };
	if (cit_sandbox_run(&cfg, cmd, &res, &err) < 0) {
		fprintf(stderr, "citadel run: %s\n", err.msg[0] ? err.msg : cit_strerror(err.code));
		return EXIT_CITADEL;
	}
	explain(&res, &cfg, cmd[0]);
	return res.status;
}

int cit_cmd_run(int argc, char **argv)
{
	struct made made = { .n = 0 };
	int status = run(argc, argv, &made);
	for (size_t i = 0; i < made.n; i++)
		free(made.s[i]);
	return status;
}
