/* The monitor's event loop, its local API socket and its callers (monitor.h). What happens
 * to functions, zygotes and trustlets is in function.c. */
#include "monitor/monitor.h"

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/parse.h"
#include "common/util.h"
#include "monitor/worker.h"

uint64_t cit_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One event per line on stderr: logfmt (ts=... level=... event=... k=v ...) or JSON. The
 * fields come as logfmt text; for JSON each k=v becomes "k":"v". Values never hold
 * spaces or quotes (names are checked; texts are logged last, as msg=, quoted). */
void cit_mlog(struct monitor *m, const char *level, const char *event, const char *fmt, ...)
{
	char fields[1024] = "", ts[40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fields, sizeof(fields), fmt, ap);
	va_end(ap);
	/* Texts can come from a function (a failed init's message): one event stays one line,
	 * and a quote inside msg="..." cannot end it early. */
	char *msg = strstr(fields, "msg=\"");
	for (char *p = fields; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
		else if (*p == '"' && msg && p > msg + 4 && p[1] != '\0')
			*p = '\'';
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%06ldZ", now.tv_nsec / 1000);
	if (!m->opts->json_log) {
		fprintf(stderr, "ts=%s level=%s event=%s%s%s\n", ts, level, event, *fields ? " " : "", fields);
		return;
	}
	fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"", ts, level, event);
	for (char *save = NULL, *kv = strtok_r(fields, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (!strcmp(kv, "msg")) { /* the rest of the line, quoted in logfmt */
			char *rest = eq + 1;
			if (save && *save)
				rest[strlen(rest)] = ' ';
			size_t l = strlen(rest);
			if (l >= 2 && rest[0] == '"' && rest[l - 1] == '"') {
				rest[l - 1] = '\0';
				rest++;
			}
			fprintf(stderr, ",\"msg\":\"");
			for (const char *p = rest; *p; p++)
				fprintf(stderr, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
			fprintf(stderr, "\"");
			break;
		}
		fprintf(stderr, ",\"%s\":\"%s\"", kv, eq + 1);
	}
	fprintf(stderr, "}\n");
}

int cit_ep_add(struct monitor *m, int fd, struct cit_ev *ev)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = ev };
	return epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

void cit_reply_error(struct monitor *m, struct client *c, uint64_t id, int code, const char *fmt, ...)
{
	(void)m;
	if (!c)
		return;
	struct cit_p_status st = { .code = code < 0 ? code : -EIO };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st.text, sizeof(st.text), fmt, ap);
	va_end(ap);
	cit_proto_send(c->fd, CIT_MSG_ERROR, id, &st, sizeof(st), NULL, 0, NULL, 0);
}

int cit_reply_ok(struct monitor *m, struct client *c, uint64_t id)
{
	(void)m;
	struct cit_p_ok ok = { 0 };
	return c ? cit_proto_send(c->fd, CIT_MSG_OK, id, &ok, sizeof(ok), NULL, 0, NULL, 0) : 0;
}

/* ---- callers --------------------------------------------------------------------- */

/* The quota record of uid, made (scale from the options, else 1) when it has none.
 * Returns NULL when out of memory. */
static struct peer_quota *quota_of(struct monitor *m, uid_t uid)
{
	for (struct peer_quota *q = m->quotas; q; q = q->next)
		if (q->uid == uid)
			return q;
	struct peer_quota *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->uid = uid;
	q->scale = uid == CIT_GATEWAY_UID ? CIT_GATEWAY_SCALE : 1;
	for (size_t i = 0; i < m->opts->n_peer_quota; i++)
		if (m->opts->peer_quota[i].uid == uid)
			q->scale = m->opts->peer_quota[i].scale;
	q->next = m->quotas;
	m->quotas = q;
	return q;
}

void cit_client_count(struct client *c, int calls, int64_t bytes)
{
	c->calls = (uint32_t)((int64_t)c->calls + calls);
	c->queued_bytes = (uint64_t)((int64_t)c->queued_bytes + bytes);
	c->quota->calls = (uint32_t)((int64_t)c->quota->calls + calls);
	c->quota->queued_bytes = (uint64_t)((int64_t)c->quota->queued_bytes + bytes);
}

