/* The CLI's side of the monitor's local API. */
#include "cli/client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cmdline.h"
#include "objects/objects.h"

const char *cit_client_socket(const char *opt)
{
	return cit_socket_path(opt);
}

int cit_client_connect(const char *path, struct cit_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return cit_error_set(err, -ENAMETOOLONG, "socket path %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cit_error_set(err, -errno, "socket");
	/* A monitor whose backlog is full would keep connect() waiting for good: 10 s, then
	 * the user hears why (unix sockets take SO_SNDTIMEO for connect; later sends, a
	 * deploy's among them, wait as long as they need). */
	struct timeval wait = { .tv_sec = 10 }, forever = { 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof(wait));
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &forever, sizeof(forever));
	if (rc < 0) {
		int e = errno;
		close(fd);
		if (e == EAGAIN || e == EINPROGRESS)
			return cit_error_say(err, -ETIMEDOUT, "the monitor at %s took no connection for 10 s: it may be "
						      "overloaded (see its log)", path);
		if (e == EACCES || e == EPERM)
			return cit_error_say(err, -e, "permission denied: the monitor's socket %s is open to root and "
						      "to the monitor's group only (`citadel serve --group`; ask to be "
						      "added to it, or run as root)", path);
		return cit_error_set(err, -e, "cannot reach the monitor at %s (is `citadel serve` running? "
					      "--socket or CITADEL_SOCKET choose another)", path);
	}
	/* Whoever listens at the path hears our requests, a deploy's code among them: only a
	 * server of root's (the monitor) or of our own user's is told anything. A socket in a
	 * directory others can write (CITADEL_SOCKET=/tmp/...) may be anyone's. The
	 * credentials are the listener's, fixed when it called listen(). */
	struct ucred peer;
	socklen_t len = sizeof(peer);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
		int e = errno;
		close(fd);
		return cit_error_set(err, -e, "checking who serves %s", path);
	}
	if (peer.uid != 0 && peer.uid != geteuid()) {
		close(fd);
		return cit_error_say(err, -EPERM, "the socket %s is served by uid %u, neither root nor this user "
						  "(uid %u): nothing was sent; check --socket or CITADEL_SOCKET",
				     path, (unsigned)peer.uid, (unsigned)geteuid());
	}
	return fd;
}

/* An ERROR message's code and text into err; returns the code. */
static int error_reply(const struct cit_rx *rx, struct cit_error *err)
{
	const struct cit_p_status *st = CIT_P(rx, cit_p_status);
	err->code = st->code < 0 ? st->code : -EIO;
	snprintf(err->msg, sizeof(err->msg), "%s", st->text);
	return err->code;
}

/* After a send or receive failed: the monitor may have refused the connection with one
 * ERROR message and closed it (over --max-clients, out of fds). That message is still
 * queued on our socket, behind the EPIPE of a send after the close, or behind the reset
 * reported (once) when the close found our request unread. Looks without waiting: true
 * with err holding the monitor's reason when it is there. */
static bool refusal_pending(int sock, void *buf, struct cit_error *err)
{
	for (int i = 0; i < 2; i++) { /* the reset, if not reported yet, then the message */
		struct cit_rx rx;
		struct cit_error ignored = { 0 };
		int rc = cit_proto_recv(sock, buf, &rx, &ignored);
		if (rc == 0 || rc == -EAGAIN)
			return false;
		if (rc < 0)
			continue;
		bool refused = rx.hdr.type == CIT_MSG_ERROR;
		if (refused)
			error_reply(&rx, err);
		cit_rx_close(&rx);
		return refused;
	}
	return false;
}

int cit_client_call(int sock, uint16_t type, const void *payload, size_t plen, const void *tail, size_t tlen,
		    int fd, void *buf, struct cit_rx *rx, struct cit_error *err)
{
	/* CITADEL_TOKEN: an admin token, presented for this request (the monitor checks it). */
	const char *token = getenv("CITADEL_TOKEN");
	int rc = 0;
	if (token && *token) {
		struct cit_p_token t = { { 0 } };
		if (strlen(token) != CIT_TOKEN_LEN || strspn(token, "0123456789abcdef") != CIT_TOKEN_LEN)
			return cit_error_say(err, -EINVAL, "CITADEL_TOKEN is not an admin token (64 lowercase hex "
							   "digits, as `citadel token add` prints)");
		memcpy(t.token, token, CIT_TOKEN_LEN);
		rc = cit_proto_send_wait(sock, CIT_MSG_ADMIN_TOKEN, 1, &t, sizeof(t), NULL, 0, NULL, 0);
	}
	if (rc == 0)
		rc = cit_proto_send_wait(sock, type, 1, payload, plen, tail, tlen, &fd, fd >= 0 ? 1 : 0);
	if (rc < 0) {
		if (refusal_pending(sock, buf, err))
			return err->code;
		return cit_error_set(err, rc, "sending the request to the monitor");
	}
	rc = cit_proto_recv_wait(sock, buf, rx, err);
	if (rc <= 0 && refusal_pending(sock, buf, err))
		return err->code;
	if (rc == 0)
		return cit_error_set(err, -ECONNRESET, "the monitor closed the connection");
	if (rc < 0)
		return rc;
	if (rx->hdr.type == CIT_MSG_ERROR)
		return error_reply(rx, err);
	if (rx->hdr.type != CIT_MSG_OK)
		return cit_error_set(err, -EPROTO, "unexpected reply from the monitor");
	return 0;
}

