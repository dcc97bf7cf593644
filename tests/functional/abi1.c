/* A function built for ABI 1, before struct cit_request grew its http member: declared
 * here as that ABI's header had it (not including today's), to check that such a
 * function still loads and runs. */
#include <stddef.h>
#include <stdint.h>

struct cit_request {
	const void *data;
	size_t len;
	const char *function;
	uint64_t invocation;
};
struct cit_response;
int cit_respond(struct cit_response *resp, const void *data, size_t len);

__attribute__((visibility("default"))) const int cit_function_abi = 1;

__attribute__((visibility("default"))) int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	return cit_respond(resp, req->data, req->len);
}
