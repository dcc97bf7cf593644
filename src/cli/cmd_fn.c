/* `citadel deploy | invoke | ls | rm | logs`: the monitor's clients.
 * Exit status: 0 on success, 1 when the request failed (the reason on stderr), 2 on a
 * usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/bundle.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "common/fdutil.h"
#include "common/util.h"
#include "objects/objects.h"
#include "spec/draft.h"
#include "spec/info.h"

#define INVOKE_MAX (1ull << 30)

static const char deploy_usage[] =
	"usage: citadel deploy NAME FILE.so [OPTIONS]\n"
	"       citadel deploy NAME [--runtime exec] [--bundle DIR] [OPTIONS] -- PROGRAM [ARGS...]\n"
	"       citadel deploy --manifest FILE.json [--socket PATH]\n"
	"   OPTIONS: [--memory SIZE] [--timeout DURATION] [--output-limit SIZE]\n"
	"            [--max-instances N] [--min-instances N] [--keep-alive DURATION] [--cpus N]\n"
	"            [--pids N] [--fresh] [--env K=V]... [--runtime NAME] [--socket PATH]\n"
	"\n"
	"Deploys a function under NAME, replacing an earlier version once an instance of the\n"
	"new one is ready. Prints the function's measurement (SHA-256 of its runtime, code and\n"
	"policy). The runtime follows from FILE: an ELF shared object defining cit_handler\n"
	"(include/citadel/function.h) is native. With -- PROGRAM [ARGS...] any program is the\n"
	"function (the exec runtime): PROGRAM is an absolute path in the function's read-only\n"
	"view, or with --bundle DIR a path inside DIR; each call runs it afresh with the\n"
	"request on its stdin, its stdout is the response, its stderr goes to the log, and a\n"
	"non-zero exit fails the call.\n"
	"\n"
	"  --runtime NAME         native or exec (default: from FILE, or exec with --)\n"
	"  --bundle DIR           exec: DIR's files go with the function (copied now, at most\n"
	"                         256 MiB), read-only at " CIT_BUNDLE_PATH ", its working directory\n"
	"  --memory SIZE          memory of the function: template and all instances, their\n"
	"                         private directories included, 4M to 64G (default 256M)\n"
	"  --timeout DURATION     per invocation, 1ms to 1h              (default 10s)\n"
	"  --output-limit SIZE    per response, 1 byte to 1G             (default 16M)\n"
	"  --max-instances N      instances at once, 1 to 16384; calls beyond wait (default 16)\n"
	"  --min-instances N      instances kept ready; 0 and 1 both keep one (default 0)\n"
	"  --keep-alive DURATION  idle instances above --min-instances live this long, at most\n"
	"                         30 days (720h)                         (default 60s)\n"
	"  --cpus N               CPU of template and instances together, in CPUs from 0.01\n"
	"                         to 1024 (0.5, 2); 0 = unlimited        (default 1)\n"
	"  --pids N               processes and threads of template and instances together,\n"
	"                         at least --max-instances + 2           (default 256)\n"
	"  --fresh                a new instance for every invocation\n"
	"  --env K=V              the function's environment (repeatable)\n"
	"  --manifest FILE        all of the above as JSON, instead of NAME, FILE.so and the\n"
	"                         options (it cannot be combined with them): {\"name\": ...,\n"
	"                         \"code\": \"path.so\", \"memory\": \"64M\", \"timeout\": \"10s\",\n"
	"                         \"output_limit\": \"16M\", \"max_instances\": N, \"min_instances\": N,\n"
	"                         \"keep_alive\": \"60s\", \"cpus\": 0.5, \"pids\": N, \"fresh\": bool,\n"
	"                         \"env\": {\"K\": \"V\"}, \"runtime\": \"exec\", \"command\": [\"/usr/bin/wc\",\n"
	"                         \"-w\"], \"bundle\": \"dir\"}; relative code and bundle paths are\n"
	"                         relative to FILE\n"
	"  --socket PATH          the monitor's socket (default $CITADEL_SOCKET, else\n"
	"                         " CIT_DEFAULT_SOCKET ")\n";

static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	default: return "a special file";
	}
}

/* Opens path for reading only when it is a regular file (what is one of the user's
 * inputs, for the message). A FIFO would block open() until a writer came, and a device
 * may act on open: each is refused, by stat() before the open and by fstat() after it
 * (O_NONBLOCK and O_NOCTTY in between, for what was swapped in meanwhile). Returns the
 * fd, or a negative errno with err saying why, without the path. */
