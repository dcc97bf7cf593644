/* The sealed engine: functions' key-value state kept in a backend that learns nothing and
 * can change nothing unnoticed (docs/state.md). It seals every record (seal.h) and keeps,
 * in memory, an index of every namespace: each key's name, its version and the first 32
 * bytes of its record (version and nonce), and for the namespace a version counter, a
 * count, the bytes of its keys and values, and a root: the XOR of its records' entries
 * (seal.h), a set hash no one without the master key can compute. A read is believed only
 * when the record the backend returns opens under its key's id and is exactly the one the
 * index names (so an older version of the key, or another record, is an integrity error).
 *
 * In the backend, each namespace has a head record beside its keys' (under a key id of 32
 * zero bytes, sealed as the empty name): its version counter, count, bytes and root,
 * written in the same transaction as every batch of writes. Loading a namespace (on first
 * use, or at start-up for those the last checkpoint names) reads all its records, opens
 * each and checks that together they make the head's root and count: a record deleted,
 * added, or replaced by an older one fails the whole namespace, which then refuses every
 * operation with a clear integrity error until it is purged. A record that is altered or
 * cut fails alone: every read of its key is an integrity error.
 *
 * A checkpoint (cit_engine_checkpoint) is each namespace's version counter and root,
 * sealed under a key derived from the master key; the monitor writes it apart from the
 * backend. Verified at start-up, it detects a store rolled back as a whole (head and all)
 * to a copy older than the checkpoint. A copy taken after the last checkpoint cannot be
 * told from the real store: that is the window (docs/state.md).
 *
 * One thread uses an engine at a time; nothing here blocks except the backend's calls. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "state/backend.h"
#include "state/seal.h"

#define CIT_STATE_VALUE_MAX (1u << 20)        /* default --state-value-max, bytes */
#define CIT_STATE_VALUE_LIMIT (16u << 20)     /* the most it may be set to */
#define CIT_STATE_QUOTA (64ull << 20)         /* default --state-quota: a namespace's keys
					       * and values, bytes */
#define CIT_STATE_KEY_MAX CIT_SEAL_NAME_MAX   /* a key's name: 1 to 1024 bytes, any bytes */

struct cit_engine;
struct cit_ns;

/* Opens an engine over backend b (borrowed: it outlives the engine) with the master key
 * (CIT_SEAL_KEY_LEN bytes, copied). Returns 0 with *out, or -ENOMEM/-ENOSYS with err. */
int cit_engine_open(struct cit_engine **out, struct cit_backend *b, const uint8_t master[CIT_SEAL_KEY_LEN],
		    struct cit_error *err);

/* Forgets every namespace and wipes the keys; NULL does nothing. */
void cit_engine_close(struct cit_engine *e);

/* Namespace name (a function's name), loaded from the backend and checked on first use
 * (above). Returns it (owned by the engine), or NULL with err: -EINVAL (not a name),
 * -ENOMEM, or the backend's error (the namespace is not loaded; the next use tries again).
 * A namespace that failed its checks is returned too: cit_ns_failed says why. */
struct cit_ns *cit_engine_ns(struct cit_engine *e, const char *name, struct cit_error *err);

/* Why the namespace refuses every operation (an integrity error found on loading, or at
 * start-up against the checkpoint), or NULL when it is sound. */
const char *cit_ns_failed(const struct cit_ns *ns);

/* Sets the namespace's limits: its keys' and values' bytes together (quota) and a value's
 * (value_max); 0 leaves one as it is. Defaults: CIT_STATE_QUOTA, CIT_STATE_VALUE_MAX. */
void cit_ns_limits(struct cit_ns *ns, uint64_t quota, uint32_t value_max);

/* The namespace's keys, their bytes (names and values), its version counter, and the keys
 * whose records fail to open (each read of one is an integrity error). */
struct cit_ns_usage {
	uint64_t keys, bytes, version, bad;
};
void cit_ns_usage(const struct cit_ns *ns, struct cit_ns_usage *out);

/* The bytes of key name's value as the index has them (0 for no such key), without reading
 * the backend: what a batch of reads will bring, known ahead. */
size_t cit_engine_value_len(struct cit_ns *ns, const void *name, size_t nlen);

