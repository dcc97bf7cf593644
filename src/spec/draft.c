/* Deploy options (draft.h): the table, the defaults, reading a value, the final check. */
#include "spec/draft.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse.h"
#include "common/util.h"

#define SPEC_FIELD(f) offsetof(struct cit_fn_spec, f), sizeof(((struct cit_fn_spec *)0)->f)
#define KEEP_ALIVE_MAX_MS ((uint64_t)CIT_FN_MAX_KEEPALIVE_S * 1000)

static const struct cit_spec_opt opts[] = {
	{ "memory", "memory", CIT_SPEC_SIZE, CIT_FN_MIN_MEMORY, CIT_FN_MAX_MEMORY, 0, SPEC_FIELD(memory_bytes),
	  "a size from 4M to 64G, in bytes or with K, M, G or T", "64M" },
	{ "timeout", "timeout", CIT_SPEC_DURATION, 1, CIT_FN_MAX_TIMEOUT_MS, 1, SPEC_FIELD(timeout_ms),
	  "a duration from 1ms to 1h, in seconds or with ms, s, m or h", "10s" },
	{ "output-limit", "output_limit", CIT_SPEC_SIZE, 1, CIT_FN_MAX_OUTPUT, 0, SPEC_FIELD(output_bytes),
	  "a size from 1 byte to 1G, in bytes or with K, M, G or T", "16M" },
	{ "max-instances", "max_instances", CIT_SPEC_COUNT, 1, CIT_FN_MAX_INSTANCES, 0, SPEC_FIELD(max_instances),
	  "a whole number from 1 to 16384", "16" },
	{ "min-instances", "min_instances", CIT_SPEC_COUNT, 0, CIT_FN_MAX_INSTANCES, 0, SPEC_FIELD(min_instances),
	  "a whole number from 0 to 16384", "0" },
	{ "keep-alive", "keep_alive", CIT_SPEC_DURATION, 0, KEEP_ALIVE_MAX_MS, 1000, SPEC_FIELD(keepalive_s),
	  "a duration of at most 30 days (720h), in seconds or with ms, s, m or h", "60s" },
	{ "cpus", "cpus", CIT_SPEC_CPUS, 0, CIT_FN_MAX_CPU_MILLIS, 0, SPEC_FIELD(cpu_millis),
	  "0 (no limit) or a number of CPUs from 0.01 to 1024", "0.5" },
	{ "pids", "pids", CIT_SPEC_COUNT, 1, CIT_FN_MAX_PIDS, 0, SPEC_FIELD(pids),
	  "a whole number up to 4194304, at least max-instances + 2", "256" },
	{ "fresh", "fresh", CIT_SPEC_FLAG, CIT_FN_FRESH, 0, 0, SPEC_FIELD(flags), "true or false", "true" },
	{ "invoke-key", "invoke_key", CIT_SPEC_FLAG, CIT_FN_INVOKE_KEY, 0, 0, SPEC_FIELD(flags), "true or false",
	  "true" },
	{ "object-quota", "object_quota", CIT_SPEC_SIZE, CIT_FN_MIN_OBJECT_QUOTA, CIT_FN_MAX_OBJECT_QUOTA, 0,
	  SPEC_FIELD(object_quota), "a size from 1M to 64G, in bytes or with K, M, G or T", "256M" },
	{ "allow-invoke", "allow_invoke", CIT_SPEC_NAMES, 0, 0, 0, SPEC_FIELD(n_invokes),
	  "functions' names, commas between", "resize,store" },
	{ "state-quota", "state_quota", CIT_SPEC_SIZE, CIT_FN_MIN_STATE_QUOTA, CIT_FN_MAX_STATE_QUOTA, 0,
	  SPEC_FIELD(state_quota), "a size from 64K to 64G, in bytes or with K, M, G or T", "64M" },
	{ "state-value-max", "state_value_max", CIT_SPEC_SIZE, 1, CIT_FN_MAX_STATE_VALUE_MAX, 0,
	  SPEC_FIELD(state_value_max), "a size from 1 byte to 16M, in bytes or with K or M", "1M" },
	{ "state-share", "state_share", CIT_SPEC_NAMES, 0, 0, 0, SPEC_FIELD(n_state_shares),
	  "functions' names, commas between", "reader,report" },
	{ "env", "env", CIT_SPEC_ENV, 0, 0, 0, SPEC_FIELD(n_env), "an object of strings", "{\"K\": \"V\"}" },
	{ "handler", "handler", CIT_SPEC_ENTRY, 0, 0, 0, SPEC_FIELD(n_args), "a Python function's MODULE.FUNCTION",
	  "handler.handle" },
	{ "preload", "preload", CIT_SPEC_MODULES, 0, 0, 0, SPEC_FIELD(n_args), "Python modules' names, commas between",
	  "numpy,PIL.Image" },
};

