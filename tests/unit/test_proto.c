/* The protocol's checks on receipt, table-driven: bytes and fds in, verdict out
 * (cit_proto_parse, and cit_proto_recv for what only a socket can carry). Every type of
 * the message table is tried with its exact payload, one byte short and one byte long, and
 * with each wrong number of fds; then rows of malformed fields. A refused message's fds
 * are closed. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "proto/proto.h"
#include "tap.h"

static _Alignas(16) uint8_t msg[CIT_MSG_MAX + 64];

/* A message of type with payload (plen bytes) and tlen tail bytes ('t'), claiming nfds fds;
 * returns its size. */
static size_t build(uint16_t type, const void *payload, size_t plen, size_t tlen, uint32_t nfds)
{
	struct cit_msg h = { .magic = CIT_PROTO_MAGIC, .version = CIT_PROTO_VERSION, .type = type,
			     .len = (uint32_t)(plen + tlen), .nfds = nfds, .id = 7 };
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), payload, plen);
	memset(msg + sizeof(h) + plen, 't', tlen);
	return sizeof(h) + plen + tlen;
}

/* Parses n bytes of msg with nfds fds beside them (fresh /dev/null fds, so that a refusal
 * can be seen to close them). Returns the verdict; *closed tells whether every fd was
 * closed by a refusal (true when none was given). */
static int parse(size_t n, size_t nfds, bool *closed)
{
	struct cit_rx rx;
	memset(&rx, 0, sizeof(rx));
	rx.fds[0] = rx.fds[1] = -1;
	for (size_t i = 0; i < nfds && i < 2; i++)
		rx.fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	rx.nfds = nfds;
	int given[2] = { rx.fds[0], rx.fds[1] };
	struct cit_error err = { 0 };
	int rc = cit_proto_parse(msg, n, &rx, &err);
	if (closed) {
		*closed = true;
		for (size_t i = 0; i < 2; i++)
			if (given[i] >= 0 && fcntl(given[i], F_GETFD) >= 0)
				*closed = false;
	}
	if (rc > 0)
		cit_rx_close(&rx);
	return rc;
}

/* The smallest valid meta (method GET, nothing else) for INVOKE_META and CALL_META. */
static const char small_meta[] = "GET\0\0\0\0";

/* A payload of the type's size, valid for its checks: strings empty, a HELLO or RMDIR with
 * a good directory name, a spec with no environment, a call id, a meta's length (its
 * bytes, small_meta, follow it: *tlen of them). */
static size_t good_payload(uint16_t type, uint8_t *p, size_t *tlen)
{
	const struct cit_msg_rule *r = cit_msg_rule(type);
	memset(p, 0, r->size);
	*tlen = 0;
	if (type == CIT_MSG_INVOKE_META || type == CIT_MSG_CALL_META) {
		*tlen = sizeof(small_meta) - 1;
		((struct cit_p_meta *)p)->data.len = (uint32_t)*tlen;
	}
	if (type == CIT_MSG_CALL_STATUS)
		memcpy(((struct cit_p_call_id *)p)->id, "0123456789abcdef0123456789abcdef", 32);
	if (type == CIT_MSG_CALLBACK)
		strcpy(((struct cit_p_callback *)p)->url, "http://127.0.0.1/cb");
	if (type == CIT_MSG_HELLO)
		memcpy(((struct cit_p_hello *)p)->dir, "0123456789abcdef0123456789abcdef", 32);
	if (type == CIT_MSG_RMDIR)
		memcpy(((struct cit_p_dir *)p)->dir, "0123456789abcdef0123456789abcdef", 32);
	if (type == CIT_MSG_ADMIN_TOKEN)
		memset(((struct cit_p_token *)p)->token, 'a', CIT_TOKEN_LEN);
	if (type == CIT_MSG_INPUT)
		strcpy(((struct cit_p_input *)p)->step, "a");
	if (type == CIT_MSG_CHAIN_CREATE) {
		struct cit_chain_spec *c = (struct cit_chain_spec *)p;
		strcpy(c->name, "c");
		strcpy(c->steps[0].name, "a");
		strcpy(c->steps[0].function, "f");
		c->n_steps = 1;
	}
	if (type == CIT_MSG_STATE) { /* a batch's bytes are checked by the monitor, not here */
		*tlen = sizeof(small_meta) - 1;
		((struct cit_p_state *)p)->data.len = (uint32_t)*tlen;
		((struct cit_p_state *)p)->n_ops = 1;
	}
	if (type == CIT_MSG_KV) {
		strcpy(((struct cit_p_state *)p)->ns, "f");
		((struct cit_p_state *)p)->flags = CIT_KV_INFO;
	}
	if (type == CIT_MSG_SECRET)
		((struct cit_p_secret *)p)->op = CIT_SECRET_LIST;
	if (type == CIT_MSG_GATEWAY_START)
		*(struct cit_p_gateway *)p = (struct cit_p_gateway){ .max_body = 1, .max_connections = 1,
								     .max_per_address = 1, .idle_timeout_s = 1,
								     .header_bytes = 1 };
	return r->size;
}

