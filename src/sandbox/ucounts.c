#include "sandbox/ucounts.h"

#include <stdio.h>

#include "common/fdutil.h"
#include "common/util.h"

int cit_ucounts_lower(struct cit_error *err)
{
	static const struct {
		const char *name;
		unsigned int max;
	} quotas[] = {
		/* Each watch pins an inode of the view (the host's) in the inode cache, which is
		 * not charged to the sandbox; the host's own quota (per user: 192,543 here) is far
		 * more than a program needs. */
		{ "max_inotify_watches", CIT_INOTIFY_WATCHES_MAX },
		{ "max_inotify_instances", CIT_INOTIFY_INSTANCES_MAX },
		{ "max_fanotify_groups", 0 },
		{ "max_fanotify_marks", 0 },
		{ "max_user_namespaces", 0 },
		{ "max_mnt_namespaces", 0 },
		{ "max_pid_namespaces", 0 },
		{ "max_net_namespaces", 0 },
		{ "max_ipc_namespaces", 0 },
		{ "max_uts_namespaces", 0 },
		{ "max_cgroup_namespaces", 0 },
		{ "max_time_namespaces", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(quotas); i++) {
		char path[64], val[16];
		snprintf(path, sizeof(path), "/proc/sys/user/%s", quotas[i].name);
		int n = snprintf(val, sizeof(val), "%u", quotas[i].max);
		int rc = cit_write_file(path, val, (size_t)n);
		if (rc < 0)
			return cit_error_set(err, rc, "writing %s", path);
	}
	return 0;
}
