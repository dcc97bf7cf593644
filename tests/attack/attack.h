/* What the attack helper's files share: the verdicts (see attack.c for what each means)
 * and the table row of an attack. */
#pragma once

#include <stddef.h>

#define EXIT_ESCAPED 66
#define EXIT_ERROR 2

/* Each prints one line "VERDICT what" on stdout and returns the exit status to end with. */
__attribute__((format(printf, 1, 2))) int blocked(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) int escaped(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) int done(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) int error(const char *fmt, ...);

/* "EAGAIN" for EAGAIN. */
const char *ename(int e);

/* A number from the command line; a malformed one ends the helper with ERROR. */
long num(const char *s);

struct attack {
	const char *name;
	const char *args; /* names of its arguments, for the usage message */
	int nargs;
	int (*run)(char **argv);
};

/* The attacks on the machine's kernel-wide resources (exhaust.c). */
extern const struct attack exhaust_attacks[];
extern const size_t n_exhaust_attacks;
