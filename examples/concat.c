/* concat: a fan-in step of a chain. It follows several steps and gets their outputs as a
 * list (req->inputs, in the chain's order of steps); it answers with each one's step name
 * and bytes, one per line: "STEP: BYTES". Called on its own, it answers "request: BYTES". */
#include <string.h>

#include <citadel/function.h>

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	if (!req->n_inputs)
		return cit_respondf(resp, "request: %.*s\n", (int)req->len, (const char *)req->data);
	for (size_t i = 0; i < req->n_inputs; i++) {
		const struct cit_object *in = &req->inputs[i];
		int rc = cit_respondf(resp, "%s: %.*s\n", in->step, (int)in->len, (const char *)in->data);
		if (rc < 0)
			return rc;
	}
	return CIT_OK;
}
