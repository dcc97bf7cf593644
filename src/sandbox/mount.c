#include "sandbox/mount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

/* Where things stand while the view is built: the old root under OLD, the new under NEW,
 * both inside a small staging tmpfs that disappears with the final pivot. */
#define OLD "/oldroot"
#define NEW "/newroot"

static const char *const host_system_dirs[] = {
	"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt",
};

/* Entries of a --root tree the sandbox provides itself. */
static const char *const replaced_in_root[] = { "proc", "dev", "tmp", "sys", "run" };

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom" };

static int sys_openat2(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = { .flags = (uint64_t)flags, .resolve = resolve };
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

static int mount_fs(const char *type, const char *target, unsigned long flags, const char *data,
		    struct cit_error *err)
{
	if (mount(type, target, type, flags, data) < 0)
		return cit_error_set(err, -errno, "mounting %s on %s", type, target);
	return 0;
}

/* Opens (creating when missing) path beneath rootfd, one component at a time, following
 * no symlink. The leaf is a directory, or an empty file when leaf_is_file. Returns an
 * O_PATH fd or a negative errno. */
static int open_mountpoint(int rootfd, const char *path, bool leaf_is_file)
{
	char buf[PATH_MAX];
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	_cleanup_close_ int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	char *save = NULL;
	const uint64_t res = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		bool leaf = save == NULL || *save == '\0';
		if (!strcmp(c, ".") || !strcmp(c, ".."))
			return -EINVAL;
		if (leaf && leaf_is_file) {
			int fd = openat(cur, c, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (fd >= 0)
				close(fd);
			else if (errno != EEXIST)
				return -errno;
			return sys_openat2(cur, c, O_PATH | O_CLOEXEC, res);
		}
		int next = sys_openat2(cur, c, O_PATH | O_DIRECTORY | O_CLOEXEC, res);
		if (next == -ENOENT) {
			if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST)
				return -errno;
			next = sys_openat2(cur, c, O_PATH | O_DIRECTORY | O_CLOEXEC, res);
		}
		if (next < 0)
			return next;
		close(cur);
		cur = next;
	}
	return steal_fd(&cur);
}

/* Clones the tree at src (a path in the old root) and attaches it at dst beneath the new
 * root, read-only unless writable, always nosuid and nodev except for device binds. */
static int bind_tree(int newroot, const char *src, const char *dst, bool writable, bool device,
		     struct cit_error *err)
{
	_cleanup_close_ int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src,
						OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return cit_error_set(err, -errno, "bind source %s", src + strlen(OLD));
	struct stat st;
	if (fstat(tree, &st) < 0)
		return cit_error_set(err, -errno, "bind source %s", src + strlen(OLD));
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID };
	if (!writable)
		attr.attr_set |= MOUNT_ATTR_RDONLY;
	if (!device)
		attr.attr_set |= MOUNT_ATTR_NODEV;
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return cit_error_set(err, -errno, "restricting bind of %s", src + strlen(OLD));
	_cleanup_close_ int at = open_mountpoint(newroot, dst, !S_ISDIR(st.st_mode));
	if (at < 0)
		return cit_error_set(err, at, "bind destination %s", dst);
	if (syscall(SYS_move_mount, tree, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return cit_error_set(err, -errno, "attaching %s at %s", src + strlen(OLD), dst);
	return 0;
}

static bool listed(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, list[i]))
			return true;
	return false;
}

/* Puts one top-level entry of the source tree into the new root: a symlink is copied as
 * a symlink, anything else is bound read-only. A missing entry is skipped. */
static int add_top_entry(int newroot, const char *srcdir, const char *name, struct cit_error *err)
{
	char src[PATH_MAX], dst[PATH_MAX];
	snprintf(src, sizeof(src), "%s/%s", srcdir, name);
	snprintf(dst, sizeof(dst), "/%s", name);
	struct stat st;
	if (lstat(src, &st) < 0)
		return errno == ENOENT ? 0 : cit_error_set(err, -errno, "%s", src + strlen(OLD));
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(src, target, sizeof(target) - 1);
		if (n < 0)
			return cit_error_set(err, -errno, "readlink %s", src + strlen(OLD));
		target[n] = '\0';
		if (symlinkat(target, newroot, name) < 0)
			return cit_error_set(err, -errno, "symlink /%s", name);
		return 0;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return 0;
	return bind_tree(newroot, src, dst, false, false, err);
}

static int add_system_dirs(int newroot, const struct cit_sandbox_config *cfg, struct cit_error *err)
{
	int rc;
	if (!cfg->root) {
		for (size_t i = 0; i < ARRAY_SIZE(host_system_dirs); i++)
			if ((rc = add_top_entry(newroot, OLD, host_system_dirs[i], err)) < 0)
				return rc;
		return 0;
	}
	char srcdir[PATH_MAX];
	snprintf(srcdir, sizeof(srcdir), OLD "%s", cfg->root);
	DIR *d = opendir(srcdir);
	if (!d)
		return cit_error_set(err, -errno, "--root %s", cfg->root);
	rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    listed(e->d_name, replaced_in_root, ARRAY_SIZE(replaced_in_root)))
			continue;
		rc = add_top_entry(newroot, srcdir, e->d_name, err);
	}
	closedir(d);
	return rc;
}

