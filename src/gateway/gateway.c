/* citadel-gateway: Citadel's HTTP front door (docs/http-api.md).
 *
 * citadeld starts it in a sandbox of its own (its own user, no network of its own, the
 * host's system directories read-only) with fd 0 its channel to the monitor: a client
 * connection like the CLI's, whose role is invoker and whose quota is the gateway's. The
 * first message on it, GATEWAY_START, carries the listening socket citadeld bound and the
 * limits. The gateway parses HTTP (libmicrohttpd, driven by one thread of ours whose epoll
 * wait holds libmicrohttpd's set and the channel), turns each request into one protocol
 * request, suspends the connection, and answers when the reply comes back on the channel
 * (matched to its request by id). A second thread only cuts off slow requests. It holds
 * no token: a request's `Authorization: Bearer TOKEN` is passed on to the monitor
 * (ADMIN_TOKEN), which checks it and grants that one request admin.
 *
 * It exits when its channel closes (the monitor is gone); the monitor starts it again when
 * it dies. Exit status: 0 after its channel closed, 1 when it could not start. */
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "gateway/gateway.h"
#include "common/parse.h"
#include "common/util.h"
#include "objects/objects.h"
#include "proto/proto.h"
#include "state/wire.h"
#include "spec/chainfile.h"
#include "spec/draft.h"
#include "spec/info.h"
#include "spec/spec.h"

/* The channel to the monitor: fd 0 (a fuzz harness gives another, gateway.h). */
static int chan_fd = 0;
#define CHAN chan_fd

/* One HTTP request, from its headers to its response. */
struct req {
	struct req *next;         /* in the pending table while its reply is awaited */
	struct MHD_Connection *conn;
	uint64_t id;              /* its protocol request's id */
	uint16_t type;            /* the protocol request it makes (0: answered by us) */
	union {
		struct cit_p_invoke invoke;
		struct cit_p_list list;
		struct cit_p_name name;
		struct cit_p_logs logs;
		struct cit_p_call_id call;
		struct cit_chain_spec chain;
		struct cit_p_state state;
		struct cit_p_attest attest;
	} p;                      /* its payload */
	struct cit_wbuf batch;    /* KV: its batch (state/wire.h), owned */
	uint8_t kv_kind;          /* KV: the one operation's kind (CIT_STATE_*) */
	char etag[24];            /* KV GET: the value's version, quoted, for ETag; "" none */
	char *query;              /* owned: the raw query string (after '?'), "" for none */
	char *meta;               /* owned: an invocation's INVOKE_META bytes (proto.h) */
	size_t meta_len;
	size_t plen;
	struct cit_fn_draft *draft; /* owned: a deploy's spec, environment and command */
	int code;                 /* a deploy's code or bundle, a sealed data object, or -1 */
	char name[CIT_NAME_MAX];
	char token[CIT_TOKEN_LEN + 1]; /* from Authorization: Bearer, "" for none */
	bool bad_token;           /* an Authorization header that is no token */
	char *body;               /* owned: the request body so far */
	size_t len, cap;
	bool too_big;             /* the body passed max_body: answered 413, not kept */
	bool over_budget;         /* the gateway holds too many bodies: answered 503, not kept */
	bool waiting;             /* suspended until its reply */
	bool metrics;             /* a LIST for /metrics */
	bool page;                /* the status page or its script: sent with its security headers */
	/* The answer, once known. */
	bool done;
	unsigned status;
	char *out;                /* owned */
	size_t out_len;
	int out_fd;               /* a data object to send instead of out (owned), or -1 */
	uint64_t out_fd_len;
	const char *ctype;
	char ctype_buf[CIT_CTYPE_MAX]; /* the type a function set */
	char call_id[CIT_CALL_ID_LEN + 1]; /* an asynchronous call's, for X-Call-Id */
	const char *error_code;   /* the gateway's own error (fail): X-Citadel-Error */
	const char *call_state;   /* GET /v1/calls/ID: X-Call-Status, pending, done or failed */
	const char *bad_uri;      /* what is wrong with the raw request target, or NULL */
};

static struct cit_p_gateway cfg;
/* Request bodies held at once, all connections together: past the budget a request is
 * answered 503 rather than the gateway running out of memory (its sandbox's limit is
 * this budget and 256 MiB more, set by the monitor). */
static _Atomic uint64_t held;
static uint64_t budget;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct req *pending;
static uint64_t next_id = 1;

/* ---- slow requests ---------------------------------------------------------------------- */

/* A connection's first request line and headers must come within HEADERS_S of its
 * opening, and every later request's headers within HEADERS_S of its request line; a body
 * must then come at BODY_RATE_MIN bytes a second on average, once BODY_GRACE_S have
 * passed: a client that trickles them, a byte now and then within the idle timeout, is
 * cut off. A thread looks once a second and shuts the
 * socket down; libmicrohttpd then closes the connection. */
#define HEADERS_S 10

#define BODY_GRACE_S 10
#define BODY_RATE_MIN 1024    /* bytes a second, on average, once BODY_GRACE_S have passed */

struct conn {
	struct conn *next, *prev;
	int fd;
	uint64_t since_ns;        /* waiting for a request's headers, or its body, since */
	bool waiting;             /* for headers */
	bool body;                /* for a body: at least BODY_RATE_MIN after BODY_GRACE_S */
	uint64_t body_bytes;
};

static struct conn *conns;
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(void);

static void on_connection(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	pthread_mutex_lock(&conns_lock);
	struct conn *k = *ctx;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED && !k && (k = calloc(1, sizeof(*k)))) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		k->fd = ci ? ci->connect_fd : -1;
		k->since_ns = now_ns();
		k->waiting = true;
		k->next = conns;
		if (conns)
			conns->prev = k;
		conns = k;
		*ctx = k;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && k) {
		/* Before its socket is closed: the sweeper never touches a number reused. */
		if (k->prev)
			k->prev->next = k->next;
		else
			conns = k->next;
		if (k->next)
			k->next->prev = k->prev;
		free(k);
		*ctx = NULL;
	}
	pthread_mutex_unlock(&conns_lock);
}

/* The connection's request has its headers (waiting false), or has ended (true). */
enum conn_phase { CONN_IDLE, CONN_HEADERS, CONN_BODY, CONN_BYTES };

/* The connection's request is now in phase (CONN_BYTES: bytes more of its body came). */
static void conn_phase(struct MHD_Connection *c, enum conn_phase phase, size_t bytes)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	pthread_mutex_lock(&conns_lock);
	struct conn *k = ci ? ci->socket_context : NULL;
	if (k && phase == CONN_BYTES) {
		k->body_bytes += bytes;
	} else if (k) {
		k->waiting = phase == CONN_HEADERS;
		k->body = phase == CONN_BODY;
		k->body_bytes = 0;
		k->since_ns = now_ns();
	}
	pthread_mutex_unlock(&conns_lock);
}

static void *sweeper(void *arg)
{
	(void)arg;
	for (;;) {
		sleep(1);
		uint64_t now = now_ns();
		pthread_mutex_lock(&conns_lock);
		for (struct conn *k = conns; k; k = k->next) {
			uint64_t took = now - k->since_ns;
			bool slow_headers = k->waiting && took > HEADERS_S * 1000000000ull;
			bool slow_body = k->body && took > BODY_GRACE_S * 1000000000ull &&
					 k->body_bytes * 1000000000ull / took < BODY_RATE_MIN;
			if ((slow_headers || slow_body) && k->fd >= 0) {
				shutdown(k->fd, SHUT_RDWR);
				k->waiting = k->body = false;
			}
		}
		pthread_mutex_unlock(&conns_lock);
	}
	return NULL;
}

/* ---- answers --------------------------------------------------------------------------- */

static void answer(struct req *r, unsigned status, const char *ctype, const char *body, size_t len)
{
	free(r->out);
	r->out = malloc(len ? len : 1);
	if (r->out)
		memcpy(r->out, body, len);
	r->out_len = r->out ? len : 0;
	r->status = status;
	r->ctype = ctype;
	r->done = true;
}

/* o (a JSON value, owned: released here) as the answer, with status. */
static void answer_json(struct req *r, unsigned status, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s)
		answer(r, status, "application/json", s, strlen(s));
	else
		answer(r, 500, "text/plain", "out of memory\n", 14);
	free(s);
	json_decref(o);
}

