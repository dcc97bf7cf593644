#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/util.h"

/* The caller's own cgroup path for a v1 controller, or for v2 when controller is NULL. */
static int own_path(const char *controller, char *out, size_t cap)
{
	char buf[4096];
	if (cit_read_file("/proc/self/cgroup", buf, sizeof(buf)) < 0)
		return -errno;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctl = c1 + 1;
		bool match = controller ? !strcmp(ctl, controller) ||
						  (strstr(ctl, controller) && strchr(ctl, ','))
					: (!strcmp(line, "0") && *ctl == '\0');
		if (match) {
			snprintf(out, cap, "%s", !strcmp(c2 + 1, "/") ? "" : c2 + 1);
			return 0;
		}
	}
	return -ENOENT;
}

static bool v2_has(const char *mount, const char *controller)
{
	char path[PATH_MAX], buf[512];
	snprintf(path, sizeof(path), "%s/cgroup.controllers", mount);
	if (cit_read_file(path, buf, sizeof(buf)) < 0)
		return false;
	for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		if (!strcmp(t, controller))
			return true;
	return false;
}

static int write_knob(const char *dir, const char *knob, unsigned long long v, bool optional,
		      struct cit_error *err)
{
	char path[PATH_MAX + 64], val[32];
	snprintf(path, sizeof(path), "%s/%s", dir, knob);
	int n = snprintf(val, sizeof(val), "%llu", v);
	int rc = cit_write_file(path, val, (size_t)n);
	if (rc == -ENOENT && optional)
		return 0;
	if (rc < 0)
		return cit_error_set(err, rc, "writing %s", path);
	return 0;
}

/* A sandbox's cgroup is always new: a stale one of the same name (its run killed before
 * it could remove it) is removed first, so no count (oom_kill) carries over. */
static int make_dir(const char *path, struct cit_error *err)
{
	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno == EEXIST && rmdir(path) == 0 && mkdir(path, 0755) == 0)
		return 0;
	return cit_error_set(err, -errno, "creating cgroup %s", path);
}

/* Fills cg's paths for name beneath our own cgroup(s): which hierarchy, which paths. */
static int locate(struct cit_cgroup *cg, const char *name, struct cit_error *err)
{
	char own[PATH_MAX];
	struct stat st;
	const char *v2 = NULL;
	memset(cg, 0, sizeof(*cg));
	if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0)
		v2 = "/sys/fs/cgroup";
	else if (v2_has("/sys/fs/cgroup/unified", "memory") && v2_has("/sys/fs/cgroup/unified", "pids"))
		v2 = "/sys/fs/cgroup/unified";
	if (v2) {
		if (own_path(NULL, own, sizeof(own)) < 0)
			return cit_error_set(err, -ENOENT, "finding our own cgroup v2 path");
		cg->version = 2;
		snprintf(cg->mem, sizeof(cg->mem), "%s%s/%s", v2, own, name);
		snprintf(cg->pids, sizeof(cg->pids), "%s", cg->mem);
		return 0;
	}
	cg->version = 1;
	if (own_path("memory", own, sizeof(own)) < 0)
		return cit_error_set(err, -ENOENT, "no cgroup v1 memory controller");
	snprintf(cg->mem, sizeof(cg->mem), "/sys/fs/cgroup/memory%s/%s", own, name);
	if (own_path("pids", own, sizeof(own)) < 0)
		return cit_error_set(err, -ENOENT, "no cgroup v1 pids controller");
	snprintf(cg->pids, sizeof(cg->pids), "/sys/fs/cgroup/pids%s/%s", own, name);
	return 0;
}

static int create_v2(struct cit_cgroup *cg, const struct cit_sandbox_config *cfg, struct cit_error *err)
{
	char parent[PATH_MAX], ctl[PATH_MAX + 32];
	snprintf(parent, sizeof(parent), "%s", cg->mem);
	*strrchr(parent, '/') = '\0';
	snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", parent);
	int rc = cit_write_file(ctl, "+memory +pids", 13);
	if (rc < 0)
		return cit_error_set(err, rc, "enabling memory and pids controllers in %s (cgroup v2 needs a "
					      "delegated cgroup without processes of its own)", parent);
	if ((rc = make_dir(cg->mem, err)) < 0)
		return rc;
	return cit_cgroup_set_limits(cg, cfg, err);
}