/* An admin token is 64 lowercase hex digits, NUL-padded: anything else is malformed. */
/* An HTTP request's meta (INVOKE_META, CALL_META): what a function is given, checked. */
static void meta_rows(void)
{
	static const struct {
		const char *what;
		const char *meta;
		size_t len;
		bool callback;
		int rc;
	} rows[] = {
#define M(s) s, sizeof(s) - 1
		{ "the smallest", M("GET\0\0\0\0"), true, 0 },
		{ "path, query, headers", M("POST\0/a/b\0x=1 y\0\0Accept\0*/*\0X-A\0\tv\xc3\xa9\0"), true, 0 },
		{ "a callback", M("POST\0\0\0http://127.0.0.1:9/cb\0"), true, 0 },
		{ "a callback to a trustlet", M("POST\0\0\0http://127.0.0.1:9/cb\0"), false, -EPROTO },
		{ "a callback not http", M("POST\0\0\0file:///etc/passwd\0"), true, -EPROTO },
		{ "nothing", M(""), true, -EPROTO },
		{ "no final NUL", M("GET\0\0\0\0X"), true, -EPROTO },
		{ "three strings", M("GET\0\0\0"), true, -EPROTO },
		{ "a name without a value", M("GET\0\0\0\0Accept\0"), true, -EPROTO },
		{ "a lower-case method", M("get\0\0\0\0"), true, -EPROTO },
		{ "an empty method", M("\0\0\0\0"), true, -EPROTO },
		{ "a path not from /", M("GET\0a/b\0\0\0"), true, -EPROTO },
		{ "a space in the path", M("GET\0/a b\0\0\0"), true, -EPROTO },
		{ "a .. segment", M("GET\0/a/../b\0\0\0"), true, -EPROTO },
		{ "a . segment at the end", M("GET\0/a/.\0\0\0"), true, -EPROTO },
		{ "dots in a name", M("GET\0/a/..b/.c\0\0\0"), true, 0 },
		{ "a callback with a password", M("POST\0\0\0http://u:p@h/x\0"), true, -EPROTO },
		{ "an @ in a callback's path", M("POST\0\0\0http://h/x@y\0"), true, 0 },
		{ "a newline in the query", M("GET\0\0a\nb\0\0"), true, -EPROTO },
		{ "a byte over 0x7e in the query", M("GET\0\0\xc3\xa9\0\0"), true, -EPROTO },
		{ "a colon in a header's name", M("GET\0\0\0\0X:Y\0v\0"), true, -EPROTO },
		{ "an empty header name", M("GET\0\0\0\0\0v\0"), true, -EPROTO },
		{ "a CR in a header's value", M("GET\0\0\0\0X\0a\rb\0"), true, -EPROTO },
		{ "a DEL in a header's value", M("GET\0\0\0\0X\0a\x7f\0"), true, -EPROTO },
#undef M
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *why = "";
		const char *out[CIT_META_STRINGS + 2 * CIT_META_HEADERS + 1];
		size_t n = 99;
		int rc = cit_meta_parse(rows[i].meta, rows[i].len, rows[i].callback, out, &n, &why);
		tap_ok(rc == rows[i].rc, "meta: %s -> %d (%s)", rows[i].what, rc, why);
	}
	/* The pointers handed back. */
	static const char m[] = "POST\0/p\0q=1\0\0A\0b\0C\0d\0";
	const char *out[CIT_META_STRINGS + 2 * CIT_META_HEADERS + 1];
	size_t n = 0;
	const char *why;
	tap_ok(cit_meta_parse(m, sizeof(m) - 1, false, out, &n, &why) == 0 && n == 2 && !strcmp(out[0], "POST") &&
		       !strcmp(out[1], "/p") && !strcmp(out[2], "q=1") && !strcmp(out[3], "") && !strcmp(out[4], "A") &&
		       !strcmp(out[7], "d") && out[8] == NULL,
	       "meta: the strings and the header count handed back");
	/* At most CIT_META_HEADERS headers. */
	static char many[CIT_INLINE_MAX];
	size_t len = (size_t)snprintf(many, sizeof(many), "GET%c%c%c%c", 0, 0, 0, 0);
	for (int h = 0; h <= CIT_META_HEADERS; h++)
		len += (size_t)snprintf(many + len, sizeof(many) - len, "H%d%cv%c", h, 0, 0) ;
	tap_ok(cit_meta_parse(many, len, true, NULL, NULL, &why) == -EPROTO, "meta: %d headers refused",
	       CIT_META_HEADERS + 1);
	tap_ok(cit_ctype_ok("text/html; charset=utf-8", 64) && cit_ctype_ok("", 1) && !cit_ctype_ok("/x", 3) &&
		       !cit_ctype_ok("text/a\nb", 10) && !cit_ctype_ok("abc", 3),
	       "content types: printable ASCII from a letter, NUL-terminated in the field");
}

