/* The measurements that read files (src/attest/measure.c): a directory tree's hash, the
 * monitor's measurement over its programs, and the sealing seed. Each change a measurement
 * must see is made here, and each must change it; what must not change it, must not. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attest/attest.h"
#include "tap.h"

static char top[64]; /* the test's temporary directory */

static void put_file(const char *rel, const char *text, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", top, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fchmod(fd, mode) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void at(char *path, size_t cap, const char *rel)
{
	snprintf(path, cap, "%s/%s", top, rel);
}

static bool tree(const char *rel, uint8_t out[32])
{
	char path[256];
	struct cit_error err = { 0 };
	at(path, sizeof(path), rel);
	return cit_tree_sha256(path, out, &err) == 0;
}

static void sha_hex(const char *text, char hex[65])
{
	uint8_t d[32];
	crypto_hash_sha256(d, (const uint8_t *)text, strlen(text));
	sodium_bin2hex(hex, 65, d, 32);
}

/* As an unprivileged user (root reads everything), the tree with an unreadable entry:
 * whether it fails with EACCES naming the entry. */
static bool unreadable_is_named(const char *dir, const char *name)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
				       setresuid(65534, 65534, 65534) < 0))
			_exit(2);
		uint8_t d[32];
		struct cit_error err = { 0 };
		int rc = cit_tree_sha256(dir, d, &err);
		_exit(rc == -EACCES && strstr(err.msg, name) ? 0 : 1);
	}
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_tree(void)
{
	char path[256], p2[256];
	at(path, sizeof(path), "t");
	mkdir(path, 0755);
	put_file("t/a", "x", 0644);
	at(path, sizeof(path), "t/d");
	mkdir(path, 0755);
	put_file("t/d/f", "", 0755);
	at(path, sizeof(path), "t/l");
	symlink("a", path);
	at(path, sizeof(path), "t/fifo");
	mkfifo(path, 0644); /* skipped, never opened (it would block) */

	/* The listing as attest.h writes it, hashed here by hand. */
	char hx[65], he[65], listing[512];
	sha_hex("x", hx);
	sha_hex("", he);
	snprintf(listing, sizeof(listing), "f 1:a sha256:%s\nd 1:d\nf 3:d/f sha256:%s\nl 1:l 1:a\n", hx, he);
	uint8_t want[32], h1[32], h2[32];
	crypto_hash_sha256(want, (const uint8_t *)listing, strlen(listing));
	tap_ok(tree("t", h1) && !memcmp(h1, want, 32), "a tree hashes to its listing: sorted, pre-order, "
						   "files, directories and links (a FIFO skipped)");
	tap_ok(tree("t", h2) && !memcmp(h1, h2, 32), "the same tree, the same hash");

	put_file("t/d/f", "y", 0755);
	tap_ok(tree("t", h2) && memcmp(h1, h2, 32), "a byte changed changes it");
	put_file("t/d/f", "", 0755);
	tap_ok(tree("t", h2) && !memcmp(h1, h2, 32), "the byte put back, the hash is back");
	put_file("t/d/f", "", 0600);
	tap_ok(tree("t", h2) && !memcmp(h1, h2, 32), "a mode is not measured (bytes, names and links are)");
	put_file("t/d/f", "", 0755);

	at(path, sizeof(path), "t/d/f");
	at(p2, sizeof(p2), "t/d/g");
	rename(path, p2);
	tap_ok(tree("t", h2) && memcmp(h1, h2, 32), "a file renamed changes it");
	rename(p2, path);

	at(path, sizeof(path), "t/l");
	unlink(path);
	symlink("d/f", path);
	tap_ok(tree("t", h2) && memcmp(h1, h2, 32), "a symbolic link retargeted changes it");
	unlink(path);
	symlink("a", path);
	tap_ok(tree("t", h2) && !memcmp(h1, h2, 32), "(and put back)");

	/* Unreadable entries: the error names the entry, relative to the top. */
	put_file("t/d/secret", "s", 0000);
	at(path, sizeof(path), "t");
	tap_ok(unreadable_is_named(path, "d/secret"), "an unreadable file fails the hash, named (d/secret)");
	at(path, sizeof(path), "t/d/secret");
	unlink(path);
	at(path, sizeof(path), "t/d/closed");
	mkdir(path, 0000);
	at(p2, sizeof(p2), "t");
	tap_ok(unreadable_is_named(p2, "d/closed"), "an unreadable directory fails the hash, named (d/closed)");
	rmdir(path);
	struct cit_error err = { 0 };
	at(path, sizeof(path), "none");
	tap_ok(cit_tree_sha256(path, h2, &err) == -ENOENT && strstr(err.msg, "none"), "a missing tree: -ENOENT, "
										       "named");
}

static const char *const programs[] = { "citadeld",	  "citadel-zygote",  "citadel-python", "citadel-store",
					"citadel-unpack", "citadel-gateway", "citadel-callback" };

static int monitor(uint8_t out[32], char *enc, size_t cap)
{
	char dir[256];
	struct cit_error err = { 0 };
	at(dir, sizeof(dir), "bin");
	return cit_monitor_measure(dir, NULL, out, enc, cap, &err);
}

