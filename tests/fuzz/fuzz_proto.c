/* libFuzzer target for the wire protocol's checks on receipt (src/proto/proto.h): the
 * bytes of a datagram and the fds beside it in, cit_proto_parse's verdict out; and the
 * same bytes after the header as a stored function spec (cit_fn_spec_parse, which reads
 * the state directory back).
 *
 * Input: byte 0 chooses how many fds come beside the message (its low two bits mod 3:
 * 0, 1 or 2, each a fresh dup of /dev/null) and, with bits 2 and 3, lengths made to agree
 * (shape() below); the rest is the datagram, copied into an aligned buffer of CIT_MSG_MAX
 * bytes (longer inputs truncated, as recvmsg would). The buffer past what arrived is
 * poisoned, so that ASan reports any read beyond it.
 *
 * On acceptance every pointer the parser handed back is walked byte by byte (payload,
 * inline data, environment strings) and the invariants callers rely on are asserted; on
 * refusal, that every fd given was closed exactly once. scripts/fuzz.sh builds and runs
 * it (make test: briefly); tests/fuzz/gen_corpus.c writes the seeds in tests/fuzz/corpus/. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "state/wire.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#endif
#endif
#ifndef POISON
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: libFuzzer saves the input (abort is a crash to it). */
static _Noreturn void fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_proto: invariant failed: %s (%s:%d)\n", what, __FILE__, line);
	abort();
}

#define CHECK(cond) ((cond) ? (void)0 : fail(#cond, __LINE__))

/* What was received (as the monitor's recv buffer) and a stored spec (as the monitor reads
 * one back: one byte more than the largest spec, cit_read_file's NUL). */
static _Alignas(16) uint8_t msg[CIT_MSG_MAX];
static _Alignas(16) uint8_t stored[sizeof(struct cit_fn_spec) + CIT_ENV_BYTES + 1];

static volatile uint8_t sink;

/* Reads every byte of [p, p+n): ASan reports any outside the buffer or poisoned. */
static void touch(const void *p, size_t n)
{
	const volatile uint8_t *b = p;
	uint8_t x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= b[i];
	sink = x;
}

static bool inside(const void *p, size_t n, const void *base, size_t len)
{
	const uint8_t *q = p, *b = base;
	return q >= b && q <= b + len && n <= (size_t)(b + len - q);
}

/* A fixed string field ends inside itself (what every consumer's strcpy relies on). */
#define TERMINATED(field) CHECK(memchr((field), '\0', sizeof(field)) != NULL)

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* n strings as the parser handed them back in list: each ending inside the len bytes at
 * start, one after the other, then NULL. Returns where the next would begin. */
static const char *check_strings(const char *const *list, uint32_t n, const char *start, uint32_t len)
{
	const char *next = start;
	for (uint32_t i = 0; i < n; i++) {
		const char *e = list[i];
		CHECK(e == next);
		size_t room = (size_t)(start + len - e);
		CHECK(e >= start && room > 0);
		const char *nul = memchr(e, '\0', room);
		CHECK(nul != NULL);
		touch(e, (size_t)(nul - e) + 1);
		next = nul + 1;
	}
	CHECK(list[n] == NULL);
	CHECK(next == start + len);
	return next;
}

/* A spec with its environment and command as the parser handed them back. */
static void check_spec(const struct cit_rx *rx, const void *base, size_t len)
{
	const struct cit_fn_spec *s = rx->spec;
	CHECK(s != NULL);
	CHECK(inside(s, sizeof(*s), base, len));
	touch(s, sizeof(*s));
	TERMINATED(s->name);
	TERMINATED(s->runtime);
	CHECK(s->n_env <= CIT_ENV_MAX && s->env_len <= CIT_ENV_BYTES);
	CHECK(s->n_args <= CIT_ARGS_MAX && s->args_len <= CIT_ARGS_BYTES);
	const char *tail = (const char *)(s + 1);
	CHECK(inside(tail, (size_t)s->env_len + s->args_len, base, len));
	check_strings(rx->env, s->n_env, tail, s->env_len);
	check_strings(rx->args, s->n_args, tail + s->env_len, s->args_len);
}

