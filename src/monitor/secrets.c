/* Secrets released to a measurement (docs/attestation.md, "Secrets"): an admin's bytes,
 * sealed in STATE_DIR/secrets/FUNCTION/NAME and bound to the function's name and code
 * measurement (runtime and code, not its limits), given to its runtime when it starts
 * (SECRETS, before LOAD; for an exec function, whose program is measured at LOAD, after
 * LOADED and before its first instance) only when the code that starts is the code bound.
 * The admin can put, grant (bind again to the code deployed now), list and remove them;
 * nothing reads one back out.
 *
 *   a file     "citadel-secret/1" (16 bytes) | code measurement (32) | nonce (24) |
 *              XChaCha20-Poly1305-IETF(K, nonce, value, associated data)
 *   K          BLAKE2b-256(key = the attestation key, "citadel-secret-key/1")
 *   associated "citadel-secret/1" NUL function NUL name NUL | code measurement
 *
 * The associated data binds the file to its function, name and measurement: a file moved
 * to another function or name, or its measurement changed, does not open. The files are
 * small and written rarely (an admin's command), synced and renamed on the loop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "monitor/monitor.h"
#include "objects/objects.h"

#define MAGIC "citadel-secret/1"
#define HEAD (16 + 32 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
#define FILE_MAX (HEAD + CIT_SECRET_MAX + crypto_aead_xchacha20poly1305_ietf_ABYTES)

static void secret_key(struct monitor *m, uint8_t k[32])
{
	static const char ctx[] = "citadel-secret-key/1";
	crypto_generichash(k, 32, (const uint8_t *)ctx, sizeof(ctx) - 1, m->attest_key, sizeof(m->attest_key));
}

/* The associated data of fn's secret name bound to measurement, into ad; its length. */
static size_t secret_ad(const char *fn, const char *name, const uint8_t measurement[32], uint8_t *ad)
{
	size_t n = (size_t)sprintf((char *)ad, MAGIC "%c%s%c%s%c", 0, fn, 0, name, 0);
	memcpy(ad + n, measurement, 32);
	return n + 32;
}

static void dir_of(struct monitor *m, const char *fn, char *out, size_t cap)
{
	snprintf(out, cap, "%s/secrets%s%s", m->opts->state_dir, fn ? "/" : "", fn ? fn : "");
}

/* Reads function fn's secret name: its bound measurement into bound and, when value is
 * not NULL, its bytes (CIT_SECRET_MAX at most; *vlen of them). Returns 0, -ENOENT, or
 * -EBADMSG (the file does not open: damaged, moved, or another master key's). */
static int secret_read(struct monitor *m, const char *fn, const char *name, uint8_t bound[32], uint8_t *value,
		       size_t *vlen)
{
	char path[4400];
	dir_of(m, fn, path, sizeof(path));
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EBADMSG;
	static uint8_t buf[FILE_MAX + 1];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < (ssize_t)(HEAD + crypto_aead_xchacha20poly1305_ietf_ABYTES) || n > (ssize_t)FILE_MAX ||
	    memcmp(buf, MAGIC, 16))
		return -EBADMSG;
	memcpy(bound, buf + 16, 32);
	if (!value)
		return 0;
	uint8_t k[32], ad[16 + 2 * CIT_NAME_MAX + 3 + 32];
	secret_key(m, k);
	size_t adlen = secret_ad(fn, name, bound, ad);
	unsigned long long out = 0;
	int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(value, &out, NULL, buf + HEAD, (size_t)n - HEAD, ad, adlen,
							    buf + 48, k);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(buf, sizeof(buf));
	*vlen = (size_t)out;
	return rc == 0 ? 0 : -EBADMSG;
}

/* Seals value (vlen bytes) as fn's secret name bound to measurement: written aside,
 * synced, renamed over the old. Returns 0 or a negative errno. */
static int secret_write(struct monitor *m, const char *fn, const char *name, const uint8_t measurement[32],
			const uint8_t *value, size_t vlen)
{
	char dir[4400], path[4500], tmp[4600];
	dir_of(m, NULL, dir, sizeof(dir));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	dir_of(m, fn, dir, sizeof(dir));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.new", dir, name);
	static uint8_t buf[FILE_MAX];
	uint8_t k[32], ad[16 + 2 * CIT_NAME_MAX + 3 + 32];
	memcpy(buf, MAGIC, 16);
	memcpy(buf + 16, measurement, 32);
	randombytes_buf(buf + 48, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	secret_key(m, k);
	unsigned long long clen = 0;
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + HEAD, &clen, value, vlen, ad,
						   secret_ad(fn, name, measurement, ad), NULL, buf + 48, k);
	sodium_memzero(k, sizeof(k));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int rc = fd < 0 ? -errno : cit_write_all(fd, buf, HEAD + (size_t)clen);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	int dfd = rc == 0 ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return rc;
}

