/* The monitor's wire protocol (proto.h): sending, receiving and checking messages. Linked
 * into the monitor, the CLI and the runtime, so that every side checks the same way. */
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "objects/objects.h"
#include "state/wire.h"

bool cit_dir_name_ok(const char *name)
{
	size_t n = strnlen(name, CIT_DIR_NAME_LEN + 1);
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return n == CIT_DIR_NAME_LEN;
}

/* A fixed-size string field: a string, then NUL bytes to the end of the field. Anything
 * else after the string would make two fields that read alike differ (a runtime named
 * "native\0x" hashed apart from "native"). */
#define PADDED(field) cit_field_padded((field), sizeof(field))
#define NOT_PADDED "a string field is not NUL-terminated and NUL-padded"

/* Splits n NUL-terminated strings out of len bytes at p into out (n + 1 slots, the last
 * NULL); every one must end inside, and nothing may follow the last. */
static int split_strings(const char **out, const char *p, uint32_t len, uint32_t n)
{
	size_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		const char *end = off < len ? memchr(p + off, '\0', len - off) : NULL;
		if (!end)
			return -EPROTO;
		out[i] = p + off;
		off = (size_t)(end - p) + 1;
	}
	out[n] = NULL;
	return off == len ? 0 : -EPROTO;
}

/* ---- each type's own checks (messages.h, "check"): 0, or -EPROTO with *why ---------- */

static int check_none(struct cit_rx *rx, const char **why)
{
	(void)rx;
	(void)why;
	return 0;
}

static int check_spec(struct cit_rx *rx, const char **why)
{
	struct cit_fn_spec *s = rx->payload;
	if (!PADDED(s->name) || !PADDED(s->runtime))
		return *why = "a string field of the function spec is not NUL-terminated and NUL-padded", -EPROTO;
	rx->spec = s;
	return 0;
}

static int check_invoke(struct cit_rx *rx, const char **why)
{
	const struct cit_p_invoke *p = rx->payload;
	if (!PADDED(p->name))
		return *why = NOT_PADDED, -EPROTO;
	if ((p->flags & ~CIT_INVOKE_ASYNC) || p->reserved)
		return *why = "unknown flags", -EPROTO;
	if (!PADDED(p->content_type) || !cit_ctype_ok(p->content_type, sizeof(p->content_type)))
		return *why = "a request's content type is not printable ASCII from a letter", -EPROTO;
	return 0;
}

const uint32_t cit_hist_le_us[CIT_HIST_BUCKETS - 1] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000,
};

unsigned cit_hist_bucket(uint64_t us)
{
	unsigned i = 0;
	while (i < CIT_HIST_BUCKETS - 1 && us > cit_hist_le_us[i])
		i++;
	return i;
}


static bool all_in(const char *s, int lo, int hi, bool tab)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if ((*c < lo || *c > hi) && !(tab && *c == '\t'))
			return false;
	return true;
}

