#include "common/error.h"

#include <errno.h>
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

int cit_error_set(struct cit_error *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(err->msg) && code < 0)
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", cit_strerror(code));
	err->code = code;
	return code;
}

int cit_error_prefix(struct cit_error *err, const char *fmt, ...)
{
	if (!err)
		return -EINVAL;
	char prefix[CIT_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	char old[CIT_ERROR_MSG_MAX];
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return err->code;
}
