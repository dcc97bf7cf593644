#include "common/error.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *cit_strerror(int code)
{
	if (code == 0)
		return "success";
	if (code < 0 && code > -4096)
		return strerror(-code);
	return "unknown error";
}

/* Messages are put together here, then fitted into CIT_ERROR_MSG_MAX (paths can be 4 KiB). */
#define LONG_MSG (3 * 4096)

/* Copies msg into err->msg; one too long keeps its start and its end. */
static void fit(struct cit_error *err, const char *msg)
{
	size_t n = strlen(msg), cap = sizeof(err->msg);
	if (n < cap) {
		memcpy(err->msg, msg, n + 1);
		return;
	}
	size_t head = cap / 3, tail = cap - head - 4;
	memcpy(err->msg, msg, head);
	memcpy(err->msg + head, "...", 3);
	memcpy(err->msg + head + 3, msg + n - tail, tail + 1);
}

static int set(struct cit_error *err, int code, bool errno_text, const char *fmt, va_list ap)
{
	if (!err)
		return code;
	char msg[LONG_MSG];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = 0, msg[0] = '\0';
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	if (errno_text && code < 0)
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", cit_strerror(code));
	fit(err, msg);
	err->code = code;
	return code;
}

int cit_error_set(struct cit_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = set(err, code, true, fmt, ap);
	va_end(ap);
	return rc;
}

int cit_error_say(struct cit_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = set(err, code, false, fmt, ap);
	va_end(ap);
	return rc;
}

int cit_error_prefix(struct cit_error *err, const char *fmt, ...)
{
	if (!err)
		return -EINVAL;
	char msg[LONG_MSG];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = (int)sizeof(msg) - 1;
	snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", err->msg);
	fit(err, msg);
	return err->code;
}
