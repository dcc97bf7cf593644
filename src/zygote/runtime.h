/* The native runtime: the program a runtime zygote runs (citadel-zygote). One process
 * goes through three roles, each a narrower one than the last:
 *   zygote    sandboxed by the monitor, the loader and libc mapped, nothing of any tenant;
 *   template  after LOAD: the function's code loaded and its init run; from then on it
 *             only forks trustlets when the monitor asks (SPAWN) and reaps them;
 *   trustlet  a fork of the template, confined further (its own landlock layer and private
 *             directory, no new processes, not dumpable), serving calls one at a time.
 * Internal to src/zygote. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <citadel/function.h>

#include "monitor/proto.h"

/* What the template holds for its trustlets. The runtime's one mutable global state. */
struct cit_runtime {
	char name[CIT_NAME_MAX];
	uint64_t output_bytes;
	int (*handler)(const struct cit_request *, struct cit_response *);
	int ro[32];                 /* O_PATH fds of the view's top-level entries but /tmp, /dev */
	size_t n_ro;
	int dev;                    /* O_PATH fd of /dev */
	void *buf;                  /* CIT_MSG_MAX bytes for receiving */
};

/* A trustlet's life: confine, say hello on chan, serve calls until chan closes. */
_Noreturn void cit_trustlet_main(struct cit_runtime *rt, int chan);

/* api.c: the response of the call in progress. */
struct cit_response {
	char *buf;
	size_t len, cap;
	size_t limit;               /* the function's output limit */
	int code;                   /* set by cit_fail */
	int overflow;               /* a cit_respond passed the limit */
	char text[CIT_TEXT_MAX];
};

/* The message cit_init_fail() left, or "" . */
const char *cit_runtime_init_message(void);
