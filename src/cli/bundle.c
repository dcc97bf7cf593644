/* Packing a bundle (bundle.h): a canonical tar archive written into a memfd, then sealed. */
#include "cli/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"
#include "spec/spec.h"

#define BLOCK 512

struct pack {
	int top;                  /* the directory packed */
	int out;                  /* the memfd */
	uint64_t len;             /* bytes written so far */
	unsigned entries;
	char path[4096];          /* the entry's name, relative to the top */
	struct cit_error *err;
};

static int put(struct pack *p, const void *buf, size_t n)
{
	if (p->len + n > CIT_BUNDLE_MAX_BYTES)
		return cit_error_say(p->err, -EFBIG, "the bundle is over %llu MiB", CIT_BUNDLE_MAX_BYTES >> 20);
	int rc = cit_write_all(p->out, buf, n);
	if (rc < 0)
		return cit_error_say(p->err, rc, "writing the archive: %s", strerror(-rc));
	p->len += n;
	return 0;
}

/* Zeros up to the next block. */
static int pad(struct pack *p)
{
	static const char zeros[BLOCK];
	return p->len % BLOCK ? put(p, zeros, BLOCK - p->len % BLOCK) : 0;
}

/* A pax extended header carrying key=value for the entry after it. */
static int pax(struct pack *p, const char *key, const char *value);

static void octal(char *field, size_t width, unsigned long long v)
{
	snprintf(field, width, "%0*llo", (int)width - 1, v);
}

/* One ustar header: name (a pax record before it when it does not fit), its type flag,
 * mode, size and link target. */
static int header(struct pack *p, const char *name, char type, unsigned mode, unsigned long long size,
		  const char *link)
{
	char h[BLOCK] = { 0 };
	size_t n = strlen(name);
	if (n <= 100) {
		memcpy(h, name, n);
	} else {
		/* prefix '/' name: the last '/' that leaves a name of at most 100 bytes and a
		 * prefix of at most 155. */
		const char *split = NULL;
		for (const char *s = name + n - 1; s > name; s--)
			if (*s == '/' && (size_t)(name + n - s - 1) <= 100 && s[1]) {
				split = s;
				if ((size_t)(s - name) <= 155)
					break;
			}
		if (split && (size_t)(split - name) <= 155) {
			memcpy(h + 345, name, (size_t)(split - name));
			memcpy(h, split + 1, (size_t)(name + n - split - 1));
		} else {
			int rc = pax(p, "path", name);
			if (rc < 0)
				return rc;
			memcpy(h, name, 100); /* the pax record is the name; this is a hint */
		}
	}
	if (link && strlen(link) > 100) {
		int rc = pax(p, "linkpath", link);
		if (rc < 0)
			return rc;
	}
	if (link)
		memcpy(h + 157, link, strnlen(link, 100));
	octal(h + 100, 8, mode);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, 0);
	h[156] = type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	octal(h + 329, 8, 0);
	octal(h + 337, 8, 0);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < BLOCK; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum); /* six digits, NUL, and the space left there */
	return put(p, h, BLOCK);
}

