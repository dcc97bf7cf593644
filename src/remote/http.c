/* citadel-remote's HTTP, with libcurl (http.h). */
#include "remote/http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/usage.h"
#include "common/fdutil.h"
#include "common/util.h"

#define CONNECT_TIMEOUT_S 10
#define ERROR_ANSWER_MAX (64u << 10) /* an error's body: one JSON line, or a proxy's page */

/* "citadel CMD: " and one line: control bytes from the gateway's side (its message, a
 * location) are shown as '?', so that what a server says cannot drive the terminal. */
__attribute__((format(printf, 2, 3))) static void say(const struct gw *g, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (unsigned char *c = (unsigned char *)line; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			*c = '?';
	fprintf(stderr, "citadel %s: %s\n", g->cmd, line);
}

bool gw_hex64_ok(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

int gw_open(struct gw *g, const char *cmd, const char *url, bool from_env)
{
	memset(g, 0, sizeof(*g));
	g->cmd = cmd;
	g->url = url;
	g->from_env = from_env;
	const char *what = from_env ? "CITADEL_URL" : "--url";
	CURLU *u = curl_url();
	if (!u) {
		say(g, "%s", strerror(ENOMEM));
		return 1;
	}
	char *scheme = NULL, *part = NULL;
	const char *bad = NULL;
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK)
		bad = curl_url_strerror(uc);
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") && strcmp(scheme, "https")))
		bad = "only http:// and https:// are spoken";
	else if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK)
		bad = "a query has no place in it";
	else if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK)
		bad = "a fragment has no place in it";
	else if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK)
		bad = "it holds a user name: the admin token goes in CITADEL_TOKEN, not the URL";
	curl_free(scheme);
	curl_free(part);
	curl_url_cleanup(u);
	size_t len = strlen(url);
	while (len && url[len - 1] == '/')
		len--;
	if (!bad && len >= sizeof(g->base))
		bad = "it is too long";
	if (bad) {
		cit_usage_error(cmd, 2, "%s '%s' is not the gateway's URL (http://HOST:PORT or https://HOST[:PORT][/PATH]): "
					"%s", what, url, bad);
		return 2;
	}
	memcpy(g->base, url, len);
	g->base[len] = '\0';
	if (!(g->curl = curl_easy_init())) {
		say(g, "cannot start libcurl");
		return 1;
	}
	return 0;
}

void gw_close(struct gw *g)
{
	if (g->curl)
		curl_easy_cleanup(g->curl);
	g->curl = NULL;
}

/* The answer's body as it comes: into a memfd, bounded (a successful answer by the
 * request's max_answer, an error's by ERROR_ANSWER_MAX). */
struct spool {
	CURL *curl;
	int fd;
	uint64_t len, max;
	bool output;   /* any status may be a function's output: max bounds them all */
	bool too_big;  /* a successful answer passed max: aborted */
	bool cut;      /* an error's answer passed ERROR_ANSWER_MAX: its start is kept */
	int werr;      /* writing the spool failed: its errno */
};

static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
	struct spool *s = cls;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
	bool ok = s->output || (status >= 200 && status < 300);
	uint64_t max = ok ? s->max : ERROR_ANSWER_MAX;
	size_t keep = len;
	if (s->len + len > max) {
		if (ok) {
			s->too_big = true;
			return 0; /* aborts the transfer */
		}
		s->cut = true;
		keep = (size_t)(max - s->len);
	}
	int rc = keep ? cit_write_all(s->fd, data, keep) : 0;
	if (rc < 0) {
		s->werr = -rc;
		return 0;
	}
	s->len += keep;
	return s->cut ? 0 : len; /* an error's first part is all that is read */
}

/* The gateway's own error: marked X-Citadel-Error: CODE (a function's output never is), its
 * body {"error": "...", "code": "..."} (the message into text, cap bytes, when text is not
 * NULL). */
