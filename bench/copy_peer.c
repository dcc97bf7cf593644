/* The baselines of bench/chain_bench.py's hand-over, and the cost of sealing measured on
 * its own. Prints one JSON line: {"mode", "size", "ns": [one time per repetition], ...}.
 *
 *   copy_peer pipe|tcp SIZE REPS
 *     Two plain processes (a fork): the writer fills a buffer of SIZE bytes (every page
 *     written, as the producer fills its output), reads CLOCK_MONOTONIC, and writes the
 *     SIZE bytes into a pipe (made as large as /proc/sys/fs/pipe-max-size allows) or a
 *     loopback TCP connection (TCP_NODELAY, the kernel's default buffers). The reader,
 *     blocked in read(2) meanwhile, reads all SIZE bytes into a buffer of its own (touched
 *     once beforehand, so that the copy, not the first faults, is measured) and reads the
 *     clock when the last byte is in: the data is then at the consumer. Its stamp goes back
 *     to the writer over a pipe of their own; the writer waits for it and 1 ms more (so the
 *     reader is blocked again) before the next repetition.
 *
 *   copy_peer seal SIZE REPS
 *     What Citadel's runtime does to a function's cit_output() buffer after the handler
 *     returns (src/zygote/trustlet.c, seal_output): for a memfd of SIZE bytes, made,
 *     mapped and filled beforehand, the time of munmap + fcntl(F_ADD_SEALS, SHRINK | GROW |
 *     WRITE | SEAL) + fstat. Also, apart ("free_ns"), the close(2) that frees the pages
 *     once nobody holds the object. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "benchutil.h"

#define REPS_MAX 10000
#define FILL 0x5a

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "copy_peer: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *buffer(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	memset(p, 0, len);
	return p;
}

/* Writes (or reads) all len bytes at p. Returns 0, or -1 at EOF or an error. */
static int io_all(int fd, void *p, size_t len, bool out)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = out ? write(fd, (char *)p + off, len - off) : read(fd, (char *)p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static void print_list(const char *key, const uint64_t *ns, long reps)
{
	printf(", \"%s\": [", key);
	for (long i = 0; i < reps; i++)
		printf("%s%llu", i ? ", " : "", (unsigned long long)ns[i]);
	printf("]");
}

/* ns[0..reps): the runtime's step, munmap + seals + fstat; unmap, seals and frees: its
 * parts, and the close that frees the object. One more repetition first, not kept (the
 * first faults of a process are slower). */
static void seal(size_t size, long reps, uint64_t *ns, uint64_t *unmap, uint64_t *seals, uint64_t *frees)
{
	for (long i = -1; i < reps; i++) {
		int fd = memfd_create("copy-peer-seal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
			die("memfd");
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap");
		memset(p, FILL, size);
		struct stat st;
		uint64_t t0 = now_ns();
		munmap(p, size);
		uint64_t tu = now_ns();
		if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0 ||
		    fstat(fd, &st) < 0 || (size_t)st.st_size != size)
			die("sealing");
		uint64_t t1 = now_ns();
		close(fd);
		uint64_t t2 = now_ns();
		if (i >= 0) {
			ns[i] = t1 - t0;
			unmap[i] = tu - t0;
			seals[i] = t1 - tu;
			frees[i] = t2 - t1;
		}
	}
}

/* A connected pair of fds for the data: [0] the reader's end, [1] the writer's. */
static void channel(const char *mode, int fds[2], char *extra, size_t extra_len)
{
	if (!strcmp(mode, "pipe")) {
		if (pipe2(fds, O_CLOEXEC) < 0)
			die("pipe");
		int max = 0;
		FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
		if (f && fscanf(f, "%d", &max) != 1)
			max = 0;
		if (f)
			fclose(f);
		int got = max > 0 ? fcntl(fds[1], F_SETPIPE_SZ, max) : -1;
		if (got < 0)
			got = fcntl(fds[1], F_GETPIPE_SZ);
		snprintf(extra, extra_len, ", \"pipe_bytes\": %d", got);
		return;
	}
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
		die("listen");
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (a < 0)
		die("accept");
	close(l);
	int one = 1;
	setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fds[0] = a;
	fds[1] = c;
	extra[0] = '\0';
}

static void copy(const char *mode, size_t size, long reps, uint64_t *ns, char *extra, size_t extra_len)
{
	int data[2], back[2];
	channel(mode, data, extra, extra_len);
	if (pipe2(back, O_CLOEXEC) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) { /* the reader */
		close(data[1]);
		close(back[0]);
		char *in = buffer(size);
		for (long i = -1; i < reps; i++) {
			if (io_all(data[0], in, size, false) < 0)
				_exit(1);
			uint64_t t1 = now_ns();
			if ((unsigned char)in[size - 1] != FILL || io_all(back[1], &t1, sizeof(t1), true) < 0)
				_exit(1);
		}
		_exit(0);
	}
	close(data[0]);
	close(back[1]);
	char *out = buffer(size);
	for (long i = -1; i < reps; i++) { /* the first repetition warms up, not kept */
		usleep(1000);
		memset(out, FILL, size);
		uint64_t t0 = now_ns(), t1;
		if (io_all(data[1], out, size, true) < 0 || io_all(back[0], &t1, sizeof(t1), false) < 0)
			die("the reader stopped");
		if (i >= 0)
			ns[i] = t1 - t0;
	}
	int st;
	close(data[1]);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("the reader failed");
	munmap(out, size);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s pipe|tcp|seal SIZE REPS\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1];
	size_t size = (size_t)strtoull(argv[2], NULL, 10);
	long reps = atol(argv[3]);
	if (size < 8 || reps < 1 || reps > REPS_MAX ||
	    (strcmp(mode, "pipe") && strcmp(mode, "tcp") && strcmp(mode, "seal"))) {
		fprintf(stderr, "copy_peer: SIZE at least 8, REPS 1 to %d, mode pipe, tcp or seal\n", REPS_MAX);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	uint64_t *ns = calloc(4 * (size_t)reps, sizeof(*ns));
	char extra[64] = "";
	if (!ns)
		die("calloc");
	if (!strcmp(mode, "seal"))
		seal(size, reps, ns, ns + reps, ns + 2 * reps, ns + 3 * reps);
	else
		copy(mode, size, reps, ns, extra, sizeof(extra));
	printf("{\"mode\": \"%s\", \"size\": %zu%s", mode, size, extra);
	print_list("ns", ns, reps);
	if (!strcmp(mode, "seal")) {
		print_list("unmap_ns", ns + reps, reps);
		print_list("seals_ns", ns + 2 * reps, reps);
		print_list("free_ns", ns + 3 * reps, reps);
	}
	printf("}\n");
	return 0;
}
