#include "sandbox/idmap.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

#include "common/fdutil.h"

uid_t cit_idmap_outside_id(pid_t init_pid)
{
	return CIT_ID_BASE + (uid_t)init_pid;
}

int cit_idmap_write(pid_t pid, uid_t outside, struct cit_error *err)
{
	static const char *const files[] = { "uid_map", "gid_map" };
	char path[64], line[64];
	int n = snprintf(line, sizeof(line), "0 %u 1\n", outside);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		int rc = cit_write_file(path, line, (size_t)n);
		if (rc < 0)
			return cit_error_set(err, rc, "writing %s", path);
	}
	return 0;
}

int cit_idmap_become_root(struct cit_error *err)
{
	if (setgroups(0, NULL) < 0)
		return cit_error_set(err, -errno, "setgroups");
	if (setresgid(0, 0, 0) < 0)
		return cit_error_set(err, -errno, "setresgid");
	if (setresuid(0, 0, 0) < 0)
		return cit_error_set(err, -errno, "setresuid");
	return 0;
}
