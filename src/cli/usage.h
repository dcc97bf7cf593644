/* Usage errors of `citadel CMD`: shared by the CLI and citadel-remote, which speaks for it
 * over HTTP (src/remote/). */
#pragma once

/* A usage error of `citadel CMD`: one line saying what was wrong, then where to look.
 * Returns status (the exit status to stop with). */
__attribute__((format(printf, 3, 4))) int cit_usage_error(const char *cmd, int status, const char *fmt, ...);

/* The usage error for what getopt_long returned (':' a missing value, '?' an unknown
 * option) about argv[optind - 1]; the optstring must start with ':'. Returns status. */
int cit_usage_getopt(const char *cmd, int status, int c, char *const argv[]);

/* `citadel invoke`'s arguments, read the same way over the socket and over --url. */
struct cit_invoke_args {
	const char *name;         /* the function (checked: a valid name) */
	const char *data, *file;  /* --data, --file (not both), or NULL: stdin */
	const char *sock, *url;   /* --socket, --url (not checked against each other here) */
	const char *key;          /* --invoke-key, or NULL */
	const char *content_type; /* --content-type (checked: cit_ctype_ok), or NULL */
};

/* Reads invoke's argv into a (borrowed strings); --help prints help. Returns -1 when they
 * are valid, else the exit status: 0 after --help, 2 after a usage error (said). */
int cit_invoke_args(int argc, char **argv, const char *help, struct cit_invoke_args *a);

/* The same for command cmd ("chain invoke"), whose NAME names what (a "function", a
 * "chain"). */
int cit_invoke_args_of(const char *cmd, const char *what, int argc, char **argv, const char *help,
		       struct cit_invoke_args *a);
