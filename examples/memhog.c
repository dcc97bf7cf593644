/* memhog: misbehaves by allocating memory until it is killed; cit_handler() never returns.
 *
 * Takes 1 MiB blocks forever and writes every page of each, so the memory is really
 * resident (not just reserved address space). When malloc() fails it waits 1 ms and tries
 * again rather than giving up. Demonstrates the memory limit: the instance must be killed
 * (by the memory limit, or by the timeout when an address-space limit makes malloc fail)
 * without hurting the host or other functions. */
#include <citadel/function.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK (1u << 20)

/* Every block links to the previous one and the newest is published here, so the
 * compiler cannot prove the allocations unused and optimise them away. */
static void *volatile hoard;

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	const struct timespec pause = { .tv_sec = 0, .tv_nsec = 1000000 };

	(void)req, (void)resp;
	for (;;) {
		void **block = malloc(BLOCK);
		if (!block) {
			/* An interrupted sleep is fine: the loop just tries again sooner. */
			(void)nanosleep(&pause, NULL);
			continue;
		}
		memset(block, 0xa5, BLOCK);
		*block = hoard;
		hoard = block;
	}
}
