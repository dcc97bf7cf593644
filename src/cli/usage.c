/* Usage errors of `citadel CMD` (usage.h). */
#include "cli/usage.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
		case 'h': fputs(help, stdout); return 0;
		default: return cit_usage_getopt(cmd, 2, c, argv);
		}
	}
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
