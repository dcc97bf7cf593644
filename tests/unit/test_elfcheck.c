/* The monitor's check of a function's ELF file: a real function passes; each way a file
 * can be wrong gets its own message; and no bytes at all (truncations, every header byte
 * changed, random section tables) make it read outside the file (run under ASan) or
 * accept what it should not.
 *
 * Usage: test_elfcheck FUNCTION.so NOT_A_FUNCTION.so */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <citadel/function.h>

#include "monitor/elfcheck.h"
#include "tap.h"

static uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	uint8_t *p = malloc((size_t)st.st_size);
	if (p && read(fd, p, (size_t)st.st_size) != st.st_size) {
		free(p);
		p = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* Checks a copy of len bytes in a buffer of exactly that size (so ASan sees any read past
 * its end). */
static int check_copy(const uint8_t *code, size_t len, struct cit_error *err)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, code, len);
	int rc = cit_elf_check(copy, len, err);
	free(copy);
	return rc;
}

static uint8_t *find(uint8_t *p, size_t len, const char *s)
{
	size_t n = strlen(s) + 1;
	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(p + i, s, n))
			return p + i;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_elfcheck FUNCTION.so NOT_A_FUNCTION.so\n");
		return 2;
	}
	size_t len, other_len;
	uint8_t *so = slurp(argv[1], &len), *other = slurp(argv[2], &other_len);
	if (!so || !other) {
		perror("reading the test's ELF files");
		return 2;
	}
	struct cit_error err = { 0 };
	tap_ok(check_copy(so, len, &err) == 0, "a function built with citadel/function.h passes (%s)", err.msg);

	uint8_t *b = malloc(len);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)b;
	static const struct { const char *what; size_t off; uint8_t byte; const char *says; } fields[] = {
		{ "text", 0, 'h', "not an ELF file" },
		{ "32-bit", EI_CLASS, ELFCLASS32, "another machine" },
		{ "big-endian", EI_DATA, ELFDATA2MSB, "another machine" },
		{ "another machine", offsetof(Elf64_Ehdr, e_machine), 0, "another machine" },
		{ "executable", offsetof(Elf64_Ehdr, e_type), ET_EXEC, "executable, not a shared object" },
		{ "object file", offsetof(Elf64_Ehdr, e_type), ET_REL, "object file, not a shared object" },
		{ "no section headers", offsetof(Elf64_Ehdr, e_shnum), 0, "section headers" },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		memcpy(b, so, len);
		b[fields[i].off] = fields[i].byte;
		if (fields[i].off == offsetof(Elf64_Ehdr, e_shnum))
			eh->e_shnum = 0;
		if (fields[i].off == offsetof(Elf64_Ehdr, e_machine))
			eh->e_machine = eh->e_machine == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
		int rc = check_copy(b, len, &err);
		tap_ok(rc == -ENOEXEC && strstr(err.msg, fields[i].says), "%s: refused, saying '%s' (%s)", fields[i].what,
		       fields[i].says, err.msg);
	}
	memcpy(b, so, len);
	eh->e_shoff = len - 10;
	tap_ok(check_copy(b, len, &err) == -ENOEXEC && strstr(err.msg, "section headers"),
	       "section headers past the end: refused (%s)", err.msg);
	memcpy(b, so, len);
	eh->e_shoff = UINT64_MAX - 8;
	tap_ok(check_copy(b, len, &err) == -ENOEXEC, "section headers at an offset that wraps: refused");

	/* The symbols, by their names in the dynamic string table. */
	memcpy(b, so, len);
	uint8_t *name = find(b, len, "cit_function_abi");
	if (name)
		name[0] = 'x';
	tap_ok(name && check_copy(b, len, &err) == -ENOEXEC && strstr(err.msg, "exports no cit_function_abi"),
	       "no cit_function_abi: refused (%s)", err.msg);
	memcpy(b, so, len);
	name = find(b, len, "cit_handler");
	if (name)
		name[0] = 'x';
	tap_ok(name && check_copy(b, len, &err) == -ENOEXEC && strstr(err.msg, "no cit_handler"),
	       "no cit_handler: refused (%s)", err.msg);
	tap_ok(check_copy(other, other_len, &err) == -ENOEXEC && strstr(err.msg, "citadel/function.h"),
	       "a shared object that is not a function: refused (%s)", err.msg);

	size_t self_len;
	uint8_t *self = slurp("/proc/self/exe", &self_len); /* this test: a PIE, as Debian builds */
	tap_ok(self && check_copy(self, self_len, &err) == -ENOEXEC && strstr(err.msg, "executable, not a shared object"),
	       "a position-independent executable (ET_DYN too): refused (%s)", err.msg);
	free(self);

	/* Section headers that all name the dynamic symbol table (or the dynamic section):
	 * refused at the second, so the check's work stays linear in the file's size. */
	for (int kind = 0; kind < 2; kind++) {
		memcpy(b, so, len);
		Elf64_Ehdr h0;
		memcpy(&h0, b, sizeof(h0));
		Elf64_Shdr sh, twin;
		int found = -1;
		for (int i = 0; i < h0.e_shnum && found < 0; i++) {
			memcpy(&sh, b + h0.e_shoff + (size_t)i * sizeof(sh), sizeof(sh));
			if (sh.sh_type == (kind ? SHT_DYNAMIC : SHT_DYNSYM))
				found = i;
		}
		memcpy(&twin, b + h0.e_shoff + (size_t)found * sizeof(twin), sizeof(twin));
		int copy_at = found == 1 ? 2 : 1; /* any other section's header becomes a copy */
		memcpy(b + h0.e_shoff + (size_t)copy_at * sizeof(twin), &twin, sizeof(twin));
		tap_ok(found >= 0 && check_copy(b, len, &err) == -ENOEXEC && strstr(err.msg, "more than one"),
		       "two %s: refused (%s)", kind ? "dynamic sections" : "dynamic symbol tables", err.msg);
	}

	/* The ABI's value, read from the file. */
	int wrong = 0;
	for (size_t i = 0; i + 4 <= len; i += 4) {
		int32_t v;
		memcpy(&v, so + i, 4);
		memcpy(b, so, len);
		if (v != CIT_FUNCTION_ABI)
			continue;
		b[i] = 7;
		if (check_copy(b, len, &err) == -ENOEXEC && strstr(err.msg, "ABI 7"))
			wrong++;
	}
	tap_ok(wrong == 1, "exactly one int in the file is the ABI, and another value is refused naming it");

	/* Any truncation is handled. */
	int bad = 0;
	for (size_t n = 0; n < len; n += n < 256 ? 1 : 61)
		bad += check_copy(so, n, &err) != -ENOEXEC;
	tap_ok(bad == 0, "every truncation is refused, none read past its end");

	/* Every byte of the ELF header and of each section header, set to random values. */
	srand(1);
	Elf64_Ehdr h;
	memcpy(&h, so, sizeof(h));
	int odd = 0;
	size_t tries = 0;
	for (size_t round = 0; round < 40; round++) {
		for (size_t i = 0; i < sizeof(h) + (size_t)h.e_shnum * sizeof(Elf64_Shdr); i++) {
			size_t off = i < sizeof(h) ? i : h.e_shoff + i - sizeof(h);
			if (off >= len)
				break;
			memcpy(b, so, len);
			b[off] = (uint8_t)rand();
			if (round & 1)
				b[(off & ~7u) + (size_t)rand() % 8] = (uint8_t)rand();
			int rc = check_copy(b, len, &err);
			odd += rc != 0 && rc != -ENOEXEC;
			tries++;
		}
	}
	tap_ok(odd == 0, "%zu files with header bytes changed at random: each passes or is refused, no crash", tries);
	free(b);
	free(so);
	free(other);
	return tap_done();
}
