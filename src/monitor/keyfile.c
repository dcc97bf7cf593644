/* The monitor's key files (its state's master key, its identity key): 32 bytes, raw or as
 * 64 hex digits, in a regular file of the monitor's user readable by it only. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "monitor/monitor.h"

int cit_key_file(const char *file, bool create, const char *what, uint8_t key[32], bool *made, struct cit_error *err)
{
	*made = false;
	if (create) {
		int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			uint8_t fresh[32];
			randombytes_buf(fresh, sizeof(fresh));
			int rc = cit_write_all(fd, fresh, sizeof(fresh)) == 0 && fsync(fd) == 0 ? 0 : -errno;
			sodium_memzero(fresh, sizeof(fresh));
			close(fd);
			if (rc < 0) {
				unlink(file);
				return cit_error_set(err, rc, "writing the %s %s", what, file);
			}
			*made = true;
		}
	}
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		return cit_error_set(err, e, "the %s %s", what, file);
	}
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & 077) || sb.st_uid != geteuid()) {
		close(fd);
		return cit_error_say(err, -EPERM, "the %s %s must be a regular file of the monitor's user, readable by "
				     "its owner only (chmod 600)", what, file);
	}
	uint8_t buf[2 * 32 + 2];
	ssize_t n = cit_read_all(fd, buf, sizeof(buf));
	close(fd);
	size_t bin = 0;
	int rc = 0;
	if (n == 32)
		memcpy(key, buf, 32);
	else if (!((n == 64 || (n == 65 && buf[64] == '\n')) &&
		   sodium_hex2bin(key, 32, (const char *)buf, 64, NULL, &bin, NULL) == 0 && bin == 32))
		rc = cit_error_say(err, -EINVAL, "the %s %s: 32 bytes, or 64 hex digits, are needed", what, file);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}
