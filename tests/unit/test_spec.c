/* The deployment reader (src/spec/draft.h): defaults, every option kind's parse and
 * bounds, the final check, and JSON manifests with their messages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spec/chainfile.h"
#include "spec/draft.h"
#include "tap.h"

/* The spec field option o sets, whatever its width. */
static uint64_t field(const struct cit_fn_draft *d, const struct cit_spec_opt *o)
{
	uint64_t v64 = 0;
	uint32_t v32 = 0;
	if (o->width == sizeof(v64)) {
		memcpy(&v64, (const char *)&d->spec + o->off, sizeof(v64));
		return v64;
	}
	memcpy(&v32, (const char *)&d->spec + o->off, sizeof(v32));
	return v32;
}

static bool has(const char *msg, const char *words)
{
	return strstr(msg, words) != NULL;
}

static void defaults_and_table(void)
{
	static struct cit_fn_draft d;
	memset(&d, 0xa5, sizeof(d));
	cit_spec_defaults(&d);
	tap_ok(!strcmp(d.spec.runtime, "native") && d.spec.memory_bytes == 256ull << 20 && d.spec.timeout_ms == 10000 &&
		       d.spec.output_bytes == 16ull << 20 && d.spec.max_instances == 16 && d.spec.min_instances == 0 &&
		       d.spec.keepalive_s == 60 && d.spec.cpu_millis == 1000 && d.spec.pids == 256 && d.spec.flags == 0,
	       "defaults: 256M, 10s, 16M, 16 instances, 0 kept, 60s, 1 CPU, 256 pids, not fresh");
	tap_ok(!d.name[0] && !d.code[0] && d.spec.n_env == 0 && d.spec.env_len == 0 && !d.spec.name[0],
	       "defaults: no name, code or environment");
	struct cit_error err = { 0 };
	strcpy(d.name, "f");
	tap_ok(cit_spec_finish(&d, &err) == 0 && !strcmp(d.spec.name, "f"), "the defaults pass the monitor's check: %s",
	       err.msg);

	size_t n;
	const struct cit_spec_opt *opts = cit_spec_options(&n);
	tap_ok(n == 18, "eighteen options");
	for (size_t i = 0; i < n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "%s", opts[i].flag);
		for (char *p = key; *p; p++)
			*p = *p == '-' ? '_' : *p;
		tap_ok(cit_spec_option(opts[i].flag) == &opts[i] && !strcmp(key, opts[i].key) && opts[i].expect &&
			       opts[i].example,
		       "--%s: found by its flag, key \"%s\", words for messages", opts[i].flag, opts[i].key);
	}
	tap_ok(!cit_spec_option("bogus") && !cit_spec_option("output_limit") && !cit_spec_option(""),
	       "no option for an unknown flag or a manifest key");

	/* --state-share: names, commas between, each once, at most 8; its own list. */
	static struct cit_fn_draft sd;
	cit_spec_defaults(&sd);
	const struct cit_spec_opt *share = cit_spec_option("state-share");
	tap_ok(share && cit_spec_set(&sd, share, "reader,report", &err) == 0 &&
		       cit_spec_set(&sd, share, "reader", &err) == 0 && sd.spec.n_state_shares == 2 &&
		       !strcmp(sd.spec.state_shares[1], "report") && sd.spec.n_invokes == 0,
	       "--state-share names functions, each once, apart from --allow-invoke's");
	tap_ok(cit_spec_set(&sd, share, "a,b,c,d,e,f,g", &err) == -EINVAL && sd.spec.n_state_shares == 2,
	       "more than 8: refused, nothing changed: %s", err.msg);
	tap_ok(cit_spec_set(&sd, share, "Bad", &err) == -EINVAL, "not a name: refused");
	tap_ok(sd.spec.state_quota == 64ull << 20 && sd.spec.state_value_max == 1u << 20,
	       "the state's defaults: a quota of 64M, values of 1M");
}

/* Every option kind: a value within bounds is stored in the spec's unit; one out of bounds
 * or malformed is refused, saying what is wanted, and changes nothing. */
