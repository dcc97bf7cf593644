/* citadel-remote: `citadel deploy | invoke | ls | rm | logs | chain` over HTTP, at the monitor's
 * gateway (docs/http-api.md), for `citadel CMD --url URL` and $CITADEL_URL. citadel is a
 * static program and libcurl a shared library: citadel becomes this program (exec, from
 * beside it; src/cli/cmd_remote.c) with the command's arguments, `citadel-remote CMD
 * ARGS...`. It reads them as citadel does (the deploy options with cli/deploy.c and the
 * spec module, a bundle packed by cli/bundle.c) and prints what citadel prints, so that a
 * command means the same over either way to the monitor:
 *
 *   deploy   POST /v1/functions?name=..&runtime=..&command=..&OPTION=..., the code (the
 *            .so) or the bundle (a tar archive) as the body; prints the measurement
 *   invoke   POST /v1/functions/NAME/invoke: --data, --file or stdin is the body; the
 *            answer goes to stdout byte for byte, whole or not at all
 *   ls       GET /v1/functions: the table, or --json
 *   rm       DELETE /v1/functions/NAME
 *   logs     GET /v1/functions/NAME/logs (no --follow: HTTP has no stream of it yet)
 *   attest   GET /v1/functions/NAME/attestation?nonce=HEX: the signed report, as it is
 *   key      GET /v1/attestation: the monitor's report, whose public key is printed
 *   invoke --seal  the report fetched and checked (src/attest/report.h), then the sealed
 *            request POSTed as application/vnd.citadel.sealed, the response opened here
 *   chain    create: POST /v1/chains, the chain as JSON (read and checked here first, as
 *            citadel does); invoke: POST /v1/chains/NAME/invoke; ls: GET /v1/chains;
 *            rm: DELETE /v1/chains/NAME
 *
 * The admin routes carry $CITADEL_TOKEN (Authorization: Bearer); an invocation carries the
 * function's invoke key (--invoke-key, $CITADEL_INVOKE_KEY) or else $CITADEL_TOKEN; every
 * chain command carries $CITADEL_TOKEN when it is set (a chain that calls a function deployed
 * --invoke-key takes an admin's token).
 * Exit status, as the local commands': 0 done, 1 the request failed (one line on stderr:
 * the gateway's error, or why it could not be reached), 2 a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/deploy.h"
#include "cli/listing.h"
#include "cli/usage.h"
#include "common/fdutil.h"
#include "common/util.h"
#include "remote/http.h"
#include "remote/remote.h"
#include "spec/chainfile.h"
#include "spec/spec.h"

/* Whole exchanges of the commands that only read or remove: a gateway that takes longer
 * is in trouble. A deploy (its code's upload, then its first instance) and an invocation
 * (as long as the function runs) have no limit of their own; TCP keepalive notices a peer
 * that went away. */
#define SHORT_TIMEOUT_S 120
#define LIST_MAX (256ull << 20)      /* ls's JSON */
#define LOG_MAX (64ull << 20)        /* a log is 1-2 MiB */
#define SMALL_MAX (64ull << 10)      /* deploy's and rm's JSON */

/* What every command reads first: where the gateway is. */
struct target {
	const char *url;     /* --url, else $CITADEL_URL; NULL: none */
	bool from_env;
};

/* Picks the URL: --url (url), else $CITADEL_URL. --socket (sock) names the local monitor:
 * beside --url it is the usage error citadel gives. Returns 0 with t set, or 2 (printed). */
static int target(const char *cmd, const char *url, const char *sock, struct target *t)
{
	if (url && sock)
		return cit_usage_error(cmd, 2, "--url and --socket together: the monitor is reached one way, over "
					       "HTTP at --url or at its local --socket");
	if (sock)
		return cit_usage_error(cmd, 2, "--socket is the local monitor's: `citadel %s` reaches it, "
					       "citadel-remote speaks HTTP only", cmd);
	const char *env = getenv("CITADEL_URL");
	t->from_env = !url;
	t->url = url ? url : env && env[0] ? env : NULL;
	if (!t->url)
		return cit_usage_error(cmd, 2, "no gateway given: --url URL, or CITADEL_URL");
	if (!t->url[0])
		return cit_usage_error(cmd, 2, "--url wants the gateway's URL (http://HOST:PORT or https://...)");
	return 0;
}

