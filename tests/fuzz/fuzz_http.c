/* libFuzzer target for the HTTP gateway's request-to-invocation path: the gateway's own
 * code (src/gateway/gateway.c, with libmicrohttpd, as citadel-gateway runs it) serves one
 * connection whose bytes are the input, and a stand-in for the monitor on the other end of
 * its channel checks every message the gateway sends as the real monitor would
 * (cit_proto_recv_wait: the message table's shape and checks, an INVOKE_META's strings
 * with cit_meta_parse) and answers it: an INVOKE or CHAIN_INVOKE with its own bytes, a
 * LIST with one function, a CHAIN_LIST with one chain, a CALL_STATUS with a finished call,
 * a CHAIN_CREATE with OK, anything else with an error.
 *
 * Asserted: the gateway never sends a message the monitor would refuse (that would end
 * its connection, and every caller's calls with it), an INVOKE always comes with its
 * meta, and what the client gets back, when anything, is an HTTP/1.x response. ASan and
 * UBSan catch the rest; a request that hangs is a timeout. scripts/fuzz.sh builds and runs
 * it (make test: briefly) from the seeds in tests/fuzz/corpus_http/. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway/gateway.h"
#include "proto/proto.h"
#include "spec/chainfile.h"
#include "spec/info.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct MHD_Daemon *daemon_;
static struct sockaddr_in addr; /* where it listens: loopback, a port of its own */
static int monitor_end;

static void answer_ok(uint64_t id, uint64_t count, const void *data, size_t len, const int *fd, uint64_t obj_len)
{
	struct cit_p_ok ok = { .data = { .len = fd ? 0 : (uint32_t)len, .obj_len = fd ? obj_len : 0 }, .count = count };
	if (cit_proto_send_wait(monitor_end, CIT_MSG_OK, id, &ok, sizeof(ok), fd ? NULL : data, fd ? 0 : len, fd,
				fd ? 1 : 0) < 0)
		abort();
}