static void option_values(void)
{
	static const struct {
		const char *flag, *value;
		bool ok;
		uint64_t stored; /* in the spec's unit */
	} rows[] = {
		{ "memory", "64M", true, 64ull << 20 },          { "memory", "4M", true, 4ull << 20 },
		{ "memory", "64G", true, 64ull << 30 },          { "memory", "4194304", true, 4ull << 20 },
		{ "memory", "3M", false, 0 },                    { "memory", "65G", false, 0 },
		{ "memory", "lots", false, 0 },                  { "memory", "", false, 0 },
		{ "output-limit", "1", true, 1 },                { "output-limit", "1G", true, 1ull << 30 },
		{ "output-limit", "0", false, 0 },               { "output-limit", "1025M", false, 0 },
		{ "timeout", "1.5", true, 1500 },                { "timeout", "1ms", true, 1 },
		{ "timeout", "1h", true, 3600000 },              { "timeout", "0", false, 0 },
		{ "timeout", "2h", false, 0 },                   { "timeout", "2d", false, 0 },
		{ "keep-alive", "0", true, 0 },                  { "keep-alive", "1500ms", true, 2 },
		{ "keep-alive", "0.5", true, 1 },                { "keep-alive", "720h", true, 2592000 },
		{ "keep-alive", "2592001", false, 0 },           { "keep-alive", "745h", false, 0 },
		{ "max-instances", "1", true, 1 },               { "max-instances", "16384", true, 16384 },
		{ "max-instances", "0", false, 0 },              { "max-instances", "16385", false, 0 },
		{ "max-instances", "4x", false, 0 },             { "max-instances", " 4", false, 0 },
		{ "max-instances", "-1", false, 0 },             { "min-instances", "0", true, 0 },
		{ "pids", "4194304", true, 4194304 },            { "pids", "4194305", false, 0 },
		{ "pids", "0", false, 0 },                       { "cpus", "0.5", true, 500 },
		{ "cpus", "0", true, 0 },                        { "cpus", "0.01", true, 10 },
		{ "cpus", "1024", true, 1024000 },               { "cpus", "1e3", true, 1000000 },
		{ "cpus", "0.009", false, 0 },                   { "cpus", "0.0099", false, 0 },
		{ "cpus", "1025", false, 0 },                    { "cpus", "-1", false, 0 },
		{ "cpus", "abc", false, 0 },
		{ "state-quota", "64K", true, 64ull << 10 },     { "state-quota", "64G", true, 64ull << 30 },
		{ "state-quota", "63K", false, 0 },              { "state-quota", "65G", false, 0 },
		{ "state-value-max", "1", true, 1 },             { "state-value-max", "16M", true, 16u << 20 },
		{ "state-value-max", "0", false, 0 },            { "state-value-max", "17M", false, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		static struct cit_fn_draft d, before;
		cit_spec_defaults(&d);
		before = d;
		const struct cit_spec_opt *o = cit_spec_option(rows[i].flag);
		struct cit_error err = { 0 };
		int rc = cit_spec_set(&d, o, rows[i].value, &err);
		if (rows[i].ok) {
			tap_ok(rc == 0 && field(&d, o) == rows[i].stored, "--%s '%s' -> %llu", rows[i].flag, rows[i].value,
			       (unsigned long long)field(&d, o));
			continue;
		}
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "not '%s'", rows[i].value);
		tap_ok(rc == -EINVAL && !memcmp(&d, &before, sizeof(d)) && has(err.msg, o->expect) &&
			       has(err.msg, o->example) && has(err.msg, quoted) && !has(err.msg, "--"),
		       "--%s '%s' refused, nothing changed: %s", rows[i].flag, rows[i].value, err.msg);
	}

	static struct cit_fn_draft d;
	cit_spec_defaults(&d);
	struct cit_error err = { 0 };
	const struct cit_spec_opt *fresh = cit_spec_option("fresh");
	tap_ok(cit_spec_set(&d, fresh, NULL, &err) == 0 && d.spec.flags == CIT_FN_FRESH, "--fresh sets the flag");
	tap_ok(cit_spec_set(&d, fresh, "false", &err) == 0 && d.spec.flags == 0, "fresh 'false' clears it");
	tap_ok(cit_spec_set(&d, fresh, "true", &err) == 0 && d.spec.flags == CIT_FN_FRESH, "fresh 'true' sets it");
	tap_ok(cit_spec_set(&d, fresh, "yes", &err) == -EINVAL && d.spec.flags == CIT_FN_FRESH &&
		       has(err.msg, "true or false") && has(err.msg, "'yes'"),
	       "fresh 'yes' refused: %s", err.msg);

	const struct cit_spec_opt *env = cit_spec_option("env");
	tap_ok(cit_spec_set(&d, env, "A=1", &err) == 0 && cit_spec_set(&d, env, "B=x=y", &err) == 0 &&
		       d.spec.n_env == 2 && d.spec.env_len == 10 && !memcmp(d.env, "A=1\0B=x=y\0", 10),
	       "--env K=V entries, NUL-terminated, in order");
	tap_ok(cit_spec_set(&d, env, "=1", &err) == -EINVAL && has(err.msg, "wants K=V") && has(err.msg, "'=1'"),
	       "--env '=1' refused: %s", err.msg);
	tap_ok(cit_spec_set(&d, env, "A", &err) == -EINVAL && d.spec.n_env == 2, "--env 'A' refused");
	int rc = 0;
	for (int i = 2; i < CIT_ENV_MAX && rc == 0; i++)
		rc = cit_spec_set(&d, env, "K=v", &err);
	tap_ok(rc == 0 && d.spec.n_env == CIT_ENV_MAX, "%d entries are allowed", CIT_ENV_MAX);
	tap_ok(cit_spec_set(&d, env, "K=v", &err) == -EINVAL && has(err.msg, "too much environment") &&
		       d.spec.n_env == CIT_ENV_MAX,
	       "one more is refused: %s", err.msg);
	cit_spec_defaults(&d);
	static char big[CIT_ENV_BYTES];
	memset(big, 'v', sizeof(big) - 1);
	big[0] = 'K';
	big[1] = '=';
	tap_ok(cit_spec_set(&d, env, big, &err) == 0 && d.spec.env_len == CIT_ENV_BYTES, "%d bytes of environment",
	       CIT_ENV_BYTES);
	tap_ok(cit_spec_set(&d, env, "K=v", &err) == -EINVAL && has(err.msg, "8192 bytes"), "a byte more is refused");
}

