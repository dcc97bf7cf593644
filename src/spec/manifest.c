/* JSON manifests (draft.h): a deployment's settings as one JSON object, read with the
 * option table that also reads the deploy flags. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "spec/draft.h"

/* A JSON value as it was written (for messages), at most size - 1 characters. */
static void json_text(const json_t *v, char *buf, size_t size)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
	snprintf(buf, size, "%s", s ? s : "?");
	if (s && strlen(s) >= size)
		snprintf(buf + size - 4, 4, "...");
	free(s);
}

/* The message for a manifest value that is not what key wants (example: NULL for none). */
static int bad_value(struct cit_error *err, const char *key, const char *expect, const char *example,
		     const json_t *v)
{
	char got[64];
	json_text(v, got, sizeof(got));
	return cit_error_say(err, -EINVAL, "\"%s\" wants %s%s%s%s, not %s", key, expect, example ? " (e.g. " : "",
			     example ? example : "", example ? ")" : "", got);
}

/* The message for a key a manifest may not hold: the keys it may, and the one meant when
 * only case or '-' for '_' differ. */
static int unknown_key(struct cit_error *err, const char *key)
{
	static const char *const fixed[] = { "name", "code", "runtime", "command", "bundle" };
	size_t n_opts;
	const struct cit_spec_opt *opts = cit_spec_options(&n_opts);
	char list[512] = "", like[64] = "";
	size_t len = 0;
	for (size_t i = 0; i < ARRAY_SIZE(fixed) + n_opts; i++) {
		const char *k = i < ARRAY_SIZE(fixed) ? fixed[i] : opts[i - ARRAY_SIZE(fixed)].key;
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", k);
		bool same = strlen(k) == strlen(key);
		for (size_t j = 0; same && k[j]; j++)
			same = tolower((unsigned char)key[j]) == k[j] || (key[j] == '-' && k[j] == '_');
		if (same)
			snprintf(like, sizeof(like), "did you mean \"%s\"? ", k);
	}
	return cit_error_say(err, -EINVAL, "unknown key \"%.64s\" (%sthe keys are %s)", key, like, list);
}

/* Jansson's error in plain words, and where in the text it is. */
static int json_problem(const json_error_t *je, struct cit_spec_pos *at, struct cit_error *err)
{
	const char *near = strstr(je->text, " near '");
	char token[80] = "";
	if (near)
		snprintf(token, sizeof(token), "%.*s", (int)strlen(near + 7) - 1, near + 7);
	const char *what;
	char buf[200];
	switch (json_error_code(je)) {
	case json_error_duplicate_key:
		snprintf(buf, sizeof(buf), "duplicate key %s: each key may be given once in an object", token);
		what = buf;
		break;
	case json_error_null_character:
		what = "a string holds \\u0000 (a NUL character), which no setting may contain";
		break;
	case json_error_null_byte_in_key: what = "a key holds \\u0000 (a NUL character)"; break;
	case json_error_invalid_utf8: what = "the text is not UTF-8"; break;
	case json_error_premature_end_of_input:
		snprintf(buf, sizeof(buf), "the file ends before the JSON object does (%.*s)",
			 near ? (int)(near - je->text) : (int)strlen(je->text), je->text);
		what = buf;
		break;
	case json_error_end_of_input_expected:
		snprintf(buf, sizeof(buf), "more text after the JSON object, at '%s'", token);
		what = buf;
		break;
	case json_error_numeric_overflow:
		snprintf(buf, sizeof(buf), "the number %s is too large", token);
		what = buf;
		break;
	case json_error_stack_overflow: what = "objects or arrays nested too deeply"; break;
	case json_error_out_of_memory: return cit_error_say(err, -ENOMEM, "out of memory reading the manifest");
	default:
		snprintf(buf, sizeof(buf), "not valid JSON: %s", je->text);
		what = buf;
		break;
	}
	if (at && je->line > 0 && je->column > 0)
		*at = (struct cit_spec_pos){ je->line, je->column };
	return cit_error_say(err, -EINVAL, "%s", what);
}

