/* The state store's sealing scheme (docs/state.md): what the monitor does to a function's
 * key-value state before any byte of it reaches a backend, so that the backend learns
 * nothing of names or values and can change nothing unnoticed.
 *
 *   namespace key   K_ns   = BLAKE2b-256(key = master key, "citadel-state ns 1" NUL ns)
 *   name key        K_id   = BLAKE2b-256(key = K_ns, "name")
 *   value key       K_val  = BLAKE2b-256(key = K_ns, "value")
 *   root key        K_root = BLAKE2b-256(key = K_ns, "root")
 *   namespace's id  BLAKE2b-256(key = K_ns, "id"): what the backend sees of a namespace
 *   a key's id      BLAKE2b-256(key = K_id, name): what the backend sees of a name
 *   a record        version (8 bytes, little-endian) | nonce (24, random) |
 *                   XChaCha20-Poly1305-IETF(K_val, nonce, plaintext, associated data)
 *   its plaintext   the name's length (2 bytes, little-endian) | the name | the value
 *   associated data "citadel-state 1" NUL ns NUL | the key's id | version
 *   an entry        BLAKE2b-256(key = K_root, id | version | nonce): one record's part of
 *                   its namespace's root (the XOR of its entries, engine.h)
 *
 * The namespace key follows the namespace's name, not a function's code (its measurement),
 * so a redeployed function keeps its state. The associated data binds the namespace, the
 * key and the version: a record moved to another key or namespace, altered, or cut fails to
 * open; an older record of the same key opens, and says its older version, which the caller
 * compares with the version it knows (engine.h). The name travels sealed inside its record,
 * so the monitor can rebuild its index of names from the backend alone. Pure functions of
 * their arguments (libsodium), no I/O; keys are wiped by the caller (cit_seal_wipe). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define CIT_SEAL_KEY_LEN 32
#define CIT_SEAL_ID_LEN 32
#define CIT_SEAL_OVERHEAD (8 + 24 + 2 + 16) /* a record's bytes beyond its name's and value's */
#define CIT_SEAL_NS_MAX 63            /* a namespace's name (a function's name) */
#define CIT_SEAL_NAME_MAX 1024        /* a key's name */

/* A namespace's keys, derived from the master key. Plain data: wipe it when done. */
struct cit_seal_ns {
	char ns[CIT_SEAL_NS_MAX + 1];
	uint8_t ns_id[CIT_SEAL_ID_LEN];
	uint8_t id_key[CIT_SEAL_KEY_LEN];
	uint8_t value_key[CIT_SEAL_KEY_LEN];
	uint8_t root_key[CIT_SEAL_KEY_LEN];
};

/* A record opened in place: pointers into the record's own bytes. */
struct cit_unsealed {
	const uint8_t *name;
	size_t nlen;
	const uint8_t *value;
	size_t vlen;
	uint64_t version;
};

/* Derives namespace ns's keys from master (CIT_SEAL_KEY_LEN bytes) into out. Returns 0, or
 * -EINVAL for a namespace name that is empty or longer than CIT_SEAL_NS_MAX, -ENOSYS when
 * libsodium cannot start. */
int cit_seal_ns_init(struct cit_seal_ns *out, const uint8_t master[CIT_SEAL_KEY_LEN], const char *ns);

/* The backend's id of key name (len bytes, at most CIT_SEAL_NAME_MAX) into id. Returns 0
 * or -EINVAL. */
int cit_seal_id(const struct cit_seal_ns *k, const void *name, size_t len, uint8_t id[CIT_SEAL_ID_LEN]);

/* Seals value (vlen bytes) as version of key name (nlen bytes, whose id is id: the
 * caller's cit_seal_id) into out (cap bytes, at least CIT_SEAL_OVERHEAD + nlen + vlen).
 * Returns the record's length, or -EINVAL (a name too long), -ENOBUFS (cap too small). */
long cit_seal_value(const struct cit_seal_ns *k, const uint8_t id[CIT_SEAL_ID_LEN], const void *name, size_t nlen,
		    uint64_t version, const void *value, size_t vlen, uint8_t *out, size_t cap);

/* Opens record (rlen bytes), stored under id, in place: its bytes after the first 32 are
 * overwritten with the plaintext, which *out points into. Returns 0, or -EBADMSG when the
 * record is not one sealed under id in this namespace, or was altered or cut (an integrity
 * error: the record's bytes after the first 32 are zeros then, never plaintext). */
int cit_seal_open(const struct cit_seal_ns *k, const uint8_t id[CIT_SEAL_ID_LEN], uint8_t *record, size_t rlen,
		  struct cit_unsealed *out);

/* The record's entry (above) into out, from its first 32 bytes (version and nonce), which
 * cit_seal_open leaves as they were. */
void cit_seal_entry(const struct cit_seal_ns *k, const uint8_t id[CIT_SEAL_ID_LEN], const uint8_t *record,
		    uint8_t out[CIT_SEAL_ID_LEN]);

/* Wipes a namespace's keys. */
void cit_seal_wipe(struct cit_seal_ns *k);
