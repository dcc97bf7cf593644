/* Asynchronous calls (INVOKE with CIT_INVOKE_ASYNC; over HTTP, POST /async-function/NAME).
 *
 * The caller is answered at once with the call's id: 16 random bytes in hex, unguessable,
 * and the only credential for its result (CALL_STATUS; GET /v1/calls/ID). The call then
 * runs as any other, with no client; its outcome is kept here, and posted to its callback
 * URL when it has one (by citadel-callback, never by this process: gateway.c).
 *
 * Bounds (docs/http-api.md): at most ASYNC_MAX calls, waiting, running or finished, are
 * kept at once (past that a new one is refused, EBUSY); finished results take at most
 * ASYNC_BYTES together (a result that does not fit is kept as a failure saying so); a
 * finished call is forgotten ASYNC_KEEP_NS after it finished. Nothing is written to disk:
 * a monitor restart loses them all (a call still running then is lost too). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "monitor/monitor.h"

#define ASYNC_MAX 1024
#define ASYNC_BYTES (64u << 20)
#define ASYNC_KEEP_NS (600 * 1000000000ull)

struct acall {
	struct acall *next;
	char id[CIT_CALL_ID_LEN + 1];
	char function[CIT_NAME_MAX];
	enum cit_call_state state;
	int32_t code;             /* CIT_CALL_FAILED: the failure; text says why */
	uint32_t flags;           /* its CIT_STATUS_* */
	uint32_t http_status;
	char content_type[CIT_CTYPE_MAX];
	char text[CIT_TEXT_MAX];
	uint8_t *data;            /* CIT_CALL_DONE: inline output (owned)... */
	uint32_t len;
	int obj;                  /* ...or a sealed data object (owned), -1 */
	uint64_t obj_len;
	uint64_t done_ns;         /* when it finished; 0 while it runs */
	char *callback;           /* owned: where to post the outcome, NULL for nowhere */
};

static struct acall *calls;
static uint32_t n_calls;
static uint64_t bytes_kept;

static void acall_free(struct acall *a)
{
	bytes_kept -= a->obj >= 0 ? a->obj_len : a->len;
	if (a->obj >= 0)
		close(a->obj);
	free(a->data);
	free(a->callback);
	free(a);
	n_calls--;
}

struct acall *cit_async_new(struct monitor *m, const char *function, const char *callback,
			    char id[CIT_CALL_ID_LEN + 1], const char **why)
{
	(void)m;
	if (n_calls >= ASYNC_MAX)
		return *why = "the monitor keeps 1024 asynchronous calls already, its most (finished ones are kept "
			      "10 minutes): try again later", NULL;
	struct acall *a = calloc(1, sizeof(*a));
	if (!a || (callback && callback[0] && !(a->callback = strdup(callback)))) {
		free(a);
		return *why = "out of memory", NULL;
	}
	uint8_t raw[CIT_CALL_ID_LEN / 2];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(a->id, sizeof(a->id), raw, sizeof(raw));
	snprintf(a->function, sizeof(a->function), "%s", function);
	a->obj = -1;
	a->state = CIT_CALL_PENDING;
	memcpy(id, a->id, sizeof(a->id));
	a->next = calls;
	calls = a;
	n_calls++;
	return a;
}

static void callback_dropped(struct monitor *m, const struct acall *a, int rc)
{
	cit_mlog(m, "warn", "callback_dropped", "function=%s msg=\"%s\"", a->function,
		 rc == -ENOTCONN ? "the callback sender is not running" : strerror(-rc));
}

/* A successful outcome that was not kept, posted as it is to the call's callback. */
static void post_now(struct monitor *m, struct acall *a, const struct cit_async_outcome *o)
{
	if (!a->callback)
		return;
	struct cit_p_callback cb = { .http_status = o->http_status };
	memcpy(cb.call_id, a->id, CIT_CALL_ID_LEN);
	snprintf(cb.function, sizeof(cb.function), "%s", a->function);
	snprintf(cb.content_type, sizeof(cb.content_type), "%s", o->content_type ? o->content_type : "");
	snprintf(cb.url, sizeof(cb.url), "%s", a->callback);
	int rc = cit_callback_send(m, &cb, o->data, o->len, o->fd ? *o->fd : -1, o->obj_len);
	if (rc < 0)
		callback_dropped(m, a, rc);
}

