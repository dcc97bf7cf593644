#include "sandbox/context.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fdutil.h"
#include "common/text.h"
#include "common/util.h"

#ifndef PR_GET_MDWE
#define PR_GET_MDWE 66
#endif
#ifndef PR_GET_MEMORY_MERGE
#define PR_GET_MEMORY_MERGE 68
#endif
#ifndef SYS_lsm_get_self_attr
#define SYS_lsm_get_self_attr 459
#endif
#define LSM_ATTR_CURRENT 100
#define SCHED_FLAG_RESET_ON_FORK_ 0x01
#define KEYCTL_GET_KEYRING_ID_ 0
#define KEY_SPEC_SESSION_KEYRING_ (-3)
#define IOPRIO_WHO_PROCESS_ 1
#define PF_KTHREAD_ 0x00200000UL                        /* linux/sched.h */
#define PF_IO_FLUSHER_ (0x00080000UL | 0x00100000UL)   /* PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE */

/* Reads a small file of /proc/self (dirfd proc) into buf, without its last newline. */
static ssize_t read_at(int proc, const char *name, char *buf, size_t cap)
{
	_cleanup_close_ int fd = openat(proc, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t got = 0;
	for (ssize_t n; got + 1 < cap && (n = read(fd, buf + got, cap - 1 - got)) != 0; got += n > 0 ? (size_t)n : 0)
		if (n < 0 && errno != EINTR)
			return -errno;
	if (got + 1 >= cap)
		return -E2BIG;
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	buf[got] = '\0';
	return (ssize_t)got;
}

/* Field 9 (flags) of a /proc/PID/stat text, read after the command name's ")". */
static bool stat_flags(const char *stat, unsigned long *flags)
{
	const char *p = strrchr(stat, ')');
	for (int field = 2; p && field < 9; field++)
		p = strchr(p + 1, ' ');
	return p && sscanf(p + 1, "%lu", flags) == 1;
}

/* ---- the settings, one writer each ----------------------------------------------- */

struct ctx {
	struct cit_text t;
	int proc;                 /* borrowed: /proc/self */
	struct cit_error *err;
};

/* A bit mask as hex words, only the words that are not zero (CPU and node sets). */
static void put_mask(struct cit_text *t, const char *name, const unsigned long *words, size_t n)
{
	cit_text_put(t, "%s", name);
	for (size_t i = 0; i < n; i++)
		if (words[i])
			cit_text_put(t, "\t%zu:%lx", i, words[i]);
	cit_text_put(t, "\n");
}

/* Credentials (all four ids, groups), umask, no_new_privs, the seccomp mode (which must
 * be 0: a filter cannot be compared), the five capability sets, the CPUs and memory
 * nodes allowed. System calls rather than /proc/self/status: a new process reads that in
 * twice the time. */
static int w_creds(struct ctx *c)
{
	long seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
	if (seccomp != 0)
		return cit_error_set(c->err, -EPERM, "the caller has a seccomp filter");
	uid_t u[3];
	gid_t g[3];
	if (getresuid(&u[0], &u[1], &u[2]) < 0 || getresgid(&g[0], &g[1], &g[2]) < 0)
		return cit_error_set(c->err, -errno, "getresuid");
	/* An invalid id changes nothing and returns the current one. */
	unsigned fsuid = (unsigned)setfsuid((uid_t)-1), fsgid = (unsigned)setfsgid((gid_t)-1);
	cit_text_put(&c->t, "uid\t%u %u %u %u\ngid\t%u %u %u %u\ngroups", u[0], u[1], u[2], fsuid, g[0], g[1],
		     g[2], fsgid);
	gid_t groups[256];
	int n = getgroups(ARRAY_SIZE(groups), groups);
	if (n < 0) /* more than that: such a caller is not matched */
		return cit_error_set(c->err, -EPERM, "the caller has more than %zu groups", ARRAY_SIZE(groups));
	for (int i = 0; i < n; i++)
		cit_text_put(&c->t, " %u", groups[i]);
	mode_t mask = umask(022);
	umask(mask);
	cit_text_put(&c->t, "\numask\t%o\nno_new_privs\t%d\n", (unsigned)mask, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	struct {
		uint32_t version;
		int pid;
	} head = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
	struct {
		uint32_t effective, permitted, inheritable;
	} caps[2];
	if (syscall(SYS_capget, &head, caps) < 0)
		return cit_error_set(c->err, -errno, "capget");
	uint64_t eff = caps[0].effective | (uint64_t)caps[1].effective << 32,
		 prm = caps[0].permitted | (uint64_t)caps[1].permitted << 32,
		 inh = caps[0].inheritable | (uint64_t)caps[1].inheritable << 32, bnd = 0, amb = 0;
	for (unsigned cap = 0; cap < 64; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0) /* EINVAL: past the last capability */
			break;
		bnd |= (uint64_t)(in > 0) << cap;
		/* The ambient set is within both the permitted and the inheritable ones. */
		if ((prm & inh) >> cap & 1)
			amb |= (uint64_t)(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0) << cap;
	}
	cit_text_put(&c->t, "caps\t%llx %llx %llx %llx %llx\n", (unsigned long long)eff, (unsigned long long)prm,
		     (unsigned long long)inh, (unsigned long long)bnd, (unsigned long long)amb);
	unsigned long set[128] = { 0 }; /* 8192 CPUs or nodes */
	if (sched_getaffinity(0, sizeof(set), (cpu_set_t *)set) < 0)
		return cit_error_set(c->err, -errno, "sched_getaffinity");
	put_mask(&c->t, "cpus", set, ARRAY_SIZE(set));
	int mode = 0;
	memset(set, 0, sizeof(set));
	if (syscall(SYS_get_mempolicy, &mode, set, sizeof(set) * 8, NULL, 4UL /* MPOL_F_MEMS_ALLOWED */) < 0)
		return cit_error_set(c->err, -errno, "get_mempolicy");
	put_mask(&c->t, "mems", set, ARRAY_SIZE(set));
	return 0;
}

/* The root directory (a chroot shows another view, though in the same namespaces). */
static int w_root(struct ctx *c)
{
	struct stat st;
	if (stat("/", &st) < 0)
		return cit_error_set(c->err, -errno, "/");
	cit_text_put(&c->t, "root\t%llx:%llu\n", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	return 0;
}

/* One namespace of this process by its inode number (held by the process while it
 * lives, so not reused meanwhile), 0 for a kind the kernel lacks: through the pidfd's
 * ioctl (Linux 6.11; no /proc lookup, a third of the cost in a new process), else the
 * /proc/self/ns link. */
static int ns_inode(struct ctx *c, int pidfd, unsigned nr, const char *name, unsigned long long *ino)
{
	*ino = 0;
	int fd = pidfd < 0 ? -1 : ioctl(pidfd, _IO(0xFF, nr), 0); /* PIDFD_GET_<name>_NAMESPACE */
	struct stat st;
	if (fd >= 0) {
		int rc = fstat(fd, &st);
		close(fd);
		if (rc < 0)
			return cit_error_set(c->err, -errno, "namespace %s", name);
		*ino = (unsigned long long)st.st_ino;
		return 0;
	}
	if (pidfd >= 0 && errno != ENOTTY && errno != EINVAL)
		return errno == EOPNOTSUPP ? 0 : cit_error_set(c->err, -errno, "namespace %s", name);
	char path[64], link[64];
	snprintf(path, sizeof(path), "ns/%s", name);
	ssize_t n = readlinkat(c->proc, path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == ENOENT ? 0 : cit_error_set(c->err, -errno, "/proc/self/%s", path);
	link[n] = '\0';
	const char *open = strchr(link, '[');
	if (!open || sscanf(open, "[%llu]", ino) != 1)
		return cit_error_set(c->err, -EINVAL, "/proc/self/%s is %s", path, link);
	return 0;
}

/* Namespaces, those a sandbox's own hang below or are copied from: cgroup, mnt, net (the
 * sandbox's with --net host; a new one may copy its settings, devconf_inherit_init_net
 * 3), the pid and time namespaces for children (the sandbox's pid namespace is made in
 * the first, it lives in the second), user, uts (a new one copies the domain name). Not
 * ipc: a new IPC namespace takes nothing from its creator's. Nor the maker's own pid and
 * time namespaces, which reach no child (cit_context_keeper_ok). */
static int w_namespaces(struct ctx *c)
{
	static const struct {
		unsigned nr; /* PIDFD_GET_<name>_NAMESPACE */
		const char *name;
	} ns[] = { { 1, "cgroup" }, { 3, "mnt" }, { 4, "net" }, { 6, "pid_for_children" },
		   { 8, "time_for_children" }, { 9, "user" }, { 10, "uts" } };
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		unsigned long long ino;
		int rc = ns_inode(c, pidfd, ns[i].nr, ns[i].name, &ino);
		if (rc < 0)
			return rc;
		cit_text_put(&c->t, "ns\t%s\t%llu\n", ns[i].name, ino);
	}
	return 0;
}

bool cit_context_keeper_ok(void)
{
	struct ctx c = { .err = NULL };
	c.proc = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	unsigned long long ino[4] = { 0 };
	static const unsigned nr[4] = { 5, 6, 7, 8 }; /* pid, pid_for_children, time, time_for_children */
	static const char *const names[4] = { "pid", "pid_for_children", "time", "time_for_children" };
	bool same = c.proc >= 0;
	for (size_t i = 0; i < 4 && same; i++)
		same = ns_inode(&c, pidfd, nr[i], names[i], &ino[i]) == 0;
	if (c.proc >= 0)
		close(c.proc);
	if (!same || ino[0] != ino[1] || ino[2] != ino[3])
		return false;
	/* Landlock: pid 2 must be a kernel thread whose namespace link we may read. */
	char stat[512], link[64];
	unsigned long flags = 0;
	return cit_read_file("/proc/2/stat", stat, sizeof(stat)) > 0 && stat_flags(stat, &flags) &&
	       (flags & PF_KTHREAD_) && readlink("/proc/2/ns/mnt", link, sizeof(link)) > 0;
}

static int w_rlimits(struct ctx *c)
{
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit rl;
		if (getrlimit((__rlimit_resource_t)r, &rl) < 0)
			return cit_error_set(c->err, -errno, "getrlimit");
		cit_text_put(&c->t, "rlimit\t%d\t%llu\t%llu\n", r, (unsigned long long)rl.rlim_cur,
			     (unsigned long long)rl.rlim_max);
	}
	return 0;
}

/* prctl's inherited settings, those of other architectures where they exist. */
static int w_prctl(struct ctx *c)
{
	static const struct {
		const char *name;
		int op;
		unsigned long arg2;
		bool out; /* the value comes back through an int pointer in arg2 */
	} gets[] = {
		{ "securebits", PR_GET_SECUREBITS, 0, false },
		{ "timerslack", PR_GET_TIMERSLACK, 0, false },
		{ "thp_disable", PR_GET_THP_DISABLE, 0, false },
		{ "mdwe", PR_GET_MDWE, 0, false },
		{ "memory_merge", PR_GET_MEMORY_MERGE, 0, false },
		{ "spec_store_bypass", PR_GET_SPECULATION_CTRL, PR_SPEC_STORE_BYPASS, false },
		{ "spec_indirect_branch", PR_GET_SPECULATION_CTRL, PR_SPEC_INDIRECT_BRANCH, false },
		{ "spec_l1d_flush", PR_GET_SPECULATION_CTRL, PR_SPEC_L1D_FLUSH, false },
#if defined(__x86_64__) || defined(__i386__)
		{ "tsc", PR_GET_TSC, 0, true },
#endif
#if defined(__aarch64__) || defined(__riscv)
		{ "tagged_addr", PR_GET_TAGGED_ADDR_CTRL, 0, false },
		{ "sve_vl", PR_SVE_GET_VL, 0, false },
		{ "sme_vl", PR_SME_GET_VL, 0, false },
#endif
#if defined(__mips__)
		{ "fp_mode", PR_GET_FP_MODE, 0, false },
#endif
#if defined(__powerpc__) || defined(__alpha__) || defined(__hppa__) || defined(__sh__) || defined(__ia64__)
		{ "unalign", PR_GET_UNALIGN, 0, true },
		{ "endian", PR_GET_ENDIAN, 0, true },
		{ "fpemu", PR_GET_FPEMU, 0, true },
		{ "fpexc", PR_GET_FPEXC, 0, true },
#endif
	};
	for (size_t i = 0; i < ARRAY_SIZE(gets); i++) {
		int v = 0;
		long r = prctl(gets[i].op, gets[i].out ? (unsigned long)&v : gets[i].arg2, 0, 0, 0);
		cit_text_put(&c->t, "prctl\t%s\t%ld\t%d\n", gets[i].name, r < 0 ? -(long)errno : r, v);
	}
	/* The core-scheduling cookie: tasks with the same one may share a core. */
	uint64_t cookie = 0;
	long r = prctl(PR_SCHED_CORE, PR_SCHED_CORE_GET, 0, 0 /* PIDTYPE_PID */, (unsigned long)&cookie);
	cit_text_put(&c->t, "prctl\tsched_core\t%ld\t%llu\n", r < 0 ? -(long)errno : r, (unsigned long long)cookie);
	/* An I/O flusher (PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE): prctl tells only holders of
	 * CAP_SYS_RESOURCE, /proc/self/stat's flags anyone. */
	r = prctl(PR_GET_IO_FLUSHER, 0, 0, 0, 0);
	if (r < 0 && errno == EPERM) {
		char stat[1024];
		unsigned long flags = 0;
		if (read_at(c->proc, "stat", stat, sizeof(stat)) < 0 || !stat_flags(stat, &flags))
			return cit_error_set(c->err, -EIO, "reading /proc/self/stat");
		r = (flags & PF_IO_FLUSHER_) == PF_IO_FLUSHER_;
	}
	cit_text_put(&c->t, "prctl\tio_flusher\t%ld\n", r < 0 ? -(long)errno : r);
	cit_text_put(&c->t, "personality\t%x\n", (unsigned)personality(0xffffffff));
#ifdef __x86_64__
	/* AMX permission, the LAM untag mask, shadow stack features. */
	static const unsigned arch[] = { 0x1022 /* ARCH_GET_XCOMP_PERM */, 0x4001 /* ARCH_GET_UNTAG_MASK */,
					 0x5005 /* ARCH_SHSTK_STATUS */ };
	for (size_t i = 0; i < ARRAY_SIZE(arch); i++) {
		uint64_t v = 0;
		r = syscall(SYS_arch_prctl, arch[i], &v);
		cit_text_put(&c->t, "arch_prctl\t%x\t%ld\t%llx\n", arch[i], r < 0 ? -(long)errno : r, (unsigned long long)v);
	}
#endif
	return 0;
}

/* The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1), which this libc may lack. */
struct sched_attr_ {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

/* Scheduling (policy, nice, real-time priority, deadline, utilisation clamps), I/O
 * priority and NUMA memory policy. A policy reset on fork reaches the sandbox as another
 * one than the maker's, so such a maker cannot be matched. */
static int w_sched(struct ctx *c)
{
	struct sched_attr_ a = { 0 };
	if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0)
		return cit_error_set(c->err, -errno, "sched_getattr");
	if (a.flags & SCHED_FLAG_RESET_ON_FORK_)
		return cit_error_set(c->err, -EPERM, "the caller's scheduling policy is reset on fork");
	cit_text_put(&c->t, "sched\t%u\t%llx\t%d\t%u\t%llu\t%llu\t%llu\t%u\t%u\n", a.policy, (unsigned long long)a.flags,
		     a.nice, a.priority, (unsigned long long)a.runtime, (unsigned long long)a.deadline,
		     (unsigned long long)a.period, a.util_min, a.util_max);
	long io = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS_, 0);
	cit_text_put(&c->t, "ioprio\t%ld\n", io < 0 ? -(long)errno : io);
	int mode = 0;
	unsigned long nodes[64] = { 0 };
	long r = syscall(SYS_get_mempolicy, &mode, nodes, sizeof(nodes) * 8, NULL, 0UL);
	cit_text_put(&c->t, "mempolicy\t%ld\t%d", r < 0 ? -(long)errno : r, mode);
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++)
		if (nodes[i])
			cit_text_put(&c->t, "\t%zu:%lx", i, nodes[i]);
	cit_text_put(&c->t, "\n");
	return 0;
}

