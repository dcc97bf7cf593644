/* Where sealed state is kept: a backend stores opaque records under opaque keys and knows
 * nothing else (seal.h makes both: a key is a namespace's id and a key's id, a record is a
 * sealed value). A backend is a table of the four operations below: embedded LMDB is the
 * first (lmdb.c, run in the store process), the store process seen from the monitor the
 * second (store.h); a replicated store (etcd) is to implement the same four. A backend trusts nothing it is given and is trusted
 * with nothing: what it returns is opened (seal.h) before anyone believes it.
 *
 * Durability: apply() returns once its operations are durable: for LMDB, committed and
 * fsync'd (one fsync for all the operations of one call, so a caller that gathers the
 * writes arriving together commits them as a group). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CIT_BACKEND_KEY_LEN 64        /* a namespace's id (32 bytes), then a key's id (32) */
#define CIT_BACKEND_RECORD_MAX ((16u << 20) + 4096) /* a record's bytes: a 16 MiB value, its key's
						   * name and the sealing's overhead */

struct cit_backend;
struct cit_kv_op;

/* A backend's operations; their contracts are the cit_backend_* calls' below. */
struct cit_backend_ops {
	int (*get)(struct cit_backend *b, const uint8_t key[], uint8_t *buf, size_t cap, size_t *len,
		   struct cit_error *err);
	int (*apply)(struct cit_backend *b, const struct cit_kv_op *ops, size_t n, struct cit_error *err);
	int (*scan)(struct cit_backend *b, const uint8_t *prefix, size_t plen,
		    int (*each)(const uint8_t *key, const uint8_t *record, size_t len, void *ctx), void *ctx,
		    struct cit_error *err);
	void (*close)(struct cit_backend *b);
	int (*get_many)(struct cit_backend *b, const uint8_t (*keys)[CIT_BACKEND_KEY_LEN], size_t n,
			void (*each)(size_t i, int rc, const uint8_t *record, size_t len, void *ctx), void *ctx,
			struct cit_error *err);
};

/* Every backend's struct begins with this. */
struct cit_backend {
	const struct cit_backend_ops *ops;
};

enum cit_kv_kind { CIT_KV_PUT, CIT_KV_DEL };

/* One write of a batch. Borrowed: the bytes are read during apply() only. */
struct cit_kv_op {
	enum cit_kv_kind kind;
	uint8_t key[CIT_BACKEND_KEY_LEN];
	const uint8_t *record;        /* PUT: len bytes */
	size_t len;
};

struct cit_backend_opts {
	const char *path;             /* LMDB: the database file (made 0600 when missing) */
	uint64_t map_bytes;           /* the map it starts with (rounded to pages); 0: 16 MiB */
	uint64_t map_max;             /* it grows, doubling, up to this; then writes fail
				       * with -ENOSPC. 0: 1 GiB */
};

/* Opens the LMDB backend at o->path. Returns 0 with *out, or a negative errno with err
 * saying why (the file, and LMDB's reason). */
int cit_lmdb_open(struct cit_backend **out, const struct cit_backend_opts *o, struct cit_error *err);

/* Copies the record under key into buf (cap bytes), its length in *len. Returns 0,
 * -ENOENT (no such key), -ENOBUFS (cap too small: *len says how much is needed), or
 * another negative errno with err. */
static inline int cit_backend_get(struct cit_backend *b, const uint8_t key[CIT_BACKEND_KEY_LEN], uint8_t *buf,
				  size_t cap, size_t *len, struct cit_error *err)
{
	return b->ops->get(b, key, buf, cap, len, err);
}

/* Reads the records under keys[0..n) at once (one read transaction; for the store process,
 * one round trip), calling each(i, rc, record, len, ctx) for each: rc 0 with the record
 * (borrowed, len bytes, valid during the call only), -ENOENT, or another negative errno.
 * each may be called again for an i after a retry (the store restarted): the last call
 * stands. Returns 0, or a negative errno with err when the reads as a whole failed. */
static inline int cit_backend_get_many(struct cit_backend *b, const uint8_t (*keys)[CIT_BACKEND_KEY_LEN], size_t n,
				       void (*each)(size_t i, int rc, const uint8_t *record, size_t len, void *ctx),
				       void *ctx, struct cit_error *err)
{
	return b->ops->get_many(b, keys, n, each, ctx, err);
}

/* Applies the n operations as one transaction, durable when it returns 0 (a DEL of a key
 * that is not there is no error). All or nothing: on failure none is applied. Returns 0,
 * -ENOSPC when the map cannot grow past o->map_max (err says so), -EMSGSIZE for a record
 * over CIT_BACKEND_RECORD_MAX, or another negative errno with err. */
static inline int cit_backend_apply(struct cit_backend *b, const struct cit_kv_op *ops, size_t n,
				    struct cit_error *err)
{
	return b->ops->apply(b, ops, n, err);
}

/* Calls each(key, record, len, ctx) for every key beginning with prefix (plen bytes, at
 * most CIT_BACKEND_KEY_LEN), in key order, until each returns non-zero (that value is
 * returned). Borrowed: the bytes are valid during the call only. Returns 0, each's value,
 * or a negative errno with err. */
static inline int cit_backend_scan(struct cit_backend *b, const uint8_t *prefix, size_t plen,
				   int (*each)(const uint8_t *key, const uint8_t *record, size_t len, void *ctx),
				   void *ctx, struct cit_error *err)
{
	return b->ops->scan(b, prefix, plen, each, ctx, err);
}

/* Closes it; NULL does nothing. */
static inline void cit_backend_close(struct cit_backend *b)
{
	if (b)
		b->ops->close(b);
}