/* RFC 9110's token characters: a header's name. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

int cit_meta_parse(const char *p, size_t len, bool callback, const char **out, size_t *headers,
		   const char **why)
{
	const char *s[CIT_META_STRINGS + 2 * CIT_META_HEADERS + 1];
	size_t n = 0, off = 0;
	if (!len || p[len - 1] != '\0')
		return *why = "a request's meta does not end with a NUL", -EPROTO;
	while (off < len) {
		if (n == ARRAY_SIZE(s) - 1)
			return *why = "a request's meta has too many headers", -EPROTO;
		s[n++] = p + off;
		off += strlen(p + off) + 1;
	}
	if (n < CIT_META_STRINGS || (n - CIT_META_STRINGS) % 2)
		return *why = "a request's meta is not method, path, query, callback and header pairs", -EPROTO;
	size_t ml = strlen(s[0]);
	if (ml < 1 || ml > 16 || strspn(s[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != ml)
		return *why = "a request's method is not 1 to 16 of A-Z", -EPROTO;
	if ((s[1][0] && s[1][0] != '/') || !all_in(s[1], 0x21, 0x7e, false))
		return *why = "a request's path is not empty or /... of visible ASCII", -EPROTO;
	/* A "." or ".." segment: one a proxy in front may have resolved otherwise. */
	for (const char *q = s[1]; (q = strchr(q, '/')); q++)
		if (q[1] == '.' && (q[2] == '/' || !q[2] || (q[2] == '.' && (q[3] == '/' || !q[3]))))
			return *why = "a request's path has a '.' or '..' segment", -EPROTO;
	if (!all_in(s[2], 0x20, 0x7e, false))
		return *why = "a request's query is not printable ASCII", -EPROTO;
	size_t cl = strlen(s[3]);
	/* A user name or password in a callback URL would be sent where the URL leads. */
	const char *host = strstr(s[3], "://");
	if (cl && host && memchr(host, '@', strcspn(host + 3, "/?#") + 3))
		return *why = "a callback URL may not carry a user name or password", -EPROTO;
	if (cl && (!callback || cl > CIT_META_URL_MAX || !all_in(s[3], 0x21, 0x7e, false) ||
		   (strncmp(s[3], "http://", 7) && strncmp(s[3], "https://", 8))))
		return *why = callback ? "a callback URL is not an http:// or https:// URL of at most 2048 visible "
					 "ASCII characters" : "a call's meta carries a callback", -EPROTO;
	for (size_t i = CIT_META_STRINGS; i < n; i += 2)
		if (!is_token(s[i]) || strlen(s[i]) > 256 || !all_in(s[i + 1], 0x20, 0xff, true) ||
		    strchr(s[i + 1], 0x7f))
			return *why = "a request header's name is not a token, or its value has a control character",
			       -EPROTO;
	if (out) {
		memcpy(out, s, n * sizeof(*s));
		out[n] = NULL;
	}
	if (headers)
		*headers = (n - CIT_META_STRINGS) / 2;
	return 0;
}

/* INVOKE_META (from a client: a callback may come) and CALL_META (to a trustlet: none). */
static int check_meta(struct cit_rx *rx, const char **why)
{
	if (rx->nfds)
		return *why = "a request's meta comes inline", -EPROTO;
	return cit_meta_parse((const char *)rx->data, rx->data_len, rx->hdr.type == CIT_MSG_INVOKE_META, NULL, NULL,
			      why);
}

static int check_call(struct cit_rx *rx, const char **why)
{
	const struct cit_p_call *c = rx->payload;
	if (c->n_inputs > CIT_FANIN_MAX || (c->n_inputs && (c->object || rx->nfds || rx->data_len)))
		return *why = "a call's inputs are not valid", -EPROTO;
	if (!PADDED(c->content_type) || !cit_ctype_ok(c->content_type, sizeof(c->content_type)))
		return *why = "a call's content type is not printable ASCII from a letter", -EPROTO;
	return 0;
}

static int check_call_id(struct cit_rx *rx, const char **why)
{
	const char *id = CIT_P(rx, cit_p_call_id)->id;
	if (!PADDED(CIT_P(rx, cit_p_call_id)->id))
		return *why = NOT_PADDED, -EPROTO;
	return strlen(id) == CIT_CALL_ID_LEN && strspn(id, "0123456789abcdef") == CIT_CALL_ID_LEN
		       ? 0 : (*why = "a call id is 32 lowercase hex digits", -EPROTO);
}

static int check_callback(struct cit_rx *rx, const char **why)
{
	const struct cit_p_callback *c = rx->payload;
	if (!PADDED(c->call_id) || !PADDED(c->function) || !PADDED(c->content_type) || !PADDED(c->url))
		return *why = NOT_PADDED, -EPROTO;
	if (!cit_ctype_ok(c->content_type, sizeof(c->content_type)) || strlen(c->url) > CIT_META_URL_MAX ||
	    (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8)) || !all_in(c->url, 0x21, 0x7e, false))
		return *why = "a callback's URL or content type is not valid", -EPROTO;
	return 0;
}

static int check_ok(struct cit_rx *rx, const char **why)
{
	const struct cit_p_ok *o = rx->payload;
	if (!cit_ctype_ok(o->content_type, sizeof(o->content_type)) || (o->http_status && (o->http_status < 200 ||
											  o->http_status > 599)))
		return *why = "a reply's content type or status is not valid", -EPROTO;
	return 0;
}

static int check_name(struct cit_rx *rx, const char **why)
{
	return PADDED(CIT_P(rx, cit_p_name)->name) ? 0 : (*why = NOT_PADDED, -EPROTO);
}

