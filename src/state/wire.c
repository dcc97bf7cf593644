/* Key-value operations as bytes (wire.h). */
#include "state/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "state/seal.h"

_Static_assert(CIT_STATE_KEY_BYTES == CIT_SEAL_NAME_MAX, "a key's bound is the sealing's");

static size_t padded(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

int cit_wbuf_put(struct cit_wbuf *b, const void *data, size_t len, int pad)
{
	size_t total = pad ? padded(len) : len;
	if (total > CIT_STATE_BATCH_MAX || b->len > CIT_STATE_BATCH_MAX - total)
		return -E2BIG;
	if (b->len + total > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + total)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (len && data)
		memcpy(b->p + b->len, data, len);
	memset(b->p + b->len + (data ? len : 0), 0, total - (data ? len : 0));
	b->len += total;
	return 0;
}

int cit_state_add_op(struct cit_wbuf *b, const struct cit_state_op *op, const void *key, const void *value)
{
	size_t at = b->len;
	int rc = cit_wbuf_put(b, op, sizeof(*op), 0);
	if (rc == 0)
		rc = cit_wbuf_put(b, key, op->klen, 0);
	if (rc == 0)
		rc = cit_wbuf_put(b, value, op->vlen, 0);
	size_t body = (size_t)op->klen + op->vlen;
	if (rc == 0)
		rc = cit_wbuf_put(b, NULL, padded(body) - body, 0); /* zeros */
	if (rc < 0)
		b->len = at;
	return rc;
}

int cit_state_add_result(struct cit_wbuf *b, int32_t rc, uint64_t version, const void *data, size_t len)
{
	if (len > UINT32_MAX)
		return -E2BIG;
	size_t at = b->len;
	struct cit_state_result r = { rc, (uint32_t)len, version };
	int e = cit_wbuf_put(b, &r, sizeof(r), 0);
	if (e == 0)
		e = cit_wbuf_put(b, data, len, 1);
	if (e < 0)
		b->len = at;
	return e;
}

static int zeros(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* One operation at *at: its fields' bounds. Returns 1, 0 at the end, -EPROTO. */
static int read_op(const uint8_t *p, size_t len, size_t *at, struct cit_state_item *it, const char **why)
{
	if (*at == len)
		return 0;
	if (len - *at < sizeof(struct cit_state_op))
		return *why = "an operation is cut short", -EPROTO;
	memcpy(&it->op, p + *at, sizeof(it->op));
	const struct cit_state_op *op = &it->op;
	size_t body = (size_t)op->klen + op->vlen;
	if (op->klen > CIT_SEAL_NAME_MAX || op->vlen > CIT_STATE_BATCH_MAX || len - *at - sizeof(*op) < padded(body))
		return *why = "an operation's lengths run past the batch", -EPROTO;
	it->key = p + *at + sizeof(*op);
	it->value = it->key + op->klen;
	if (!zeros(it->value + op->vlen, padded(body) - body))
		return *why = "an operation's padding is not zeros", -EPROTO;
	*at += sizeof(*op) + padded(body);
	return 1;
}

int cit_state_check(const void *p, size_t len, uint32_t n, const char **why)
{
	if (!n || n > CIT_STATE_OPS_MAX)
		return *why = "a batch holds 1 to 1024 operations", -EPROTO;
	if (len > CIT_STATE_BATCH_MAX)
		return *why = "a batch is at most 64 MiB", -EPROTO;
	size_t at = 0;
	struct cit_state_item it;
	for (uint32_t i = 0; i < n; i++) {
		int rc = read_op(p, len, &at, &it, why);
		if (rc == 0)
			return *why = "the batch holds fewer operations than it says", -EPROTO;
		if (rc < 0)
			return rc;
		const struct cit_state_op *op = &it.op;
		switch (op->kind) {
		case CIT_STATE_GET:
		case CIT_STATE_DEL:
			if (op->vlen || op->limit || (op->kind == CIT_STATE_GET && op->flags) ||
			    (op->flags & ~CIT_STATE_IF_VERSION) || (!(op->flags & CIT_STATE_IF_VERSION) && op->expect))
				return *why = "a GET or DEL has fields it does not use", -EPROTO;
			break;
		case CIT_STATE_PUT:
			if (op->limit || (op->flags & ~CIT_STATE_IF_VERSION) ||
			    (!(op->flags & CIT_STATE_IF_VERSION) && op->expect))
				return *why = "a PUT has fields it does not use", -EPROTO;
			break;
		case CIT_STATE_SCAN:
			if (op->flags || op->expect || op->vlen > CIT_SEAL_NAME_MAX || !op->limit ||
			    op->limit > CIT_STATE_SCAN_MAX)
				return *why = "a SCAN lists 1 to 1000 names after a name of at most 1 KiB", -EPROTO;
			break;
		case CIT_STATE_LOCK:
		case CIT_STATE_UNLOCK:
			if (n != 1)
				return *why = "a lock or an unlock is a batch of its own", -EPROTO;
			if (op->vlen || op->expect || !op->klen ||
			    (op->kind == CIT_STATE_LOCK ? op->flags || !op->limit || op->limit > CIT_STATE_LEASE_MAX_MS
							: (op->flags & ~CIT_STATE_DISCARD) || op->limit))
				return *why = "a LOCK takes a key and a lease of 1 ms to 10 minutes; an UNLOCK a key", -EPROTO;
			break;
		default:
			return *why = "an operation of no known kind", -EPROTO;
		}
	}
	if (at != len)
		return *why = "bytes after the batch's last operation", -EPROTO;
	return 0;
}

int cit_state_next(const void *p, size_t len, size_t *at, struct cit_state_item *it)
{
	const char *why;
	return read_op(p, len, at, it, &why) == 1;
}

int cit_state_next_result(const void *p, size_t len, size_t *at, struct cit_state_result *r, const uint8_t **data)
{
	const uint8_t *b = p;
	if (*at == len)
		return 0;
	if (len - *at < sizeof(*r))
		return -EPROTO;
	memcpy(r, b + *at, sizeof(*r));
	if (len - *at - sizeof(*r) < padded(r->len))
		return -EPROTO;
	*data = b + *at + sizeof(*r);
	*at += sizeof(*r) + padded(r->len);
	return 1;
}

int cit_state_next_name(const void *p, size_t len, size_t *at, struct cit_state_name *n, const uint8_t **name)
{
	const uint8_t *b = p;
	if (*at == len)
		return 0;
	if (len - *at < sizeof(*n))
		return -EPROTO;
	memcpy(n, b + *at, sizeof(*n));
	if (n->nlen > CIT_SEAL_NAME_MAX || len - *at - sizeof(*n) < padded(n->nlen))
		return -EPROTO;
	*name = b + *at + sizeof(*n);
	*at += sizeof(*n) + padded(n->nlen);
	return 1;
}
