/* `citadel kv get | put | del | ls | info | purge`: functions' key-value state, for admins
 * (docs/state.md). Exit status: 0 on success, 1 when the request failed (the reason on
 * stderr; `get` of a missing key too), 2 on a usage error. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/fdutil.h"
#include "common/util.h"
#include "objects/objects.h"
#include "state/wire.h"

static const char usage[] =
	"usage: citadel kv get NAMESPACE KEY\n"
	"       citadel kv put NAMESPACE KEY [VALUE]   (no VALUE: the value is read from stdin)\n"
	"       citadel kv del NAMESPACE KEY\n"
	"       citadel kv ls NAMESPACE [PREFIX] [--long | --json]\n"
	"       citadel kv info NAMESPACE\n"
	"       citadel kv purge NAMESPACE\n"
	"                 [--socket PATH] (each)\n"
	"\n"
	"Reads and writes functions' key-value state, for admins. Each function has a namespace\n"
	"named after it, kept sealed by the monitor (what is stored on disk is encrypted and\n"
	"authenticated: a value altered, swapped or rolled back there is an integrity error,\n"
	"never a wrong value). `get` writes the value to stdout as it is; `ls` lists the keys\n"
	"(with --long their sizes and versions); `info` shows the namespace's keys, bytes,\n"
	"limits and integrity; `purge` deletes every key of it (as `citadel rm --purge` does).\n"
	"A namespace outlives its function: `citadel rm` keeps it, and a function deployed again\n"
	"under that name finds it. Keys: 1 to 1024 bytes; values: up to the function's\n"
	"--state-value-max (default 1M).\n"
	"\n"
	"  --long         ls: each key's size and version too (tab-separated)\n"
	"  --json         ls: one JSON array of {\"key\", \"size\", \"version\"}\n"
	"  --socket PATH  the monitor's socket (default $CITADEL_SOCKET, else\n"
	"                 /run/citadel/citadel.sock)\n";

/* Sends one KV request (a batch of n ops in b, or flags) for ns; the answer's bytes into
 * *out (malloc'd, *len bytes). Returns 0, or 1 with the reason printed. */
static int kv_call(const char *cmd, const char *sock, const char *ns, uint32_t flags, const struct cit_wbuf *b,
		   uint32_t n, uint8_t **out, size_t *len)
{
	struct cit_p_state p = { .n_ops = n, .flags = flags };
	if (strlen(ns) >= sizeof(p.ns) || !cit_fn_name_ok(ns)) {
		fprintf(stderr, "citadel kv %s: '%s' is not a namespace (a function's name: 1 to 63 of a-z, 0-9, '-' "
			"and '_')\n", cmd, ns);
		return 1;
	}
	memcpy(p.ns, ns, strlen(ns));
	struct cit_error err = { 0 };
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(sock), &err);
	_cleanup_close_ int obj = -1;
	const void *tail = NULL;
	size_t tlen = 0;
	if (b && b->len > CIT_INLINE_MAX) {
		obj = cit_object_create(b->p, b->len);
		if (obj < 0) {
			fprintf(stderr, "citadel kv %s: the request's data object: %s\n", cmd, strerror(-obj));
			return 1;
		}
		p.data.obj_len = b->len;
	} else if (b) {
		p.data.len = (uint32_t)b->len;
		tail = b->p;
		tlen = b->len;
	}
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	int rc = s < 0 ? s : cit_client_call(s, CIT_MSG_KV, &p, sizeof(p), tail, tlen, obj, buf, &rx, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel kv %s: %s\n", cmd, err.msg);
		return 1;
	}
	const void *data = NULL;
	void *map = NULL;
	size_t dlen = 0;
	rc = cit_rx_data(&rx, &data, &dlen, &map);
	*out = rc == 0 ? malloc(dlen ? dlen : 1) : NULL;
	if (*out)
		memcpy(*out, data, dlen);
	*len = dlen;
	if (map)
		munmap(map, dlen);
	cit_rx_close(&rx);
	if (!*out) {
		fprintf(stderr, "citadel kv %s: the answer could not be read: %s\n", cmd, strerror(rc ? -rc : ENOMEM));
		return 1;
	}
	return 0;
}

/* One operation; its result's code, bytes (into the returned buffer's *data, *dlen) and
 * version. Returns 0, or 1 with the reason printed (a failed operation too, unless quiet
 * is its code). */
