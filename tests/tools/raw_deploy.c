/* raw_deploy SOCKET NAME ARCHIVE PROGRAM: deploys an exec function whose bundle is the
 * archive file as it is, byte for byte, the way a client other than the CLI could: the
 * tests use it to hand the monitor archives the CLI would never make (a path out of the
 * bundle, a device, a hard link, a file written through a link). Prints the monitor's
 * reply: "deployed MEASUREMENT" (exit 0) or its error (exit 1). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/client.h"
#include "common/fdutil.h"
#include "spec/draft.h"

int main(int argc, char **argv)
{
	if (argc != 5) {
		fputs("usage: raw_deploy SOCKET NAME ARCHIVE PROGRAM\n", stderr);
		return 2;
	}
	static struct cit_fn_draft d;
	struct cit_error err = { 0 };
	cit_spec_defaults(&d);
	snprintf(d.name, sizeof(d.name), "%s", argv[2]);
	snprintf(d.bundle, sizeof(d.bundle), "%s", argv[3]);
	const char *cmd[] = { argv[4] };
	if (cit_spec_runtime(&d, "exec", &err) < 0 || cit_spec_command(&d, cmd, 1, &err) < 0 ||
	    cit_spec_finish(&d, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	/* The archive's bytes into a sealed memfd, as they are. */
	int in = open(argv[3], O_RDONLY | O_CLOEXEC);
	int obj = memfd_create("raw-bundle", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	char buf[65536];
	ssize_t n;
	while (in >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (cit_write_all(obj, buf, (size_t)n) < 0)
			return 2;
	if (in < 0 || fcntl(obj, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		perror(argv[3]);
		return 2;
	}
	static char tail[CIT_ENV_BYTES + CIT_ARGS_BYTES];
	size_t tlen = cit_spec_tail(&d, tail, sizeof(tail));
	int s = cit_client_connect(argv[1], &err);
	static _Alignas(16) char rbuf[CIT_MSG_MAX];
	struct cit_rx rx;
	int rc = s < 0 ? s : cit_client_call(s, CIT_MSG_DEPLOY, &d.spec, sizeof(d.spec), tail, tlen, obj, rbuf, &rx, &err);
	if (rc < 0) {
		printf("%s\n", err.msg);
		return 1;
	}
	printf("deployed %.*s\n", (int)rx.data_len, (const char *)rx.data);
	return 0;
}
