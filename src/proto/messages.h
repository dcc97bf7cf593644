/* Every message of the protocol, in one table (an X-macro): adding a message is a row here
 * and its handler. Each side expands the columns it needs: proto.c the checks on receipt
 * (payload struct, fds, tail, field checks), the monitor its dispatch (who may send it, with
 * which role, and the handler, src/monitor/dispatch.c), and nothing else lists the types.
 *
 * X(NAME, number, payload struct, min fds, max fds, tail, check, sender, role, handler)
 *   NAME     CIT_MSG_<NAME>
 *   number   on the wire, fixed forever once shipped; new messages take new numbers
 *   payload  its struct's tag (cit_p_<name>, or cit_fn_spec): exactly this size, then the tail
 *   fds      how many file descriptors come with it (SCM_RIGHTS)
 *   tail     CIT_TAIL_NONE: nothing after the payload; CIT_TAIL_DATA: the payload starts
 *            with a struct cit_data and its inline bytes follow (or one fd is a data object
 *            of obj_len bytes); CIT_TAIL_ENV: a function spec's environment follows
 *   check    the payload's own checks (string fields, names), a function of proto.c
 *   sender   who may send it: CIT_FROM_CLIENT, CIT_FROM_MONITOR, CIT_FROM_TEMPLATE (a
 *            zygote or template), CIT_FROM_TRUSTLET
 *   role     for CIT_FROM_CLIENT: the least role that may send it (CIT_ROLE_INVOKER or
 *            CIT_ROLE_ADMIN); for a trustlet's request, the grant of the call it needs
 *            (CIT_GRANT_*); else 0
 *   handler  the monitor's function for it (void h(struct monitor *, struct cit_peer *,
 *            struct cit_rx *)), or NONE for messages the monitor only sends */
#pragma once

