/* Key-value state for functions (citadel/function.h, ABI 4): each call one STATE request
 * to the monitor, a batch of operations (state/wire.h), whose REPLY carries a result per
 * operation. What comes back is copied into the call's arena, so values and names stay
 * valid until the handler returns. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "citadel/function.h"
#include "proto/proto.h"
#include "state/wire.h"
#include "zygote/runtime.h"

static _Thread_local char kv_error[CIT_TEXT_MAX];

const char *cit_kv_error(void)
{
	return kv_error;
}

/* One operation of a batch as the runtime sends it: the C API's or a SCAN. */
struct op {
	struct cit_state_op wire;
	const void *key, *value;
	struct cit_kv_op *kv;     /* GET, PUT, DEL: where its outcome goes */
	/* SCAN: */
	struct cit_kv_name *names;
	size_t max, *n;
	int rc;
};

struct answer {
	struct op *ops;
	size_t n;
	int rc;                   /* 0, or why the answer could not be taken */
};

/* Text of len bytes, NUL-terminated, in the call's arena (or a fixed text). */
static const char *arena_text(const uint8_t *p, size_t len)
{
	char *t = cit_trustlet_arena(len + 1);
	if (!t)
		return "out of memory";
	memcpy(t, p, len);
	t[len] = '\0';
	return t;
}

static int names_into(struct op *o, const uint8_t *p, size_t len)
{
	size_t at = 0, i = 0;
	struct cit_state_name nm;
	const uint8_t *name;
	int rc;
	while ((rc = cit_state_next_name(p, len, &at, &nm, &name)) == 1 && i < o->max)
		o->names[i++] = (struct cit_kv_name){ name, nm.nlen, nm.vlen, nm.version };
	*o->n = i;
	return rc < 0 ? -EPROTO : 0;
}

/* The REPLY: the results, into the ops. */
static void on_reply(struct cit_rx *rx, void *ctx)
{
	struct answer *a = ctx;
	const struct cit_p_reply *r = CIT_P(rx, cit_p_reply);
	if (r->code < 0) {
		snprintf(kv_error, sizeof(kv_error), "%.*s", (int)rx->data_len, (const char *)rx->data);
		return;
	}
	const void *data = NULL;
	void *map = NULL;
	size_t len = 0;
	if ((a->rc = cit_rx_data(rx, &data, &len, &map)) < 0) {
		snprintf(kv_error, sizeof(kv_error), "the answer could not be read: %s", strerror(-a->rc));
		return;
	}
	uint8_t *copy = cit_trustlet_arena(len ? len : 1);
	if (copy)
		memcpy(copy, data, len);
	if (map)
		munmap(map, len);
	if (!copy) {
		a->rc = -ENOMEM;
		snprintf(kv_error, sizeof(kv_error), "out of memory");
		return;
	}
	size_t at = 0;
	for (size_t i = 0; i < a->n; i++) {
		struct cit_state_result res;
		const uint8_t *p;
		if (cit_state_next_result(copy, len, &at, &res, &p) != 1) {
			a->rc = -EPROTO;
			snprintf(kv_error, sizeof(kv_error), "the monitor's answer is not one result per operation");
			return;
		}
		struct op *o = &a->ops[i];
		o->rc = res.rc;
		if (o->kv) {
			o->kv->rc = res.rc;
			o->kv->version = res.version;
			o->kv->error = res.rc < 0 ? arena_text(p, res.len) : NULL;
			if (res.rc == 0 && o->wire.kind == CIT_STATE_GET) {
				o->kv->value = p;
				o->kv->vlen = res.len;
			}
		} else if (res.rc == 0 && names_into(o, p, res.len) < 0) {
			o->rc = -EPROTO;
		}
		if (res.rc < 0 && !kv_error[0])
			snprintf(kv_error, sizeof(kv_error), "%.*s", (int)res.len, (const char *)p);
	}
}

