/* The sealed engine (engine.h). */
#include "state/engine.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_LEN 32                  /* a record's version and nonce */
#define HEAD_VALUE_LEN (8 + 8 + 8 + CIT_SEAL_ID_LEN) /* a namespace's head: seq, count, bytes, root */
#define CK_LABEL "citadel-state checkpoint 1"
#define CK_MAGIC "CITCK1\0\0"
#define CK_ITEM (64 + 8 + 8 + CIT_SEAL_ID_LEN) /* name, seq, count, root */
#define CK_NONCE 24

static const uint8_t zero_id[CIT_SEAL_ID_LEN];

/* One key of a namespace, as the index knows it. */
struct entry {
	uint8_t id[CIT_SEAL_ID_LEN];
	uint8_t head[HEAD_LEN];   /* its record's first bytes: version and nonce */
	uint32_t vlen;
	uint16_t nlen;
	bool bad;                 /* its record failed to open on loading: name unknown */
	uint8_t *name;            /* owned, nlen bytes; NULL when bad */
};

/* Open addressing on the id's first bytes (already uniform), linear probing. */
struct table {
	struct entry **slot;
	size_t cap, n;            /* cap: a power of two, or 0 */
};

/* A namespace's sums: its version counter, keys, bytes and root. */
struct sums {
	uint64_t seq, count, bytes;
	uint8_t root[CIT_SEAL_ID_LEN];
};

struct cit_ns {
	struct cit_ns *next;
	struct cit_seal_ns k;
	struct table idx;
	struct sums now;          /* committed */
	struct sums pending;      /* during a batch that touched it */
	bool touched;
	uint64_t bad;             /* entries that are bad */
	uint64_t quota;
	uint32_t value_max;
	char *failed;             /* owned: why it refuses everything, or NULL */
	bool in_ck;               /* the verified checkpoint named it: */
	struct sums ck;           /* ...with these (seq and root; kept while failed) */
};

struct cit_engine {
	struct cit_backend *b;
	uint8_t master[CIT_SEAL_KEY_LEN];
	uint8_t ck_key[CIT_SEAL_KEY_LEN];
	struct cit_ns *list;
	uint8_t *rec;             /* a record read back, opened in place */
	size_t rec_cap;
};

/* ---- the index ---------------------------------------------------------------------- */

static size_t slot_of(const struct table *t, const uint8_t *id)
{
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	return (size_t)h & (t->cap - 1);
}

static struct entry *table_find(const struct table *t, const uint8_t *id)
{
	if (!t->cap)
		return NULL;
	for (size_t i = slot_of(t, id);; i = (i + 1) & (t->cap - 1)) {
		if (!t->slot[i])
			return NULL;
		if (!memcmp(t->slot[i]->id, id, CIT_SEAL_ID_LEN))
			return t->slot[i];
	}
}

static void table_place(struct table *t, struct entry *e)
{
	size_t i = slot_of(t, e->id);
	while (t->slot[i])
		i = (i + 1) & (t->cap - 1);
	t->slot[i] = e;
}

/* Adds e (owned by the table now). Returns 0 or -ENOMEM. */
static int table_add(struct table *t, struct entry *e)
{
	if ((t->n + 1) * 2 > t->cap) {
		struct table bigger = { calloc(t->cap ? t->cap * 2 : 64, sizeof(*t->slot)), t->cap ? t->cap * 2 : 64, t->n };
		if (!bigger.slot)
			return -ENOMEM;
		for (size_t i = 0; i < t->cap; i++)
			if (t->slot[i])
				table_place(&bigger, t->slot[i]);
		free(t->slot);
		*t = bigger;
	}
	table_place(t, e);
	t->n++;
	return 0;
}

/* Takes the entry of id out (the caller frees it); the probe runs behind it shift back. */
static struct entry *table_take(struct table *t, const uint8_t *id)
{
	if (!t->cap)
		return NULL;
	size_t i = slot_of(t, id);
	while (t->slot[i] && memcmp(t->slot[i]->id, id, CIT_SEAL_ID_LEN))
		i = (i + 1) & (t->cap - 1);
	struct entry *e = t->slot[i];
	if (!e)
		return NULL;
	t->slot[i] = NULL;
	t->n--;
	for (size_t j = (i + 1) & (t->cap - 1); t->slot[j]; j = (j + 1) & (t->cap - 1)) {
		struct entry *m = t->slot[j];
		t->slot[j] = NULL;
		table_place(t, m);
	}
	return e;
}

static void entry_free(struct entry *e)
{
	if (e)
		free(e->name);
	free(e);
}

static void table_clear(struct table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		entry_free(t->slot[i]);
	free(t->slot);
	*t = (struct table){ 0 };
}

/* ---- namespaces ------------------------------------------------------------------- */

static uint64_t get_le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void xor_into(uint8_t root[CIT_SEAL_ID_LEN], const uint8_t *x)
{
	for (size_t i = 0; i < CIT_SEAL_ID_LEN; i++)
		root[i] ^= x[i];
}

