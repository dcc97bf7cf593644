#include "sandbox/rlimit.h"

#include <errno.h>
#include <sys/resource.h>

#include "common/util.h"

int cit_rlimit_apply(const struct cit_sandbox_config *cfg, struct cit_error *err)
{
	rlim_t cpu = cfg->cpu_ms ? (rlim_t)((cfg->cpu_ms + 999) / 1000) : RLIM_INFINITY;
	const struct {
		int resource;
		const char *name;
		rlim_t soft, hard;
	} limits[] = {
		{ RLIMIT_NOFILE, "RLIMIT_NOFILE", cfg->nofile, cfg->nofile },
		{ RLIMIT_NPROC, "RLIMIT_NPROC", cfg->pids, cfg->pids },
		{ RLIMIT_CPU, "RLIMIT_CPU", cpu, cpu == RLIM_INFINITY ? cpu : cpu + 1 },
		{ RLIMIT_CORE, "RLIMIT_CORE", 0, 0 },
		{ RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", 8ULL << 20, 8ULL << 20 },
		{ RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE", 1ULL << 20, 1ULL << 20 },
		/* Queued signals and POSIX timers (each holds one preallocated), counted per user:
		 * the sandbox's own id. The host's default (as many as processes, ~96,000 here)
		 * is far more than a program queues. */
		{ RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING", CIT_SIGPENDING_MAX, CIT_SIGPENDING_MAX },
		/* No real-time scheduling and no raised priority, whatever the caller had. */
		{ RLIMIT_RTPRIO, "RLIMIT_RTPRIO", 0, 0 },
		{ RLIMIT_RTTIME, "RLIMIT_RTTIME", 0, 0 },
		{ RLIMIT_NICE, "RLIMIT_NICE", 0, 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		/* Only ever lowered: the sandbox holds no capability over the host's limits. */
		struct rlimit cur, rl = { .rlim_cur = limits[i].soft, .rlim_max = limits[i].hard };
		if (getrlimit(limits[i].resource, &cur) < 0)
			return cit_error_set(err, -errno, "reading %s", limits[i].name);
		if (rl.rlim_max > cur.rlim_max)
			rl.rlim_max = cur.rlim_max;
		if (rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		if (setrlimit(limits[i].resource, &rl) < 0)
			return cit_error_set(err, -errno, "setting %s", limits[i].name);
	}
	return 0;
}
