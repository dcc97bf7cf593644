/* echo: responds with exactly the request bytes (any bytes, any length up to the
 * function's output limit). An empty request gets an empty response. */
#include <citadel/function.h>

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	if (req->len == 0)
		return CIT_OK;
	return cit_respond(resp, req->data, req->len);
}
