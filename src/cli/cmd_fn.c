/* `citadel deploy | invoke | ls | rm | logs`: the monitor's clients.
 * Exit status: 0 on success, 1 when the request failed (the reason on stderr), 2 on a
 * usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/fdutil.h"
#include "common/parse.h"
#include "common/util.h"

#define INVOKE_MAX (1ull << 30)

static const char deploy_usage[] =
	"usage: citadel deploy NAME FILE.so [OPTIONS]\n"
	"       citadel deploy --manifest FILE.json\n"
	"\n"
	"Deploys a native function (a shared object defining cit_handler, see\n"
	"include/citadel/function.h) under NAME, replacing an earlier version once the new one\n"
	"has loaded. Prints the function's measurement (SHA-256 of runtime, code and policy).\n"
	"\n"
	"  --memory SIZE          memory of the function: template and all instances, their\n"
	"                         private directories included           (default 256M)\n"
	"  --timeout DURATION     per invocation                        (default 10s)\n"
	"  --output-limit SIZE    per response                          (default 16M)\n"
	"  --max-instances N      instances at once; calls beyond wait  (default 16)\n"
	"  --min-instances N      instances kept ready (0: one, made on first use) (default 0)\n"
	"  --keep-alive DURATION  idle instances above --min-instances live this long (default 60s)\n"
	"  --fresh                a new instance for every invocation\n"
	"  --env K=V              the function's environment (repeatable)\n"
	"  --manifest FILE        the same as JSON: {\"name\": ..., \"code\": \"path.so\", \"memory\":\n"
	"                         \"64M\", \"timeout\": \"10s\", \"output_limit\": ..., \"max_instances\": N,\n"
	"                         \"min_instances\": N, \"keep_alive\": \"60s\", \"fresh\": bool,\n"
	"                         \"env\": {\"K\": \"V\"}}; a relative code path is relative to FILE\n"
	"  --socket PATH          the monitor's socket (default $CITADEL_SOCKET, else "
	CIT_DEFAULT_SOCKET ")\n";

struct deploy {
	struct cit_fn_spec spec;
	char env[CIT_ENV_BYTES];
	char code[4096];
};

static int add_env(struct deploy *d, const char *kv)
{
	size_t l = strlen(kv) + 1;
	if (!strchr(kv, '=') || kv[0] == '=') {
		fprintf(stderr, "citadel deploy: --env wants K=V, not '%s'\n", kv);
		return -1;
	}
	if (d->spec.n_env >= CIT_ENV_MAX || d->spec.env_len + l > CIT_ENV_BYTES) {
		fprintf(stderr, "citadel deploy: too much environment (at most %d entries, %d bytes)\n", CIT_ENV_MAX,
			CIT_ENV_BYTES);
		return -1;
	}
	memcpy(d->env + d->spec.env_len, kv, l);
	d->spec.env_len += (uint32_t)l;
	d->spec.n_env++;
	return 0;
}

/* One option's value, from the command line or the manifest. */
static int set_option(struct deploy *d, const char *opt, const char *v)
{
	uint64_t n;
	int rc = 0;
	if (!strcmp(opt, "memory"))
		rc = cit_parse_size(v, &d->spec.memory_bytes);
	else if (!strcmp(opt, "timeout"))
		rc = cit_parse_duration_ms(v, &d->spec.timeout_ms);
	else if (!strcmp(opt, "output-limit") || !strcmp(opt, "output_limit"))
		rc = cit_parse_size(v, &d->spec.output_bytes);
	else if (!strcmp(opt, "max-instances") || !strcmp(opt, "max_instances")) {
		if ((rc = cit_parse_u64(v, 1, CIT_FN_MAX_INSTANCES, &n)) == 0)
			d->spec.max_instances = (uint32_t)n;
	} else if (!strcmp(opt, "min-instances") || !strcmp(opt, "min_instances")) {
		if ((rc = cit_parse_u64(v, 0, CIT_FN_MAX_INSTANCES, &n)) == 0)
			d->spec.min_instances = (uint32_t)n;
	} else if (!strcmp(opt, "keep-alive") || !strcmp(opt, "keep_alive")) {
		if ((rc = cit_parse_duration_ms(v, &n)) == 0)
			d->spec.keepalive_s = (uint32_t)((n + 999) / 1000 > UINT32_MAX ? UINT32_MAX : (n + 999) / 1000);
	} else {
		fprintf(stderr, "citadel deploy: unknown option '%s'\n", opt);
		return -1;
	}
	if (rc < 0) {
		fprintf(stderr, "citadel deploy: --%s: '%s' is not valid\n", opt, v);
		return -1;
	}
	return 0;
}

