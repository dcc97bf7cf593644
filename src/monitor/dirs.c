/* Trustlets' private directories, /tmp/NAME in their function's sandbox.
 *
 * A trustlet makes its own directory after fork, under a random name that only it and the
 * monitor know (HELLO carries it): its template never learns the name of a living
 * trustlet, so no sibling, which starts as a copy of the template's memory, can find the
 * directory. Once the template has reported the trustlet's end (EXITED), the monitor tells
 * the template the name (RMDIR) and the template removes the tree.
 *
 * A trustlet may leave the pool (killed, hung up) before its end is reported: its name is
 * then kept here, with its pid in the sandbox, until EXITED names that pid. Pids in a pid
 * namespace are handed out in turn, so the pid of a trustlet that has gone from the pool
 * but not yet been reported is not yet anyone else's. */
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

struct dead_dir {
	struct dead_dir *next;
	uint64_t ns_pid;
	char name[CIT_DIR_NAME_LEN + 1];
};

void cit_dir_remove(struct monitor *m, struct function *fn, const char *name)
{
	if (!name[0] || !fn->z)
		return;
	struct cit_p_dir d = { 0 };
	memcpy(d.dir, name, CIT_DIR_NAME_LEN + 1);
	if (cit_proto_send(fn->z->chan, CIT_MSG_RMDIR, 0, &d, sizeof(d), NULL, 0, NULL, 0) < 0)
		cit_mlog(m, "warn", "rmdir_dropped", "function=%s", fn->spec.name);
}

void cit_dir_keep(struct function *fn, uint64_t ns_pid, const char *name)
{
	struct dead_dir *d = name[0] ? malloc(sizeof(*d)) : NULL;
	if (!d)
		return; /* no name, or no memory: the directory stays until its sandbox ends */
	d->next = NULL;
	d->ns_pid = ns_pid;
	memcpy(d->name, name, sizeof(d->name));
	/* Ends are reported in about the order trustlets leave: oldest first, found first. */
	struct dead_dir **p = &fn->dead_dirs;
	while (*p)
		p = &(*p)->next;
	*p = d;
}

bool cit_dir_exited(struct monitor *m, struct function *fn, uint64_t ns_pid)
{
	for (struct dead_dir **p = &fn->dead_dirs; *p; p = &(*p)->next) {
		struct dead_dir *d = *p;
		if (d->ns_pid != ns_pid)
			continue;
		*p = d->next;
		cit_dir_remove(m, fn, d->name);
		free(d);
		return true;
	}
	return false;
}

void cit_dir_forget(struct function *fn)
{
	while (fn->dead_dirs) {
		struct dead_dir *d = fn->dead_dirs;
		fn->dead_dirs = d->next;
		free(d);
	}
}
