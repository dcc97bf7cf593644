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

/* The v2 hierarchy Citadel uses: pure v2, or a hybrid host's unified one when it holds
 * the memory and pids controllers; NULL on v1. */
static const char *v2_root(void)
{
	struct stat st;
	if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0)
		return "/sys/fs/cgroup";
	if (v2_has("/sys/fs/cgroup/unified", "memory") && v2_has("/sys/fs/cgroup/unified", "pids"))
		return "/sys/fs/cgroup/unified";
	return NULL;
}

/* One v1 controller's directory for sub beneath our own cgroup of that controller. */
static int v1_dir(const char *controller, const char *sub, char *out, size_t cap, struct cit_error *err)
{
	char own[PATH_MAX];
	if (own_path(controller, own, sizeof(own)) < 0)
		return cit_error_set(err, -ENOENT, "no cgroup v1 %s controller", controller);
	snprintf(out, cap, "/sys/fs/cgroup/%s%s/%s", controller, own, sub);
	return 0;
}

/* Fills cg's paths for name beneath our own cgroup(s), or beneath parent there: which
 * hierarchy, which paths. with_cpu: the cpu controller's too. */
static int locate(struct cit_cgroup *cg, const char *parent, const char *name, bool with_cpu,
		  struct cit_error *err)
{
	char own[PATH_MAX], sub[PATH_MAX];
	memset(cg, 0, sizeof(*cg));
	snprintf(sub, sizeof(sub), "%s%s%s", parent ? parent : "", parent ? "/" : "", name);
	const char *v2 = v2_root();
	if (v2) {
		if (own_path(NULL, own, sizeof(own)) < 0)
			return cit_error_set(err, -ENOENT, "finding our own cgroup v2 path");
		cg->version = 2;
		snprintf(cg->mem, sizeof(cg->mem), "%s%s/%s", v2, own, sub);
		snprintf(cg->pids, sizeof(cg->pids), "%s", cg->mem);
		if (with_cpu)
			snprintf(cg->cpu, sizeof(cg->cpu), "%s", cg->mem);
		return 0;
	}
	cg->version = 1;
	int rc = v1_dir("memory", sub, cg->mem, sizeof(cg->mem), err);
	if (rc == 0)
		rc = v1_dir("pids", sub, cg->pids, sizeof(cg->pids), err);
	if (rc == 0 && with_cpu)
		rc = v1_dir("cpu", sub, cg->cpu, sizeof(cg->cpu), err);
	return rc;
}

static int create_v2(struct cit_cgroup *cg, const struct cit_sandbox_config *cfg, struct cit_error *err)
{
	char parent[PATH_MAX], ctl[PATH_MAX + 32];
	snprintf(parent, sizeof(parent), "%s", cg->mem);
	*strrchr(parent, '/') = '\0';
	snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", parent);
	const char *ctls = cg->cpu[0] ? "+memory +pids +cpu" : "+memory +pids";
	int rc = cit_write_file(ctl, ctls, strlen(ctls));
	if (rc < 0)
		return cit_error_set(err, rc, "enabling the %s controllers in %s (cgroup v2 needs a delegated "
					      "cgroup without processes of its own)", ctls, parent);
	if ((rc = make_dir(cg->mem, err)) < 0)
		return rc;
	return cit_cgroup_set_limits(cg, cfg, err);
}

/* Socket buffers on v1: TCP's, and UDP's receive queues, are charged to a counter of
 * their own, memory.kmem.tcp, and only in a cgroup where it has a limit: without one they
 * come out of the machine-wide tcp_mem and udp_mem, uncounted (a sandbox with a 32 MiB
 * limit held 524 MiB in 64 loopback pairs). A socket is marked for charging when it is
 * made, so the limit must be in place before the sandbox is attached. Lowering it below
 * what sockets hold fails (the kernel cannot reclaim socket buffers): then it is written
 * first, so that the other limits are still as they were. A kernel without the file
 * could not bound them: that is an error, never a sandbox with unbounded buffers. */
static int set_tcp_v1(const struct cit_cgroup *cg, uint64_t bytes, struct cit_error *err)
{
	char path[PATH_MAX + 64], val[32];
	snprintf(path, sizeof(path), "%s/memory.kmem.tcp.limit_in_bytes", cg->mem);
	int n = snprintf(val, sizeof(val), "%llu", (unsigned long long)bytes);
	int rc = cit_write_file(path, val, (size_t)n);
	if (rc == -ENOENT)
		return cit_error_set(err, rc, "%s is missing: this kernel's cgroup v1 memory controller cannot "
					      "bound socket buffers", path);
	if (rc == -EBUSY)
		return cit_error_set(err, rc, "the sandbox's socket buffers hold more than %llu bytes",
				     (unsigned long long)bytes);
	if (rc < 0)
		return cit_error_set(err, rc, "writing %s", path);
	return 0;
}

