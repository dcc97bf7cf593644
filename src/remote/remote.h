/* citadel-remote's commands, across its files. */
#pragma once

#include "cli/usage.h"
#include "remote/http.h"

/* remote.c: the gateway of a command: --url (url) or $CITADEL_URL, refused beside --socket
 * (sock); with token not NULL, $CITADEL_TOKEN read into it. Returns 0 with g open, or the
 * exit status (printed). */
int remote_gateway(const char *cmd, const char *url, const char *sock, const char **token, struct gw *g);

/* attest.c: `citadel attest`, `citadel key` (GET /v1/functions/NAME/attestation,
 * /v1/attestation) and `citadel invoke --seal` over HTTP, as cmd_report.c does them on the
 * socket. Each returns the exit status (printed). invoke_sealed takes g (closes it). */
int remote_attest(int argc, char **argv);
int remote_key(int argc, char **argv);
int remote_invoke_sealed(struct gw *g, const struct cit_invoke_args *a, const char *bearer);
