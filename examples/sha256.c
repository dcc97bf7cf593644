/* sha256: responds with the SHA-256 of the request bytes, as 64 lowercase hex digits and
 * "\n". Uses libsodium, initialised once in the template by cit_init(). */
#include <citadel/function.h>

#include <errno.h>
#include <sodium.h>

int cit_init(void)
{
	if (sodium_init() < 0) {
		cit_init_fail("sha256: sodium_init failed");
		return -EIO;
	}
	return CIT_OK;
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	unsigned char hash[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	const unsigned char *in = req->len > 0 ? req->data : (const unsigned char *)"";

	if (crypto_hash_sha256(hash, in, req->len) != 0)
		return cit_fail(resp, -EIO, "sha256 failed");
	sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
	return cit_respondf(resp, "%s\n", hex);
}
