/* The monitor's event loop, its local API socket and its callers (monitor.h). What happens
 * to functions, zygotes and trustlets is in function.c. */
#include "monitor/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

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
	struct cit_body b = { .code = code < 0 ? code : -EIO };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b.text, sizeof(b.text), fmt, ap);
	va_end(ap);
	cit_proto_send(c->fd, CIT_MSG_ERROR, id, &b, sizeof(b), NULL, 0, NULL, 0);
}

/* ---- callers --------------------------------------------------------------------- */

static void client_close(struct monitor *m, struct client *c)
{
	cit_fn_client_gone(m, c);
	epoll_ctl(m->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

static void accept_clients(struct monitor *m)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* Out of fds: stop listening for a moment rather than spin on a connection we
			 * cannot take (cit_fn_tick listens again). */
			cit_mlog(m, "error", "accept_failed", "msg=\"out of file descriptors\"");
			epoll_ctl(m->ep, EPOLL_CTL_DEL, m->listen_fd, NULL);
			m->listen_paused_ns = cit_now_ns();
			return;
		}
		if (fd < 0)
			return;
		struct client *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->ev = (struct cit_ev){ EV_CLIENT, c };
		if (cit_ep_add(m, fd, &c->ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = m->clients;
		if (m->clients)
			m->clients->prev = c;
		m->clients = c;
	}
}

/* One caller's messages. A caller that breaks the protocol is told why and dropped. */
static void client_event(struct monitor *m, struct client *c, uint32_t events)
{
	for (int i = 0; i < 16; i++) {
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
		const char *name = rx.body ? rx.body->name : "";
		switch (rx.hdr.type) {
		case CIT_MSG_DEPLOY: cit_fn_deploy(m, c, &rx); break;
		case CIT_MSG_INVOKE: cit_fn_invoke(m, c, &rx); break;
		case CIT_MSG_LIST: cit_fn_list(m, c, rx.hdr.id); break;
		case CIT_MSG_REMOVE: cit_fn_remove(m, c, rx.hdr.id, name); break;
		case CIT_MSG_LOGS: cit_fn_logs(m, c, rx.hdr.id, name); break;
		default:
			cit_reply_error(m, c, rx.hdr.id, -EPROTO, "message type %u is not a request", rx.hdr.type);
			break;
		}
		cit_rx_close(&rx);
	}
	if (events & (EPOLLHUP | EPOLLERR))
		client_close(m, c);
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
	if (slash && slash != dir) {
		*slash = '\0';
		int rc = make_dirs(dir, err);
		if (rc < 0)
			return rc;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return cit_error_set(err, -errno, "socket");
	/* A live monitor answers on the socket; only a dead one's socket file is replaced. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return cit_error_set(err, -EADDRINUSE, "another monitor is serving on %s", path);
	}
	unlink(path);
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 512) < 0) {
		rc = -errno;
		close(fd);
		return cit_error_set(err, rc, "listening on %s", path);
	}
	m->listen_fd = fd;
	m->listen_ev = (struct cit_ev){ EV_LISTEN, NULL };
	return cit_ep_add(m, fd, &m->listen_ev);
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
	int rc = make_dirs(m->opts->state_dir, err);
	if (rc < 0)
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
	m->sig_ev = (struct cit_ev){ EV_SIGNAL, NULL };
	if ((rc = cit_ep_add(m, m->sig_fd, &m->sig_ev)) < 0)
		return cit_error_set(err, rc, "epoll");
	if (access(m->opts->runtime_path, X_OK) < 0)
		return cit_error_set(err, -errno, "the native runtime %s", m->opts->runtime_path);
	if ((rc = listen_on(m, m->opts->socket_path, err)) < 0)
		return rc;
	return 0;
}

static void on_signal(struct monitor *m)
{
	struct signalfd_siginfo si;
	while (read(m->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
			cit_mlog(m, "info", "stopping", "signal=%s", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
			m->stopping = true;
		}
}

int cit_monitor_run(const struct cit_monitor_opts *opts, struct cit_error *err)
{
	struct monitor m = { .opts = opts, .ep = -1, .listen_fd = -1, .sig_fd = -1 };
	static _Alignas(16) char buf[CIT_MSG_MAX];
	m.buf = buf;
	int rc = setup(&m, err);
	if (rc == 0)
		rc = cit_fn_load_all(&m, err);
	if (rc < 0)
		goto out;
	cit_zygote_spare(&m);
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
			switch (ev->kind) {
			case EV_LISTEN: accept_clients(&m); break;
			case EV_SIGNAL: on_signal(&m); break;
			case EV_CLIENT: client_event(&m, ev->obj, evs[i].events); break;
			case EV_TRUSTLET: cit_fn_trustlet_event(&m, ev->obj, evs[i].events); break;
			case EV_ZYGOTE:
			case EV_SYNC:
			case EV_LOG: cit_fn_zygote_event(&m, ev, evs[i].events); break;
			default: break;
			}
			/* An object closed by this batch may have pending events below: function.c
			 * frees nothing until the batch is done (see cit_fn_tick). */
		}
		cit_fn_tick(&m);
	}
out:
	cit_fn_stop_all(&m);
	while (m.clients)
		client_close(&m, m.clients);
	if (m.listen_fd >= 0) {
		close(m.listen_fd);
		unlink(opts->socket_path);
	}
	if (m.sig_fd >= 0)
		close(m.sig_fd);
	if (m.ep >= 0)
		close(m.ep);
	if (rc == 0)
		cit_mlog(&m, "info", "stopped", "%s", "");
	return rc;
}
