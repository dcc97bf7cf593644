/* A bundle as the CLI sends it: a directory packed into a tar archive in a sealed data
 * object. The archive is canonical (docs/functions.md, "Bundles"): the same tree always
 * packs to the same bytes, whoever packs it and whenever, so its SHA-256, part of the
 * function's measurement, can be recomputed from the files alone.
 *
 *   - entries in pre-order, the names in each directory sorted by their bytes (strcmp);
 *     the top directory itself is not an entry; a directory's name ends in '/';
 *   - POSIX ustar headers: mode 0755 for directories and for files with any execute bit,
 *     0644 for other files, 0777 for symbolic links; uid, gid and mtime 0; no user or
 *     group names; a name longer than ustar holds (100 bytes, or a 155-byte prefix and a
 *     100-byte name split at a '/') or a link target over 100 bytes gets a pax extended
 *     header ('x') before it with a "path" or "linkpath" record;
 *   - two 512-byte blocks of zeros at the end.
 *
 * Only regular files, directories and symbolic links whose target is relative and stays
 * inside the tree are packed; anything else is refused, naming it. A file's bytes are
 * copied (a hard link becomes a second copy). */
#pragma once

#include <stdint.h>

#include "common/error.h"

/* Packs the directory at dir into a new sealed data object: *obj gets its fd (the
 * caller closes it), *len its size. At most CIT_BUNDLE_MAX_ENTRIES entries and
 * CIT_BUNDLE_MAX_BYTES bytes of archive (spec.h). Returns 0, or a negative errno with err
 * saying why and which entry (relative to dir): -ENOTDIR (dir is not a directory),
 * -EINVAL (an entry of a type that cannot be packed, or a link out of the tree), -EFBIG
 * (over the bounds), or a system error reading the tree (-EACCES, -EIO, ...). */
int cit_bundle_pack(const char *dir, int *obj, uint64_t *len, struct cit_error *err);
