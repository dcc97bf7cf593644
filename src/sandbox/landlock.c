#include "sandbox/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

/* Debian 12's headers stop at ABI 3; the later rights are spelled out here. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#define CIT_LL_FS_IOCTL_DEV (1ULL << 15)          /* ABI 5 */
#define CIT_LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)    /* ABI 6 */
#define CIT_LL_SCOPE_SIGNAL (1ULL << 1)           /* ABI 6 */

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define FS_READ (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                  \
		  LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |                   \
		  LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |                     \
		  LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM)
/* Never granted anywhere: device nodes and block devices cannot be made. */
#define FS_NEVER (LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK)

/* The kernel's ABI does not change while a process lives: asked once (a template asks
 * before it forks, and its trustlets start with the answer). */
static int abi_cached;

int cit_landlock_abi(void)
{
	if (abi_cached)
		return abi_cached;
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (v < 0)
		return -errno;
	return abi_cached = (int)v;
}

static int allow_fd(int ruleset, int fd, bool dir, uint64_t access, uint64_t handled)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access & handled, .parent_fd = fd };
	/* A rule on a file may only carry file rights. */
	if (!dir)
		pb.allowed_access &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
				     LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
				     CIT_LL_FS_IOCTL_DEV;
	return syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0 ? -errno : 0;
}

static int allow(int ruleset, const char *path, uint64_t access, uint64_t handled, struct cit_error *err)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
	struct stat st;
	int rc = fd < 0 || fstat(fd, &st) < 0 ? -errno : allow_fd(ruleset, fd, S_ISDIR(st.st_mode), access, handled);
	return rc < 0 ? cit_error_set(err, rc, "landlock rule for %s", path) : 0;
}

/* A ruleset handling every right this kernel knows, scoped (signals, abstract sockets) when
 * it can be: returns its fd and the handled rights in *handled. */
static int new_ruleset(uint64_t *handled, struct cit_error *err)
{
	int abi = cit_landlock_abi();
	if (abi < 1)
		return cit_error_set(err, abi < 0 ? abi : -EOPNOTSUPP, "landlock is not available");
	struct ll_ruleset_attr attr = { .handled_access_fs = FS_READ | FS_WRITE | FS_NEVER };
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		attr.handled_access_fs |= CIT_LL_FS_IOCTL_DEV;
	size_t attr_size = offsetof(struct ll_ruleset_attr, handled_access_net);
	if (abi >= 6) {
		attr.scoped = CIT_LL_SCOPE_ABSTRACT_UNIX | CIT_LL_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (rs < 0)
		return cit_error_set(err, -errno, "landlock_create_ruleset");
	*handled = attr.handled_access_fs;
	return rs;
}

#define FS_RW (FS_READ | FS_WRITE | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)
#define FS_DEV (FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | CIT_LL_FS_IOCTL_DEV)

int cit_landlock_confine(const struct cit_landlock_path *ro, size_t n_ro, int dev, int own, struct cit_error *err)
{
	/* Without the scopes, trustlets of one function (one uid) could signal each other:
	 * no weaker trustlet is made (a security step that fails is fatal). */
	if (cit_landlock_abi() < 6)
		return cit_error_set(err, -EOPNOTSUPP, "landlock ABI 6 (Linux 6.12) is needed to keep "
						       "trustlets from signalling each other");
	uint64_t h;
	_cleanup_close_ int rs = new_ruleset(&h, err);
	if (rs < 0)
		return rs;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n_ro; i++)
		rc = allow_fd(rs, ro[i].fd, ro[i].dir, FS_READ, h);
	if (rc == 0)
		rc = allow_fd(rs, dev, true, FS_DEV, h);
	if (rc == 0)
		rc = allow_fd(rs, own, true, FS_RW, h);
	if (rc < 0)
		return cit_error_set(err, rc, "landlock rule");
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		return cit_error_set(err, -errno, "landlock_restrict_self");
	return 0;
}

int cit_landlock_apply(const struct cit_sandbox_config *cfg, struct cit_error *err)
{
	uint64_t h;
	_cleanup_close_ int rs = new_ruleset(&h, err);
	if (rs < 0)
		return rs;
	int rc = allow(rs, "/", FS_READ, h, err);
	if (rc == 0)
		rc = allow(rs, "/tmp", FS_RW, h, err);
	if (rc == 0)
		rc = allow(rs, "/dev", FS_DEV, h, err);
	for (size_t i = 0; rc == 0 && i < cfg->n_binds; i++)
		if (cfg->binds[i].kind == CIT_BIND_RW)
			rc = allow(rs, cfg->binds[i].dst, FS_RW, h, err);
	if (rc < 0)
		return rc;
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		return cit_error_set(err, -errno, "landlock_restrict_self");
	return 0;
}
