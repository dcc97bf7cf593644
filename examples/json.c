/* json: summarises a JSON object, to exercise a function linked with a shared library
 * (jansson).
 *
 * The request must be a JSON object; the response is one compact line with sorted keys:
 *   {"count":N,"keys":[...],"sum":S,"upper":{...}}\n
 * count is the number of top-level keys, keys their names in strcmp order, sum the sum of
 * the top-level values that are numbers (an integer unless one of them is a real, or the
 * integer sum would overflow), upper maps each top-level string value's key to that value
 * with ASCII letters upper-cased. */
#include <citadel/function.h>

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Returns a new array of the object's keys, sorted, or NULL when out of memory. */
static json_t *sorted_keys(json_t *obj)
{
	size_t n = json_object_size(obj), i = 0;
	const char **names = calloc(n ? n : 1, sizeof *names);
	json_t *keys = json_array();
	const char *key;
	json_t *value;

	if (!names || !keys)
		goto fail;
	json_object_foreach(obj, key, value)
		names[i++] = key;
	qsort(names, n, sizeof *names, by_name);
	for (i = 0; i < n; i++)
		if (json_array_append_new(keys, json_string(names[i])) != 0)
			goto fail;
	free(names);
	return keys;
fail:
	free(names);
	json_decref(keys);
	return NULL;
}

/* Returns a new number: the sum of the object's numeric values, or NULL on failure
 * (out of memory, or a real sum that is not finite). */
static json_t *number_sum(json_t *obj)
{
	json_int_t isum = 0;
	double dsum = 0;
	bool real = false;
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value) {
		if (!json_is_number(value))
			continue;
		dsum += json_number_value(value);
		if (json_is_real(value) || __builtin_add_overflow(isum, json_integer_value(value), &isum))
			real = true;
	}
	return real ? json_real(dsum) : json_integer(isum);
}

/* Returns a new object mapping each string value's key to the upper-cased value. */
static json_t *upper_strings(json_t *obj)
{
	json_t *upper = json_object();
	const char *key;
	json_t *value;

	if (!upper)
		return NULL;
	json_object_foreach(obj, key, value) {
		if (!json_is_string(value))
			continue;
		size_t len = json_string_length(value);
		char *s = malloc(len + 1);
		if (!s)
			goto fail;
		memcpy(s, json_string_value(value), len + 1);
		for (size_t i = 0; i < len; i++)
			if (s[i] >= 'a' && s[i] <= 'z')
				s[i] = (char)(s[i] - 'a' + 'A');
		/* Upper-casing ASCII letters keeps valid UTF-8 valid (embedded NULs included). */
		int r = json_object_set_new(upper, key, json_stringn(s, len));
		free(s);
		if (r != 0)
			goto fail;
	}
	return upper;
fail:
	json_decref(upper);
	return NULL;
}

/* Returns a new object with the four summary fields, or NULL on failure. json_object_set_new()
 * fails on a NULL value and always consumes it, so nothing leaks on any path. */
static json_t *summarise(json_t *obj)
{
	json_t *out = json_object();
	if (!out)
		return NULL;
	if (json_object_set_new(out, "count", json_integer((json_int_t)json_object_size(obj))) != 0 ||
	    json_object_set_new(out, "keys", sorted_keys(obj)) != 0 ||
	    json_object_set_new(out, "sum", number_sum(obj)) != 0 ||
	    json_object_set_new(out, "upper", upper_strings(obj)) != 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	json_error_t err;
	json_t *obj = json_loadb(req->len > 0 ? req->data : "", req->len, 0, &err);
	if (!obj)
		return cit_fail(resp, -EINVAL, "invalid JSON: %s (line %d)", err.text, err.line);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return cit_fail(resp, -EINVAL, "expected a JSON object");
	}
	json_t *out = summarise(obj);
	json_decref(obj);
	char *text = out ? json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(out);
	if (!text)
		return cit_fail(resp, -ENOMEM, "cannot build the response (out of memory, "
				"or a sum that is not finite)");
	int r = cit_respondf(resp, "%s\n", text);
	free(text);
	return r;
}
