#include "sandbox/mount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "sandbox/fsmount.h"
#include "sandbox/idmap.h"

/* Where the new root is built, in the sandbox's own mount namespace (the host's /tmp is
 * only covered there, never touched). */
#define NEW "/tmp"

static const char *const host_system_dirs[] = {
	"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt",
};

/* Entries of a --root tree that the sandbox provides itself. */
static const char *const replaced_in_root[] = { "proc", "dev", "tmp", "sys", "run" };

/* At most this many mounts below one bound tree are shown (each is a plan entry). */
#define SUBMOUNTS_MAX 32

/* ---- the supervisor's half ------------------------------------------------------- */

static int sys_openat2(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = { .flags = (uint64_t)flags, .resolve = resolve };
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

static int clone_tree(int dirfd, const char *path, bool recursive)
{
	int fd = (int)syscall(SYS_open_tree, dirfd, path,
			      AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
	return fd < 0 ? -errno : fd;
}

static int restrict_tree(int tree, bool writable)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
					       (writable ? 0 : MOUNT_ATTR_RDONLY) };
	return syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0 ? -errno
													   : 0;
}

/* The host's mount table, read once per plan when a bound tree may have mounts below it. */
struct mountpoints {
	char *text;               /* owned: /proc/self/mountinfo's mount points, decoded */
	const char *path[256];    /* borrowed from text */
	size_t n;
	bool read;
};

/* Decodes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *o = s;
	for (char *i = s; *i; i++, o++) {
		if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] >= '0' && i[2] <= '7' && i[3] >= '0' && i[3] <= '7') {
			*o = (char)(((i[1] - '0') << 6) | ((i[2] - '0') << 3) | (i[3] - '0'));
			i += 3;
		} else {
			*o = *i;
		}
	}
	*o = '\0';
}

static void mountpoints_read(struct mountpoints *mp)
{
	mp->read = true;
	size_t cap = 1 << 16;
	mp->text = malloc(cap);
	ssize_t n = mp->text ? cit_read_file("/proc/self/mountinfo", mp->text, cap) : -1;
	if (n <= 0)
		return;
	for (char *save = NULL, *line = strtok_r(mp->text, "\n", &save); line && mp->n < ARRAY_SIZE(mp->path);
	     line = strtok_r(NULL, "\n", &save)) {
		/* id parent major:minor root mountpoint ... */
		char *f = line;
		for (int i = 0; i < 4 && f; i++)
			f = strchr(f + 1, ' ');
		char *end = f ? strchr(f + 1, ' ') : NULL;
		if (!end)
			continue;
		*end = '\0';
		unescape(f + 1);
		mp->path[mp->n++] = f + 1;
	}
}

/* What plan_open() needs on its way: the plan, the sandbox's outside id, the empty
 * layer every overlay takes (borrowed), the user namespaces made for idmapped binds (one per owner),
 * and the mount table. */
struct planner {
	struct cit_fs_plan *plan;
	uid_t outside;
	int empty;
	struct { uid_t uid; gid_t gid; int fd; } ns[8];
	size_t n_ns;
	struct mountpoints mounts;
	int copies;               /* owned: the tmpfs of copied files (add_copy), once made; -1 */
	unsigned n_copies;
};

static struct cit_fs_entry *new_entry(struct planner *p, const char *dst, struct cit_error *err)
{
	struct cit_fs_plan *plan = p->plan;
	if (plan->n >= ARRAY_SIZE(plan->e)) {
		cit_error_set(err, -E2BIG, "too many mounts");
		return NULL;
	}
	if (strlen(dst) >= CIT_FS_NAME_MAX) {
		cit_error_set(err, -ENAMETOOLONG, "mount point %s", dst);
		return NULL;
	}
	struct cit_fs_entry *e = &plan->e[plan->n];
	snprintf(e->dst, sizeof(e->dst), "%s", dst);
	e->link[0] = '\0';
	e->fd = -1;
	return e;
}

