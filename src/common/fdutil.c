#include "common/fdutil.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
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
