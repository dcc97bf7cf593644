/* cit_sandbox_run(): one command, one sandbox, from a warm pool when one qualifies. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/cgroup.h"
#include "sandbox/launch.h"
#include "sandbox/supervise.h"
#include "sandbox/warm.h"

bool cit_sandbox_wants_terminal(const struct cit_sandbox_config *cfg)
{
	if (cfg->terminal != CIT_TERMINAL_AUTO)
		return cfg->terminal == CIT_TERMINAL_ALWAYS;
	/* Not when stdin is a terminal but stdout is not (`citadel run -- cmd | less`): our
	 * terminal would be in raw mode while the pipeline's other programs write to it.
	 * Then the terminal is relayed through pipes, as with -T. */
	bool in = isatty(0), out = isatty(1);
	return out || (!in && isatty(2));
}

/* Closes the program's ends of the relay pipes: the fds that are not our own stdio. */
static void close_pipes(int stdio[3])
{
	for (int i = 0; i < 3; i++)
		if (stdio[i] > 2)
			close(steal_fd(&stdio[i]));
}

int cit_sandbox_run(const struct cit_sandbox_config *cfg, char *const argv[], struct cit_run_result *res,
		    struct cit_error *err)
{
	memset(res, 0, sizeof(*res));
	if (!argv || !argv[0])
		return cit_error_set(err, -EINVAL, "no command to run");
	int rc;
	struct cit_supervisor sv;
	cit_supervisor_init(&sv, cfg);
	_cleanup_free_ struct cit_warm_pool *pool = malloc(sizeof(*pool));
	/* The program's stdio: our own fds (never a terminal), or pipes and a pty we relay.
	 * The pipes' program ends are ours to close once the sandbox holds them. */
	struct cit_start st = { .listen_fd = -1, .argv = argv };
	bool pty = cit_sandbox_wants_terminal(cfg);
	if ((rc = cit_supervisor_open_stdio(&sv, pty, st.stdio, &st.tty_fds, err)) < 0 ||
	    (rc = cit_supervisor_block_signals(&sv, err)) < 0)
		goto out;
	/* cit_sandbox_start() checks cfg; a warm sandbox is of exactly the pool's text:
	 * configuration, our context, the mounts of the view. */
	bool pooled = !pty && pool && cit_warm_pool_for(cfg, pool);
	rc = pooled ? cit_warm_claim(pool, cfg, argv, st.stdio, &sv, err) : -ENOENT;
	bool warm = rc == 0;
	if (rc < 0)
		rc = cit_sandbox_start(cfg, &st, &sv, err);
	/* Our copies of the program's pipes: the relay must see EOF when it is done. */
	close_pipes(st.stdio);
	if (rc < 0)
		goto out;
	rc = cit_supervise(&sv, res, err);
	if (!warm)
		cit_cgroup_sweep(); /* no keeper does it for cold runs */
	/* A pool is kept for a text whose sandbox could be made: one whose setup failed (our
	 * status 125) would only have a keeper fail the same way, over and over. */
	if (pooled && rc == 0)
		cit_warm_keep(pool);
out:
	close_pipes(st.stdio);
	cit_supervisor_close(&sv);
	return rc;
}
