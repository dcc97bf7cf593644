/* `citadel attest`, `citadel key` and `citadel invoke --seal` on the local socket
 * (docs/attestation.md); citadel-remote does the same over HTTP.
 * Exit status: 0 on success, 1 when the request or the report's check failed (the reason
 * on stderr), 2 on a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attest/report.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/deploy.h"
#include "common/fdutil.h"
#include "common/util.h"
#include "objects/objects.h"

/* Asks the monitor at sock for the report of function name ("" : the monitor's alone) with
 * nonce (nlen bytes). Returns 0 with r filled (cit_reply_done after), or 1 said. */
static int fetch_report(const char *cmd, const char *sock, const char *name, const uint8_t *nonce, size_t nlen,
			struct reply *r)
{
	struct cit_p_attest p = { .nonce_len = (uint32_t)nlen };
	snprintf(p.name, sizeof(p.name), "%s", name);
	if (nlen)
		memcpy(p.nonce, nonce, nlen);
	return cit_request(cmd, CIT_MSG_ATTEST, &p, sizeof(p), sock, r);
}

int cit_cmd_attest(int argc, char **argv)
{
	static const char usage[] =
		"usage: citadel attest [NAME] [--nonce HEX] [--socket PATH | --url URL]\n"
		"\n"
		"Prints function NAME's attestation report: JSON signed by the monitor's identity key,\n"
		"saying the monitor's measurement, the function's measurement and policy, the nonce,\n"
		"the time, and the function's public key for sealed invocations. Without NAME, the\n"
		"monitor's own report (its measurement and key). Check it with citadel verify\n"
		"(docs/attestation.md).\n"
		"\n"
		"  --nonce HEX    a fresh value of yours (up to 128 hex digits), signed into the\n"
		"                 report: a report with it was made after you chose it\n"
		"  --socket PATH  the monitor's socket (default $CITADEL_SOCKET, else\n"
		"                 " CIT_DEFAULT_SOCKET ")\n"
		"  --url URL      the monitor's HTTP gateway instead (GET\n"
		"                 /v1/functions/NAME/attestation, or /v1/attestation; no token is\n"
		"                 needed)\n";
	const char *name, *sock = NULL, *url = NULL;
	uint8_t nonce[CIT_ATTEST_NONCE_MAX];
	size_t nlen;
	int rc = cit_report_args(argc, argv, "attest", usage, true, &name, nonce, &nlen, &sock, &url);
	if (rc >= 0 || (rc = cit_remote(argc, argv, url, sock)) >= 0)
		return rc;
	struct reply r;
	if ((rc = fetch_report("attest", sock, name, nonce, nlen, &r)) != 0)
		return rc;
	rc = cit_write_all(1, r.data, r.len) == 0 && cit_write_all(1, "\n", 1) == 0 ? 0 : 1;
	cit_reply_done(&r);
	return rc;
}

int cit_cmd_key(int argc, char **argv)
{
	static const char usage[] =
		"usage: citadel key [--socket PATH | --url URL]\n"
		"\n"
		"Prints the monitor's public identity key (Ed25519, 64 hex digits): the key its\n"
		"attestation reports are signed with, to give to citadel verify --key and citadel\n"
		"invoke --seal --key. The key pair is made at the monitor's first start, in its state\n"
		"directory (identity.key, readable by its owner only).\n"
		"\n"
		"  --socket PATH  the monitor's socket (default $CITADEL_SOCKET, else\n"
		"                 " CIT_DEFAULT_SOCKET ")\n"
		"  --url URL      the monitor's HTTP gateway instead (GET /v1/attestation): only as\n"
		"                 trustworthy as the way to it (https, a network you trust)\n";
	const char *name, *sock = NULL, *url = NULL;
	uint8_t nonce[CIT_ATTEST_NONCE_MAX];
	size_t nlen;
	int rc = cit_report_args(argc, argv, "key", usage, false, &name, nonce, &nlen, &sock, &url);
	if (rc >= 0 || (rc = cit_remote(argc, argv, url, sock)) >= 0)
		return rc;
	struct reply r;
	if ((rc = fetch_report("key", sock, "", NULL, 0, &r)) != 0)
		return rc;
	json_t *outer = json_loadb(r.data, r.len, 0, NULL);
	json_t *body = json_loads(json_string_value(json_object_get(outer, "body")) ?: "", 0, NULL);
	const char *pk = json_string_value(json_object_get(json_object_get(body, "monitor"), "public_key"));
	if (pk)
		printf("%s\n", pk);
	else
		fprintf(stderr, "citadel key: the monitor's report names no key\n");
	json_decref(body);
	json_decref(outer);
	cit_reply_done(&r);
	return pk ? 0 : 1;
}