int cit_client_may_queue(const struct client *c, uint64_t len, const char **why)
{
	const struct peer_quota *q = c->quota;
	if (q->calls >= (uint64_t)PEER_CALLS_MAX * q->scale)
		return *why = "this caller (its uid, all its connections) has its most calls in flight", -EBUSY;
	if (q->queued_bytes + len > (uint64_t)PEER_QUEUED_MAX * q->scale)
		return *why = "too many request bytes of this caller (its uid) wait in queues: send large requests "
			      "as data objects, or fewer at once", -EBUSY;
	return 0;
}

struct client *cit_client_find(struct monitor *m, uint64_t serial)
{
	for (struct client *c = m->clients; c; c = c->next)
		if (c->serial == serial)
			return c;
	return NULL;
}

void cit_client_unfollow(struct monitor *m, struct client *c, const char *why)
{
	if (!c->follow[0])
		return;
	if (why)
		cit_reply_error(m, c, c->follow_id, -ENOENT, "%s", why);
	c->follow[0] = '\0';
	free(steal_ptr(&c->follow_pending));
	c->follow_pending_len = 0;
	c->follow_waiting = false;
	m->n_following--;
}

static void client_close(struct monitor *m, struct client *c)
{
	cit_client_unfollow(m, c, NULL);
	cit_fn_client_gone(m, c);
	/* What it still had in flight no longer counts against its uid (the results go
	 * nowhere). */
	c->quota->calls -= c->calls;
	c->quota->queued_bytes -= c->queued_bytes;
	c->quota->connections--;
	epoll_ctl(m->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	m->n_clients--;
	m->object_bytes_unread -= c->object_bytes_unread;
	free(c->meta);
	free(c);
}

/* Bytes the client has not read of what we sent it (SIOCOUTQ), or 0. */
static int unread(int fd)
{
	int n = 0;
	return ioctl(fd, SIOCOUTQ, &n) == 0 ? n : 0;
}

/* Whether c has read every reply we sent; if so its count of unread objects starts over. */
static bool drained(struct monitor *m, struct client *c)
{
	if (c->replies_pending || (c->objects_unread && unread(c->fd) > 0))
		return false;
	m->object_bytes_unread -= c->object_bytes_unread;
	c->object_bytes_unread = 0;
	c->objects_unread = 0;
	return true;
}

/* Whether more of c's requests may be read: not while it leaves too many replies with
 * data objects unread, nor too much of what we sent (CLIENT_OUTQ_MAX bytes: past its
 * socket's buffer a reply could not be sent, and the monitor never waits for a client).
 * The byte count is read once per batch of requests (its socket's buffer holds twice
 * CLIENT_OUTQ_MAX, room for the replies to a batch), not once per request. */
static bool may_read(struct monitor *m, struct client *c, bool outq)
{
	if (c->objects_unread + c->replies_pending >= CLIENT_OBJECTS_UNREAD && !drained(m, c))
		return false;
	return !outq || unread(c->fd) <= (int)CLIENT_OUTQ_MAX;
}

void cit_client_object_sent(struct monitor *m, struct client *c, uint64_t own_bytes)
{
	if (!c->objects_unread++)
		c->unread_since_ns = cit_now_ns();
	c->object_bytes_unread += own_bytes;
	m->object_bytes_unread += own_bytes;
}

int cit_reply_data(struct monitor *m, struct client *c, uint64_t id, uint64_t count, const void *data, size_t len)
{
	if (len > CIT_INLINE_MAX && m->object_bytes_unread + len > MON_OBJECT_BYTES_UNREAD)
		return -EBUSY;
	struct cit_p_ok ok = { .count = count };
	int rc = cit_proto_send_data(c->fd, CIT_MSG_OK, id, &ok, sizeof(ok), data, len);
	if (rc == 0 && len > CIT_INLINE_MAX)
		cit_client_object_sent(m, c, len);
	return rc;
}

/* Stops or starts reading c's requests (while its replies wait unread). While paused we
 * wait edge-triggered for EPOLLOUT: the kernel wakes a unix socket's writer each time its
 * peer reads a message, so each read looks again, and nothing spins meanwhile. */
static void client_pause(struct monitor *m, struct client *c, bool pause)
{
	struct epoll_event e = { .events = pause ? EPOLLOUT | EPOLLET : EPOLLIN, .data.ptr = &c->peer.ev };
	if (c->paused != pause && epoll_ctl(m->ep, EPOLL_CTL_MOD, c->fd, &e) == 0) {
		c->paused = pause;
		if (pause)
			c->unread_since_ns = cit_now_ns();
	}
}

static void client_event(struct monitor *m, struct cit_ev *ev, uint32_t events);

/* A client's role, on the kernel's word (SO_PEERCRED, SO_PEERGROUPS): root and the
 * monitor's own user are admins; members of the monitor's group (serve --group) are
 * invokers, by their primary or a supplementary group; anyone else is nobody. */
static enum cit_role role_of(struct monitor *m, int fd, const struct ucred *cred)
{
	if (cred->uid == 0 || cred->uid == geteuid())
		return CIT_ROLE_ADMIN;
	if (!m->group_name[0])
		return CIT_ROLE_NONE;
	if (cred->gid == m->gid)
		return CIT_ROLE_INVOKER;
	gid_t groups[64];
	gid_t *g = groups;
	socklen_t len = sizeof(groups);
	int rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	if (rc < 0 && errno == ERANGE && (g = malloc(len)))
		rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	enum cit_role role = CIT_ROLE_NONE;
	for (size_t i = 0; rc == 0 && g && i < len / sizeof(gid_t); i++)
		if (g[i] == m->gid)
			role = CIT_ROLE_INVOKER;
	if (g != groups)
		free(g);
	return role;
}

/* c (its quota set) serves fd from now on, in the epoll set and the client list. On
 * failure fd is closed and c freed; returns 0 or -1. */
static int client_add(struct monitor *m, struct client *c, int fd, uid_t uid, enum cit_role role)
{
	c->fd = fd;
	c->token_grant = -1;
	c->uid = uid;
	c->serial = ++m->client_serial;
	/* Room for a reply to each of the calls a connection may have at once: a client
	 * may send that many requests before it reads a reply (CLIENT_OUTQ_MAX). */
	int sndbuf = (int)CLIENT_OUTQ_MAX;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	c->peer = (struct cit_peer){ { client_event }, CIT_FROM_CLIENT, (uint8_t)role };
	if (cit_ep_add(m, fd, &c->peer.ev) < 0) {
		close(fd);
		free(c);
		return -1;
	}
	c->quota->connections++;
	c->next = m->clients;
	if (m->clients)
		m->clients->prev = c;
	m->clients = c;
	m->n_clients++;
	return 0;
}

static void accept_clients(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	(void)ev;
	(void)events;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && errno == EMFILE && m->reserve_fd >= 0) {
			/* Out of fds: the one held in reserve makes room to take the connection and
			 * tell it so, rather than leave it waiting in the backlog. */
			close(steal_fd(&m->reserve_fd));
			fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0) {
				cit_proto_send_status(fd, CIT_MSG_ERROR, 0, -EMFILE,
						      "the monitor is out of file descriptors: try again later");
				close(fd);
			}
			m->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			cit_mlog(m, "error", "client_refused", "msg=\"out of file descriptors\"");
			continue;
		}
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* Out of fds, and none in reserve: stop listening for a moment rather than
			 * spin on a connection we cannot take (cit_fn_tick listens again). */
			cit_mlog(m, "error", "accept_failed", "msg=\"out of file descriptors\"");
			epoll_ctl(m->ep, EPOLL_CTL_DEL, m->listen_fd, NULL);
			m->listen_paused_ns = cit_now_ns();
			return;
		}
		if (fd < 0)
			return;
		/* Connections take at most an eighth of our fds (max_clients): the rest are the
		 * sandboxes' and their instances'. One more is told so and closed. */
		if (m->n_clients >= m->max_clients) {
			cit_proto_send_status(fd, CIT_MSG_ERROR, 0, -EUSERS,
					      "the monitor has %u connections, its most: try again later", m->n_clients);
			close(fd);
			continue;
		}
		struct ucred cred = { .uid = (uid_t)-1 };
		socklen_t len = sizeof(cred);
		struct client *c = calloc(1, sizeof(*c));
		if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			free(c);
			close(fd);
			continue;
		}
		/* Connections of one uid together take at most its quota of them. */
		c->quota = quota_of(m, cred.uid);
		if (!c->quota || c->quota->connections >= (uint64_t)PEER_CONNECTIONS_MAX * c->quota->scale) {
			if (c->quota)
				cit_proto_send_status(fd, CIT_MSG_ERROR, 0, -EUSERS,
						      "uid %d has %u connections, its most: close some, or try again "
						      "later", (int)cred.uid, c->quota->connections);
			close(fd);
			free(c);
			continue;
		}
		enum cit_role role = role_of(m, fd, &cred);
		if (role == CIT_ROLE_NONE) {
			cit_proto_send_status(fd, CIT_MSG_ERROR, 0, -EACCES,
					      "permission denied: uid %d is not a member of the monitor's group%s%s",
					      (int)cred.uid, m->group_name[0] ? " " : "", m->group_name);
			cit_mlog(m, "warn", "client_refused", "uid=%d msg=\"not in the group\"", (int)cred.uid);
			close(fd);
			free(c);
			continue;
		}
		if (client_add(m, c, fd, cred.uid, role) < 0)
			continue;
		c->first_deadline_ns = cit_now_ns() + CLIENT_FIRST_MESSAGE_S * 1000000000ull;
	}
}

