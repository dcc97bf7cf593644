#!/bin/sh
# `make run`: shows what `citadel run` does, one sandboxed program at a time.
set -u
citadel=${1:-build/citadel}
show() {
	printf '\n$ citadel run %s\n' "$*"
	"$citadel" run "$@"
	printf '[exit status %d]\n' "$?"
}
echo "Citadel $("$citadel" version | cut -d' ' -f2): every command below runs in a fresh sandbox."
show -- /bin/echo "hello from a sandbox"
show -- /bin/sh -c 'id; hostname; ls /'
show -- /bin/sh -c 'ps -e -o pid,user,comm'
show -- /usr/bin/python3 -c 'import os, socket; print("pid", os.getpid(), "interfaces", [n for _, n in socket.if_nameindex()])'
show -- /bin/sh -c 'echo hi > /tmp/ok && cat /tmp/ok; touch /etc/evil'
show -- /bin/cat /etc/shadow
show --timeout 1 -- /bin/sleep 5
show --memory 32M -- /usr/bin/python3 -c 'b = bytearray(64 << 20)'
show --pids 16 -- /bin/sh -c 'for i in $(seq 40); do sleep 1 & done; wait'
show --output-limit 64 -- /bin/sh -c 'yes citadel'
printf '\nSee `%s run --help` for every option, and docs/sandbox.md for the design.\n' "$citadel"
