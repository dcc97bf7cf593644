/* Small fd helpers used by every part of Citadel. All return 0 or a negative errno. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Writes all of buf to path (O_WRONLY|O_CLOEXEC, no create). */
int cit_write_file(const char *path, const char *buf, size_t len);

/* Writes all of buf to fd, retrying on EINTR and short writes. */
int cit_write_all(int fd, const void *buf, size_t len);

/* Reads up to len bytes of fd, retrying on EINTR and short reads: fewer only at its end.
 * Returns how many, or -1 with errno. */
ssize_t cit_read_all(int fd, void *buf, size_t len);

/* Reads up to cap-1 bytes of path into buf and NUL-terminates. Returns bytes read >= 0. */
ssize_t cit_read_file(const char *path, char *buf, size_t cap);

/* Closes every fd >= lowfd except those listed in keep (which must be sorted ascending). */
int cit_close_fds_except(int lowfd, const int *keep, size_t n_keep);

#define CIT_MAX_PASSED_FDS 4

/* Sends buf and n fds (n <= CIT_MAX_PASSED_FDS) in one message (SCM_RIGHTS). Returns 0
 * when all of buf went out, or a negative errno. */
int cit_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t n);

/* Receives one message into buf with at most max fds (received O_CLOEXEC) into fds;
 * *n_fds says how many came. flags go to recvmsg (MSG_DONTWAIT). Returns the bytes
 * received (0 at EOF), or a negative errno: -EPROTO when more than max fds came or the
 * message was truncated (any fds that came are closed). */
ssize_t cit_recv_msg(int sock, void *buf, size_t cap, int flags, int *fds, size_t max, size_t *n_fds);

/* Receives one message into buf carrying exactly n fds (received O_CLOEXEC). Returns the
 * bytes received, or a negative errno: -EPROTO when the fds are not exactly n or the
 * message was truncated (any fds that came are closed). */
ssize_t cit_recv_fds(int sock, void *buf, size_t cap, int *fds, size_t n);