static int read_manifest(struct deploy *d, const char *path)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (!root || !json_is_object(root)) {
		fprintf(stderr, "citadel deploy: %s: %s\n", path, root ? "not a JSON object" : je.text);
		json_decref(root);
		return -1;
	}
	int rc = 0;
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		char num[32];
		if (!strcmp(key, "name") && json_is_string(v))
			snprintf(d->spec.name, sizeof(d->spec.name), "%s", json_string_value(v));
		else if (!strcmp(key, "code") && json_is_string(v)) {
			const char *c = json_string_value(v);
			const char *slash = strrchr(path, '/');
			if (c[0] == '/' || !slash)
				snprintf(d->code, sizeof(d->code), "%s", c);
			else
				snprintf(d->code, sizeof(d->code), "%.*s/%s", (int)(slash - path), path, c);
		} else if (!strcmp(key, "fresh") && json_is_boolean(v)) {
			if (json_is_true(v))
				d->spec.flags |= CIT_FN_FRESH;
		} else if (!strcmp(key, "env") && json_is_object(v)) {
			const char *k;
			json_t *ev;
			json_object_foreach(v, k, ev) {
				char kv[CIT_ENV_BYTES];
				if (!json_is_string(ev)) {
					fprintf(stderr, "citadel deploy: %s: env values must be strings\n", path);
					rc = -1;
					break;
				}
				snprintf(kv, sizeof(kv), "%s=%s", k, json_string_value(ev));
				if ((rc = add_env(d, kv)) < 0)
					break;
			}
		} else if (json_is_string(v))
			rc = set_option(d, key, json_string_value(v));
		else if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			rc = set_option(d, key, num);
		} else {
			fprintf(stderr, "citadel deploy: %s: unexpected value for '%s'\n", path, key);
			rc = -1;
		}
		if (rc < 0)
			break;
	}
	json_decref(root);
	return rc;
}

static int slurp(int fd, int *obj, uint64_t *len);

