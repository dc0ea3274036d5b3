#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Unpack linux-source-6.12 into the cache, once.  Several builds may ask at
# the same time (make -j): the first unpacks, the others wait for it.
# PVDMA_SOURCE_PARTS, a list of paths in the tree, unpacks only those (a
# DKMS build needs KVM and VFIO, not the 1.5 GB of the whole tree).
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
parts=()
for p in ${PVDMA_SOURCE_PARTS:-}; do
	parts+=("linux-source-6.12/$p")
done
tar -C "$PVDMA_CACHE" -xJf /usr/src/linux-source-6.12.tar.xz "${parts[@]}"
touch "$stamp"