static int open_regular(const char *path, const char *what, struct cit_error *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return cit_error_say(err, -errno, "%s", strerror(errno));
	_cleanup_close_ int fd = -1;
	if (S_ISREG(st.st_mode)) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0 || fstat(fd, &st) < 0)
			return cit_error_say(err, -errno, "%s", strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return cit_error_say(err, -EINVAL, "%s, not a regular file: give %s", file_kind(st.st_mode), what);
	return steal_fd(&fd);
}

/* Reads the manifest at path into d: a regular file (anything else is refused, never
 * opened blocking) of at most CIT_SPEC_MANIFEST_MAX bytes, whose relative "code" is relative
 * to the manifest's directory. Returns 0, or -1 with the reason printed. */
static int read_manifest(struct cit_fn_draft *d, const char *path)
{
	struct cit_error err = { 0 };
	_cleanup_close_ int fd = open_regular(path, "a JSON manifest file", &err);
	if (fd < 0) {
		fprintf(stderr, "citadel deploy: %s: %s\n", path, err.msg);
		return -1;
	}
	static char text[CIT_SPEC_MANIFEST_MAX + 1]; /* a byte more: one too many is too large */
	size_t len = 0;
	while (len < sizeof(text)) { /* each turn reads a byte or more, or ends */
		ssize_t n = read(fd, text + len, sizeof(text) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "citadel deploy: %s: %s\n", path, strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	static char dir[4096];
	const char *slash = strrchr(path, '/');
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	struct cit_spec_pos at;
	if (cit_spec_manifest(d, text, len, slash ? dir : NULL, &at, &err) < 0) {
		if (at.line > 0)
			fprintf(stderr, "citadel deploy: %s, line %d, column %d: %s\n", path, at.line, at.column, err.msg);
		else
			fprintf(stderr, "citadel deploy: %s: %s\n", path, err.msg);
		return -1;
	}
	return 0;
}

static int slurp(int fd, int *obj, uint64_t *len);

int cit_cmd_deploy(int argc, char **argv)
{
	/* The deploy options are the table's (spec/draft.h), then the command's own. */
	static const struct option own[] = {
		{ "manifest", required_argument, NULL, 'M' }, { "socket", required_argument, NULL, 's' },
		{ "runtime", required_argument, NULL, 'R' },  { "help", no_argument, NULL, 'h' },
		{ "bundle", required_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	/* An exec function's command comes after "--", verbatim: options are read before it
	 * only. */
	int dashes = 0;
	for (int i = 1; i < argc && !dashes; i++)
		if (!strcmp(argv[i], "--"))
			dashes = i;
	int opt_argc = dashes ? dashes : argc;
	size_t n_spec;
	const struct cit_spec_opt *spec_opts = cit_spec_options(&n_spec);
	_cleanup_free_ struct option *opts = calloc(n_spec + ARRAY_SIZE(own), sizeof(*opts));
	if (!opts) {
		fprintf(stderr, "citadel deploy: %s\n", strerror(ENOMEM));
		return 1;
	}
	for (size_t i = 0; i < n_spec; i++)
		opts[i] = (struct option){ spec_opts[i].flag,
					   spec_opts[i].kind == CIT_SPEC_FLAG ? no_argument : required_argument, NULL, 'o' };
	memcpy(opts + n_spec, own, sizeof(own));
	static struct cit_fn_draft d;
	static const struct cit_spec_opt runtime_opt = { .flag = "runtime", .key = "runtime" };
	static const struct cit_spec_opt bundle_opt = { .flag = "bundle", .key = "bundle" };
	cit_spec_defaults(&d);
	const char *sock = NULL, *manifest = NULL;
	const struct cit_spec_opt *first = NULL; /* the first option given: none with a manifest */
	struct cit_error err = { 0 };
	int c, idx;
	opterr = 0;
	while ((c = getopt_long(opt_argc, argv, ":h", opts, &idx)) != -1) {
		const struct cit_spec_opt *o = c == 'o' ? &spec_opts[idx] : NULL;
		if (o && !first)
			first = o;
		if (o) {
			if (cit_spec_set(&d, o, optarg, &err) < 0) {
				fprintf(stderr, "citadel deploy: --%s %s\n", o->flag, err.msg);
				return 2;
			}
		} else if (c == 'M') {
			manifest = optarg;
		} else if (c == 's') {
			sock = optarg;
		} else if (c == 'R') {
			if (cit_spec_runtime(&d, optarg, &err) < 0)
				return cit_usage_error("deploy", 2, "--runtime: %s", err.msg);
			if (!first)
				first = &runtime_opt;
		} else if (c == 'B') {
			if (!optarg[0])
				return cit_usage_error("deploy", 2, "--bundle wants a directory");
			if (d.bundle[0])
				return cit_usage_error("deploy", 2, "--bundle is given twice: a function has one bundle");
			snprintf(d.bundle, sizeof(d.bundle), "%s", optarg);
			if (!first)
				first = &bundle_opt;
		} else if (c == 'h') {
			fputs(deploy_usage, stdout);
			return 0;
		} else {
			return cit_usage_getopt("deploy", 2, c, argv);
		}
	}
	if (manifest) {
		/* The manifest is the whole deployment, the record of what runs: an option beside
		 * it would change it unseen. */
		if (first)
			return cit_usage_error("deploy", 2, "--%s with --manifest: set \"%s\" in %s instead (a manifest "
							    "is the whole deployment)", first->flag, first->key, manifest);
		if (optind != opt_argc || dashes)
			return cit_usage_error("deploy", 2, "--manifest takes no NAME, FILE or command, but got '%s'",
					       optind != opt_argc ? argv[optind] : "--");
		if (read_manifest(&d, manifest) < 0)
			return 2;
	} else if (dashes) {
		/* NAME -- PROGRAM [ARGS...]: an exec function. */
		if (d.runtime_set && strcmp(d.spec.runtime, "exec"))
			return cit_usage_error("deploy", 2, "a command after -- is for --runtime exec, not %s", d.spec.runtime);
		if (opt_argc - optind != 1)
			return cit_usage_error("deploy", 2, "%s", opt_argc == optind ? "no NAME given"
							 : "an exec function takes NAME -- PROGRAM [ARGS...], no FILE");
		if (cit_spec_runtime(&d, "exec", &err) < 0 ||
		    cit_spec_command(&d, (const char *const *)argv + dashes + 1, (size_t)(argc - dashes - 1), &err) < 0)
			return cit_usage_error("deploy", 2, "%s", err.msg);
		snprintf(d.name, sizeof(d.name), "%s", argv[optind]);
	} else if (d.bundle[0]) {
		return cit_usage_error("deploy", 2, "--bundle is for exec functions, with their program after --: "
						    "citadel deploy NAME --bundle DIR -- PROGRAM [ARGS...]");
	} else if (!strcmp(d.spec.runtime, "exec")) {
		return cit_usage_error("deploy", 2, "an exec function's program comes after --: citadel deploy NAME "
						    "--runtime exec -- PROGRAM [ARGS...]");
	} else if (argc - optind == 2) {
		snprintf(d.name, sizeof(d.name), "%s", argv[optind]);
		snprintf(d.code, sizeof(d.code), "%s", argv[optind + 1]);
	} else if (argc - optind > 2) {
		return cit_usage_error("deploy", 2, "unexpected argument '%s'", argv[optind + 2]);
	} else {
		return cit_usage_error("deploy", 2, "%s", argc == optind ? "no NAME and FILE given" : "no FILE given");
	}
	/* A name that does not fit is a usage mistake; then the code must be there, then the
	 * spec must pass the monitor's checks. */
	int rc = cit_spec_finish(&d, &err);
	if (rc == -ENAMETOOLONG)
		return cit_usage_error("deploy", 2, "%s", err.msg);
	bool exec = d.spec.n_args > 0;
	if (!exec && !d.code[0]) {
		fprintf(stderr, "citadel deploy: no code file given\n");
		return 2;
	}
	if (rc < 0) {
		fprintf(stderr, "citadel deploy: %s%s%s\n", manifest ? manifest : "", manifest ? ": " : "", err.msg);
		return 2;
	}
	/* The code goes as a sealed data object: immutable from here on, and the monitor reads
	 * memory, never a file that could stall it. An exec function has none: its program
	 * is read in the function's own view. */
	_cleanup_close_ int obj = -1;
	if (exec && d.bundle[0]) {
		uint64_t len;
		rc = cit_bundle_pack(d.bundle, &obj, &len, &err);
		if (rc < 0) {
			if (manifest)
				fprintf(stderr, "citadel deploy: %s: \"bundle\" %s: %s\n", manifest, d.bundle, err.msg);
			else
				fprintf(stderr, "citadel deploy: --bundle %s: %s\n", d.bundle, err.msg);
			return 1;
		}
	} else if (!exec) {
		_cleanup_close_ int code = open_regular(d.code, "the function's shared object (.so)", &err);
		if (code < 0) {
			fprintf(stderr, "citadel deploy: %s: %s\n", d.code, err.msg);
			return 1;
		}
		uint8_t head[64];
		ssize_t n = pread(code, head, sizeof(head), 0);
		const char *runtime = cit_spec_runtime_of(d.code, head, n > 0 ? (size_t)n : 0, &err);
		if (!runtime) { /* the file is wrong, not how it was named: as when the monitor refuses it */
			fprintf(stderr, "citadel deploy: %s: %s\n", d.code, err.msg);
			return 1;
		}
		if (!d.runtime_set && cit_spec_runtime(&d, runtime, &err) < 0) {
			fprintf(stderr, "citadel deploy: %s\n", err.msg);
			return 2;
		}
		uint64_t len;
		rc = slurp(code, &obj, &len);
		if (rc < 0) {
			fprintf(stderr, "citadel deploy: %s: %s\n", d.code, strerror(-rc));
			return 1;
		}
	}
	static char tail[CIT_ENV_BYTES + CIT_ARGS_BYTES];
	size_t tlen = cit_spec_tail(&d, tail, sizeof(tail));
	const char *what = exec ? d.args : d.code; /* what the messages are about */
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(sock), &err);
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	rc = s < 0 ? s : cit_client_call(s, CIT_MSG_DEPLOY, &d.spec, sizeof(d.spec), tail, tlen, obj, buf, &rx, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel deploy: %s: %s\n", what, err.msg);
		return 1;
	}
	printf("deployed %s (measurement %.*s)\n", d.spec.name, (int)rx.data_len, (const char *)rx.data);
	cit_rx_close(&rx);
	return 0;
}

/* ---- invoke ------------------------------------------------------------------------- */

#define SOCKET_HELP                                                                     \
	"  --socket PATH  the monitor's socket (default $CITADEL_SOCKET, else\n" \
	"                 " CIT_DEFAULT_SOCKET ")\n"

static const char invoke_usage[] =
	"usage: citadel invoke NAME [--data STR | --file PATH] [--socket PATH]\n"
	"\n"
	"Invokes function NAME with the request bytes from --data, --file, or else stdin, and\n"
	"writes its response to stdout. On failure (the function's error, a crash, a timeout, a\n"
	"limit) it prints the reason on stderr and exits 1.\n"
	"\n"
	"  --data STR     the request's bytes\n"
	"  --file PATH    the request's bytes from a file (at most 1 GiB)\n"
	SOCKET_HELP;

/* Reads all of fd (at most INVOKE_MAX bytes) into a new data object. */
static int slurp(int fd, int *obj, uint64_t *len)
{
	int m = memfd_create("citadel-request", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (m < 0)
		return -errno;
	char buf[65536];
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (total += (uint64_t)(n > 0 ? n : 0)) > INVOKE_MAX || (n > 0 && cit_write_all(m, buf, (size_t)n) < 0)) {
			int e = n < 0 ? errno : EFBIG;
			close(m);
			return -e;
		}
		if (n == 0)
			break;
	}
	if (fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		close(m);
		return -errno;
	}
	*obj = m;
	*len = total;
	return 0;
}

int cit_cmd_invoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' }, { "file", required_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *file = NULL, *sock = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'f': file = optarg; break;
		case 's': sock = optarg; break;
		case 'h': fputs(invoke_usage, stdout); return 0;
		default: return cit_usage_getopt("invoke", 2, c, argv);
		}
	}
	if (argc == optind)
		return cit_usage_error("invoke", 2, "no function NAME given");
	if (argc - optind > 1)
		return cit_usage_error("invoke", 2, "unexpected argument '%s'", argv[optind + 1]);
	if (data && file)
		return cit_usage_error("invoke", 2, "--data and --file together: the request comes from one of them");
	if (strlen(argv[optind]) >= CIT_NAME_MAX || !cit_fn_name_ok(argv[optind]))
		return cit_usage_error("invoke", 2, "'%s' is not a function name (1 to 63 of a-z, 0-9, '-' and '_')",
				       argv[optind]);
	struct cit_p_invoke b = { 0 };
	snprintf(b.name, sizeof(b.name), "%s", argv[optind]);
	struct cit_error err = { 0 };
	/* The monitor first: a request read from stdin is not read for nothing. */
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(sock), &err);
	if (s < 0) {
		fprintf(stderr, "citadel invoke: %s\n", err.msg);
		return 1;
	}
	_cleanup_close_ int obj = -1;
	const void *inline_data = NULL;
	size_t inline_len = 0;
	if (data && strlen(data) <= CIT_INLINE_MAX) {
		inline_data = data;
		inline_len = strlen(data);
	} else if (data) {
		if ((obj = cit_object_create(data, strlen(data))) < 0) {
			fprintf(stderr, "citadel invoke: %s\n", strerror(-obj));
			return 1;
		}
		b.data.obj_len = strlen(data);
	} else {
		_cleanup_close_ int in = file ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);
		int rc = in < 0 ? -errno : slurp(in, &obj, &b.data.obj_len);
		if (rc < 0) {
			fprintf(stderr, "citadel invoke: %s: %s\n", file ? file : "stdin",
				rc == -EFBIG ? "request larger than 1 GiB" : strerror(-rc));
			return 1;
		}
		if (b.data.obj_len == 0) /* nothing: no data object needed */
			close(steal_fd(&obj));
	}
	b.data.len = (uint32_t)inline_len;
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	int rc = cit_client_call(s, CIT_MSG_INVOKE, &b, sizeof(b), inline_data, inline_len, obj, buf, &rx, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel invoke: %s\n", err.msg);
		return 1;
	}
	const void *out;
	size_t len;
	void *map;
	rc = cit_rx_data(&rx, &out, &len, &map);
	if (rc == 0 && len)
		rc = cit_write_all(1, out, len);
	if (map)
		munmap(map, len);
	cit_rx_close(&rx);
	if (rc < 0) {
		fprintf(stderr, "citadel invoke: writing the response: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}

/* ---- ls, rm, logs --------------------------------------------------------------- */

/* An OK reply and its bytes (inline, or its data object mapped). */
struct reply {
	struct cit_rx rx;
	const void *data;
	size_t len;
	void *map;     /* to munmap (len bytes), or NULL */
};

static void reply_done(struct reply *r)
{
	if (r->map)
		munmap(r->map, r->len);
	cit_rx_close(&r->rx);
}

/* A request with just a name (or none). Returns 0 with r filled (reply_done() after), or
 * 1 with the reason printed. */
static int simple(const char *cmd, uint16_t type, const char *name, const char *sock, struct reply *r)
{
	static _Alignas(16) char buf[CIT_MSG_MAX];
	/* Each type's payload (proto/messages.h); a function's name comes first in those that
	 * carry one. */
	union {
		struct cit_p_list list;
		struct cit_p_name name;
		struct cit_p_logs logs;
	} p = { 0 };
	size_t plen = type == CIT_MSG_LIST || type == CIT_MSG_TOKEN_LIST ? sizeof(p.list)
		      : type == CIT_MSG_LOGS				  ? sizeof(p.logs)
									  : sizeof(p.name);
	if (name)
		snprintf(p.name.name, sizeof(p.name.name), "%s", name);
	struct cit_error err = { 0 };
	int s = cit_client_connect(cit_client_socket(sock), &err);
	int rc = s < 0 ? s : cit_client_call(s, type, &p, plen, NULL, 0, -1, buf, &r->rx, &err);
	if (s >= 0)
		close(s);
	if (rc < 0) {
		fprintf(stderr, "citadel %s: %s\n", cmd, err.msg);
		return 1;
	}
	if (cit_rx_data(&r->rx, &r->data, &r->len, &r->map) < 0) {
		fprintf(stderr, "citadel %s: malformed reply\n", cmd);
		cit_rx_close(&r->rx);
		return 1;
	}
	return 0;
}

/* Parses `CMD [NAME] [--socket PATH] [--json]`. */
static int name_args(int argc, char **argv, const char *cmd, const char *usage, bool want_name, const char **name,
		     const char **sock, bool *json)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 's': *sock = optarg; break;
		case 'j':
			if (!json)
				return -cit_usage_error(cmd, 2, "unknown option '--json'");
			*json = true;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: return -cit_usage_getopt(cmd, 2, c, argv);
		}
	}
	if (want_name && argc == optind)
		return -cit_usage_error(cmd, 2, "no function NAME given");
	if (argc - optind > (want_name ? 1 : 0))
		return -cit_usage_error(cmd, 2, "unexpected argument '%s'", argv[optind + (want_name ? 1 : 0)]);
	*name = want_name ? argv[optind] : NULL;
	return 1;
}

