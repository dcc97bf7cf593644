/* `citadel chain create | invoke | ls | rm`: chains of functions (docs/chains.md).
 * Exit status: 0 on success, 1 when the request failed (the reason on stderr), 2 on a
 * usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/deploy.h"
#include "common/fdutil.h"
#include "common/util.h"
#include "spec/chainfile.h"

#define SOCKET_URL_HELP                                                                  \
	"  --socket PATH  the monitor's socket (default $CITADEL_SOCKET, else\n"            \
	"                 /run/citadel/citadel.sock)\n"                                     \
	"  --url URL      the monitor's HTTP gateway instead (default $CITADEL_URL), with\n" \
	"                 the admin token in $CITADEL_TOKEN\n"

static const char usage[] =
	"usage: citadel chain create NAME FUNCTION... | --manifest FILE.json\n"
	"       citadel chain invoke NAME [--data STR | --file PATH] [--content-type TYPE]\n"
	"       citadel chain ls [--json]\n"
	"       citadel chain rm NAME\n"
	"                 [--socket PATH | --url URL] (each)\n"
	"\n"
	"A chain runs functions one after another, each step's output the next one's input,\n"
	"handed on as a sealed data object, never copied. `create NAME f1 f2 f3` makes a line;\n"
	"--manifest a DAG of named steps (fan-out: several steps after one; fan-in: one step\n"
	"after several, which gets their outputs as a list). A chain's name is its own, apart\n"
	"from functions'; creating one of an existing name replaces it. `invoke` writes the\n"
	"final step's output to stdout; a failing step stops the chain, and its name and\n"
	"reason are printed. create and rm are for admins; invoke and ls for invokers.\n"
	"\n"
	"A manifest: {\"steps\": [{\"name\": \"fetch\", \"function\": \"fetch\"},\n"
	"                        {\"name\": \"a\", \"function\": \"resize\", \"after\": [\"fetch\"]},\n"
	"                        {\"name\": \"b\", \"function\": \"gray\", \"after\": [\"fetch\"]},\n"
	"                        {\"name\": \"join\", \"function\": \"merge\", \"after\": [\"a\", \"b\"]}]}\n"
	"\n"
	"  --manifest FILE  the chain's steps, as JSON (at most 256 KiB)\n"
	"  --data, --file, --content-type  the request, as citadel invoke takes it\n"
	"  --json         ls: one JSON array\n" SOCKET_URL_HELP;

static int create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "manifest", required_argument, NULL, 'm' }, { "socket", required_argument, NULL, 's' },
		{ "url", required_argument, NULL, 'U' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *manifest = NULL, *sock = NULL, *url = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': manifest = optarg; break;
		case 's': sock = optarg; break;
		case 'U': url = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return cit_usage_getopt("chain create", 2, c, argv);
		}
	}
	if (optind == argc)
		return cit_usage_error("chain create", 2, "no chain NAME given");
	const char *name = argv[optind++];
	size_t n = (size_t)(argc - optind);
	if (manifest && n)
		return cit_usage_error("chain create", 2, "functions and --manifest together: a chain is one or the other");
	if (!manifest && !n)
		return cit_usage_error("chain create", 2, "no functions given (chain create NAME f1 f2 ..., or --manifest "
				       "FILE.json)");
	int rc = cit_remote(argc + 1, argv - 1, url, sock);
	if (rc >= 0)
		return rc;
	static struct cit_chain_spec spec;
	struct cit_error err = { 0 };
	rc = cit_chain_read(&spec, name, manifest, (const char *const *)argv + optind, n, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel chain create: %s%s%s\n", manifest ? manifest : "", manifest ? ": " : "", err.msg);
		return rc == -EINVAL && !manifest ? 2 : 1;
	}
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(sock), &err);
	rc = s < 0 ? s : cit_client_call(s, CIT_MSG_CHAIN_CREATE, &spec, sizeof(spec), NULL, 0, -1, buf, &rx, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel chain create: %s\n", err.msg);
		return 1;
	}
	cit_rx_close(&rx);
	printf("created chain %s (%u step%s)\n", name, spec.n_steps, spec.n_steps == 1 ? "" : "s");
	return 0;
}

static int list(int argc, char **argv)
{
	const char *name, *sock = NULL, *url = NULL;
	bool json = false;
	int rc = cit_name_args(argc, argv, "chain ls", usage, false, &name, &sock, &url, &json);
	if (rc <= 0 || (rc = cit_remote(argc + 1, argv - 1, url, sock)) >= 0)
		return rc < 0 ? -rc : rc;
	struct reply r;
	if (cit_simple_request("chain ls", CIT_MSG_CHAIN_LIST, NULL, sock, &r))
		return 1;
	size_t n = r.len / sizeof(struct cit_chain_spec);
	const struct cit_chain_spec *c = r.data;
	if (json) {
		json_t *all = json_array();
		for (size_t i = 0; all && i < n; i++) {
			json_t *o = cit_chain_json(&c[i]);
			json_array_append_new(all, o ? o : json_null());
		}
		char *text = all ? json_dumps(all, JSON_INDENT(2)) : NULL;
		json_decref(all);
		if (text)
			puts(text);
		free(text);
	} else {
		if (n)
			printf("%-20s STEPS (step=function, <the steps it follows, or (input))\n", "NAME");
		static char line[CIT_CHAIN_LS_LINE_MAX];
		for (size_t i = 0; i < n; i++) {
			cit_chain_ls_line(&c[i], line, sizeof(line));
			puts(line);
		}
	}
	cit_reply_done(&r);
	return 0;
}

static int remove_chain(int argc, char **argv)
{
	const char *name, *sock = NULL, *url = NULL;
	int rc = cit_name_args(argc, argv, "chain rm", usage, true, &name, &sock, &url, NULL);
	if (rc <= 0 || (rc = cit_remote(argc + 1, argv - 1, url, sock)) >= 0)
		return rc < 0 ? -rc : rc;
	struct reply r;
	if (cit_simple_request("chain rm", CIT_MSG_CHAIN_REMOVE, name, sock, &r))
		return 1;
	cit_reply_done(&r);
	printf("removed chain %s\n", name);
	return 0;
}

static int invoke(int argc, char **argv)
{
	struct cit_invoke_args a;
	int rc = cit_invoke_args_of("chain invoke", "chain", argc, argv, usage, &a);
	if (rc >= 0)
		return rc;
	if (a.key)
		return cit_usage_error("chain invoke", 2, "--invoke-key is for functions: a chain over --url takes an "
				       "admin token when a step's function has an invoke key");
	rc = cit_remote(argc + 1, argv - 1, a.url, a.sock);
	if (rc >= 0)
		return rc;
	return cit_invoke_request("chain invoke", CIT_MSG_CHAIN_INVOKE, &a);
}

int cit_cmd_chain(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc < 2)
			return cit_usage_error("chain", 2, "create, invoke, ls or rm?");
		fputs(usage, stdout);
		return 0;
	}
	const char *verb = argv[1];
	if (!strcmp(verb, "create"))
		return create(argc - 1, argv + 1);
	if (!strcmp(verb, "invoke"))
		return invoke(argc - 1, argv + 1);
	if (!strcmp(verb, "ls"))
		return list(argc - 1, argv + 1);
	if (!strcmp(verb, "rm"))
		return remove_chain(argc - 1, argv + 1);
	return cit_usage_error("chain", 2, "unknown subcommand '%s' (create, invoke, ls or rm)", verb);
}
