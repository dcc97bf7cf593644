/* `citadel deploy`'s command line and its code (deploy.h). */
#include "cli/deploy.h"
#include "spec/chainfile.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/bundle.h"
#include "cli/usage.h"
#include "common/fdutil.h"
#include "common/paths.h"
#include "common/util.h"

const char cit_deploy_usage[] =
	"usage: citadel deploy NAME FILE.so [OPTIONS]\n"
	"       citadel deploy NAME FILE.py [--handler MODULE.FUNCTION] [--preload MODULES]...\n"
	"                      [OPTIONS]\n"
	"       citadel deploy NAME [--runtime exec] [--bundle DIR] [OPTIONS] -- PROGRAM [ARGS...]\n"
	"       citadel deploy --manifest FILE.json [--socket PATH | --url URL]\n"
	"   OPTIONS: [--memory SIZE] [--timeout DURATION] [--output-limit SIZE]\n"
	"            [--max-instances N] [--min-instances N] [--keep-alive DURATION] [--cpus N]\n"
	"            [--pids N] [--fresh] [--invoke-key] [--env K=V]... [--runtime NAME]\n"
	"            [--allow-invoke NAMES]... [--object-quota SIZE] [--state-quota SIZE]\n"
	"            [--state-value-max SIZE] [--state-share NAMES]... [--socket PATH | --url URL]\n"
	"\n"
	"Deploys a function under NAME, replacing an earlier version once an instance of the\n"
	"new one is ready. Prints the function's measurement (SHA-256 of its runtime, code and\n"
	"policy). The runtime follows from FILE: an ELF shared object defining cit_handler\n"
	"(include/citadel/function.h) is native; a .py file is a Python module whose\n"
	"handle(event, context) is called (docs/python.md). With -- PROGRAM [ARGS...] any program is the\n"
	"function (the exec runtime): PROGRAM is an absolute path in the function's read-only\n"
	"view, or with --bundle DIR a path inside DIR; each call runs it afresh with the\n"
	"request on its stdin, its stdout is the response, its stderr goes to the log, and a\n"
	"non-zero exit fails the call.\n"
	"\n"
	"  --runtime NAME         native, exec or python (default: from FILE, or exec with --)\n"
	"  --handler MODULE.FUNCTION  python: the entry point (default handler.handle: the\n"
	"                         file is imported as MODULE)\n"
	"  --preload MODULES      python: modules to import in the template, before the\n"
	"                         function's own (commas between; repeatable)\n"
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
	"  --invoke-key           invoking over HTTP needs the function's own key (printed\n"
	"                         once, here: `invoke key: KEY`) or an admin token\n"
	"  --env K=V              the function's environment (repeatable)\n"
	"  --allow-invoke NAMES   functions it may call during its calls (cit_invoke; commas\n"
	"                         between; repeatable; at most 16)      (default none)\n"
	"  --object-quota SIZE    data objects its outputs may hold in the monitor at once,\n"
	"                         1M to 64G (docs/chains.md)             (default 256M)\n"
	"  --state-quota SIZE     its key-value state's keys and values together, 64K to 64G\n"
	"                         (docs/state.md)                        (default 64M)\n"
	"  --state-value-max SIZE one value of its state, 1 byte to 16M  (default 1M)\n"
	"  --state-share NAMES    functions that may read and write its state too (commas\n"
	"                         between; repeatable; at most 8)        (default none)\n"
	"  --manifest FILE        all of the above as JSON, instead of NAME, FILE.so and the\n"
	"                         options (it cannot be combined with them): {\"name\": ...,\n"
	"                         \"code\": \"path.so\", \"memory\": \"64M\", \"timeout\": \"10s\",\n"
	"                         \"output_limit\": \"16M\", \"max_instances\": N, \"min_instances\": N,\n"
	"                         \"keep_alive\": \"60s\", \"cpus\": 0.5, \"pids\": N, \"fresh\": bool,\n"
	"                         \"invoke_key\": bool, \"allow_invoke\": [\"f\"], \"object_quota\":\n"
	"                         \"256M\", \"state_quota\": \"64M\", \"state_value_max\": \"1M\",\n"
	"                         \"state_share\": [\"f\"], \"env\": {\"K\": \"V\"}, \"handler\": \"m.f\",\n"
	"                         \"preload\": [\"numpy\"], \"runtime\": \"exec\",\n"
	"                         \"command\": [\"/usr/bin/wc\", \"-w\"], \"bundle\": \"dir\"}; relative\n"
	"                         code and bundle paths are relative to FILE\n"
	"  --socket PATH          the monitor's socket (default $CITADEL_SOCKET, else\n"
	"                         " CIT_DEFAULT_SOCKET ")\n"
	"  --url URL              deploy through the monitor's HTTP gateway instead (default\n"
	"                         $CITADEL_URL), with the admin token in $CITADEL_TOKEN\n";

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

