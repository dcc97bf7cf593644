/* The monitor's wire protocol: between clients (the CLI, a gateway) and the monitor, and
 * between the monitor and the runtime processes (zygote, template, trustlet) it creates.
 * This is the only code that passes file descriptors between processes (SCM_RIGHTS).
 *
 * Every message is one SOCK_SEQPACKET datagram: a fixed header, then its type's payload
 * struct, then (for some types) a tail whose length the payload gives. The types, their
 * payloads, fds, tails, senders and roles are one table, messages.h. The receiver checks,
 * before it believes anything: the magic and version, that the datagram was not
 * truncated, that the header's length is what arrived, that the type is known, that the
 * payload is exactly its struct's size and the number of fds what the type allows, that
 * every length inside the payload stays within what arrived, and the type's own field
 * checks (strings NUL-terminated and NUL-padded, names well formed).
 *
 * Bytes (a request, a response) travel inline when small, or as a sealed memfd: a data
 * object (src/objects), written once by its producer and immutable from then on. The
 * monitor checks the seals and the size and passes the same fd on: the bytes are never
 * copied between producer and consumer.
 *
 * Numbers are fixed forever once shipped; new messages take new numbers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "spec/chain.h"
#include "spec/spec.h"

#define CIT_PROTO_MAGIC 0x31544943u /* "CIT1" little-endian */
#define CIT_PROTO_VERSION 3         /* 2: a payload struct per type (messages.h); 3: HTTP
				     * requests' meta, asynchronous calls, result status */

#define CIT_TEXT_MAX 256         /* error text, with the NUL */
#define CIT_INLINE_MAX (32 * 1024) /* bytes carried inline; more go in a data object */
#define CIT_LOG_LINE_MAX 4096    /* a LOG request's text */
#define CIT_MSG_MAX (sizeof(struct cit_msg) + sizeof(struct cit_fn_spec) + CIT_ENV_BYTES + CIT_INLINE_MAX)
_Static_assert(CIT_ARGS_BYTES <= CIT_INLINE_MAX, "a spec with its environment and command fits a message");

/* Who may send a message (messages.h, "sender"). */
enum cit_sender { CIT_FROM_CLIENT = 1, CIT_FROM_MONITOR, CIT_FROM_TEMPLATE, CIT_FROM_TRUSTLET };

/* A client's role, from its credentials (docs/architecture.md, "Who is calling"): an
 * invoker may invoke and list; an admin may also deploy, remove, restart and read logs. */
enum cit_role { CIT_ROLE_NONE = 0, CIT_ROLE_INVOKER = 1, CIT_ROLE_ADMIN = 2 };

/* What a call lets its trustlet ask of the monitor while it runs (CALL's grants, a
 * request's "role" column in messages.h). */
#define CIT_GRANT_LOG 0x1u
#define CIT_GRANT_DEADLINE 0x2u
#define CIT_GRANT_INVOKE 0x4u      /* call another function (FN_INVOKE): a function deployed
				    * --allow-invoke, below the depth limit */
#define CIT_GRANT_STATE 0x8u       /* key-value state (STATE): its own namespace, and those
				    * whose deployments share theirs with it (--state-share) */
#define CIT_GRANTS_ALL (CIT_GRANT_LOG | CIT_GRANT_DEADLINE | CIT_GRANT_STATE)
/* Not a grant, in CALL's grants: a sealed call (docs/attestation.md), whose words the
 * runtime keeps out of the function's log (a Python exception's message and traceback). */
#define CIT_CALL_SEALED 0x80000000u

/* What comes after a payload (messages.h, "tail"). */
enum cit_tail { CIT_TAIL_NONE, CIT_TAIL_DATA, CIT_TAIL_ENV };

#include "proto/messages.h"

enum cit_msg_type {
#define CIT_X_ENUM(name, num, ...) CIT_MSG_##name = num,
	CIT_MESSAGES(CIT_X_ENUM)
#undef CIT_X_ENUM
};

struct cit_msg {
	uint32_t magic;           /* CIT_PROTO_MAGIC */
	uint16_t version;         /* CIT_PROTO_VERSION */
	uint16_t type;            /* enum cit_msg_type */
	uint32_t len;             /* bytes after this header */
	uint32_t nfds;            /* fds that came with it */
	uint64_t id;              /* the request's id; replies echo it */
};