static int check_attest(struct cit_rx *rx, const char **why)
{
	const struct cit_p_attest *p = rx->payload;
	if (!PADDED(p->name) || (p->name[0] && !cit_fn_name_ok(p->name)))
		return *why = "not a function's name", -EPROTO;
	if (p->nonce_len > CIT_ATTEST_NONCE_MAX || p->reserved)
		return *why = "a nonce is at most 64 bytes", -EPROTO;
	for (size_t i = p->nonce_len; i < CIT_ATTEST_NONCE_MAX; i++)
		if (p->nonce[i])
			return *why = "bytes after the nonce", -EPROTO;
	return 0;
}

static int check_secret(struct cit_rx *rx, const char **why)
{
	const struct cit_p_secret *p = rx->payload;
	if (!PADDED(p->function) || !PADDED(p->name) || p->reserved)
		return *why = NOT_PADDED, -EPROTO;
	bool named_fn = cit_fn_name_ok(p->function), named = cit_secret_name_ok(p->name);
	bool ok = p->op == CIT_SECRET_PUT	? named_fn && named
		  : p->op == CIT_SECRET_GRANT	? named_fn && (named || !p->name[0])
		  : p->op == CIT_SECRET_LIST	? (named_fn || !p->function[0]) && !p->name[0]
		  : p->op == CIT_SECRET_REMOVE ? named_fn && named
						: false;
	if (!ok)
		return *why = "not a secret's operation, function and name", -EPROTO;
	if (p->op != CIT_SECRET_PUT && (rx->data_len || rx->nfds))
		return *why = "only a put carries data", -EPROTO;
	return 0;
}

static int check_secrets(struct cit_rx *rx, const char **why)
{
	const struct cit_p_secrets *p = rx->payload;
	if (p->count > CIT_SECRETS_MAX || p->reserved)
		return *why = "too many secrets", -EPROTO;
	return 0;
}

static int check_input(struct cit_rx *rx, const char **why)
{
	const struct cit_p_input *p = rx->payload;
	if (!PADDED(p->step) || !cit_fn_name_ok(p->step))
		return *why = "an input's step is not a valid name", -EPROTO;
	if (p->index >= CIT_FANIN_MAX || p->reserved)
		return *why = "an input's index is out of range", -EPROTO;
	return 0;
}

static int check_fn_invoke(struct cit_rx *rx, const char **why)
{
	const struct cit_p_fn_invoke *p = rx->payload;
	if (!PADDED(p->name) || !PADDED(p->content_type) || !cit_ctype_ok(p->content_type, sizeof(p->content_type)))
		return *why = NOT_PADDED, -EPROTO;
	if (p->object && (rx->nfds || rx->data_len))
		return *why = "an invoke names an object and carries data too", -EPROTO;
	return 0;
}

static int check_state(struct cit_rx *rx, const char **why)
{
	const struct cit_p_state *p = rx->payload;
	if (!PADDED(p->ns) || (p->ns[0] && !cit_fn_name_ok(p->ns)))
		return *why = "a namespace is a function's name (or \"\" for one's own)", -EPROTO;
	bool kv = rx->hdr.type == CIT_MSG_KV;
	if (p->flags & ~(kv ? CIT_KV_PURGE | CIT_KV_INFO : 0u))
		return *why = "unknown flags", -EPROTO;
	if (kv && !p->ns[0])
		return *why = "an admin's batch names its namespace", -EPROTO;
	if (p->flags ? p->n_ops || rx->nfds || rx->data_len || (p->flags & (p->flags - 1))
		     : !p->n_ops || p->n_ops > CIT_STATE_OPS_MAX || (!rx->nfds && !rx->data_len))
		return *why = "a batch holds 1 to 1024 operations (a purge or info none)", -EPROTO;
	return 0;
}

static int check_chain(struct cit_rx *rx, const char **why)
{
	struct cit_error err = { 0 };
	static _Thread_local char text[CIT_ERROR_MSG_MAX];
	if (cit_chain_check(rx->payload, &err) < 0) {
		snprintf(text, sizeof(text), "%s", err.msg);
		return *why = text, -EPROTO;
	}
	return 0;
}

static int check_chain_invoke(struct cit_rx *rx, const char **why)
{
	if (CIT_P(rx, cit_p_invoke)->flags & CIT_INVOKE_ASYNC)
		return *why = "a chain is invoked synchronously", -EPROTO;
	return check_invoke(rx, why);
}