static void admin_tokens(void)
{
	static const struct {
		const char *token;
		int rc;
	} rows[] = {
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1 },
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", -EPROTO },   /* 63 */
		{ "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", -EPROTO },  /* upper */
		{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", -EPROTO },  /* not hex */
		{ "", -EPROTO },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		static _Alignas(16) uint8_t p[sizeof(struct cit_p_token)];
		memset(p, 0, sizeof(p));
		memcpy(p, rows[i].token, strlen(rows[i].token));
		int rc = parse(build(CIT_MSG_ADMIN_TOKEN, p, sizeof(p), 0, 0), 0, NULL);
		tap_ok(rc == rows[i].rc, "ADMIN_TOKEN '%.8s...' (%zu digits) -> %d", rows[i].token, strlen(rows[i].token), rc);
	}
	/* Bytes after the NUL: not padded. */
	static _Alignas(16) uint8_t p[sizeof(struct cit_p_token)];
	memset(p, 0, sizeof(p));
	memset(p, 'a', CIT_TOKEN_LEN);
	p[sizeof(p) - 1] = 'x';
	tap_ok(parse(build(CIT_MSG_ADMIN_TOKEN, p, sizeof(p), 0, 0), 0, NULL) == -EPROTO, "ADMIN_TOKEN with junk after its NUL");
}