int cit_cmd_ls(int argc, char **argv)
{
	static const char usage[] = "usage: citadel ls [--json] [--socket PATH]\n\n"
				    "Lists the deployed functions: runtime, measurement, instances, invocations,\n"
				    "latency inside the monitor (p50/p99 of recent calls) and start-up phases.\n"
				    "\n"
				    "  --json         one JSON array, every figure included\n" SOCKET_HELP;
	const char *name, *sock = NULL;
	bool json = false;
	int rc = name_args(argc, argv, "ls", usage, false, &name, &sock, &json);
	if (rc <= 0)
		return -rc;
	struct reply r;
	if (simple("ls", CIT_MSG_LIST, NULL, sock, &r))
		return 1;
	size_t n = r.len / sizeof(struct cit_fn_info);
	const struct cit_fn_info *f = r.data;
	if (json)
		printf("[");
	else
		printf("%-20s %-7s %-9s %-16s %5s %5s %11s %7s %9s %9s\n", "NAME", "RUNTIME", "STATE", "MEASUREMENT",
		       "LIVE", "IDLE", "INVOCATIONS", "ERRORS", "P50", "P99");
	for (size_t i = 0; i < n; i++) {
		char name_[CIT_NAME_MAX], err_[CIT_TEXT_MAX];
		snprintf(name_, sizeof(name_), "%s", f[i].name);
		snprintf(err_, sizeof(err_), "%s", f[i].error);
		if (!json) {
			printf("%-20s %-7.7s %-9.9s %-16.16s %5u %5u %11llu %7llu %7lluus %7lluus\n", name_, f[i].runtime,
			       f[i].state, f[i].measurement, f[i].live, f[i].idle, (unsigned long long)f[i].invocations,
			       (unsigned long long)f[i].errors, (unsigned long long)f[i].p50_us,
			       (unsigned long long)f[i].p99_us);
			continue;
		}
		json_t *o = cit_fn_info_json(&f[i]);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		printf("%s%s", i ? "," : "", s ? s : "null");
		free(s);
		json_decref(o);
	}
	if (json)
		printf("]\n");
	reply_done(&r);
	return 0;
}