void cit_spec_defaults(struct cit_fn_draft *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->spec.runtime, sizeof(d->spec.runtime), "native");
	d->spec.memory_bytes = 256ull << 20;
	d->spec.timeout_ms = 10000;
	d->spec.output_bytes = 16ull << 20;
	d->spec.max_instances = 16;
	d->spec.keepalive_s = 60;
	d->spec.cpu_millis = CIT_FN_DEFAULT_CPU_MILLIS;
	d->spec.pids = CIT_FN_DEFAULT_PIDS;
	d->spec.object_quota = CIT_FN_DEFAULT_OBJECT_QUOTA;
	d->spec.state_quota = CIT_FN_DEFAULT_STATE_QUOTA;
	d->spec.state_value_max = CIT_FN_DEFAULT_STATE_VALUE_MAX;
}

const struct cit_spec_opt *cit_spec_options(size_t *n)
{
	*n = ARRAY_SIZE(opts);
	return opts;
}

const struct cit_spec_opt *cit_spec_option(const char *flag)
{
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		if (!strcmp(opts[i].flag, flag))
			return &opts[i];
	return NULL;
}

/* Adds "K=V" to the environment. */
static int add_env(struct cit_fn_draft *d, const char *kv, struct cit_error *err)
{
	size_t l = strlen(kv) + 1;
	if (!strchr(kv, '=') || kv[0] == '=')
		return cit_error_say(err, -EINVAL, "wants K=V (a variable name, '=', its value), not '%s'", kv);
	if (d->spec.n_env >= CIT_ENV_MAX || d->spec.env_len + l > CIT_ENV_BYTES)
		return cit_error_say(err, -EINVAL, "too much environment: at most %d entries and %d bytes in all",
				     CIT_ENV_MAX, CIT_ENV_BYTES);
	memcpy(d->env + d->spec.env_len, kv, l);
	d->spec.env_len += (uint32_t)l;
	d->spec.n_env++;
	return 0;
}

/* A value of a size, duration, count or CPUs option, in o's unit (not yet divided by
 * o->per). Returns 0, or a negative errno when v is malformed or out of o's bounds. */
static int parse_number(const struct cit_spec_opt *o, const char *v, uint64_t *n)
{
	uint32_t millis = 0;
	int rc = -EINVAL;
	switch (o->kind) {
	case CIT_SPEC_SIZE: rc = cit_parse_size(v, n); break;
	case CIT_SPEC_DURATION: rc = cit_parse_duration_ms(v, n); break;
	case CIT_SPEC_COUNT: rc = cit_parse_u64(v, 0, UINT64_MAX, n); break;
	case CIT_SPEC_CPUS:
		/* Parsed to thousandths, rounded: 0.0095 would pass as 0.01 and 0.005 as a share
		 * the kernel cannot schedule, so the bound is on the number as written. */
		rc = cit_parse_cpus(v, &millis);
		*n = millis;
		if (rc == 0 && millis && strtod(v, NULL) < 0.01)
			rc = -ERANGE;
		break;
	case CIT_SPEC_FLAG:
	case CIT_SPEC_ENV:
	case CIT_SPEC_ENTRY:
	case CIT_SPEC_MODULES:
	case CIT_SPEC_NAMES:
	default: break;
	}
	if (rc == 0 && (*n < o->min || *n > o->max))
		rc = -ERANGE;
	return rc;
}

/* --preload's value: one module or several, commas between, each appended. */
static int add_modules(struct cit_fn_draft *d, const char *value, const struct cit_spec_opt *o, struct cit_error *err)
{
	char name[256];
	size_t len = d->modules_len, n = d->n_modules;
	for (const char *p = value;; p++) {
		size_t k = strcspn(p, ",");
		snprintf(name, sizeof(name), "%.*s", (int)(k < 255 ? k : 255), p);
		if (k > 255 || !cit_py_name_ok(name, false))
			return cit_error_say(err, -EINVAL, "wants %s (e.g. %s), not '%.100s'", o->expect, o->example, value);
		if (len + k + 1 > sizeof(d->modules) || n == CIT_ARGS_MAX - 1)
			return cit_error_say(err, -EINVAL, "too many modules: at most %d and %d bytes", CIT_ARGS_MAX - 1,
					     CIT_ARGS_BYTES);
		memcpy(d->modules + len, name, k + 1);
		len += k + 1;
		n++;
		p += k;
		if (!*p)
			break;
	}
	d->modules_len = len;
	d->n_modules = n;
	return 0;
}

