/* The LMDB backend (backend.h): one database file, one unnamed database, keys of
 * CIT_BACKEND_KEY_LEN bytes. LMDB maps the file and trusts what it finds there, so this
 * code runs in a process of its own (the store), never in the monitor: a corrupted file
 * can crash that process, not the monitor. */
#include "state/backend.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lmdb {
	struct cit_backend base;  /* first: a struct cit_backend * is a struct lmdb * */
	MDB_env *env;
	MDB_dbi dbi;
	uint64_t map, map_max;
	char path[4096];
};

/* An LMDB error as an errno and a message naming the file. */
static int lmdb_error(struct lmdb *b, int rc, const char *what, struct cit_error *err)
{
	int code = rc == MDB_NOTFOUND ? -ENOENT : rc == MDB_MAP_FULL ? -ENOSPC : rc > 0 && rc < 1000 ? -rc : -EIO;
	return cit_error_say(err, code, "%s: %s: %s", b->path, what, mdb_strerror(rc));
}

static const struct cit_backend_ops lmdb_ops;

int cit_lmdb_open(struct cit_backend **out, const struct cit_backend_opts *o, struct cit_error *err)
{
	struct lmdb *b = calloc(1, sizeof(*b));
	if (!b)
		return cit_error_set(err, -ENOMEM, "opening the state store");
	b->base.ops = &lmdb_ops;
	snprintf(b->path, sizeof(b->path), "%s", o->path);
	b->map = o->map_bytes ? o->map_bytes : 16u << 20;
	b->map_max = o->map_max ? o->map_max : 1ull << 30;
	if (b->map > b->map_max)
		b->map = b->map_max;
	int rc = mdb_env_create(&b->env);
	MDB_txn *txn = NULL;
	if (rc == 0)
		rc = mdb_env_set_mapsize(b->env, (size_t)b->map);
	if (rc == 0) /* one file, no lock file beside it: one process (the store) uses it */
		rc = mdb_env_open(b->env, b->path, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(b->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, &b->dbi);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		if (txn)
			mdb_txn_abort(txn);
		int code = lmdb_error(b, rc, "opening", err);
		if (b->env)
			mdb_env_close(b->env);
		free(b);
		return code;
	}
	/* A file larger than the map asked for (it grew before): LMDB took its size. */
	MDB_envinfo info;
	if (mdb_env_info(b->env, &info) == 0 && info.me_mapsize > b->map)
		b->map = info.me_mapsize;
	*out = &b->base;
	return 0;
}

static int lmdb_get(struct cit_backend *base, const uint8_t key[CIT_BACKEND_KEY_LEN], uint8_t *buf, size_t cap,
		    size_t *len, struct cit_error *err)
{
	struct lmdb *b = (struct lmdb *)base;
	MDB_txn *txn;
	int rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return lmdb_error(b, rc, "reading", err);
	MDB_val k = { CIT_BACKEND_KEY_LEN, (void *)key }, v;
	rc = mdb_get(txn, b->dbi, &k, &v);
	int ret = 0;
	if (rc == MDB_NOTFOUND) {
		ret = -ENOENT;
	} else if (rc != 0) {
		ret = lmdb_error(b, rc, "reading", err);
	} else {
		*len = v.mv_size;
		if (v.mv_size > cap)
			ret = -ENOBUFS;
		else
			memcpy(buf, v.mv_data, v.mv_size);
	}
	mdb_txn_abort(txn);
	return ret;
}

/* One attempt at the batch: 0, or LMDB's code (the transaction aborted). */
static int apply_once(struct lmdb *b, const struct cit_kv_op *ops, size_t n)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(b->env, NULL, 0, &txn);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		MDB_val k = { CIT_BACKEND_KEY_LEN, (void *)ops[i].key };
		if (ops[i].kind == CIT_KV_PUT) {
			MDB_val v = { ops[i].len, (void *)ops[i].record };
			rc = mdb_put(txn, b->dbi, &k, &v, 0);
		} else {
			rc = mdb_del(txn, b->dbi, &k, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
		}
	}
	if (rc == 0)
		return mdb_txn_commit(txn); /* fsync'd: durable (no MDB_NOSYNC) */
	if (txn)
		mdb_txn_abort(txn);
	return rc;
}

