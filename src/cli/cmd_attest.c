/* `citadel measure` and `citadel verify` (docs/attestation.md, src/attest/attest.h): what a
 * function and the monitor measure, recomputed from the files alone with no monitor, and
 * the check of a signed report against what its reader expects. Neither talks to a
 * monitor: a verifier trusts its own copy of the files and the key it was given, never
 * the machine that made the report. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attest/attest.h"
#include "attest/measure.h"
#include "attest/report.h"
#include "cli/cli.h"
#include "cli/deploy.h"
#include "cli/usage.h"
#include "common/util.h"
#include "spec/spec.h"

static const char measure_usage[] =
	"usage: citadel measure [DEPLOY OPTIONS] NAME FILE.so|FILE.py [--json]\n"
	"       citadel measure [DEPLOY OPTIONS] [--json] NAME [--bundle DIR] -- PROGRAM [ARGS...]\n"
	"       citadel measure --manifest FILE.json [--json]\n"
	"       citadel measure --monitor [--dir DIR] [--json]\n"
	"\n"
	"Prints what a function deployed with the same arguments as `citadel deploy` would\n"
	"measure, computed from the files alone, with no monitor:\n"
	"\n"
	"  measurement HEX        SHA-256 of its canonical encoding: runtime, code and policy\n"
	"                         (what `citadel deploy` prints and a report's function has)\n"
	"  code_measurement HEX   SHA-256 of its code's: runtime, environment, arguments, code\n"
	"                         and bundle, not the limits (its keys follow from it)\n"
	"\n"
	"DEPLOY OPTIONS are citadel deploy's (citadel deploy --help); --socket and --url are\n"
	"accepted and not used. The code is read as the monitor reads it: a native function's\n"
	".so and a python function's .py file, their bytes; a bundle, the canonical tar archive\n"
	"`citadel deploy` packs of DIR; an exec function's PROGRAM, the file at that path on\n"
	"this machine (a function's view shows the host's files), or with --bundle the file\n"
	"at that path inside DIR.\n"
	"\n"
	"  --json       print {\"measurement\": HEX, \"code_measurement\": HEX, \"encoding\": TEXT}\n"
	"               instead (encoding: the text whose SHA-256 is the measurement)\n"
	"  --monitor    the monitor's measurement instead: `measurement HEX`, of citadeld and\n"
	"               the programs beside it in DIR (citadel-zygote, citadel-python,\n"
	"               citadel-store, citadel-unpack, citadel-gateway, citadel-callback),\n"
	"               libpython (" CIT_LIBPYTHON ")\n"
	"               and the Python library (" CIT_PYTHON_STDLIB "); with --json\n"
	"               {\"measurement\": HEX, \"components\": [{\"name\": NAME, \"sha256\": HEX or\n"
	"               null (missing)}, ...], \"encoding\": TEXT}\n"
	"  --dir DIR    with --monitor: where citadeld and its programs are (default: the\n"
	"               directory of this citadel)\n"
	"\n"
	"Exit status: 0; 1 when a file could not be read; 2 after a usage error.\n";

/* ---- measure --------------------------------------------------------------------- */

enum { OPT_JSON = CIT_DEPLOY_EXTRA, OPT_DIR };

struct measure_opts {
	bool json;
	const char *dir; /* --dir, or NULL */
};

static int measure_option(void *ctx, int val, const char *arg)
{
	struct measure_opts *o = ctx;
	if (val == OPT_JSON)
		o->json = true;
	else
		o->dir = arg;
	return 0;
}

/* Prints obj (taken) on one line. Returns the exit status: 0, or 1 said. */
static int print_json(json_t *obj)
{
	_cleanup_free_ char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!text) {
		fprintf(stderr, "citadel measure: %s\n", strerror(ENOMEM));
		return 1;
	}
	puts(text);
	return 0;
}

/* The bytes of an exec function's program, as its zygote reads them (src/zygote/exec.c):
 * inside the bundle (links may not lead out) or at its absolute path. */
static int hash_program(const struct cit_deploy *dep, uint8_t out[32])
{
	const char *prog = dep->d.args;
	_cleanup_close_ int fd = -1;
	if (dep->d.bundle[0]) {
		_cleanup_close_ int dir = open(dep->d.bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
		struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
					.resolve = RESOLVE_BENEATH };
		fd = dir < 0 ? -1 : (int)syscall(SYS_openat2, dir, prog, &how, sizeof(how));
	} else {
		fd = open(prog, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	struct stat st;
	int rc = fd < 0 || fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0 && (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)))
		rc = -EACCES;
	if (rc == 0)
		rc = cit_sha256_fd(fd, out);
	if (rc < 0)
		fprintf(stderr, "citadel measure: the program %s%s%s: %s\n", prog, dep->d.bundle[0] ? " in " : "",
			dep->d.bundle, rc == -EACCES ? "not an executable file" : strerror(-rc));
	return rc < 0 ? 1 : 0;
}