/* --allow-invoke's and --state-share's value: one function's name or several, commas
 * between, each added to the list o's row names (its count, then its names). */
static int add_names(struct cit_fn_draft *d, const char *value, const struct cit_spec_opt *o, struct cit_error *err)
{
	struct cit_fn_spec s = d->spec;
	bool shares = o->off == offsetof(struct cit_fn_spec, n_state_shares);
	uint32_t *count = shares ? &s.n_state_shares : &s.n_invokes;
	char(*names)[CIT_NAME_MAX] = shares ? s.state_shares : s.invokes;
	uint32_t max = shares ? CIT_STATE_SHARES_MAX : CIT_INVOKES_MAX;
	for (const char *p = value;; p++) {
		size_t k = strcspn(p, ",");
		char name[CIT_NAME_MAX] = { 0 };
		if (k < CIT_NAME_MAX)
			memcpy(name, p, k);
		if (k >= CIT_NAME_MAX || !cit_fn_name_ok(name))
			return cit_error_say(err, -EINVAL, "wants %s (e.g. %s), not '%.100s'", o->expect, o->example, value);
		bool dup = false;
		for (uint32_t i = 0; i < *count; i++)
			dup |= !strcmp(names[i], name);
		if (!dup && *count == max)
			return cit_error_say(err, -EINVAL, "names more than %u functions", max);
		if (!dup)
			memcpy(names[(*count)++], name, sizeof(name));
		p += k;
		if (!*p)
			break;
	}
	d->spec = s;
	return 0;
}

int cit_spec_set(struct cit_fn_draft *d, const struct cit_spec_opt *o, const char *value, struct cit_error *err)
{
	if (o->kind == CIT_SPEC_NAMES)
		return value ? add_names(d, value, o, err) : cit_error_say(err, -EINVAL, "wants %s", o->expect);
	if (o->kind == CIT_SPEC_ENTRY) {
		if (!value || strlen(value) >= sizeof(d->entry) || !cit_py_name_ok(value, true))
			return cit_error_say(err, -EINVAL, "wants %s (e.g. %s), not '%.100s'", o->expect, o->example,
					     value ? value : "");
		snprintf(d->entry, sizeof(d->entry), "%s", value);
		return 0;
	}
	if (o->kind == CIT_SPEC_MODULES)
		return value ? add_modules(d, value, o, err) : cit_error_say(err, -EINVAL, "wants %s", o->expect);
	if (o->kind == CIT_SPEC_ENV)
		return value ? add_env(d, value, err) : cit_error_say(err, -EINVAL, "wants K=V, not nothing");
	if (o->kind == CIT_SPEC_FLAG) {
		bool on = !value || !strcmp(value, "true");
		if (!on && strcmp(value, "false"))
			return cit_error_say(err, -EINVAL, "wants %s, not '%s'", o->expect, value);
		uint32_t bit = (uint32_t)o->min; /* a flag's row names its bit */
		d->spec.flags = on ? d->spec.flags | bit : d->spec.flags & ~bit;
		return 0;
	}
	uint64_t n = 0;
	if (!value || parse_number(o, value, &n) < 0)
		return cit_error_say(err, -EINVAL, "wants %s (e.g. %s), not '%s'", o->expect, o->example,
				     value ? value : "");
	if (o->per > 1)
		n = (n + o->per - 1) / o->per;
	if (o->width == sizeof(uint64_t)) {
		memcpy((char *)&d->spec + o->off, &n, sizeof(n));
	} else {
		uint32_t n32 = (uint32_t)n;
		memcpy((char *)&d->spec + o->off, &n32, sizeof(n32));
	}
	return 0;
}