/* CPU bandwidth: millis thousandths of a CPU per scheduling period of 100 ms (the
 * kernel's default period), or no limit for 0. Only where the cgroup has a CPU
 * controller's directory. */
#define CPU_PERIOD_US 100000u

static int set_cpu(const struct cit_cgroup *cg, uint32_t millis, struct cit_error *err)
{
	if (!cg->cpu[0])
		return 0;
	unsigned long long quota = (unsigned long long)millis * (CPU_PERIOD_US / 1000);
	if (cg->version == 1) {
		int rc = write_knob(cg->cpu, "cpu.cfs_period_us", CPU_PERIOD_US, false, err);
		if (rc == 0 && millis)
			rc = write_knob(cg->cpu, "cpu.cfs_quota_us", quota, false, err);
		else if (rc == 0) {
			char path[PATH_MAX + 32];
			snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", cg->cpu);
			if ((rc = cit_write_file(path, "-1", 2)) < 0)
				cit_error_set(err, rc, "writing %s", path);
		}
		return rc;
	}
	char path[PATH_MAX + 32], val[64];
	snprintf(path, sizeof(path), "%s/cpu.max", cg->cpu);
	int n = millis ? snprintf(val, sizeof(val), "%llu %u", quota, CPU_PERIOD_US)
		       : snprintf(val, sizeof(val), "max %u", CPU_PERIOD_US);
	int rc = cit_write_file(path, val, (size_t)n);
	return rc < 0 ? cit_error_set(err, rc, "writing %s", path) : 0;
}

int cit_cgroup_set_limits(const struct cit_cgroup *cg, const struct cit_sandbox_config *cfg,
			  struct cit_error *err)
{
	int rc;
	if (cg->version == 1) {
		if ((rc = set_tcp_v1(cg, cfg->memory_bytes, err)) < 0)
			return rc;
		/* v1 wants memory <= memory+swap at every moment: raising, swap's goes first. */
		if (write_knob(cg->mem, "memory.limit_in_bytes", cfg->memory_bytes, false, NULL) < 0)
			write_knob(cg->mem, "memory.memsw.limit_in_bytes", cfg->memory_bytes, true, NULL);
		if ((rc = write_knob(cg->mem, "memory.limit_in_bytes", cfg->memory_bytes, false, err)) < 0 ||
		    (rc = write_knob(cg->mem, "memory.memsw.limit_in_bytes", cfg->memory_bytes, true, err)) < 0 ||
		    (rc = write_knob(cg->mem, "memory.swappiness", 0, true, err)) < 0 ||
		    (rc = write_knob(cg->pids, "pids.max", cfg->pids, false, err)) < 0)
			return rc;
		return set_cpu(cg, cfg->cpu_millis, err);
	}
	/* v2 charges socket buffers to memory.current ("sock" in memory.stat) with the rest:
	 * memory.max bounds them with no knob of their own. */
	if ((rc = write_knob(cg->mem, "memory.max", cfg->memory_bytes, false, err)) < 0 ||
	    (rc = write_knob(cg->mem, "memory.swap.max", 0, true, err)) < 0 ||
	    (rc = write_knob(cg->mem, "pids.max", cfg->pids, false, err)) < 0)
		return rc;
	return set_cpu(cg, cfg->cpu_millis, err);
}

static int create_v1(struct cit_cgroup *cg, const struct cit_sandbox_config *cfg, struct cit_error *err)
{
	int rc;
	if ((rc = make_dir(cg->mem, err)) < 0)
		return rc;
	if ((rc = make_dir(cg->pids, err)) < 0)
		return rc;
	if (cg->cpu[0] && (rc = make_dir(cg->cpu, err)) < 0)
		return rc;
	return cit_cgroup_set_limits(cg, cfg, err);
}

int cit_cgroup_create(struct cit_cgroup *cg, const char *name, const struct cit_sandbox_config *cfg,
		      struct cit_error *err)
{
	int rc = locate(cg, cfg->cgroup_parent, name, cfg->cpu_millis > 0, err);
	if (rc < 0)
		return rc;
	rc = cg->version == 2 ? create_v2(cg, cfg, err) : create_v1(cg, cfg, err);
	if (rc < 0)
		cit_cgroup_destroy(cg);
	return rc;
}

int cit_cgroup_open(struct cit_cgroup *cg, const char *parent, const char *name)
{
	return locate(cg, parent, name, false, NULL);
}

