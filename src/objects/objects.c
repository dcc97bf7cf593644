/* Data objects (objects.h). */
#include "objects/objects.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdutil.h"

int cit_object_create(const void *data, size_t len)
{
	int fd = memfd_create("citadel-object", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int rc = cit_write_all(fd, data, len);
	if (rc == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int cit_object_check(int fd, uint64_t len, uint64_t max)
{
	const int need = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & need) != need)
		return -EPERM;
	struct stat st;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != len)
		return -EPROTO;
	return len > max ? -EMSGSIZE : 0;
}

int cit_object_map(int fd, uint64_t len, uint64_t max, const void **data, void **map)
{
	*data = NULL;
	*map = NULL;
	int rc = cit_object_check(fd, len, max);
	if (rc < 0 || len == 0)
		return rc;
	if (len > SIZE_MAX)
		return -EMSGSIZE;
	void *m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	*data = m;
	*map = m;
	return 0;
}