int cit_spec_finish(struct cit_fn_draft *d, struct cit_error *err)
{
	if (strnlen(d->name, sizeof(d->name)) >= sizeof(d->spec.name))
		return cit_error_say(err, -ENAMETOOLONG, "the name '%.40s...' is longer than %d bytes", d->name,
				     CIT_NAME_MAX - 1);
	snprintf(d->spec.name, sizeof(d->spec.name), "%s", d->name);
	if (d->bundle[0])
		d->spec.flags |= CIT_FN_BUNDLE;
	else
		d->spec.flags &= ~CIT_FN_BUNDLE;
	/* python: the command words are the entry point, then the modules to import. */
	if ((d->entry[0] || d->n_modules) && strcmp(d->spec.runtime, "python"))
		return cit_error_say(err, -EINVAL, "--handler and --preload (\"handler\", \"preload\" in a manifest) are "
						   "for python functions, not %s", d->spec.runtime);
	if ((d->entry[0] || d->n_modules) && d->spec.n_args)
		return cit_error_say(err, -EINVAL, "a python function's entry point is given once: --handler, or its "
						   "command words, not both");
	if (d->entry[0] || d->n_modules) {
		const char *words[CIT_ARGS_MAX];
		words[0] = d->entry[0] ? d->entry : "handler.handle";
		for (size_t off = 0, i = 0; i < d->n_modules; i++) {
			words[i + 1] = d->modules + off;
			off += strlen(d->modules + off) + 1;
		}
		int rc = cit_spec_command(d, words, d->n_modules + 1, err);
		if (rc < 0)
			return rc;
	}
	const char *envv[CIT_ENV_MAX + 1] = { 0 }, *argv[CIT_ARGS_MAX + 1] = { 0 };
	for (size_t off = 0, i = 0; off < d->spec.env_len && i < CIT_ENV_MAX; i++) {
		envv[i] = d->env + off;
		off += strnlen(d->env + off, d->spec.env_len - off) + 1;
	}
	for (size_t off = 0, i = 0; off < d->spec.args_len && i < CIT_ARGS_MAX; i++) {
		argv[i] = d->args + off;
		off += strnlen(d->args + off, d->spec.args_len - off) + 1;
	}
	return cit_fn_spec_check(&d->spec, envv, argv, err);
}

int cit_spec_runtime(struct cit_fn_draft *d, const char *name, struct cit_error *err)
{
	const struct cit_runtime_info *rt = cit_runtime_known(name);
	if (!rt) {
		char list[128] = "";
		size_t len = 0;
		for (unsigned i = 0; i < CIT_RUNTIMES; i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", cit_runtime_at(i)->name);
		return cit_error_say(err, -EINVAL, "'%.32s' is not a runtime (the runtimes are %s)", name, list);
	}
	memset(d->spec.runtime, 0, sizeof(d->spec.runtime)); /* NUL-padded: the protocol checks it */
	snprintf(d->spec.runtime, sizeof(d->spec.runtime), "%s", rt->name);
	d->runtime_set = true;
	return 0;
}

int cit_spec_command(struct cit_fn_draft *d, const char *const *argv, size_t n, struct cit_error *err)
{
	if (n == 0 || !argv[0][0])
		return cit_error_say(err, -EINVAL, "no program given after --");
	if (n > CIT_ARGS_MAX)
		return cit_error_say(err, -EINVAL, "more than %d arguments", CIT_ARGS_MAX);
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(argv[i]) + 1;
		if (off + l > sizeof(d->args))
			return cit_error_say(err, -EINVAL, "the command is longer than %d bytes", CIT_ARGS_BYTES);
		memcpy(d->args + off, argv[i], l);
		off += l;
	}
	d->spec.n_args = (uint32_t)n;
	d->spec.args_len = (uint32_t)off;
	return 0;
}

const char *cit_spec_runtime_of(const char *path, const uint8_t *head, size_t len, struct cit_error *err)
{
	static const struct {
		const char *suffix, *runtime;
	} later[] = { { ".wasm", "wasm" } };
	/* An ELF file of type ET_DYN: a shared object (a PIE executable is ET_DYN too; the
	 * monitor's ELF check tells them apart and says so). */
	if (len >= 18 && !memcmp(head, "\x7f" "ELF", 4) && head[16] == 3 && head[17] == 0)
		return "native";
	size_t pl = strlen(path);
	if (pl > 3 && !strcmp(path + pl - 3, ".py"))
		return "python";
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		size_t sl = strlen(later[i].suffix);
		if (pl > sl && !strcmp(path + pl - sl, later[i].suffix)) {
			const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
			cit_error_say(err, -EINVAL, "the %s runtime is not available yet; to run the file as a program, "
						    "send its directory with it: deploy NAME --bundle DIR -- %s (a script "
						    "with a #! line)", later[i].runtime, base);
			return NULL;
		}
	}
	cit_error_say(err, -EINVAL, "%s (a native function is a shared object built with citadel/function.h); "
				    "to run a program, deploy NAME -- PROGRAM [ARGS...]",
		      len >= 4 && !memcmp(head, "\x7f" "ELF", 4) ? "an ELF file, but not a shared object" : "not an ELF file");
	return NULL;
}

size_t cit_spec_tail(const struct cit_fn_draft *d, char *out, size_t cap)
{
	size_t n = (size_t)d->spec.env_len + d->spec.args_len;
	if (n > cap)
		return 0;
	memcpy(out, d->env, d->spec.env_len);
	memcpy(out + d->spec.env_len, d->args, d->spec.args_len);
	return n;
}