static bool gateway_error(CURL *c, const struct spool *s, char *text, size_t cap)
{
	struct curl_header *h = NULL;
	if (curl_easy_header(c, "X-Citadel-Error", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return false;
	if (text)
		snprintf(text, cap, "the gateway answered %s", h->value); /* a body that says more replaces it */
	const char *ctype = NULL;
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	if (!ctype || strcasecmp(ctype, "application/json") || !s->len || s->len > ERROR_ANSWER_MAX || s->cut)
		return true;
	void *map = mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, s->fd, 0);
	if (map == MAP_FAILED)
		return false;
	json_t *o = json_loadb(map, s->len, 0, NULL);
	munmap(map, s->len);
	const char *e = json_string_value(json_object_get(o, "error"));
	if (e && text)
		snprintf(text, cap, "%s", e);
	json_decref(o);
	return true;
}

/* Whether the answer came from the gateway, which marks every answer of its own and every
 * function's output (X-Content-Type-Options: nosniff); a proxy's error page does not. */
static bool from_gateway(CURL *c)
{
	struct curl_header *h = NULL;
	return curl_easy_header(c, "X-Content-Type-Options", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h->value &&
	       !strcasecmp(h->value, "nosniff");
}

/* An answer that is no success: the gateway's error message, else its status and first
 * line (a proxy's page), with a hint for a missing credential. */
static void say_error(struct gw *g, const struct gw_request *r, long status, struct spool *s)
{
	char text[1024] = "";
	if (!gateway_error(g->curl, s, text, sizeof(text))) {
		void *map = s->len ? mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, s->fd, 0) : MAP_FAILED;
		size_t n = 0;
		while (map != MAP_FAILED && n < s->len && n < 200 && ((const char *)map)[n] != '\n' &&
		       ((const char *)map)[n] != '\r')
			n++;
		snprintf(text, sizeof(text), "%s answered HTTP %ld%s%.*s", g->url, status, n ? ": " : "", (int)n,
			 map != MAP_FAILED ? (const char *)map : "");
		if (map != MAP_FAILED)
			munmap(map, s->len);
	}
	const char *hint = "";
	if (status == 401 && !r->bearer)
		hint = r->output && !r->token_only ? "; --invoke-key KEY or CITADEL_INVOKE_KEY gives it"
						    : "; CITADEL_TOKEN gives it";
	say(g, "%s%s%s", r->subject, text, hint);
}

/* Why the request was not made or not answered. */
static void say_failed(struct gw *g, const struct gw_request *r, CURLcode rc, const struct spool *s)
{
	const char *detail = g->errbuf[0] ? g->errbuf : curl_easy_strerror(rc);
	if (s->too_big)
		say(g, "%sthe answer from %s is over %llu bytes", r->subject, g->url, (unsigned long long)r->max_answer);
	else if (s->werr)
		say(g, "%skeeping the answer: %s", r->subject, strerror(s->werr));
	else if (rc == CURLE_COULDNT_CONNECT)
		say(g, "%scannot reach the gateway at %s: %s (is a `citadel serve --listen` serving there? %s)", r->subject,
		    g->url, detail, g->from_env ? "CITADEL_URL names it" : "--url names it");
	else if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY)
		say(g, "%scannot find the host of %s: %s", r->subject, g->url, detail);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		say(g, "%s%s did not answer in time: %s", r->subject, g->url, detail);
	else if (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
		 rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CIPHER || rc == CURLE_SSL_ENGINE_NOTFOUND)
		say(g, "%sTLS with %s failed: %s", r->subject, g->url, detail);
	else
		say(g, "%s%s: %s", r->subject, g->url, detail);
}

int gw_call(struct gw *g, const struct gw_request *r, struct gw_answer *a)
{
	*a = (struct gw_answer){ .fd = -1 };
	struct spool s = { .curl = g->curl, .max = r->max_answer, .output = r->output,
			   .fd = memfd_create("citadel-answer", MFD_CLOEXEC) };
	if (s.fd < 0) {
		say(g, "memfd_create: %s", strerror(errno));
		return 1;
	}
	size_t ulen = strlen(g->base) + strlen(r->path) + 1;
	_cleanup_free_ char *url = malloc(ulen);
	bool post = !strcmp(r->method, "POST"), oom = !url;
	struct curl_slist *headers = NULL, *h;
	if (!oom && r->bearer) {
		char auth[128];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", r->bearer);
		oom = !(h = curl_slist_append(headers, auth)); /* copied: ours is wiped */
		headers = h ? h : headers;
		explicit_bzero(auth, sizeof(auth));
	}
	if (!oom && post) {
		char ct[160]; /* a content type is at most 127 characters (invoke checks) */
		/* "Content-Type:" alone keeps libcurl from sending its form type. */
		snprintf(ct, sizeof(ct), "Content-Type:%s%s", r->content_type || !r->output ? " " : "",
			 r->content_type ? r->content_type : r->output ? "" : "application/octet-stream");
		oom = !(h = curl_slist_append(headers, ct));
		headers = h ? h : headers;
	}
	if (oom) {
		curl_slist_free_all(headers);
		close(s.fd);
		say(g, "%s", strerror(ENOMEM));
		return 1;
	}
	snprintf(url, ulen, "%s%s", g->base, r->path);
	CURL *c = g->curl;
	curl_easy_reset(c);
	g->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is reported, never followed */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, g->errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "citadel/" CITADEL_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, r->timeout_s);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 60L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 20L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	if (post) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body_len ? r->body : "");
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	}
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	int ret = 1;
	char *to = NULL;
	curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &to);
	bool answered = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && s.cut);
	bool success = status >= 200 && status < 300;
	/* An invocation's answer of another status is its function's output (the function set
	 * the status), unless the gateway said no or it is not the gateway's at all. */
	if (answered && !success && r->output && !to && from_gateway(c) && !gateway_error(c, &s, NULL, 0))
		success = status >= 100;
	if (answered && status >= 300 && status < 400 && to) {
		say(g, "%s%s answered HTTP %ld, a redirect to %s, which is not followed: give the gateway's own address "
		       "as %s", r->subject, g->url, status, to, g->from_env ? "CITADEL_URL" : "--url");
	} else if (answered && !success) {
		say_error(g, r, status, &s);
	} else if (rc != CURLE_OK) {
		say_failed(g, r, rc, &s);
	} else {
		a->status = status;
		a->fd = steal_fd(&s.fd);
		a->len = s.len;
		ret = 0;
	}
	if (s.fd >= 0)
		close(s.fd);
	return ret;
}

const void *gw_answer_bytes(struct gw_answer *a)
{
	if (!a->len)
		return NULL;
	if (!a->map) {
		void *m = mmap(NULL, a->len, PROT_READ, MAP_PRIVATE, a->fd, 0);
		if (m == MAP_FAILED)
			return NULL;
		a->map = m;
	}
	return a->map;
}

int gw_answer_write(struct gw_answer *a, int fd)
{
	if (!a->len)
		return 0;
	const void *bytes = gw_answer_bytes(a);
	return bytes ? cit_write_all(fd, bytes, a->len) : -errno;
}

void gw_answer_done(struct gw_answer *a)
{
	if (a->map)
		munmap(a->map, a->len);
	if (a->fd >= 0)
		close(a->fd);
	*a = (struct gw_answer){ .fd = -1 };
}
