/* The monitor (`citadel serve`): the one trusted process. It owns the state directory,
 * makes every sandbox, and moves invocations between callers and trustlets. It runs no
 * function code, parses nothing but fixed-layout messages (proto.h), never blocks on a
 * function (every socket is non-blocking; every call has a deadline) and is the only
 * process that can kill one.
 *
 * One thread, one epoll loop. Every object that owns an fd in the loop embeds a struct
 * cit_ev naming its kind, so an event leads straight to its object. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "monitor/proto.h"
#include "sandbox/sandbox.h"

struct cit_monitor_opts {
	const char *state_dir;    /* functions and their logs */
	const char *socket_path;  /* the local API */
	const char *runtime_path; /* citadel-zygote */
	bool json_log;            /* events as JSON lines instead of logfmt */
};

/* Runs the monitor until SIGINT or SIGTERM; returns 0, or a negative errno when it could
 * not start (err says why). Every sandbox it made is gone when it returns. */
int cit_monitor_run(const struct cit_monitor_opts *opts, struct cit_error *err);

/* ---- internals shared by monitor.c and function.c ------------------------------------ */

enum cit_ev_kind { EV_LISTEN, EV_SIGNAL, EV_CLIENT, EV_ZYGOTE, EV_SYNC, EV_LOG, EV_TRUSTLET };

struct cit_ev {
	uint8_t kind;
	void *obj;
};

struct client;
struct function;

/* An invocation between its caller and its trustlet. */
struct call {
	struct call *next;        /* in a function's queue, or the in-flight list */
	struct call *prev;
	struct client *client;    /* NULL when the caller has gone: the result is dropped */
	uint64_t id;              /* the caller's request id */
	uint64_t start_ns, deadline_ns;
	uint8_t *data;            /* inline bytes (owned) */
	uint32_t data_len;
	int obj;                  /* or a data object (owned), -1 */
	uint64_t obj_len;
	struct trustlet *t;       /* while running */
};

/* T_NONE: not (or no longer) counted in its function. */
enum t_state { T_NONE, T_STARTING, T_IDLE, T_BUSY, T_DYING };

struct trustlet {
	struct cit_ev ev;
	struct function *fn;
	struct trustlet *next, *prev; /* in fn->trustlets */
	struct trustlet *inext, *iprev; /* T_IDLE: in fn->idle, most recently idle first */
	int chan;                 /* owned; our end of its channel */
	pid_t pid;                /* host pid, from the kernel's credentials at HELLO; 0 before */
	uint64_t ns_pid;          /* its pid inside the sandbox (as it says) */
	enum t_state state;       /* changed only by set_state() (pool.c) */
	uint64_t since_ns;        /* spawned, or idle since */
	uint64_t served;
	struct call *call;        /* T_BUSY: the call it runs */
	uint64_t dying_deadline_ns; /* T_DYING: when to stop waiting for its cause of death */
	bool exited, exit_oom;    /* EXITED came before its hang-up: its wait status */
	int exit_status;
	bool dead;                /* gone: ignored by events, freed after the batch */
	struct trustlet *grave;   /* in m->grave */
};

/* A runtime zygote: a sandbox running citadel-zygote. Spare until a function adopts it;
 * then it is that function's template. */
