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
 * (the local socket serves throughout). */
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

#define GATEWAY_PATH "/citadel/gateway"
#define GATEWAY_RESTART_NS 1000000000ull

struct gateway {
	struct cit_sandbox sb;
	struct cit_ev sync_ev;
	bool running;
	struct cit_timer restart;
	uint64_t starts;
};

static struct gateway gw = { .sb = { .pidfd = -1, .sync = -1 } };

int cit_gateway_listen(struct monitor *m, struct cit_error *err)
{
	const char *spec = m->opts->listen;
	m->http_fd = -1;
	if (!spec || !strcmp(spec, "none"))
		return 0;
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

static void gateway_sync_event(struct monitor *m, struct cit_ev *ev, uint32_t events);

static void restart_timer(struct monitor *m, struct cit_timer *t)
{
	(void)t;
	cit_gateway_start(m);
}

void cit_gateway_start(struct monitor *m)
{
	if (m->http_fd < 0 || gw.running || m->stopping)
		return;
	struct cit_error err = { 0 };
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	cfg.cpu_ms = 0;
	cfg.cgroup_parent = m->cg_name;
	/* Its bodies' budget (src/gateway/gateway.c: twice --max-body, at least 256 MiB) and
	 * 256 MiB more. */
	uint64_t bodies = m->opts->max_body * 2 > (256ull << 20) ? m->opts->max_body * 2 : 256ull << 20;
	cfg.memory_bytes = bodies + (256ull << 20);
	cfg.pids = 64;
	cfg.hostname = "citadel-gateway";
	char program[4200];
	const char *slash = strrchr(m->opts->runtime_path, '/');
	snprintf(program, sizeof(program), "%.*s/citadel-gateway", (int)(slash - m->opts->runtime_path),
		 m->opts->runtime_path);
	char *argv[] = { (char *)GATEWAY_PATH, NULL };
	int sp[2] = { -1, -1 };
	int rc = cit_sandbox_add_bind(&cfg, program, GATEWAY_PATH, CIT_BIND_RO, &err);
	if (rc == 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		rc = cit_error_set(&err, -errno, "the gateway's channel");
	if (rc == 0) {
		const int stdio[3] = { sp[1], 2, 2 }; /* its messages go to our log, stderr */
		rc = cit_sandbox_spawn(&cfg, argv, stdio, &gw.sb, &err);
	}
	if (sp[1] >= 0)
		close(sp[1]);
	struct client *c = NULL;
	if (rc == 0) {
		fcntl(sp[0], F_SETFL, O_NONBLOCK);
		c = cit_client_adopt(m, steal_fd(&sp[0]), CIT_GATEWAY_UID, CIT_ROLE_INVOKER);
		gw.sync_ev = (struct cit_ev){ gateway_sync_event };
		if (!c || cit_ep_add(m, gw.sb.sync, &gw.sync_ev) < 0)
			rc = cit_error_set(&err, -ENOMEM, "the gateway's channel");
	}
	if (rc == 0) {
		struct cit_p_gateway g = { .max_body = m->opts->max_body,
					   .max_connections = m->opts->http_connections,
					   .max_per_address = m->opts->http_per_address,
					   .idle_timeout_s = m->opts->http_idle_timeout_s,
					   .header_bytes = m->opts->http_header_bytes,
					   .flags = m->http_loopback ? CIT_GATEWAY_LOOPBACK : 0 };
		rc = cit_proto_send(c->fd, CIT_MSG_GATEWAY_START, 0, &g, sizeof(g), NULL, 0, &m->http_fd, 1);
		if (rc < 0)
			cit_error_set(&err, rc, "starting the gateway");
	}
	if (sp[0] >= 0)
		close(sp[0]);
	gw.starts++;
	if (rc < 0) {
		cit_mlog(m, "error", "gateway_failed", "msg=\"%s\"", err.msg);
		if (gw.sb.pid)
			cit_sandbox_release(&gw.sb);
		gw.restart.fn = restart_timer;
		cit_timer_arm(&m->timers, &gw.restart, cit_now_ns() + GATEWAY_RESTART_NS);
		return;
	}
	gw.running = true;
	cit_mlog(m, "info", "gateway_started", "listen=%s pid=%d", m->opts->listen, (int)gw.sb.pid);
}

/* The gateway's sandbox ended (its init reports only that): a new one in a second. Its
 * channel's hang-up closes its client, failing what it had in flight. */
static void gateway_sync_event(struct monitor *m, struct cit_ev *ev, uint32_t events)
{
	(void)ev;
	(void)events;
	epoll_ctl(m->ep, EPOLL_CTL_DEL, gw.sb.sync, NULL);
	cit_sandbox_release(&gw.sb);
	gw.running = false;
	if (m->stopping)
		return;
	cit_mlog(m, "warn", "gateway_exited", "msg=\"started again in 1 s\"");
	gw.restart.fn = restart_timer;
	cit_timer_arm(&m->timers, &gw.restart, cit_now_ns() + GATEWAY_RESTART_NS);
}

void cit_gateway_stop(struct monitor *m)
{
	cit_timer_cancel(&m->timers, &gw.restart);
	if (gw.running) {
		epoll_ctl(m->ep, EPOLL_CTL_DEL, gw.sb.sync, NULL);
		cit_sandbox_release(&gw.sb);
		gw.running = false;
	}
	if (m->http_fd >= 0)
		close(steal_fd(&m->http_fd));
}
