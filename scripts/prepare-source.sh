#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Unpack linux-source-6.12 into the cache, once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

stamp=$KSRC/.pvdma-unpacked-$DEB_VER
[ -f "$stamp" ] && exit 0
step "unpacking linux-source $DEB_VER into $PVDMA_CACHE"
rm -rf "$KSRC"
mkdir -p "$PVDMA_CACHE"
tar -C "$PVDMA_CACHE" -xJf /usr/src/linux-source-6.12.tar.xz
touch "$stamp"
