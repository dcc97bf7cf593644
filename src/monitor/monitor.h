/* The monitor (`citadel serve`): the one trusted process. It owns the state directory,
 * makes every sandbox, and moves invocations between callers and trustlets. It runs no
 * function code, parses nothing but fixed-layout messages (proto.h) and the state's
 * batches (state/wire.h, checked whole and bounded), never blocks on a
 * function (every socket is non-blocking; every call has a deadline) and is the only
 * process that can kill one.
 *
 * One thread, one epoll loop. Every object that owns an fd in the loop embeds a struct
 * cit_ev naming its kind, so an event leads straight to its object. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "monitor/poolcore.h"
#include "monitor/timer.h"
#include "proto/proto.h"
#include "sandbox/sandbox.h"

struct cit_monitor_opts {
	const char *state_dir;    /* functions and their logs */
	const char *socket_path;  /* the local API */
	const char *runtime_path; /* citadel-zygote */
	bool json_log;            /* events as JSON lines instead of logfmt */
	uint32_t max_instances;   /* instances of all functions together */
	uint64_t max_pids;        /* processes and threads of all sandboxes together */
	uint32_t max_clients;     /* connections at once */
	uint64_t idle_timeout_ms; /* a connection with nothing asked and nothing owed this long goes */
	const char *group;        /* invokers' group; NULL: CIT_MON_GROUP if it exists; "none" */
	struct { uid_t uid; uint32_t scale; } peer_quota[16]; /* callers given a larger quota */
	size_t n_peer_quota;
	const char *listen;       /* the HTTP gateway's ADDR:PORT, or "none" */
	const char *callback_allow[16]; /* CIDRs asynchronous calls' callbacks may reach */
	size_t n_callback_allow;  /* 0: loopback only */
	const char *python_preload; /* serve --python-preload, or NULL: the runtime's default */
	uint64_t max_body;        /* HTTP: bytes of a request body */
	uint32_t http_connections, http_per_address, http_idle_timeout_s, http_header_bytes;
	const char *master_key_file; /* the state's master key (state.c), or NULL */
	uint64_t store_max;       /* the state store's largest size (its map), bytes; 0: default */
	bool state_accept;        /* take a state store whose checkpoint fails as found (once) */
};

/* The state store's default largest size (serve --store-max). */
#define CIT_MON_STORE_MAX (1ull << 30)

/* The HTTP gateway's defaults (serve --listen, --max-body; docs/http-api.md). */
#define CIT_MON_LISTEN "127.0.0.1:8080"
#define CIT_MON_MAX_BODY (64ull << 20)
#define CIT_MON_HTTP_CONNECTIONS 1024
#define CIT_MON_HTTP_PER_ADDRESS 256
#define CIT_MON_HTTP_IDLE_S 30
#define CIT_MON_HTTP_HEADER_BYTES (64u << 10)
/* The gateway is one client of the monitor, for all its callers: its quota is that of
 * this pseudo-uid (no process runs as it), CIT_GATEWAY_SCALE times a caller's. */
#define CIT_GATEWAY_UID ((uid_t)0xfffffffeu)
#define CIT_GATEWAY_SCALE 16u

#define CIT_MON_GROUP "citadel"

/* Defaults of the monitor-wide caps: room for the documented 10,000 idle instances (one
 * task each) and their templates under a pid_max of 32,768, with the rest of the machine
 * keeping a quarter of it. */
#define CIT_MON_MAX_INSTANCES 12000
#define CIT_MON_MAX_PIDS 24000
#define CIT_MON_MAX_CLIENTS 1024
#define CIT_MON_IDLE_TIMEOUT_MS 60000

/* Runs the monitor until SIGINT or SIGTERM; returns 0, or a negative errno when it could
 * not start (err says why). Every sandbox it made is gone when it returns. */
int cit_monitor_run(const struct cit_monitor_opts *opts, struct cit_error *err);

/* ---- internals shared by monitor.c and function.c ------------------------------------ */

/* An fd in the loop: the object that owns it embeds one, and its callback finds the object
 * (container_of), as redis's ae file events do. */
