/* A test function that attacks data objects from inside an instance (test_chains.py).
 * What it does is its MODE (environment): each attack is attempted and its outcome
 * reported in the response, for the test to assert that the kernel or the monitor refused
 * it.
 *   consumer   tries to write, grow, remap writable or re-map its input (the request, a
 *              sealed data object), then answers "RESULTS|" and the first 16 bytes it
 *              now sees
 *   mover      moves its input's mapping (mremap) where the runtime will not unmap it, and
 *              answers how many calls this instance has served
 *   fdthief    calls CALLEE 50 times (cit_invoke) while a thread of its own duplicates every
 *              sealed memfd it finds among its fds, and keeps them; answers how many calls
 *              this instance has served and how many it keeps
 *   keeper     makes its output with cit_output (the request's bytes, then 64 KiB of
 *              zeros: a data object, not inline bytes), and keeps a
 *              duplicate of the output's fd; on its next call in the same instance it tries
 *              to write, truncate and map that fd writable, and answers what happened
 *   map2       makes its output and maps it a second time, writable, and keeps that
 *   forge      answers with an object reference it was never given (the request: a number)
 *   stale      first call: remembers its input's reference and answers it; next call:
 *              answers with that reference
 *   invoke     cit_invoke(CALLEE) handing on the reference in the request (a number), or
 *              its own input when the request is "input"; answers the callee's response
 *   big        answers an output object of SIZE bytes (the environment), all 'x'
 *   slow       sleeps 300 ms, then echoes its input */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <citadel/function.h>

static int kept_fd = -1;
static void *kept_map;
static uint64_t kept_ref;

static volatile int thief_stop;
static int thief_kept;

static void *thief(void *arg)
{
	(void)arg;
	while (!thief_stop)
		for (int fd = 3; fd < 24; fd++)
			if (fcntl(fd, F_GET_SEALS) > 0 && fcntl(fd, F_DUPFD_CLOEXEC, 100) >= 0)
				thief_kept++;
	return NULL;
}

static const char *err(int ok)
{
	return ok ? "ALLOWED" : strerrorname_np(errno);
}

/* The fd of this process that is the memfd named name (citadel-output), or -1. */
static int find_memfd(const char *name)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[64], target[256];
	int found = -1;
	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			if (strstr(target, name))
				found = atoi(e->d_name);
		}
	}
	if (d)
		closedir(d);
	return found;
}

static int consumer(const struct cit_request *req, struct cit_response *resp)
{
	char out[1024];
	size_t n = 0;
	void *p = (void *)req->data;
	size_t pagelen = (req->len + 4095) & ~4095ul;
	n += snprintf(out + n, sizeof(out) - n, "mprotect=%s ", err(mprotect(p, pagelen, PROT_READ | PROT_WRITE) == 0));
	void *r = mremap(p, pagelen, pagelen * 2, 0);
	n += snprintf(out + n, sizeof(out) - n, "mremap=%s ", err(r != MAP_FAILED));
	int mem = open("/proc/self/mem", O_RDWR);
	ssize_t w = mem >= 0 ? pwrite(mem, "EVIL", 4, (off_t)(uintptr_t)p) : -1;
	n += snprintf(out + n, sizeof(out) - n, "procmem=%s ", err(w == 4));
	if (mem >= 0)
		close(mem);
	char mf[96];
	snprintf(mf, sizeof(mf), "/proc/self/map_files/%lx-%lx", (unsigned long)(uintptr_t)p,
		 (unsigned long)(uintptr_t)p + pagelen);
	int viamap = open(mf, O_RDWR);
	n += snprintf(out + n, sizeof(out) - n, "mapfiles=%s ", err(viamap >= 0));
	int fd = find_memfd("citadel");
	n += snprintf(out + n, sizeof(out) - n, "fd=%s ", fd >= 0 ? "found" : "none");
	if (fd >= 0) {
		void *m = mmap(NULL, pagelen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		n += snprintf(out + n, sizeof(out) - n, "mmapw=%s ", err(m != MAP_FAILED));
		n += snprintf(out + n, sizeof(out) - n, "pwrite=%s ", err(pwrite(fd, "EVIL", 4, 0) == 4));
		n += snprintf(out + n, sizeof(out) - n, "ftruncate=%s ", err(ftruncate(fd, 1) == 0));
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		int again = open(self, O_RDWR);
		n += snprintf(out + n, sizeof(out) - n, "reopen=%s ", err(again >= 0 && write(again, "EVIL", 4) == 4));
		int sealed = fcntl(fd, F_GET_SEALS);
		n += snprintf(out + n, sizeof(out) - n, "unseal=%s ",
			      err(fcntl(fd, F_ADD_SEALS, 0) == 0 && (fcntl(fd, F_GET_SEALS) & ~sealed)));
	}
	n += snprintf(out + n, sizeof(out) - n, "|%.16s", (const char *)req->data);
	return cit_respond(resp, out, n);
}

static int keeper(const struct cit_request *req, struct cit_response *resp)
{
	if (kept_fd >= 0) {
		char out[512];
		int n = snprintf(out, sizeof(out), "pwrite=%s ", err(pwrite(kept_fd, "EVIL", 4, 0) == 4));
		n += snprintf(out + n, sizeof(out) - (size_t)n, "ftruncate=%s ", err(ftruncate(kept_fd, 0) == 0));
		void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, kept_fd, 0);
		n += snprintf(out + n, sizeof(out) - (size_t)n, "mmapw=%s", err(m != MAP_FAILED));
		close(kept_fd);
		kept_fd = -1;
		return cit_respond(resp, out, (size_t)n);
	}
	/* Over 32 KiB: a data object (smaller outputs travel inline). */
	char *o = cit_output(resp, req->len + 65536);
	if (!o)
		return cit_fail(resp, -errno, "cit_output: %s", strerror(errno));
	memcpy(o, req->data, req->len);
	kept_fd = dup(find_memfd("citadel-output"));
	return kept_fd < 0 ? cit_fail(resp, -EIO, "no output memfd found") : CIT_OK;
}

