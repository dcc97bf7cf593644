/* citadel-remote's attestation commands (remote.h): the report fetched over HTTP, checked
 * here as citadel verify checks it; a sealed invocation's request and response cross the
 * gateway as ciphertext only. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attest/report.h"
#include "cli/deploy.h"
#include "common/fdutil.h"
#include "common/util.h"
#include "proto/proto.h"
#include "remote/remote.h"

#define REPORT_TIMEOUT_S 60

/* GET the report of function name ("": the monitor's) with nonce (nlen bytes) into a.
 * Returns 0, or the exit status (printed); g stays open. */
static int get_report(struct gw *g, const char *name, const uint8_t *nonce, size_t nlen, struct gw_answer *a)
{
	char hex[2 * CIT_ATTEST_NONCE_MAX + 1], path[256];
	sodium_bin2hex(hex, sizeof(hex), nonce, nlen);
	if (name[0])
		snprintf(path, sizeof(path), "/v1/functions/%s/attestation?nonce=%s", name, hex);
	else
		snprintf(path, sizeof(path), "/v1/attestation?nonce=%s", hex);
	struct gw_request r = { .method = "GET", .path = path, .timeout_s = REPORT_TIMEOUT_S,
				.max_answer = CIT_REPORT_MAX, .subject = "" };
	return gw_call(g, &r, a);
}

static int report_command(int argc, char **argv, const char *cmd, bool named)
{
	const char *name, *sock = NULL, *url = NULL;
	uint8_t nonce[CIT_ATTEST_NONCE_MAX];
	size_t nlen;
	char usage[128];
	snprintf(usage, sizeof(usage), "usage: citadel %s%s --url URL\n(see `citadel %s --help`)\n", cmd,
		 named ? " [NAME] [--nonce HEX]" : "", cmd);
	int rc = cit_report_args(argc, argv, cmd, usage, named, &name, nonce, &nlen, &sock, &url);
	struct gw g;
	if (rc >= 0 || (rc = remote_gateway(cmd, url, sock, NULL, &g)))
		return rc;
	struct gw_answer a;
	if ((rc = get_report(&g, name, nonce, nlen, &a))) {
		gw_close(&g);
		return rc;
	}
	const char *text = gw_answer_bytes(&a);
	if (named) {
		rc = !text || cit_write_all(1, text, a.len) < 0 || cit_write_all(1, "\n", 1) < 0;
	} else {
		json_t *outer = text ? json_loadb(text, a.len, 0, NULL) : NULL;
		json_t *body = json_loads(json_string_value(json_object_get(outer, "body")) ?: "", 0, NULL);
		const char *pk = json_string_value(json_object_get(json_object_get(body, "monitor"), "public_key"));
		if (pk)
			printf("%s\n", pk);
		else
			fprintf(stderr, "citadel key: %s answered with no report naming a key\n", g.url);
		rc = !pk;
		json_decref(body);
		json_decref(outer);
	}
	gw_answer_done(&a);
	gw_close(&g);
	return rc;
}

int remote_attest(int argc, char **argv)
{
	return report_command(argc, argv, "attest", true);
}

int remote_key(int argc, char **argv)
{
	return report_command(argc, argv, "key", false);
}

int remote_invoke_sealed(struct gw *g, const struct cit_invoke_args *a, const char *bearer)
{
	struct cit_report_want want = { .name = a->name, .measurement = a->measurement };
	int rc = cit_read_key_arg("invoke", a->seal_key, want.key);
	uint8_t nonce[32], pk[32], sk[32], *ct = NULL;
	char nonce_hex[65];
	randombytes_buf(nonce, sizeof(nonce));
	sodium_bin2hex(nonce_hex, sizeof(nonce_hex), nonce, sizeof(nonce));
	want.nonce = nonce_hex;
	struct gw_answer ans;
	if (rc || (rc = get_report(g, a->name, nonce, sizeof(nonce), &ans))) {
		gw_close(g);
		return rc;
	}
	struct cit_report_seen seen;
	struct cit_error err = { 0 };
	const char *text = gw_answer_bytes(&ans);
	enum cit_verify_exit v = text ? cit_report_check(text, ans.len, &want, &seen, NULL, &err) : CIT_VERIFY_MALFORMED;
	gw_answer_done(&ans);
	if (v != CIT_VERIFY_OK) {
		fprintf(stderr, "citadel invoke: function %s's report does not check, nothing was sent: %s\n", a->name,
			text ? err.msg : "no report");
		gw_close(g);
		return 1;
	}
	const void *body;
	uint64_t len;
	void *map;
	size_t ctlen = 0;
	_cleanup_close_ int obj = -1;
	if ((rc = cit_request_bytes("invoke", a->data, a->file, &obj, &body, &len, &map))) {
		gw_close(g);
		return rc;
	}
	rc = cit_seal_request(seen.sealing_key, a->content_type, body, len, pk, sk, &ct, &ctlen);
	if (map)
		munmap(map, len);
	if (rc < 0) {
		fprintf(stderr, "citadel invoke: sealing the request: %s\n", strerror(-rc));
		gw_close(g);
		return 1;
	}
	char path[96];
	snprintf(path, sizeof(path), "/v1/functions/%s/invoke", a->name);
	struct gw_request r = { .method = "POST", .path = path, .bearer = bearer, .content_type = CIT_SEALED_CTYPE,
				.body = ct, .body_len = ctlen, .max_answer = CIT_FN_MAX_OUTPUT + 1024, .output = true,
				.subject = "" };
	rc = gw_call(g, &r, &ans);
	free(ct);
	gw_close(g);
	if (rc) {
		sodium_memzero(sk, sizeof(sk));
		return rc;
	}
	uint8_t *plain = NULL;
	const uint8_t *out = NULL;
	size_t olen = 0;
	char ctype[128];
	const void *sealed = gw_answer_bytes(&ans);
	int orc = sealed || !ans.len ? cit_seal_open_response(pk, sk, sealed, ans.len, &plain, &out, &olen, ctype)
				     : -ENOMEM;
	sodium_memzero(sk, sizeof(sk));
	gw_answer_done(&ans);
	if (orc == 0 && olen)
		orc = cit_write_all(1, out, olen);
	free(plain);
	if (orc < 0) {
		fprintf(stderr, "citadel invoke: the response: %s\n",
			orc == -EBADMSG ? "it is not sealed to this call's key" : strerror(-orc));
		return 1;
	}
	return 0;
}
