/* citadel-callback: posts asynchronous calls' outcomes to their callback URLs
 * (X-Callback-Url; docs/http-api.md).
 *
 * citadeld starts it in a sandbox of its own (its own user, no capabilities, the host's
 * system directories read-only) that shares the host's network, which the gateway's does
 * not: fd 0 is a channel on which the monitor sends CALLBACK messages, and nothing is
 * sent back. Its arguments are the address blocks (CIDR) a post may reach. Each post is
 * made with libcurl: POST to the URL with the output as its body (or the error's text),
 * X-Call-Id, X-Function-Name and X-Function-Status headers (OpenFaaS's), redirects never
 * followed, no proxy, http and https only, 10 s at most, and every address it would
 * connect to (after name resolution, so a name that resolves elsewhere is caught) checked
 * against the blocks: outside them, no connection is made. At most POSTS_MAX posts are in
 * flight; past that a post is dropped, and said so on stderr (the monitor's log).
 *
 * Exit status: 0 when its channel closes (the monitor is gone or stopped it), 1 when it
 * could not start, 2 on a bad argument. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "proto/proto.h"

#define CHAN 0
#define POSTS_MAX 64
#define POST_TIMEOUT_MS 10000L
#define BLOCKS_MAX 16

/* An address block: the address's first bits bits. IPv4 is kept as IPv4-mapped IPv6. */
struct block {
	uint8_t addr[16];
	unsigned bits;
};

static struct block blocks[BLOCKS_MAX];
static size_t n_blocks;

/* One post in flight. */
struct post {
	CURL *easy;
	struct curl_slist *headers;
	char *body;               /* owned copy, or a mapping of the data object */
	size_t len;
	bool mapped;
	char url[CIT_META_URL_MAX + 8];
	char call_id[CIT_CALL_ID_LEN + 1];
	bool refused;             /* its address was outside the blocks */
};

static int n_posts;

/* addr (16 bytes, IPv4 mapped) in one of the blocks? */
static bool allowed(const uint8_t addr[16])
{
	for (size_t i = 0; i < n_blocks; i++) {
		unsigned bits = blocks[i].bits, whole = bits / 8, rest = bits % 8;
		if (memcmp(addr, blocks[i].addr, whole))
			continue;
		if (rest && ((addr[whole] ^ blocks[i].addr[whole]) & (uint8_t)(0xff00 >> rest)))
			continue;
		return true;
	}
	return false;
}

static int parse_block(const char *arg, struct block *b)
{
	char host[64];
	const char *slash = strchr(arg, '/');
	if (!slash || (size_t)(slash - arg) >= sizeof(host))
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)(slash - arg), arg);
	char *end;
	unsigned long bits = strtoul(slash + 1, &end, 10);
	memset(b->addr, 0, 16);
	if (strchr(host, ':')) {
		if (inet_pton(AF_INET6, host, b->addr) != 1 || *end || bits > 128 || !slash[1])
			return -1;
		b->bits = (unsigned)bits;
	} else {
		b->addr[10] = b->addr[11] = 0xff;
		if (inet_pton(AF_INET, host, b->addr + 12) != 1 || *end || bits > 32 || !slash[1])
			return -1;
		b->bits = 96 + (unsigned)bits;
	}
	return 0;
}

