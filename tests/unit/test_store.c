/* The store process (src/store/main.c) through its client (src/state/store.c): records in
 * and out, scans a window at a time, LMDB's errors passed on as they were said, and what
 * the design is for: a store that is killed, crashes at every request, or lies is reaped
 * and started again, and the caller gets a clear -EIO, never a crash of its own.
 *
 * The store program: $CITADEL_STORE_PROGRAM, else CIT_STORE_PROGRAM. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state/store.h"
#include "tap.h"

#ifndef CIT_STORE_PROGRAM
#define CIT_STORE_PROGRAM "citadel-store"
#endif

extern char **environ;

static char program[PATH_MAX], dir[64], link_path[96];

static void key_of(uint8_t key[CIT_BACKEND_KEY_LEN], uint8_t ns, uint32_t i)
{
	memset(key, 0, CIT_BACKEND_KEY_LEN);
	key[0] = ns;
	key[32] = (uint8_t)(i >> 24), key[33] = (uint8_t)(i >> 16), key[34] = (uint8_t)(i >> 8), key[35] = (uint8_t)i;
}

/* Points the program the client starts (link_path) at target, atomically. */
static void point(const char *target)
{
	char tmp[128];
	snprintf(tmp, sizeof(tmp), "%s.new", link_path);
	unlink(tmp);
	if (symlink(target, tmp) < 0 || rename(tmp, link_path) < 0)
		perror("point");
}

static void script(const char *name, const char *text, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, 0755);
}

/* Runs the store program with argv (stdin /dev/null, stderr dropped); its exit status. */
static int run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int st = -1;
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) == 0)
		waitpid(pid, &st, 0);
	posix_spawn_file_actions_destroy(&fa);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Kills the store b runs and waits until it is gone (so that the next call finds it so). */
static void kill_store(struct cit_backend *b)
{
	pid_t pid = cit_store_pid(b);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	kill(pid, SIGKILL);
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	poll(&p, 1, 5000);
	close(pidfd);
}

struct seen {
	unsigned n, stop_at;
	uint32_t last;
	int in_order, contents;
};

static int each(const uint8_t *key, const uint8_t *record, size_t len, void *ctx)
{
	struct seen *s = ctx;
	uint32_t i = (uint32_t)key[32] << 24 | (uint32_t)key[33] << 16 | (uint32_t)key[34] << 8 | key[35];
	if (s->n && i <= s->last)
		s->in_order = 0;
	if (len != 100 + i % 50 || record[0] != (uint8_t)i || record[len - 1] != (uint8_t)i)
		s->contents = 0;
	s->last = i;
	return ++s->n == s->stop_at ? 7 : 0;
}

/* A custom spawner: posix_spawn with the channel as fd 0, every other fd past 2 closed. */
struct custom {
	pid_t pid;
	int spawns, reaps, status;
};

static int custom_spawn(void *ctx, char *const argv[], int chan, struct cit_error *err)
{
	struct custom *c = ctx;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, chan, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	int rc = posix_spawn(&c->pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return cit_error_set(err, -rc, "spawning %s", argv[0]);
	c->spawns++;
	return 0;
}

static void custom_reap(void *ctx)
{
	struct custom *c = ctx;
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &c->status, 0);
	c->reaps++;
}

static void test_args(void)
{
	char *none[] = { program, NULL }, *unknown[] = { program, "--path", "x", "--bogus", "1", NULL },
	     *novalue[] = { program, "--path", NULL }, *nan[] = { program, "--path", "x", "--map", "12abc", NULL },
	     *twice[] = { program, "--path", "x", "--path", "y", NULL },
	     *neg[] = { program, "--path", "x", "--map-max", "-1", NULL },
	     *nosock[] = { program, "--path", "x", NULL }, *help[] = { program, "--help", NULL };
	tap_ok(run(none) == 2 && run(unknown) == 2 && run(novalue) == 2 && run(nan) == 2 && run(twice) == 2 &&
		       run(neg) == 2, "citadel-store: bad arguments exit 2");
	tap_ok(run(nosock) == 2, "citadel-store: fd 0 not a socket exits 2");
	tap_ok(run(help) == 0, "citadel-store --help exits 0");
}

