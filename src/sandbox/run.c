/* cit_sandbox_run(): one command, one sandbox, from a warm pool when one qualifies. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/cgroup.h"
#include "sandbox/launch.h"
#include "sandbox/supervise.h"
#include "sandbox/warm.h"

int cit_sandbox_run(const struct cit_sandbox_config *cfg, char *const argv[], struct cit_run_result *res,
		    struct cit_error *err)
{
	memset(res, 0, sizeof(*res));
	if (!argv || !argv[0])
		return cit_error_set(err, -EINVAL, "no command to run");
	int rc;
	struct cit_supervisor sv;
	cit_supervisor_init(&sv, cfg);
	int out_w = -1, err_w = -1;
	if ((rc = cit_supervisor_open_relay(&sv, &out_w, &err_w, err)) < 0 ||
	    (rc = cit_supervisor_block_signals(&sv, err)) < 0)
		goto out;
	struct cit_start st = { .listen_fd = -1, .argv = argv,
				.stdio = { 0, out_w >= 0 ? out_w : 1, err_w >= 0 ? err_w : 2 } };
	/* cit_sandbox_start() checks cfg; a warm sandbox only takes the default one. */
	bool warm = cit_warm_eligible(cfg);
	char pool[PATH_MAX];
	if (warm)
		cit_warm_pool_dir(pool, sizeof(pool));
	rc = warm ? cit_warm_claim(pool, cfg, argv, st.stdio, &sv, err) : -ENOENT;
	if (rc < 0)
		rc = cit_sandbox_start(cfg, &st, &sv, err);
	/* Our copies of the program's output pipes: the relay must see EOF when it is done. */
	if (out_w >= 0)
		close(steal_fd(&out_w));
	if (err_w >= 0)
		close(steal_fd(&err_w));
	if (rc < 0)
		goto out;
	if (warm)
		cit_warm_keep(pool);
	rc = cit_supervise(&sv, res, err);
	if (!warm)
		cit_cgroup_sweep(); /* no keeper does it for cold runs */
out:
	if (out_w >= 0)
		close(out_w);
	if (err_w >= 0)
		close(err_w);
	cit_supervisor_close(&sv);
	return rc;
}