/* The bytes a CIT_TAIL_DATA message carries: len of them inline after the payload (at most
 * CIT_INLINE_MAX), or, with one fd, a data object (a sealed memfd) of obj_len bytes. Never
 * both. It is the first member of every such payload. */
struct cit_data {
	uint32_t len;
	uint32_t reserved;        /* 0 */
	uint64_t obj_len;
};

/* The payloads. Strings are fixed fields: the string, then NUL bytes to the field's end
 * (checked on receipt). "reserved" fields are 0. */
struct cit_p_none {           /* SPAWN (its fd: the trustlet's channel), DEADLINE */
	uint64_t reserved;
};

struct cit_p_invoke {
	struct cit_data data;     /* the request */
	char name[CIT_NAME_MAX];  /* the function */
	uint32_t flags;           /* CIT_INVOKE_* */
	uint32_t reserved;
	char content_type[CIT_CTYPE_MAX]; /* the request's ("" none): cit_ctype_ok */
};
/* Asynchronous: the OK reply comes at once, its data the call's id (CIT_CALL_ID_LEN hex
 * digits); the monitor keeps the result for CALL_STATUS (src/monitor/async.c). */
#define CIT_INVOKE_ASYNC 0x1u

#define CIT_CALL_ID_LEN 32     /* an asynchronous call's id: 32 lowercase hex digits (16
				* random bytes); whoever holds it may read the result */

struct cit_p_call_id {        /* CALL_STATUS */
	char id[40];              /* CIT_CALL_ID_LEN digits, NUL-padded */
};

/* CALL_STATUS's answer, in OK's count. */
enum cit_call_state { CIT_CALL_PENDING = 0, CIT_CALL_DONE = 1, CIT_CALL_FAILED = 2 };

/* An invocation's HTTP request as its function sees it (INVOKE_META from the gateway,
 * CALL_META on to the trustlet): inline bytes, NUL-terminated strings in this order:
 *   method      1 to 16 of A-Z
 *   path        what follows /function/NAME: "" or "/..." (visible ASCII)
 *   query       after '?', without it (printable ASCII)
 *   callback    INVOKE_META: the X-Callback-Url of an asynchronous call ("" for none),
 *               http:// or https://; CALL_META: always "" (not the function's)
 *   then header name and value pairs to the end (names: HTTP token characters; values:
 *   no control character but tab), at most CIT_META_HEADERS of them. */
#define CIT_META_STRINGS 4
#define CIT_META_HEADERS 128
#define CIT_META_URL_MAX 2048

struct cit_p_meta {           /* INVOKE_META, CALL_META */
	struct cit_data data;     /* the strings above, inline (no data object) */
};

/* Checks len bytes at p as a request's meta (above), with callback allowed or not. Fills
 * out (when not NULL) with pointers into p: out[0..3] the method, path, query and
 * callback, then names and values in turn, NULL after the last; *headers the pairs.
 * Returns 0, or -EPROTO with *why. */
int cit_meta_parse(const char *p, size_t len, bool callback, const char **out, size_t *headers,
		   const char **why);

struct cit_p_callback {       /* CALLBACK: post an asynchronous call's outcome to url */
	struct cit_data data;     /* its output, or its error's text when code < 0 */
	int32_t code;             /* 0, or the call's failure (negative errno) */
	uint32_t http_status;     /* the status the function set, 0 for none */
	char call_id[40];         /* CIT_CALL_ID_LEN digits */
	char function[CIT_NAME_MAX];
	char content_type[CIT_CTYPE_MAX];
	char url[CIT_META_URL_MAX + 8];
};

#define CIT_TOKEN_LEN 64       /* an admin token: 64 lowercase hex digits (32 random bytes) */
#define CIT_TOKENS_MAX 256     /* admin tokens a monitor keeps */

struct cit_p_token {          /* ADMIN_TOKEN: the token for the client's next message */
	char token[72];           /* CIT_TOKEN_LEN digits, NUL-padded */
};

struct cit_p_gateway {        /* GATEWAY_START (its fd: the listening socket) */
	uint64_t max_body;        /* bytes of a request body */
	uint32_t max_connections; /* HTTP connections at once */
	uint32_t max_per_address; /* of them, from one client address */
	uint32_t idle_timeout_s;  /* a connection with nothing happening this long is closed */
	uint32_t header_bytes;    /* memory for one connection's request line and headers */
	uint32_t flags;           /* CIT_GATEWAY_* */
	uint32_t reserved;
};
#define CIT_GATEWAY_LOOPBACK 0x1u /* it listens on a loopback address */
#define CIT_GATEWAY_CALLBACKS 0x2u /* asynchronous calls' callbacks are posted (some block allowed) */

