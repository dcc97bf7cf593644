/* The HTTP gateway's keeper (monitor side; the gateway itself is src/gateway/gateway.c).
 *
 * At start the monitor binds --listen itself (a port in use is a start-up error, said
 * plainly), then runs citadel-gateway in a sandbox of its own: its own user, network,
 * mount, pid and ipc namespaces, the host's system directories read-only, its own memory
 * and pids limits. HTTP never reaches the monitor's process: the gateway gets the
 * listening socket and a channel to the monitor (a socketpair), over which it is one
 * client, an invoker with the gateway's quota (GATEWAY_UID's: CIT_GATEWAY_SCALE times a
 * caller's), whose requests may be raised to admin one at a time by a token its caller
 * presented. When the gateway's sandbox ends, the monitor makes a new one a second later
 * (the local socket serves throughout).
 *
 * The callback sender, citadel-callback, is kept the same way whenever the gateway is: it
 * posts asynchronous calls' results to their callback URLs (async.c), from a sandbox of
 * its own with the host's network (the gateway has none) and only the addresses
 * --callback-allow permits, and it never talks back. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "monitor/monitor.h"
#include "sandbox/sandbox.h"

#define RESTART_NS 1000000000ull

/* A helper process the monitor keeps running in a sandbox of its own: the gateway, and
 * the callback sender. */
struct service {
	const char *name;         /* its program: citadel-NAME, beside citadel-zygote */
	bool net_host;            /* the host's network (the callback sender), else none */
	struct cit_sandbox sb;
	struct cit_ev sync_ev;
	bool running;
	struct cit_timer restart;
	int chan;                 /* the callback sender's channel (ours, send-only); the
				   * gateway's is a client's */
	int out;                  /* owned: its stdout and stderr, read into the log, or -1 */
	struct cit_ev out_ev;
	char line[512];           /* a line of it so far */
	size_t line_len;
	double tokens;            /* lines it may still log now (OUT_BURST, OUT_RATE a second) */
	uint64_t tokens_ns;
	uint64_t dropped;         /* lines past the rate, told with the next one logged */
};

/* What a service writes is logged as events of the monitor's (service_output), never
 * copied into the log as it is: a compromised gateway cannot forge the monitor's events,
 * nor reach the operator's terminal. */
#define OUT_BURST 100.0
#define OUT_RATE 20.0

static struct service gw = { .name = "gateway", .sb = { .pidfd = -1, .sync = -1 }, .chan = -1, .out = -1 };
static struct service cb = { .name = "callback", .net_host = true, .sb = { .pidfd = -1, .sync = -1 }, .chan = -1,
			     .out = -1 };

int cit_listen_addr(const char *spec, struct sockaddr_storage *out, socklen_t *out_len, struct cit_error *err)
{
	/* ADDR:PORT, or [ADDR6]:PORT. */
	char host[128];
	const char *colon = strrchr(spec, ':');
	unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : 0;
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host) || !colon[1] ||
	    colon[1 + strspn(colon + 1, "0123456789")] || port == 0 || port > 65535)
		return cit_error_say(err, -EINVAL, "--listen wants ADDR:PORT (127.0.0.1:8080, [::1]:8080) or none, not "
						   "'%s'", spec);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	size_t hl = strlen(host);
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return cit_error_say(err, -EINVAL, "--listen %s: '%s' is not an IPv6 address", spec, host + 1);
		len = sizeof(*in6);
	} else {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
			return cit_error_say(err, -EINVAL, "--listen %s: '%s' is not an IPv4 address (a name is not "
							   "looked up)", spec, host);
		len = sizeof(*in4);
	}
	*out = ss;
	*out_len = len;
	return 0;
}

int cit_gateway_listen(struct monitor *m, struct cit_error *err)
{
	const char *spec = m->opts->listen;
	m->http_fd = -1;
	if (!spec || !strcmp(spec, "none"))
		return 0;
	struct sockaddr_storage ss;
	socklen_t len;
	int rc = cit_listen_addr(spec, &ss, &len, err);
	if (rc < 0)
		return rc;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return cit_error_set(err, -errno, "--listen %s: socket", spec);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		if (e == EADDRINUSE)
			return cit_error_say(err, -e, "--listen %s: the port is in use (another server, or another "
						      "citadel serve?): choose another with --listen ADDR:PORT, or --listen "
						      "none", spec);
		return cit_error_set(err, -e, "--listen %s", spec);
	}
	m->http_fd = fd;
	m->http_loopback = ss.ss_family == AF_INET ? (ntohl(in4->sin_addr.s_addr) >> 24) == 127
						   : IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	return 0;
}

static void sync_event(struct monitor *m, struct cit_ev *ev, uint32_t events);

