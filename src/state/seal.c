/* The state store's sealing scheme (seal.h). */
#include "state/seal.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

_Static_assert(crypto_generichash_BYTES == CIT_SEAL_KEY_LEN, "BLAKE2b-256 keys");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == CIT_SEAL_KEY_LEN, "XChaCha20 keys");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "its nonces");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16, "its tags");
_Static_assert(CIT_SEAL_NAME_MAX <= UINT16_MAX, "a name's length fits two bytes");

#define NS_LABEL "citadel-state ns 1"
#define AD_LABEL "citadel-state 1"
#define HEAD 32               /* version and nonce, before the ciphertext */

/* BLAKE2b-256 keyed with key, over a, b and c (alen, blen, clen bytes). */
static void kdf(uint8_t out[CIT_SEAL_KEY_LEN], const uint8_t key[CIT_SEAL_KEY_LEN], const void *a, size_t alen,
		const void *b, size_t blen, const void *c, size_t clen)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, CIT_SEAL_KEY_LEN, CIT_SEAL_KEY_LEN);
	crypto_generichash_update(&st, a, alen);
	if (blen)
		crypto_generichash_update(&st, b, blen);
	if (clen)
		crypto_generichash_update(&st, c, clen);
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
	kdf(k_ns, master, NS_LABEL, sizeof(NS_LABEL), ns, n, NULL, 0); /* the label's NUL separates */
	kdf(out->id_key, k_ns, "name", 4, NULL, 0, NULL, 0);
	kdf(out->value_key, k_ns, "value", 5, NULL, 0, NULL, 0);
	kdf(out->root_key, k_ns, "root", 4, NULL, 0, NULL, 0);
	kdf(out->ns_id, k_ns, "id", 2, NULL, 0, NULL, 0);
	sodium_memzero(k_ns, sizeof(k_ns));
	return 0;
}

int cit_seal_id(const struct cit_seal_ns *k, const void *name, size_t len, uint8_t id[CIT_SEAL_ID_LEN])
{
	if (len > CIT_SEAL_NAME_MAX)
		return -EINVAL;
	kdf(id, k->id_key, name, len, NULL, 0, NULL, 0);
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The associated data (seal.h): the label, the namespace (each NUL-ended), the key's id,
 * the version. Returns its length. */
#define AD_MAX (sizeof(AD_LABEL) + CIT_SEAL_NS_MAX + 1 + CIT_SEAL_ID_LEN + 8)
static size_t assoc(uint8_t ad[AD_MAX], const struct cit_seal_ns *k, const uint8_t id[CIT_SEAL_ID_LEN],
		    uint64_t version)
{
	size_t at = 0, ns = strlen(k->ns);
	memcpy(ad, AD_LABEL, sizeof(AD_LABEL));
	at += sizeof(AD_LABEL);
	memcpy(ad + at, k->ns, ns + 1);
	at += ns + 1;
	memcpy(ad + at, id, CIT_SEAL_ID_LEN);
	at += CIT_SEAL_ID_LEN;
	put_le(ad + at, version, 8);
	return at + 8;
}

long cit_seal_value(const struct cit_seal_ns *k, const uint8_t id[CIT_SEAL_ID_LEN], const void *name, size_t nlen,
		    uint64_t version, const void *value, size_t vlen, uint8_t *out, size_t cap)
{
	if (nlen > CIT_SEAL_NAME_MAX)
		return -EINVAL;
	if (cap < CIT_SEAL_OVERHEAD || nlen + vlen > cap - CIT_SEAL_OVERHEAD)
		return -ENOBUFS;
	uint8_t ad[AD_MAX];
	size_t adlen = assoc(ad, k, id, version);
	put_le(out, version, 8);
	uint8_t *nonce = out + 8, *plain = out + HEAD;
	randombytes_buf(nonce, 24);
	put_le(plain, nlen, 2);
	memcpy(plain + 2, name, nlen);
	if (vlen)
		memmove(plain + 2 + nlen, value, vlen);
	unsigned long long clen = 0; /* in place: libsodium allows the same buffer */
	crypto_aead_xchacha20poly1305_ietf_encrypt(plain, &clen, plain, 2 + nlen + vlen, ad, adlen, NULL, nonce,
						   k->value_key);
	return (long)(HEAD + clen);
}

int cit_seal_open(const struct cit_seal_ns *k, const uint8_t id[CIT_SEAL_ID_LEN], uint8_t *record, size_t rlen,
		  struct cit_unsealed *out)
{
	memset(out, 0, sizeof(*out));
	if (rlen < CIT_SEAL_OVERHEAD) { /* cut: not even a header, a length and a tag */
		if (rlen > HEAD)
			sodium_memzero(record + HEAD, rlen - HEAD);
		return -EBADMSG;
	}
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)record[i] << (8 * i);
	uint8_t ad[AD_MAX];
	size_t adlen = assoc(ad, k, id, v);
	unsigned long long mlen = 0;
	uint8_t *plain = record + HEAD;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &mlen, NULL, plain, rlen - HEAD, ad, adlen, record + 8,
						       k->value_key) < 0) {
		sodium_memzero(plain, rlen - HEAD);
		return -EBADMSG;
	}
	size_t nlen = (size_t)plain[0] | (size_t)plain[1] << 8;
	if (mlen < 2 || nlen > mlen - 2 || nlen > CIT_SEAL_NAME_MAX) { /* sealed by no monitor */
		sodium_memzero(plain, rlen - HEAD);
		return -EBADMSG;
	}
	*out = (struct cit_unsealed){ .name = plain + 2, .nlen = nlen, .value = plain + 2 + nlen,
				      .vlen = (size_t)mlen - 2 - nlen, .version = v };
	return 0;
}

void cit_seal_entry(const struct cit_seal_ns *k, const uint8_t id[CIT_SEAL_ID_LEN], const uint8_t *record,
		    uint8_t out[CIT_SEAL_ID_LEN])
{
	kdf(out, k->root_key, id, CIT_SEAL_ID_LEN, record, HEAD, NULL, 0);
}

void cit_seal_wipe(struct cit_seal_ns *k)
{
	sodium_memzero(k, sizeof(*k));
}
