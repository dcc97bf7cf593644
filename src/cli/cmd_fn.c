/* `citadel deploy | invoke | ls | rm | logs`: the monitor's clients.
 * Exit status: 0 on success, 1 when the request failed (the reason on stderr), 2 on a
 * usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/deploy.h"
#include "cli/listing.h"
#include "common/fdutil.h"
#include "common/util.h"
#include "objects/objects.h"
#include "spec/draft.h"
#include "spec/info.h"

int cit_cmd_deploy(int argc, char **argv)
{
	static struct cit_deploy dep;
	int rc = cit_deploy_parse(&dep, argc, argv);
	if (rc <= 0)
		return -rc;
	if ((rc = cit_remote(argc, argv, dep.url, dep.socket)) >= 0)
		return rc;
	/* The code goes as a sealed data object: immutable from here on, and the monitor reads
	 * memory, never a file that could stall it. An exec function has none: its program
	 * is read in the function's own view. */
	_cleanup_close_ int obj = -1;
	uint64_t len;
	if ((rc = cit_deploy_code(&dep, &obj, &len)) != 0)
		return rc;
	static char tail[CIT_ENV_BYTES + CIT_ARGS_BYTES];
	size_t tlen = cit_spec_tail(&dep.d, tail, sizeof(tail));
	struct cit_error err = { 0 };
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(dep.socket), &err);
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	rc = s < 0 ? s
		   : cit_client_call(s, CIT_MSG_DEPLOY, &dep.d.spec, sizeof(dep.d.spec), tail, tlen, obj, buf, &rx, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel deploy: %s: %s\n", cit_deploy_what(&dep), err.msg);
		return 1;
	}
	/* The measurement in hex; for a keyed function, a newline and its new invoke key. */
	const char *m = rx.data;
	bool keyed = rx.data_len == 65 + CIT_TOKEN_LEN && m[64] == '\n';
	cit_deploy_print(dep.d.spec.name, m, keyed ? 64 : rx.data_len, keyed ? m + 65 : NULL, CIT_TOKEN_LEN);
	cit_rx_close(&rx);
	return 0;
}

/* ---- invoke ------------------------------------------------------------------------- */

#define SOCKET_HELP                                                                     \
	"  --socket PATH  the monitor's socket (default $CITADEL_SOCKET, else\n" \
	"                 " CIT_DEFAULT_SOCKET ")\n"
#define URL_HELP                                                                         \
	"  --url URL      the monitor's HTTP gateway instead of its socket (default\n"      \
	"                 $CITADEL_URL; --socket wins over it), with the admin token\n"    \
	"                 in $CITADEL_TOKEN\n"

static const char invoke_usage[] =
	"usage: citadel invoke NAME [--data STR | --file PATH] [--content-type TYPE]\n"
	"                      [--socket PATH | --url URL] [--invoke-key KEY]\n"
	"                      [--seal --key PUBKEY [--measurement HEX]]\n"
	"\n"
	"Invokes function NAME with the request bytes from --data, --file, or else stdin, and\n"
	"writes its response to stdout. On failure (the function's error, a crash, a timeout, a\n"
	"limit) it prints the reason on stderr and exits 1.\n"
	"\n"
	"  --data STR     the request's bytes\n"
	"  --file PATH    the request's bytes from a file (at most 1 GiB)\n"
	"  --content-type TYPE  what the bytes are (application/json: a Python function is\n"
	"                 given the parsed JSON); over --url, the request's Content-Type\n"
	SOCKET_HELP URL_HELP
	"  --invoke-key KEY  with --url: the function's invoke key, sent instead of\n"
	"                 $CITADEL_TOKEN (default $CITADEL_INVOKE_KEY)\n"
	"  --seal         a sealed invocation (docs/attestation.md): the function's report is\n"
	"                 fetched with a fresh nonce and checked against --key, the request\n"
	"                 sealed to the function's attested key, the response to a key of\n"
	"                 this call's; nothing is sent when the report does not check\n"
	"  --key PUBKEY   with --seal: the monitor's public key (citadel key), 64 hex digits\n"
	"                 or a file holding them\n"
	"  --measurement HEX  with --seal: the function's measurement expected (citadel\n"
	"                 measure); another is refused before anything is sent\n";

