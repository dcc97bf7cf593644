/* Scope-based ownership helpers (bubblewrap, systemd, crun). A variable declared with
 * _cleanup_free_ or _cleanup_close_ is released when it goes out of scope unless its
 * ownership is moved on with steal_ptr() / steal_fd(). */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cit_freep(void *p)
{
	free(*(void **)p);
}

static inline void cit_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

#define _cleanup_free_ __attribute__((cleanup(cit_freep)))
#define _cleanup_close_ __attribute__((cleanup(cit_closep)))

#define steal_ptr(pp) ({ __typeof__(*(pp)) _p = *(pp); *(pp) = NULL; _p; })
#define steal_fd(fdp) ({ int _fd = *(fdp); *(fdp) = -1; _fd; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