static int add_tree_as(struct planner *p, int fd, const char *dst, bool optional, struct cit_error *err);

/* Takes ownership of fd: the tree to attach at dst. */
static int add_tree(struct planner *p, int fd, const char *dst, struct cit_error *err)
{
	return add_tree_as(p, fd, dst, false, err);
}

static int add_tree_as(struct planner *p, int fd, const char *dst, bool optional, struct cit_error *err)
{
	_cleanup_close_ int owned = fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cit_error_set(err, -errno, "mount for %s", dst);
	struct cit_fs_entry *e = new_entry(p, dst, err);
	if (!e)
		return err->code;
	e->dir = S_ISDIR(st.st_mode);
	e->optional = optional;
	e->fd = steal_fd(&owned);
	p->plan->n++;
	return 0;
}

/* Idmaps tree, whose root belongs to an ordinary user, so that the sandbox's root is that
 * user there: it reads (and, writable, writes) what the owner may, and what it creates
 * belongs to the owner. A tree that root owns (user or group) is never idmapped: the
 * sandbox would own files as host root and could leave setuid-root programs behind. */
static int idmap_tree(struct planner *p, int tree, const char *what, struct cit_error *err)
{
	struct stat st;
	if (fstat(tree, &st) < 0 || st.st_uid == 0 || st.st_gid == 0)
		return 0;
	int fd = -1;
	for (size_t j = 0; j < p->n_ns && fd < 0; j++)
		if (p->ns[j].uid == st.st_uid && p->ns[j].gid == st.st_gid)
			fd = p->ns[j].fd;
	if (fd < 0) {
		if (p->n_ns == ARRAY_SIZE(p->ns))
			return 0; /* more owners than that: the rest stay plain binds */
		int rc = cit_idmap_userns(st.st_uid, st.st_gid, p->outside, &fd, err);
		if (rc < 0)
			return rc;
		p->ns[p->n_ns].uid = st.st_uid;
		p->ns[p->n_ns].gid = st.st_gid;
		p->ns[p->n_ns++].fd = fd;
	}
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)fd };
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0 &&
	    errno != EINVAL && errno != EOPNOTSUPP)
		return cit_error_set(err, -errno, "idmapping the bind of %s", what);
	return 0;
}

/* The kernel filesystem fd lies on, or NULL for one that holds data. Their files are the
 * host's state (its processes, devices, cgroups, tracing), not data: never shown, not
 * even read-only; the sandbox has its own /proc and /dev. The host's /dev (devtmpfs, a
 * tmpfs to statfs) is told by its device number. */
static const char *kernel_fs(int fd)
{
	static const struct { long magic; const char *name; } kinds[] = {
		{ PROC_SUPER_MAGIC, "proc" }, { SYSFS_MAGIC, "sysfs" }, { CGROUP_SUPER_MAGIC, "cgroup" },
		{ CGROUP2_SUPER_MAGIC, "cgroup2" }, { DEVPTS_SUPER_MAGIC, "devpts" }, { DEBUGFS_MAGIC, "debugfs" },
		{ TRACEFS_MAGIC, "tracefs" }, { SECURITYFS_MAGIC, "securityfs" }, { BPF_FS_MAGIC, "bpf" },
		{ PSTOREFS_MAGIC, "pstore" }, { EFIVARFS_MAGIC, "efivarfs" }, { SELINUX_MAGIC, "selinuxfs" },
		{ SMACK_MAGIC, "smackfs" }, { BINFMTFS_MAGIC, "binfmt_misc" }, { NSFS_MAGIC, "nsfs" },
		{ RDTGROUP_SUPER_MAGIC, "resctrl" }, { AAFS_MAGIC, "apparmorfs" }, { 0x62656570, "configfs" },
		{ 0x19800202, "mqueue" }, { 0x65735543, "fusectl" },
	};
	struct statfs sf;
	if (fstatfs(fd, &sf) < 0)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (sf.f_type == kinds[i].magic)
			return kinds[i].name;
	struct stat st, dev;
	if (fstat(fd, &st) == 0 && stat("/dev", &dev) == 0 && st.st_dev == dev.st_dev)
		return "/dev";
	return NULL;
}