int cit_cmd_invoke(int argc, char **argv)
{
	struct cit_invoke_args a;
	int rc = cit_invoke_args(argc, argv, invoke_usage, &a);
	if (rc >= 0)
		return rc;
	rc = cit_remote(argc, argv, a.url, a.sock);
	if (rc >= 0)
		return rc;
	if (a.key)
		return cit_usage_error("invoke", 2, "--invoke-key is for --url: the local socket takes no invoke key");
	if (a.seal)
		return cit_invoke_sealed(&a);
	return cit_invoke_request("invoke", CIT_MSG_INVOKE, &a);
}

int cit_invoke_request(const char *cmd, uint16_t type, const struct cit_invoke_args *a)
{
	const char *data = a->data, *file = a->file;
	struct cit_p_invoke b = { 0 };
	snprintf(b.name, sizeof(b.name), "%s", a->name);
	snprintf(b.content_type, sizeof(b.content_type), "%s", a->content_type ? a->content_type : "");
	struct cit_error err = { 0 };
	/* The monitor first: a request read from stdin is not read for nothing. */
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(a->sock), &err);
	if (s < 0) {
		fprintf(stderr, "citadel %s: %s\n", cmd, err.msg);
		return 1;
	}
	_cleanup_close_ int obj = -1;
	const void *inline_data = NULL;
	size_t inline_len = 0;
	int rc;
	if (data && strlen(data) <= CIT_INLINE_MAX) {
		inline_data = data;
		inline_len = strlen(data);
	} else if (data) {
		if ((obj = cit_object_create(data, strlen(data))) < 0) {
			fprintf(stderr, "citadel %s: %s\n", cmd, strerror(-obj));
			return 1;
		}
		b.data.obj_len = strlen(data);
	} else {
		_cleanup_close_ int in = file ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);
		rc = in < 0 ? -errno : cit_slurp(in, &obj, &b.data.obj_len);
		if (rc < 0) {
			fprintf(stderr, "citadel %s: %s: %s\n", cmd, file ? file : "stdin",
				rc == -EFBIG ? "request larger than 1 GiB" : strerror(-rc));
			return 1;
		}
		if (b.data.obj_len == 0) /* nothing: no data object needed */
			close(steal_fd(&obj));
	}
	b.data.len = (uint32_t)inline_len;
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	rc = cit_client_call(s, type, &b, sizeof(b), inline_data, inline_len, obj, buf, &rx, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel %s: %s\n", cmd, err.msg);
		return 1;
	}
	const void *out;
	size_t len;
	void *map;
	rc = cit_rx_data(&rx, &out, &len, &map);
	if (rc == 0 && len)
		rc = cit_write_all(1, out, len);
	if (map)
		munmap(map, len);
	cit_rx_close(&rx);
	if (rc < 0) {
		fprintf(stderr, "citadel %s: writing the response: %s\n", cmd, strerror(-rc));
		return 1;
	}
	return 0;
}

/* ---- ls, rm, logs --------------------------------------------------------------- */


void cit_reply_done(struct reply *r)
{
	if (r->map)
		munmap(r->map, r->len);
	cit_rx_close(&r->rx);
}

/* A request with just a name (or none). Returns 0 with r filled (reply_done() after), or
 * 1 with the reason printed. */
int cit_simple_request(const char *cmd, uint16_t type, const char *name, const char *sock, struct reply *r)
{
	/* Each type's payload (proto/messages.h); a function's name comes first in those that
	 * carry one. */
	union {
		struct cit_p_list list;
		struct cit_p_name name;
		struct cit_p_logs logs;
	} p = { 0 };
	size_t plen = type == CIT_MSG_LIST || type == CIT_MSG_TOKEN_LIST || type == CIT_MSG_CHAIN_LIST ? sizeof(p.list)
		      : type == CIT_MSG_LOGS				  ? sizeof(p.logs)
									  : sizeof(p.name);
	if (name)
		snprintf(p.name.name, sizeof(p.name.name), "%s", name);
	return cit_request(cmd, type, &p, plen, sock, r);
}

