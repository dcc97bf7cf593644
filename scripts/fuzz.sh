#!/bin/sh
# Builds the wire protocol's fuzz target (tests/fuzz/fuzz_proto.c: libFuzzer with ASan and
# UBSan, clang) into build-fuzz/ and runs it for SECONDS (default 10) on a fresh copy of
# the seed corpus (tests/fuzz/corpus/). Fails on any crash, leak, timeout or broken
# invariant, saying where the input that did it was saved (tests/fuzz/crashes/).
#   scripts/fuzz.sh [SECONDS]        make test runs it for 20 s; by hand: scripts/fuzz.sh 600
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
# What cit_proto_parse and cit_fn_spec_parse link with.
$cc -std=c17 -g -O1 -Wall -Wextra -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-D_GNU_SOURCE -Isrc tests/fuzz/fuzz_proto.c src/proto/proto.c src/objects/objects.c \
	src/spec/spec.c src/common/error.c src/common/fdutil.c -o "$out/fuzz_proto"

rm -rf "$out/corpus"
cp -r tests/fuzz/corpus "$out/corpus"
log="$out/fuzz_proto.log"
echo "fuzz: fuzz_proto for ${secs} s (log: $log)"
# -max_len: past CIT_MSG_MAX (41,120 bytes) and the fd byte, so truncation is reached too.
rc=0
"$out/fuzz_proto" "$out/corpus" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
	tail -n 60 "$log" >&2
	saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
	echo "fuzz: FAILED (exit $rc); the input is in ${saved:-$crashes/}; reproduce: $out/fuzz_proto ${saved:-FILE}" >&2
	exit 1
fi
grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | tr -s ' \n' ' '
echo
