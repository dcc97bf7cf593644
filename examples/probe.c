/* probe: misbehaves on request, one attack per invocation, for the isolation tests.
 *
 * The request is one command; words are separated by spaces and trailing whitespace
 * (such as a final newline) is ignored. DATA is the rest of the request after the
 * preceding word and its single separating space, so it may contain spaces.
 *
 *   connect HOST PORT  TCP connect to an IPv4 address          ok connected
 *   read PATH          read up to 4 KiB of a file               ok <bytes>
 *   write PATH DATA    create/truncate PATH and write DATA      ok wrote
 *   plant DATA         write DATA to ./secret (private dir)     ok <cwd>/secret
 *   spy                read ../ * /secret of other instances    ok found N[: a,b,...]
 *                      (when ../ cannot be listed, it guesses ../iPID for PID 1..1024)
 *   sleep MS           hold the instance busy for MS ms          ok slept
 *   ipc                make a System V shared memory segment     ok shm <id>
 *   hangup             shut its sockets for writing, then spin   (never answers)
 *   hold MS DATA       plant DATA, then sleep MS ms              ok <cwd>/secret
 *   signal             SIGKILL every /proc pid but self and 1   ok killed K of M
 *   peek               open /proc/PID/{mem,environ} of others   ok opened K of M
 *   pid                the instance's pid and uid               ok <pid> <uid>
 *   random             16 hex digits from random()              ok <hex>
 *   badproto           write 64 bytes of 0xff to every socket   ok sent garbage
 *                      among fds 3..1023
 *
 * signal: M processes tried, K kill() calls that succeeded. peek: M processes, two opens
 * each, K opens that succeeded (so K may exceed M).
 *
 * Each response is one line: "ok ..." when the attempt worked, "denied: <strerror>" when
 * the system refused it, "error: ..." for a malformed command. An unknown or empty
 * command fails the invocation with -EINVAL "unknown command". */
#include <citadel/function.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REQUEST 4096
#define MAX_READ 4096
#define MAX_SECRET 256

static int denied(struct cit_response *resp)
{
	return cit_respondf(resp, "denied: %s\n", strerror(errno));
}

/* Splits off the next space-separated word of *rest (NULL when there is none) and leaves
 * *rest after the word's single separating space. */
static char *next_word(char **rest)
{
	char *word = *rest;

	while (*word == ' ')
		word++;
	if (*word == '\0')
		return NULL;
	char *end = strchrnul(word, ' ');
	*rest = *end ? end + 1 : end;
	*end = '\0';
	return word;
}

/* Reads up to cap bytes of path (relative to dirfd); returns the count or -1 with errno. */
static ssize_t read_file(int dirfd, const char *path, char *buf, size_t cap)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t got = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -1;
	while (got < cap && (n = read(fd, buf + got, cap - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	int saved = errno;
	close(fd);
	errno = saved;
	return n < 0 ? -1 : (ssize_t)got;
}

/* Creates or truncates path and writes len bytes; returns 0 or -1 with errno. */
static int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);

	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		data += n, len -= (size_t)n;
	}
	return close(fd);
}

static int do_connect(struct cit_response *resp, char *args)
{
	const char *host = next_word(&args), *port = next_word(&args);
	struct sockaddr_in addr = { .sin_family = AF_INET };
	char *end;

	if (!host || !port)
		return cit_respondf(resp, "error: usage: connect HOST PORT\n");
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		return cit_respondf(resp, "error: not an IPv4 address: %s\n", host);
	long p = strtol(port, &end, 10);
	if (*end || p < 1 || p > 65535)
		return cit_respondf(resp, "error: not a port: %s\n", port);
	addr.sin_port = htons((uint16_t)p);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return denied(resp);
	int r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
	int saved = errno;
	close(fd);
	errno = saved;
	return r == 0 ? cit_respondf(resp, "ok connected\n") : denied(resp);
}