/* The admin token ($CITADEL_TOKEN) for the admin routes: NULL when unset; *bad when set
 * but not a token (printed; the status is 1, as the local commands' for it). */
static const char *admin_token(const char *cmd, bool *bad)
{
	const char *t = getenv("CITADEL_TOKEN");
	*bad = false;
	if (!t || !t[0])
		return NULL;
	if (!gw_hex64_ok(t)) {
		fprintf(stderr, "citadel %s: CITADEL_TOKEN is not an admin token (64 lowercase hex digits, as "
				"`citadel token add` prints)\n", cmd);
		*bad = true;
	}
	return t;
}

/* Opens g, the gateway cmd's request goes to (gw_close() after), and when token is not
 * NULL takes the admin token into it ($CITADEL_TOKEN; NULL when unset). Returns 0, or the
 * exit status (printed). */
int remote_gateway(const char *cmd, const char *url, const char *sock, const char **token, struct gw *g)
{
	struct target t = { 0 };
	bool bad = false;
	int rc = target(cmd, url, sock, &t);
	if (rc == 0 && token)
		*token = admin_token(cmd, &bad);
	return rc ? rc : bad ? 1 : gw_open(g, cmd, t.url, t.from_env);
}

/* The answer's body as JSON: a new reference, or NULL when it is none. */
static json_t *answer_json(struct gw_answer *a)
{
	const void *bytes = gw_answer_bytes(a);
	return bytes ? json_loadb(bytes, a->len, 0, NULL) : NULL;
}

/* ---- deploy ------------------------------------------------------------------------ */

/* A query string being built: "?k=v&k=v", each value escaped. */
struct query {
	FILE *f;
	char *text;
	size_t len;
	CURL *curl;
	bool oom;
};

static void add(struct query *q, const char *key, const char *value)
{
	char *v = curl_easy_escape(q->curl, value, 0);
	if (!v) {
		q->oom = true;
		return;
	}
	fprintf(q->f, "%c%s=%s", ftell(q->f) ? '&' : '?', key, v);
	curl_free(v);
}

/* Option o's field in spec (4 or 8 bytes), whatever its kind. */
static uint64_t field(const struct cit_fn_spec *spec, const struct cit_spec_opt *o)
{
	uint64_t v = 0;
	if (o->width == sizeof(uint64_t)) {
		memcpy(&v, (const char *)spec + o->off, sizeof(v));
	} else {
		uint32_t v32;
		memcpy(&v32, (const char *)spec + o->off, sizeof(v32));
		v = v32;
	}
	return v;
}

/* The bits of option o's field that are its own: a flag's are what setting it changes
 * (the field holds other flags too); every bit for the others. */
static uint64_t own_bits(const struct cit_spec_opt *o)
{
	if (o->kind != CIT_SPEC_FLAG)
		return UINT64_MAX;
	static struct cit_fn_draft on, off;
	cit_spec_defaults(&on);
	off = on;
	if (cit_spec_set(&on, o, "true", NULL) < 0 || cit_spec_set(&off, o, "false", NULL) < 0)
		return 0;
	return field(&on.spec, o) ^ field(&off.spec, o);
}

/* Option o's value in d as its flag's argument would give it: a number in the option's
 * own unit (bytes, milliseconds, CPUs), or "true" or "false". Returns false for a kind
 * not known here. */
