#include "sandbox/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/parse.h"
#include "common/util.h"

void cit_sandbox_config_init(struct cit_sandbox_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->memory_bytes = 256ULL << 20;
	cfg->tmp_bytes = 64ULL << 20;
	cfg->pids = 128;
	cfg->nofile = 1024;
	cfg->cpu_ms = 10 * 1000;
	cfg->timeout_ms = 60 * 1000;
	cfg->output_bytes = 16ULL << 20;
	cfg->env[cfg->n_env++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	cfg->env[cfg->n_env++] = "HOME=/tmp";
	cfg->cwd = "/";
	cfg->hostname = "citadel";
}

/* A path a user names must be absolute and free of ".." so that what it means is what
 * it says; symlinks inside the sandbox are refused later, when it is resolved. */
static bool path_ok(const char *p)
{
	if (!p || p[0] != '/')
		return false;
	for (const char *s = p; (s = strstr(s, "..")); s += 2) {
		bool starts = s[-1] == '/';
		bool ends = s[2] == '/' || s[2] == '\0';
		if (starts && ends)
			return false;
	}
	return true;
}

/* Whether path is dir or lies below it. */
static bool at_or_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

int cit_sandbox_add_bind(struct cit_sandbox_config *cfg, const char *src, const char *dst,
			 enum cit_bind_kind kind, struct cit_error *err)
{
	if (cfg->n_binds >= CIT_MAX_BINDS)
		return cit_error_say(err, -E2BIG, "too many binds (at most %d)", CIT_MAX_BINDS);
	if (!dst)
		dst = src;
	if (!src[0] || !dst[0])
		return cit_error_say(err, -EINVAL, "bind '%s:%s': an empty path (an unset variable?)", src, dst);
	if (src[0] != '/' || !path_ok(dst))
		return cit_error_say(err, -EINVAL, "bind '%s:%s': the source must be absolute, the destination "
						   "absolute without '..'", src, dst);
	if (!strcmp(dst, "/"))
		return cit_error_say(err, -EINVAL, "bind '%s': cannot replace the sandbox root (use --root)", src);
	/* The sandbox's own /proc and /dev are made for it; a bind there would replace what
	 * citadel relies on (the user-namespace quotas it writes under /proc/sys) or the
	 * devices the program expects. */
	static const char *const own[] = { "/proc", "/dev" };
	for (size_t i = 0; i < ARRAY_SIZE(own); i++)
		if (at_or_below(dst, own[i]))
			return cit_error_say(err, -EINVAL, "bind '%s:%s': the sandbox has a %s of its own; choose "
							   "another destination", src, dst, own[i]);
	cfg->binds[cfg->n_binds++] = (struct cit_bind){ .src = src, .dst = dst, .kind = kind };
	return 0;
}

int cit_sandbox_set_env(struct cit_sandbox_config *cfg, const char *kv, struct cit_error *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || kv[0] == '-')
		return cit_error_say(err, -EINVAL, "environment entry '%s' is not NAME=VALUE", kv);
	size_t klen = (size_t)(eq - kv) + 1;
	for (size_t i = 0; i < cfg->n_env; i++) {
		if (!strncmp(cfg->env[i], kv, klen)) {
			cfg->env[i] = kv;
			return 0;
		}
	}
	if (cfg->n_env >= CIT_MAX_ENV - 1)
		return cit_error_say(err, -E2BIG, "too many environment entries (at most %d)", CIT_MAX_ENV - 1);
	cfg->env[cfg->n_env++] = kv;
	return 0;
}

int cit_sandbox_config_check(const struct cit_sandbox_config *cfg, struct cit_error *err)
{
	if (cfg->root && !cfg->root[0])
		return cit_error_say(err, -EINVAL, "--root '': an empty path (an unset variable?)");
	if (cfg->root && !path_ok(cfg->root))
		return cit_error_say(err, -EINVAL, "--root '%s' must be an absolute path without '..'", cfg->root);
	if (!path_ok(cfg->cwd))
		return cit_error_say(err, -EINVAL, "--cwd '%s' must be an absolute path without '..'", cfg->cwd);
	if (cfg->memory_bytes < (4ULL << 20))
		return cit_error_say(err, -EINVAL, "--memory must be at least 4M");
	if (cfg->pids < 1)
		return cit_error_say(err, -EINVAL, "--pids must be at least 1");
	if (cfg->nofile < 8)
		return cit_error_say(err, -EINVAL, "--nofile must be at least 8");
	if (cfg->cpu_millis > CIT_CPU_MILLIS_MAX)
		return cit_error_say(err, -EINVAL, "--cpus must be at most %d", CIT_CPU_MILLIS_MAX / 1000);
	if (cfg->tmp_bytes < 4096)
		return cit_error_say(err, -EINVAL, "--tmp-size must be at least 4K");
	return 0;
}

/* ---- as text, for warm sandboxes ------------------------------------------------------ */

#define CONFIG_MAGIC "citadel-sandbox 1"
static const char *const kind_names[] = { [CIT_BIND_RO] = "ro", [CIT_BIND_RW] = "rw", [CIT_BIND_SOCKET] = "socket" };

static bool plain(const char *s)
{
	return !strpbrk(s, "\t\n");
}