struct client *cit_client_adopt(struct monitor *m, int fd, uid_t uid, enum cit_role role)
{
	struct client *c = calloc(1, sizeof(*c));
	if (c && !(c->quota = quota_of(m, uid))) {
		free(c);
		c = NULL;
	}
	if (!c || client_add(m, c, fd, uid, role) < 0) {
		if (!c)
			close(fd);
		return NULL;
	}
	return c;
}

/* One caller's messages. A caller that breaks the protocol is told why and dropped; one
 * that does not read its replies is not read either. */
static void client_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	struct client *c = container_of(ev, struct client, peer.ev);
	if (c->paused && may_read(m, c, true))
		client_pause(m, c, false);
	for (int i = 0; i < 16 && !c->paused; i++) {
		if (!may_read(m, c, i == 0)) {
			client_pause(m, c, true);
			break;
		}
		struct cit_rx rx;
		struct cit_error err = { 0 };
		int rc = cit_proto_recv(c->fd, m->buf, &rx, &err);
		if (rc == -EAGAIN)
			break;
		if (rc <= 0) {
			if (rc < 0)
				cit_reply_error(m, c, 0, -EPROTO, "%s", err.msg);
			client_close(m, c);
			return;
		}
		c->first_deadline_ns = 0;
		c->last_request_ns = cit_now_ns();
		rc = cit_dispatch(m, &c->peer, &rx);
		cit_rx_close(&rx);
		if (rc == -EPROTO) {
			cit_reply_error(m, c, rx.hdr.id, -EPROTO, "malformed request");
			client_close(m, c);
			return;
		}
	}
	if (events & (EPOLLHUP | EPOLLERR))
		client_close(m, c);
}