/* Small files of /proc/self: the OOM killer's bias, the audit
 * login uid and session, and every cgroup (one line each). */
static int w_proc_files(struct ctx *c)
{
	static const char *const files[] = { "oom_score_adj", "loginuid", "sessionid", "cgroup" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char buf[8192];
		ssize_t n = read_at(c->proc, files[i], buf, sizeof(buf));
		if (n == -ENOENT) /* a kernel without audit */
			buf[0] = '\0';
		else if (n < 0)
			return cit_error_set(c->err, (int)n, "/proc/self/%s", files[i]);
		for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			cit_text_put(&c->t, "%s\t%s\n", files[i], line);
	}
	return 0;
}

/* The LSMs' labels (lsm_get_self_attr, Linux 6.8; /proc/self/attr/current before), and
 * the session keyring, inherited by fork. A label's bytes are written as hex. */
static int w_labels(struct ctx *c)
{
	uint64_t buf[512];
	uint32_t size = sizeof(buf);
	long n = syscall(SYS_lsm_get_self_attr, LSM_ATTR_CURRENT, buf, &size, 0);
	if (n < 0 && errno == ENOSYS) {
		char label[1024];
		ssize_t k = read_at(c->proc, "attr/current", label, sizeof(label));
		cit_text_put(&c->t, "lsm\tattr\t%s\n", k < 0 ? "-" : label);
	} else if (n < 0) {
		cit_text_put(&c->t, "lsm\t%d\n", -errno);
	} else {
		/* struct lsm_ctx: id, flags, len (of the whole entry), ctx_len, ctx[] */
		const unsigned char *p = (const unsigned char *)buf, *end = p + (size < sizeof(buf) ? size : sizeof(buf));
		for (long i = 0; i < n && end - p >= 32; i++) {
			uint64_t h[4];
			memcpy(h, p, sizeof(h));
			if (h[2] < 32 || h[2] > (uint64_t)(end - p) || h[3] > h[2] - 32)
				return cit_error_set(c->err, -EPROTO, "lsm_get_self_attr");
			cit_text_put(&c->t, "lsm\t%llu\t", (unsigned long long)h[0]);
			for (uint64_t j = 0; j < h[3]; j++)
				cit_text_put(&c->t, "%02x", p[32 + j]);
			cit_text_put(&c->t, "\n");
			p += h[2];
		}
	}
	long key = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID_, KEY_SPEC_SESSION_KEYRING_, 0);
	cit_text_put(&c->t, "keyring\t%ld\n", key < 0 ? -(long)errno : key);
	return 0;
}

/* The cheap refusal first: a seccomp filter. */
static int (*const writers[])(struct ctx *c) = {
	w_creds, w_namespaces, w_root, w_rlimits, w_prctl, w_sched, w_proc_files, w_labels,
};

int cit_context_write(char *out, size_t cap, struct cit_error *err)
{
	struct ctx c = { .t = { .out = out, .cap = cap }, .err = err };
	c.proc = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c.proc < 0)
		return cit_error_set(err, -errno, "/proc/self");
	int rc = 0;
	for (size_t i = 0; i < ARRAY_SIZE(writers) && rc == 0; i++)
		rc = writers[i](&c);
	close(c.proc);
	if (rc == 0 && c.t.full)
		rc = cit_error_set(err, -E2BIG, "the caller's context is too long to write down");
	return rc < 0 ? rc : (int)c.t.n;
}