static int measure_function(int argc, char **argv)
{
	static const struct option extra[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ NULL, 0, NULL, 0 },
	};
	struct measure_opts o = { 0 };
	const struct cit_deploy_cmd as = { "measure", measure_usage, extra, measure_option, &o };
	static struct cit_deploy dep;
	int rc = cit_deploy_parse_as(&dep, argc, argv, &as);
	if (rc <= 0)
		return -rc;
	if (o.dir)
		return cit_usage_error("measure", 2, "--dir is for --monitor: a function's files are its arguments");
	_cleanup_close_ int obj = -1;
	uint64_t len;
	if ((rc = cit_deploy_code_as(&dep, "measure", &obj, &len)) != 0)
		return rc;
	/* What the monitor hashes: the code it is sent (a native or python file), or the
	 * bundle's archive and, for exec, the program its zygote opens; a bundled python
	 * function's code line is zero (its bundle is its code). */
	bool bundled = dep.d.spec.flags & CIT_FN_BUNDLE;
	uint8_t code[32] = { 0 }, bundle[32];
	if (obj >= 0 && (rc = cit_sha256_fd(obj, bundled ? bundle : code)) < 0) {
		fprintf(stderr, "citadel measure: %s: %s\n", cit_deploy_what(&dep), strerror(-rc));
		return 1;
	}
	if (dep.exec && (rc = hash_program(&dep, code)) != 0)
		return rc;
	static char tail[CIT_ENV_BYTES + CIT_ARGS_BYTES], enc[CIT_FN_ENCODING_MAX], code_enc[CIT_FN_ENCODING_MAX];
	cit_spec_tail(&dep.d, tail, sizeof(tail));
	const uint8_t *b = bundled ? bundle : NULL;
	long n = cit_fn_encode(&dep.d.spec, tail, code, b, enc, sizeof(enc));
	long cn = cit_fn_encode_code(&dep.d.spec, tail, code, b, code_enc, sizeof(code_enc));
	if (n < 0 || cn < 0 || (size_t)n >= sizeof(enc) || (size_t)cn >= sizeof(code_enc)) {
		fprintf(stderr, "citadel measure: %s: the function cannot be encoded\n", cit_deploy_what(&dep));
		return 1;
	}
	uint8_t m[32], cm[32];
	char mhex[65], cmhex[65];
	crypto_hash_sha256(m, (const uint8_t *)enc, (unsigned long long)n);
	crypto_hash_sha256(cm, (const uint8_t *)code_enc, (unsigned long long)cn);
	sodium_bin2hex(mhex, sizeof(mhex), m, sizeof(m));
	sodium_bin2hex(cmhex, sizeof(cmhex), cm, sizeof(cm));
	if (o.json)
		return print_json(json_pack("{s:s, s:s, s:s%}", "measurement", mhex, "code_measurement", cmhex,
					    "encoding", enc, (size_t)n));
	printf("measurement %s\ncode_measurement %s\n", mhex, cmhex);
	return 0;
}

/* The encoding's component lines ("NAME sha256:HEX", "NAME missing") as JSON objects. */
static json_t *components_json(const char *enc)
{
	json_t *list = json_array();
	const char *line = strchr(enc, '\n'); /* after the header */
	while (list && line && line[1]) {
		line++;
		const char *end = strchrnul(line, '\n'), *sp = memchr(line, ' ', (size_t)(end - line));
		if (!sp)
			break;
		json_t *sha = strncmp(sp, " sha256:", 8) ? json_null() : json_stringn(sp + 8, (size_t)(end - sp - 8));
		json_array_append_new(list, json_pack("{s:s%, s:o}", "name", line, (size_t)(sp - line), "sha256", sha));
		line = *end ? end : NULL;
	}
	return list;
}