static void out_line(struct monitor *m, struct service *s)
{
	uint64_t now = cit_now_ns();
	s->tokens += (double)(now - s->tokens_ns) / 1e9 * OUT_RATE;
	s->tokens = s->tokens > OUT_BURST ? OUT_BURST : s->tokens;
	s->tokens_ns = now;
	if (s->tokens < 1) {
		s->dropped++;
	} else {
		s->tokens -= 1;
		cit_mlog(m, "info", "service_output", "service=%s dropped=%llu msg=\"%.*s\"", s->name,
			 (unsigned long long)s->dropped, (int)s->line_len, s->line);
		s->dropped = 0;
	}
	s->line_len = 0;
}

static void out_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	(void)events;
	struct service *s = container_of(ev, struct service, out_ev);
	char buf[4096];
	ssize_t n = read(s->out, buf, sizeof(buf));
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			epoll_ctl(m->ep, EPOLL_CTL_DEL, s->out, NULL);
			close(steal_fd(&s->out));
		}
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || s->line_len == sizeof(s->line)) {
			out_line(m, s);
			if (buf[i] == '\n')
				continue;
		}
		s->line[s->line_len++] = buf[i];
	}
}
static void start(struct monitor *m, struct service *s);

static void restart_timer(struct monitor *m, struct cit_timer *t)
{
	start(m, container_of(t, struct service, restart));
}

static void start_later(struct monitor *m, struct service *s)
{
	s->restart.fn = restart_timer;
	cit_timer_arm(&m->timers, &s->restart, cit_now_ns() + RESTART_NS);
}

/* Whether asynchronous calls' results are posted anywhere: to --callback-allow's blocks,
 * or by default to loopback, but only while the gateway listens on loopback (beyond it, a
 * default that reached this machine's own services from anywhere would be no default). */
static bool callbacks(const struct monitor *m)
{
	return m->opts->n_callback_allow || m->http_loopback;
}

/* The gateway's first message: the listening socket and the limits. */
static int gateway_begin(struct monitor *m, int chan, struct cit_error *err)
{
	struct client *c = cit_client_adopt(m, chan, CIT_GATEWAY_UID, CIT_ROLE_INVOKER);
	if (!c)
		return cit_error_set(err, -ENOMEM, "the gateway's channel");
	struct cit_p_gateway g = { .max_body = m->opts->max_body,
				   .max_connections = m->opts->http_connections,
				   .max_per_address = m->opts->http_per_address,
				   .idle_timeout_s = m->opts->http_idle_timeout_s,
				   .header_bytes = m->opts->http_header_bytes,
				   .flags = (m->http_loopback ? CIT_GATEWAY_LOOPBACK : 0) |
					    (callbacks(m) ? CIT_GATEWAY_CALLBACKS : 0) };
	int rc = cit_proto_send(c->fd, CIT_MSG_GATEWAY_START, 0, &g, sizeof(g), NULL, 0, &m->http_fd, 1);
	return rc < 0 ? cit_error_set(err, rc, "starting the gateway") : 0;
}