/* cit_spec_finish: the name as given, then the monitor's checks. */
static void finish(void)
{
	static struct cit_fn_draft d;
	struct cit_error err = { 0 };
	cit_spec_defaults(&d);
	memset(d.name, 'a', 64);
	tap_ok(cit_spec_finish(&d, &err) == -ENAMETOOLONG && has(err.msg, "longer than 63 bytes"),
	       "a 64-byte name does not fit: %s", err.msg);
	d.name[63] = '\0';
	tap_ok(cit_spec_finish(&d, &err) == 0 && strlen(d.spec.name) == 63, "a 63-byte name does");
	strcpy(d.name, "Bad Name");
	tap_ok(cit_spec_finish(&d, &err) == -EINVAL && has(err.msg, "is not valid"), "a bad name: %s", err.msg);
	strcpy(d.name, "f");
	cit_spec_set(&d, cit_spec_option("min-instances"), "17", &err);
	tap_ok(cit_spec_finish(&d, &err) == -EINVAL && has(err.msg, "--min-instances must not exceed"),
	       "more kept than allowed: %s", err.msg);
	cit_spec_defaults(&d);
	strcpy(d.name, "f");
	cit_spec_set(&d, cit_spec_option("max-instances"), "9", &err);
	cit_spec_set(&d, cit_spec_option("pids"), "10", &err);
	tap_ok(cit_spec_finish(&d, &err) == -EINVAL && has(err.msg, "at least 11"), "too few pids: %s", err.msg);
}

/* Reads text as a manifest into a fresh draft; rc, err and where come back. */
static int manifest(struct cit_fn_draft *d, const char *text, const char *base, struct cit_spec_pos *at,
		    struct cit_error *err)
{
	cit_spec_defaults(d);
	memset(err, 0, sizeof(*err));
	return cit_spec_manifest(d, text, strlen(text), base, at, err);
}