/* root ^= the entry of the record that begins with head, under id. */
static void root_toggle(const struct cit_ns *ns, uint8_t root[CIT_SEAL_ID_LEN], const uint8_t *id,
			const uint8_t head[HEAD_LEN])
{
	uint8_t h[CIT_SEAL_ID_LEN];
	cit_seal_entry(&ns->k, id, head, h);
	xor_into(root, h);
}

static void key_of(uint8_t key[CIT_BACKEND_KEY_LEN], const struct cit_ns *ns, const uint8_t *id)
{
	memcpy(key, ns->k.ns_id, CIT_SEAL_ID_LEN);
	memcpy(key + CIT_SEAL_ID_LEN, id, CIT_SEAL_ID_LEN);
}

static void fail_ns(struct cit_ns *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_ns(struct cit_ns *ns, const char *fmt, ...)
{
	if (ns->failed)
		return; /* the first reason stands */
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "namespace %s: integrity error: ", ns->k.ns);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	ns->failed = strdup(buf);
	if (!ns->failed)
		ns->failed = (char *)"integrity error"; /* never freed: see ns_free */
}

/* Room for a record of len bytes in e->rec. Returns 0 or -ENOMEM. */
static int rec_room(struct cit_engine *e, size_t len)
{
	if (len <= e->rec_cap)
		return 0;
	uint8_t *p = realloc(e->rec, len);
	if (!p)
		return -ENOMEM;
	e->rec = p;
	e->rec_cap = len;
	return 0;
}

struct load {
	struct cit_engine *e;
	struct cit_ns *ns;
	bool have_head;
	struct sums head;
	struct sums seen;
	uint64_t max_version;
};

/* One record of the namespace being loaded. */
static int load_one(const uint8_t *key, const uint8_t *record, size_t len, void *ctx)
{
	struct load *l = ctx;
	struct cit_ns *ns = l->ns;
	const uint8_t *id = key + CIT_SEAL_ID_LEN;
	if (rec_room(l->e, len) < 0)
		return -ENOMEM;
	memcpy(l->e->rec, record, len);
	struct cit_unsealed u;
	int rc = cit_seal_open(&ns->k, id, l->e->rec, len, &u);
	if (!memcmp(id, zero_id, sizeof(zero_id))) {
		if (rc < 0 || u.nlen || u.vlen != HEAD_VALUE_LEN) {
			fail_ns(ns, "its head record in the store fails to open (altered or cut)");
			return 0;
		}
		l->have_head = true;
		l->head.seq = get_le(u.value);
		l->head.count = get_le(u.value + 8);
		l->head.bytes = get_le(u.value + 16);
		memcpy(l->head.root, u.value + 24, CIT_SEAL_ID_LEN);
		if (u.version != l->head.seq)
			fail_ns(ns, "its head record is not one the monitor wrote");
		return 0;
	}
	struct entry *en = calloc(1, sizeof(*en));
	if (!en)
		return -ENOMEM;
	memcpy(en->id, id, CIT_SEAL_ID_LEN);
	memcpy(en->head, record, len < HEAD_LEN ? len : HEAD_LEN);
	if (rc == 0 && (en->name = malloc(u.nlen ? u.nlen : 1))) {
		memcpy(en->name, u.name, u.nlen);
		en->nlen = (uint16_t)u.nlen;
		en->vlen = (uint32_t)u.vlen;
	} else {
		en->bad = true;
		en->vlen = len > CIT_SEAL_OVERHEAD ? (uint32_t)(len - CIT_SEAL_OVERHEAD) : 0;
		ns->bad++;
	}
	if (table_add(&ns->idx, en) < 0) {
		entry_free(en);
		return -ENOMEM;
	}
	root_toggle(ns, l->seen.root, id, en->head);
	l->seen.count++;
	l->seen.bytes += en->nlen + en->vlen;
	uint64_t v = get_le(en->head);
	if (v > l->max_version)
		l->max_version = v;
	return 0;
}

static void ns_free(struct cit_ns *ns)
{
	table_clear(&ns->idx);
	if (ns->failed && strcmp(ns->failed, "integrity error"))
		free(ns->failed);
	cit_seal_wipe(&ns->k);
	free(ns);
}

/* Reads the namespace's records and checks them against its head. */
static int ns_load(struct cit_engine *e, struct cit_ns *ns, struct cit_error *err)
{
	struct load l = { .e = e, .ns = ns };
	int rc = cit_backend_scan(e->b, ns->k.ns_id, CIT_SEAL_ID_LEN, load_one, &l, err);
	if (rc == -ENOMEM)
		return cit_error_set(err, rc, "loading the state's index");
	if (rc < 0)
		return rc;
	ns->now = l.seen;
	ns->now.seq = l.max_version;
	if (!l.have_head && l.seen.count)
		fail_ns(ns, "the store holds %llu of its records but not its head record (deleted)",
			(unsigned long long)l.seen.count);
	if (l.have_head) {
		if (l.head.seq > ns->now.seq)
			ns->now.seq = l.head.seq;
		if (l.head.count != l.seen.count || memcmp(l.head.root, l.seen.root, CIT_SEAL_ID_LEN))
			fail_ns(ns, "the records in the store are not the ones last written (one was deleted, "
				"added, or replaced by an older copy: %llu found, %llu written, and their root differs)",
				(unsigned long long)l.seen.count, (unsigned long long)l.head.count);
		else if (l.max_version > l.head.seq)
			fail_ns(ns, "a record is newer than the namespace's head");
	}
	return 0;
}

