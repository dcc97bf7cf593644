/* citadel-unpack: unpacks an exec function's bundle (a tar archive a deployer sent) into an
 * empty directory of the monitor's, so that the monitor itself never parses an archive.
 *
 *   citadel-unpack          fd 0: the archive (read from its start); fd 3: the directory
 *
 * The monitor's worker starts it for each bundled deploy and waits for it. It runs
 * confined before it reads a byte: no capabilities, no new privileges, a landlock layer
 * that allows nothing but the directory at fd 3, and limits on file size, memory, CPU and
 * descriptors. The archive is read with libarchive (tar formats only: ustar, pax, GNU; no
 * compression). What it may hold, and what is refused with a one-line reason on stderr:
 *
 *   regular files    written 0644, or 0755 when any execute bit was set;
 *   directories      made 0755 (missing parents are made too);
 *   symbolic links   whose target is relative and, read as a path from the link's own
 *                    directory, stays inside the bundle, and, resolved through the other
 *                    links once all are made, still does ("links out" are refused);
 *   anything else    devices, FIFOs, sockets and hard links are refused;
 *   names            relative, no "..", each at most 4095 bytes and CIT_BUNDLE_MAX_DEPTH
 *                    directories deep; a name given twice is refused;
 *   bounds           at most CIT_BUNDLE_MAX_ENTRIES entries and CIT_BUNDLE_MAX_BYTES bytes
 *                    of file data in all.
 *
 * Every file and directory is made through openat2() with RESOLVE_BENEATH and
 * RESOLVE_NO_SYMLINKS from the directory: nothing is ever written through a link, even one
 * the archive itself made. Owners, times, ACLs and extended attributes in the archive are
 * ignored.
 *
 * Exit status: 0 unpacked; 1 the archive was refused (stderr says why); 2 this program
 * could not run (stderr says why). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "sandbox/landlock.h"
#include "spec/spec.h"

#define DIR_FD 3
#define RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

#ifdef __SANITIZE_ADDRESS__
/* A sanitizer build's leak check reads /proc at exit, which the landlock layer closes. */
__attribute__((visibility("default"), used)) const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

__attribute__((format(printf, 2, 3), noreturn)) static void die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("the bundle ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(status);
}

/* Limits, no capabilities, no new privileges, and a landlock layer with only the
 * directory in it: from here on the process can write nowhere else. */
static void confine(void)
{
	const struct {
		int res;
		rlim_t max;
	} limits[] = {
		{ RLIMIT_FSIZE, CIT_BUNDLE_MAX_BYTES }, { RLIMIT_CPU, 60 }, { RLIMIT_NOFILE, 64 }, { RLIMIT_CORE, 0 },
#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer reserves terabytes of shadow */
		{ RLIMIT_AS, 1ull << 30 },
#endif
	};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		struct rlimit rl = { limits[i].max, limits[i].max };
		if (setrlimit(limits[i].res, &rl) < 0)
			die(2, "could not be unpacked: setrlimit: %s", strerror(errno));
	}
	if (syscall(SYS_close_range, DIR_FD + 1, ~0u, 0) < 0)
		die(2, "could not be unpacked: close_range: %s", strerror(errno));
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			die(2, "could not be unpacked: dropping capabilities: %s", strerror(errno));
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[2] = { { 0 } };
	if (syscall(SYS_capset, &h, none) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die(2, "could not be unpacked: dropping privileges: %s", strerror(errno));
	struct cit_error err = { 0 };
	if (cit_landlock_confine(NULL, 0, DIR_FD, DIR_FD, &err) < 0)
		die(2, "could not be unpacked: %s", err.msg);
}

/* name made canonical into out: components joined by '/', without "." and empty ones.
 * Returns false for an absolute name, a ".." component, one too long or too deep; out ""
 * is the bundle's top directory itself. */
static bool clean_name(const char *name, char out[4096])
{
	size_t o = 0;
	if (name[0] == '/')
		return false;
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		if (n && !(n == 1 && p[0] == '.')) {
			if (o + (o > 0) + n >= 4096)
				return false;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n + (p[n] == '/');
	}
	out[o] = '\0';
	unsigned depth = 0;
	for (const char *p = out; (p = strchr(p, '/')); p++)
		depth++;
	return depth < CIT_BUNDLE_MAX_DEPTH;
}

static int open_beneath_at(int at, const char *path, int flags, mode_t mode)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW), .mode = mode, .resolve = RESOLVE };
	return (int)syscall(SYS_openat2, at, path, &how, sizeof(how));
}

/* The directory that will hold path's last component, opened (O_PATH); its missing
 * ancestors are made, one at a time from the top, each through the one above it, never
 * through a link. *leaf points at the last component in path. Returns -1 when an
 * ancestor is not a directory. */
static int parent_of(char *path, const char **leaf)
{
	int fd = fcntl(DIR_FD, F_DUPFD_CLOEXEC, 0);
	char *p = path;
	for (char *slash; fd >= 0 && (slash = strchr(p, '/'));) {
		*slash = '\0';
		if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST) {
			*slash = '/';
			close(fd);
			return -1;
		}
		int next = open_beneath_at(fd, p, O_PATH | O_DIRECTORY, 0);
		*slash = '/';
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*leaf = p;
	return fd;
}

