/*
 * launch N CMD [ARGS...]
 *
 * Runs CMD N times, one after another, with its stdout sent to /dev/null, and prints the
 * wall time of each run (spawn to reaped exit, CLOCK_MONOTONIC) in microseconds, one per
 * line. Stops with status 1 at the first run that does not exit 0; stderr is inherited so
 * the caller sees why. Keeps interpreter overhead out of sandbox start-up measurements.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	char *end = "";
	long n = argc >= 3 ? strtol(argv[1], &end, 10) : 0;

	if (n < 1 || *end != '\0') {
		fprintf(stderr, "usage: launch N CMD [ARGS...]\n");
		return 2;
	}
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	posix_spawn_file_actions_t fa;

	if (devnull < 0 || posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, devnull, STDOUT_FILENO) != 0) {
		perror("launch: setup");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		pid_t pid;
		int status;
		long long t0 = now_us();
		int err = posix_spawnp(&pid, argv[2], &fa, NULL, argv + 2, environ);

		if (err != 0) {
			fprintf(stderr, "launch: %s: %s\n", argv[2], strerror(err));
			return 1;
		}
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				perror("launch: waitpid");
				return 1;
			}
		}
		long long elapsed = now_us() - t0;

		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "launch: run %ld of %s: %s %d\n", i + 1, argv[2],
				WIFEXITED(status) ? "exit status" : "killed by signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			return 1;
		}
		printf("%lld\n", elapsed);
	}
	return 0;
}