static bool option_text(const struct cit_fn_draft *d, const struct cit_spec_opt *o, char *out, size_t cap)
{
	unsigned long long n = (unsigned long long)field(&d->spec, o);
	uint64_t bits = own_bits(o);
	switch (o->kind) {
	case CIT_SPEC_SIZE:
	case CIT_SPEC_COUNT: snprintf(out, cap, "%llu", n); return true;
	case CIT_SPEC_DURATION: snprintf(out, cap, "%llums", n * (o->per ? o->per : 1)); return true;
	case CIT_SPEC_CPUS: snprintf(out, cap, "%llu.%03llu", n / 1000, n % 1000); return true;
	case CIT_SPEC_FLAG: snprintf(out, cap, "%s", (n & bits) == bits ? "true" : "false"); return bits != 0;
	case CIT_SPEC_ENV:
	case CIT_SPEC_NAMES:
	default: return false;
	}
}

/* The deployment's settings as the gateway reads them (docs/http-api.md): name, runtime,
 * the command (each word), then each option whose value is not its default, by its
 * manifest key, and the environment. Each value is checked to read back as it is in d
 * through the spec module the gateway reads it with: an option that would not (a kind
 * this program does not know) is refused, never dropped. Returns the query (the caller
 * frees it), or NULL with the reason printed. */
static char *deploy_query(const struct cit_deploy *dep, CURL *curl)
{
	const struct cit_fn_draft *d = &dep->d;
	static struct cit_fn_draft def, back;
	cit_spec_defaults(&def);
	struct query q = { .curl = curl };
	if (!(q.f = open_memstream(&q.text, &q.len))) {
		fprintf(stderr, "citadel deploy: %s\n", strerror(errno));
		return NULL;
	}
	add(&q, "name", d->spec.name);
	add(&q, "runtime", d->spec.runtime);
	for (size_t off = 0, i = 0; i < d->spec.n_args && off < d->spec.args_len; i++) {
		add(&q, "command", d->args + off);
		off += strlen(d->args + off) + 1;
	}
	size_t n;
	const struct cit_spec_opt *opts = cit_spec_options(&n);
	bool lost = false;
	for (size_t i = 0; i < n && !lost; i++) {
		const struct cit_spec_opt *o = &opts[i];
		if (o->kind == CIT_SPEC_ENV) {
			for (size_t off = 0, k = 0; k < d->spec.n_env && off < d->spec.env_len; k++) {
				add(&q, o->key, d->env + off);
				off += strlen(d->env + off) + 1;
			}
			continue;
		}
		if (o->kind == CIT_SPEC_NAMES) {
			for (uint32_t k = 0; k < d->spec.n_invokes; k++)
				add(&q, o->key, d->spec.invokes[k]);
			continue;
		}
		if (o->kind == CIT_SPEC_ENTRY || o->kind == CIT_SPEC_MODULES)
			continue; /* already in the command words (cit_spec_finish) */
		char text[64], was[64];
		struct cit_error err = { 0 };
		back = def;
		lost = !option_text(d, o, text, sizeof(text)) || !option_text(&def, o, was, sizeof(was)) ||
		       cit_spec_set(&back, o, text, &err) < 0 ||
		       ((field(&back.spec, o) ^ field(&d->spec, o)) & own_bits(o));
		if (lost)
			fprintf(stderr, "citadel deploy: --%s cannot be sent over --url (%s)\n", o->flag,
				err.msg[0] ? err.msg : "its value would not read back the same");
		else if (strcmp(text, was))
			add(&q, o->key, text);
	}
	fclose(q.f);
	if (q.oom || !q.text)
		fprintf(stderr, "citadel deploy: %s\n", strerror(ENOMEM));
	if (q.oom || lost) {
		free(q.text);
		return NULL;
	}
	return q.text;
}

