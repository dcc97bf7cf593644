/* The monitor's look at a native function's ELF file: bounds-checked reads only, every
 * offset and size from the file treated as hostile. */
#include "monitor/elfcheck.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "citadel/function.h"

#if defined(__x86_64__)
#define MACHINE EM_X86_64
#define MACHINE_NAME "x86-64"
#elif defined(__aarch64__)
#define MACHINE EM_AARCH64
#define MACHINE_NAME "aarch64"
#else
#error "add this machine's e_machine"
#endif

/* Whether [off, off + size) lies within len bytes (no overflow). */
static int within(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

/* Copies section header i to *s (the file's bytes need not be aligned); false when it
 * lies outside the file. */
static bool section(const uint8_t *code, size_t len, const Elf64_Ehdr *eh, uint64_t i, Elf64_Shdr *s)
{
	if (i >= eh->e_shnum || !within(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(*s), len))
		return false;
	memcpy(s, code + eh->e_shoff + i * sizeof(*s), sizeof(*s));
	return true;
}

/* The symbol's name when it is one of ours and within strtab, else NULL. */
static const char *symbol_name(const uint8_t *strtab, uint64_t strsz, uint32_t name)
{
	static const char *const ours[] = { "cit_handler", "cit_function_abi" };
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		size_t n = strlen(ours[i]) + 1; /* with its NUL: no longer name matches */
		if (within(name, n, strsz) && !memcmp(strtab + name, ours[i], n))
			return ours[i];
	}
	return NULL;
}

/* The value of the int defined by sym, read from the section it lies in; -1 with no bytes
 * in the file (.bss, or out of bounds). */
static int64_t int_value(const uint8_t *code, size_t len, const Elf64_Ehdr *eh, const Elf64_Sym *sym)
{
	Elf64_Shdr s;
	if (!section(code, len, eh, sym->st_shndx, &s) || s.sh_type == SHT_NOBITS ||
	    sym->st_size != sizeof(int32_t) || sym->st_value < s.sh_addr)
		return -1;
	uint64_t in = sym->st_value - s.sh_addr;
	if (in > s.sh_size || s.sh_size - in < sizeof(int32_t) || in > UINT64_MAX - s.sh_offset ||
	    !within(s.sh_offset + in, sizeof(int32_t), len))
		return -1;
	int32_t v;
	memcpy(&v, code + s.sh_offset + in, sizeof(v));
	return v;
}

/* Whether the dynamic section s marks a position-independent executable (DF_1_PIE), which
 * is ET_DYN like a shared object but which the loader refuses to load. */
static bool is_pie(const uint8_t *code, size_t len, const Elf64_Shdr *s)
{
	if (!within(s->sh_offset, s->sh_size, len))
		return false;
	for (uint64_t j = 0; j < s->sh_size / sizeof(Elf64_Dyn); j++) {
		Elf64_Dyn d;
		memcpy(&d, code + s->sh_offset + j * sizeof(d), sizeof(d));
		if (d.d_tag == DT_NULL)
			break;
		if (d.d_tag == DT_FLAGS_1 && (d.d_un.d_val & DF_1_PIE))
			return true;
	}
	return false;
}

int cit_elf_check(const uint8_t *code, size_t len, struct cit_error *err)
{
	Elf64_Ehdr h = { 0 };
	const Elf64_Ehdr *eh = &h;
	if (len >= sizeof(h))
		memcpy(&h, code, sizeof(h));
	if (memcmp(h.e_ident, ELFMAG, SELFMAG))
		return cit_error_say(err, -ENOEXEC, "the function's code is not an ELF file (build it with "
						    "cc -shared -fPIC)");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != MACHINE)
		return cit_error_say(err, -ENOEXEC, "the function's code is an ELF file for another machine "
						    "(this one runs 64-bit " MACHINE_NAME ")");
	if (eh->e_type != ET_DYN)
		return cit_error_say(err, -ENOEXEC, "the function's code is an ELF %s, not a shared object "
						    "(build it with cc -shared -fPIC)",
				     eh->e_type == ET_EXEC ? "executable" : eh->e_type == ET_REL ? "object file" : "file");
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || !eh->e_shnum ||
	    !within(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), len))
		return cit_error_say(err, -ENOEXEC, "the function's ELF file has no readable section headers, "
						    "so its symbols cannot be checked (was it stripped of them?)");
	bool handler = false, abi = false;
	Elf64_Sym abi_sym = { 0 };
	/* A shared object has one dynamic section and one dynamic symbol table: each is read
	 * once, so that the work stays linear in the file's size (65,535 section headers all
	 * naming the whole file would otherwise make it quadratic). */
	unsigned dynamic = 0, dynsym = 0;
	for (uint64_t i = 0; i < eh->e_shnum; i++) {
		Elf64_Shdr s, str;
		if (!section(code, len, eh, i, &s) || (s.sh_type != SHT_DYNAMIC && s.sh_type != SHT_DYNSYM))
			continue;
		if ((s.sh_type == SHT_DYNAMIC ? ++dynamic : ++dynsym) > 1)
			return cit_error_say(err, -ENOEXEC, "the function's ELF file has more than one %s",
					     s.sh_type == SHT_DYNAMIC ? "dynamic section" : "dynamic symbol table");
		if (s.sh_type == SHT_DYNAMIC) {
			if (is_pie(code, len, &s))
				return cit_error_say(err, -ENOEXEC, "the function's code is an ELF executable, not a "
								    "shared object (build it with cc -shared -fPIC)");
			continue;
		}
		if (s.sh_entsize != sizeof(Elf64_Sym) || !within(s.sh_offset, s.sh_size, len) ||
		    !section(code, len, eh, s.sh_link, &str) || str.sh_type != SHT_STRTAB ||
		    !within(str.sh_offset, str.sh_size, len))
			return cit_error_say(err, -ENOEXEC, "the function's ELF file has a malformed dynamic "
							    "symbol table");
		for (uint64_t j = 0; j < s.sh_size / sizeof(Elf64_Sym); j++) {
			Elf64_Sym sym;
			memcpy(&sym, code + s.sh_offset + j * sizeof(sym), sizeof(sym));
			unsigned bind = ELF64_ST_BIND(sym.st_info), type = ELF64_ST_TYPE(sym.st_info);
			if (sym.st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK))
				continue;
			const char *name = symbol_name(code + str.sh_offset, str.sh_size, sym.st_name);
			if (name && !strcmp(name, "cit_handler") && type == STT_FUNC)
				handler = true;
			else if (name && !strcmp(name, "cit_function_abi") && type == STT_OBJECT) {
				abi = true;
				abi_sym = sym;
			}
		}
	}
	if (!abi)
		return cit_error_say(err, -ENOEXEC, "the function was not built with citadel/function.h (its "
						    "ELF file exports no cit_function_abi)");
	int64_t v = int_value(code, len, eh, &abi_sym);
	if (v < CIT_FUNCTION_ABI_MIN || v > CIT_FUNCTION_ABI)
		return cit_error_say(err, -ENOEXEC, "the function was built for citadel/function.h ABI %lld, "
						    "this monitor runs ABI %d to %d: rebuild it with this citadel's header",
				     (long long)v, CIT_FUNCTION_ABI_MIN, CIT_FUNCTION_ABI);
	if (!handler)
		return cit_error_say(err, -ENOEXEC, "the function defines no cit_handler (its ELF file exports "
						    "no such function)");
	return 0;
}
