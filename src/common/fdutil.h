/* Small fd helpers used by every part of Citadel. All return 0 or a negative errno. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Writes all of buf to path (O_WRONLY|O_CLOEXEC, no create). */
int cit_write_file(const char *path, const char *buf, size_t len);

/* Writes all of buf to fd, retrying on EINTR and short writes. */
int cit_write_all(int fd, const void *buf, size_t len);

/* Reads up to cap-1 bytes of path into buf and NUL-terminates. Returns bytes read >= 0. */
ssize_t cit_read_file(const char *path, char *buf, size_t cap);

/* Closes every fd >= lowfd except those listed in keep (which must be sorted ascending). */
int cit_close_fds_except(int lowfd, const int *keep, size_t n_keep);