int cit_cgroup_parent_create(struct cit_cgroup *cg, const char *name, uint64_t pids_max, struct cit_error *err)
{
	int rc = locate(cg, NULL, name, true, err);
	if (rc < 0)
		return rc;
	if (cg->version == 2) {
		/* Its children are sandboxes with their own limits: enable the controllers. */
		char ctl[PATH_MAX + 32], parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", cg->mem);
		*strrchr(parent, '/') = '\0';
		snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", parent);
		if ((rc = cit_write_file(ctl, "+memory +pids +cpu", 18)) < 0)
			return cit_error_set(err, rc, "enabling controllers in %s", parent);
		if ((rc = make_dir(cg->mem, err)) < 0)
			return rc;
		snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", cg->mem);
		if ((rc = cit_write_file(ctl, "+memory +pids +cpu", 18)) < 0) {
			cit_cgroup_destroy(cg);
			return cit_error_set(err, rc, "enabling controllers in %s", cg->mem);
		}
	} else if ((rc = make_dir(cg->mem, err)) < 0 || (rc = make_dir(cg->pids, err)) < 0 ||
		   (rc = make_dir(cg->cpu, err)) < 0) {
		cit_cgroup_destroy(cg);
		return rc;
	}
	if ((rc = write_knob(cg->pids, "pids.max", pids_max, false, err)) < 0)
		cit_cgroup_destroy(cg);
	return rc;
}

uint64_t cit_cgroup_pids(const struct cit_cgroup *cg)
{
	char path[PATH_MAX + 32], buf[64];
	snprintf(path, sizeof(path), "%s/pids.current", cg->pids);
	return cit_read_file(path, buf, sizeof(buf)) > 0 ? strtoull(buf, NULL, 10) : 0;
}

uint64_t cit_cgroup_memory(const struct cit_cgroup *cg)
{
	char path[PATH_MAX + 32], buf[64];
	snprintf(path, sizeof(path), "%s/%s", cg->mem, cg->version == 1 ? "memory.usage_in_bytes" : "memory.current");
	return cg->mem[0] && cit_read_file(path, buf, sizeof(buf)) > 0 ? strtoull(buf, NULL, 10) : 0;
}

int cit_cgroup_attach(const struct cit_cgroup *cg, pid_t pid, struct cit_error *err)
{
	char val[32];
	int n = snprintf(val, sizeof(val), "%d", pid);
	const char *dirs[3] = { cg->mem, cg->pids, cg->cpu };
	for (int i = 0; i < (cg->version == 1 ? 3 : 1); i++) {
		if (!dirs[i][0])
			continue;
		char path[PATH_MAX + 16];
		snprintf(path, sizeof(path), "%s/cgroup.procs", dirs[i]);
		int rc = cit_write_file(path, val, (size_t)n);
		if (rc < 0)
			return cit_error_set(err, rc, "moving the sandbox into %s", dirs[i]);
	}
	return 0;
}

int cit_cgroup_sockets_over(const struct cit_cgroup *cg, uint64_t memory_bytes)
{
	if (cg->version != 1)
		return -EOPNOTSUPP;
	char path[PATH_MAX + 64], buf[32];
	snprintf(path, sizeof(path), "%s/memory.kmem.tcp.usage_in_bytes", cg->mem);
	ssize_t n = cit_read_file(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	uint64_t slack = memory_bytes / 4 > CIT_SOCKET_SLACK_MIN ? memory_bytes / 4 : CIT_SOCKET_SLACK_MIN;
	return strtoull(buf, NULL, 10) > memory_bytes + slack;
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
	if (cg->version == 1) {
		remove_dir(cg->pids);
		remove_dir(cg->cpu);
	}
	remove_dir(cg->mem);
	cg->pids[0] = cg->cpu[0] = '\0';
}

/* Removes the dead "citadel-<pid>" cgroups in dir, and the empty ones beneath a dead one
 * (a dead monitor's parent holds its sandboxes' cgroups). */
static void sweep_in(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		char *end, path[PATH_MAX + 256];
		if (strncmp(e->d_name, "citadel-", 8))
			continue;
		long pid = strtol(e->d_name + 8, &end, 10);
		if (pid <= 0 || *end || (depth == 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (rmdir(path) < 0 && errno == EBUSY && depth == 0) {
			sweep_in(path, 1);
			rmdir(path);
		}
	}
	closedir(d);
}

static void sweep_dir(const char *child_path)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", child_path);
	char *slash = strrchr(parent, '/');
	if (!slash)
		return;
	*slash = '\0';
	sweep_in(parent, 0);
}

void cit_cgroup_sweep(void)
{
	struct cit_cgroup cg;
	if (locate(&cg, NULL, "x", true, NULL) < 0 && locate(&cg, NULL, "x", false, NULL) < 0)
		return;
	sweep_dir(cg.mem);
	if (cg.version == 1) {
		sweep_dir(cg.pids);
		if (cg.cpu[0])
			sweep_dir(cg.cpu);
	}
}