static int check_token(struct cit_rx *rx, const char **why)
{
	const char *t = CIT_P(rx, cit_p_token)->token;
	if (!PADDED(CIT_P(rx, cit_p_token)->token))
		return *why = NOT_PADDED, -EPROTO;
	return strlen(t) == CIT_TOKEN_LEN && strspn(t, "0123456789abcdef") == CIT_TOKEN_LEN
		       ? 0 : (*why = "an admin token is 64 lowercase hex digits", -EPROTO);
}

static int check_gateway(struct cit_rx *rx, const char **why)
{
	const struct cit_p_gateway *g = CIT_P(rx, cit_p_gateway);
	if ((g->flags & ~(CIT_GATEWAY_LOOPBACK | CIT_GATEWAY_CALLBACKS)) || g->reserved)
		return *why = "unknown flags", -EPROTO;
	return g->max_body && g->max_connections && g->max_per_address && g->idle_timeout_s && g->header_bytes
		       ? 0 : (*why = "a gateway limit of 0", -EPROTO);
}

static int check_logs(struct cit_rx *rx, const char **why)
{
	const struct cit_p_logs *p = rx->payload;
	if (!PADDED(p->name))
		return *why = NOT_PADDED, -EPROTO;
	if ((p->flags & ~CIT_LOGS_FOLLOW) || p->reserved)
		return *why = "unknown flags", -EPROTO;
	return 0;
}

static int check_status(struct cit_rx *rx, const char **why)
{
	const struct cit_p_status *st = rx->payload;
	if ((st->flags & ~CIT_STATUS_FUNCTION) || st->reserved || (st->http_status && (st->http_status < 400 ||
											 st->http_status > 499)))
		return *why = "unknown flags, or a status that is not 4xx", -EPROTO;
	return PADDED(CIT_P(rx, cit_p_status)->text) ? 0 : (*why = NOT_PADDED, -EPROTO);
}

static int check_loaded(struct cit_rx *rx, const char **why)
{
	const struct cit_p_loaded *p = rx->payload;
	if (!PADDED(p->text))
		return *why = NOT_PADDED, -EPROTO;
	return p->reserved ? (*why = "reserved field not zero", -EPROTO) : 0;
}

static int check_result(struct cit_rx *rx, const char **why)
{
	const struct cit_p_result *r = rx->payload;
	if (!PADDED(r->text))
		return *why = NOT_PADDED, -EPROTO;
	if (!cit_ctype_ok(r->content_type, sizeof(r->content_type)) || (r->http_status && (r->http_status < 200 ||
											  r->http_status > 599)))
		return *why = "a result's content type or status is not valid", -EPROTO;
	if (r->object && (rx->nfds || rx->data_len || r->code))
		return *why = "a result names an object and carries data or a failure too", -EPROTO;
	if ((r->flags & ~CIT_RESULT_LAST) || r->reserved)
		return *why = "unknown flags", -EPROTO;
	return 0;
}

static int check_dir(struct cit_rx *rx, const char **why)
{
	const struct cit_p_dir *p = rx->payload;
	if (!PADDED(p->dir) || !cit_dir_name_ok(p->dir))
		return *why = "not a private directory's name", -EPROTO;
	return 0;
}

/* A HELLO names the instance's private directory, unless it reports why the instance
 * could not start (a negative code, and no name). */
static int check_hello(struct cit_rx *rx, const char **why)
{
	const struct cit_p_hello *p = rx->payload;
	if (!PADDED(p->dir) || !PADDED(p->text))
		return *why = NOT_PADDED, -EPROTO;
	if (p->code < 0 ? p->dir[0] != '\0' : !cit_dir_name_ok(p->dir))
		return *why = "not a private directory's name", -EPROTO;
	return 0;
}

static int check_log(struct cit_rx *rx, const char **why)
{
	const struct cit_p_log *p = rx->payload;
	if (rx->data_len > CIT_LOG_LINE_MAX)
		return *why = "a log line longer than CIT_LOG_LINE_MAX", -EPROTO;
	if (p->level > CIT_LOG_LEVEL_MAX || p->reserved)
		return *why = "unknown log level", -EPROTO;
	return 0;
}