static void manifests(void)
{
	static struct cit_fn_draft d;
	struct cit_error err;
	struct cit_spec_pos at;
	int rc = manifest(&d,
			  "{\"name\": \"f\", \"code\": \"f.so\", \"memory\": 67108864, \"timeout\": 1.5, "
			  "\"output_limit\": \"1M\", \"max_instances\": \"4\", \"min_instances\": 1, \"keep_alive\": "
			  "\"1500ms\", \"cpus\": 0.5, \"pids\": 64, \"fresh\": true, \"env\": {\"A\": \"1\", \"B\": \"\"}}",
			  "/srv/fns", &at, &err);
	tap_ok(rc == 0 && !strcmp(d.name, "f") && !strcmp(d.code, "/srv/fns/f.so") && d.spec.memory_bytes == 64ull << 20 &&
		       d.spec.timeout_ms == 1500 && d.spec.output_bytes == 1ull << 20 && d.spec.max_instances == 4 &&
		       d.spec.min_instances == 1 && d.spec.keepalive_s == 2 && d.spec.cpu_millis == 500 &&
		       d.spec.pids == 64 && d.spec.flags == CIT_FN_FRESH && d.spec.n_env == 2 &&
		       !memcmp(d.env, "A=1\0B=\0", 7) && at.line == 0,
	       "every key, numbers where the command line takes them: %s", err.msg);
	tap_ok(cit_spec_finish(&d, &err) == 0, "and it passes the monitor's check");
	tap_ok(manifest(&d, "{\"name\": \"f\", \"code\": \"/abs/f.so\"}", "/srv", &at, &err) == 0 &&
		       !strcmp(d.code, "/abs/f.so"),
	       "an absolute code path is kept");
	tap_ok(manifest(&d, "{\"name\": \"f\", \"code\": \"f.so\"}", NULL, &at, &err) == 0 && !strcmp(d.code, "f.so"),
	       "no base directory: the code path as written");
	tap_ok(manifest(&d, "{\"name\": \"f\", \"code\": \"f.so\"}", "", &at, &err) == 0 && !strcmp(d.code, "/f.so"),
	       "base directory \"\" (a manifest in /)");

	static const struct {
		const char *text;
		int rc, line;
		const char *words[3];
	} bad[] = {
		{ "{\"name\": \"f\",\n \"name\": \"g\"}", -EINVAL, 2, { "duplicate key \"name\"", "once" } },
		{ "{\"env\": {\"A\": \"1\", \"A\": \"2\"}}", -EINVAL, 1, { "duplicate key \"A\"" } },
		{ "{\"Memory\": \"64M\"}", -EINVAL, 0,
		  { "unknown key \"Memory\"", "did you mean \"memory\"?",
		    "the keys are name, code, runtime, command, bundle, memory, timeout, output_limit, max_instances, "
		    "min_instances, keep_alive, cpus, pids, fresh, invoke_key, object_quota, allow_invoke, state_quota, "
		    "state_value_max, state_share, env, handler, preload" } },
		{ "{\"max-instances\": 4}", -EINVAL, 0, { "unknown key \"max-instances\"", "did you mean \"max_instances\"?" } },
		{ "{\"bogus\": 1}", -EINVAL, 0, { "unknown key \"bogus\" (the keys are name, code," } },
		{ "{\"fresh\": \"yes\"}", -EINVAL, 0, { "\"fresh\" wants true or false, not \"yes\"" } },
		{ "{\"fresh\": 1}", -EINVAL, 0, { "\"fresh\" wants true or false, not 1" } },
		{ "{\"memory\": true}", -EINVAL, 0, { "\"memory\" wants a size from 4M to 64G", "(e.g. \"64M\")", "not true" } },
		{ "{\"memory\": 1.5}", -EINVAL, 0, { "\"memory\" wants a size", "not 1.5" } },
		{ "{\"memory\": \"2M\"}", -EINVAL, 0, { "\"memory\" wants a size from 4M to 64G", "not \"2M\"" } },
		{ "{\"timeout\": [1]}", -EINVAL, 0, { "\"timeout\" wants a duration", "(e.g. \"10s\")", "not [1]" } },
		{ "{\"max_instances\": 2.5}", -EINVAL, 0, { "\"max_instances\" wants a whole number from 1 to 16384 (e.g. 16)" } },
		{ "{\"cpus\": 0.005}", -EINVAL, 0, { "\"cpus\" wants 0 (no limit)", "(e.g. 0.5)", "not 0.005" } },
		{ "{\"keep_alive\": \"745h\"}", -EINVAL, 0, { "\"keep_alive\" wants a duration of at most 30 days" } },
		{ "{\"name\": 5}", -EINVAL, 0, { "\"name\" wants a string, the function's name, not 5" } },
		{ "{\"name\": \"f\", \"code\": \"\"}", -EINVAL, 0, { "\"code\" wants a string, the path of the function's .so" } },
		{ "{\"env\": [\"A=1\"]}", -EINVAL, 0, { "\"env\" wants an object of strings (e.g. {\"K\": \"V\"}), not [\"A=1\"]" } },
		{ "{\"env\": {\"A\": 1}}", -EINVAL, 0, { "\"env\": \"A\" wants a string, not 1" } },
		{ "{\"env\": {\"A=B\": \"1\"}}", -EINVAL, 0, { "\"env\": \"A=B\" is not a variable name" } },
		{ "{\"env\": {\"\": \"1\"}}", -EINVAL, 0, { "\"env\": \"\" is not a variable name" } },
		{ "{\"memory\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25]}", -EINVAL, 0,
		  { "not [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23..." } },
		{ "{\"code\": \"f.so\"}", -EINVAL, 0, { "no \"name\" (the function's name)" } },
		{ "{\"name\": \"f\"}", -EINVAL, 0, { "no \"code\" (the path of the function's .so or .py)" } },
		{ "", -EINVAL, 0, { "the file is empty: a JSON object is expected" } },
		{ "[\"f\"]", -EINVAL, 0, { "must be a JSON object", "not an array" } },
		{ "{\"name\": \"f\",\n \"code\": \"x.so\"", -EINVAL, 2, { "ends before the JSON object does" } },
		{ "{\"name\": \"f\"} {}", -EINVAL, 1, { "more text after the JSON object, at '{'" } },
		{ "{\"name\": \"f\",\n\n \"memory\": 1e999}", -EINVAL, 3, { "the number 1e999 is too large" } },
		{ "{\"name\": \"\xff\"}", -EINVAL, 1, { "not UTF-8" } },
		{ "{\"name\": \"a\\u0000b\"}", -EINVAL, 1, { "NUL", "\\u0000" } },
		{ "{\"name\" \"f\"}", -EINVAL, 1, { "not valid JSON: ':' expected near '\"f\"'" } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = manifest(&d, bad[i].text, "/srv", &at, &err);
		bool words = true;
		for (size_t w = 0; w < 3 && bad[i].words[w]; w++)
			words = words && has(err.msg, bad[i].words[w]);
		char shown[48];
		snprintf(shown, sizeof(shown), "%.40s", bad[i].text);
		for (char *p = shown; *p; p++)
			*p = *p == '\n' ? ' ' : (unsigned char)*p >= 0x80 ? '?' : *p;
		tap_ok(rc == bad[i].rc && err.code == rc && words && at.line == bad[i].line && (at.line == 0) == (at.column == 0),
		       "manifest %s: rc %d, line %d column %d: %s", shown, rc, at.line, at.column, err.msg);
	}

	/* An environment over the total, in a manifest: said as the options say it, however
	 * much over (a value cut to fit would deploy what the manifest does not say). */
	static char text[CIT_SPEC_MANIFEST_MAX + 2];
	static const struct { size_t value_len; bool ok; } envs[] = {
		{ CIT_ENV_BYTES - 3, true }, { CIT_ENV_BYTES - 2, false }, { CIT_ENV_BYTES - 1, false },
		{ CIT_ENV_BYTES, false }, { 2 * CIT_ENV_BYTES, false },
	};
	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		int len = snprintf(text, sizeof(text), "{\"name\": \"f\", \"code\": \"x\", \"env\": {\"A\": \"");
		memset(text + len, 'v', envs[i].value_len);
		snprintf(text + (size_t)len + envs[i].value_len, 4, "\"}}");
		rc = manifest(&d, text, NULL, &at, &err);
		if (envs[i].ok)
			tap_ok(rc == 0 && d.spec.env_len == CIT_ENV_BYTES, "\"A\" of %zu bytes fits", envs[i].value_len);
		else
			tap_ok(rc == -EINVAL && has(err.msg, "\"env\": too much environment") && d.spec.env_len == 0,
			       "\"A\" of %zu bytes is refused: %s", envs[i].value_len, err.msg);
	}

	/* The size cap: the text is never parsed beyond it. */
	memset(text, ' ', sizeof(text));
	memcpy(text, "{\"name\": \"f\", \"code\": \"x\"}", 26);
	cit_spec_defaults(&d);
	tap_ok(cit_spec_manifest(&d, text, CIT_SPEC_MANIFEST_MAX, NULL, &at, &err) == 0, "%u bytes are read",
	       CIT_SPEC_MANIFEST_MAX);
	tap_ok(cit_spec_manifest(&d, text, CIT_SPEC_MANIFEST_MAX + 1, NULL, &at, &err) == -EFBIG &&
		       has(err.msg, "larger than 1024 KiB"),
	       "a byte more is too large: %s", err.msg);
	tap_ok(cit_spec_manifest(&d, "{\"name\": \"f\", \"code\": \"x\"} trailing", 26, NULL, NULL, &err) == 0,
	       "only len bytes are read; at may be NULL");
}