static int deploy(int argc, char **argv)
{
	static struct cit_deploy dep;
	int rc = cit_deploy_parse(&dep, argc, argv);
	if (rc <= 0)
		return -rc;
	const char *token;
	struct gw g;
	if ((rc = remote_gateway("deploy", dep.url, dep.socket, &token, &g)))
		return rc;
	_cleanup_close_ int obj = -1;
	uint64_t len = 0;
	void *body = MAP_FAILED;
	_cleanup_free_ char *query = NULL, *path = NULL;
	rc = cit_deploy_code(&dep, &obj, &len);
	if (rc == 0 && len && (body = mmap(NULL, len, PROT_READ, MAP_SHARED, obj, 0)) == MAP_FAILED) {
		fprintf(stderr, "citadel deploy: %s: %s\n", cit_deploy_what(&dep), strerror(errno));
		rc = 1;
	}
	if (rc == 0 && !(query = deploy_query(&dep, g.curl)))
		rc = 1;
	if (rc == 0 && asprintf(&path, "/v1/functions%s", query) < 0) {
		path = NULL;
		fprintf(stderr, "citadel deploy: %s\n", strerror(ENOMEM));
		rc = 1;
	}
	char subject[4200];
	snprintf(subject, sizeof(subject), "%s: ", cit_deploy_what(&dep));
	struct gw_answer a = { .fd = -1 };
	if (rc == 0) {
		struct gw_request r = { .method = "POST", .path = path, .bearer = token, .body = len ? body : NULL,
					.body_len = len, .max_answer = SMALL_MAX, .subject = subject };
		rc = gw_call(&g, &r, &a);
	}
	if (rc == 0) {
		json_t *o = answer_json(&a);
		const char *m = json_string_value(json_object_get(o, "measurement"));
		const char *key = json_string_value(json_object_get(o, "invoke_key"));
		/* Both are hex digits, printed as they are: anything else is not the gateway's. */
		bool ok = m && gw_hex64_ok(m) && (!key || gw_hex64_ok(key));
		if (ok)
			cit_deploy_print(dep.d.spec.name, m, strlen(m), key, key ? strlen(key) : 0);
		else
			fprintf(stderr, "citadel deploy: %s: %s answered with no measurement\n", cit_deploy_what(&dep), g.url);
		rc = ok ? 0 : 1;
		json_decref(o);
		gw_answer_done(&a);
	}
	if (body != MAP_FAILED)
		munmap(body, len);
	gw_close(&g);
	return rc;
}

/* ---- invoke ------------------------------------------------------------------------ */

/* The credential an invocation carries: --invoke-key, else $CITADEL_INVOKE_KEY, else
 * $CITADEL_TOKEN, else none. Returns 0 with *bearer set (maybe NULL), or the exit status
 * (printed). */
static int invoke_bearer(const char *key, const char **bearer)
{
	const char *env = getenv("CITADEL_INVOKE_KEY");
	*bearer = NULL;
	if (key && !gw_hex64_ok(key))
		return cit_usage_error("invoke", 2, "--invoke-key wants the function's invoke key (64 lowercase hex "
						    "digits)");
	if (!key && env && env[0] && !gw_hex64_ok(env)) {
		fprintf(stderr, "citadel invoke: CITADEL_INVOKE_KEY is not an invoke key (64 lowercase hex digits)\n");
		return 1;
	}
	if (key || (env && env[0])) {
		*bearer = key ? key : env;
		return 0;
	}
	bool bad;
	*bearer = admin_token("invoke", &bad);
	return bad ? 1 : 0;
}

/* POST path (an invocation's route) at g with a's request as the body, and the answer, the
 * output, to stdout byte for byte, whole or not at all. The request: --data as it is; a
 * file or stdin read whole first (as the local command does), so that its length goes
 * ahead of it. token_only: the only credential the route takes is the admin token (a
 * chain's). Returns the exit status (printed); closes g. */
static int post_invocation(struct gw *g, const struct cit_invoke_args *a, const char *path, const char *bearer,
			   bool token_only)
{
	_cleanup_close_ int obj = -1;
	uint64_t len;
	const void *body;
	void *map;
	int rc = cit_request_bytes(g->cmd, a->data, a->file, &obj, &body, &len, &map);
	if (rc) {
		gw_close(g);
		return rc;
	}
	struct gw_request r = { .method = "POST", .path = path, .bearer = bearer, .content_type = a->content_type,
				.body = body, .body_len = len, .max_answer = CIT_FN_MAX_OUTPUT, .output = true,
				.token_only = token_only, .subject = "" };
	struct gw_answer ans;
	rc = gw_call(g, &r, &ans);
	if (map)
		munmap(map, len);
	if (rc == 0) {
		int w = gw_answer_write(&ans, 1);
		if (w < 0) {
			fprintf(stderr, "citadel %s: writing the response: %s\n", g->cmd, strerror(-w));
			rc = 1;
		}
		gw_answer_done(&ans);
	}
	gw_close(g);
	return rc;
}

