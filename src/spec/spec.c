/* Function specs (spec.h): the checks. */
#include "spec/spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool cit_field_padded(const char *f, size_t n)
{
	const char *nul = memchr(f, '\0', n);
	if (!nul)
		return false;
	for (const char *p = nul; p < f + n; p++)
		if (*p)
			return false;
	return true;
}

bool cit_fn_name_ok(const char *name)
{
	size_t n = strnlen(name, CIT_NAME_MAX);
	if (n == 0 || n >= CIT_NAME_MAX || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

bool cit_bundle_path_ok(const char *path)
{
	if (!path[0] || path[0] == '/' || strlen(path) >= 4096)
		return false;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n + (p[n] == '/');
	}
	return true;
}

bool cit_bundle_link_ok(const char *path, const char *target)
{
	if (!target[0] || target[0] == '/' || strlen(target) >= 4096)
		return false;
	long depth = 0;
	for (const char *p = path; (p = strchr(p, '/')); p++)
		depth++; /* the link's directory is this deep */
	for (const char *p = target; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (n && !(n == 1 && p[0] == '.')) {
			depth++;
		}
		p += n + (p[n] == '/');
	}
	return true;
}

/* A spec's list of n function names in max fixed fields (the rest all zero), none twice;
 * option names the deploy option that sets it. Returns 0 or -EINVAL with err. */
static int names_check(const char (*names)[CIT_NAME_MAX], uint32_t n, uint32_t max, const char *option,
		       struct cit_error *err)
{
	if (n > max)
		return cit_error_say(err, -EINVAL, "%s names at most %u functions", option, max);
	for (uint32_t i = 0; i < max; i++) {
		const char *name = names[i];
		bool clean = cit_field_padded(name, CIT_NAME_MAX);
		if (i >= n ? name[0] || !clean : !clean || !cit_fn_name_ok(name))
			return cit_error_say(err, -EINVAL, "%s: '%.63s' is not a function's name", option, name);
		for (uint32_t j = 0; j < i && i < n; j++)
			if (!strcmp(names[j], name))
				return cit_error_say(err, -EINVAL, "%s names %s twice", option, name);
	}
	return 0;
}

int cit_fn_spec_check(const struct cit_fn_spec *s, const char *const *env, const char *const *args,
		      struct cit_error *err)
{
	if (!cit_fn_name_ok(s->name))
		return cit_error_say(err, -EINVAL, "function name '%.63s' is not valid: use 1 to 63 of a-z, 0-9, "
						   "'-' and '_', starting with a letter or digit", s->name);
	const struct cit_runtime_info *rt = cit_runtime_known(s->runtime);
	if (!rt)
		return cit_error_say(err, -EINVAL, "runtime '%.15s' is not supported (native, exec or python)", s->runtime);
	bool python = !rt->command && strcmp(rt->name, "native");
	if (rt->command ? s->n_args == 0 : !python && s->n_args != 0)
		return cit_error_say(err, -EINVAL, rt->command ? "a %s function needs a command (-- PROGRAM [ARGS...])"
							       : "a %s function takes no command", rt->name);
	if (s->n_args > CIT_ARGS_MAX || s->args_len > CIT_ARGS_BYTES)
		return cit_error_say(err, -EINVAL, "the command has more than %d arguments or %d bytes", CIT_ARGS_MAX,
				     CIT_ARGS_BYTES);
	if ((s->flags & CIT_FN_BUNDLE) && !rt->bundles)
		return cit_error_say(err, -EINVAL, "a bundle is for exec and python functions, not %s", rt->name);
	/* python: the entry point (MODULE.FUNCTION), then the modules to import with it. */
	for (uint32_t i = 0; python && args && i < s->n_args; i++)
		if (!cit_py_name_ok(args[i], i == 0))
			return cit_error_say(err, -EINVAL, i == 0 ? "the entry point '%.100s' is not MODULE.FUNCTION (Python "
								    "names, such as handler.handle)"
								  : "'%.100s' is not a Python module's name (such as "
								    "numpy or xml.etree)", args[i]);
	if (python)
		args = NULL; /* no program to check below */
	if (args && args[0] && !(s->flags & CIT_FN_BUNDLE) && args[0][0] != '/')
		return cit_error_say(err, -EINVAL, "the program '%.64s' must be an absolute path in the function's "
						   "read-only view (such as /usr/bin/wc), or a path inside its --bundle",
				     args[0]);
	/* /proc/self/exe and the like name the runtime's own files, not a program of the view. */
	if (args && args[0] && !(s->flags & CIT_FN_BUNDLE) &&
	    (!strncmp(args[0], "/proc/", 6) || !strncmp(args[0], "/dev/", 5) || !strncmp(args[0], "/sys/", 5)))
		return cit_error_say(err, -EINVAL, "the program '%.64s' is under /proc, /dev or /sys: give the path of "
						   "a program file in the view (such as /usr/bin/wc)", args[0]);
	if (args && args[0] && (s->flags & CIT_FN_BUNDLE) && !cit_bundle_path_ok(args[0]))
		return cit_error_say(err, -EINVAL, "the program '%.64s' must be a path inside the bundle (relative, "
						   "such as bin/run or ./handler.sh, without '..')", args[0]);
	if (s->memory_bytes < CIT_FN_MIN_MEMORY || s->memory_bytes > CIT_FN_MAX_MEMORY)
		return cit_error_say(err, -EINVAL, "--memory must be between 4M and 64G");
	if (s->timeout_ms < 1 || s->timeout_ms > CIT_FN_MAX_TIMEOUT_MS)
		return cit_error_say(err, -EINVAL, "--timeout must be between 1ms and 1h");
	if (s->output_bytes < 1 || s->output_bytes > CIT_FN_MAX_OUTPUT)
		return cit_error_say(err, -EINVAL, "--output-limit must be between 1 byte and 1G");
	if (s->max_instances < 1 || s->max_instances > CIT_FN_MAX_INSTANCES)
		return cit_error_say(err, -EINVAL, "--max-instances must be between 1 and %d", CIT_FN_MAX_INSTANCES);
	if (s->min_instances > s->max_instances)
		return cit_error_say(err, -EINVAL, "--min-instances must not exceed --max-instances");
	if (s->flags & ~CIT_FN_FLAGS_ALL)
		return cit_error_say(err, -EINVAL, "unknown flags in function spec");
	if (s->cpu_millis > CIT_FN_MAX_CPU_MILLIS || (s->cpu_millis && s->cpu_millis < CIT_FN_MIN_CPU_MILLIS))
		return cit_error_say(err, -EINVAL, "--cpus must be 0 (no limit) or from 0.01 to %u",
				     CIT_FN_MAX_CPU_MILLIS / 1000);
	if (s->keepalive_s > CIT_FN_MAX_KEEPALIVE_S)
		return cit_error_say(err, -EINVAL, "--keep-alive must be at most 30 days");
	/* An exec instance is two processes while it serves: itself and its program. */
	uint64_t per = strcmp(rt->name, "exec") ? 1 : 2, least = per * s->max_instances + 2;
	if (s->pids > CIT_FN_MAX_PIDS || s->pids < least)
		return cit_error_say(err, -EINVAL, "--pids (%u) must allow --max-instances (%u) and the template: at "
						   "least %llu%s, at most %u", s->pids, s->max_instances,
				     (unsigned long long)least,
				     per == 2 ? " (an exec call is two processes: its instance and its program)" : "",
				     CIT_FN_MAX_PIDS);
	for (size_t i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');
		if (!eq || eq == env[i])
			return cit_error_say(err, -EINVAL, "environment entry '%.64s' is not K=V", env[i]);
	}
	if (s->object_quota < CIT_FN_MIN_OBJECT_QUOTA || s->object_quota > CIT_FN_MAX_OBJECT_QUOTA)
		return cit_error_say(err, -EINVAL, "--object-quota must be between 1M and 64G");
	if (s->n_invokes > CIT_INVOKES_MAX || s->reserved)
		return cit_error_say(err, -EINVAL, "--allow-invoke names at most %d functions", CIT_INVOKES_MAX);
	int rc = names_check(s->invokes, s->n_invokes, CIT_INVOKES_MAX, "--allow-invoke", err);
	if (rc < 0)
		return rc;
	if (s->state_quota < CIT_FN_MIN_STATE_QUOTA || s->state_quota > CIT_FN_MAX_STATE_QUOTA)
		return cit_error_say(err, -EINVAL, "--state-quota must be between 64K and 64G");
	if (!s->state_value_max || s->state_value_max > CIT_FN_MAX_STATE_VALUE_MAX)
		return cit_error_say(err, -EINVAL, "--state-value-max must be between 1 byte and 16M");
	if (s->n_state_shares > CIT_STATE_SHARES_MAX)
		return cit_error_say(err, -EINVAL, "--state-share names at most %d functions", CIT_STATE_SHARES_MAX);
	return names_check(s->state_shares, s->n_state_shares, CIT_STATE_SHARES_MAX, "--state-share", err);
}

static const struct cit_runtime_info runtimes[] = {
	{ "native", 1, true, false, false, false, "citadel-zygote" },
	{ "exec", 1, false, true, true, true, "citadel-zygote" },
	{ "python", 1, true, false, false, true, "citadel-python" },
};

const struct cit_runtime_info *cit_runtime_known(const char *name)
{
	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++)
		if (!strcmp(runtimes[i].name, name))
			return &runtimes[i];
	return NULL;
}

