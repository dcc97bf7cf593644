/* The store process seen from the monitor: a backend (backend.h) whose four operations are
 * forwarded over a socket to citadel-store (src/store/main.c), the process that runs LMDB.
 * LMDB maps its file and trusts what it finds there; a damaged file can crash the process
 * that reads it, and that process must not be the monitor. So the monitor holds this
 * client, which believes nothing the store process says until it has been bounded and
 * checked, and which outlives the store: a store that ends (its channel closes or resets)
 * or lies (a malformed frame) is killed, reaped and started again, and a get or apply it
 * was serving is sent once more (an apply of the same records is idempotent). A request
 * on which a second store ends too fails with -EIO: "the store process ended twice on this
 * request (its file may be damaged): <why>". A scan is not sent again (its callback has
 * seen records already): it fails with -EIO, and the next call starts a new store.
 *
 * The channel: a SOCK_STREAM socketpair, the store's end as its fd 0; blocking I/O, one
 * request at a time. Every frame is an 8-byte header, then its payload; every integer is
 * little-endian:
 *
 *   header     u32 type, u32 len (the payload's bytes, bounded per type below)
 *
 *   store -> client
 *   HELLO      u32 version (CIT_STORE_VERSION): the database is open, requests may come;
 *              sent once, first. A STATUS in its place says why the store could not open
 *              the database; the store then exits 1.
 *   STATUS     i32 code (0 or a negative errno), u32 0, u64 value (GET's -ENOBUFS: the
 *              record's length; else 0), then the message (at most CIT_ERROR_MSG_MAX - 1
 *              bytes, no NUL; may be empty): a request's outcome, a scan's end
 *   RECORD     the record (at most the GET's cap and CIT_BACKEND_RECORD_MAX): a GET's
 *   ENTRY      key (CIT_BACKEND_KEY_LEN bytes), record (at most CIT_BACKEND_RECORD_MAX)
 *   MORE       empty: a scan's window is full; the store waits for NEXT or STOP
 *
 *   client -> store
 *   GET        key, u64 cap                      -> RECORD, or STATUS (< 0)
 *   PUT        key, record                       (one write of a batch: no reply)
 *   DEL        key                               (one write of a batch: no reply)
 *   COMMIT     u64 n (the PUTs and DELs sent)    -> STATUS: the batch applied, or not
 *   SCAN       prefix (0 to CIT_BACKEND_KEY_LEN) -> ENTRY..., MORE..., then STATUS
 *   NEXT       empty (after MORE): the next window; STOP: no more ENTRY, then STATUS
 *
 * A scan sends the records of a window (CIT_STORE_WINDOW_RECORDS records, or until
 * CIT_STORE_WINDOW_BYTES bytes are passed) and then MORE, so that a scan of a large
 * namespace needs no large frame, and one the caller stops early reads at most one window
 * more. Its ENTRYs are checked on receipt: each key begins with the prefix and is greater
 * than the one before. A batch sent with COMMIT is bounded by CIT_STORE_BATCH_OPS and
 * CIT_STORE_BATCH_BYTES (the store holds it in memory). The store ends on EOF (exit 0)
 * and on any frame it does not expect (exit 1): the client then starts another. */
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <errno.h>

#include "common/error.h"
#include "state/backend.h"

#define CIT_STORE_VERSION 1u
#define CIT_STORE_HDR_LEN 8
#define CIT_STORE_STATUS_LEN 16                   /* a STATUS's payload before its message */
#define CIT_STORE_WINDOW_RECORDS 64u
#define CIT_STORE_WINDOW_BYTES (4u << 20)
#define CIT_STORE_BATCH_OPS (1u << 22)           /* PUTs and DELs in one COMMIT */
#define CIT_STORE_BATCH_BYTES (1ull << 30)       /* their keys' and records' bytes */

enum cit_store_frame {
	CIT_STORE_GET = 1,
	CIT_STORE_PUT = 2,
	CIT_STORE_DEL = 3,
	CIT_STORE_COMMIT = 4,
	CIT_STORE_SCAN = 5,
	CIT_STORE_NEXT = 6,
	CIT_STORE_STOP = 7,
	CIT_STORE_HELLO = 16,
	CIT_STORE_STATUS = 17,
	CIT_STORE_RECORD = 18,
	CIT_STORE_ENTRY = 19,
	CIT_STORE_MORE = 20,
};

struct cit_store_opts {
	const char *program;          /* citadel-store's path */
	const char *path;             /* the LMDB database file, as the store process sees it */
	uint64_t map_bytes, map_max;  /* passed on to cit_lmdb_open in the store (backend.h) */
	/* How to start and end the store: spawn starts program with argv (NULL-ended; argv[0]
	 * is program) and the channel chan as its fd 0 (chan is borrowed: the client closes
	 * its copy when spawn returns), returning 0 or a negative errno with err; reap kills
	 * what spawn started (if still running) and waits for it. NULL for both: clone3 +
	 * exec of program (chan as fd 0, every other fd but 1 and 2 closed, no signal blocked),
	 * ended by SIGKILL through its pidfd and waited for. */
	int (*spawn)(void *ctx, char *const argv[], int chan, struct cit_error *err);
	void (*reap)(void *ctx);
	void *ctx;
	/* With pass_file, file is the database's file, open (borrowed: it must outlive the
	 * backend), given to each store on its channel once spawn has returned: the store
	 * (with --receive-fd) waits for it before it opens path, and opens path only if it is
	 * that file. The spawner may so prepare the file (its owner) before the store opens it. */
	bool pass_file;
	int file;
};

/* Starts the store process (program --path PATH --map N --map-max N, decimal bytes) and
 * waits until it has opened the database. The options are copied. Returns 0 with *out
 * (closed by cit_backend_close, which closes the channel, lets the store exit on EOF, at
 * most a second, then reaps it), or a negative errno with err: -EINVAL (missing program or
 * path, or only one of spawn and reap), -ENOMEM, the spawner's error, the store's error
 * opening the database (LMDB's message, naming the file), -EPROTO (another version of
 * the protocol), or -EIO (the store ended before it was ready).
 *
 * The backend's calls are backend.h's, with these codes besides: -EIO as above (the store
 * ended twice on a get or apply, or during a scan), -E2BIG (a batch over the bounds above),
 * -EBUSY (called from a scan's callback: not allowed). The store's own errors (-ENOSPC
 * for a full map, ...) come back as it said them. One thread uses it at a time. */
int cit_store_open(struct cit_backend **out, const struct cit_store_opts *o, struct cit_error *err);

/* How many times b (from cit_store_open) started its store again since it was opened. */
unsigned cit_store_restarts(struct cit_backend *b);

/* b's store process's pid with the default spawner (0 when it has none running, or with
 * a custom spawner). For tests. */
pid_t cit_store_pid(struct cit_backend *b);

/* Sends the n pieces of iov on fd in full, whatever the short writes (MSG_NOSIGNAL: a
 * peer gone is EPIPE, not a signal); iov is consumed. Shared by the client and the store.
 * Returns 0 or a negative errno. */
static inline int cit_store_sendv(int fd, struct iovec *iov, size_t n)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };
		ssize_t sent = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (sent < 0 && errno == EINTR)
			continue;
		if (sent < 0)
			return -errno;
		size_t left = (size_t)sent;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++, n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* Little-endian integers in frames, shared by the client and the store. */
static inline void cit_store_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void cit_store_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t cit_store_get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t cit_store_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}
