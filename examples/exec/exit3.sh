#!/bin/sh
# Fails: writes a reason to stderr (the function's log) and exits 3.
echo "partial output"
echo "exit3: refusing this request" >&2
exit 3
