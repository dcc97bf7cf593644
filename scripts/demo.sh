#!/bin/sh
# `make run`: starts the monitor (`citadel serve`) in the foreground with the examples
# deployed, shows a few invocations, and prints how to invoke them. Ctrl-C stops it and
# every sandbox with it. Uses the default socket and state directory, so that plain
# `build/citadel invoke NAME` finds it.
set -u
build=${1:-build}
citadel="$build/citadel"
sock="${CITADEL_SOCKET:-/run/citadel/citadel.sock}"
state="${CITADEL_STATE_DIR:-/var/lib/citadel}"
export CITADEL_SOCKET="$sock"

if "$citadel" ls >/dev/null 2>&1; then
	echo "citadel: a monitor is already serving on $sock; stop it first (or set CITADEL_SOCKET)." >&2
	exit 1
fi
"$citadel" serve --state-dir "$state" --socket "$sock" &
monitor=$!
trap 'kill -TERM $monitor 2>/dev/null; wait $monitor; exit 0' INT TERM
i=0
until [ -S "$sock" ] && "$citadel" ls >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $monitor 2>/dev/null; then
		echo "citadel: the monitor did not start" >&2
		exit 1
	fi
	sleep 0.05
done

for f in hello echo json sha256 matmul; do
	"$citadel" deploy "$f" "$build/examples/$f.so" >/dev/null || exit 1
done
"$citadel" deploy crash "$build/examples/crash.so" >/dev/null
"$citadel" deploy loop "$build/examples/loop.so" --timeout 1s >/dev/null

show() {
	printf '\n$ citadel invoke %s\n' "$*"
	"$citadel" invoke "$@"
}
echo
echo "Citadel's monitor is serving on $sock (state in $state), with the examples deployed:"
show hello --data "Ada"
show json --data '{"name": "citadel", "cores": 2, "load": 0.5}'
printf '\n$ echo hello | citadel invoke sha256\n'
echo hello | "$citadel" invoke sha256
show matmul --data 200
show crash --data x
show loop --data x
printf '\n$ citadel ls\n'
"$citadel" ls
cat <<EOT

Try, in another terminal (as root):
  $citadel invoke hello --data you
  $citadel invoke echo --file /etc/os-release
  $citadel ls --json
  $citadel logs hello
  $citadel deploy mine my_function.so      (see docs/functions.md)

The monitor's log follows; Ctrl-C stops it and every sandbox with it.
EOT
wait $monitor