static int invoke(int argc, char **argv)
{
	struct cit_invoke_args args;
	int rc = cit_invoke_args(argc, argv, "usage: citadel invoke NAME [--data STR | --file PATH] --url URL "
					     "[--invoke-key KEY] [--content-type TYPE]\n(see `citadel invoke --help`)\n", &args);
	if (rc >= 0)
		return rc;
	const char *bearer;
	struct gw g;
	if ((rc = invoke_bearer(args.key, &bearer)) || (rc = remote_gateway("invoke", args.url, args.sock, NULL, &g)))
		return rc;
	if (args.seal)
		return remote_invoke_sealed(&g, &args, bearer);
	char path[64];
	snprintf(path, sizeof(path), "/v1/functions/%s/invoke", args.name);
	return post_invocation(&g, &args, path, bearer, false);
}

/* ---- ls, rm, logs, chain ls, chain rm ------------------------------------------------ */

/* The options of the commands below and of chain create: --socket, --url, --help, and
 * those of --json, --follow and --manifest whose letters (j, f, m) are in own. */
struct args {
	const char *sock, *url, *manifest;
	bool json, follow;
};

/* Reads cmd's options into a; the operands are then argv[optind...]. Returns -1 when they
 * are valid, else the exit status: 0 after --help (help printed), 2 after a usage error. */
static int read_args(const char *cmd, const char *own, const char *help, int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },         { "url", required_argument, NULL, 'U' },
		{ "follow", no_argument, NULL, 'f' },       { "manifest", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	*a = (struct args){ 0 };
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, strchr(own, 'f') ? ":hf" : ":h", opts, NULL)) != -1) {
		if (strchr("jfm", c) && !strchr(own, c))
			return cit_usage_error(cmd, 2, "unknown option '--%s'",
					       c == 'j' ? "json" : c == 'f' ? "follow" : "manifest");
		switch (c) {
		case 's': a->sock = optarg; break;
		case 'U': a->url = optarg; break;
		case 'j': a->json = true; break;
		case 'f': a->follow = true; break;
		case 'm': a->manifest = optarg; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cit_usage_getopt(cmd, 2, c, argv);
		}
	}
	return -1;
}

/* One request of a command below, and what it prints of the answer. */
struct simple {
	const char *cmd;          /* "ls", "chain rm": for messages */
	const char *what;         /* what NAME names: "function", "chain" */
	const char *own;          /* its options beyond --socket, --url and --help (read_args) */
	const char *method;
	const char *route;        /* "/v1/functions": then /NAME when named, then tail */
	const char *tail;         /* "/logs", or "" */
	bool named;               /* it takes NAME */
	uint64_t max_answer;
	/* Prints the answer a (NAME name, or NULL) from g; returns the exit status. */
	int (*print)(const struct simple *s, const struct gw *g, struct gw_answer *a, const char *name, bool json);
};

static int print_functions(const struct simple *s, const struct gw *g, struct gw_answer *a, const char *name,
			   bool json)
{
	(void)name;
	json_t *fns = answer_json(a);
	int rc = 0;
	if (json_is_array(fns)) {
		cit_ls_print(stdout, fns, json);
	} else {
		fprintf(stderr, "citadel %s: %s answered with no list of functions\n", s->cmd, g->url);
		rc = 1;
	}
	json_decref(fns);
	return rc;
}

/* chain ls: each chain read back into a spec (so checked as the CLI checks one), then
 * printed as the local command prints them. */