/* Which program paths and link targets a bundle accepts: the rules the CLI, the monitor's
 * spec check and the unpacker share. */
static void bundle_paths(void)
{
	static const struct {
		const char *path;
		bool ok;
	} programs[] = {
		{ "run", true },         { "bin/run.sh", true },  { "./run", true },     { "a/./b", true },
		{ "..x/run", true },     { "x../run", true },     { "", false },         { "/bin/cat", false },
		{ "..", false },         { "../run", false },     { "a/../../run", false }, { "a/..", false },
		{ "a//..//b", false },
	};
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)
		tap_ok(cit_bundle_path_ok(programs[i].path) == programs[i].ok, "program '%s' %s", programs[i].path,
		       programs[i].ok ? "accepted" : "refused");
	static const struct {
		const char *link, *target;
		bool ok;
	} links[] = {
		{ "l", "data/x", true },        { "l", ".", true },             { "a/l", "..", true },
		{ "a/b/l", "../../x", true },   { "a/l", "b/../../x", true },   { "l", "", false },
		{ "l", "/etc/passwd", false },  { "l", "..", false },           { "a/l", "../..", false },
		{ "a/l", "x/../../../y", false }, { "a/b/l", "../../../x", false },
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		tap_ok(cit_bundle_link_ok(links[i].link, links[i].target) == links[i].ok, "link %s -> '%s' %s",
		       links[i].link, links[i].target, links[i].ok ? "stays inside" : "leads out");
	/* The spec check: a bundle's program is relative; without a bundle, absolute. */
	static struct cit_fn_draft d;
	struct cit_error err = { 0 };
	const char *rel[] = { "bin/run" }, *abs[] = { "/usr/bin/wc" };
	cit_spec_defaults(&d);
	snprintf(d.name, sizeof(d.name), "f");
	cit_spec_runtime(&d, "exec", &err);
	cit_spec_command(&d, rel, 1, &err);
	tap_ok(cit_spec_finish(&d, &err) == -EINVAL && has(err.msg, "absolute path"), "a relative program needs a bundle");
	snprintf(d.bundle, sizeof(d.bundle), "dir");
	tap_ok(cit_spec_finish(&d, &err) == 0 && (d.spec.flags & CIT_FN_BUNDLE), "with a bundle it passes: %s", err.msg);
	cit_spec_command(&d, abs, 1, &err);
	tap_ok(cit_spec_finish(&d, &err) == -EINVAL && has(err.msg, "inside the bundle"),
	       "with a bundle an absolute program is refused");
	d.bundle[0] = '\0';
	tap_ok(cit_spec_finish(&d, &err) == 0 && !(d.spec.flags & CIT_FN_BUNDLE), "and passes without one");
}

