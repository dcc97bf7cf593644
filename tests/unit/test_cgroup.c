/* cgroup.c's limits: what is written where, a kernel without the socket knob, and, on a
 * real cgroup v1 memory controller, raising and lowering a live cgroup's limits (the
 * order of the writes) while sockets in it hold buffers. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "sandbox/cgroup.h"
#include "tap.h"

#define MIB (1ULL << 20)

static unsigned long long knob(const char *dir, const char *name)
{
	char path[PATH_MAX + 64], buf[64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return cit_read_file(path, buf, sizeof(buf)) > 0 ? strtoull(buf, NULL, 10) : 0;
}

/* A directory of empty files standing for a cgroup's knobs (NULL-terminated names). */
static bool fake_cgroup(struct cit_cgroup *cg, int version, const char *const *knobs)
{
	char dir[] = "/tmp/citadel-cg-XXXXXX";
	if (!mkdtemp(dir))
		return false;
	*cg = (struct cit_cgroup){ .version = version };
	snprintf(cg->mem, sizeof(cg->mem), "%s", dir);
	snprintf(cg->pids, sizeof(cg->pids), "%s", dir);
	for (; *knobs; knobs++) {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/%s", dir, *knobs);
		fclose(fopen(path, "w"));
	}
	return true;
}

static void remove_fake(const struct cit_cgroup *cg, const char *const *knobs)
{
	for (; *knobs; knobs++) {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/%s", cg->mem, *knobs);
		unlink(path);
	}
	rmdir(cg->mem);
}

static void fake_v1(void)
{
	static const char *const knobs[] = { "memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
					     "memory.swappiness", "memory.kmem.tcp.limit_in_bytes", "pids.max", NULL };
	struct cit_cgroup cg;
	if (!fake_cgroup(&cg, 1, knobs))
		return tap_ok(0, "mkdtemp");
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	cfg.memory_bytes = 32 * MIB;
	cfg.pids = 7;
	struct cit_error err = { 0 };
	tap_ok(cit_cgroup_set_limits(&cg, &cfg, &err) == 0, "v1: limits set (%s)", err.msg);
	tap_ok(knob(cg.mem, "memory.kmem.tcp.limit_in_bytes") == 32 * MIB,
	       "v1: socket buffers get the memory limit");
	tap_ok(knob(cg.mem, "memory.limit_in_bytes") == 32 * MIB && knob(cg.mem, "pids.max") == 7,
	       "v1: memory and pids limits written");
	/* A kernel without the socket knob: an error naming it, and nothing else written. */
	char tcp[PATH_MAX + 64];
	snprintf(tcp, sizeof(tcp), "%s/memory.kmem.tcp.limit_in_bytes", cg.mem);
	unlink(tcp);
	cfg.memory_bytes = 64 * MIB;
	int rc = cit_cgroup_set_limits(&cg, &cfg, &err);
	tap_ok(rc == -ENOENT && strstr(err.msg, "memory.kmem.tcp.limit_in_bytes") &&
		       strstr(err.msg, "cannot bound socket buffers"),
	       "v1 without memory.kmem.tcp.limit_in_bytes: an error that says so (rc %d: %s)", rc, err.msg);
	tap_ok(knob(cg.mem, "memory.limit_in_bytes") == 32 * MIB,
	       "v1 without the socket knob: no limit was changed");
	remove_fake(&cg, knobs);
}

static void fake_v2(void)
{
	static const char *const knobs[] = { "memory.max", "memory.swap.max", "pids.max", NULL };
	struct cit_cgroup cg;
	if (!fake_cgroup(&cg, 2, knobs))
		return tap_ok(0, "mkdtemp");
	struct cit_sandbox_config cfg;
	cit_sandbox_config_init(&cfg);
	cfg.memory_bytes = 48 * MIB;
	struct cit_error err = { 0 };
	tap_ok(cit_cgroup_set_limits(&cg, &cfg, &err) == 0 && knob(cg.mem, "memory.max") == 48 * MIB,
	       "v2: memory.max set, no socket knob needed (%s)", err.msg);
	remove_fake(&cg, knobs);
}

