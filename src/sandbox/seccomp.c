#include "sandbox/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/policy.h"

void cit_bpf_free(struct cit_bpf *bpf)
{
	free(bpf->insns);
	bpf->insns = NULL;
	bpf->len = 0;
}

int cit_seccomp_install(const struct cit_bpf *bpf, struct cit_error *err)
{
	struct sock_fprog prog = { .len = (unsigned short)bpf->len, .filter = bpf->insns };
	if (bpf->len == 0 || bpf->len > BPF_MAXINSNS)
		return cit_error_set(err, -EINVAL, "seccomp program of %zu instructions", bpf->len);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return cit_error_set(err, -errno, "seccomp(SECCOMP_SET_MODE_FILTER)");
	return 0;
}

int cit_seccomp_install_self(const struct cit_bpf *bpf, const uint16_t *at, size_t n_at, uint32_t self,
			     struct cit_error *err)
{
	static struct sock_filter copy[BPF_MAXINSNS];
	if (bpf->len == 0 || bpf->len > ARRAY_SIZE(copy))
		return cit_error_set(err, -EINVAL, "seccomp program of %zu instructions", bpf->len);
	memcpy(copy, bpf->insns, bpf->len * sizeof(copy[0]));
	for (size_t i = 0; i < n_at; i++) {
		if (at[i] >= bpf->len || copy[at[i]].k != CIT_SC_SELF)
			return cit_error_set(err, -EINVAL, "seccomp program: instruction %u is no pid placeholder",
					     (unsigned)at[i]);
		copy[at[i]].k = self;
	}
	struct cit_bpf patched = { .insns = copy, .len = bpf->len };
	return cit_seccomp_install(&patched, err);
}
