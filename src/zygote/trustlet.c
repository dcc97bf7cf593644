/* A trustlet: a copy-on-write fork of the template that serves one call at a time.
 *
 * Before any of the function's code runs again it is confined further than the template:
 *   1. it drops the template's channel and keeps only its own (from SPAWN);
 *   2. its random state is reseeded (a fork copies libc's generators; siblings must not
 *      produce the same numbers);
 *   3. it is not dumpable: no sibling of the same uid may open its /proc/PID/mem, environ
 *      or fds, nor ptrace it;
 *   4. it gets a private directory, /tmp/i<pid>, as cwd and $TMPDIR;
 *   5. its own landlock layer: read-only view, writes only beneath its own directory,
 *      signals and abstract sockets scoped to itself (siblings are out of reach);
 *   6. a further seccomp layer: threads yes, new processes and exec no.
 * Any failure ends it before it says HELLO; the monitor sees the channel close. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/landlock.h"
#include "sandbox/seccomp.h"
#include "zygote/runtime.h"

static void reseed(void)
{
	uint64_t seed[2] = { 0 };
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		_exit(1);
	srandom((unsigned)seed[0]);
	srand((unsigned)(seed[0] >> 32));
	unsigned short s48[3];
	memcpy(s48, &seed[1], sizeof(s48));
	seed48(s48);
}

static void confine(struct cit_runtime *rt)
{
	struct cit_error err = { 0 };
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) < 0)
		_exit(1);
	close(devnull);
	reseed();
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(1);
	char dir[32];
	snprintf(dir, sizeof(dir), "/tmp/i%d", getpid());
	if (mkdir(dir, 0700) < 0 || chdir(dir) < 0 || setenv("TMPDIR", dir, 1) < 0)
		_exit(1);
	_cleanup_close_ int own = open(dir, O_PATH | O_CLOEXEC | O_DIRECTORY);
	if (own < 0 || cit_landlock_confine(rt->ro, rt->n_ro, rt->dev, own, &err) < 0) {
		fprintf(stderr, "citadel: trustlet: %s\n", err.msg);
		_exit(1);
	}
	for (size_t i = 0; i < rt->n_ro; i++)
		close(rt->ro[i]);
	close(rt->dev);
	if (cit_seccomp_install(&cit_seccomp_trustlet, &err) < 0) {
		fprintf(stderr, "citadel: trustlet: %s\n", err.msg);
		_exit(1);
	}
}

/* The request's bytes: inline in the message, or a data object mapped read-only. */
static int map_request(struct cit_rx *rx, const void **data, size_t *len, void **map)
{
	*map = NULL;
	if (!rx->nfds) {
		*data = rx->body->data_len ? rx->data : NULL;
		*len = rx->body->data_len;
		return 0;
	}
	uint64_t n = rx->body->obj_len;
	if (cit_object_check(rx->fds[0], n, SIZE_MAX) < 0)
		return -EPROTO;
	if (n == 0) {
		*data = NULL;
		*len = 0;
		return 0;
	}
	void *m = mmap(NULL, n, PROT_READ, MAP_SHARED, rx->fds[0], 0);
	if (m == MAP_FAILED)
		return -errno;
	*map = m;
	*data = m;
	*len = n;
	return 0;
}

static void call(struct cit_runtime *rt, int chan, struct cit_rx *rx, uint64_t seq)
{
	struct cit_response resp = { .limit = rt->output_bytes };
	struct cit_request req = { .function = rt->name, .invocation = seq };
	void *map;
	struct cit_body out = { 0 };
	int rc = map_request(rx, &req.data, &req.len, &map);
	if (rc == 0)
		rc = rt->handler(&req, &resp);
	if (map)
		munmap(map, req.len);
	if (resp.overflow) {
		out.code = -EFBIG;
		snprintf(out.text, sizeof(out.text), "the response exceeds the output limit of %zu bytes", resp.limit);
	} else if (rc < 0 || resp.code) {
		out.code = resp.code ? resp.code : rc;
		snprintf(out.text, sizeof(out.text), "%s", resp.text[0] ? resp.text : strerror(-out.code));
	}
	if (out.code)
		rc = cit_proto_send(chan, CIT_MSG_RESULT, rx->hdr.id, &out, sizeof(out), NULL, 0, NULL, 0);
	else
		rc = cit_proto_send_data(chan, CIT_MSG_RESULT, rx->hdr.id, &out, resp.buf, resp.len);
	free(resp.buf);
	if (rc < 0) {
		fprintf(stderr, "citadel: trustlet %d: sending the result: %s\n", getpid(), strerror(-rc));
		_exit(1);
	}
}

_Noreturn void cit_trustlet_main(struct cit_runtime *rt, int chan)
{
	confine(rt);
	struct cit_body hello = { .aux = (uint64_t)getpid() };
	if (cit_proto_send(chan, CIT_MSG_HELLO, 0, &hello, sizeof(hello), NULL, 0, NULL, 0) < 0)
		_exit(1);
	for (uint64_t seq = 1;; seq++) {
		struct cit_rx rx;
		struct cit_error err = { 0 };
		int rc = cit_proto_recv_wait(chan, rt->buf, &rx, &err);
		if (rc < 0)
			fprintf(stderr, "citadel: trustlet %d: %s\n", getpid(), err.msg);
		if (rc <= 0)
			_exit(0); /* the monitor let us go, or broke the protocol */
		if (rx.hdr.type == CIT_MSG_CALL)
			call(rt, chan, &rx, seq);
		cit_rx_close(&rx);
	}
}
