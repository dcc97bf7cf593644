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

	/* A round trip; the value and the name are nowhere in the record. */
	const char secret[] = "the value nobody below may read";
	uint8_t rec[256], out[256];
	long n = cit_seal_value(&a, "hits", 4, 7, secret, sizeof(secret), rec, sizeof(rec));
	uint64_t v = 0;
	long m = cit_seal_open(&a2, "hits", 4, rec, (size_t)n, out, sizeof(out), &v);
	tap_ok(n == (long)(sizeof(secret) + CIT_SEAL_OVERHEAD) && m == (long)sizeof(secret) && v == 7 &&
		       !memcmp(out, secret, sizeof(secret)),
	       "sealed and opened again: the value and its version (%ld, %ld)", n, m);
	tap_ok(!contains(rec, (size_t)n, "value nobody", 12) && !contains(rec, (size_t)n, "hits", 4),
	       "neither the value nor the key's name is in the record");
	uint8_t rec2[256];
	long n2 = cit_seal_value(&a, "hits", 4, 7, secret, sizeof(secret), rec2, sizeof(rec2));
	tap_ok(n2 == n && memcmp(rec, rec2, (size_t)n), "sealing twice gives two records (fresh nonces)");

	/* Every byte flipped, one at a time: each fails to open, and yields no byte. */
	int opened = 0;
	for (long i = 0; i < n; i++) {
		rec[i] ^= 0x40;
		memset(out, 0xee, sizeof(out));
		long r = cit_seal_open(&a, "hits", 4, rec, (size_t)n, out, sizeof(out), &v);
		opened += r != -EBADMSG || contains(out, sizeof(out), "value nobody", 12);
		rec[i] ^= 0x40;
	}
	tap_ok(opened == 0, "a flipped byte anywhere in the record is an integrity error (%d opened)", opened);
	/* Cut at every length. */
	opened = 0;
	for (long len = 0; len < n; len++)
		opened += cit_seal_open(&a, "hits", 4, rec, (size_t)len, out, sizeof(out), &v) != -EBADMSG;
	tap_ok(opened == 0, "a record cut at any length is an integrity error");
	/* Moved to another key, another namespace; the version rewritten. */
	tap_ok(cit_seal_open(&a, "hitz", 4, rec, (size_t)n, out, sizeof(out), &v) == -EBADMSG,
	       "a record swapped onto another key fails to open");
	tap_ok(cit_seal_open(&b, "hits", 4, rec, (size_t)n, out, sizeof(out), &v) == -EBADMSG,
	       "a record moved to another namespace fails to open");
	tap_ok(cit_seal_open(&other_master, "hits", 4, rec, (size_t)n, out, sizeof(out), &v) == -EBADMSG,
	       "a record under another master key fails to open");
	rec[0] = 9; /* the version is bound: a backend cannot make an old record look new */
	tap_ok(cit_seal_open(&a, "hits", 4, rec, (size_t)n, out, sizeof(out), &v) == -EBADMSG,
	       "a record whose version was rewritten fails to open");
	rec[0] = 7;
	/* An older record of the same key opens, saying its older version: what the caller
	 * compares with the version it knows. */
	uint8_t old[256];
	long on = cit_seal_value(&a, "hits", 4, 6, "old", 3, old, sizeof(old));
	tap_ok(cit_seal_open(&a, "hits", 4, old, (size_t)on, out, sizeof(out), &v) == 3 && v == 6,
	       "an older record says its own version (6, not 7): a rollback the caller sees");
	/* Names with any bytes; buffers too small. */
	const char bin[] = { 'a', 0, 'b' };
	n = cit_seal_value(&a, bin, 3, 1, "", 0, rec, sizeof(rec));
	tap_ok(cit_seal_open(&a, bin, 3, rec, (size_t)n, out, sizeof(out), &v) == 0 &&
		       cit_seal_open(&a, "a", 1, rec, (size_t)n, out, sizeof(out), &v) == -EBADMSG,
	       "a name with a NUL is a name of its own (not its prefix)");
	tap_ok(cit_seal_value(&a, "k", 1, 1, secret, sizeof(secret), rec, CIT_SEAL_OVERHEAD) == -ENOBUFS,
	       "a record that does not fit is refused");
	n = cit_seal_value(&a, "k", 1, 1, secret, sizeof(secret), rec, sizeof(rec));
	tap_ok(cit_seal_open(&a, "k", 1, rec, (size_t)n, out, 3, &v) == -ENOBUFS, "a value that does not fit is refused");
	cit_seal_wipe(&a);
	static const struct cit_seal_ns zero;
	tap_ok(!memcmp(&a, &zero, sizeof(a)), "wiped");
	return tap_done();
}