/* Once a second: connections that never said anything, or that leave their replies
 * unread, go; paused ones are looked at again. */
void cit_clients_tick(struct monitor *m, uint64_t now)
{
	for (struct client *c = m->clients, *next; c; c = next) {
		next = c->next;
		if (c->first_deadline_ns && now > c->first_deadline_ns) {
			cit_mlog(m, "warn", "client_dropped", "uid=%d msg=\"no request within %d s\"", (int)c->uid,
				 CLIENT_FIRST_MESSAGE_S);
			client_close(m, c);
		} else if (c->paused && !may_read(m, c, true) && now - c->unread_since_ns > CLIENT_UNREAD_S * 1000000000ull) {
			cit_mlog(m, "warn", "client_dropped", "uid=%d msg=\"replies unread for %d s\"", (int)c->uid,
				 CLIENT_UNREAD_S);
			client_close(m, c);
		} else if (!c->calls && !c->queued_bytes && !c->objects_unread && !c->follow[0] && c->last_request_ns &&
			   c->uid != CIT_GATEWAY_UID && now - c->last_request_ns > m->opts->idle_timeout_ms * 1000000ull) {
			/* Nothing asked for a while (serve --idle-timeout), nothing owed to it: an idle
			 * connection goes, as HTTP servers end idle keep-alive connections. Not the
			 * gateway's channel: it is idle when HTTP is, and it carries every caller's. */
			client_close(m, c);
		} else if (c->paused && may_read(m, c, true)) {
			client_pause(m, c, false);
			client_event(m, &c->peer.ev, 0);
		}
	}
}

