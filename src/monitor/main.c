/* citadeld: the monitor in the foreground, a program of its own so that nothing of the CLI
 * is in the trusted process. `citadel serve [OPTIONS]` runs it (exec: the same pid, the
 * same arguments), naming itself "citadel serve" in argv[0], which is the name its
 * messages give. Exit status: 0 after SIGINT or SIGTERM, 1 when it could not start, 2 on
 * a usage error. */
#include <arpa/inet.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/parse.h"
#include "common/cmdline.h"
#include "common/paths.h"
#include "common/util.h"
#include "monitor/monitor.h"

static const char usage[] =
	"usage: citadel serve [--state-dir DIR] [--socket PATH] [--runtime PATH]\n"
	"                     [--log-format logfmt|json] [--max-instances N] [--max-pids N]\n"
	"                     [--max-clients N] [--idle-timeout DURATION] [--group GROUP]\n"
	"                     [--peer-quota UID=SCALE]... [--listen ADDR:PORT|none] [--max-body SIZE]\n"
	"                     [--callback-allow CIDR]... [--python-preload MODULES]\n"
	"                     [--master-key-file FILE] [--store-max SIZE] [--state-accept]\n"
	"       citadeld [the same options] | --version\n"
	"\n"
	"Runs the monitor (citadeld, which `citadel serve` runs) in the foreground: it keeps the\n"
	"deployed functions (in the state directory; they survive a restart), makes their\n"
	"sandboxes, and serves `citadel deploy`, `invoke`, `ls`, `rm`, `logs` and `restart` on a\n"
	"local socket. Logs one event per line on stderr. SIGINT or SIGTERM stop it, and every\n"
	"sandbox with it.\n"
	"\n"
	"  --state-dir DIR      where functions are kept       (default " CIT_DEFAULT_STATE_DIR ")\n"
	"  --socket PATH        the local API socket           (default $CITADEL_SOCKET, else\n"
	"                       " CIT_DEFAULT_SOCKET ")\n"
	"  --runtime PATH       the native runtime             (default: citadel-zygote beside\n"
	"                       citadeld)\n"
	"  --log-format FMT     logfmt (default) or json\n"
	"  --max-instances N    instances of all functions together    (default 12000)\n"
	"  --max-pids N         processes and threads of all sandboxes together\n"
	"                                                              (default 24000)\n"
	"  --max-clients N      connections at once                    (default 1024)\n"
	"  --idle-timeout DURATION  a connection with nothing asked and nothing owed this\n"
	"                       long is closed (it may connect again)  (default 60s)\n"
	"  --group GROUP        members of GROUP (a name in /etc/group, or a gid) may invoke\n"
	"                       and list functions; root and the monitor's own user may do\n"
	"                       everything; \"none\": the socket is root-only\n"
	"                       (default " CIT_MON_GROUP " when that group exists, else none)\n"
	"  --peer-quota UID=SCALE  what the caller with that uid may hold, all its connections\n"
	"                       together, times SCALE (1 to 1024; repeatable): by default 256\n"
	"                       connections, 1024 calls in flight, 16 MiB queued inline\n"
	"  --listen ADDR:PORT   the HTTP gateway's address, or none (default $CITADEL_LISTEN,\n"
	"                       else " CIT_MON_LISTEN "; docs/http-api.md)\n"
	"  --max-body SIZE      HTTP: the largest request body         (default 64M)\n"
	"  --callback-allow CIDR  HTTP: where asynchronous calls' results may be posted\n"
	"                       (X-Callback-Url), an address block such as 10.0.0.0/8 or\n"
	"                       ::1/128; repeatable, at most 16 (default: loopback only)\n"
	"  --python-preload MODULES  the modules every Python zygote imports once, before any\n"
	"                       function's (commas between; default: json, re, base64,\n"
	"                       hashlib, zlib, random, math, datetime, collections, ...;\n"
	"                       \"\" for none; docs/python.md)\n"
	"  --master-key-file FILE  the key functions' state is sealed under: 32 bytes, or 64\n"
	"                       hex digits, readable by its owner only (default\n"
	"                       $CITADEL_MASTER_KEY, else DIR/master.key, made at first start;\n"
	"                       docs/state.md)\n"
	"  --store-max SIZE     the state store's largest size         (default 1G)\n"
	"  --state-accept       take the state store as found when its checkpoint is missing\n"
	"                       or damaged (after restoring a backup on purpose): without it,\n"
	"                       such a store is refused, since a rollback could not be seen\n";

/* Whether s is ADDR/BITS, an IPv4 or IPv6 address block. */
static bool cidr_ok(const char *s)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	uint64_t bits;
	unsigned char buf[16];
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return false;
	snprintf(addr, sizeof(addr), "%.*s", (int)(slash - s), s);
	bool v6 = strchr(addr, ':') != NULL;
	return inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) == 1 && cit_parse_u64(slash + 1, 0, v6 ? 128 : 32, &bits) == 0;
}

