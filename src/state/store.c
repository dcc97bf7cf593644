/* The client of the store process (store.h): the backend's calls as frames on a channel,
 * and the store's life: started, checked, reaped, started again. */
#include "state/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

/* What a channel step returns, besides 0 and negative errnos, when the store ended or lied:
 * the store is to be reaped, and s->why says what happened. */
#define DEAD 1

#define CLOSE_WAIT_MS 1000     /* cit_backend_close: how long the store has to exit on EOF */
#define EXIT_WAIT_MS 100       /* a channel that closed: how long the store has to be gone */
#define HELLO_WAIT_MS 10000    /* how long a store has to open its database and say HELLO */
#define SCRATCH_KEEP (1u << 20) /* a scan's buffer larger than this is freed after it */

struct store {
	struct cit_backend base;  /* first: a struct cit_backend * is a struct store * */
	int chan;                 /* our end of the channel; -1: no store (the next call starts one) */
	bool running;             /* a store was spawned and is not reaped */
	bool started;             /* one was started before: the next start is a restart */
	bool in_scan;             /* a scan's callback is running: no call may be made */
	unsigned restarts;
	pid_t pid;                /* default spawner: the store's pid and pidfd, else 0 and -1 */
	int pidfd;
	char *program, *path;     /* owned copies */
	int file;                 /* pass_file: the database's file (borrowed), else -1 */
	char map[24], map_max[24];
	int (*spawn)(void *ctx, char *const argv[], int chan, struct cit_error *err);
	void (*reap)(void *ctx);
	void *ctx;
	uint8_t *buf;             /* a scan's ENTRY (key, record); cap bytes */
	size_t cap;
	char why[256];            /* DEAD: what the store did */
	bool ended;               /* DEAD: its channel closed or failed (else it lied) */
};

__attribute__((format(printf, 2, 3))) static int dead(struct store *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	s->ended = false;
	return DEAD;
}

static int malformed_len(struct store *s, uint32_t type, uint32_t len)
{
	return dead(s, "a malformed reply: a frame of type %" PRIu32 " and %" PRIu32 " bytes", type, len);
}

/* The channel's failures: all mean the store is gone or cannot be talked to. */
static int channel_error(struct store *s, int e)
{
	dead(s, "its channel failed: %s", strerror(e));
	s->ended = true;
	return DEAD;
}

/* Sends the n pieces of iov in full (MSG_NOSIGNAL: a store gone is EPIPE, not a signal). */
static int send_all(struct store *s, struct iovec *iov, size_t n)
{
	int rc = cit_store_sendv(s->chan, iov, n);
	return rc < 0 ? channel_error(s, -rc) : 0;
}

/* A frame: the header, then up to two pieces of payload. */
static int send_frame(struct store *s, uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t hdr[CIT_STORE_HDR_LEN];
	cit_store_put32(hdr, type);
	cit_store_put32(hdr + 4, (uint32_t)(alen + blen));
	struct iovec iov[3] = { { hdr, sizeof(hdr) }, { (void *)a, alen }, { (void *)b, blen } };
	return send_all(s, iov, 3);
}