struct cit_p_list {
	uint32_t flags;           /* 0 */
	uint32_t reserved;
};

struct cit_p_name {           /* REMOVE, RESTART */
	char name[CIT_NAME_MAX];
};

/* ATTEST: a signed report (src/attest/attest.h) of function name, or of the monitor alone
 * (name ""), with the nonce the asker chose (nonce_len bytes, at most CIT_ATTEST_NONCE_MAX;
 * the rest 0). The OK carries the report's JSON. */
#define CIT_ATTEST_NONCE_MAX 64
struct cit_p_attest {
	char name[CIT_NAME_MAX];
	uint32_t nonce_len;
	uint32_t reserved;
	uint8_t nonce[CIT_ATTEST_NONCE_MAX];
};

/* SECRET: an admin's secrets (docs/attestation.md): PUT (the data: the secret's bytes, at
 * most CIT_SECRET_MAX) or GRANT (name "": every one of the function's) bind them to
 * function's code now; LIST (function "": every function's; the OK carries JSON); REMOVE.
 * Names: a function's, and a secret's (cit_secret_name_ok; "" only where said). */
#define CIT_SECRET_PUT 1u
#define CIT_SECRET_GRANT 2u
#define CIT_SECRET_LIST 3u
#define CIT_SECRET_REMOVE 4u
#define CIT_SECRET_MAX (64u << 10) /* a secret's bytes */
#define CIT_SECRETS_MAX 64u        /* a function's secrets */
struct cit_p_secret {
	struct cit_data data;
	char function[CIT_NAME_MAX];
	char name[CIT_NAME_MAX];
	uint32_t op;
	uint32_t reserved;
};

/* SECRETS (monitor -> template): the secrets released to the function's code, count of
 * them, in the data: each a name's length (1 byte), the name, the value's length (4 bytes,
 * little-endian) and the value. Sent before LOAD, or for an exec function after LOADED and
 * before its first SPAWN. */
struct cit_p_secrets {
	struct cit_data data;
	uint32_t count;
	uint32_t reserved;
};

/* The content type of a sealed request and its response (docs/attestation.md): an INVOKE
 * with it is opened by the monitor with the function's sealing key, and its response is
 * sealed to the key the request names. */
#define CIT_SEALED_CTYPE "application/vnd.citadel.sealed"
/* Whether content type ct is it, as HTTP compares media types: in any case, with or
 * without parameters ("; charset=..."). */
bool cit_ctype_sealed(const char *ct);

#define CIT_LOGS_FOLLOW 0x1u  /* LOGS: after the log so far, each new line as it comes */

struct cit_p_logs {
	char name[CIT_NAME_MAX];
	uint32_t flags;           /* CIT_LOGS_* */
	uint32_t reserved;
};

struct cit_p_ok {
	struct cit_data data;     /* the response, a list, a log */
	uint64_t count;           /* LIST: the entries (struct cit_fn_info) in data;
				   * CALL_STATUS: enum cit_call_state */
	uint32_t http_status;     /* INVOKE, CALL_STATUS: the status the function set (0: none) */
	int32_t code;             /* CALL_STATUS of a failed call: its code (data: its text) */
	char content_type[CIT_CTYPE_MAX]; /* INVOKE, CALL_STATUS: the type it set ("" none) */
	uint32_t flags;           /* CALL_STATUS of a failed call: CIT_STATUS_* */
	uint32_t reserved;
};

struct cit_p_status {         /* ERROR */
	int32_t code;             /* a negative errno-style code */
	uint32_t flags;           /* CIT_STATUS_* */
	char text[CIT_TEXT_MAX];  /* one line: what went wrong */
	uint32_t http_status;     /* a function's own failure: the 4xx status it set, else 0 */
	uint32_t reserved;
};

/* The failure is the function's own (its handler failed, its program exited non-zero),
 * not the monitor's refusal: code is then the function's, whatever it chose. */
#define CIT_STATUS_FUNCTION 0x1u

struct cit_p_loaded {         /* LOADED: the template has loaded the function, or says why not */
	int32_t code;             /* 0, or a negative errno-style code (text says why) */
	uint32_t reserved;
	uint8_t code_sha256[32];  /* exec: the SHA-256 of the program it opened; else zero */
	char text[CIT_TEXT_MAX];
};

