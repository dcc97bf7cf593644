/* citadel-store: the state store's process. It opens the LMDB database (src/state/lmdb.c)
 * and serves the monitor's requests on its channel (the frames of src/state/store.h), so
 * that LMDB, which trusts the file it maps, never runs in the monitor: a damaged file can
 * crash this process, which the monitor then starts again.
 *
 *   citadel-store --path FILE [--map BYTES] [--map-max BYTES] [--receive-fd]
 *
 * fd 0 is its channel (a stream socket). With --receive-fd, the database's file comes first
 * on the channel, an open descriptor (one byte with SCM_RIGHTS): the monitor's word that
 * FILE is ready (made the sandbox's own); FILE must be that very file (its device and inode)
 * or the store refuses to open it. It answers each request in turn; LMDB's errors
 * go back as they are (a negative errno and LMDB's message). A scan is sent a window at a
 * time (store.h), from one read transaction.
 *
 * Exit status: 0 when its channel closes; 1 when it could not open the database (the
 * monitor is told why on the channel), its channel failed, or a frame came that it does not
 * expect (stderr says which); 2 on a bad argument. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/error.h"
#include "common/parse.h"
#include "state/backend.h"
#include "state/store.h"

#define CHAN 0
#define GET_BUF_START (64u << 10)

#define USAGE                                                                                    \
	"usage: citadel-store --path FILE [--map BYTES] [--map-max BYTES] [--receive-fd]\n"      \
	"  the state store's process; started by citadeld, fd 0 its channel (src/state/store.h)\n" \
	"  --path FILE       the LMDB database file (made 0600 when missing)\n"                 \
	"  --map BYTES       the map it starts with (0: 16 MiB)\n"                              \
	"  --map-max BYTES   the most the map grows to; then writes fail with ENOSPC (0: 1 GiB)\n" \
	"  --receive-fd      wait for the file as a descriptor on fd 0; FILE must be it\n"

/* What a frame handler returns when the store is to end: its channel failed, or a frame
 * came that it does not expect (said on stderr). */
#define END 1

/* The process's state, passed to every handler. */
struct server {
	struct cit_backend *b;
	uint8_t *rec;                /* GET's buffer, rec_cap bytes */
	size_t rec_cap;
	struct cit_kv_op *ops;       /* the batch until its COMMIT; each PUT's record is owned */
	size_t n, alloc;
	size_t got;                  /* the batch's writes received (n of them held, unless failed) */
	uint64_t bytes;              /* their keys and records */
	int failed;                  /* -ENOMEM: the batch could not be held, and is refused */
};

__attribute__((format(printf, 1, 2))) static int protocol(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("citadel-store: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return END;
}

static int send_all(struct iovec *iov, size_t n)
{
	int rc = cit_store_sendv(CHAN, iov, n);
	return rc < 0 ? protocol("its channel: %s", strerror(-rc)) : 0;
}

static int send_frame(uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t hdr[CIT_STORE_HDR_LEN];
	cit_store_put32(hdr, type);
	cit_store_put32(hdr + 4, (uint32_t)(alen + blen));
	struct iovec iov[3] = { { hdr, sizeof(hdr) }, { (void *)a, alen }, { (void *)b, blen } };
	return send_all(iov, 3);
}

/* A STATUS: code, value, and msg (cut to what a STATUS may carry). */
static int send_status(int code, uint64_t value, const char *msg)
{
	uint8_t p[CIT_STORE_STATUS_LEN] = { 0 };
	cit_store_put32(p, (uint32_t)code);
	cit_store_put64(p + 8, value);
	size_t n = code < 0 && msg ? strnlen(msg, CIT_ERROR_MSG_MAX - 1) : 0;
	return send_frame(CIT_STORE_STATUS, p, sizeof(p), msg, n);
}

/* Reads len bytes. Returns 0, END, or -1 at EOF before the first byte (when eof_ok). */
static int recv_all(void *buf, size_t len, bool eof_ok)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t r = recv(CHAN, p + got, len - got, MSG_WAITALL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return protocol("its channel: %s", strerror(errno));
		if (r == 0)
			return got == 0 && eof_ok ? -1 : protocol("its channel closed within a frame");
		got += (size_t)r;
	}
	return 0;
}

