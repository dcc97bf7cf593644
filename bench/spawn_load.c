/* Runs a command again and again for a fixed time, each run with the same bytes on its
 * stdin and its stdout read to the end, and prints one JSON line: runs, p50 and p99 of a
 * run's wall time (µs), failures. The per-request cost of a tool run per request (citadel
 * run, bwrap, the CLI's invoke), measured the same way for each, with no interpreter in
 * the loop.
 *   spawn_load SECONDS INPUT_BYTES CMD [ARGS...] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

extern char **environ;

/* One run: 0 when the command exited 0, else -1. */
static int run_once(char **cmd, const char *input, size_t len)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	pid_t pid;
	int rc = posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (rc != 0) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	size_t off = 0;
	if (!len)
		close(in[1]), in[1] = -1;
	char buf[65536];
	for (;;) {
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN }, { .fd = in[1], .events = POLLOUT } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (in[1] >= 0 && p[1].revents) {
			ssize_t n = write(in[1], input + off, len - off);
			if (n > 0)
				off += (size_t)n;
			if ((n < 0 && errno != EAGAIN) || off == len)
				close(in[1]), in[1] = -1;
		}
		if (p[0].revents) {
			ssize_t n = read(out[0], buf, sizeof(buf));
			if (n <= 0)
				break;
		}
	}
	if (in[1] >= 0)
		close(in[1]);
	close(out[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s SECONDS INPUT_BYTES CMD [ARGS...]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	double seconds = atof(argv[1]);
	size_t len = (size_t)atol(argv[2]);
	char *input = malloc(len + 1);
	for (size_t i = 0; i < len; i++)
		input[i] = i % 6 == 5 ? ' ' : 'w';
	enum { MAX = 100000 };
	uint32_t *lat = malloc(MAX * sizeof(uint32_t));
	size_t n = 0, failed = 0;
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	while (n < MAX && now_ns() < end) {
		uint64_t t0 = now_ns();
		if (run_once(argv + 3, input, len) < 0)
			failed++;
		else
			lat[n++] = (uint32_t)((now_ns() - t0) / 1000);
	}
	qsort(lat, n, sizeof(uint32_t), cmp);
	printf("{\"runs\": %zu, \"failed\": %zu, \"p50_us\": %u, \"p99_us\": %u}\n", n, failed, n ? lat[n / 2] : 0,
	       n ? lat[(n - 1) * 99 / 100] : 0);
	return failed && !n ? 1 : 0;
}