struct cit_ns *cit_engine_ns(struct cit_engine *e, const char *name, struct cit_error *err)
{
	for (struct cit_ns *ns = e->list; ns; ns = ns->next)
		if (!strcmp(ns->k.ns, name))
			return ns;
	struct cit_ns *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return cit_error_set(err, -ENOMEM, "out of memory"), NULL;
	int rc = cit_seal_ns_init(&ns->k, e->master, name);
	if (rc < 0) {
		free(ns);
		return cit_error_say(err, rc, "'%.80s' is not a namespace's name", name), NULL;
	}
	ns->quota = CIT_STATE_QUOTA;
	ns->value_max = CIT_STATE_VALUE_MAX;
	if ((rc = ns_load(e, ns, err)) < 0) {
		ns_free(ns);
		return NULL;
	}
	ns->next = e->list;
	e->list = ns;
	return ns;
}

const char *cit_ns_failed(const struct cit_ns *ns)
{
	return ns->failed;
}

void cit_ns_limits(struct cit_ns *ns, uint64_t quota, uint32_t value_max)
{
	if (quota)
		ns->quota = quota;
	if (value_max)
		ns->value_max = value_max;
}

void cit_ns_usage(const struct cit_ns *ns, struct cit_ns_usage *out)
{
	*out = (struct cit_ns_usage){ ns->now.count, ns->now.bytes, ns->now.seq, ns->bad };
}

size_t cit_engine_value_len(struct cit_ns *ns, const void *name, size_t nlen)
{
	uint8_t id[CIT_SEAL_ID_LEN];
	if (!nlen || cit_seal_id(&ns->k, name, nlen, id) < 0)
		return 0;
	struct entry *en = table_find(&ns->idx, id);
	return en ? en->vlen : 0;
}

/* ---- batches ------------------------------------------------------------------------ */

/* A key's state after a write of the batch. */
struct staged {
	struct cit_ns *ns;
	uint8_t id[CIT_SEAL_ID_LEN];
	bool present;
	uint8_t head[HEAD_LEN];
	uint32_t vlen;
	uint16_t nlen;
	const uint8_t *name;      /* the op's: borrowed */
	const uint8_t *value;     /* likewise */
	uint8_t *record;          /* owned: the sealed record to write */
	size_t rlen;
};

struct batch {
	struct staged *items;
	size_t n, cap;
	int32_t *slot;            /* indexes into items, -1 empty; nslots a power of two */
	size_t nslots;
};

static struct staged *staged_find(struct batch *bt, const struct cit_ns *ns, const uint8_t *id)
{
	if (!bt->nslots)
		return NULL;
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	for (size_t i = (size_t)h & (bt->nslots - 1);; i = (i + 1) & (bt->nslots - 1)) {
		if (bt->slot[i] < 0)
			return NULL;
		struct staged *s = &bt->items[bt->slot[i]];
		if (s->ns == ns && !memcmp(s->id, id, CIT_SEAL_ID_LEN))
			return s;
	}
}

/* The staged state of (ns, id), made when missing. NULL when out of memory. */
static struct staged *staged_get(struct batch *bt, struct cit_ns *ns, const uint8_t *id)
{
	struct staged *s = staged_find(bt, ns, id);
	if (s)
		return s;
	if (bt->n == bt->cap)
		return NULL; /* sized for every op of the batch: cannot happen */
	s = &bt->items[bt->n];
	*s = (struct staged){ .ns = ns };
	memcpy(s->id, id, CIT_SEAL_ID_LEN);
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	size_t i = (size_t)h & (bt->nslots - 1);
	while (bt->slot[i] >= 0)
		i = (i + 1) & (bt->nslots - 1);
	bt->slot[i] = (int32_t)bt->n++;
	return s;
}

/* What a key is now, within the batch: present (with its version and sizes) or not. */
struct current {
	bool present;
	uint64_t version;
	uint32_t vlen, nlen;
	const uint8_t *head;
	struct staged *s;         /* written earlier in the batch, or NULL */
	struct entry *en;         /* else the index's, or NULL */
};

static struct current current_of(struct batch *bt, struct cit_ns *ns, const uint8_t *id)
{
	struct current c = { 0 };
	if ((c.s = staged_find(bt, ns, id))) {
		c.present = c.s->present;
		c.head = c.s->head;
		c.vlen = c.s->vlen;
		c.nlen = c.s->nlen;
	} else if ((c.en = table_find(&ns->idx, id))) {
		c.present = true;
		c.head = c.en->head;
		c.vlen = c.en->vlen;
		c.nlen = c.en->nlen;
	}
	if (c.present)
		c.version = get_le(c.head);
	return c;
}

static void touch(struct cit_ns *ns)
{
	if (!ns->touched) {
		ns->pending = ns->now;
		ns->touched = true;
	}
}