/* What an accepted message promises its handler. */
static void check_accepted(const struct cit_rx *rx, size_t n)
{
	const struct cit_msg_rule *r = cit_msg_rule(rx->hdr.type);
	CHECK(r != NULL);
	CHECK(memcmp(&rx->hdr, msg, sizeof(rx->hdr)) == 0);
	CHECK(rx->hdr.magic == CIT_PROTO_MAGIC && rx->hdr.version == CIT_PROTO_VERSION);
	CHECK(sizeof(struct cit_msg) + rx->hdr.len == n);
	CHECK(rx->hdr.nfds == rx->nfds && rx->nfds >= r->min_fds && rx->nfds <= r->max_fds);
	CHECK(rx->payload == msg + sizeof(struct cit_msg));
	CHECK(rx->hdr.len >= r->size);
	touch(rx->payload, r->size);

	switch (r->tail) {
	case CIT_TAIL_NONE:
		CHECK(rx->hdr.len == r->size);
		CHECK(rx->data == NULL && rx->data_len == 0 && rx->obj_len == 0 && rx->spec == NULL);
		break;
	case CIT_TAIL_DATA: {
		const struct cit_data *d = rx->payload;
		CHECK(rx->data == (const uint8_t *)rx->payload + r->size);
		CHECK(rx->data_len <= CIT_INLINE_MAX && rx->data_len == d->len);
		CHECK(rx->hdr.len == r->size + rx->data_len);
		CHECK(inside(rx->data, rx->data_len, msg, n));
		touch(rx->data, rx->data_len);
		CHECK(rx->obj_len == d->obj_len && d->reserved == 0);
		CHECK(rx->nfds ? rx->data_len == 0 : rx->obj_len == 0);
		CHECK(rx->spec == NULL);
		break;
	}
	case CIT_TAIL_ENV: {
		CHECK(rx->spec == rx->payload);
		CHECK(rx->hdr.len == r->size + rx->spec->env_len + rx->spec->args_len);
		check_spec(rx, msg, n);
		struct cit_error err = { 0 }; /* what the monitor checks next */
		int rc = cit_fn_spec_check(rx->spec, rx->env, rx->args, &err);
		CHECK(rc == 0 || (rc == -EINVAL && err.code == rc && err.msg[0]));
		break;
	}
	default: fail("a tail the table does not know", __LINE__);
	}

	switch (rx->hdr.type) {
	case CIT_MSG_INVOKE: TERMINATED(CIT_P(rx, cit_p_invoke)->name); break;
	case CIT_MSG_REMOVE:
	case CIT_MSG_RESTART: TERMINATED(CIT_P(rx, cit_p_name)->name); break;
	case CIT_MSG_LOGS: TERMINATED(CIT_P(rx, cit_p_logs)->name); break;
	case CIT_MSG_ERROR: TERMINATED(CIT_P(rx, cit_p_status)->text); break;
	case CIT_MSG_LOADED: TERMINATED(CIT_P(rx, cit_p_loaded)->text); break;
	case CIT_MSG_RESULT: TERMINATED(CIT_P(rx, cit_p_result)->text); break;
	case CIT_MSG_RMDIR: CHECK(cit_dir_name_ok(CIT_P(rx, cit_p_dir)->dir)); break;
	case CIT_MSG_HELLO: {
		const struct cit_p_hello *h = CIT_P(rx, cit_p_hello);
		TERMINATED(h->text);
		TERMINATED(h->dir);
		CHECK(h->code < 0 ? h->dir[0] == '\0' : cit_dir_name_ok(h->dir));
		break;
	}
	case CIT_MSG_LOG:
		CHECK(rx->data_len <= CIT_LOG_LINE_MAX && CIT_P(rx, cit_p_log)->level <= CIT_LOG_LEVEL_MAX);
		break;
	default: break;
	}
}