/* ---- the table --------------------------------------------------------------------- */

#define CIT_X_RULE(NAME, num, tag, minf, maxf, tail_, chk, from, role_, handler)                                \
	[num] = { .name = #NAME, .size = sizeof(struct tag), .min_fds = minf, .max_fds = maxf, .tail = tail_,     \
		  .sender = from, .role = role_, .check = chk },
static const struct cit_msg_rule rules[] = { CIT_MESSAGES(CIT_X_RULE) };
#undef CIT_X_RULE

const struct cit_msg_rule *cit_msg_rule(uint16_t type)
{
	return type < ARRAY_SIZE(rules) && rules[type].name ? &rules[type] : NULL;
}

void cit_rx_close(struct cit_rx *rx)
{
	for (size_t i = 0; i < ARRAY_SIZE(rx->fds); i++)
		if (rx->fds[i] >= 0)
			close(steal_fd(&rx->fds[i]));
}

static int refuse(struct cit_rx *rx, struct cit_error *err, const char *why)
{
	cit_rx_close(rx);
	return cit_error_set(err, -EPROTO, "malformed message: %s", why);
}

/* The payload and its tail, len bytes at payload, as rule r says. */
static int check_payload(struct cit_rx *rx, uint8_t *payload, uint32_t len, const struct cit_msg_rule *r,
			 struct cit_error *err)
{
	if (len < r->size)
		return refuse(rx, err, "shorter than its type's payload");
	rx->payload = payload;
	uint64_t tail = len - r->size;
	switch (r->tail) {
	case CIT_TAIL_NONE:
		if (tail)
			return refuse(rx, err, "longer than its type's payload");
		break;
	case CIT_TAIL_DATA: {
		const struct cit_data *d = (const struct cit_data *)payload;
		if (d->len > CIT_INLINE_MAX || tail != d->len)
			return refuse(rx, err, "inline data length does not match");
		if (d->reserved)
			return refuse(rx, err, "reserved field not zero");
		if (rx->nfds && d->len)
			return refuse(rx, err, "both inline data and a data object");
		if (!rx->nfds && d->obj_len)
			return refuse(rx, err, "data object length without a data object");
		rx->data = payload + r->size;
		rx->data_len = d->len;
		rx->obj_len = d->obj_len;
		break;
	}
	case CIT_TAIL_ENV: {
		const struct cit_fn_spec *s = (const struct cit_fn_spec *)payload;
		const char *strings = (const char *)payload + r->size;
		if (s->env_len > CIT_ENV_BYTES || s->n_env > CIT_ENV_MAX || s->args_len > CIT_ARGS_BYTES ||
		    s->n_args > CIT_ARGS_MAX || tail != (uint64_t)s->env_len + s->args_len ||
		    split_strings(rx->env, strings, s->env_len, s->n_env) < 0 ||
		    split_strings(rx->args, strings + s->env_len, s->args_len, s->n_args) < 0)
			return refuse(rx, err, "bad environment or command in function spec");
		break;
	}
	default: return refuse(rx, err, "unknown tail");
	}
	const char *why = "bad payload";
	if (r->check(rx, &why) < 0)
		return refuse(rx, err, why);
	return 0;
}

int cit_proto_parse(void *buf, size_t n, struct cit_rx *rx, struct cit_error *err)
{
	if (n < sizeof(struct cit_msg))
		return refuse(rx, err, "shorter than a header");
	memcpy(&rx->hdr, buf, sizeof(rx->hdr));
	const struct cit_msg *h = &rx->hdr;
	if (h->magic != CIT_PROTO_MAGIC)
		return refuse(rx, err, "bad magic");
	if (h->version != CIT_PROTO_VERSION)
		return refuse(rx, err, "unsupported protocol version");
	if (n != sizeof(*h) + h->len)
		return refuse(rx, err, "length does not match");
	if (h->nfds != rx->nfds)
		return refuse(rx, err, "fd count does not match");
	const struct cit_msg_rule *r = cit_msg_rule(h->type);
	if (!r)
		return refuse(rx, err, "unknown type");
	if (rx->nfds < r->min_fds || rx->nfds > r->max_fds)
		return refuse(rx, err, "wrong number of file descriptors for its type");
	int rc = check_payload(rx, (uint8_t *)buf + sizeof(*h), h->len, r, err);
	return rc < 0 ? rc : 1;
}

