/* The floor for a warm call: one request and one response between two processes over a
 * SOCK_SEQPACKET socketpair, with no monitor in between. Prints p50 and p99 in µs.
 *   pingpong SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(sp[0]);
		char b[64];
		ssize_t n;
		while ((n = recv(sp[1], b, sizeof(b), 0)) > 0)
			if (send(sp[1], b, (size_t)n, 0) != n)
				break;
		_exit(0);
	}
	close(sp[1]);
	size_t cap = 4000000, n = 0;
	double *t = malloc(cap * sizeof(double)), end = now_us() + secs * 1e6;
	char b[64] = "ping";
	while (n < cap) {
		double t0 = now_us();
		if (t0 > end || send(sp[0], b, 32, 0) != 32 || recv(sp[0], b, sizeof(b), 0) != 32)
			break;
		t[n++] = now_us() - t0;
	}
	close(sp[0]);
	waitpid(pid, NULL, 0);
	qsort(t, n, sizeof(double), cmp);
	printf("{\"calls\": %zu, \"per_second\": %.0f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n", n, (double)n / secs,
	       n ? t[n / 2] : 0, n ? t[(n - 1) * 99 / 100] : 0);
	return 0;
}