struct cit_p_ready {          /* ZYGOTE_READY */
	uint64_t pid;             /* the zygote's pid as it says (the kernel's word counts) */
};

struct cit_p_exited {         /* EXITED: a trustlet of this template ended */
	int32_t status;           /* its wait status */
	uint32_t reserved;
	uint64_t pid;             /* its pid in the sandbox */
};

/* A trustlet's private directory, /tmp/NAME: exactly CIT_DIR_NAME_LEN lowercase hex
 * digits (16 random bytes), checked on receipt of HELLO and RMDIR. Nobody but the
 * trustlet and the monitor knows it while the trustlet lives. */
#define CIT_DIR_NAME_LEN 32
bool cit_dir_name_ok(const char *name);

struct cit_p_dir {            /* RMDIR: the directory of a trustlet that has ended */
	char dir[CIT_DIR_NAME_LEN + 8];
};

struct cit_p_hello {          /* HELLO: a trustlet is ready, or says why it cannot start */
	int32_t code;             /* 0, or negative: it could not confine itself (text says
				   * why, dir is empty) and exits */
	uint32_t reserved;
	uint64_t pid;             /* its pid in the sandbox (the kernel adds its host pid) */
	char dir[CIT_DIR_NAME_LEN + 8]; /* its private directory */
	char text[CIT_TEXT_MAX];
};

struct cit_p_call {           /* CALL: one invocation for a trustlet */
	struct cit_data data;     /* the request (none for a fan-in step: its INPUTs) */
	uint64_t invocation;      /* the call's number in its function, from 1 (since the monitor
				   * started; a redeployed version counts anew) */
	uint32_t grants;          /* CIT_GRANT_*: what it may ask during the call */
	uint32_t n_inputs;        /* a fan-in step: the INPUT messages that came before it (same
				   * id), 2 to CIT_FANIN_MAX; else 0 */
	char content_type[CIT_CTYPE_MAX]; /* the request's, as INVOKE brought it */
	uint64_t object;          /* the request's reference when it is a data object the call may
				   * hand on (FN_INVOKE, RESULT's object), else 0 */
};

/* References to data objects the monitor holds, as a call names them (CALL's and INPUT's
 * object, REPLY's value to FN_INVOKE, RESULT's and FN_INVOKE's object): numbers the monitor
 * hands out, each valid only during the one call it was given to. Any other number, or one
 * of an ended call, is refused (-EBADF). */

struct cit_p_input {          /* INPUT: one input of a fan-in step (a data object, or inline) */
	struct cit_data data;
	uint64_t object;          /* its reference, or 0 for inline bytes */
	uint32_t index;           /* its place among the step's inputs, from 0, in order */
	uint32_t reserved;
	char step[CIT_NAME_MAX];  /* the step whose output it is */
};

struct cit_p_fn_invoke {      /* FN_INVOKE: call a function during a call */
	struct cit_data data;     /* the request: inline, a new data object (fd), or none with object */
	char name[CIT_NAME_MAX];  /* the function (one the caller's deployment may invoke) */
	uint64_t object;          /* hand on this held object (no data), or 0 */
	char content_type[CIT_CTYPE_MAX];
};
/* Its REPLY: code 0, the output inline or as a data object (fd), value its reference (0
 * for inline bytes); or code < 0 and the failure's text inline. */

struct cit_p_result {         /* RESULT: the call's outcome (the header's id is CALL's) */
	struct cit_data data;     /* the response, when code is 0 */
	int32_t code;             /* 0, or negative: the function failed (text says why) */
	uint32_t http_status;     /* the status it set, 200 to 599, or 0 for none */
	char text[CIT_TEXT_MAX];
	char content_type[CIT_CTYPE_MAX]; /* the type it set ("" none): cit_ctype_ok */
	uint64_t object;          /* the response is this held object, handed on (no data), or 0 */
	uint32_t flags;           /* CIT_RESULT_* */
	uint32_t reserved;
};
#define CIT_RESULT_LAST 0x1u  /* the instance ends after this call (its state cannot be vouched
			       * for: a view of an object kept past the call): not reused */


/* STATE (a trustlet's), KV (an admin's): a batch of key-value operations on a namespace
 * (the batch's bytes: state/wire.h). STATE's REPLY, KV's OK: code 0 and the results (one
 * per operation, each with its own code), inline or a data object; or code < 0 and the
 * reason the batch as a whole was refused, inline. */
