/* Compiling the policy table with libseccomp: used at build time (tools/gen_seccomp.c)
 * and by the tests, never by citadel at run time, which installs the compiled program. */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/policy.h"

static uint32_t action_of(const struct cit_sc_rule *r)
{
	switch (r->verdict) {
	case CIT_SC_ALLOW: return SCMP_ACT_ALLOW;
	case CIT_SC_ERRNO: return SCMP_ACT_ERRNO((uint16_t)r->err);
	case CIT_SC_KILL: return SCMP_ACT_KILL_PROCESS;
	default: return SCMP_ACT_KILL_PROCESS;
	}
}

static int add_rule(scmp_filter_ctx ctx, const struct cit_sc_rule *r, uint32_t def, struct cit_error *err)
{
	/* A row that says what the default says documents a choice; libseccomp refuses it. */
	if (action_of(r) == def && r->n_cond == 0)
		return 0;
	int nr = seccomp_syscall_resolve_name(r->syscall);
	if (nr < 0)
		return 0; /* unknown, or a pseudo-call not on this architecture: denied by default */
	struct scmp_arg_cmp cmp[CIT_SC_MAX_COND];
	for (unsigned i = 0; i < r->n_cond; i++) {
		const struct cit_sc_cond *c = &r->cond[i];
		cmp[i] = (struct scmp_arg_cmp){ .arg = c->arg, .datum_a = c->datum };
		if (c->mask) {
			if (c->op != CIT_SC_EQ)
				return cit_error_set(err, -EINVAL, "seccomp row %s: a masked test must be EQ", r->syscall);
			cmp[i].op = SCMP_CMP_MASKED_EQ;
			cmp[i].datum_a = c->mask;
			cmp[i].datum_b = c->datum;
		} else {
			cmp[i].op = c->op == CIT_SC_NE ? SCMP_CMP_NE : SCMP_CMP_EQ;
		}
	}
	int rc = seccomp_rule_add_exact_array(ctx, action_of(r), nr, r->n_cond, cmp);
	if (rc < 0)
		return cit_error_set(err, rc, "seccomp row %s", r->syscall);
	return 0;
}

static int compile_table(const struct cit_sc_rule *rules, size_t n, uint32_t def, struct cit_bpf *out,
			 struct cit_error *err)
{
	memset(out, 0, sizeof(*out));
	scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx)
		return cit_error_set(err, -ENOMEM, "seccomp_init");
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc < 0) {
		seccomp_release(ctx);
		return cit_error_set(err, rc, "seccomp_attr_set");
	}
	for (size_t i = 0; i < n; i++) {
		rc = add_rule(ctx, &rules[i], def, err);
		if (rc < 0) {
			seccomp_release(ctx);
			return rc;
		}
	}
	/* Export through a memfd: libseccomp 2.5 writes the program to an fd. */
	int fd = memfd_create("citadel-bpf", MFD_CLOEXEC);
	if (fd < 0) {
		rc = cit_error_set(err, -errno, "memfd_create");
		seccomp_release(ctx);
		return rc;
	}
	rc = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	off_t size = rc < 0 ? -1 : lseek(fd, 0, SEEK_END);
	if (rc < 0 || size <= 0 || size % (off_t)sizeof(struct sock_filter)) {
		close(fd);
		return cit_error_set(err, rc < 0 ? rc : -EIO, "exporting the seccomp program");
	}
	out->insns = malloc((size_t)size);
	if (!out->insns) {
		close(fd);
		return cit_error_set(err, -ENOMEM, "seccomp program");
	}
	ssize_t got = pread(fd, out->insns, (size_t)size, 0);
	close(fd);
	if (got != size) {
		cit_bpf_free(out);
		return cit_error_set(err, -EIO, "reading back the seccomp program");
	}
	out->len = (size_t)size / sizeof(struct sock_filter);
	return 0;
}


int cit_seccomp_compile(struct cit_bpf *out, struct cit_error *err)
{
	size_t n;
	const struct cit_sc_rule *rules = cit_policy_rules(&n);
	return compile_table(rules, n, SCMP_ACT_ERRNO(CIT_SC_DEFAULT_ERRNO), out, err);
}

