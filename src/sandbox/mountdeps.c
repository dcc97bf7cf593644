#include "sandbox/mountdeps.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/text.h"
#include "common/util.h"
#include "sandbox/mount.h"

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

/* A mount table larger than this is not read: the run goes without a warm sandbox. */
#define MOUNTINFO_MAX (1 << 20)

/* The trees a view shows, as real paths on the host (no symlinks, as mountinfo names
 * mount points). */
struct trees {
	char *path[CIT_FS_MAX_TOP + CIT_MAX_BINDS + 1]; /* owned */
	size_t n;
};

static void trees_free(struct trees *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->path[i]);
	t->n = 0;
}

/* Adds the real path of what path names now (symlinks followed, as a bind's source is). */
static int trees_add_real(struct trees *t, const char *path)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char proc[64], real[PATH_MAX];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(proc, real, sizeof(real) - 1);
	if (n <= 0 || (size_t)n >= sizeof(real) - 1 || real[0] != '/')
		return -ENAMETOOLONG;
	real[n] = '\0';
	if (!(t->path[t->n] = strdup(real)))
		return -ENOMEM;
	t->n++;
	return 0;
}

static int trees_of(const struct cit_sandbox_config *cfg, struct trees *t)
{
	int rc = 0;
	if (cfg->root) {
		rc = trees_add_real(t, cfg->root);
	} else {
		size_t n;
		const char *const *dirs = cit_fs_system_dirs(&n);
		for (size_t i = 0; i < n && rc == 0; i++) {
			char path[CIT_FS_NAME_MAX + 1];
			snprintf(path, sizeof(path), "/%s", dirs[i]);
			if (!(t->path[t->n] = strdup(path)))
				rc = -ENOMEM;
			else
				t->n++;
		}
	}
	for (size_t i = 0; i < cfg->n_binds && rc == 0; i++)
		rc = trees_add_real(t, cfg->binds[i].src);
	return rc;
}

/* Whether a is b or a directory above it ("/" is above every path). */
static bool at_or_above(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n == 1 && a[0] == '/')
		return true;
	return !strncmp(a, b, n) && (b[n] == '/' || b[n] == '\0');
}

/* Whether the mount point mp touches a tree of t: at it, above it (a mount there may
 * cover the tree) or below it (the view shows it). */
static bool touches(const struct trees *t, const char *mp)
{
	for (size_t i = 0; i < t->n; i++)
		if (at_or_above(mp, t->path[i]) || at_or_above(t->path[i], mp))
			return true;
	return false;
}

/* mountinfo escapes a space, tab, newline and backslash in a path as \ and three octal
 * digits: decodes the field that starts at s and ends at the next space into out. */
static bool mount_point(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	for (; *s && *s != ' ' && o + 1 < cap; o++) {
		unsigned v;
		if (s[0] == '\\' && sscanf(s + 1, "%3o", &v) == 1 && v < 256) {
			out[o] = (char)v;
			s += 4;
		} else {
			out[o] = *s++;
		}
	}
	out[o] = '\0';
	return o > 0 && (*s == ' ' || *s == '\0');
}

/* The id of the mount at path now: "u" and the unique id, "l" and the 32-bit id of an
 * older kernel, or "e" and the errno. */
static void put_mount_id(struct cit_text *w, const char *path)
{
	struct statx sx;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_MNT_ID | STATX_MNT_ID_UNIQUE, &sx) < 0)
		cit_text_put(w, "e%d", errno);
	else if (sx.stx_mask & STATX_MNT_ID_UNIQUE)
		cit_text_put(w, "u%llu", (unsigned long long)sx.stx_mnt_id);
	else
		cit_text_put(w, "l%llu", (unsigned long long)sx.stx_mnt_id);
}

static ssize_t read_mountinfo(char **text)
{
	for (size_t cap = 1 << 16; cap <= MOUNTINFO_MAX; cap *= 2) {
		free(*text);
		if (!(*text = malloc(cap)))
			return -ENOMEM;
		ssize_t n = cit_read_file("/proc/self/mountinfo", *text, cap);
		if (n < 0 || (size_t)n + 1 < cap)
			return n;
	}
	return -E2BIG;
}

int cit_fs_mounts_write(const struct cit_sandbox_config *cfg, char *out, size_t cap)
{
	struct cit_text w = { .out = out, .cap = cap };
	struct trees t = { .n = 0 };
	_cleanup_free_ char *info = NULL;
	int rc = trees_of(cfg, &t);
	ssize_t len = rc < 0 ? rc : read_mountinfo(&info);
	if (len < 0) {
		trees_free(&t);
		return (int)len;
	}
	struct stat root;
	if (stat("/", &root) < 0) {
		trees_free(&t);
		return -errno;
	}
	cit_text_put(&w, "root\t%llx:%llu\t", (unsigned long long)root.st_dev, (unsigned long long)root.st_ino);
	put_mount_id(&w, "/");
	cit_text_put(&w, "\n");
	for (size_t i = 0; i < t.n; i++)
		cit_text_put(&w, "tree\t%s\n", t.path[i]);
	for (char *save = NULL, *line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent major:minor root mount-point options ... */
		const char *f = line;
		for (int i = 0; i < 4 && f; i++)
			f = strchr(f + 1, ' ');
		char mp[PATH_MAX];
		if (!f)
			continue;
		/* A mount point too long to decode is kept: leaving out a mount is never safe. */
		bool named = mount_point(f + 1, mp, sizeof(mp));
		if (named && !touches(&t, mp))
			continue;
		cit_text_put(&w, "mount\t%s\t", line);
		if (named)
			put_mount_id(&w, mp);
		else
			cit_text_put(&w, "e%d", ENAMETOOLONG);
		cit_text_put(&w, "\n");
	}
	trees_free(&t);
	return w.full ? -E2BIG : (int)w.n;
}
