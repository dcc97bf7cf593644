/* Chains as users write them (chainfile.h). */
#include "spec/chainfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int set_name(char *field, const char *value, const char *what, struct cit_error *err)
{
	if (strlen(value) >= CIT_NAME_MAX || !cit_fn_name_ok(value))
		return cit_error_say(err, -EINVAL, "%s '%.80s' is not a valid name (1 to 63 of a-z, 0-9, '-' and '_', "
				     "from a letter or digit)", what, value);
	memset(field, 0, CIT_NAME_MAX);
	memcpy(field, value, strlen(value));
	return 0;
}

int cit_chain_line(struct cit_chain_spec *out, const char *name, const char *const *fns, size_t n,
		   struct cit_error *err)
{
	memset(out, 0, sizeof(*out));
	int rc = set_name(out->name, name, "the chain's name", err);
	if (rc < 0)
		return rc;
	if (n < 1 || n > CIT_CHAIN_STEPS_MAX)
		return cit_error_say(err, -EINVAL, "a chain has 1 to %d steps, not %zu", CIT_CHAIN_STEPS_MAX, n);
	out->n_steps = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		struct cit_chain_step *s = &out->steps[i];
		if ((rc = set_name(s->function, fns[i], "function", err)) < 0)
			return rc;
		/* Named after its function; when that name is taken (the function came before, or
		 * another function of the line is called so), f-2, f-3, ...: the first free. */
		char step[CIT_NAME_MAX + 16];
		for (unsigned k = 1;; k++) {
			snprintf(step, sizeof(step), k > 1 ? "%.55s-%u" : "%s", fns[i], k);
			bool taken = false;
			for (size_t j = 0; j < i && !taken; j++)
				taken = !strcmp(out->steps[j].name, step);
			for (size_t j = 0; j < n && !taken && k > 1; j++)
				taken = !strcmp(fns[j], step);
			if (!taken)
				break;
		}
		if ((rc = set_name(s->name, step, "step", err)) < 0)
			return rc;
		s->after = i ? 1u << (i - 1) : 0;
	}
	return cit_chain_check(out, err);
}

/* One step of a manifest, before the steps are ordered. */
struct raw_step {
	char name[CIT_NAME_MAX], function[CIT_NAME_MAX];
	const char *after[CIT_FANIN_MAX + 1];
	size_t n_after;
};

static int read_step(struct raw_step *r, json_t *s, size_t i, struct cit_error *err)
{
	if (!json_is_object(s))
		return cit_error_say(err, -EINVAL, "step %zu is not an object ({\"name\": ..., \"function\": ..., "
				     "\"after\": [...]})", i + 1);
	const char *key;
	json_t *v;
	json_object_foreach(s, key, v)
		if (strcmp(key, "name") && strcmp(key, "function") && strcmp(key, "after"))
			return cit_error_say(err, -EINVAL, "step %zu: unknown key \"%.40s\" (a step has \"name\", "
					     "\"function\" and \"after\")", i + 1, key);
	json_t *name = json_object_get(s, "name"), *fn = json_object_get(s, "function"), *after = json_object_get(s, "after");
	if (!json_is_string(name))
		return cit_error_say(err, -EINVAL, "step %zu has no \"name\" string", i + 1);
	int rc = set_name(r->name, json_string_value(name), "step", err);
	if (rc == 0 && fn && !json_is_string(fn))
		rc = cit_error_say(err, -EINVAL, "step %s: \"function\" is a function's name", r->name);
	if (rc == 0)
		rc = set_name(r->function, fn ? json_string_value(fn) : r->name, "function", err);
	if (rc < 0)
		return rc;
	if (json_is_string(after)) {
		r->after[r->n_after++] = json_string_value(after);
	} else if (json_is_array(after)) {
		size_t k;
		json_t *a;
		json_array_foreach(after, k, a) {
			if (!json_is_string(a))
				return cit_error_say(err, -EINVAL, "step %s: \"after\" lists steps' names", r->name);
			if (r->n_after == CIT_FANIN_MAX)
				return cit_error_say(err, -EINVAL, "step %s follows more than %d steps", r->name, CIT_FANIN_MAX);
			r->after[r->n_after++] = json_string_value(a);
		}
	} else if (after) {
		return cit_error_say(err, -EINVAL, "step %s: \"after\" is a step's name or an array of them", r->name);
	}
	return 0;
}

/* A manifest's steps (root, borrowed) into out, whose name is set: read, checked and
 * ordered. */
