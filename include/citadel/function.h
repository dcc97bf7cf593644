/* citadel/function.h: writing a native Citadel function.
 *
 * A native function is a shared object that defines one handler:
 *
 *     #include <citadel/function.h>
 *
 *     int cit_handler(const struct cit_request *req, struct cit_response *resp)
 *     {
 *         return cit_respond(resp, req->data, req->len);   // echo
 *     }
 *
 * built with   cc -shared -fPIC -O2 -I/path/to/citadel/include -o echo.so echo.c
 * and deployed with   citadel deploy echo echo.so
 *
 * Lifecycle (docs/architecture.md has the whole picture):
 *   template  Citadel loads the shared object once per deployment, inside the function's
 *             own sandbox and identity, and calls cit_init() (when defined). Whatever
 *             cit_init() builds (tables, parsed configuration, warmed caches) is inherited
 *             by every instance.
 *   trustlet  an instance is a copy-on-write fork of the template. It serves invocations
 *             one at a time: cit_handler() is called once per invocation. An instance may
 *             serve many invocations in turn (unless the function is deployed --fresh), so
 *             a handler must not leave one caller's data where the next can see it if that
 *             matters to the function.
 *
 * What an instance may do: compute, allocate memory (the function's --memory holds its
 * template and all its instances together), make threads,
 * read the read-only system directories (/usr, /etc, ...), write files in its own private
 * directory (the working directory, also $TMPDIR; it is gone when the instance ends and no
 * other instance sees it), and log with cit_log(). What it may not: start processes
 * (fork and exec fail with EPERM), make System V or POSIX IPC objects (EPERM), reach the
 * network (there is only a loopback), see or signal other instances or functions, or write
 * anywhere else.
 *
 * Threads: the calls below may be made from any thread of the instance, but only while a
 * handler call is running (the response belongs to that one call).
 *
 * Symbols: the handler must be exported under the name cit_handler, cit_init under
 * cit_init; the calls below are provided by Citadel's runtime when the function is loaded
 * (do not link anything for them). */
#ifndef CITADEL_FUNCTION_H
#define CITADEL_FUNCTION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CIT_API __attribute__((visibility("default")))

/* The ABI version this header describes. Every shared object that includes this header
 * carries it (a weak symbol, so several files of one function may include the header);
 * Citadel loads functions built for this ABI or an earlier one it still supports (1:
 * without cit_request.http and the calls marked "ABI 2"), and refuses others.
 *   1  the first
 *   2  cit_request.http (the HTTP request behind a call), cit_request.content_type,
 *      cit_http_header(), cit_set_status(), cit_set_content_type()
 *   3  data objects and chains: cit_request.input, .n_inputs, .inputs, cit_output(),
 *      cit_respond_object(), cit_invoke(), cit_invoke_error()
 *   4  key-value state: cit_kv_get(), cit_kv_put(), cit_kv_cas(), cit_kv_delete(),
 *      cit_kv_scan(), cit_kv_scan_in(), cit_kv_batch(), cit_kv_lock(), cit_kv_unlock(),
 *      cit_kv_error()
 *   5  secrets released to the function's code: cit_secret() */
#define CIT_FUNCTION_ABI 5
#define CIT_FUNCTION_ABI_MIN 1
#ifdef __cplusplus
extern /* a const at namespace scope is internal in C++ unless declared extern */
#endif
__attribute__((weak)) CIT_API const int cit_function_abi = CIT_FUNCTION_ABI;

/* One invocation's input. Borrowed: valid until cit_handler() returns. Read-only: never
 * write to the bytes (a large request is the caller's data object mapped read-only, and
 * writing to it faults). */
/* One header of an HTTP request, as the client sent it (names in the client's case). */
struct cit_http_header {
	const char *name;
	const char *value;
};

/* The HTTP request behind a call that came through Citadel's HTTP gateway. Borrowed, like
 * the request; every string NUL-terminated. The platform's own headers are not among the
 * headers: Authorization (the caller's token or invoke key) and X-Callback-Url. */
struct cit_http {
	const char *method;     /* "GET", "POST", ... */
	const char *path;       /* what follows /function/NAME in the URL: "" or "/a/b" */
	const char *query;      /* after '?', without it; "" for none */
	size_t n_headers;
	const struct cit_http_header *headers;
};

/* A data object a call holds (docs/chains.md): bytes written once by their producer, then
 * sealed by the kernel (no write, no resize, ever, by anyone) and mapped read-only here, so
 * reading it copies nothing. Borrowed: valid until cit_handler() returns. ref is the
 * monitor's number for it during this call: nonzero when it can be handed on to another
 * function (cit_invoke) or returned as the response (cit_respond_object) without its bytes
 * ever being read or copied; 0 for bytes that came inline (small ones, up to 32 KiB, travel
 * in the message itself). */