enum cit_engine_kind { CIT_ENGINE_GET, CIT_ENGINE_PUT, CIT_ENGINE_DEL };

/* One operation of a batch (cit_engine_run). The caller fills the inputs, which are
 * borrowed for the call; the engine fills the outputs. */
struct cit_engine_op {
	enum cit_engine_kind kind;
	struct cit_ns *ns;
	const void *name;         /* the key: 1 to CIT_STATE_KEY_MAX bytes */
	size_t nlen;
	const void *value;        /* PUT: vlen bytes */
	size_t vlen;
	bool if_version;          /* PUT, DEL: only if the key's version is expect (0: absent);
				   * a compare-and-swap */
	uint64_t expect;
	/* out */
	int rc;                   /* 0; -ENOENT (GET, DEL: no such key); -ECANCELED (the version
				   * was not expect: version says what it is); -EMSGSIZE (key or
				   * value too long); -EDQUOT (over the namespace's quota);
				   * -EBADMSG (integrity error); -EINVAL; or the backend's error
				   * (-ENOSPC: full), for every write of a batch it could not make
				   * durable and every read of one of them (version 0 then) */
	uint64_t version;         /* GET: the value's; PUT: the new one; DEL: the one deleted;
				   * -ECANCELED: the current one (0: absent) */
	const char *why;          /* rc < 0: a sentence (static, or the namespace's failure) */
	bool staged;              /* GET: answered from a write earlier in the batch */
};

/* Receives a GET's value (len bytes, borrowed for the call) as the batch runs. */
typedef void (*cit_engine_got)(void *ctx, struct cit_engine_op *op, const uint8_t *value, size_t len);

/* Runs the n operations in order; a GET sees the writes before it in the batch. The
 * writes are made durable together, in one backend transaction with the touched
 * namespaces' heads (a group commit), before this returns. Returns 0 (each op's rc says
 * how it went), or the backend's error with err: then no write of the batch was made
 * (their rc say so) and the reads still stand. */
int cit_engine_run(struct cit_engine *e, struct cit_engine_op *ops, size_t n, cit_engine_got got, void *ctx,
		   struct cit_error *err);

/* Calls each(ctx, name, nlen, version, vlen) for the namespace's keys that begin with
 * prefix (plen bytes) and sort after after (alen bytes; none when alen is 0), in byte
 * order, at most limit of them, from the index alone (no backend read). Returns the count,
 * or -ENOMEM, or -EBADMSG with why for a failed namespace. */
long cit_engine_scan(struct cit_ns *ns, const void *prefix, size_t plen, const void *after, size_t alen, size_t limit,
		     void (*each)(void *ctx, const uint8_t *name, size_t nlen, uint64_t version, size_t vlen),
		     void *ctx, const char **why);

/* Deletes every record of the namespace, its head too, durably; the namespace is empty and
 * sound after. Returns 0, or the backend's error with err. */
int cit_engine_purge(struct cit_engine *e, struct cit_ns *ns, struct cit_error *err);

/* The store's key check: a record (under a backend key of 64 0xFF bytes) that only this
 * master key makes. Found and right: 0. Found and wrong, or missing from a store that
 * holds records: -EKEYREJECTED with err (the state was sealed under another key: nothing
 * of it can be read, and nothing must be written over it). An empty store gets it (*fresh
 * then true). Or the backend's error. */
int cit_engine_key_check(struct cit_engine *e, bool *fresh, struct cit_error *err);

/* The checkpoint of every namespace loaded (above) into buf (cap bytes). Returns its
 * length, or -ENOBUFS. */
long cit_engine_checkpoint(struct cit_engine *e, uint8_t *buf, size_t cap);

/* The checkpoint's largest size for the namespaces loaded now. */
size_t cit_engine_checkpoint_size(const struct cit_engine *e);

/* Verifies checkpoint blob (len bytes) against the backend: loads each namespace it names
 * and fails those the store holds an older version of, or another history of. Returns the
 * number failed (each one's cit_ns_failed says why; *first names the first), -EBADMSG
 * when the checkpoint does not open under this master key, or the backend's error. */
int cit_engine_verify(struct cit_engine *e, const uint8_t *blob, size_t len, const char **first,
		      struct cit_error *err);
