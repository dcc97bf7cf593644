/* A function that shows which secrets its code was given (citadel/function.h, ABI 5,
 * cit_secret): one command per line of its request, one answer line per command:
 *   get NAME     cit_secret(NAME) now, in this call
 *   init NAME    what cit_secret(NAME) gave in cit_init() (NAME: one of INIT_NAMES)
 * An answer is "ok LEN HEX" (the value's length and its bytes in hex) or "err ERRNO".
 * Used by tests/functional/test_secrets.py. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <citadel/function.h>

static const char *const INIT_NAMES[] = { "token", "other", "big" };
#define N_INIT (sizeof(INIT_NAMES) / sizeof(INIT_NAMES[0]))

static struct {
	void *value; /* a copy, NULL when cit_secret() failed */
	size_t len;
	int err;
} at_init[N_INIT];

int cit_init(void)
{
	for (size_t i = 0; i < N_INIT; i++) {
		size_t len = 0;
		errno = 0;
		const void *v = cit_secret(INIT_NAMES[i], &len);
		if (!v) {
			at_init[i].err = errno;
			continue;
		}
		at_init[i].value = malloc(len ? len : 1);
		if (!at_init[i].value)
			return -ENOMEM;
		memcpy(at_init[i].value, v, len);
		at_init[i].len = len;
	}
	return 0;
}

static void answer(struct cit_response *resp, const void *v, size_t len, int err)
{
	if (!v) {
		cit_respondf(resp, "err %d\n", err);
		return;
	}
	cit_respondf(resp, "ok %zu ", len);
	for (size_t i = 0; i < len; i++)
		cit_respondf(resp, "%02x", ((const unsigned char *)v)[i]);
	cit_respondf(resp, "\n");
}

static void one(struct cit_response *resp, char *line)
{
	char *verb = strtok(line, " "), *name = strtok(NULL, " ");
	if (!verb || !name) {
		cit_respondf(resp, "err %d\n", EINVAL);
	} else if (!strcmp(verb, "get")) {
		size_t len = 0;
		errno = 0;
		const void *v = cit_secret(name, &len);
		answer(resp, v, len, errno);
	} else if (!strcmp(verb, "init")) {
		size_t i = 0;
		while (i < N_INIT && strcmp(INIT_NAMES[i], name))
			i++;
		if (i == N_INIT)
			cit_respondf(resp, "err %d\n", EINVAL);
		else
			answer(resp, at_init[i].value, at_init[i].len, at_init[i].err);
	} else {
		cit_respondf(resp, "err %d\n", EINVAL);
	}
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	char *text = malloc(req->len + 1);
	if (!text)
		return cit_fail(resp, -ENOMEM, "out of memory"), 0;
	if (req->len)
		memcpy(text, req->data, req->len);
	text[req->len] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		one(resp, line);
	free(text);
	return 0;
}
