/* A function whose instances cannot confine themselves: a thread of cit_init (or
 * cit_init itself when POISON_AFTER is 0), POISON_AFTER ms after the template loaded,
 * installs a seccomp filter on every thread (TSYNC) that makes landlock_restrict_self
 * fail, so every instance forked from then on dies before it says hello. Built from source
 * with "#define POISON_AFTER N" in front, by tests/functional/test_monitor.py and
 * bench/monitor_bench.py. With "#define POISON_AT_FORK N" instead, the template installs
 * the filter as it forks its Nth instance: counted, not timed, so that however slow the
 * machine the instances before it are healthy and those from it on are not. */
#include <citadel/function.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static void poison_now(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 446 /* landlock_restrict_self */, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p = { 4, f };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &p))
		perror("poison");
}
#ifdef POISON_AT_FORK
static int forks;
static void prepare(void) /* in the template, before each fork */
{
	if (++forks == POISON_AT_FORK)
		poison_now();
}
int cit_init(void)
{
	return pthread_atfork(prepare, NULL, NULL) ? -EAGAIN : 0;
}
#else
static void *poison(void *arg)
{
	(void)arg;
	nanosleep(&(struct timespec){ .tv_nsec = POISON_AFTER * 1000000L }, NULL);
	poison_now();
	return NULL;
}
int cit_init(void)
{
#if POISON_AFTER == 0
	poison(NULL); /* before any instance: none can start */
	return 0;
#else
	pthread_t t;
	return pthread_create(&t, NULL, poison, NULL) ? -EAGAIN : 0;
#endif
}
#endif
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
	(void)q;
	return cit_respondf(r, "%d", getpid());
}
