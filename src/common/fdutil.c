#include "common/fdutil.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int cit_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cit_write_file(const char *path, const char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return cit_write_all(fd, buf, len);
}

ssize_t cit_read_file(const char *path, char *buf, size_t cap)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t got = 0;
	while (got + 1 < cap) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

int cit_close_fds_except(int lowfd, const int *keep, size_t n_keep)
{
	unsigned from = (unsigned)lowfd;
	for (size_t i = 0; i <= n_keep; i++) {
		unsigned to = i < n_keep ? (unsigned)keep[i] : ~0U;
		if (to > from && syscall(SYS_close_range, from, to - 1, 0) < 0)
			return -errno;
		if (i < n_keep && (unsigned)keep[i] + 1 > from)
			from = (unsigned)keep[i] + 1;
	}
	return 0;
}

int cit_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t n)
{
	union {
		char buf[CMSG_SPACE(CIT_MAX_PASSED_FDS * sizeof(int))];
		struct cmsghdr align;
	} cbuf = { 0 };
	if (n == 0 || n > CIT_MAX_PASSED_FDS)
		return -EINVAL;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	ssize_t sent;
	do
		sent = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return -errno;
	return (size_t)sent == len ? 0 : -EIO;
}

ssize_t cit_recv_msg(int sock, void *buf, size_t cap, int flags, int *fds, size_t max, size_t *n_fds)
{
	union {
		char buf[CMSG_SPACE(CIT_MAX_PASSED_FDS * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	*n_fds = 0;
	if (max > CIT_MAX_PASSED_FDS)
		return -EINVAL;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = sizeof(cbuf.buf) };
	ssize_t got;
	do
		got = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	size_t came = cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS
			      ? (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;
	if (came > max || (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
		for (size_t i = 0; cm && i < came; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
		}
		return -EPROTO;
	}
	if (came)
		memcpy(fds, CMSG_DATA(cm), came * sizeof(int));
	*n_fds = came;
	return got;
}

ssize_t cit_recv_fds(int sock, void *buf, size_t cap, int *fds, size_t n)
{
	if (n == 0)
		return -EINVAL;
	size_t came;
	ssize_t got = cit_recv_msg(sock, buf, cap, 0, fds, n, &came);
	if (got >= 0 && came != n) {
		for (size_t i = 0; i < came; i++)
			close(fds[i]);
		return -EPROTO;
	}
	return got;
}

ssize_t cit_read_all(int fd, void *buf, size_t len)
{
	size_t n = 0;
	while (n < len) {
		ssize_t r = read(fd, (char *)buf + n, len - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}
