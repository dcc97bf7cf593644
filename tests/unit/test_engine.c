/* The sealed engine (src/state/engine.c) over the LMDB backend: the operations a function
 * has (get, put, delete, compare-and-swap, scans, batches), its limits, and every attack a
 * backend could make on the records under it: altered, cut, swapped, an older version, a
 * deleted record, the whole store rolled back. Each is attempted on the store's own records
 * (through the backend, beneath the engine) and must fail loudly, never return a wrong
 * value. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/engine.h"
#include "tap.h"

static const uint8_t master[CIT_SEAL_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static char path[64];
static struct cit_backend *b;
static struct cit_engine *e;

static void open_all(void)
{
	struct cit_error err = { 0 };
	struct cit_backend_opts o = { .path = path, .map_bytes = 1u << 20, .map_max = 8u << 20 };
	if (cit_lmdb_open(&b, &o, &err) < 0 || cit_engine_open(&e, b, master, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		exit(1);
	}
}

static void close_all(void)
{
	cit_engine_close(e);
	cit_backend_close(b);
}

static char got_buf[64 << 10];
static size_t got_len;

static void got(void *ctx, struct cit_engine_op *op, const uint8_t *value, size_t len)
{
	(void)ctx, (void)op;
	got_len = len < sizeof(got_buf) ? len : sizeof(got_buf);
	memcpy(got_buf, value, got_len);
}

/* One operation alone: its rc (its version in *version when not NULL). */
static int one(enum cit_engine_kind kind, const char *ns, const char *key, const char *value, bool if_version,
	       uint64_t expect, uint64_t *version)
{
	struct cit_error err = { 0 };
	struct cit_engine_op op = { .kind = kind, .ns = cit_engine_ns(e, ns, &err), .name = key, .nlen = strlen(key),
				    .value = value, .vlen = value ? strlen(value) : 0, .if_version = if_version,
				    .expect = expect };
	got_len = 0;
	memset(got_buf, 0, 64);
	cit_engine_run(e, &op, 1, got, NULL, &err);
	if (version)
		*version = op.version;
	return op.rc;
}

static int put(const char *ns, const char *key, const char *value)
{
	return one(CIT_ENGINE_PUT, ns, key, value, false, 0, NULL);
}

static int get(const char *ns, const char *key)
{
	return one(CIT_ENGINE_GET, ns, key, NULL, false, 0, NULL);
}

static bool got_is(const char *value)
{
	return got_len == strlen(value) && !memcmp(got_buf, value, got_len);
}

/* The backend's key of ns's key. */
static void raw_key(uint8_t out[CIT_BACKEND_KEY_LEN], const char *ns, const char *key)
{
	struct cit_seal_ns k;
	cit_seal_ns_init(&k, master, ns);
	memcpy(out, k.ns_id, CIT_SEAL_ID_LEN);
	cit_seal_id(&k, key, strlen(key), out + CIT_SEAL_ID_LEN);
}

/* The record under ns's key, as the backend holds it, into rec (its length). */
static size_t raw_get(const char *ns, const char *key, uint8_t *rec, size_t cap)
{
	uint8_t k[CIT_BACKEND_KEY_LEN];
	raw_key(k, ns, key);
	size_t len = 0;
	struct cit_error err = { 0 };
	return cit_backend_get(b, k, rec, cap, &len, &err) == 0 ? len : 0;
}

static void raw_put(const char *ns, const char *key, const uint8_t *rec, size_t len)
{
	struct cit_kv_op op = { .kind = len ? CIT_KV_PUT : CIT_KV_DEL, .record = rec, .len = len };
	raw_key(op.key, ns, key);
	struct cit_error err = { 0 };
	cit_backend_apply(b, &op, 1, &err);
}

static void names(void *ctx, const uint8_t *name, size_t nlen, uint64_t version, size_t vlen)
{
	(void)version, (void)vlen;
	char *out = ctx;
	strncat(out, (const char *)name, nlen);
	strcat(out, ",");
}

static void copy_file(const char *from, const char *to)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	if (system(cmd) != 0)
		exit(1);
}

