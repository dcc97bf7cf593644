/* The native runtime: a function is a shared object (citadel/function.h) loaded into the
 * template with dlopen; an instance calls its cit_handler once per call. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "zygote/runtime.h"

/* LOAD: the shared object (a sealed memfd) loaded, its ABI checked, its cit_init run. */
static int native_load(struct cit_runtime *rt, struct cit_rx *rx, uint8_t code_sha256[32], struct cit_error *err)
{
	(void)code_sha256; /* the monitor measured the code it sent */
	if (rx->nfds != 1)
		return cit_error_set(err, -EINVAL, "no code came with the function");
	int rc;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", rx->fds[0]);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		/* The loader names the code by the path it was given, which means nothing to the
		 * deployer: "/proc/self/fd/N: why" becomes "why". */
		const char *why = dlerror();
		size_t n = strlen(path);
		if (!strncmp(why, path, n) && !strncmp(why + n, ": ", 2))
			why += n + 2;
		return cit_error_set(err, -ENOEXEC, "loading the function: %s", why);
	}
	close(steal_fd(&rx->fds[0]));
	const int *abi = dlsym(h, "cit_function_abi");
	if (!abi || *abi < CIT_FUNCTION_ABI_MIN || *abi > CIT_FUNCTION_ABI)
		return cit_error_set(err, -ENOEXEC, "the function was not built with citadel/function.h ABI %d to %d "
				     "(it says %d)", CIT_FUNCTION_ABI_MIN, CIT_FUNCTION_ABI, abi ? *abi : 0);
	rt->abi = *abi;
	rt->handler = (int (*)(const struct cit_request *, struct cit_response *))dlsym(h, "cit_handler");
	if (!rt->handler)
		return cit_error_set(err, -ENOEXEC, "the function defines no cit_handler");
	int (*init)(void) = (int (*)(void))dlsym(h, "cit_init");
	if (init && (rc = init()) < 0) {
		const char *m = cit_runtime_init_message();
		return cit_error_set(err, rc < -4095 ? -EINVAL : rc, "cit_init failed%s%s", *m ? ": " : "", m);
	}
	return 0;
}

static int native_invoke(struct cit_runtime *rt, const struct cit_request *req, struct cit_response *resp)
{
	return rt->handler(req, resp);
}

const struct cit_runtime_ops cit_runtime_native = {
	.name = "native",
	.layer = CIT_SC_LAYER_NATIVE,
	.load = native_load,
	.invoke = native_invoke,
};
