/* What the benchmarks' C programs share: the clock they time with, and a connection to the
 * monitor's socket. Header-only: each program is built on its own (meson, or gcc from a
 * benchmark script). */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds: system-wide, so two processes' stamps compare. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A SOCK_SEQPACKET connection to the unix socket at path, or -1. */
static inline int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}