static int measure_monitor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "monitor", no_argument, NULL, 'm' }, { "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },    { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	bool json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'd')
			dir = optarg;
		else if (c == 'j')
			json = true;
		else if (c == 'h')
			break;
		else if (c != 'm')
			return c == ':' ? cit_usage_getopt("measure", 2, c, argv)
					: cit_usage_error("measure", 2, "--monitor measures the monitor: it takes only "
									"--dir and --json, not '%s'", argv[optind - 1]);
	}
	if (c == 'h') {
		fputs(measure_usage, stdout);
		return 0;
	}
	if (optind < argc)
		return cit_usage_error("measure", 2, "--monitor takes no NAME or FILE, but got '%s'", argv[optind]);
	char self[PATH_MAX];
	if (!dir) { /* beside this citadel, as `citadel serve` finds citadeld */
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		char *slash = n > 0 ? memrchr(self, '/', (size_t)n) : NULL;
		if (!slash) {
			fprintf(stderr, "citadel measure: where is this citadel? (/proc/self/exe): %s\n", strerror(errno));
			return 1;
		}
		*slash = '\0';
		dir = self;
	}
	uint8_t m[32];
	char enc[2048], hex[65];
	struct cit_error err = { 0 };
	if (cit_monitor_measure(dir, NULL, m, enc, sizeof(enc), &err) < 0) {
		fprintf(stderr, "citadel measure: %s\n", err.msg);
		return 1;
	}
	/* A directory without citadeld is no Citadel's: its measurement would mean nothing. */
	if (strstr(enc, "\ncitadeld missing\n")) {
		fprintf(stderr, "citadel measure: %s has no citadeld: give --dir the directory Citadel is installed "
			"in\n", dir);
		return 1;
	}
	sodium_bin2hex(hex, sizeof(hex), m, sizeof(m));
	if (json)
		return print_json(json_pack("{s:s, s:o, s:s}", "measurement", hex, "components", components_json(enc),
					    "encoding", enc));
	printf("measurement %s\n", hex);
	return 0;
}

int cit_cmd_measure(int argc, char **argv)
{
	/* --monitor makes it another command: the options before a "--" decide. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--monitor"))
			return measure_monitor(argc, argv);
	return measure_function(argc, argv);
}

/* ---- verify ---------------------------------------------------------------------- */

static const char verify_usage[] =
	"usage: citadel verify REPORT --key PUBKEY [--name NAME] [--measurement HEX]\n"
	"                      [--monitor-measurement HEX] [--nonce HEX] [--max-age SECONDS] [--json]\n"
	"\n"
	"Checks an attestation report (docs/attestation.md) from the file REPORT, or stdin for\n"
	"'-': that the monitor whose identity key is PUBKEY signed it, and that it says what\n"
	"was expected. Prints one line, \"ok: function NAME measurement HEX, monitor HEX, signed\n"
	"by KEY\" (\"ok: monitor HEX, signed by KEY\" for a report of the monitor alone), or on\n"
	"failure one line on stderr saying what differed.\n"
	"\n"
	"  --key PUBKEY           the monitor's Ed25519 public key: 64 hex digits, or a file\n"
	"                         holding them (`citadel key` prints it)\n"
	"  --name NAME            the function the report must be of (the measurement leaves\n"
	"                         the name out: the same code under another name measures the same)\n"
	"  --measurement HEX      the function's measurement expected (`citadel measure`)\n"
	"  --monitor-measurement HEX  the monitor's (`citadel measure --monitor`)\n"
	"  --nonce HEX            the nonce the report was asked for with: a report made for\n"
	"                         another request, or replayed, carries another\n"
	"  --max-age SECONDS      the report was signed at most this long ago\n"
	"  --json                 print the report's body (JSON) instead of the ok line\n"
	"\n"
	"Exit status, one per kind of failure, checked in this order:\n"
	"  0  verified\n"
	"  2  bad arguments\n"
	"  3  not a report: unreadable, larger than 256 KiB, not JSON, fields missing or wrong,\n"
	"     or a function's encoding that does not hash to its measurement\n"
	"  4  signed by another key than PUBKEY\n"
	"  5  the signature does not match the body: it was altered\n"
	"  10 another function's report than --name (or the monitor's alone)\n"
	"  6  not the --nonce given (a replayed or another's report)\n"
	"  7  not the --measurement given (or no function in the report)\n"
	"  8  not the --monitor-measurement given\n"
	"  9  older than --max-age, or signed more than 5 minutes in the future\n";

/* Exactly 2n hex digits (either case), or none: whether s is a hex string of n bytes
 * (any even number up to max bytes when n is 0). */
static bool is_hex(const char *s, size_t n, size_t max)
{
	size_t len = strlen(s);
	return strspn(s, "0123456789abcdefABCDEF") == len && (n ? len == 2 * n : len % 2 == 0 && len <= 2 * max);
}

/* Reads verify's arguments into want and *report, *json. Returns -1 when they are valid,
 * else the exit status: 0 after --help, 2 after a usage error (said). */
static int verify_args(int argc, char **argv, struct cit_report_want *want, const char **report, bool *json)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },   { "measurement", required_argument, NULL, 'm' },
		{ "monitor-measurement", required_argument, NULL, 'M' },
		{ "nonce", required_argument, NULL, 'n' }, { "max-age", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },	   { "help", no_argument, NULL, 'h' },
		{ "name", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		char *end;
		if (c == 'k') {
			key = optarg;
		} else if (c == 'N') {
			if (strlen(optarg) >= CIT_NAME_MAX || !cit_fn_name_ok(optarg))
				return cit_usage_error("verify", 2, "--name wants a function's name (1 to 63 of a-z, 0-9, "
							  "'-' and '_'), not '%s'", optarg);
			want->name = optarg;
		} else if (c == 'm' || c == 'M') {
			if (!is_hex(optarg, 32, 0))
				return cit_usage_error("verify", 2, "%s wants 64 hex digits (a SHA-256), not '%s'",
						       c == 'm' ? "--measurement" : "--monitor-measurement", optarg);
			*(c == 'm' ? &want->measurement : &want->monitor_measurement) = optarg;
		} else if (c == 'n') {
			if (!is_hex(optarg, 0, CIT_NONCE_MAX))
				return cit_usage_error("verify", 2, "--nonce wants an even number of hex digits, at most %d, "
								    "not '%s'", 2 * CIT_NONCE_MAX, optarg);
			want->nonce = optarg;
		} else if (c == 'a') {
			errno = 0;
			unsigned long long age = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || age == 0)
				return cit_usage_error("verify", 2, "--max-age wants a number of seconds, 1 or more, not '%s'",
						       optarg);
			want->max_age_s = age;
		} else if (c == 'j') {
			*json = true;
		} else if (c == 'h') {
			fputs(verify_usage, stdout);
			return 0;
		} else {
			return cit_usage_getopt("verify", 2, c, argv);
		}
	}
	if (optind == argc)
		return cit_usage_error("verify", 2, "no REPORT given (a file, or - for stdin)");
	if (argc - optind > 1)
		return cit_usage_error("verify", 2, "unexpected argument '%s'", argv[optind + 1]);
	if (!key)
		return cit_usage_error("verify", 2, "no --key given: the monitor's public key is what a report is "
						    "checked against");
	*report = argv[optind];
	int rc = cit_read_key_arg("verify", key, want->key);
	return rc ? rc : -1;
}