/* rm and logs: a request naming one function; logs prints the reply's bytes. */
static int name_request(int argc, char **argv, const char *cmd, const char *usage, uint16_t type)
{
	const char *name, *sock = NULL;
	int rc = name_args(argc, argv, cmd, usage, true, &name, &sock, NULL);
	if (rc <= 0)
		return -rc;
	struct reply r;
	if (simple(cmd, type, name, sock, &r))
		return 1;
	if (type == CIT_MSG_REMOVE)
		printf("removed %s\n", name);
	else if (type == CIT_MSG_RESTART)
		printf("restarted %s\n", name);
	else if (r.len)
		cit_write_all(1, r.data, r.len);
	reply_done(&r);
	return 0;
}

/* ---- token --------------------------------------------------------------------------- */

int cit_cmd_token(int argc, char **argv)
{
	static const char usage[] =
		"usage: citadel token add NAME [--socket PATH]\n"
		"       citadel token ls [--socket PATH]\n"
		"       citadel token rm NAME [--socket PATH]\n"
		"\n"
		"Manages the monitor's admin tokens (admins only). A token lets a client that is not\n"
		"an admin by its user (an invoker, the HTTP gateway acting for its caller) make one\n"
		"request as an admin: set CITADEL_TOKEN to it for the citadel commands. `add` prints\n"
		"the new token once: the monitor keeps only its hash. `rm` revokes it at once.\n"
		"\n" SOCKET_HELP;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc < 2)
			return cit_usage_error("token", 2, "add, ls or rm?");
		fputs(usage, stdout);
		return 0;
	}
	const char *verb = argv[1];
	bool named = !strcmp(verb, "add") || !strcmp(verb, "rm");
	if (!named && strcmp(verb, "ls"))
		return cit_usage_error("token", 2, "unknown subcommand '%s' (add, ls or rm)", verb);
	if (named && (argc < 3 || argv[2][0] == '-'))
		return cit_usage_error("token", 2, "token %s wants the token's NAME", verb);
	char cmd[16];
	snprintf(cmd, sizeof(cmd), "token %s", verb);
	const char *name, *sock = NULL;
	int rc = name_args(argc - 1, argv + 1, cmd, usage, named, &name, &sock, NULL);
	if (rc <= 0)
		return -rc;
	uint16_t type = !strcmp(verb, "add") ? CIT_MSG_TOKEN_ADD : named ? CIT_MSG_TOKEN_REMOVE : CIT_MSG_TOKEN_LIST;
	struct reply r;
	if (simple(cmd, type, name, sock, &r))
		return 1;
	if (type == CIT_MSG_TOKEN_ADD)
		printf("%.*s\n", (int)r.len, (const char *)r.data);
	else if (type == CIT_MSG_TOKEN_REMOVE)
		printf("removed token %s\n", name);
	else if (r.len)
		cit_write_all(1, r.data, r.len);
	reply_done(&r);
	return 0;
}