static int recv_hdr(uint32_t *type, uint32_t *len, bool eof_ok)
{
	uint8_t hdr[CIT_STORE_HDR_LEN];
	int rc = recv_all(hdr, sizeof(hdr), eof_ok);
	if (rc)
		return rc;
	*type = cit_store_get32(hdr);
	*len = cit_store_get32(hdr + 4);
	return 0;
}

static void batch_clear(struct server *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		if (sv->ops[i].kind == CIT_KV_PUT)
			free((void *)sv->ops[i].record);
	sv->n = sv->got = 0;
	sv->bytes = 0;
	sv->failed = 0;
}

static int on_get(struct server *sv, uint32_t len)
{
	uint8_t p[CIT_BACKEND_KEY_LEN + 8];
	if (len != sizeof(p))
		return protocol("a GET of %" PRIu32 " bytes", len);
	int rc = recv_all(p, sizeof(p), false);
	if (rc)
		return rc;
	uint64_t cap = cit_store_get64(p + CIT_BACKEND_KEY_LEN);
	struct cit_error err = { 0 };
	size_t n = 0;
	for (;;) {
		rc = cit_backend_get(sv->b, p, sv->rec, sv->rec_cap, &n, &err);
		if (rc != -ENOBUFS || n > cap || n > CIT_BACKEND_RECORD_MAX)
			break;
		uint8_t *bigger = realloc(sv->rec, n);
		if (!bigger)
			return send_status(-ENOMEM, 0, "the store process: no memory for a record");
		sv->rec = bigger;
		sv->rec_cap = n;
	}
	if (rc == 0 && n > cap) /* it fitted our buffer, not the client's */
		rc = -ENOBUFS;
	if ((rc == 0 || rc == -ENOBUFS) && n > CIT_BACKEND_RECORD_MAX) {
		snprintf(err.msg, sizeof(err.msg), "a record of %zu bytes in the store's file: at most %u (it may be "
			 "damaged)", n, CIT_BACKEND_RECORD_MAX);
		return send_status(-EIO, 0, err.msg);
	}
	if (rc == 0)
		return send_frame(CIT_STORE_RECORD, sv->rec, n, NULL, 0);
	if (rc == -ENOBUFS)
		return send_status(rc, n, NULL);
	return send_status(rc, 0, err.code ? err.msg : NULL);
}

/* Reads and drops len bytes. */
static int discard(size_t len)
{
	uint8_t drop[4096];
	int rc = 0;
	while (rc == 0 && len > 0) {
		size_t n = len < sizeof(drop) ? len : sizeof(drop);
		rc = recv_all(drop, n, false);
		len -= n;
	}
	return rc;
}

/* A PUT or DEL: held until its COMMIT. A batch past the bounds the client keeps to is a
 * frame not expected; one that cannot be held is read to its COMMIT and refused there. */
static int on_write(struct server *sv, uint32_t type, uint32_t len)
{
	if (len < CIT_BACKEND_KEY_LEN || len - CIT_BACKEND_KEY_LEN > CIT_BACKEND_RECORD_MAX ||
	    (type == CIT_STORE_DEL && len != CIT_BACKEND_KEY_LEN))
		return protocol("a write of %" PRIu32 " bytes", len);
	if (sv->got >= CIT_STORE_BATCH_OPS || sv->bytes + len > CIT_STORE_BATCH_BYTES)
		return protocol("a batch past %u writes or %llu MiB", CIT_STORE_BATCH_OPS, CIT_STORE_BATCH_BYTES >> 20);
	sv->got++;
	sv->bytes += len;
	uint8_t key[CIT_BACKEND_KEY_LEN];
	int rc = recv_all(key, sizeof(key), false);
	if (rc)
		return rc;
	size_t rlen = len - CIT_BACKEND_KEY_LEN;
	if (!sv->failed && sv->n == sv->alloc) {
		size_t alloc = sv->alloc ? sv->alloc * 2 : 64;
		struct cit_kv_op *ops = realloc(sv->ops, alloc * sizeof(*ops));
		if (ops)
			sv->ops = ops, sv->alloc = alloc;
		else
			sv->failed = -ENOMEM;
	}
	uint8_t *record = NULL;
	if (!sv->failed && type == CIT_STORE_PUT && !(record = malloc(rlen ? rlen : 1)))
		sv->failed = -ENOMEM;
	if (sv->failed)
		return discard(rlen);
	if ((rc = recv_all(record, rlen, false))) {
		free(record);
		return rc;
	}
	struct cit_kv_op *op = &sv->ops[sv->n++];
	op->kind = type == CIT_STORE_PUT ? CIT_KV_PUT : CIT_KV_DEL;
	memcpy(op->key, key, sizeof(key));
	op->record = record;
	op->len = rlen;
	return 0;
}