int cit_request(const char *cmd, uint16_t type, const void *payload, size_t plen, const char *sock, struct reply *r)
{
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_error err = { 0 };
	int s = cit_client_connect(cit_client_socket(sock), &err);
	int rc = s < 0 ? s : cit_client_call(s, type, payload, plen, NULL, 0, -1, buf, &r->rx, &err);
	if (s >= 0)
		close(s);
	if (rc < 0) {
		fprintf(stderr, "citadel %s: %s\n", cmd, err.msg);
		return 1;
	}
	if (cit_rx_data(&r->rx, &r->data, &r->len, &r->map) < 0) {
		fprintf(stderr, "citadel %s: malformed reply\n", cmd);
		cit_rx_close(&r->rx);
		return 1;
	}
	return 0;
}

/* Parses `CMD [NAME] [--socket PATH | --url URL] [--json]`. */
int cit_name_args(int argc, char **argv, const char *cmd, const char *usage, bool want_name, const char **name,
		     const char **sock, const char **url, bool *json)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },         { "url", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 's': *sock = optarg; break;
		case 'U': *url = optarg; break;
		case 'j':
			if (!json)
				return -cit_usage_error(cmd, 2, "unknown option '--json'");
			*json = true;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: return -cit_usage_getopt(cmd, 2, c, argv);
		}
	}
	if (want_name && argc == optind)
		return -cit_usage_error(cmd, 2, "no %s NAME given", strncmp(cmd, "chain", 5) ? "function" : "chain");
	if (argc - optind > (want_name ? 1 : 0))
		return -cit_usage_error(cmd, 2, "unexpected argument '%s'", argv[optind + (want_name ? 1 : 0)]);
	*name = want_name ? argv[optind] : NULL;
	return 1;
}

int cit_cmd_ls(int argc, char **argv)
{
	static const char usage[] = "usage: citadel ls [--json] [--socket PATH | --url URL]\n\n"
				    "Lists the deployed functions: runtime, measurement, instances, invocations,\n"
				    "latency inside the monitor (p50/p99 of recent calls) and start-up phases.\n"
				    "\n"
				    "  --json         one JSON array, every figure included\n" SOCKET_HELP URL_HELP;
	const char *name, *sock = NULL, *url = NULL;
	bool json = false;
	int rc = cit_name_args(argc, argv, "ls", usage, false, &name, &sock, &url, &json);
	if (rc <= 0 || (rc = cit_remote(argc, argv, url, sock)) >= 0)
		return rc < 0 ? -rc : rc;
	struct reply r;
	if (cit_simple_request("ls", CIT_MSG_LIST, NULL, sock, &r))
		return 1;
	/* One printer for the socket's figures and the gateway's JSON (listing.h). */
	size_t n = r.len / sizeof(struct cit_fn_info);
	const struct cit_fn_info *f = r.data;
	json_t *fns = json_array();
	for (size_t i = 0; fns && i < n; i++) {
		json_t *o = cit_fn_info_json(&f[i]);
		json_array_append_new(fns, o ? o : json_null());
	}
	cit_reply_done(&r);
	if (!fns) {
		fprintf(stderr, "citadel ls: %s\n", strerror(ENOMEM));
		return 1;
	}
	cit_ls_print(stdout, fns, json);
	json_decref(fns);
	return 0;
}

