/* The calls a function makes (include/citadel/function.h), exported from the runtime to
 * the function's shared object when it is loaded. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zygote/runtime.h"

static char init_message[CIT_TEXT_MAX];

const char *cit_runtime_init_message(void)
{
	return init_message;
}

void cit_response_drop_object(struct cit_response *resp)
{
	if (resp->out_map)
		munmap(resp->out_map, resp->out_len);
	if (resp->out_fd >= 0)
		close(resp->out_fd);
	resp->out_fd = -1;
	resp->out_map = NULL;
	resp->out_len = 0;
	resp->out_ref = 0;
	resp->out_inline = false;
}

void *cit_output(struct cit_response *resp, size_t len)
{
	if (!resp) {
		errno = EINVAL;
		return NULL;
	}
	if (len > resp->limit) {
		errno = EFBIG; /* the handler may answer otherwise: nothing is set */
		return NULL;
	}
	cit_response_drop_object(resp);
	resp->len = 0;
	/* A small output goes inline in the message: a copy of a few KiB costs less than
	 * making, mapping, sealing and passing a memfd (each page fault alone costs
	 * microseconds in a VM). The caller cannot tell the difference. */
	if (len <= CIT_INLINE_MAX) {
		if (len > resp->cap) {
			char *b = realloc(resp->buf, len);
			if (!b) {
				errno = ENOMEM;
				return NULL;
			}
			resp->buf = b;
			resp->cap = len;
		}
		if (len)
			memset(resp->buf, 0, len);
		resp->len = len;
		resp->out_inline = true;
		static char none; /* a valid pointer for a buffer of 0 bytes */
		return len ? resp->buf : &none;
	}
	int fd = memfd_create("citadel-output", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return NULL;
	void *map = NULL;
	if (ftruncate(fd, (off_t)len) < 0 ||
	    (len && (map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)) {
		int e = errno;
		close(fd);
		errno = e == EFBIG || e == ENOSPC ? ENOMEM : e;
		return NULL;
	}
	resp->out_fd = fd;
	resp->out_map = map;
	resp->out_len = len;
	return map;
}

int cit_respond_object(struct cit_response *resp, const struct cit_object *obj)
{
	if (!resp || !obj || !obj->ref)
		return -EINVAL;
	cit_response_drop_object(resp);
	resp->len = 0;
	resp->out_ref = obj->ref;
	return 0;
}

int cit_respond(struct cit_response *resp, const void *data, size_t len)
{
	if (!resp || (len && !data))
		return -EINVAL;
	if (resp->code)
		return 0; /* failed already: the bytes would be discarded */
	if (resp->out_fd >= 0 || resp->out_ref || resp->out_inline)
		return -EBUSY; /* the response is an object already */
	if (len > resp->limit - resp->len) {
		resp->overflow = 1;
		return -EFBIG;
	}
	if (resp->len + len > resp->cap) {
		size_t cap = resp->cap ? resp->cap : 4096;
		while (cap < resp->len + len)
			cap *= 2;
		char *b = realloc(resp->buf, cap);
		if (!b)
			return -ENOMEM;
		resp->buf = b;
		resp->cap = cap;
	}
	memcpy(resp->buf + resp->len, data, len);
	resp->len += len;
	return 0;
}

const char *cit_http_header(const struct cit_request *req, const char *name)
{
	if (!req || !req->http || !name)
		return NULL;
	for (size_t i = 0; i < req->http->n_headers; i++)
		if (!strcasecmp(req->http->headers[i].name, name))
			return req->http->headers[i].value;
	return NULL;
}

int cit_set_status(struct cit_response *resp, int status)
{
	if (!resp || status < 200 || status > 599)
		return -EINVAL;
	resp->http_status = (uint32_t)status;
	return 0;
}

int cit_set_content_type(struct cit_response *resp, const char *type)
{
	if (!resp || !type || !type[0] || !cit_ctype_ok(type, strnlen(type, CIT_CTYPE_MAX) + 1))
		return -EINVAL;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
	return 0;
}

int cit_respondf(struct cit_response *resp, const char *fmt, ...)
{
	char small[512], *p = small;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(small)) {
		if (!(p = malloc((size_t)n + 1)))
			return -ENOMEM;
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	int rc = cit_respond(resp, p, (size_t)n);
	if (p != small)
		free(p);
	return rc;
}

int cit_fail(struct cit_response *resp, int code, const char *fmt, ...)
{
	if (!resp)
		return code;
	resp->code = code < 0 ? code : -EINVAL;
	resp->len = 0;
	cit_response_drop_object(resp);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(resp->text, sizeof(resp->text), fmt, ap);
	va_end(ap);
	return code;
}

void cit_init_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(init_message, sizeof(init_message), fmt, ap);
	va_end(ap);
}

void cit_log(enum cit_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	char line[CIT_LOG_LINE_MAX + 16];
	int n = snprintf(line, sizeof(line), "%s ", (unsigned)level < 4 ? names[level] : "info");
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = m < 0 ? 0 : (size_t)m;
	if (len > CIT_LOG_LINE_MAX)
		len = CIT_LOG_LINE_MAX;
	/* During a call: to the monitor, which writes it to the function's log with the
	 * call's invocation id. */
	struct cit_p_log p = { .level = (unsigned)level <= CIT_LOG_LEVEL_MAX ? (uint32_t)level : 1 };
	int rc = cit_trustlet_request(CIT_MSG_LOG, CIT_GRANT_LOG, &p, sizeof(p), line + n, len, NULL);
	if (rc != -EPERM)
		return;
	/* Outside a call (cit_init, a thread of the template): to stderr, which is the log too.
	 * One write: lines of concurrent instances do not interleave (a pipe, < PIPE_BUF). */
	len += (size_t)n;
	if (len > 1024)
		len = 1024;
	line[len++] = '\n';
	ssize_t w = write(2, line, len);
	(void)w;
}

int64_t cit_deadline(void)
{
	struct cit_p_none p = { 0 };
	uint64_t left = 0;
	int rc = cit_trustlet_request(CIT_MSG_DEADLINE, CIT_GRANT_DEADLINE, &p, sizeof(p), NULL, 0, &left);
	return rc < 0 ? rc : (int64_t)(left > INT64_MAX ? INT64_MAX : left);
}
