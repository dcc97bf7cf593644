/* `citadel secret put | grant | ls | rm`: secrets released to a function's code, for admins
 * (docs/attestation.md, "Secrets"). Exit status: 0 on success, 1 when the request failed
 * (the reason on stderr), 2 on a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/deploy.h"
#include "common/fdutil.h"
#include "common/util.h"
#include "objects/objects.h"

static const char usage[] =
	"usage: citadel secret put NAME [FILE] --for FUNCTION   (no FILE, or '-': stdin)\n"
	"       citadel secret grant [NAME] --for FUNCTION      (no NAME: each of its secrets)\n"
	"       citadel secret ls [--for FUNCTION] [--json]\n"
	"       citadel secret rm NAME --for FUNCTION\n"
	"                 [--socket PATH] (each)\n"
	"\n"
	"Secrets released to a function's code. `put` seals the bytes of FILE in the monitor's\n"
	"state directory, bound to FUNCTION's name and its code measurement (its runtime and\n"
	"code, not its limits: a redeploy with a new --memory keeps them). The function reads\n"
	"them as it starts: cit_secret(NAME) in C, citadel.secret(NAME) in Python, the file\n"
	"$CITADEL_SECRETS_DIR/NAME for an exec program; nothing else can, and no command reads\n"
	"one back. A redeploy with other code does not get them until `grant` binds them to the\n"
	"code deployed now. A put or grant takes effect at the function's next start (`citadel\n"
	"restart FUNCTION`, or a deploy). `ls` shows names, sizes, the code each is bound to and\n"
	"whether it is released to the code deployed; `rm` deletes one. NAME: 1 to 63 of A-Z,\n"
	"a-z, 0-9, '.', '-' and '_', not beginning with '.'; a secret is at most 64 KiB, a\n"
	"function has at most 64.\n"
	"\n"
	"  --for FUNCTION the function the secret belongs to\n"
	"  --json         ls: a JSON array of {\"function\", \"secret\", \"bytes\",\n"
	"                 \"code_measurement\", \"released\"}\n"
	"  --socket PATH  the monitor's socket (default $CITADEL_SOCKET, else\n"
	"                 " CIT_DEFAULT_SOCKET ")\n";

/* Sends one SECRET request (with the data object obj, or -1) and prints its answer.
 * Returns the exit status. */
static int secret_call(const char *cmd, const char *sock, struct cit_p_secret *p, int obj, bool json)
{
	struct cit_error err = { 0 };
	_cleanup_close_ int s = cit_client_connect(cit_client_socket(sock), &err);
	static _Alignas(16) char buf[CIT_MSG_MAX];
	struct cit_rx rx;
	int rc = s < 0 ? s : cit_client_call(s, CIT_MSG_SECRET, p, sizeof(*p), NULL, 0, obj, buf, &rx, &err);
	if (rc < 0) {
		fprintf(stderr, "citadel secret %s: %s\n", cmd, err.msg);
		return 1;
	}
	const void *data;
	size_t len;
	void *map;
	if (cit_rx_data(&rx, &data, &len, &map) < 0) {
		fprintf(stderr, "citadel secret %s: malformed reply\n", cmd);
		cit_rx_close(&rx);
		return 1;
	}
	if (p->op != CIT_SECRET_LIST) {
		if (len)
			printf("%.*s\n", (int)len, (const char *)data);
	} else {
		json_t *a = json_loadb(data, len, 0, NULL);
		size_t i;
		json_t *e;
		if (json)
			printf("%.*s\n", (int)len, (const char *)data);
		else if (json_array_size(a))
			printf("%-24s %-24s %8s  %-12s %s\n", "FUNCTION", "SECRET", "BYTES", "CODE", "RELEASED");
		json_array_foreach(json ? NULL : a, i, e) {
			const char *cm = json_string_value(json_object_get(e, "code_measurement"));
			char bytes[24] = "-"; /* damaged: unknown */
			if (cm)
				snprintf(bytes, sizeof(bytes), "%lld", (long long)json_integer_value(json_object_get(e, "bytes")));
			printf("%-24s %-24s %8s  %-12.12s %s\n", json_string_value(json_object_get(e, "function")),
			       json_string_value(json_object_get(e, "secret")), bytes, cm ? cm : "(damaged)",
			       json_is_true(json_object_get(e, "released")) ? "yes" : "no");
		}
		json_decref(a);
	}
	if (map)
		munmap(map, len);
	cit_rx_close(&rx);
	return 0;
}

