/* Key-value operations as bytes: a STATE message's batch (from a function's runtime, or
 * KV's from `citadel kv`) and its answer, the results. Shared by the runtime, the CLI and
 * the monitor, which checks every batch whole (cit_state_check) before it believes any
 * byte of it. No I/O.
 *
 * A batch: n operations, each a struct cit_state_op, then its key (klen bytes), then its
 * value (vlen bytes), then zero bytes to a multiple of 8:
 *   GET   key                       -> the value, and its version
 *   PUT   key, value                -> the new version; with CIT_STATE_IF_VERSION, only
 *                                      if the key's version is expect (0: absent): a
 *                                      compare-and-swap, else -ECANCELED and the version
 *   DEL   key                       -> the version deleted; CIT_STATE_IF_VERSION likewise
 *   SCAN  key = a prefix (may be empty), value = the name to list after (may be empty),
 *         limit = names at most    -> the names (below), in byte order
 *   LOCK  key, limit = the lease in milliseconds (1 to CIT_STATE_LEASE_MAX_MS): a batch
 *         of its own; answered once the lock is the caller's (or -ETIMEDOUT at the call's
 *         deadline)
 *   UNLOCK key; with CIT_STATE_DISCARD the writes made under the lock are dropped, else
 *         they are made, together, now (release consistency): a batch of its own
 * The answer: a struct cit_state_result per operation, then len bytes (GET: the value;
 * SCAN: the names; a failure: its reason, text), then zeros to a multiple of 8. A SCAN's
 * names: each a struct cit_state_name, then its bytes, then zeros to a multiple of 8. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define CIT_STATE_OPS_MAX 1024u       /* operations in one batch */
#define CIT_STATE_KEY_BYTES 1024      /* a key's name, at most */
#define CIT_STATE_SCAN_MAX 1000u      /* names one SCAN lists at most */
#define CIT_STATE_BATCH_MAX (64u << 20) /* a batch's bytes, and an answer's */

enum cit_state_kind {
	CIT_STATE_GET = 1,
	CIT_STATE_PUT = 2,
	CIT_STATE_DEL = 3,
	CIT_STATE_SCAN = 4,
	CIT_STATE_LOCK = 5,
	CIT_STATE_UNLOCK = 6,
};
#define CIT_STATE_IF_VERSION 0x1u
#define CIT_STATE_DISCARD 0x2u        /* UNLOCK: drop the writes made under the lock */
#define CIT_STATE_LEASE_MAX_MS 600000u /* a lock's lease, at most (10 minutes) */

struct cit_state_op {
	uint16_t kind;            /* enum cit_state_kind */
	uint16_t flags;           /* CIT_STATE_IF_VERSION (PUT, DEL), CIT_STATE_DISCARD (UNLOCK) */
	uint32_t klen;            /* 1 to 1024 (SCAN: 0 to 1024) */
	uint32_t vlen;            /* PUT: the value's bytes; SCAN: the name to list after's
				   * (at most 1024); else 0 */
	uint32_t limit;           /* SCAN: 1 to CIT_STATE_SCAN_MAX; LOCK: the lease, ms; else 0 */
	uint64_t expect;          /* with CIT_STATE_IF_VERSION: the version expected */
};

struct cit_state_result {
	int32_t rc;               /* 0 or a negative errno (engine.h's, per operation) */
	uint32_t len;             /* the bytes after it */
	uint64_t version;
};

struct cit_state_name {
	uint32_t nlen;
	uint32_t vlen;            /* its value's bytes */
	uint64_t version;
};

/* A growable buffer of bytes (owned: free p). */
struct cit_wbuf {
	uint8_t *p;
	size_t len, cap;
};

/* Appends len bytes of data (zeros when data is NULL), then zeros to a multiple of 8 when
 * pad. Returns 0, or -ENOMEM (the
 * buffer is unchanged), or -E2BIG past CIT_STATE_BATCH_MAX. */
int cit_wbuf_put(struct cit_wbuf *b, const void *data, size_t len, int pad);

/* Appends one operation (key and value as above). Returns cit_wbuf_put's. */
int cit_state_add_op(struct cit_wbuf *b, const struct cit_state_op *op, const void *key, const void *value);

/* Appends one result with its len bytes. Returns cit_wbuf_put's. */
int cit_state_add_result(struct cit_wbuf *b, int32_t rc, uint64_t version, const void *data, size_t len);

/* An operation of a batch, as read: pointers into the batch's bytes. */
struct cit_state_item {
	struct cit_state_op op;
	const uint8_t *key;
	const uint8_t *value;
};

/* Checks len bytes at p as a batch of exactly n operations (1 to CIT_STATE_OPS_MAX), each
 * within the bounds above, padding zero, nothing after. Returns 0, or -EPROTO with *why a
 * sentence. */
int cit_state_check(const void *p, size_t len, uint32_t n, const char **why);

/* The next operation of a batch cit_state_check accepted, from *at (0 first). Returns 1
 * with *it filled, 0 at the end. */
int cit_state_next(const void *p, size_t len, size_t *at, struct cit_state_item *it);

/* The next result of an answer of len bytes at p, from *at: 1 with *r and *data (len bytes
 * of it) filled, 0 at the end, -EPROTO when it is not a well-formed answer. */
int cit_state_next_result(const void *p, size_t len, size_t *at, struct cit_state_result *r, const uint8_t **data);

/* The next name of a SCAN's bytes, likewise. */
int cit_state_next_name(const void *p, size_t len, size_t *at, struct cit_state_name *n, const uint8_t **name);