/* A usage error: one line saying what was wrong, then where to look. Returns 2, the exit
 * status. */
__attribute__((format(printf, 2, 3))) static int usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int status = cit_usage_verror(prog, 2, fmt, ap);
	va_end(ap);
	return status;
}

/* The options into opts and *runtime (PATH_MAX bytes; "" when not given). Returns -1 when
 * they are valid, else the exit status: 0 after --help, 2 after a usage error. */
static int parse_options(const char *prog, int argc, char **argv, struct cit_monitor_opts *mo, char *runtime)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' }, { "socket", required_argument, NULL, 's' },
		{ "runtime", required_argument, NULL, 'r' },   { "log-format", required_argument, NULL, 'l' },
		{ "max-instances", required_argument, NULL, 'i' }, { "max-pids", required_argument, NULL, 'p' },
		{ "max-clients", required_argument, NULL, 'c' }, { "idle-timeout", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'g' },     { "peer-quota", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },            { "version", no_argument, NULL, 'V' },
		{ "listen", required_argument, NULL, 'L' },    { "max-body", required_argument, NULL, 'B' },
		{ "callback-allow", required_argument, NULL, 'C' }, { "python-preload", required_argument, NULL, 'P' },
		{ "master-key-file", required_argument, NULL, 'K' }, { "store-max", required_argument, NULL, 'S' },
		{ "state-accept", no_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t n;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
		case 'c':
			if (cit_parse_u64(optarg, 1, 1u << 20, &n) < 0)
				return usage_error(prog, "--%s wants a number from 1 to %u, not '%s'",
						   c == 'i' ? "max-instances" : "max-clients", 1u << 20, optarg);
			*(c == 'i' ? &mo->max_instances : &mo->max_clients) = (uint32_t)n;
			break;
		case 'p':
			if (cit_parse_u64(optarg, 16, 1u << 22, &mo->max_pids) < 0)
				return usage_error(prog, "--max-pids wants a number from 16 to %u, not '%s'", 1u << 22, optarg);
			break;
		case 't':
			if (cit_parse_duration_ms(optarg, &mo->idle_timeout_ms) < 0 || mo->idle_timeout_ms < 100 ||
			    mo->idle_timeout_ms > 24ull * 3600 * 1000)
				return usage_error(prog, "--idle-timeout wants a duration from 100ms to 24h, not '%s'", optarg);
			break;
		case 'C':
			if (!cidr_ok(optarg))
				return usage_error(prog, "--callback-allow wants an address block, ADDR/BITS (127.0.0.0/8, "
						   "fd00::/8), not '%s'", optarg);
			if (mo->n_callback_allow == ARRAY_SIZE(mo->callback_allow))
				return usage_error(prog, "--callback-allow is given more than %zu times",
						   ARRAY_SIZE(mo->callback_allow));
			mo->callback_allow[mo->n_callback_allow++] = optarg;
			break;
		case 'P':
			/* Module names, commas between (the zygote imports them: a wrong one fails
			 * every python function's start, saying which). */
			if (strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,") != strlen(optarg) ||
			    strlen(optarg) > 2048)
				return usage_error(prog, "--python-preload wants Python modules' names, commas between "
						   "(json,numpy), not '%s'", optarg);
			mo->python_preload = optarg;
			break;
		case 'd': mo->state_dir = optarg; break;
		case 'L': mo->listen = optarg; break;
		case 'K': mo->master_key_file = optarg; break;
		case 'A': mo->state_accept = true; break;
		case 'S':
			if (cit_parse_size(optarg, &mo->store_max) < 0 || mo->store_max < (16ull << 20) ||
			    mo->store_max > (1ull << 40))
				return usage_error(prog, "--store-max wants a size from 16M to 1T, not '%s'", optarg);
			break;
		case 'B':
			if (cit_parse_size(optarg, &mo->max_body) < 0 || mo->max_body < 1 || mo->max_body > (1ull << 30))
				return usage_error(prog, "--max-body wants a size from 1 byte to 1G, not '%s'", optarg);
			break;
		case 'q': {
			char *eq = strchr(optarg, '=');
			uint64_t uid, scale;
			if (!eq || mo->n_peer_quota == sizeof(mo->peer_quota) / sizeof(mo->peer_quota[0]))
				return usage_error(prog, "--peer-quota wants UID=SCALE (at most 16 of them), not '%s'", optarg);
			*eq = '\0';
			int bad = cit_parse_u64(optarg, 0, UINT32_MAX - 1, &uid) < 0 || cit_parse_u64(eq + 1, 1, 1024, &scale) < 0;
			*eq = '=';
			if (bad)
				return usage_error(prog, "--peer-quota wants UID=SCALE, a uid and a number from 1 to 1024, "
						   "not '%s'", optarg);
			for (size_t i = 0; i < mo->n_peer_quota; i++)
				if (mo->peer_quota[i].uid == (uid_t)uid)
					return usage_error(prog, "--peer-quota for uid %llu is given twice",
							   (unsigned long long)uid);
			mo->peer_quota[mo->n_peer_quota].uid = (uid_t)uid;
			mo->peer_quota[mo->n_peer_quota++].scale = (uint32_t)scale;
			break;
		}
		case 'g':
			if (!*optarg)
				return usage_error(prog, "--group wants a group's name or number, or none");
			mo->group = optarg;
			break;
		case 's': mo->socket_path = optarg; break;
		case 'r': snprintf(runtime, PATH_MAX, "%s", optarg); break;
		case 'l':
			if (strcmp(optarg, "json") && strcmp(optarg, "logfmt"))
				return usage_error(prog, "--log-format is logfmt or json, not '%s'", optarg);
			mo->json_log = !strcmp(optarg, "json");
			break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': printf("citadeld %s\n", CITADEL_VERSION); return 0;
		case ':': return usage_error(prog, "option '%s' needs a value", argv[optind - 1]);
		default: return usage_error(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return usage_error(prog, "unexpected argument '%s'", argv[optind]);
	return -1;
}

int main(int argc, char **argv)
{
	/* A closed stdin, stdout or stderr would be taken by the next fd opened (the socket,
	 * a sandbox's pipe) and written to as the log: fill them with /dev/null, opened the
	 * wrong way round, so that using them fails as a closed fd does (EBADF). */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_RDONLY : O_WRONLY) != fd)
			return 1;
	/* A reader of the log that goes away fails a write (EPIPE); it does not end the
	 * monitor and every sandbox with it. */
	signal(SIGPIPE, SIG_IGN);
	/* The name the user ran: "citadel serve" (from citadel), else this file's name. */
	if (argc < 1 || !argv[0][0])
		return usage_error("citadeld", "started without a name (argv[0])");
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	struct cit_monitor_opts mo = { .state_dir = CIT_DEFAULT_STATE_DIR, .max_instances = CIT_MON_MAX_INSTANCES,
				       .max_pids = CIT_MON_MAX_PIDS, .max_clients = CIT_MON_MAX_CLIENTS,
				       .idle_timeout_ms = CIT_MON_IDLE_TIMEOUT_MS, .max_body = CIT_MON_MAX_BODY,
				       .http_connections = CIT_MON_HTTP_CONNECTIONS,
				       .http_per_address = CIT_MON_HTTP_PER_ADDRESS,
				       .http_idle_timeout_s = CIT_MON_HTTP_IDLE_S,
				       .http_header_bytes = CIT_MON_HTTP_HEADER_BYTES };
	char runtime[PATH_MAX];
	runtime[0] = '\0';
	int status = parse_options(prog, argc, argv, &mo, runtime);
	if (status >= 0)
		return status;
	mo.socket_path = cit_socket_path(mo.socket_path);
	if (!mo.listen)
		mo.listen = getenv("CITADEL_LISTEN") && *getenv("CITADEL_LISTEN") ? getenv("CITADEL_LISTEN") : CIT_MON_LISTEN;
	struct sockaddr_storage listen_ss;
	socklen_t listen_len;
	struct cit_error lerr = { 0 };
	if (strcmp(mo.listen, "none") && cit_listen_addr(mo.listen, &listen_ss, &listen_len, &lerr) < 0)
		return usage_error(prog, "%s", lerr.msg);
	if (!runtime[0]) { /* citadel-zygote is installed beside citadeld */
		ssize_t len = readlink("/proc/self/exe", runtime, sizeof(runtime) - 32);
		if (len <= 0) {
			fprintf(stderr, "%s: /proc/self/exe: %s\n", prog, strerror(errno));
			return 1;
		}
		runtime[len] = '\0';
		char *slash = strrchr(runtime, '/');
		snprintf(slash + 1, 32, "citadel-zygote");
	}
	mo.runtime_path = runtime;
	if (mo.state_dir[0] != '/' || mo.runtime_path[0] != '/') {
		fprintf(stderr, "%s: --state-dir and --runtime must be absolute paths\n", prog);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "%s: needs root today (each function's sandbox runs as an unprivileged host id of its "
				"own); run it with sudo\n", prog);
		return 1;
	}
	struct cit_error err = { 0 };
	if (cit_monitor_run(&mo, &err) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return 1;
	}
	return 0;
}
