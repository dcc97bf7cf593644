/* Data objects: bytes written once by their producer into a memfd that is then sealed
 * (F_SEAL_WRITE, SHRINK, GROW, SEAL), so every holder sees the same immutable bytes. They
 * carry large requests and responses between clients, the monitor and trustlets without a
 * copy: the fd is passed on, never the bytes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Makes a data object holding len bytes of data: a sealed memfd. Returns the fd or a
 * negative errno. */
int cit_object_create(const void *data, size_t len);

/* Checks that fd is a sealed data object of exactly len bytes, at most max. Returns 0,
 * -EPERM (not sealed), -EMSGSIZE (over max) or -EPROTO (wrong size). */
int cit_object_check(int fd, uint64_t len, uint64_t max);

/* Checks fd as cit_object_check does (any size up to max), then maps its len bytes
 * read-only: *data points at them (NULL when len is 0), and *map is what to munmap (len
 * bytes) afterwards, or NULL. A sealed object cannot shrink under the mapping, so reading
 * it never faults. Returns 0, a check's error, or a negative errno from mmap. */
int cit_object_map(int fd, uint64_t len, uint64_t max, const void **data, void **map);
