/* The messages between a sandbox's supervisor and its first process, over a
 * SOCK_SEQPACKET socket (a socketpair, or for a warm sandbox the connection a run made to
 * it). Fixed layout with a version; the receiver checks the size and the version of every
 * message and NUL-terminates the text before use. Only TERMINAL and REQUEST carry fds; an
 * fd that comes with any other message is closed unused. */
#pragma once

#include <stdint.h>

#include "common/error.h"

#define CIT_SYNC_VERSION 2

enum cit_sync_type {
	CIT_SYNC_MAPPED = 1,      /* supervisor -> init: the id map is written */
	CIT_SYNC_PLACED = 2,      /* supervisor -> init: the cgroups hold the sandbox */
	CIT_SYNC_SETUP_ERROR = 3, /* init -> supervisor: a step failed (code, text) */
	CIT_SYNC_EXEC_ERROR = 4,  /* program -> supervisor: execve failed (code, text) */
	CIT_SYNC_EXIT = 5,        /* init -> supervisor: the program's wait status (code) */
	CIT_SYNC_READY = 6,       /* warm init -> keeper: built, restricted and listening */
	CIT_SYNC_REQUEST = 7,     /* run -> warm sandbox: struct cit_sync_req */
	CIT_SYNC_TERMINAL = 8,    /* init -> supervisor: the sandbox's pty master, the one fd
				   * of the message (SCM_RIGHTS); init waits for TERMINAL_SET */
	CIT_SYNC_TERMINAL_SET = 9, /* supervisor -> init: the pty has its size and modes; start
				   * the program */
	CIT_SYNC_STOPPED = 10,    /* init -> supervisor: the program stopped (code: the signal);
				   * the supervisor stops too */
	CIT_SYNC_CONTINUE = 11,   /* supervisor -> init: continued; SIGCONT the program's process
				   * group. The only message sent to init once the program runs */
};

struct cit_sync_msg {
	uint32_t version;
	uint32_t type;
	int32_t code;
	char text[CIT_ERROR_MSG_MAX];
};

/* A run's request to a warm sandbox: what to execute, sent with three fds (SCM_RIGHTS:
 * stdin, stdout, stderr). data holds NUL-terminated strings: cwd, then argc arguments,
 * then envc environment entries; len counts its bytes. */
#define CIT_REQ_DATA_MAX (128 * 1024)
#define CIT_REQ_MAX_STRINGS 4096

struct cit_sync_req {
	uint32_t version;
	uint32_t type;           /* CIT_SYNC_REQUEST */
	uint32_t argc, envc;
	uint32_t len;
	char data[CIT_REQ_DATA_MAX];
};