_Static_assert(sizeof(runtimes) / sizeof(runtimes[0]) == CIT_RUNTIMES, "CIT_RUNTIMES counts the runtimes");

const struct cit_runtime_info *cit_runtime_at(unsigned i)
{
	return i < CIT_RUNTIMES ? &runtimes[i] : NULL;
}

unsigned cit_runtime_index(const struct cit_runtime_info *rt)
{
	return (unsigned)(rt - runtimes);
}

/* Appends to out what printf makes of fmt, counting what would not fit. */
__attribute__((format(printf, 4, 5))) static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(*len < cap ? out + *len : NULL, *len < cap ? cap - *len : 0, fmt, ap);
	va_end(ap);
	*len += n > 0 ? (size_t)n : 0;
}

/* n NUL-terminated strings from *p, each as "key LEN:VALUE\n". */
static void put_strings(char *out, size_t cap, size_t *len, const char *key, const char **p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		size_t l = strlen(*p);
		put(out, cap, len, "%s %zu:", key, l);
		if (*len + l <= cap)
			memcpy(out + *len, *p, l);
		*len += l;
		put(out, cap, len, "\n");
		*p += l + 1;
	}
}

static void put_hash(char *out, size_t cap, size_t *len, const char *key, const uint8_t sha256[32])
{
	put(out, cap, len, "%s sha256:", key);
	for (int i = 0; i < 32; i++)
		put(out, cap, len, "%02x", sha256[i]);
	put(out, cap, len, "\n");
}

