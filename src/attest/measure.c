/* The measurements of attest.h that read files: the monitor's (its programs, libpython and
 * the Python library's tree) and the function's sealing seed. Shared by citadeld, which
 * measures itself, and the CLI's `citadel measure`, which recomputes it from the files. */
#include "attest/attest.h"
#include "attest/measure.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "spec/spec.h"

#ifndef CIT_LIBPYTHON
#error "CIT_LIBPYTHON (the Python runtime's shared library) is set by meson.build"
#endif
#ifndef CIT_PYTHON_STDLIB
#error "CIT_PYTHON_STDLIB (the Python standard library's directory) is set by meson.build"
#endif

#define TREE_DEPTH_MAX 128u /* directories, one inside another: deeper is refused (-ELOOP) */

int cit_sha256_fd(int fd, uint8_t out[32])
{
	static _Thread_local uint8_t chunk[1 << 16];
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	for (off_t off = 0;; ) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		crypto_hash_sha256_update(&st, chunk, (unsigned long long)n);
		off += n;
	}
	crypto_hash_sha256_final(&st, out);
	return 0;
}

/* ---- a directory tree ------------------------------------------------------------- */

/* A walk in progress: the listing's hash so far and the entry's path relative to the top
 * ("" at the top). */
struct walk {
	crypto_hash_sha256_state h;
	char path[PATH_MAX];
	struct cit_error *err;
};

/* The names of a directory, sorted; freed with free_names. */
struct names {
	char **v;
	size_t n;
};

static void free_names(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static int by_bytes(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads d's names but "." and ".." into l, sorted by their bytes. Returns 0 or a negative
 * errno (l then holds what was read, for free_names). */
static int read_names(DIR *d, struct names *l)
{
	size_t cap = 0;
	struct dirent *e;
	for (errno = 0; (e = readdir(d)); errno = 0) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (l->n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			char **v = realloc(l->v, ncap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			l->v = v;
			cap = ncap;
		}
		if (!(l->v[l->n] = strdup(e->d_name)))
			return -ENOMEM;
		l->n++;
	}
	if (errno)
		return -errno;
	qsort(l->v, l->n, sizeof(*l->v), by_bytes);
	return 0;
}

/* Adds one line of the listing: a kind, then the path, then what follows it (rest, which
 * begins with its separator, or ""). */
static void put_line(struct walk *w, char kind, const char *rest)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "%c %zu:", kind, strlen(w->path));
	crypto_hash_sha256_update(&w->h, (const uint8_t *)head, (unsigned long long)n);
	crypto_hash_sha256_update(&w->h, (const uint8_t *)w->path, strlen(w->path));
	crypto_hash_sha256_update(&w->h, (const uint8_t *)rest, strlen(rest));
	crypto_hash_sha256_update(&w->h, (const uint8_t *)"\n", 1);
}

/* The entry name of the directory dfd, at w->path: its line, and for a directory the lines
 * of what it holds. */
static int walk_entry(struct walk *w, int dfd, const char *name, unsigned depth);

/* The entries of the directory open at fd (taken: closed here), in order. */
static int walk_dir(struct walk *w, int fd, unsigned depth)
{
	__attribute__((cleanup(closedirp))) DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cit_error_set(w->err, -errno, "%s", w->path[0] ? w->path : ".");
	}
	__attribute__((cleanup(free_names))) struct names l = { 0 };
	int rc = read_names(d, &l);
	if (rc < 0)
		return cit_error_set(w->err, rc, "%s", w->path[0] ? w->path : ".");
	size_t plen = strlen(w->path);
	for (size_t i = 0; i < l.n; i++) {
		int n = snprintf(w->path + plen, sizeof(w->path) - plen, "%s%s", plen ? "/" : "", l.v[i]);
		if (n < 0 || (size_t)n >= sizeof(w->path) - plen)
			return cit_error_set(w->err, -ENAMETOOLONG, "%.*s/%s", (int)plen, w->path, l.v[i]);
		if ((rc = walk_entry(w, dirfd(d), l.v[i], depth)) < 0)
			return rc;
		w->path[plen] = '\0';
	}
	return 0;
}

static int walk_entry(struct walk *w, int dfd, const char *name, unsigned depth)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cit_error_set(w->err, -errno, "%s", w->path);
	if (S_ISLNK(st.st_mode)) {
		char rest[PATH_MAX + 32];
		char target[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, target, sizeof(target));
		if (n < 0)
			return cit_error_set(w->err, -errno, "%s", w->path);
		if ((size_t)n >= sizeof(target))
			return cit_error_set(w->err, -ENAMETOOLONG, "%s", w->path);
		snprintf(rest, sizeof(rest), " %zd:%.*s", n, (int)n, target);
		put_line(w, 'l', rest);
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		if (depth >= TREE_DEPTH_MAX)
			return cit_error_say(w->err, -ELOOP, "%s: more than %u directories deep", w->path,
					     TREE_DEPTH_MAX);
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return cit_error_set(w->err, -errno, "%s", w->path);
		put_line(w, 'd', "");
		return walk_dir(w, fd, depth + 1);
	}
	if (!S_ISREG(st.st_mode)) /* devices, FIFOs, sockets: not part of the tree's measure */
		return 0;
	/* Opened without following a link or blocking: what was swapped in since the stat
	 * fails (a link: ELOOP) or is caught by fstat. */
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return cit_error_set(w->err, -errno, "%s", w->path);
	if (!S_ISREG(st.st_mode))
		return cit_error_say(w->err, -EAGAIN, "%s: replaced while it was read", w->path);
	uint8_t digest[32];
	int rc = cit_sha256_fd(fd, digest);
	if (rc < 0)
		return cit_error_set(w->err, rc, "%s", w->path);
	char rest[8 + 65] = " sha256:";
	sodium_bin2hex(rest + 8, 65, digest, sizeof(digest));
	put_line(w, 'f', rest);
	return 0;
}