/* {"error": "...", "code": "..."} with status. */
__attribute__((format(printf, 4, 5))) static void fail(struct req *r, unsigned status, const char *code,
							const char *fmt, ...)
{
	char msg[CIT_TEXT_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	answer_json(r, status, json_pack("{s:s, s:s}", "error", msg, "code", code));
	r->error_code = code; /* marks the answer as the gateway's error, not a function's output */
}

/* The monitor's refusal (a negative errno and its text) as an HTTP status; a function's own
 * failure (flags: CIT_STATUS_FUNCTION), whatever its code, is a 500. */
static void fail_errno(struct req *r, int code, uint32_t flags, uint32_t status, const char *text)
{
	/* A function's own failure is a 500, or the 4xx it set (the caller's mistake, it says). */
	if ((flags & CIT_STATUS_FUNCTION) && status >= 400 && status <= 499)
		return fail(r, status, status == 400 ? "bad_request" : "function_refused", "%s", text);
	if (flags & CIT_STATUS_FUNCTION)
		return fail(r, 500, "function_error", "%s", text);
	/* A deploy the monitor took but whose code did not load (its init, its imports). */
	if (r->type == CIT_MSG_DEPLOY && code == -EIO)
		return fail(r, 422, "deploy_failed", "%s", text);
	/* The state store, not a function, failed a KV request: unavailable. */
	if (r->type == CIT_MSG_KV && code == -EIO)
		return fail(r, 503, "unavailable", "%s", text);
	static const struct {
		int code;
		unsigned status;
		const char *name;
	} map[] = {
		{ -ENOENT, 404, "not_found" },          { -EACCES, 403, "forbidden" },
		{ -EKEYREJECTED, 401, "unauthorized" },
		{ -EPERM, 403, "forbidden" },           { -ETIMEDOUT, 504, "timeout" },
		{ -EMSGSIZE, 413, "too_large" },        { -EFBIG, 413, "too_large" },
		{ -EUSERS, 429, "too_many_requests" },  { -EAGAIN, 429, "too_many_requests" },
		{ -EBUSY, 429, "too_many_requests" },   { -EEXIST, 409, "exists" },
		{ -ESHUTDOWN, 503, "unavailable" },     { -EINVAL, 400, "bad_request" },
		{ -ENOSPC, 507, "no_space" },          { -ENOEXEC, 422, "deploy_failed" },
		{ -EDQUOT, 507, "quota" },             { -EBADMSG, 500, "integrity_error" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].code == code) {
			fail(r, map[i].status, map[i].name, "%s", text);
			return;
		}
	fail(r, 500, "function_error", "%s", text); /* the function's own failure */
}

/* ---- the channel to the monitor ---------------------------------------------------- */

static void drain_replies(void);

/* The channel is full: wait until it takes more, reading the monitor's replies meanwhile
 * (it reads no more of ours while we leave too many of its replies unread). */
static void pump(void)
{
	struct pollfd p = { .fd = CHAN, .events = POLLIN | POLLOUT };
	if (poll(&p, 1, -1) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
		drain_replies();
}

/* rc = call, again while the channel is full. */
#define SEND(rc, call)                                                                                           \
	do {                                                                                                     \
		while (((rc) = (call)) == -EAGAIN)                                                               \
			pump();                                                                                  \
	} while (0)

/* Sends r's protocol request (after its token, when it has one); on a send failure the
 * request is answered 503. Returns whether it was sent (r then waits for its reply). */
static bool send_request(struct req *r)
{
	void *payload = &r->p;
	size_t plen = r->plen;
	pthread_mutex_lock(&lock);
	r->id = next_id++;
	r->next = pending;
	pending = r;
	r->waiting = true;
	pthread_mutex_unlock(&lock);
	int rc = 0;
	/* An invocation's meta first: the token is for the message right after it. */
	struct cit_p_meta meta = { .data = { .len = (uint32_t)r->meta_len } };
	if (r->meta)
		SEND(rc, cit_proto_send(CHAN, CIT_MSG_INVOKE_META, r->id, &meta, sizeof(meta), r->meta, r->meta_len, NULL,
					0));
	if (rc == 0 && r->token[0]) {
		struct cit_p_token t = { { 0 } };
		memcpy(t.token, r->token, CIT_TOKEN_LEN);
		SEND(rc, cit_proto_send(CHAN, CIT_MSG_ADMIN_TOKEN, r->id, &t, sizeof(t), NULL, 0, NULL, 0));
	}
	if (rc == 0 && (r->type == CIT_MSG_INVOKE || r->type == CIT_MSG_CHAIN_INVOKE)) {
		SEND(rc, cit_proto_send_data(CHAN, r->type, r->id, payload, plen, r->body, r->len));
	} else if (rc == 0 && r->type == CIT_MSG_KV) {
		SEND(rc, cit_proto_send_data(CHAN, r->type, r->id, payload, plen, r->batch.p, r->batch.len));
	} else if (rc == 0 && r->type == CIT_MSG_DEPLOY) {
		static char tail[CIT_ENV_BYTES + CIT_ARGS_BYTES];
		size_t tlen = cit_spec_tail(r->draft, tail, sizeof(tail));
		SEND(rc, cit_proto_send(CHAN, r->type, r->id, &r->draft->spec, sizeof(r->draft->spec), tail, tlen,
					 &r->code, r->code >= 0 ? 1 : 0));
	} else if (rc == 0) {
		SEND(rc, cit_proto_send(CHAN, r->type, r->id, payload, plen, NULL, 0, NULL, 0));
	}
	if (rc == 0)
		return true;
	pthread_mutex_lock(&lock);
	for (struct req **p = &pending; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	r->waiting = false;
	pthread_mutex_unlock(&lock);
	fail(r, 503, "unavailable", "the monitor cannot be reached: %s", strerror(-rc));
	return false;
}

/* The functions' figures in Prometheus's text format (version 0.0.4): counts and names,
 * never request data. Latency: the monitor keeps the p50 and p99 of recent warm calls
 * (a summary's quantiles) and the last start-up phases' times (gauges). */
static void write_metrics(FILE *f, const struct cit_fn_info *fi, size_t n)
{
	static const struct {
		const char *name, *type, *help;
	} m[] = {
		{ "citadel_invocations_total", "counter", "Calls served, failed ones included." },
		{ "citadel_errors_total", "counter", "Calls that failed." },
		{ "citadel_instances", "gauge", "Instances alive, by state (idle or busy)." },
		{ "citadel_queued_calls", "gauge", "Calls waiting for an instance." },
		{ "citadel_max_instances", "gauge", "The function's --max-instances." },
		{ "citadel_memory_limit_bytes", "gauge", "The function's --memory: template and instances together." },
		{ "citadel_memory_used_bytes", "gauge", "Memory its sandbox uses now: template and instances together." },
		{ "citadel_invoke_latency_seconds", "summary", "Warm calls' latency inside the monitor, recent calls." },
		{ "citadel_phase_seconds", "gauge", "The last start-up phases: cold (a zygote), template (loading), "
						    "lukewarm (an instance, median of recent)." },
		{ "citadel_function_up", "gauge", "1 when the function is ready or starting, 0 when it failed." },
		{ "citadel_phase_duration_seconds", "histogram", "Times by phase since the monitor started: cold (a "
								"runtime zygote made), template (the function loaded and "
								"initialised), lukewarm (an instance forked until ready), "
								"warm (a call inside the monitor)." },
	};
	static const char *const phases[CIT_PHASES] = { "cold", "template", "lukewarm", "warm" };
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name, m[k].type);
		for (size_t i = 0; i < n; i++) {
			char name[CIT_NAME_MAX], state[17];
			snprintf(name, sizeof(name), "%.*s", (int)strnlen(fi[i].name, sizeof(fi[i].name)), fi[i].name);
			snprintf(state, sizeof(state), "%.*s", (int)strnlen(fi[i].state, sizeof(fi[i].state)), fi[i].state);
			const struct cit_fn_info *x = &fi[i];
			switch (k) {
			case 0: fprintf(f, "%s{function=\"%s\"} %llu\n", m[k].name, name, (unsigned long long)x->invocations); break;
			case 1: fprintf(f, "%s{function=\"%s\"} %llu\n", m[k].name, name, (unsigned long long)x->errors); break;
			case 2:
				fprintf(f, "%s{function=\"%s\",state=\"idle\"} %u\n", m[k].name, name, x->idle);
				fprintf(f, "%s{function=\"%s\",state=\"busy\"} %u\n", m[k].name, name, x->busy);
				break;
			case 3: fprintf(f, "%s{function=\"%s\"} %u\n", m[k].name, name, x->queued); break;
			case 4: fprintf(f, "%s{function=\"%s\"} %u\n", m[k].name, name, x->max_instances); break;
			case 5: fprintf(f, "%s{function=\"%s\"} %llu\n", m[k].name, name, (unsigned long long)x->memory_bytes); break;
			case 6: fprintf(f, "%s{function=\"%s\"} %llu\n", m[k].name, name, (unsigned long long)x->memory_used); break;
			case 7:
				fprintf(f, "%s{function=\"%s\",quantile=\"0.5\"} %.6f\n", m[k].name, name, (double)x->p50_us / 1e6);
				fprintf(f, "%s{function=\"%s\",quantile=\"0.99\"} %.6f\n", m[k].name, name, (double)x->p99_us / 1e6);
				fprintf(f, "%s_count{function=\"%s\"} %llu\n", m[k].name, name, (unsigned long long)x->invocations);
				break;
			case 8:
				fprintf(f, "%s{function=\"%s\",phase=\"cold\"} %.6f\n", m[k].name, name, (double)x->cold_us / 1e6);
				fprintf(f, "%s{function=\"%s\",phase=\"template\"} %.6f\n", m[k].name, name,
					(double)x->template_us / 1e6);
				fprintf(f, "%s{function=\"%s\",phase=\"lukewarm\"} %.6f\n", m[k].name, name,
					(double)x->lukewarm_us / 1e6);
				break;
			case 9: fprintf(f, "%s{function=\"%s\"} %d\n", m[k].name, name, strcmp(state, "failed") != 0); break;
			default:
				for (unsigned ph = 0; ph < CIT_PHASES; ph++) {
					uint64_t sum = 0;
					for (unsigned b = 0; b < CIT_HIST_BUCKETS; b++) {
						sum += x->hist[ph][b];
						if (b + 1 < CIT_HIST_BUCKETS)
							fprintf(f, "%s_bucket{function=\"%s\",phase=\"%s\",le=\"%g\"} %llu\n",
								m[k].name, name, phases[ph], cit_hist_le_us[b] / 1e6,
								(unsigned long long)sum);
						else
							fprintf(f, "%s_bucket{function=\"%s\",phase=\"%s\",le=\"+Inf\"} %llu\n",
								m[k].name, name, phases[ph], (unsigned long long)sum);
					}
					fprintf(f, "%s_sum{function=\"%s\",phase=\"%s\"} %.6f\n", m[k].name, name, phases[ph],
						(double)x->hist_sum_us[ph] / 1e6);
					fprintf(f, "%s_count{function=\"%s\",phase=\"%s\"} %llu\n", m[k].name, name,
						phases[ph], (unsigned long long)sum);
				}
				break;
			}
		}
	}
}

/* What a LIST-like reply holds: records of one size, each beginning with its name. */
struct records {
	size_t size;
	json_t *(*json)(const void *record); /* a new reference, NULL when out of memory */
	const char *what;         /* "function", "chain": for "no ... named X" */
};

static json_t *function_json(const void *record)
{
	return cit_fn_info_json(record);
}

static json_t *chain_json(const void *record)
{
	return cit_chain_json(record);
}

_Static_assert(offsetof(struct cit_fn_info, name) == 0 && offsetof(struct cit_chain_spec, name) == 0,
	       "a record begins with its name");

static const struct records function_records = { sizeof(struct cit_fn_info), function_json, "function" };
static const struct records chain_records = { sizeof(struct cit_chain_spec), chain_json, "chain" };

/* A LIST-like reply as JSON: every record, an array; or the one r names (GET .../NAME), an
 * object, 404 when there is none. */
static void answer_list(struct req *r, struct cit_rx *rx, const struct records *k)
{
	const void *data;
	size_t len = 0;
	void *map = NULL;
	json_t *a = json_array();
	if (cit_rx_data(rx, &data, &len, &map) == 0)
		for (size_t i = 0; i + k->size <= len; i += k->size) {
			const char *name = (const char *)data + i; /* each record's first field */
			if (r->name[0] && strncmp(name, r->name, CIT_NAME_MAX))
				continue;
			json_array_append_new(a, k->json(name));
		}
	if (map)
		munmap(map, len);
	if (r->name[0] && json_array_size(a) == 0)
		fail(r, 404, "not_found", "no %s named %s", k->what, r->name);
	else
		answer_json(r, 200, r->name[0] ? json_incref(json_array_get(a, 0)) : json_incref(a));
	json_decref(a);
}

/* KV's OK: its one result, as HTTP. A GET: the value (its version in ETag); a PUT: its
 * version; a DELETE: the key; a listing: the names as JSON. A failed operation: its
 * errno's status (fail_errno). */
static void answer_kv(struct req *r, struct cit_rx *rx)
{
	const void *data = NULL;
	void *map = NULL;
	size_t len = 0;
	if (cit_rx_data(rx, &data, &len, &map) < 0)
		return fail(r, 502, "bad_gateway", "the monitor's answer could not be read");
	size_t at = 0;
	struct cit_state_result res;
	const uint8_t *p;
	if (cit_state_next_result(data, len, &at, &res, &p) != 1) {
		fail(r, 502, "bad_gateway", "the monitor's answer is malformed");
	} else if (res.rc < 0) {
		char text[CIT_TEXT_MAX + 1];
		snprintf(text, sizeof(text), "%.*s", (int)(res.len < CIT_TEXT_MAX ? res.len : CIT_TEXT_MAX), (const char *)p);
		fail_errno(r, res.rc, 0, 0, text);
	} else if (r->kv_kind == CIT_STATE_GET) {
		answer(r, 200, "application/octet-stream", (const char *)p, res.len);
		snprintf(r->etag, sizeof(r->etag), "\"%llu\"", (unsigned long long)res.version);
	} else if (r->kv_kind == CIT_STATE_PUT) {
		answer_json(r, 200, json_pack("{s:s, s:I}", "namespace", r->name, "version", (json_int_t)res.version));
	} else if (r->kv_kind == CIT_STATE_DEL) {
		answer_json(r, 200, json_pack("{s:s, s:I}", "namespace", r->name, "deleted_version",
					      (json_int_t)res.version));
	} else {
		json_t *keys = json_array();
		size_t nat = 0;
		struct cit_state_name nm;
		const uint8_t *name;
		while (keys && cit_state_next_name(p, res.len, &nat, &nm, &name) == 1) {
			json_t *o = json_pack("{s:s%, s:I, s:I}", "key", (const char *)name, (size_t)nm.nlen, "size",
					      (json_int_t)nm.vlen, "version", (json_int_t)nm.version);
			json_array_append_new(keys, o ? o : json_null()); /* a name that is not UTF-8: null */
		}
		answer_json(r, 200, keys);
	}
	if (map)
		munmap(map, len);
}

/* A reply: its request's answer, and its connection resumed. */
static void on_reply(struct cit_rx *rx)
{
	pthread_mutex_lock(&lock);
	struct req *r = NULL;
	for (struct req **p = &pending; *p; p = &(*p)->next)
		if ((*p)->id == rx->hdr.id) {
			r = *p;
			*p = r->next;
			break;
		}
	pthread_mutex_unlock(&lock);
	if (!r)
		return; /* an ADMIN_TOKEN has no reply; nothing else is unasked for */
	if (rx->hdr.type == CIT_MSG_ERROR) {
		const struct cit_p_status *st = CIT_P(rx, cit_p_status);
		char text[CIT_TEXT_MAX + 1];
		snprintf(text, sizeof(text), "%.*s", (int)strnlen(st->text, sizeof(st->text)), st->text);
		fail_errno(r, st->code, st->flags, st->http_status, text);
	} else if (r->type == CIT_MSG_LIST && r->metrics) {
		const void *data;
		size_t len;
		void *map = NULL;
		char *text = NULL;
		size_t tlen = 0;
		FILE *f = open_memstream(&text, &tlen);
		if (f && cit_rx_data(rx, &data, &len, &map) == 0)
			write_metrics(f, data, len / sizeof(struct cit_fn_info));
		if (f)
			fclose(f);
		if (map)
			munmap(map, len);
		if (text)
			answer(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, tlen);
		else
			fail(r, 500, "internal", "out of memory");
		free(text);
	} else if (r->type == CIT_MSG_LIST) {
		answer_list(r, rx, &function_records);
	} else if (r->type == CIT_MSG_CHAIN_LIST) {
		answer_list(r, rx, &chain_records);
	} else if (r->type == CIT_MSG_CHAIN_CREATE) {
		answer_json(r, 201, cit_chain_json(&r->p.chain));
	} else if (r->type == CIT_MSG_DEPLOY) {
		json_t *o = json_pack("{s:s, s:s%}", "name", r->name, "measurement", (const char *)rx->data,
				      (size_t)(rx->data_len < 64 ? rx->data_len : 64));
		/* A keyed function's new invoke key follows the measurement: shown this once. */
		if (o && rx->data_len == 65 + CIT_TOKEN_LEN)
			json_object_set_new(o, "invoke_key", json_stringn((const char *)rx->data + 65, CIT_TOKEN_LEN));
		answer_json(r, 201, o);
	} else if (r->type == CIT_MSG_INVOKE && (r->p.invoke.flags & CIT_INVOKE_ASYNC)) {
		char id[CIT_CALL_ID_LEN + 1];
		snprintf(id, sizeof(id), "%.*s", (int)(rx->data_len < CIT_CALL_ID_LEN ? rx->data_len : CIT_CALL_ID_LEN),
			 (const char *)rx->data);
		char url[CIT_CALL_ID_LEN + 16];
		snprintf(url, sizeof(url), "/v1/calls/%s", id);
		snprintf(r->call_id, sizeof(r->call_id), "%s", id);
		answer_json(r, 202, json_pack("{s:s, s:s, s:s}", "call_id", id, "status", "pending", "status_url", url));
	} else if (r->type == CIT_MSG_CALL_STATUS && CIT_P(rx, cit_p_ok)->count != CIT_CALL_DONE) {
		const struct cit_p_ok *ok = CIT_P(rx, cit_p_ok);
		r->call_state = ok->count == CIT_CALL_PENDING ? "pending" : "failed";
		if (ok->count == CIT_CALL_PENDING) {
			answer_json(r, 202, json_pack("{s:s}", "status", "pending"));
		} else {
			char text[CIT_TEXT_MAX + 1];
			snprintf(text, sizeof(text), "%.*s", (int)(rx->data_len < CIT_TEXT_MAX ? rx->data_len : CIT_TEXT_MAX),
				 (const char *)rx->data);
			fail_errno(r, ok->code, ok->flags, ok->http_status, text);
		}
	} else if (r->type == CIT_MSG_KV) {
		answer_kv(r, rx);
	} else if (r->type == CIT_MSG_REMOVE || r->type == CIT_MSG_CHAIN_REMOVE) {
		char text[CIT_NAME_MAX + 16];
		int n = snprintf(text, sizeof(text), "{\"removed\":\"%s\"}", r->name); /* a checked name */
		answer(r, 200, "application/json", text, (size_t)n);
	} else {
		/* A function's output (or a log): the status and type the function set, if any. */
		const struct cit_p_ok *ok = CIT_P(rx, cit_p_ok);
		unsigned status = ok->http_status ? ok->http_status : 200;
		bool bodiless = status == 204 || status == 304; /* HTTP gives these no body */
		const char *ctype = r->type == CIT_MSG_LOGS     ? "text/plain; charset=utf-8"
				    : r->type == CIT_MSG_ATTEST ? "application/json"
								: "application/octet-stream";
		if (ok->content_type[0]) {
			memcpy(r->ctype_buf, ok->content_type, sizeof(r->ctype_buf));
			ctype = r->ctype_buf;
		}
		if (r->type == CIT_MSG_CALL_STATUS)
			r->call_state = "done";
		if (bodiless) {
			answer(r, status, ctype, "", 0);
		} else if (rx->nfds) {
			/* A large response: its data object is sent as it is (sendfile). */
			r->out_fd = steal_fd(&rx->fds[0]);
			r->out_fd_len = rx->obj_len;
			r->status = status;
			r->ctype = ctype;
			r->done = true;
		} else {
			answer(r, status, ctype, (const char *)rx->data, rx->data_len);
		}
	}
	r->waiting = false;
	MHD_resume_connection(r->conn);
}

/* Every reply waiting on the channel, answered; the gateway ends with the channel. */
static void drain_replies(void)
{
	static _Alignas(16) char buf[CIT_MSG_MAX];
	for (;;) {
		struct cit_rx rx;
		struct cit_error err = { 0 };
		int rc = cit_proto_recv(CHAN, buf, &rx, &err);
		if (rc == -EAGAIN)
			return;
		if (rc <= 0) {
			if (rc < 0)
				fprintf(stderr, "citadel-gateway: the monitor's channel: %s\n", err.msg);
			_exit(0); /* the monitor is gone: so are we (it starts a new gateway) */
		}
		on_reply(&rx);
		cit_rx_close(&rx);
	}
}

/* The gateway's one thread for HTTP and the channel: libmicrohttpd's epoll set and the
 * channel in one wait, so that a reply resumes its connection and its answer goes out in
 * the same wake-up. */
static void *serve_loop(void *arg)
{
	struct MHD_Daemon *d = arg;
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN, .data.fd = di ? di->epoll_fd : -1 };
	if (ep < 0 || !di || epoll_ctl(ep, EPOLL_CTL_ADD, di->epoll_fd, &e) < 0) {
		fprintf(stderr, "citadel-gateway: no epoll set\n");
		_exit(1);
	}
	e.data.fd = CHAN;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, CHAN, &e) < 0) {
		fprintf(stderr, "citadel-gateway: the channel cannot be waited on\n");
		_exit(1);
	}
	for (;;) {
		MHD_UNSIGNED_LONG_LONG to = 1000;
		int wait = MHD_get_timeout(d, &to) == MHD_YES && to < 1000 ? (int)to : 1000;
		struct epoll_event ev[4];
		epoll_wait(ep, ev, 4, wait);
		drain_replies();
		MHD_run(d);
	}
	return NULL;
}