/* Files mounted on their own (as container engines mount /etc/resolv.conf) cannot be
 * shown through an overlay: a layer is a directory, and the overlay of the directory
 * holding the mount point shows the file hidden beneath it. A bind would hand the sandbox
 * the host's own inode: its locks, its watches, a FIFO's readers. The sandbox gets a copy
 * in a small tmpfs of its own instead, with the file's owner and mode: a regular file's
 * bytes (at most COPY_MAX), or a node of the same type (a FIFO of its own; a device node,
 * on a nodev mount like every view). */
#define COPY_MAX (16u << 20)
#define COPIES_MAX 64
#define COPIES_SIZE "64m"
#define COPIES_INODES "80"

/* Copies the regular file (O_PATH fd at) of st.st_size bytes into a new file name in dir. */
static int copy_bytes(int dir, const char *name, int at)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", at);
	_cleanup_close_ int in = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	_cleanup_close_ int out = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (in < 0 || out < 0)
		return -errno;
	size_t total = 0;
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 20, 0);
		if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == EINVAL)) {
			char buf[16384];
			int rc;
			if ((n = read(in, buf, sizeof(buf))) > 0 && (rc = cit_write_all(out, buf, (size_t)n)) < 0)
				return rc;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if ((total += (size_t)n) > COPY_MAX) /* it grew since we looked */
			return -EFBIG;
	}
}

static int copy_line(char *out, size_t cap, const struct stat *st, const char *path)
{
	return snprintf(out, cap, "%llu %llu %lld %lld %lld\t%s\n", (unsigned long long)st->st_dev,
			(unsigned long long)st->st_ino, (long long)st->st_size,
			(long long)st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec,
			(long long)st->st_ctim.tv_sec * 1000000000ll + st->st_ctim.tv_nsec, path);
}

/* Writes down what a copy was made from (the stat of the file at path, taken before its
 * bytes were read), for cit_fs_copies_current(). */
static void note_copy(struct cit_fs_plan *plan, const struct stat *st, const char *path)
{
	size_t room = sizeof(plan->copied) - plan->copied_len;
	int n = strchr(path, '\n') ? -1 : copy_line(plan->copied + plan->copied_len, room, st, path);
	if (n < 0 || (size_t)n >= room - 2) { /* no room (or an unwritable path): unknown */
		snprintf(plan->copied, sizeof(plan->copied), "?\n");
		plan->copied_len = sizeof(plan->copied) - 1; /* full: nothing more is noted */
		return;
	}
	plan->copied_len += (size_t)n;
}

bool cit_fs_copies_current(const char *copied)
{
	for (const char *line = copied; *line;) {
		const char *end = strchr(line, '\n'), *tab = strchr(line, '\t');
		if (!end || !tab || tab > end)
			return false; /* "?", or damaged */
		char path[PATH_MAX], now[PATH_MAX + 128];
		snprintf(path, sizeof(path), "%.*s", (int)(end - tab - 1), tab + 1);
		struct stat st;
		if (stat(path, &st) < 0)
			return false;
		int n = copy_line(now, sizeof(now), &st, path);
		if (n < 0 || (size_t)n != (size_t)(end + 1 - line) || memcmp(now, line, (size_t)n))
			return false;
		line = end + 1;
	}
	return true;
}

