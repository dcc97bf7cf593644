/* forker: misbehaves by trying to start processes, and checks that threads still work.
 *
 * Tries, in order, fork(), execve("/bin/true") and a thread that returns 42, and responds
 * with exactly three lines:
 *   fork: <result>
 *   exec: <result>
 *   thread: <result>
 * where <result> is "ok" or the strerror() text of the failure. In a working sandbox the
 * expected answer is "fork: Operation not permitted", "exec: Operation not permitted",
 * "thread: ok". Note that if exec is allowed, the instance becomes /bin/true and exits:
 * the invocation then gets no response at all, which is itself the failure to detect. */
#include <citadel/function.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int try_fork(struct cit_response *resp)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, NULL, 0) < 0)
		return cit_respondf(resp, "fork: %s\n", strerror(errno));
	return cit_respondf(resp, "fork: ok\n");
}

static int try_exec(struct cit_response *resp)
{
	char path[] = "/bin/true";
	char *argv[] = { path, NULL };
	char *envp[] = { NULL };

	execve(path, argv, envp);
	return cit_respondf(resp, "exec: %s\n", strerror(errno));
}

static void *answer(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)42;
}

static int try_thread(struct cit_response *resp)
{
	pthread_t thread;
	void *value = NULL;
	int err = pthread_create(&thread, NULL, answer, NULL);
	if (err == 0)
		err = pthread_join(thread, &value);
	if (err != 0)
		return cit_respondf(resp, "thread: %s\n", strerror(err));
	if (value != (void *)(intptr_t)42)
		return cit_respondf(resp, "thread: joined with %p, not 42\n", value);
	return cit_respondf(resp, "thread: ok\n");
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	int r;

	(void)req;
	if ((r = try_fork(resp)) != 0 || (r = try_exec(resp)) != 0)
		return r;
	return try_thread(resp);
}