#define CIT_MESSAGES(X)                                                                                          \
	/* client -> monitor */                                                                                  \
	X(DEPLOY, 1, cit_fn_spec, 0, 1, CIT_TAIL_ENV, check_spec, CIT_FROM_CLIENT, CIT_ROLE_ADMIN, cit_fn_deploy)        \
	X(INVOKE, 2, cit_p_invoke, 0, 1, CIT_TAIL_DATA, check_invoke, CIT_FROM_CLIENT, CIT_ROLE_INVOKER, cit_fn_invoke)    \
	X(LIST, 3, cit_p_list, 0, 0, CIT_TAIL_NONE, check_none, CIT_FROM_CLIENT, CIT_ROLE_INVOKER, cit_fn_list)             \
	X(REMOVE, 4, cit_p_name, 0, 0, CIT_TAIL_NONE, check_name, CIT_FROM_CLIENT, CIT_ROLE_ADMIN, cit_fn_remove)          \
	X(LOGS, 5, cit_p_logs, 0, 0, CIT_TAIL_NONE, check_logs, CIT_FROM_CLIENT, CIT_ROLE_ADMIN, cit_fn_logs)              \
	X(RESTART, 6, cit_p_name, 0, 0, CIT_TAIL_NONE, check_name, CIT_FROM_CLIENT, CIT_ROLE_ADMIN, cit_fn_restart)        \
	/* an admin token for the client's next message (same id): no reply of its own */                       \
	X(ADMIN_TOKEN, 7, cit_p_token, 0, 0, CIT_TAIL_NONE, check_token, CIT_FROM_CLIENT, CIT_ROLE_INVOKER,                 \
	  cit_token_present)                                                                                     \
	X(TOKEN_ADD, 8, cit_p_name, 0, 0, CIT_TAIL_NONE, check_name, CIT_FROM_CLIENT, CIT_ROLE_ADMIN, cit_token_add)       \
	X(TOKEN_REMOVE, 9, cit_p_name, 0, 0, CIT_TAIL_NONE, check_name, CIT_FROM_CLIENT, CIT_ROLE_ADMIN, cit_token_remove) \
	X(TOKEN_LIST, 10, cit_p_list, 0, 0, CIT_TAIL_NONE, check_none, CIT_FROM_CLIENT, CIT_ROLE_ADMIN, cit_token_list)     \
	/* the HTTP request behind the client's next INVOKE (same id): no reply of its own */                   \
	X(INVOKE_META, 11, cit_p_meta, 0, 0, CIT_TAIL_DATA, check_meta, CIT_FROM_CLIENT, CIT_ROLE_INVOKER,                  \
	  cit_fn_invoke_meta)                                                                                    \
	X(CALL_STATUS, 12, cit_p_call_id, 0, 0, CIT_TAIL_NONE, check_call_id, CIT_FROM_CLIENT, CIT_ROLE_INVOKER,            \
	  cit_async_status)                                                                                      \
	/* monitor -> client */                                                                                  \
	X(OK, 16, cit_p_ok, 0, 1, CIT_TAIL_DATA, check_ok,   CIT_FROM_MONITOR, 0, NONE)                                    \
	X(ERROR, 17, cit_p_status, 0, 0, CIT_TAIL_NONE, check_status, CIT_FROM_MONITOR, 0, NONE)                           \
	/* monitor -> its HTTP gateway, first on the gateway's channel */                                        \
	X(GATEWAY_START, 18, cit_p_gateway, 1, 1, CIT_TAIL_NONE, check_gateway, CIT_FROM_MONITOR, 0, NONE)                 \
	/* monitor -> its callback sender: an asynchronous call's result to post */                               \
	X(CALLBACK, 19, cit_p_callback, 0, 1, CIT_TAIL_DATA, check_callback, CIT_FROM_MONITOR, 0, NONE)                     \
	/* monitor <-> runtime: zygote and template */                                                           \
	X(ZYGOTE_READY, 32, cit_p_ready, 0, 0, CIT_TAIL_NONE, check_none, CIT_FROM_TEMPLATE, 0, cit_fn_on_ready)           \
	X(LOAD, 33, cit_fn_spec, 0, 1, CIT_TAIL_ENV, check_spec, CIT_FROM_MONITOR, 0, NONE)                              \
	X(LOADED, 34, cit_p_loaded, 0, 0, CIT_TAIL_NONE, check_loaded, CIT_FROM_TEMPLATE, 0, cit_fn_on_loaded)             \
	X(SPAWN, 35, cit_p_none, 1, 1, CIT_TAIL_NONE, check_none, CIT_FROM_MONITOR, 0, NONE)                              \
	X(EXITED, 36, cit_p_exited, 0, 0, CIT_TAIL_NONE, check_none, CIT_FROM_TEMPLATE, 0, cit_fn_on_exited)               \
	X(RMDIR, 40, cit_p_dir, 0, 0, CIT_TAIL_NONE, check_dir, CIT_FROM_MONITOR, 0, NONE)                                 \
	/* monitor <-> runtime: trustlet */                                                                      \
	X(HELLO, 37, cit_p_hello, 0, 0, CIT_TAIL_NONE, check_hello, CIT_FROM_TRUSTLET, 0, cit_pool_on_hello)               \
	X(CALL, 38, cit_p_call, 0, 1, CIT_TAIL_DATA, check_call, CIT_FROM_MONITOR, 0, NONE)                                \
	/* the HTTP request behind the next CALL (same id), as INVOKE_META brought it */                       \
	X(CALL_META, 44, cit_p_meta, 0, 0, CIT_TAIL_DATA, check_meta, CIT_FROM_MONITOR, 0, NONE)                           \
	X(RESULT, 39, cit_p_result, 0, 1, CIT_TAIL_DATA, check_result, CIT_FROM_TRUSTLET, 0, cit_pool_on_result)           \
	/* a trustlet's requests during a call (each answered by a REPLY with its id) */                         \
	X(LOG, 41, cit_p_log, 0, 0, CIT_TAIL_DATA, check_log, CIT_FROM_TRUSTLET, CIT_GRANT_LOG, cit_pool_on_log)           \
	X(DEADLINE, 42, cit_p_none, 0, 0, CIT_TAIL_NONE, check_none, CIT_FROM_TRUSTLET, CIT_GRANT_DEADLINE,                 \
	  cit_pool_on_deadline)                                                                                  \
	X(REPLY, 43, cit_p_reply, 0, 1, CIT_TAIL_DATA, check_none, CIT_FROM_MONITOR, 0, NONE)                      \
	/* data objects and chains (48-63) */                                                                    \
	/* monitor -> trustlet: one input of a fan-in step, before its CALL (same id) */                         \
	X(INPUT, 48, cit_p_input, 0, 1, CIT_TAIL_DATA, check_input, CIT_FROM_MONITOR, 0, NONE)                           \
	/* a trustlet's request: call another function (cit_invoke); the REPLY carries its output */           \
	X(FN_INVOKE, 49, cit_p_fn_invoke, 0, 1, CIT_TAIL_DATA, check_fn_invoke, CIT_FROM_TRUSTLET, CIT_GRANT_INVOKE,     \
	  cit_chain_on_invoke)                                                                                   \
	/* client -> monitor: chains */                                                                          \
	X(CHAIN_CREATE, 50, cit_chain_spec, 0, 0, CIT_TAIL_NONE, check_chain, CIT_FROM_CLIENT, CIT_ROLE_ADMIN,           \
	  cit_chain_create)                                                                                      \
	X(CHAIN_INVOKE, 51, cit_p_invoke, 0, 1, CIT_TAIL_DATA, check_chain_invoke, CIT_FROM_CLIENT, CIT_ROLE_INVOKER,   \
	  cit_chain_invoke)                                                                                      \
	X(CHAIN_LIST, 52, cit_p_list, 0, 0, CIT_TAIL_NONE, check_none, CIT_FROM_CLIENT, CIT_ROLE_INVOKER, cit_chain_list) \
	X(CHAIN_REMOVE, 53, cit_p_name, 0, 0, CIT_TAIL_NONE, check_name, CIT_FROM_CLIENT, CIT_ROLE_ADMIN,                \
	  cit_chain_remove)                                                                                      \
	/* state (64-79): a trustlet's batch of key-value operations (the REPLY carries the results), */       \
	/* and an admin's (citadel kv; the OK carries them) */                                                \
	X(STATE, 64, cit_p_state, 0, 1, CIT_TAIL_DATA, check_state, CIT_FROM_TRUSTLET, CIT_GRANT_STATE,             \
	  cit_state_on_request)                                                                                  \
	X(KV, 65, cit_p_state, 0, 1, CIT_TAIL_DATA, check_state, CIT_FROM_CLIENT, CIT_ROLE_ADMIN, cit_state_on_kv) \
	/* attestation (80-95): a signed report of a function or of the monitor (invokers check */            \
	/* it before they send data) */                                                                        \
	X(ATTEST, 80, cit_p_attest, 0, 0, CIT_TAIL_NONE, check_attest, CIT_FROM_CLIENT, CIT_ROLE_INVOKER,         \
	  cit_attest_on_request)                                                                                 \
	/* an admin's secrets, bound to functions' code; the secrets released to a template */                \
	X(SECRET, 81, cit_p_secret, 0, 1, CIT_TAIL_DATA, check_secret, CIT_FROM_CLIENT, CIT_ROLE_ADMIN,           \
	  cit_secret_on_request)                                                                                 \
	X(SECRETS, 82, cit_p_secrets, 0, 1, CIT_TAIL_DATA, check_secrets, CIT_FROM_MONITOR, 0, NONE)

/* Reserved numbers, for messages to come: data objects and chains 54-63, state 66-79,
 * attestation 83-95. */
