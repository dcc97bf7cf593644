/* The messages between a sandbox's supervisor and its first process, over a
 * SOCK_SEQPACKET socketpair. Fixed layout with a version; the receiver checks the size
 * and the version of every message and NUL-terminates the text before use. */
#pragma once

#include <stdint.h>

#include "common/error.h"

#define CIT_SYNC_VERSION 1

enum cit_sync_type {
	CIT_SYNC_MAPPED = 1,      /* supervisor -> init: the id map is written */
	CIT_SYNC_PLACED = 2,      /* supervisor -> init: the cgroups hold the sandbox */
	CIT_SYNC_SETUP_ERROR = 3, /* init -> supervisor: a step failed (code, text) */
	CIT_SYNC_EXEC_ERROR = 4,  /* program -> supervisor: execve failed (code, text) */
	CIT_SYNC_EXIT = 5,        /* init -> supervisor: the program's wait status (code) */
};

struct cit_sync_msg {
	uint32_t version;
	uint32_t type;
	int32_t code;
	char text[CIT_ERROR_MSG_MAX];
};
