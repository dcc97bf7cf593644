#!/bin/sh
# Leaves a child running: a background sleep that holds stdout, and a double-forked one
# that does not. Both must be ended when the script exits, and the call must not wait for
# them.
sleep 3141 &
( sleep 3142 </dev/null >/dev/null 2>&1 & )
echo "left two sleeps behind"
