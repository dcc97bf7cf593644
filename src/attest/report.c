/* Checking reports and sealing invocations (report.h). Every byte of a report is
 * untrusted until its signature is checked, and its fields are checked for shape after. */
#include "attest/report.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int cit_hex32(const char *s, size_t len, uint8_t key[32])
{
	if (len == 65 && s[64] == '\n')
		len = 64;
	size_t bin = 0;
	if (len != 64 || strspn(s, "0123456789abcdefABCDEF") < 64 ||
	    sodium_hex2bin(key, 32, s, 64, NULL, &bin, NULL) < 0 || bin != 32)
		return -EINVAL;
	return 0;
}

/* A string field of 64 hex digits (lowercase, as reports write them). */
static const char *hex64(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64 ? s : NULL;
}

static enum cit_verify_exit fail(struct cit_error *err, enum cit_verify_exit code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum cit_verify_exit fail(struct cit_error *err, enum cit_verify_exit code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = -EINVAL;
	return code;
}

/* The body's checks, once its signature holds. */
static enum cit_verify_exit check_body(json_t *b, const struct cit_report_want *want, struct cit_report_seen *seen,
				       struct cit_error *err)
{
	json_t *mon = json_object_get(b, "monitor"), *fn = json_object_get(b, "function");
	json_t *ts = json_object_get(b, "timestamp");
	const char *nonce = json_string_value(json_object_get(b, "nonce"));
	const char *mm = hex64(mon, "measurement");
	if (!json_is_object(b) || json_integer_value(json_object_get(b, "version")) != 1 || !json_is_integer(ts) ||
	    !nonce || !mm || !(json_is_null(fn) || json_is_object(fn)))
		return fail(err, CIT_VERIFY_MALFORMED, "the report's body lacks version 1, timestamp, nonce, monitor or "
			    "function");
	memset(seen, 0, sizeof(*seen));
	seen->timestamp = json_integer_value(ts);
	memcpy(seen->monitor_measurement, mm, 65);
	if (json_is_object(fn)) {
		const char *name = json_string_value(json_object_get(fn, "name")), *m = hex64(fn, "measurement");
		const char *cm = hex64(fn, "code_measurement"), *sk = hex64(b, "sealing_key");
		json_t *enc = json_object_get(fn, "encoding");
		uint8_t digest[32];
		char dhex[65];
		if (!name || strlen(name) >= sizeof(seen->name) || !m || !cm || !sk || !json_is_string(enc))
			return fail(err, CIT_VERIFY_MALFORMED, "the report's function lacks name, measurement, "
				    "code_measurement, encoding or sealing_key");
		crypto_hash_sha256(digest, (const uint8_t *)json_string_value(enc), json_string_length(enc));
		sodium_bin2hex(dhex, sizeof(dhex), digest, 32);
		if (strcmp(dhex, m))
			return fail(err, CIT_VERIFY_MALFORMED, "the function's encoding does not hash to its measurement");
		seen->function = true;
		snprintf(seen->name, sizeof(seen->name), "%s", name);
		memcpy(seen->measurement, m, 65);
		memcpy(seen->code_measurement, cm, 65);
		cit_hex32(sk, 64, seen->sealing_key);
	}
	if (want->name && !seen->function)
		return fail(err, CIT_VERIFY_FUNCTION, "the report is the monitor's alone, not function %s's", want->name);
	if (want->name && strcmp(want->name, seen->name))
		return fail(err, CIT_VERIFY_FUNCTION, "the report is function %s's, not %s's", seen->name, want->name);
	if (want->nonce && strcasecmp(want->nonce, nonce))
		return fail(err, CIT_VERIFY_NONCE, "the report's nonce is '%.32s%s', not the one given (a replayed or "
			    "another's report)", nonce, strlen(nonce) > 32 ? "..." : "");
	if (want->measurement && !seen->function)
		return fail(err, CIT_VERIFY_MEASUREMENT, "the report is the monitor's alone: it measures no function");
	if (want->measurement && strcasecmp(want->measurement, seen->measurement))
		return fail(err, CIT_VERIFY_MEASUREMENT, "function %s's measurement is %s, not the one expected", seen->name,
			    seen->measurement);
	if (want->monitor_measurement && strcasecmp(want->monitor_measurement, mm))
		return fail(err, CIT_VERIFY_MONITOR, "the monitor's measurement is %s, not the one expected", mm);
	int64_t age = (int64_t)time(NULL) - seen->timestamp;
	if (age < -300)
		return fail(err, CIT_VERIFY_STALE, "the report was signed %lld s in the future (a clock far ahead, or "
			    "a forged time)", -(long long)age);
	if (want->max_age_s && age > (int64_t)want->max_age_s)
		return fail(err, CIT_VERIFY_STALE, "the report was signed %lld s ago, more than --max-age %llu",
			    (long long)age, (unsigned long long)want->max_age_s);
	return CIT_VERIFY_OK;
}

enum cit_verify_exit cit_report_check(const char *text, size_t len, const struct cit_report_want *want,
				      struct cit_report_seen *seen, char **body, struct cit_error *err)
{
	struct cit_report_seen local;
	if (!seen)
		seen = &local;
	if (body)
		*body = NULL;
	if (sodium_init() < 0)
		return fail(err, CIT_VERIFY_MALFORMED, "libsodium does not start");
	if (len > CIT_REPORT_MAX)
		return fail(err, CIT_VERIFY_MALFORMED, "the report is over %u bytes", CIT_REPORT_MAX);
	json_error_t jerr;
	json_t *outer = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *format = json_string_value(json_object_get(outer, "format"));
	json_t *jbody = json_object_get(outer, "body");
	const char *sig = json_string_value(json_object_get(outer, "signature"));
	enum cit_verify_exit rc = CIT_VERIFY_OK;
	uint8_t sigbin[crypto_sign_BYTES];
	size_t bin = 0;
	if (!outer)
		rc = fail(err, CIT_VERIFY_MALFORMED, "not JSON: %s (line %d)", jerr.text, jerr.line);
	else if (!format || strcmp(format, CIT_REPORT_FORMAT))
		rc = fail(err, CIT_VERIFY_MALFORMED, "not a report of format %s", CIT_REPORT_FORMAT);
	else if (!json_is_string(jbody) || !sig || strlen(sig) != 2 * crypto_sign_BYTES ||
		 sodium_hex2bin(sigbin, sizeof(sigbin), sig, strlen(sig), NULL, &bin, NULL) < 0 || bin != sizeof(sigbin))
		rc = fail(err, CIT_VERIFY_MALFORMED, "the report lacks its body or its signature (128 hex digits)");
	json_t *b = rc ? NULL : json_loadb(json_string_value(jbody), json_string_length(jbody), JSON_REJECT_DUPLICATES,
					   &jerr);
	const char *pk = b ? hex64(json_object_get(b, "monitor"), "public_key") : NULL;
	uint8_t key[32];
	if (!rc && !b)
		rc = fail(err, CIT_VERIFY_MALFORMED, "the report's body is not JSON: %s", jerr.text);
	else if (!rc && (!pk || cit_hex32(pk, 64, key) < 0))
		rc = fail(err, CIT_VERIFY_MALFORMED, "the report's body names no monitor public key");
	else if (!rc && sodium_memcmp(key, want->key, 32))
		rc = fail(err, CIT_VERIFY_WRONG_KEY, "the report is signed for key %.16s..., not the key given", pk);
	if (!rc) {
		size_t clen = sizeof(CIT_REPORT_CONTEXT) - 1, blen = json_string_length(jbody);
		uint8_t *msg = malloc(clen + blen);
		if (!msg)
			rc = fail(err, CIT_VERIFY_MALFORMED, "out of memory");
		else {
			memcpy(msg, CIT_REPORT_CONTEXT, clen);
			memcpy(msg + clen, json_string_value(jbody), blen);
			if (crypto_sign_verify_detached(sigbin, msg, clen + blen, want->key) != 0)
				rc = fail(err, CIT_VERIFY_BAD_SIGNATURE, "the signature does not match the report: it was "
					  "altered after it was signed");
			free(msg);
		}
	}
	if (!rc)
		rc = check_body(b, want, seen, err);
	if (!rc && body && !(*body = strdup(json_string_value(jbody))))
		rc = fail(err, CIT_VERIFY_MALFORMED, "out of memory");
	json_decref(b);
	json_decref(outer);
	return rc;
}

int cit_seal_request(const uint8_t fn_pk[32], const char *ctype, const void *body, size_t len, uint8_t client_pk[32],
		     uint8_t client_sk[32], uint8_t **out, size_t *out_len)
{
	size_t clen = ctype ? strlen(ctype) : 0;
	if (clen >= 128)
		return -EINVAL;
	if (len > (1ull << 30))
		return -EFBIG;
	if (sodium_init() < 0)
		return -ENOMEM;
	size_t plen = 32 + 1 + clen + len;
	uint8_t *plain = malloc(plen), *ct = malloc(plen + crypto_box_SEALBYTES);
	if (!plain || !ct) {
		free(plain);
		free(ct);
		return -ENOMEM;
	}
	crypto_box_keypair(client_pk, client_sk);
	memcpy(plain, client_pk, 32);
	plain[32] = (uint8_t)clen;
	memcpy(plain + 33, ctype ? ctype : "", clen);
	if (len)
		memcpy(plain + 33 + clen, body, len);
	/* A key that is no key (all zeros, a small-order point) seals nothing: nothing goes. */
	int rc = crypto_box_seal(ct, plain, plen, fn_pk);
	sodium_memzero(plain, plen);
	free(plain);
	if (rc != 0) {
		sodium_memzero(client_sk, 32);
		free(ct);
		return -EINVAL;
	}
	*out = ct;
	*out_len = plen + crypto_box_SEALBYTES;
	return 0;
}

int cit_seal_open_response(const uint8_t client_pk[32], const uint8_t client_sk[32], const void *ct, size_t len,
			   uint8_t **plain, const uint8_t **body, size_t *blen, char ctype[128])
{
	*plain = NULL;
	if (len < crypto_box_SEALBYTES + 1)
		return -EBADMSG;
	size_t plen = len - crypto_box_SEALBYTES;
	uint8_t *p = malloc(plen);
	if (!p)
		return -ENOMEM;
	if (crypto_box_seal_open(p, ct, len, client_pk, client_sk) != 0 || 1u + p[0] > plen || p[0] >= 128) {
		free(p);
		return -EBADMSG;
	}
	memcpy(ctype, p + 1, p[0]);
	ctype[p[0]] = 0;
	*plain = p;
	*body = p + 1 + p[0];
	*blen = plen - 1 - p[0];
	return 0;
}
