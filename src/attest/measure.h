/* What measure.c shares beside attest.h's measurements: hashing an open file, for the
 * CLI's `citadel measure`, which hashes a function's code as the monitor does. */
#pragma once

#include <stdint.h>

/* SHA-256 of the whole file at fd (a regular file or a memfd), read with pread from
 * offset 0 to its end in chunks: never mapped (a file cut short under us ends the read,
 * it raises no SIGBUS), the fd's offset left alone. Borrows fd. Returns 0, or a negative
 * errno from pread(). */
int cit_sha256_fd(int fd, uint8_t out[32]);