static int manifest_steps(struct cit_chain_spec *out, const char *name, json_t *root, struct cit_error *err)
{
	int rc = 0;
	static struct raw_step raw[CIT_CHAIN_STEPS_MAX];
	size_t n = 0;
	json_t *steps = json_object_get(root, "steps"), *jname = json_object_get(root, "name");
	const char *key;
	json_t *v;
	if (!json_is_object(root)) {
		rc = cit_error_say(err, -EINVAL, "a chain's manifest is an object: {\"steps\": [...]}");
		goto out;
	}
	json_object_foreach(root, key, v)
		if (strcmp(key, "name") && strcmp(key, "steps")) {
			rc = cit_error_say(err, -EINVAL, "unknown key \"%.40s\" (a chain's manifest has \"steps\" and an "
					   "optional \"name\")", key);
			goto out;
		}
	if (jname && (!json_is_string(jname) || strcmp(json_string_value(jname), name))) {
		rc = cit_error_say(err, -EINVAL, "the manifest's \"name\" is not the chain's name, %s", name);
		goto out;
	}
	if (!json_is_array(steps) || json_array_size(steps) < 1 || json_array_size(steps) > CIT_CHAIN_STEPS_MAX) {
		rc = cit_error_say(err, -EINVAL, "\"steps\" is an array of 1 to %d steps", CIT_CHAIN_STEPS_MAX);
		goto out;
	}
	n = json_array_size(steps);
	memset(raw, 0, sizeof(raw));
	for (size_t i = 0; i < n; i++) {
		if ((rc = read_step(&raw[i], json_array_get(steps, i), i, err)) < 0)
			goto out;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(raw[j].name, raw[i].name)) {
				rc = cit_error_say(err, -EINVAL, "two steps are named %s", raw[i].name);
				goto out;
			}
	}
	/* Predecessors by index; every "after" must name a step. */
	uint32_t pred[CIT_CHAIN_STEPS_MAX] = { 0 };
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < raw[i].n_after; k++) {
			size_t j = 0;
			while (j < n && strcmp(raw[j].name, raw[i].after[k]))
				j++;
			if (j == n) {
				rc = cit_error_say(err, -EINVAL, "step %s follows '%.63s', which is no step of this chain",
						   raw[i].name, raw[i].after[k]);
				goto out;
			}
			if (pred[i] & (1u << j)) {
				rc = cit_error_say(err, -EINVAL, "step %s names %s twice in \"after\"", raw[i].name, raw[j].name);
				goto out;
			}
			pred[i] |= 1u << j;
		}
	/* Ordered (Kahn's): each time, the first step in the manifest whose predecessors are
	 * placed; none left to place while some remain is a cycle. */
	uint32_t placed = 0, pos[CIT_CHAIN_STEPS_MAX];
	for (uint32_t k = 0; k < n; k++) {
		size_t i = 0;
		while (i < n && ((placed & (1u << i)) || (pred[i] & ~placed)))
			i++;
		if (i == n) {
			rc = cit_error_say(err, -EINVAL, "the steps form a cycle (each follows another of them): a chain is "
					   "a DAG");
			goto out;
		}
		placed |= 1u << i;
		pos[i] = k;
		struct cit_chain_step *s = &out->steps[k];
		memcpy(s->name, raw[i].name, CIT_NAME_MAX);
		memcpy(s->function, raw[i].function, CIT_NAME_MAX);
	}
	/* after, as bits of the new positions, in the manifest's order of "after" (the order
	 * a fan-in step gets its inputs in is the order of the steps, which the sort kept). */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			if (pred[i] & (1u << j))
				out->steps[pos[i]].after |= 1u << pos[j];
	out->n_steps = (uint32_t)n;
	rc = cit_chain_check(out, err);
out:
	return rc;
}