static void start(struct monitor *m, struct service *s)
{
	if (m->http_fd < 0 || s->running || m->stopping)
		return;
	struct cit_error err = { 0 };
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	cfg.cpu_ms = 0;
	cfg.cgroup_parent = m->cg_name;
	cfg.net_host = s->net_host;
	/* The gateway: its bodies' budget (src/gateway/gateway.c: twice --max-body, at least
	 * 256 MiB) and 256 MiB more. The callback sender: what its posts hold (the monitor
	 * keeps at most 64 MiB of results) and 64 MiB more. */
	uint64_t bodies = m->opts->max_body * 2 > (256ull << 20) ? m->opts->max_body * 2 : 256ull << 20;
	cfg.memory_bytes = s == &gw ? bodies + (256ull << 20) : 128ull << 20;
	cfg.pids = 64;
	/* The gateway holds a socket per connection: room for --max-connections and more. */
	cfg.nofile = s == &gw ? (uint64_t)m->opts->http_connections + 256 : 1024;
	char hostname[32], program[4200], inside[32];
	snprintf(hostname, sizeof(hostname), "citadel-%s", s->name);
	snprintf(inside, sizeof(inside), "/citadel/%s", s->name); /* its path in the sandbox */
	cfg.hostname = hostname;
	const char *slash = strrchr(m->opts->runtime_path, '/');
	snprintf(program, sizeof(program), "%.*s/citadel-%s", (int)(slash - m->opts->runtime_path),
		 m->opts->runtime_path, s->name);
	/* The callback sender's arguments: the networks it may post to. */
	char *argv[3 + ARRAY_SIZE(m->opts->callback_allow)] = { inside };
	size_t argc = 1;
	if (s == &cb) {
		static const char *const loopback[] = { "127.0.0.0/8", "::1/128" };
		size_t n = m->opts->n_callback_allow;
		for (size_t i = 0; i < (n ? n : 2); i++)
			argv[argc++] = (char *)(n ? m->opts->callback_allow[i] : loopback[i]);
	}
	argv[argc] = NULL;
	int sp[2] = { -1, -1 }, op[2] = { -1, -1 };
	char why[CIT_TEXT_MAX];
	int rc = cit_attest_program_ok(program, why);
	if (rc < 0)
		cit_error_say(&err, rc, "%s", why);
	if (rc == 0)
		rc = cit_sandbox_add_bind(&cfg, program, inside, CIT_BIND_RO, &err);
	if (rc == 0 && (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0 ||
			pipe2(op, O_CLOEXEC | O_NONBLOCK) < 0))
		rc = cit_error_set(&err, -errno, "the %s's channel", s->name);
	if (rc == 0) {
		const int stdio[3] = { sp[1], op[1], op[1] }; /* its messages: events of our log (out_event) */
		rc = cit_sandbox_spawn(&cfg, argv, stdio, &s->sb, &err);
	}
	if (sp[1] >= 0)
		close(sp[1]);
	if (op[1] >= 0)
		close(op[1]);
	if (rc == 0) {
		s->out = steal_fd(&op[0]);
		s->out_ev = (struct cit_ev){ out_event };
		s->tokens = OUT_BURST;
		s->tokens_ns = cit_now_ns();
		s->line_len = 0;
		if (cit_ep_add(m, s->out, &s->out_ev) < 0)
			close(steal_fd(&s->out));
	}
	if (op[0] >= 0)
		close(op[0]);
	if (rc == 0) {
		fcntl(sp[0], F_SETFL, O_NONBLOCK);
		s->sync_ev = (struct cit_ev){ sync_event };
		if (cit_ep_add(m, s->sb.sync, &s->sync_ev) < 0)
			rc = cit_error_set(&err, -ENOMEM, "the %s's sandbox", s->name);
	}
	if (rc == 0 && s == &gw)
		rc = gateway_begin(m, steal_fd(&sp[0]), &err);
	if (rc == 0 && s == &cb) {
		/* Posts queue in its socket: room for many before one is dropped. */
		int size = 4 << 20;
		setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		s->chan = steal_fd(&sp[0]);
	}
	if (sp[0] >= 0)
		close(sp[0]);
	if (rc < 0) {
		cit_mlog(m, "error", "service_failed", "service=%s msg=\"%s\"", s->name, err.msg);
		if (s->sb.pid) {
			epoll_ctl(m->ep, EPOLL_CTL_DEL, s->sb.sync, NULL);
			cit_sandbox_release(&s->sb);
		}
		return start_later(m, s);
	}
	s->running = true;
	if (s == &gw)
		cit_mlog(m, "info", "gateway_started", "listen=%s pid=%d", m->opts->listen, (int)s->sb.pid);
	else
		cit_mlog(m, "info", "service_started", "service=%s pid=%d", s->name, (int)s->sb.pid);
}

void cit_gateway_start(struct monitor *m)
{
	start(m, &gw);
	if (callbacks(m))
		start(m, &cb);
}

static void stop(struct monitor *m, struct service *s)
{
	if (s->out >= 0) {
		/* Its last words first (why it ended, often). */
		out_event(m, &s->out_ev, EPOLLIN);
		if (s->line_len)
			out_line(m, s);
		if (s->out >= 0) {
			epoll_ctl(m->ep, EPOLL_CTL_DEL, s->out, NULL);
			close(steal_fd(&s->out));
		}
	}
	if (s->running) {
		epoll_ctl(m->ep, EPOLL_CTL_DEL, s->sb.sync, NULL);
		cit_sandbox_release(&s->sb);
		s->running = false;
	}
	if (s->chan >= 0)
		close(steal_fd(&s->chan));
}

/* A service's sandbox ended (its init reports only that): a new one in a second. The
 * gateway's channel's hang-up closes its client, failing what it had in flight. */
static void sync_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	(void)events;
	struct service *s = container_of(ev, struct service, sync_ev);
	stop(m, s);
	if (m->stopping)
		return;
	cit_mlog(m, "warn", s == &gw ? "gateway_exited" : "service_exited",
		 "service=%s msg=\"its sandbox ended (its last words, if any, are the service_output above); started "
		 "again in 1 s\"",
		 s->name);
	start_later(m, s);
}

void cit_gateway_stop(struct monitor *m)
{
	for (struct service *s = &gw; s; s = s == &gw ? &cb : NULL) {
		cit_timer_cancel(&m->timers, &s->restart);
		stop(m, s);
	}
	if (m->http_fd >= 0)
		close(steal_fd(&m->http_fd));
}

int cit_callback_send(struct monitor *m, const struct cit_p_callback *p, const void *data, size_t len, int fd,
		      uint64_t obj_len)
{
	(void)m;
	if (!cb.running || cb.chan < 0)
		return -ENOTCONN;
	struct cit_p_callback msg = *p;
	if (fd >= 0) {
		msg.data = (struct cit_data){ .obj_len = obj_len };
		return cit_proto_send(cb.chan, CIT_MSG_CALLBACK, 0, &msg, sizeof(msg), NULL, 0, &fd, 1);
	}
	msg.data = (struct cit_data){ .len = (uint32_t)len };
	return cit_proto_send(cb.chan, CIT_MSG_CALLBACK, 0, &msg, sizeof(msg), data, len, NULL, 0);
}
