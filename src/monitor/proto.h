/* The monitor's wire protocol: between the CLI and the monitor, and between the monitor
 * and the runtime processes (zygote, template, trustlet) it creates.
 *
 * Every message is one SOCK_SEQPACKET datagram: a fixed header, then a fixed payload
 * struct for its type, then (for some types) a variable tail whose length the payload
 * gives. File descriptors travel beside it (SCM_RIGHTS). The receiver checks, before it
 * believes anything: the magic and version, that the datagram was not truncated, that the
 * header's length is what arrived, that the type is known, that the payload's size and the
 * number of fds are what the type allows (cit_proto_rules), and that every length inside
 * the payload stays within what arrived. Strings are NUL-terminated by the receiver.
 *
 * Bytes (a request, a response) travel inline when small, or as a sealed memfd: a data
 * object, written once by its producer and immutable from then on (F_SEAL_WRITE, SHRINK,
 * GROW, SEAL). The monitor checks the seals and the size and passes the same fd on: the
 * bytes are never copied between producer and consumer.
 *
 * Numbers are fixed forever once shipped; new messages take new numbers (the reserved
 * ones below are for data objects, state and attestation). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define CIT_PROTO_MAGIC 0x31544943u /* "CIT1" little-endian */
#define CIT_PROTO_VERSION 1

#define CIT_NAME_MAX 64          /* function names, with the NUL */
#define CIT_TEXT_MAX 256         /* error text, with the NUL */
#define CIT_INLINE_MAX (32 * 1024) /* bytes carried inline; more go in a data object */
#define CIT_ENV_MAX 64           /* environment entries of a function */
#define CIT_ENV_BYTES 8192       /* their total size */
#define CIT_MSG_MAX (sizeof(struct cit_msg) + sizeof(struct cit_fn_spec) + CIT_ENV_BYTES + CIT_INLINE_MAX)

enum cit_msg_type {
	/* CLI -> monitor */
	CIT_MSG_DEPLOY = 1,       /* cit_fn_spec + env; 1 fd: the code, a sealed data object */
	CIT_MSG_INVOKE = 2,       /* cit_body (name) + inline data; 0 or 1 fd (data object) */
	CIT_MSG_LIST = 3,         /* cit_body */
	CIT_MSG_REMOVE = 4,       /* cit_body (name) */
	CIT_MSG_LOGS = 5,         /* cit_body (name) */
	/* monitor -> CLI */
	CIT_MSG_OK = 16,          /* cit_body + inline data; 0 or 1 fd */
	CIT_MSG_ERROR = 17,       /* cit_body: code and text */
	/* monitor <-> runtime */
	CIT_MSG_ZYGOTE_READY = 32, /* zygote -> monitor: runtime loaded, waiting for a function */
	CIT_MSG_LOAD = 33,        /* monitor -> zygote: cit_fn_spec + env; 1 fd: the code */
	CIT_MSG_LOADED = 34,      /* template -> monitor: cit_body (code 0, or why not) */
	CIT_MSG_SPAWN = 35,       /* monitor -> template: cit_body; 1 fd: the trustlet's channel */
	CIT_MSG_EXITED = 36,      /* template -> monitor: cit_body: a trustlet ended (code =
				   * wait status, aux = its pid in the sandbox) */
	CIT_MSG_HELLO = 37,       /* trustlet -> monitor: cit_body (aux = its pid in the
				   * sandbox); the kernel adds its credentials */
	CIT_MSG_CALL = 38,        /* monitor -> trustlet: cit_body + inline data; 0 or 1 fd */
	CIT_MSG_RESULT = 39,      /* trustlet -> monitor: cit_body + inline data; 0 or 1 fd */
	/* reserved, not yet implemented: data objects, state, attestation */
	CIT_MSG_OBJECT_NEW = 48,
	CIT_MSG_STATE_GET = 64,
	CIT_MSG_STATE_PUT = 65,
	CIT_MSG_STATE_CAS = 66,
	CIT_MSG_STATE_DELETE = 67,
	CIT_MSG_ATTEST = 80,
};

struct cit_msg {
	uint32_t magic;           /* CIT_PROTO_MAGIC */
	uint16_t version;         /* CIT_PROTO_VERSION */
	uint16_t type;            /* enum cit_msg_type */
	uint32_t len;             /* bytes after this header */
	uint32_t nfds;            /* fds that came with it */
	uint64_t id;              /* the request's id; replies echo it */
};

/* The payload of most messages. */
struct cit_body {
	char name[CIT_NAME_MAX];  /* a function's name, when the type needs one */
	int32_t code;             /* 0, or a negative errno-style code (ERROR, RESULT, ...) */
	uint32_t flags;           /* per type; CIT_CALL_* for INVOKE and CALL */
	uint64_t aux;             /* per type (see the types) */
	uint32_t data_len;        /* inline bytes after this struct, <= CIT_INLINE_MAX */
	uint32_t reserved;
	uint64_t obj_len;         /* bytes in the attached data object, when nfds is 1 */
	char text[CIT_TEXT_MAX];  /* a one-line message (ERROR, failed RESULT, LOADED) */
};

