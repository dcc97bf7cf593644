/* The state store's sealing scheme (seal.h). */
#include "state/seal.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

_Static_assert(crypto_generichash_BYTES == CIT_SEAL_KEY_LEN, "BLAKE2b-256 keys");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == CIT_SEAL_KEY_LEN, "XChaCha20 keys");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "its nonces");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16, "its tags");

#define NS_LABEL "citadel-state ns 1"
#define AD_LABEL "citadel-state 1"

/* BLAKE2b-256 keyed with key, over a then b (alen, blen bytes). */
static void kdf(uint8_t out[CIT_SEAL_KEY_LEN], const uint8_t key[CIT_SEAL_KEY_LEN], const void *a, size_t alen,
		const void *b, size_t blen)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, CIT_SEAL_KEY_LEN, CIT_SEAL_KEY_LEN);
	crypto_generichash_update(&st, a, alen);
	if (blen)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, CIT_SEAL_KEY_LEN);
	sodium_memzero(&st, sizeof(st));
}

int cit_seal_ns_init(struct cit_seal_ns *out, const uint8_t master[CIT_SEAL_KEY_LEN], const char *ns)
{
	size_t n = strnlen(ns, CIT_SEAL_NS_MAX + 1);
	if (!n || n > CIT_SEAL_NS_MAX)
		return -EINVAL;
	if (sodium_init() < 0)
		return -ENOSYS;
	memset(out, 0, sizeof(*out));
	memcpy(out->ns, ns, n);
	uint8_t k_ns[CIT_SEAL_KEY_LEN];
	kdf(k_ns, master, NS_LABEL, sizeof(NS_LABEL), ns, n); /* the label's NUL separates */
	kdf(out->id_key, k_ns, "name", 4, NULL, 0);
	kdf(out->value_key, k_ns, "value", 5, NULL, 0);
	sodium_memzero(k_ns, sizeof(k_ns));
	return 0;
}

int cit_seal_id(const struct cit_seal_ns *k, const void *name, size_t len, uint8_t id[CIT_SEAL_ID_LEN])
{
	if (len > CIT_SEAL_NAME_MAX)
		return -EINVAL;
	kdf(id, k->id_key, name, len, NULL, 0);
	return 0;
}

/* The associated data: the label, the namespace, the name and the version, each length-
 * delimited (NULs after the strings; the name is counted, since it may hold any byte).
 * Returns its length. */
static size_t assoc(uint8_t *ad, const struct cit_seal_ns *k, const void *name, size_t nlen, uint64_t version)
{
	size_t at = 0, ns = strlen(k->ns);
	memcpy(ad, AD_LABEL, sizeof(AD_LABEL));
	at += sizeof(AD_LABEL);
	memcpy(ad + at, k->ns, ns + 1);
	at += ns + 1;
	for (int i = 0; i < 4; i++) /* the name's length, then its bytes */
		ad[at++] = (uint8_t)(nlen >> (8 * i));
	memcpy(ad + at, name, nlen);
	at += nlen;
	for (int i = 0; i < 8; i++)
		ad[at++] = (uint8_t)(version >> (8 * i));
	return at;
}

#define AD_MAX (sizeof(AD_LABEL) + CIT_SEAL_NS_MAX + 1 + 4 + CIT_SEAL_NAME_MAX + 8)

long cit_seal_value(const struct cit_seal_ns *k, const void *name, size_t nlen, uint64_t version,
		    const void *value, size_t vlen, uint8_t *out, size_t cap)
{
	if (nlen > CIT_SEAL_NAME_MAX)
		return -EINVAL;
	if (cap < CIT_SEAL_OVERHEAD || vlen > cap - CIT_SEAL_OVERHEAD)
		return -ENOBUFS;
	uint8_t ad[AD_MAX];
	size_t adlen = assoc(ad, k, name, nlen, version);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(version >> (8 * i));
	uint8_t *nonce = out + 8;
	randombytes_buf(nonce, 24);
	unsigned long long clen = 0;
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 32, &clen, value, vlen, ad, adlen, NULL, nonce, k->value_key);
	return (long)(32 + clen);
}

long cit_seal_open(const struct cit_seal_ns *k, const void *name, size_t nlen, const uint8_t *record, size_t rlen,
		   uint8_t *value, size_t cap, uint64_t *version)
{
	if (nlen > CIT_SEAL_NAME_MAX)
		return -EINVAL;
	if (rlen < CIT_SEAL_OVERHEAD)
		return -EBADMSG; /* cut: not even a header and a tag */
	if (rlen - CIT_SEAL_OVERHEAD > cap)
		return -ENOBUFS;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)record[i] << (8 * i);
	uint8_t ad[AD_MAX];
	size_t adlen = assoc(ad, k, name, nlen, v);
	unsigned long long mlen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(value, &mlen, NULL, record + 32, rlen - 32, ad, adlen, record + 8,
						       k->value_key) < 0)
		return -EBADMSG;
	*version = v;
	return (long)mlen;
}

void cit_seal_wipe(struct cit_seal_ns *k)
{
	sodium_memzero(k, sizeof(*k));
}
