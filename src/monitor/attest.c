/* Attestation (docs/attestation.md, src/attest/attest.h): the monitor's identity key, its
 * own measurement, the signed reports of what it runs, and sealed invocations.
 *
 * The identity key is an Ed25519 key pair whose seed lives in STATE_DIR/identity.key (made
 * at first start, mode 0600): it signs reports and nothing else (their context string
 * comes first). The monitor measures itself once, when first asked (a report's first
 * request waits the half second it takes to read its programs and the Python library):
 * the programs are then known by their bytes, not by their paths.
 *
 * A function's sealing key pair follows from the master key, its name and its code
 * measurement (cit_sealing_seed): the same after a restart, new when its code changes, so
 * a request sealed for old code does not open for new code. A sealed request is opened
 * here, in the monitor, and the instance gets the plaintext as any request; its response is
 * sealed here to the client's one-time key before it leaves. */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/attest.h"
#include "common/util.h"
#include "monitor/monitor.h"
#include "objects/objects.h"

/* The files of the programs the monitor starts (and the library the Python runtime loads)
 * as they were when it started: its measurement, taken later, must be of these bytes, and
 * each is started only while it is still the file it was (a program replaced or rewritten
 * since is refused: what runs is what a report says). */
static const char *const programs[] = { "citadel-zygote", "citadel-python", "citadel-store", "citadel-unpack",
					"citadel-gateway", "citadel-callback", CIT_LIBPYTHON };
static struct file_id {
	char path[4200];
	bool present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
} ids[sizeof(programs) / sizeof(programs[0])];

static void file_id_of(const char *path, struct file_id *f)
{
	struct stat st;
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->present = stat(path, &st) == 0;
	if (f->present) {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->size = st.st_size;
		f->mtime = st.st_mtim;
		f->ctime = st.st_ctim;
	}
}

static bool file_id_same(const struct file_id *a, const struct file_id *b)
{
	return a->present == b->present &&
	       (!a->present || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
				a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
				a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec));
}

int cit_attest_program_ok(const char *path, char why[CIT_TEXT_MAX])
{
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		if (strcmp(ids[i].path, path))
			continue;
		struct file_id now;
		file_id_of(path, &now);
		if (file_id_same(&ids[i], &now))
			return 0;
		snprintf(why, CIT_TEXT_MAX, "%s changed since the monitor started (a report would not say what runs): "
			 "restart the monitor to run and measure the new one", path);
		return -ESTALE;
	}
	return 0;
}

/* Whether every program is still the file it was at the start; else why (-ESTALE). */
static int programs_unchanged(struct cit_error *err)
{
	char why[CIT_TEXT_MAX];
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		if (cit_attest_program_ok(ids[i].path, why) < 0)
			return cit_error_say(err, -ESTALE, "%s", why);
	return 0;
}

int cit_attest_start(struct monitor *m, struct cit_error *err)
{
	const char *slash = strrchr(m->opts->runtime_path, '/');
	for (size_t i = 0; i < ARRAY_SIZE(programs); i++) {
		char path[4200];
		if (programs[i][0] == '/')
			snprintf(path, sizeof(path), "%s", programs[i]);
		else
			snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - m->opts->runtime_path), m->opts->runtime_path,
				 programs[i]);
		file_id_of(path, &ids[i]);
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/identity.key", m->opts->state_dir);
	uint8_t seed[32];
	bool made;
	int rc = cit_key_file(path, true, "identity key", seed, &made, err);
	if (rc < 0)
		return rc;
	crypto_sign_seed_keypair(m->id_pk, m->id_sk, seed);
	sodium_memzero(seed, sizeof(seed));
	if (made) {
		char pk[65];
		sodium_bin2hex(pk, sizeof(pk), m->id_pk, sizeof(m->id_pk));
		cit_mlog(m, "info", "identity_key_made", "path=%s public_key=%s", path, pk);
	}
	return 0;
}

void cit_attest_stop(struct monitor *m)
{
	sodium_memzero(m->id_sk, sizeof(m->id_sk));
	sodium_memzero(m->attest_key, sizeof(m->attest_key));
	for (struct function *fn = m->functions; fn; fn = fn->next)
		sodium_memzero(fn->seal_sk, sizeof(fn->seal_sk));
	free(m->self_components);
	m->self_components = NULL;
}