void cit_async_finish(struct monitor *m, struct acall *a, const struct cit_async_outcome *o)
{
	a->done_ns = cit_now_ns();
	a->code = o->code;
	a->flags = o->flags;
	a->http_status = o->http_status; /* a failure's: the 4xx status the function set, if any */
	a->state = o->code < 0 ? CIT_CALL_FAILED : CIT_CALL_DONE;
	snprintf(a->text, sizeof(a->text), "%s", o->code < 0 ? o->text : "");
	if (o->code == 0) {
		uint64_t size = o->fd && *o->fd >= 0 ? o->obj_len : o->len;
		snprintf(a->content_type, sizeof(a->content_type), "%s", o->content_type ? o->content_type : "");
		if (bytes_kept + size > ASYNC_BYTES) {
			/* Not kept; its callback, if any, still gets it (below). */
			a->state = CIT_CALL_FAILED;
			a->code = -ENOSPC;
			snprintf(a->text, sizeof(a->text), "the call succeeded, but its result (%llu bytes) did not fit in "
				 "the monitor's room for asynchronous results (%u MiB in all) and was not kept",
				 (unsigned long long)size, ASYNC_BYTES >> 20);
			post_now(m, a, o);
			return;
		} else if (o->fd && *o->fd >= 0) {
			a->obj = steal_fd(o->fd);
			a->obj_len = o->obj_len;
			bytes_kept += a->obj_len;
		} else if (o->len && !(a->data = malloc(o->len))) {
			a->state = CIT_CALL_FAILED;
			a->code = -ENOMEM;
			snprintf(a->text, sizeof(a->text), "out of memory keeping the result");
		} else {
			memcpy(a->data, o->data, o->len);
			a->len = (uint32_t)o->len;
			bytes_kept += a->len;
		}
	}
	cit_mlog(m, a->state == CIT_CALL_DONE ? "info" : "warn", "async_done", "function=%s code=%d", a->function,
		 (int)a->code);
	if (!a->callback)
		return;
	struct cit_p_callback cb = { .code = a->code, .http_status = a->http_status };
	memcpy(cb.call_id, a->id, CIT_CALL_ID_LEN);
	snprintf(cb.function, sizeof(cb.function), "%s", a->function);
	snprintf(cb.content_type, sizeof(cb.content_type), "%s", a->content_type);
	snprintf(cb.url, sizeof(cb.url), "%s", a->callback);
	const void *data = a->state == CIT_CALL_DONE ? (const void *)a->data : a->text;
	size_t len = a->state == CIT_CALL_DONE ? a->len : strlen(a->text);
	int rc = cit_callback_send(m, &cb, data, len, a->state == CIT_CALL_DONE ? a->obj : -1, a->obj_len);
	if (rc < 0)
		callback_dropped(m, a, rc);
}

void cit_async_expire(struct monitor *m, uint64_t now)
{
	(void)m;
	static uint64_t last;
	if (now - last < 1000000000ull)
		return; /* a look a second at most */
	last = now;
	for (struct acall **p = &calls; *p;) {
		struct acall *a = *p;
		if (a->done_ns && now - a->done_ns > ASYNC_KEEP_NS) {
			*p = a->next;
			acall_free(a);
		} else {
			p = &a->next;
		}
	}
}

void cit_async_free_all(void)
{
	while (calls) {
		struct acall *a = calls;
		calls = a->next;
		acall_free(a);
	}
}

/* CALL_STATUS: the call of that id, compared in constant time with each kept id. */
int cit_async_status(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	const char *id = CIT_P(rx, cit_p_call_id)->id;
	struct acall *found = NULL;
	for (struct acall *a = calls; a; a = a->next)
		if (sodium_memcmp(a->id, id, CIT_CALL_ID_LEN) == 0)
			found = a;
	if (!found || (found->done_ns && cit_now_ns() - found->done_ns > ASYNC_KEEP_NS))
		return cit_reply_error(m, c, rx->hdr.id, -ENOENT, "no asynchronous call has that id (never, or its "
				       "result was kept its 10 minutes, or the monitor restarted since)"), 0;
	struct cit_p_ok ok = { .count = found->state, .code = found->code, .http_status = found->http_status,
			       .flags = found->flags };
	snprintf(ok.content_type, sizeof(ok.content_type), "%s", found->content_type);
	int rc;
	if (found->state == CIT_CALL_DONE && found->obj >= 0) {
		ok.data.obj_len = found->obj_len;
		rc = cit_proto_send(c->fd, CIT_MSG_OK, rx->hdr.id, &ok, sizeof(ok), NULL, 0, &found->obj, 1);
		if (rc == 0)
			cit_client_object_sent(m, c, 0);
	} else {
		const void *data = found->state == CIT_CALL_DONE ? (const void *)found->data : found->text;
		size_t len = found->state == CIT_CALL_DONE ? found->len : found->state == CIT_CALL_FAILED ? strlen(found->text) : 0;
		ok.data.len = (uint32_t)len;
		rc = cit_proto_send(c->fd, CIT_MSG_OK, rx->hdr.id, &ok, sizeof(ok), data, len, NULL, 0);
	}
	if (rc < 0)
		cit_mlog(m, "warn", "reply_dropped", "msg=\"call status\"");
	return 0;
}