struct cit_p_state {
	struct cit_data data;     /* the batch; none with CIT_KV_PURGE */
	char ns[CIT_NAME_MAX];    /* the namespace: a function's name; STATE: "" for its own */
	uint32_t n_ops;           /* 1 to CIT_STATE_OPS_MAX; 0 with CIT_KV_PURGE */
	uint32_t flags;           /* KV: CIT_KV_PURGE, CIT_KV_INFO; STATE: 0 */
};
#define CIT_KV_PURGE 0x1u     /* delete every key of the namespace (rm --purge) */
#define CIT_KV_INFO 0x2u      /* no batch: the OK's data is the namespace's state (text) */

#define CIT_LOG_LEVEL_MAX 3u  /* levels are citadel/function.h's enum cit_log_level */

struct cit_p_log {            /* LOG: a line for the function's log (inline, no fd) */
	struct cit_data data;     /* the text, at most CIT_LOG_LINE_MAX bytes */
	uint32_t level;           /* 0 debug, 1 info, 2 warn, 3 error */
	uint32_t reserved;
};

struct cit_p_reply {          /* REPLY: the answer to a trustlet's request (same id) */
	struct cit_data data;     /* bytes, when the request returns some */
	int32_t code;             /* 0, or a negative errno (-EPERM: not granted) */
	uint32_t reserved;
	uint64_t value;           /* DEADLINE: nanoseconds left to the call */
};

/* A received message, checked. Borrowed pointers point into the caller's buffer. */
struct cit_rx {
	struct cit_msg hdr;
	void *payload;                /* the payload struct of hdr.type (messages.h) */
	const uint8_t *data;          /* CIT_TAIL_DATA: the inline bytes (data_len of them) */
	uint32_t data_len;
	uint64_t obj_len;             /* CIT_TAIL_DATA with an fd: the data object's size */
	struct cit_fn_spec *spec;     /* CIT_TAIL_ENV (DEPLOY, LOAD), else NULL */
	const char *env[CIT_ENV_MAX + 1]; /* spec: its environment, NULL-terminated */
	const char *args[CIT_ARGS_MAX + 1]; /* spec: an exec function's command, NULL-terminated */
	int fds[2];                   /* received fds (O_CLOEXEC), -1 where none; owned by the
				       * caller after a successful receive */
	size_t nfds;
	bool has_cred;
	pid_t pid;                    /* the sender's pid in our pid namespace (SO_PASSCRED) */
	uid_t uid;
};

/* rx's payload as the struct of its type, e.g. CIT_P(rx, cit_p_invoke). */
#define CIT_P(rx, tag) ((const struct tag *)(rx)->payload)

/* What the table says of a type (messages.h), or NULL for an unknown one. */
struct cit_msg_rule {
	const char *name;             /* "INVOKE" */
	uint32_t size;                /* the payload's */
	uint8_t min_fds, max_fds;
	uint8_t tail;                 /* enum cit_tail */
	uint8_t sender;               /* enum cit_sender */
	uint32_t role;                /* the least role (clients) or the grant (requests) */
	int (*check)(struct cit_rx *rx, const char **why);
};
const struct cit_msg_rule *cit_msg_rule(uint16_t type);

/* Receives one message on a SOCK_SEQPACKET socket into buf (CIT_MSG_MAX bytes, aligned
 * for the structs) and checks it as cit_proto_parse does. Returns 1 with rx filled, 0 at
 * EOF, -EAGAIN when nothing is waiting (non-blocking sockets), or -EPROTO with err saying
 * what was wrong (every fd that came is closed then). */
int cit_proto_recv(int sock, void *buf, struct cit_rx *rx, struct cit_error *err);

/* Checks n bytes received in buf (a header, its payload, its tail) with rx->fds and
 * rx->nfds already set to what came beside them: the magic and version, the length, a
 * known type, the payload's exact size and the fd count its type allows, the tail's
 * lengths, and the type's field checks. Returns 1 with rx filled (pointers into buf), or
 * -EPROTO with err saying what was wrong and rx's fds closed. Pure: no I/O (the fuzz
 * target and the table-driven test drive it directly). */
int cit_proto_parse(void *buf, size_t n, struct cit_rx *rx, struct cit_error *err);

/* Closes the fds of rx that the caller has not taken (set to -1 those it took). */
void cit_rx_close(struct cit_rx *rx);