static int op_fail(struct cit_engine_op *op, int rc, const char *why)
{
	op->rc = rc;
	op->why = why;
	return rc;
}

/* A GET of a key the index knows, waiting for its record (fetched for the whole batch at
 * once: deferred). */
struct deferred {
	struct cit_engine_op *op;
	struct entry *en;
	int rc;                   /* the backend's answer: 0 (rec), -ENOENT, or an error */
	uint8_t *rec;             /* owned: the record */
	size_t len;
};

/* A deferred GET's record, believed only when it is the record the index names, and
 * opens (in place). */
static void get_stored(struct deferred *d, cit_engine_got got, void *ctx)
{
	struct cit_engine_op *op = d->op;
	struct cit_ns *ns = op->ns;
	struct entry *en = d->en;
	if (d->rc == -ENOENT) {
		op_fail(op, -EBADMSG, "integrity error: the key's record is missing from the store");
		return;
	}
	if (d->rc == -EBADMSG) {
		op_fail(op, -EBADMSG, "integrity error: the key's record in the store is not one the monitor wrote");
		return;
	}
	if (d->rc < 0) {
		op_fail(op, d->rc, "the store could not be read");
		return;
	}
	bool same = d->len >= HEAD_LEN && !memcmp(d->rec, en->head, HEAD_LEN);
	struct cit_unsealed u;
	int rc = cit_seal_open(&ns->k, en->id, d->rec, d->len, &u);
	if (rc == 0 && !same)
		op_fail(op, -EBADMSG, "integrity error: the store served another version of the key than the last "
			"written (a rollback)");
	else if (rc < 0)
		op_fail(op, -EBADMSG, "integrity error: the key's record in the store fails to open (altered, cut, "
			"or moved from another key)");
	else if (u.nlen != op->nlen || memcmp(u.name, op->name, u.nlen))
		op_fail(op, -EBADMSG, "integrity error: the record is another key's");
	else {
		op->version = u.version;
		if (got)
			got(ctx, op, u.value, u.vlen);
	}
}

static void fetched(size_t i, int rc, const uint8_t *record, size_t len, void *ctx)
{
	struct deferred *d = (struct deferred *)ctx + i;
	free(d->rec);
	d->rec = NULL;
	d->len = 0;
	d->rc = rc;
	if (rc == 0 && !(d->rec = malloc(len ? len : 1)))
		d->rc = -ENOMEM;
	else if (rc == 0) {
		memcpy(d->rec, record, len);
		d->len = len;
	}
}

/* The deferred GETs' records, in one read of the backend, then each answered. */
static void fetch_deferred(struct cit_engine *e, struct deferred *ds, size_t n, cit_engine_got got, void *ctx)
{
	if (!n)
		return;
	uint8_t (*keys)[CIT_BACKEND_KEY_LEN] = malloc(n * sizeof(*keys));
	struct cit_error err = { 0 };
	int rc = keys ? 0 : -ENOMEM;
	for (size_t i = 0; keys && i < n; i++) {
		key_of(keys[i], ds[i].op->ns, ds[i].en->id);
		ds[i].rc = -EIO;
	}
	if (rc == 0)
		rc = cit_backend_get_many(e->b, (const uint8_t(*)[CIT_BACKEND_KEY_LEN])keys, n, fetched, ds, &err);
	for (size_t i = 0; i < n; i++) {
		if (rc < 0)
			op_fail(ds[i].op, rc, "the store could not be read");
		else
			get_stored(&ds[i], got, ctx);
		free(ds[i].rec);
	}
	free(keys);
}

/* One op of the batch: checks, then reads (a read of the backend deferred into *d, which
 * is then set) or stages its write. */
