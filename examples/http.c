/* http: what a function sees of the HTTP request behind its call, and how it shapes the
 * response. Answers a JSON object with the request's method, path, query, its User-Agent
 * and X-Request-Id headers, its content type and how many headers came; a query of
 * "status=NNN" sets the response's status. Invoked without HTTP (citadel invoke), it says
 * so, with the content type the caller gave (--content-type).
 *
 *     curl -i 'http://127.0.0.1:8080/function/http/some/path?status=201' -H 'X-Request-Id: 7'
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <citadel/function.h>

/* s as a JSON string's contents: quotes, backslashes and control characters escaped. */
static void put_json(struct cit_response *resp, const char *key, const char *s, int last)
{
	cit_respondf(resp, "\"%s\":", key);
	if (!s) {
		cit_respondf(resp, "null%s", last ? "" : ",");
		return;
	}
	cit_respond(resp, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			cit_respondf(resp, "\\%c", c);
		else if (c < 0x20)
			cit_respondf(resp, "\\u%04x", c);
		else
			cit_respond(resp, s, 1);
	}
	cit_respondf(resp, "\"%s", last ? "" : ",");
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	const struct cit_http *h = req->http;
	if (!h)
		return cit_respondf(resp, "not over HTTP; content type '%s'\n", req->content_type);
	const char *q = strstr(h->query, "status=");
	if (q && cit_set_status(resp, atoi(q + 7)) < 0)
		return cit_fail(resp, -22, "status must be 200 to 599");
	cit_set_content_type(resp, "application/json");
	cit_respond(resp, "{", 1);
	put_json(resp, "method", h->method, 0);
	put_json(resp, "path", h->path, 0);
	put_json(resp, "query", h->query, 0);
	put_json(resp, "content_type", req->content_type, 0);
	put_json(resp, "user_agent", cit_http_header(req, "user-agent"), 0);
	put_json(resp, "request_id", cit_http_header(req, "X-Request-Id"), 0);
	put_json(resp, "authorization", cit_http_header(req, "Authorization"), 0);
	cit_respondf(resp, "\"headers\":%zu,\"body_bytes\":%zu}\n", h->n_headers, req->len);
	return CIT_OK;
}