static int print_chains(const struct simple *s, const struct gw *g, struct gw_answer *a, const char *name,
			bool json)
{
	(void)name;
	json_t *all = answer_json(a);
	size_t n = json_array_size(all);
	struct cit_chain_spec *c = calloc(n ? n : 1, sizeof(*c));
	struct cit_error err = { 0 };
	bool ok = json_is_array(all) && c;
	for (size_t i = 0; ok && i < n; i++)
		ok = cit_chain_of_json(&c[i], json_array_get(all, i), &err) == 0;
	char *text = ok && json ? json_dumps(all, JSON_INDENT(2)) : NULL;
	json_decref(all);
	if (!ok || (json && !text)) {
		fprintf(stderr, "citadel %s: %s answered with no list of chains%s%s\n", s->cmd, g->url,
			err.msg[0] ? ": " : "", err.msg);
		free(c);
		return 1;
	}
	if (json)
		puts(text);
	if (!json && n)
		printf("%-20s STEPS (step=function, <the steps it follows, or (input))\n", "NAME");
	for (size_t i = 0; !json && i < n; i++) {
		static char line[CIT_CHAIN_LS_LINE_MAX];
		cit_chain_ls_line(&c[i], line, sizeof(line));
		puts(line);
	}
	free(text);
	free(c);
	return 0;
}

static int print_removed(const struct simple *s, const struct gw *g, struct gw_answer *a, const char *name,
			 bool json)
{
	(void)g, (void)a, (void)json;
	printf("removed %s%s\n", strcmp(s->what, "function") ? "chain " : "", name);
	return 0;
}

static int print_log(const struct simple *s, const struct gw *g, struct gw_answer *a, const char *name, bool json)
{
	(void)g, (void)name, (void)json;
	int w = gw_answer_write(a, 1);
	if (w < 0 && w != -EPIPE) {
		fprintf(stderr, "citadel %s: writing the log: %s\n", s->cmd, strerror(-w));
		return 1;
	}
	return 0;
}

static const struct simple simple_cmds[] = {
	{ "ls", "function", "j", "GET", "/v1/functions", "", false, LIST_MAX, print_functions },
	{ "rm", "function", "", "DELETE", "/v1/functions", "", true, SMALL_MAX, print_removed },
	{ "logs", "function", "f", "GET", "/v1/functions", "/logs", true, LOG_MAX, print_log },
	{ "chain ls", "chain", "j", "GET", "/v1/chains", "", false, LIST_MAX, print_chains },
	{ "chain rm", "chain", "", "DELETE", "/v1/chains", "", true, SMALL_MAX, print_removed },
};

/* `CMD [NAME] [--json] [-f] --url URL`: one request (an admin's, but chain ls, an
 * invoker's), with $CITADEL_TOKEN when it is set. */
