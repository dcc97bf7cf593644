#include "sandbox/fsmount.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/util.h"

/* Debian 12's headers predate these (Linux 6.5 and 6.13). */
#ifndef FSCONFIG_SET_FD
#define FSCONFIG_SET_FD 5
#endif

static int sys_fsconfig(int fs, unsigned int cmd, const char *key, const void *value, int aux)
{
	return syscall(SYS_fsconfig, fs, cmd, key, value, aux) < 0 ? -errno : 0;
}

/* Ends a filesystem context: creates the superblock and returns a detached mount of it
 * with attrs, or a negative errno with the kernel's own explanation (the context's log)
 * when it has one. */
static int create(int fs, unsigned int attrs, const char *what, struct cit_error *err)
{
	int rc = sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	if (rc < 0) {
		char why[256];
		ssize_t n = read(fs, why, sizeof(why) - 1);
		while (n > 0 && why[n - 1] == '\n')
			n--;
		why[n > 0 ? n : 0] = '\0';
		return cit_error_set(err, rc, "creating %s%s%s", what, n > 0 ? " (" : "", n > 0 ? why : "");
	}
	int m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attrs);
	if (m < 0)
		return cit_error_set(err, -errno, "mounting %s", what);
	return m;
}

static int tmpfs(const char *size, const char *inodes, unsigned int attrs, struct cit_error *err)
{
	_cleanup_close_ int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return cit_error_set(err, -errno, "fsopen(tmpfs)");
	int rc = sys_fsconfig(fs, FSCONFIG_SET_STRING, "size", size, 0);
	if (rc == 0)
		rc = sys_fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", inodes, 0);
	if (rc == 0)
		rc = sys_fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0);
	if (rc < 0)
		return cit_error_set(err, rc, "configuring a tmpfs");
	return create(fs, attrs, "a tmpfs", err);
}

int cit_fsm_tmpfs(const char *size, const char *inodes, struct cit_error *err)
{
	return tmpfs(size, inodes, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err);
}

int cit_fsm_overlay(int tree, int empty, struct cit_error *err)
{
	_cleanup_close_ int fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return cit_error_set(err, -errno, "fsopen(overlay)");
	int rc = sys_fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, tree);
	if (rc == 0)
		rc = sys_fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, empty);
	if (rc < 0)
		return cit_error_set(err, rc, "configuring an overlay (overlayfs with layers given as fds: Linux 6.13)");
	/* Nothing but the layer as it is: no redirects to follow (set by whoever wrote the
	 * tree), no metadata-only copies. */
	if ((rc = sys_fsconfig(fs, FSCONFIG_SET_STRING, "redirect_dir", "nofollow", 0)) < 0 ||
	    (rc = sys_fsconfig(fs, FSCONFIG_SET_STRING, "metacopy", "off", 0)) < 0)
		return cit_error_set(err, rc, "configuring an overlay");
	return create(fs, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, "a read-only overlay", err);
}

int cit_fsm_devfs(bool with_tty, struct cit_error *err)
{
	static const struct {
		const char *name;
		unsigned int major, minor;
	} nodes[] = { { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 }, { "random", 1, 8 }, { "urandom", 1, 9 },
		      { "tty", 5, 0 } };
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" }, { "/tmp", "shm" }, { "pts/ptmx", "ptmx" },
	};
	/* Writable while it is filled; read-only for the sandbox (writing to a device node
	 * needs no writable mount). noexec, nosuid; devices allowed, only these. */
	_cleanup_close_ int dev = tmpfs("64k", "32", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err);
	if (dev < 0)
		return dev;
	size_t n_nodes = ARRAY_SIZE(nodes) - (with_tty ? 0 : 1), n_links = ARRAY_SIZE(links) - (with_tty ? 0 : 1);
	for (size_t i = 0; i < n_nodes; i++)
		if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0 ||
		    fchmodat(dev, nodes[i].name, 0666, 0) < 0) /* the umask took bits off */
			return cit_error_set(err, -errno, "making /dev/%s", nodes[i].name);
	for (size_t i = 0; i < n_links; i++)
		if (symlinkat(links[i][0], dev, links[i][1]) < 0)
			return cit_error_set(err, -errno, "making /dev/%s", links[i][1]);
	if (mkdirat(dev, "pts", 0755) < 0)
		return cit_error_set(err, -errno, "making /dev/pts");
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	if (syscall(SYS_mount_setattr, dev, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
		return cit_error_set(err, -errno, "making /dev read-only");
	return steal_fd(&dev);
}
