/* citadel-remote's HTTP: one request to the monitor's gateway at a time, with libcurl
 * (docs/http-api.md). Only http and https; redirects are never followed; a connection is
 * given 10 s; each answer is bounded before it is kept. The answer's body is spooled into
 * memory of its own (a memfd), so that a command writes a response whole or not at all,
 * as the local socket's commands do. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

/* A gateway: its URL as the user gave it (for messages) and what requests are built on. */
struct gw {
	const char *cmd;           /* the command, for messages: "invoke" */
	const char *url;           /* as given (--url or $CITADEL_URL); borrowed */
	bool from_env;             /* url came from $CITADEL_URL */
	char base[4096];           /* url without its trailing '/': paths are appended */
	CURL *curl;                /* owned: gw_close() */
	char errbuf[CURL_ERROR_SIZE];
};

/* One request. */
struct gw_request {
	const char *method;        /* "GET", "POST", "DELETE" */
	const char *path;          /* "/v1/functions?name=x": appended to the base, already escaped */
	const char *bearer;        /* Authorization: Bearer <this>, or NULL */
	const char *content_type;  /* POST: the body's Content-Type; NULL: none for an invocation
				    * (as locally), application/octet-stream otherwise */
	const void *body;          /* POST only; borrowed */
	size_t body_len;
	long timeout_s;            /* the whole exchange; 0: none (TCP keepalive still finds a
				    * peer that has gone) */
	uint64_t max_answer;       /* the largest successful answer's body kept */
	bool output;               /* an invocation: a function may set its answer's status
				    * (cit_set_status), so an answer of any status is the
				    * function's output unless it is the gateway's own error */
	bool token_only;           /* an invocation whose only credential is the admin token (a
				    * chain's): a 401 points to CITADEL_TOKEN, not an invoke key */
	const char *subject;       /* what messages are about ("f.so: "), or "" */
};

/* A successful answer (2xx, or an invocation's output of any status): its status and
 * body, spooled. */
struct gw_answer {
	long status;
	int fd;                    /* a memfd of len bytes, or -1 (then len is 0); owned */
	uint64_t len;
	void *map;                 /* gw_answer_bytes()'s mapping, or NULL; owned */
};

/* Checks url (http:// or https://, a host; no query, fragment or user name) and sets up
 * g for command cmd. Returns 0, or the exit status to stop with, the reason printed: 2
 * for a URL that is not a gateway's (a usage error of `citadel CMD`), 1 when libcurl
 * cannot start. */
int gw_open(struct gw *g, const char *cmd, const char *url, bool from_env);
void gw_close(struct gw *g);

/* Makes request r and waits for its answer. Returns 0 with *a filled (gw_answer_done()
 * after), or 1 with one line printed, `citadel CMD: SUBJECT<why>`: the gateway's error
 * (its {"error": ...}), an answer that is not the gateway's (a proxy's error page: its
 * status and first line), a redirect (never followed), or what kept the request from
 * being made or answered (a URL nobody listens at, a timeout, TLS). */
int gw_call(struct gw *g, const struct gw_request *r, struct gw_answer *a);

/* The answer's body, mapped (NULL and len 0 when empty; NULL on failure, errno set). */
const void *gw_answer_bytes(struct gw_answer *a);

/* Writes the answer's body to fd whole. Returns 0 or a negative errno. */
int gw_answer_write(struct gw_answer *a, int fd);

void gw_answer_done(struct gw_answer *a);

/* True when s is 64 lowercase hex digits: an admin token, an invoke key, a measurement. */
bool gw_hex64_ok(const char *s);