/* The trustlet layer's pid rows, as a prefix of its own in front of what libseccomp made
 * of the other rows. The prefix only refuses: a call it does not refuse goes on to the
 * rest of the program, which is self-contained (it checks the architecture and loads the
 * call number again). Calls whose rows are alike share one block of checks, so that the
 * layer stays short (the kernel compiles every filter a trustlet installs, at its start):
 *      ld  arch; jeq NATIVE, 1, 0; ja REST        other architectures: to the rest,
 *      ld  nr                                     which refuses them (x32 numbers too:
 *      jeq NR1, BLOCK(NR1); ...; ja REST          no row names one)
 * BLOCK, per row of the call:
 *     [ld  lo(when); jeq CMD, 0, next]            fcntl: only for F_SETOWN
 *      ld  hi(arg); jeq 0, 0, deny                the kernel reads 32 bits: any upper
 *      ld  lo(arg); [jeq 0, next]; jeq SELF, next, deny    half but 0 is refused
 *  then: ja REST; deny: ret ERRNO(err) */
#define INSN(c, t, f, kk) ((struct sock_filter){ .code = (c), .jt = (t), .jf = (f), .k = (kk) })
#define ARG_LO(i) ((uint32_t)offsetof(struct seccomp_data, args[i]))
#define ARG_HI(i) (ARG_LO(i) + 4)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the pid rows load the halves of an argument as a little-endian machine lays them out"
#endif
#define MAX_PID_CALLS 64

struct pid_call {
	int nr;
	size_t first, n;          /* its rows: rows[first .. first + n) (adjacent in the table) */
	size_t block;             /* index of the call whose block it shares */
	size_t at;                /* its block's first instruction */
};

static bool rows_alike(const struct cit_sc_pid_rule *a, const struct cit_sc_pid_rule *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].arg != b[i].arg || a[i].zero_self != b[i].zero_self || a[i].when_arg != b[i].when_arg ||
		    a[i].when_cmd != b[i].when_cmd || a[i].err != b[i].err)
			return false;
	return true;
}

/* One block: the checks of rows[0..n), then pass (ja to the rest, filled in later: its
 * index goes to *pass) and deny. Returns the instructions written. */
static size_t pid_block(struct sock_filter *p, const struct cit_sc_pid_rule *rows, size_t n, uint32_t self,
			size_t *pass)
{
	const uint16_t ld = BPF_LD | BPF_W | BPF_ABS, jeq = BPF_JMP | BPF_JEQ | BPF_K;
	size_t k = 0, len = 0;
	for (size_t i = 0; i < n; i++)
		len += (rows[i].when_arg ? 2 : 0) + 4 + (rows[i].zero_self ? 1 : 0);
	const size_t deny = len + 1;
	for (size_t i = 0; i < n; i++) {
		const struct cit_sc_pid_rule *r = &rows[i];
		const size_t next = k + (r->when_arg ? 2 : 0) + 4 + (r->zero_self ? 1 : 0);
		if (r->when_arg) {
			p[k++] = INSN(ld, 0, 0, ARG_LO(r->when_arg - 1));
			p[k] = INSN(jeq, 0, (uint8_t)(next - k - 1), r->when_cmd);
			k++;
		}
		p[k++] = INSN(ld, 0, 0, ARG_HI(r->arg));
		p[k] = INSN(jeq, 0, (uint8_t)(deny - k - 1), 0);
		k++;
		p[k++] = INSN(ld, 0, 0, ARG_LO(r->arg));
		if (r->zero_self) {
			p[k] = INSN(jeq, (uint8_t)(next - k - 1), 0, 0);
			k++;
		}
		p[k] = INSN(jeq, (uint8_t)(next - k - 1), (uint8_t)(deny - k - 1), self);
		k++;
	}
	*pass = k++;
	p[k++] = INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ((uint32_t)rows[0].err & SECCOMP_RET_DATA));
	return k;
}