int cit_cmd_rm(int argc, char **argv)
{
	static const char usage[] = "usage: citadel rm NAME [--socket PATH]\n\n"
				    "Removes function NAME: its instances end and its code and log are deleted.\n"
				    "\n" SOCKET_HELP;
	return name_request(argc, argv, "rm", usage, CIT_MSG_REMOVE);
}

int cit_cmd_logs(int argc, char **argv)
{
	static const char usage[] = "usage: citadel logs NAME [-f|--follow] [--socket PATH]\n\n"
				    "Prints what function NAME wrote to stderr or with cit_log() (the last 1-2 MiB).\n"
				    "\n"
				    "  -f, --follow   then print each new line as it is written, until the function\n"
				    "                 is removed or the command is interrupted (Ctrl-C)\n" SOCKET_HELP;
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	const char *sock = NULL;
	bool follow = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hf", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'f': follow = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return cit_usage_getopt("logs", 2, c, argv);
		}
	}
	if (argc == optind)
		return cit_usage_error("logs", 2, "no function NAME given");
	if (argc - optind > 1)
		return cit_usage_error("logs", 2, "unexpected argument '%s'", argv[optind + 1]);
	if (!follow) {
		struct reply r;
		if (simple("logs", CIT_MSG_LOGS, argv[optind], sock, &r))
			return 1;
		if (r.len)
			cit_write_all(1, r.data, r.len);
		reply_done(&r);
		return 0;
	}
	struct cit_p_logs req = { .flags = CIT_LOGS_FOLLOW };
	snprintf(req.name, sizeof(req.name), "%s", argv[optind]);
	struct cit_error err = { 0 };
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(sock), &err);
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	int rc = s < 0 ? s : cit_client_call(s, CIT_MSG_LOGS, &req, sizeof(req), NULL, 0, -1, buf, &rx, &err);
	/* The log so far (one reply), then each new part of it (more replies to the same
	 * request) until the monitor says the function is gone, or goes itself. */
	while (rc == 0) {
		const void *data;
		size_t len;
		void *map;
		rc = cit_rx_data(&rx, &data, &len, &map);
		if (rc == 0 && len && cit_write_all(1, data, len) < 0)
			rc = -EPIPE; /* our reader has gone: so do we, quietly */
		if (map)
			munmap(map, len);
		cit_rx_close(&rx);
		if (rc < 0)
			return rc == -EPIPE ? 0 : 1;
		rc = cit_proto_recv_wait(s, buf, &rx, &err);
		if (rc == 0) {
			fprintf(stderr, "citadel logs: the monitor closed the connection\n");
			return 1;
		}
		if (rc > 0 && rx.hdr.type == CIT_MSG_ERROR) {
			fprintf(stderr, "citadel logs: %s\n", CIT_P(&rx, cit_p_status)->text);
			cit_rx_close(&rx);
			return 1;
		}
		rc = rc > 0 && rx.hdr.type == CIT_MSG_OK ? 0 : cit_error_set(&err, -EPROTO, "unexpected reply from the monitor");
	}
	fprintf(stderr, "citadel logs: %s\n", err.msg);
	return 1;
}

int cit_cmd_restart(int argc, char **argv)
{
	static const char usage[] = "usage: citadel restart NAME [--socket PATH]\n\n"
				    "Ends function NAME's template and instances and starts it again: a function\n"
				    "that failed (its instances kept ending before they were ready) serves again.\n"
				    "\n" SOCKET_HELP;
	return name_request(argc, argv, "restart", usage, CIT_MSG_RESTART);
}
