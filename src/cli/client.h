/* The CLI's side of the monitor's local API (src/monitor/proto.h). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "monitor/proto.h"

#define CIT_DEFAULT_SOCKET "/run/citadel/citadel.sock"
#define CIT_DEFAULT_STATE_DIR "/var/lib/citadel"

/* The socket to use: --socket (may be NULL), else $CITADEL_SOCKET, else the default. */
const char *cit_client_socket(const char *opt);

/* Connects to the monitor. Returns the socket or a negative errno with err saying what to
 * do (start `citadel serve`). */
int cit_client_connect(const char *path, struct cit_error *err);

/* Sends one request (payload and tail, and fd when >= 0) and waits for its reply into rx
 * (buf: CIT_MSG_MAX bytes, aligned). Returns 0 when the reply is OK, or the negative code
 * of an ERROR reply (err holds its text), or a transport error. */
int cit_client_call(int sock, uint16_t type, const void *payload, size_t plen, const void *tail, size_t tlen,
		    int fd, void *buf, struct cit_rx *rx, struct cit_error *err);

/* The reply's bytes, inline or mapped from its data object; *map is what to munmap
 * (*map_len bytes) afterwards, or NULL. Returns 0 or a negative errno. */
int cit_client_reply_data(struct cit_rx *rx, const void **data, size_t *len, void **map);
