#!/bin/sh
# Builds the fuzz targets (libFuzzer with ASan and UBSan, clang) into build-fuzz/ and runs
# each for SECONDS (default 10) on a fresh copy of its seed corpus:
#   fuzz_proto  the wire protocol's checks on receipt, and the state's batches
#               (tests/fuzz/fuzz_proto.c, corpus/)
#   fuzz_http   the HTTP gateway's request-to-invocation path (tests/fuzz/fuzz_http.c,
#               corpus_http/)
# Fails on any crash, leak, timeout or broken invariant, saying where the input that did it
# was saved (tests/fuzz/crashes/).
#   scripts/fuzz.sh [SECONDS]        make test runs it for 20 s each; by hand: scripts/fuzz.sh 600
set -eu
cd "$(dirname "$0")/.."
secs=${1:-10}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
out=build-fuzz
crashes=tests/fuzz/crashes

cc=clang-14
command -v "$cc" >/dev/null || cc=clang
command -v "$cc" >/dev/null || { echo "fuzz: no clang (scripts/deps.sh test installs clang-14)" >&2; exit 1; }

mkdir -p "$out" "$crashes"
# Neither is ever committed (tests/fuzz/crashes/: inputs to look at, then to fix).
echo '*' >"$out/.gitignore"
echo '*' >"$crashes/.gitignore"
flags="-std=c17 -g -O1 -Wall -Wextra -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE -Isrc"
# What cit_proto_parse and cit_fn_spec_parse link with.
# shellcheck disable=SC2086
$cc $flags tests/fuzz/fuzz_proto.c src/proto/proto.c src/spec/chain.c src/objects/objects.c \
	src/spec/spec.c src/state/wire.c src/common/error.c src/common/fdutil.c -o "$out/fuzz_proto"
# The gateway as citadel-gateway is built, without its main.
# shellcheck disable=SC2086
$cc $flags -DCIT_GATEWAY_NO_MAIN -Iinclude tests/fuzz/fuzz_http.c src/gateway/gateway.c src/proto/proto.c src/state/wire.c src/spec/chain.c \
	src/objects/objects.c src/spec/spec.c src/spec/draft.c src/spec/manifest.c src/spec/info.c src/spec/chainfile.c \
	src/common/error.c src/common/parse.c src/common/fdutil.c $(pkg-config --cflags --libs libmicrohttpd jansson) \
	-lpthread -o "$out/fuzz_http"

# run TARGET CORPUS MAX_LEN
run() {
	rm -rf "$out/$2"
	cp -r "tests/fuzz/$2" "$out/$2"
	log="$out/$1.log"
	echo "fuzz: $1 for ${secs} s (log: $log)"
	rc=0
	"$out/$1" "$out/$2" -max_total_time="$secs" -max_len="$3" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		tail -n 60 "$log" >&2
		saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		echo "fuzz: FAILED (exit $rc); the input is in ${saved:-$crashes/}; reproduce: $out/$1 ${saved:-FILE}" >&2
		exit 1
	fi
	grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | tr -s ' \n' ' '
	echo
}
# fuzz_proto -max_len: past CIT_MSG_MAX (41,120 bytes) and the fd byte, so truncation is
# reached too; fuzz_http: a request line, headers and a body past the 64 KiB of headers.
run fuzz_proto corpus 65536
run fuzz_http corpus_http 81920