/* Adds a copy of the file (O_PATH fd at, whose host path is what) at dst. */
static int add_copy(struct planner *p, int at, const char *what, const char *dst, bool optional,
		    struct cit_error *err)
{
	struct stat st;
	if (fstat(at, &st) < 0)
		return cit_error_set(err, -errno, "%s", what);
	if (S_ISREG(st.st_mode) && st.st_size > COPY_MAX)
		return cit_error_say(err, -EFBIG, "%s is a file mounted on its own, of more than %u MiB: the sandbox "
						  "would get a copy (not the host's own file), and copies are at most that",
				     what, COPY_MAX >> 20);
	if (p->n_copies == COPIES_MAX)
		return cit_error_say(err, -E2BIG, "the view has more than %d files mounted on their own", COPIES_MAX);
	if (p->copies < 0) {
		int fs = cit_fsm_tmpfs(COPIES_SIZE, COPIES_INODES, err);
		if (fs < 0)
			return fs;
		p->copies = fs;
	}
	char name[16];
	snprintf(name, sizeof(name), "%u", p->n_copies++);
	int rc = S_ISREG(st.st_mode) ? copy_bytes(p->copies, name, at)
				     : mknodat(p->copies, name, st.st_mode & ~07777u, st.st_rdev) < 0 ? -errno : 0;
	/* The owner first: a chown clears the mode's set-id bits (inert here: nosuid). */
	if (rc == 0 && (fchownat(p->copies, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
			fchmodat(p->copies, name, st.st_mode & 07777, 0) < 0))
		rc = -errno;
	if (rc < 0)
		return cit_error_set(err, rc, "copying %s (a file mounted on its own) for the view", what);
	note_copy(p->plan, &st, what);
	int tree = clone_tree(p->copies, name, false);
	if (tree >= 0 && (rc = restrict_tree(tree, false)) < 0)
		close(steal_fd(&tree));
	if (tree < 0)
		return cit_error_set(err, rc < 0 ? rc : tree, "%s", what);
	return add_tree_as(p, tree, dst, optional, err);
}

/* A read-only overlay of the mount at (dirfd, path), idmapped first when asked. Returns
 * a detached mount fd or a negative errno. */
static int overlay_of(struct planner *p, int dirfd, const char *path, bool idmap, const char *what,
		      struct cit_error *err)
{
	_cleanup_close_ int tree = clone_tree(dirfd, path, false);
	if (tree < 0)
		return cit_error_set(err, tree, "%s", what);
	int rc = idmap ? idmap_tree(p, tree, what, err) : 0;
	if (rc < 0)
		return rc;
	int ov = cit_fsm_overlay(tree, p->empty, err);
	return ov < 0 ? cit_error_prefix(err, "%s", what) : ov;
}

static int add_view(struct planner *p, int dirfd, const char *real, const char *dst, bool idmap,
		    struct cit_error *err);

/* The mounts below a tree shown at dst (whose real path on the host is real): read-only,
 * each through an overlay of its own (an overlay shows only its lower layer's own
 * filesystem), or a copy for a file mounted on its own; writable, each bound as it is.
 * Kernel filesystems (kernel_fs) and sockets are left out: they stay hidden under what
 * the tree shows there. */
static int add_submounts(struct planner *p, const char *real, const char *dst, bool idmap, bool writable,
			 struct cit_error *err)
{
	if (!p->mounts.read)
		mountpoints_read(&p->mounts);
	size_t rlen = strcmp(real, "/") ? strlen(real) : 0, added = 0;
	for (size_t i = 0; i < p->mounts.n; i++) {
		const char *mnt = p->mounts.path[i];
		if (strncmp(mnt, real, rlen) || mnt[rlen] != '/' || !mnt[rlen + 1])
			continue;
		if (++added > SUBMOUNTS_MAX)
			return cit_error_set(err, -E2BIG, "%s has more than %d mounts below it", real, SUBMOUNTS_MAX);
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s%s", strcmp(dst, "/") ? dst : "", mnt + rlen);
		_cleanup_close_ int at = sys_openat2(AT_FDCWD, mnt, O_PATH | O_CLOEXEC,
						     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
		struct stat st;
		if (at < 0 || fstat(at, &st) < 0 || S_ISSOCK(st.st_mode) || kernel_fs(at))
			continue;
		struct cit_error ignored = { 0 };
		if (writable) {
			int tree = clone_tree(at, "", false);
			int rc = tree < 0 ? tree : restrict_tree(tree, true);
			if (rc == 0 && idmap)
				rc = idmap_tree(p, tree, mnt, err);
			if (rc < 0 && tree >= 0)
				close(tree);
			if (rc == 0 && add_tree_as(p, tree, sub, true, err) < 0)
				return err->code;
		} else if (S_ISDIR(st.st_mode)) {
			int ov = overlay_of(p, at, "", idmap, mnt, &ignored);
			if (ov >= 0 && add_tree_as(p, ov, sub, true, err) < 0)
				return err->code;
		} else if (add_copy(p, at, mnt, sub, true, err) < 0) {
			return err->code;
		}
	}
	return 0;
}

/* A read-only view of the tree at (dirfd, ""), whose real path on the host is real, at
 * dst: an overlay of its mount, then of the mounts below it. A file is shown through an
 * overlay of its directory, of which only the file is attached. */
static int add_view(struct planner *p, int dirfd, const char *real, const char *dst, bool idmap,
		    struct cit_error *err)
{
	struct stat st;
	if (fstat(dirfd, &st) < 0)
		return cit_error_set(err, -errno, "%s", real);
	if (S_ISDIR(st.st_mode)) {
		int ov = overlay_of(p, dirfd, "", idmap, real, err);
		if (ov < 0 || add_tree(p, ov, dst, err) < 0)
			return err->code;
		return add_submounts(p, real, dst, idmap, false, err);
	}
	const char *slash = strrchr(real, '/');
	if (!slash || !slash[1])
		return cit_error_set(err, -EINVAL, "%s: not a file or directory", real);
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%.*s", slash == real ? 1 : (int)(slash - real), real);
	_cleanup_close_ int pfd = sys_openat2(AT_FDCWD, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_NO_MAGICLINKS);
	struct stat in_parent;
	/* The file must still be that name in that directory. */
	if (pfd < 0 || fstatat(pfd, slash + 1, &in_parent, AT_SYMLINK_NOFOLLOW) < 0 || in_parent.st_ino != st.st_ino ||
	    in_parent.st_dev != st.st_dev)
		return cit_error_set(err, -EAGAIN, "%s changed while its view was made", real);
	struct statx fx, dx;
	if (statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &fx) < 0 || statx(pfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &dx) < 0)
		return cit_error_set(err, -errno, "%s", real);
	if (fx.stx_mnt_id != dx.stx_mnt_id) /* mounted on its own: not in its directory's overlay */
		return add_copy(p, dirfd, real, dst, false, err);
	_cleanup_close_ int ov = overlay_of(p, pfd, "", idmap, real, err);
	if (ov < 0)
		return ov;
	int file = clone_tree(ov, slash + 1, false);
	if (file < 0)
		return cit_error_set(err, file, "%s", real);
	return add_tree(p, file, dst, err);
}

/* The real path of an open fd: where the kernel resolved what the user named. */
static int real_path(int fd, char *out, size_t cap)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, out, cap - 1);
	if (n <= 0 || (size_t)n >= cap - 1 || out[0] != '/')
		return -ENAMETOOLONG;
	out[n] = '\0';
	return 0;
}