struct monitor;
struct cit_ev {
	void (*fn)(struct monitor *m, struct cit_ev *ev, uint32_t events);
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* One end of a channel that sends the monitor messages: a client, a zygote or template, or
 * a trustlet. Its messages are dispatched by the table (proto/messages.h, dispatch.c): a
 * type is taken only from the sender it names, from a client only with the role it names. */
struct cit_peer {
	struct cit_ev ev;
	uint8_t sender;           /* enum cit_sender: what this channel's far end is */
	uint8_t role;             /* a client's enum cit_role */
};

struct client;
struct function;
struct chain_run;

/* A data object the monitor holds (chain.c): a sealed memfd, shared by reference between
 * the calls, chain runs and callers that hold it, freed when the last reference goes. The
 * bytes of one a function produced count against its --object-quota while it lives. */
struct held {
	int fd;                   /* owned: sealed (F_SEAL_WRITE, SHRINK, GROW) */
	uint64_t len;
	uint32_t refs;
	struct obj_account *acct; /* the producer's account, or NULL (a client's request) */
};

/* The live objects of one function (by name: a redeployed version keeps its account). */
struct obj_account {
	struct obj_account *next;
	char name[CIT_NAME_MAX];
	uint64_t bytes;
	uint32_t objects;
};

/* What a call takes or gives: inline bytes (owned) or a held object (a reference). */
struct value {
	uint8_t *data;
	uint32_t len;
	struct held *o;           /* NULL: the bytes are inline */
	struct obj_account *acct; /* inline bytes a chain keeps: charged to their producer */
};

/* A reference a call holds, by the number its trustlet knows it by (proto.h). */
struct callref {
	uint64_t ref;
	struct held *o;
};

#define CALL_REFS_MAX 64          /* references one call may hold at once */
#define CIT_INVOKE_DEPTH_MAX 8    /* calls within calls (cit_invoke), the first call at 0 */

/* An invocation between its caller and its trustlet. */
struct call {
	struct call *next;        /* in a function's queue, or the in-flight list */
	struct call *prev;
	struct client *client;    /* NULL when the caller has gone: the result is dropped */
	uint64_t id;              /* the caller's request id */
	uint64_t start_ns, deadline_ns;
	uint64_t start_run_ns;     /* handed to its trustlet */
	struct cit_timer deadline; /* armed at deadline_ns while its trustlet runs it */
	uint64_t invocation;      /* its number in its function (CALL), from 1 */
	uint64_t state_session;   /* its number for the state's locks (state.c), 0 before */
	bool state_locked;        /* it asked for a lock: its end is told to the state thread */
	uint32_t grants;          /* CIT_GRANT_*: what its trustlet may ask during it */
	uint8_t *data;            /* inline bytes (owned) */
	uint32_t data_len;
	struct held *in;          /* or a held object (a reference), NULL */
	struct value *inputs;     /* a fan-in step's inputs (owned), n_inputs of them, and the */
	char (*input_steps)[CIT_NAME_MAX]; /* names of the steps they come from (owned) */
	uint32_t n_inputs;
	uint32_t n_refs;          /* the references its trustlet was given (owned) */
	struct callref *refs;
	struct chain_run *run;    /* a step of this chain run (its outcome goes there), or NULL */
	uint32_t step;
	struct call *parent;      /* made by parent's trustlet (FN_INVOKE parent_req): its outcome is
				   * the REPLY; NULL for none or once the parent has ended */
	uint64_t parent_req;
	struct call *child;       /* the call its trustlet waits for (FN_INVOKE), or NULL */
	uint32_t depth;           /* calls above it (parents) */
	uint64_t deadline_cap_ns; /* its deadline is at most this (its parent's), 0: none */
	char content_type[CIT_CTYPE_MAX]; /* the request's, "" for none */
	bool sealed;              /* a sealed invocation: its output goes sealed to reply_pk */
	uint8_t reply_pk[32];
	char *meta;               /* the HTTP request's meta for CALL_META (owned, proto.h), or NULL */
	uint32_t meta_len;
	struct acall *async;      /* an asynchronous call's record (async.c): its outcome goes
				   * there (client is NULL) */
	struct trustlet *t;       /* while running */
};

struct trustlet {
	struct cit_peer peer;     /* its channel */
	struct function *fn;
	struct trustlet *next, *prev; /* in fn->trustlets */
	struct trustlet *inext, *iprev; /* T_IDLE: in fn->idle, most recently idle first */
	int chan;                 /* owned; our end of its channel */
	uint64_t serial;          /* its place in the order instances were made (fn->made) */
	uint64_t idle_cpu_ns;     /* its CPU time when an idle check first saw it idle; 0: none */
	uint32_t attempt;         /* fn->start_failures when it was spawned: one batch of
				   * instances that all fail is one failed attempt */
	pid_t pid;                /* host pid, from the kernel's credentials at HELLO; 0 before */
	uint64_t ns_pid;          /* its pid inside the sandbox (as it says) */
	enum t_state state;       /* changed only by cit_pool_move() (poolcore.h) */
	uint64_t since_ns;        /* spawned, or idle since */
	uint64_t served;
	struct call *call;        /* T_BUSY: the call it runs */
	struct cit_timer dying;   /* T_DYING with a call: when to stop waiting for its cause of death */
	bool exited, exit_oom;    /* EXITED came before its hang-up: its wait status */
	char why[CIT_TEXT_MAX];   /* T_STARTING: why it could not start, as it said (HELLO) */
	int exit_status;
	bool dead;                /* gone: ignored by events, freed after the batch */
	bool indexed;             /* in fn->by_pid */
	struct trustlet *grave;   /* in m->grave */
	char dir[CIT_DIR_NAME_LEN + 1]; /* its private directory (HELLO), "" before and once
				   * its template was told to remove it (dirs.c) */
};

/* A runtime zygote: a sandbox running citadel-zygote. Spare until a function adopts it;
 * then it is that function's template. */
struct zygote {
	struct cit_peer peer;     /* its channel */
	const struct cit_runtime_info *runtime; /* the kind of zygote it is */
	struct cit_ev sync_ev, log_ev;
	struct function *fn;      /* NULL while spare */
	struct cit_sandbox sb;
	int chan;                 /* owned; SEQPACKET to the zygote / template */
	int log_r;                /* owned; its stdout and stderr */
	/* The log's rate limit (CIT_LOG_RATE): a token bucket of bytes; past it lines are
	 * dropped and counted, and the pipe is read at most once per CIT_LOG_PAUSE_MS. */
	uint64_t log_tokens, log_refill_ns, log_dropped, log_resume_ns;
	bool log_mid;             /* its raw output's last byte was not a newline */
	pid_t pid;                /* the zygote program's host pid (from ZYGOTE_READY) */
	bool ready;               /* ZYGOTE_READY came */
	uint64_t start_ns, cold_us;
	bool dead;                /* gone: ignored by events, freed after the batch */
	struct zygote *grave;
};

enum fn_state { F_STOPPED, F_STARTING, F_READY, F_FAILED };

#define LAT_RING 1024

struct function {
	struct function *next;
	struct cit_fn_spec spec;
	char tail[CIT_ENV_BYTES + CIT_ARGS_BYTES]; /* the environment, then the command */
	const struct cit_runtime_info *runtime;
	uint8_t code_sha256[32];  /* the code's bytes (the .so; an exec program's, from LOADED) */
	uint8_t bundle_sha256[32]; /* exec with CIT_FN_BUNDLE: its bundle archive's bytes */
	uint8_t measurement[32];  /* SHA-256 of its canonical encoding (spec.h), once measured */
	bool measured;            /* code_sha256 and measurement are known */
	uint8_t code_measurement[32]; /* SHA-256 of cit_fn_encode_code, with measurement */
	bool sealing;             /* seal_pk and seal_sk are its sealing keys (attest.c) */
	uint8_t seal_pk[32], seal_sk[32];
	bool pinned;              /* exec: code_sha256 is the program deployed (code.sha256):
				   * a template that finds other bytes fails the function */
	int code;                 /* owned; the code as a sealed memfd, -1 for an exec function */
	struct zygote *z;         /* its template, while it has one */
	enum fn_state state;
	bool discard;             /* a failed new version: freed after the batch */
	bool deploying;           /* a new version until its first instance is ready (whether
				   * or not its deployer is still connected) */
	bool hashing;             /* its code is being measured and saved by the worker: the
				   * loop leaves code and measurement alone */
	bool retired;             /* replaced: finishes the calls it runs, takes no new ones,
				   * freed when none is left */
	uint64_t load_deadline_ns; /* F_STARTING: when the template must have loaded */
	char error[CIT_TEXT_MAX];
	/* Instances that end before they say HELLO: each new one waits longer (backoff_until,
	 * cit_pool_backoff_ms), and after CIT_START_ATTEMPTS in a row the function fails with
	 * the last one's reason until it is redeployed or restarted (stuck). */
	uint64_t made;            /* instances made so far (their serials) */
	uint64_t idle_scan_below; /* the idle check resumes below this serial; 0: from the top */
	uint32_t start_failures;
	uint64_t backoff_until_ns;
	bool stuck;
	/* Every instance the template forks it reports once (EXITED): never more reports than
	 * spawns, or the template is lying about pids that are not its instances. */
	uint64_t spawned, exit_reports;
	bool first_hello;         /* an instance said HELLO: the template really forks them */
	struct trustlet *trustlets;
	struct trustlet **by_pid; /* owned: those that said HELLO, by pid in the sandbox (an
				   * open-addressing table of by_pid_cap slots, pool.c) */
	uint32_t by_pid_cap, by_pid_n;
	struct trustlet *idle;    /* the idle ones: a call takes the head */
	uint32_t n_starting, n_idle, n_busy;
	uint32_t n_dying;         /* not live, but their ends not yet known (a call may wait for it) */
	struct call *q_head, *q_tail;
	uint32_t q_len;
	struct client *deployer;  /* waiting for LOADED */
	uint64_t deploy_id;
	uint64_t load_ns;
	uint64_t invocations, errors, oom_base;
	uint64_t calls_made;      /* the invocation ids CALL carries: per function, from 1 */
	uint32_t lat_us[LAT_RING], lat_n;
	uint32_t luke_us[64], luke_n;
	uint64_t cold_us, template_us;
	uint64_t hist[CIT_PHASES][CIT_HIST_BUCKETS]; /* latencies by phase (spec/info.h) */
	uint64_t hist_sum_us[CIT_PHASES];
	bool keyed;               /* deployed --invoke-key: HTTP callers must present it */
	uint8_t invoke_key_hash[32]; /* its SHA-256 */
	char invoke_key[CIT_TOKEN_LEN + 1]; /* a new key until the deploy's reply shows it once */
	int log_fd;               /* owned; appended, rotated at CIT_LOG_MAX */
	uint64_t log_size;
	struct dead_dir *dead_dirs; /* owned; directories of trustlets gone from the pool whose
				   * end is not yet reported (dirs.c) */
};

#define CIT_LOG_MAX (1u << 20)
#define CIT_LOG_RATE (256u << 10)   /* bytes a second a function may log... */
#define CIT_LOG_BURST (1u << 20)    /* ...in bursts of at most this */
#define CIT_LOG_PAUSE_MS 10

/* What one connection may hold of the monitor (monitor.c). */
#define CLIENT_FIRST_MESSAGE_S 5      /* a connection says something within this, or goes */
#define CLIENT_CALLS_MAX 256          /* calls (and chain runs) one connection may have in flight */
#define CLIENT_QUEUED_MAX (4u << 20)  /* inline request bytes of its calls waiting in queues */
#define MON_QUEUED_MAX (64u << 20)    /* the same for all connections together */
#define CLIENT_OBJECTS_UNREAD 4       /* replies with a data object not yet read: then no
				       * more of its requests are read until they are */
#define MON_OBJECT_BYTES_UNREAD (64u << 20) /* bytes of objects the monitor made (logs, lists)
				       * that clients have not read yet, all together */
#define CLIENT_UNREAD_S 30            /* a connection that leaves replies unread this long goes */
#define CLIENT_OUTQ_MAX (384u << 10)  /* bytes of replies (kernel-counted, about 1.2 KiB for a
				       * small one) a connection may leave unread before its
				       * requests are no longer read: a reply to each of its 256
				       * calls fits, within its socket's buffer (set to twice
				       * this), so no reply is ever dropped */