/* ---- the status page --------------------------------------------------------------------- */

/* GET /: a page for people, and its script (GET /status.js), which reads /metrics every two
 * seconds: names and counts, never request data, the same access as /metrics (beyond
 * loopback it asks for the admin token and keeps it in the tab's session storage). */
static const char status_html[] =
	"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Citadel</title>\n"
	"<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
	"td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child"
	"{text-align:left}.failed{color:#b00}#note{color:#666}</style></head>\n"
	"<body><h1>Citadel</h1><p id=\"note\">loading&hellip;</p>\n"
	"<p id=\"auth\" hidden>Admin token: <input id=\"token\" type=\"password\" size=\"66\"> "
	"<button id=\"use\">use</button></p>\n"
	"<table><thead><tr><th>function</th><th>state</th><th>idle</th><th>busy</th><th>queued</th>"
	"<th>invocations</th><th>errors</th><th>p50 (ms)</th><th>p99 (ms)</th></tr></thead>"
	"<tbody id=\"functions\"></tbody></table>\n"
	"<script src=\"/status.js\"></script></body></html>\n";

static const char status_js[] =
	"'use strict';\n"
	"function parse(text) {\n"
	"  const fns = {};\n"
	"  for (const line of text.split('\\n')) {\n"
	"    const m = /^(\\w+)\\{([^}]*)\\} (\\S+)$/.exec(line);\n"
	"    if (!m) continue;\n"
	"    const labels = {};\n"
	"    for (const kv of m[2].split(',')) { const [k, v] = kv.split('='); labels[k] = JSON.parse(v); }\n"
	"    const f = fns[labels.function] = fns[labels.function] || {};\n"
	"    const key = m[1] + (labels.state ? '.' + labels.state : '') + (labels.quantile ? '.' + labels.quantile : '');\n"
	"    f[key] = Number(m[3]);\n"
	"  }\n"
	"  return fns;\n"
	"}\n"
	"function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; }\n"
	"async function refresh() {\n"
	"  const token = sessionStorage.getItem('citadel-token');\n"
	"  const r = await fetch('/metrics', { headers: token ? { Authorization: 'Bearer ' + token } : {} });\n"
	"  const note = document.getElementById('note');\n"
	"  if (r.status === 401) { document.getElementById('auth').hidden = false; note.textContent = 'This gateway "
	"listens beyond loopback: the figures need the admin token.'; return; }\n"
	"  if (!r.ok) { note.textContent = 'The gateway answered ' + r.status + '.'; return; }\n"
	"  const fns = parse(await r.text());\n"
	"  const body = document.getElementById('functions');\n"
	"  body.replaceChildren();\n"
	"  for (const name of Object.keys(fns).sort()) {\n"
	"    const f = fns[name], row = body.insertRow();\n"
	"    const up = f.citadel_function_up === 1;\n"
	"    cell(row, name); cell(row, up ? 'up' : 'failed', up ? '' : 'failed');\n"
	"    cell(row, f['citadel_instances.idle']); cell(row, f['citadel_instances.busy']);\n"
	"    cell(row, f.citadel_queued_calls); cell(row, f.citadel_invocations_total); cell(row, f.citadel_errors_total);\n"
	"    cell(row, (f['citadel_invoke_latency_seconds.0.5'] * 1000).toFixed(2));\n"
	"    cell(row, (f['citadel_invoke_latency_seconds.0.99'] * 1000).toFixed(2));\n"
	"  }\n"
	"  note.textContent = Object.keys(fns).length + ' functions, ' + new Date().toLocaleTimeString();\n"
	"}\n"
	"document.getElementById('use').onclick = () => {\n"
	"  sessionStorage.setItem('citadel-token', document.getElementById('token').value.trim());\n"
	"  document.getElementById('auth').hidden = true; refresh();\n"
	"};\n"
	"refresh(); setInterval(refresh, 2000);\n";

