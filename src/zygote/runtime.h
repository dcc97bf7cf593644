/* The native runtime: the program a runtime zygote runs (citadel-zygote). One process
 * goes through three roles, each a narrower one than the last:
 *   zygote    sandboxed by the monitor, the loader and libc mapped, nothing of any tenant;
 *   template  after LOAD: the function's code loaded and its init run; from then on it
 *             only forks trustlets when the monitor asks (SPAWN) and reaps them;
 *   trustlet  a fork of the template, confined further (its own landlock layer and private
 *             directory, no new processes, no process but itself named, not dumpable) before
 *             any code of the function's runs in it, serving calls one at a time.
 * Internal to src/zygote. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <citadel/function.h>

#include "proto/proto.h"
#include "sandbox/landlock.h"
#include "sandbox/policy.h"

struct cit_runtime;

/* A runtime: what differs between kinds of function (native, exec; later python, wasm)
 * inside one zygote/template/trustlet core (runtime.c, trustlet.c), which speaks the
 * protocol, confines instances and serves calls the same way for all. A new runtime is one
 * of these and a row of the monitor's runtime table (spec.h's cit_runtime_known). */
struct cit_runtime_ops {
	const char *name;           /* as in a spec's runtime */
	enum cit_sc_layer layer;    /* its instances' seccomp layer (policy.h) */
	bool subreaper;             /* its instances make processes: they reap their orphans */
	/* In the template, at LOAD: the function's code made ready (rx: its spec, environment,
	 * command and code fd), its init run. code_sha256 is filled with the SHA-256 of what
	 * the code is when the runtime reads it itself (exec: the program in the view), else
	 * left zero. Returns 0, or a negative errno with err saying why (shown to the
	 * deployer). */
	int (*load)(struct cit_runtime *rt, struct cit_rx *rx, uint8_t code_sha256[32], struct cit_error *err);
	/* Optional. In the zygote, before it says it is ready: what every function of the
	 * runtime shares, made once (python: the interpreter started, modules imported).
	 * Returns 0, or a negative errno with err (the zygote exits saying why). */
	int (*prepare)(struct cit_runtime *rt, struct cit_error *err);
	/* Optional. Around each fork of a trustlet: when < 0 just before, 0 in the child (after
	 * it was confined), > 0 in the template after. */
	void (*fork)(int when);
	/* In an instance, once per call: the response into resp (cit_respond, cit_fail).
	 * Returns 0 or a negative errno (the call's failure). */
	int (*invoke)(struct cit_runtime *rt, const struct cit_request *req, struct cit_response *resp);
};

/* secrets.c: the secrets of a SECRETS message (rx, checked) kept for cit_secret(). Returns
 * 0, -EPROTO (malformed) or -ENOMEM. Then, in an exec instance before its program runs:
 * each written as a read-only file in CIT_SECRETS_SUBDIR of its own directory (its working
 * directory, $TMPDIR), named in $CITADEL_SECRETS_DIR for the program. Returns 0 or a
 * negative errno. */
#define CIT_SECRETS_SUBDIR "secrets"
int cit_runtime_secrets(struct cit_rx *rx);
/* trustlet.c: whether the call in progress is sealed: the runtime keeps its words (an
 * exception's message, a traceback) out of the function's log. */
bool cit_runtime_call_sealed(void);
int cit_runtime_secrets_to_dir(void);

extern const struct cit_runtime_ops cit_runtime_native, cit_runtime_exec, cit_runtime_python;

/* The runtimes this program serves (its main picks one by the name it is given): native
 * and exec for citadel-zygote (table.c), python for citadel-python (table_python.c). */
extern const struct cit_runtime_ops *const cit_runtime_table[];
extern const size_t cit_runtime_table_n;

/* What the template holds for its trustlets. The runtime's one mutable global state. */
struct cit_runtime {
	const struct cit_runtime_ops *ops;
	char name[CIT_NAME_MAX];
	uint64_t output_bytes;
	int (*handler)(const struct cit_request *, struct cit_response *); /* native */
	int abi;                    /* native: the ABI the function was built for */
	int prog;                   /* exec: the program, opened (O_PATH) at LOAD */
	char **argv;                /* exec: its argv (argv[0] as given), owned */
	bool script;                /* exec: the program is a script (#!), run by its path */
	int bundle;                 /* exec: O_PATH fd of CIT_BUNDLE_PATH, the program's working
				   * directory; -1 without a bundle */
	struct cit_landlock_path ro[32]; /* the view's top-level entries but /tmp, /dev */
	size_t n_ro;
	int dev;                    /* O_PATH fd of /dev */
	int devnull;                /* /dev/null, a trustlet's stdin */
	int tmp;                    /* O_PATH fd of /tmp, where trustlets' directories are */
	int sfd;                    /* the template's signalfd for SIGCHLD */
	void *buf;                  /* CIT_MSG_MAX bytes for receiving */
	bool end_after_call;        /* the instance ends once its call's result is sent (a
				     * runtime that cannot vouch for its state: python, with a
				     * view of an object kept past the call) */
};