static void run_one(struct batch *bt, struct cit_engine_op *op, cit_engine_got got, void *ctx, struct deferred *d,
		    bool *deferred)
{
	struct cit_ns *ns = op->ns;
	op->rc = 0;
	op->why = NULL;
	op->version = 0;
	op->staged = false;
	if (!ns || op->kind > CIT_ENGINE_DEL)
		return (void)op_fail(op, -EINVAL, "not an operation");
	if (ns->failed)
		return (void)op_fail(op, -EBADMSG, ns->failed);
	if (!op->nlen || !op->name)
		return (void)op_fail(op, -EINVAL, "a key is 1 to 1024 bytes: this one is empty");
	if (op->nlen > CIT_STATE_KEY_MAX)
		return (void)op_fail(op, -EMSGSIZE, "a key is 1 to 1024 bytes: this one is longer");
	uint8_t id[CIT_SEAL_ID_LEN];
	cit_seal_id(&ns->k, op->name, op->nlen, id);
	struct current c = current_of(bt, ns, id);
	if (op->kind == CIT_ENGINE_GET) {
		if (!c.present)
			return (void)op_fail(op, -ENOENT, "no such key");
		if (c.s) {
			op->version = c.version;
			op->staged = true; /* failed with the batch's writes if they fail */
			if (got)
				got(ctx, op, c.s->value, c.s->vlen);
			return;
		}
		if (c.en->bad)
			return (void)op_fail(op, -EBADMSG, "integrity error: the key's record in the store fails to open "
							  "(altered or cut)");
		*d = (struct deferred){ .op = op, .en = c.en };
		*deferred = true;
		return;
	}
	if (op->if_version && c.version != op->expect) {
		op->version = c.version;
		return (void)op_fail(op, -ECANCELED, c.present ? "the key's version is not the one expected"
							  : "the key does not exist (its version is 0)");
	}
	if (op->kind == CIT_ENGINE_DEL && !c.present)
		return (void)op_fail(op, -ENOENT, "no such key");
	if (op->kind == CIT_ENGINE_PUT) {
		if (op->vlen > ns->value_max)
			return (void)op_fail(op, -EMSGSIZE, "the value is larger than the namespace's value limit "
						       "(--state-value-max)");
		if (op->vlen && !op->value)
			return (void)op_fail(op, -EINVAL, "a value's bytes are missing");
		uint64_t used = (ns->touched ? ns->pending.bytes : ns->now.bytes) - (c.present ? c.nlen + c.vlen : 0);
		if (used + op->nlen + op->vlen > ns->quota)
			return (void)op_fail(op, -EDQUOT, "the namespace's keys and values would exceed its quota "
						     "(--state-quota)");
	}
	struct staged *s = staged_get(bt, ns, id);
	uint8_t *record = NULL;
	size_t rlen = 0;
	if (op->kind == CIT_ENGINE_PUT) {
		rlen = CIT_SEAL_OVERHEAD + op->nlen + op->vlen;
		if (rlen > CIT_BACKEND_RECORD_MAX)
			return (void)op_fail(op, -EMSGSIZE, "the value is larger than any the store keeps (16 MiB)");
		if (!s || !(record = malloc(rlen)))
			return (void)op_fail(op, -ENOMEM, "the monitor is out of memory");
	} else if (!s) {
		return (void)op_fail(op, -ENOMEM, "the monitor is out of memory");
	}
	touch(ns);
	if (c.present) {
		root_toggle(ns, ns->pending.root, id, c.head);
		ns->pending.count--;
		ns->pending.bytes -= c.nlen + c.vlen;
	}
	free(s->record);
	s->record = NULL;
	s->present = op->kind == CIT_ENGINE_PUT;
	if (op->kind == CIT_ENGINE_DEL) {
		op->version = c.version;
		return;
	}
	uint64_t version = ++ns->pending.seq;
	cit_seal_value(&ns->k, id, op->name, op->nlen, version, op->value, op->vlen, record, rlen);
	s->record = record;
	s->rlen = rlen;
	memcpy(s->head, record, HEAD_LEN);
	s->vlen = (uint32_t)op->vlen;
	s->nlen = (uint16_t)op->nlen;
	s->name = op->name;
	s->value = op->value;
	root_toggle(ns, ns->pending.root, id, s->head);
	ns->pending.count++;
	ns->pending.bytes += op->nlen + op->vlen;
	op->version = version;
}

/* The namespace's head record, of its pending sums, into out (CIT_SEAL_OVERHEAD +
 * HEAD_VALUE_LEN bytes). */
static void seal_head(const struct cit_ns *ns, const struct sums *s, uint8_t *out)
{
	uint8_t v[HEAD_VALUE_LEN];
	put_le(v, s->seq);
	put_le(v + 8, s->count);
	put_le(v + 16, s->bytes);
	memcpy(v + 24, s->root, CIT_SEAL_ID_LEN);
	cit_seal_value(&ns->k, zero_id, "", 0, s->seq, v, sizeof(v), out, CIT_SEAL_OVERHEAD + HEAD_VALUE_LEN);
}

#define HEAD_RECORD (CIT_SEAL_OVERHEAD + HEAD_VALUE_LEN)

/* Writes the staged keys and the touched namespaces' heads in one transaction. */
static int commit(struct cit_engine *e, struct batch *bt, struct cit_error *err)
{
	size_t heads = 0;
	for (struct cit_ns *ns = e->list; ns; ns = ns->next)
		heads += ns->touched;
	if (!bt->n && !heads)
		return 0;
	struct cit_kv_op *kv = calloc(bt->n + heads, sizeof(*kv));
	uint8_t *hrec = malloc(heads * HEAD_RECORD + 1);
	if (!kv || !hrec) {
		free(kv);
		free(hrec);
		return cit_error_set(err, -ENOMEM, "the monitor is out of memory");
	}
	size_t k = 0, h = 0;
	for (size_t i = 0; i < bt->n; i++) {
		struct staged *s = &bt->items[i];
		kv[k] = (struct cit_kv_op){ s->present ? CIT_KV_PUT : CIT_KV_DEL, { 0 }, s->record, s->rlen };
		key_of(kv[k++].key, s->ns, s->id);
	}
	for (struct cit_ns *ns = e->list; ns; ns = ns->next) {
		if (!ns->touched)
			continue;
		seal_head(ns, &ns->pending, hrec + h * HEAD_RECORD);
		kv[k] = (struct cit_kv_op){ CIT_KV_PUT, { 0 }, hrec + h++ * HEAD_RECORD, HEAD_RECORD };
		key_of(kv[k++].key, ns, zero_id);
	}
	int rc = cit_backend_apply(e->b, kv, k, err);
	free(kv);
	free(hrec);
	return rc;
}

