/* A client of bench/chain_bench.py: one connection to the monitor, REPS requests of one
 * type one after another, each timed from before its send to after its answer was taken
 * (an inline answer read, an object's answer mapped, its first and last byte read and
 * unmapped): the same client for single invocations and chains, so that they compare.
 *   chain_client SOCKET invoke|chain NAME REPS --bytes N [--expect N]
 *   chain_client SOCKET invoke|chain NAME REPS --text STR
 * --bytes: a request of N bytes of 'x' (inline up to 32 KiB, else a data object);
 * --text: STR itself. --expect: the answer must be N bytes.
 * Prints one line per request: the latency in µs, then the answer when it is short text
 * (else its length). Exits 1 at the first failure, with the monitor's reason. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"

#include "benchutil.h"

#define REPS_MAX 100000

static _Noreturn void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s SOCKET invoke|chain NAME REPS (--bytes N [--expect N] | --text STR)\n", argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 7)
		usage(argv[0]);
	const char *sock = argv[1], *name = argv[3];
	uint16_t type = !strcmp(argv[2], "invoke") ? CIT_MSG_INVOKE : !strcmp(argv[2], "chain") ? CIT_MSG_CHAIN_INVOKE : 0;
	long reps = atol(argv[4]);
	char *payload = NULL;
	size_t plen = 0;
	long long expect = -1;
	for (int i = 5; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--bytes")) {
			plen = (size_t)atoll(argv[i + 1]);
			if (!(payload = malloc(plen + 1)))
				return 1;
			memset(payload, 'x', plen);
		} else if (!strcmp(argv[i], "--text")) {
			payload = argv[i + 1];
			plen = strlen(payload);
		} else if (!strcmp(argv[i], "--expect")) {
			expect = atoll(argv[i + 1]);
		} else {
			usage(argv[0]);
		}
	}
	if (!type || reps < 1 || reps > REPS_MAX || !payload || strlen(name) >= CIT_NAME_MAX)
		usage(argv[0]);
	int fd = connect_to(sock);
	void *buf = aligned_alloc(16, CIT_MSG_MAX);
	if (fd < 0 || !buf) {
		fprintf(stderr, "chain_client: connecting to %s: %s\n", sock, strerror(errno));
		return 1;
	}
	struct cit_p_invoke b = { 0 };
	memcpy(b.name, name, strlen(name));
	for (long id = 1; id <= reps; id++) {
		uint64_t t0 = now_ns();
		int rc = cit_proto_send_data(fd, type, (uint64_t)id, &b, sizeof(b), payload, plen);
		struct cit_rx rx;
		struct cit_error err = { 0 };
		if (rc == 0 && (rc = cit_proto_recv_wait(fd, buf, &rx, &err)) == 0)
			rc = -EPIPE;
		if (rc < 0) {
			fprintf(stderr, "chain_client: %s %s: %s\n", argv[2], name, err.msg[0] ? err.msg : strerror(-rc));
			return 1;
		}
		if (rx.hdr.type != CIT_MSG_OK) {
			const struct cit_p_status *s = CIT_P(&rx, cit_p_status);
			fprintf(stderr, "chain_client: %s %s: %s\n", argv[2], name,
				rx.hdr.type == CIT_MSG_ERROR ? s->text : "an unexpected answer");
			return 1;
		}
		const void *data;
		void *map;
		size_t len;
		if ((rc = cit_rx_data(&rx, &data, &len, &map)) < 0) {
			fprintf(stderr, "chain_client: the answer's data object: %s\n", strerror(-rc));
			return 1;
		}
		char text[64] = "";
		volatile unsigned char edge = 0;
		if (len) {
			edge = ((const unsigned char *)data)[0];
			edge ^= ((const unsigned char *)data)[len - 1];
		}
		if (len < sizeof(text) && !map)
			snprintf(text, sizeof(text), "%.*s", (int)len, (const char *)data);
		else
			snprintf(text, sizeof(text), "len=%zu", len);
		if (map)
			munmap(map, len);
		cit_rx_close(&rx);
		uint64_t t1 = now_ns();
		if (expect >= 0 && (long long)len != expect) {
			fprintf(stderr, "chain_client: %s %s: the answer is %zu bytes, not %lld\n", argv[2], name, len, expect);
			return 1;
		}
		printf("%.1f %s\n", (double)(t1 - t0) / 1000.0, text);
	}
	close(fd);
	return 0;
}