/* Makes the runtime's fork handler the first of the process (before the function's code
 * is loaded): glibc runs fork child handlers in the order they were registered, so a
 * trustlet is confined before any handler of the function's runs in it. Returns 0 or a
 * negative errno. */
int cit_trustlet_register(void);

/* Forks a trustlet whose channel is chan (borrowed): in the child, the runtime's handler
 * confines it (trustlet.c) before fork returns there, and before any other handler runs;
 * if it cannot, it says why on chan and exits. Returns what fork returns. */
pid_t cit_trustlet_fork(struct cit_runtime *rt, int chan);

/* A trustlet's life, once forked: say hello on chan, serve calls until chan closes. */
_Noreturn void cit_trustlet_main(struct cit_runtime *rt, int chan);

/* A request to the monitor from the call in progress (any thread): sends type with payload
 * (plen bytes) and, for a CIT_TAIL_DATA type, len bytes of data, and waits for its REPLY.
 * Returns the reply's code (0, or a negative errno) with *value (may be NULL) its value;
 * -EPERM when no call is in progress or the call was not granted grant. */
int cit_trustlet_request(uint16_t type, uint32_t grant, void *payload, size_t plen, const void *data, size_t len,
			 uint64_t *value);

/* cit_trustlet_request, with the REPLY given to on_reply (when not NULL), which runs under
 * the request's lock and may call cit_trustlet_arena. Returns the reply's code. */
int cit_trustlet_request_with(uint16_t type, uint32_t grant, void *payload, size_t plen, const void *data, size_t len,
			      void (*on_reply)(struct cit_rx *rx, void *ctx), void *ctx);

/* len bytes (malloc'd, uninitialized) that live until the call in progress ends; NULL when
 * out of memory. Only during a request's on_reply (under the call's lock). */
void *cit_trustlet_arena(size_t len);

/* The view's top-level entries (but /tmp and /dev) and /dev, kept open for the trustlets'
 * landlock layers (runtime.c, at LOAD). Returns 0 or a negative errno with err. */
int cit_runtime_open_view(struct cit_runtime *rt, struct cit_error *err);

/* Ends (SIGKILL) every process whose parent is this one, but keep (0: none) and those
 * spare(pid) says to leave (may be NULL). With reap, reaps them and looks again (their
 * orphans come to a subreaper) until none is left or ~2 s have passed; without, one look.
 * The pid namespace is the function's, so /proc lists only its processes. Returns how
 * many were ended. */
unsigned cit_end_children(pid_t keep, bool (*spare)(pid_t), bool and_reap);

/* api.c: the response of the call in progress. */
struct cit_response {
	char *buf;
	size_t len, cap;
	size_t limit;               /* the function's output limit */
	int code;                   /* set by cit_fail */
	int overflow;               /* a cit_respond passed the limit */
	char text[CIT_TEXT_MAX];
	uint32_t http_status;       /* cit_set_status, 0 for none */
	char content_type[CIT_CTYPE_MAX]; /* cit_set_content_type, "" for none */
	int out_fd;                 /* cit_output: the memfd (owned), -1 for none */
	void *out_map;              /* its writable mapping, out_len bytes */
	size_t out_len;
	uint64_t out_ref;           /* cit_respond_object: the object handed on, 0 for none */
	bool out_inline;            /* cit_output of at most CIT_INLINE_MAX bytes: buf is the output */
};

/* Drops what cit_output and cit_respond_object set (unmaps and closes the buffer). */
void cit_response_drop_object(struct cit_response *resp);

/* Keeps addr (len bytes; mapped, or malloc'd when heap) until the call in progress ends,
 * then unmaps or frees it. Returns 0, or -EMFILE when the call keeps too many. Only while a
 * call runs, under its lock (cit_invoke). */
int cit_trustlet_keep(void *addr, size_t len, bool heap);

/* The message cit_init_fail() left, or "" . */
const char *cit_runtime_init_message(void);