/* The batch made durable: its states into the index. Out of memory, the index would lack a
 * key the store holds: the namespace is failed then, as on a bad load. */
static void index_apply(struct batch *bt)
{
	for (size_t i = 0; i < bt->n; i++) {
		struct staged *s = &bt->items[i];
		struct cit_ns *ns = s->ns;
		struct entry *en = table_find(&ns->idx, s->id);
		if (!s->present) {
			if ((en = table_take(&ns->idx, s->id)) && en->bad)
				ns->bad--;
			entry_free(en);
			continue;
		}
		bool fresh = !en;
		if (fresh && !(en = calloc(1, sizeof(*en))))
			goto oom;
		if (!en->name || en->bad) {
			uint8_t *name = malloc(s->nlen);
			if (!name) {
				if (fresh)
					free(en);
				goto oom;
			}
			memcpy(name, s->name, s->nlen);
			free(en->name);
			en->name = name;
			if (en->bad)
				ns->bad--;
			en->bad = false;
		}
		memcpy(en->id, s->id, CIT_SEAL_ID_LEN);
		memcpy(en->head, s->head, HEAD_LEN);
		en->vlen = s->vlen;
		en->nlen = s->nlen;
		if (fresh && table_add(&ns->idx, en) < 0) {
			entry_free(en);
			goto oom;
		}
		continue;
oom:
		fail_ns(ns, "the monitor ran out of memory keeping its index: restart it");
	}
}

int cit_engine_run(struct cit_engine *e, struct cit_engine_op *ops, size_t n, cit_engine_got got, void *ctx,
		   struct cit_error *err)
{
	struct batch bt = { 0 };
	size_t writes = 0;
	for (size_t i = 0; i < n; i++)
		writes += ops[i].kind != CIT_ENGINE_GET;
	if (writes) {
		bt.cap = writes;
		bt.nslots = 16;
		while (bt.nslots < writes * 2)
			bt.nslots *= 2;
		bt.items = calloc(bt.cap, sizeof(*bt.items));
		bt.slot = malloc(bt.nslots * sizeof(*bt.slot));
		if (!bt.items || !bt.slot) {
			free(bt.items);
			free(bt.slot);
			return cit_error_set(err, -ENOMEM, "the monitor is out of memory");
		}
		memset(bt.slot, 0xff, bt.nslots * sizeof(*bt.slot));
	}
	struct deferred *ds = calloc(n ? n : 1, sizeof(*ds));
	if (!ds) {
		free(bt.items);
		free(bt.slot);
		return cit_error_set(err, -ENOMEM, "the monitor is out of memory");
	}
	size_t nd = 0;
	for (size_t i = 0; i < n; i++) {
		bool deferred = false;
		run_one(&bt, &ops[i], got, ctx, &ds[nd], &deferred);
		nd += deferred;
	}
	/* The reads answered from the store before the writes go: a GET sees the writes before
	 * it in the batch (staged, above), never one after it. */
	fetch_deferred(e, ds, nd, got, ctx);
	free(ds);
	int rc = commit(e, &bt, err);
	if (rc == 0) {
		index_apply(&bt);
		for (struct cit_ns *ns = e->list; ns; ns = ns->next)
			if (ns->touched)
				ns->now = ns->pending;
	} else {
		/* No write of the batch was made: nor may a read of one be believed. */
		const char *why = rc == -ENOSPC ? "the state store is full (citadeld --store-max)"
						: "the store could not make the write durable";
		for (size_t i = 0; i < n; i++) {
			if ((ops[i].kind != CIT_ENGINE_GET || ops[i].staged) && ops[i].rc == 0)
				op_fail(&ops[i], rc, ops[i].kind == CIT_ENGINE_GET ? "the write this read saw was not made" : why);
			if (ops[i].kind != CIT_ENGINE_GET)
				ops[i].version = 0;
		}
	}
	for (struct cit_ns *ns = e->list; ns; ns = ns->next)
		ns->touched = false;
	for (size_t i = 0; i < bt.n; i++)
		free(bt.items[i].record);
	free(bt.items);
	free(bt.slot);
	return rc;
}

/* ---- scans -------------------------------------------------------------------------- */

static int name_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen > blen) - (alen < blen);
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct entry *a = *(struct entry *const *)pa, *b = *(struct entry *const *)pb;
	return name_cmp(a->name, a->nlen, b->name, b->nlen);
}

long cit_engine_scan(struct cit_ns *ns, const void *prefix, size_t plen, const void *after, size_t alen, size_t limit,
		     void (*each)(void *ctx, const uint8_t *name, size_t nlen, uint64_t version, size_t vlen),
		     void *ctx, const char **why)
{
	if (ns->failed)
		return *why = ns->failed, -EBADMSG;
	struct entry **hits = malloc((ns->idx.n + 1) * sizeof(*hits));
	if (!hits)
		return *why = "the monitor is out of memory", -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < ns->idx.cap; i++) {
		struct entry *en = ns->idx.slot[i];
		if (!en || en->bad || en->nlen < plen || (plen && memcmp(en->name, prefix, plen)))
			continue;
		if (alen && name_cmp(en->name, en->nlen, after, alen) <= 0)
			continue;
		hits[n++] = en;
	}
	qsort(hits, n, sizeof(*hits), entry_cmp);
	if (n > limit)
		n = limit;
	for (size_t i = 0; i < n; i++)
		each(ctx, hits[i]->name, hits[i]->nlen, get_le(hits[i]->head), hits[i]->vlen);
	free(hits);
	return (long)n;
}

