/* Appending formatted lines to a caller's fixed buffer, noting once whether anything did
 * not fit: for texts that are compared byte for byte (warm pools' keys), where a
 * truncated text must never pass for a whole one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct cit_text {
	char *out;     /* borrowed: cap bytes, always NUL-terminated once anything is put */
	size_t cap, n; /* n: bytes written so far, without the NUL */
	bool full;     /* something did not fit: the text is unusable */
};

/* Appends printf-style text. Once one append does not fit, the text is full and every
 * later append is dropped. */
__attribute__((format(printf, 2, 3)))
void cit_text_put(struct cit_text *t, const char *fmt, ...);