struct cit_object {
	const void *data;       /* the bytes, read-only (writing faults); NULL when len is 0 */
	size_t len;
	uint64_t ref;
	const char *step;       /* an input of a fan-in step: the chain step it comes from; else NULL */
};

struct cit_request {
	const void *data;       /* the request bytes; not NUL-terminated; NULL when len is 0 */
	size_t len;
	const char *function;   /* the function's deployed name, NUL-terminated */
	uint64_t invocation;    /* the call's number among this function's calls, from 1 (the
				 * log's "invocation=N"); a redeployed version counts anew */
	/* ABI 2 (a function built for ABI 1 does not see these): */
	const struct cit_http *http; /* the HTTP request, or NULL for a call that did not come
				 * over HTTP (citadel invoke, the local socket) */
	const char *content_type; /* the request's content type, as its caller said it (HTTP's
				 * Content-Type, invoke --content-type); "" when none was said */
	/* ABI 3: */
	const struct cit_object *input; /* the request as an object: data and len as above, and
				 * its ref when it can be handed on; never NULL */
	size_t n_inputs;        /* a fan-in step of a chain (it follows several steps): their
				 * outputs, in the chain's order of steps; data is NULL and len 0
				 * then. 0 for any other call */
	const struct cit_object *inputs;
};

/* One invocation's output, opaque. Owned by Citadel. */
struct cit_response;

/* Return codes of the handler and of cit_init(): 0 is success; any negative value is a
 * failure, reported to the caller as "function error" with the message set by
 * cit_fail() (or the code's text). The instance stays alive after a failure. */
#define CIT_OK 0

/* Required. Called once per invocation, on one thread of the instance. Fill resp with
 * cit_respond() / cit_respondf(); return CIT_OK or a negative code. */
CIT_API int cit_handler(const struct cit_request *req, struct cit_response *resp);

/* Optional. Called once in the template, before any instance exists, with the function's
 * sandbox already in place. Return CIT_OK, or a negative code to fail the deployment (the
 * message set with cit_init_fail() is shown to the deployer). */
CIT_API int cit_init(void);

/* Appends len bytes to the response. Returns 0, -EFBIG when the response would pass the
 * function's output limit (nothing is appended), -EBUSY when the response is a data object
 * already (cit_output, cit_respond_object), or -ENOMEM. */
CIT_API int cit_respond(struct cit_response *resp, const void *data, size_t len);

