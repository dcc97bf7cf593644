/* The functions bench/chain_bench.py deploys: one shared object, its role chosen by the
 * deployment's environment (--env ROLE=producer|consumer|hop).
 *
 *   producer  the request is a size in bytes (decimal text), "SIZE" or "SIZE sparse". It
 *             fills a cit_output() buffer of that size (every page written: the producer's
 *             own work, before the clock), and, as the last thing before returning, writes
 *             CLOCK_MONOTONIC (ns) into its first 8 bytes. "sparse" writes only the first
 *             page (bytes 8-15: 1, the mark of a sparse output): an object of the same
 *             size whose other pages were never made, so that unmapping and sealing it,
 *             whose cost is per page present, cost what one page costs. Everything else
 *             the hand-over does is the same.
 *   consumer  reads CLOCK_MONOTONIC first thing, then the stamp in its input's first 8
 *             bytes: the hand-over is entry - stamp (the runtime's unmapping and sealing
 *             of the producer's buffer, the monitor passing the fd on, the consumer's call
 *             mapping it). Then, unless the input is sparse, it reads one byte of every
 *             page (what a consumer pays on first touching a mapped object, reported
 *             apart) and checks the last byte. Responds "HANDOVER_NS TOUCH_NS LEN".
 *   hop       a step that produces: a cit_output() buffer of its input's size, the input
 *             copied into it.
 *   copy      the same bytes answered with cit_respond() (copied, inline up to 32 KiB): for
 *             reference beside hop.
 *
 * CLOCK_MONOTONIC is read through the vDSO (no system call) and is the same clock in every
 * process of the machine: Citadel uses no time namespace. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <citadel/function.h>

#include "benchutil.h"

#define FILL 0x5a
#define PAGE 4096

enum role { NONE, PRODUCER, CONSUMER, HOP, COPY };
static enum role role;

int cit_init(void)
{
	const char *r = getenv("ROLE");
	role = !r ? NONE : !strcmp(r, "producer") ? PRODUCER : !strcmp(r, "consumer") ? CONSUMER
		: !strcmp(r, "hop") ? HOP : !strcmp(r, "copy") ? COPY : NONE;
	if (role == NONE) {
		cit_init_fail("ROLE must be producer, consumer, hop or copy (deploy --env ROLE=...)");
		return -EINVAL;
	}
	return CIT_OK;
}

static int produce(const struct cit_request *req, struct cit_response *resp)
{
	char text[24];
	if (req->len == 0 || req->len >= sizeof(text))
		return cit_fail(resp, -EINVAL, "the request is a size in bytes");
	memcpy(text, req->data, req->len);
	text[req->len] = '\0';
	char *end;
	unsigned long long len = strtoull(text, &end, 10);
	uint64_t sparse = !strcmp(end, " sparse");
	if ((*end && !sparse) || len < 16)
		return cit_fail(resp, -EINVAL, "the request is a size in bytes, at least 16, then maybe \" sparse\"");
	unsigned char *out = cit_output(resp, (size_t)len);
	if (!out)
		return cit_fail(resp, -errno, "no output buffer of %llu bytes: %s", len, strerror(errno));
	memset(out, FILL, sparse ? 16 : (size_t)len);
	memcpy(out + 8, &sparse, sizeof(sparse));
	uint64_t stamp = now_ns();
	memcpy(out, &stamp, sizeof(stamp));
	return CIT_OK;
}

static int consume(const struct cit_request *req, struct cit_response *resp)
{
	uint64_t entry = now_ns();
	const unsigned char *in = req->data;
	if (req->len < 16)
		return cit_fail(resp, -EINVAL, "the input is %zu bytes: no stamp", req->len);
	uint64_t stamp, sparse;
	memcpy(&stamp, in, sizeof(stamp));
	memcpy(&sparse, in + 8, sizeof(sparse));
	if (sparse)
		return cit_respondf(resp, "%lld 0 %zu", (long long)(entry - stamp), req->len);
	uint64_t t0 = now_ns();
	unsigned sum = 0;
	for (size_t off = 0; off < req->len; off += PAGE)
		sum += in[off];
	uint64_t touch = now_ns() - t0;
	if (in[req->len - 1] != FILL)
		return cit_fail(resp, -EPROTO, "the input's last byte is %u, not %u (sum %u)", in[req->len - 1], FILL,
				sum);
	return cit_respondf(resp, "%lld %llu %zu", (long long)(entry - stamp), (unsigned long long)touch, req->len);
}

static int hop(const struct cit_request *req, struct cit_response *resp)
{
	void *out = cit_output(resp, req->len);
	if (!out)
		return cit_fail(resp, -errno, "no output buffer of %zu bytes: %s", req->len, strerror(errno));
	if (req->len)
		memcpy(out, req->data, req->len);
	return CIT_OK;
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	switch (role) {
	case PRODUCER:
		return produce(req, resp);
	case CONSUMER:
		return consume(req, resp);
	case HOP:
		return hop(req, resp);
	case COPY:
		return cit_respond(resp, req->data, req->len);
	case NONE:
	default:
		return cit_fail(resp, -EINVAL, "no role");
	}
}