static int lmdb_apply(struct cit_backend *base, const struct cit_kv_op *ops, size_t n, struct cit_error *err)
{
	struct lmdb *b = (struct lmdb *)base;
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind == CIT_KV_PUT && ops[i].len > CIT_BACKEND_RECORD_MAX)
			return cit_error_say(err, -EMSGSIZE, "a record of %zu bytes: at most %u", ops[i].len,
					     CIT_BACKEND_RECORD_MAX);
	for (;;) {
		int rc = apply_once(b, ops, n);
		if (rc == 0)
			return 0;
		if (rc != MDB_MAP_FULL)
			return lmdb_error(b, rc, "writing", err);
		/* Full: the map doubles, up to its maximum (no transaction is open now). */
		if (b->map >= b->map_max)
			return cit_error_say(err, -ENOSPC, "%s: the state store is full: its map reached its maximum of "
					     "%llu MiB", b->path, (unsigned long long)(b->map_max >> 20));
		uint64_t next = b->map * 2 > b->map_max ? b->map_max : b->map * 2;
		if ((rc = mdb_env_set_mapsize(b->env, (size_t)next)) != 0)
			return lmdb_error(b, rc, "growing the map", err);
		b->map = next;
	}
}

static int lmdb_scan(struct cit_backend *base, const uint8_t *prefix, size_t plen,
		     int (*each)(const uint8_t *key, const uint8_t *record, size_t len, void *ctx), void *ctx,
		     struct cit_error *err)
{
	struct lmdb *b = (struct lmdb *)base;
	if (plen > CIT_BACKEND_KEY_LEN)
		return cit_error_say(err, -EINVAL, "a prefix of %zu bytes: keys have %d", plen, CIT_BACKEND_KEY_LEN);
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	int rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return lmdb_error(b, rc, "scanning", err);
	if ((rc = mdb_cursor_open(txn, b->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		return lmdb_error(b, rc, "scanning", err);
	}
	uint8_t start[CIT_BACKEND_KEY_LEN] = { 0 };
	if (plen)
		memcpy(start, prefix, plen);
	MDB_val k = { plen, start }, v;
	int ret = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen))
			break; /* past the prefix: keys are in byte order */
		/* A key or record no backend user writes (planted in the file): not a record of
		 * ours, skipped, so that it stops neither a scan nor a purge. */
		if (k.mv_size != CIT_BACKEND_KEY_LEN || v.mv_size > CIT_BACKEND_RECORD_MAX)
			continue;
		if ((ret = each(k.mv_data, v.mv_data, v.mv_size, ctx)) != 0)
			break;
	}
	if (rc != 0 && rc != MDB_NOTFOUND && !ret)
		ret = lmdb_error(b, rc, "scanning", err);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

static void lmdb_close(struct cit_backend *base)
{
	struct lmdb *b = (struct lmdb *)base;
	mdb_env_close(b->env);
	free(b);
}

static int lmdb_get_many(struct cit_backend *base, const uint8_t (*keys)[CIT_BACKEND_KEY_LEN], size_t n,
			 void (*each)(size_t i, int rc, const uint8_t *record, size_t len, void *ctx), void *ctx,
			 struct cit_error *err)
{
	struct lmdb *b = (struct lmdb *)base;
	MDB_txn *txn;
	int rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return lmdb_error(b, rc, "reading", err);
	for (size_t i = 0; i < n; i++) {
		MDB_val k = { CIT_BACKEND_KEY_LEN, (void *)keys[i] }, v;
		rc = mdb_get(txn, b->dbi, &k, &v);
		if (rc == 0)
			each(i, 0, v.mv_data, v.mv_size, ctx);
		else
			each(i, rc == MDB_NOTFOUND ? -ENOENT : -EIO, NULL, 0, ctx);
	}
	mdb_txn_abort(txn);
	return 0;
}

static const struct cit_backend_ops lmdb_ops = { lmdb_get, lmdb_apply, lmdb_scan, lmdb_close, lmdb_get_many };