/* The monitor's own measurement, measured on first use. */
static int self_measure(struct monitor *m, struct cit_error *err)
{
	if (m->self_measured)
		return 0;
	char bindir[4096], enc[4096];
	const char *slash = strrchr(m->opts->runtime_path, '/');
	snprintf(bindir, sizeof(bindir), "%.*s", (int)(slash - m->opts->runtime_path), m->opts->runtime_path);
	int rc = programs_unchanged(err);
	if (rc == 0)
		rc = cit_monitor_measure(bindir, "/proc/self/exe", m->self_measure, enc, sizeof(enc), err);
	if (rc == 0)
		rc = programs_unchanged(err); /* and not while they were read */
	if (rc < 0)
		return rc;
	if (!(m->self_components = strdup(enc)))
		return cit_error_say(err, -ENOMEM, "out of memory");
	m->self_measured = true;
	return 0;
}

static json_t *hex_json(const uint8_t *in, size_t n)
{
	char out[2 * 64 + 1];
	sodium_bin2hex(out, sizeof(out), in, n);
	return json_string(out);
}

/* The encoding's component lines ("NAME sha256:HEX" or "NAME missing") as a JSON array. */
static json_t *components_json(const char *enc)
{
	json_t *a = json_array();
	const char *line = strchr(enc, '\n'); /* past "citadel-monitor 1" */
	while (a && line && *++line) {
		const char *end = strchr(line, '\n'), *sp = memchr(line, ' ', end ? (size_t)(end - line) : strlen(line));
		if (!end || !sp)
			break;
		bool missing = !strncmp(sp + 1, "missing", 7);
		json_array_append_new(a, json_pack("{s:s%, s:o}", "name", line, (size_t)(sp - line), "sha256",
						   missing ? json_null() : json_stringn(sp + 8, 64)));
		line = end;
	}
	return a;
}

static json_t *names_json(const char (*names)[CIT_NAME_MAX], uint32_t n, uint32_t max)
{
	json_t *a = json_array();
	for (uint32_t i = 0; a && i < n && i < max; i++)
		json_array_append_new(a, json_stringn(names[i], strnlen(names[i], CIT_NAME_MAX)));
	return a;
}

/* The policy a function's measurement covers, as ls and deploy name it. */
static json_t *policy_json(const struct cit_fn_spec *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:b, s:I, s:o, s:I, s:I, s:o}", "memory_bytes",
			 (json_int_t)s->memory_bytes, "timeout_ms", (json_int_t)s->timeout_ms, "output_bytes",
			 (json_int_t)s->output_bytes, "max_instances", (json_int_t)s->max_instances, "min_instances",
			 (json_int_t)s->min_instances, "keep_alive_s", (json_int_t)s->keepalive_s, "fresh",
			 (s->flags & CIT_FN_FRESH) != 0, "cpus_milli", (json_int_t)s->cpu_millis, "pids",
			 (json_int_t)s->pids, "invoke_key", (s->flags & CIT_FN_INVOKE_KEY) != 0, "object_quota",
			 (json_int_t)s->object_quota, "invokes", names_json(s->invokes, s->n_invokes, CIT_INVOKES_MAX),
			 "state_quota", (json_int_t)s->state_quota, "state_value_max", (json_int_t)s->state_value_max,
			 "state_shares", names_json(s->state_shares, s->n_state_shares, CIT_STATE_SHARES_MAX));
}

static void sealing_keys(struct monitor *m, struct function *fn)
{
	if (fn->sealing)
		return;
	uint8_t seed[32];
	cit_sealing_seed(m->attest_key, fn->spec.name, fn->code_measurement, seed); /* a checked name */
	crypto_box_seed_keypair(fn->seal_pk, fn->seal_sk, seed);
	sodium_memzero(seed, sizeof(seed));
	fn->sealing = true;
}

static json_t *function_json(struct monitor *m, struct function *fn)
{
	static char enc[CIT_FN_ENCODING_MAX];
	long n = cit_fn_encode(&fn->spec, fn->tail, fn->code_sha256,
			       (fn->spec.flags & CIT_FN_BUNDLE) ? fn->bundle_sha256 : NULL, enc, sizeof(enc));
	if (n < 0 || (size_t)n > sizeof(enc))
		return NULL;
	sealing_keys(m, fn);
	return json_pack("{s:s, s:s, s:I, s:o, s:o, s:s%, s:o}", "name", fn->spec.name, "runtime", fn->runtime->name,
			 "runtime_version", (json_int_t)fn->runtime->version, "measurement",
			 hex_json(fn->measurement, 32), "code_measurement", hex_json(fn->code_measurement, 32),
			 "encoding", enc, (size_t)n, "policy", policy_json(&fn->spec));
}

/* What the machine offers to vouch for the monitor: no hardware report is attached by this
 * build, and the report says so, naming a guest device when one is there. */