/* The store on a raw channel: it exits 0 on EOF and 1 on a frame it does not expect. */
static void test_raw(const char *path)
{
	int expect[2] = { 0, 1 }, got[2] = { -1, -1 };
	for (int t = 0; t < 2; t++) {
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
		struct custom c = { 0 };
		char *argv[] = { program, "--path", (char *)path, "--map", "0", "--map-max", "0", NULL };
		if (custom_spawn(&c, argv, sv[1], NULL) < 0)
			continue;
		close(sv[1]);
		uint8_t hello[12];
		if (recv(sv[0], hello, sizeof(hello), MSG_WAITALL) != 12 || cit_store_get32(hello) != CIT_STORE_HELLO)
			kill(c.pid, SIGKILL);
		if (t == 1) { /* a GET of 5 bytes */
			uint8_t bad[13] = { CIT_STORE_GET, 0, 0, 0, 5 };
			send(sv[0], bad, sizeof(bad), MSG_NOSIGNAL);
		}
		shutdown(sv[0], SHUT_WR);
		int st;
		waitpid(c.pid, &st, 0);
		got[t] = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		close(sv[0]);
	}
	tap_ok(got[0] == expect[0], "the store exits 0 on EOF (%d)", got[0]);
	tap_ok(got[1] == expect[1], "the store exits 1 on a malformed request (%d)", got[1]);
}