static int do_read(struct cit_response *resp, char *args)
{
	const char *path = next_word(&args);
	char buf[MAX_READ];

	if (!path)
		return cit_respondf(resp, "error: usage: read PATH\n");
	ssize_t n = read_file(AT_FDCWD, path, buf, sizeof buf);
	if (n < 0)
		return denied(resp);
	bool newline = n > 0 && buf[n - 1] == '\n';
	int r = cit_respond(resp, "ok ", 3);
	if (r == 0 && n > 0)
		r = cit_respond(resp, buf, (size_t)n);
	if (r == 0 && !newline)
		r = cit_respond(resp, "\n", 1);
	return r;
}

static int do_write(struct cit_response *resp, char *args)
{
	const char *path = next_word(&args);

	if (!path)
		return cit_respondf(resp, "error: usage: write PATH DATA\n");
	if (write_file(path, args, strlen(args)) != 0)
		return denied(resp);
	return cit_respondf(resp, "ok wrote\n");
}

static int do_plant(struct cit_response *resp, const char *data)
{
	char cwd[PATH_MAX];

	if (write_file("secret", data, strlen(data)) != 0 || !getcwd(cwd, sizeof cwd))
		return denied(resp);
	return cit_respondf(resp, "ok %s/secret\n", cwd);
}

/* Reads DIR/secret beneath parent into found (comma-separated), counting it. */
static void collect(int parent, const char *dirname, char *found, size_t cap, size_t *used, size_t *count)
{
	char rel[NAME_MAX + 8], secret[MAX_SECRET];
	snprintf(rel, sizeof rel, "%s/secret", dirname);
	ssize_t n = read_file(parent, rel, secret, sizeof secret);
	if (n < 0)
		return;
	/* What does not fit in found is dropped; the count stays exact. */
	int w = snprintf(found + *used, cap - *used, "%s%.*s", *count ? "," : "", (int)n, secret);
	if (w > 0)
		*used += (size_t)w < cap - *used ? (size_t)w : cap - 1 - *used;
	(*count)++;
}

/* Looks for other instances' private directories next to ours and reads their secrets. */
static int do_spy(struct cit_response *resp)
{
	char cwd[PATH_MAX], found[MAX_REQUEST] = "";
	size_t used = 0, count = 0;

	if (!getcwd(cwd, sizeof cwd))
		return denied(resp);
	char *slash = strrchr(cwd, '/');
	if (!slash) {
		errno = ENOENT;
		return denied(resp);
	}
	const char *self = slash + 1;
	*slash = '\0';
	const char *up = slash == cwd ? "/" : cwd;
	int parent = open(up, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0)
		return denied(resp);
	DIR *dir = opendir(up);
	/* Unlistable: guess the names instead (instances' directories are i<pid>). */
	for (int guess = 1; guess <= 1024 && !dir; guess++) {
		char name[32];
		snprintf(name, sizeof name, "i%d", guess);
		if (strcmp(name, self))
			collect(parent, name, found, sizeof found, &used, &count);
	}
	for (struct dirent *e; dir && (e = readdir(dir));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, self))
			continue;
		collect(parent, e->d_name, found, sizeof found, &used, &count);
	}
	if (dir)
		closedir(dir);
	close(parent);
	if (count == 0)
		return cit_respondf(resp, "ok found 0\n");
	return cit_respondf(resp, "ok found %zu: %s\n", count, found);
}

/* Returns the pid a /proc entry names, or -1 for entries that are not processes. */
static pid_t proc_pid(const char *name)
{
	char *end;
	long pid = strtol(name, &end, 10);

	if (!isdigit((unsigned char)name[0]) || *end || pid <= 0 || pid > INT_MAX)
		return -1;
	return (pid_t)pid;
}

/* signal (peek == false): SIGKILL every other process but pid 1.
 * peek (peek == true): open every other process's mem and environ. */
