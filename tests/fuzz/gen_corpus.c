/* Writes the fuzz target's seed corpus (tests/fuzz/corpus/, committed): one valid message
 * of every type in the table (messages.h), then a few edge cases. Each file is what
 * fuzz_proto.c reads: one byte for the number of fds beside the message, then the
 * datagram. Run by hand when the protocol changes:
 *   clang-14 -D_GNU_SOURCE -Isrc tests/fuzz/gen_corpus.c src/proto/proto.c src/spec/chain.c src/objects/objects.c \
 *     src/spec/spec.c src/state/wire.c src/common/error.c src/common/fdutil.c -o build-fuzz/gen_corpus
 *   rm -rf tests/fuzz/corpus && mkdir tests/fuzz/corpus && build-fuzz/gen_corpus tests/fuzz/corpus */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "state/wire.h"

static const char *dir;
static _Alignas(16) uint8_t out[1 + CIT_MSG_MAX];

#define DIR_NAME "0123456789abcdef0123456789abcdef"

static void save(const char *name, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(out, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* A seed: nfds, the header of a message of type carrying nfds fds, the payload (plen
 * bytes) and the tail (tlen bytes). */
static void seed(const char *name, uint16_t type, uint8_t nfds, const void *payload, size_t plen, const void *tail,
		 size_t tlen)
{
	struct cit_msg h = { .magic = CIT_PROTO_MAGIC, .version = CIT_PROTO_VERSION, .type = type,
			     .len = (uint32_t)(plen + tlen), .nfds = nfds, .id = 7 };
	out[0] = nfds;
	memcpy(out + 1, &h, sizeof(h));
	memcpy(out + 1 + sizeof(h), payload, plen);
	if (tlen)
		memcpy(out + 1 + sizeof(h) + plen, tail, tlen);
	save(name, 1 + sizeof(h) + plen + tlen);
}

/* A seed with bit 2 of its first byte set: the header claims tlen bytes of tail, the
 * fuzz target pads the datagram with zeros to that length (a large message, a small
 * file). */
static void seed_padded(const char *name, uint16_t type, const void *payload, size_t plen, size_t tlen)
{
	struct cit_msg h = { .magic = CIT_PROTO_MAGIC, .version = CIT_PROTO_VERSION, .type = type,
			     .len = (uint32_t)(plen + tlen), .id = 7 };
	out[0] = 4;
	memcpy(out + 1, &h, sizeof(h));
	memcpy(out + 1 + sizeof(h), payload, plen);
	save(name, 1 + sizeof(h) + plen);
}

/* A spec cit_fn_spec_check accepts. */
static struct cit_fn_spec good_spec(uint32_t n_env, uint32_t env_len)
{
	struct cit_fn_spec s = { .memory_bytes = 64 << 20, .timeout_ms = 1000, .output_bytes = 1 << 20,
				 .max_instances = 4, .min_instances = 1, .keepalive_s = 60,
				 .n_env = n_env, .env_len = env_len, .cpu_millis = 1000, .pids = 256,
				 .object_quota = CIT_FN_DEFAULT_OBJECT_QUOTA };
	strcpy(s.name, "hello");
	strcpy(s.runtime, "native");
	return s;
}

/* A payload of type that its checks accept (strings empty, or a good name). */
static void good_payload(uint16_t type, void *p, size_t size)
{
	memset(p, 0, size);
	switch (type) {
	case CIT_MSG_DEPLOY:
	case CIT_MSG_LOAD: {
		struct cit_fn_spec s = good_spec(0, 0);
		memcpy(p, &s, sizeof(s));
		break;
	}
	case CIT_MSG_INVOKE: strcpy(((struct cit_p_invoke *)p)->name, "hello"); break;
	case CIT_MSG_REMOVE:
	case CIT_MSG_RESTART: strcpy(((struct cit_p_name *)p)->name, "hello"); break;
	case CIT_MSG_LOGS: strcpy(((struct cit_p_logs *)p)->name, "hello"); break;
	case CIT_MSG_ERROR: strcpy(((struct cit_p_status *)p)->text, "no such function"); break;
	case CIT_MSG_HELLO: memcpy(((struct cit_p_hello *)p)->dir, DIR_NAME, 32); break;
	case CIT_MSG_RMDIR: memcpy(((struct cit_p_dir *)p)->dir, DIR_NAME, 32); break;
	case CIT_MSG_CALL_STATUS: memcpy(((struct cit_p_call_id *)p)->id, DIR_NAME, 32); break;
	case CIT_MSG_INPUT: strcpy(((struct cit_p_input *)p)->step, "a"); break;
	case CIT_MSG_FN_INVOKE: strcpy(((struct cit_p_fn_invoke *)p)->name, "hello"); break;
	case CIT_MSG_CHAIN_INVOKE: strcpy(((struct cit_p_invoke *)p)->name, "line"); break;
	case CIT_MSG_CHAIN_REMOVE: strcpy(((struct cit_p_name *)p)->name, "line"); break;
	case CIT_MSG_CHAIN_CREATE: {
		struct cit_chain_spec *c = p;
		strcpy(c->name, "line");
		strcpy(c->steps[0].name, "a");
		strcpy(c->steps[0].function, "hello");
		c->n_steps = 1;
		break;
	}
	case CIT_MSG_CALLBACK: {
		struct cit_p_callback *c = p;
		memcpy(c->call_id, DIR_NAME, 32);
		strcpy(c->function, "hello");
		strcpy(c->url, "http://127.0.0.1:9000/done");
		break;
	}
	default: break;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	static _Alignas(16) uint8_t p[8192];
	char name[64];

	/* Every type, exactly as the table wants it, with its fewest fds. */
	for (uint32_t type = 0; type < 256; type++) {
		const struct cit_msg_rule *r = cit_msg_rule((uint16_t)type);
		if (!r)
			continue;
		good_payload((uint16_t)type, p, r->size);
		snprintf(name, sizeof(name), "%02u-%s", type, r->name);
		seed(name, (uint16_t)type, r->min_fds, p, r->size, NULL, 0);
	}

	/* Inline data, and a data object instead. */
	struct cit_p_invoke v = { .data = { .len = 5 } };
	strcpy(v.name, "hello");
	seed("invoke-inline", CIT_MSG_INVOKE, 0, &v, sizeof(v), "Ada\n!", 5);
	v.data = (struct cit_data){ .obj_len = 1 << 20 };
	seed("invoke-object", CIT_MSG_INVOKE, 1, &v, sizeof(v), NULL, 0);
	v.data = (struct cit_data){ .len = CIT_INLINE_MAX };
	seed_padded("invoke-inline-max", CIT_MSG_INVOKE, &v, sizeof(v), CIT_INLINE_MAX);
	v.data.len = CIT_INLINE_MAX + 1;
	seed_padded("invoke-inline-over", CIT_MSG_INVOKE, &v, sizeof(v), CIT_INLINE_MAX + 1);
	struct cit_p_ok ok = { .data = { .len = 12 } };
	seed("ok-inline", CIT_MSG_OK, 0, &ok, sizeof(ok), "Hello, Ada!\n", 12);
	struct cit_p_result res = { .data = { .len = 2 } };
	seed("result-inline", CIT_MSG_RESULT, 0, &res, sizeof(res), "ok", 2);
	struct cit_p_log lg = { .data = { .len = 6 }, .level = 2 };
	seed("log-line", CIT_MSG_LOG, 0, &lg, sizeof(lg), "warn!\n", 6);
	lg.data.len = CIT_LOG_LINE_MAX;
	seed_padded("log-line-max", CIT_MSG_LOG, &lg, sizeof(lg), CIT_LOG_LINE_MAX);
	struct cit_p_reply rp = { .code = -EPERM, .value = 12345 };
	seed("reply-eperm", CIT_MSG_REPLY, 0, &rp, sizeof(rp), NULL, 0);

	/* A spec with an environment: as DEPLOY, and (after the header) as stored. */
	static const char env[] = "A=1\0PATH=/bin\0EMPTY=";
	struct cit_fn_spec s = good_spec(3, sizeof(env));
	seed("deploy-env", CIT_MSG_DEPLOY, 1, &s, sizeof(s), env, sizeof(env));
	/* A spec stored before cpu_millis and pids (cit_fn_spec_parse moves it): the
	 * message is refused, the stored spec read. */
	/* As many variables as a spec may have. */
	static char many[CIT_ENV_MAX * 4];
	for (size_t i = 0; i < CIT_ENV_MAX; i++)
		memcpy(many + 4 * i, "A=1", 4);
	s = good_spec(CIT_ENV_MAX, sizeof(many));
	seed("deploy-env-max", CIT_MSG_DEPLOY, 1, &s, sizeof(s), many, sizeof(many));
	s = good_spec(3, sizeof(env));
	seed("stored-v0-env", CIT_MSG_DEPLOY, 1, &s, CIT_FN_SPEC_V0_SIZE, env, sizeof(env));
	seed("stored-v1-env", CIT_MSG_DEPLOY, 1, &s, CIT_FN_SPEC_V1_SIZE, env, sizeof(env));
	/* An exec function: an environment, then its command; no code. */
	static const char cmd[] = "A=1\0PATH=/bin\0EMPTY=\0/usr/bin/wc\0-w";
	s = good_spec(3, sizeof(env));
	strcpy(s.runtime, "exec");
	s.n_args = 2;
	s.args_len = sizeof(cmd) - sizeof(env);
	seed("deploy-exec", CIT_MSG_DEPLOY, 0, &s, sizeof(s), cmd, sizeof(cmd));
	struct cit_p_loaded ld = { .code_sha256 = { 0xab, 0xcd } };
	seed("loaded-exec", CIT_MSG_LOADED, 0, &ld, sizeof(ld), NULL, 0);

	/* A trustlet that could not start: a negative code, no name. */
	struct cit_p_hello hello = { .code = -EPERM };
	strcpy(hello.text, "landlock: not supported");
	seed("hello-failed", CIT_MSG_HELLO, 0, &hello, sizeof(hello), NULL, 0);

	/* Refused: a header alone, the wrong fd count, an unknown type, a length past
	 * what arrived, a name with no NUL. */
	seed("header-only", CIT_MSG_LIST, 0, NULL, 0, NULL, 0);
	struct cit_p_list l = { 0 };
	seed("list-with-fds", CIT_MSG_LIST, 2, &l, sizeof(l), NULL, 0);
	seed("unknown-type", 99, 0, &l, sizeof(l), NULL, 0);
	struct cit_p_name nm;
	/* An HTTP request's meta: method, path, query, callback, then header pairs. */
	static const char meta[] = "POST\0/a/b\0x=1&y=2\0http://127.0.0.1:9000/cb\0X-Request-Id\0007\0User-Agent\0curl\0";
	struct cit_p_meta mt = { .data = { .len = sizeof(meta) - 1 } };
	seed("invoke-meta", CIT_MSG_INVOKE_META, 0, &mt, sizeof(mt), meta, sizeof(meta) - 1);
	static const char call_meta[] = "GET\0\0\0\0Accept\0*/*\0";
	mt.data.len = sizeof(call_meta) - 1;
	seed("call-meta", CIT_MSG_CALL_META, 0, &mt, sizeof(mt), call_meta, sizeof(call_meta) - 1);
	struct cit_p_callback cb = { .data = { .len = 5 }, .http_status = 201, .content_type = "text/plain" };
	memcpy(cb.call_id, DIR_NAME, 32);
	strcpy(cb.function, "hello");
	strcpy(cb.url, "https://example.org/hook");
	seed("callback-inline", CIT_MSG_CALLBACK, 0, &cb, sizeof(cb), "done!", 5);
	memset(nm.name, 'a', sizeof(nm.name));
	seed("remove-unterminated", CIT_MSG_REMOVE, 0, &nm, sizeof(nm), NULL, 0);
	/* Data objects and chains: a fan-in input, a call within a call (inline, by reference),
	 * a DAG, a result handing an object on, a V2 spec stored before the grants. */
	struct cit_p_input in = { .data = { .obj_len = 4096 }, .object = 3, .index = 1, .step = "b" };
	seed("input-object", CIT_MSG_INPUT, 1, &in, sizeof(in), NULL, 0);
	struct cit_p_fn_invoke fi = { .data = { .len = 3 }, .name = "resize" };
	seed("fn-invoke-inline", CIT_MSG_FN_INVOKE, 0, &fi, sizeof(fi), "abc", 3);
	fi = (struct cit_p_fn_invoke){ .name = "resize", .object = 5 };
	seed("fn-invoke-ref", CIT_MSG_FN_INVOKE, 0, &fi, sizeof(fi), NULL, 0);
	static struct cit_chain_spec dag = { .name = "dag", .n_steps = 4 };
	const char *steps[][2] = { { "s", "echo" }, { "a", "upper" }, { "b", "echo" }, { "j", "concat" } };
	for (int i = 0; i < 4; i++) {
		strcpy(dag.steps[i].name, steps[i][0]);
		strcpy(dag.steps[i].function, steps[i][1]);
	}
	dag.steps[1].after = dag.steps[2].after = 1;
	dag.steps[3].after = 6;
	seed("chain-dag", CIT_MSG_CHAIN_CREATE, 0, &dag, sizeof(dag), NULL, 0);
	struct cit_p_result ro = { .object = 9 };
	seed("result-object-ref", CIT_MSG_RESULT, 0, &ro, sizeof(ro), NULL, 0);
	struct cit_p_call fan = { .n_inputs = 2 };
	seed("call-fan-in", CIT_MSG_CALL, 0, &fan, sizeof(fan), NULL, 0);
	s = good_spec(1, sizeof(env));
	s.n_invokes = 1;
	strcpy(s.invokes[0], "resize");
	seed("deploy-invokes", CIT_MSG_DEPLOY, 1, &s, sizeof(s), env, sizeof(env));
	seed("stored-v2-env", CIT_MSG_DEPLOY, 1, &s, CIT_FN_SPEC_V2_SIZE, env, sizeof(env));
	seed("stored-v3-env", CIT_MSG_DEPLOY, 1, &s, CIT_FN_SPEC_V3_SIZE, env, sizeof(env));
	/* State: a batch (a get, a compare-and-swap, a scan), an admin's purge. */
	struct cit_wbuf wb = { 0 };
	cit_state_add_op(&wb, &(struct cit_state_op){ .kind = CIT_STATE_GET, .klen = 3 }, "hit", NULL);
	cit_state_add_op(&wb, &(struct cit_state_op){ .kind = CIT_STATE_PUT, .flags = CIT_STATE_IF_VERSION, .klen = 3,
						       .vlen = 2, .expect = 7 },
			 "hit", "42");
	cit_state_add_op(&wb, &(struct cit_state_op){ .kind = CIT_STATE_SCAN, .klen = 1, .limit = 10 }, "h", NULL);
	struct cit_p_state sb = { .data = { .len = (uint32_t)wb.len }, .n_ops = 3 };
	seed("state-batch", CIT_MSG_STATE, 0, &sb, sizeof(sb), wb.p, wb.len);
	struct cit_p_state pg = { .ns = "counter", .flags = CIT_KV_PURGE };
	seed("kv-purge", CIT_MSG_KV, 0, &pg, sizeof(pg), NULL, 0);
	free(wb.p);
	/* Attestation: a report asked with a nonce; a secret put; the secrets a template gets. */
	struct cit_p_attest at = { .name = "echo", .nonce_len = 4, .nonce = { 1, 2, 3, 4 } };
	seed("attest", CIT_MSG_ATTEST, 0, &at, sizeof(at), NULL, 0);
	struct cit_p_secret sp = { .data = { .len = 6 }, .function = "echo", .name = "db.password",
				   .op = CIT_SECRET_PUT };
	seed("secret-put", CIT_MSG_SECRET, 0, &sp, sizeof(sp), "s3cret", 6);
	static const char blob[] = "\x02" "db" "\x03\x00\x00\x00" "abc";
	struct cit_p_secrets ss = { .data = { .len = sizeof(blob) - 1 }, .count = 1 };
	seed("secrets", CIT_MSG_SECRETS, 0, &ss, sizeof(ss), blob, sizeof(blob) - 1);
	seed("invoke-short-tail", CIT_MSG_INVOKE, 0, &(struct cit_p_invoke){ .data = { .len = 9 }, .name = "hello" },
	     sizeof(v), "abc", 3);
	return 0;
}