/* A CIT_TAIL_DATA message's bytes: inline (*data points into rx's buffer), or its data
 * object mapped read-only (*map is what to munmap, *len bytes, afterwards; else NULL).
 * Returns 0, or cit_object_map()'s error (-EPERM not sealed, -EPROTO wrong size, an mmap
 * errno). */
int cit_rx_data(struct cit_rx *rx, const void **data, size_t *len, void **map);

/* Sends one message: header, the payload (plen bytes), the tail (tlen bytes), nfds fds.
 * Never blocks (MSG_DONTWAIT) and never raises SIGPIPE. Returns 0, -EAGAIN when the
 * peer's queue is full, or another negative errno. */
int cit_proto_send(int sock, uint16_t type, uint64_t id, const void *payload, size_t plen,
		   const void *tail, size_t tlen, const int *fds, size_t nfds);

/* Sends a CIT_TAIL_DATA message (payload: plen bytes starting with its struct cit_data,
 * which is filled in here) with len bytes of data: inline when len <= CIT_INLINE_MAX, else
 * in a new data object made here. Blocking mode is the socket's own. */
int cit_proto_send_data(int sock, uint16_t type, uint64_t id, void *payload, size_t plen, const void *data,
			size_t len);

/* Sends an ERROR with code and a formatted one-line text. */
int cit_proto_send_status(int sock, uint16_t type, uint64_t id, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Blocking forms, for processes with nothing else to do meanwhile (the CLI, the runtime,
 * the load generator): they wait in poll(2) while the non-blocking call says -EAGAIN.
 * Never for the monitor, which must not wait on anyone. */
int cit_proto_recv_wait(int sock, void *buf, struct cit_rx *rx, struct cit_error *err);
int cit_proto_send_wait(int sock, uint16_t type, uint64_t id, const void *payload, size_t plen, const void *tail,
			size_t tlen, const int *fds, size_t nfds);

/* Reads a spec back from its stored bytes (a spec and its environment, as DEPLOY carries
 * them; len of them in buf, which has cap bytes of room: a spec stored in the layout
 * before cpu_millis and pids is moved into the current one there) into rx->spec and
 * rx->env, checking it as on receipt. Returns 0 or -EPROTO / -EINVAL with err filled. */
int cit_fn_spec_parse(void *buf, size_t len, size_t cap, struct cit_rx *rx, struct cit_error *err);

/* Latency histograms, per function and phase: cold (a runtime zygote made), template (the
 * function loaded, its init run), lukewarm (an instance forked until ready), warm (a call
 * inside the monitor, queueing included). Bucket i counts the times at most
 * cit_hist_le_us[i] microseconds (and above the one before); the last, the rest. */
enum cit_phase { CIT_PHASE_COLD, CIT_PHASE_TEMPLATE, CIT_PHASE_LUKEWARM, CIT_PHASE_WARM, CIT_PHASES };
#define CIT_HIST_BUCKETS 16
extern const uint32_t cit_hist_le_us[CIT_HIST_BUCKETS - 1];
/* The bucket of a time of us microseconds. */
unsigned cit_hist_bucket(uint64_t us);

/* One function in a LIST reply (an array of these is the reply's data). */
struct cit_fn_info {
	char name[CIT_NAME_MAX];
	char runtime[16];
	char state[16];           /* "starting", "ready", "failed" */
	char measurement[65];     /* SHA-256, hex */
	char reserved[7];
	uint32_t live, idle, busy, queued;
	uint32_t max_instances, min_instances;
	uint64_t invocations, errors;
	uint64_t p50_us, p99_us;  /* warm invoke latency inside the monitor (recent calls) */
	uint64_t cold_us;         /* making the runtime zygote */
	uint64_t template_us;     /* loading the function and running its init */
	uint64_t lukewarm_us;     /* forking a trustlet until it is ready (median, recent) */
	uint64_t memory_bytes, timeout_ms;
	char error[CIT_TEXT_MAX]; /* why the function failed, when it did */
	uint64_t hist[CIT_PHASES][CIT_HIST_BUCKETS]; /* counts, not cumulative */
	uint64_t hist_sum_us[CIT_PHASES];
	uint32_t keyed;           /* 1: invoking over HTTP needs its invoke key */
	uint32_t reserved2;
	uint64_t memory_used;     /* bytes its sandbox uses now (template and instances) */
};