/* ---- routing --------------------------------------------------------------------------- */

/* The function name in url after prefix ("/function/"), up to suffix (NULL: the end;
 * "/invoke"); false when url is not of that shape or the name is not valid. */
static bool name_in(const char *url, const char *prefix, const char *suffix, char name[CIT_NAME_MAX])
{
	size_t p = strlen(prefix);
	if (strncmp(url, prefix, p))
		return false;
	const char *start = url + p, *end = suffix ? strstr(start, suffix) : start + strlen(start);
	if (!end || (suffix && strcmp(end, suffix)) || end == start || (size_t)(end - start) >= CIT_NAME_MAX)
		return false;
	memcpy(name, start, (size_t)(end - start));
	name[end - start] = '\0';
	return cit_fn_name_ok(name);
}

/* Asynchronous calls per client address (the monitor keeps at most 1024 of all callers'):
 * a token bucket of ASYNC_BURST, refilled ASYNC_RATE a second (so one address alone
 * cannot fill the monitor's table within the 10 minutes a result is kept), for each of the
 * last ADDRESSES addresses seen (the one refilled longest ago gives its slot up). Used from
 * the HTTP thread only. */
#define ASYNC_BURST 32
#define ASYNC_RATE 1
#define ADDRESSES 1024

static struct {
	uint8_t addr[16];
	double tokens;
	uint64_t at_ns;
} buckets[ADDRESSES];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool address_may_queue(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	uint8_t addr[16] = { 0 };
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
		memcpy(addr, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, 16);
	else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		memcpy(addr + 12, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, 4);
	uint64_t now = now_ns();
	size_t slot = 0;
	bool found = false;
	for (size_t i = 0; i < ADDRESSES && !found; i++) {
		if (!memcmp(buckets[i].addr, addr, 16) && buckets[i].at_ns) {
			slot = i;
			found = true;
		} else if (buckets[i].at_ns < buckets[slot].at_ns) {
			slot = i;
		}
	}
	if (!found) {
		memcpy(buckets[slot].addr, addr, 16);
		buckets[slot].tokens = ASYNC_BURST;
		buckets[slot].at_ns = now;
	}
	double t = buckets[slot].tokens + (double)(now - buckets[slot].at_ns) / 1e9 * ASYNC_RATE;
	buckets[slot].tokens = t > ASYNC_BURST ? ASYNC_BURST : t;
	buckets[slot].at_ns = now;
	if (buckets[slot].tokens < 1)
		return false;
	buckets[slot].tokens -= 1;
	return true;
}