/* The n bytes in msg, with nfds fds beside them. */
static void fuzz_message(size_t n, size_t nfds)
{
	static int devnull = -1;
	if (devnull < 0)
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(devnull >= 0);

	POISON(msg + n, sizeof(msg) - n);

	struct cit_rx rx;
	memset(&rx, 0, sizeof(rx));
	rx.fds[0] = rx.fds[1] = -1;
	for (size_t i = 0; i < nfds; i++) {
		rx.fds[i] = fcntl(devnull, F_DUPFD_CLOEXEC, 0);
		CHECK(rx.fds[i] >= 0);
	}
	rx.nfds = nfds;
	const int given[2] = { rx.fds[0], rx.fds[1] };
	struct cit_error err = { 0 };

	int rc = cit_proto_parse(msg, n, &rx, &err);
	CHECK(rc == 1 || rc == -EPROTO);
	if (rc == 1) {
		check_accepted(&rx, n);
		for (size_t i = 0; i < 2; i++) {
			CHECK(rx.fds[i] == given[i]);
			CHECK(given[i] < 0 || is_open(given[i]));
		}
		cit_rx_close(&rx); /* the caller's, now */
	} else {
		CHECK(err.code == -EPROTO && memchr(err.msg, '\0', sizeof(err.msg)) && err.msg[0]);
		CHECK(rx.fds[0] == -1 && rx.fds[1] == -1);
	}
	/* Accepted or refused, every fd given is closed now, once: by the parser on refusal,
	 * by cit_rx_close otherwise (and neither may have closed /dev/null). */
	for (size_t i = 0; i < 2; i++)
		CHECK(given[i] < 0 || (!is_open(given[i]) && errno == EBADF));
	CHECK(is_open(devnull));

	UNPOISON(msg + n, sizeof(msg) - n);
}

/* The bytes as a spec stored in the state directory (the monitor reads at most one byte
 * less than its buffer). A spec in an earlier layout (V0 to V3) is moved into the
 * current one in place, which may use the bytes of the fields it adds; nothing past them
 * is read or written (V0 grows the most). */
static void fuzz_stored_spec(const uint8_t *bytes, size_t len)
{
	if (len > sizeof(stored) - 1)
		len = sizeof(stored) - 1;
	memcpy(stored, bytes, len);
	size_t grown = len + (sizeof(struct cit_fn_spec) - CIT_FN_SPEC_V0_SIZE);
	if (grown < sizeof(stored))
		POISON(stored + grown, sizeof(stored) - grown);

	struct cit_rx rx;
	struct cit_error err = { 0 };
	int rc = cit_fn_spec_parse(stored, len, sizeof(stored), &rx, &err);
	CHECK(rc == 0 || rc == -EPROTO || rc == -EINVAL);
	if (rc == 0) {
		CHECK(rx.spec == (struct cit_fn_spec *)stored);
		CHECK(rx.hdr.len == sizeof(struct cit_fn_spec) + rx.spec->env_len + rx.spec->args_len);
		/* As stored, or moved from one of the earlier layouts (V0 to V3). */
		CHECK(rx.hdr.len == len || rx.hdr.len == grown ||
		      rx.hdr.len == len + (sizeof(struct cit_fn_spec) - CIT_FN_SPEC_V1_SIZE) ||
		      rx.hdr.len == len + (sizeof(struct cit_fn_spec) - CIT_FN_SPEC_V2_SIZE) ||
		      rx.hdr.len == len + (sizeof(struct cit_fn_spec) - CIT_FN_SPEC_V3_SIZE));
		check_spec(&rx, stored, rx.hdr.len);
		CHECK(cit_fn_name_ok(rx.spec->name));
	} else {
		CHECK(err.code == rc && memchr(err.msg, '\0', sizeof(err.msg)) && err.msg[0]);
	}
	CHECK(rx.fds[0] == -1 && rx.fds[1] == -1);

	UNPOISON(stored, sizeof(stored));
}

