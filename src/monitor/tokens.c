/* Admin tokens: a client that is not admin by its credentials (the HTTP gateway, acting for
 * its callers) may present one for a single request, and the monitor checks it itself.
 *
 * A token is 32 random bytes in lowercase hex, made by the monitor (TOKEN_ADD, `citadel
 * token add NAME`) and shown once (the first, "admin", made at a state directory's first
 * start, is left in STATE_DIR/admin-token for the operator); the monitor keeps only its SHA-256, with its name, in
 * STATE_DIR/admin-tokens ("NAME HEX\n" lines, 0600), read at start and rewritten (a
 * worker's job: written, synced, renamed) when one is added or removed.
 *
 * ADMIN_TOKEN carries a token for the client's next message, which must have the same id:
 * valid, that one message is dispatched as an admin's; not valid, it is refused with
 * "the admin token is not valid" (one reply, to the request), unless the message is an
 * INVOKE, for which the bearer may be the function's invoke key instead (deploy
 * --invoke-key; pool.c compares the hashes). The grant never outlives that message. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "monitor/monitor.h"
#include "monitor/worker.h"
#include "spec/spec.h"

#define TOKENS_FILE "admin-tokens"
#define LINE_MAX_ (CIT_NAME_MAX + 1 + 64 + 1)

static void token_hash(const char *token, uint8_t out[32])
{
	crypto_hash_sha256(out, (const uint8_t *)token, CIT_TOKEN_LEN);
}

/* A state directory's first start: one token, "admin", its hash in admin-tokens and the
 * token itself in admin-token for the operator (both 0600), written before anything is
 * served. */
static int first_token(struct monitor *m, struct cit_error *err)
{
	uint8_t raw[32];
	char token[CIT_TOKEN_LEN + 2], line[LINE_MAX_ + 2], hexsum[65], path[4200];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, CIT_TOKEN_LEN + 1, raw, sizeof(raw));
	struct cit_token *t = &m->tokens[0];
	snprintf(t->name, sizeof(t->name), "admin");
	token_hash(token, t->hash);
	sodium_bin2hex(hexsum, sizeof(hexsum), t->hash, 32);
	int n = snprintf(line, sizeof(line), "admin %s\n", hexsum);
	token[CIT_TOKEN_LEN] = '\n';
	const struct {
		const char *name;
		const char *text;
		size_t len;
	} files[] = { { "admin-token", token, CIT_TOKEN_LEN + 1 }, { TOKENS_FILE, line, (size_t)n } };
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", m->opts->state_dir, files[i].name);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		rc = fd < 0 ? -errno : cit_write_all(fd, files[i].text, files[i].len);
		if (rc == 0 && fsync(fd) < 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
		if (rc < 0)
			cit_error_set(err, rc, "writing %s", path);
	}
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(token, sizeof(token));
	if (rc == 0) {
		m->n_tokens = 1;
		cit_mlog(m, "info", "admin_token_made", "file=%s/admin-token", m->opts->state_dir);
	}
	return rc;
}

int cit_tokens_load(struct monitor *m, struct cit_error *err)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/" TOKENS_FILE, m->opts->state_dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? first_token(m, err) : cit_error_set(err, -errno, "reading %s", path);
	char line[LINE_MAX_ + 2];
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char name[CIT_NAME_MAX], hexsum[65];
		struct cit_token *t = &m->tokens[m->n_tokens];
		if (m->n_tokens == CIT_TOKENS_MAX || sscanf(line, "%63s %64s", name, hexsum) != 2 ||
		    !cit_fn_name_ok(name) || strlen(hexsum) != 64 ||
		    sodium_hex2bin(t->hash, 32, hexsum, 64, NULL, NULL, NULL) != 0)
			rc = cit_error_say(err, -EINVAL, "%s: line %u is not \"NAME SHA256\": fix or remove it",
					   path, m->n_tokens + 1);
		else
			snprintf(t->name, sizeof(t->name), "%s", name), m->n_tokens++;
	}
	fclose(f);
	return rc;
}

/* ---- saving, in the worker -------------------------------------------------------- */

struct save_job {
	struct cit_job job;
	uint64_t serial, id;      /* the client's, and its request's */
	char path[4200];
	char text[CIT_TOKENS_MAX * LINE_MAX_];
	size_t len;
	char reply[CIT_TOKEN_LEN + 1]; /* TOKEN_ADD: the new token, told once saved; "" else */
	char name[CIT_NAME_MAX];
	int rc;
};

