/* The monitor's wire protocol (proto.h): sending, receiving and checking messages. Linked
 * into the monitor, the CLI and the runtime, so that every side checks the same way. */
#include "monitor/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"

enum payload_kind { P_NONE, P_BODY, P_SPEC };

struct rule {
	uint8_t kind;
	uint8_t min_fds, max_fds;
	bool object;      /* a fd here is a data object (with obj_len) */
};

/* What each type may carry; a type not listed is refused. */
static const struct rule rules[] = {
	[CIT_MSG_DEPLOY] = { P_SPEC, 1, 1, false },
	[CIT_MSG_INVOKE] = { P_BODY, 0, 1, true },
	[CIT_MSG_LIST] = { P_BODY, 0, 0, false },
	[CIT_MSG_REMOVE] = { P_BODY, 0, 0, false },
	[CIT_MSG_LOGS] = { P_BODY, 0, 0, false },
	[CIT_MSG_OK] = { P_BODY, 0, 1, true },
	[CIT_MSG_ERROR] = { P_BODY, 0, 0, false },
	[CIT_MSG_ZYGOTE_READY] = { P_BODY, 0, 0, false },
	[CIT_MSG_LOAD] = { P_SPEC, 1, 1, false },
	[CIT_MSG_LOADED] = { P_BODY, 0, 0, false },
	[CIT_MSG_SPAWN] = { P_BODY, 1, 1, false },
	[CIT_MSG_EXITED] = { P_BODY, 0, 0, false },
	[CIT_MSG_HELLO] = { P_BODY, 0, 0, false },
	[CIT_MSG_CALL] = { P_BODY, 0, 1, true },
	[CIT_MSG_RESULT] = { P_BODY, 0, 1, true },
};

void cit_rx_close(struct cit_rx *rx)
{
	for (size_t i = 0; i < ARRAY_SIZE(rx->fds); i++)
		if (rx->fds[i] >= 0)
			close(steal_fd(&rx->fds[i]));
}

static int refuse(struct cit_rx *rx, struct cit_error *err, const char *why)
{
	cit_rx_close(rx);
	return cit_error_set(err, -EPROTO, "malformed message: %s", why);
}

/* Splits n_env NUL-terminated strings out of env_len bytes; every one must end inside. */
static int parse_env(struct cit_rx *rx, const char *p, uint32_t len, uint32_t n)
{
	size_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		const char *end = off < len ? memchr(p + off, '\0', len - off) : NULL;
		if (!end)
			return -EPROTO;
		rx->env[i] = p + off;
		off = (size_t)(end - p) + 1;
	}
	rx->env[n] = NULL;
	return off == len ? 0 : -EPROTO;
}

static int check_payload(struct cit_rx *rx, uint8_t *payload, const struct rule *r, struct cit_error *err)
{
	uint32_t len = rx->hdr.len;
	if (r->kind == P_BODY) {
		if (len < sizeof(struct cit_body))
			return refuse(rx, err, "short body");
		struct cit_body *b = (struct cit_body *)payload;
		if (b->data_len > CIT_INLINE_MAX || len != sizeof(*b) + b->data_len)
			return refuse(rx, err, "inline data length does not match");
		if (r->object && rx->nfds && b->data_len)
			return refuse(rx, err, "both inline data and a data object");
		if (!rx->nfds && b->obj_len)
			return refuse(rx, err, "data object length without a data object");
		b->name[CIT_NAME_MAX - 1] = '\0';
		b->text[CIT_TEXT_MAX - 1] = '\0';
		rx->body = b;
		rx->data = payload + sizeof(*b);
		return 0;
	}
	if (len < sizeof(struct cit_fn_spec))
		return refuse(rx, err, "short function spec");
	struct cit_fn_spec *s = (struct cit_fn_spec *)payload;
	if (s->env_len > CIT_ENV_BYTES || s->n_env > CIT_ENV_MAX || len != sizeof(*s) + s->env_len ||
	    parse_env(rx, (const char *)payload + sizeof(*s), s->env_len, s->n_env) < 0)
		return refuse(rx, err, "bad environment in function spec");
	s->name[CIT_NAME_MAX - 1] = '\0';
	s->runtime[sizeof(s->runtime) - 1] = '\0';
	rx->spec = s;
	return 0;
}

