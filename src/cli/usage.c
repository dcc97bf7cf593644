/* Usage errors of `citadel CMD` (usage.h). */
#include "cli/usage.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attest/report.h"
#include "common/cmdline.h"
#include "proto/proto.h"
#include "spec/spec.h"

int cit_usage_error(const char *cmd, int status, const char *fmt, ...)
{
	char prog[64];
	snprintf(prog, sizeof(prog), "citadel %s", cmd);
	va_list ap;
	va_start(ap, fmt);
	cit_usage_verror(prog, status, fmt, ap);
	va_end(ap);
	return status;
}

int cit_usage_getopt(const char *cmd, int status, int c, char *const argv[])
{
	if (c == ':')
		return cit_usage_error(cmd, status, "option '%s' needs a value", argv[optind - 1]);
	return cit_usage_error(cmd, status, "unknown option '%s'", argv[optind - 1]);
}

int cit_invoke_args(int argc, char **argv, const char *help, struct cit_invoke_args *a)
{
	return cit_invoke_args_of("invoke", "function", argc, argv, help, a);
}

int cit_invoke_args_of(const char *cmd, const char *what, int argc, char **argv, const char *help,
		       struct cit_invoke_args *a)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' }, { "file", required_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
		{ "url", required_argument, NULL, 'U' },    { "invoke-key", required_argument, NULL, 'k' },
		{ "content-type", required_argument, NULL, 't' },
		{ "seal", no_argument, NULL, 'S' },         { "key", required_argument, NULL, 'K' },
		{ "measurement", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	*a = (struct cit_invoke_args){ 0 };
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': a->data = optarg; break;
		case 'f': a->file = optarg; break;
		case 's': a->sock = optarg; break;
		case 'U': a->url = optarg; break;
		case 'k': a->key = optarg; break;
		case 't':
			if (strlen(optarg) >= CIT_CTYPE_MAX || !optarg[0] || !cit_ctype_ok(optarg, strlen(optarg) + 1))
				return cit_usage_error(cmd, 2, "--content-type wants 1 to 127 printable ASCII "
								    "characters beginning with a letter (application/json)");
			a->content_type = optarg;
			break;
		case 'S': a->seal = true; break;
		case 'K': a->seal_key = optarg; break;
		case 'M': a->measurement = optarg; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cit_usage_getopt(cmd, 2, c, argv);
		}
	}
	if ((a->seal || a->seal_key || a->measurement) && strcmp(cmd, "invoke"))
		return cit_usage_error(cmd, 2, "--seal, --key and --measurement are for citadel invoke");
	if (a->seal && !a->seal_key)
		return cit_usage_error(cmd, 2, "--seal needs --key: the monitor's public key (citadel key), to check "
				       "the function's report with");
	if ((a->seal_key || a->measurement) && !a->seal)
		return cit_usage_error(cmd, 2, "--key and --measurement go with --seal");
	if (argc == optind)
		return cit_usage_error(cmd, 2, "no %s NAME given", what);
	if (argc - optind > 1)
		return cit_usage_error(cmd, 2, "unexpected argument '%s'", argv[optind + 1]);
	if (a->data && a->file)
		return cit_usage_error(cmd, 2, "--data and --file together: the request comes from one of them");
	a->name = argv[optind];
	if (strlen(a->name) >= CIT_NAME_MAX || !cit_fn_name_ok(a->name))
		return cit_usage_error(cmd, 2, "'%s' is not a %s name (1 to 63 of a-z, 0-9, '-' and '_')",
				       a->name, what);
	return -1;
}

int cit_report_args(int argc, char **argv, const char *cmd, const char *usage, bool named, const char **name,
		       uint8_t nonce[64], size_t *nlen, const char **sock, const char **url)
{
	static const struct option opts[] = {
		{ "nonce", required_argument, NULL, 'n' }, { "socket", required_argument, NULL, 's' },
		{ "url", required_argument, NULL, 'U' },   { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0;
	*nlen = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': {
			size_t len = strlen(optarg);
			if (!named || len % 2 || len > 2 * CIT_ATTEST_NONCE_MAX ||
			    strspn(optarg, "0123456789abcdefABCDEF") != len ||
			    sodium_hex2bin(nonce, CIT_ATTEST_NONCE_MAX, optarg, len, NULL, nlen, NULL) < 0)
				return cit_usage_error(cmd, 2, "--nonce wants an even number of hex digits, at most %d",
						       2 * CIT_ATTEST_NONCE_MAX);
			break;
		}
		case 's': *sock = optarg; break;
		case 'U': *url = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return cit_usage_getopt(cmd, 2, c, argv);
		}
	}
	if (argc - optind > (named ? 1 : 0))
		return cit_usage_error(cmd, 2, "unexpected argument '%s'", argv[optind + (named ? 1 : 0)]);
	*name = named && optind < argc ? argv[optind] : "";
	if ((*name)[0] && (strlen(*name) >= CIT_NAME_MAX || !cit_fn_name_ok(*name)))
		return cit_usage_error(cmd, 2, "'%s' is not a function name (1 to 63 of a-z, 0-9, '-' and '_')", *name);
	return -1;
}

int cit_read_key_arg(const char *cmd, const char *arg, uint8_t key[32])
{
	if (cit_hex32(arg, strlen(arg), key) == 0)
		return 0;
	char text[80];
	int fd = open(arg, O_RDONLY | O_CLOEXEC);
	int e = errno;
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof(text));
	if (fd >= 0)
		close(fd);
	if (n > 0 && cit_hex32(text, (size_t)n, key) == 0)
		return 0;
	/* Said plainly: a path that cannot be read, or a file or text that holds no key. */
	if (fd < 0 && strchr(arg, '/'))
		return cit_usage_error(cmd, 2, "--key %s: %s (the monitor's public key: 64 hex digits, or a file "
				       "holding them, as citadel key > FILE writes)", arg, strerror(e));
	return cit_usage_error(cmd, 2, "--key wants the monitor's public key: 64 hex digits, or a file holding them "
			       "(citadel key > FILE)%s", fd >= 0 ? ": this file holds none" : "");
}