/* ---- setup ----------------------------------------------------------------------- */

static int make_dirs(const char *path, struct cit_error *err)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return cit_error_set(err, -errno, "creating %s", p);
		*s = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return cit_error_set(err, -errno, "creating %s", p);
	return 0;
}

static int listen_on(struct monitor *m, const char *path, struct cit_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return cit_error_set(err, -ENAMETOOLONG, "socket path %s", path);
	char dir[sizeof(sa.sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	/* With a group the socket's directory is opened to it, but only a directory that is
	 * the monitor's own: made now, or one a monitor made before (root's, 0700 or 0710).
	 * Any other (/tmp, /run, a user's) keeps its owner and mode. */
	bool own_dir = false;
	if (slash && slash != dir) {
		*slash = '\0';
		struct stat ds;
		own_dir = lstat(dir, &ds) < 0 ? errno == ENOENT
					       : S_ISDIR(ds.st_mode) && ds.st_uid == 0 &&
							 ((ds.st_mode & 07777) == 0700 || (ds.st_mode & 07777) == 0710);
		int rc = make_dirs(dir, err);
		if (rc < 0)
			return rc;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return cit_error_set(err, -errno, "socket");
	/* A live monitor takes the connection, or (its backlog full) makes it wait; only a
	 * socket file that nobody listens on (ECONNREFUSED) is a dead one's, to replace. */
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0 || errno == EAGAIN) {
		close(fd);
		return cit_error_say(err, -EADDRINUSE, "another monitor is serving on %s", path);
	}
	if (errno != ECONNREFUSED && errno != ENOENT) {
		rc = -errno;
		close(fd);
		return cit_error_set(err, rc, "cannot tell whether a monitor serves on %s", path);
	}
	/* Only a socket is replaced: a file of any other kind at the path is someone's. */
	struct stat ps;
	if (lstat(path, &ps) == 0 && !S_ISSOCK(ps.st_mode)) {
		close(fd);
		return cit_error_say(err, -EEXIST, "%s exists and is not a socket: not replacing it (choose another "
						   "--socket)", path);
	}
	unlink(path);
	mode_t old = umask(0077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	/* With a group, its members reach the socket: its directory is searchable (not
	 * listable) by the group, the socket theirs to connect to. What else is in that
	 * directory keeps its own modes (the id counter 0600, the warm pools 0700). */
	if (rc == 0 && m->group_name[0] &&
	    ((own_dir && (chown(dir, 0, m->gid) < 0 || chmod(dir, 0710) < 0)) || chown(path, 0, m->gid) < 0 ||
	     chmod(path, 0660) < 0))
		rc = -1;
	if (rc == 0 && m->group_name[0] && !own_dir)
		cit_mlog(m, "warn", "socket_dir", "dir=%s msg=\"not the monitor's own: its owner and mode are left as "
			 "they are, so the group may not reach the socket\"", dir);
	struct stat st;
	if (rc < 0 || listen(fd, 512) < 0 || stat(path, &st) < 0) {
		rc = -errno;
		close(fd);
		return cit_error_set(err, rc, "listening on %s", path);
	}
	m->listen_dev = st.st_dev;
	m->listen_ino = st.st_ino;
	m->listen_fd = fd;
	m->listen_ev = (struct cit_ev){ accept_clients };
	return cit_ep_add(m, fd, &m->listen_ev);
}

/* One monitor per state directory: a second one would serve (and remove) the first's
 * functions. The lock is held for the monitor's life; the file says who holds it. */
static int lock_state_dir(struct monitor *m, struct cit_error *err)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/monitor.lock", m->opts->state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return cit_error_set(err, -errno, "opening %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK)
			return cit_error_set(err, -EBUSY, "another monitor (pid %s) serves the state directory %s",
					     pid[0] ? pid : "?", m->opts->state_dir);
		return cit_error_set(err, -e, "locking %s", path);
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		int e = errno;
		close(fd);
		return cit_error_set(err, -e, "writing %s", path);
	}
	m->lock_fd = fd;
	return 0;
}

