/* The secrets released to the function's code (SECRETS, src/proto/proto.h), kept by the
 * template and so by every instance forked from it: cit_secret() reads them, citadel.secret()
 * in Python, and an exec function's program finds them as read-only files in a directory
 * of its instance's own ($CITADEL_SECRETS_DIR): a copy per instance, so that what one
 * program does to its files (chmod them: it owns them) no other instance sees. Every byte of the message is checked before it is
 * believed, although the monitor sent it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "citadel/function.h"
#include "common/fdutil.h"
#include "spec/spec.h"
#include "zygote/runtime.h"

static struct {
	char name[64];
	uint8_t *value;  /* owned */
	size_t len;
} secrets[CIT_SECRETS_MAX];
static uint32_t n_secrets;

int cit_runtime_secrets(struct cit_rx *rx)
{
	const void *data;
	size_t len;
	void *map;
	int rc = cit_rx_data(rx, &data, &len, &map);
	if (rc < 0)
		return rc;
	const uint8_t *p = data, *end = p + len;
	uint32_t count = CIT_P(rx, cit_p_secrets)->count;
	for (uint32_t i = 0; i < count && n_secrets < CIT_SECRETS_MAX && rc == 0; i++) {
		uint32_t vlen;
		size_t nlen = p < end ? p[0] : 0;
		if (!nlen || nlen > 63 || (size_t)(end - p) < 1 + nlen + 4) {
			rc = -EPROTO;
			break;
		}
		memcpy(secrets[n_secrets].name, p + 1, nlen);
		secrets[n_secrets].name[nlen] = 0;
		memcpy(&vlen, p + 1 + nlen, 4);
		p += 1 + nlen + 4;
		if (!cit_secret_name_ok(secrets[n_secrets].name) || vlen > CIT_SECRET_MAX || (size_t)(end - p) < vlen) {
			rc = -EPROTO;
			break;
		}
		if (!(secrets[n_secrets].value = malloc(vlen ? vlen : 1))) {
			rc = -ENOMEM;
			break;
		}
		memcpy(secrets[n_secrets].value, p, vlen);
		secrets[n_secrets].len = vlen;
		p += vlen;
		n_secrets++;
	}
	if (map)
		munmap(map, len);
	return rc;
}

int cit_runtime_secrets_to_dir(void)
{
	const char *own = getenv("TMPDIR");
	if (!n_secrets)
		return 0;
	if (!own)
		return -ENOENT;
	if (mkdir(CIT_SECRETS_SUBDIR, 0755) < 0)
		return errno == EEXIST ? 0 : -errno; /* written for an earlier call already */
	for (uint32_t i = 0; i < n_secrets; i++) {
		char path[128];
		snprintf(path, sizeof(path), CIT_SECRETS_SUBDIR "/%s", secrets[i].name);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
		int rc = fd < 0 ? -errno : cit_write_all(fd, secrets[i].value, secrets[i].len);
		if (fd >= 0)
			close(fd);
		if (rc < 0)
			return rc;
	}
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/" CIT_SECRETS_SUBDIR, own);
	if (chmod(CIT_SECRETS_SUBDIR, 0555) < 0)
		return -errno;
	return setenv("CITADEL_SECRETS_DIR", dir, 1) < 0 ? -errno : 0;
}

CIT_API const void *cit_secret(const char *name, size_t *len)
{
	for (uint32_t i = 0; name && i < n_secrets; i++)
		if (!strcmp(secrets[i].name, name)) {
			if (len)
				*len = secrets[i].len;
			return secrets[i].value;
		}
	errno = ENOENT;
	return NULL;
}