/* What one caller (a uid: all its connections together) may hold of the monitor: the
 * defaults below, times its scale (serve --peer-quota UID=SCALE; the gateway, which
 * speaks for many callers, is given a larger one). monitor.c */
#define PEER_CONNECTIONS_MAX 256
#define PEER_CALLS_MAX 1024
#define PEER_QUEUED_MAX (16u << 20)

struct peer_quota {
	struct peer_quota *next;
	uid_t uid;
	uint32_t scale;
	uint32_t connections, calls; /* now */
	uint64_t queued_bytes;
};

struct client {
	struct cit_peer peer;
	struct peer_quota *quota; /* its uid's (monitor.c); never NULL */
	struct client *next, *prev;
	int fd;
	uid_t uid;                /* its credentials when it connected (SO_PEERCRED) */
	uint64_t last_request_ns; /* when it last sent a request; 0 before the first */
	uint32_t calls;           /* invocations in flight for it */
	uint64_t queued_bytes;    /* inline bytes of its calls waiting in function queues */
	uint64_t first_deadline_ns; /* until its first message; 0 once one came */
	uint32_t objects_unread;  /* replies with a data object sent since its socket was last
				   * seen with nothing unread */
	uint64_t object_bytes_unread; /* of those, bytes of objects the monitor itself made */
	uint64_t unread_since_ns; /* when it was paused (replies left unread) */
	bool paused;              /* not read until its replies are read */
	char follow[CIT_NAME_MAX]; /* LOGS --follow: the function whose new log lines it gets
				   * (as OK replies to follow_id), "" for none */
	uint64_t follow_id;
	uint64_t follow_dropped;  /* lines it was too slow to take, told at the next send */
	char *follow_pending;     /* owned: new lines held while the log so far is being read
				   * (the worker), sent after it; NULL when none are held */
	size_t follow_pending_len;
	bool follow_waiting;      /* the log so far is being read: new lines are held */
	uint64_t serial;          /* unique in the monitor's life: a job finds its client by it */
	uint32_t replies_pending; /* replies being made in the worker (a log being read): they
				   * count as unread until sent, and then as sent */
	uint64_t token_id;        /* ADMIN_TOKEN: the id of the message it is for */
	int8_t token_state;       /* 1 valid, -1 not valid, 0 none pending (tokens.c) */
	uint32_t token_index;     /* the valid token's, for the log */
	int32_t token_grant;      /* while a message a token raised is handled: that token's
				   * index; else -1 */
	char follow_token[CIT_NAME_MAX]; /* the token that granted its follow, "" for none */
	uint8_t bearer_hash[32];  /* ADMIN_TOKEN that was no admin token: its SHA-256, for an
				   * invoke key (the message of bearer_id only) */
	uint64_t bearer_id;       /* 0: none */
	char *meta;               /* INVOKE_META: the meta for its INVOKE of meta_id (owned) */
	uint32_t meta_len;
	uint64_t meta_id;
};

