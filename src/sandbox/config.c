#include "sandbox/config.h"

#include <errno.h>
#include <string.h>

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

int cit_sandbox_add_bind(struct cit_sandbox_config *cfg, char *spec, bool writable,
			 struct cit_error *err)
{
	if (cfg->n_binds >= CIT_MAX_BINDS)
		return cit_error_set(err, -E2BIG, "too many binds (at most %d)", CIT_MAX_BINDS);
	char *colon = strchr(spec, ':');
	const char *dst = spec;
	if (colon) {
		*colon = '\0';
		dst = colon + 1;
	}
	if (!path_ok(spec) || !path_ok(dst))
		return cit_error_set(err, -EINVAL, "bind '%s%s%s': paths must be absolute, without '..'",
				     spec, colon ? ":" : "", colon ? dst : "");
	if (!strcmp(dst, "/"))
		return cit_error_set(err, -EINVAL, "bind '%s': cannot replace the sandbox root (use --root)", spec);
	struct cit_bind *b = &cfg->binds[cfg->n_binds++];
	b->src = spec;
	b->dst = dst;
	b->writable = writable;
	return 0;
}

int cit_sandbox_set_env(struct cit_sandbox_config *cfg, const char *kv, struct cit_error *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return cit_error_set(err, -EINVAL, "environment entry '%s' is not K=V", kv);
	size_t klen = (size_t)(eq - kv) + 1;
	for (size_t i = 0; i < cfg->n_env; i++) {
		if (!strncmp(cfg->env[i], kv, klen)) {
			cfg->env[i] = kv;
			return 0;
		}
	}
	if (cfg->n_env >= CIT_MAX_ENV - 1)
		return cit_error_set(err, -E2BIG, "too many environment entries (at most %d)", CIT_MAX_ENV - 1);
	cfg->env[cfg->n_env++] = kv;
	return 0;
}

int cit_sandbox_config_check(const struct cit_sandbox_config *cfg, struct cit_error *err)
{
	if (cfg->root && !path_ok(cfg->root))
		return cit_error_set(err, -EINVAL, "--root '%s' must be an absolute path without '..'", cfg->root);
	if (!path_ok(cfg->cwd))
		return cit_error_set(err, -EINVAL, "--cwd '%s' must be an absolute path without '..'", cfg->cwd);
	if (cfg->memory_bytes < (4ULL << 20))
		return cit_error_set(err, -EINVAL, "--memory must be at least 4M");
	if (cfg->pids < 1)
		return cit_error_set(err, -EINVAL, "--pids must be at least 1");
	if (cfg->nofile < 8)
		return cit_error_set(err, -EINVAL, "--nofile must be at least 8");
	if (cfg->tmp_bytes < 4096)
		return cit_error_set(err, -EINVAL, "--tmp-size must be at least 4K");
	return 0;
}