/* Chains: a line, a manifest put in order, and what is refused with why. */
static void chains(void)
{
	static struct cit_chain_spec c;
	struct cit_error err = { 0 };
	const char *fns[] = { "f", "g", "f" };
	tap_ok(cit_chain_line(&c, "l", fns, 3, &err) == 0 && c.n_steps == 3 && !strcmp(c.steps[2].name, "f-2") &&
		       c.steps[2].after == 2 && c.steps[0].after == 0 && cit_chain_final(&c) == 2,
	       "a line of f g f: steps f, g, f-2, each after the one before: %s", err.msg);
	const char *clash[] = { "echo", "echo", "echo-2" };
	tap_ok(cit_chain_line(&c, "l", clash, 3, &err) == 0 && !strcmp(c.steps[1].name, "echo-3") &&
		       !strcmp(c.steps[2].name, "echo-2"),
	       "a line's names skip those of its functions: echo, echo-3, echo-2: %s", err.msg);
	static char ls[CIT_CHAIN_LS_LINE_MAX];
	const char *two = "{\"steps\": [{\"name\": \"a\"}, {\"name\": \"b\"}, {\"name\": \"j\", \"after\": [\"a\", \"b\"]}]}";
	cit_chain_manifest(&c, "f", two, strlen(two), &err);
	cit_chain_ls_line(&c, ls, sizeof(ls));
	tap_ok(strstr(ls, " a b<(input) j<a,b") != NULL, "ls tells a second first step from a line: '%s'", ls);
	const char *dag = "{\"steps\": [{\"name\": \"j\", \"function\": \"cat\", \"after\": [\"b\", \"a\"]},"
			  "{\"name\": \"a\", \"after\": \"s\"}, {\"name\": \"s\"}, {\"name\": \"b\", \"after\": \"s\"}]}";
	int rc = cit_chain_manifest(&c, "d", dag, strlen(dag), &err);
	tap_ok(rc == 0 && c.n_steps == 4 && !strcmp(c.steps[0].name, "s") && !strcmp(c.steps[3].name, "j") &&
		       !strcmp(c.steps[3].function, "cat") && !strcmp(c.steps[1].function, "a") &&
		       cit_chain_fanin(&c, 3) == 2 && cit_chain_final(&c) == 3,
	       "a DAG in any order is sorted so that each step follows its inputs: %s", err.msg);
	static const struct {
		const char *text, *says;
	} bad[] = {
		{ "{\"steps\": [{\"name\": \"a\", \"after\": \"b\"}, {\"name\": \"b\", \"after\": \"a\"}]}", "cycle" },
		{ "{\"steps\": [{\"name\": \"a\", \"after\": \"a\"}]}", "cycle" },
		{ "{\"steps\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}", "exactly one final step" },
		{ "{\"steps\": []}", "1 to 32 steps" },
		{ "{\"steps\": [{\"name\": \"a\", \"after\": [\"x\"]}]}", "which is no step" },
		{ "{\"steps\": [{\"name\": \"a\"}], \"extra\": 1}", "unknown key \"extra\"" },
		{ "{\"steps\": [{\"name\": \"A\"}]}", "not a valid name" },
		{ "{\"name\": \"other\", \"steps\": [{\"name\": \"a\"}]}", "not the chain's name" },
		{ "[1]", "is an object" },
		{ "{", "not valid JSON" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (struct cit_error){ 0 };
		rc = cit_chain_manifest(&c, "d", bad[i].text, strlen(bad[i].text), &err);
		tap_ok(rc == -EINVAL && strstr(err.msg, bad[i].says), "manifest %s refused: %s", bad[i].text, err.msg);
	}
	/* Nine inputs to one step: past the fan-in limit. */
	char big[2048] = "{\"steps\": [";
	for (int i = 0; i < 9; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "{\"name\": \"s%d\"},", i);
	strcat(big, "{\"name\": \"j\", \"after\": [\"s0\",\"s1\",\"s2\",\"s3\",\"s4\",\"s5\",\"s6\",\"s7\",\"s8\"]}]}");
	tap_ok(cit_chain_manifest(&c, "d", big, strlen(big), &err) == -EINVAL && strstr(err.msg, "more than 8"),
	       "a step after nine: %s", err.msg);
	/* The monitor's check: a step after a later one, stray bytes past the last step. */
	cit_chain_line(&c, "l", fns, 2, &err);
	c.steps[0].after = 2;
	tap_ok(cit_chain_check(&c, &err) == -EINVAL && strstr(err.msg, "does not come before"), "%s", err.msg);
	cit_chain_line(&c, "l", fns, 2, &err);
	c.steps[5].function[0] = 'x';
	tap_ok(cit_chain_check(&c, &err) == -EINVAL && strstr(err.msg, "past its last step"), "%s", err.msg);
	cit_chain_line(&c, "l", fns, 2, &err);
	c.name[60] = 'x';
	tap_ok(cit_chain_check(&c, &err) == -EINVAL, "junk after the name's NUL: %s", err.msg);
	cit_chain_line(&c, "l", fns, 3, &err);
	json_t *j = cit_chain_json(&c);
	json_t *after = json_object_get(json_array_get(json_object_get(j, "steps"), 2), "after");
	tap_ok(j && !strcmp(json_string_value(json_object_get(j, "final")), "f-2") && json_array_size(after) == 1 &&
		       !strcmp(json_string_value(json_array_get(after, 0)), "g"),
	       "as JSON: the final step, and each step's \"after\" by name");
	json_decref(j);
}

/* A chain as the HTTP API takes and gives it, and as `chain ls` prints it. */
static void chains_over_http(void)
{
	static struct cit_chain_spec c, back;
	struct cit_error err = { 0 };
	const char *dag = "{\"name\": \"d\", \"steps\": [{\"name\": \"j\", \"function\": \"cat\", \"after\": "
			  "[\"s\", \"b\"]}, {\"name\": \"s\"}, {\"name\": \"b\", \"function\": \"up\", \"after\": \"s\"}]}";
	json_t *o = json_loads(dag, 0, NULL);
	tap_ok(cit_chain_of_json(&c, o, &err) == 0 && !strcmp(c.name, "d") && c.n_steps == 3 &&
		       !strcmp(c.steps[2].name, "j") && cit_chain_fanin(&c, 2) == 2,
	       "{name, steps}: a manifest and its name: %s", err.msg);
	json_decref(o);
	o = cit_chain_json(&c);
	tap_ok(cit_chain_of_json(&back, o, &err) == 0 && !memcmp(&back, &c, sizeof(c)),
	       "what cit_chain_json gives reads back the same, \"final\" and all: %s", err.msg);
	json_object_set_new(o, "final", json_string("s"));
	tap_ok(cit_chain_of_json(&back, o, &err) == -EINVAL && strstr(err.msg, "\"final\""), "a wrong final: %s",
	       err.msg);
	json_decref(o);
	o = json_loads("{\"name\": \"l\", \"functions\": [\"f\", \"g\", \"f\"]}", 0, NULL);
	const char *fns[] = { "f", "g", "f" };
	err = (struct cit_error){ 0 };
	cit_chain_line(&back, "l", fns, 3, &err);
	tap_ok(cit_chain_of_json(&c, o, &err) == 0 && !memcmp(&back, &c, sizeof(c)), "{name, functions}: a line: %s",
	       err.msg);
	json_decref(o);
	static const struct {
		const char *text, *says;
	} bad[] = {
		{ "{\"name\": \"x\", \"functions\": [\"f\"], \"steps\": []}", "a chain is {" },
		{ "{\"functions\": [\"f\"]}", "a chain is {" },
		{ "[\"f\"]", "a chain is {" },
		{ "{\"name\": \"x\", \"functions\": [\"f\", 1]}", "functions' names" },
		{ "{\"name\": \"x\", \"functions\": \"f\"}", "is an array" },
		{ "{\"name\": \"x\", \"functions\": [\"f\"], \"more\": 1}", "unknown key \"more\"" },
		{ "{\"name\": \"x\", \"steps\": [{\"name\": \"a\", \"after\": \"a\"}]}", "cycle" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (struct cit_error){ 0 };
		o = json_loads(bad[i].text, 0, NULL);
		tap_ok(o && cit_chain_of_json(&c, o, &err) == -EINVAL && strstr(err.msg, bad[i].says), "%s refused: %s",
		       bad[i].text, err.msg);
		json_decref(o);
	}
	o = json_loads(dag, 0, NULL);
	cit_chain_of_json(&c, o, &err);
	json_decref(o);
	char line[CIT_CHAIN_LS_LINE_MAX];
	cit_chain_ls_line(&c, line, sizeof(line));
	tap_ok(!strcmp(line, "d                    s b=up j=cat<s,b"), "ls: a DAG's step=function and <inputs: '%s'", line);
	cit_chain_line(&c, "l", fns, 3, &err);
	cit_chain_ls_line(&c, line, sizeof(line));
	tap_ok(!strcmp(line, "l                    f g f-2=f"), "ls: a line's steps alone: '%s'", line);
	cit_chain_ls_line(&c, line, 8);
	tap_ok(!strcmp(line, "l      "), "ls: cut short, NUL-terminated: '%s'", line);
}

int main(void)
{
	chains();
	chains_over_http();
	bundle_paths();
	defaults_and_table();
	option_values();
	finish();
	manifests();
	return tap_done();
}
