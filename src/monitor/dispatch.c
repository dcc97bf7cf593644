/* The monitor's side of the message table (proto/messages.h): each type's handler, the
 * sender it is taken from and the role or grant it needs. proto.c has already checked the
 * message's shape; here it is checked against who sent it. */
#include <errno.h>
#include <stdio.h>

#include "common/util.h"
#include "monitor/monitor.h"

#define NONE NULL
#define CIT_X_HANDLER(NAME, num, tag, minf, maxf, tail, chk, from, role, handler) [num] = handler,
static cit_handler_fn *const handlers[] = { CIT_MESSAGES(CIT_X_HANDLER) };
#undef CIT_X_HANDLER
#undef NONE

static const char *const role_names[] = { "nobody", "an invoker", "an admin" };

int cit_dispatch(struct monitor *m, struct cit_peer *p, struct cit_rx *rx)
{
	const struct cit_msg_rule *r = cit_msg_rule(rx->hdr.type);
	cit_handler_fn *h = rx->hdr.type < ARRAY_SIZE(handlers) ? handlers[rx->hdr.type] : NULL;
	if (!r || !h || r->sender != p->sender) {
		if (p->sender == CIT_FROM_CLIENT) {
			cit_reply_error(m, container_of(p, struct client, peer), rx->hdr.id, -EPROTO,
					"message type %u is not a request", rx->hdr.type);
			return 0;
		}
		return -EPROTO;
	}
	/* A trustlet's request needs a call in progress that grants it. */
	if (p->sender == CIT_FROM_TRUSTLET && r->role) {
		const struct trustlet *t = container_of(p, struct trustlet, peer);
		if (t->state != T_BUSY || !t->call || !(t->call->grants & r->role))
			return cit_pool_refuse(m, p, rx, -EPERM);
	}
	if (p->sender != CIT_FROM_CLIENT || rx->hdr.type == CIT_MSG_ADMIN_TOKEN)
		return h(m, p, rx);
	/* A client's role: its credentials', or an admin's for this one message when it
	 * presented a valid admin token just before (tokens.c). */
	struct client *c = container_of(p, struct client, peer);
	uint8_t role = p->role;
	/* A bearer that is no admin token may still be an INVOKE's function's invoke key
	 * (pool.c checks it there). */
	if (cit_token_role(m, c, rx->hdr.id, &role) < 0 && rx->hdr.type != CIT_MSG_INVOKE) {
		cit_reply_error(m, c, rx->hdr.id, -EKEYREJECTED, "permission denied: the admin token is not valid");
		return -EACCES;
	}
	if (role < r->role) {
		cit_reply_error(m, c, rx->hdr.id, -EACCES, "permission denied: %s is for %s of the monitor (you are %s)",
				r->name, role_names[r->role], role_names[role]);
		return -EACCES;
	}
	uint8_t own = p->role;
	p->role = role;
	int rc = h(m, p, rx);
	p->role = own;
	c->token_grant = -1;
	return rc;
}