/* One message, as cit_proto_recv says; with block, a blocking socket is waited on in the
 * receive itself (one system call instead of a receive, a poll and a receive again). */
static int recv_one(int sock, void *buf, struct cit_rx *rx, struct cit_error *err, bool block)
{
	memset(rx, 0, sizeof(*rx));
	rx->fds[0] = rx->fds[1] = -1;
	struct iovec iov = { .iov_base = buf, .iov_len = CIT_MSG_MAX };
	union {
		char b[CMSG_SPACE(sizeof(int) * CIT_MAX_PASSED_FDS) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | (block ? 0 : MSG_DONTWAIT));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : cit_error_set(err, -errno, "receiving a message");
	bool too_many = false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (rx->nfds < ARRAY_SIZE(rx->fds))
					rx->fds[rx->nfds++] = fd;
				else {
					close(fd);
					too_many = true;
				}
			}
		} else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred uc;
			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			rx->has_cred = true;
			rx->pid = uc.pid;
			rx->uid = uc.uid;
		}
	}
	if (n == 0 && rx->nfds == 0)
		return 0;
	if (too_many || (mh.msg_flags & MSG_CTRUNC))
		return refuse(rx, err, "too many file descriptors");
	if (mh.msg_flags & MSG_TRUNC)
		return refuse(rx, err, "longer than any message");
	return cit_proto_parse(buf, (size_t)n, rx, err);
}

int cit_proto_send(int sock, uint16_t type, uint64_t id, const void *payload, size_t plen,
		   const void *tail, size_t tlen, const int *fds, size_t nfds)
{
	struct cit_msg h = { .magic = CIT_PROTO_MAGIC, .version = CIT_PROTO_VERSION, .type = type,
			     .len = (uint32_t)(plen + tlen), .nfds = (uint32_t)nfds, .id = id };
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)payload, plen }, { (void *)tail, tlen } };
	union {
		char b[CMSG_SPACE(sizeof(int) * CIT_MAX_PASSED_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = tlen ? 3 : 2 };
	if (nfds > CIT_MAX_PASSED_FDS || sizeof(h) + plen + tlen > CIT_MSG_MAX)
		return -EMSGSIZE;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(h) + plen + tlen ? 0 : -EIO;
}

/* Waits until sock is ready for events (POLLIN or POLLOUT); EINTR is just another try. */
static void wait_for(int sock, short events)
{
	struct pollfd p = { .fd = sock, .events = events };
	poll(&p, 1, -1);
}

int cit_proto_recv(int sock, void *buf, struct cit_rx *rx, struct cit_error *err)
{
	return recv_one(sock, buf, rx, err, false);
}

int cit_proto_recv_wait(int sock, void *buf, struct cit_rx *rx, struct cit_error *err)
{
	int rc;
	while ((rc = recv_one(sock, buf, rx, err, true)) == -EAGAIN) /* a non-blocking socket */
		wait_for(sock, POLLIN);
	return rc;
}

int cit_proto_send_wait(int sock, uint16_t type, uint64_t id, const void *payload, size_t plen, const void *tail,
			size_t tlen, const int *fds, size_t nfds)
{
	int rc;
	while ((rc = cit_proto_send(sock, type, id, payload, plen, tail, tlen, fds, nfds)) == -EAGAIN)
		wait_for(sock, POLLOUT);
	return rc;
}

int cit_proto_send_data(int sock, uint16_t type, uint64_t id, void *payload, size_t plen, const void *data,
			size_t len)
{
	struct cit_data *d = payload;
	d->reserved = 0;
	if (len <= CIT_INLINE_MAX) {
		d->len = (uint32_t)len;
		d->obj_len = 0;
		return cit_proto_send(sock, type, id, payload, plen, data, len, NULL, 0);
	}
	int fd = cit_object_create(data, len);
	if (fd < 0)
		return fd;
	d->len = 0;
	d->obj_len = len;
	int rc = cit_proto_send(sock, type, id, payload, plen, NULL, 0, &fd, 1);
	close(fd);
	return rc;
}

int cit_proto_send_status(int sock, uint16_t type, uint64_t id, int code, const char *fmt, ...)
{
	struct cit_p_status st = { .code = code };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st.text, sizeof(st.text), fmt, ap);
	va_end(ap);
	return cit_proto_send(sock, type, id, &st, sizeof(st), NULL, 0, NULL, 0);
}

