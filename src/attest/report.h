/* Checking a report and sealing an invocation: the client's side of attestation
 * (src/attest/attest.h has the formats), shared by `citadel verify`, `citadel invoke
 * --seal` and citadel-remote (the same over HTTP). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "common/error.h"

/* What the checker expects: the monitor's key (required), and each of the rest when not
 * NULL (or 0): lowercase or uppercase hex. */
struct cit_report_want {
	uint8_t key[32];
	const char *name;                /* the function's: its report, not another's */
	const char *nonce;
	const char *measurement;         /* the function's */
	const char *monitor_measurement;
	uint64_t max_age_s;
};

/* What a report that checks says. */
struct cit_report_seen {
	bool function;                  /* a function's report (else the monitor's alone) */
	char name[64];
	char measurement[65], code_measurement[65], monitor_measurement[65];
	uint8_t sealing_key[32];        /* with function */
	int64_t timestamp;
};

/* Checks the report of len bytes at text against want, in this order: its form
 * (CIT_VERIFY_MALFORMED), whose key signed it (CIT_VERIFY_WRONG_KEY), the signature
 * (CIT_VERIFY_BAD_SIGNATURE), the body's form and the function's encoding against its
 * measurement (CIT_VERIFY_MALFORMED), the function's name (CIT_VERIFY_FUNCTION), the nonce
 * (CIT_VERIFY_NONCE), the function's measurement (CIT_VERIFY_MEASUREMENT), the monitor's
 * (CIT_VERIFY_MONITOR), the age (CIT_VERIFY_STALE: older than max_age_s when set, or
 * signed more than 5 minutes ahead of this clock). Returns CIT_VERIFY_OK with seen filled (it may be NULL), or the first
 * failure's code with err saying, in one line, what differed. body, when not NULL, gets the
 * body's JSON text (malloc'd; the caller frees it) on success. */
enum cit_verify_exit cit_report_check(const char *text, size_t len, const struct cit_report_want *want,
				      struct cit_report_seen *seen, char **body, struct cit_error *err);

/* Parses 64 hex digits (and maybe a newline, as a key file ends) into key. Returns 0 or
 * -EINVAL. */
int cit_hex32(const char *s, size_t len, uint8_t key[32]);

/* A sealed request for the function whose sealing key is fn_pk (attest.h's layout): a new
 * one-time key pair into client_pk and client_sk (wipe it after), *out the ciphertext
 * (malloc'd, *out_len bytes). ctype may be NULL or "". Returns 0, -EINVAL (ctype too long,
 * or fn_pk no usable key: nothing is made), -EFBIG (body over 1 GiB) or -ENOMEM. */
int cit_seal_request(const uint8_t fn_pk[32], const char *ctype, const void *body, size_t len, uint8_t client_pk[32],
		     uint8_t client_sk[32], uint8_t **out, size_t *out_len);

/* Opens a sealed response of len bytes with the call's one-time key pair: *plain is
 * malloc'd (the caller frees it), *body points into it (*blen bytes), ctype gets its
 * content type (128 bytes, NUL-terminated). Returns 0, or -EBADMSG (it does not open, or it
 * is malformed), -ENOMEM. */
int cit_seal_open_response(const uint8_t client_pk[32], const uint8_t client_sk[32], const void *ct, size_t len,
			   uint8_t **plain, const uint8_t **body, size_t *blen, char ctype[128]);