static int on_commit(struct server *sv, uint32_t len)
{
	uint8_t p[8];
	int rc = len == sizeof(p) ? recv_all(p, sizeof(p), false) : protocol("a COMMIT of %" PRIu32 " bytes", len);
	if (rc)
		return rc;
	uint64_t n = cit_store_get64(p);
	if (n != sv->got)
		return protocol("a COMMIT of %" PRIu64 " writes after %zu", n, sv->got);
	struct cit_error err = { 0 };
	if (sv->failed)
		rc = send_status(sv->failed, 0, "the store process: no memory to hold the batch");
	else if ((rc = cit_backend_apply(sv->b, sv->ops, sv->n, &err)) < 0)
		rc = send_status(rc, 0, err.msg);
	else
		rc = send_status(0, 0, NULL);
	batch_clear(sv);
	return rc;
}

/* A scan's window, and the scan's outcome on the channel. */
struct window {
	unsigned records;
	size_t bytes;
};

#define STOPPED 2   /* the client sent STOP */
#define TOO_LONG 3  /* a record longer than any the store may hold */

static int send_entry(const uint8_t *key, const uint8_t *record, size_t len, void *ctx)
{
	struct window *w = ctx;
	if (len > CIT_BACKEND_RECORD_MAX)
		return TOO_LONG;
	int rc = send_frame(CIT_STORE_ENTRY, key, CIT_BACKEND_KEY_LEN, record, len);
	if (rc)
		return rc;
	w->records++;
	w->bytes += CIT_BACKEND_KEY_LEN + len;
	if (w->records < CIT_STORE_WINDOW_RECORDS && w->bytes < CIT_STORE_WINDOW_BYTES)
		return 0;
	uint32_t type, flen;
	if ((rc = send_frame(CIT_STORE_MORE, NULL, 0, NULL, 0)) || (rc = recv_hdr(&type, &flen, false)))
		return rc;
	if (flen != 0 || (type != CIT_STORE_NEXT && type != CIT_STORE_STOP))
		return protocol("a frame of type %" PRIu32 " and %" PRIu32 " bytes after MORE", type, flen);
	*w = (struct window){ 0 };
	return type == CIT_STORE_STOP ? STOPPED : 0;
}

static int on_scan(struct server *sv, uint32_t len)
{
	uint8_t prefix[CIT_BACKEND_KEY_LEN];
	int rc = len <= sizeof(prefix) ? recv_all(prefix, len, false) : protocol("a SCAN of %" PRIu32 " bytes", len);
	if (rc)
		return rc;
	struct window w = { 0 };
	struct cit_error err = { 0 };
	rc = cit_backend_scan(sv->b, prefix, len, send_entry, &w, &err);
	if (rc == END)
		return END;
	if (rc == TOO_LONG)
		return send_status(-EIO, 0, "a record in the store's file is longer than any it may hold (it may be "
				   "damaged)");
	return rc < 0 ? send_status(rc, 0, err.msg) : send_status(0, 0, NULL);
}