static int recv_all(struct store *s, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t got = recv(s->chan, p, len, MSG_WAITALL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return channel_error(s, errno);
		}
		if (got == 0) {
			dead(s, "it closed its channel");
			s->ended = true;
			return DEAD;
		}
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

static int recv_hdr(struct store *s, uint32_t *type, uint32_t *len)
{
	uint8_t hdr[CIT_STORE_HDR_LEN];
	int rc = recv_all(s, hdr, sizeof(hdr));
	if (rc)
		return rc;
	*type = cit_store_get32(hdr);
	*len = cit_store_get32(hdr + 4);
	return 0;
}

/* A STATUS's payload (len bytes, the header read): its code, value and message (msg has
 * CIT_ERROR_MSG_MAX bytes; made printable, NUL-terminated). */
static int recv_status(struct store *s, uint32_t len, int *code, uint64_t *value, char *msg)
{
	uint8_t p[CIT_STORE_STATUS_LEN + CIT_ERROR_MSG_MAX];
	if (len < CIT_STORE_STATUS_LEN || len > CIT_STORE_STATUS_LEN + CIT_ERROR_MSG_MAX - 1)
		return malformed_len(s, CIT_STORE_STATUS, len);
	int rc = recv_all(s, p, len);
	if (rc)
		return rc;
	int32_t c = (int32_t)cit_store_get32(p);
	if (c > 0 || c <= -4096 || cit_store_get32(p + 4) != 0)
		return dead(s, "a malformed reply: a status of %" PRId32, c);
	*code = c;
	*value = cit_store_get64(p + 8);
	size_t n = len - CIT_STORE_STATUS_LEN;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[CIT_STORE_STATUS_LEN + i];
		msg[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	msg[n] = '\0';
	return 0;
}

/* A frame of type and len that must be a STATUS: received into the rest as recv_status
 * does, or the store lied. */
static int expect_status(struct store *s, uint32_t type, uint32_t len, int *code, uint64_t *value, char *msg)
{
	if (type != CIT_STORE_STATUS)
		return malformed_len(s, type, len);
	return recv_status(s, len, code, value, msg);
}

/* The store's error, as it said it (its message names the file and LMDB's reason). */
static int store_error(struct cit_error *err, int code, const char *msg)
{
	if (!*msg)
		return cit_error_set(err, code, "the store process");
	return cit_error_say(err, code, "%s", msg);
}

/* Ends the store (a channel that failed, a lie, or a close): the channel closed, the store
 * given wait_ms to be gone by itself (then how it ended is added to s->why), then killed
 * and waited for. Only a store whose channel closed is waited for: one that lied is not
 * believed to end by itself. */
static void stop(struct store *s, int wait_ms)
{
	if (s->chan >= 0)
		close(steal_fd(&s->chan));
	if (!s->running)
		return;
	s->running = false;
	if (!s->reap) {
		struct pollfd p = { .fd = s->pidfd, .events = POLLIN };
		bool gone = wait_ms > 0 && poll(&p, 1, wait_ms) > 0;
		if (!gone)
			syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
		siginfo_t si = { 0 };
		while (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		size_t n = strlen(s->why);
		if (gone && si.si_code == CLD_EXITED)
			snprintf(s->why + n, sizeof(s->why) - n, " (it exited with status %d)", si.si_status);
		else if (gone && si.si_pid)
			snprintf(s->why + n, sizeof(s->why) - n, " (it was killed by signal %d)", si.si_status);
		close(steal_fd(&s->pidfd));
		s->pid = 0;
	} else {
		s->reap(s->ctx);
	}
}

/* The default spawner: clone3 with a pidfd (so that the store is signalled and waited for
 * by its pidfd: a pid reaped elsewhere and reused is never hit), then exec. Between them,
 * the child calls async-signal-safe functions only (the monitor has threads). */
static int spawn_default(struct store *s, char *const argv[], int chan, struct cit_error *err)
{
	int pidfd = -1;
	struct clone_args args = { .flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&pidfd,
				   .exit_signal = SIGCHLD };
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return cit_error_set(err, -errno, "starting the store process %s", argv[0]);
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if ((chan == 0 ? fcntl(0, F_SETFD, 0) : dup2(chan, 0)) < 0 ||
		    syscall(SYS_close_range, 3U, ~0U, 0) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	s->pid = (pid_t)pid;
	s->pidfd = pidfd;
	return 0;
}

/* Sends fd on sock: one byte with it (SCM_RIGHTS). Returns 0 or a negative errno. */
static int send_file(int sock, int fd)
{
	char byte = 'f';
	struct iovec iov = { &byte, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n;
	while ((n = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return n == 1 ? 0 : n < 0 ? -errno : -EIO;
}

/* Starts a store and waits for its HELLO. Returns 0, DEAD (it ended or lied before it was
 * ready: reaped), or a negative errno with err (the spawner's, or the store's own on
 * opening the database, or -EPROTO). */
static int start(struct store *s, struct cit_error *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return cit_error_set(err, -errno, "starting the store process: a socketpair");
	char *argv[] = { s->program, "--path", s->path, "--map", s->map, "--map-max", s->map_max,
			 s->file >= 0 ? "--receive-fd" : NULL, NULL };
	s->why[0] = '\0';
	int rc = s->spawn ? s->spawn(s->ctx, argv, sv[1], err) : spawn_default(s, argv, sv[1], err);
	close(sv[1]);
	if (rc == 0 && s->file >= 0 && (rc = send_file(sv[0], s->file)) < 0)
		cit_error_set(err, rc, "giving the store process its file");
	if (rc < 0) {
		close(sv[0]);
		return rc;
	}
	if (s->started)
		s->restarts++;
	s->started = s->running = true;
	s->chan = sv[0];
	uint32_t type, len;
	uint8_t version[4];
	int code = 0;
	uint64_t value;
	char msg[CIT_ERROR_MSG_MAX];
	/* A store stuck before its HELLO would hold the monitor for good: it has a while. (A
	 * request has none: a commit's fsync may take what it takes.) */
	struct pollfd p = { .fd = s->chan, .events = POLLIN };
	while ((rc = poll(&p, 1, HELLO_WAIT_MS)) < 0 && errno == EINTR)
		;
	if (rc <= 0)
		rc = dead(s, "it said nothing in %d s", HELLO_WAIT_MS / 1000);
	else if ((rc = recv_hdr(s, &type, &len)) == 0) {
		if (type == CIT_STORE_HELLO && len == sizeof(version))
			rc = recv_all(s, version, sizeof(version));
		else if (type == CIT_STORE_STATUS)
			rc = recv_status(s, len, &code, &value, msg);
		else
			rc = malformed_len(s, type, len);
	}
	if (rc) {
		stop(s, s->ended ? EXIT_WAIT_MS : 0);
		return rc;
	}
	if (type == CIT_STORE_STATUS) {
		stop(s, EXIT_WAIT_MS);
		if (code == 0)
			return cit_error_say(err, -EPROTO, "the store process %s said nothing of its database",
					     s->program);
		return store_error(err, code, msg);
	}
	if (cit_store_get32(version) != CIT_STORE_VERSION) {
		stop(s, 0);
		return cit_error_say(err, -EPROTO, "the store program %s speaks version %" PRIu32
				     " of its protocol, not %u", s->program, cit_store_get32(version),
				     CIT_STORE_VERSION);
	}
	return 0;
}

struct get_args {
	const uint8_t *key;
	uint8_t *buf;
	size_t cap, *len;
};

static int get_once(struct store *s, void *a, struct cit_error *err)
{
	struct get_args *g = a;
	uint8_t cap[8];
	cit_store_put64(cap, g->cap);
	int rc = send_frame(s, CIT_STORE_GET, g->key, CIT_BACKEND_KEY_LEN, cap, sizeof(cap));
	uint32_t type, len;
	if (rc || (rc = recv_hdr(s, &type, &len)))
		return rc;
	if (type == CIT_STORE_RECORD) {
		if (len > g->cap || len > CIT_BACKEND_RECORD_MAX)
			return dead(s, "a malformed reply: a record of %" PRIu32 " bytes for a buffer of %zu", len,
				    g->cap);
		if ((rc = recv_all(s, g->buf, len)))
			return rc;
		*g->len = len;
		return 0;
	}
	int code;
	uint64_t value;
	char msg[CIT_ERROR_MSG_MAX];
	if ((rc = expect_status(s, type, len, &code, &value, msg)))
		return rc;
	if (code == 0)
		return dead(s, "a malformed reply: a read's status of 0 without its record");
	if (code == -ENOBUFS) {
		/* The length it needs: more than it was given, and no more than a record can be. */
		if (value <= g->cap || value > CIT_BACKEND_RECORD_MAX)
			return dead(s, "a malformed reply: a record of %" PRIu64 " bytes too long for %zu", value,
				    g->cap);
		*g->len = (size_t)value;
		return -ENOBUFS;
	}
	if (value != 0)
		return dead(s, "a malformed reply: a status of %d with a value", code);
	if (code == -ENOENT && !*msg)
		return -ENOENT;
	return store_error(err, code, msg);
}

struct apply_args {
	const struct cit_kv_op *ops;
	size_t n;
};

static int apply_once(struct store *s, void *a, struct cit_error *err)
{
	struct apply_args *p = a;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		const struct cit_kv_op *op = &p->ops[i];
		if (op->kind == CIT_KV_PUT)
			rc = send_frame(s, CIT_STORE_PUT, op->key, CIT_BACKEND_KEY_LEN, op->record, op->len);
		else
			rc = send_frame(s, CIT_STORE_DEL, op->key, CIT_BACKEND_KEY_LEN, NULL, 0);
	}
	uint8_t n[8];
	cit_store_put64(n, p->n);
	uint32_t type, len;
	if (rc || (rc = send_frame(s, CIT_STORE_COMMIT, n, sizeof(n), NULL, 0)) || (rc = recv_hdr(s, &type, &len)))
		return rc;
	int code;
	uint64_t value;
	char msg[CIT_ERROR_MSG_MAX];
	if ((rc = expect_status(s, type, len, &code, &value, msg)))
		return rc;
	if (value != 0)
		return dead(s, "a malformed reply: a status of %d with a value", code);
	return code == 0 ? 0 : store_error(err, code, msg);
}

/* A get or an apply: sent, and sent once more to a new store when the first ended or lied. */
static int call(struct store *s, int (*once)(struct store *s, void *args, struct cit_error *err), void *args,
		struct cit_error *err)
{
	if (s->in_scan)
		return cit_error_say(err, -EBUSY, "the state store was called from a scan's callback");
	for (int attempt = 0; attempt < 2; attempt++) {
		int rc = s->chan < 0 ? start(s, err) : 0;
		if (rc == 0)
			rc = once(s, args, err);
		if (rc != DEAD)
			return rc;
		stop(s, s->ended ? EXIT_WAIT_MS : 0);
	}
	return cit_error_say(err, -EIO, "the store process ended twice on this request (its file may be damaged): %s",
			     s->why);
}

static int store_get(struct cit_backend *b, const uint8_t key[], uint8_t *buf, size_t cap, size_t *len,
		     struct cit_error *err)
{
	struct get_args a = { key, buf, cap, len };
	return call((struct store *)b, get_once, &a, err);
}

static int store_apply(struct cit_backend *b, const struct cit_kv_op *ops, size_t n, struct cit_error *err)
{
	/* Refused here as the store would refuse them, without troubling it. */
	if (n > CIT_STORE_BATCH_OPS)
		return cit_error_say(err, -E2BIG, "a batch of %zu writes: at most %u", n, CIT_STORE_BATCH_OPS);
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++) {
		if (ops[i].kind != CIT_KV_PUT && ops[i].kind != CIT_KV_DEL)
			return cit_error_say(err, -EINVAL, "a write of an unknown kind (%d)", (int)ops[i].kind);
		if (ops[i].kind == CIT_KV_PUT && ops[i].len > CIT_BACKEND_RECORD_MAX)
			return cit_error_say(err, -EMSGSIZE, "a record of %zu bytes: at most %u", ops[i].len,
					     CIT_BACKEND_RECORD_MAX);
		bytes += CIT_BACKEND_KEY_LEN + (ops[i].kind == CIT_KV_PUT ? ops[i].len : 0);
	}
	if (bytes > CIT_STORE_BATCH_BYTES)
		return cit_error_say(err, -E2BIG, "a batch of %" PRIu64 " bytes: at most %llu MiB", bytes,
				     CIT_STORE_BATCH_BYTES >> 20);
	struct apply_args a = { ops, n };
	return call((struct store *)b, apply_once, &a, err);
}

/* Room for an ENTRY of len bytes in s->buf. */
static int reserve(struct store *s, size_t len)
{
	if (len <= s->cap)
		return 0;
	uint8_t *p = realloc(s->buf, len);
	if (!p)
		return -ENOMEM;
	s->buf = p;
	s->cap = len;
	return 0;
}

struct scan_args {
	const uint8_t *prefix;
	size_t plen;
	int (*each)(const uint8_t *key, const uint8_t *record, size_t len, void *ctx);
	void *ctx;
	int ret;          /* each's value, once it stopped the scan */
	bool broken;      /* a failure of ours left the channel within a frame */
};

/* Reads a scan's frames to its end. Returns 0 (its end), each's value, the store's error
 * (with err), -ENOMEM, or DEAD. The ENTRYs after each stopped it are read and dropped. */
static int scan_frames(struct store *s, struct scan_args *a, struct cit_error *err)
{
	uint8_t last[CIT_BACKEND_KEY_LEN];
	bool have_last = false, stopped = false;
	unsigned records = 0;
	size_t bytes = 0;
	for (;;) {
		uint32_t type, len;
		int rc = recv_hdr(s, &type, &len);
		if (rc)
			return rc;
		if (type == CIT_STORE_STATUS) {
			int code;
			uint64_t value;
			char msg[CIT_ERROR_MSG_MAX];
			if ((rc = recv_status(s, len, &code, &value, msg)))
				return rc;
			if (value != 0)
				return dead(s, "a malformed reply: a status of %d with a value", code);
			if (stopped)
				return a->ret;
			return code == 0 ? 0 : store_error(err, code, msg);
		}
		if (type == CIT_STORE_MORE && len == 0) {
			/* Only a window that is full ends with MORE (else a store could pace us forever). */
			if (records < CIT_STORE_WINDOW_RECORDS && bytes < CIT_STORE_WINDOW_BYTES)
				return dead(s, "a malformed reply: a scan's window ended after %u records", records);
			if ((rc = send_frame(s, stopped ? CIT_STORE_STOP : CIT_STORE_NEXT, NULL, 0, NULL, 0)))
				return rc;
			records = 0, bytes = 0;
			continue;
		}
		if (type != CIT_STORE_ENTRY || len < CIT_BACKEND_KEY_LEN ||
		    len - CIT_BACKEND_KEY_LEN > CIT_BACKEND_RECORD_MAX)
			return malformed_len(s, type, len);
		if (records >= CIT_STORE_WINDOW_RECORDS || bytes >= CIT_STORE_WINDOW_BYTES)
			return dead(s, "a malformed reply: a scan's window went on past its end");
		records++, bytes += len;
		if (reserve(s, len) < 0) {
			a->broken = true;
			return cit_error_set(err, -ENOMEM, "reading a record of %" PRIu32 " bytes of the store", len);
		}
		if ((rc = recv_all(s, s->buf, len)))
			return rc;
		if (memcmp(s->buf, a->prefix, a->plen) != 0)
			return dead(s, "a malformed reply: a scan's key outside its prefix");
		if (have_last && memcmp(s->buf, last, CIT_BACKEND_KEY_LEN) <= 0)
			return dead(s, "a malformed reply: a scan's keys out of order");
		memcpy(last, s->buf, CIT_BACKEND_KEY_LEN);
		have_last = true;
		if (stopped)
			continue;
		s->in_scan = true;
		a->ret = a->each(s->buf, s->buf + CIT_BACKEND_KEY_LEN, len - CIT_BACKEND_KEY_LEN, a->ctx);
		s->in_scan = false;
		stopped = a->ret != 0;
	}
}

static int store_scan(struct cit_backend *b, const uint8_t *prefix, size_t plen,
		      int (*each)(const uint8_t *key, const uint8_t *record, size_t len, void *ctx), void *ctx,
		      struct cit_error *err)
{
	struct store *s = (struct store *)b;
	if (s->in_scan)
		return cit_error_say(err, -EBUSY, "the state store was called from a scan's callback");
	if (plen > CIT_BACKEND_KEY_LEN)
		return cit_error_say(err, -EINVAL, "a prefix of %zu bytes: keys have %d", plen, CIT_BACKEND_KEY_LEN);
	int rc = s->chan < 0 ? start(s, err) : 0;
	if (rc == 0)
		rc = send_frame(s, CIT_STORE_SCAN, prefix, plen, NULL, 0);
	struct scan_args a = { prefix ? prefix : (const uint8_t *)"", plen, each, ctx, 0, false };
	if (rc == 0)
		rc = scan_frames(s, &a, err);
	if (s->cap > SCRATCH_KEEP) {
		free(steal_ptr(&s->buf));
		s->cap = 0;
	}
	if (a.broken) {
		stop(s, 0); /* the channel is in the middle of a frame: the next call starts another */
		return rc;
	}
	if (rc != DEAD)
		return rc;
	stop(s, s->ended ? EXIT_WAIT_MS : 0);
	return cit_error_say(err, -EIO, "the store process ended during a scan (the next call starts another): %s",
			     s->why);
}

/* The store's end: EOF on its channel, which it answers by exiting; then reaped. */
static void store_close(struct cit_backend *b)
{
	struct store *s = (struct store *)b;
	int wait_ms = 0;
	if (s->chan >= 0) {
		shutdown(s->chan, SHUT_WR);
		/* Its end of the channel closes when it exits (nothing else holds it). */
		uint8_t drain[256];
		struct pollfd p = { .fd = s->chan, .events = POLLIN };
		while (poll(&p, 1, CLOSE_WAIT_MS) > 0 && read(s->chan, drain, sizeof(drain)) > 0)
			;
		wait_ms = p.revents ? CLOSE_WAIT_MS : 0; /* no EOF within CLOSE_WAIT_MS: killed now */
	}
	stop(s, wait_ms);
	free(s->buf);
	free(s->program);
	free(s->path);
	free(s);
}

#define GET_WINDOW 128u /* GETs sent ahead of their answers: 10 KiB, well within a socket's buffer */

struct many_args {
	const uint8_t (*keys)[CIT_BACKEND_KEY_LEN];
	size_t n;
	void (*each)(size_t i, int rc, const uint8_t *record, size_t len, void *ctx);
	void *ctx;
};

/* The reads pipelined: a window of GETs sent at once, then their answers read in order
 * (the store answers each request in turn); each asks for up to a record's most, so none
 * is ever too long. */
static int get_many_once(struct store *s, void *a, struct cit_error *err)
{
	struct many_args *m = a;
	enum { FRAME = CIT_STORE_HDR_LEN + CIT_BACKEND_KEY_LEN + 8 };
	static _Thread_local uint8_t frames[GET_WINDOW][FRAME];
	for (size_t at = 0; at < m->n; at += GET_WINDOW) {
		size_t k = m->n - at < GET_WINDOW ? m->n - at : GET_WINDOW;
		for (size_t i = 0; i < k; i++) {
			cit_store_put32(frames[i], CIT_STORE_GET);
			cit_store_put32(frames[i] + 4, CIT_BACKEND_KEY_LEN + 8);
			memcpy(frames[i] + CIT_STORE_HDR_LEN, m->keys[at + i], CIT_BACKEND_KEY_LEN);
			cit_store_put64(frames[i] + CIT_STORE_HDR_LEN + CIT_BACKEND_KEY_LEN, CIT_BACKEND_RECORD_MAX);
		}
		struct iovec iov = { frames, k * FRAME };
		int rc = send_all(s, &iov, 1);
		for (size_t i = 0; rc == 0 && i < k; i++) {
			uint32_t type, len;
			if ((rc = recv_hdr(s, &type, &len)))
				break;
			if (type == CIT_STORE_RECORD) {
				if (len > CIT_BACKEND_RECORD_MAX)
					return dead(s, "a malformed reply: a record of %" PRIu32 " bytes", len);
				if (reserve(s, len) < 0)
					return cit_error_set(err, -ENOMEM, "reading the state store");
				if ((rc = recv_all(s, s->buf, len)) == 0)
					m->each(at + i, 0, s->buf, len, m->ctx);
				continue;
			}
			int code;
			uint64_t value;
			char msg[CIT_ERROR_MSG_MAX];
			if ((rc = expect_status(s, type, len, &code, &value, msg)))
				break;
			if (code == 0 || (code != -ENOBUFS && value != 0))
				return dead(s, "a malformed reply: a read's status of %d", code);
			/* Larger than any record written (planted in the file): no record of ours. */
			m->each(at + i, code == -ENOBUFS ? -EBADMSG : code, NULL, 0, m->ctx);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int store_get_many(struct cit_backend *b, const uint8_t (*keys)[CIT_BACKEND_KEY_LEN], size_t n,
			  void (*each)(size_t i, int rc, const uint8_t *record, size_t len, void *ctx), void *ctx,
			  struct cit_error *err)
{
	struct many_args a = { keys, n, each, ctx };
	return call((struct store *)b, get_many_once, &a, err);
}

static const struct cit_backend_ops store_ops = { store_get, store_apply, store_scan, store_close, store_get_many };

int cit_store_open(struct cit_backend **out, const struct cit_store_opts *o, struct cit_error *err)
{
	if (!o->program || !*o->program || !o->path || !*o->path)
		return cit_error_say(err, -EINVAL, "the store process: its program and its database's path are needed");
	if (!o->spawn != !o->reap)
		return cit_error_say(err, -EINVAL, "the store process: a spawner needs its reaper, and the other way");
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return cit_error_set(err, -ENOMEM, "opening the state store");
	s->base.ops = &store_ops;
	s->chan = s->pidfd = -1;
	s->program = strdup(o->program);
	s->path = strdup(o->path);
	snprintf(s->map, sizeof(s->map), "%" PRIu64, o->map_bytes);
	snprintf(s->map_max, sizeof(s->map_max), "%" PRIu64, o->map_max);
	s->spawn = o->spawn;
	s->reap = o->reap;
	s->ctx = o->ctx;
	s->file = o->pass_file ? o->file : -1;
	int rc = s->program && s->path ? 0 : cit_error_set(err, -ENOMEM, "opening the state store");
	if (rc == 0 && !s->spawn && access(s->program, X_OK) < 0)
		rc = cit_error_set(err, -errno, "the store program %s", s->program);
	if (rc == 0 && (rc = start(s, err)) == DEAD)
		rc = cit_error_say(err, -EIO, "the store process %s ended before it was ready: %s", s->program, s->why);
	if (rc < 0) {
		store_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}

unsigned cit_store_restarts(struct cit_backend *b)
{
	return ((struct store *)b)->restarts;
}

pid_t cit_store_pid(struct cit_backend *b)
{
	return ((struct store *)b)->pid;
}