/* Sends the n ops as one STATE on namespace ns (NULL: the function's own). */
static int run(const char *ns, struct op *ops, size_t n)
{
	struct cit_p_state p = { .n_ops = (uint32_t)n };
	kv_error[0] = '\0';
	if (!n || n > CIT_STATE_OPS_MAX) {
		snprintf(kv_error, sizeof(kv_error), "a batch holds 1 to %u operations", CIT_STATE_OPS_MAX);
		return -EINVAL;
	}
	if (ns && (strlen(ns) >= sizeof(p.ns) || !cit_fn_name_ok(ns))) {
		snprintf(kv_error, sizeof(kv_error), "'%.63s' is not a namespace (a function's name)", ns);
		return -EINVAL;
	}
	if (ns)
		memcpy(p.ns, ns, strlen(ns));
	struct cit_wbuf b = { 0 };
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((ops[i].wire.klen && !ops[i].key) || (ops[i].wire.vlen && !ops[i].value)) {
			snprintf(kv_error, sizeof(kv_error), "a key or value's bytes are missing");
			rc = -EINVAL;
		} else if ((rc = cit_state_add_op(&b, &ops[i].wire, ops[i].key, ops[i].value)) < 0) {
			snprintf(kv_error, sizeof(kv_error), "the batch is larger than %u MiB", CIT_STATE_BATCH_MAX >> 20);
		}
	}
	const char *why = NULL;
	if (rc == 0 && cit_state_check(b.p, b.len, (uint32_t)n, &why) < 0) {
		snprintf(kv_error, sizeof(kv_error), "%s", why);
		rc = -EINVAL;
	}
	struct answer a = { ops, n, 0 };
	if (rc == 0)
		rc = cit_trustlet_request_with(CIT_MSG_STATE, CIT_GRANT_STATE, &p, sizeof(p), b.p, b.len, on_reply, &a);
	free(b.p);
	if (rc == -EPERM && !kv_error[0])
		snprintf(kv_error, sizeof(kv_error), "key-value state is for calls (not cit_init)");
	else if (rc < 0 && !kv_error[0])
		snprintf(kv_error, sizeof(kv_error), "the request failed: %s", strerror(-rc));
	return rc == 0 ? a.rc : rc;
}

/* The bounds a key has (the monitor checks them too, for a clear text here). */
static int key_ok(const void *key, size_t klen)
{
	if (!key || !klen || klen > 1024) {
		kv_error[0] = '\0';
		snprintf(kv_error, sizeof(kv_error), "a key is 1 to 1024 bytes");
		return klen > 1024 ? -EMSGSIZE : -EINVAL;
	}
	return 0;
}

int cit_kv_batch(const char *ns, struct cit_kv_op *kv, size_t n)
{
	if (!kv || !n || n > CIT_STATE_OPS_MAX) {
		snprintf(kv_error, sizeof(kv_error), "a batch holds 1 to %u operations", CIT_STATE_OPS_MAX);
		return -EINVAL;
	}
	struct op *ops = calloc(n, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct cit_kv_op *k = &kv[i];
		k->rc = 0;
		k->error = NULL;
		if (k->kind < CIT_KV_GET || k->kind > CIT_KV_DEL) {
			snprintf(kv_error, sizeof(kv_error), "operation %zu: its kind is not CIT_KV_GET, CIT_KV_PUT or "
				 "CIT_KV_DEL", i);
			rc = -EINVAL;
			break;
		}
		if ((rc = key_ok(k->key, k->klen)) < 0) {
			if (n > 1)
				snprintf(kv_error, sizeof(kv_error), "operation %zu: a key is 1 to 1024 bytes", i);
			break;
		}
		ops[i].kv = k;
		ops[i].key = k->key;
		ops[i].value = k->kind == CIT_KV_PUT ? k->value : NULL;
		ops[i].wire = (struct cit_state_op){ .kind = (uint16_t)k->kind, .klen = (uint32_t)k->klen,
						     .vlen = k->kind == CIT_KV_PUT ? (uint32_t)k->vlen : 0 };
		if (k->kind == CIT_KV_PUT && k->vlen > CIT_STATE_BATCH_MAX) {
			snprintf(kv_error, sizeof(kv_error), "a value of %zu bytes: larger than any namespace allows", k->vlen);
			rc = -EMSGSIZE;
		}
		if (k->kind != CIT_KV_GET && k->if_version) {
			ops[i].wire.flags = CIT_STATE_IF_VERSION;
			ops[i].wire.expect = k->version;
		}
	}
	if (rc == 0)
		rc = run(ns, ops, n);
	free(ops);
	return rc;
}

/* One operation alone: its rc (the batch's, when the batch failed). */
static int one(struct cit_kv_op *k)
{
	int rc = cit_kv_batch(NULL, k, 1);
	return rc < 0 ? rc : k->rc;
}