/* invoke --seal on the local socket: the report fetched with a fresh nonce and checked,
 * the request sealed to the function's key, the response opened with the call's own. */
int cit_invoke_sealed(const struct cit_invoke_args *a)
{
	struct cit_report_want want = { .name = a->name, .measurement = a->measurement };
	int rc = cit_read_key_arg("invoke", a->seal_key, want.key);
	if (rc)
		return rc;
	uint8_t nonce[32];
	char nonce_hex[65];
	randombytes_buf(nonce, sizeof(nonce));
	sodium_bin2hex(nonce_hex, sizeof(nonce_hex), nonce, sizeof(nonce));
	want.nonce = nonce_hex;
	struct reply r;
	if ((rc = fetch_report("invoke", a->sock, a->name, nonce, sizeof(nonce), &r)) != 0)
		return rc;
	struct cit_report_seen seen;
	struct cit_error err = { 0 };
	enum cit_verify_exit v = cit_report_check(r.data, r.len, &want, &seen, NULL, &err);
	cit_reply_done(&r);
	if (v != CIT_VERIFY_OK) {
		fprintf(stderr, "citadel invoke: function %s's report does not check, nothing was sent: %s\n", a->name,
			err.msg);
		return 1;
	}
	_cleanup_close_ int obj = -1;
	const void *data;
	uint64_t len;
	void *map;
	if ((rc = cit_request_bytes("invoke", a->data, a->file, &obj, &data, &len, &map)) != 0)
		return rc;
	uint8_t pk[32], sk[32], *ct = NULL;
	size_t ctlen = 0;
	rc = cit_seal_request(seen.sealing_key, a->content_type, data, len, pk, sk, &ct, &ctlen);
	if (map)
		munmap(map, len);
	if (rc < 0) {
		fprintf(stderr, "citadel invoke: sealing the request: %s\n", strerror(-rc));
		return 1;
	}
	struct cit_p_invoke b = { .data.len = ctlen <= CIT_INLINE_MAX ? (uint32_t)ctlen : 0 };
	snprintf(b.name, sizeof(b.name), "%s", a->name);
	snprintf(b.content_type, sizeof(b.content_type), "%s", CIT_SEALED_CTYPE);
	_cleanup_close_ int cobj = ctlen > CIT_INLINE_MAX ? cit_object_create(ct, ctlen) : -1;
	b.data.obj_len = cobj >= 0 ? ctlen : 0;
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	int s = cit_client_connect(cit_client_socket(a->sock), &err);
	rc = s < 0 ? s
		   : cit_client_call(s, CIT_MSG_INVOKE, &b, sizeof(b), cobj >= 0 ? NULL : ct, cobj >= 0 ? 0 : ctlen,
				     cobj, buf, &rx, &err);
	free(ct);
	if (s >= 0)
		close(s);
	if (rc < 0) {
		sodium_memzero(sk, sizeof(sk));
		fprintf(stderr, "citadel invoke: %s\n", err.msg);
		return 1;
	}
	const void *out;
	size_t olen;
	void *omap;
	uint8_t *plain = NULL;
	const uint8_t *body = NULL;
	size_t blen = 0;
	char ctype[128];
	rc = cit_rx_data(&rx, &out, &olen, &omap);
	if (rc == 0 && strcmp(CIT_P(&rx, cit_p_ok)->content_type, CIT_SEALED_CTYPE))
		rc = -EPROTO;
	if (rc == 0)
		rc = cit_seal_open_response(pk, sk, out, olen, &plain, &body, &blen, ctype);
	sodium_memzero(sk, sizeof(sk));
	if (omap)
		munmap(omap, olen);
	cit_rx_close(&rx);
	if (rc == 0 && blen)
		rc = cit_write_all(1, body, blen);
	free(plain);
	if (rc < 0) {
		fprintf(stderr, "citadel invoke: the response: %s\n",
			rc == -EPROTO ? "it is not sealed" : rc == -EBADMSG ? "it does not open with this call's key"
									  : strerror(-rc));
		return 1;
	}
	return 0;
}