static void every_type(void)
{
	static _Alignas(16) uint8_t p[8192];
	_Static_assert(sizeof(struct cit_chain_spec) + 64 <= sizeof(p), "room for the largest payload");
	unsigned known = 0;
	for (uint32_t type = 0; type < 256; type++) {
		const struct cit_msg_rule *r = cit_msg_rule((uint16_t)type);
		if (!r) {
			memset(p, 0, 64);
			tap_ok(parse(build((uint16_t)type, p, 64, 0, 0), 0, NULL) == -EPROTO, "unknown type %u refused", type);
			continue;
		}
		known++;
		size_t tlen, size = good_payload((uint16_t)type, p, &tlen);
		bool closed;
		memcpy(p + size, small_meta, tlen); /* the meta's bytes after its payload */
		int rc = parse(build((uint16_t)type, p, size + tlen, 0, r->min_fds), r->min_fds, &closed);
		tap_ok(rc == 1, "%s: its exact payload with %u fds -> %d", r->name, r->min_fds, rc);
		rc = parse(build((uint16_t)type, p, size - 1, 0, r->min_fds), r->min_fds, &closed);
		tap_ok(rc == -EPROTO && closed, "%s: one byte short -> %d (fds closed: %d)", r->name, rc, closed);
		if (r->tail == CIT_TAIL_NONE) {
			rc = parse(build((uint16_t)type, p, size, 1, r->min_fds), r->min_fds, &closed);
			tap_ok(rc == -EPROTO, "%s: one byte long -> %d", r->name, rc);
		}
		for (uint32_t k = 0; k <= 2; k++) {
			if (k >= r->min_fds && k <= r->max_fds)
				continue;
			rc = parse(build((uint16_t)type, p, size, 0, k), k, &closed);
			tap_ok(rc == -EPROTO && closed, "%s: %u fds refused, closed", r->name, k);
		}
	}
	tap_ok(known >= 20, "the table has the messages (%u)", known);
}

static void header_rows(void)
{
	struct cit_p_list l = { 0 };
	size_t n = build(CIT_MSG_LIST, &l, sizeof(l), 0, 0);
	tap_ok(parse(n, 0, NULL) == 1, "LIST as built");
	tap_ok(parse(sizeof(struct cit_msg) - 1, 0, NULL) == -EPROTO, "shorter than a header");
	tap_ok(parse(n - 1, 0, NULL) == -EPROTO, "length field longer than what arrived");
	msg[0] ^= 1;
	tap_ok(parse(n, 0, NULL) == -EPROTO, "bad magic");
	n = build(CIT_MSG_LIST, &l, sizeof(l), 0, 0);
	((struct cit_msg *)msg)->version = CIT_PROTO_VERSION + 1;
	tap_ok(parse(n, 0, NULL) == -EPROTO, "another protocol version");
	n = build(CIT_MSG_LIST, &l, sizeof(l), 0, 1);
	tap_ok(parse(n, 0, NULL) == -EPROTO, "header says an fd, none came");
}

static void data_rows(void)
{
	struct cit_p_invoke v = { .data = { .len = 5 } };
	strcpy(v.name, "echo");
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 5, 0), 0, NULL) == 1, "INVOKE with 5 inline bytes");
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 4, 0), 0, NULL) == -EPROTO, "inline length says 5, 4 came");
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 6, 0), 0, NULL) == -EPROTO, "inline length says 5, 6 came");
	v.data.len = CIT_INLINE_MAX + 1;
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), CIT_INLINE_MAX + 1, 0), 0, NULL) == -EPROTO,
	       "more inline bytes than CIT_INLINE_MAX");
	v.data.len = 5;
	bool closed;
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 5, 1), 1, &closed) == -EPROTO && closed,
	       "inline bytes and a data object together");
	v.data.len = 0;
	v.data.obj_len = 10;
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 0, 0), 0, NULL) == -EPROTO, "an object's length, no object");
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 0, 1), 1, NULL) == 1, "an object's length with an object");
	v.data.obj_len = 0;
	v.data.reserved = 1;
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 0, 0), 0, NULL) == -EPROTO, "reserved field set");
	v.data.reserved = 0;
	v.flags = 2;
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 0, 0), 0, NULL) == -EPROTO, "INVOKE with unknown flags");
	v.flags = 0;
	memcpy(v.name, "echo\0x", 6);
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 0, 0), 0, NULL) == -EPROTO, "a name with bytes after its NUL");
	memset(v.name, 'a', sizeof(v.name));
	tap_ok(parse(build(CIT_MSG_INVOKE, &v, sizeof(v), 0, 0), 0, NULL) == -EPROTO, "a name with no NUL");

	struct cit_p_status st = { .code = -EIO };
	memset(st.text, 'x', sizeof(st.text));
	tap_ok(parse(build(CIT_MSG_ERROR, &st, sizeof(st), 0, 0), 0, NULL) == -EPROTO, "ERROR text with no NUL");
	struct cit_p_logs lg = { .flags = CIT_LOGS_FOLLOW };
	strcpy(lg.name, "echo");
	tap_ok(parse(build(CIT_MSG_LOGS, &lg, sizeof(lg), 0, 0), 0, NULL) == 1, "LOGS --follow");
	lg.flags = 4;
	tap_ok(parse(build(CIT_MSG_LOGS, &lg, sizeof(lg), 0, 0), 0, NULL) == -EPROTO, "LOGS with unknown flags");

	struct cit_p_log l = { .data = { .len = CIT_LOG_LINE_MAX }, .level = 3 };
	tap_ok(parse(build(CIT_MSG_LOG, &l, sizeof(l), CIT_LOG_LINE_MAX, 0), 0, NULL) == 1, "LOG of 4 KiB");
	l.data.len = CIT_LOG_LINE_MAX + 1;
	tap_ok(parse(build(CIT_MSG_LOG, &l, sizeof(l), CIT_LOG_LINE_MAX + 1, 0), 0, NULL) == -EPROTO,
	       "LOG over 4 KiB");
	l.data.len = 1;
	l.level = 4;
	tap_ok(parse(build(CIT_MSG_LOG, &l, sizeof(l), 1, 0), 0, NULL) == -EPROTO, "LOG of an unknown level");
}