static int add_dev(int newroot, bool with_tty, struct cit_error *err)
{
	int rc = mount_fs("tmpfs", NEW "/dev", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755", err);
	if (rc < 0)
		return rc;
	char src[64], dst[64];
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes) + (with_tty ? 1 : 0); i++) {
		const char *n = i < ARRAY_SIZE(dev_nodes) ? dev_nodes[i] : "tty";
		snprintf(src, sizeof(src), OLD "/dev/%s", n);
		snprintf(dst, sizeof(dst), "/dev/%s", n);
		if ((rc = bind_tree(newroot, src, dst, true, true, err)) < 0)
			return rc;
	}
	static const char *const links[][2] = {
		{ "/proc/self/fd", NEW "/dev/fd" }, { "/proc/self/fd/0", NEW "/dev/stdin" },
		{ "/proc/self/fd/1", NEW "/dev/stdout" }, { "/proc/self/fd/2", NEW "/dev/stderr" },
		{ "/tmp", NEW "/dev/shm" }, { "pts/ptmx", NEW "/dev/ptmx" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(links) - (with_tty ? 0 : 1); i++)
		if (symlink(links[i][0], links[i][1]) < 0)
			return cit_error_set(err, -errno, "symlink %s", links[i][1] + strlen(NEW));
	if (with_tty) {
		if (mkdir(NEW "/dev/pts", 0755) < 0)
			return cit_error_set(err, -errno, "mkdir /dev/pts");
		rc = mount_fs("devpts", NEW "/dev/pts", MS_NOSUID | MS_NOEXEC,
			      "newinstance,ptmxmode=0666,mode=0620", err);
		if (rc < 0)
			return rc;
	}
	if (mount(NULL, NEW "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		return cit_error_set(err, -errno, "making /dev read-only");
	return 0;
}

/* The staging area: a tmpfs on the old /tmp becomes the root, the host root moves to
 * OLD beneath it, and the new root is another tmpfs at NEW. Paths of the host are then
 * all reached as OLD/path, including those under /tmp. */
static int stage(struct cit_error *err)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return cit_error_set(err, -errno, "making the mount tree private");
	int rc = mount_fs("tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "size=64k,mode=0700", err);
	if (rc < 0)
		return rc;
	if (mkdir("/tmp" OLD, 0700) < 0 || mkdir("/tmp" NEW, 0755) < 0)
		return cit_error_set(err, -errno, "staging directories");
	if (syscall(SYS_pivot_root, "/tmp", "/tmp" OLD) < 0)
		return cit_error_set(err, -errno, "pivot_root into the staging area");
	if (chdir("/") < 0)
		return cit_error_set(err, -errno, "chdir /");
	return mount_fs("tmpfs", NEW, MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755", err);
}

/* Makes NEW the root and drops the staging area and the whole host tree with it. */
static int enter(struct cit_error *err)
{
	if (mount(NULL, NEW, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return cit_error_set(err, -errno, "making the root read-only");
	if (chdir(NEW) < 0)
		return cit_error_set(err, -errno, "chdir to the new root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return cit_error_set(err, -errno, "pivot_root into the new root");
	if (umount2(".", MNT_DETACH) < 0)
		return cit_error_set(err, -errno, "detaching the host tree");
	if (chdir("/") < 0)
		return cit_error_set(err, -errno, "chdir /");
	return 0;
}

int cit_fs_build(const struct cit_sandbox_config *cfg, bool with_tty, struct cit_error *err)
{
	int rc = stage(err);
	if (rc < 0)
		return rc;
	_cleanup_close_ int newroot = open(NEW, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (newroot < 0)
		return cit_error_set(err, -errno, "opening the new root");
	if ((rc = add_system_dirs(newroot, cfg, err)) < 0)
		return rc;
	if (mkdir(NEW "/proc", 0555) < 0 || mkdir(NEW "/dev", 0755) < 0 || mkdir(NEW "/tmp", 01777) < 0)
		return cit_error_set(err, -errno, "creating the root's directories");
	/* Programs expect /var/tmp; a --root tree may bring its own /var. */
	if (mkdir(NEW "/var", 0755) == 0 && symlink("../tmp", NEW "/var/tmp") < 0)
		return cit_error_set(err, -errno, "creating /var/tmp");
	if ((rc = mount_fs("proc", NEW "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err)) < 0)
		return rc;
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%llu,mode=1777", (unsigned long long)cfg->tmp_bytes);
	if ((rc = mount_fs("tmpfs", NEW "/tmp", MS_NOSUID | MS_NODEV, opts, err)) < 0)
		return rc;
	if ((rc = add_dev(newroot, with_tty, err)) < 0)
		return rc;
	for (size_t i = 0; i < cfg->n_binds; i++) {
		const struct cit_bind *b = &cfg->binds[i];
		char src[PATH_MAX];
		snprintf(src, sizeof(src), OLD "%s", b->src);
		if ((rc = bind_tree(newroot, src, b->dst, b->writable, false, err)) < 0)
			return rc;
	}
	return enter(err);
}