static int simple_command(const struct simple *s, int argc, char **argv)
{
	char help[160];
	snprintf(help, sizeof(help), "usage: citadel %s%s --url URL\n(see `citadel %.*s --help`)\n", s->cmd,
		 s->named ? " NAME" : " [--json]", (int)strcspn(s->cmd, " "), s->cmd);
	struct args o;
	int rc = read_args(s->cmd, s->own, help, argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (s->named && argc == optind)
		return cit_usage_error(s->cmd, 2, "no %s NAME given", s->what);
	if (argc - optind > s->named)
		return cit_usage_error(s->cmd, 2, "unexpected argument '%s'", argv[optind + s->named]);
	if (o.follow)
		return cit_usage_error(s->cmd, 2, "--follow is not available over --url (the gateway serves a log as it "
						  "is now): run `citadel logs -f` on the monitor's machine, or without -f "
						  "here");
	const char *name = s->named ? argv[optind] : NULL, *token;
	if (name && (strlen(name) >= CIT_NAME_MAX || !cit_fn_name_ok(name)))
		return cit_usage_error(s->cmd, 2, "'%s' is not a %s name (1 to 63 of a-z, 0-9, '-' and '_')", name,
				       s->what);
	struct gw g;
	if ((rc = remote_gateway(s->cmd, o.url, o.sock, &token, &g)))
		return rc;
	char path[128];
	snprintf(path, sizeof(path), "%s%s%s%s", s->route, name ? "/" : "", name ? name : "", s->tail);
	struct gw_request r = { .method = s->method, .path = path, .bearer = token, .timeout_s = SHORT_TIMEOUT_S,
				.max_answer = s->max_answer, .subject = "" };
	struct gw_answer a;
	rc = gw_call(&g, &r, &a);
	if (rc == 0) {
		rc = s->print(s, &g, &a, name, o.json);
		gw_answer_done(&a);
	}
	gw_close(&g);
	return rc;
}

/* ls, rm, logs (argv[0]). */
static int admin_command(int argc, char **argv)
{
	for (size_t i = 0; i < ARRAY_SIZE(simple_cmds); i++)
		if (!strcmp(simple_cmds[i].cmd, argv[0]))
			return simple_command(&simple_cmds[i], argc, argv);
	return cit_usage_error(argv[0], 2, "not available over --url");
}

/* ---- chain create, invoke ------------------------------------------------------------ */

#define CHAIN_HELP "(see `citadel chain --help`)\n"

/* `chain create NAME FUNCTION... | --manifest FILE.json`: the chain is read and checked
 * here, as citadel reads it (the same messages and exit statuses), and goes as its JSON
 * (cit_chain_json(), which the gateway reads back with cit_chain_of_json()). */
static int chain_create(int argc, char **argv)
{
	struct args o;
	int rc = read_args("chain create", "m", "usage: citadel chain create NAME FUNCTION... | --manifest FILE.json "
						"--url URL\n" CHAIN_HELP, argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (optind == argc)
		return cit_usage_error("chain create", 2, "no chain NAME given");
	const char *name = argv[optind++];
	size_t n = (size_t)(argc - optind);
	if (o.manifest && n)
		return cit_usage_error("chain create", 2, "functions and --manifest together: a chain is one or the "
							  "other");
	if (!o.manifest && !n)
		return cit_usage_error("chain create", 2, "no functions given (chain create NAME f1 f2 ..., or "
							  "--manifest FILE.json)");
	const char *token;
	struct gw g;
	if ((rc = remote_gateway("chain create", o.url, o.sock, &token, &g)))
		return rc;
	static struct cit_chain_spec spec;
	struct cit_error err = { 0 };
	rc = cit_chain_read(&spec, name, o.manifest, (const char *const *)argv + optind, n, &err);
	json_t *body = rc == 0 ? cit_chain_json(&spec) : NULL;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (rc < 0 || !text) {
		fprintf(stderr, "citadel chain create: %s%s%s\n", o.manifest ? o.manifest : "", o.manifest ? ": " : "",
			rc < 0 ? err.msg : strerror(ENOMEM));
		gw_close(&g);
		return rc == -EINVAL && !o.manifest ? 2 : 1;
	}
	struct gw_request r = { .method = "POST", .path = "/v1/chains", .bearer = token, .body = text,
				.body_len = strlen(text), .content_type = "application/json",
				.timeout_s = SHORT_TIMEOUT_S, .max_answer = SMALL_MAX, .subject = "" };
	struct gw_answer a;
	rc = gw_call(&g, &r, &a);
	free(text);
	if (rc == 0) {
		json_t *made = answer_json(&a);
		bool ok = made && cit_chain_of_json(&spec, made, &err) == 0 && !strcmp(spec.name, name);
		if (ok)
			printf("created chain %s (%u step%s)\n", name, spec.n_steps, spec.n_steps == 1 ? "" : "s");
		else
			fprintf(stderr, "citadel chain create: %s answered with no chain\n", g.url);
		rc = ok ? 0 : 1;
		json_decref(made);
		gw_answer_done(&a);
	}
	gw_close(&g);
	return rc;
}

/* `chain invoke NAME`: as invoke, with the admin token its only credential (over HTTP, a
 * chain that calls a function deployed --invoke-key takes an admin's). */
static int chain_invoke(int argc, char **argv)
{
	struct cit_invoke_args a;
	int rc = cit_invoke_args_of("chain invoke", "chain", argc, argv, "usage: citadel chain invoke NAME [--data STR | "
				    "--file PATH] [--content-type TYPE] --url URL\n" CHAIN_HELP, &a);
	if (rc >= 0)
		return rc;
	if (a.key)
		return cit_usage_error("chain invoke", 2, "--invoke-key is for functions: a chain over --url takes an "
							  "admin token when a step's function has an invoke key");
	const char *token;
	struct gw g;
	if ((rc = remote_gateway("chain invoke", a.url, a.sock, &token, &g)))
		return rc;
	char path[128];
	snprintf(path, sizeof(path), "/v1/chains/%s/invoke", a.name);
	return post_invocation(&g, &a, path, token, true);
}

/* `chain VERB ...` (argv[1] the verb). */
static int chain(int argc, char **argv)
{
	if (argc < 2)
		return cit_usage_error("chain", 2, "create, invoke, ls or rm?");
	const char *verb = argv[1];
	if (!strcmp(verb, "create"))
		return chain_create(argc - 1, argv + 1);
	if (!strcmp(verb, "invoke"))
		return chain_invoke(argc - 1, argv + 1);
	for (size_t i = 0; i < ARRAY_SIZE(simple_cmds); i++)
		if (!strncmp(simple_cmds[i].cmd, "chain ", 6) && !strcmp(simple_cmds[i].cmd + 6, verb))
			return simple_command(&simple_cmds[i], argc - 1, argv + 1);
	return cit_usage_error("chain", 2, "unknown subcommand '%s' (create, invoke, ls or rm)", verb);
}

static const char usage[] =
	"usage: citadel-remote COMMAND [ARGS...] [--url URL]\n"
	"\n"
	"The monitor's commands over HTTP, at its gateway. `citadel COMMAND --url URL ...` (or\n"
	"with $CITADEL_URL set) runs this program, installed beside citadel, with the command's\n"
	"arguments, which are citadel's: deploy, invoke, ls, rm, logs, chain. The admin token is\n"
	"$CITADEL_TOKEN; an invocation sends --invoke-key KEY, else $CITADEL_INVOKE_KEY, else\n"
	"$CITADEL_TOKEN; a chain's commands send $CITADEL_TOKEN.\n";

int main(int argc, char **argv)
{
	/* As citadel: a closed stdio fd must not become the spool or the connection. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_RDONLY : O_WRONLY) != fd)
			return 1;
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "deploy", deploy }, { "invoke", invoke }, { "ls", admin_command },
		{ "rm", admin_command }, { "logs", admin_command }, { "chain", chain },
		{ "attest", remote_attest }, { "key", remote_key },
	};
	const char *cmd = argv[1];
	if (cmd[0] == '-') {
		fprintf(stderr, "citadel-remote: the COMMAND comes first, not '%s'\n%s", cmd, usage);
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(cmd, cmds[i].name))
			continue;
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fprintf(stderr, "citadel %s: libcurl did not start\n", cmd);
			return 1;
		}
		int rc = cmds[i].fn(argc - 1, argv + 1);
		curl_global_cleanup();
		return fflush(stdout) == 0 ? rc : 1;
	}
	const char *env = getenv("CITADEL_URL");
	bool flag = false;
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
		flag |= !strcmp(argv[i], "--url") || !strncmp(argv[i], "--url=", 6);
	if (!flag && env && env[0])
		return cit_usage_error(cmd, 2, "not available over --url (CITADEL_URL is set; over HTTP: deploy, "
					       "invoke, ls, rm, logs, chain, attest and key): --socket PATH reaches the local monitor");
	return cit_usage_error(cmd, 2, "not available over --url (over HTTP: deploy, invoke, ls, rm, logs, chain, attest and "
				       "key)");
}