int cit_kv_get(const void *key, size_t klen, const void **value, size_t *vlen, uint64_t *version)
{
	struct cit_kv_op k = { .kind = CIT_KV_GET, .key = key, .klen = klen };
	if (!value || !vlen) {
		snprintf(kv_error, sizeof(kv_error), "cit_kv_get: where to put the value is needed");
		return -EINVAL;
	}
	int rc = one(&k);
	if (rc == 0) {
		*value = k.value;
		*vlen = k.vlen;
	}
	if (version && (rc == 0 || rc == -ENOENT))
		*version = rc == 0 ? k.version : 0;
	return rc;
}

int cit_kv_put(const void *key, size_t klen, const void *value, size_t vlen, uint64_t *version)
{
	struct cit_kv_op k = { .kind = CIT_KV_PUT, .key = key, .klen = klen, .value = value, .vlen = vlen };
	int rc = one(&k);
	if (version && rc == 0)
		*version = k.version;
	return rc;
}

int cit_kv_cas(const void *key, size_t klen, uint64_t expect, const void *value, size_t vlen, uint64_t *version)
{
	struct cit_kv_op k = { .kind = CIT_KV_PUT, .key = key, .klen = klen, .value = value, .vlen = vlen,
			       .if_version = 1, .version = expect };
	int rc = one(&k);
	if (version && (rc == 0 || rc == -ECANCELED))
		*version = k.version;
	return rc;
}

int cit_kv_delete(const void *key, size_t klen)
{
	struct cit_kv_op k = { .kind = CIT_KV_DEL, .key = key, .klen = klen };
	return one(&k);
}

int cit_kv_scan(const void *prefix, size_t plen, const void *after, size_t alen, struct cit_kv_name *names,
		size_t max, size_t *n)
{
	return cit_kv_scan_in(NULL, prefix, plen, after, alen, names, max, n);
}

int cit_kv_scan_in(const char *ns, const void *prefix, size_t plen, const void *after, size_t alen,
		   struct cit_kv_name *names, size_t max, size_t *n)
{
	kv_error[0] = '\0';
	if (!names || !n || !max || max > CIT_STATE_SCAN_MAX || plen > 1024 || alen > 1024 || (plen && !prefix) ||
	    (alen && !after)) {
		snprintf(kv_error, sizeof(kv_error), "cit_kv_scan: names, n, max from 1 to %u, and a prefix and an after "
			 "of at most 1 KiB are needed", CIT_STATE_SCAN_MAX);
		return -EINVAL;
	}
	*n = 0;
	struct op o = { .wire = { .kind = CIT_STATE_SCAN, .klen = (uint32_t)plen, .vlen = (uint32_t)alen,
				  .limit = (uint32_t)max },
			.key = prefix, .value = after, .names = names, .max = max, .n = n };
	int rc = run(ns, &o, 1);
	return rc < 0 ? rc : o.rc;
}

/* A LOCK or an UNLOCK: a batch of its own. */
static int lock_op(uint16_t kind, uint16_t flags, const void *key, size_t klen, uint32_t lease_ms)
{
	kv_error[0] = '\0';
	int rc = key_ok(key, klen);
	if (rc < 0)
		return rc;
	struct op o = { .wire = { .kind = kind, .flags = flags, .klen = (uint32_t)klen, .limit = lease_ms },
			.key = key };
	struct cit_kv_name none;
	size_t n;
	o.names = &none, o.max = 0, o.n = &n; /* answered with no bytes: nothing is listed */
	rc = run(NULL, &o, 1);
	return rc < 0 ? rc : o.rc;
}

int cit_kv_lock(const void *key, size_t klen, unsigned lease_ms)
{
	if (!lease_ms || lease_ms > CIT_STATE_LEASE_MAX_MS) {
		snprintf(kv_error, sizeof(kv_error), "a lock's lease is 1 to %u ms", CIT_STATE_LEASE_MAX_MS);
		return -EINVAL;
	}
	return lock_op(CIT_STATE_LOCK, 0, key, klen, lease_ms);
}

int cit_kv_unlock(const void *key, size_t klen, int discard)
{
	return lock_op(CIT_STATE_UNLOCK, discard ? CIT_STATE_DISCARD : 0, key, klen, 0);
}