static int one(const char *cmd, const char *sock, const char *ns, const struct cit_state_op *op, const void *key,
	       const void *value, uint8_t **answer, const uint8_t **data, size_t *dlen, uint64_t *version)
{
	struct cit_wbuf b = { 0 };
	int rc = cit_state_add_op(&b, op, key, value);
	if (rc < 0) {
		fprintf(stderr, "citadel kv %s: %s\n", cmd, rc == -E2BIG ? "the value is too large" : strerror(-rc));
		free(b.p);
		return 1;
	}
	size_t len = 0;
	rc = kv_call(cmd, sock, ns, 0, &b, 1, answer, &len);
	free(b.p);
	if (rc)
		return rc;
	size_t at = 0;
	struct cit_state_result r;
	if (cit_state_next_result(*answer, len, &at, &r, data) != 1) {
		fprintf(stderr, "citadel kv %s: the monitor's answer is malformed\n", cmd);
		return 1;
	}
	*dlen = r.len;
	if (version)
		*version = r.version;
	if (r.rc < 0) {
		fprintf(stderr, "citadel kv %s: %s: %.*s\n", cmd, (const char *)key, (int)r.len, (const char *)*data);
		return 1;
	}
	return 0;
}

/* Reads all of stdin (at most max bytes) into *out. Returns 0 or 1 with the reason. */
static int read_stdin(size_t max, uint8_t **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	uint8_t *p = malloc(cap);
	for (;;) {
		if (!p)
			return fprintf(stderr, "citadel kv put: out of memory\n"), 1;
		if (n == cap) {
			uint8_t *q = cap > max ? NULL : realloc(p, cap * 2);
			if (!q) {
				free(p);
				return fprintf(stderr, "citadel kv put: the value on stdin is larger than %zu bytes\n", max), 1;
			}
			p = q;
			cap *= 2;
		}
		ssize_t r = read(STDIN_FILENO, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(p);
			return fprintf(stderr, "citadel kv put: reading stdin: %s\n", strerror(errno)), 1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = p;
	*len = n;
	return 0;
}

static int key_arg(const char *cmd, const char *key)
{
	size_t n = strlen(key);
	if (!n || n > 1024) {
		fprintf(stderr, "citadel kv %s: a key is 1 to 1024 bytes\n", cmd);
		return 2;
	}
	return 0;
}

static void print_name(const uint8_t *name, size_t n)
{
	/* Names are any bytes: shown as they are but for control characters and backslashes. */
	for (size_t i = 0; i < n; i++) {
		if (name[i] < 0x20 || name[i] == 0x7f || name[i] == '\\')
			printf("\\x%02x", name[i]);
		else
			putchar(name[i]);
	}
}

static int list(const char *sock, const char *ns, const char *prefix, int mode)
{
	char after[1025] = "";
	size_t alen = 0, total = 0;
	json_t *all = mode == 2 ? json_array() : NULL;
	for (;;) {
		struct cit_state_op op = { .kind = CIT_STATE_SCAN, .klen = (uint32_t)strlen(prefix), .vlen = (uint32_t)alen,
					   .limit = CIT_STATE_SCAN_MAX };
		uint8_t *answer = NULL;
		const uint8_t *data;
		size_t dlen = 0;
		struct cit_wbuf b = { 0 };
		if (cit_wbuf_put(&b, &op, sizeof(op), 0) < 0 || cit_wbuf_put(&b, prefix, op.klen, 0) < 0 ||
		    cit_wbuf_put(&b, after, alen, 0) < 0 ||
		    cit_wbuf_put(&b, NULL, ((op.klen + alen + 7) & ~7u) - op.klen - alen, 0) < 0) {
			free(b.p);
			return fprintf(stderr, "citadel kv ls: out of memory\n"), 1;
		}
		size_t len = 0;
		int rc = kv_call("ls", sock, ns, 0, &b, 1, &answer, &len);
		free(b.p);
		if (rc)
			return json_decref(all), rc;
		size_t at = 0, nat = 0;
		struct cit_state_result r;
		if (cit_state_next_result(answer, len, &at, &r, &data) != 1 || r.rc < 0) {
			if (r.rc < 0)
				fprintf(stderr, "citadel kv ls: %.*s\n", (int)r.len, (const char *)data);
			else
				fprintf(stderr, "citadel kv ls: the monitor's answer is malformed\n");
			free(answer);
			json_decref(all);
			return 1;
		}
		dlen = r.len;
		struct cit_state_name nm;
		const uint8_t *name;
		size_t got = 0;
		while (cit_state_next_name(data, dlen, &nat, &nm, &name) == 1) {
			got++;
			if (all) {
				json_t *o = json_pack("{s:s%,s:I,s:I}", "key", (const char *)name, (size_t)nm.nlen, "size",
						      (json_int_t)nm.vlen, "version", (json_int_t)nm.version);
				json_array_append_new(all, o ? o : json_null());
			} else {
				print_name(name, nm.nlen);
				if (mode == 1)
					printf("\t%u\t%llu", nm.vlen, (unsigned long long)nm.version);
				putchar('\n');
			}
			memcpy(after, name, nm.nlen);
			alen = nm.nlen;
		}
		free(answer);
		total += got;
		if (got < CIT_STATE_SCAN_MAX)
			break;
	}
	if (all) {
		char *text = json_dumps(all, JSON_INDENT(2));
		if (text)
			puts(text);
		free(text);
		json_decref(all);
	}
	(void)total;
	return 0;
}

int cit_kv_purge(const char *sock, const char *ns)
{
	uint8_t *answer = NULL;
	size_t len = 0;
	int rc = kv_call("purge", sock, ns, CIT_KV_PURGE, NULL, 0, &answer, &len);
	free(answer);
	if (rc == 0)
		printf("purged the state of %s\n", ns);
	return rc;
}

int cit_cmd_kv(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "long", no_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL;
	int mode = 0, c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hl", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'l': mode = 1; break;
		case 'j': mode = 2; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return cit_usage_getopt("kv", 2, c, argv);
		}
	}
	char **a = argv + optind;
	int n = argc - optind;
	if (n < 1)
		return cit_usage_error("kv", 2, "get, put, del, ls, info or purge?");
	const char *verb = a[0];
	static const struct {
		const char *verb;
		int min, max;
	} shapes[] = { { "get", 3, 3 }, { "put", 3, 4 }, { "del", 3, 3 }, { "ls", 2, 3 }, { "info", 2, 2 },
		       { "purge", 2, 2 } };
	size_t v = 0;
	while (v < ARRAY_SIZE(shapes) && strcmp(shapes[v].verb, verb))
		v++;
	if (v == ARRAY_SIZE(shapes))
		return cit_usage_error("kv", 2, "unknown subcommand '%s' (get, put, del, ls, info or purge)", verb);
	if (n < shapes[v].min || n > shapes[v].max)
		return cit_usage_error("kv", 2, "%s wants %s", verb,
				       v == 1 ? "NAMESPACE KEY [VALUE]" : v == 3 ? "NAMESPACE [PREFIX]"
								: v >= 4 ? "NAMESPACE" : "NAMESPACE KEY");
	if (mode && v != 3)
		return cit_usage_error("kv", 2, "--long and --json are for ls");
	const char *ns = a[1];
	if (strlen(ns) >= CIT_NAME_MAX || !cit_fn_name_ok(ns))
		return cit_usage_error("kv", 2, "'%s' is not a namespace (a function's name: 1 to 63 of a-z, 0-9, '-' and "
				       "'_')", ns);
	if (v == 3) {
		if (n == 3 && strlen(a[2]) > 1024)
			return cit_usage_error("kv", 2, "a prefix is at most 1024 bytes");
		return list(sock, ns, n == 3 ? a[2] : "", mode);
	}
	if (v >= 4) {
		uint8_t *answer = NULL;
		size_t len = 0;
		int rc = kv_call(verb, sock, ns, v == 4 ? CIT_KV_INFO : CIT_KV_PURGE, NULL, 0, &answer, &len);
		if (rc == 0 && v == 4)
			fwrite(answer, 1, len, stdout);
		else if (rc == 0)
			printf("purged namespace %s\n", ns);
		free(answer);
		return rc;
	}
	const char *key = a[2];
	if (key_arg(verb, key))
		return 2;
	struct cit_state_op op = { .kind = v == 0 ? CIT_STATE_GET : v == 1 ? CIT_STATE_PUT : CIT_STATE_DEL,
				   .klen = (uint32_t)strlen(key) };
	uint8_t *value = NULL, *answer = NULL;
	size_t vlen = 0, dlen = 0;
	if (v == 1 && n == 4) {
		vlen = strlen(a[3]);
		value = (uint8_t *)strdup(a[3]);
	} else if (v == 1 && read_stdin(16u << 20, &value, &vlen)) {
		return 1;
	}
	op.vlen = (uint32_t)vlen;
	const uint8_t *data = NULL;
	int rc = one(verb, sock, ns, &op, key, value, &answer, &data, &dlen, NULL);
	if (rc == 0 && v == 0 && fwrite(data, 1, dlen, stdout) != dlen)
		rc = 1;
	free(value);
	free(answer);
	return rc;
}