/* /PREFIX/NAME[/PATH]: the name, and in *sub what follows it ("" or "/PATH"); false when
 * url is not of that shape or the name is not valid. */
static bool fn_route(const char *url, const char *prefix, char name[CIT_NAME_MAX], const char **sub)
{
	size_t p = strlen(prefix);
	if (strncmp(url, prefix, p))
		return false;
	const char *start = url + p, *end = start + strcspn(start, "/");
	if (end == start || (size_t)(end - start) >= CIT_NAME_MAX)
		return false;
	memcpy(name, start, (size_t)(end - start));
	name[end - start] = '\0';
	*sub = end;
	return cit_fn_name_ok(name);
}

/* The headers a function sees: all but the platform's own. */
struct meta_build {
	FILE *f;
	size_t n;
	const char *callback;
	bool nul;                 /* a header with a NUL in it */
};

static enum MHD_Result meta_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				   const char *value, size_t value_size)
{
	(void)kind;
	struct meta_build *b = cls;
	/* A NUL inside a name or value would cut it short where the client did not. */
	if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
		b->nul = true;
		return MHD_YES;
	}
	if (!strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION))
		return MHD_YES; /* a token or invoke key: the platform's, never the function's */
	if (!strcasecmp(key, "X-Callback-Url")) {
		b->callback = value;
		return MHD_YES;
	}
	b->n++;
	fwrite(key, 1, strlen(key) + 1, b->f);
	fwrite(value ? value : "", 1, strlen(value ? value : "") + 1, b->f);
	return MHD_YES;
}

/* An invocation's INVOKE_META (proto.h) into r->meta: its method, sub-path, query,
 * callback (an asynchronous call's X-Callback-Url) and headers, checked as the monitor
 * will. On a request that does not fit, answers it (400, 431) and returns false. */
static bool make_meta(struct req *r, struct MHD_Connection *c, const char *method, const char *sub, bool async)
{
	char *buf = NULL;
	size_t len = 0;
	struct meta_build b = { .f = open_memstream(&buf, &len) };
	if (!b.f)
		return fail(r, 500, "internal", "out of memory"), false;
	fprintf(b.f, "%s%c%s%c%s%c", method, 0, sub, 0, r->query ? r->query : "", 0);
	long at = ftell(b.f);
	fputc(0, b.f); /* the callback, filled in below */
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, meta_header, &b);
	fclose(b.f);
	const char *cb = async && b.callback ? b.callback : "";
	const char *bad = b.nul ? "a header holds a NUL byte"
		: cb[0] && !(cfg.flags & CIT_GATEWAY_CALLBACKS) ? "callbacks are off: this gateway listens beyond loopback "
								  "and serve --callback-allow names no address block"
		: NULL;
	if (bad) {
		free(buf);
		return fail(r, 400, "bad_request", "%s", bad), false;
	}
	size_t cbl = strlen(cb);
	char *meta = buf ? malloc(len + cbl) : NULL;
	if (!meta) {
		free(buf);
		return fail(r, 500, "internal", "out of memory"), false;
	}
	memcpy(meta, buf, (size_t)at);
	memcpy(meta + at, cb, cbl);
	memcpy(meta + at + cbl, buf + at, len - (size_t)at);
	free(buf);
	len += cbl;
	const char *why = NULL;
	if (b.n > CIT_META_HEADERS || len > CIT_INLINE_MAX) {
		free(meta);
		return fail(r, 431, "headers_too_large", "a function is given at most %d headers and %d bytes of request "
			    "line and headers", CIT_META_HEADERS, CIT_INLINE_MAX), false;
	}
	if (cit_meta_parse(meta, len, true, NULL, NULL, &why) < 0) {
		free(meta);
		return fail(r, 400, "bad_request", "%s", why), false;
	}
	r->meta = meta;
	r->meta_len = len;
	return true;
}

static bool is(const char *method, const char *want)
{
	return !strcmp(method, want);
}

/* Decides what r is, once its body is in: answered here (r->done), or a protocol
 * request (r->type, r->p) to send. */
/* A deploy's settings from the query string, in order: name, runtime, command (repeated:
 * the program, then each argument), env (repeated, K=V) and every deploy option by its
 * manifest key or flag (memory=64M, output_limit=1M, fresh=true), read by the module the
 * CLI uses. */
struct query {
	struct cit_fn_draft *d;
	const char *argv[CIT_ARGS_MAX];
	size_t argc;
	struct cit_error err;
	int rc;
	uint64_t seen;            /* settings given once: name, runtime, each option's row */
};

/* Whether the setting of bit was given before (it may be given once); marks it. */
static bool again(struct query *q, unsigned bit)
{
	bool was = q->seen & (1ull << bit);
	q->seen |= 1ull << bit;
	return was;
}

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct query *q = cls;
	if (q->rc < 0)
		return MHD_NO;
	if (!value)
		value = "";
	size_t n_opts;
	const struct cit_spec_opt *opts = cit_spec_options(&n_opts), *row = NULL;
	if (strcmp(key, "name") && strcmp(key, "runtime") && strcmp(key, "command")) {
		char flag[64];
		snprintf(flag, sizeof(flag), "%s", key);
		for (char *c = flag; *c; c++)
			*c = *c == '_' ? '-' : *c;
		row = cit_spec_option(flag);
	}
	unsigned bit = !strcmp(key, "name") ? 0 : !strcmp(key, "runtime") ? 1 : row ? 2 + (unsigned)(row - opts) : 63;
	bool repeatable = !strcmp(key, "command") || (row && (row->kind == CIT_SPEC_ENV || row->kind == CIT_SPEC_MODULES ||
								       row->kind == CIT_SPEC_NAMES));
	if (bit < 63 && !repeatable && again(q, bit)) {
		q->rc = cit_error_say(&q->err, -EINVAL, "'%.40s' is given twice: each setting once", key);
		return MHD_NO;
	}
	(void)n_opts;
	if (!strcmp(key, "name")) {
		snprintf(q->d->name, sizeof(q->d->name), "%s", value);
	} else if (!strcmp(key, "runtime")) {
		q->rc = cit_spec_runtime(q->d, value, &q->err);
	} else if (!strcmp(key, "command")) {
		if (q->argc == CIT_ARGS_MAX)
			q->rc = cit_error_say(&q->err, -EINVAL, "more than %d command words", CIT_ARGS_MAX);
		else
			q->argv[q->argc++] = value;
	} else {
		char flag[64];
		snprintf(flag, sizeof(flag), "%s", key);
		for (char *c = flag; *c; c++)
			*c = *c == '_' ? '-' : *c;
		const struct cit_spec_opt *o = cit_spec_option(flag);
		if (!o)
			q->rc = cit_error_say(&q->err, -EINVAL, "unknown setting '%.40s' (name, runtime, command, env, and "
								"the options of citadel deploy)", key);
		else if (cit_spec_set(q->d, o, value, &q->err) < 0)
			q->rc = cit_error_say(&q->err, -EINVAL, "%s: %s", key, q->err.msg);
	}
	return q->rc < 0 ? MHD_NO : MHD_YES;
}

