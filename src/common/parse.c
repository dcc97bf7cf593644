#include "common/parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cit_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int cit_parse_size(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	unsigned shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && *end == 'i')
		end++;
	if (*end == 'B' || (*end == 'b' && !shift))
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int cit_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
		return -EINVAL;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (errno == ERANGE || !(v >= 0 && v < 1e300))
		return -ERANGE;
	double scale = 1000.0;
	if (!strcmp(end, "ms"))
		scale = 1.0;
	else if (!strcmp(end, "s") || !*end)
		scale = 1000.0;
	else if (!strcmp(end, "m"))
		scale = 60e3;
	else if (!strcmp(end, "h"))
		scale = 3600e3;
	else
		return -EINVAL;
	double ms = v * scale;
	if (ms > 1e15)
		return -ERANGE;
	*out_ms = (uint64_t)(ms + 0.5);
	return 0;
}

int cit_parse_cpus(const char *s, uint32_t *out_millis)
{
	if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
		return -EINVAL;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || !(v >= 0 && v <= 1024.0))
		return -ERANGE;
	if (v > 0 && v < 0.01) /* a CFS quota of less than 1 ms a 100 ms period */
		return -ERANGE;
	double millis = v * 1000.0 + 0.5;
	*out_millis = (uint32_t)millis;
	return 0;
}
