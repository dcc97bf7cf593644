#!/bin/sh
# Reads its whole stdin before it writes anything: the response is the request reversed,
# line by line (tac), after a header.
input=$(cat)
echo "got $(printf '%s' "$input" | wc -c) bytes"
printf '%s\n' "$input" | tac
