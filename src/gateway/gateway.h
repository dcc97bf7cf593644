/* The HTTP gateway's server, apart from its program's main (src/gateway/gateway.c), so that
 * a fuzz harness (tests/fuzz/fuzz_http.c) can run the whole request path in one process. */
#pragma once

#include <microhttpd.h>
#include <pthread.h>

#include "proto/proto.h"

/* Serves HTTP with the limits g on listen_fd (a listening TCP socket, owned from here on);
 * requests go to the monitor on chan (a
 * SOCK_SEQPACKET socket, borrowed, made non-blocking; the gateway is its only reader). A
 * thread of its own (*reader_thread) serves HTTP and reads the replies; it ends the
 * process when chan closes.
 * Call once per process. Returns the daemon, or NULL (said on stderr). */
struct MHD_Daemon *cit_gateway_serve(int listen_fd, const struct cit_p_gateway *g, int chan,
				     pthread_t *reader_thread);
