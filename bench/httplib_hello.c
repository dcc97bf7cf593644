/* The two HTTP libraries the gateway could be built on, each answering "Hello, World!\n"
 * to every request itself, for bench/http_bench.py to put under the same wrk load as the
 * gateway: what each library costs on this machine, apart from Citadel.
 *
 *   httplib_hello mhd PORT   libmicrohttpd as the gateway runs it: one internal epoll
 *                            thread, suspend and resume allowed (answered at once here)
 *   httplib_hello h2o PORT   libh2o's own event loop (evloop), one thread, HTTP/1.1
 *
 * Serves 127.0.0.1:PORT until killed. Built only where libh2o-evloop is installed
 * (scripts/deps.sh bench). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <microhttpd.h>

static const char hello[] = "Hello, World!\n";

static enum MHD_Result mhd_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				   const char *version, const char *upload, size_t *upload_size, void **ptr)
{
	(void)cls, (void)url, (void)method, (void)version, (void)upload;
	if (!*ptr) {
		*ptr = c; /* the headers: the body (if any) comes next */
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	struct MHD_Response *r =
		MHD_create_response_from_buffer(sizeof(hello) - 1, (void *)hello, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
	enum MHD_Result ok = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ok;
}

static int listener(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0) {
		perror("httplib_hello: listen");
		exit(1);
	}
	return fd;
}

static int serve_mhd(int port)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME,
						0, NULL, NULL, mhd_request, NULL, MHD_OPTION_LISTEN_SOCKET, listener(port),
						MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
						MHD_OPTION_END);
	if (!d)
		return 1;
	pause();
	return 0;
}

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;

static int h2o_request(h2o_handler_t *self, h2o_req_t *req)
{
	(void)self;
	static h2o_generator_t generator = { NULL, NULL };
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("text/plain"));
	h2o_start_response(req, &generator);
	h2o_iovec_t body = h2o_iovec_init(hello, sizeof(hello) - 1);
	h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
	return 0;
}

static void on_accept(h2o_socket_t *listener_sock, const char *err)
{
	if (err)
		return;
	h2o_socket_t *sock = h2o_evloop_socket_accept(listener_sock);
	if (sock)
		h2o_accept(&accept_ctx, sock);
}

static int serve_h2o(int port)
{
	h2o_config_init(&config);
	h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
	h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
	handler->on_req = h2o_request;
	h2o_context_init(&ctx, h2o_evloop_create(), &config);
	accept_ctx.ctx = &ctx;
	accept_ctx.hosts = config.hosts;
	h2o_socket_t *sock = h2o_evloop_socket_create(ctx.loop, listener(port), H2O_SOCKET_FLAG_DONT_READ);
	h2o_socket_read_start(sock, on_accept);
	while (h2o_evloop_run(ctx.loop, INT32_MAX) == 0)
		;
	return 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "mhd"))
		return serve_mhd(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "h2o"))
		return serve_h2o(atoi(argv[2]));
	fprintf(stderr, "usage: httplib_hello mhd|h2o PORT\n");
	return 2;
}