static void spec_rows(void)
{
	static _Alignas(16) uint8_t p[sizeof(struct cit_fn_spec) + 64];
	struct cit_fn_spec *s = (struct cit_fn_spec *)p;
	memset(p, 0, sizeof(p));
	strcpy(s->name, "f");
	strcpy(s->runtime, "native");
	memcpy(p + sizeof(*s), "A=1\0B=2", 8);
	s->n_env = 2;
	s->env_len = 8;
	tap_ok(parse(build(CIT_MSG_DEPLOY, p, sizeof(*s) + 8, 0, 1), 1, NULL) == 1, "DEPLOY with two variables");
	s->env_len = 7;
	tap_ok(parse(build(CIT_MSG_DEPLOY, p, sizeof(*s) + 8, 0, 1), 1, NULL) == -EPROTO, "env length short of the tail");
	s->env_len = 8;
	s->n_env = 3;
	tap_ok(parse(build(CIT_MSG_DEPLOY, p, sizeof(*s) + 8, 0, 1), 1, NULL) == -EPROTO, "more variables than strings");
	s->n_env = 1;
	tap_ok(parse(build(CIT_MSG_DEPLOY, p, sizeof(*s) + 8, 0, 1), 1, NULL) == -EPROTO, "bytes after the last variable");
	s->n_env = 2;
	p[sizeof(*s) + 7] = 'x';
	tap_ok(parse(build(CIT_MSG_DEPLOY, p, sizeof(*s) + 8, 0, 1), 1, NULL) == -EPROTO, "a variable with no NUL");
	p[sizeof(*s) + 7] = '\0';
	memcpy(s->runtime, "native\0x", 8);
	tap_ok(parse(build(CIT_MSG_DEPLOY, p, sizeof(*s) + 8, 0, 1), 1, NULL) == -EPROTO, "a runtime with bytes after NUL");
	s->n_env = CIT_ENV_MAX + 1;
	tap_ok(parse(build(CIT_MSG_DEPLOY, p, sizeof(*s) + 8, 0, 1), 1, NULL) == -EPROTO, "more than CIT_ENV_MAX variables");
}

