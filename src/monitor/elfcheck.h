/* The monitor's own look at a native function's code before any of it runs.
 *
 * The code is loaded by the runtime in the function's template, where the function's own
 * constructors run too, so whatever the template reports about loading is the function's
 * claim. What the monitor can see for itself it checks here, from the bytes it measured:
 * that they are an ELF shared object for this machine that defines the symbols of
 * citadel/function.h. A file that passes can still fail to load (a missing library);
 * one that fails is refused before a template is made for it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Checks len bytes at code (read only; untrusted: any bytes are handled) for a 64-bit
 * little-endian ELF shared object (ET_DYN) of this machine whose dynamic symbol table
 * defines cit_handler (a function) and cit_function_abi (an object). Returns 0, or
 * -ENOEXEC with err saying what is wrong in words a function's author can act on. */
int cit_elf_check(const uint8_t *code, size_t len, struct cit_error *err);