int cit_proto_recv(int sock, void *buf, struct cit_rx *rx, struct cit_error *err)
{
	memset(rx, 0, sizeof(*rx));
	rx->fds[0] = rx->fds[1] = -1;
	struct iovec iov = { .iov_base = buf, .iov_len = CIT_MSG_MAX };
	union {
		char b[CMSG_SPACE(sizeof(int) * CIT_MAX_PASSED_FDS) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	ssize_t n;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : cit_error_set(err, -errno, "receiving a message");
	bool too_many = false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (rx->nfds < ARRAY_SIZE(rx->fds))
					rx->fds[rx->nfds++] = fd;
				else {
					close(fd);
					too_many = true;
				}
			}
		} else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred uc;
			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			rx->has_cred = true;
			rx->pid = uc.pid;
			rx->uid = uc.uid;
		}
	}
	if (n == 0 && rx->nfds == 0)
		return 0;
	if (too_many || (mh.msg_flags & MSG_CTRUNC))
		return refuse(rx, err, "too many file descriptors");
	if (mh.msg_flags & MSG_TRUNC)
		return refuse(rx, err, "longer than any message");
	if ((size_t)n < sizeof(struct cit_msg))
		return refuse(rx, err, "shorter than a header");
	memcpy(&rx->hdr, buf, sizeof(rx->hdr));
	const struct cit_msg *h = &rx->hdr;
	if (h->magic != CIT_PROTO_MAGIC)
		return refuse(rx, err, "bad magic");
	if (h->version != CIT_PROTO_VERSION)
		return refuse(rx, err, "unsupported protocol version");
	if ((size_t)n != sizeof(*h) + h->len)
		return refuse(rx, err, "length does not match");
	if (h->nfds != rx->nfds)
		return refuse(rx, err, "fd count does not match");
	const struct rule *r = h->type < ARRAY_SIZE(rules) ? &rules[h->type] : NULL;
	if (!r || r->kind == P_NONE)
		return refuse(rx, err, "unknown type");
	if (rx->nfds < r->min_fds || rx->nfds > r->max_fds)
		return refuse(rx, err, "wrong number of file descriptors for its type");
	int rc = check_payload(rx, (uint8_t *)buf + sizeof(*h), r, err);
	return rc < 0 ? rc : 1;
}