int cit_sandbox_config_write(const struct cit_sandbox_config *cfg, char *out, size_t cap)
{
	if (!plain(cfg->hostname) || (cfg->root && !plain(cfg->root)))
		return -EINVAL;
	size_t n = 0;
	int w = snprintf(out, cap,
			 CONFIG_MAGIC "\nroot\t%s\nnet\t%s\nmemory\t%llu\ntmp\t%llu\nprivate_tmp\t%d\npids\t%llu\n"
				      "nofile\t%llu\ncpu_ms\t%llu\ncpu_millis\t%u\nhostname\t%s\n",
			 cfg->root ? cfg->root : "-", cfg->net_host ? "host" : "none",
			 (unsigned long long)cfg->memory_bytes, (unsigned long long)cfg->tmp_bytes, cfg->private_tmp ? 1 : 0,
			 (unsigned long long)cfg->pids, (unsigned long long)cfg->nofile, (unsigned long long)cfg->cpu_ms,
			 cfg->cpu_millis, cfg->hostname);
	if (w < 0 || (size_t)w >= cap)
		return -E2BIG;
	n = (size_t)w;
	for (size_t i = 0; i < cfg->n_binds; i++) {
		const struct cit_bind *b = &cfg->binds[i];
		struct stat st;
		if (!plain(b->src) || !plain(b->dst))
			return -EINVAL;
		if (stat(b->src, &st) < 0)
			return -errno;
		w = snprintf(out + n, cap - n, "bind\t%s\t%s\t%s\t%llu\t%llu\t%u\t%u\n", kind_names[b->kind], b->src,
			     b->dst, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (unsigned)st.st_uid,
			     (unsigned)st.st_gid);
		if (w < 0 || (size_t)w >= cap - n)
			return -E2BIG;
		n += (size_t)w;
	}
	return (int)n;
}

/* The tab-separated fields of one line, NUL-terminated in place. Returns how many. */
static size_t fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	for (char *p = line; n < max; n++) {
		f[n] = p;
		if (!(p = strchr(p, '\t'))) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	return n;
}

static int read_bind(struct cit_sandbox_config *cfg, char **f, struct cit_error *err)
{
	enum cit_bind_kind kind = CIT_BIND_RO;
	for (size_t k = 0; k < ARRAY_SIZE(kind_names); k++)
		if (!strcmp(f[1], kind_names[k]))
			kind = (enum cit_bind_kind)k;
	if (strcmp(f[1], kind_names[kind]))
		return cit_error_set(err, -EINVAL, "unknown bind kind '%s'", f[1]);
	uint64_t v[4];
	for (int j = 0; j < 4; j++)
		if (cit_parse_u64(f[4 + j], 0, j < 2 ? UINT64_MAX : UINT32_MAX, &v[j]) < 0)
			return cit_error_set(err, -EINVAL, "bad identity of bind %s", f[2]);
	int rc = cit_sandbox_add_bind(cfg, f[2], f[3], kind, err);
	if (rc < 0)
		return rc;
	struct cit_bind *b = &cfg->binds[cfg->n_binds - 1];
	b->expect_set = true;
	b->expect = (struct cit_bind_identity){ .dev = v[0], .ino = v[1], .uid = (uint32_t)v[2], .gid = (uint32_t)v[3] };
	return 0;
}

int cit_sandbox_config_read(char *text, struct cit_sandbox_config *cfg, struct cit_error *err)
{
	cit_sandbox_config_init(cfg);
	char *save = NULL, *line = strtok_r(text, "\n", &save);
	if (!line || strcmp(line, CONFIG_MAGIC))
		return cit_error_set(err, -EINVAL, "not a sandbox configuration");
	static const struct {
		const char *key;
		size_t off;
		uint64_t min, max;
	} nums[] = {
		{ "memory", offsetof(struct cit_sandbox_config, memory_bytes), 4ULL << 20, UINT64_MAX },
		{ "tmp", offsetof(struct cit_sandbox_config, tmp_bytes), 4096, UINT64_MAX },
		{ "pids", offsetof(struct cit_sandbox_config, pids), 1, 1 << 22 },
		{ "nofile", offsetof(struct cit_sandbox_config, nofile), 8, 1 << 20 },
		{ "cpu_ms", offsetof(struct cit_sandbox_config, cpu_ms), 0, UINT64_MAX },
	};
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *f[8];
		size_t n = fields(line, f, ARRAY_SIZE(f));
		int rc = -EINVAL;
		if (n == 2 && !strcmp(f[0], "root")) {
			cfg->root = strcmp(f[1], "-") ? f[1] : NULL;
			rc = 0;
		} else if (n == 2 && !strcmp(f[0], "net") && (!strcmp(f[1], "host") || !strcmp(f[1], "none"))) {
			cfg->net_host = !strcmp(f[1], "host");
			rc = 0;
		} else if (n == 2 && !strcmp(f[0], "cpu_millis")) {
			uint64_t v;
			if ((rc = cit_parse_u64(f[1], 0, CIT_CPU_MILLIS_MAX, &v)) == 0)
				cfg->cpu_millis = (uint32_t)v;
		} else if (n == 2 && !strcmp(f[0], "private_tmp") && (!strcmp(f[1], "0") || !strcmp(f[1], "1"))) {
			cfg->private_tmp = !strcmp(f[1], "1");
			rc = 0;
		} else if (n == 2 && !strcmp(f[0], "hostname")) {
			cfg->hostname = f[1];
			rc = 0;
		} else if (n == 8 && !strcmp(f[0], "bind")) {
			if ((rc = read_bind(cfg, f, err)) < 0)
				return rc;
		} else if (n == 2) {
			for (size_t k = 0; k < ARRAY_SIZE(nums); k++)
				if (!strcmp(f[0], nums[k].key))
					rc = cit_parse_u64(f[1], nums[k].min, nums[k].max,
							   (uint64_t *)((char *)cfg + nums[k].off));
		}
		if (rc < 0)
			return cit_error_set(err, -EINVAL, "bad line '%s' in a sandbox configuration", f[0]);
	}
	return cit_sandbox_config_check(cfg, err);
}
