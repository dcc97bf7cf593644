/* The CLI's side of the monitor's local API. */
#include "cli/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

const char *cit_client_socket(const char *opt)
{
	if (opt && *opt)
		return opt;
	const char *env = getenv("CITADEL_SOCKET");
	return env && *env ? env : CIT_DEFAULT_SOCKET;
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
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return cit_error_set(err, -e, "cannot reach the monitor at %s (is `citadel serve` running? "
					      "--socket or CITADEL_SOCKET choose another)", path);
	}
	return fd;
}

int cit_client_call(int sock, uint16_t type, const void *payload, size_t plen, const void *tail, size_t tlen,
		    int fd, void *buf, struct cit_rx *rx, struct cit_error *err)
{
	int rc = cit_proto_send_wait(sock, type, 1, payload, plen, tail, tlen, &fd, fd >= 0 ? 1 : 0);
	if (rc < 0)
		return cit_error_set(err, rc, "sending the request to the monitor");
	rc = cit_proto_recv_wait(sock, buf, rx, err);
	if (rc == 0)
		return cit_error_set(err, -ECONNRESET, "the monitor closed the connection");
	if (rc < 0)
		return rc;
	if (rx->hdr.type == CIT_MSG_ERROR) {
		int code = rx->body->code < 0 ? rx->body->code : -EIO;
		err->code = code;
		snprintf(err->msg, sizeof(err->msg), "%s", rx->body->text);
		return code;
	}
	if (rx->hdr.type != CIT_MSG_OK)
		return cit_error_set(err, -EPROTO, "unexpected reply from the monitor");
	return 0;
}

int cit_client_reply_data(struct cit_rx *rx, const void **data, size_t *len, void **map)
{
	*map = NULL;
	if (!rx->nfds) {
		*data = rx->data;
		*len = rx->body->data_len;
		return 0;
	}
	int rc = cit_object_check(rx->fds[0], rx->body->obj_len, SIZE_MAX);
	if (rc < 0)
		return rc;
	if (rx->body->obj_len == 0) {
		*data = NULL;
		*len = 0;
		return 0;
	}
	void *m = mmap(NULL, rx->body->obj_len, PROT_READ, MAP_SHARED, rx->fds[0], 0);
	if (m == MAP_FAILED)
		return -errno;
	*map = m;
	*data = m;
	*len = rx->body->obj_len;
	return 0;
}