static void test_monitor(void)
{
	char path[256], rel[64];
	at(path, sizeof(path), "bin");
	mkdir(path, 0755);
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
		snprintf(rel, sizeof(rel), "bin/%s", programs[i]);
		put_file(rel, programs[i], 0755); /* each program's bytes: its own name */
	}
	uint8_t m1[32], m2[32], digest[32];
	static char enc[4096], enc2[4096];
	tap_ok(monitor(m1, enc, sizeof(enc)) == 0, "the monitor measured");
	crypto_hash_sha256(digest, (const uint8_t *)enc, strlen(enc));
	tap_ok(!memcmp(digest, m1, 32), "its measurement is its encoding's SHA-256");
	char want[512], hex[65];
	sha_hex("citadeld", hex);
	snprintf(want, sizeof(want), "citadel-monitor 1\ncitadeld sha256:%s\ncitadel-zygote sha256:", hex);
	tap_ok(!strncmp(enc, want, strlen(want)), "the encoding: its header, then citadeld, then the programs");
	const char *lib = strstr(enc, "\nlibpython "), *std = strstr(enc, "\npython-stdlib ");
	tap_ok(lib && std && lib < std && !strchr(std + 1, '\n')[1], "then libpython and python-stdlib, last");
	tap_ok(monitor(m2, enc2, sizeof(enc2)) == 0 && !memcmp(m1, m2, 32) && !strcmp(enc, enc2),
	       "measured again: the same");

	put_file("bin/citadel-gateway", "citadel-gateway, changed", 0755);
	tap_ok(monitor(m2, enc2, sizeof(enc2)) == 0 && memcmp(m1, m2, 32), "a program changed changes it");
	put_file("bin/citadel-gateway", "citadel-gateway", 0755);

	at(path, sizeof(path), "bin/citadel-store");
	unlink(path);
	tap_ok(monitor(m2, enc2, sizeof(enc2)) == 0 && memcmp(m1, m2, 32) && strstr(enc2, "\ncitadel-store missing\n"),
	       "a program missing is no error: encoded \"citadel-store missing\"");
	put_file("bin/citadel-store", "citadel-store", 0755);

	/* self: the running program, instead of the file at bindir/citadeld. */
	put_file("other", "another citadeld", 0755);
	char dir[256];
	struct cit_error err = { 0 };
	at(dir, sizeof(dir), "bin");
	at(path, sizeof(path), "other");
	sha_hex("another citadeld", hex);
	snprintf(want, sizeof(want), "\ncitadeld sha256:%s\n", hex);
	tap_ok(cit_monitor_measure(dir, path, m2, enc2, sizeof(enc2), &err) == 0 && strstr(enc2, want),
	       "self is hashed as citadeld");
	tap_ok(cit_monitor_measure(dir, NULL, m2, enc2, 20, &err) == 0 && !memcmp(m1, m2, 32) && strlen(enc2) == 19,
	       "a short buffer truncates the encoding, not the measurement");
	at(path, sizeof(path), "bin/citadel-zygote");
	unlink(path);
	mkdir(path, 0755);
	tap_ok(cit_monitor_measure(dir, NULL, m2, NULL, 0, &err) < 0 && strstr(err.msg, "citadel-zygote"),
	       "a component that is not a file is an error, named");
}

static void test_seed(void)
{
	uint8_t key[32], key2[32], cm[32], cm2[32], s1[32], s2[32];
	memset(key, 7, sizeof(key));
	memcpy(key2, key, 32);
	key2[31] ^= 1;
	memset(cm, 1, sizeof(cm));
	memcpy(cm2, cm, 32);
	cm2[0] ^= 0x80;
	tap_ok(cit_sealing_seed(key, "echo", cm, s1) == 0 && cit_sealing_seed(key, "echo", cm, s2) == 0 &&
		       !memcmp(s1, s2, 32),
	       "the seed is the same each time");
	/* attest.h's derivation, computed here. */
	uint8_t msg[64], want[32];
	memcpy(msg, "citadel-sealing-key/1\0echo\0", 27);
	memcpy(msg + 27, cm, 32);
	crypto_generichash(want, 32, msg, 59, key, 32);
	tap_ok(!memcmp(s1, want, 32), "seed = BLAKE2b-256(key, label NUL name NUL code_measurement)");
	tap_ok(cit_sealing_seed(key, "echo2", cm, s2) == 0 && memcmp(s1, s2, 32), "another name, another seed");
	tap_ok(cit_sealing_seed(key, "echo", cm2, s2) == 0 && memcmp(s1, s2, 32), "other code, another seed");
	tap_ok(cit_sealing_seed(key2, "echo", cm, s2) == 0 && memcmp(s1, s2, 32), "another key, another seed");
	char name[65];
	memset(name, 'n', 63);
	name[63] = '\0';
	tap_ok(cit_sealing_seed(key, name, cm, s2) == 0, "a name of 63 bytes has a seed");
	name[63] = 'n';
	name[64] = '\0';
	tap_ok(cit_sealing_seed(key, name, cm, s2) == -EINVAL, "a name of 64 bytes is refused");
}

int main(void)
{
	snprintf(top, sizeof(top), "/tmp/citadel-test-attest-XXXXXX");
	if (sodium_init() < 0 || !mkdtemp(top) || chmod(top, 0755) < 0) {
		perror("setting up");
		return 1;
	}
	test_tree();
	test_monitor();
	test_seed();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx %s && rm -rf %s", top, top);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", top);
	return tap_done();
}
