#!/bin/sh
# An exec function in shell: counts the request's lines, words and bytes, and says so on
# stderr (the function's log). Deploy:  citadel deploy count -- /bin/sh /opt/citadel-examples/count.sh
set -eu
set -- $(wc -l -w -c)
echo "lines=$1 words=$2 bytes=$3"
echo "counted $3 bytes" >&2
