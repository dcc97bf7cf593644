#!/bin/sh
# Installs the Debian packages Citadel needs to build, test and benchmark, when any is
# missing. Idempotent and non-interactive: a second run does nothing and prints nothing.
#   scripts/deps.sh build|test|bench
set -eu
build="gcc make meson ninja-build pkg-config libseccomp-dev libsodium-dev libjansson-dev libarchive-dev libmicrohttpd-dev libcurl4-openssl-dev libpython3.11-dev liblmdb-dev"
test="$build python3-pytest busybox-static clang-14 libclang-rt-14-dev curl iproute2 chromium python3-jinja2 python3-pil python3-igraph python3-lmdb python3-nacl"
bench="$test bubblewrap crun runc firejail python3-matplotlib wrk nginx-light fcgiwrap libh2o-evloop-dev openssl"
case "${1:-build}" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "citadel: installing Debian packages:$missing" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "citadel: need root (or sudo) to install:$missing" >&2; exit 1; }
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Packages that ship a service (nginx, fcgiwrap: the benchmark starts its own, on ports of
# its own) must not start it on install: a policy-rc.d saying no, for the install only.
policy=/usr/sbin/policy-rc.d
if [ ! -e $policy ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null
	$sudo chmod 755 $policy
	trap '$sudo rm -f $policy' EXIT
fi
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