/* ---- purge -------------------------------------------------------------------------- */

struct keys {
	uint8_t (*key)[CIT_BACKEND_KEY_LEN];
	size_t n, cap;
};

static int collect(const uint8_t *key, const uint8_t *record, size_t len, void *ctx)
{
	(void)record, (void)len;
	struct keys *k = ctx;
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 256;
		void *p = realloc(k->key, cap * sizeof(*k->key));
		if (!p)
			return -ENOMEM;
		k->key = p;
		k->cap = cap;
	}
	memcpy(k->key[k->n++], key, CIT_BACKEND_KEY_LEN);
	return 0;
}

int cit_engine_purge(struct cit_engine *e, struct cit_ns *ns, struct cit_error *err)
{
	struct keys k = { 0 };
	int rc = cit_backend_scan(e->b, ns->k.ns_id, CIT_SEAL_ID_LEN, collect, &k, err);
	if (rc == -ENOMEM)
		cit_error_set(err, rc, "the monitor is out of memory");
	struct cit_kv_op *kv = rc < 0 ? NULL : calloc(k.n + 1, sizeof(*kv));
	if (rc == 0 && !kv)
		rc = cit_error_set(err, -ENOMEM, "the monitor is out of memory");
	/* The version counter goes on (past the checkpoint's too): versions are never reused. */
	struct sums empty = { .seq = (ns->now.seq > ns->ck.seq ? ns->now.seq : ns->ck.seq) + 1 };
	uint8_t hrec[HEAD_RECORD];
	if (rc == 0) {
		for (size_t i = 0; i < k.n; i++) {
			kv[i].kind = CIT_KV_DEL;
			memcpy(kv[i].key, k.key[i], CIT_BACKEND_KEY_LEN);
		}
		seal_head(ns, &empty, hrec);
		kv[k.n] = (struct cit_kv_op){ CIT_KV_PUT, { 0 }, hrec, sizeof(hrec) };
		key_of(kv[k.n].key, ns, zero_id);
		rc = cit_backend_apply(e->b, kv, k.n + 1, err);
	}
	free(kv);
	free(k.key);
	if (rc < 0)
		return rc;
	table_clear(&ns->idx);
	ns->now = empty;
	ns->bad = 0;
	ns->in_ck = false;
	if (ns->failed && strcmp(ns->failed, "integrity error"))
		free(ns->failed);
	ns->failed = NULL;
	return 0;
}

/* ---- the engine and its checkpoints --------------------------------------------------- */

#define KEYCHECK_LABEL "citadel-state key check 1"

static int any_record(const uint8_t *key, const uint8_t *record, size_t len, void *ctx)
{
	(void)key, (void)record, (void)len, (void)ctx;
	return 1;
}

int cit_engine_key_check(struct cit_engine *e, bool *fresh, struct cit_error *err)
{
	uint8_t key[CIT_BACKEND_KEY_LEN], want[CIT_SEAL_ID_LEN], have[64];
	memset(key, 0xff, sizeof(key));
	crypto_generichash(want, sizeof(want), (const uint8_t *)KEYCHECK_LABEL, sizeof(KEYCHECK_LABEL), e->master,
			   CIT_SEAL_KEY_LEN);
	size_t len = 0;
	*fresh = false;
	int rc = cit_backend_get(e->b, key, have, sizeof(have), &len, err);
	if (rc == 0 || rc == -ENOBUFS)
		return rc == 0 && len == sizeof(want) && !sodium_memcmp(have, want, sizeof(want))
			       ? 0
			       : cit_error_say(err, -EKEYREJECTED, "the state store was sealed under another master key "
							       "(restore its key: STATE_DIR/master.key, "
							       "--master-key-file or $CITADEL_MASTER_KEY)");
	if (rc != -ENOENT)
		return rc;
	if ((rc = cit_backend_scan(e->b, NULL, 0, any_record, NULL, err)) < 0)
		return rc;
	if (rc == 1)
		return cit_error_say(err, -EKEYREJECTED, "the state store holds records but not this master key's "
				     "check: it was sealed under another key, or its check was deleted");
	struct cit_kv_op op = { .kind = CIT_KV_PUT, .record = want, .len = sizeof(want) };
	memcpy(op.key, key, sizeof(key));
	if ((rc = cit_backend_apply(e->b, &op, 1, err)) < 0)
		return rc;
	*fresh = true;
	return 0;
}

