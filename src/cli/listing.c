/* `citadel ls`'s output (listing.h). */
#include "cli/listing.h"

#include <stdlib.h>

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static unsigned long long num(const json_t *o, const char *key)
{
	json_int_t n = json_integer_value(json_object_get(o, key));
	return n > 0 ? (unsigned long long)n : 0;
}

void cit_ls_print(FILE *out, const json_t *fns, bool json)
{
	size_t n = json_array_size(fns);
	if (json)
		fputc('[', out);
	else
		fprintf(out, "%-20s %-7s %-9s %-16s %5s %5s %11s %7s %9s %9s\n", "NAME", "RUNTIME", "STATE",
			"MEASUREMENT", "LIVE", "IDLE", "INVOCATIONS", "ERRORS", "P50", "P99");
	for (size_t i = 0; i < n; i++) {
		const json_t *f = json_array_get(fns, i);
		if (json) {
			char *s = json_dumps(f, JSON_COMPACT | JSON_ENCODE_ANY);
			fprintf(out, "%s%s", i ? "," : "", s ? s : "null");
			free(s);
			continue;
		}
		fprintf(out, "%-20s %-7.7s %-9.9s %-16.16s %5llu %5llu %11llu %7llu %7lluus %7lluus\n", str(f, "name"),
			str(f, "runtime"), str(f, "state"), str(f, "measurement"), num(f, "live"), num(f, "idle"),
			num(f, "invocations"), num(f, "errors"), num(f, "p50_us"), num(f, "p99_us"));
	}
	if (json)
		fputs("]\n", out);
}