/* The names of function fn's secrets (sorted), malloc'd, NULL-terminated; NULL when it
 * has none (or out of memory). */
static char **secret_names(struct monitor *m, const char *fn)
{
	char dir[4400];
	dir_of(m, fn, dir, sizeof(dir));
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return NULL;
	char **names = calloc((size_t)n + 1, sizeof(char *));
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		if (names && cit_secret_name_ok(ents[i]->d_name) && (fn || cit_fn_name_ok(ents[i]->d_name)))
			names[k++] = strdup(ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return names;
}

static void names_free(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

void cit_secrets_send(struct monitor *m, struct function *fn)
{
	if (!fn->z || !fn->measured)
		return;
	char **names = secret_names(m, fn->spec.name);
	static uint8_t blob[CIT_SECRETS_MAX * (1 + CIT_NAME_MAX + 4 + CIT_SECRET_MAX)];
	static uint8_t value[CIT_SECRET_MAX];
	size_t len = 0;
	uint32_t count = 0;
	for (size_t i = 0; names && names[i] && count < CIT_SECRETS_MAX; i++) {
		uint8_t bound[32];
		size_t vlen = 0;
		int rc = secret_read(m, fn->spec.name, names[i], bound, NULL, NULL);
		if (rc == 0 && sodium_memcmp(bound, fn->code_measurement, 32)) {
			cit_mlog(m, "warn", "secret_withheld", "function=%s secret=%s msg=\"bound to other code of the "
				 "function: not released (citadel secret grant)\"", fn->spec.name, names[i]);
			continue;
		}
		if (rc == 0)
			rc = secret_read(m, fn->spec.name, names[i], bound, value, &vlen);
		if (rc < 0) {
			cit_mlog(m, "warn", "secret_withheld", "function=%s secret=%s msg=\"it does not open: damaged, "
				 "moved, or sealed under another master key\"", fn->spec.name, names[i]);
			continue;
		}
		size_t nlen = strlen(names[i]);
		blob[len++] = (uint8_t)nlen;
		memcpy(blob + len, names[i], nlen);
		len += nlen;
		uint32_t v32 = (uint32_t)vlen;
		memcpy(blob + len, &v32, 4);
		memcpy(blob + len + 4, value, vlen);
		len += 4 + vlen;
		count++;
	}
	names_free(names);
	sodium_memzero(value, sizeof(value));
	if (count) {
		struct cit_p_secrets p = { .count = count };
		if (cit_proto_send_data(fn->z->chan, CIT_MSG_SECRETS, 0, &p, sizeof(p), blob, len) < 0)
			cit_mlog(m, "warn", "secret_withheld", "function=%s msg=\"could not send the secrets\"",
				 fn->spec.name);
	}
	sodium_memzero(blob, len);
}

/* ---- the admin's requests ----------------------------------------------------------- */

static int put(struct monitor *m, struct function *fn, const char *name, struct cit_rx *rx, char *msg, size_t cap)
{
	const void *data;
	size_t len;
	void *map;
	if (cit_rx_data(rx, &data, &len, &map) < 0)
		return snprintf(msg, cap, "the secret's data object is not sealed"), -EINVAL;
	char **names = secret_names(m, fn->spec.name);
	size_t have = 0;
	bool exists = false;
	for (; names && names[have]; have++)
		exists |= !strcmp(names[have], name);
	names_free(names);
	int rc = 0;
	if (len > CIT_SECRET_MAX)
		rc = -EFBIG, snprintf(msg, cap, "a secret is at most %u bytes; this one is %zu", CIT_SECRET_MAX, len);
	else if (!exists && have >= CIT_SECRETS_MAX)
		rc = -ENOSPC, snprintf(msg, cap, "function %s has %u secrets already, the most it may have",
				       fn->spec.name, CIT_SECRETS_MAX);
	else if ((rc = secret_write(m, fn->spec.name, name, fn->code_measurement, data, len)) < 0)
		snprintf(msg, cap, "writing the secret: %s", strerror(-rc));
	if (map)
		munmap(map, len);
	if (rc == 0) {
		char hex[65];
		sodium_bin2hex(hex, sizeof(hex), fn->code_measurement, 32);
		snprintf(msg, cap, "secret %s of function %s bound to its code measurement %s", name, fn->spec.name, hex);
	}
	return rc;
}

/* Binds fn's secret name (or every one, name "") to fn's code now. */
static int grant(struct monitor *m, struct function *fn, const char *name, char *msg, size_t cap)
{
	char **names = secret_names(m, fn->spec.name);
	static uint8_t value[CIT_SECRET_MAX];
	uint32_t done = 0, failed = 0;
	int rc = 0;
	/* Each one that opens is bound again, past any that does not (the first is named). */
	for (size_t i = 0; names && names[i]; i++) {
		if (name[0] && strcmp(name, names[i]))
			continue;
		uint8_t bound[32];
		size_t vlen = 0;
		int one = secret_read(m, fn->spec.name, names[i], bound, value, &vlen);
		if (one == 0 && sodium_memcmp(bound, fn->code_measurement, 32))
			one = secret_write(m, fn->spec.name, names[i], fn->code_measurement, value, vlen);
		if (one < 0 && !failed++) {
			rc = one;
			snprintf(msg, cap, "secret %s: %s", names[i],
				 one == -EBADMSG ? "it does not open (damaged, or sealed under another master key): put it "
						   "again"
						 : strerror(-one));
		}
		done += one == 0;
	}
	names_free(names);
	sodium_memzero(value, sizeof(value));
	if (failed) {
		char first[CIT_TEXT_MAX];
		snprintf(first, sizeof(first), "%s", msg);
		snprintf(msg, cap, "%u bound to the code deployed now, %u not: %s", done, failed, first);
	}
	if (rc == 0 && !done)
		rc = -ENOENT, snprintf(msg, cap, "function %s has %s", fn->spec.name, name[0] ? "no such secret" : "no secrets");
	if (rc == 0) {
		char hex[65];
		sodium_bin2hex(hex, sizeof(hex), fn->code_measurement, 32);
		snprintf(msg, cap, "%u secret%s of function %s bound to its code measurement %s", done, done == 1 ? "" : "s",
			 fn->spec.name, hex);
	}
	return rc;
}

/* The secrets of fn (NULL: every function's) as JSON text, malloc'd. */
static char *list(struct monitor *m, const char *only)
{
	json_t *a = json_array();
	char **fns = only ? NULL : secret_names(m, NULL);
	const char *one[] = { only, NULL };
	for (size_t f = 0; a; f++) {
		const char *fname = only ? one[f] : fns ? fns[f] : NULL;
		if (!fname)
			break;
		struct function *fn = cit_fn_find(m, fname);
		char **names = secret_names(m, fname);
		for (size_t i = 0; names && names[i]; i++) {
			uint8_t bound[32];
			char hex[65];
			static uint8_t value[CIT_SECRET_MAX];
			size_t vlen = 0;
			/* Opened, not only read: what does not open is shown damaged, never released. */
			bool ok = secret_read(m, fname, names[i], bound, value, &vlen) == 0;
			sodium_memzero(value, vlen);
			sodium_bin2hex(hex, sizeof(hex), bound, 32);
			long long bytes = ok ? (long long)vlen : -1;
			json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:o, s:b}", "function", fname, "secret", names[i],
							   "bytes", (json_int_t)bytes, "code_measurement",
							   ok ? json_string(hex) : json_null(), "released",
							   ok && fn && fn->measured && !sodium_memcmp(bound, fn->code_measurement, 32)));
		}
		names_free(names);
	}
	names_free(fns);
	char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return text;
}

