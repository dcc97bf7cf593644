/* Usage errors of `citadel CMD`: shared by the CLI and citadel-remote, which speaks for it
 * over HTTP (src/remote/). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	bool seal;                /* --seal (invoke only): sealed to the function's attested key */
	const char *seal_key;     /* --key: the monitor's public key (hex, or a file of it) */
	const char *measurement;  /* --measurement: the function's expected, or NULL */
};

/* Reads invoke's argv into a (borrowed strings); --help prints help. Returns -1 when they
 * are valid, else the exit status: 0 after --help, 2 after a usage error (said). */
int cit_invoke_args(int argc, char **argv, const char *help, struct cit_invoke_args *a);

/* The same for command cmd ("chain invoke"), whose NAME names what (a "function", a
 * "chain"). */
int cit_invoke_args_of(const char *cmd, const char *what, int argc, char **argv, const char *help,
		       struct cit_invoke_args *a);

/* Parses `CMD [NAME] [--nonce HEX] [--socket PATH | --url URL]` (citadel attest, with a
 * NAME or none when named; citadel key, without) into its parts: name ("" without), the nonce's
 * bytes (*nlen of them), sock and url (borrowed, NULL when not given). Returns -1 when
 * valid, else the exit status (0 after --help, 2 after a usage error, said). */
int cit_report_args(int argc, char **argv, const char *cmd, const char *usage, bool named, const char **name,
		    uint8_t nonce[64], size_t *nlen, const char **sock, const char **url);

/* --key's argument (64 hex digits, or a file holding them) into key. Returns 0, or 2 after
 * a usage error said as cmd's. */
int cit_read_key_arg(const char *cmd, const char *arg, uint8_t key[32]);