/* POST /v1/functions: the body is the code (a native function's .so) or, for an exec
 * function, its bundle (a tar archive; none: its program is in the view). */
static void deploy(struct req *r, struct MHD_Connection *c)
{
	static struct query q; /* the MHD thread's alone */
	if (!(r->draft = calloc(1, sizeof(*r->draft))))
		return fail(r, 500, "internal", "out of memory");
	q = (struct query){ .d = r->draft };
	cit_spec_defaults(r->draft);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	if (q.rc == 0 && !r->draft->name[0])
		q.rc = cit_error_say(&q.err, -EINVAL, "no name (name=NAME in the query)");
	if (q.rc == 0 && q.argc && !r->draft->runtime_set)
		q.rc = cit_spec_runtime(r->draft, "exec", &q.err);
	if (q.rc == 0 && q.argc)
		q.rc = cit_spec_command(r->draft, q.argv, q.argc, &q.err);
	bool exec = !strcmp(r->draft->spec.runtime, "exec"), python = !strcmp(r->draft->spec.runtime, "python");
	/* A python function's body is its module's source, or its bundle (a tar archive). */
	bool tar = r->len > 262 && !memcmp(r->body + 257, "ustar", 5);
	if (q.rc == 0 && exec && !q.argc)
		q.rc = cit_error_say(&q.err, -EINVAL, "an exec function needs its command (command=PROGRAM, then "
						      "command=ARG for each argument)");
	if (q.rc == 0 && python && tar)
		snprintf(r->draft->bundle, sizeof(r->draft->bundle), "(the request's body)");
	if (q.rc == 0 && !exec && !python && r->len) {
		const char *rt = cit_spec_runtime_of("", (const uint8_t *)r->body, r->len, &q.err);
		if (!rt)
			q.rc = -EINVAL;
		else if (!r->draft->runtime_set)
			q.rc = cit_spec_runtime(r->draft, rt, &q.err);
	}
	if (q.rc == 0 && !exec && !r->len)
		q.rc = cit_error_say(&q.err, -EINVAL, "the body must be the function's code (its .so, or with "
						      "runtime=python its .py or a tar bundle)");
	if (q.rc == 0 && exec && r->len)
		snprintf(r->draft->bundle, sizeof(r->draft->bundle), "(the request's body)");
	if (q.rc == 0)
		q.rc = cit_spec_finish(r->draft, &q.err);
	if (q.rc < 0)
		return fail(r, 400, "bad_request", "%s", q.err.msg);
	snprintf(r->name, sizeof(r->name), "%s", r->draft->spec.name);
	r->code = r->len ? cit_object_create(r->body, r->len) : -1;
	if (r->len && r->code < 0)
		return fail(r, 500, "internal", "the code's data object: %s", strerror(-r->code));
	r->type = CIT_MSG_DEPLOY;
}

/* A request whose body was not kept is answered: 413 (over --max-body) or 503 (the gateway
 * holds too many bodies). Returns whether it was. */
static bool body_dropped(struct req *r)
{
	if (r->too_big)
		fail(r, 413, "too_large", "the request body is over %llu bytes", (unsigned long long)cfg.max_body);
	else if (r->over_budget)
		fail(r, 503, "unavailable", "the gateway holds too many request bodies: try again later");
	return r->too_big || r->over_budget;
}

/* An admin route with no token (or an Authorization that is none) is answered 401; a
 * token's worth is the monitor's to say. Returns whether it was. */
static bool no_admin_token(struct req *r, const char *url)
{
	if (r->bad_token || !r->token[0])
		fail(r, 401, "unauthorized", "%s needs the admin token (Authorization: Bearer TOKEN)", url);
	return r->bad_token || !r->token[0];
}

/* r as an invocation of type (INVOKE, CHAIN_INVOKE) of r->name, the body its request. The
 * request's type travels with it (a Python function reads JSON by it). Returns false when
 * its Content-Type is not one (answered 400). */
static bool invocation(struct req *r, struct MHD_Connection *c, uint16_t type)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct && (strlen(ct) >= CIT_CTYPE_MAX || !cit_ctype_ok(ct, strlen(ct) + 1))) {
		fail(r, 400, "bad_request", "the Content-Type is not 1 to 127 printable ASCII characters beginning "
		     "with a letter");
		return false;
	}
	snprintf(r->p.invoke.name, sizeof(r->p.invoke.name), "%s", r->name);
	snprintf(r->p.invoke.content_type, sizeof(r->p.invoke.content_type), "%s", ct ? ct : "");
	r->plen = sizeof(r->p.invoke);
	r->type = type;
	return true;
}

/* POST /v1/chains: the body is the chain as JSON, {"name", "steps"} or {"name",
 * "functions"} (cit_chain_of_json), read by the module the CLI uses. */
