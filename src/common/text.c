#include "common/text.h"

#include <stdarg.h>
#include <stdio.h>

void cit_text_put(struct cit_text *t, const char *fmt, ...)
{
	if (t->full || t->n >= t->cap) {
		t->full = true;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(t->out + t->n, t->cap - t->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= t->cap - t->n) {
		t->full = true;
		t->out[t->n] = '\0';
	} else {
		t->n += (size_t)k;
	}
}