/* An admin token the monitor accepts (tokens.c): its name and its SHA-256. */
struct cit_token {
	char name[CIT_NAME_MAX];
	uint8_t hash[32];
};

struct monitor {
	const struct cit_monitor_opts *opts;
	struct cit_cgroup cg;     /* the cgroup all sandboxes are made beneath (max_pids) */
	char cg_name[32];         /* its name, beneath our own: "citadel-<our pid>" */
	uint32_t live_instances;  /* of all functions: at most opts->max_instances */
	uint64_t next_backoff_ns; /* the earliest backoff_until of a function, 0 for none */
	uint64_t next_log_ns;     /* the earliest log_resume of a zygote, 0 for none */
	struct cit_worker *worker; /* worker.h: blocking work off the loop */
	int ep, listen_fd, sig_fd;
	int lock_fd;              /* the state directory's monitor.lock, held (flock) */
	struct cit_ev listen_ev, sig_ev;
	struct client *clients;
	uint32_t n_clients, max_clients; /* max_clients: the option, within an eighth of our fds */
	uint32_t n_following;     /* clients following a log */
	uint64_t client_serial;   /* the last client's serial */
	uint64_t queued_bytes;    /* inline bytes of all calls waiting in function queues */
	uint64_t object_bytes_unread; /* sum of the clients' */
	bool trim;                /* queues held much: give the heap back once they empty */
	struct function *functions;
	struct cit_token tokens[CIT_TOKENS_MAX];
	uint32_t n_tokens;
	int http_fd;              /* the gateway's listening socket, -1 for none */
	bool http_loopback;       /* it listens on a loopback address */
	struct zygote *spare[CIT_RUNTIMES]; /* per runtime kind, made on first use */
	struct call *inflight;    /* calls running in a trustlet */
	struct cit_timers timers; /* the calls' deadlines, the dying instances' waits */
	void *buf;                /* CIT_MSG_MAX bytes for receiving */
	struct trustlet *grave;   /* freed after each batch of events */
	struct zygote *zgrave;
	uint64_t next_keepalive_ns;
	uint64_t listen_paused_ns;  /* accepting stopped (out of fds) at this time, or 0 */
	int reserve_fd;           /* owned: /dev/null, given up to refuse a connection when out of fds */
	dev_t listen_dev;         /* the socket file we bound, removed at the end only if it is */
	ino_t listen_ino;         /* still that one */
	uint64_t trash_seq;       /* function directories sent to the worker to remove */
	uint64_t cap_logged_ns;   /* when the --max-instances cap was last logged */
	struct peer_quota *quotas; /* one per uid that has a connection (or scaled by an option) */
	struct chain_def *chains; /* chain.c: the chains, by name */
	struct chain_run *runs;   /* chain invocations running */
	struct obj_account *accounts; /* functions' live data objects */
	uint64_t next_ref;        /* the last reference number handed out */
	uint8_t attest_key[32];   /* from the master key (state.c): sealing keys and secrets */
	uint8_t id_pk[32];        /* the monitor's identity (Ed25519, attest.c): signs reports */
	uint8_t id_sk[64];
	uint8_t self_measure[32]; /* the monitor's measurement, once self_measured (attest.c) */
	char *self_components;    /* owned: its encoding (src/attest/attest.h) */
	bool self_measured;
	gid_t gid;                /* the invokers' group, when group_name is set */
	char group_name[64];      /* "" : no group, the socket is root-only */
	bool stopping;
};

