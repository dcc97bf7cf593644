/* Load generator for the monitor's local API: N callers (threads), each with its own
 * connection, each making calls one after another for a fixed time; prints one JSON line
 * with every caller's latencies merged: p50, p99 (µs) and calls per second.
 *   invoke_load SOCKET FUNCTION CALLERS SECONDS [PAYLOAD_BYTES [PAUSE_US]]
 * PAUSE_US: a pause after each call (to measure calls that find the pool refilled).
 * Speaks the same protocol as the CLI (src/monitor/proto.c), without starting a process per
 * call, which is what a gateway in front of the monitor does. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"

#include "benchutil.h"

#define MAX_SAMPLES 2000000

struct caller {
	pthread_t th;
	const char *sock, *fn;
	double seconds;
	size_t payload;
	unsigned pause_us;
	uint32_t *lat;
	size_t n, cap, errors;
};

static void *run(void *arg)
{
	struct caller *c = arg;
	int fd = connect_to(c->sock);
	void *buf = aligned_alloc(16, CIT_MSG_MAX);
	char *payload = calloc(1, c->payload + 1);
	if (fd < 0 || !buf || !payload) {
		c->errors++;
		return NULL;
	}
	memset(payload, 'x', c->payload);
	struct cit_p_invoke b = { .data = { .len = (uint32_t)c->payload } };
	snprintf(b.name, sizeof(b.name), "%s", c->fn);
	uint64_t end = now_ns() + (uint64_t)(c->seconds * 1e9);
	for (uint64_t id = 1; c->n < c->cap; id++) {
		uint64_t t0 = now_ns();
		if (t0 >= end)
			break;
		int rc = cit_proto_send_wait(fd, CIT_MSG_INVOKE, id, &b, sizeof(b), payload, c->payload, NULL, 0);
		struct cit_rx rx;
		struct cit_error err = { 0 };
		if (rc == 0)
			rc = cit_proto_recv_wait(fd, buf, &rx, &err);
		if (rc <= 0 || rx.hdr.type != CIT_MSG_OK) {
			if (getenv("LOAD_DEBUG"))
				fprintf(stderr, "rc=%d type=%d %s %s\n", rc, rc > 0 ? rx.hdr.type : 0, rc < 0 ? err.msg : "", rc > 0 && rx.hdr.type == CIT_MSG_ERROR ? CIT_P(&rx, cit_p_status)->text : "");
			c->errors++;
			if (rc > 0)
				cit_rx_close(&rx);
			if (rc <= 0)
				break;
			continue;
		}
		cit_rx_close(&rx);
		c->lat[c->n++] = (uint32_t)((now_ns() - t0) / 100); /* 0.1 µs units */
		if (c->pause_us)
			usleep(c->pause_us);
	}
	close(fd);
	free(buf);
	free(payload);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s SOCKET FUNCTION CALLERS SECONDS [PAYLOAD_BYTES [PAUSE_US]]\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[3]);
	if (n < 1 || n > 1024)
		return 2;
	struct caller *c = calloc((size_t)n, sizeof(*c));
	uint64_t t0 = now_ns();
	for (int i = 0; i < n; i++) {
		c[i] = (struct caller){ .sock = argv[1], .fn = argv[2], .seconds = atof(argv[4]),
					.payload = argc > 5 ? (size_t)atol(argv[5]) : 0,
					.pause_us = argc > 6 ? (unsigned)atoi(argv[6]) : 0 };
		c[i].cap = MAX_SAMPLES / (size_t)n;
		c[i].lat = malloc(c[i].cap * sizeof(uint32_t));
		pthread_create(&c[i].th, NULL, run, &c[i]);
	}
	size_t total = 0, errors = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(c[i].th, NULL);
		total += c[i].n;
		errors += c[i].errors;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	uint32_t *all = malloc((total + 1) * sizeof(uint32_t));
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		memcpy(all + k, c[i].lat, c[i].n * sizeof(uint32_t));
		k += c[i].n;
	}
	qsort(all, total, sizeof(uint32_t), cmp);
	printf("{\"callers\": %d, \"calls\": %zu, \"errors\": %zu, \"seconds\": %.3f, \"per_second\": %.0f, "
	       "\"p50_us\": %.1f, \"p99_us\": %.1f}\n",
	       n, total, errors, secs, (double)total / secs, total ? all[total / 2] / 10.0 : 0.0,
	       total ? all[(total - 1) * 99 / 100] / 10.0 : 0.0);
	return errors && !total ? 1 : 0;
}