/* The monitor's side of the channel: every message checked, every request answered. */
static void *monitor(void *arg)
{
	(void)arg;
	static _Alignas(16) char buf[CIT_MSG_MAX];
	uint64_t meta_id = 0;
	for (;;) {
		struct cit_rx rx;
		struct cit_error err = { 0 };
		int rc = cit_proto_recv_wait(monitor_end, buf, &rx, &err);
		if (rc < 0) {
			fprintf(stderr, "fuzz_http: the gateway sent what the monitor refuses: %s\n", err.msg);
			abort();
		}
		if (rc == 0)
			return NULL;
		const struct cit_msg_rule *r = cit_msg_rule(rx.hdr.type);
		if (!r || r->sender != CIT_FROM_CLIENT) {
			fprintf(stderr, "fuzz_http: the gateway sent message type %u, which is no request\n", rx.hdr.type);
			abort();
		}
		uint64_t id = rx.hdr.id;
		switch (rx.hdr.type) {
		case CIT_MSG_INVOKE_META:
			meta_id = id;
			break;
		case CIT_MSG_ADMIN_TOKEN:
			break;
		case CIT_MSG_INVOKE:
		case CIT_MSG_CHAIN_INVOKE: /* no meta: a chain's steps are not given the HTTP request */
			if (rx.hdr.type == CIT_MSG_INVOKE && meta_id != id) {
				fprintf(stderr, "fuzz_http: an INVOKE came without its meta\n");
				abort();
			}
			if (CIT_P(&rx, cit_p_invoke)->flags & CIT_INVOKE_ASYNC)
				answer_ok(id, 0, "0123456789abcdef0123456789abcdef", CIT_CALL_ID_LEN, NULL, 0);
			else if (rx.nfds)
				answer_ok(id, 0, NULL, 0, &rx.fds[0], rx.obj_len);
			else
				answer_ok(id, 0, rx.data, rx.data_len, NULL, 0);
			break;
		case CIT_MSG_LIST: {
			static struct cit_fn_info fi = { .name = "echo", .runtime = "native", .state = "ready",
							 .invocations = 3 };
			fi.hist[CIT_PHASE_WARM][2] = 3;
			answer_ok(id, 1, &fi, sizeof(fi), NULL, 0);
			break;
		}
		case CIT_MSG_CHAIN_LIST: {
			static struct cit_chain_spec c;
			static const char *const fns[] = { "echo", "upper" };
			struct cit_error e = { 0 };
			if (cit_chain_line(&c, "line", fns, 2, &e) < 0)
				abort();
			answer_ok(id, 1, &c, sizeof(c), NULL, 0);
			break;
		}
		case CIT_MSG_CHAIN_CREATE:
			answer_ok(id, 0, NULL, 0, NULL, 0);
			break;
		case CIT_MSG_CALL_STATUS:
			answer_ok(id, CIT_CALL_DONE, "done", 4, NULL, 0);
			break;
		default: {
			struct cit_p_status st = { .code = -ENOENT };
			snprintf(st.text, sizeof(st.text), "no such thing");
			if (cit_proto_send_wait(monitor_end, CIT_MSG_ERROR, id, &st, sizeof(st), NULL, 0, NULL, 0) < 0)
				abort();
			break;
		}
		}
		cit_rx_close(&rx);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	monitor_end = sp[0];
	pthread_t t, reader;
	if (pthread_create(&t, NULL, monitor, NULL) != 0)
		abort();
	struct cit_p_gateway g = { .max_body = 1 << 20, .max_connections = 64, .max_per_address = 64,
				   .idle_timeout_s = 2, .header_bytes = 64 << 10, .flags = CIT_GATEWAY_LOOPBACK };
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(addr);
	addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(l, 64) < 0 ||
	    getsockname(l, (struct sockaddr *)&addr, &len) < 0)
		abort();
	if (!(daemon_ = cit_gateway_serve(l, &g, sp[1], &reader)))
		abort();
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int s[2] = { -1, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) };
	int c = s[1] < 0 ? -1 : connect(s[1], (struct sockaddr *)&addr, sizeof(addr));
	/* libFuzzer's timer (SIGALRM, for -timeout) may interrupt it: the connection goes on,
	 * and connect says so (EALREADY) until it is made (EISCONN). */
	while (c < 0 && (errno == EINTR || errno == EALREADY)) {
		poll(&(struct pollfd){ .fd = s[1], .events = POLLOUT }, 1, 100);
		c = connect(s[1], (struct sockaddr *)&addr, sizeof(addr));
	}
	if (c < 0 && errno != EISCONN) {
		fprintf(stderr, "fuzz_http: no connection to the gateway: %s\n", strerror(errno));
		abort();
	}
	/* The request, then the end of it; the answer, until the gateway closes or 5 s pass.
	 * A request left incomplete gets no answer until the idle timeout: when nothing has
	 * come 25 ms after the request went, the connection is dropped (the gateway then
	 * sees its client go, another path worth running). */
	size_t off = 0;
	static char out[1 << 16];
	size_t got = 0;
	uint64_t until = now_ms() + 5000;
	bool wrote_all = size == 0;
	if (wrote_all)
		shutdown(s[1], SHUT_WR);
	for (;;) {
		struct pollfd p = { .fd = s[1], .events = POLLIN | (wrote_all ? 0 : POLLOUT) };
		uint64_t now = now_ms();
		if (wrote_all && !got && until > now + 25)
			until = now + 25;
		if (now >= until || poll(&p, 1, (int)(until - now)) <= 0)
			break;
		if (got)
			until = now + 5000 > until ? until : now + 5000;
		if (!wrote_all && (p.revents & POLLOUT)) {
			ssize_t k = send(s[1], data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k > 0)
				off += (size_t)k;
			if (k < 0 && errno != EAGAIN)
				wrote_all = true; /* the gateway closed first */
			if (off == size)
				wrote_all = true;
			if (wrote_all)
				shutdown(s[1], SHUT_WR);
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			char tmp[4096];
			ssize_t k = recv(s[1], tmp, sizeof(tmp), MSG_DONTWAIT);
			if (k == 0 || (k < 0 && errno != EAGAIN))
				break;
			if (k > 0 && got < sizeof(out)) {
				size_t n = (size_t)k < sizeof(out) - got ? (size_t)k : sizeof(out) - got;
				memcpy(out + got, tmp, n);
				got += n;
			}
		}
	}
	close(s[1]);
	if (got && (got < 8 || memcmp(out, "HTTP/1.", 7))) {
		fprintf(stderr, "fuzz_http: the gateway answered something that is no HTTP response: %.*s\n",
			(int)(got < 80 ? got : 80), out);
		abort();
	}
	return 0;
}
