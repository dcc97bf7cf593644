/* bigoutput: misbehaves by producing unbounded output.
 *
 * Appends 1 MiB chunks of 'x' until cit_respond() refuses one (-EFBIG at the function's
 * output limit, or -ENOMEM), then returns CIT_OK anyway, as careless code would.
 * Demonstrates that the output limit is enforced by the runtime whatever the handler
 * returns: the caller must be told the output limit was hit, not handed a truncated
 * response as if it were complete. */
#include <citadel/function.h>

#include <string.h>

#define CHUNK (1u << 20)

static char chunk[CHUNK];

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	size_t sent = 0;
	int r;

	(void)req;
	memset(chunk, 'x', sizeof chunk);
	while ((r = cit_respond(resp, chunk, sizeof chunk)) == 0)
		sent++;
	cit_log(CIT_LOG_INFO, "bigoutput: cit_respond refused chunk %zu (%d); returning CIT_OK anyway",
		sent + 1, r);
	return CIT_OK;
}
