/* What the programs' command lines share (citadel, citadeld). */
#pragma once

#include <stdarg.h>

/* The monitor's socket: opt when given and not empty, else $CITADEL_SOCKET when set and
 * not empty, else CIT_DEFAULT_SOCKET (common/paths.h). Borrowed strings. */
const char *cit_socket_path(const char *opt);

/* A usage error of program prog ("citadel deploy", "citadeld"): "PROG: <message>" and
 * "see 'PROG --help'" on stderr. Returns status (the exit status to stop with). */
int cit_usage_verror(const char *prog, int status, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
