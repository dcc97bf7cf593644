/* relay: calls another function during its call and answers with that function's
 * response, handed on without a copy (cit_invoke, cit_respond_object). The callee is the
 * environment's CALLEE, which the deployment must also grant:
 *
 *     citadel deploy relay relay.so --env CALLEE=upper --allow-invoke upper
 *
 * The request goes on as it came: by reference when it is a data object. */
#include <stdlib.h>

#include <citadel/function.h>

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	const char *callee = getenv("CALLEE");
	if (!callee)
		return cit_fail(resp, -22, "no CALLEE in the environment (deploy --env CALLEE=NAME)");
	struct cit_object out;
	int rc = cit_invoke(callee, req->input, &out);
	if (rc < 0)
		return cit_fail(resp, rc, "%s: %s", callee, cit_invoke_error());
	return out.ref ? cit_respond_object(resp, &out) : cit_respond(resp, out.data, out.len);
}