int cit_fn_spec_parse(void *buf, size_t len, size_t cap, struct cit_rx *rx, struct cit_error *err)
{
	memset(rx, 0, sizeof(*rx));
	rx->fds[0] = rx->fds[1] = -1;
	if (len > UINT32_MAX)
		return cit_error_set(err, -EPROTO, "function spec too long");
	/* One stored by an earlier version (V0: before cpu_millis and pids; V1: before the
	 * command; V2: before the object quota and grants; V3: before the state's limits):
	 * moved into the current layout, what it lacks filled in. A V0 or V1 spec's length is
	 * its size plus its environment's; a V2, V3 or current one's has args_len beside. */
	struct cit_fn_spec *s = buf;
	size_t old = 0;
	size_t tail = 0;
	bool args = len >= CIT_FN_SPEC_V2_SIZE && s->env_len <= CIT_ENV_BYTES && s->args_len <= CIT_ARGS_BYTES;
	if (len >= CIT_FN_SPEC_V0_SIZE && s->env_len <= CIT_ENV_BYTES && len == CIT_FN_SPEC_V0_SIZE + s->env_len)
		old = CIT_FN_SPEC_V0_SIZE;
	else if (len >= CIT_FN_SPEC_V1_SIZE && s->env_len <= CIT_ENV_BYTES && len == CIT_FN_SPEC_V1_SIZE + s->env_len)
		old = CIT_FN_SPEC_V1_SIZE;
	else if (args && len == CIT_FN_SPEC_V2_SIZE + s->env_len + s->args_len)
		old = CIT_FN_SPEC_V2_SIZE;
	else if (args && len == CIT_FN_SPEC_V3_SIZE + s->env_len + s->args_len)
		old = CIT_FN_SPEC_V3_SIZE;
	if (old)
		tail = old >= CIT_FN_SPEC_V2_SIZE ? (size_t)s->env_len + s->args_len : s->env_len;
	if (old && sizeof(*s) + tail <= cap) {
		memmove((char *)buf + sizeof(*s), (char *)buf + old, tail);
		if (old == CIT_FN_SPEC_V0_SIZE) {
			s->cpu_millis = CIT_FN_DEFAULT_CPU_MILLIS;
			s->pids = s->max_instances + 2 > CIT_FN_DEFAULT_PIDS ? s->max_instances + 2 : CIT_FN_DEFAULT_PIDS;
		}
		if (old < CIT_FN_SPEC_V2_SIZE) {
			s->n_args = 0;
			s->args_len = 0;
		}
		if (old < CIT_FN_SPEC_V3_SIZE) {
			memset((char *)s + CIT_FN_SPEC_V2_SIZE, 0, CIT_FN_SPEC_V3_SIZE - CIT_FN_SPEC_V2_SIZE);
			s->object_quota = CIT_FN_DEFAULT_OBJECT_QUOTA;
		}
		memset((char *)s + CIT_FN_SPEC_V3_SIZE, 0, sizeof(*s) - CIT_FN_SPEC_V3_SIZE);
		s->state_quota = CIT_FN_DEFAULT_STATE_QUOTA;
		s->state_value_max = CIT_FN_DEFAULT_STATE_VALUE_MAX;
		len = sizeof(*s) + tail;
	}
	rx->hdr.len = (uint32_t)len;
	int rc = check_payload(rx, buf, (uint32_t)len, cit_msg_rule(CIT_MSG_DEPLOY), err);
	if (rc < 0)
		return rc;
	return cit_fn_spec_check(rx->spec, rx->env, rx->args, err);
}

int cit_rx_data(struct cit_rx *rx, const void **data, size_t *len, void **map)
{
	*map = NULL;
	if (!rx->nfds) {
		*data = rx->data;
		*len = rx->data_len;
		return 0;
	}
	*len = (size_t)rx->obj_len;
	return cit_object_map(rx->fds[0], rx->obj_len, SIZE_MAX, data, map);
}

bool cit_ctype_sealed(const char *ct)
{
	size_t n = sizeof(CIT_SEALED_CTYPE) - 1;
	return !strncasecmp(ct, CIT_SEALED_CTYPE, n) && (!ct[n] || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}