int cit_engine_open(struct cit_engine **out, struct cit_backend *b, const uint8_t master[CIT_SEAL_KEY_LEN],
		    struct cit_error *err)
{
	if (sodium_init() < 0)
		return cit_error_set(err, -ENOSYS, "libsodium does not start");
	struct cit_engine *e = calloc(1, sizeof(*e));
	if (!e || rec_room(e, 4096) < 0) {
		free(e);
		return cit_error_set(err, -ENOMEM, "out of memory");
	}
	e->b = b;
	memcpy(e->master, master, CIT_SEAL_KEY_LEN);
	crypto_generichash(e->ck_key, sizeof(e->ck_key), (const uint8_t *)CK_LABEL, sizeof(CK_LABEL), master,
			   CIT_SEAL_KEY_LEN);
	*out = e;
	return 0;
}

void cit_engine_close(struct cit_engine *e)
{
	if (!e)
		return;
	while (e->list) {
		struct cit_ns *ns = e->list;
		e->list = ns->next;
		ns_free(ns);
	}
	free(e->rec);
	sodium_memzero(e, sizeof(*e));
	free(e);
}

size_t cit_engine_checkpoint_size(const struct cit_engine *e)
{
	size_t n = 0;
	for (const struct cit_ns *ns = e->list; ns; ns = ns->next)
		n++;
	return CK_NONCE + 16 + 16 + n * CK_ITEM;
}

long cit_engine_checkpoint(struct cit_engine *e, uint8_t *buf, size_t cap)
{
	if (cap < cit_engine_checkpoint_size(e))
		return -ENOBUFS;
	uint8_t *plain = buf + CK_NONCE;
	memcpy(plain, CK_MAGIC, 8);
	size_t at = 16;
	uint32_t n = 0;
	for (struct cit_ns *ns = e->list; ns; ns = ns->next) {
		/* A failed namespace keeps what the last good checkpoint said of it. */
		const struct sums *s = ns->failed ? (ns->in_ck ? &ns->ck : NULL) : &ns->now;
		if (!s || !s->seq)
			continue;
		memset(plain + at, 0, 64);
		memcpy(plain + at, ns->k.ns, strlen(ns->k.ns));
		put_le(plain + at + 64, s->seq);
		put_le(plain + at + 72, s->count);
		memcpy(plain + at + 80, s->root, CIT_SEAL_ID_LEN);
		at += CK_ITEM;
		n++;
	}
	put_le(plain + 8, n);
	randombytes_buf(buf, CK_NONCE);
	unsigned long long clen = 0;
	crypto_aead_xchacha20poly1305_ietf_encrypt(plain, &clen, plain, at, (const uint8_t *)CK_LABEL, sizeof(CK_LABEL),
						   NULL, buf, e->ck_key);
	return (long)(CK_NONCE + clen);
}

int cit_engine_verify(struct cit_engine *e, const uint8_t *blob, size_t len, const char **first,
		      struct cit_error *err)
{
	*first = NULL;
	if (len < CK_NONCE + 16 + 16)
		return cit_error_say(err, -EBADMSG, "the state's checkpoint is cut short");
	uint8_t *plain = malloc(len);
	if (!plain)
		return cit_error_set(err, -ENOMEM, "out of memory");
	unsigned long long mlen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &mlen, NULL, blob + CK_NONCE, len - CK_NONCE,
						       (const uint8_t *)CK_LABEL, sizeof(CK_LABEL), blob,
						       e->ck_key) < 0 ||
	    mlen < 16 || memcmp(plain, CK_MAGIC, 8) || get_le(plain + 8) > (mlen - 16) / CK_ITEM) {
		free(plain);
		return cit_error_say(err, -EBADMSG, "the state's checkpoint does not open under this master key "
				     "(altered, or another key)");
	}
	uint64_t n = get_le(plain + 8);
	int failed = 0, rc = 0;
	for (uint64_t i = 0; i < n && rc == 0; i++) {
		const uint8_t *it = plain + 16 + i * CK_ITEM;
		char name[65] = { 0 };
		memcpy(name, it, 64);
		struct cit_ns *ns = cit_engine_ns(e, name, err);
		if (!ns) {
			rc = err->code == -EINVAL ? 0 : err->code; /* a name no namespace has: skip it */
			continue;
		}
		ns->in_ck = true;
		ns->ck.seq = get_le(it + 64);
		ns->ck.count = get_le(it + 72);
		memcpy(ns->ck.root, it + 80, CIT_SEAL_ID_LEN);
		if (!ns->failed && ns->now.seq < ns->ck.seq)
			fail_ns(ns, "the store was rolled back: it holds version %llu of the namespace, older than "
				"the %llu of its last checkpoint", (unsigned long long)ns->now.seq,
				(unsigned long long)ns->ck.seq);
		else if (!ns->failed && ns->now.seq == ns->ck.seq && memcmp(ns->now.root, ns->ck.root, CIT_SEAL_ID_LEN))
			fail_ns(ns, "the store holds another history of the namespace than its last checkpoint's "
				"(version %llu)", (unsigned long long)ns->ck.seq);
		if (ns->failed) {
			failed++;
			if (!*first)
				*first = ns->failed;
		}
	}
	sodium_memzero(plain, len);
	free(plain);
	return rc < 0 ? rc : failed;
}