/* Reads the report at path ("-": stdin), at most CIT_REPORT_MAX bytes, into buf (one byte
 * more of room). Returns its length, or -1 after saying why. */
static ssize_t read_report(const char *path, char *buf)
{
	_cleanup_close_ int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : dup(0);
	size_t len = 0;
	ssize_t n = fd < 0 ? -1 : 1;
	while (n > 0 && len <= CIT_REPORT_MAX)
		if ((n = read(fd, buf + len, CIT_REPORT_MAX + 1 - len)) > 0)
			len += (size_t)n;
		else if (n < 0 && errno == EINTR)
			n = 1;
	if (n < 0)
		fprintf(stderr, "citadel verify: %s: cannot read the report: %s\n", path, strerror(errno));
	else if (len > CIT_REPORT_MAX)
		fprintf(stderr, "citadel verify: %s: larger than %u KiB: not a report\n", path, CIT_REPORT_MAX >> 10);
	return n < 0 || len > CIT_REPORT_MAX ? -1 : (ssize_t)len;
}

int cit_cmd_verify(int argc, char **argv)
{
	struct cit_report_want want = { 0 };
	const char *report = NULL;
	bool json = false;
	int rc = verify_args(argc, argv, &want, &report, &json);
	if (rc >= 0)
		return rc;
	static char buf[CIT_REPORT_MAX + 1];
	ssize_t len = read_report(report, buf);
	if (len < 0)
		return CIT_VERIFY_MALFORMED;
	struct cit_report_seen seen;
	struct cit_error err = { 0 };
	_cleanup_free_ char *body = NULL;
	enum cit_verify_exit v = cit_report_check(buf, (size_t)len, &want, &seen, &body, &err);
	if (v != CIT_VERIFY_OK) {
		fprintf(stderr, "citadel verify: %s\n", err.msg);
		return (int)v;
	}
	char key[65];
	sodium_bin2hex(key, sizeof(key), want.key, sizeof(want.key));
	if (json)
		puts(body);
	else if (seen.function)
		printf("ok: function %s measurement %s, monitor %s, signed by %s\n", seen.name, seen.measurement,
		       seen.monitor_measurement, key);
	else
		printf("ok: monitor %s, signed by %s\n", seen.monitor_measurement, key);
	return CIT_VERIFY_OK;
}
