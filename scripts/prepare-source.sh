#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Unpack linux-source-6.12 into the cache, once.  Several builds may ask at
# the same time (make -j): the first unpacks, the others wait for it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

stamp=$KSRC/.pvdma-unpacked-$DEB_VER
[ -f "$stamp" ] && exit 0
mkdir -p "$PVDMA_CACHE"
exec 9> "$PVDMA_CACHE/.unpack.lock"
flock 9
[ -f "$stamp" ] && exit 0
step "unpacking linux-source $DEB_VER into $PVDMA_CACHE"
rm -rf "$KSRC"
tar -C "$PVDMA_CACHE" -xJf /usr/src/linux-source-6.12.tar.xz
touch "$stamp"