/* A manifest's "env" object into d. */
static int manifest_env(struct cit_fn_draft *d, const json_t *env, struct cit_error *err)
{
	const struct cit_spec_opt *o = cit_spec_option("env");
	if (!json_is_object(env))
		return bad_value(err, o->key, o->expect, o->example, env);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)env, k, v) {
		char kv[CIT_ENV_BYTES + 1];
		if (!json_is_string(v)) {
			char key[80];
			snprintf(key, sizeof(key), "env\": \"%.64s", k);
			return bad_value(err, key, "a string", NULL, v);
		}
		if (!*k || strchr(k, '='))
			return cit_error_say(err, -EINVAL, "\"env\": \"%.64s\" is not a variable name (not empty, no '=')", k);
		/* One too long is cut to CIT_ENV_BYTES characters, a byte more than fits with
		 * its NUL: cit_spec_set() refuses it as too much. */
		snprintf(kv, sizeof(kv), "%s=%s", k, json_string_value(v));
		if (cit_spec_set(d, o, kv, err) < 0)
			return cit_error_prefix(err, "\"env\"");
	}
	return 0;
}

/* One option's value from a manifest: what its kind takes as a string, or the JSON number
 * the command line would take in its place. */
static int manifest_option(struct cit_fn_draft *d, const struct cit_spec_opt *o, const json_t *v,
			   struct cit_error *err)
{
	char num[64];
	const char *s = NULL;
	if (o->kind == CIT_SPEC_FLAG)
		return json_is_boolean(v) ? cit_spec_set(d, o, json_is_true(v) ? "true" : "false", err) :
					    bad_value(err, o->key, o->expect, NULL, v);
	if (o->kind == CIT_SPEC_ENV)
		return manifest_env(d, v, err);
	if ((o->kind == CIT_SPEC_MODULES || o->kind == CIT_SPEC_NAMES) && json_is_array(v)) {
		size_t i;
		json_t *m;
		bool mods = o->kind == CIT_SPEC_MODULES;
		json_array_foreach(v, i, m)
			if (!json_is_string(m) || cit_spec_set(d, o, json_string_value(m), err) < 0)
				return bad_value(err, o->key, mods ? "an array of Python modules' names" : "an array of "
					"functions' names", mods ? "[\"numpy\"]" : "[\"resize\"]", m);
		return 0;
	}
	if (json_is_string(v)) {
		s = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		s = num;
	} else if (json_is_real(v) && (o->kind == CIT_SPEC_DURATION || o->kind == CIT_SPEC_CPUS)) {
		snprintf(num, sizeof(num), "%.15g", json_real_value(v));
		s = num;
	}
	bool quoted = o->kind == CIT_SPEC_SIZE || o->kind == CIT_SPEC_DURATION;
	char example[32];
	snprintf(example, sizeof(example), quoted ? "\"%s\"" : "%s", o->example);
	if (!s || cit_spec_set(d, o, s, err) < 0)
		return bad_value(err, o->key, o->expect, example, v);
	return 0;
}

_Static_assert(sizeof(((struct cit_fn_draft *)0)->code) == sizeof(((struct cit_fn_draft *)0)->bundle),
	       "code and bundle paths have one size");

/* "name", "code" or "bundle" from a manifest into d. */
static int manifest_name_code(struct cit_fn_draft *d, const char *key, const json_t *v, const char *base_dir,
			      struct cit_error *err)
{
	bool name = key[0] == 'n';
	const char *s = json_string_value(v);
	if (!s || !*s)
		return bad_value(err, key, name ? "a string, the function's name"
					   : key[0] == 'c' ? "a string, the path of the function's .so"
							   : "a string, the path of the exec function's bundle directory",
				 NULL, v);
	char *path = key[0] == 'c' ? d->code : d->bundle; /* both 4096 bytes */
	if (name)
		snprintf(d->name, sizeof(d->name), "%s", s);
	else if (s[0] == '/' || !base_dir)
		snprintf(path, sizeof(d->code), "%s", s);
	else
		snprintf(path, sizeof(d->code), "%s/%s", base_dir, s);
	return 0;
}

/* "runtime" (a string) or "command" (an array of strings: the program and its
 * arguments) from a manifest into d. */
static int manifest_runtime_command(struct cit_fn_draft *d, const char *key, const json_t *v, struct cit_error *err)
{
	if (key[0] == 'r') {
		if (!json_is_string(v))
			return bad_value(err, key, "a string, the runtime (native or exec)", "\"exec\"", v);
		return cit_spec_runtime(d, json_string_value(v), err);
	}
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	if (!n || n > CIT_ARGS_MAX)
		return bad_value(err, key, "an array of strings, the program and its arguments",
				 "[\"/usr/bin/wc\", \"-w\"]", v);
	const char *argv[CIT_ARGS_MAX];
	for (size_t i = 0; i < n; i++)
		if (!(argv[i] = json_string_value(json_array_get(v, i))))
			return bad_value(err, key, "an array of strings, the program and its arguments",
					 "[\"/usr/bin/wc\", \"-w\"]", v);
	return cit_spec_command(d, argv, n, err);
}