/* What a function is: sent by DEPLOY, stored in the state directory, sent by LOAD. */
#define CIT_FN_FRESH 0x1u         /* a new trustlet for every invocation */
#define CIT_FN_FLAGS_ALL CIT_FN_FRESH

struct cit_fn_spec {
	char name[CIT_NAME_MAX];  /* [a-z0-9][a-z0-9_-]*, at most 63 */
	char runtime[16];         /* "native" */
	uint64_t memory_bytes;    /* the function's cgroup: template and every instance */
	uint64_t timeout_ms;      /* per invocation */
	uint64_t output_bytes;    /* per response */
	uint32_t max_instances;
	uint32_t min_instances;   /* kept ready; idle ones above it are reaped */
	uint32_t keepalive_s;     /* how long an idle instance above min_instances lives */
	uint32_t flags;           /* CIT_FN_* */
	uint32_t n_env;           /* NUL-terminated "K=V" strings after this struct */
	uint32_t env_len;         /* their bytes, <= CIT_ENV_BYTES */
};

/* Limits a spec must keep (checked by the CLI for a clear message, and by the monitor). */
#define CIT_FN_MAX_INSTANCES 16384
#define CIT_FN_MAX_MEMORY (64ULL << 30)
#define CIT_FN_MIN_MEMORY (4ULL << 20)
#define CIT_FN_MAX_TIMEOUT_MS (3600ULL * 1000)
#define CIT_FN_MAX_OUTPUT (1ULL << 30)

/* A received message, checked. Borrowed pointers point into the caller's buffer. */
struct cit_rx {
	struct cit_msg hdr;
	struct cit_body *body;        /* for body-carrying types, else NULL */
	const uint8_t *data;          /* body: the inline bytes (data_len of them) */
	struct cit_fn_spec *spec;     /* DEPLOY and LOAD, else NULL */
	const char *env[CIT_ENV_MAX + 1]; /* spec: its environment, NULL-terminated */
	int fds[2];                   /* received fds (O_CLOEXEC), -1 where none; owned by the
				       * caller after a successful receive */
	size_t nfds;
	bool has_cred;
	pid_t pid;                    /* the sender's pid in our pid namespace (SO_PASSCRED) */
	uid_t uid;
};

/* Receives one message on a SOCK_SEQPACKET socket into buf (CIT_MSG_MAX bytes, aligned
 * for the structs) and checks it as described above. Returns 1 with rx filled, 0 at EOF,
 * -EAGAIN when nothing is waiting (non-blocking sockets), or -EPROTO with err saying what
 * was wrong (every fd that came is closed then). */
int cit_proto_recv(int sock, void *buf, struct cit_rx *rx, struct cit_error *err);

/* Closes the fds of rx that the caller has not taken (set to -1 those it took). */
void cit_rx_close(struct cit_rx *rx);

/* Sends one message: header, the payload (plen bytes), the tail (tlen bytes), nfds fds.
 * Never blocks (MSG_DONTWAIT) and never raises SIGPIPE. Returns 0, -EAGAIN when the
 * peer's queue is full, or another negative errno. */
int cit_proto_send(int sock, uint16_t type, uint64_t id, const void *payload, size_t plen,
		   const void *tail, size_t tlen, const int *fds, size_t nfds);

/* Sends a body-carrying message with bytes: inline when len <= CIT_INLINE_MAX, else in a
 * new data object made here. body's data_len and obj_len are filled in. Blocking mode is
 * the socket's own. */
int cit_proto_send_data(int sock, uint16_t type, uint64_t id, struct cit_body *body, const void *data,
			size_t len);

/* Blocking forms, for processes with nothing else to do meanwhile (the CLI, the runtime,
 * the load generator): they wait in poll(2) while the non-blocking call says -EAGAIN.
 * Never for the monitor, which must not wait on anyone. */
int cit_proto_recv_wait(int sock, void *buf, struct cit_rx *rx, struct cit_error *err);
int cit_proto_send_wait(int sock, uint16_t type, uint64_t id, const void *payload, size_t plen, const void *tail,
			size_t tlen, const int *fds, size_t nfds);

/* Makes a data object holding len bytes of data: a sealed memfd. Returns the fd or a
 * negative errno. */
int cit_object_create(const void *data, size_t len);

/* Checks that fd is a sealed data object of exactly len bytes, at most max. Returns 0,
 * -EPERM (not sealed), -EMSGSIZE (over max) or -EPROTO (wrong size). */
int cit_object_check(int fd, uint64_t len, uint64_t max);

/* Checks a function's spec (also the one read back from disk): name syntax, runtime,
 * limits, environment. Returns 0 or -EINVAL with err saying which field. */
int cit_fn_spec_check(const struct cit_fn_spec *spec, const char *const *env, struct cit_error *err);

/* True when name is a valid function name. */
bool cit_fn_name_ok(const char *name);

/* Reads a spec back from its stored bytes (a spec and its environment, as DEPLOY carries
 * them) into rx->spec and rx->env, checking it as on receipt. Returns 0 or -EPROTO /
 * -EINVAL with err filled. */
int cit_fn_spec_parse(void *buf, size_t len, struct cit_rx *rx, struct cit_error *err);

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
};