/* The tree the view's top-level entries come from (the host's root, or --root DIR). One
 * overlay of its mount serves every entry on that mount: an overlay costs a superblock
 * (about 0.1-0.2 ms to make and tear down), a clone of a path inside it very little. */
struct source {
	int fd;                   /* borrowed: O_PATH of the tree's root */
	const char *real;         /* its real path on the host */
	uint64_t mnt_id;
	int overlay;              /* owned: the overlay of its mount, once made; -1 before */
};

static int source_open(struct source *src, int fd, const char *real, struct cit_error *err)
{
	struct statx sx;
	*src = (struct source){ .fd = fd, .real = real, .overlay = -1 };
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) < 0)
		return cit_error_set(err, -errno, "%s", real);
	src->mnt_id = sx.stx_mnt_id;
	return 0;
}

/* One top-level entry of the view's source tree: a symlink is copied as a symlink, a
 * directory or file is shown read-only (through the tree's overlay when it is on the
 * tree's own mount, else through one of its own); anything else (or a missing entry) is
 * skipped. The entry is looked at relative to the tree without following it: an entry
 * swapped for a link between the look and the open is refused, not followed. */
static int plan_top(struct planner *p, struct source *src, const char *name, struct cit_error *err)
{
	char what[PATH_MAX], dst[CIT_FS_NAME_MAX];
	snprintf(what, sizeof(what), "%s/%s", !strcmp(src->real, "/") ? "" : src->real, name);
	snprintf(dst, sizeof(dst), "/%s", name);
	struct statx sx;
	if (statx(src->fd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID, &sx) < 0)
		return errno == ENOENT ? 0 : cit_error_set(err, -errno, "%s", what);
	if (S_ISLNK(sx.stx_mode)) {
		struct cit_fs_entry *e = new_entry(p, dst, err);
		if (!e)
			return err->code;
		ssize_t n = readlinkat(src->fd, name, e->link, sizeof(e->link) - 1);
		if (n < 0)
			return cit_error_set(err, -errno, "readlink %s", what);
		e->link[n] = '\0';
		p->plan->n++;
		return 0;
	}
	if (!S_ISDIR(sx.stx_mode) && !S_ISREG(sx.stx_mode))
		return 0;
	if (sx.stx_mnt_id != src->mnt_id) {
		_cleanup_close_ int at = sys_openat2(src->fd, name, O_PATH | O_CLOEXEC,
						     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
		if (at < 0)
			return cit_error_set(err, at, "%s", what);
		return add_view(p, at, what, dst, false, err);
	}
	if (src->overlay < 0 && (src->overlay = overlay_of(p, src->fd, "", false, src->real, err)) < 0)
		return src->overlay;
	int tree = clone_tree(src->overlay, name, false);
	if (tree < 0)
		return cit_error_set(err, tree, "%s", what);
	int rc = add_tree(p, tree, dst, err);
	return rc < 0 || !S_ISDIR(sx.stx_mode) ? rc : add_submounts(p, what, dst, false, false, err);
}

static bool listed(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, list[i]))
			return true;
	return false;
}