static json_t *platform_json(void)
{
	static const char *const devices[] = { "/dev/sev-guest", "/dev/tdx_guest", "/dev/tdx-guest" };
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
		if (access(devices[i], F_OK) == 0)
			return json_pack("{s:s, s:s, s:s}", "type", "none", "device", devices[i], "detail",
					 "a confidential-computing guest device is present, but this build does not ask it "
					 "for a hardware report: the report is signed by the monitor's key only");
	return json_pack("{s:s, s:s}", "type", "none", "detail",
			 "no confidential-computing guest device (/dev/sev-guest, /dev/tdx_guest): the report is signed "
			 "by the monitor's key only and vouches for what the monitor measured, not for the machine");
}

/* The report's text (attest.h), malloc'd, or NULL with err. */
static char *report(struct monitor *m, struct function *fn, const uint8_t *nonce, size_t nonce_len,
		    struct cit_error *err)
{
	char nonce_hex[2 * CIT_ATTEST_NONCE_MAX + 1];
	sodium_bin2hex(nonce_hex, sizeof(nonce_hex), nonce, nonce_len);
	json_t *monitor = json_pack("{s:o, s:o, s:s, s:o}", "measurement", hex_json(m->self_measure, 32), "public_key",
				    hex_json(m->id_pk, 32), "version", "citadel " CITADEL_VERSION, "components",
				    components_json(m->self_components));
	json_t *body = json_pack("{s:i, s:I, s:s, s:o, s:o, s:o}", "version", 1, "timestamp", (json_int_t)time(NULL),
				 "nonce", nonce_hex, "monitor", monitor, "function",
				 fn ? function_json(m, fn) : json_null(), "platform", platform_json());
	if (body && fn)
		json_object_set_new(body, "sealing_key", hex_json(fn->seal_pk, 32));
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(body);
	if (!text) {
		cit_error_say(err, -ENOMEM, "out of memory");
		return NULL;
	}
	size_t clen = sizeof(CIT_REPORT_CONTEXT) - 1, blen = strlen(text);
	uint8_t *msg = malloc(clen + blen), sig[crypto_sign_BYTES];
	char sig_hex[2 * crypto_sign_BYTES + 1];
	if (!msg) {
		free(text);
		cit_error_say(err, -ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(msg, CIT_REPORT_CONTEXT, clen);
	memcpy(msg + clen, text, blen);
	crypto_sign_detached(sig, NULL, msg, clen + blen, m->id_sk);
	free(msg);
	sodium_bin2hex(sig_hex, sizeof(sig_hex), sig, sizeof(sig));
	json_t *outer = json_pack("{s:s, s:s, s:s}", "format", CIT_REPORT_FORMAT, "body", text, "signature", sig_hex);
	free(text);
	char *out = outer ? json_dumps(outer, JSON_INDENT(2)) : NULL;
	json_decref(outer);
	if (!out)
		cit_error_say(err, -ENOMEM, "out of memory");
	return out;
}

int cit_attest_on_request(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	struct client *cl = container_of(p, struct client, peer);
	const struct cit_p_attest *a = CIT_P(rx, cit_p_attest);
	uint64_t id = rx->hdr.id;
	struct function *fn = NULL;
	if (a->name[0] && !(fn = cit_fn_find(m, a->name)))
		return cit_reply_error(m, cl, id, -ENOENT, "no function named '%s' (see citadel ls)", a->name), 0;
	if (fn && !fn->measured)
		return cit_reply_error(m, cl, id, -EAGAIN, "function %s is being measured (its program is being "
				       "loaded): ask again once its deploy is done", fn->spec.name), 0;
	struct cit_error err = { 0 };
	char *text = self_measure(m, &err) < 0 ? NULL : report(m, fn, a->nonce, a->nonce_len, &err);
	if (!text)
		return cit_reply_error(m, cl, id, -EIO, "attesting: %s", err.msg), 0;
	if (cit_reply_data(m, cl, id, 0, text, strlen(text)) < 0)
		cit_mlog(m, "warn", "reply_dropped", "id=%llu", (unsigned long long)id);
	free(text);
	return 0;
}

int cit_attest_unseal(struct monitor *m, struct function *fn, struct cit_rx *rx, void **owned,
		      uint8_t reply_pk[32], char ctype[CIT_CTYPE_MAX], char why[CIT_TEXT_MAX])
{
	*owned = NULL;
	if (!fn->measured) {
		snprintf(why, CIT_TEXT_MAX, "function %s is being measured: seal the request once its deploy is done",
			 fn->spec.name);
		return -EAGAIN;
	}
	sealing_keys(m, fn);
	const uint8_t *ct = rx->data;
	size_t len = rx->data_len;
	void *map = NULL;
	if (rx->nfds) {
		const void *d;
		int rc = cit_object_map(rx->fds[0], rx->obj_len, CIT_FN_MAX_OUTPUT + 1024, &d, &map);
		if (rc < 0) {
			snprintf(why, CIT_TEXT_MAX, "the request's data object is not sealed or too large");
			return rc;
		}
		ct = d;
		len = rx->obj_len;
	}
	size_t plen = len > crypto_box_SEALBYTES ? len - crypto_box_SEALBYTES : 0;
	uint8_t *plain = plen >= 33 ? malloc(plen) : NULL;
	int rc = 0;
	if (plen < 33)
		rc = -EINVAL, snprintf(why, CIT_TEXT_MAX, "a sealed request is at least %d bytes",
					  crypto_box_SEALBYTES + 33);
	else if (!plain)
		rc = -ENOMEM, snprintf(why, CIT_TEXT_MAX, "out of memory");
	else if (crypto_box_seal_open(plain, ct, len, fn->seal_pk, fn->seal_sk) != 0)
		rc = -EINVAL, snprintf(why, CIT_TEXT_MAX, "the sealed request does not open with function %s's sealing "
					  "key: fetch its report again (its code may have changed)", fn->spec.name);
	if (map)
		munmap(map, len);
	size_t clen = rc == 0 ? plain[32] : 0;
	if (rc == 0 && (33 + clen > plen || clen >= CIT_CTYPE_MAX))
		rc = -EINVAL, snprintf(why, CIT_TEXT_MAX, "the sealed request's content type is cut");
	if (rc == 0) {
		memset(ctype, 0, CIT_CTYPE_MAX);
		memcpy(ctype, plain + 33, clen);
		if (memchr(plain + 33, 0, clen) || !cit_ctype_ok(ctype, CIT_CTYPE_MAX) || cit_ctype_sealed(ctype))
			rc = -EINVAL, snprintf(why, CIT_TEXT_MAX, "the sealed request's content type is not one");
	}
	if (rc < 0) {
		free(plain);
		return rc;
	}
	memcpy(reply_pk, plain, 32);
	const uint8_t *body = plain + 33 + clen;
	size_t blen = plen - 33 - clen;
	if (rx->nfds) {
		close(rx->fds[0]);
		rx->fds[0] = -1;
		rx->nfds = 0;
	}
	rx->obj_len = 0;
	if (blen <= CIT_INLINE_MAX) {
		rx->data = body;
		rx->data_len = (uint32_t)blen;
		*owned = plain;
		return 0;
	}
	int fd = cit_object_create(body, blen);
	sodium_memzero(plain, plen);
	free(plain);
	if (fd < 0) {
		snprintf(why, CIT_TEXT_MAX, "out of memory for the opened request");
		return fd;
	}
	rx->fds[0] = fd;
	rx->nfds = 1;
	rx->obj_len = blen;
	rx->data = NULL;
	rx->data_len = 0;
	return 0;
}

int cit_attest_reply_sealed(struct monitor *m, struct client *cl, uint64_t id, const struct outcome *o, int fd,
			    uint64_t obj_len, const uint8_t pk[32])
{
	int out_fd = o->o ? o->o->fd : fd;
	const void *data = o->data;
	size_t len = o->len;
	void *map = NULL;
	if (out_fd >= 0) {
		len = o->o ? o->o->len : obj_len;
		int rc = cit_object_map(out_fd, len, CIT_FN_MAX_OUTPUT, &data, &map);
		if (rc < 0)
			return rc;
	}
	const char *ctype = o->content_type ? o->content_type : "";
	size_t clen = strnlen(ctype, CIT_CTYPE_MAX - 1), plen = 1 + clen + len;
	uint8_t *plain = malloc(plen), *ct = malloc(plen + crypto_box_SEALBYTES);
	int rc = plain && ct ? 0 : -ENOMEM;
	if (rc == 0) {
		plain[0] = (uint8_t)clen;
		memcpy(plain + 1, ctype, clen);
		if (len)
			memcpy(plain + 1 + clen, data, len);
		rc = crypto_box_seal(ct, plain, plen, pk) == 0 ? 0 : -EINVAL;
	}
	if (map)
		munmap(map, len);
	if (plain)
		sodium_memzero(plain, plen);
	free(plain);
	if (rc == 0) {
		struct cit_p_ok ok = { .http_status = o->http_status };
		memcpy(ok.content_type, CIT_SEALED_CTYPE, sizeof(CIT_SEALED_CTYPE));
		size_t ctlen = plen + crypto_box_SEALBYTES;
		cit_client_count(cl, -1, 0);
		if (cit_proto_send_data(cl->fd, CIT_MSG_OK, id, &ok, sizeof(ok), ct, ctlen) < 0)
			cit_mlog(m, "warn", "reply_dropped", "id=%llu", (unsigned long long)id);
		else if (ctlen > CIT_INLINE_MAX)
			cit_client_object_sent(m, cl, ctlen);
	}
	free(ct);
	return rc;
}
