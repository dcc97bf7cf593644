#include "sandbox/ns.h"

#include <errno.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

uint64_t cit_ns_clone_flags(const struct cit_sandbox_config *cfg)
{
	uint64_t f = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	if (!cfg->net_host)
		f |= CLONE_NEWNET;
	return f;
}

pid_t cit_clone3(uint64_t flags, int *pidfd)
{
	struct clone_args args = {
		.flags = flags | CLONE_PIDFD,
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
	};
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return -errno;
	return (pid_t)pid;
}

int cit_ns_loopback_up(struct cit_error *err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cit_error_set(err, -errno, "socket for loopback setup");
	struct ifreq ifr = { 0 };
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return cit_error_set(err, -errno, "reading loopback flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return cit_error_set(err, -errno, "bringing loopback up");
	return 0;
}

int cit_ns_set_hostname(const char *name, struct cit_error *err)
{
	if (sethostname(name, strlen(name)) < 0)
		return cit_error_set(err, -errno, "sethostname(%s)", name);
	return 0;
}

int cit_ns_enter_cgroup(struct cit_error *err)
{
	if (unshare(CLONE_NEWCGROUP) < 0)
		return cit_error_set(err, -errno, "unshare(CLONE_NEWCGROUP)");
	return 0;
}