struct zygote {
	struct cit_ev chan_ev, sync_ev, log_ev;
	struct function *fn;      /* NULL while spare */
	struct cit_sandbox sb;
	int chan;                 /* owned; SEQPACKET to the zygote / template */
	int log_r;                /* owned; its stdout and stderr */
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
	char env_buf[CIT_ENV_BYTES];
	uint8_t measurement[32];
	int code;                 /* owned; the code as a sealed memfd */
	struct zygote *z;         /* its template, while it has one */
	enum fn_state state;
	bool discard;             /* a failed new version: freed after the batch */
	bool deploying;           /* a new version until its template has loaded (whether or
				   * not its deployer is still connected) */
	bool retired;             /* replaced: finishes the calls it runs, takes no new ones,
				   * freed when none is left */
	uint64_t load_deadline_ns; /* F_STARTING: when the template must have loaded */
	char error[CIT_TEXT_MAX];
	struct trustlet *trustlets;
	struct trustlet *idle;    /* the idle ones: a call takes the head */
	uint32_t n_starting, n_idle, n_busy;
	struct call *q_head, *q_tail;
	uint32_t q_len;
	struct client *deployer;  /* waiting for LOADED */
	uint64_t deploy_id;
	uint64_t load_ns;
	uint64_t invocations, errors, oom_base;
	uint32_t lat_us[LAT_RING], lat_n;
	uint32_t luke_us[64], luke_n;
	uint64_t cold_us, template_us;
	int log_fd;               /* owned; appended, rotated at CIT_LOG_MAX */
	uint64_t log_size;
};

#define CIT_LOG_MAX (1u << 20)

struct client {
	struct cit_ev ev;
	struct client *next, *prev;
	int fd;
	uint32_t calls;           /* invocations in flight for it */
};

struct monitor {
	const struct cit_monitor_opts *opts;
	int ep, listen_fd, sig_fd;
	struct cit_ev listen_ev, sig_ev;
	struct client *clients;
	struct function *functions;
	struct zygote *spare;
	struct call *inflight;    /* calls with a deadline, running in a trustlet */
	void *buf;                /* CIT_MSG_MAX bytes for receiving */
	struct trustlet *grave;   /* freed after each batch of events */
	struct zygote *zgrave;
	uint64_t next_keepalive_ns;
	uint64_t listen_paused_ns;  /* accepting stopped (out of fds) at this time, or 0 */
	bool stopping;
};

uint64_t cit_now_ns(void);
void cit_mlog(struct monitor *m, const char *level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int cit_ep_add(struct monitor *m, int fd, struct cit_ev *ev);
void cit_reply_error(struct monitor *m, struct client *c, uint64_t id, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* function.c */
int cit_fn_load_all(struct monitor *m, struct cit_error *err);
void cit_fn_deploy(struct monitor *m, struct client *c, struct cit_rx *rx);
void cit_fn_invoke(struct monitor *m, struct client *c, struct cit_rx *rx);
void cit_fn_list(struct monitor *m, struct client *c, uint64_t id);
void cit_fn_remove(struct monitor *m, struct client *c, uint64_t id, const char *name);
void cit_fn_logs(struct monitor *m, struct client *c, uint64_t id, const char *name);
void cit_fn_zygote_event(struct monitor *m, struct cit_ev *ev, uint32_t events);
void cit_fn_trustlet_event(struct monitor *m, struct trustlet *t, uint32_t events);
void cit_fn_tick(struct monitor *m);           /* deadlines and keep-alive */
int cit_fn_next_deadline_ms(struct monitor *m); /* for epoll_wait */
void cit_fn_client_gone(struct monitor *m, struct client *c);
void cit_fn_stop_all(struct monitor *m);
void cit_zygote_spare(struct monitor *m);
struct function *cit_fn_find(struct monitor *m, const char *name);
void cit_fn_start(struct monitor *m, struct function *fn);
void cit_fn_failed(struct monitor *m, struct function *fn, const char *why);
void cit_fn_deploy_done(struct monitor *m, struct function *fn);
void cit_fn_reap_discarded(struct monitor *m);
void cit_fn_check_loads(struct monitor *m, uint64_t now);

/* pool.c */
void cit_pool_dispatch(struct monitor *m, struct function *fn);
void cit_pool_fail_all(struct monitor *m, struct function *fn, int code, const char *why);
void cit_pool_exited(struct monitor *m, struct function *fn, uint64_t ns_pid, int status);
/* fn was replaced: its idle and starting trustlets go, busy ones finish their call. */
void cit_pool_retire(struct monitor *m, struct function *fn);
/* 0 when the kernel says pid's parent is parent, else -EPERM. */
int cit_verify_child(pid_t pid, pid_t parent);