/* The encoding's lines of what the code is: its environment, arguments, code and bundle. */
static void put_code(const struct cit_fn_spec *s, const char *tail, const uint8_t code_sha256[32],
		     const uint8_t *bundle_sha256, char *out, size_t cap, size_t *len)
{
	const char *p = tail;
	put_strings(out, cap, len, "env", &p, s->n_env);
	put_strings(out, cap, len, "arg", &p, s->n_args);
	put_hash(out, cap, len, "code", code_sha256);
	if (bundle_sha256)
		put_hash(out, cap, len, "bundle", bundle_sha256);
}

long cit_fn_encode_code(const struct cit_fn_spec *s, const char *tail, const uint8_t code_sha256[32],
			const uint8_t *bundle_sha256, char *out, size_t cap)
{
	const struct cit_runtime_info *rt = cit_runtime_known(s->runtime);
	if (!rt || !(s->flags & CIT_FN_BUNDLE) != !bundle_sha256)
		return -EINVAL;
	size_t len = 0;
	put(out, cap, &len, "citadel-code 1\nruntime %s %u\n", rt->name, rt->version);
	put_code(s, tail, code_sha256, bundle_sha256, out, cap, &len);
	return (long)len;
}

long cit_fn_encode(const struct cit_fn_spec *s, const char *tail, const uint8_t code_sha256[32],
		   const uint8_t *bundle_sha256, char *out, size_t cap)
{
	const struct cit_runtime_info *rt = cit_runtime_known(s->runtime);
	if (!rt || !(s->flags & CIT_FN_BUNDLE) != !bundle_sha256)
		return -EINVAL;
	size_t len = 0;
	put(out, cap, &len, "citadel-function 1\nruntime %s %u\n", rt->name, rt->version);
	put(out, cap, &len, "memory %llu\ntimeout_ms %llu\noutput_bytes %llu\n", (unsigned long long)s->memory_bytes,
	    (unsigned long long)s->timeout_ms, (unsigned long long)s->output_bytes);
	put(out, cap, &len, "max_instances %u\nmin_instances %u\nkeep_alive_s %u\nfresh %u\ncpus_milli %u\npids %u\n",
	    s->max_instances, s->min_instances, s->keepalive_s, (s->flags & CIT_FN_FRESH) ? 1u : 0u, s->cpu_millis,
	    s->pids);
	put_code(s, tail, code_sha256, bundle_sha256, out, cap, &len);
	if (s->flags & CIT_FN_INVOKE_KEY)
		put(out, cap, &len, "invoke_key 1\n");
	if (s->object_quota != CIT_FN_DEFAULT_OBJECT_QUOTA)
		put(out, cap, &len, "object_quota %llu\n", (unsigned long long)s->object_quota);
	for (uint32_t i = 0; i < s->n_invokes && i < CIT_INVOKES_MAX; i++)
		put(out, cap, &len, "invokes %zu:%s\n", strnlen(s->invokes[i], CIT_NAME_MAX), s->invokes[i]);
	if (s->state_quota != CIT_FN_DEFAULT_STATE_QUOTA)
		put(out, cap, &len, "state_quota %llu\n", (unsigned long long)s->state_quota);
	if (s->state_value_max != CIT_FN_DEFAULT_STATE_VALUE_MAX)
		put(out, cap, &len, "state_value_max %u\n", s->state_value_max);
	for (uint32_t i = 0; i < s->n_state_shares && i < CIT_STATE_SHARES_MAX; i++)
		put(out, cap, &len, "state_shares %zu:%s\n", strnlen(s->state_shares[i], CIT_NAME_MAX),
		    s->state_shares[i]);
	return (long)len;
}

bool cit_secret_name_ok(const char *name)
{
	size_t n = strlen(name);
	return n >= 1 && n <= 63 && name[0] != '.' &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") == n;
}

bool cit_py_name_ok(const char *s, bool entry)
{
	size_t parts = 0, len = strlen(s);
	if (!len || len > 255)
		return false;
	for (const char *p = s; *p;) {
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		if (!n || (p[0] >= '0' && p[0] <= '9') || (p[n] && p[n] != '.') || (p[n] == '.' && !p[n + 1]))
			return false;
		parts++;
		p += n + (p[n] == '.');
	}
	return !entry || parts >= 2;
}

bool cit_ctype_ok(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	if (len == n || len >= CIT_CTYPE_MAX)
		return false;
	if (len && !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}
