/* What the programs' command lines share (cmdline.h). */
#include "common/cmdline.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/paths.h"

const char *cit_socket_path(const char *opt)
{
	if (opt && *opt)
		return opt;
	const char *env = getenv("CITADEL_SOCKET");
	return env && *env ? env : CIT_DEFAULT_SOCKET;
}

int cit_usage_verror(const char *prog, int status, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nsee '%s --help'\n", prog);
	return status;
}