/* The manifest's text as one JSON object into *root (json_decref() after). Returns 0 or a
 * negative errno with err saying why. */
static int parse(const char *text, size_t len, json_t **root, struct cit_spec_pos *at, struct cit_error *err)
{
	static const char *const types[] = { "an object", "an array", "a string", "a number", "a number",
					     "true", "false", "null" };
	if (len > CIT_SPEC_MANIFEST_MAX)
		return cit_error_say(err, -EFBIG, "larger than %u KiB: not a manifest", CIT_SPEC_MANIFEST_MAX >> 10);
	if (len == 0)
		return cit_error_say(err, -EINVAL, "the file is empty: a JSON object is expected");
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return json_problem(&je, at, err);
	if (!json_is_object(j)) {
		int rc = cit_error_say(err, -EINVAL, "the manifest must be a JSON object ({\"name\": ..., \"code\": "
						     "...}), not %s", types[json_typeof(j)]);
		json_decref(j);
		return rc;
	}
	*root = j;
	return 0;
}

int cit_spec_manifest(struct cit_fn_draft *d, const char *text, size_t len, const char *base_dir,
		      struct cit_spec_pos *at, struct cit_error *err)
{
	if (at)
		*at = (struct cit_spec_pos){ 0, 0 };
	json_t *root;
	int rc = parse(text, len, &root, at, err);
	if (rc < 0)
		return rc;
	size_t n_opts;
	const struct cit_spec_opt *opts = cit_spec_options(&n_opts);
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		const struct cit_spec_opt *o = NULL;
		/* "imports" says "preload" as Python people say it. */
		const char *k = !strcmp(key, "imports") ? "preload" : key;
		if (k != key && json_object_get(root, "preload")) {
			rc = cit_error_say(err, -EINVAL, "\"imports\" and \"preload\" together: they are one list");
			break;
		}
		for (size_t i = 0; i < n_opts && !o; i++)
			if (!strcmp(k, opts[i].key))
				o = &opts[i];
		if (!strcmp(key, "name") || !strcmp(key, "code") || !strcmp(key, "bundle"))
			rc = manifest_name_code(d, key, v, base_dir, err);
		else if (!strcmp(key, "runtime") || !strcmp(key, "command"))
			rc = manifest_runtime_command(d, key, v, err);
		else
			rc = o ? manifest_option(d, o, v, err) : unknown_key(err, key);
		if (rc < 0)
			break;
	}
	json_decref(root);
	/* A command makes an exec function (so "runtime" may be left out), which has no code
	 * file; any other function has a code file and no command. */
	bool command = d->spec.n_args > 0;
	if (rc == 0 && command && !d->runtime_set)
		rc = cit_spec_runtime(d, "exec", err);
	if (rc == 0 && !d->name[0])
		rc = cit_error_say(err, -EINVAL, "no \"name\" (the function's name)");
	else if (rc == 0 && !strcmp(d->spec.runtime, "exec") && !command)
		rc = cit_error_say(err, -EINVAL, "no \"command\" (an exec function's program and arguments, e.g. "
						 "[\"/usr/bin/wc\", \"-w\"])");
	else if (rc == 0 && command && strcmp(d->spec.runtime, "exec"))
		rc = cit_error_say(err, -EINVAL, "\"command\" is for the exec runtime, not %s", d->spec.runtime);
	else if (rc == 0 && command && d->code[0])
		rc = cit_error_say(err, -EINVAL, "\"code\" and \"command\" together: an exec function runs its "
						 "program from the view; a native function is its \"code\"");
	else if (rc == 0 && d->bundle[0] && !command && strcmp(d->spec.runtime, "python"))
		rc = cit_error_say(err, -EINVAL, "\"bundle\" is for exec functions (give the \"command\" to run in it) "
						 "and python functions (\"runtime\": \"python\")");
	else if (rc == 0 && d->bundle[0] && d->code[0])
		rc = cit_error_say(err, -EINVAL, "\"code\" and \"bundle\" together: a python function's module is "
						 "one or the other");
	else if (rc == 0 && !command && !d->code[0] && !d->bundle[0])
		rc = cit_error_say(err, -EINVAL, "no \"code\" (the path of the function's .so or .py)");
	return rc;
}