int cit_cmd_deploy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' },       { "timeout", required_argument, NULL, 't' },
		{ "output-limit", required_argument, NULL, 'o' }, { "max-instances", required_argument, NULL, 'x' },
		{ "min-instances", required_argument, NULL, 'n' }, { "keep-alive", required_argument, NULL, 'k' },
		{ "fresh", no_argument, NULL, 'f' },              { "env", required_argument, NULL, 'e' },
		{ "manifest", required_argument, NULL, 'M' },     { "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },               { NULL, 0, NULL, 0 },
	};
	static struct deploy d;
	memset(&d, 0, sizeof(d));
	snprintf(d.spec.runtime, sizeof(d.spec.runtime), "native");
	d.spec.memory_bytes = 256ull << 20;
	d.spec.timeout_ms = 10000;
	d.spec.output_bytes = 16ull << 20;
	d.spec.max_instances = 16;
	d.spec.keepalive_s = 60;
	const char *sock = NULL, *manifest = NULL;
	int c, idx;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		switch (c) {
		case 'm': case 't': case 'o': case 'x': case 'n': case 'k':
			if (set_option(&d, opts[idx].name, optarg) < 0)
				return 2;
			break;
		case 'f': d.spec.flags |= CIT_FN_FRESH; break;
		case 'e':
			if (add_env(&d, optarg) < 0)
				return 2;
			break;
		case 'M': manifest = optarg; break;
		case 's': sock = optarg; break;
		case 'h': fputs(deploy_usage, stdout); return 0;
		default: fputs(deploy_usage, stderr); return 2;
		}
	}
	if (manifest) {
		if (optind != argc || read_manifest(&d, manifest) < 0) {
			if (optind != argc)
				fprintf(stderr, "citadel deploy: --manifest takes no NAME or FILE\n");
			return 2;
		}
	} else if (argc - optind == 2) {
		snprintf(d.spec.name, sizeof(d.spec.name), "%s", argv[optind]);
		snprintf(d.code, sizeof(d.code), "%s", argv[optind + 1]);
		if (strlen(argv[optind]) >= sizeof(d.spec.name))
			d.spec.name[0] = '!'; /* caught by the check below */
	} else {
		fputs(deploy_usage, stderr);
		return 2;
	}
	const char *envv[CIT_ENV_MAX + 1] = { 0 };
	for (size_t off = 0, i = 0; off < d.spec.env_len; i++) {
		envv[i] = d.env + off;
		off += strlen(d.env + off) + 1;
	}
	struct cit_error err = { 0 };
	if (!d.code[0]) {
		fprintf(stderr, "citadel deploy: no code file given\n");
		return 2;
	}
	if (cit_fn_spec_check(&d.spec, envv, &err) < 0) {
		fprintf(stderr, "citadel deploy: %s\n", err.msg);
		return 2;
	}
	_cleanup_close_ int code = open(d.code, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (code < 0 || fstat(code, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "citadel deploy: %s: %s\n", d.code, code < 0 ? strerror(errno) : "not a regular file");
		return 1;
	}
	/* The code goes as a sealed data object: immutable from here on, and the monitor reads
	 * memory, never a file that could stall it. */
	_cleanup_close_ int obj = -1;
	uint64_t len;
	int rc = slurp(code, &obj, &len);
	if (rc < 0) {
		fprintf(stderr, "citadel deploy: %s: %s\n", d.code, strerror(-rc));
		return 1;
	}
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(sock), &err);
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	rc = s < 0 ? s : cit_client_call(s, CIT_MSG_DEPLOY, &d.spec, sizeof(d.spec), d.env, d.spec.env_len, obj, buf,
					 &rx, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel deploy: %s\n", err.msg);
		return 1;
	}
	printf("deployed %s (measurement %s)\n", d.spec.name, rx.body->text);
	cit_rx_close(&rx);
	return 0;
}

/* ---- invoke ------------------------------------------------------------------------- */

static const char invoke_usage[] =
	"usage: citadel invoke NAME [--data STR | --file PATH] [--socket PATH]\n"
	"\n"
	"Invokes function NAME with the request bytes from --data, --file, or else stdin, and\n"
	"writes its response to stdout. On failure (the function's error, a crash, a timeout, a\n"
	"limit) it prints the reason on stderr and exits 1.\n";

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
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'f': file = optarg; break;
		case 's': sock = optarg; break;
		case 'h': fputs(invoke_usage, stdout); return 0;
		default: fputs(invoke_usage, stderr); return 2;
		}
	}
	if (argc - optind != 1 || (data && file)) {
		fputs(invoke_usage, stderr);
		return 2;
	}
	struct cit_body b = { 0 };
	snprintf(b.name, sizeof(b.name), "%s", argv[optind]);
	struct cit_error err = { 0 };
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
		b.obj_len = strlen(data);
	} else {
		_cleanup_close_ int in = file ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);
		int rc = in < 0 ? -errno : slurp(in, &obj, &b.obj_len);
		if (rc < 0) {
			fprintf(stderr, "citadel invoke: %s: %s\n", file ? file : "stdin",
				rc == -EFBIG ? "request larger than 1 GiB" : strerror(-rc));
			return 1;
		}
		if (b.obj_len == 0) /* nothing: no data object needed */
			close(steal_fd(&obj));
	}
	b.data_len = (uint32_t)inline_len;
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(sock), &err);
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	int rc = s < 0 ? s : cit_client_call(s, CIT_MSG_INVOKE, &b, sizeof(b), inline_data, inline_len, obj, buf, &rx, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel invoke: %s\n", err.msg);
		return 1;
	}
	const void *out;
	size_t len;
	void *map;
	rc = cit_client_reply_data(&rx, &out, &len, &map);
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
	struct cit_body b = { 0 };
	if (name)
		snprintf(b.name, sizeof(b.name), "%s", name);
	struct cit_error err = { 0 };
	int s = cit_client_connect(cit_client_socket(sock), &err);
	int rc = s < 0 ? s : cit_client_call(s, type, &b, sizeof(b), NULL, 0, -1, buf, &r->rx, &err);
	if (s >= 0)
		close(s);
	if (rc < 0) {
		fprintf(stderr, "citadel %s: %s\n", cmd, err.msg);
		return 1;
	}
	if (cit_client_reply_data(&r->rx, &r->data, &r->len, &r->map) < 0) {
		fprintf(stderr, "citadel %s: malformed reply\n", cmd);
		cit_rx_close(&r->rx);
		return 1;
	}
	return 0;
}

