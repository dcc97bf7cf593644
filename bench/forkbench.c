/* The floor for a lukewarm start: fork a process of a given size and wait until the child
 * runs (it writes one byte to a pipe). Prints the median and p95 in µs as JSON.
 *   forkbench SIZE_KIB RUNS
 * The parent first allocates and touches SIZE_KIB of memory, so that fork copies page
 * tables of the same size as a template of that resident size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	size_t kib = (size_t)atol(argv[1]);
	int runs = atoi(argv[2]);
	if (runs < 1 || runs > 100000)
		return 2;
	char *mem = malloc(kib * 1024 + 1);
	if (!mem)
		return 1;
	memset(mem, 1, kib * 1024);
	double *t = malloc(sizeof(double) * (size_t)runs);
	for (int i = 0; i < runs; i++) {
		int p[2];
		if (pipe(p) < 0)
			return 1;
		double t0 = now_us();
		pid_t pid = fork();
		if (pid == 0) {
			char b = mem[0];
			if (write(p[1], &b, 1) != 1)
				_exit(1);
			_exit(0);
		}
		char b;
		if (pid < 0 || read(p[0], &b, 1) != 1)
			return 1;
		t[i] = now_us() - t0;
		waitpid(pid, NULL, 0);
		close(p[0]);
		close(p[1]);
	}
	qsort(t, (size_t)runs, sizeof(double), cmp);
	printf("{\"size_kib\": %zu, \"runs\": %d, \"p50_us\": %.1f, \"p95_us\": %.1f}\n", kib, runs, t[runs / 2],
	       t[(runs - 1) * 95 / 100]);
	return 0;
}
