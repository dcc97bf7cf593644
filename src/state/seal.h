/* The state store's sealing scheme (docs/state.md, to come with the store): what the
 * monitor does to a function's key-value state before any byte of it reaches a backend,
 * so that the backend learns nothing of names or values and can change nothing unnoticed.
 *
 *   namespace key   K_ns  = BLAKE2b-256(key = master key, "citadel-state ns 1" NUL ns)
 *   name key        K_id  = BLAKE2b-256(key = K_ns, "name")
 *   value key       K_val = BLAKE2b-256(key = K_ns, "value")
 *   a key's id      BLAKE2b-256(key = K_id, name): what the backend sees of a name
 *   a value         XChaCha20-Poly1305-IETF(K_val, a random 24-byte nonce, value,
 *                   associated data = "citadel-state 1" NUL ns NUL name NUL version)
 *   a record        version (8 bytes, little-endian) | nonce (24) | ciphertext and tag
 *
 * The namespace key follows the namespace's name, not a function's code (its measurement),
 * so a redeployed function keeps its state. The associated data binds the namespace, the
 * key and the version: a record moved to another key or namespace, altered, or cut fails to
 * open; an older record of the same key opens, and says its older version, which the caller
 * compares with the version it knows (the monitor's index and checkpoint). Pure functions
 * of their arguments (libsodium), no I/O; keys are wiped by the caller (cit_seal_wipe). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define CIT_SEAL_KEY_LEN 32
#define CIT_SEAL_ID_LEN 32
#define CIT_SEAL_OVERHEAD (8 + 24 + 16) /* a record's bytes beyond its value's */
#define CIT_SEAL_NS_MAX 63            /* a namespace's name (a function's name) */
#define CIT_SEAL_NAME_MAX 1024        /* a key's name */

/* A namespace's keys, derived from the master key. Plain data: wipe it when done. */
struct cit_seal_ns {
	char ns[CIT_SEAL_NS_MAX + 1];
	uint8_t id_key[CIT_SEAL_KEY_LEN];
	uint8_t value_key[CIT_SEAL_KEY_LEN];
};

/* Derives namespace ns's keys from master (CIT_SEAL_KEY_LEN bytes) into out. Returns 0, or
 * -EINVAL for a namespace name that is empty or longer than CIT_SEAL_NS_MAX, -ENOSYS when
 * libsodium cannot start. */
int cit_seal_ns_init(struct cit_seal_ns *out, const uint8_t master[CIT_SEAL_KEY_LEN], const char *ns);

/* The backend's id of key name (len bytes, at most CIT_SEAL_NAME_MAX) into id. Returns 0
 * or -EINVAL. */
int cit_seal_id(const struct cit_seal_ns *k, const void *name, size_t len, uint8_t id[CIT_SEAL_ID_LEN]);

/* Seals value (vlen bytes) as version of key name into out (cap bytes, at least vlen +
 * CIT_SEAL_OVERHEAD). Returns the record's length, or -EINVAL (a name too long),
 * -ENOBUFS (cap too small). */
long cit_seal_value(const struct cit_seal_ns *k, const void *name, size_t nlen, uint64_t version,
		    const void *value, size_t vlen, uint8_t *out, size_t cap);

/* Opens record (rlen bytes) as key name's into value (cap bytes, at least rlen -
 * CIT_SEAL_OVERHEAD), its version in *version. Returns the value's length, or -EBADMSG
 * when the record is not name's in this namespace, or was altered or cut (an integrity
 * error: value holds zeros then, never a byte of the record), -EINVAL, -ENOBUFS. */
long cit_seal_open(const struct cit_seal_ns *k, const void *name, size_t nlen, const uint8_t *record, size_t rlen,
		   uint8_t *value, size_t cap, uint64_t *version);

/* Wipes a namespace's keys. */
void cit_seal_wipe(struct cit_seal_ns *k);