static void on_signal(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	(void)ev;
	(void)events;
	struct signalfd_siginfo si;
	while (read(m->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
			cit_mlog(m, "info", "stopping", "signal=%s", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
			m->stopping = true;
		}
}

/* The gid of group: a number, or a name in /etc/group (read directly: the monitor is a
 * static program, and NSS modules are shared libraries; a group known only to a directory
 * service is given by number). Returns 0, or -ENOENT. */
static int find_group(const char *group, gid_t *gid)
{
	uint64_t n;
	if (cit_parse_u64(group, 0, UINT32_MAX - 1, &n) == 0) {
		*gid = (gid_t)n;
		return 0;
	}
	FILE *f = fopen("/etc/group", "re");
	if (!f)
		return -ENOENT;
	int rc = -ENOENT;
	for (struct group *g; rc < 0 && (g = fgetgrent(f));)
		if (!strcmp(g->gr_name, group)) {
			*gid = g->gr_gid;
			rc = 0;
		}
	fclose(f);
	return rc;
}

static int setup(struct monitor *m, struct cit_error *err)
{
	/* One fd per trustlet (its channel): tens of thousands of them need room. As
	 * root the hard limit can be raised too; if not, the soft one goes as far as it may. */
	struct rlimit rl = { .rlim_cur = 1u << 18, .rlim_max = 1u << 18 };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	m->max_clients = m->opts->max_clients;
	/* The invokers' group: the one named, or "citadel" when it exists; none (the socket
	 * root-only) when "none" is named or the default does not exist. */
	const char *group = m->opts->group ? m->opts->group : CIT_MON_GROUP;
	if (strcmp(group, "none")) {
		int grc = find_group(group, &m->gid);
		if (grc == 0)
			snprintf(m->group_name, sizeof(m->group_name), "%s", group);
		else if (m->opts->group && group[strspn(group, "0123456789")] == '\0')
			return cit_error_say(err, grc, "--group %s: not a gid (a number below 4294967295), nor a group's "
						       "name", group);
		else if (m->opts->group)
			return cit_error_say(err, grc, "--group %s: no such group in /etc/group (groupadd %s, a numeric "
						       "gid, or --group none for a root-only socket)", group, group);
	}
	if (m->max_clients > rl.rlim_cur / 8)
		m->max_clients = (uint32_t)(rl.rlim_cur / 8);
	int rc = make_dirs(m->opts->state_dir, err);
	if (rc < 0 || (rc = lock_state_dir(m, err)) < 0)
		return rc;
	/* Every sandbox beneath one cgroup of ours: the processes and threads of all of them
	 * together stay within max_pids, whatever each function's own limit. */
	snprintf(m->cg_name, sizeof(m->cg_name), "citadel-%d", (int)getpid());
	if ((rc = cit_cgroup_parent_create(&m->cg, m->cg_name, m->opts->max_pids, err)) < 0)
		return rc;
	char fdir[4096];
	snprintf(fdir, sizeof(fdir), "%s/functions", m->opts->state_dir);
	if (mkdir(fdir, 0700) < 0 && errno != EEXIST)
		return cit_error_set(err, -errno, "creating %s", fdir);
	if ((m->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return cit_error_set(err, -errno, "epoll_create1");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* Not SIGCHLD: our children are sandbox inits, each watched through its sync socket
	 * and reaped by cit_sandbox_release() (function.c). */
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((m->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		return cit_error_set(err, -errno, "signalfd");
	m->sig_ev = (struct cit_ev){ on_signal };
	if ((rc = cit_ep_add(m, m->sig_fd, &m->sig_ev)) < 0)
		return cit_error_set(err, rc, "epoll");
	if (access(m->opts->runtime_path, X_OK) < 0)
		return cit_error_set(err, -errno, "the native runtime %s", m->opts->runtime_path);
	if ((rc = cit_worker_start(m, err)) < 0 || (rc = listen_on(m, m->opts->socket_path, err)) < 0)
		return rc;
	return 0;
}


int cit_monitor_run(const struct cit_monitor_opts *opts, struct cit_error *err)
{
	struct monitor m = { .opts = opts, .ep = -1, .listen_fd = -1, .sig_fd = -1, .lock_fd = -1, .http_fd = -1,
			     .reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC) };
	static _Alignas(16) char buf[CIT_MSG_MAX];
	m.buf = buf;
	int rc = setup(&m, err);
	/* First: its programs' files are noted before any of them starts (attest.c). */
	if (rc == 0)
		rc = cit_attest_start(&m, err);
	if (rc == 0)
		rc = cit_tokens_load(&m, err);
	if (rc == 0)
		rc = cit_gateway_listen(&m, err);
	if (rc == 0)
		rc = cit_fn_load_all(&m, err);
	if (rc == 0)
		rc = cit_chains_load(&m, err);
	if (rc == 0)
		rc = cit_state_start(&m, err);
	if (rc < 0)
		goto out;
	cit_zygote_spare(&m, cit_runtime_known("native")); /* the others' on first use */
	cit_gateway_start(&m);
	cit_mlog(&m, "info", "serving", "socket=%s state_dir=%s pid=%d", opts->socket_path, opts->state_dir,
		 (int)getpid());
	struct epoll_event evs[64];
	while (!m.stopping) {
		int n = epoll_wait(m.ep, evs, 64, cit_fn_next_deadline_ms(&m));
		if (n < 0 && errno != EINTR) {
			rc = cit_error_set(err, -errno, "epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct cit_ev *ev = evs[i].data.ptr;
			ev->fn(&m, ev, evs[i].events);
			/* An object closed by this batch may have pending events below: function.c
			 * frees nothing until the batch is done (see cit_fn_tick). */
		}
		cit_fn_tick(&m);
		cit_async_expire(&m, cit_now_ns());
	}
out:
	m.stopping = true;
	cit_state_stop(&m);
	cit_attest_stop(&m);
	cit_worker_stop(&m);
	cit_gateway_stop(&m);
	cit_fn_stop_all(&m);
	cit_chains_free_all(&m);
	cit_async_free_all();
	cit_timer_free(&m.timers);
	while (m.clients)
		client_close(&m, m.clients);
	while (m.quotas) {
		struct peer_quota *q = m.quotas;
		m.quotas = q->next;
		free(q);
	}
	if (m.listen_fd >= 0) {
		/* The socket file goes only if it is still ours. */
		struct stat st;
		if (stat(opts->socket_path, &st) == 0 && st.st_dev == m.listen_dev && st.st_ino == m.listen_ino)
			unlink(opts->socket_path);
		close(m.listen_fd);
	}
	if (m.sig_fd >= 0)
		close(m.sig_fd);
	if (m.ep >= 0)
		close(m.ep);
	cit_cgroup_destroy(&m.cg);
	if (m.lock_fd >= 0)
		close(m.lock_fd);
	if (m.reserve_fd >= 0)
		close(m.reserve_fd);
	if (rc == 0)
		cit_mlog(&m, "info", "stopped", "%s", "");
	return rc;
}