static int map2(const struct cit_request *req, struct cit_response *resp)
{
	char *o = cit_output(resp, 65536);
	if (!o)
		return cit_fail(resp, -errno, "cit_output: %s", strerror(errno));
	kept_map = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, find_memfd("citadel-output"), 0);
	return kept_map == MAP_FAILED ? cit_fail(resp, -errno, "second mapping: %s", strerror(errno)) : CIT_OK;
}

int cit_handler(const struct cit_request *req, struct cit_response *resp)
{
	const char *mode = getenv("MODE") ? getenv("MODE") : "";
	char arg[64] = "";
	snprintf(arg, sizeof(arg), "%.*s", (int)(req->len < 63 ? req->len : 63), (const char *)req->data);
	if (!strcmp(mode, "consumer"))
		return consumer(req, resp);
	if (!strcmp(mode, "keeper"))
		return keeper(req, resp);
	if (!strcmp(mode, "map2"))
		return map2(req, resp);
	if (!strcmp(mode, "mover")) {
		static unsigned served;
		size_t pagelen = (req->len + 4095) & ~4095ul;
		void *to = mmap(NULL, pagelen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		void *moved = mremap((void *)req->data, pagelen, pagelen, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		return cit_respondf(resp, "%u %s", ++served, moved == MAP_FAILED ? "not moved" : "moved");
	}
	if (!strcmp(mode, "fdthief")) {
		static unsigned served;
		pthread_t th;
		thief_stop = 0;
		pthread_create(&th, NULL, thief, NULL);
		for (int i = 0; i < 50; i++) {
			struct cit_object in = { .data = "x", .len = 1 }, out;
			if (cit_invoke(getenv("CALLEE"), &in, &out) < 0)
				break;
		}
		thief_stop = 1;
		pthread_join(th, NULL);
		return cit_respondf(resp, "%u %d", ++served, thief_kept);
	}
	if (!strcmp(mode, "forge")) {
		struct cit_object o = { .ref = strtoull(arg, NULL, 10) };
		return cit_respond_object(resp, &o);
	}
	if (!strcmp(mode, "stale")) {
		if (!kept_ref) {
			kept_ref = req->input->ref;
			return cit_respondf(resp, "%llu", (unsigned long long)kept_ref);
		}
		struct cit_object o = { .ref = kept_ref };
		return cit_respond_object(resp, &o);
	}
	if (!strcmp(mode, "invoke")) {
		struct cit_object in = { .ref = strtoull(arg, NULL, 10) }, out;
		int rc = cit_invoke(getenv("CALLEE"), strcmp(arg, "input") ? &in : req->input, &out);
		if (rc < 0)
			return cit_fail(resp, rc, "invoke: %s", cit_invoke_error());
		return cit_respond(resp, out.data, out.len);
	}
	if (!strcmp(mode, "big")) {
		size_t size = strtoull(getenv("SIZE") ? getenv("SIZE") : "0", NULL, 10);
		char *o = cit_output(resp, size);
		if (!o)
			return cit_fail(resp, -errno, "cit_output: %s", strerror(errno));
		memset(o, 'x', size);
		return CIT_OK;
	}
	if (!strcmp(mode, "slow")) {
		struct timespec ts = { 0, 300 * 1000000L };
		nanosleep(&ts, NULL);
		return req->input->ref ? cit_respond_object(resp, req->input) : cit_respond(resp, req->data, req->len);
	}
	return cit_fail(resp, -22, "unknown MODE '%s'", mode);
}
