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
#include "sandbox/idmap.h"

/* Where the new root is built, in the sandbox's own mount namespace (the host's /tmp is
 * only covered there, never touched). */
#define NEW "/tmp"

static const char *const host_system_dirs[] = {
	"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt",
};

/* Entries of a --root tree that the sandbox provides itself. */
static const char *const replaced_in_root[] = { "proc", "dev", "tmp", "sys", "run" };

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

/* ---- the supervisor's half ------------------------------------------------------- */

static int sys_openat2(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = { .flags = (uint64_t)flags, .resolve = resolve };
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}


/* Adds a detached, restricted clone of the tree at (dirfd, path) to attach at dst. A
 * user's bind (idmap) is idmapped later only if its path holds no symlink at all: the
 * owner that the sandbox becomes must be the owner of what the user named, not of where
 * a link (perhaps planted by an earlier run) leads. `what` names the source in errors. */
static int plan_tree(struct cit_fs_plan *plan, int dirfd, const char *path, const char *what, const char *dst,
		     bool writable, bool device, bool idmap, struct cit_error *err)
{
	if (plan->n >= ARRAY_SIZE(plan->e))
		return cit_error_set(err, -E2BIG, "too many mounts");
	struct cit_fs_entry *e = &plan->e[plan->n];
	_cleanup_close_ int at = sys_openat2(dirfd, path, O_PATH | O_CLOEXEC,
					     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	bool plain_path = at >= 0;
	if (at == -ELOOP && dirfd == AT_FDCWD) /* the user named a path through a link */
		at = sys_openat2(dirfd, path, O_PATH | O_CLOEXEC, RESOLVE_NO_MAGICLINKS);
	if (at < 0)
		return cit_error_set(err, at, "bind source %s", what);
	_cleanup_close_ int tree = (int)syscall(SYS_open_tree, at, "",
						AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return cit_error_set(err, -errno, "bind source %s", what);
	struct stat st;
	if (fstat(tree, &st) < 0)
		return cit_error_set(err, -errno, "bind source %s", what);
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID };
	if (!writable)
		attr.attr_set |= MOUNT_ATTR_RDONLY;
	if (!device)
		attr.attr_set |= MOUNT_ATTR_NODEV;
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return cit_error_set(err, -errno, "restricting bind of %s", what);
	snprintf(e->dst, sizeof(e->dst), "%s", dst);
	e->link[0] = '\0';
	e->dir = S_ISDIR(st.st_mode);
	e->idmap = idmap && plain_path;
	e->fd = steal_fd(&tree);
	plan->n++;
	return 0;
}

/* Adds one top-level entry of a source tree (dirfd): a symlink is copied as a symlink, a
 * directory or file is bound read-only, anything else (or a missing entry) is skipped.
 * Everything is looked up relative to dirfd without following the entry: an entry
 * swapped for a link between the look and the open is refused, not followed. */
static int plan_top(struct cit_fs_plan *plan, int dirfd, const char *srcdir, const char *name,
		    struct cit_error *err)
{
	char what[PATH_MAX], dst[CIT_FS_NAME_MAX];
	snprintf(what, sizeof(what), "%s/%s", !strcmp(srcdir, "/") ? "" : srcdir, name);
	snprintf(dst, sizeof(dst), "/%s", name);
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cit_error_set(err, -errno, "%s", what);
	if (S_ISLNK(st.st_mode)) {
		if (plan->n >= ARRAY_SIZE(plan->e))
			return cit_error_set(err, -E2BIG, "too many mounts");
		struct cit_fs_entry *e = &plan->e[plan->n];
		ssize_t n = readlinkat(dirfd, name, e->link, sizeof(e->link) - 1);
		if (n < 0)
			return cit_error_set(err, -errno, "readlink %s", what);
		e->link[n] = '\0';
		snprintf(e->dst, sizeof(e->dst), "%s", dst);
		e->fd = -1;
		plan->n++;
		return 0;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return 0;
	return plan_tree(plan, dirfd, name, what, dst, false, false, false, err);
}

static bool listed(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, list[i]))
			return true;
	return false;
}

static int plan_root_entries(struct cit_fs_plan *plan, const char *root, struct cit_error *err)
{
	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		int e = -errno;
		if (dfd >= 0)
			close(dfd);
		return cit_error_set(err, e, "--root %s", root);
	}
	int rc = 0;
	size_t tops = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    listed(e->d_name, replaced_in_root, ARRAY_SIZE(replaced_in_root)))
			continue;
		if (++tops > CIT_FS_MAX_TOP || strlen(e->d_name) >= CIT_FS_NAME_MAX - 1)
			rc = cit_error_set(err, -E2BIG, "--root %s: more than %d top-level entries or a name too long",
					   root, CIT_FS_MAX_TOP);
		else
			rc = plan_top(plan, dirfd(d), root, e->d_name, err);
	}
	closedir(d);
	return rc;
}

