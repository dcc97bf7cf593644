/* hello: greets the caller.
 *
 * Responds "Hello, NAME!\n", NAME being the request bytes, or "Hello, world!\n" when the
 * request is empty. cit_init() shows the template phase: the greeting prefix it builds
 * once is inherited by every instance, and "hello: ready" goes to the function's log. */
#include <citadel/function.h>

#include <errno.h>
#include <stdio.h>

static char prefix[32];
static size_t prefix_len;

int cit_init(void)
{
	int n = snprintf(prefix, sizeof prefix, "Hello, ");
	if (n < 0 || (size_t)n >= sizeof prefix) {
		cit_init_fail("hello: cannot build the greeting");
		return -EINVAL;
	}
	prefix_len = (size_t)n;
	cit_log(CIT_LOG_INFO, "hello: ready");
	return CIT_OK;
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	int r = cit_respond(resp, prefix, prefix_len);
	if (r == 0)
		r = req->len > 0 ? cit_respond(resp, req->data, req->len) : cit_respond(resp, "world", 5);
	if (r == 0)
		r = cit_respond(resp, "!\n", 2);
	return r;
}