int cit_tree_sha256(const char *dir, uint8_t out[32], struct cit_error *err)
{
	if (sodium_init() < 0)
		return cit_error_say(err, -EIO, "libsodium failed to start");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cit_error_set(err, -errno, "%s", dir);
	/* About 8 KiB: on the heap, for the monitor's threads with small stacks. */
	_cleanup_free_ struct walk *w = calloc(1, sizeof(*w));
	if (!w) {
		close(fd);
		return cit_error_set(err, -ENOMEM, "%s", dir);
	}
	w->err = err;
	crypto_hash_sha256_init(&w->h);
	int rc = walk_dir(w, fd, 0);
	if (rc < 0)
		return rc;
	crypto_hash_sha256_final(&w->h, out);
	return 0;
}

/* ---- the monitor ------------------------------------------------------------------ */

/* SHA-256 of the file at path, followed if a link (/proc/self/exe is one). Returns 0, 1
 * when there is no such file, or a negative errno with err naming it. */
static int hash_file(const char *path, uint8_t out[32], struct cit_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return 1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cit_error_set(err, -errno, "reading %s", path);
	if (!S_ISREG(st.st_mode))
		return cit_error_say(err, -EINVAL, "reading %s: not a regular file", path);
	int rc = cit_sha256_fd(fd, out);
	return rc < 0 ? cit_error_set(err, rc, "reading %s", path) : 0;
}

/* The Python library's tree (cit_tree_sha256), or 1 when it is not there. */
static int hash_stdlib(uint8_t out[32], struct cit_error *err)
{
	struct stat st;
	if (stat(CIT_PYTHON_STDLIB, &st) < 0 && errno == ENOENT)
		return 1;
	int rc = cit_tree_sha256(CIT_PYTHON_STDLIB, out, err);
	return rc < 0 ? cit_error_prefix(err, "reading %s", CIT_PYTHON_STDLIB) : 0;
}

int cit_monitor_measure(const char *bindir, const char *self, uint8_t out[32], char *enc, size_t cap,
			struct cit_error *err)
{
	/* In attest.h's order: citadeld, the programs it starts, what the Python runtime loads. */
	static const char *const components[] = {
		"citadeld",	    "citadel-zygote",	"citadel-python", "citadel-store", "citadel-unpack",
		"citadel-gateway", "citadel-callback", "libpython",	  "python-stdlib",
	};
	if (sodium_init() < 0)
		return cit_error_say(err, -EIO, "libsodium failed to start");
	char text[2048]; /* each line under 100 bytes */
	size_t len = (size_t)snprintf(text, sizeof(text), "citadel-monitor 1\n");
	for (size_t i = 0; i < ARRAY_SIZE(components); i++) {
		const char *name = components[i];
		uint8_t digest[32];
		char path[PATH_MAX];
		int rc;
		if (!strcmp(name, "python-stdlib"))
			rc = hash_stdlib(digest, err);
		else if (!strcmp(name, "libpython"))
			rc = hash_file(CIT_LIBPYTHON, digest, err);
		else if (i == 0 && self)
			rc = hash_file(self, digest, err);
		else if ((size_t)snprintf(path, sizeof(path), "%s/%s", bindir, name) >= sizeof(path))
			rc = cit_error_set(err, -ENAMETOOLONG, "%s/%s", bindir, name);
		else
			rc = hash_file(path, digest, err);
		if (rc < 0)
			return rc;
		char hex[65];
		if (rc == 0)
			sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
		if (rc == 0)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%s sha256:%s\n", name, hex);
		else
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%s missing\n", name);
	}
	crypto_hash_sha256(out, (const uint8_t *)text, len);
	if (enc && cap)
		snprintf(enc, cap, "%s", text);
	return 0;
}

int cit_sealing_seed(const uint8_t attest_key[32], const char *name, const uint8_t code_measurement[32],
		     uint8_t seed[32])
{
	static const char label[] = "citadel-sealing-key/1"; /* hashed with its NUL */
	size_t n = strnlen(name, CIT_NAME_MAX);
	if (n >= CIT_NAME_MAX) /* over 63 bytes */
		return -EINVAL;
	crypto_generichash_state st;
	crypto_generichash_init(&st, attest_key, 32, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label));
	crypto_generichash_update(&st, (const uint8_t *)name, n + 1);
	crypto_generichash_update(&st, code_measurement, 32);
	crypto_generichash_final(&st, seed, 32);
	return 0;
}