int cit_chain_manifest(struct cit_chain_spec *out, const char *name, const char *text, size_t len,
		       struct cit_error *err)
{
	memset(out, 0, sizeof(*out));
	if (len > CIT_CHAIN_MANIFEST_MAX)
		return cit_error_say(err, -EFBIG, "the manifest is larger than %u KiB", CIT_CHAIN_MANIFEST_MAX >> 10);
	int rc = set_name(out->name, name, "the chain's name", err);
	if (rc < 0)
		return rc;
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return cit_error_say(err, -EINVAL, "not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
	rc = manifest_steps(out, name, root, err);
	json_decref(root);
	return rc;
}

json_t *cit_chain_json(const struct cit_chain_spec *c)
{
	json_t *steps = json_array();
	for (uint32_t i = 0; steps && i < c->n_steps && i < CIT_CHAIN_STEPS_MAX; i++) {
		json_t *after = json_array();
		for (uint32_t j = 0; after && j < i; j++)
			if (c->steps[i].after & (1u << j))
				json_array_append_new(after, json_stringn(c->steps[j].name, strnlen(c->steps[j].name, CIT_NAME_MAX)));
		json_t *s = after ? json_pack("{s:s%, s:s%, s:o}", "name", c->steps[i].name,
					      strnlen(c->steps[i].name, CIT_NAME_MAX), "function", c->steps[i].function,
					      strnlen(c->steps[i].function, CIT_NAME_MAX), "after", after) : NULL;
		if (!s || json_array_append_new(steps, s) < 0) {
			json_decref(steps);
			return NULL;
		}
	}
	uint32_t f = cit_chain_final(c);
	return steps ? json_pack("{s:s%, s:o, s:s%}", "name", c->name, strnlen(c->name, CIT_NAME_MAX), "steps", steps,
				 "final", c->steps[f].name, strnlen(c->steps[f].name, CIT_NAME_MAX)) : NULL;
}

int cit_chain_of_json(struct cit_chain_spec *out, json_t *o, struct cit_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *name = json_string_value(json_object_get(o, "name"));
	json_t *fns = json_object_get(o, "functions"), *steps = json_object_get(o, "steps");
	json_t *final = json_object_get(o, "final");
	if (!name || !fns == !steps)
		return cit_error_say(err, -EINVAL, "a chain is {\"name\": NAME, \"steps\": [...]} (a manifest's steps) or "
				     "{\"name\": NAME, \"functions\": [...]} (a line)");
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
		if (strcmp(key, "name") && strcmp(key, fns ? "functions" : "steps") && strcmp(key, "final"))
			return cit_error_say(err, -EINVAL, "unknown key \"%.40s\" (a chain has \"name\", and \"steps\" or "
					     "\"functions\")", key);
	int rc;
	if (fns) {
		const char *names[CIT_CHAIN_STEPS_MAX];
		size_t n = json_array_size(fns);
		if (!json_is_array(fns) || n > CIT_CHAIN_STEPS_MAX)
			return cit_error_say(err, -EINVAL, "\"functions\" is an array of 1 to %d functions' names",
					     CIT_CHAIN_STEPS_MAX);
		for (size_t i = 0; i < n; i++)
			if (!(names[i] = json_string_value(json_array_get(fns, i))))
				return cit_error_say(err, -EINVAL, "\"functions\" lists functions' names (strings)");
		rc = cit_chain_line(out, name, names, n, err);
	} else {
		/* The steps as a manifest's: "final" is this form's own, checked below. */
		json_t *m = json_copy(o);
		if (!m)
			return cit_error_say(err, -ENOMEM, "out of memory");
		json_object_del(m, "final");
		rc = set_name(out->name, name, "the chain's name", err);
		if (rc == 0)
			rc = manifest_steps(out, name, m, err);
		json_decref(m);
	}
	const char *last = rc == 0 ? out->steps[cit_chain_final(out)].name : NULL;
	if (last && final && (!json_is_string(final) || strcmp(json_string_value(final), last)))
		rc = cit_error_say(err, -EINVAL, "\"final\" is not the chain's final step, %s", last);
	return rc;
}

/* Appends to out (cap bytes, at *at of them used) what fmt says, cut short when full. */
__attribute__((format(printf, 4, 5))) static void put(char *out, size_t cap, size_t *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = *at < cap ? vsnprintf(out + *at, cap - *at, fmt, ap) : 0;
	va_end(ap);
	*at += n > 0 ? (size_t)n : 0;
}

void cit_chain_ls_line(const struct cit_chain_spec *c, char *out, size_t cap)
{
	size_t at = 0;
	if (cap)
		out[0] = '\0';
	put(out, cap, &at, "%-20.*s", (int)strnlen(c->name, CIT_NAME_MAX), c->name);
	for (uint32_t i = 0; i < c->n_steps && i < CIT_CHAIN_STEPS_MAX; i++) {
		const struct cit_chain_step *s = &c->steps[i];
		put(out, cap, &at, " %.*s", (int)strnlen(s->name, CIT_NAME_MAX), s->name);
		if (strncmp(s->name, s->function, CIT_NAME_MAX))
			put(out, cap, &at, "=%.*s", (int)strnlen(s->function, CIT_NAME_MAX), s->function);
		bool line = i ? s->after == 1u << (i - 1) : !s->after;
		if (!line && !s->after)
			put(out, cap, &at, "<(input)"); /* a first step after the first: the chain's request */
		for (uint32_t j = 0, k = 0; !line && j < i; j++)
			if (s->after & (1u << j))
				put(out, cap, &at, "%c%.*s", k++ ? ',' : '<', (int)strnlen(c->steps[j].name, CIT_NAME_MAX),
				    c->steps[j].name);
	}
}