/* Serves requests until EOF (0) or END. */
static int serve(struct server *sv)
{
	for (;;) {
		uint32_t type, len;
		int rc = recv_hdr(&type, &len, sv->got == 0);
		if (rc < 0)
			return 0;
		if (rc)
			return rc;
		if (sv->got > 0 && type != CIT_STORE_PUT && type != CIT_STORE_DEL && type != CIT_STORE_COMMIT)
			return protocol("a frame of type %" PRIu32 " within a batch", type);
		switch (type) {
		case CIT_STORE_GET: rc = on_get(sv, len); break;
		case CIT_STORE_PUT:
		case CIT_STORE_DEL: rc = on_write(sv, type, len); break;
		case CIT_STORE_COMMIT: rc = on_commit(sv, len); break;
		case CIT_STORE_SCAN: rc = on_scan(sv, len); break;
		default: rc = protocol("a frame of type %" PRIu32 " and %" PRIu32 " bytes", type, len); break;
		}
		if (rc)
			return rc;
	}
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("citadel-store: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\nsee 'citadel-store --help'\n", stderr);
	va_end(ap);
	return 2;
}

/* The one descriptor that comes first on the channel (--receive-fd), or -1. */
static int receive_fd(void)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n;
	do
		n = recvmsg(CHAN, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *c = n == 1 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)) ||
	    (mh.msg_flags & MSG_CTRUNC))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

int main(int argc, char **argv)
{
	struct cit_backend_opts o = { 0 };
	bool have_map = false, have_max = false, receive = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help")) {
			fputs(USAGE, stdout);
			return 0;
		}
		if (!strcmp(a, "--receive-fd")) {
			if (receive)
				return usage_error("--receive-fd is given twice");
			receive = true;
			continue;
		}
		bool is_path = !strcmp(a, "--path"), is_map = !strcmp(a, "--map"), is_max = !strcmp(a, "--map-max");
		if (!is_path && !is_map && !is_max)
			return usage_error("'%s' is not an option of it", a);
		if (i + 1 == argc)
			return usage_error("%s needs a value", a);
		const char *v = argv[++i];
		if ((is_path && o.path) || (is_map && have_map) || (is_max && have_max))
			return usage_error("%s is given twice", a);
		if (is_path) {
			if (!*v)
				return usage_error("--path is empty");
			o.path = v;
		} else if (cit_parse_u64(v, 0, SIZE_MAX, is_map ? &o.map_bytes : &o.map_max) < 0) {
			return usage_error("%s '%s' is not a number of bytes", a, v);
		} else {
			have_map |= is_map, have_max |= is_max;
		}
	}
	if (!o.path)
		return usage_error("--path is needed");
	int type = 0;
	socklen_t tlen = sizeof(type);
	if (getsockopt(CHAN, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_STREAM)
		return usage_error("fd 0 is not its channel (a stream socket from citadeld)");
	signal(SIGPIPE, SIG_IGN);
	if (receive) {
		int fd = receive_fd();
		struct stat given, named;
		if (fd < 0 || fstat(fd, &given) < 0 || stat(o.path, &named) < 0 || given.st_dev != named.st_dev ||
		    given.st_ino != named.st_ino) {
			fprintf(stderr, "citadel-store: %s is not the file the monitor gave on fd 0\n", o.path);
			return 1;
		}
		close(fd);
	}

	struct server sv = { 0 };
	struct cit_error err = { 0 };
	int rc = cit_lmdb_open(&sv.b, &o, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel-store: %s\n", err.msg);
		send_status(rc, 0, err.msg);
		return 1;
	}
	uint8_t version[4];
	cit_store_put32(version, CIT_STORE_VERSION);
	rc = send_frame(CIT_STORE_HELLO, version, sizeof(version), NULL, 0);
	if (rc == 0) {
		sv.rec_cap = GET_BUF_START;
		sv.rec = malloc(sv.rec_cap);
		if (!sv.rec)
			sv.rec_cap = 0;
		rc = serve(&sv);
	}
	batch_clear(&sv);
	free(sv.ops);
	free(sv.rec);
	cit_backend_close(sv.b);
	return rc ? 1 : 0;
}
