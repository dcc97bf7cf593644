/* Parsers for the numbers a user types: sizes ("64M") and durations ("1.5", "500ms"). */
#pragma once

#include <stdint.h>

/* Parses a byte size: a whole number with an optional suffix K, M, G, T (powers of 1024,
 * an optional trailing 'i'/'iB'/'B'). Returns 0, -EINVAL on a malformed string, -ERANGE
 * on overflow. */
int cit_parse_size(const char *s, uint64_t *out);

/* Parses a duration into milliseconds: a decimal number of seconds, or with a suffix
 * ms, s, m, h. Returns 0, -EINVAL, or -ERANGE. */
int cit_parse_duration_ms(const char *s, uint64_t *out_ms);

/* Parses a whole number in [min, max]. Returns 0, -EINVAL, or -ERANGE. */
int cit_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a CPU share: a decimal number of CPUs ("1", "0.5", "2") into thousandths of a
 * CPU, 0 meaning no limit. Returns 0, -EINVAL, or -ERANGE (above 1024, or a positive
 * share below 0.01: a CFS quota under 1 ms a period). */
int cit_parse_cpus(const char *s, uint32_t *out_millis);