int cit_secret_on_request(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *cl = container_of(p, struct client, peer);
	const struct cit_p_secret *s = CIT_P(rx, cit_p_secret);
	uint64_t id = rx->hdr.id;
	char msg[CIT_TEXT_MAX] = "";
	if (s->op == CIT_SECRET_LIST) {
		char *text = list(m, s->function[0] ? s->function : NULL);
		if (!text)
			return cit_reply_error(m, cl, id, -ENOMEM, "out of memory"), 0;
		cit_reply_data(m, cl, id, 0, text, strlen(text));
		free(text);
		return 0;
	}
	if (s->op == CIT_SECRET_REMOVE) {
		char path[4500];
		dir_of(m, s->function, path, sizeof(path));
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", s->name);
		if (unlink(path) < 0)
			return cit_reply_error(m, cl, id, -errno, "function %s has no secret %s", s->function, s->name), 0;
		return cit_reply_ok(m, cl, id), 0;
	}
	struct function *fn = cit_fn_find(m, s->function);
	if (!fn)
		return cit_reply_error(m, cl, id, -ENOENT, "no function named '%s': a secret is bound to a deployed "
				       "function's code (deploy it first)", s->function), 0;
	if (!fn->measured)
		return cit_reply_error(m, cl, id, -EAGAIN, "function %s is being measured: try again once its deploy "
				       "is done", fn->spec.name), 0;
	int rc = s->op == CIT_SECRET_PUT ? put(m, fn, s->name, rx, msg, sizeof(msg))
					 : grant(m, fn, s->name, msg, sizeof(msg));
	if (rc < 0)
		return cit_reply_error(m, cl, id, rc, "%s", msg), 0;
	cit_mlog(m, "info", s->op == CIT_SECRET_PUT ? "secret_put" : "secret_granted", "function=%s secret=%s",
		 fn->spec.name, s->name[0] ? s->name : "*");
	cit_reply_data(m, cl, id, 0, msg, strlen(msg));
	return 0;
}