int cit_proto_send(int sock, uint16_t type, uint64_t id, const void *payload, size_t plen,
		   const void *tail, size_t tlen, const int *fds, size_t nfds)
{
	struct cit_msg h = { .magic = CIT_PROTO_MAGIC, .version = CIT_PROTO_VERSION, .type = type,
			     .len = (uint32_t)(plen + tlen), .nfds = (uint32_t)nfds, .id = id };
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)payload, plen }, { (void *)tail, tlen } };
	union {
		char b[CMSG_SPACE(sizeof(int) * CIT_MAX_PASSED_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = tlen ? 3 : 2 };
	if (nfds > CIT_MAX_PASSED_FDS || sizeof(h) + plen + tlen > CIT_MSG_MAX)
		return -EMSGSIZE;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(h) + plen + tlen ? 0 : -EIO;
}

/* Waits until sock is ready for events (POLLIN or POLLOUT); EINTR is just another try. */
static void wait_for(int sock, short events)
{
	struct pollfd p = { .fd = sock, .events = events };
	poll(&p, 1, -1);
}

int cit_proto_recv_wait(int sock, void *buf, struct cit_rx *rx, struct cit_error *err)
{
	int rc;
	while ((rc = cit_proto_recv(sock, buf, rx, err)) == -EAGAIN)
		wait_for(sock, POLLIN);
	return rc;
}

int cit_proto_send_wait(int sock, uint16_t type, uint64_t id, const void *payload, size_t plen, const void *tail,
			size_t tlen, const int *fds, size_t nfds)
{
	int rc;
	while ((rc = cit_proto_send(sock, type, id, payload, plen, tail, tlen, fds, nfds)) == -EAGAIN)
		wait_for(sock, POLLOUT);
	return rc;
}

int cit_object_create(const void *data, size_t len)
{
	int fd = memfd_create("citadel-object", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int rc = cit_write_all(fd, data, len);
	if (rc == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int cit_object_check(int fd, uint64_t len, uint64_t max)
{
	const int need = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & need) != need)
		return -EPERM;
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != len)
		return -EPROTO;
	return len > max ? -EMSGSIZE : 0;
}

int cit_proto_send_data(int sock, uint16_t type, uint64_t id, struct cit_body *body, const void *data,
			size_t len)
{
	if (len <= CIT_INLINE_MAX) {
		body->data_len = (uint32_t)len;
		body->obj_len = 0;
		return cit_proto_send(sock, type, id, body, sizeof(*body), data, len, NULL, 0);
	}
	int fd = cit_object_create(data, len);
	if (fd < 0)
		return fd;
	body->data_len = 0;
	body->obj_len = len;
	int rc = cit_proto_send(sock, type, id, body, sizeof(*body), NULL, 0, &fd, 1);
	close(fd);
	return rc;
}

bool cit_fn_name_ok(const char *name)
{
	size_t n = strnlen(name, CIT_NAME_MAX);
	if (n == 0 || n >= CIT_NAME_MAX || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int cit_fn_spec_check(const struct cit_fn_spec *s, const char *const *env, struct cit_error *err)
{
	if (!cit_fn_name_ok(s->name))
		return cit_error_set(err, -EINVAL, "function name '%.63s' is not valid: use 1 to 63 of a-z, 0-9, "
						   "'-' and '_', starting with a letter or digit", s->name);
	if (strcmp(s->runtime, "native"))
		return cit_error_set(err, -EINVAL, "runtime '%.15s' is not supported (only native)", s->runtime);
	if (s->memory_bytes < CIT_FN_MIN_MEMORY || s->memory_bytes > CIT_FN_MAX_MEMORY)
		return cit_error_set(err, -EINVAL, "--memory must be between 4M and 64G");
	if (s->timeout_ms < 1 || s->timeout_ms > CIT_FN_MAX_TIMEOUT_MS)
		return cit_error_set(err, -EINVAL, "--timeout must be between 1ms and 1h");
	if (s->output_bytes < 1 || s->output_bytes > CIT_FN_MAX_OUTPUT)
		return cit_error_set(err, -EINVAL, "--output-limit must be between 1 byte and 1G");
	if (s->max_instances < 1 || s->max_instances > CIT_FN_MAX_INSTANCES)
		return cit_error_set(err, -EINVAL, "--max-instances must be between 1 and %d", CIT_FN_MAX_INSTANCES);
	if (s->min_instances > s->max_instances)
		return cit_error_set(err, -EINVAL, "--min-instances must not exceed --max-instances");
	if (s->flags & ~CIT_FN_FLAGS_ALL)
		return cit_error_set(err, -EINVAL, "unknown flags in function spec");
	for (size_t i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');
		if (!eq || eq == env[i])
			return cit_error_set(err, -EINVAL, "environment entry '%.64s' is not K=V", env[i]);
	}
	return 0;
}

int cit_fn_spec_parse(void *buf, size_t len, struct cit_rx *rx, struct cit_error *err)
{
	memset(rx, 0, sizeof(*rx));
	rx->fds[0] = rx->fds[1] = -1;
	if (len > UINT32_MAX)
		return cit_error_set(err, -EPROTO, "function spec too long");
	rx->hdr.len = (uint32_t)len;
	static const struct rule spec_rule = { P_SPEC, 0, 0, false };
	int rc = check_payload(rx, buf, &spec_rule, err);
	if (rc < 0)
		return rc;
	return cit_fn_spec_check(rx->spec, rx->env, err);
}