static long checkpoint(uint8_t *buf, size_t cap)
{
	return cit_engine_checkpoint(e, buf, cap);
}

int main(void)
{
	char dir[] = "/tmp/citadel-engine-XXXXXX", copy[96];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/state.mdb", dir);
	snprintf(copy, sizeof(copy), "%s/old.mdb", dir);
	open_all();
	struct cit_error err = { 0 };

	/* The operations. */
	uint64_t v1 = 0, v2 = 0, v = 0;
	tap_ok(get("fn", "k") == -ENOENT, "a missing key: ENOENT");
	tap_ok(one(CIT_ENGINE_PUT, "fn", "k", "one", false, 0, &v1) == 0 && get("fn", "k") == 0 && got_is("one"),
	       "put, then get");
	int rc = one(CIT_ENGINE_PUT, "fn", "k", "two", false, 0, &v2);
	tap_ok(rc == 0 && v2 > v1 && get("fn", "k") == 0 && got_is("two"),
	       "a second put: a newer version (%llu > %llu)", (unsigned long long)v2, (unsigned long long)v1);
	tap_ok(one(CIT_ENGINE_PUT, "fn", "k", "three", true, v1, &v) == -ECANCELED && v == v2 && get("fn", "k") == 0 &&
		       got_is("two"),
	       "compare-and-swap with a stale version fails, saying the current one");
	tap_ok(one(CIT_ENGINE_PUT, "fn", "k", "three", true, v2, &v) == 0 && get("fn", "k") == 0 && got_is("three"),
	       "compare-and-swap with the current version succeeds");
	tap_ok(one(CIT_ENGINE_PUT, "fn", "new", "x", true, 0, NULL) == 0 &&
		       one(CIT_ENGINE_PUT, "fn", "new", "y", true, 0, NULL) == -ECANCELED,
	       "compare-and-swap on version 0: create only if absent");
	tap_ok(one(CIT_ENGINE_DEL, "fn", "new", NULL, false, 0, NULL) == 0 && get("fn", "new") == -ENOENT &&
		       one(CIT_ENGINE_DEL, "fn", "new", NULL, false, 0, NULL) == -ENOENT,
	       "delete; a deleted key is gone; deleting it again: ENOENT");
	tap_ok(put("other", "k", "theirs") == 0 && get("fn", "k") == 0 && got_is("three") && get("other", "k") == 0 &&
		       got_is("theirs"),
	       "namespaces are apart: the same key in two");

	/* A batch: a get sees the puts before it; one transaction. */
	struct cit_ns *ns = cit_engine_ns(e, "fn", &err);
	struct cit_engine_op ops[4] = {
		{ .kind = CIT_ENGINE_PUT, .ns = ns, .name = "a", .nlen = 1, .value = "A", .vlen = 1 },
		{ .kind = CIT_ENGINE_GET, .ns = ns, .name = "a", .nlen = 1 },
		{ .kind = CIT_ENGINE_DEL, .ns = ns, .name = "a", .nlen = 1 },
		{ .kind = CIT_ENGINE_GET, .ns = ns, .name = "a", .nlen = 1 },
	};
	got_len = 0;
	tap_ok(cit_engine_run(e, ops, 4, got, NULL, &err) == 0 && ops[0].rc == 0 && ops[1].rc == 0 && got_is("A") &&
		       ops[2].rc == 0 && ops[3].rc == -ENOENT,
	       "a batch: put, get (sees it), delete, get (gone)");

	/* Limits. */
	char big[2048];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[CIT_STATE_KEY_MAX + 1] = '\0';
	tap_ok(put("fn", big, "v") == -EMSGSIZE, "a key over 1 KiB: EMSGSIZE");
	tap_ok(put("fn", "", "v") == -EINVAL, "an empty key: EINVAL");
	cit_ns_limits(ns, 4096, 100);
	memset(big, 'v', 200);
	big[200] = '\0';
	tap_ok(put("fn", "big", big) == -EMSGSIZE, "a value over the namespace's value limit: EMSGSIZE");
	big[100] = '\0';
	int puts = 0;
	char key[16];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "q%02d", i);
		if (put("fn", key, big) == 0)
			puts++;
	}
	snprintf(key, sizeof(key), "q%02d", puts);
	tap_ok(puts > 30 && puts < 40 && put("fn", key, big) == -EDQUOT && get("fn", key) == -ENOENT,
	       "the quota holds: %d values of 100 bytes in 4 KiB, then EDQUOT", puts);
	tap_ok(put("fn", "q00", "small") == 0, "an overwrite that shrinks fits");
	cit_ns_limits(ns, CIT_STATE_QUOTA, CIT_STATE_VALUE_MAX);

	/* Scans: by prefix, in order, after a name, at most a limit. */
	char list[4096] = "";
	long n = cit_engine_scan(ns, "q0", 2, "q03", 3, 3, names, list, &(const char *){ NULL });
	tap_ok(n == 3 && !strcmp(list, "q04,q05,q06,"), "a scan by prefix, after a name, limited: %s", list);
	list[0] = '\0';
	n = cit_engine_scan(ns, NULL, 0, NULL, 0, 1000, names, list, &(const char *){ NULL });
	tap_ok(n == puts + 1 && !strncmp(list, "k,q00,", 6), "a scan of all the keys (%ld)", n);

	/* Durable: a new engine over the reopened file has it all. */
	close_all();
	open_all();
	tap_ok(get("fn", "k") == 0 && got_is("three") && get("other", "k") == 0 && got_is("theirs") &&
		       get("fn", "a") == -ENOENT,
	       "reopened: the same values");
	struct cit_ns_usage us;
	cit_ns_usage(cit_engine_ns(e, "fn", &err), &us);
	tap_ok(us.keys == (uint64_t)puts + 1 && us.bad == 0 && !cit_ns_failed(cit_engine_ns(e, "fn", &err)),
	       "the namespace loaded sound, %llu keys", (unsigned long long)us.keys);

	/* Tampering, while running. */
	uint8_t rec[4096], rec2[4096];
	size_t len = raw_get("fn", "k", rec, sizeof(rec));
	rec[len - 5] ^= 1;
	raw_put("fn", "k", rec, len);
	tap_ok(get("fn", "k") == -EBADMSG && got_len == 0, "a flipped byte: an integrity error, no value");
	raw_put("fn", "k", rec, len - 3);
	tap_ok(get("fn", "k") == -EBADMSG && got_len == 0, "a truncated record: an integrity error");
	put("fn", "k", "three");
	put("fn", "j", "jay");
	len = raw_get("fn", "k", rec, sizeof(rec));
	size_t len2 = raw_get("fn", "j", rec2, sizeof(rec2));
	raw_put("fn", "k", rec2, len2);
	raw_put("fn", "j", rec, len);
	tap_ok(get("fn", "k") == -EBADMSG && get("fn", "j") == -EBADMSG && got_len == 0,
	       "two values swapped: both are integrity errors");
	put("fn", "k", "old");
	len = raw_get("fn", "k", rec, sizeof(rec));
	put("fn", "k", "new");
	raw_put("fn", "k", rec, len);
	tap_ok(get("fn", "k") == -EBADMSG && got_len == 0, "an older version of a key served: an integrity error");
	raw_put("fn", "k", NULL, 0);
	tap_ok(get("fn", "k") == -EBADMSG, "a record deleted beneath: an integrity error, not 'no such key'");
	put("fn", "k", "good");
	put("fn", "j", "good");
	tap_ok(get("fn", "k") == 0 && got_is("good"), "a key written again is sound again");

	/* Tampering found on loading. */
	len = raw_get("fn", "k", rec, sizeof(rec));
	rec[len - 1] ^= 0x80; /* the tag: the record's header, and so the root, stay the same */
	raw_put("fn", "k", rec, len);
	close_all();
	open_all();
	tap_ok(get("fn", "k") == -EBADMSG && get("fn", "j") == 0 && got_is("good"),
	       "reopened with an altered record: that key is an integrity error, the others are sound");
	cit_ns_usage(cit_engine_ns(e, "fn", &err), &us);
	tap_ok(us.bad == 1, "the namespace counts one bad record");
	put("fn", "k", "fixed");
	len = raw_get("fn", "j", rec, sizeof(rec));
	put("fn", "j", "newer");
	raw_put("fn", "j", rec, len); /* an older record of j, beneath, while the monitor is down */
	close_all();
	open_all();
	ns = cit_engine_ns(e, "fn", &err);
	tap_ok(cit_ns_failed(ns) && strstr(cit_ns_failed(ns), "integrity error") && get("fn", "j") == -EBADMSG &&
		       get("fn", "k") == -EBADMSG && put("fn", "z", "z") == -EBADMSG && got_len == 0,
	       "reopened with an older record: the namespace refuses everything: %s", cit_ns_failed(ns));
	tap_ok(get("other", "k") == 0 && got_is("theirs"), "another namespace is unaffected");
	tap_ok(cit_engine_purge(e, ns, &err) == 0 && !cit_ns_failed(ns) && get("fn", "j") == -ENOENT &&
		       put("fn", "j", "again") == 0,
	       "a purge empties the failed namespace, which works again");
	close_all();
	open_all();
	tap_ok(get("fn", "j") == 0 && got_is("again") && !cit_ns_failed(cit_engine_ns(e, "fn", &err)),
	       "and stays sound reopened");
	put("fn", "k", "k");
	raw_put("fn", "k", NULL, 0);
	close_all();
	open_all();
	tap_ok(cit_ns_failed(cit_engine_ns(e, "fn", &err)) != NULL, "reopened with a record deleted: the namespace fails");
	cit_engine_purge(e, cit_engine_ns(e, "fn", &err), &err);

	/* The whole store rolled back to an older copy: found against the checkpoint. */
	static uint8_t ck[1 << 16];
	put("fn", "r", "1");
	close_all();
	copy_file(path, copy); /* the copy the provider keeps */
	open_all();
	put("fn", "r", "2");
	long cklen = checkpoint(ck, sizeof(ck));
	const char *first = NULL;
	tap_ok(cklen > 0 && cit_engine_verify(e, ck, (size_t)cklen, &first, &err) == 0,
	       "the checkpoint of the store as it is verifies");
	close_all();
	copy_file(copy, path);
	open_all();
	tap_ok(get("fn", "r") == 0 && got_is("1"), "without the checkpoint, the old copy cannot be told (the window)");
	close_all();
	open_all();
	int bad = cit_engine_verify(e, ck, (size_t)cklen, &first, &err);
	tap_ok(bad == 1 && first && strstr(first, "rolled back") && get("fn", "r") == -EBADMSG && got_len == 0,
	       "with it, the rolled-back namespace fails: %s", first ? first : err.msg);
	tap_ok(get("other", "k") == 0 && got_is("theirs"), "the namespace not rolled back is sound");
	long ck2 = checkpoint(ck, sizeof(ck));
	close_all();
	open_all();
	tap_ok(cit_engine_verify(e, ck, (size_t)ck2, &first, &err) == 1,
	       "a checkpoint written while it is failed keeps it failed on the next start");
	ck[30] ^= 1;
	tap_ok(cit_engine_verify(e, ck, (size_t)ck2, &first, &err) == -EBADMSG, "an altered checkpoint: %s", err.msg);
	close_all();

	/* A full store: writes fail with ENOSPC, loudly, and nothing of them is kept. */
	unlink(path);
	open_all();
	static char value[CIT_STATE_VALUE_MAX];
	memset(value, 'v', sizeof(value) - 1);
	int stored = 0;
	rc = 0;
	for (int i = 0; i < 64 && rc == 0; i++) {
		snprintf(key, sizeof(key), "big%d", i);
		if ((rc = put("fn", key, value)) == 0)
			stored++;
	}
	tap_ok(rc == -ENOSPC && get("fn", key) == -ENOENT, "a full store: ENOSPC after %d values of 1 MiB", stored);
	tap_ok(get("fn", "big0") == 0 && got_len > 0, "what was stored before still reads");
	close_all();
	unlink(path);
	unlink(copy);
	rmdir(dir);
	return tap_done();
}