static int plan_root_entries(struct planner *p, const char *root, struct cit_error *err)
{
	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		int e = -errno;
		if (dfd >= 0)
			close(dfd);
		return cit_error_set(err, e, "--root %s", root);
	}
	char real[PATH_MAX];
	struct source src = { .overlay = -1 };
	int rc = real_path(dirfd(d), real, sizeof(real));
	if (rc < 0)
		rc = cit_error_set(err, rc, "--root %s", root);
	else
		rc = source_open(&src, dirfd(d), real, err);
	size_t tops = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    listed(e->d_name, replaced_in_root, ARRAY_SIZE(replaced_in_root)))
			continue;
		if (++tops > CIT_FS_MAX_TOP || strlen(e->d_name) >= CIT_FS_NAME_MAX - 1)
			rc = cit_error_set(err, -E2BIG, "--root %s: more than %d top-level entries or a name too long",
					   root, CIT_FS_MAX_TOP);
		else
			rc = plan_top(p, &src, e->d_name, err);
	}
	if (src.overlay >= 0)
		close(src.overlay);
	closedir(d);
	return rc;
}

static int plan_host_system_dirs(struct planner *p, struct cit_error *err)
{
	_cleanup_close_ int hostroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct source src = { .overlay = -1 };
	int rc = hostroot < 0 ? cit_error_set(err, -errno, "/") : source_open(&src, hostroot, "/", err);
	for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(host_system_dirs); i++)
		rc = plan_top(p, &src, host_system_dirs[i], err);
	if (src.overlay >= 0)
		close(src.overlay);
	return rc;
}