static void create_chain(struct req *r)
{
	if (r->len > CIT_CHAIN_MANIFEST_MAX)
		return fail(r, 413, "too_large", "a chain's JSON is at most %u KiB", CIT_CHAIN_MANIFEST_MAX >> 10);
	json_error_t je;
	json_t *o = json_loadb(r->body ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return fail(r, 400, "bad_request", "not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
	struct cit_error err = { 0 };
	int rc = cit_chain_of_json(&r->p.chain, o, &err);
	json_decref(o);
	if (rc < 0)
		return fail(r, rc == -ENOMEM ? 500 : 400, rc == -ENOMEM ? "internal" : "bad_request", "%s", err.msg);
	snprintf(r->name, sizeof(r->name), "%s", r->p.chain.name);
	r->plen = sizeof(r->p.chain);
	r->type = CIT_MSG_CHAIN_CREATE;
}

/* The chains' routes, an admin's: /v1/chains (GET: every chain; POST: create or replace
 * one), /v1/chains/NAME (GET; DELETE); and anyone's /v1/chains/NAME/invoke (POST).
 * Listing and invoking are an invoker's, as on the local socket; the monitor itself asks
 * an admin's token for a chain that calls a function deployed --invoke-key. */
static void chain_route(struct req *r, struct MHD_Connection *c, const char *url, const char *method)
{
	bool all = !strcmp(url, "/v1/chains") || !strcmp(url, "/v1/chains/");
	bool invoke = !all && name_in(url, "/v1/chains/", "/invoke", r->name);
	bool one = !all && !invoke && name_in(url, "/v1/chains/", NULL, r->name);
	if (!all && !invoke && !one)
		return fail(r, 404, "not_found", "not a chain's route: a name is 1 to 63 of a-z, 0-9, '-' and '_'");
	bool get = is(method, "GET"), post = is(method, "POST"), del = is(method, "DELETE");
	if (invoke ? !post : all ? !get && !post : !get && !del)
		return fail(r, 405, "method_not_allowed", "%s takes %s", url,
			    invoke ? "POST" : all ? "GET or POST" : "GET or DELETE");
	if (invoke) {
		if (!body_dropped(r))
			invocation(r, c, CIT_MSG_CHAIN_INVOKE);
		return;
	}
	/* Listing chains shows functions' names, as listing functions does: an admin's. */
	if (no_admin_token(r, url))
		return;
	if (post) {
		if (!body_dropped(r))
			create_chain(r);
		return;
	}
	if (del) {
		snprintf(r->p.name.name, sizeof(r->p.name.name), "%s", r->name);
		r->plen = sizeof(r->p.name);
		r->type = CIT_MSG_CHAIN_REMOVE;
		return;
	}
	r->plen = sizeof(r->p.list);
	r->type = CIT_MSG_CHAIN_LIST;
}

/* A query argument's value (the first), or NULL. */
static const char *arg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

/* A signed report (docs/attestation.md): /v1/functions/NAME/attestation (a function's) and
 * /v1/attestation (the monitor's alone), anyone's, ?nonce=HEX (at most 128 hex digits). */
static void attest_route(struct req *r, struct MHD_Connection *c, const char *method, bool function)
{
	if (!is(method, "GET"))
		return fail(r, 405, "method_not_allowed", "an attestation takes GET");
	const char *nonce = arg(c, "nonce");
	size_t len = nonce ? strlen(nonce) : 0;
	if (len > 2 * CIT_ATTEST_NONCE_MAX || len % 2 || strspn(nonce ? nonce : "", "0123456789abcdefABCDEF") != len)
		return fail(r, 400, "bad_request", "nonce: an even number of hex digits, at most %d",
			    2 * CIT_ATTEST_NONCE_MAX);
	for (size_t i = 0; i < len; i += 2) {
		char byte[3] = { nonce[i], nonce[i + 1], 0 };
		r->p.attest.nonce[i / 2] = (uint8_t)strtoul(byte, NULL, 16);
	}
	r->p.attest.nonce_len = (uint32_t)(len / 2);
	if (function)
		memcpy(r->p.attest.name, r->name, sizeof(r->p.attest.name));
	r->plen = sizeof(r->p.attest);
	r->type = CIT_MSG_ATTEST;
}

/* Functions' key-value state, an admin's (docs/http-api.md): /v1/state/NS (GET: its keys,
 * ?prefix=&after=&limit=) and /v1/state/NS/KEY (GET: the value; PUT: the body is the new
 * value; DELETE). KEY is the rest of the path, decoded: 1 to 1024 bytes. */
static void state_route(struct req *r, struct MHD_Connection *c, const char *url, const char *method)
{
	const char *ns = url + 10, *slash = strchr(ns, '/');
	size_t nlen = slash ? (size_t)(slash - ns) : strlen(ns);
	const char *key = slash ? slash + 1 : "";
	if (!nlen || nlen >= CIT_NAME_MAX || (memcpy(r->name, ns, nlen), r->name[nlen] = '\0', !cit_fn_name_ok(r->name)))
		return fail(r, 404, "not_found", "not a namespace's route: /v1/state/NAME[/KEY], a name 1 to 63 of a-z, "
			    "0-9, '-' and '_'");
	bool list = !*key;
	bool get = is(method, "GET"), put = is(method, "PUT"), del = is(method, "DELETE");
	if (list ? !get : !get && !put && !del)
		return fail(r, 405, "method_not_allowed", "%s takes %s", url, list ? "GET" : "GET, PUT or DELETE");
	if (strlen(key) > CIT_STATE_KEY_BYTES)
		return fail(r, 413, "too_large", "a key is 1 to %d bytes", CIT_STATE_KEY_BYTES);
	if (no_admin_token(r, url) || (put && body_dropped(r)))
		return;
	struct cit_state_op op = { .klen = (uint32_t)strlen(key) };
	const char *value = NULL;
	if (list) {
		const char *prefix = arg(c, "prefix"), *after = arg(c, "after"), *limit = arg(c, "limit");
		uint64_t n = CIT_STATE_SCAN_MAX;
		if ((prefix && strlen(prefix) > CIT_STATE_KEY_BYTES) || (after && strlen(after) > CIT_STATE_KEY_BYTES) ||
		    (limit && cit_parse_u64(limit, 1, CIT_STATE_SCAN_MAX, &n) < 0))
			return fail(r, 400, "bad_request", "?prefix= and ?after= are at most %d bytes, ?limit= 1 to %u",
				    CIT_STATE_KEY_BYTES, CIT_STATE_SCAN_MAX);
		op = (struct cit_state_op){ .kind = CIT_STATE_SCAN, .klen = prefix ? (uint32_t)strlen(prefix) : 0,
					    .vlen = after ? (uint32_t)strlen(after) : 0, .limit = (uint32_t)n };
		key = prefix ? prefix : "";
		value = after;
	} else if (put) {
		op.kind = CIT_STATE_PUT;
		op.vlen = (uint32_t)r->len;
		value = r->body;
	} else {
		op.kind = del ? CIT_STATE_DEL : CIT_STATE_GET;
	}
	if (cit_state_add_op(&r->batch, &op, key, value) < 0)
		return fail(r, 500, "internal", "out of memory");
	r->kv_kind = (uint8_t)op.kind;
	snprintf(r->p.state.ns, sizeof(r->p.state.ns), "%s", r->name);
	r->p.state.n_ops = 1;
	r->plen = sizeof(r->p.state);
	r->type = CIT_MSG_KV;
}

static void route(struct req *r, struct MHD_Connection *c, const char *url, const char *method)
{
	if (r->bad_uri)
		return fail(r, 400, "bad_request", "%s", r->bad_uri);
	if (!strcmp(url, "/healthz")) {
		if (!is(method, "GET") && !is(method, "HEAD"))
			return fail(r, 405, "method_not_allowed", "/healthz takes GET");
		return answer(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
	}
	if (!strcmp(url, "/") || !strcmp(url, "/status.js")) {
		if (!is(method, "GET") && !is(method, "HEAD"))
			return fail(r, 405, "method_not_allowed", "%s takes GET", url);
		bool page = !strcmp(url, "/");
		r->page = true;
		return answer(r, 200, page ? "text/html; charset=utf-8" : "text/javascript; charset=utf-8",
			      page ? status_html : status_js, (page ? sizeof(status_html) : sizeof(status_js)) - 1);
	}
	if (!strcmp(url, "/metrics")) {
		if (!is(method, "GET"))
			return fail(r, 405, "method_not_allowed", "/metrics takes GET");
		/* Names and counts: open on loopback, an admin's elsewhere. */
		if (!(cfg.flags & CIT_GATEWAY_LOOPBACK) && (r->bad_token || !r->token[0]))
			return fail(r, 401, "unauthorized", "/metrics needs the admin token here (Authorization: Bearer "
							    "TOKEN): the gateway listens beyond loopback");
		r->plen = sizeof(r->p.list);
		r->type = CIT_MSG_LIST;
		r->metrics = true;
		return;
	}
	/* Invocations: /function/NAME[/PATH] (POST or GET), /async-function/NAME[/PATH] and
	 * /v1/functions/NAME/invoke (POST). */
	const char *sub = NULL;
	bool async = false, invoke = fn_route(url, "/function/", r->name, &sub);
	if (!invoke && fn_route(url, "/async-function/", r->name, &sub))
		invoke = async = true;
	if (!invoke && name_in(url, "/v1/functions/", "/invoke", r->name)) {
		invoke = true;
		sub = "";
	}
	if (invoke) {
		if (!is(method, "POST") && (!is(method, "GET") || async || !strncmp(url, "/v1/", 4)))
			return fail(r, 405, "method_not_allowed", "%s takes POST%s", url,
				    async || !strncmp(url, "/v1/", 4) ? "" : " or GET");
		if (body_dropped(r))
			return;
		if (async && !address_may_queue(c))
			return fail(r, 429, "too_many_requests", "this address has queued too many asynchronous calls: at "
				    "most %d at once, then %d a second", ASYNC_BURST, ASYNC_RATE);
		if (!make_meta(r, c, method, sub, async))
			return;
		if (invocation(r, c, CIT_MSG_INVOKE))
			r->p.invoke.flags = async ? CIT_INVOKE_ASYNC : 0;
		return;
	}
	if (!strcmp(url, "/v1/attestation"))
		return attest_route(r, c, method, false);
	if (name_in(url, "/v1/functions/", "/attestation", r->name))
		return attest_route(r, c, method, true);
	/* An asynchronous call's outcome: its id is the credential. */
	if (!strncmp(url, "/v1/calls/", 10)) {
		const char *id = url + 10;
		if (!is(method, "GET"))
			return fail(r, 405, "method_not_allowed", "%s takes GET", url);
		if (strlen(id) != CIT_CALL_ID_LEN || strspn(id, "0123456789abcdef") != CIT_CALL_ID_LEN)
			return fail(r, 404, "not_found", "no asynchronous call has that id");
		memcpy(r->p.call.id, id, CIT_CALL_ID_LEN);
		r->plen = sizeof(r->p.call);
		r->type = CIT_MSG_CALL_STATUS;
		return;
	}
	/* The admin routes: each needs the admin token, which the monitor checks. */
	bool list = !strcmp(url, "/v1/functions") || !strcmp(url, "/v1/functions/");
	bool one = !list && name_in(url, "/v1/functions/", NULL, r->name);
	bool logs = !list && !one && name_in(url, "/v1/functions/", "/logs", r->name);
	if (list || one || logs) {
		bool del = one && is(method, "DELETE"), post = list && is(method, "POST");
		if (!is(method, "GET") && !del && !post)
			return fail(r, 405, "method_not_allowed", "%s takes %s", url,
				    one ? "GET or DELETE" : list ? "GET or POST" : "GET");
		if (no_admin_token(r, url))
			return;
		if (post) {
			if (!body_dropped(r))
				deploy(r, c);
			return;
		}
		if (del || logs) {
			/* cit_p_logs begins as cit_p_name does: the name, NUL-padded. */
			snprintf(r->p.logs.name, sizeof(r->p.logs.name), "%s", r->name);
			r->plen = del ? sizeof(r->p.name) : sizeof(r->p.logs);
			r->type = del ? CIT_MSG_REMOVE : CIT_MSG_LOGS;
			return;
		}
		r->plen = sizeof(r->p.list);
		r->type = CIT_MSG_LIST;
		return;
	}
	if (!strncmp(url, "/v1/chains", 10) && (!url[10] || url[10] == '/'))
		return chain_route(r, c, url, method);
	if (!strncmp(url, "/v1/state/", 10))
		return state_route(r, c, url, method);
	if (!strncmp(url, "/function/", 10) || !strncmp(url, "/v1/functions/", 14))
		return fail(r, 404, "not_found", "not a function's route: a name is 1 to 63 of a-z, 0-9, '-' and '_'");
	fail(r, 404, "not_found", "no route %s", url);
}

/* Authorization: Bearer TOKEN, kept for the monitor to check. */
static void take_token(struct req *r, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h)
		return;
	if (strncasecmp(h, "Bearer ", 7) || strlen(h + 7) != CIT_TOKEN_LEN ||
	    strspn(h + 7, "0123456789abcdef") != CIT_TOKEN_LEN) {
		r->bad_token = true;
		return;
	}
	memcpy(r->token, h + 7, CIT_TOKEN_LEN + 1);
}

struct framing {
	unsigned lengths;
	bool chunked;
	bool other_coding;        /* a Transfer-Encoding other than "chunked" alone */
	unsigned long long length;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct framing *f = cls;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		f->lengths++;
		f->length = strtoull(value, NULL, 10);
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		f->chunked = true;
		f->other_coding |= !value || strcasecmp(value, "chunked");
	}
	return MHD_YES;
}

static enum MHD_Result respond(struct MHD_Connection *c, struct req *r)
{
	struct MHD_Response *resp =
		r->out_fd >= 0 ? MHD_create_response_from_fd((uint64_t)r->out_fd_len, r->out_fd)
			       : MHD_create_response_from_buffer(r->out_len, r->out ? r->out : (char *)"",
								 MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	r->out_fd = -1; /* the response owns it now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype ? r->ctype : "text/plain");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->call_id[0])
		MHD_add_response_header(resp, "X-Call-Id", r->call_id);
	if (r->etag[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
	if (r->error_code)
		MHD_add_response_header(resp, "X-Citadel-Error", r->error_code);
	if (r->call_state)
		MHD_add_response_header(resp, "X-Call-Status", r->call_state);
	if (r->status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (r->status == 429 || r->status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (r->page) {
		MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'; script-src 'self'; "
									 "connect-src 'self'; style-src 'unsafe-inline'");
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	}
	enum MHD_Result ok = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* A new request, with its raw query string (the part of uri after '?', as the client
 * sent it: what a function is given). NULL when out of memory. */
static struct req *new_req(const char *uri)
{
	struct req *r = calloc(1, sizeof(*r));
	const char *q = uri ? strchr(uri, '?') : NULL;
	/* %00 would end the decoded path or query where the client did not: refused whole. */
	if (r && uri && strcasestr(uri, "%00"))
		r->bad_uri = "the request target holds %00 (a NUL byte)";
	if (r && !(r->query = strdup(q ? q + 1 : ""))) {
		free(r);
		r = NULL;
	}
	if (r) {
		r->out_fd = -1;
		r->code = -1;
	}
	return r;
}

/* MHD's first word of a request: its whole URI, before any parsing. The request starts
 * here, to keep the raw query. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	conn_phase(c, CONN_HEADERS, 0); /* a request line: its headers are due within HEADERS_S */
	return new_req(uri);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **ptr)
{
	(void)cls;
	(void)version;
	struct req *r = *ptr;
	if (!r || !r->conn) {
		if (!r && !(r = new_req(NULL)))
			return MHD_NO;
		r->conn = c;
		conn_phase(c, CONN_BODY, 0); /* the headers are in: its body's rate from now */
		take_token(r, c);
		*ptr = r;
		/* Answered before the body is read: two Content-Lengths (or one beside chunked
		 * encoding) are a request smuggler's, and a body declared over the limit is not
		 * waited for. */
		struct framing f = { 0 };
		MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
		if (f.other_coding) {
			fail(r, 501, "not_implemented", "Transfer-Encoding: only chunked is understood");
			return respond(c, r);
		}
		if (f.lengths > 1 || (f.lengths && f.chunked)) {
			fail(r, 400, "bad_request", "the request has %s: its body's length is ambiguous",
			     f.chunked ? "Content-Length and chunked encoding" : "Content-Length twice");
			return respond(c, r);
		}
		if (f.length > cfg.max_body) {
			fail(r, 413, "too_large", "the request body is over %llu bytes", (unsigned long long)cfg.max_body);
			return respond(c, r);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		conn_phase(c, CONN_BYTES, *upload_size);
		bool drop = !r->too_big && !r->over_budget &&
			    (r->len + *upload_size > cfg.max_body || held + *upload_size > budget);
		if (drop) {
			/* Read on and dropped: the answer is 413, or 503. */
			if (r->len + *upload_size > cfg.max_body)
				r->too_big = true;
			else
				r->over_budget = true;
			held -= r->cap;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
		}
		if (!r->too_big && !r->over_budget) {
			if (r->len + *upload_size > r->cap) {
				size_t cap = r->cap ? r->cap : 4096;
				while (cap < r->len + *upload_size)
					cap *= 2;
				char *b = realloc(r->body, cap);
				if (!b)
					return MHD_NO;
				held += cap - r->cap;
				r->body = b;
				r->cap = cap;
			}
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->done)
		return respond(c, r);
	if (r->waiting)
		return MHD_YES; /* resumed for nothing: still waiting */
	conn_phase(c, CONN_IDLE, 0); /* the body is in: what follows is the function's time */
	route(r, c, url, method);
	if (r->done)
		return respond(c, r);
	/* Suspended before the request goes: its reply may come at once (the reader thread
	 * resumes it). */
	MHD_suspend_connection(c);
	if (!send_request(r))
		MHD_resume_connection(c); /* answered 503 */
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ptr, enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)why;
	struct req *r = *ptr;
	conn_phase(c, CONN_IDLE, 0); /* idle now: the idle timeout's */
	if (!r)
		return;
	held -= r->cap;
	free(r->draft);
	if (r->code >= 0)
		close(r->code);
	free(r->body);
	free(r->meta);
	free(r->query);
	free(r->batch.p);
	free(r->out);
	if (r->out_fd >= 0)
		close(r->out_fd);
	free(r);
	*ptr = NULL;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("citadel-gateway: ", stderr);
	vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *cit_gateway_serve(int listen_fd, const struct cit_p_gateway *g, int chan, pthread_t *reader_thread)
{
	chan_fd = chan;
	cfg = *g;
	budget = cfg.max_body * 2 > (256ull << 20) ? cfg.max_body * 2 : 256ull << 20;
	fcntl(chan, F_SETFL, fcntl(chan, F_GETFL) | O_NONBLOCK);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL, MHD_OPTION_LISTEN_SOCKET, listen_fd,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)cfg.max_per_address, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg.idle_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg.header_bytes, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "citadel-gateway: the HTTP server did not start\n");
		return NULL;
	}
	pthread_t sweep;
	if (pthread_create(&sweep, NULL, sweeper, NULL) != 0 || pthread_detach(sweep) != 0 ||
	    pthread_create(reader_thread, NULL, serve_loop, d) != 0) {
		fprintf(stderr, "citadel-gateway: no reader thread\n");
		MHD_stop_daemon(d);
		return NULL;
	}
	return d;
}

#ifndef CIT_GATEWAY_NO_MAIN
int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fputs("usage: citadel-gateway (started by citadeld: fd 0 is its channel to the monitor)\n", stderr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* The monitor's word first: the listening socket and the limits. */
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	struct cit_error err = { 0 };
	int rc = cit_proto_recv_wait(CHAN, buf, &rx, &err);
	if (rc <= 0 || rx.hdr.type != CIT_MSG_GATEWAY_START || rx.nfds != 1) {
		fprintf(stderr, "citadel-gateway: no GATEWAY_START from the monitor: %s\n", rc < 0 ? err.msg : "closed");
		return 1;
	}
	struct cit_p_gateway g = *CIT_P(&rx, cit_p_gateway);
	int listen_fd = steal_fd(&rx.fds[0]);
	cit_rx_close(&rx);
	pthread_t t;
	if (!cit_gateway_serve(listen_fd, &g, 0, &t))
		return 1;
	fprintf(stderr, "citadel-gateway: serving HTTP\n");
	pthread_join(t, NULL);
	return 0;
}
#endif
