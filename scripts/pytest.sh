#!/bin/sh
# Runs the black-box tests against one build directory, in a temporary directory of their
# own that is removed afterwards, whatever the outcome (tests leave files of up to
# hundreds of MB: written /tmp fills, bound trees, copies of citadel).
#   scripts/pytest.sh BUILD_DIR [PYTEST ARGS...]
set -u
build=$1
shift
base=$(mktemp -d /tmp/citadel-tests.XXXXXX) || exit 1
trap 'rm -rf "$base"' EXIT INT TERM
echo "CITADEL_BUILD=$build /usr/bin/python3 -m pytest -q -p no:cacheprovider --basetemp=$base tests $*"
CITADEL_BUILD=$build /usr/bin/python3 -m pytest -q -p no:cacheprovider --basetemp="$base" tests "$@"