/* Appends printf-formatted text to the response. Same returns as cit_respond(). */
CIT_API int cit_respondf(struct cit_response *resp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Marks the invocation failed with a message for the caller (one line, at most 255 bytes
 * kept), discarding any response bytes. Returns code, for `return cit_fail(resp, -EINVAL,
 * "bad input: %s", why);`. code must be negative. */
CIT_API int cit_fail(struct cit_response *resp, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ABI 2. The value of the request's HTTP header name (compared without case), the first
 * when it came several times; NULL when it did not come or the call is not over HTTP. */
CIT_API const char *cit_http_header(const struct cit_request *req, const char *name);

/* ABI 2. The HTTP status of the response when the call came over HTTP: 200 to 599
 * (default 200; 1xx statuses are HTTP's own, never a response's). Returns 0, or -EINVAL
 * for a status out of that range (nothing set). With 204 or 304 the response's bytes are
 * not sent (HTTP gives those no body). A failed call's status is 500, or the 4xx status
 * set before it failed (the caller's mistake, as the function says); other statuses set
 * are dropped then. */
CIT_API int cit_set_status(struct cit_response *resp, int status);

/* ABI 2. The response's Content-Type over HTTP (default application/octet-stream): 1 to
 * 127 printable ASCII characters, beginning with a letter ("text/html; charset=utf-8").
 * Returns 0, or -EINVAL (nothing set). */
CIT_API int cit_set_content_type(struct cit_response *resp, const char *type);

/* ABI 3. A writable buffer of len bytes (zeroed) that becomes the response, whole, when
 * the handler returns. Over 32 KiB it is a data object, handed to whatever takes the
 * response (the caller, the next step of a chain) without a copy: when the handler
 * returns it is unmapped and sealed, so nobody can change it afterwards, the function
 * included. Up to 32 KiB it travels inline in the message, as cit_respond()'s bytes do
 * (cheaper than a mapping at that size). Calling it again replaces the buffer (the earlier
 * one is gone); bytes given to cit_respond() before are dropped, and cit_respond() after it
 * returns -EBUSY. Returns NULL with errno EFBIG (over the output limit), or ENOMEM. */
CIT_API void *cit_output(struct cit_response *resp, size_t len);

/* ABI 3. The response is obj, an object this call holds (its request, an input, an
 * invocation's result), handed on by reference: its bytes are neither read nor copied.
 * Replaces any bytes or buffer given so far. Returns 0, or -EINVAL when obj has no ref (then
 * respond with its bytes: cit_respond(resp, obj->data, obj->len)). */
CIT_API int cit_respond_object(struct cit_response *resp, const struct cit_object *obj);

/* ABI 3. Calls function during this call and waits for its response, which *out receives: a
 * read-only object valid until this handler returns, whose ref lets it be handed on or
 * returned. The request is in: its ref, when nonzero, hands that object on without a copy;
 * else its len bytes at data are sent (in NULL: an empty request). The function must be
 * granted in this one's deployment (--allow-invoke NAME); calls within calls go 8 deep at
 * most, never back to a function already among the callers; the callee's time counts
 * against this call's deadline (its deadline is at most this one's). One thread's calls wait
 * for another's. Returns 0, or a negative code with its text in cit_invoke_error():
 *   -EPERM not granted (any name the deployment does not grant), -ENOENT granted but not
 *   deployed, -ELOOP too deep or a cycle, -EBADF a ref this call does not hold,
 *   -EMSGSIZE a request over this function's --output-limit, -EDQUOT its --object-quota,
 *   -EMFILE the call keeps 80 inputs and results at most, -EINVAL a bad argument,
 *   -ETIMEDOUT, or the callee's failure (its code). */
CIT_API int cit_invoke(const char *function, const struct cit_object *in, struct cit_object *out);

/* ABI 3. The text of this thread's last failed cit_invoke(), "" when none. */
CIT_API const char *cit_invoke_error(void);

/* ABI 4. Key-value state (docs/state.md). Each function has a namespace of its own, named
 * after it, kept across calls, restarts and redeploys (until `citadel rm --purge`), sealed
 * by the monitor so that the storage beneath learns nothing and can change nothing
 * unnoticed. Keys are 1 to 1024 bytes, any bytes; values up to the deployment's
 * --state-value-max (default 1M), all keys and values of a namespace up to its
 * --state-quota (default 64M). Every write is durable when its call returns, and each
 * operation is atomic; a batch's operations run in order, and its writes are made durable
 * together. Every key has a version, which grows with each write: a compare-and-swap
 * writes only if the version is still the one read (0: the key is absent). Only during a
 * call (not in cit_init). Each call is a round trip to the monitor: batch when you can.
 *
 * Returns, for every call below: 0, or a negative code with its text in cit_kv_error():
 *   -ENOENT no such key; -ECANCELED the version was not the one expected (*version says
 *   the current one); -EMSGSIZE a key over 1 KiB or a value over --state-value-max;
 *   -EDQUOT the namespace's --state-quota; -EBADMSG an integrity error (the stored record
 *   was altered, swapped or rolled back: nothing of it is returned); -EPERM no call is
 *   running, or a namespace not shared with this function; -EINVAL a bad argument;
 *   -EIO the store is unavailable.
 * Values and names returned are read-only and valid until the handler returns. */
enum cit_kv_kind { CIT_KV_GET = 1, CIT_KV_PUT = 2, CIT_KV_DEL = 3 };

struct cit_kv_op {            /* one operation of cit_kv_batch() */
	int kind;                 /* CIT_KV_GET, CIT_KV_PUT or CIT_KV_DEL */
	const void *key;
	size_t klen;
	const void *value;        /* PUT: the value (vlen bytes); GET: out */
	size_t vlen;
	int if_version;           /* PUT, DEL: only if the key's version is version (0: absent) */
	uint64_t version;         /* in with if_version; out: GET the value's, PUT the new one,
				   * DEL the one deleted, -ECANCELED the current one */
	int rc;                   /* out: 0 or a negative code (above) */
	const char *error;        /* out: rc < 0, why */
};

/* ABI 4. Runs the n operations (1 to 1024) on namespace ns (NULL: this function's own; else
 * a function's whose deployment shares it with this one: --state-share) in order, in one
 * round trip. Returns 0 when the batch ran (each op's rc says how it went), or a negative
 * code when the batch as a whole was refused. */
CIT_API int cit_kv_batch(const char *ns, struct cit_kv_op *ops, size_t n);

/* ABI 4. The value of key (klen bytes) into *value and *vlen, its version into *version
 * (may be NULL). */
CIT_API int cit_kv_get(const void *key, size_t klen, const void **value, size_t *vlen, uint64_t *version);

/* ABI 4. Writes key's value; its new version into *version (may be NULL). */
CIT_API int cit_kv_put(const void *key, size_t klen, const void *value, size_t vlen, uint64_t *version);

/* ABI 4. Writes key's value only if its version is expect (0: only if absent), else
 * -ECANCELED with the current version in *version (may be NULL), as is the new one on
 * success. */
CIT_API int cit_kv_cas(const void *key, size_t klen, uint64_t expect, const void *value, size_t vlen,
		       uint64_t *version);

/* ABI 4. Deletes key. */
CIT_API int cit_kv_delete(const void *key, size_t klen);

struct cit_kv_name {          /* one key of cit_kv_scan() */
	const void *name;
	size_t nlen;
	size_t vlen;              /* its value's bytes */
	uint64_t version;
};

/* ABI 4. The keys that begin with prefix (plen bytes; 0 for all) and sort after after
 * (alen bytes; 0 from the first), in byte order, at most max (1 to 1000) of them, into
 * names; their count into *n. To list more, call again with the last name as after. */
CIT_API int cit_kv_scan(const void *prefix, size_t plen, const void *after, size_t alen, struct cit_kv_name *names,
			size_t max, size_t *n);

/* ABI 4. cit_kv_scan() on namespace ns (NULL: this function's own; else one whose
 * deployment shares it with this function). */
CIT_API int cit_kv_scan_in(const char *ns, const void *prefix, size_t plen, const void *after, size_t alen,
			   struct cit_kv_name *names, size_t max, size_t *n);

/* ABI 4. Takes the lock on key (klen bytes) of this function's namespace, waiting while
 * another call holds it (until this call's deadline: -ETIMEDOUT). The lock lasts until
 * cit_kv_unlock(), or lease_ms (1 to 600,000) milliseconds, or this call's end, whichever
 * comes first. While a call holds a lock, its writes to the namespace are kept by the
 * monitor, seen only by itself, and made together (one transaction) when it unlocks its
 * last lock: release consistency. A lease that runs out, a call that ends, an instance
 * that dies: the locks go, and the writes made under them are dropped, never seen. Another
 * caller's write to a locked key is refused with -EBUSY; its reads see what was last made.
 * A call holds locks of one namespace at a time. -EDEADLK: this call holds it already. */
CIT_API int cit_kv_lock(const void *key, size_t klen, unsigned lease_ms);

/* ABI 4. Releases the lock on key; with its last lock the call's writes made under them
 * are made (discard 0) or dropped (discard 1). -ENOLCK: the call holds no such lock (its
 * lease ran out: cit_kv_error() says so, and the writes were dropped); a failure of the
 * writes (the quota, ...) is returned with its text, the lock released all the same. */
CIT_API int cit_kv_unlock(const void *key, size_t klen, int discard);

/* ABI 4. The text of this thread's last failed cit_kv_* call, "" when none. */
CIT_API const char *cit_kv_error(void);

/* ABI 5. The secret name that the admin released to this function's code (`citadel secret
 * put NAME FILE --for FUNCTION`, docs/attestation.md): its bytes, with *len (may be NULL)
 * their count. Borrowed: valid for the life of the process, read-only. Callable anywhere,
 * cit_init() included, from any thread: the secrets are given to the function's runtime
 * before its code loads, and only when that code is the code they are bound to (its code
 * measurement). NULL with errno ENOENT when there is no such secret for this code: none was
 * put, or it is bound to other code of the function (a redeploy with new code needs
 * `citadel secret grant`). */
CIT_API const void *cit_secret(const char *name, size_t *len);

/* From cit_init(): the message shown to the deployer when init returns a failure. */
CIT_API void cit_init_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

enum cit_log_level { CIT_LOG_DEBUG = 0, CIT_LOG_INFO = 1, CIT_LOG_WARN = 2, CIT_LOG_ERROR = 3 };

/* Writes one line to the function's log (`citadel logs NAME`). During a call the line goes
 * through the monitor, marked with its level and the call's invocation number
 * ("info invocation=42 text"); lines longer than 4 KiB are cut, control characters shown
 * as spaces. Outside a call (in cit_init) it goes to stderr, cut at 1 KiB. The log is
 * bounded per function (old lines are dropped first) and rate-limited (lines past the
 * rate are dropped and counted). Writing to stderr directly also reaches the log. */
CIT_API void cit_log(enum cit_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The time left to the running call before its deadline (the function's --timeout), in
 * nanoseconds: 0 once it has passed. Outside a call (in cit_init), -EPERM. Asks the
 * monitor (a round trip of some microseconds): call it when deciding, not in a tight
 * loop. */
CIT_API int64_t cit_deadline(void);

#ifdef __cplusplus
}
#endif

#endif