static size_t pid_prefix(struct sock_filter *p, size_t cap, enum cit_sc_layer layer, uint32_t self,
			 struct cit_error *err)
{
	size_t nrows, ncalls = 0, n = 0, npass = 0, pass[MAX_PID_CALLS + 2];
	const struct cit_sc_pid_rule *rows = layer == CIT_SC_LAYER_EXEC ? cit_policy_exec_pid_rules(&nrows)
									: cit_policy_trustlet_pid_rules(&nrows);
	struct pid_call calls[MAX_PID_CALLS];
	for (size_t i = 0; i < nrows; i++) {
		int nr = seccomp_syscall_resolve_name(rows[i].syscall);
		if (nr < 0)
			continue; /* not on this architecture */
		if (ncalls && calls[ncalls - 1].nr == nr) {
			calls[ncalls - 1].n++;
			continue;
		}
		if (ncalls == MAX_PID_CALLS || cap < 8 + nrows * 10) {
			cit_error_set(err, -E2BIG, "seccomp: too many pid rows");
			return 0;
		}
		for (size_t c = 0; c < ncalls; c++)
			if (calls[c].nr == nr) {
				cit_error_set(err, -EINVAL, "seccomp: the pid rows of %s must be adjacent", rows[i].syscall);
				return 0;
			}
		calls[ncalls] = (struct pid_call){ .nr = nr, .first = i, .n = 1, .block = ncalls };
		ncalls++;
	}
	for (size_t c = 0; c < ncalls; c++)
		for (size_t b = 0; b < c; b++)
			if (calls[b].block == b && calls[b].n == calls[c].n &&
			    rows_alike(&rows[calls[b].first], &rows[calls[c].first], calls[c].n)) {
				calls[c].block = b;
				break;
			}
	const uint16_t ld = BPF_LD | BPF_W | BPF_ABS, jeq = BPF_JMP | BPF_JEQ | BPF_K;
	p[n++] = INSN(ld, 0, 0, offsetof(struct seccomp_data, arch));
	p[n++] = INSN(jeq, 1, 0, seccomp_arch_native());
	pass[npass++] = n++;
	p[n++] = INSN(ld, 0, 0, offsetof(struct seccomp_data, nr));
	const size_t dispatch = n;
	n += ncalls;
	pass[npass++] = n++;
	for (size_t c = 0; c < ncalls; c++)
		if (calls[c].block == c) {
			calls[c].at = n;
			n += pid_block(p + n, &rows[calls[c].first], calls[c].n, self, &pass[npass]);
			pass[npass++] += calls[c].at;
		}
	for (size_t c = 0; c < ncalls; c++) {
		size_t at = calls[calls[c].block].at, from = dispatch + c;
		if (at - from - 1 > 255) {
			cit_error_set(err, -E2BIG, "seccomp: pid rows too far apart");
			return 0;
		}
		p[from] = INSN(jeq, (uint8_t)(at - from - 1), 0, (uint32_t)calls[c].nr);
	}
	for (size_t i = 0; i < npass; i++)
		p[pass[i]] = INSN(BPF_JMP | BPF_JA, 0, 0, (uint32_t)(n - pass[i] - 1));
	return n;
}

int cit_seccomp_compile_trustlet(struct cit_bpf *out, uint32_t self, struct cit_error *err)
{
	return cit_seccomp_compile_layer(out, CIT_SC_LAYER_NATIVE, self, err);
}

int cit_seccomp_compile_layer(struct cit_bpf *out, enum cit_sc_layer layer, uint32_t self, struct cit_error *err)
{
	size_t n;
	const struct cit_sc_rule *rules = layer == CIT_SC_LAYER_EXEC ? cit_policy_exec_rules(&n)
								  : cit_policy_trustlet_rules(&n);
	struct cit_bpf rest;
	int rc = compile_table(rules, n, SCMP_ACT_ALLOW, &rest, err);
	if (rc < 0)
		return rc;
	struct sock_filter prefix[512];
	size_t np = pid_prefix(prefix, ARRAY_SIZE(prefix), layer, self, err);
	if (np == 0 || np + rest.len > BPF_MAXINSNS) {
		cit_bpf_free(&rest);
		return np == 0 ? err->code : cit_error_set(err, -E2BIG, "seccomp: trustlet layer too long");
	}
	out->insns = malloc((np + rest.len) * sizeof(struct sock_filter));
	if (!out->insns) {
		cit_bpf_free(&rest);
		return cit_error_set(err, -ENOMEM, "seccomp program");
	}
	memcpy(out->insns, prefix, np * sizeof(struct sock_filter));
	memcpy((struct sock_filter *)out->insns + np, rest.insns, rest.len * sizeof(struct sock_filter));
	out->len = np + rest.len;
	cit_bpf_free(&rest);
	return 0;
}