static void write_file(struct archive *a, const char *path, int fd, unsigned long long *total)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	unsigned long long at = 0;
	for (;;) {
		int r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			die(1, "is not a valid tar archive: %s: %s", path, archive_error_string(a));
		if (off < 0 || (unsigned long long)off < at)
			die(1, "is not a valid tar archive: %s: data out of order", path);
		/* A sparse file's holes count as its bytes. */
		*total += (unsigned long long)off - at + len;
		if (*total > CIT_BUNDLE_MAX_BYTES)
			die(1, "is too large: more than %llu MiB of files", CIT_BUNDLE_MAX_BYTES >> 20);
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die(2, "could not be unpacked: writing %s: %s", path, strerror(errno));
			done += (size_t)n;
		}
		at = (unsigned long long)off + len;
	}
	if (ftruncate(fd, (off_t)at) < 0 && errno != EINVAL)
		die(2, "could not be unpacked: %s: %s", path, strerror(errno));
}

static const char *type_name(mode_t type)
{
	switch (type) {
	case AE_IFCHR: return "a character device";
	case AE_IFBLK: return "a block device";
	case AE_IFIFO: return "a FIFO";
	case AE_IFSOCK: return "a socket";
	default: return "of an unknown type";
	}
}

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fputs("usage: citadel-unpack (run by citadeld: fd 0 the archive, fd 3 the directory)\n", stderr);
		return 2;
	}
	struct stat st;
	if (fstat(DIR_FD, &st) < 0 || !S_ISDIR(st.st_mode))
		die(2, "could not be unpacked: fd 3 is not a directory");
	confine();
	struct archive *a = archive_read_new();
	if (!a || archive_read_support_format_tar(a) != ARCHIVE_OK || archive_read_open_fd(a, 0, 1 << 16) != ARCHIVE_OK)
		die(1, "is not a tar archive: %s", a ? archive_error_string(a) : "out of memory");
	unsigned long long total = 0;
	unsigned entries = 0;
	static char *links[CIT_BUNDLE_MAX_ENTRIES]; /* the links made, checked at the end */
	size_t n_links = 0;
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			die(1, "is not a valid tar archive: %s", archive_error_string(a));
		if (++entries > CIT_BUNDLE_MAX_ENTRIES)
			die(1, "has more than %u entries", CIT_BUNDLE_MAX_ENTRIES);
		const char *raw = archive_entry_pathname(e);
		static char path[4096];
		if (!raw || !clean_name(raw, path))
			die(1, "has a name outside it, too long or too deep: '%.200s'", raw ? raw : "(none)");
		mode_t type = archive_entry_filetype(e);
		if (archive_entry_hardlink(e))
			die(1, "has a hard link: %s (copy the file instead)", path);
		if (!path[0]) {
			if (type != AE_IFDIR)
				die(1, "has a file named as its top directory");
			continue; /* "." itself: made already */
		}
		const char *leaf;
		int dir = parent_of(path, &leaf);
		if (dir < 0)
			die(1, "has %s inside something that is not a directory (or a link): %s",
			    type == AE_IFDIR ? "a directory" : "an entry", path);
		if (type == AE_IFDIR) {
			if (mkdirat(dir, leaf, 0755) < 0 && errno != EEXIST)
				die(2, "could not be unpacked: %s: %s", path, strerror(errno));
			int fd = open_beneath_at(dir, leaf, O_PATH | O_DIRECTORY, 0);
			if (fd < 0)
				die(1, "has %s twice, as a directory and as something else", path);
			close(fd);
		} else if (type == AE_IFREG) {
			mode_t mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
			int fd = open_beneath_at(dir, leaf, O_WRONLY | O_CREAT | O_EXCL, mode);
			if (fd < 0 && errno == EEXIST)
				die(1, "has %s twice", path);
			if (fd < 0)
				die(2, "could not be unpacked: %s: %s", path, strerror(errno));
			write_file(a, path, fd, &total);
			if (fchmod(fd, mode) < 0 || close(fd) < 0)
				die(2, "could not be unpacked: %s: %s", path, strerror(errno));
		} else if (type == AE_IFLNK) {
			const char *target = archive_entry_symlink(e);
			if (!target || !cit_bundle_link_ok(path, target))
				die(1, "has a symbolic link out of it: %s -> %.200s (links must be relative and stay "
				       "inside the bundle)", path, target ? target : "");
			if (symlinkat(target, dir, leaf) < 0)
				die(errno == EEXIST ? 1 : 2, "%s %s: %s", errno == EEXIST ? "has twice" : "could not make",
				    path, strerror(errno));
			if (!(links[n_links++] = strdup(path)))
				die(2, "could not be unpacked: out of memory");
		} else {
			die(1, "has %s, %s: only files, directories and symbolic links may be in it", path,
			    type_name(type));
		}
		close(dir);
	}
	archive_read_free(a);
	/* Each link read as text stays inside; read through the links it passes (x/l -> ..,
	 * then y -> x/l/x/l/../../..), it must too: the kernel resolves each beneath the top. */
	for (size_t i = 0; i < n_links; i++) {
		struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
		int fd = (int)syscall(SYS_openat2, DIR_FD, links[i], &how, sizeof(how));
		if (fd < 0 && (errno == EXDEV || errno == ELOOP))
			die(1, "has a symbolic link out of it: %s (through the links it passes)", links[i]);
		if (fd >= 0)
			close(fd);
	}
	return 0;
}