/* rm and logs: a request naming one function; logs prints the reply's bytes. */
static int name_request(int argc, char **argv, const char *cmd, const char *usage, uint16_t type)
{
	const char *name, *sock = NULL, *url = NULL;
	int rc = cit_name_args(argc, argv, cmd, usage, true, &name, &sock, &url, NULL);
	if (rc <= 0 || (rc = cit_remote(argc, argv, url, sock)) >= 0)
		return rc < 0 ? -rc : rc;
	struct reply r;
	if (cit_simple_request(cmd, type, name, sock, &r))
		return 1;
	if (type == CIT_MSG_REMOVE)
		printf("removed %s\n", name);
	else if (type == CIT_MSG_RESTART)
		printf("restarted %s\n", name);
	else if (r.len)
		cit_write_all(1, r.data, r.len);
	cit_reply_done(&r);
	return 0;
}

/* ---- token --------------------------------------------------------------------------- */

int cit_cmd_token(int argc, char **argv)
{
	static const char usage[] =
		"usage: citadel token add NAME [--socket PATH]\n"
		"       citadel token ls [--socket PATH]\n"
		"       citadel token rm NAME [--socket PATH]\n"
		"\n"
		"Manages the monitor's admin tokens (admins only). A token lets a client that is not\n"
		"an admin by its user (an invoker, the HTTP gateway acting for its caller) make one\n"
		"request as an admin: set CITADEL_TOKEN to it for the citadel commands. `add` prints\n"
		"the new token once: the monitor keeps only its hash. `rm` revokes it at once.\n"
		"\n" SOCKET_HELP;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc < 2)
			return cit_usage_error("token", 2, "add, ls or rm?");
		fputs(usage, stdout);
		return 0;
	}
	const char *verb = argv[1];
	bool named = !strcmp(verb, "add") || !strcmp(verb, "rm");
	if (!named && strcmp(verb, "ls"))
		return cit_usage_error("token", 2, "unknown subcommand '%s' (add, ls or rm)", verb);
	if (named && (argc < 3 || argv[2][0] == '-'))
		return cit_usage_error("token", 2, "token %s wants the token's NAME", verb);
	char cmd[16];
	snprintf(cmd, sizeof(cmd), "token %s", verb);
	const char *name, *sock = NULL, *url = NULL;
	int rc = cit_name_args(argc - 1, argv + 1, cmd, usage, named, &name, &sock, &url, NULL);
	if (rc <= 0 || (rc = cit_remote(argc, argv, url, sock)) >= 0)
		return rc < 0 ? -rc : rc;
	uint16_t type = !strcmp(verb, "add") ? CIT_MSG_TOKEN_ADD : named ? CIT_MSG_TOKEN_REMOVE : CIT_MSG_TOKEN_LIST;
	struct reply r;
	if (cit_simple_request(cmd, type, name, sock, &r))
		return 1;
	if (type == CIT_MSG_TOKEN_ADD)
		printf("%.*s\n", (int)r.len, (const char *)r.data);
	else if (type == CIT_MSG_TOKEN_REMOVE)
		printf("removed token %s\n", name);
	else if (r.len)
		cit_write_all(1, r.data, r.len);
	cit_reply_done(&r);
	return 0;
}

int cit_cmd_rm(int argc, char **argv)
{
	static const char usage[] = "usage: citadel rm NAME [--purge] [--socket PATH | --url URL]\n\n"
				    "Removes function NAME: its instances end and its code and log are deleted.\n"
				    "Its key-value state is kept (a function deployed again under NAME finds it)\n"
				    "unless --purge is given.\n"
				    "\n"
				    "  --purge        delete its key-value state too (not over --url)\n" SOCKET_HELP URL_HELP;
	/* --purge is taken out here; the rest is a plain REMOVE, then a purge of the state. */
	char *rest[64];
	int n = 0;
	bool purge = false, remote = false;
	const char *sock = NULL;
	for (int i = 0; i < argc && n < 63; i++) {
		if (!strcmp(argv[i], "--purge")) {
			purge = true;
			continue;
		}
		remote |= !strcmp(argv[i], "--url") || !strncmp(argv[i], "--url=", 6);
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			sock = argv[i + 1];
		else if (!strncmp(argv[i], "--socket=", 9))
			sock = argv[i] + 9;
		rest[n++] = argv[i];
	}
	rest[n] = NULL;
	if (purge && (remote || (!sock && getenv("CITADEL_URL"))))
		return cit_usage_error("rm", 2, "--purge is for the local socket, not --url (use citadel kv purge there)");
	int rc = name_request(n, rest, "rm", usage, CIT_MSG_REMOVE);
	if (rc != 0 || !purge)
		return rc;
	const char *name = NULL;
	for (int i = 1; i < n; i++) {
		if (!strcmp(rest[i], "--socket")) {
			i++;
			continue;
		}
		if (rest[i][0] != '-') {
			name = rest[i];
			break;
		}
	}
	return name ? cit_kv_purge(sock, name) : 0;
}