/* libcurl's socket for an address it resolved: made only for an address in the blocks. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct post *p = clientp;
	(void)purpose;
	uint8_t addr[16] = { 0 };
	if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6)) {
		memcpy(addr, &((const struct sockaddr_in6 *)&a->addr)->sin6_addr, 16);
	} else if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in)) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &((const struct sockaddr_in *)&a->addr)->sin_addr, 4);
	} else {
		p->refused = true;
		return CURL_SOCKET_BAD;
	}
	if (!allowed(addr)) {
		p->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t discard(char *ptr, size_t size, size_t n, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * n;
}

static void post_free(struct post *p)
{
	curl_easy_cleanup(p->easy);
	curl_slist_free_all(p->headers);
	if (p->mapped)
		munmap(p->body, p->len);
	else
		free(p->body);
	free(p);
	n_posts--;
}

/* A CALLBACK message: its post started, or dropped (said why). */
static void start_post(CURLM *multi, struct cit_rx *rx)
{
	const struct cit_p_callback *cb = CIT_P(rx, cit_p_callback);
	if (n_posts >= POSTS_MAX) {
		fprintf(stderr, "citadel-callback: %d posts in flight already: the outcome of call %s is not posted\n",
			POSTS_MAX, cb->call_id);
		return;
	}
	struct post *p = calloc(1, sizeof(*p));
	if (!p)
		return;
	n_posts++;
	snprintf(p->url, sizeof(p->url), "%s", cb->url);
	snprintf(p->call_id, sizeof(p->call_id), "%s", cb->call_id);
	const void *data;
	void *map = NULL;
	if (cit_rx_data(rx, &data, &p->len, &map) < 0) {
		fprintf(stderr, "citadel-callback: the outcome of call %s is unreadable\n", cb->call_id);
		free(p);
		n_posts--;
		return;
	}
	if (map) {
		p->body = map;
		p->mapped = true;
	} else if ((p->body = malloc(p->len ? p->len : 1))) {
		memcpy(p->body, data, p->len);
	}
	char h[CIT_CTYPE_MAX + 64];
	snprintf(h, sizeof(h), "X-Call-Id: %s", cb->call_id);
	p->headers = curl_slist_append(p->headers, h);
	snprintf(h, sizeof(h), "X-Function-Name: %s", cb->function);
	p->headers = curl_slist_append(p->headers, h);
	unsigned status = cb->http_status ? cb->http_status : cb->code < 0 ? 500u : 200u; /* a failure's 4xx, or 500 */
	snprintf(h, sizeof(h), "X-Function-Status: %u", status);
	p->headers = curl_slist_append(p->headers, h);
	snprintf(h, sizeof(h), "Content-Type: %s",
		 cb->code < 0 ? "text/plain; charset=utf-8" : cb->content_type[0] ? cb->content_type
										 : "application/octet-stream");
	p->headers = curl_slist_append(p->headers, h);
	p->headers = curl_slist_append(p->headers, "Expect:"); /* no 100-continue round trip */
	CURL *e = p->easy = curl_easy_init();
	if (!p->body || !p->headers || !e) {
		fprintf(stderr, "citadel-callback: out of memory: the outcome of call %s is not posted\n", cb->call_id);
		post_free(p);
		return;
	}
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, POST_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "citadel-callback");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, p);
	curl_easy_setopt(e, CURLOPT_PRIVATE, p);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	if (curl_multi_add_handle(multi, e) != CURLM_OK) {
		fprintf(stderr, "citadel-callback: the post for call %s did not start\n", cb->call_id);
		post_free(p);
	}
}

/* Posts that ended: said on stderr when they failed. */
static void finish_posts(CURLM *multi)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct post *p;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
		long status = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		if (p->refused)
			fprintf(stderr, "citadel-callback: call %s: %s: its address is not one --callback-allow permits: "
					"not posted\n", p->call_id, p->url);
		else if (msg->data.result != CURLE_OK)
			fprintf(stderr, "citadel-callback: call %s: %s: %s\n", p->call_id, p->url,
				curl_easy_strerror(msg->data.result));
		else if (status >= 300)
			fprintf(stderr, "citadel-callback: call %s: %s answered %ld (not followed)\n", p->call_id, p->url,
				status);
		curl_multi_remove_handle(multi, msg->easy_handle);
		post_free(p);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || (size_t)argc - 1 > BLOCKS_MAX) {
		fputs("usage: citadel-callback CIDR... (started by citadeld: fd 0 is its channel from the monitor)\n",
		      stderr);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (parse_block(argv[i], &blocks[n_blocks++]) < 0) {
			fprintf(stderr, "citadel-callback: '%s' is not an address block (ADDR/BITS)\n", argv[i]);
			return 2;
		}
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fputs("citadel-callback: libcurl did not start\n", stderr);
		return 1;
	}
	CURLM *multi = curl_multi_init();
	if (!multi)
		return 1;
	static _Alignas(16) char buf[CIT_MSG_MAX];
	bool open = true;
	while (open || n_posts) {
		struct curl_waitfd w = { .fd = CHAN, .events = CURL_WAIT_POLLIN };
		int ready = 0;
		curl_multi_poll(multi, open ? &w : NULL, open ? 1 : 0, 1000, &ready);
		while (open && (w.revents & CURL_WAIT_POLLIN)) {
			struct cit_rx rx;
			struct cit_error err = { 0 };
			int rc = cit_proto_recv(CHAN, buf, &rx, &err);
			if (rc == -EAGAIN || rc == -EWOULDBLOCK)
				break;
			if (rc <= 0) {
				if (rc < 0)
					fprintf(stderr, "citadel-callback: the monitor's channel: %s\n", err.msg);
				open = false; /* the monitor is gone: the posts in flight finish */
				break;
			}
			if (rx.hdr.type == CIT_MSG_CALLBACK)
				start_post(multi, &rx);
			cit_rx_close(&rx);
		}
		int running;
		curl_multi_perform(multi, &running);
		finish_posts(multi);
	}
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return 0;
}