/* The private directory's name in HELLO and RMDIR: exactly 32 lowercase hex digits. */
static void dir_rows(void)
{
	static const struct {
		const char *name;
		int want;
		const char *what;
	} rows[] = {
		{ "0123456789abcdef0123456789abcdef", 1, "32 lowercase hex digits" },
		{ "0123456789abcdef0123456789abcde", -EPROTO, "31 digits" },
		{ "0123456789abcdef0123456789abcdef0", -EPROTO, "33 digits" },
		{ "0123456789ABCDEF0123456789abcdef", -EPROTO, "upper case" },
		{ "0123456789abcdef0123456789abcdeg", -EPROTO, "a letter past f" },
		{ "../456789abcdef0123456789abcdef01", -EPROTO, "a path" },
		{ "", -EPROTO, "empty" },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cit_p_hello h = { .pid = 2 };
		struct cit_p_dir d = { 0 };
		strcpy(h.dir, rows[i].name);
		strcpy(d.dir, rows[i].name);
		int got = parse(build(CIT_MSG_HELLO, &h, sizeof(h), 0, 0), 0, NULL);
		tap_ok(got == rows[i].want, "HELLO: %s -> %d", rows[i].what, got);
		got = parse(build(CIT_MSG_RMDIR, &d, sizeof(d), 0, 0), 0, NULL);
		tap_ok(got == rows[i].want, "RMDIR: %s -> %d", rows[i].what, got);
	}
	tap_ok(cit_dir_name_ok("0123456789abcdef0123456789abcdef") && !cit_dir_name_ok("0123456789abcdef"),
	       "cit_dir_name_ok");
	/* An instance that could not start says why: a negative code and no name. */
	struct cit_p_hello h = { .code = -EPERM };
	tap_ok(parse(build(CIT_MSG_HELLO, &h, sizeof(h), 0, 0), 0, NULL) == 1, "HELLO with a failure and no name");
	strcpy(h.dir, "0123456789abcdef0123456789abcdef");
	tap_ok(parse(build(CIT_MSG_HELLO, &h, sizeof(h), 0, 0), 0, NULL) == -EPROTO, "HELLO with a failure and a name");
}

/* What only a socket carries: more fds than any message, a datagram longer than any. */
static void socket_rows(void)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return;
	struct cit_p_list l = { 0 };
	size_t n = build(CIT_MSG_LIST, &l, sizeof(l), 0, 3);
	int fds[3] = { 0, 1, 2 };
	struct cit_rx rx;
	struct cit_error err = { 0 };
	cit_send_fds(sp[0], msg, n, fds, 3);
	tap_ok(cit_proto_recv(sp[1], msg, &rx, &err) == -EPROTO, "three fds: more than any message carries");
	static uint8_t big[CIT_MSG_MAX + 16];
	memcpy(big, msg, sizeof(struct cit_msg));
	tap_ok(send(sp[0], big, sizeof(big), 0) == (ssize_t)sizeof(big) &&
		       cit_proto_recv(sp[1], msg, &rx, &err) == -EPROTO,
	       "a datagram longer than any message");
	close(sp[0]);
	tap_ok(cit_proto_recv(sp[1], msg, &rx, &err) == 0, "end of stream");
	close(sp[1]);
}

/* STATE's and KV's fields: a namespace's name, the count of operations, the flags. */
static void state_rows(void)
{
	static const struct {
		const char *what;
		uint16_t type;
		const char *ns;
		uint32_t n_ops, flags, data;
		int want;
	} rows[] = {
		{ "a batch of one on one's own namespace", CIT_MSG_STATE, "", 1, 0, 8, 1 },
		{ "a batch on another's", CIT_MSG_STATE, "other", 1, 0, 8, 1 },
		{ "a batch of no operations", CIT_MSG_STATE, "", 0, 0, 8, -EPROTO },
		{ "a batch of 1025", CIT_MSG_STATE, "", 1025, 0, 8, -EPROTO },
		{ "a batch with no bytes", CIT_MSG_STATE, "", 1, 0, 0, -EPROTO },
		{ "a trustlet's purge", CIT_MSG_STATE, "", 0, CIT_KV_PURGE, 0, -EPROTO },
		{ "a namespace that is no function's name", CIT_MSG_STATE, "Bad", 1, 0, 8, -EPROTO },
		{ "an admin's batch without a namespace", CIT_MSG_KV, "", 1, 0, 8, -EPROTO },
		{ "an admin's purge", CIT_MSG_KV, "f", 0, CIT_KV_PURGE, 0, 1 },
		{ "a purge with operations", CIT_MSG_KV, "f", 1, CIT_KV_PURGE, 0, -EPROTO },
		{ "a purge with bytes", CIT_MSG_KV, "f", 0, CIT_KV_PURGE, 8, -EPROTO },
		{ "purge and info at once", CIT_MSG_KV, "f", 0, CIT_KV_PURGE | CIT_KV_INFO, 0, -EPROTO },
		{ "an unknown flag", CIT_MSG_KV, "f", 0, 0x4, 0, -EPROTO },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cit_p_state p = { .n_ops = rows[i].n_ops, .flags = rows[i].flags,
					 .data = { .len = rows[i].data } };
		strcpy(p.ns, rows[i].ns);
		size_t n = build(rows[i].type, &p, sizeof(p), rows[i].data, 0);
		int rc = parse(n, 0, NULL);
		tap_ok(rc == rows[i].want, "%s: %s -> %d", rows[i].type == CIT_MSG_KV ? "KV" : "STATE", rows[i].what, rc);
	}
}

