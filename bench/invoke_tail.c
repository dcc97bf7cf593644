/* The tail of warm invoke latency over a window: one caller making calls one after another
 * for SECONDS, as invoke_load does, printing one JSON line with p50, p99 (computed as
 * invoke_load computes them), p99.9, the maximum, how many calls took SLOW_US or more, and
 * the slowest calls with when they started (ms into the window).
 *   invoke_tail SOCKET FUNCTION SECONDS [SLOW_US]
 * A caller waits for its call, so a stall of the monitor's loop shows as one slow call
 * however long it lasts: p99 cannot see it, the maximum and the slow calls do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "proto/proto.h"

#include "benchutil.h"

#define MAX_SAMPLES 4000000
#define SLOWEST 16

struct sample {
	uint32_t lat;   /* 0.1 µs units */
	uint32_t at_ms; /* start, ms into the window */
};

static int by_lat(const void *a, const void *b)
{
	uint32_t x = ((const struct sample *)a)->lat, y = ((const struct sample *)b)->lat;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: %s SOCKET FUNCTION SECONDS [SLOW_US]\n", argv[0]);
		return 2;
	}
	double seconds = atof(argv[3]);
	uint32_t slow = (uint32_t)(argc > 4 ? atol(argv[4]) : 1000) * 10;
	if (seconds <= 0 || seconds > 600)
		return 2;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	void *buf = aligned_alloc(16, CIT_MSG_MAX);
	struct sample *s = malloc(MAX_SAMPLES * sizeof(*s));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || !buf || !s) {
		perror("invoke_tail");
		return 1;
	}
	struct cit_p_invoke b = { 0 };
	snprintf(b.name, sizeof(b.name), "%s", argv[2]);
	size_t n = 0, errors = 0;
	uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
	for (uint64_t id = 1; n < MAX_SAMPLES; id++) {
		uint64_t t0 = now_ns();
		if (t0 >= end)
			break;
		int rc = cit_proto_send_wait(fd, CIT_MSG_INVOKE, id, &b, sizeof(b), NULL, 0, NULL, 0);
		struct cit_rx rx;
		struct cit_error err = { 0 };
		if (rc == 0)
			rc = cit_proto_recv_wait(fd, buf, &rx, &err);
		if (rc > 0)
			cit_rx_close(&rx);
		if (rc <= 0 || rx.hdr.type != CIT_MSG_OK) {
			errors++;
			if (rc <= 0)
				break;
			continue;
		}
		s[n++] = (struct sample){ (uint32_t)((now_ns() - t0) / 100), (uint32_t)((t0 - start) / 1000000) };
	}
	double secs = (double)(now_ns() - start) / 1e9;
	qsort(s, n, sizeof(*s), by_lat);
	size_t over = 0;
	for (size_t i = 0; i < n; i++)
		over += s[i].lat >= slow;
	printf("{\"calls\": %zu, \"errors\": %zu, \"seconds\": %.3f, \"per_second\": %.0f, \"p50_us\": %.1f, "
	       "\"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f, \"slow_us\": %u, \"slow_calls\": %zu, "
	       "\"slowest\": [",
	       n, errors, secs, (double)n / secs, n ? s[n / 2].lat / 10.0 : 0.0, n ? s[(n - 1) * 99 / 100].lat / 10.0 : 0.0,
	       n ? s[(n - 1) * 999 / 1000].lat / 10.0 : 0.0, n ? s[n - 1].lat / 10.0 : 0.0, slow / 10, over);
	for (size_t i = 0; i < SLOWEST && i < n; i++)
		printf("%s{\"us\": %.1f, \"at_ms\": %u}", i ? ", " : "", s[n - 1 - i].lat / 10.0, s[n - 1 - i].at_ms);
	printf("]}\n");
	return errors && !n ? 1 : 0;
}