int cit_cgroup_set_limits(const struct cit_cgroup *cg, const struct cit_sandbox_config *cfg,
			  struct cit_error *err)
{
	int rc;
	if (cg->version == 1) {
		/* v1 wants memory <= memory+swap at every moment: raising, swap's goes first. */
		if (write_knob(cg->mem, "memory.limit_in_bytes", cfg->memory_bytes, false, NULL) < 0)
			write_knob(cg->mem, "memory.memsw.limit_in_bytes", cfg->memory_bytes, true, NULL);
		if ((rc = write_knob(cg->mem, "memory.limit_in_bytes", cfg->memory_bytes, false, err)) < 0 ||
		    (rc = write_knob(cg->mem, "memory.memsw.limit_in_bytes", cfg->memory_bytes, true, err)) < 0 ||
		    (rc = write_knob(cg->mem, "memory.swappiness", 0, true, err)) < 0 ||
		    (rc = write_knob(cg->pids, "pids.max", cfg->pids, false, err)) < 0)
			return rc;
		return 0;
	}
	if ((rc = write_knob(cg->mem, "memory.max", cfg->memory_bytes, false, err)) < 0 ||
	    (rc = write_knob(cg->mem, "memory.swap.max", 0, true, err)) < 0 ||
	    (rc = write_knob(cg->mem, "pids.max", cfg->pids, false, err)) < 0)
		return rc;
	return 0;
}

static int create_v1(struct cit_cgroup *cg, const struct cit_sandbox_config *cfg, struct cit_error *err)
{
	int rc;
	if ((rc = make_dir(cg->mem, err)) < 0)
		return rc;
	if ((rc = make_dir(cg->pids, err)) < 0)
		return rc;
	return cit_cgroup_set_limits(cg, cfg, err);
}

int cit_cgroup_create(struct cit_cgroup *cg, const char *name, const struct cit_sandbox_config *cfg,
		      struct cit_error *err)
{
	int rc = locate(cg, name, err);
	if (rc < 0)
		return rc;
	rc = cg->version == 2 ? create_v2(cg, cfg, err) : create_v1(cg, cfg, err);
	if (rc < 0)
		cit_cgroup_destroy(cg);
	return rc;
}

int cit_cgroup_open(struct cit_cgroup *cg, const char *name)
{
	return locate(cg, name, NULL);
}

int cit_cgroup_attach(const struct cit_cgroup *cg, pid_t pid, struct cit_error *err)
{
	char val[32];
	int n = snprintf(val, sizeof(val), "%d", pid);
	const char *dirs[2] = { cg->mem, cg->pids };
	for (int i = 0; i < (cg->version == 1 ? 2 : 1); i++) {
		char path[PATH_MAX + 16];
		snprintf(path, sizeof(path), "%s/cgroup.procs", dirs[i]);
		int rc = cit_write_file(path, val, (size_t)n);
		if (rc < 0)
			return cit_error_set(err, rc, "moving the sandbox into %s", dirs[i]);
	}
	return 0;
}

uint64_t cit_cgroup_oom_kills(const struct cit_cgroup *cg)
{
	char path[PATH_MAX + 32], buf[1024];
	snprintf(path, sizeof(path), "%s/%s", cg->mem, cg->version == 1 ? "memory.oom_control" : "memory.events");
	if (cit_read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	const char *p = strstr(buf, "oom_kill ");
	return p ? strtoull(p + 9, NULL, 10) : 0;
}

bool cit_cgroup_oom_killed(const struct cit_cgroup *cg)
{
	return cit_cgroup_oom_kills(cg) > 0;
}

/* rmdir, retrying briefly: a cgroup stays busy for a moment after its last task exits. */
static void remove_dir(char *path)
{
	if (!path[0])
		return;
	for (int i = 0; i < 100 && rmdir(path) < 0 && errno == EBUSY; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	path[0] = '\0';
}

void cit_cgroup_destroy(struct cit_cgroup *cg)
{
	if (cg->version == 1)
		remove_dir(cg->pids);
	remove_dir(cg->mem);
	cg->pids[0] = '\0';
}

static void sweep_dir(const char *child_path)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", child_path);
	char *slash = strrchr(parent, '/');
	if (!slash)
		return;
	*slash = '\0';
	DIR *d = opendir(parent);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		char *end, path[PATH_MAX + 256];
		if (strncmp(e->d_name, "citadel-", 8))
			continue;
		long pid = strtol(e->d_name + 8, &end, 10);
		if (pid <= 0 || *end || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		rmdir(path);
	}
	closedir(d);
}

void cit_cgroup_sweep(void)
{
	struct cit_cgroup cg;
	if (locate(&cg, "x", NULL) < 0)
		return;
	sweep_dir(cg.mem);
	if (cg.version == 1)
		sweep_dir(cg.pids);
}
