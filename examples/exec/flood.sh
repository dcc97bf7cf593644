#!/bin/sh
# Never reads its stdin; writes 20 MiB (over the default 16 MiB output limit).
head -c 20971520 /dev/zero