/* Parses `CMD [NAME] [--socket PATH] [--json]`. */
static int name_args(int argc, char **argv, const char *usage, bool want_name, const char **name,
		     const char **sock, bool *json)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': *sock = optarg; break;
		case 'j':
			if (!json)
				goto bad;
			*json = true;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: goto bad;
		}
	}
	if (argc - optind != (want_name ? 1 : 0))
		goto bad;
	*name = want_name ? argv[optind] : NULL;
	return 1;
bad:
	fputs(usage, stderr);
	return -2;
}

int cit_cmd_ls(int argc, char **argv)
{
	static const char usage[] = "usage: citadel ls [--json] [--socket PATH]\n\n"
				    "Lists the deployed functions: runtime, measurement, instances, invocations,\n"
				    "latency inside the monitor (p50/p99 of recent calls) and start-up phases.\n";
	const char *name, *sock = NULL;
	bool json = false;
	int rc = name_args(argc, argv, usage, false, &name, &sock, &json);
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
		json_t *o = json_pack("{s:s, s:s%, s:s%, s:s%, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
				      "s:I, s:I, s:I, s:I, s:s}",
				      "name", name_, "runtime", f[i].runtime, strnlen(f[i].runtime, sizeof(f[i].runtime)),
				      "state", f[i].state, strnlen(f[i].state, sizeof(f[i].state)), "measurement",
				      f[i].measurement, strnlen(f[i].measurement, 64), "live", (json_int_t)f[i].live,
				      "idle", (json_int_t)f[i].idle, "busy", (json_int_t)f[i].busy, "queued",
				      (json_int_t)f[i].queued, "max_instances", (json_int_t)f[i].max_instances,
				      "min_instances", (json_int_t)f[i].min_instances, "invocations",
				      (json_int_t)f[i].invocations, "errors", (json_int_t)f[i].errors, "p50_us",
				      (json_int_t)f[i].p50_us, "p99_us", (json_int_t)f[i].p99_us, "cold_us",
				      (json_int_t)f[i].cold_us, "template_us", (json_int_t)f[i].template_us,
				      "lukewarm_us", (json_int_t)f[i].lukewarm_us, "memory_bytes",
				      (json_int_t)f[i].memory_bytes, "error", err_);
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
	int rc = name_args(argc, argv, usage, true, &name, &sock, NULL);
	if (rc <= 0)
		return -rc;
	struct reply r;
	if (simple(cmd, type, name, sock, &r))
		return 1;
	if (type == CIT_MSG_REMOVE)
		printf("removed %s\n", name);
	else if (r.len)
		cit_write_all(1, r.data, r.len);
	reply_done(&r);
	return 0;
}

int cit_cmd_rm(int argc, char **argv)
{
	static const char usage[] = "usage: citadel rm NAME [--socket PATH]\n\n"
				    "Removes function NAME: its instances end and its code and log are deleted.\n";
	return name_request(argc, argv, "rm", usage, CIT_MSG_REMOVE);
}

int cit_cmd_logs(int argc, char **argv)
{
	static const char usage[] = "usage: citadel logs NAME [--socket PATH]\n\n"
				    "Prints what function NAME wrote to stderr or with cit_log() (the last 1-2 MiB).\n";
	return name_request(argc, argv, "logs", usage, CIT_MSG_LOGS);
}