static int do_procs(struct cit_response *resp, bool peek)
{
	DIR *proc = opendir("/proc");
	size_t tried = 0, worked = 0;
	char path[64];

	if (!proc)
		return denied(resp);
	for (struct dirent *e; (e = readdir(proc));) {
		pid_t pid = proc_pid(e->d_name);
		if (pid < 0 || pid == getpid() || (!peek && pid == 1))
			continue;
		tried++;
		if (!peek) {
			worked += kill(pid, SIGKILL) == 0;
			continue;
		}
		for (int i = 0; i < 2; i++) {
			snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, i ? "environ" : "mem");
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				worked++, close(fd);
		}
	}
	closedir(proc);
	return cit_respondf(resp, "ok %s %zu of %zu\n", peek ? "opened" : "killed", worked, tried);
}

/* Sends garbage down every socket the instance inherited, e.g. its channel to the runtime. */
static int do_badproto(struct cit_response *resp)
{
	char junk[64];
	struct stat st;

	memset(junk, 0xff, sizeof junk);
	for (int fd = 3; fd < 1024; fd++)
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
			/* Errors are expected and ignored; MSG_NOSIGNAL/DONTWAIT keep a closed
			 * or full socket from killing or blocking the probe itself. */
			(void)send(fd, junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
	return cit_respondf(resp, "ok sent garbage\n");
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	char line[MAX_REQUEST + 1];
	size_t len = req->len;

	if (len > MAX_REQUEST)
		return cit_respondf(resp, "error: request longer than %d bytes\n", MAX_REQUEST);
	if (len > 0)
		memcpy(line, req->data, len);
	while (len > 0 && isspace((unsigned char)line[len - 1]))
		len--;
	line[len] = '\0';

	char *args = line;
	const char *cmd = next_word(&args);
	if (!cmd)
		return cit_fail(resp, -EINVAL, "unknown command");
	if (!strcmp(cmd, "connect"))
		return do_connect(resp, args);
	if (!strcmp(cmd, "read"))
		return do_read(resp, args);
	if (!strcmp(cmd, "write"))
		return do_write(resp, args);
	if (!strcmp(cmd, "plant"))
		return do_plant(resp, args);
	if (!strcmp(cmd, "spy"))
		return do_spy(resp);
	if (!strcmp(cmd, "signal"))
		return do_procs(resp, false);
	if (!strcmp(cmd, "peek"))
		return do_procs(resp, true);
	if (!strcmp(cmd, "pid"))
		return cit_respondf(resp, "ok %d %u\n", (int)getpid(), (unsigned)getuid());
	if (!strcmp(cmd, "random"))
		return cit_respondf(resp, "ok %016" PRIx64 "\n",
				    ((uint64_t)random() << 32) ^ (uint64_t)random());
	if (!strcmp(cmd, "badproto"))
		return do_badproto(resp);
	if (!strcmp(cmd, "ipc")) {
		int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		return id < 0 ? denied(resp) : cit_respondf(resp, "ok shm %d\n", id);
	}
	if (!strcmp(cmd, "hangup")) {
		/* Looks to the monitor as if it had died, while it keeps running. */
		for (int fd = 3; fd < 1024; fd++) {
			struct stat st;
			if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
				shutdown(fd, SHUT_WR);
		}
		for (volatile unsigned long spin = 0;; spin++)
			;
	}
	if (!strcmp(cmd, "sleep") || !strcmp(cmd, "hold")) {
		const char *ms = next_word(&args);
		long v = ms ? strtol(ms, NULL, 10) : -1;
		if (v < 0 || v > 60000)
			return cit_respondf(resp, "error: %s MS (0..60000)\n", cmd);
		if (!strcmp(cmd, "sleep")) {
			usleep((useconds_t)v * 1000);
			return cit_respondf(resp, "ok slept\n");
		}
		char cwd[PATH_MAX];
		if (write_file("secret", args, strlen(args)) != 0 || !getcwd(cwd, sizeof cwd))
			return denied(resp);
		usleep((useconds_t)v * 1000);
		return cit_respondf(resp, "ok %s/secret\n", cwd);
	}
	return cit_fail(resp, -EINVAL, "unknown command");
}
