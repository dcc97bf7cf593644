/* Compiling the policy table with libseccomp: used at build time (tools/gen_seccomp.c)
 * and by the tests, never by citadel at run time, which installs the compiled program. */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

int cit_seccomp_compile_trustlet(struct cit_bpf *out, struct cit_error *err)
{
	size_t n;
	const struct cit_sc_rule *rules = cit_policy_trustlet_rules(&n);
	return compile_table(rules, n, SCMP_ACT_ALLOW, out, err);
}