/* Bits 2 and 3 of the input's first byte: the n bytes in msg made a datagram of the
 * length its header says (bit 2), after setting that from the payload's own length field,
 * its inline data's or its environment's (bit 3); zeros after the input's bytes. Large
 * messages (32 KiB inline, 8 KiB of environment) from small inputs, and lengths that
 * agree for the mutations to reach the checks behind them. Returns the datagram's size. */
static size_t shape(uint8_t how, size_t n)
{
	const size_t h = sizeof(struct cit_msg);
	if (!(how & 12) || n < h)
		return n;
	struct cit_msg hdr;
	memcpy(&hdr, msg, h);
	const struct cit_msg_rule *r = cit_msg_rule(hdr.type);
	if ((how & 8) && r && r->tail != CIT_TAIL_NONE && n >= h + r->size) {
		uint32_t tail;
		size_t at = r->tail == CIT_TAIL_DATA ? offsetof(struct cit_data, len)
						     : offsetof(struct cit_fn_spec, env_len);
		memcpy(&tail, msg + h + at, sizeof(tail));
		if (tail <= sizeof(msg) - h - r->size) {
			hdr.len = r->size + tail;
			memcpy(msg + offsetof(struct cit_msg, len), &hdr.len, sizeof(hdr.len));
		}
	}
	if (hdr.len > sizeof(msg) - h)
		return n;
	if (h + hdr.len > n)
		memset(msg + n, 0, h + hdr.len - n);
	return h + hdr.len;
}

/* The bytes after a STATE payload as a batch of the payload's n_ops operations (the
 * monitor's check of what a function sends), and as an answer's results and a scan's
 * names (what the runtime and the CLI read from the monitor): a batch accepted has exactly
 * its operations, each within the bytes; no reader goes past the end (the bytes are a
 * heap copy of their exact length, for ASan). */
static void fuzz_state(const uint8_t *bytes, size_t len, uint32_t n_ops)
{
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		return;
	memcpy(p, bytes, len);
	const char *why = NULL;
	int rc = cit_state_check(p, len, n_ops, &why);
	CHECK(rc == 0 || (rc == -EPROTO && why && why[0]));
	if (rc == 0) {
		size_t at = 0;
		uint32_t k = 0;
		struct cit_state_item it;
		while (cit_state_next(p, len, &at, &it)) {
			CHECK(it.op.klen <= 1024 && it.key >= p && it.value + it.op.vlen <= p + len);
			CHECK(it.op.kind >= CIT_STATE_GET && it.op.kind <= CIT_STATE_UNLOCK);
			CHECK(it.op.kind < CIT_STATE_LOCK || n_ops == 1);
			k++;
		}
		CHECK(k == n_ops && at == len);
	}
	size_t at = 0;
	struct cit_state_result r;
	const uint8_t *d;
	while ((rc = cit_state_next_result(p, len, &at, &r, &d)) == 1)
		CHECK(d + r.len <= p + len && at <= len);
	CHECK(rc == 0 || rc == -EPROTO);
	at = 0;
	struct cit_state_name nm;
	while ((rc = cit_state_next_name(p, len, &at, &nm, &d)) == 1)
		CHECK(d + nm.nlen <= p + len && at <= len);
	CHECK(rc == 0 || rc == -EPROTO);
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t nfds = (data[0] & 3) % 3;
	size_t n = size - 1 > sizeof(msg) ? sizeof(msg) : size - 1;
	memcpy(msg, data + 1, n);
	n = shape(data[0], n);
	const size_t h = sizeof(struct cit_msg);
	/* After the header (where a DEPLOY's spec is), so that the seeds reach it. */
	if (n >= h)
		fuzz_stored_spec(msg + h, n - h);
	if (n >= h + sizeof(struct cit_p_state)) {
		const struct cit_p_state *st = (const void *)(msg + h);
		fuzz_state(msg + h + sizeof(*st), n - h - sizeof(*st), st->n_ops);
	}
	fuzz_message(n, nfds);
	return 0;
}
