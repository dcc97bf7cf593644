/* A function that drives the key-value API (citadel/function.h, ABI 4) from its request:
 * one command per line, one answer line per command ("ok ..." or "err CODE text"):
 *   get K | put K V | cas K EXPECT V | del K | scan PREFIX [AFTER [MAX]]
 *   incr K N          N compare-and-swap increments of the decimal value of K
 *   big K BYTES       put BYTES bytes of 'x' as K's value
 *   size K            the length of K's value
 *   batch N           N puts (bk0..) and N gets in two batches
 *   use NS get K | use NS put K V | use NS scan PREFIX   the same on namespace NS
 *   raw               a batch of 1025 operations (refused whole)
 *   lock K MS | unlock K | drop K      take a lock (lease MS), release it, release dropping
 *   lincr K N         N increments of K, each under the lock on K
 *   sleep MS
 *   pbg K V BYTES     one batch: put K V, put K2 of BYTES, get K (each op's code)
 *   many K N          one batch of N gets of K
 * Used by tests/functional/test_state.py. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <citadel/function.h>

static char out[1 << 20];
static size_t used;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + used, sizeof(out) - used, fmt, ap);
	va_end(ap);
	if (n > 0)
		used += (size_t)n < sizeof(out) - used ? (size_t)n : sizeof(out) - used - 1;
}

static void fail(int rc)
{
	say("err %d %s\n", rc, cit_kv_error());
}

static void one(char *line)
{
	char *w[6] = { 0 };
	int n = 0;
	for (char *t = strtok(line, " "); t && n < 6; t = strtok(NULL, " "))
		w[n++] = t;
	if (!n)
		return;
	const char *ns = NULL;
	if (!strcmp(w[0], "use") && n >= 3) {
		ns = w[1];
		memmove(w, w + 2, 4 * sizeof(*w));
		n -= 2;
	}
	const void *v;
	size_t vlen;
	uint64_t ver = 0;
	int rc;
	if (ns && !strcmp(w[0], "get") && n == 2) {
		struct cit_kv_op op = { .kind = CIT_KV_GET, .key = w[1], .klen = strlen(w[1]) };
		rc = cit_kv_batch(ns, &op, 1);
		if (rc == 0 && op.rc == 0)
			say("ok %.*s %" PRIu64 "\n", (int)op.vlen, (const char *)op.value, op.version);
		else
			say("err %d %s\n", rc ? rc : op.rc, rc ? cit_kv_error() : op.error);
	} else if (ns && !strcmp(w[0], "put") && n == 3) {
		struct cit_kv_op op = { .kind = CIT_KV_PUT, .key = w[1], .klen = strlen(w[1]), .value = w[2],
					.vlen = strlen(w[2]) };
		rc = cit_kv_batch(ns, &op, 1);
		if (rc == 0 && op.rc == 0)
			say("ok %" PRIu64 "\n", op.version);
		else
			say("err %d %s\n", rc ? rc : op.rc, rc ? cit_kv_error() : op.error);
	} else if (!strcmp(w[0], "get") && n == 2) {
		if ((rc = cit_kv_get(w[1], strlen(w[1]), &v, &vlen, &ver)) == 0)
			say("ok %.*s %" PRIu64 "\n", (int)vlen, (const char *)v, ver);
		else
			fail(rc);
	} else if (!strcmp(w[0], "put") && n == 3) {
		if ((rc = cit_kv_put(w[1], strlen(w[1]), w[2], strlen(w[2]), &ver)) == 0)
			say("ok %" PRIu64 "\n", ver);
		else
			fail(rc);
	} else if (!strcmp(w[0], "cas") && n == 4) {
		rc = cit_kv_cas(w[1], strlen(w[1]), strtoull(w[2], NULL, 10), w[3], strlen(w[3]), &ver);
		if (rc == 0)
			say("ok %" PRIu64 "\n", ver);
		else
			say("err %d version=%" PRIu64 " %s\n", rc, ver, cit_kv_error());
	} else if (!strcmp(w[0], "del") && n == 2) {
		if ((rc = cit_kv_delete(w[1], strlen(w[1]))) == 0)
			say("ok\n");
		else
			fail(rc);
	} else if (!strcmp(w[0], "scan") && n >= 2) {
		static struct cit_kv_name names[1000];
		size_t got = 0, max = n >= 4 ? strtoul(w[3], NULL, 10) : 1000;
		const char *prefix = strcmp(w[1], "-") ? w[1] : "";
		const char *after = n >= 3 && strcmp(w[2], "-") ? w[2] : "";
		rc = ns ? cit_kv_scan_in(ns, prefix, strlen(prefix), after, strlen(after), names, max, &got)
			: cit_kv_scan(prefix, strlen(prefix), after, strlen(after), names, max, &got);
		if (rc < 0) {
			fail(rc);
			return;
		}
		say("ok");
		for (size_t i = 0; i < got; i++)
			say("%c%.*s", i ? ',' : ' ', (int)names[i].nlen, (const char *)names[i].name);
		say("\n");
	} else if (!strcmp(w[0], "incr") && n == 3) {
		long times = strtol(w[2], NULL, 10), conflicts = 0;
		for (long i = 0; i < times; i++) {
			for (;;) {
				uint64_t cur = 0;
				long value = 0;
				rc = cit_kv_get(w[1], strlen(w[1]), &v, &vlen, &cur);
				if (rc == 0)
					value = strtol((const char *)v, NULL, 10); /* digits, then the end */
				else if (rc != -ENOENT)
					return fail(rc);
				char next[32];
				int len = snprintf(next, sizeof(next), "%ld", value + 1);
				rc = cit_kv_cas(w[1], strlen(w[1]), cur, next, (size_t)len + 1, NULL);
				if (rc == 0)
					break;
				if (rc != -ECANCELED)
					return fail(rc);
				conflicts++;
			}
		}
		say("ok conflicts=%ld\n", conflicts);
	} else if (!strcmp(w[0], "big") && n == 3) {
		size_t len = strtoull(w[2], NULL, 10);
		char *buf = malloc(len ? len : 1);
		if (!buf)
			return say("err -12 out of memory\n");
		memset(buf, 'x', len);
		rc = cit_kv_put(w[1], strlen(w[1]), buf, len, &ver);
		free(buf);
		if (rc == 0)
			say("ok %" PRIu64 "\n", ver);
		else
			fail(rc);
	} else if (!strcmp(w[0], "size") && n == 2) {
		if ((rc = cit_kv_get(w[1], strlen(w[1]), &v, &vlen, NULL)) == 0)
			say("ok %zu\n", vlen);
		else
			fail(rc);
	} else if (!strcmp(w[0], "batch") && n == 2) {
		size_t k = strtoul(w[1], NULL, 10);
		struct cit_kv_op *ops = calloc(k, sizeof(*ops));
		static char keys[1024][16];
		for (size_t i = 0; i < k && i < 1024; i++) {
			snprintf(keys[i], sizeof(keys[i]), "bk%zu", i);
			ops[i] = (struct cit_kv_op){ .kind = CIT_KV_PUT, .key = keys[i], .klen = strlen(keys[i]),
						     .value = keys[i], .vlen = strlen(keys[i]) };
		}
		rc = cit_kv_batch(NULL, ops, k);
		size_t good = 0;
		for (size_t i = 0; rc == 0 && i < k; i++)
			ops[i] = (struct cit_kv_op){ .kind = CIT_KV_GET, .key = keys[i], .klen = strlen(keys[i]) };
		if (rc == 0)
			rc = cit_kv_batch(NULL, ops, k);
		for (size_t i = 0; rc == 0 && i < k; i++)
			good += ops[i].rc == 0 && ops[i].vlen == strlen(keys[i]) && !memcmp(ops[i].value, keys[i], ops[i].vlen);
		free(ops);
		if (rc < 0)
			fail(rc);
		else
			say("ok %zu\n", good);
	} else if (!strcmp(w[0], "lock") && n == 3) {
		if ((rc = cit_kv_lock(w[1], strlen(w[1]), (unsigned)strtoul(w[2], NULL, 10))) == 0)
			say("ok\n");
		else
			fail(rc);
	} else if ((!strcmp(w[0], "unlock") || !strcmp(w[0], "drop")) && n == 2) {
		if ((rc = cit_kv_unlock(w[1], strlen(w[1]), !strcmp(w[0], "drop"))) == 0)
			say("ok\n");
		else
			fail(rc);
	} else if (!strcmp(w[0], "lincr") && n == 3) {
		long times = strtol(w[2], NULL, 10);
		for (long i = 0; i < times; i++) {
			long value = 0;
			if ((rc = cit_kv_lock(w[1], strlen(w[1]), 5000)) < 0)
				return fail(rc);
			rc = cit_kv_get(w[1], strlen(w[1]), &v, &vlen, NULL);
			if (rc == 0)
				value = strtol((const char *)v, NULL, 10);
			else if (rc != -ENOENT)
				return fail(rc);
			char next[32];
			int len = snprintf(next, sizeof(next), "%ld", value + 1);
			if ((rc = cit_kv_put(w[1], strlen(w[1]), next, (size_t)len + 1, NULL)) < 0 ||
			    (rc = cit_kv_unlock(w[1], strlen(w[1]), 0)) < 0)
				return fail(rc);
		}
		say("ok\n");
	} else if (!strcmp(w[0], "pbg") && n == 4) {
		size_t len = strtoull(w[3], NULL, 10);
		char *buf = calloc(1, len ? len : 1);
		struct cit_kv_op ops[3] = {
			{ .kind = CIT_KV_PUT, .key = w[1], .klen = strlen(w[1]), .value = w[2], .vlen = strlen(w[2]) },
			{ .kind = CIT_KV_PUT, .key = "pbg-big", .klen = 7, .value = buf, .vlen = len },
			{ .kind = CIT_KV_GET, .key = w[1], .klen = strlen(w[1]) },
		};
		rc = cit_kv_batch(NULL, ops, 3);
		free(buf);
		if (rc < 0)
			return fail(rc);
		say("ok %d %d %d %.*s\n", ops[0].rc, ops[1].rc, ops[2].rc, ops[2].rc ? 0 : (int)ops[2].vlen,
		    (const char *)ops[2].value);
	} else if (!strcmp(w[0], "many") && n == 3) {
		size_t k = strtoul(w[2], NULL, 10);
		struct cit_kv_op *ops = calloc(k ? k : 1, sizeof(*ops));
		for (size_t i = 0; i < k; i++)
			ops[i] = (struct cit_kv_op){ .kind = CIT_KV_GET, .key = w[1], .klen = strlen(w[1]) };
		rc = cit_kv_batch(NULL, ops, k);
		free(ops);
		if (rc < 0)
			return fail(rc);
		say("ok\n");
	} else if (!strcmp(w[0], "sleep") && n == 2) {
		long ms = strtol(w[1], NULL, 10);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		say("ok\n");
	} else if (!strcmp(w[0], "raw")) {
		static struct cit_kv_op ops[1025];
		for (size_t i = 0; i < 1025; i++)
			ops[i] = (struct cit_kv_op){ .kind = CIT_KV_GET, .key = "k", .klen = 1 };
		rc = cit_kv_batch(NULL, ops, 1025);
		say("err %d %s\n", rc, cit_kv_error());
	} else {
		say("err -22 unknown command %s\n", w[0]);
	}
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	used = 0;
	char *text = malloc(req->len + 1);
	if (!text)
		return cit_fail(resp, -ENOMEM, "out of memory"), 0;
	memcpy(text, req->data, req->len);
	text[req->len] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		one(line);
	free(text);
	cit_respond(resp, out, used);
	return 0;
}