int cit_fs_plan_open(struct cit_fs_plan *plan, const struct cit_sandbox_config *cfg, bool with_tty,
		     struct cit_error *err)
{
	plan->n = 0;
	int rc = 0;
	if (cfg->root)
		rc = plan_root_entries(plan, cfg->root, err);
	_cleanup_close_ int hostroot = cfg->root ? -1 : open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; rc == 0 && !cfg->root && i < ARRAY_SIZE(host_system_dirs); i++)
		rc = plan_top(plan, hostroot, "/", host_system_dirs[i], err);
	for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(dev_nodes) - (with_tty ? 0 : 1); i++) {
		char src[64];
		snprintf(src, sizeof(src), "/dev/%s", dev_nodes[i]);
		rc = plan_tree(plan, AT_FDCWD, src, src, src, true, true, false, err);
	}
	for (size_t i = 0; rc == 0 && i < cfg->n_binds; i++)
		rc = plan_tree(plan, AT_FDCWD, cfg->binds[i].src, cfg->binds[i].src, cfg->binds[i].dst,
			       cfg->binds[i].writable, false, true, err);
	if (rc < 0)
		cit_fs_plan_close(plan);
	return rc;
}

int cit_fs_plan_idmap(struct cit_fs_plan *plan, uid_t outside, struct cit_error *err)
{
	/* One namespace per owner; a run rarely binds more than a few. */
	struct { uid_t uid; gid_t gid; int fd; } ns[8];
	size_t n_ns = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < plan->n; i++) {
		struct cit_fs_entry *e = &plan->e[i];
		struct stat st;
		if (!e->idmap || e->fd < 0 || fstat(e->fd, &st) < 0 || st.st_uid == 0 || st.st_gid == 0)
			continue;
		int fd = -1;
		for (size_t j = 0; j < n_ns && fd < 0; j++)
			if (ns[j].uid == st.st_uid && ns[j].gid == st.st_gid)
				fd = ns[j].fd;
		if (fd < 0) {
			if (n_ns == ARRAY_SIZE(ns))
				continue; /* more owners than that: the rest stay plain binds */
			if ((rc = cit_idmap_userns(st.st_uid, st.st_gid, outside, &fd, err)) < 0)
				break;
			ns[n_ns].uid = st.st_uid;
			ns[n_ns].gid = st.st_gid;
			ns[n_ns++].fd = fd;
		}
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)fd };
		if (syscall(SYS_mount_setattr, e->fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0 &&
		    errno != EINVAL && errno != EOPNOTSUPP)
			rc = cit_error_set(err, -errno, "idmapping the bind at %s", e->dst);
	}
	for (size_t j = 0; j < n_ns; j++)
		close(ns[j].fd);
	return rc;
}

void cit_fs_plan_close(struct cit_fs_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++)
		if (plan->e[i].fd >= 0)
			close(steal_fd(&plan->e[i].fd));
	plan->n = 0;
}

/* ---- the sandbox's half ---------------------------------------------------------- */

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
	char buf[CIT_FS_NAME_MAX];
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

static int attach(int newroot, const struct cit_fs_entry *e, struct cit_error *err)
{
	if (e->fd < 0) {
		if (symlinkat(e->link, newroot, e->dst + 1) < 0)
			return cit_error_set(err, -errno, "symlink %s", e->dst);
		return 0;
	}
	_cleanup_close_ int at = open_mountpoint(newroot, e->dst, !e->dir);
	if (at == -EROFS)
		return cit_error_set(err, at, "bind destination %s does not exist and cannot be created in a "
					      "read-only directory", e->dst);
	if (at < 0)
		return cit_error_set(err, at, "bind destination %s", e->dst);
	if (syscall(SYS_move_mount, e->fd, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return cit_error_set(err, -errno, "attaching %s", e->dst);
	return 0;
}

static int make_dev(bool with_tty, struct cit_error *err)
{
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
		int rc = mount_fs("devpts", NEW "/dev/pts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Makes NEW the root; the host's tree, stacked on top by pivot_root(".", "."), is then
 * detached, and with it every path to the host. */
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

int cit_fs_build(const struct cit_sandbox_config *cfg, const struct cit_fs_plan *plan, bool with_tty,
		 struct cit_error *err)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return cit_error_set(err, -errno, "making the mount tree private");
	int rc = mount_fs("tmpfs", NEW, MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755", err);
	if (rc < 0)
		return rc;
	_cleanup_close_ int newroot = open(NEW, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (newroot < 0)
		return cit_error_set(err, -errno, "opening the new root");
	if (mkdir(NEW "/proc", 0555) < 0 || mkdir(NEW "/dev", 0755) < 0 || mkdir(NEW "/tmp", 01777) < 0)
		return cit_error_set(err, -errno, "creating the root's directories");
	/* The host's /proc is still visible here, which the kernel requires of a new one. */
	if ((rc = mount_fs("proc", NEW "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err)) < 0)
		return rc;
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%llu,mode=1777", (unsigned long long)cfg->tmp_bytes);
	if ((rc = mount_fs("tmpfs", NEW "/tmp", MS_NOSUID | MS_NODEV, opts, err)) < 0)
		return rc;
	if ((rc = make_dev(with_tty, err)) < 0)
		return rc;
	/* In plan order: system entries, device nodes, then binds, which may nest. */
	for (size_t i = 0; i < plan->n; i++)
		if ((rc = attach(newroot, &plan->e[i], err)) < 0)
			return rc;
	/* Programs expect /var/tmp; a --root tree may bring its own /var. */
	if (mkdir(NEW "/var", 0755) == 0 && symlink("../tmp", NEW "/var/tmp") < 0)
		return cit_error_set(err, -errno, "creating /var/tmp");
	return enter(err);
}