/* Reads at most max bytes of the regular file path into buf (max + 1 bytes of room).
 * Returns the length, -EFBIG past max, or a negative errno, with err saying why. */
static ssize_t read_regular(const char *path, const char *what, char *buf, size_t max, struct cit_error *err)
{
	_cleanup_close_ int fd = open_regular(path, what, err);
	if (fd < 0)
		return fd;
	size_t len = 0;
	while (len < max + 1) { /* a byte more: one too many is too large */
		ssize_t n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cit_error_say(err, -errno, "%s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return cit_error_say(err, -EFBIG, "larger than %zu KiB: %s is at most that", max >> 10, what);
	return (ssize_t)len;
}

int cit_chain_read(struct cit_chain_spec *out, const char *name, const char *manifest, const char *const *fns,
		   size_t n, struct cit_error *err)
{
	if (!manifest)
		return cit_chain_line(out, name, fns, n, err);
	static char text[CIT_CHAIN_MANIFEST_MAX + 1];
	ssize_t len = read_regular(manifest, "a chain's JSON manifest", text, CIT_CHAIN_MANIFEST_MAX, err);
	if (len < 0)
		return len == -EINVAL ? -ENOENT : (int)len; /* a file's trouble, not a chain's */
	return cit_chain_manifest(out, name, text, (size_t)len, err);
}

/* Reads the manifest at path into d: a regular file (anything else is refused, never
 * opened blocking) of at most CIT_SPEC_MANIFEST_MAX bytes, whose relative "code" is relative
 * to the manifest's directory. Returns 0, or -1 with the reason printed. */
static int read_manifest(struct cit_fn_draft *d, const char *path, const char *cmd)
{
	struct cit_error err = { 0 };
	static char text[CIT_SPEC_MANIFEST_MAX + 1];
	ssize_t n = read_regular(path, "a JSON manifest file", text, CIT_SPEC_MANIFEST_MAX, &err);
	if (n < 0) {
		fprintf(stderr, "citadel %s: %s: %s\n", cmd, path, err.msg);
		return -1;
	}
	size_t len = (size_t)n;
	static char dir[4096];
	const char *slash = strrchr(path, '/');
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	struct cit_spec_pos at;
	if (cit_spec_manifest(d, text, len, slash ? dir : NULL, &at, &err) < 0) {
		if (at.line > 0)
			fprintf(stderr, "citadel %s: %s, line %d, column %d: %s\n", cmd, path, at.line, at.column,
				err.msg);
		else
			fprintf(stderr, "citadel %s: %s: %s\n", cmd, path, err.msg);
		return -1;
	}
	return 0;
}

int cit_deploy_parse(struct cit_deploy *dep, int argc, char **argv)
{
	static const struct cit_deploy_cmd deploy = { .name = "deploy", .usage = cit_deploy_usage };
	return cit_deploy_parse_as(dep, argc, argv, &deploy);
}

int cit_deploy_parse_as(struct cit_deploy *dep, int argc, char **argv, const struct cit_deploy_cmd *as)
{
	const char *cmd = as->name;
	/* The deploy options are the table's (spec/draft.h), then the command's own. */
	static const struct option own[] = {
		{ "manifest", required_argument, NULL, 'M' }, { "socket", required_argument, NULL, 's' },
		{ "runtime", required_argument, NULL, 'R' },  { "help", no_argument, NULL, 'h' },
		{ "bundle", required_argument, NULL, 'B' },   { "url", required_argument, NULL, 'U' },
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
	size_t n_extra = 0;
	while (as->extra && as->extra[n_extra].name)
		n_extra++;
	_cleanup_free_ struct option *opts = calloc(n_spec + n_extra + ARRAY_SIZE(own), sizeof(*opts));
	if (!opts) {
		fprintf(stderr, "citadel %s: %s\n", cmd, strerror(ENOMEM));
		return -1;
	}
	for (size_t i = 0; i < n_spec; i++)
		opts[i] = (struct option){ spec_opts[i].flag,
					   spec_opts[i].kind == CIT_SPEC_FLAG ? no_argument : required_argument, NULL, 'o' };
	if (n_extra)
		memcpy(opts + n_spec, as->extra, n_extra * sizeof(*opts));
	memcpy(opts + n_spec + n_extra, own, sizeof(own));
	struct cit_fn_draft *d = &dep->d;
	static const struct cit_spec_opt runtime_opt = { .flag = "runtime", .key = "runtime" };
	static const struct cit_spec_opt bundle_opt = { .flag = "bundle", .key = "bundle" };
	cit_spec_defaults(d);
	dep->manifest = dep->socket = dep->url = NULL;
	const struct cit_spec_opt *first = NULL; /* the first option given: none with a manifest */
	struct cit_error err = { 0 };
	int c, idx;
	opterr = 0;
	while ((c = getopt_long(opt_argc, argv, ":h", opts, &idx)) != -1) {
		const struct cit_spec_opt *o = c == 'o' ? &spec_opts[idx] : NULL;
		if (o && !first)
			first = o;
		if (o) {
			if (cit_spec_set(d, o, optarg, &err) < 0) {
				fprintf(stderr, "citadel %s: --%s %s\n", cmd, o->flag, err.msg);
				return -2;
			}
		} else if (c == 'M') {
			dep->manifest = optarg;
		} else if (c == 's') {
			dep->socket = optarg;
		} else if (c == 'U') {
			dep->url = optarg;
		} else if (c == 'R') {
			if (cit_spec_runtime(d, optarg, &err) < 0)
				return -cit_usage_error(cmd, 2, "--runtime: %s", err.msg);
			if (!first)
				first = &runtime_opt;
		} else if (c == 'B') {
			if (!optarg[0])
				return -cit_usage_error(cmd, 2, "--bundle wants a directory");
			if (d->bundle[0])
				return -cit_usage_error(cmd, 2, "--bundle is given twice: a function has one bundle");
			snprintf(d->bundle, sizeof(d->bundle), "%s", optarg);
			if (!first)
				first = &bundle_opt;
		} else if (c == 'h') {
			fputs(as->usage, stdout);
			return 0;
		} else if (c >= CIT_DEPLOY_EXTRA) {
			int rc = as->on_extra(as->ctx, c, optarg);
			if (rc < 0)
				return rc;
		} else {
			return -cit_usage_getopt(cmd, 2, c, argv);
		}
	}
	const char *manifest = dep->manifest;
	if (manifest) {
		/* The manifest is the whole deployment, the record of what runs: an option beside
		 * it would change it unseen. */
		if (first)
			return -cit_usage_error(cmd, 2, "--%s with --manifest: set \"%s\" in %s instead (a manifest "
							     "is the whole deployment)", first->flag, first->key, manifest);
		if (optind != opt_argc || dashes)
			return -cit_usage_error(cmd, 2, "--manifest takes no NAME, FILE or command, but got '%s'",
						optind != opt_argc ? argv[optind] : "--");
		if (read_manifest(d, manifest, cmd) < 0)
			return -2;
	} else if (dashes) {
		/* NAME -- PROGRAM [ARGS...]: an exec function. */
		if (d->runtime_set && strcmp(d->spec.runtime, "exec"))
			return -cit_usage_error(cmd, 2, "a command after -- is for --runtime exec, not %s",
						d->spec.runtime);
		if (opt_argc - optind != 1)
			return -cit_usage_error(cmd, 2, "%s", opt_argc == optind ? "no NAME given"
							  : "an exec function takes NAME -- PROGRAM [ARGS...], no FILE");
		if (cit_spec_runtime(d, "exec", &err) < 0 ||
		    cit_spec_command(d, (const char *const *)argv + dashes + 1, (size_t)(argc - dashes - 1), &err) < 0)
			return -cit_usage_error(cmd, 2, "%s", err.msg);
		snprintf(d->name, sizeof(d->name), "%s", argv[optind]);
	} else if (d->bundle[0] && !strcmp(d->spec.runtime, "python")) {
		/* NAME --runtime python --bundle DIR: a python function's module and its files. */
		if (opt_argc - optind != 1)
			return -cit_usage_error(cmd, 2, "%s", opt_argc == optind ? "no NAME given"
							  : "a bundled python function takes NAME --bundle DIR, no FILE");
		snprintf(d->name, sizeof(d->name), "%s", argv[optind]);
	} else if (d->bundle[0]) {
		return -cit_usage_error(cmd, 2, "--bundle is for exec functions, with their program after --, "
						     "and python functions: citadel deploy NAME --bundle DIR -- PROGRAM "
						     "[ARGS...], or citadel deploy NAME --runtime python --bundle DIR");
	} else if (!strcmp(d->spec.runtime, "exec")) {
		return -cit_usage_error(cmd, 2, "an exec function's program comes after --: citadel deploy NAME "
						     "--runtime exec -- PROGRAM [ARGS...]");
	} else if (argc - optind == 2) {
		snprintf(d->name, sizeof(d->name), "%s", argv[optind]);
		snprintf(d->code, sizeof(d->code), "%s", argv[optind + 1]);
	} else if (argc - optind > 2) {
		return -cit_usage_error(cmd, 2, "unexpected argument '%s'", argv[optind + 2]);
	} else {
		return -cit_usage_error(cmd, 2, "%s", argc == optind ? "no NAME and FILE given" : "no FILE given");
	}
	/* A .py file is a python function's, by its name (an ELF file's runtime is read from
	 * its first bytes, cit_deploy_code). */
	size_t cl = strlen(d->code);
	if (!d->runtime_set && cl > 3 && !strcmp(d->code + cl - 3, ".py"))
		cit_spec_runtime(d, "python", &err);
	/* A name that does not fit is a usage mistake; then the code must be there, then the
	 * spec must pass the monitor's checks. */
	int rc = cit_spec_finish(d, &err);
	if (rc == -ENAMETOOLONG)
		return -cit_usage_error(cmd, 2, "%s", err.msg);
	dep->exec = !strcmp(d->spec.runtime, "exec");
	if (!dep->exec && !d->code[0] && !d->bundle[0]) {
		fprintf(stderr, "citadel %s: no code file given\n", cmd);
		return -2;
	}
	if (rc < 0) {
		fprintf(stderr, "citadel %s: %s%s%s\n", cmd, manifest ? manifest : "", manifest ? ": " : "", err.msg);
		return -2;
	}
	return 1;
}

int cit_deploy_code(struct cit_deploy *dep, int *obj, uint64_t *len)
{
	return cit_deploy_code_as(dep, "deploy", obj, len);
}

int cit_deploy_code_as(struct cit_deploy *dep, const char *cmd, int *obj, uint64_t *len)
{
	struct cit_fn_draft *d = &dep->d;
	struct cit_error err = { 0 };
	*obj = -1;
	*len = 0;
	if (d->bundle[0]) {
		if (cit_bundle_pack(d->bundle, obj, len, &err) < 0) {
			if (dep->manifest)
				fprintf(stderr, "citadel %s: %s: \"bundle\" %s: %s\n", cmd, dep->manifest, d->bundle,
					err.msg);
			else
				fprintf(stderr, "citadel %s: --bundle %s: %s\n", cmd, d->bundle, err.msg);
			return 1;
		}
		return 0;
	}
	if (dep->exec) /* its program is read in the function's own view */
		return 0;
	_cleanup_close_ int code = open_regular(d->code, "the function's shared object (.so)", &err);
	if (code < 0) {
		fprintf(stderr, "citadel %s: %s: %s\n", cmd, d->code, err.msg);
		return 1;
	}
	uint8_t head[64];
	ssize_t n = pread(code, head, sizeof(head), 0);
	const char *runtime = cit_spec_runtime_of(d->code, head, n > 0 ? (size_t)n : 0, &err);
	if (!runtime) { /* the file is wrong, not how it was named: as when the monitor refuses it */
		fprintf(stderr, "citadel %s: %s: %s\n", cmd, d->code, err.msg);
		return 1;
	}
	if (!d->runtime_set && cit_spec_runtime(d, runtime, &err) < 0) {
		fprintf(stderr, "citadel %s: %s\n", cmd, err.msg);
		return 2;
	}
	int rc = cit_slurp(code, obj, len);
	if (rc < 0) {
		fprintf(stderr, "citadel %s: %s: %s\n", cmd, d->code, strerror(-rc));
		return 1;
	}
	return 0;
}

void cit_deploy_print(const char *name, const char *measurement, size_t mlen, const char *key, size_t klen)
{
	printf("deployed %s (measurement %.*s)\n", name, (int)(mlen < 64 ? mlen : 64), measurement);
	if (key)
		printf("invoke key: %.*s\n", (int)(klen < 64 ? klen : 64), key);
}

const char *cit_deploy_what(const struct cit_deploy *dep)
{
	return dep->exec ? dep->d.args : dep->d.code[0] ? dep->d.code : dep->d.bundle;
}

int cit_slurp(int fd, int *obj, uint64_t *len)
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
		if (n < 0 || (total += (uint64_t)(n > 0 ? n : 0)) > CIT_SLURP_MAX ||
		    (n > 0 && cit_write_all(m, buf, (size_t)n) < 0)) {
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

int cit_request_bytes(const char *cmd, const char *data, const char *file, int *obj, const void **bytes,
		      uint64_t *len, void **map)
{
	*map = NULL;
	*obj = -1;
	if (data) {
		*bytes = data;
		*len = strlen(data);
		return 0;
	}
	_cleanup_close_ int in = file ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);
	int rc = in < 0 ? -errno : cit_slurp(in, obj, len);
	if (rc == 0 && *len && (*map = mmap(NULL, *len, PROT_READ, MAP_SHARED, *obj, 0)) == MAP_FAILED) {
		*map = NULL;
		rc = -errno;
	}
	if (rc < 0) {
		if (*obj >= 0)
			close(*obj);
		*obj = -1;
		fprintf(stderr, "citadel %s: %s: %s\n", cmd, file ? file : "stdin",
			rc == -EFBIG ? "request larger than 1 GiB" : strerror(-rc));
		return 1;
	}
	*bytes = *map;
	return 0;
}

