/* crash: misbehaves by dereferencing a NULL pointer, so the instance dies with SIGSEGV.
 *
 * Demonstrates that a crashing instance takes down only itself: the caller gets an error
 * for this invocation, and the function (and every other one) keeps serving. */
#include <citadel/function.h>

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	/* Both volatile: the pointer so the compiler cannot see it is NULL, the pointee so
	 * it cannot drop the store (GCC does drop it through a plain int *volatile). */
	volatile int *volatile target = NULL;

	(void)req, (void)resp;
	*target = 42;
	return CIT_OK;
}
