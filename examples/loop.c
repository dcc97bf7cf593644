/* loop: misbehaves by spinning forever; cit_handler() never returns.
 *
 * Demonstrates the invocation timeout: the runtime must kill the instance, report a
 * timeout to the caller and stay responsive for other calls meanwhile. */
#include <citadel/function.h>

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	/* volatile: the loop has an observable effect, so the compiler must keep it. */
	volatile unsigned long spins = 0;

	(void)req, (void)resp;
	for (;;)
		spins++;
}
