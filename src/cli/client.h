/* The CLI's side of the monitor's local API (src/monitor/proto.h). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cli/usage.h"
#include "common/error.h"
#include "common/paths.h"
#include "proto/proto.h"

/* The socket to use: --socket (may be NULL), else $CITADEL_SOCKET, else the default. */
const char *cit_client_socket(const char *opt);

/* Connects to the monitor: only to a server running as root or as our own user (its
 * SO_PEERCRED), so that nothing is sent to another user's socket (-EPERM, err naming the
 * uid found). Returns the socket or a negative errno with err saying what to do (start
 * `citadel serve`, check --socket). */
int cit_client_connect(const char *path, struct cit_error *err);

/* Sends one request (payload and tail, and fd when >= 0) and waits for its reply into rx
 * (buf: CIT_MSG_MAX bytes, aligned). Returns 0 when the reply is OK, or the negative code
 * of an ERROR reply (err holds its text), or a transport error; when the monitor refused
 * the connection (an ERROR, then close), its code and text, however the send or the
 * receive failed. */
int cit_client_call(int sock, uint16_t type, const void *payload, size_t plen, const void *tail, size_t tlen,
		    int fd, void *buf, struct cit_rx *rx, struct cit_error *err);