static void save_run(struct cit_job *job)
{
	struct save_job *s = (struct save_job *)job;
	char tmp[4300];
	snprintf(tmp, sizeof(tmp), "%s.new", s->path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	s->rc = fd < 0 ? -errno : cit_write_all(fd, s->text, s->len);
	if (s->rc == 0 && fsync(fd) < 0)
		s->rc = -errno;
	if (fd >= 0)
		close(fd);
	if (s->rc == 0 && rename(tmp, s->path) < 0)
		s->rc = -errno;
}

static void save_done(struct monitor *m, struct cit_job *job)
{
	struct save_job *s = (struct save_job *)job;
	if (job->cancelled)
		s->rc = -ESHUTDOWN;
	struct client *c = cit_client_find(m, s->serial);
	if (s->rc < 0) {
		cit_mlog(m, "error", "save_failed", "file=" TOKENS_FILE " errno=%d", -s->rc);
		if (c)
			cit_reply_error(m, c, s->id, s->rc, "saving the admin tokens: %s", strerror(-s->rc));
	} else if (c) {
		cit_reply_data(m, c, s->id, 0, s->reply, strlen(s->reply));
	}
	sodium_memzero(s->reply, sizeof(s->reply));
	free(s);
}

/* The tokens as the file holds them, then saved by the worker; the client hears at the
 * end (reply: the text it gets, "" for none). */
static int save(struct monitor *m, struct client *c, uint64_t id, const char *reply)
{
	struct save_job *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct save_job){ .job = { .run = save_run, .done = save_done }, .serial = c->serial, .id = id };
	snprintf(s->path, sizeof(s->path), "%s/" TOKENS_FILE, m->opts->state_dir);
	snprintf(s->reply, sizeof(s->reply), "%s", reply);
	for (uint32_t i = 0; i < m->n_tokens; i++) {
		char hexsum[65];
		sodium_bin2hex(hexsum, sizeof(hexsum), m->tokens[i].hash, 32);
		s->len += (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len, "%s %s\n", m->tokens[i].name, hexsum);
	}
	cit_worker_submit(m, &s->job);
	return 0;
}

/* ---- the messages ------------------------------------------------------------------ */

int cit_token_present(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	uint8_t h[32];
	token_hash(CIT_P(rx, cit_p_token)->token, h);
	c->token_id = rx->hdr.id;
	c->token_state = -1;
	memcpy(c->bearer_hash, h, sizeof(h));
	c->bearer_id = rx->hdr.id;
	for (uint32_t i = 0; i < m->n_tokens; i++)
		if (sodium_memcmp(h, m->tokens[i].hash, 32) == 0) {
			c->token_state = 1;
			c->token_index = i;
		}
	return 0;
}

int cit_token_add(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	const char *name = CIT_P(rx, cit_p_name)->name;
	if (!cit_fn_name_ok(name))
		return cit_reply_error(m, c, rx->hdr.id, -EINVAL, "token name '%.63s' is not valid: use 1 to 63 of a-z, "
				       "0-9, '-' and '_', starting with a letter or digit", name), 0;
	for (uint32_t i = 0; i < m->n_tokens; i++)
		if (!strcmp(m->tokens[i].name, name))
			return cit_reply_error(m, c, rx->hdr.id, -EEXIST, "a token named %s exists: remove it first "
					       "(citadel token rm %s)", name, name), 0;
	if (m->n_tokens == CIT_TOKENS_MAX)
		return cit_reply_error(m, c, rx->hdr.id, -ENOSPC, "the monitor keeps at most %d tokens",
				       CIT_TOKENS_MAX), 0;
	uint8_t raw[32];
	char token[CIT_TOKEN_LEN + 1];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, sizeof(token), raw, sizeof(raw));
	struct cit_token *t = &m->tokens[m->n_tokens];
	snprintf(t->name, sizeof(t->name), "%s", name);
	token_hash(token, t->hash);
	m->n_tokens++;
	int rc = save(m, c, rx->hdr.id, token);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(token, sizeof(token));
	if (rc < 0) {
		m->n_tokens--;
		cit_reply_error(m, c, rx->hdr.id, rc, "out of memory");
		return 0;
	}
	cit_mlog(m, "info", "token_added", "name=%s", name);
	return 0;
}

int cit_token_remove(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	const char *name = CIT_P(rx, cit_p_name)->name;
	for (uint32_t i = 0; i < m->n_tokens; i++)
		if (!strcmp(m->tokens[i].name, name)) {
			struct cit_token gone = m->tokens[i];
			m->tokens[i] = m->tokens[--m->n_tokens];
			int rc = save(m, c, rx->hdr.id, "");
			if (rc < 0) {
				m->tokens[m->n_tokens++] = gone;
				cit_reply_error(m, c, rx->hdr.id, rc, "out of memory");
			} else {
				cit_mlog(m, "info", "token_removed", "name=%s", name);
				/* What it granted that lasts (a followed log) ends with it. */
				for (struct client *o = m->clients; o; o = o->next)
					if (o->follow[0] && !strcmp(o->follow_token, name))
						cit_client_unfollow(m, o, "the admin token that allowed following this "
									  "log was revoked");
			}
			return 0;
		}
	cit_reply_error(m, c, rx->hdr.id, -ENOENT, "no token named %.63s", name);
	return 0;
}

int cit_token_list(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *c = container_of(p, struct client, peer);
	char text[CIT_TOKENS_MAX * CIT_NAME_MAX];
	size_t len = 0;
	for (uint32_t i = 0; i < m->n_tokens; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n", m->tokens[i].name);
	cit_reply_data(m, c, rx->hdr.id, m->n_tokens, text, len);
	return 0;
}

int cit_token_role(struct monitor *m, struct client *c, uint64_t id, uint8_t *role)
{
	int state = c->token_state && c->token_id == id ? c->token_state : 0;
	c->token_state = 0; /* for this message only */
	c->token_grant = -1;
	if (state < 0)
		return -EACCES;
	if (state > 0) {
		*role = CIT_ROLE_ADMIN;
		c->token_grant = (int32_t)c->token_index;
		cit_mlog(m, "info", "admin_by_token", "token=%s uid=%d", m->tokens[c->token_index].name, (int)c->uid);
	}
	return 0;
}