int cit_cmd_logs(int argc, char **argv)
{
	static const char usage[] = "usage: citadel logs NAME [-f|--follow] [--socket PATH | --url URL]\n\n"
				    "Prints what function NAME wrote to stderr or with cit_log() (the last 1-2 MiB).\n"
				    "\n"
				    "  -f, --follow   then print each new line as it is written, until the function\n"
				    "                 is removed or the command is interrupted (Ctrl-C); not over\n"
				    "                 --url\n" SOCKET_HELP URL_HELP;
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },         { "url", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *url = NULL;
	bool follow = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hf", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'f': follow = true; break;
		case 'U': url = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return cit_usage_getopt("logs", 2, c, argv);
		}
	}
	if (argc == optind)
		return cit_usage_error("logs", 2, "no function NAME given");
	if (argc - optind > 1)
		return cit_usage_error("logs", 2, "unexpected argument '%s'", argv[optind + 1]);
	int rc = cit_remote(argc, argv, url, sock);
	if (rc >= 0)
		return rc;
	if (!follow) {
		struct reply r;
		if (cit_simple_request("logs", CIT_MSG_LOGS, argv[optind], sock, &r))
			return 1;
		if (r.len)
			cit_write_all(1, r.data, r.len);
		cit_reply_done(&r);
		return 0;
	}
	struct cit_p_logs req = { .flags = CIT_LOGS_FOLLOW };
	snprintf(req.name, sizeof(req.name), "%s", argv[optind]);
	struct cit_error err = { 0 };
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(sock), &err);
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	rc = s < 0 ? s : cit_client_call(s, CIT_MSG_LOGS, &req, sizeof(req), NULL, 0, -1, buf, &rx, &err);
	/* The log so far (one reply), then each new part of it (more replies to the same
	 * request) until the monitor says the function is gone, or goes itself. */
	while (rc == 0) {
		const void *data;
		size_t len;
		void *map;
		rc = cit_rx_data(&rx, &data, &len, &map);
		if (rc == 0 && len && cit_write_all(1, data, len) < 0)
			rc = -EPIPE; /* our reader has gone: so do we, quietly */
		if (map)
			munmap(map, len);
		cit_rx_close(&rx);
		if (rc < 0)
			return rc == -EPIPE ? 0 : 1;
		rc = cit_proto_recv_wait(s, buf, &rx, &err);
		if (rc == 0) {
			fprintf(stderr, "citadel logs: the monitor closed the connection\n");
			return 1;
		}
		if (rc > 0 && rx.hdr.type == CIT_MSG_ERROR) {
			fprintf(stderr, "citadel logs: %s\n", CIT_P(&rx, cit_p_status)->text);
			cit_rx_close(&rx);
			return 1;
		}
		rc = rc > 0 && rx.hdr.type == CIT_MSG_OK ? 0 : cit_error_set(&err, -EPROTO, "unexpected reply from the monitor");
	}
	fprintf(stderr, "citadel logs: %s\n", err.msg);
	return 1;
}

int cit_cmd_restart(int argc, char **argv)
{
	static const char usage[] = "usage: citadel restart NAME [--socket PATH]\n\n"
				    "Ends function NAME's template and instances and starts it again: a function\n"
				    "that failed (its instances kept ending before they were ready) serves again.\n"
				    "\n" SOCKET_HELP;
	return name_request(argc, argv, "restart", usage, CIT_MSG_RESTART);
}
