/* The LMDB backend of the state store (src/state/lmdb.c): records in and out by key,
 * batches all or nothing, prefix scans, durability across a close, a map that grows and
 * then says it is full. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/backend.h"
#include "tap.h"

static void key_of(uint8_t key[CIT_BACKEND_KEY_LEN], uint8_t ns, uint32_t i)
{
	memset(key, 0, CIT_BACKEND_KEY_LEN);
	key[0] = ns;
	memcpy(key + 32, &i, sizeof(i));
}

static int count(const uint8_t *key, const uint8_t *record, size_t len, void *ctx)
{
	(void)record, (void)len;
	int *n = ctx;
	(*n)++;
	return key[32] == 0xff ? 7 : 0; /* key 255: stop the scan there */
}

int main(void)
{
	char dir[] = "/tmp/citadel-lmdb-XXXXXX", path[64];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/state.mdb", dir);
	struct cit_backend *b = NULL;
	struct cit_error err = { 0 };
	struct cit_backend_opts o = { .path = path, .map_bytes = 1u << 20, .map_max = 4u << 20 };
	tap_ok(cit_lmdb_open(&b, &o, &err) == 0, "opened: %s", err.msg);

	uint8_t rec[4096], out[8192];
	size_t len = 0;
	memset(rec, 'r', sizeof(rec));
	struct cit_kv_op ops[3];
	for (uint32_t i = 0; i < 3; i++) {
		ops[i] = (struct cit_kv_op){ .kind = CIT_KV_PUT, .record = rec, .len = 100 + i };
		key_of(ops[i].key, 1, i);
	}
	tap_ok(cit_backend_apply(b, ops, 3, &err) == 0, "a batch of three puts: %s", err.msg);
	tap_ok(cit_backend_get(b, ops[2].key, out, sizeof(out), &len, &err) == 0 && len == 102 && out[0] == 'r',
	       "a record read back");
	tap_ok(cit_backend_get(b, ops[2].key, out, 10, &len, &err) == -ENOBUFS && len == 102,
	       "a buffer too small says how much is needed");
	uint8_t none[CIT_BACKEND_KEY_LEN];
	key_of(none, 1, 9);
	tap_ok(cit_backend_get(b, none, out, sizeof(out), &len, &err) == -ENOENT, "no such key: -ENOENT");
	/* All or nothing: a batch with a record over the limit changes nothing. */
	struct cit_kv_op bad[2] = { { .kind = CIT_KV_DEL }, { .kind = CIT_KV_PUT, .record = rec,
							     .len = CIT_BACKEND_RECORD_MAX + 1 } };
	memcpy(bad[0].key, ops[0].key, CIT_BACKEND_KEY_LEN);
	key_of(bad[1].key, 1, 5);
	tap_ok(cit_backend_apply(b, bad, 2, &err) == -EMSGSIZE &&
		       cit_backend_get(b, ops[0].key, out, sizeof(out), &len, &err) == 0,
	       "a batch refused is not applied in part");
	struct cit_kv_op del = { .kind = CIT_KV_DEL };
	memcpy(del.key, ops[0].key, CIT_BACKEND_KEY_LEN);
	tap_ok(cit_backend_apply(b, &del, 1, &err) == 0 && cit_backend_apply(b, &del, 1, &err) == 0 &&
		       cit_backend_get(b, ops[0].key, out, sizeof(out), &len, &err) == -ENOENT,
	       "deleted (twice: no error)");
	/* Scans by prefix: the namespace's keys only, in order, until the callback stops. */
	struct cit_kv_op other = { .kind = CIT_KV_PUT, .record = rec, .len = 1 };
	key_of(other.key, 2, 0);
	cit_backend_apply(b, &other, 1, &err);
	int n = 0;
	uint8_t ns1 = 1;
	tap_ok(cit_backend_scan(b, &ns1, 1, count, &n, &err) == 0 && n == 2, "a prefix scan sees its namespace's 2 keys");
	struct cit_kv_op stop = { .kind = CIT_KV_PUT, .record = rec, .len = 1 };
	key_of(stop.key, 1, 255);
	cit_backend_apply(b, &stop, 1, &err);
	n = 0;
	tap_ok(cit_backend_scan(b, &ns1, 1, count, &n, &err) == 7 && n == 3, "a scan ends when its callback says so");
	/* Durable: closed and opened again, the records are there. */
	cit_backend_close(b);
	b = NULL;
	tap_ok(cit_lmdb_open(&b, &o, &err) == 0 && cit_backend_get(b, ops[1].key, out, sizeof(out), &len, &err) == 0 &&
		       len == 101, "the records survive a close: %s", err.msg);
	/* The map grows from 1 MiB to its maximum of 4, then the store says it is full. */
	int rc = 0;
	uint32_t put = 0;
	for (uint32_t i = 1000; i < 3000 && rc == 0; i++) {
		struct cit_kv_op p = { .kind = CIT_KV_PUT, .record = rec, .len = sizeof(rec) };
		key_of(p.key, 3, i);
		rc = cit_backend_apply(b, &p, 1, &err);
		put += rc == 0;
	}
	tap_ok(rc == -ENOSPC && strstr(err.msg, "full") && strstr(err.msg, "4 MiB") && put > 300,
	       "the map grew past 1 MiB (%u records of 4 KiB), then: %s", put, err.msg);
	tap_ok(cit_backend_get(b, ops[1].key, out, sizeof(out), &len, &err) == 0, "a full store still reads");
	cit_backend_close(b);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