int main(void)
{
	const char *env = getenv("CITADEL_STORE_PROGRAM");
	if (!realpath(env && *env ? env : CIT_STORE_PROGRAM, program)) {
		printf("Bail out! no store program at %s\n", env && *env ? env : CIT_STORE_PROGRAM);
		return 1;
	}
	snprintf(dir, sizeof(dir), "/tmp/citadel-store-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	char path[128], small[128], crash[128], lie[128], lie_scan[128];
	snprintf(path, sizeof(path), "%s/state.mdb", dir);
	snprintf(small, sizeof(small), "%s/small.mdb", dir);
	snprintf(link_path, sizeof(link_path), "%s/store", dir);
	point(program);
	/* A store that starts, then dies at its first request; two that lie. */
	script("crash.sh", "#!/bin/sh\nprintf '\\020\\000\\000\\000\\004\\000\\000\\000\\001\\000\\000\\000' >&0\n"
			   "head -c 1 >/dev/null\nkill -KILL $$\n", crash, sizeof(crash));
	script("lie.sh", "#!/bin/sh\nprintf '\\020\\000\\000\\000\\004\\000\\000\\000\\001\\000\\000\\000' >&0\n"
			 "head -c 80 >/dev/null\nprintf '\\022\\000\\000\\000\\350\\003\\000\\000' >&0\n"
			 "exec head -c 1 >/dev/null\n", lie, sizeof(lie));
	/* A scan's ENTRY whose key (all 0xee) is outside the prefix asked for. */
	char lie_text[1024] = "#!/bin/sh\nprintf '\\020\\000\\000\\000\\004\\000\\000\\000\\001\\000\\000\\000' >&0\n"
			      "head -c 9 >/dev/null\nprintf '\\023\\000\\000\\000\\100\\000\\000\\000";
	for (int i = 0; i < 64; i++)
		strcat(lie_text, "\\356");
	strcat(lie_text, "' >&0\nexec head -c 1 >/dev/null\n");
	script("lie-scan.sh", lie_text, lie_scan, sizeof(lie_scan));

	test_args();
	test_raw(path);

	struct cit_error err = { 0 };
	struct cit_backend *b = NULL;
	struct cit_store_opts o = { .program = "/bin/false", .path = path, .map_bytes = 1u << 20, .map_max = 64u << 20 };
	tap_ok(cit_store_open(&b, &o, &err) == -EIO && strstr(err.msg, "ended before it was ready"),
	       "a store that ends at once: %s", err.msg);
	o.program = "/nonexistent/citadel-store";
	tap_ok(cit_store_open(&b, &o, &err) == -ENOENT, "no store program: %s", err.msg);
	o.program = link_path;
	o.path = "/nonexistent/dir/state.mdb";
	tap_ok(cit_store_open(&b, &o, &err) == -ENOENT && strstr(err.msg, "/nonexistent/dir/state.mdb"),
	       "LMDB's error on opening, as the store said it: %s", err.msg);
	o.path = path;
	err = (struct cit_error){ 0 };
	tap_ok(cit_store_open(&b, &o, &err) == 0 && cit_store_pid(b) > 0, "opened: %s", err.msg);

	/* Records in and out. */
	static uint8_t rec[CIT_BACKEND_RECORD_MAX + 1], out[CIT_BACKEND_RECORD_MAX];
	memset(rec, 'r', sizeof(rec));
	size_t len = 0;
	struct cit_kv_op ops[3];
	for (uint32_t i = 0; i < 3; i++) {
		ops[i] = (struct cit_kv_op){ .kind = CIT_KV_PUT, .record = rec, .len = 100 + i };
		key_of(ops[i].key, 1, i);
	}
	err = (struct cit_error){ 0 };
	tap_ok(cit_backend_apply(b, ops, 3, &err) == 0, "a batch of three puts: %s", err.msg);
	tap_ok(cit_backend_get(b, ops[2].key, out, sizeof(out), &len, &err) == 0 && len == 102 && out[0] == 'r',
	       "a record read back");
	len = 0;
	int rc = cit_backend_get(b, ops[2].key, out, 10, &len, &err);
	tap_ok(rc == -ENOBUFS && len == 102, "a buffer too small: -ENOBUFS and the length needed (%zu)", len);
	uint8_t none[CIT_BACKEND_KEY_LEN];
	key_of(none, 1, 9);
	tap_ok(cit_backend_get(b, none, out, sizeof(out), &len, &err) == -ENOENT, "no such key: -ENOENT");
	struct cit_kv_op del = { .kind = CIT_KV_DEL };
	memcpy(del.key, ops[0].key, CIT_BACKEND_KEY_LEN);
	tap_ok(cit_backend_apply(b, &del, 1, &err) == 0 && cit_backend_apply(b, &del, 1, &err) == 0 &&
		       cit_backend_get(b, ops[0].key, out, sizeof(out), &len, &err) == -ENOENT,
	       "deleted (twice: no error)");
	struct cit_kv_op over = { .kind = CIT_KV_PUT, .record = rec, .len = CIT_BACKEND_RECORD_MAX + 1 };
	tap_ok(cit_backend_apply(b, &over, 1, &err) == -EMSGSIZE, "a record over the limit: %s", err.msg);

	/* A record of 1 MiB, and one of the most a record may be. */
	for (size_t i = 0; i < sizeof(rec); i++)
		rec[i] = (uint8_t)(i * 7 + i / 4096);
	struct cit_kv_op big[2] = { { .kind = CIT_KV_PUT, .record = rec, .len = 1u << 20 },
				    { .kind = CIT_KV_PUT, .record = rec, .len = CIT_BACKEND_RECORD_MAX } };
	key_of(big[0].key, 4, 0);
	key_of(big[1].key, 4, 1);
	err = (struct cit_error){ 0 };
	tap_ok(cit_backend_apply(b, big, 2, &err) == 0, "records of 1 and 16 MiB written: %s", err.msg);
	tap_ok(cit_backend_get(b, big[0].key, out, sizeof(out), &len, &err) == 0 && len == 1u << 20 &&
		       !memcmp(out, rec, len), "1 MiB read back");
	tap_ok(cit_backend_get(b, big[1].key, out, sizeof(out), &len, &err) == 0 && len == CIT_BACKEND_RECORD_MAX &&
		       !memcmp(out, rec, len), "16 MiB read back");

	/* 1000 records, scanned across windows; and a scan its callback stops. */
	static struct cit_kv_op many[1000];
	static uint8_t recs[1000][150];
	for (uint32_t i = 0; i < 1000; i++) {
		memset(recs[i], (uint8_t)i, sizeof(recs[i]));
		many[i] = (struct cit_kv_op){ .kind = CIT_KV_PUT, .record = recs[i], .len = 100 + i % 50 };
		key_of(many[i].key, 5, i);
	}
	err = (struct cit_error){ 0 };
	tap_ok(cit_backend_apply(b, many, 1000, &err) == 0, "1000 records in one batch: %s", err.msg);
	uint8_t ns5 = 5;
	struct seen s = { .in_order = 1, .contents = 1 };
	rc = cit_backend_scan(b, &ns5, 1, each, &s, &err);
	tap_ok(rc == 0 && s.n == 1000 && s.in_order && s.contents, "a scan of 1000 records: %u, in order, intact: %s",
	       s.n, err.msg);
	s = (struct seen){ .in_order = 1, .contents = 1, .stop_at = 700 };
	tap_ok(cit_backend_scan(b, &ns5, 1, each, &s, &err) == 7 && s.n == 700,
	       "a scan its callback stops at 700 returns its value");
	tap_ok(cit_backend_get(b, ops[1].key, out, sizeof(out), &len, &err) == 0 && len == 101 &&
		       cit_store_restarts(b) == 0, "the channel is in step after it (no restart)");
	struct cit_kv_op wipe[1000];
	for (int i = 0; i < 1000; i++) {
		wipe[i] = (struct cit_kv_op){ .kind = CIT_KV_DEL };
		memcpy(wipe[i].key, many[i].key, CIT_BACKEND_KEY_LEN);
	}
	s = (struct seen){ 0 };
	tap_ok(cit_backend_apply(b, wipe, 1000, &err) == 0 && cit_backend_scan(b, &ns5, 1, each, &s, &err) == 0 &&
		       s.n == 0, "1000 deletes in one batch: the namespace is empty");

	/* Killed between calls: the next call is served by another store. */
	pid_t first = cit_store_pid(b);
	kill_store(b);
	rc = cit_backend_get(b, ops[1].key, out, sizeof(out), &len, &err);
	tap_ok(rc == 0 && len == 101 && cit_store_restarts(b) == 1 && cit_store_pid(b) != first,
	       "SIGKILLed store: the next get succeeds, restarts %u", cit_store_restarts(b));
	kill_store(b);
	struct cit_kv_op again = { .kind = CIT_KV_PUT, .record = rec, .len = 33 };
	key_of(again.key, 1, 7);
	tap_ok(cit_backend_apply(b, &again, 1, &err) == 0 && cit_store_restarts(b) == 2 &&
		       cit_backend_get(b, again.key, out, sizeof(out), &len, &err) == 0 && len == 33,
	       "SIGKILLed store: the next apply succeeds");

	/* A store that dies at every request (a damaged file would do it): -EIO, and we live. */
	point(crash);
	kill_store(b);
	err = (struct cit_error){ 0 };
	tap_ok(cit_backend_apply(b, &again, 1, &err) == -EIO && strstr(err.msg, "ended twice") &&
		       strstr(err.msg, "signal 9") && cit_store_restarts(b) == 3,
	       "a store crashing at every request: %s", err.msg);
	rc = cit_backend_get(b, again.key, out, sizeof(out), &len, &err);
	tap_ok(rc == -EIO && strstr(err.msg, "ended twice") && cit_store_restarts(b) == 5,
	       "again on the next call (restarts %u)", cit_store_restarts(b));
	point("/bin/false");
	tap_ok(cit_backend_get(b, again.key, out, sizeof(out), &len, &err) == -EIO && strstr(err.msg, "ended twice") &&
		       strstr(err.msg, "status 1"), "a store that ends before it is ready: %s", err.msg);
	point(lie);
	tap_ok(cit_backend_get(b, again.key, out, 10, &len, &err) == -EIO && strstr(err.msg, "ended twice") &&
		       strstr(err.msg, "a record of 1000 bytes for a buffer of 10"), "a store that lies: %s", err.msg);
	point(lie_scan);
	s = (struct seen){ 0 };
	tap_ok(cit_backend_scan(b, &ns5, 1, each, &s, &err) == -EIO && strstr(err.msg, "during a scan") &&
		       strstr(err.msg, "outside its prefix") && s.n == 0, "a scan's lie: %s", err.msg);
	point(program);
	unsigned before = cit_store_restarts(b);
	tap_ok(cit_backend_get(b, again.key, out, sizeof(out), &len, &err) == 0 && len == 33 &&
		       cit_store_restarts(b) == before + 1, "the store repaired: the acknowledged writes are there");
	cit_backend_close(b);

	/* A full map: LMDB's ENOSPC and its message, as the store said them. */
	struct custom c = { 0 };
	struct cit_store_opts so = { .program = program, .path = small, .map_bytes = 1u << 20, .map_max = 4u << 20,
				     .spawn = custom_spawn, .reap = custom_reap, .ctx = &c };
	err = (struct cit_error){ 0 };
	tap_ok(cit_store_open(&b, &so, &err) == 0 && cit_store_pid(b) == 0 && c.spawns == 1,
	       "opened with a custom spawner: %s", err.msg);
	rc = 0;
	uint32_t put = 0;
	for (uint32_t i = 0; i < 2000 && rc == 0; i++) {
		struct cit_kv_op p = { .kind = CIT_KV_PUT, .record = rec, .len = 4096 };
		key_of(p.key, 3, i);
		rc = cit_backend_apply(b, &p, 1, &err);
		put += rc == 0;
	}
	tap_ok(rc == -ENOSPC && err.code == -ENOSPC && strstr(err.msg, small) && strstr(err.msg, "full") &&
		       strstr(err.msg, "4 MiB") && put > 300, "after %u records: %s", put, err.msg);
	uint8_t k0[CIT_BACKEND_KEY_LEN];
	key_of(k0, 3, 0);
	tap_ok(cit_backend_get(b, k0, out, sizeof(out), &len, &err) == 0 && len == 4096 && cit_store_restarts(b) == 0,
	       "a full store still reads");
	cit_backend_close(b);
	tap_ok(c.reaps == 1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
	       "closed: the store exited 0 on EOF, then was reaped");
	tap_ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "no child left unreaped");

	unlink(path);
	unlink(small);
	unlink(crash);
	unlink(lie);
	unlink(lie_scan);
	unlink(link_path);
	rmdir(dir);
	return tap_done();
}