/* A child in the cgroup holding about bytes in a loopback TCP connection nobody reads;
 * it writes one byte to ready when done, then waits to be killed. */
static pid_t hold_tcp(const struct cit_cgroup *cg, size_t bytes, int ready)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	char self[32];
	snprintf(self, sizeof(self), "%d", getpid());
	char procs[PATH_MAX + 16];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg->mem);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
	socklen_t sl = sizeof(sa);
	/* Moved first: a socket is charged to the cgroup it was made in. */
	if (cit_write_file(procs, self, strlen(self)) < 0)
		_exit(1);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || c < 0 ||
	    bind(l, (struct sockaddr *)&sa, sl) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0 || connect(c, (struct sockaddr *)&sa, sl) < 0)
		_exit(1);
	int big = 16 << 20;
	setsockopt(c, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	static char chunk[65536];
	for (size_t sent = 0; sent < bytes;) {
		ssize_t n = send(c, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	if (write(ready, "r", 1) != 1)
		_exit(1);
	pause();
	_exit(0);
}

static void real_v1(void)
{
	struct cit_cgroup cg;
	struct cit_sandbox_config cfg;
	struct cit_error err = { 0 };
	char name[64];
	snprintf(name, sizeof(name), "citadel-unit-%d", getpid());
	cit_sandbox_config_init(&cfg);
	cfg.memory_bytes = 64 * MIB;
	if (geteuid() != 0 || cit_cgroup_create(&cg, name, &cfg, &err) < 0 || cg.version != 1) {
		if (cg.version == 2)
			cit_cgroup_destroy(&cg);
		printf("ok %d - # SKIP no cgroup v1 memory controller of ours to write to (%s)\n", ++tap_n, err.msg);
		return;
	}
	tap_ok(knob(cg.mem, "memory.kmem.tcp.limit_in_bytes") == 64 * MIB, "v1: a new cgroup's socket limit");
	/* Lowering and raising: memory must stay <= memory+swap at every write. */
	static const uint64_t steps[] = { 16 * MIB, 128 * MIB, 8 * MIB, 64 * MIB };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		cfg.memory_bytes = steps[i];
		int rc = cit_cgroup_set_limits(&cg, &cfg, &err);
		bool swap = knob(cg.mem, "memory.memsw.limit_in_bytes") == 0 ||
			    knob(cg.mem, "memory.memsw.limit_in_bytes") == steps[i];
		tap_ok(rc == 0 && knob(cg.mem, "memory.limit_in_bytes") == steps[i] &&
			       knob(cg.mem, "memory.kmem.tcp.limit_in_bytes") == steps[i] && swap,
		       "v1: limits of a live cgroup to %llu MiB (rc %d %s)", (unsigned long long)(steps[i] / MIB), rc,
		       err.msg);
	}
	/* Sockets hold 16 MiB; a 4 MiB limit cannot be met (the kernel does not reclaim socket
	 * buffers): refused, and the memory limit is left as it was. */
	int p[2];
	if (pipe(p) < 0)
		return tap_ok(0, "pipe");
	pid_t child = hold_tcp(&cg, 16 * MIB, p[1]);
	char c;
	bool ready = child > 0 && read(p[0], &c, 1) == 1;
	uint64_t used = knob(cg.mem, "memory.kmem.tcp.usage_in_bytes");
	cfg.memory_bytes = 4 * MIB;
	int rc = cit_cgroup_set_limits(&cg, &cfg, &err);
	tap_ok(ready && used > 8 * MIB, "v1: sockets' buffers are charged to the cgroup (%llu bytes)",
	       (unsigned long long)used);
	tap_ok(rc == -EBUSY && strstr(err.msg, "socket buffers"),
	       "v1: lowering below the sockets' use refused (rc %d: %s)", rc, err.msg);
	tap_ok(knob(cg.mem, "memory.limit_in_bytes") == 64 * MIB, "v1: the refused change left the memory limit");
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	close(p[0]);
	close(p[1]);
	cit_cgroup_destroy(&cg);
}

int main(void)
{
	fake_v1();
	fake_v2();
	real_v1();
	return tap_done();
}