/* ATTEST's fields: a function's name or none, a nonce of at most 64 bytes, zeros after it. */
static void attest_rows(void)
{
	static const struct {
		const char *what, *name;
		uint32_t nonce_len;
		uint8_t last; /* the nonce field's last byte */
		int want;
	} rows[] = {
		{ "the monitor's, no nonce", "", 0, 0, 1 },
		{ "a function's, a full nonce", "f", 64, 7, 1 },
		{ "a nonce of 65 bytes", "f", 65, 0, -EPROTO },
		{ "bytes after the nonce", "f", 3, 7, -EPROTO },
		{ "a name that is no function's", "Bad", 0, 0, -EPROTO },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cit_p_attest p = { .nonce_len = rows[i].nonce_len };
		strcpy(p.name, rows[i].name);
		p.nonce[CIT_ATTEST_NONCE_MAX - 1] = rows[i].last;
		int rc = parse(build(CIT_MSG_ATTEST, &p, sizeof(p), 0, 0), 0, NULL);
		tap_ok(rc == rows[i].want, "ATTEST: %s -> %d", rows[i].what, rc);
	}
}

/* SECRET's fields: which names each operation takes, and data only with a put. */
static void secret_rows(void)
{
	static const struct {
		const char *what, *function, *name;
		uint32_t op, data;
		int want;
	} rows[] = {
		{ "a put", "f", "db.password", CIT_SECRET_PUT, 8, 1 },
		{ "a put without a name", "f", "", CIT_SECRET_PUT, 8, -EPROTO },
		{ "a put of a hidden name", "f", ".x", CIT_SECRET_PUT, 8, -EPROTO },
		{ "a put of a path", "f", "a/b", CIT_SECRET_PUT, 8, -EPROTO },
		{ "a grant of all", "f", "", CIT_SECRET_GRANT, 0, 1 },
		{ "a grant with data", "f", "", CIT_SECRET_GRANT, 8, -EPROTO },
		{ "a list of all", "", "", CIT_SECRET_LIST, 0, 1 },
		{ "a list with a name", "f", "x", CIT_SECRET_LIST, 0, -EPROTO },
		{ "a remove without a function", "", "x", CIT_SECRET_REMOVE, 0, -EPROTO },
		{ "an unknown operation", "f", "x", 9, 0, -EPROTO },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cit_p_secret p = { .op = rows[i].op, .data = { .len = rows[i].data } };
		strcpy(p.function, rows[i].function);
		strcpy(p.name, rows[i].name);
		int rc = parse(build(CIT_MSG_SECRET, &p, sizeof(p), rows[i].data, 0), 0, NULL);
		tap_ok(rc == rows[i].want, "SECRET: %s -> %d", rows[i].what, rc);
	}
}

int main(void)
{
	every_type();
	state_rows();
	attest_rows();
	secret_rows();
	header_rows();
	data_rows();
	spec_rows();
	dir_rows();
	socket_rows();
	admin_tokens();
	meta_rows();
	return tap_done();
}
