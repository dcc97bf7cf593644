/* The state store's sealing scheme (src/state/seal.h): a record opens only as what it was
 * sealed as, and a backend that alters, cuts, swaps or rolls back records, or reads them,
 * gets nothing: each attempt is made here and must fail. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "state/seal.h"
#include "tap.h"

static const uint8_t master[CIT_SEAL_KEY_LEN] = "0123456789abcdef0123456789abcdef";

static bool contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	return m <= n && memmem(hay, n, needle, m) != NULL;
}

/* Opens a copy of rec (n bytes) under id: 0 or the error; the value into val (256 bytes). */
static int open_copy(const struct cit_seal_ns *k, const uint8_t *id, const uint8_t *rec, size_t n,
		     struct cit_unsealed *u, uint8_t copy[512])
{
	memcpy(copy, rec, n);
	return cit_seal_open(k, id, copy, n, u);
}

int main(void)
{
	struct cit_seal_ns a, b, a2;
	tap_ok(cit_seal_ns_init(&a, master, "counter") == 0 && cit_seal_ns_init(&b, master, "other") == 0 &&
		       cit_seal_ns_init(&a2, master, "counter") == 0, "namespaces' keys derived");
	tap_ok(cit_seal_ns_init(&b, master, "") == -EINVAL, "an empty namespace is refused");
	char longname[CIT_SEAL_NS_MAX + 2];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	tap_ok(cit_seal_ns_init(&b, master, longname) == -EINVAL, "a namespace of 64 bytes is refused");
	cit_seal_ns_init(&b, master, "other");

	/* Ids: deterministic, per namespace, per master key, and no name inside. */
	uint8_t id1[CIT_SEAL_ID_LEN], id2[CIT_SEAL_ID_LEN], id3[CIT_SEAL_ID_LEN], id4[CIT_SEAL_ID_LEN];
	cit_seal_id(&a, "hits", 4, id1);
	cit_seal_id(&a2, "hits", 4, id2);
	cit_seal_id(&b, "hits", 4, id3);
	struct cit_seal_ns other_master;
	uint8_t master2[CIT_SEAL_KEY_LEN];
	memcpy(master2, master, sizeof(master2));
	master2[0] ^= 1;
	cit_seal_ns_init(&other_master, master2, "counter");
	cit_seal_id(&other_master, "hits", 4, id4);
	tap_ok(!memcmp(id1, id2, sizeof(id1)) && memcmp(id1, id3, sizeof(id1)) && memcmp(id1, id4, sizeof(id1)),
	       "a key's id is the same each time, and differs by namespace and by master key");
	tap_ok(cit_seal_id(&a, "x", CIT_SEAL_NAME_MAX + 1, id1) == -EINVAL, "a name over 1 KiB is refused");
	uint8_t hitz[CIT_SEAL_ID_LEN];
	cit_seal_id(&a, "hitz", 4, hitz);

	/* A round trip; the value and the name are nowhere in the record. */
	const char secret[] = "the value nobody below may read";
	uint8_t rec[256], copy[512];
	struct cit_unsealed u;
	long n = cit_seal_value(&a, id1, "hits", 4, 7, secret, sizeof(secret), rec, sizeof(rec));
	int rc = open_copy(&a2, id1, rec, (size_t)n, &u, copy);
	tap_ok(n == (long)(sizeof(secret) + 4 + CIT_SEAL_OVERHEAD) && rc == 0 && u.version == 7 &&
		       u.vlen == sizeof(secret) && !memcmp(u.value, secret, sizeof(secret)) && u.nlen == 4 &&
		       !memcmp(u.name, "hits", 4),
	       "sealed and opened again: the name, the value and its version (%ld, %d)", n, rc);
	tap_ok(!contains(rec, (size_t)n, "value nobody", 12) && !contains(rec, (size_t)n, "hits", 4),
	       "neither the value nor the key's name is in the record");
	uint8_t rec2[256];
	long n2 = cit_seal_value(&a, id1, "hits", 4, 7, secret, sizeof(secret), rec2, sizeof(rec2));
	tap_ok(n2 == n && memcmp(rec, rec2, (size_t)n), "sealing twice gives two records (fresh nonces)");
	uint8_t e1[CIT_SEAL_ID_LEN], e2[CIT_SEAL_ID_LEN], e3[CIT_SEAL_ID_LEN];
	cit_seal_entry(&a, id1, rec, e1);
	cit_seal_entry(&a, id1, rec2, e2);
	memcpy(copy, rec, (size_t)n);
	cit_seal_open(&a, id1, copy, (size_t)n, &u);
	cit_seal_entry(&a, id1, copy, e3);
	tap_ok(memcmp(e1, e2, sizeof(e1)) && !memcmp(e1, e3, sizeof(e1)),
	       "each record has its own entry in the root, the same after it was opened in place");

	/* Every byte flipped, one at a time: each fails to open, and yields no byte. */
	int opened = 0;
	for (long i = 0; i < n; i++) {
		rec[i] ^= 0x40;
		rc = open_copy(&a, id1, rec, (size_t)n, &u, copy);
		opened += rc != -EBADMSG || u.value || contains(copy, (size_t)n, "value nobody", 12);
		rec[i] ^= 0x40;
	}
	tap_ok(opened == 0, "a flipped byte anywhere in the record is an integrity error (%d opened)", opened);
	/* Cut at every length. */
	opened = 0;
	for (long len = 0; len < n; len++)
		opened += open_copy(&a, id1, rec, (size_t)len, &u, copy) != -EBADMSG ||
			  contains(copy, (size_t)len, "value nobody", 12);
	tap_ok(opened == 0, "a record cut at any length is an integrity error");
	/* Moved to another key, another namespace; the version rewritten. */
	tap_ok(open_copy(&a, hitz, rec, (size_t)n, &u, copy) == -EBADMSG, "a record swapped onto another key fails to open");
	tap_ok(open_copy(&b, id1, rec, (size_t)n, &u, copy) == -EBADMSG,
	       "a record moved to another namespace fails to open");
	tap_ok(open_copy(&other_master, id1, rec, (size_t)n, &u, copy) == -EBADMSG,
	       "a record under another master key fails to open");
	rec[0] = 9; /* the version is bound: a backend cannot make an old record look new */
	tap_ok(open_copy(&a, id1, rec, (size_t)n, &u, copy) == -EBADMSG, "a record whose version was rewritten fails to open");
	rec[0] = 7;
	/* An older record of the same key opens, saying its older version: what the caller
	 * compares with the version it knows. */
	uint8_t old[256];
	long on = cit_seal_value(&a, id1, "hits", 4, 6, "old", 3, old, sizeof(old));
	tap_ok(open_copy(&a, id1, old, (size_t)on, &u, copy) == 0 && u.vlen == 3 && u.version == 6,
	       "an older record says its own version (6, not 7): a rollback the caller sees");
	/* Names with any bytes; an empty value; buffers too small. */
	const char bin[] = { 'a', 0, 'b' };
	uint8_t idbin[CIT_SEAL_ID_LEN];
	cit_seal_id(&a, bin, 3, idbin);
	n = cit_seal_value(&a, idbin, bin, 3, 1, "", 0, rec, sizeof(rec));
	tap_ok(open_copy(&a, idbin, rec, (size_t)n, &u, copy) == 0 && u.nlen == 3 && !memcmp(u.name, bin, 3) &&
		       u.vlen == 0,
	       "a name with a NUL, and an empty value");
	tap_ok(cit_seal_value(&a, id1, "k", 1, 1, secret, sizeof(secret), rec, CIT_SEAL_OVERHEAD + 1) == -ENOBUFS,
	       "a record that does not fit is refused");
	tap_ok(cit_seal_value(&a, id1, "k", CIT_SEAL_NAME_MAX + 1, 1, "", 0, rec, sizeof(rec)) == -EINVAL,
	       "a name over 1 KiB cannot be sealed");
	cit_seal_wipe(&a);
	static const struct cit_seal_ns zero;
	tap_ok(!memcmp(&a, &zero, sizeof(a)), "wiped");
	return tap_done();
}
