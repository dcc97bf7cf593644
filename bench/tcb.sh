#!/bin/sh
# Lines of C (without blank lines and comment-only lines) that run inside the monitor
# process (its trusted base), beside the rest of Citadel.   bench/tcb.sh [--json]
cd "$(dirname "$0")/.." || exit 1
count() { cat "$@" | grep -v '^\s*$' | grep -v '^\s*\(/\*\|\*\|//\)' | wc -l; }
monitor=$(count src/monitor/*.[ch])
sandbox=$(count src/sandbox/*.[ch] src/common/*.[ch] src/cli/cmd_serve.c src/cli/main.c)
runtime=$(count src/zygote/*.[ch])
cli=$(count src/cli/cmd_run.c src/cli/cmd_fn.c src/cli/client.[ch] src/cli/cli.h)
if [ "${1:-}" = --json ]; then
	printf '{"monitor": %s, "sandbox_and_common": %s, "tcb": %s, "runtime_untrusted": %s, "cli_outside": %s}\n' \
		"$monitor" "$sandbox" "$((monitor + sandbox))" "$runtime" "$cli"
else
	echo "inside the monitor process (trusted base):"
	echo "  src/monitor                         $monitor"
	echo "  src/sandbox, src/common, serve      $sandbox"
	echo "  total                               $((monitor + sandbox))"
	echo "outside it:"
	echo "  src/zygote (runtime, sandboxed)     $runtime"
	echo "  CLI clients and citadel run         $cli"
fi
