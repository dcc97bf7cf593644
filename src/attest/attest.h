/* Attestation (docs/attestation.md): what the monitor measures of itself and of each
 * function, the signed report that says it, and the keys that follow from it. Shared by
 * the monitor (which measures and signs), the CLI (`citadel measure`, which recomputes the
 * measurements from the files alone, and `citadel verify`, which checks a report) and the
 * tests.
 *
 * Measurements (SHA-256, shown as 64 lowercase hex digits):
 *
 *   a function's measurement   SHA-256 of its canonical encoding (cit_fn_encode, spec.h):
 *                              runtime, code and policy (limits, grants)
 *   its code measurement       SHA-256 of cit_fn_encode_code: runtime, environment,
 *                              arguments, code and bundle, not the limits. What a function
 *                              is for its keys and secrets: a new --memory keeps them, new
 *                              code changes them.
 *   the monitor's measurement  SHA-256 of its encoding (cit_monitor_measure):
 *
 *       citadel-monitor 1
 *       NAME sha256:HEX          (each component below, in this order, one line each)
 *
 *     the components: citadeld, then the programs it starts, found beside it
 *     (citadel-zygote, citadel-python, citadel-store, citadel-unpack, citadel-gateway,
 *     citadel-callback), then what the Python runtime loads: "libpython" (the shared
 *     library CIT_LIBPYTHON) and "python-stdlib" (the tree CIT_PYTHON_STDLIB, hashed with
 *     cit_tree_sha256). A component that is missing is "NAME missing" instead of its hash.
 *
 * The report (JSON, UTF-8). The outer object:
 *
 *   {"format": "citadel-report/1",
 *    "body": "<the body: compact JSON, as a string>",
 *    "signature": "<128 hex digits: Ed25519 (libsodium crypto_sign_detached) by the
 *                   monitor's identity key over CIT_REPORT_CONTEXT followed by the body's
 *                   bytes>"}
 *
 * The body (keys as listed; a verifier ignores keys it does not know):
 *
 *   version        1
 *   timestamp      seconds since the epoch, when the monitor signed it
 *   nonce          the nonce asked for, lowercase hex ("" when none was given)
 *   monitor        {"measurement": HEX, "public_key": HEX (its Ed25519 identity key, 64
 *                   hex digits), "version": "citadel X.Y.Z",
 *                   "components": [{"name": NAME, "sha256": HEX or null (missing)}, ...]}
 *   function       null (a report of the monitor alone: `citadel key`, GET /v1/attestation)
 *                  or {"name": NAME, "runtime": NAME, "runtime_version": N,
 *                      "measurement": HEX, "code_measurement": HEX,
 *                      "encoding": the canonical encoding (text; its SHA-256 is the
 *                                  measurement), "policy": {limits and grants, as ls shows}}
 *   sealing_key    with a function: its X25519 public key (64 hex digits) for sealed
 *                  invocations (cit_sealing_seed)
 *   platform       {"type": "none" | "sev-snp" | "tdx", "detail": TEXT, and, where a
 *                   hardware report is attached, "report": BASE64}
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CIT_REPORT_FORMAT "citadel-report/1"
#define CIT_REPORT_CONTEXT "citadel-report/1\n" /* signed before the body: the key signs nothing else */
#define CIT_REPORT_MAX (256u << 10)             /* a report's bytes, at most */
#define CIT_NONCE_MAX 64                        /* a nonce's bytes (128 hex digits) */

/* citadel verify's exit codes, one per kind of failure (docs/attestation.md). */
enum cit_verify_exit {
	CIT_VERIFY_OK = 0,
	CIT_VERIFY_USAGE = 2,        /* bad arguments */
	CIT_VERIFY_MALFORMED = 3,    /* not a report: unreadable, not JSON, fields missing or wrong */
	CIT_VERIFY_WRONG_KEY = 4,    /* signed by another key than the one given */
	CIT_VERIFY_BAD_SIGNATURE = 5,/* the signature does not match the body: tampered */
	CIT_VERIFY_NONCE = 6,        /* not the nonce given (a replayed or another's report) */
	CIT_VERIFY_MEASUREMENT = 7,  /* the function's measurement is not the one expected */
	CIT_VERIFY_MONITOR = 8,      /* the monitor's measurement is not the one expected */
	CIT_VERIFY_STALE = 9,        /* older than --max-age, or signed in the future */
	CIT_VERIFY_FUNCTION = 10,    /* another function's report (or the monitor's alone) than --name */
};

/* The monitor's measurement. bindir is the directory of citadeld and its programs (no
 * trailing '/'); self, when not NULL, is the path to hash as citadeld instead of
 * bindir/citadeld (the monitor gives /proc/self/exe: the program running, not the file as
 * it is now). Writes the digest into out, and when enc is not NULL the encoding (at most
 * cap bytes, NUL-terminated; truncated when longer). Returns 0, or a negative errno with
 * err saying which file could not be read (a missing component is not an error: it is
 * encoded as missing). Reads every component whole: the Python library tree is about 60 MB,
 * half a second. */
int cit_monitor_measure(const char *bindir, const char *self, uint8_t out[32], char *enc, size_t cap,
			struct cit_error *err);

/* SHA-256 of a directory tree: for each entry in pre-order, names sorted by their bytes,
 * a line "f LEN:PATH sha256:HEX" (a regular file), "d LEN:PATH" (a directory) or
 * "l LEN:PATH LEN:TARGET" (a symbolic link; not followed), PATH relative to dir; other
 * types are skipped. Returns 0 or a negative errno with err naming the entry. */
int cit_tree_sha256(const char *dir, uint8_t out[32], struct cit_error *err);

/* The X25519 key pair of a function for sealed invocations: a seed (32 bytes, for
 * libsodium's crypto_box_seed_keypair) derived from the monitor's attestation key (itself
 * derived from the master key), the function's name and its code measurement:
 *
 *   seed = BLAKE2b-256(key = attest_key, "citadel-sealing-key/1" NUL name NUL | code_measurement)
 *
 * Returns 0, or -EINVAL for a name over 63 bytes. */
int cit_sealing_seed(const uint8_t attest_key[32], const char *name, const uint8_t code_measurement[32],
		     uint8_t seed[32]);

/* Sealed invocations (docs/attestation.md): the request the client sends is
 *   crypto_box_seal(client_pk (32) | ctype_len (1) | ctype | body, function's sealing key)
 * and the response it reads is
 *   crypto_box_seal(ctype_len (1) | ctype | body, client_pk)
 * client_pk a key pair the client makes for this call only. */
#define CIT_SEALED_OVERHEAD 48 /* crypto_box_SEALBYTES */
