#!/bin/sh
# `make run`: starts the monitor (`citadel serve`, which runs citadeld) in the foreground
# with the examples deployed, shows a few invocations, and prints how to invoke them.
# Ctrl-C stops it and every sandbox with it. It serves on $CITADEL_SOCKET and keeps the
# functions in $CITADEL_STATE_DIR: by default the CLI's own socket and the monitor's own
# state directory, so that plain `build/citadel invoke NAME` finds it; the hints it
# prints name a socket set otherwise.
set -u
build=${1:-build}
citadel="$build/citadel"
default_sock=/run/citadel/citadel.sock
sock="${CITADEL_SOCKET:-$default_sock}"
state="${CITADEL_STATE_DIR:-/var/lib/citadel}"
listen="${CITADEL_LISTEN:-127.0.0.1:8080}" # the HTTP gateway's address (citadeld reads it too)
# Absolute, as the monitor wants its state directory and another terminal its socket.
case $sock in /*) ;; *) sock="$PWD/$sock" ;; esac
case $state in /*) ;; *) state="$PWD/$state" ;; esac
export CITADEL_SOCKET="$sock"

# $1 as a shell word (quoted when it has to be).
shell_word() {
	case $1 in
	*[!A-Za-z0-9_./:=@%+-]*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
	*) printf '%s' "$1" ;;
	esac
}

if "$citadel" ls >/dev/null 2>&1; then
	echo "citadel: a monitor is already serving on $sock; stop it first (or set CITADEL_SOCKET)." >&2
	exit 1
fi
"$citadel" serve --state-dir "$state" --socket "$sock" --listen "$listen" &
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

for f in hello echo json sha256 matmul http upper concat; do
	"$citadel" deploy "$f" "$build/examples/$f.so" >/dev/null || exit 1
done
"$citadel" deploy crash "$build/examples/crash.so" >/dev/null
"$citadel" deploy loop "$build/examples/loop.so" --timeout 1s >/dev/null
"$citadel" deploy words -- /usr/bin/wc -w >/dev/null || exit 1

show() {
	printf '\n$ citadel invoke %s\n' "$*"
	"$citadel" invoke "$@"
}
echo
if [ "$listen" = none ]; then
	echo "Citadel's monitor is serving on $sock (state in $state), with the examples deployed:"
else
	echo "Citadel's monitor is serving on $sock and http://$listen (state in $state), with the examples deployed:"
fi
show hello --data "Ada"
show json --data '{"name": "citadel", "cores": 2, "load": 0.5}'
printf '\n$ echo hello | citadel invoke sha256\n'
echo hello | "$citadel" invoke sha256
show matmul --data 200
show words --data "any program is a function"
show crash --data x
show loop --data x
"$citadel" chain create shout echo upper words >/dev/null || exit 1
printf '\n$ citadel chain create shout echo upper words; citadel chain invoke shout --data "chains hand data on"\n'
"$citadel" chain invoke shout --data "chains hand data on"
"$citadel" deploy relay "$build/examples/relay.so" --env CALLEE=upper --allow-invoke upper >/dev/null || exit 1
show relay --data "relay calls upper"
# Attestation: the monitor's key, then a sealed call that checks echo's signed report first.
"$citadel" key >"$state/monitor.pub" || exit 1
printf '\n$ citadel key > monitor.pub; citadel invoke echo --seal --key monitor.pub --data "only echo'"'"'s attested code reads this"\n'
"$citadel" invoke echo --seal --key "$state/monitor.pub" --data "only echo's attested code reads this"
echo
printf '\n$ citadel ls\n'
"$citadel" ls
cli=$(shell_word "$citadel")
echo
echo "Try, in another terminal (as root, in $PWD):"
[ "$sock" = "$default_sock" ] || echo "  export CITADEL_SOCKET=$(shell_word "$sock")"
cat <<EOT
  $cli invoke hello --data you
  $cli invoke echo --file /etc/os-release
  $cli ls --json
  $cli logs hello
  $cli chain invoke shout --data 'one two'   # echo -> upper -> wc -w, see docs/chains.md
  $cli attest echo --nonce 0123abcd | $cli verify - --key $(shell_word "$state/monitor.pub") --name echo --nonce 0123abcd   # docs/attestation.md
EOT
if [ "$listen" != none ]; then
	echo "  curl -s -d you http://$listen/function/hello"
	echo "  curl -i 'http://$listen/function/http/any/path?status=201'   # what a function sees of HTTP"
	echo "  curl -s -d later http://$listen/async-function/echo   # then: curl http://$listen/v1/calls/ID"
	echo "  curl -s http://$listen/metrics   # and http://$listen/ in a browser: a status page"
fi
cat <<EOT
  $cli deploy mine my_function.so      # see docs/functions.md

The monitor's log follows; Ctrl-C stops it and every sandbox with it.
EOT
wait $monitor
