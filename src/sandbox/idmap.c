#include "sandbox/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdint.h>
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

#include "common/fdutil.h"

int cit_idmap_allocate(uid_t *out, unsigned n, struct cit_error *err)
{
	if (n < 1 || n > 2)
		return cit_error_set(err, -EINVAL, "a sandbox has one or two ids");
	if (mkdir("/run/citadel", 0700) < 0 && errno != EEXIST)
		return cit_error_set(err, -errno, "creating /run/citadel");
	int fd = open(CIT_ID_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return cit_error_set(err, -errno, "opening %s", CIT_ID_FILE);
	uint32_t next = 0;
	int rc = 0;
	if (flock(fd, LOCK_EX) < 0)
		rc = cit_error_set(err, -errno, "locking %s", CIT_ID_FILE);
	else if (pread(fd, &next, sizeof(next), 0) < 0)
		rc = cit_error_set(err, -errno, "reading %s", CIT_ID_FILE);
	next %= CIT_ID_RANGE;
	if (next + n > CIT_ID_RANGE) /* the ids of one sandbox never straddle the wrap */
		next = 0;
	*out = CIT_ID_BASE + next;
	next = (next + n) % CIT_ID_RANGE;
	if (rc == 0 && pwrite(fd, &next, sizeof(next), 0) != (ssize_t)sizeof(next))
		rc = cit_error_set(err, -EIO, "writing %s", CIT_ID_FILE);
	close(fd); /* also releases the lock */
	return rc;
}

int cit_idmap_write(pid_t pid, uid_t outside, unsigned n, struct cit_error *err)
{
	static const char *const files[] = { "uid_map", "gid_map" };
	char path[64], map[64];
	size_t len = 0;
	for (unsigned id = 0; id < n && id < 2; id++)
		len += (size_t)snprintf(map + len, sizeof(map) - len, "%u %u 1\n", id, outside + id);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		int rc = cit_write_file(path, map, len);
		if (rc < 0)
			return cit_error_set(err, rc, "writing %s", path);
	}
	return 0;
}

/* Called by a sandbox's init, a raw clone3 copy of a caller that may have threads (the
 * monitor's): the system calls themselves, never libc's wrappers, which would signal and
 * wait for threads that exist only in the copied memory (and for good, if one was still
 * being created). Init has one thread: its own credentials are all there are. */
int cit_idmap_become_root(struct cit_error *err)
{
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		return cit_error_set(err, -errno, "setgroups");
	if (syscall(SYS_setresgid, 0, 0, 0) < 0)
		return cit_error_set(err, -errno, "setresgid");
	if (syscall(SYS_setresuid, 0, 0, 0) < 0)
		return cit_error_set(err, -errno, "setresuid");
	return 0;
}

int cit_idmap_userns(uid_t inside_uid, gid_t inside_gid, uid_t outside, int *nsfd, struct cit_error *err)
{
	*nsfd = -1;
	if (inside_uid == 0 || inside_gid == 0)
		return cit_error_set(err, -EINVAL, "refusing to map host root into a sandbox");
	int gate[2];
	if (pipe2(gate, O_CLOEXEC) < 0)
		return cit_error_set(err, -errno, "pipe");
	/* A child born in a new user namespace holds it while its map is written and the
	 * namespace is opened; then it exits. */
	struct clone_args args = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0) {
		char b;
		close(gate[1]);
		while (read(gate[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(gate[0]);
	int rc = 0;
	if (pid < 0) {
		rc = cit_error_set(err, -errno, "clone3(CLONE_NEWUSER) for an idmapped bind");
	} else {
		char path[64], line[64];
		static const char *const files[] = { "uid_map", "gid_map" };
		const unsigned inside[] = { inside_uid, inside_gid };
		for (unsigned i = 0; rc == 0 && i < 2; i++) {
			snprintf(path, sizeof(path), "/proc/%ld/%s", pid, files[i]);
			int n = snprintf(line, sizeof(line), "%u %u 1\n", inside[i], outside);
			if ((rc = cit_write_file(path, line, (size_t)n)) < 0)
				cit_error_set(err, rc, "writing %s", path);
		}
		snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
		if (rc == 0 && (*nsfd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			rc = cit_error_set(err, -errno, "opening %s", path);
	}
	close(gate[1]);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return rc;
}
