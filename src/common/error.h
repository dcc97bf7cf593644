/* The one error contract of Citadel (STYLE.md).
 *
 * A function that can fail returns 0 or a negative errno-style code and, when it has
 * something to say, fills a caller-provided struct cit_error. The message names what
 * failed and why, in one line, ready for a user; cit_strerror() turns a code into text. */
#pragma once

#include <stdarg.h>

#define CIT_ERROR_MSG_MAX 512

struct cit_error {
	int code;                      /* negative errno-style code, 0 when no error */
	char msg[CIT_ERROR_MSG_MAX];   /* one line, NUL-terminated; empty when code is 0 */
};

/* Fills err (when non-NULL) with code and a printf-style message, appending
 * ": <strerror(code)>" when code is an errno value. Returns code, so that callers can
 * write `return cit_error_set(err, -errno, "opening %s", path);`. A message longer than
 * CIT_ERROR_MSG_MAX loses its middle ("..."), never its end, where the reason is. */
__attribute__((format(printf, 3, 4)))
int cit_error_set(struct cit_error *err, int code, const char *fmt, ...);

/* Like cit_error_set() for a message that says all there is: nothing is appended (a
 * usage or validation error, whose errno text would only repeat it). */
__attribute__((format(printf, 3, 4)))
int cit_error_say(struct cit_error *err, int code, const char *fmt, ...);

/* Like cit_error_set() but prefixes an existing message: "<context>: <old message>". */
__attribute__((format(printf, 2, 3)))
int cit_error_prefix(struct cit_error *err, const char *fmt, ...);

/* Text for any code Citadel returns (negative errno values). Never NULL. */
const char *cit_strerror(int code);
