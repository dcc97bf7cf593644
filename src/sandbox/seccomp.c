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