uint64_t cit_now_ns(void);
void cit_mlog(struct monitor *m, const char *level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int cit_ep_add(struct monitor *m, int fd, struct cit_ev *ev);
void cit_reply_error(struct monitor *m, struct client *c, uint64_t id, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Sends an OK with nothing in it. */
int cit_reply_ok(struct monitor *m, struct client *c, uint64_t id);
/* Sends an OK carrying len bytes (inline, or in a data object made here, which counts as
 * the monitor's own until the client has read it). Returns 0 or a negative errno. */
int cit_reply_data(struct monitor *m, struct client *c, uint64_t id, uint64_t count, const void *data, size_t len);
/* c's calls (in flight or queued) change by calls, the inline bytes of its queued calls by
 * bytes: its own counts and its uid's (the quotas invoke checks). */
void cit_client_count(struct client *c, int calls, int64_t bytes);
/* Whether c's uid may have one more call of len inline bytes queued: 0, or -EBUSY with why
 * (a text naming the quota) in *why. */
int cit_client_may_queue(const struct client *c, uint64_t len, const char **why);
/* The client of that serial, or NULL when it has gone. */
struct client *cit_client_find(struct monitor *m, uint64_t serial);
/* Stops c following a log (LOGS --follow); with why, tells it so in an ERROR. */
void cit_client_unfollow(struct monitor *m, struct client *c, const char *why);
/* A reply carrying a data object went to c (the function's or the monitor's own: bytes). */
void cit_client_object_sent(struct monitor *m, struct client *c, uint64_t own_bytes);

/* dispatch.c: the handlers of the message table (proto/messages.h). A handler gets a
 * message its peer may send (the sender and role checked) and returns 0, or -EPROTO when
 * the peer broke the protocol (the dispatcher then ends that peer: a client is told why
 * and dropped, a template fails its function, a trustlet is killed). A client's request
 * that cannot be served is answered with an ERROR by its handler and returns 0. */
typedef int cit_handler_fn(struct monitor *m, struct cit_peer *p, struct cit_rx *rx);

/* Dispatches one received message of peer p. Returns the handler's result, -EPROTO for a
 * type this peer may not send, or -EACCES after answering a client whose role is short. */
int cit_dispatch(struct monitor *m, struct cit_peer *p, struct cit_rx *rx);

/* function.c: clients' requests and the template's messages */
int cit_fn_load_all(struct monitor *m, struct cit_error *err);
cit_handler_fn cit_fn_deploy, cit_fn_list, cit_fn_remove, cit_fn_logs;
cit_handler_fn cit_fn_restart; /* ends the template and instances, starts it again */
cit_handler_fn cit_fn_on_ready, cit_fn_on_loaded, cit_fn_on_exited;
/* gateway.c: the HTTP gateway's keeper */
/* Reads spec, ADDR:PORT or [ADDR6]:PORT (no name is looked up), into *out and *len.
 * Returns 0, or -EINVAL with err saying what is wrong. */
int cit_listen_addr(const char *spec, struct sockaddr_storage *out, socklen_t *len, struct cit_error *err);
/* Binds opts->listen ("none": nothing). Returns 0 or a negative errno with err. */
int cit_gateway_listen(struct monitor *m, struct cit_error *err);
/* Starts the gateway in its sandbox (when listening and not running); on failure tries
 * again a second later. */
void cit_gateway_start(struct monitor *m);
/* Ends the gateway and closes the listening socket. */
void cit_gateway_stop(struct monitor *m);
/* A client of the monitor on fd (owned), as if it had connected with uid and role (the
 * gateway's channel). Returns it, or NULL (fd closed). */
struct client *cit_client_adopt(struct monitor *m, int fd, uid_t uid, enum cit_role role);
/* function.c: writes a file name in dirfd_ (a then b, fsync'd), mode 0600. */
int cit_write_file_at(int dirfd_, const char *name, const void *a, size_t alen, const void *b, size_t blen);
/* tokens.c: admin tokens */
cit_handler_fn cit_token_present, cit_token_add, cit_token_remove, cit_token_list;
/* Reads STATE_DIR/admin-tokens (none is no token). Returns 0, or a negative errno with
 * err naming the file and the bad line. */
int cit_tokens_load(struct monitor *m, struct cit_error *err);
/* The role client c's message id gets from a token presented for it (ADMIN_TOKEN just
 * before): *role becomes CIT_ROLE_ADMIN for a valid token, is left as is for none.
 * Consumes the token. Returns 0, or -EACCES when the token presented was not valid. */
int cit_token_role(struct monitor *m, struct client *c, uint64_t id, uint8_t *role);
/* async.c: asynchronous calls' records */
struct acall;
struct cit_async_outcome {
	int code;                 /* 0, or the failure (negative errno) */
	uint32_t flags;           /* the failure's CIT_STATUS_* */
	const char *text;         /* the failure's text */
	uint32_t http_status;     /* the status and content type the function set (0, NULL) */
	const char *content_type;
	const void *data;         /* the output: len inline bytes, or *fd (taken, -1 left) */
	size_t len;
	int *fd;
	uint64_t obj_len;
};
/* A record for a new asynchronous call of function, posted to callback when it ends ("" or
 * NULL: nowhere); its id in id. Returns it, or NULL with *why (the table is full, ENOMEM). */
struct acall *cit_async_new(struct monitor *m, const char *function, const char *callback,
			    char id[CIT_CALL_ID_LEN + 1], const char **why);
/* The call of record a ended as o says: kept, and posted to its callback. */
void cit_async_finish(struct monitor *m, struct acall *a, const struct cit_async_outcome *o);
/* Forgets calls finished longer ago than they are kept. */
void cit_async_expire(struct monitor *m, uint64_t now);
void cit_async_free_all(void);
cit_handler_fn cit_async_status;
/* gateway.c: sends an asynchronous call's outcome to citadel-callback, to post (data: len
 * inline bytes, or the data object fd of obj_len bytes, lent). Returns 0, -ENOTCONN when
 * it is not running, or the send's error (its queue full: -EAGAIN). */
int cit_callback_send(struct monitor *m, const struct cit_p_callback *cb, const void *data, size_t len, int fd,
		      uint64_t obj_len);
/* Counts a time of us microseconds in fn's histogram of phase (enum cit_phase). */
void cit_fn_hist(struct function *fn, unsigned phase, uint64_t us);
/* pool.c: calls, and the trustlets' messages */
cit_handler_fn cit_fn_invoke, cit_fn_invoke_meta, cit_pool_on_hello, cit_pool_on_result, cit_pool_on_log, cit_pool_on_deadline;
/* Answers a trustlet's request (p) with code and no value: a request it was not granted. */
int cit_pool_refuse(struct monitor *m, struct cit_peer *p, struct cit_rx *rx, int code);
/* Appends one line a call logged (LOG) to fn's log: "LEVEL invocation=N text", within the
 * function's log rate. Returns 0, or -EAGAIN when the rate dropped it. */
int cit_fn_log_line(struct monitor *m, struct function *fn, uint64_t invocation, uint32_t level, const char *text,
		    size_t len);
void cit_fn_trustlet_event(struct monitor *m, struct cit_ev *ev, uint32_t events);
void cit_fn_zygote_event(struct monitor *m, struct cit_ev *ev, uint32_t events);
void cit_fn_tick(struct monitor *m);           /* deadlines and keep-alive */
int cit_fn_next_deadline_ms(struct monitor *m); /* for epoll_wait */
void cit_fn_client_gone(struct monitor *m, struct client *c);
void cit_clients_tick(struct monitor *m, uint64_t now); /* monitor.c: once a second */
void cit_fn_stop_all(struct monitor *m);
/* Makes a spare zygote of runtime kind rt, if there is none. */
void cit_zygote_spare(struct monitor *m, const struct cit_runtime_info *rt);
struct function *cit_fn_find(struct monitor *m, const char *name);
void cit_fn_start(struct monitor *m, struct function *fn);
void cit_fn_failed(struct monitor *m, struct function *fn, const char *why);
void cit_fn_deploy_done(struct monitor *m, struct function *fn);
void cit_fn_reap_discarded(struct monitor *m);
void cit_fn_check_loads(struct monitor *m, uint64_t now);
/* Its instances keep ending before they are ready: the function fails every call with
 * fn->error until it is redeployed or restarted (a version being deployed is dropped). */
void cit_fn_stuck(struct monitor *m, struct function *fn);
/* Reads again the logs paused by their rate limit whose pause is over. */
void cit_fn_logs_resume(struct monitor *m, uint64_t now);

/* chain.c: held data objects, calls within calls, chains */
cit_handler_fn cit_chain_on_invoke, cit_chain_create, cit_chain_invoke, cit_chain_list, cit_chain_remove;
cit_handler_fn cit_state_on_request, cit_state_on_kv;

/* state.c: functions' key-value state (docs/state.md). Start: the master key read (or made),
 * the state thread started, which starts the store process; -errno with err when the key
 * is unusable or the thread cannot start (the store's own failures are logged, and make
 * every request fail, not the monitor). Stop: the requests queued are answered, a last
 * checkpoint written, the store process ended. Forget: t is being freed; answers to its
 * requests go nowhere. */
int cit_state_start(struct monitor *m, struct cit_error *err);
void cit_state_stop(struct monitor *m);
void cit_state_forget(struct trustlet *t);
/* The call c is being freed: its locks go, and the writes made under them (state.c). */
void cit_state_call_end(struct call *c);
/* keyfile.c: reads the 32-byte key in file (raw, or 64 hex digits and maybe a newline),
 * first making it (random, mode 0600) when create and it does not exist (*made then true).
 * what names it in errors. Returns 0, or a negative errno with err: the file unreadable,
 * -EPERM (not a regular file of ours, or readable by others), -EINVAL (not a key). */
int cit_key_file(const char *file, bool create, const char *what, uint8_t key[32], bool *made, struct cit_error *err);

/* attest.c: measured functions, signed reports, sealed invocations and secrets
 * (docs/attestation.md). Start: the identity key read (or made) in the state directory;
 * -errno with err when it is unusable. */
int cit_attest_start(struct monitor *m, struct cit_error *err);
/* Whether the program at path (one the monitor starts: its runtimes, the store, the
 * gateway, the callback sender, the unpacker, or libpython) is still the file it was when
 * the monitor started (device, inode, size, times). Returns 0 (also for a path it does not
 * start), or -ESTALE with why: it must not be started, its measurement would be wrong. */
int cit_attest_program_ok(const char *path, char why[CIT_TEXT_MAX]);
void cit_attest_stop(struct monitor *m);
cit_handler_fn cit_attest_on_request;
/* A sealed INVOKE (its content type CIT_SEALED_CTYPE) for fn: rx's request is opened in
 * place (rx->data and data_len, or rx->fds[0] and obj_len, then name the plaintext; *owned
 * holds what must be freed after, or NULL), reply_pk gets the client's key for the response
 * and ctype the request's own content type. Returns 0, or a negative errno with why:
 * -EAGAIN (fn not measured yet), -EINVAL (it does not open with fn's key, or its
 * plaintext is malformed: the caller's to mend), -ENOMEM. */
int cit_attest_unseal(struct monitor *m, struct function *fn, struct cit_rx *rx, void **owned,
		      uint8_t reply_pk[32], char ctype[CIT_CTYPE_MAX], char why[CIT_TEXT_MAX]);
/* secrets.c: an admin's secrets (SECRET), and those of fn's code sent to its template
 * (SECRETS): called before LOAD, or for an exec function after LOADED (its code measured
 * then); a secret bound to other code is withheld and logged. */
cit_handler_fn cit_secret_on_request;
void cit_secrets_send(struct monitor *m, struct function *fn);

struct outcome;
/* Answers client cl's sealed call id with o (code 0) sealed to pk: its content type and
 * bytes (inline, o->o, or fd of obj_len bytes) inside, the OK's content type
 * CIT_SEALED_CTYPE. Returns 0, or a negative errno (the caller answers an error). */
int cit_attest_reply_sealed(struct monitor *m, struct client *cl, uint64_t id, const struct outcome *o, int fd,
			    uint64_t obj_len, const uint8_t pk[32]);

/* Reads STATE_DIR/chains (made when missing). Returns 0 or a negative errno with err. */
int cit_chains_load(struct monitor *m, struct cit_error *err);
void cit_chains_free_all(struct monitor *m);
/* Holds fd (taken; checked sealed and of len bytes by the caller), charged to function
 * owner's account (NULL: nobody's) within quota bytes. Returns it with one reference, or
 * NULL with why (the quota, ENOMEM; fd closed). */
struct held *cit_held_new(struct monitor *m, int fd, uint64_t len, const char *owner, uint64_t quota,
			  char why[CIT_TEXT_MAX]);
struct held *cit_held_get(struct held *o);
void cit_held_put(struct monitor *m, struct held *o);
void cit_value_clear(struct monitor *m, struct value *v);
/* Gives call c a reference to o (one more of o's), returning its number, or 0 when c holds
 * CALL_REFS_MAX already (or out of memory). */
uint64_t cit_call_ref(struct monitor *m, struct call *c, struct held *o);
/* The object c holds by number ref, or NULL (forged, stale, another call's). */
struct held *cit_call_held(const struct call *c, uint64_t ref);
/* How a call ended, for its chain run or its parent (pool.c's call_end): code 0 and its
 * output (inline bytes or o), or a failure's code and text. */
struct outcome {
	int code;
	uint32_t flags;           /* CIT_STATUS_* */
	const char *text;
	uint32_t http_status;
	const char *content_type;
	const void *data;
	size_t len;
	struct held *o;
};
/* pool.c: answers client cl's request id with o: an ERROR, or an OK with o's bytes or
 * object (or fd, a data object of obj_len bytes, lent; -1 for none). The client's call
 * count goes down by one. */
void cit_reply_outcome(struct monitor *m, struct client *cl, uint64_t id, const struct outcome *o, int fd,
		       uint64_t obj_len);
void cit_chain_step_done(struct monitor *m, struct call *c, const struct outcome *o);
void cit_invoke_done(struct monitor *m, struct call *c, const struct outcome *o);
void cit_chain_client_gone(struct monitor *m, struct client *cl);
/* pool.c: puts c (its request, run or parent set) in fn's queue: checks the function can
 * take it (not failed, its queue not full), numbers it, grants it what fn's deployment
 * allows, starts fn if stopped and dispatches. Returns 0, or a negative errno with why (c is
 * not queued: the caller frees it with cit_call_free). */
int cit_call_queue(struct monitor *m, struct function *fn, struct call *c, char why[CIT_TEXT_MAX]);
void cit_call_free(struct monitor *m, struct call *c);
/* Answers a trustlet's request (FN_INVOKE) with code, value, inline bytes and fds. */
void cit_pool_reply(struct monitor *m, struct trustlet *t, uint64_t id, int code, uint64_t value, const void *data,
		    size_t len, const int *fds, size_t nfds, uint64_t obj_len);

/* pool.c (its states and decisions, without I/O: poolcore.h) */
void cit_pool_dispatch(struct monitor *m, struct function *fn);
void cit_pool_backoffs(struct monitor *m, uint64_t now); /* dispatches functions whose backoff ended */
void cit_pool_fail_all(struct monitor *m, struct function *fn, int code, const char *why);
void cit_pool_exited(struct monitor *m, struct function *fn, uint64_t ns_pid, int status);
/* fn was replaced: its idle and starting trustlets go, busy ones finish their call. */
void cit_pool_retire(struct monitor *m, struct function *fn);
/* 0 when the kernel says pid's parent is parent, else -EPERM. */
int cit_verify_child(pid_t pid, pid_t parent);

/* dirs.c: trustlets' private directories. remove: the trustlet named has ended, its
 * template removes the tree; keep: a trustlet leaves the pool before its end is reported;
 * exited: its end is reported (true when it was one kept); forget: the template is gone,
 * and its /tmp with it. */
struct dead_dir;
void cit_dir_remove(struct monitor *m, struct function *fn, const char *name);
void cit_dir_keep(struct function *fn, uint64_t ns_pid, const char *name);
bool cit_dir_exited(struct monitor *m, struct function *fn, uint64_t ns_pid);
void cit_dir_forget(struct function *fn);