int cit_cmd_secret(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "for", required_argument, NULL, 'f' },  { "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
		{ "url", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *verb = argv[1], *fn = NULL, *sock = NULL;
	bool json = false;
	static const char *const verbs[] = { "put", "grant", "ls", "rm" };
	uint32_t op = 0;
	for (uint32_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(verb, verbs[i]))
			op = i + 1; /* CIT_SECRET_PUT, GRANT, LIST, REMOVE */
	if (!op)
		return cit_usage_error("secret", 2, "unknown command '%s' (put, grant, ls or rm)", verb);
	int c;
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': fn = optarg; break;
		case 'j': json = true; break;
		case 's': sock = optarg; break;
		case 'U':
			return cit_usage_error("secret", 2, "not available over --url: secrets are put on the monitor's "
					       "own socket (--socket PATH)");
		case 'h': fputs(usage, stdout); return 0;
		default: return cit_usage_getopt("secret", 2, c, argv);
		}
	}
	if (!sock && getenv("CITADEL_URL") && getenv("CITADEL_URL")[0])
		return cit_usage_error("secret", 2, "not available over --url (CITADEL_URL is set): secrets are put on "
				       "the monitor's own socket: give --socket PATH");
	int left = argc - optind;
	const char *name = left > 0 ? argv[optind] : "", *file = left > 1 ? argv[optind + 1] : NULL;
	int most = op == CIT_SECRET_PUT ? 2 : op == CIT_SECRET_LIST ? 0 : 1;
	if (left > most)
		return cit_usage_error("secret", 2, "unexpected argument '%s'", argv[optind + most]);
	if (!fn && op != CIT_SECRET_LIST)
		return cit_usage_error("secret", 2, "--for FUNCTION is needed: the function the secret belongs to");
	if (fn && (strlen(fn) >= CIT_NAME_MAX || !cit_fn_name_ok(fn)))
		return cit_usage_error("secret", 2, "'%s' is not a function name (1 to 63 of a-z, 0-9, '-' and '_')", fn);
	if ((op == CIT_SECRET_PUT || op == CIT_SECRET_REMOVE) && !name[0])
		return cit_usage_error("secret", 2, "no secret NAME given");
	if (name[0] && !cit_secret_name_ok(name))
		return cit_usage_error("secret", 2, "'%s' is not a secret's name (1 to 63 of A-Z, a-z, 0-9, '.', '-' "
				       "and '_', not beginning with '.')", name);
	if (json && op != CIT_SECRET_LIST)
		return cit_usage_error("secret", 2, "--json is for ls");
	struct cit_p_secret p = { .op = op };
	snprintf(p.function, sizeof(p.function), "%s", fn ? fn : "");
	snprintf(p.name, sizeof(p.name), "%s", name);
	_cleanup_close_ int obj = -1;
	if (op == CIT_SECRET_PUT) {
		bool in = !file || !strcmp(file, "-");
		_cleanup_close_ int fd = in ? dup(0) : open(file, O_RDONLY | O_CLOEXEC);
		int rc = fd < 0 ? -errno : cit_slurp(fd, &obj, &p.data.obj_len);
		if (rc == 0 && p.data.obj_len > CIT_SECRET_MAX)
			rc = -EFBIG;
		if (rc < 0) {
			fprintf(stderr, "citadel secret put: %s: %s\n", in ? "stdin" : file,
				rc == -EFBIG ? "a secret is at most 64 KiB" : strerror(-rc));
			return 1;
		}
		if (!p.data.obj_len) /* empty: no data object needed */
			close(steal_fd(&obj));
	}
	return secret_call(verb, sock, &p, obj, json);
}