static int pax(struct pack *p, const char *key, const char *value)
{
	/* "LEN key=value\n", where LEN counts itself too. */
	size_t body = 1 + strlen(key) + 1 + strlen(value) + 1, len = body + 1;
	while (len != body + (size_t)snprintf(NULL, 0, "%zu", len))
		len = body + (size_t)snprintf(NULL, 0, "%zu", len);
	char rec[4096 + 64];
	snprintf(rec, sizeof(rec), "%zu %s=%s\n", len, key, value);
	int rc = header(p, "PaxHeader", 'x', 0644, len, NULL);
	if (rc == 0)
		rc = put(p, rec, len);
	return rc < 0 ? rc : pad(p);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int pack_dir(struct pack *p, int dfd, size_t plen);

/* One entry of the open directory dfd, named name; p->path holds its parent's name
 * (plen bytes, ending in '/' or empty). */
static int pack_entry(struct pack *p, int dfd, const char *name, size_t plen)
{
	size_t nlen = strlen(name);
	if (plen + nlen + 2 > sizeof(p->path))
		return cit_error_say(p->err, -ENAMETOOLONG, "%s%s: name too long", p->path, name);
	memcpy(p->path + plen, name, nlen + 1);
	unsigned depth = 0;
	for (const char *s = p->path; (s = strchr(s, '/')); s++)
		depth++;
	if (depth >= CIT_BUNDLE_MAX_DEPTH)
		return cit_error_say(p->err, -EFBIG, "%s: more than %u directories deep", p->path, CIT_BUNDLE_MAX_DEPTH);
	if (++p->entries > CIT_BUNDLE_MAX_ENTRIES)
		return cit_error_say(p->err, -EFBIG, "the bundle has more than %u entries", CIT_BUNDLE_MAX_ENTRIES);
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cit_error_say(p->err, -errno, "%s: %s", p->path, strerror(errno));
	if (S_ISLNK(st.st_mode)) {
		static char target[4096]; /* static: entries recurse, 128 deep */
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
		if (n < 0)
			return cit_error_say(p->err, -errno, "%s: %s", p->path, strerror(errno));
		target[n] = '\0';
		/* As text, then through the links it passes, resolved by the kernel beneath the
		 * top (x/l -> .., y -> x/l/x/l/../../.. reads as inside and is not). */
		struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
		int fd = cit_bundle_link_ok(p->path, target) ? (int)syscall(SYS_openat2, p->top, p->path, &how, sizeof(how))
							     : (errno = EXDEV, -1);
		if (fd >= 0)
			close(fd);
		else if (errno == EXDEV || errno == ELOOP)
			return cit_error_say(p->err, -EINVAL, "%s -> %s: a symbolic link out of the bundle (links must be "
							      "relative and stay inside it)", p->path, target);
		return header(p, p->path, '2', 0777, 0, target);
	}
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return cit_error_say(p->err, -errno, "%s: %s", p->path, strerror(errno));
		p->path[plen + nlen] = '/';
		p->path[plen + nlen + 1] = '\0';
		int rc = header(p, p->path, '5', 0755, 0, NULL);
		return rc < 0 ? rc : pack_dir(p, sub, plen + nlen + 1);
	}
	if (!S_ISREG(st.st_mode))
		return cit_error_say(p->err, -EINVAL, "%s: %s cannot be in a bundle (only files, directories and "
						      "symbolic links)", p->path,
				     S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
	/* O_NONBLOCK: what was swapped for a FIFO since the stat does not block the open. */
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat now;
	if (fd < 0 || fstat(fd, &now) < 0)
		return cit_error_say(p->err, -errno, "%s: %s", p->path, strerror(errno));
	if (!S_ISREG(now.st_mode) || now.st_ino != st.st_ino)
		return cit_error_say(p->err, -EAGAIN, "%s: changed while being packed", p->path);
	if ((uint64_t)st.st_size > CIT_BUNDLE_MAX_BYTES)
		return cit_error_say(p->err, -EFBIG, "%s: over %llu MiB", p->path, CIT_BUNDLE_MAX_BYTES >> 20);
	int rc = header(p, p->path, '0', (st.st_mode & 0111) ? 0755 : 0644, (unsigned long long)st.st_size, NULL);
	static char buf[1 << 16];
	for (off_t done = 0; rc == 0 && done < st.st_size;) {
		size_t want = (size_t)(st.st_size - done) < sizeof(buf) ? (size_t)(st.st_size - done) : sizeof(buf);
		ssize_t n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cit_error_say(p->err, n < 0 ? -errno : -EAGAIN, "%s: %s", p->path,
					     n < 0 ? strerror(errno) : "it shrank while being packed");
		rc = put(p, buf, (size_t)n);
		done += n;
	}
	return rc < 0 ? rc : pad(p);
}

/* The entries of the open directory dfd, sorted; p->path holds its name (plen bytes). */
static int pack_dir(struct pack *p, int dfd, size_t plen)
{
	int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	if (!d) {
		if (dup >= 0)
			close(dup);
		return cit_error_say(p->err, -errno, "%s: %s", plen ? p->path : ".", strerror(errno));
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	errno = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **more = n + 1 > CIT_BUNDLE_MAX_ENTRIES ? NULL : realloc(names, cap * sizeof(*names));
			if (!more) {
				rc = cit_error_say(p->err, -EFBIG, "the bundle has more than %u entries",
						   CIT_BUNDLE_MAX_ENTRIES);
				break;
			}
			names = more;
		}
		if (!(names[n] = strdup(e->d_name)))
			rc = cit_error_say(p->err, -ENOMEM, "out of memory");
		else
			n++;
	}
	closedir(d);
	if (rc == 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			p->path[plen] = '\0';
			rc = pack_entry(p, dfd, names[i], plen);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int cit_bundle_pack(const char *dir, int *obj, uint64_t *len, struct cit_error *err)
{
	_cleanup_close_ int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return cit_error_say(err, -errno, "%s", errno == ENOTDIR ? "not a directory" : strerror(errno));
	static struct pack p;
	p = (struct pack){ .top = top, .out = memfd_create("citadel-bundle", MFD_CLOEXEC | MFD_ALLOW_SEALING),
			   .err = err };
	if (p.out < 0)
		return cit_error_say(err, -errno, "memfd_create: %s", strerror(errno));
	static const char end[2 * BLOCK];
	int rc = pack_dir(&p, top, 0);
	if (rc == 0)
		rc = put(&p, end, sizeof(end));
	if (rc == 0 && fcntl(p.out, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		rc = cit_error_say(err, -errno, "sealing the archive: %s", strerror(errno));
	if (rc < 0) {
		close(p.out);
		return rc;
	}
	*obj = p.out;
	*len = p.len;
	return 0;
}