/* A bind of the user's: a read-only view, the tree itself writable, or one socket. The
 * path is the user's, resolved by the kernel; a user's bind is idmapped (idmap_tree) only
 * if its path holds no symlink at all: the owner that the sandbox becomes must be the
 * owner of what the user named, not of where a link (perhaps planted by an earlier run)
 * leads. */
static int plan_bind(struct planner *p, const struct cit_bind *b, struct cit_error *err)
{
	_cleanup_close_ int at = sys_openat2(AT_FDCWD, b->src, O_PATH | O_CLOEXEC, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	bool plain_path = at >= 0;
	if (at == -ELOOP) /* the user named a path through a link */
		at = sys_openat2(AT_FDCWD, b->src, O_PATH | O_CLOEXEC, RESOLVE_NO_MAGICLINKS);
	struct stat st;
	if (at < 0 || fstat(at, &st) < 0)
		return cit_error_set(err, at < 0 ? at : -errno, "bind source %s", b->src);
	if (b->expect_set && (st.st_dev != b->expect.dev || st.st_ino != b->expect.ino || st.st_uid != b->expect.uid ||
			      st.st_gid != b->expect.gid))
		return cit_error_set(err, -ESTALE, "bind source %s is no longer what it was", b->src);
	if (b->kind == CIT_BIND_SOCKET) {
		if (!S_ISSOCK(st.st_mode))
			return cit_error_say(err, -ENOTSOCK, "--allow-socket %s: not a socket", b->src);
	} else if (S_ISSOCK(st.st_mode)) {
		return cit_error_say(err, -EACCES, "bind source %s is a socket: --allow-socket grants one", b->src);
	} else if (kernel_fs(at)) {
		return cit_error_say(err, -EACCES, "bind source %s is on the host's %s, the kernel's view of the host "
						   "rather than data: it is never shown (the sandbox has its own /proc "
						   "and /dev)", b->src, kernel_fs(at));
	}
	char real[PATH_MAX];
	int rc = b->kind == CIT_BIND_SOCKET ? 0 : real_path(at, real, sizeof(real));
	if (rc < 0)
		return cit_error_set(err, rc, "bind source %s", b->src);
	if (b->kind == CIT_BIND_RO)
		return add_view(p, at, real, b->dst, plain_path, err);
	/* Writable: the tree as it is, and the mounts below it one by one (not a recursive
	 * clone, which would bring a procfs or cgroupfs mounted below it along). */
	int tree = clone_tree(at, "", false);
	rc = tree < 0 ? tree : restrict_tree(tree, b->kind == CIT_BIND_RW);
	if (rc == 0 && b->kind == CIT_BIND_RW && plain_path)
		rc = idmap_tree(p, tree, b->src, err);
	if (rc < 0) {
		if (tree >= 0)
			close(tree);
		return err->code ? err->code : cit_error_set(err, rc, "bind source %s", b->src);
	}
	if ((rc = add_tree(p, tree, b->dst, err)) < 0 || b->kind != CIT_BIND_RW || !S_ISDIR(st.st_mode))
		return rc;
	return add_submounts(p, real, b->dst, plain_path, true, err);
}

int cit_fs_plan_open(struct cit_fs_plan *plan, const struct cit_sandbox_config *cfg, uid_t outside,
		     bool with_tty, struct cit_error *err)
{
	plan->n = 0;
	plan->copied_len = 0;
	plan->copied[0] = '\0';
	/* The sandbox's /dev first: its empty pts directory is every overlay's second layer. */
	_cleanup_close_ int dev = cit_fsm_devfs(with_tty, err);
	if (dev < 0)
		return dev;
	struct planner p = { .plan = plan, .outside = outside, .copies = -1,
			     .empty = openat(dev, "pts", O_PATH | O_DIRECTORY | O_CLOEXEC) };
	int rc = p.empty < 0 ? cit_error_set(err, -errno, "/dev/pts") : 0;
	if (rc == 0)
		rc = cfg->root ? plan_root_entries(&p, cfg->root, err) : plan_host_system_dirs(&p, err);
	if (rc == 0)
		rc = add_tree(&p, steal_fd(&dev), "/dev", err);
	for (size_t i = 0; rc == 0 && i < cfg->n_binds; i++)
		rc = plan_bind(&p, &cfg->binds[i], err);
	for (size_t j = 0; j < p.n_ns; j++)
		close(p.ns[j].fd);
	if (p.empty >= 0)
		close(p.empty);
	if (p.copies >= 0) /* each copy's clone holds the tmpfs */
		close(p.copies);
	free(p.mounts.text);
	if (rc < 0)
		cit_fs_plan_close(plan);
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
	if (e->optional && (at == -EACCES || at == -ENOENT))
		return 0;
	if (at == -EROFS)
		return cit_error_set(err, at, "bind destination %s does not exist and cannot be created in a "
					      "read-only directory", e->dst);
	if (at < 0)
		return cit_error_set(err, at, "bind destination %s", e->dst);
	if (syscall(SYS_move_mount, e->fd, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return cit_error_set(err, -errno, "attaching %s", e->dst);
	return 0;
}

/* Pseudo-terminals a sandbox may hold at once: its devpts instance's own bound (the
 * machine-wide kernel.pty.max holds for all instances together). */
#define PTYS_MAX "64"

/* With a terminal, the sandbox's own devpts instance on /dev/pts (the directory waits in
 * the private /dev): its pseudo-terminals are the sandbox's alone, and at most PTYS_MAX. */
static int mount_devpts(bool with_tty, struct cit_error *err)
{
	if (!with_tty)
		return 0;
	return mount_fs("devpts", NEW "/dev/pts", MS_NOSUID | MS_NOEXEC,
			"newinstance,ptmxmode=0666,mode=0620,max=" PTYS_MAX, err);
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
	if (mkdir(NEW "/proc", 0555) < 0 || mkdir(NEW "/tmp", 01777) < 0)
		return cit_error_set(err, -errno, "creating the root's directories");
	/* The host's /proc is still visible here, which the kernel requires of a new one. */
	if ((rc = mount_fs("proc", NEW "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err)) < 0)
		return rc;
	/* A private /tmp belongs to inside id 1, which no process runs as: the sandbox's
	 * processes (uid 0, no capabilities) may make entries and reach them by name, but may
	 * not list, watch or chmod it. */
	char opts[96];
	snprintf(opts, sizeof(opts), "size=%llu,%s", (unsigned long long)cfg->tmp_bytes,
		 cfg->private_tmp ? "mode=1733,uid=1,gid=1" : "mode=1777");
	if ((rc = mount_fs("tmpfs", NEW "/tmp", MS_NOSUID | MS_NODEV, opts, err)) < 0)
		return rc;
	/* In plan order: system entries, /dev, then binds, which may nest. */
	for (size_t i = 0; i < plan->n; i++)
		if ((rc = attach(newroot, &plan->e[i], err)) < 0)
			return rc;
	if ((rc = mount_devpts(with_tty, err)) < 0)
		return rc;
	/* Programs expect /var/tmp; a --root tree may bring its own /var. */
	if (mkdir(NEW "/var", 0755) == 0 && symlink("../tmp", NEW "/var/tmp") < 0)
		return cit_error_set(err, -errno, "creating /var/tmp");
	return enter(err);
}

/* ---- what the view depends on ------------------------------------------------------ */

const char *const *cit_fs_system_dirs(size_t *n)
{
	*n = ARRAY_SIZE(host_system_dirs);
	return host_system_dirs;
}
