/* upper: the request in upper case (ASCII letters), written straight into a data object
 * (cit_output): the response is never copied, whether it goes to a caller or on to the next
 * step of a chain. A chain's step: citadel chain create shout upper ... */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <citadel/function.h>

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	unsigned char *out = cit_output(resp, req->len);
	if (!out)
		return cit_fail(resp, -errno, "no output buffer of %zu bytes: %s", req->len, strerror(errno));
	const unsigned char *in = req->data;
	for (size_t i = 0; i < req->len; i++)
		out[i] = (unsigned char)toupper(in[i]);
	return CIT_OK;
}
